//! Writes the speed example's two synthetic 1024 × 1024 tensors (`common::synthetic`: the
//! rank-1-scaled "gradient", seed 1, and the i.i.d. Gaussian "weight", seed 2) as `<f4`
//! `.npy` files, so that tools outside Rust (`bench/compare.py --synthetic`, which times them
//! against SZ3) measure exactly the values `cargo run --release --example speed` compresses.
//!
//! cargo run --release -p alcm-tools --bin synthetic_npy -- [DIR]
//!
//! DIR defaults to `build/synthetic` under the repository root (git-ignored). Prints one line
//! per file written: its path and shape.

use std::path::PathBuf;
use std::process::ExitCode;

#[path = "../../../examples/common/mod.rs"]
mod common;

/// File name, seed and rank-1 flag of each tensor; `bench/compare.py` knows these names.
const TENSORS: [(&str, u64, bool); 2] = [
    ("synthetic_rank1_gradient_1024x1024.npy", 1, true),
    ("synthetic_gaussian_weight_1024x1024.npy", 2, false),
];

fn main() -> ExitCode {
    let mut args = std::env::args().skip(1);
    let dir = args
        .next()
        .map(PathBuf::from)
        .unwrap_or_else(|| common::repo_root().join("build/synthetic"));
    if args.next().is_some() {
        eprintln!("usage: synthetic_npy [DIR]");
        return ExitCode::from(2);
    }
    if let Err(e) = std::fs::create_dir_all(&dir) {
        eprintln!("synthetic_npy: cannot create {}: {e}", dir.display());
        return ExitCode::FAILURE;
    }
    for (name, seed, rank1) in TENSORS {
        let (x, shape) = common::synthetic(seed, rank1);
        let path = dir.join(name);
        if let Err(e) = alcm::write_npy_f32(&path, &shape, &x) {
            eprintln!("synthetic_npy: cannot write {}: {e}", path.display());
            return ExitCode::FAILURE;
        }
        println!("{} {shape:?}", path.display());
    }
    ExitCode::SUCCESS
}
