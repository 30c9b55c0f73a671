//! Helpers shared by the examples (included with `#[path = "common/mod.rs"] mod common;`).
#![allow(dead_code)]

use std::path::{Path, PathBuf};

/// The repository's root, for the examples and for the development tools (`tools/`, a crate
/// of its own one level down) that include this file.
pub fn repo_root() -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    if dir.join("src/lib.rs").is_file() {
        dir
    } else {
        dir.parent().map(Path::to_path_buf).unwrap_or(dir)
    }
}

/// The data directory an example runs on: the given one, else ../shared/data when present,
/// else the repository's own tests/data.
pub fn data_dir(arg: Option<PathBuf>) -> PathBuf {
    arg.unwrap_or_else(|| {
        let shared = PathBuf::from("../shared/data");
        if shared.is_dir() {
            shared
        } else {
            repo_root().join("tests/data")
        }
    })
}

/// Every tensor `.npy` below `dir`, sorted; skips the digits data set and test fixtures.
pub fn find_npy(dir: &Path) -> Vec<PathBuf> {
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
        let Ok(rd) = std::fs::read_dir(dir) else {
            return;
        };
        for e in rd.flatten() {
            let p = e.path();
            if p.is_dir() {
                if !matches!(
                    p.file_name().and_then(|n| n.to_str()),
                    Some("digits" | "fixtures" | "golden" | "legacy_shape")
                ) {
                    walk(&p, out);
                }
            } else if p.extension().is_some_and(|x| x == "npy") {
                out.push(p);
            }
        }
    }
    let mut out = Vec::new();
    walk(dir, &mut out);
    out.sort();
    out
}

/// The predictor examples' train/held-out split: held out when the FNV-1a hash of the file
/// name is odd (independent of directory order).
pub fn held_out(p: &Path) -> bool {
    let mut h = 0xcbf2_9ce4_8422_2325u64;
    for b in p
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
        .bytes()
    {
        h = (h ^ b as u64).wrapping_mul(0x100_0000_01b3);
    }
    h & 1 == 1
}

/// Relative L2 error and max absolute error of `b` against `a`, in f64.
pub fn errors(a: &[f32], b: &[f32]) -> (f64, f64) {
    let (mut num, mut den, mut max) = (0.0f64, 0.0f64, 0.0f64);
    for (x, y) in a.iter().zip(b) {
        let d = *x as f64 - *y as f64;
        num += d * d;
        den += *x as f64 * *x as f64;
        max = max.max(d.abs());
    }
    (if den > 0.0 { (num / den).sqrt() } else { 0.0 }, max)
}

/// A deterministic synthetic 1024 × 1024 tensor: Gaussian values times log-normal row and
/// column scales (`rank1`: a gradient-like tensor, whose heavy tails come from the scales) or
/// i.i.d. Gaussian (a weight-like tensor), all × 1e-3. Shared by the speed examples and the
/// criterion benches so that their figures are on the same data.
pub fn synthetic(seed: u64, rank1: bool) -> (Vec<f32>, Vec<usize>) {
    let (r, c) = (1024usize, 1024usize);
    let mut rnd = uniform(seed);
    let mut gauss = move || {
        let (u, v) = (rnd(), rnd());
        (-2.0 * u.ln()).sqrt() * (2.0 * std::f64::consts::PI * v).cos()
    };
    let rs: Vec<f64> = (0..r)
        .map(|_| if rank1 { (gauss() * 1.5).exp() } else { 1.0 })
        .collect();
    let cs: Vec<f64> = (0..c)
        .map(|_| if rank1 { (gauss() * 1.0).exp() } else { 1.0 })
        .collect();
    let mut x = Vec::with_capacity(r * c);
    for ri in &rs {
        for cj in &cs {
            x.push((gauss() * ri * cj * 1e-3) as f32);
        }
    }
    (x, vec![r, c])
}

/// Uniform values in (0, 1) from a 64-bit LCG seeded with `seed` (the same sequence on every
/// platform).
pub fn uniform(seed: u64) -> impl FnMut() -> f64 {
    let mut s = seed;
    move || {
        s = s
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        ((s >> 11) as f64 + 0.5) / (1u64 << 53) as f64
    }
}

/// `n` i.i.d. Gaussian values with standard deviation 1e-2 (Box-Muller over an LCG seeded with
/// `seed`): a bias-like tensor where the data has none of the wanted size.
pub fn gaussian(n: usize, seed: u64) -> Vec<f32> {
    let mut rnd = uniform(seed);
    (0..n)
        .map(|_| {
            let (u, v) = (rnd(), rnd());
            ((-2.0 * u.ln()).sqrt() * (std::f64::consts::TAU * v).cos() * 1e-2) as f32
        })
        .collect()
}
