//! Soak test: `--threads` threads (8) compress, decompress (1 and 2 decoder threads), peek,
//! decode corrupted frames, and run error feedback (with state save/load round trips) on the
//! real tensors of the data directory, for `--seconds` (180), while the main thread samples
//! the resident memory from /proc/self/statm every `--every` seconds (1) and prints it every
//! 10 samples. Every decoded frame is checked against its mode's bound, every corrupted frame
//! must be refused with an error, and every feedback step must leave `r_new = (g + r_old) − decode`
//! (in f32, exactly) with the frame decoded from its bytes.
//!
//! Memory must be flat: after a warm-up (until every thread has done every (tensor, mode)
//! pair once, and at least 3 s: by then the allocator's per-thread arenas have seen every
//! size they will be asked for), the largest resident size of the rest of the run may exceed
//! the largest of the warm-up by at most `--tolerance-mib` (16 MiB; a leak of a few hundred
//! bytes per call passes it within a minute, a leaked tensor copy within seconds). Exits with
//! status 1 when it does, when the run ends before the warm-up does, or on any wrong result.
//! It is a benchmark-style run, not a timed test: the figures depend on the machine.
//!
//! RSS also moves with the allocator (glibc keeps freed memory in per-thread arenas; with
//! `MALLOC_ARENA_MAX=2` it swings by ±10 MiB), so the run also counts the live heap bytes
//! (a counting global allocator): after every worker has finished and dropped its state, the
//! heap must hold what it held before they started, to within `--leak-kib` (4 KiB; measured:
//! exactly 0 once every tensor has been through every mode before the start, which builds the
//! lazily made tables) — a leak of one byte per iteration shows there within seconds.
//!
//! cargo run --release --example soak -- [DATA_DIR] [--seconds 180] [--threads 8]
//!     [--every 1] [--tolerance-mib 16] [--leak-kib 4] [--leak-bytes N (a deliberate leak per iteration, to
//!     see the check fail)]
//! The README's test command (scripts/test-all.sh) runs a 15 s version.
#[path = "common/mod.rs"]
mod common;
#[path = "../tests/common/counting_alloc.rs"]
mod counting_alloc;
use counting_alloc::{live_bytes, Counting};

// Counts the bytes the Rust heap holds, so that a leak can be told from the allocator
// keeping freed memory resident (which RSS alone cannot).
#[global_allocator]
static A: Counting = Counting;

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use alcm::{
    decompress, peek, read_npy_f32, BackendKind, DecodeOptions, Encoder, EncoderConfig,
    ErrorFeedback, Mode,
};

/// Resident set size in bytes: the second field of /proc/self/statm, in pages.
fn rss_bytes() -> u64 {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap_or_default();
    let pages: u64 = statm
        .split_whitespace()
        .nth(1)
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    // SAFETY: sysconf has no preconditions.
    let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    pages * page.max(1) as u64
}

const MODES: [(Mode, BackendKind); 5] = [
    (Mode::Adaptive, BackendKind::Rans),
    (Mode::RelativeL2(1e-2), BackendKind::Rans),
    (Mode::RelativeL2(1e-3), BackendKind::Deflate),
    (Mode::MaxAbs(1e-4), BackendKind::Rans),
    (Mode::Lossless, BackendKind::Rans),
];

fn mib(b: u64) -> f64 {
    b as f64 / (1 << 20) as f64
}

struct Args {
    dir: PathBuf,
    seconds: f64,
    threads: usize,
    every: f64,
    tolerance_mib: f64,
    leak_kib: f64,
    /// Bytes leaked on purpose per iteration (0): shows that the check catches a leak.
    leak: usize,
}

