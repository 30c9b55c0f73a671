//! The real tensors shipped in tests/data (shared by several test files via `#[path]`).
#![allow(dead_code)]

use std::path::{Path, PathBuf};

/// Every `.npy` tensor under tests/data/gradients and tests/data/weights, sorted.
pub fn data_files() -> Vec<PathBuf> {
    let mut out = Vec::new();
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data");
    for sub in ["gradients", "weights"] {
        for e in std::fs::read_dir(root.join(sub)).unwrap() {
            let p = e.unwrap().path();
            if p.extension().is_some_and(|x| x == "npy") {
                out.push(p);
            }
        }
    }
    out.sort();
    assert!(
        out.len() >= 20,
        "tests/data should hold the shipped tensors"
    );
    out
}
