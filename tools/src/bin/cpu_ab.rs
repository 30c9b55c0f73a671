//! CPU-time A/B of compress and decompress (relative-L2 mode, one thread) on a few tensors of
//! the data directory: a fixed number of repetitions per round, best of 5 rounds, process CPU
//! time rather than wall clock, so two builds can be compared on a shared machine (run the two
//! binaries alternately). Prints bits/value and MB/s of float32 input.
//!
//! cargo run --release -p alcm-tools --bin cpu_ab -- [DIR]

use std::path::PathBuf;

#[path = "../../../examples/common/mod.rs"]
mod common;

use alcm::{cpu_time_seconds, decompress, read_npy_f32, Encoder, EncoderConfig, Mode};

const FILES: [&str; 4] = [
    "weights/minilm_embeddings.word_embeddings.weight_rows1000-7143.npy",
    "gradients/grad_step02000_fc2.weight.npy",
    "weights/minilm_encoder.layer.0.intermediate.dense.weight.npy",
    "gradients/adam_exp_avg_step02000_fc2.weight.npy",
];

fn main() {
    let dir = common::data_dir(std::env::args().nth(1).map(PathBuf::from));
    for f in FILES {
        let Ok((x, shape)) = read_npy_f32(&dir.join(f)) else {
            eprintln!("skip {f}: not in {}", dir.display());
            continue;
        };
        let reps = (4_000_000 / x.len().max(1)).max(1);
        for eps in [1e-1, 1e-2, 1e-3] {
            let enc =
                Encoder::new(EncoderConfig::default().with_mode(Mode::RelativeL2(eps))).unwrap();
            let mut bytes = Vec::new();
            let (mut bc, mut bd) = (f64::INFINITY, f64::INFINITY);
            for _ in 0..5 {
                let t = cpu_time_seconds();
                for _ in 0..reps {
                    bytes = enc.compress(&x, &shape, None).unwrap().bytes;
                }
                bc = bc.min((cpu_time_seconds() - t) / reps as f64);
                let t = cpu_time_seconds();
                for _ in 0..reps {
                    std::hint::black_box(decompress(&bytes).unwrap());
                }
                bd = bd.min((cpu_time_seconds() - t) / reps as f64);
            }
            let mb = x.len() as f64 * 4.0 / 1e6;
            let name = f.rsplit('/').next().unwrap_or(f);
            println!(
                "{name:58} {eps:6} bits {:.3} comp {:6.1} MB/s dec {:6.1} MB/s",
                bytes.len() as f64 * 8.0 / x.len() as f64,
                mb / bc,
                mb / bd
            );
        }
    }
}
