//! One line per frame — tensor, mode, backend, threads, frame length, a hash of the frame
//! bytes — for every finite tensor of the data directory (default ../shared/data, else
//! tests/data) and of tests/data, plus the two synthetic 1024 × 1024 tensors, in every mode
//! (adaptive, relative L2 1e-1/1e-2/1e-3, max-abs 1e-3, lossless) and every backend, at 1 and
//! 2 threads (or the thread counts given). Diff the output of two builds to check that a
//! change left the bytes alone:
//!
//! cargo run --release -p alcm-tools --bin frame_hashes -- [THREADS...]
//!
//! With `ALCM_HASH_AS_VERSION=N`, each frame's version byte is set to N (and its CRC
//! recomputed) before hashing: after a format-version bump, the diff against the previous
//! version's output is then empty exactly when nothing but the version byte changed.
//!
//! With `ALCM_HASH_DTYPES=bfloat16,float16,float64` (any of them), the lines are instead those
//! of each tensor cast to each of these types (float16 only where every value stays finite),
//! compressed with `compress_typed` in every mode (backend rANS), followed by a hash of the
//! decoded values' bytes: the check that a change left the typed modes' frames and outputs
//! alone.
#[path = "../../../examples/common/mod.rs"]
mod common;
use alcm::half::{bf16, f16};
use alcm::{read_npy_f32, BackendKind, Dtype, Encoder, EncoderConfig, Mode};
use std::hash::{Hash, Hasher};
fn main() {
    let mut ts: Vec<(String, Vec<f32>, Vec<usize>)> = vec![];
    let own = common::repo_root().join("tests/data");
    let mut dirs = vec![common::data_dir(None)];
    if dirs[0] != own {
        dirs.push(own);
    }
    for dir in &dirs {
        for p in common::find_npy(dir) {
            if let Ok((x, s)) = read_npy_f32(&p) {
                if !x.is_empty() && x.iter().all(|v| v.is_finite()) {
                    let name = p.strip_prefix(dir).unwrap_or(&p).display().to_string();
                    ts.push((name, x, s));
                }
            }
        }
    }
    let (g, gs) = common::synthetic(1, true);
    ts.push(("grad".into(), g, gs));
    let (w, ws) = common::synthetic(2, false);
    ts.push(("gauss".into(), w, ws));
    let mut threads: Vec<usize> = std::env::args()
        .skip(1)
        .map(|a| a.parse().expect("thread count"))
        .collect();
    if threads.is_empty() {
        threads = vec![1, 2];
    }
    let as_version: Option<u8> = std::env::var("ALCM_HASH_AS_VERSION")
        .ok()
        .map(|v| v.parse().expect("ALCM_HASH_AS_VERSION: a version number"));
    let modes = [
        Mode::Adaptive,
        Mode::RelativeL2(1e-1),
        Mode::RelativeL2(1e-2),
        Mode::RelativeL2(1e-3),
        Mode::MaxAbs(1e-3),
        Mode::Lossless,
    ];
    if let Ok(list) = std::env::var("ALCM_HASH_DTYPES") {
        let dtypes: Vec<Dtype> = list
            .split(',')
            .map(|d| match d.trim() {
                "bfloat16" => Dtype::BF16,
                "float16" => Dtype::F16,
                "float64" => Dtype::F64,
                other => panic!("ALCM_HASH_DTYPES: {other:?} is not bfloat16, float16 or float64"),
            })
            .collect();
        typed_lines(&ts, &dtypes, &modes, &threads);
        return;
    }
    for (name, x, s) in &ts {
        for mode in modes {
            for backend in [BackendKind::Rans, BackendKind::Deflate, BackendKind::Store] {
                // Store and deflate on the million-value tensors add minutes and test no new path.
                if backend != BackendKind::Rans && x.len() > 300_000 {
                    continue;
                }
                for &t in &threads {
                    let cfg = EncoderConfig::default()
                        .with_mode(mode)
                        .with_backend(backend)
                        .with_threads(t);
                    let line = match Encoder::new(cfg).and_then(|e| e.compress(x, s, None)) {
                        Ok(mut c) => {
                            if let Some(v) = as_version {
                                let n = c.bytes.len();
                                c.bytes[4] = v;
                                let crc = crc32fast::hash(&c.bytes[..n - 4]);
                                c.bytes[n - 4..].copy_from_slice(&crc.to_le_bytes());
                            }
                            format!("{} {:016x}", c.bytes.len(), hash_of(&c.bytes))
                        }
                        Err(e) => format!("error {:?}", e.kind()),
                    };
                    println!("{name} {mode:?} {backend:?} t{t} {line}");
                }
            }
        }
    }
}

/// A hash of `bytes`.
fn hash_of(bytes: &[u8]) -> u64 {
    let mut h = std::collections::hash_map::DefaultHasher::new();
    bytes.hash(&mut h);
    h.finish()
}

/// The `ALCM_HASH_DTYPES` lines: tensor, type, mode, threads, frame length and hash, and the
/// hash of the decoded values' bytes.
fn typed_lines(
    ts: &[(String, Vec<f32>, Vec<usize>)],
    dtypes: &[Dtype],
    modes: &[Mode],
    threads: &[usize],
) {
    for (name, x, s) in ts {
        for &dtype in dtypes {
            // The values cast to `dtype`, little-endian (float16 only where all stay finite).
            let raw: Vec<u8> = match dtype {
                Dtype::BF16 => x
                    .iter()
                    .flat_map(|&v| bf16::from_f32(v).to_bits().to_le_bytes())
                    .collect(),
                Dtype::F16 => {
                    let h: Vec<f16> = x.iter().map(|&v| f16::from_f32(v)).collect();
                    if h.iter().any(|h| !h.is_finite()) {
                        continue;
                    }
                    h.iter().flat_map(|h| h.to_bits().to_le_bytes()).collect()
                }
                _ => x.iter().flat_map(|&v| (v as f64).to_le_bytes()).collect(),
            };
            for &mode in modes {
                for &t in threads {
                    let cfg = EncoderConfig::default().with_mode(mode).with_threads(t);
                    let frame =
                        Encoder::new(cfg).and_then(|e| e.compress_bytes(&raw, dtype, s, None));
                    let line = match frame {
                        Ok(c) => match alcm::decompress_bytes(&c.bytes) {
                            Ok(d) => format!(
                                "{} {:016x} {:016x}",
                                c.bytes.len(),
                                hash_of(&c.bytes),
                                hash_of(&d.bytes)
                            ),
                            Err(e) => format!("decode error {:?}", e.kind()),
                        },
                        Err(e) => format!("error {:?}", e.kind()),
                    };
                    println!("{name} {} {mode:?} t{t} {line}", dtype.name());
                }
            }
        }
    }
}
