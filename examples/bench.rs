//! Benchmark: bits per value, error and speed of alcm's modes on real tensors, with deflate-6
//! of the raw float32 bytes (the original's baseline) measured side by side in the same run.
//!
//! cargo run --release --example bench -- [DIR] [--csv results/bench.csv]
//! DIR defaults to ../shared/data (falls back to tests/data). Single-threaded; timings are the
//! best of several repetitions (at least ~30 ms of work each), so read them as ratios.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Instant;

#[path = "common/mod.rs"]
mod common;

use alcm::{decompress, read_npy_f32, BackendKind, Encoder, EncoderConfig, Mode};

struct Row {
    file: String,
    kind: String,
    n: usize,
    codec: String,
    bits: f64,
    rel: f64,
    max: f64,
    c_mbs: f64,
    d_mbs: f64,
}

/// Kind of each tensor from MANIFEST.tsv beside the data, else from the file name.
fn kinds(dir: &Path) -> BTreeMap<String, String> {
    let mut m = BTreeMap::new();
    if let Ok(text) = std::fs::read_to_string(dir.join("MANIFEST.tsv")) {
        for line in text.lines().skip(1) {
            let f: Vec<&str> = line.split('\t').collect();
            if f.len() >= 2 {
                let name = Path::new(f[0])
                    .file_name()
                    .map(|s| s.to_string_lossy().into_owned())
                    .unwrap_or_default();
                m.insert(name, f[1].to_string());
            }
        }
    }
    m
}

fn group(kind: &str) -> &'static str {
    match kind {
        "gradient" | "bias_gradient" => "gradients",
        "optimizer_state" => "optimizer state",
        _ => "weights+embeddings",
    }
}

/// Best-of timing in MB/s of float32 input processed.
fn time_mbs(bytes: usize, mut f: impl FnMut()) -> f64 {
    let mut best = f64::INFINITY;
    let start = Instant::now();
    let mut reps = 0;
    while reps < 3 || (start.elapsed().as_secs_f64() < 0.03 && reps < 200) {
        let t = Instant::now();
        f();
        best = best.min(t.elapsed().as_secs_f64());
        reps += 1;
    }
    bytes as f64 / best.max(1e-9) / 1e6
}

