//! Speed on large tensors (issue 4 target 2): single-thread compress/decompress MB/s and bits
//! per value of the relative-L2 mode on every tensor of ≥ 1 M values of the data directory plus
//! two synthetic 1024 × 1024 tensors (a rank-1-scaled "gradient" and an i.i.d. Gaussian
//! "weight"), at 1e-1, 1e-2 and 1e-3. Each tensor's single-thread `memcpy` is timed in the same
//! run (issue 12 target 6): `comp/cpy` and `dec/cpy` read each figure as a fraction of the
//! machine's limit. (The ratios against SZ3 come from `python3 bench/compare.py`; with
//! `--synthetic` it measures the two synthetic tensors too.)
//!
//! cargo run --release --example speed -- [DIR] [--min VALUES] [--threads T]

use std::path::PathBuf;
use std::time::Instant;

#[path = "common/mod.rs"]
mod common;

use alcm::{decompress, read_npy_f32, DecodeOptions, Encoder, EncoderConfig, Mode};

fn best_secs(mut f: impl FnMut()) -> f64 {
    let mut best = f64::INFINITY;
    let start = Instant::now();
    let mut reps = 0;
    while reps < 3 || (start.elapsed().as_secs_f64() < 0.5 && reps < 50) {
        let t = Instant::now();
        f();
        best = best.min(t.elapsed().as_secs_f64());
        reps += 1;
    }
    best
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut dir = None;
    let mut min = 1usize << 20;
    let mut threads = 1usize;
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--min" => min = it.next().and_then(|v| v.parse().ok()).unwrap_or(min),
            "--threads" => threads = it.next().and_then(|v| v.parse().ok()).unwrap_or(1),
            _ => dir = Some(PathBuf::from(a)),
        }
    }
    let dir = common::data_dir(dir);
    let mut tensors: Vec<(String, Vec<f32>, Vec<usize>)> = vec![];
    for p in common::find_npy(&dir) {
        if let Ok((x, shape)) = read_npy_f32(&p) {
            if x.len() >= min && x.iter().all(|v| v.is_finite()) {
                tensors.push((
                    p.file_name().unwrap().to_string_lossy().into_owned(),
                    x,
                    shape,
                ));
            }
        }
    }
    let (g, gs) = common::synthetic(1, true);
    tensors.push(("synthetic rank-1 gradient 1024x1024".into(), g, gs));
    let (w, ws) = common::synthetic(2, false);
    tensors.push(("synthetic gaussian weight 1024x1024".into(), w, ws));
    println!(
        "{:<48} {:>9} {:>6} {:>7} {:>8} {:>10} {:>10} {:>10} {:>8} {:>8}",
        "tensor",
        "values",
        "eps",
        "bits/v",
        "backend",
        "comp MB/s",
        "dec MB/s",
        "cpy MB/s",
        "comp/cpy",
        "dec/cpy"
    );
    for (name, x, shape) in &tensors {
        let mut dst = vec![0f32; x.len()];
        let tm = best_secs(|| {
            dst.copy_from_slice(std::hint::black_box(x));
            std::hint::black_box(&mut dst);
        });
        for eps in [1e-1, 1e-2, 1e-3] {
            let cfg = EncoderConfig::default()
                .with_mode(Mode::RelativeL2(eps))
                .with_threads(threads);
            let enc = Encoder::new(cfg.clone()).unwrap();
            let c = enc.compress(x, shape, None).unwrap();
            let d = decompress(&c.bytes).unwrap();
            let d2 = DecodeOptions::default()
                .with_threads(threads)
                .decompress(&c.bytes)
                .unwrap();
            assert!(d
                .data
                .iter()
                .zip(&d2.data)
                .all(|(a, b)| a.to_bits() == b.to_bits()));
            let c1 = Encoder::new(cfg.clone().with_threads(1))
                .unwrap()
                .compress(x, shape, None)
                .unwrap();
            assert_eq!(c1.bytes, c.bytes, "frame bytes depend on the thread count");
            let (rel, _) = common::errors(x, &d.data);
            assert!(rel <= eps, "{name}: error {rel} > {eps}");
            let mb = x.len() as f64 * 4.0 / 1e6;
            let tc = best_secs(|| {
                std::hint::black_box(enc.compress(x, shape, None).unwrap());
            });
            let td = best_secs(|| {
                std::hint::black_box(
                    DecodeOptions::default()
                        .with_threads(threads)
                        .decompress(&c.bytes)
                        .unwrap(),
                );
            });
            let backend = alcm::peek(&c.bytes).map(|i| i.backend.id()).unwrap_or(0);
            println!(
                "{:<48} {:>9} {:>6.0e} {:>7.3} {:>8} {:>10.1} {:>10.1} {:>10.0} {:>8.3} {:>8.3}",
                name,
                x.len(),
                eps,
                c.report.bits_per_value,
                backend,
                mb / tc,
                mb / td,
                mb / tm,
                tm / tc,
                tm / td
            );
        }
    }
}
