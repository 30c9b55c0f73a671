//! One compress and one decompress of one tensor (relative-L2 mode): a short, deterministic
//! run to profile under `valgrind --tool=callgrind` (instruction counts do not depend on the
//! load of a shared machine, so two builds compare exactly).
//!
//! cargo build --release -p alcm-tools --bin profile_once
//! valgrind --tool=callgrind target/release/profile_once [NPY] [EPS|adaptive] [THREADS] [c|d|cd] [REPS]
//!
//! NPY may also be `synthetic-gradient` or `synthetic-gaussian` (the speed example's 1024 × 1024
//! tensors). With REPS > 1 the compression is repeated REPS times: the difference of two runs' counts
//! divided by the difference in REPS is the cost of one call without the once-per-process
//! table builds (with `d` alone, REPS decompressions of the one frame instead); with `--separate-threads=yes`, per thread (the calling thread's share against
//! the workers' shows how much of a threaded compress is serial). Decompressions use THREADS
//! threads too (before session 11 they always used one).

use std::path::PathBuf;

#[path = "../../../examples/common/mod.rs"]
mod common;

use alcm::{read_npy_f32, DecodeOptions, Encoder, EncoderConfig, Mode};

fn main() {
    let mut args = std::env::args().skip(1);
    let file = args.next().map(PathBuf::from).unwrap_or_else(|| {
        common::data_dir(None)
            .join("weights/minilm_embeddings.word_embeddings.weight_rows1000-7143.npy")
    });
    // EPS `adaptive`: the predictor-driven mode (the trainer's `original`) instead.
    let mode = match args.next() {
        Some(s) if s == "adaptive" => Mode::Adaptive,
        s => Mode::RelativeL2(s.map_or(1e-2, |s| s.parse().expect("EPS"))),
    };
    let threads: usize = args.next().map_or(1, |s| s.parse().expect("THREADS"));
    let what = args.next().unwrap_or_else(|| "cd".into());
    let reps: usize = args.next().map_or(1, |s| s.parse().expect("REPS"));
    // The speed example's synthetic 1024 × 1024 tensors by name, else a `.npy` file.
    let (x, shape) = match file.to_str() {
        Some("synthetic-gradient") => common::synthetic(1, true),
        Some("synthetic-gaussian") => common::synthetic(2, false),
        _ => read_npy_f32(&file).expect("read the tensor"),
    };
    let enc = Encoder::new(
        EncoderConfig::default()
            .with_mode(mode)
            .with_threads(threads),
    )
    .expect("config");
    let frame = enc.compress(&x, &shape, None).expect("compress").bytes;
    // `d` alone repeats the decompression instead (one compression makes its frame).
    let (c_reps, d_reps) = match what.as_str() {
        "d" => (1, reps),
        _ => (reps, 1),
    };
    for _ in 1..c_reps {
        std::hint::black_box(enc.compress(&x, &shape, None).expect("compress"));
    }
    if what.contains('d') {
        for _ in 0..d_reps {
            let opt = DecodeOptions::default().with_threads(threads);
            std::hint::black_box(opt.decompress(&frame).expect("decompress"));
        }
    }
    println!(
        "{} values, {} bytes, {:.4} bits/value",
        x.len(),
        frame.len(),
        8.0 * frame.len() as f64 / x.len() as f64
    );
}
