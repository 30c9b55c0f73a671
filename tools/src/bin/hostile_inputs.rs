//! The hostile inputs of issue 13, one per run, timed: YAML alias amplification and
//! quadratic-parse texts, a deflate-bomb model file, non-regular files given to the loaders,
//! and oversized constructor arguments. Prints the outcome (an error kind, never an abort) and
//! the wall time; run it under `/usr/bin/time -f %M` for the peak RSS and under
//! `ulimit -v 2097152` for the 2 GiB address-space limit of the original attack:
//!
//!     cargo build --release -p alcm-tools --bin hostile_inputs
//!     (ulimit -v 2097152; /usr/bin/time -f "%e s %M KiB" \
//!         target/release/hostile_inputs yaml-alias 4000)
//!
//! Attacks (argument: size): yaml-alias N [LEN] (an anchor of LEN bytes, default 1 MB,
//! referenced N times), yaml-brackets
//! KB (nested `[`), yaml-braces KB (nested `{a: `), yaml-keys KB (distinct top-level keys),
//! yaml-dashes KB (`- - - …` on one line), yaml-repeat KB PATTERN, yaml-file PATH, npz-bomb MB (a W1 member that inflates to that
//! many MB), dev-zero, fifo, dir (each loader given that path), feedback-shape LOG2 (shape
//! [2^LOG2]), scheduler-window N.
#[path = "../../../tests/common/zip1.rs"]
mod zip1;
use std::io::Write;
use std::time::Instant;

use alcm::{EncoderConfig, ErrorFeedback, PredictorConfig, Scheduler, SchedulerConfig};

fn yaml(kind: &str, size: usize) -> String {
    let kb = size * 1000;
    match kind {
        "yaml-alias" => {
            // Anchor length: argument 3, default 1 MB (the attack).
            let anchor = std::env::args()
                .nth(3)
                .and_then(|s| s.parse().ok())
                .unwrap_or(1_000_000);
            let mut s = format!("x: &a \"{}\"\ny: [", "z".repeat(anchor));
            for i in 0..size {
                s.push_str(if i == 0 { "*a" } else { ", *a" });
            }
            s.push_str("]\n");
            s
        }
        "yaml-brackets" => "[".repeat(kb),
        "yaml-braces" => "{a: ".repeat(kb / 4),
        "yaml-keys" => {
            let mut s = String::new();
            let mut i = 0usize;
            while s.len() < kb {
                s.push_str(&format!("k{i}: 1\n"));
                i += 1;
            }
            s
        }
        "yaml-dashes" => "- ".repeat(kb / 2) + "x\n",
        // Any pattern, repeated to `size` KB: `yaml-repeat 1000 '? '`.
        "yaml-repeat" => {
            let pat = std::env::args().nth(3).unwrap_or_else(|| "a".into());
            pat.repeat(kb / pat.len().max(1))
        }
        _ => {
            eprintln!("unknown attack {kind}");
            std::process::exit(2)
        }
    }
}

/// A stored-method-free ZIP with one deflated member `W1.npy` whose npy header declares the
/// prototype's (6, 64) float64 W1 but whose stream inflates to `mb` MB of zeros after it;
/// the central directory declares the inflated size (within deflate's 1032:1 ratio).
fn npz_bomb(mb: usize) -> Vec<u8> {
    use miniz_oxide::deflate::core::{
        compress, create_comp_flags_from_zip_params, CompressorOxide, TDEFLFlush, TDEFLStatus,
    };
    let header = alcm::npy_bytes_f64(&[6, 64], &[0.0; 384]);
    let header = &header[..header.len() - 384 * 8];
    let total = mb * 1_000_000;
    let mut crc = crc32fast::Hasher::new();
    let mut c = CompressorOxide::new(create_comp_flags_from_zip_params(1, -15, 0));
    let mut deflated = Vec::new();
    let mut buf = vec![0u8; 1 << 20];
    let zeros = vec![0u8; 1 << 20];
    let mut fed = 0usize;
    let mut feed = |input: &[u8], last: bool, deflated: &mut Vec<u8>| {
        let mut rest = input;
        loop {
            let flush = if last {
                TDEFLFlush::Finish
            } else {
                TDEFLFlush::None
            };
            let (st, used, out) = compress(&mut c, rest, &mut buf, flush);
            deflated.extend_from_slice(&buf[..out]);
            rest = &rest[used..];
            match st {
                TDEFLStatus::Done => return,
                TDEFLStatus::Okay if rest.is_empty() && !last => return,
                TDEFLStatus::Okay => {}
                other => panic!("deflate: {other:?}"),
            }
        }
    };
    crc.update(header);
    feed(header, false, &mut deflated);
    fed += header.len();
    while fed < total {
        let n = (total - fed).min(zeros.len());
        crc.update(&zeros[..n]);
        fed += n;
        feed(&zeros[..n], fed == total, &mut deflated);
    }
    zip1::one_deflated_member(b"W1.npy", &deflated, total as u32, crc.finalize())
}

