//! One thread against two in one process (issue 12 target 3), relative-L2 mode, on the tensors
//! of ≥ 1 M values: the MiniLM word embeddings and the speed example's two synthetic ones.
//! Rounds alternate 1 and 2 threads; each figure is the best round (a shared machine slows
//! some rounds, rarely the best one). Besides wall-clock MB/s it prints CPU-time figures that
//! other jobs on the machine do not move: with 2 threads, the calling thread's CPU time `main2`
//! (the serial work plus its share of the parallel work) and the other threads' `total2 −
//! main2`; at most two threads run at once, so the span is at least the larger of the two and
//! `cpu1 / max(main2, total2 − main2)` bounds the speed-up two free cores can give (`cpu bnd`);
//! `cpu2/cpu1` is the work that threading adds. Frames must be byte-identical at both thread
//! counts (asserted).
//!
//! cargo run --release -p alcm-tools --bin thread_scaling -- [DIR] [--eps 1e-2,...] [--rounds N] [--decode] [--only NAME] [--npy FILE]... [--profile T]
//!
//! `--npy FILE` (repeatable) adds a tensor of any size to the three above.

use std::path::PathBuf;
use std::time::Instant;

#[path = "../../../examples/common/mod.rs"]
mod common;

use alcm::{read_npy_f32, DecodeOptions, Encoder, EncoderConfig, Mode};

/// CPU time of the whole process (all threads), seconds.
fn process_cpu() -> f64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid, writable timespec.
    unsafe { libc::clock_gettime(libc::CLOCK_PROCESS_CPUTIME_ID, &mut ts) };
    ts.tv_sec as f64 + ts.tv_nsec as f64 * 1e-9
}

/// Best-of figures of one configuration: wall, calling-thread CPU, process CPU (s per call).
#[derive(Clone, Copy)]
struct Best {
    wall: f64,
    main: f64,
    total: f64,
}

impl Best {
    fn new() -> Best {
        Best {
            wall: f64::INFINITY,
            main: f64::INFINITY,
            total: f64::INFINITY,
        }
    }

    /// Runs `f` `reps` times and keeps each figure's minimum per call.
    fn round(&mut self, reps: usize, mut f: impl FnMut()) {
        let (w, m, t) = (Instant::now(), alcm::cpu_time_seconds(), process_cpu());
        for _ in 0..reps {
            f();
        }
        let r = reps as f64;
        self.wall = self.wall.min(w.elapsed().as_secs_f64() / r);
        self.main = self.main.min((alcm::cpu_time_seconds() - m) / r);
        self.total = self.total.min((process_cpu() - t) / r);
    }
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (mut dir, mut eps_list, mut rounds, mut decode) = (None, vec![1e-2], 6usize, false);
    let mut only = String::new();
    let mut extra: Vec<PathBuf> = vec![];
    // `--profile T`: only the T-thread compressions (to profile them, e.g. under perf).
    let mut profile: Option<usize> = None;
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--eps" => {
                eps_list = it
                    .next()
                    .expect("--eps LIST")
                    .split(',')
                    .map(|s| s.parse().expect("eps"))
                    .collect()
            }
            "--rounds" => rounds = it.next().and_then(|v| v.parse().ok()).expect("--rounds N"),
            "--decode" => decode = true,
            "--profile" => profile = it.next().and_then(|v| v.parse().ok()),
            "--only" => only = it.next().expect("--only NAME").clone(),
            "--npy" => extra.push(PathBuf::from(it.next().expect("--npy FILE"))),
            _ => dir = Some(PathBuf::from(a)),
        }
    }
    let dir = common::data_dir(dir);
    let mut tensors = vec![];
    let emb = dir.join("weights/minilm_embeddings.word_embeddings.weight_rows1000-7143.npy");
    match read_npy_f32(&emb) {
        Ok((x, s)) => tensors.push(("word embeddings".to_string(), x, s)),
        Err(e) => eprintln!("skip {}: {e}", emb.display()),
    }
    let (g, gs) = common::synthetic(1, true);
    tensors.push(("synthetic gradient".into(), g, gs));
    let (w, ws) = common::synthetic(2, false);
    tensors.push(("synthetic gaussian".into(), w, ws));
    for p in &extra {
        match read_npy_f32(p) {
            Ok((x, s)) => {
                let name = p.file_stem().map_or("?".into(), |n| n.to_string_lossy());
                tensors.push((name.chars().take(20).collect(), x, s))
            }
            Err(e) => eprintln!("skip {}: {e}", p.display()),
        }
    }
    tensors.retain(|t| t.0.contains(&only));
    println!(
        "{:<20} {:>6} {:>4} {:>9} {:>9} {:>7} {:>8} {:>8} {:>7}",
        "tensor", "eps", "way", "1t MB/s", "2t MB/s", "wall x", "cpu bnd", "cpu2/cpu1", "bytes="
    );
    for (name, x, shape) in &tensors {
        let mb = x.len() as f64 * 4.0 / 1e6;
        let reps = (3_000_000 / x.len()).max(1);
        for &eps in &eps_list {
            let cfg = EncoderConfig::default().with_mode(Mode::RelativeL2(eps));
            let enc = [1, 2].map(|t| Encoder::new(cfg.clone().with_threads(t)).unwrap());
            let frames = enc
                .each_ref()
                .map(|e| e.compress(x, shape, None).unwrap().bytes);
            let same = frames[0] == frames[1];
            assert!(same, "{name} {eps}: frame bytes depend on the thread count");
            if let Some(t) = profile {
                let e = Encoder::new(cfg.clone().with_threads(t)).unwrap();
                for _ in 0..rounds * reps {
                    std::hint::black_box(e.compress(x, shape, None).unwrap());
                }
                continue;
            }
            let (mut c, mut d) = ([Best::new(); 2], [Best::new(); 2]);
            for _ in 0..rounds {
                for t in 0..2 {
                    c[t].round(reps, || {
                        std::hint::black_box(enc[t].compress(x, shape, None).unwrap());
                    });
                    if decode {
                        let opt = DecodeOptions::default().with_threads(t + 1);
                        d[t].round(reps, || {
                            std::hint::black_box(opt.decompress(&frames[0]).unwrap());
                        });
                    }
                }
            }
            let mut ways = vec![("comp", c)];
            if decode {
                ways.push(("dec", d));
            }
            for (way, b) in ways {
                println!(
                    "{:<20} {:>6} {:>4} {:>9.1} {:>9.1} {:>7.3} {:>8.3} {:>8.3} {:>7}",
                    name,
                    eps,
                    way,
                    mb / b[0].wall,
                    mb / b[1].wall,
                    b[0].wall / b[1].wall,
                    b[0].main / b[1].main.max(b[1].total - b[1].main),
                    b[1].total / b[0].total,
                    same
                );
            }
        }
    }
}