fn median(mut v: Vec<f64>) -> f64 {
    if v.is_empty() {
        return f64::NAN;
    }
    v.sort_by(|a, b| a.total_cmp(b));
    let m = v.len() / 2;
    if v.len() % 2 == 1 {
        v[m]
    } else {
        0.5 * (v[m - 1] + v[m])
    }
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut dir = None;
    let mut csv = None;
    let mut it = args.iter();
    while let Some(a) = it.next() {
        if a == "--csv" {
            csv = it.next().cloned();
        } else {
            dir = Some(PathBuf::from(a));
        }
    }
    let dir = common::data_dir(dir);
    let files = common::find_npy(&dir);
    let kinds = kinds(&dir);
    // alcm rows use the default backend (rANS); the `-dfl` rows the same mode with deflate-6,
    // the original's backend, side by side.
    let (r, d) = (BackendKind::Rans, BackendKind::Deflate);
    let codecs: Vec<(&str, Option<(Mode, BackendKind)>)> = vec![
        ("deflate6-raw", None),
        ("alcm-default", Some((Mode::Adaptive, r))),
        ("alcm-def-dfl", Some((Mode::Adaptive, d))),
        ("alcm-rel1e-1", Some((Mode::RelativeL2(1e-1), r))),
        ("alcm-1e-1-dfl", Some((Mode::RelativeL2(1e-1), d))),
        ("alcm-rel1e-2", Some((Mode::RelativeL2(1e-2), r))),
        ("alcm-1e-2-dfl", Some((Mode::RelativeL2(1e-2), d))),
        ("alcm-rel1e-3", Some((Mode::RelativeL2(1e-3), r))),
        ("alcm-1e-3-dfl", Some((Mode::RelativeL2(1e-3), d))),
        ("alcm-lossless", Some((Mode::Lossless, r))),
        ("alcm-lossl-dfl", Some((Mode::Lossless, d))),
    ];
    println!(
        "alcm bench on {} ({} tensors), single thread",
        dir.display(),
        files.len()
    );
    println!(
        "{:<58} {:>8} {:<14} {:>7} {:>10} {:>10} {:>9} {:>9}",
        "tensor", "values", "codec", "bits/v", "rel L2", "max err", "comp MB/s", "dec MB/s"
    );
    let mut rows = Vec::new();
    for path in &files {
        let (x, shape) = match read_npy_f32(path) {
            Ok(v) => v,
            Err(e) => {
                eprintln!("skip {}: {e}", path.display());
                continue;
            }
        };
        if x.is_empty() || x.iter().any(|v| !v.is_finite()) {
            continue;
        }
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        let kind = kinds.get(&name).cloned().unwrap_or_else(|| {
            if name.starts_with("grad") {
                "gradient".into()
            } else {
                "weight".into()
            }
        });
        let nbytes = x.len() * 4;
        for (codec, mode) in &codecs {
            let row = match mode {
                None => {
                    let raw: Vec<u8> = x.iter().flat_map(|v| v.to_le_bytes()).collect();
                    let comp = miniz_oxide::deflate::compress_to_vec(&raw, 6);
                    let c_mbs = time_mbs(nbytes, || {
                        std::hint::black_box(miniz_oxide::deflate::compress_to_vec(&raw, 6));
                    });
                    let d_mbs = time_mbs(nbytes, || {
                        std::hint::black_box(
                            miniz_oxide::inflate::decompress_to_vec(&comp).unwrap(),
                        );
                    });
                    Row {
                        file: name.clone(),
                        kind: kind.clone(),
                        n: x.len(),
                        codec: codec.to_string(),
                        bits: 8.0 * comp.len() as f64 / x.len() as f64,
                        rel: 0.0,
                        max: 0.0,
                        c_mbs,
                        d_mbs,
                    }
                }
                Some((m, backend)) => {
                    let enc = Encoder::new(
                        EncoderConfig::default()
                            .with_mode(*m)
                            .with_backend(*backend),
                    )
                    .unwrap();
                    let c = enc.compress(&x, &shape, None).unwrap();
                    let d = decompress(&c.bytes).unwrap();
                    let (rel, max) = common::errors(&x, &d.data);
                    let c_mbs = time_mbs(nbytes, || {
                        std::hint::black_box(enc.compress(&x, &shape, None).unwrap());
                    });
                    let d_mbs = time_mbs(nbytes, || {
                        std::hint::black_box(decompress(&c.bytes).unwrap());
                    });
                    Row {
                        file: name.clone(),
                        kind: kind.clone(),
                        n: x.len(),
                        codec: codec.to_string(),
                        bits: c.report.bits_per_value,
                        rel,
                        max,
                        c_mbs,
                        d_mbs,
                    }
                }
            };
            println!(
                "{:<58} {:>8} {:<14} {:>7.3} {:>10.3e} {:>10.3e} {:>9.1} {:>9.1}",
                row.file, row.n, row.codec, row.bits, row.rel, row.max, row.c_mbs, row.d_mbs
            );
            rows.push(row);
        }
    }
    println!("\nmedians over tensors with >= 4096 values (bits/value | rel L2 | compress MB/s | decompress MB/s; x = bits relative to deflate6-raw):");
    for g in ["gradients", "optimizer state", "weights+embeddings"] {
        println!("  {g}:");
        let base: Vec<f64> = rows
            .iter()
            .filter(|r| r.n >= 4096 && group(&r.kind) == g && r.codec == "deflate6-raw")
            .map(|r| r.bits)
            .collect();
        let base_m = median(base);
        for (codec, _) in &codecs {
            let sel: Vec<&Row> = rows
                .iter()
                .filter(|r| r.n >= 4096 && group(&r.kind) == g && r.codec == *codec)
                .collect();
            if sel.is_empty() {
                continue;
            }
            let bits = median(sel.iter().map(|r| r.bits).collect());
            println!(
                "    {:<14} {:>7.3} bits/v ({:>5.3}x)  rel {:>9.3e}  comp {:>8.1} MB/s  dec {:>8.1} MB/s  [{} tensors]",
                codec,
                bits,
                bits / base_m,
                median(sel.iter().map(|r| r.rel).collect()),
                median(sel.iter().map(|r| r.c_mbs).collect()),
                median(sel.iter().map(|r| r.d_mbs).collect()),
                sel.len()
            );
        }
    }
    if let Some(p) = csv {
        if let Some(parent) = Path::new(&p).parent() {
            let _ = std::fs::create_dir_all(parent);
        }
        let mut f = std::fs::File::create(&p).expect("create csv");
        writeln!(
            f,
            "file,kind,values,codec,bits_per_value,rel_l2,max_err,compress_mbs,decompress_mbs"
        )
        .unwrap();
        for r in &rows {
            writeln!(
                f,
                "{},{},{},{},{:.6},{:.6e},{:.6e},{:.2},{:.2}",
                r.file, r.kind, r.n, r.codec, r.bits, r.rel, r.max, r.c_mbs, r.d_mbs
            )
            .unwrap();
        }
        println!("wrote {p}");
    }
}