fn args() -> Args {
    let mut a = Args {
        dir: common::data_dir(None),
        seconds: 180.0,
        threads: 8,
        every: 1.0,
        tolerance_mib: 16.0,
        leak_kib: 4.0,
        leak: 0,
    };
    let v: Vec<String> = std::env::args().skip(1).collect();
    let mut i = 0;
    while i < v.len() {
        let num = |i: usize| -> f64 {
            v.get(i + 1)
                .and_then(|x| x.parse().ok())
                .unwrap_or_else(|| panic!("{} takes a number", v[i]))
        };
        match v[i].as_str() {
            "--seconds" => a.seconds = num(i),
            "--threads" => a.threads = num(i) as usize,
            "--every" => a.every = num(i),
            "--tolerance-mib" => a.tolerance_mib = num(i),
            "--leak-bytes" => a.leak = num(i) as usize,
            "--leak-kib" => a.leak_kib = num(i),
            d => {
                a.dir = PathBuf::from(d);
                i += 1;
                continue;
            }
        }
        i += 2;
    }
    a
}

/// One worker: cycles through tensors and modes until `stop`; returns an error message on
/// the first wrong result.
fn worker(
    id: usize,
    tensors: &[(String, Vec<f32>, Vec<usize>)],
    stop: &AtomicBool,
    done: &AtomicU64,
    leak: usize,
) -> Result<(), String> {
    let modes = MODES;
    let encoders: Vec<(Mode, Encoder)> = modes
        .iter()
        .map(|&(mode, backend)| {
            let cfg = EncoderConfig::default()
                .with_mode(mode)
                .with_backend(backend);
            (mode, Encoder::new(cfg).expect("encoder"))
        })
        .collect();
    let fb_enc = &encoders[1].1;
    // One feedback state per tensor, carried across the whole run as a training loop would.
    let mut states: Vec<ErrorFeedback> = tensors
        .iter()
        .map(|(_, _, s)| ErrorFeedback::new(s).expect("feedback state"))
        .collect();
    let two_threads = DecodeOptions::default().with_threads(2);
    let mut k = id; // threads start at different tensors
    while !stop.load(Ordering::Relaxed) {
        let t = k % tensors.len();
        let (name, x, shape) = &tensors[t];
        let (mode, enc) = &encoders[(k / tensors.len() + id) % encoders.len()];
        let c = enc
            .compress(x, shape, None)
            .map_err(|e| format!("{name} {mode:?}: {e}"))?;
        let d = if k % 2 == 0 {
            decompress(&c.bytes)
        } else {
            two_threads.decompress(&c.bytes)
        }
        .map_err(|e| format!("{name} {mode:?}: decode: {e}"))?;
        let (rel, max) = common::errors(x, &d.data);
        let ok = d.shape == *shape
            && match mode {
                Mode::RelativeL2(e) => rel <= *e,
                Mode::MaxAbs(e) => max <= *e,
                Mode::Lossless => max == 0.0,
                // Adaptive mode has no error bound: its values must only be finite.
                _ => d.data.iter().all(|v| v.is_finite()),
            };
        if !ok {
            return Err(format!("{name} {mode:?}: rel {rel:.3e} max {max:.3e}"));
        }
        let info = peek(&c.bytes).map_err(|e| format!("{name}: peek: {e}"))?;
        if info.frame_len != c.bytes.len() as u64 {
            return Err(format!("{name}: peek frame_len {}", info.frame_len));
        }
        // A corrupted copy (one byte flipped in the payload) must be refused (CRC).
        let mut bad = c.bytes.clone();
        let at = bad.len() / 2 + k % (bad.len() / 4).max(1);
        bad[at] ^= 0x5a;
        if decompress(&bad).is_ok() {
            return Err(format!("{name}: a corrupted frame decoded"));
        }
        // Error feedback: r_new = (g + r_old) − decode(frame), decoded from the bytes.
        let st = &mut states[t];
        let before: Vec<f32> = st.residual().to_vec();
        let fc = st
            .compress(fb_enc, x, None)
            .map_err(|e| format!("{name}: feedback: {e}"))?;
        let fd = decompress(&fc.bytes).map_err(|e| format!("{name}: feedback decode: {e}"))?;
        for (i, ((&g, &r0), (&y, &r1))) in x
            .iter()
            .zip(&before)
            .zip(fd.data.iter().zip(st.residual()))
            .enumerate()
        {
            // Exactly, in f32: the new residual is (g + r_old) − decode, as computed.
            if (g + r0) - y != r1 {
                return Err(format!("{name}: feedback identity fails at {i}"));
            }
        }
        if k % 16 == 0 {
            let back = ErrorFeedback::from_bytes(&st.to_bytes())
                .map_err(|e| format!("{name}: state round trip: {e}"))?;
            if back != *st {
                return Err(format!("{name}: state round trip changed the state"));
            }
        }
        if leak > 0 {
            // Touched, so that the pages count as resident.
            std::mem::forget(vec![1u8; leak]);
        }
        done.fetch_add(1, Ordering::Relaxed);
        k += 1;
    }
    Ok(())
}

