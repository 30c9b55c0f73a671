//! `synthetic_npy` writes the speed example's synthetic tensors, bit for bit, under the names
//! `bench/compare.py --synthetic` reads.

use std::path::{Path, PathBuf};
use std::process::Command;

#[path = "../../examples/common/mod.rs"]
mod common;

/// File name, `common::synthetic` arguments, and the CRC-32 of the values' little-endian
/// `<f4` bytes as computed by an independent numpy/`math` implementation of the generator
/// (`tools/scripts/synthetic_reference.py`), not by this crate.
const EXPECTED: [(&str, u64, bool, u32); 2] = [
    (
        "synthetic_rank1_gradient_1024x1024.npy",
        1,
        true,
        0x8803_d238,
    ),
    (
        "synthetic_gaussian_weight_1024x1024.npy",
        2,
        false,
        0x68a6_12ae,
    ),
];

fn scratch(tag: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("alcm-synthetic-npy-{}-{tag}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    d
}

fn run(args: &[&Path]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_synthetic_npy"))
        .args(args)
        .output()
        .expect("run synthetic_npy")
}

#[test]
fn writes_the_speed_examples_tensors_bit_for_bit() {
    let dir = scratch("ok");
    let out = run(&[&dir]);
    assert!(out.status.success(), "{out:?}");
    for (name, seed, rank1, crc) in EXPECTED {
        let (x, shape) = alcm::read_npy_f32(&dir.join(name)).expect(name);
        assert_eq!(shape, [1024, 1024], "{name}");
        let mut h = crc32fast::Hasher::new();
        for v in &x {
            h.update(&v.to_le_bytes());
        }
        assert_eq!(
            h.finalize(),
            crc,
            "{name}: values differ from the reference"
        );
        // The same values the speed example compresses (a change to the generator moves
        // both, and then the CRC above says the figures are on other data).
        let (y, yshape) = common::synthetic(seed, rank1);
        assert_eq!(yshape, shape);
        assert!(
            x.iter().zip(&y).all(|(a, b)| a.to_bits() == b.to_bits()),
            "{name}: not common::synthetic({seed}, {rank1})"
        );
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn reports_errors_with_a_status_not_a_panic() {
    let dir = scratch("err");
    std::fs::create_dir_all(&dir).unwrap();
    // A directory that cannot be created (its parent is a file).
    let file = dir.join("plain");
    std::fs::write(&file, b"x").unwrap();
    let out = run(&[&file.join("sub")]);
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    assert!(String::from_utf8_lossy(&out.stderr).contains("cannot create"));
    // A second argument is a usage error.
    let out = run(&[&dir, &dir]);
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    assert!(!dir.join(EXPECTED[0].0).exists());
    std::fs::remove_dir_all(&dir).unwrap();
}