fn show<T>(what: &str, r: alcm::Result<T>) {
    match r {
        Ok(_) => println!("{what}: OK"),
        Err(e) => {
            let m = e.message();
            let m = if m.len() > 160 { &m[..160] } else { m };
            println!("{what}: {:?}: {m}", e.kind())
        }
    }
}

fn loaders(path: &std::path::Path) {
    let t = Instant::now();
    show(
        "EncoderConfig::from_yaml_file",
        EncoderConfig::from_yaml_file(path),
    );
    show(
        "PredictorConfig::from_yaml_file",
        PredictorConfig::from_yaml_file(path),
    );
    show("Predictor::load", alcm::Predictor::load(path));
    show("ErrorFeedback::load", ErrorFeedback::load(path));
    println!("{:.3} s", t.elapsed().as_secs_f64());
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let kind = args.get(1).map(String::as_str).unwrap_or("");
    let size: usize = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(0);
    match kind {
        k if k.starts_with("yaml-") && k != "yaml-file" => {
            let text = yaml(k, size);
            println!("{k} {size}: {} bytes of YAML", text.len());
            let t = Instant::now();
            show(
                "EncoderConfig::from_yaml_str",
                EncoderConfig::from_yaml_str(&text),
            );
            println!("{:.3} s", t.elapsed().as_secs_f64());
        }
        "npz-bomb" => {
            let bytes = npz_bomb(size);
            println!("npz-bomb {size}: {} bytes of npz", bytes.len());
            let t = Instant::now();
            show(
                "Predictor::from_npz_bytes",
                alcm::Predictor::from_npz_bytes(&bytes),
            );
            println!("{:.3} s", t.elapsed().as_secs_f64());
            let t = Instant::now();
            show("read_npz (no model caps)", alcm::read_npz(&bytes));
            println!("{:.3} s", t.elapsed().as_secs_f64());
            let path = std::env::temp_dir().join(format!("alcm_bomb_{}.npz", std::process::id()));
            std::fs::File::create(&path)
                .unwrap()
                .write_all(&bytes)
                .unwrap();
            let t = Instant::now();
            show("Predictor::load", alcm::Predictor::load(&path));
            println!("{:.3} s", t.elapsed().as_secs_f64());
            let _ = std::fs::remove_file(&path);
        }
        "yaml-file" => {
            let path = std::path::PathBuf::from(args.get(2).expect("yaml-file PATH"));
            let t = Instant::now();
            show(
                "EncoderConfig::from_yaml_file",
                EncoderConfig::from_yaml_file(&path),
            );
            println!("{:.3} s", t.elapsed().as_secs_f64());
        }
        "dev-zero" => loaders("/dev/zero".as_ref()),
        "dir" => loaders(&std::env::temp_dir()),
        "fifo" => {
            let path = std::env::temp_dir().join(format!("alcm_fifo_{}", std::process::id()));
            let c = std::ffi::CString::new(path.to_str().unwrap()).unwrap();
            // SAFETY: a valid NUL-terminated path.
            assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
            let p = path.clone();
            std::thread::spawn(move || {
                std::thread::sleep(std::time::Duration::from_secs(5));
                println!("still blocked after 5 s: giving up");
                let _ = std::fs::remove_file(&p);
                std::process::exit(3);
            });
            loaders(&path);
            let _ = std::fs::remove_file(&path);
        }
        "feedback-shape" => {
            let t = Instant::now();
            show("ErrorFeedback::new", ErrorFeedback::new(&[1usize << size]));
            println!("{:.3} s", t.elapsed().as_secs_f64());
        }
        "scheduler-window" => {
            let t = Instant::now();
            let cfg = SchedulerConfig::default().with_window(size);
            show("Scheduler::new", Scheduler::new(cfg));
            println!("{:.3} s", t.elapsed().as_secs_f64());
        }
        _ => {
            eprintln!("usage: hostile_inputs <attack> [size] (see the source)");
            std::process::exit(2);
        }
    }
}