/// Compresses and decodes `x` once in every mode, and runs one feedback step.
fn warm_statics(x: &[f32], shape: &[usize]) {
    for (mode, backend) in MODES {
        let cfg = EncoderConfig::default()
            .with_mode(mode)
            .with_backend(backend);
        let enc = Encoder::new(cfg).expect("encoder");
        let c = enc.compress(x, shape, None).expect("compress");
        decompress(&c.bytes).expect("decode");
        DecodeOptions::default()
            .with_threads(2)
            .decompress(&c.bytes)
            .expect("decode");
        let mut fb = ErrorFeedback::new(shape).expect("feedback");
        fb.compress(&enc, x, None).expect("feedback step");
    }
}

fn main() {
    let a = args();
    let mut tensors = Vec::new();
    for p in common::find_npy(&a.dir) {
        if let Ok((x, s)) = read_npy_f32(&p) {
            // Up to 1 M values: the largest tensors would make an iteration take seconds.
            if !x.is_empty() && x.len() <= 1 << 20 && x.iter().all(|v| v.is_finite()) {
                let name = p.file_name().unwrap().to_string_lossy().into_owned();
                tensors.push((name, x, s));
            }
        }
    }
    assert!(!tensors.is_empty(), "no tensors in {}", a.dir.display());
    let values: usize = tensors.iter().map(|t| t.1.len()).sum();
    println!(
        "soak: {} threads, {:.0} s, {} tensors ({:.1} MiB of float32) from {}; RSS every {} s, \
         tolerance {} MiB after warm-up",
        a.threads,
        a.seconds,
        tensors.len(),
        mib(values as u64 * 4),
        a.dir.display(),
        a.every,
        a.tolerance_mib
    );
    let tensors = Arc::new(tensors);
    let stop = Arc::new(AtomicBool::new(false));
    // Iterations per thread (the warm-up ends when each has done a full cycle).
    let done: Arc<Vec<AtomicU64>> = Arc::new((0..a.threads).map(|_| AtomicU64::new(0)).collect());
    let cycle = (tensors.len() * MODES.len()) as u64;
    // One pass of every tensor in every mode on this thread first: lazily built tables (the
    // rANS model's table sets, one per shape family a tensor picks) are allocated once and
    // kept, and must not count as a leak.
    for (_, x, shape) in tensors.iter() {
        warm_statics(x, shape);
    }
    let mut samples = Vec::with_capacity((a.seconds / a.every) as usize + 16);
    let heap0 = live_bytes();
    let rss0 = rss_bytes();
    let start = Instant::now();
    let leak = a.leak;
    let handles: Vec<_> = (0..a.threads)
        .map(|id| {
            let (t, s, d) = (tensors.clone(), stop.clone(), done.clone());
            std::thread::spawn(move || {
                let r = worker(id, &t, &s, &d[id], leak);
                if r.is_err() {
                    s.store(true, Ordering::Relaxed);
                }
                r
            })
        })
        .collect();
    let total = |d: &[AtomicU64]| d.iter().map(|c| c.load(Ordering::Relaxed)).sum::<u64>();
    let mut warmup = f64::INFINITY;
    let (mut warm_max, mut late_max) = (0u64, 0u64);
    while start.elapsed().as_secs_f64() < a.seconds && !stop.load(Ordering::Relaxed) {
        std::thread::sleep(Duration::from_secs_f64(a.every));
        let (t, rss) = (start.elapsed().as_secs_f64(), rss_bytes());
        if t > warmup {
            late_max = late_max.max(rss);
        } else {
            warm_max = warm_max.max(rss);
            let slowest = done.iter().map(|c| c.load(Ordering::Relaxed)).min();
            if t >= 3.0 && slowest >= Some(cycle) {
                warmup = t;
                println!("  warm-up over at {t:.1} s (every thread did all {cycle} pairs)");
            }
        }
        samples.push((t, rss));
        if samples.len() % 10 == 0 {
            println!(
                "  t {:>6.1} s   RSS {:>7.1} MiB   live heap {:>7.1} MiB   iterations {:>7}",
                t,
                mib(rss),
                mib(live_bytes() as u64),
                total(&done)
            );
        }
    }
    stop.store(true, Ordering::Relaxed);
    let mut failed = false;
    for h in handles {
        match h.join() {
            Ok(Ok(())) => {}
            Ok(Err(m)) => {
                eprintln!("soak: wrong result: {m}");
                failed = true;
            }
            Err(_) => {
                eprintln!("soak: a worker panicked");
                failed = true;
            }
        }
    }
    let iters = total(&done);
    let leaked = live_bytes() as f64 - heap0 as f64;
    // Least-squares slope of RSS after warm-up, in MiB per minute (informational).
    let late: Vec<(f64, f64)> = samples
        .iter()
        .filter(|s| s.0 > warmup)
        .map(|&(t, r)| (t, mib(r)))
        .collect();
    let slope = if late.len() >= 2 {
        let n = late.len() as f64;
        let (mt, mr) = (
            late.iter().map(|s| s.0).sum::<f64>() / n,
            late.iter().map(|s| s.1).sum::<f64>() / n,
        );
        let cov: f64 = late.iter().map(|s| (s.0 - mt) * (s.1 - mr)).sum();
        let var: f64 = late.iter().map(|s| (s.0 - mt) * (s.0 - mt)).sum();
        if var > 0.0 {
            cov / var * 60.0
        } else {
            0.0
        }
    } else {
        0.0
    };
    println!(
        "soak: {iters} iterations in {:.1} s; RSS at start {:.1} MiB, max in warm-up (first \
         {warmup:.0} s) {:.1} MiB, max after {:.1} MiB (growth {:+.1} MiB, tolerance {} MiB), \
         slope after warm-up {slope:+.2} MiB/min",
        start.elapsed().as_secs_f64(),
        mib(rss0),
        mib(warm_max),
        mib(late_max),
        mib(late_max) - mib(warm_max),
        a.tolerance_mib
    );
    println!(
        "soak: live heap after the workers ended minus before they started: {:+.1} KiB \
         ({:+.2} bytes per iteration; limit {} KiB)",
        leaked / 1024.0,
        leaked / iters.max(1) as f64,
        a.leak_kib
    );
    if failed {
        std::process::exit(1);
    }
    if leaked > a.leak_kib * 1024.0 {
        eprintln!("soak: FAIL: the heap kept memory after the workers ended (a leak)");
        std::process::exit(1);
    }
    if late.is_empty() {
        eprintln!(
            "soak: the run ended before the warm-up did: nothing to compare (raise --seconds)"
        );
        std::process::exit(1);
    }
    if mib(late_max) > mib(warm_max) + a.tolerance_mib {
        eprintln!("soak: FAIL: resident memory grew after warm-up");
        std::process::exit(1);
    }
    println!("soak: PASS: resident memory flat after warm-up");
}
