//! The synthetic tensor of the version-7 golden frame `v7_outliers300x100_rel1e-2_shared`
//! (shared by tools/src/bin/make_golden_v7.rs and tests/golden_v7_shared.rs via `#[path]`).
#![allow(dead_code)]

/// 300 × 100: `r_i · c_j · g` with Gaussian `g` (Box-Muller on an LCG), row scales `2^(k/8)`,
/// rows 7 and 150 zero, and eight values of ±1 (far beyond their scale: escapes).
pub fn shared_tensor() -> (Vec<f32>, Vec<usize>) {
    let (rows, cols) = (300usize, 100usize);
    let mut s = 0x6a09_e667_f3bc_c908u64;
    let mut u = move || {
        s = s
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        ((s >> 11) as f64 + 0.5) / (1u64 << 53) as f64
    };
    let cs: Vec<f64> = (0..cols).map(|j| 0.5 + (j % 13) as f64 / 8.0).collect();
    let mut x = Vec::with_capacity(rows * cols);
    for i in 0..rows {
        let r = if i == 7 || i == 150 {
            0.0
        } else {
            2f64.powf((i % 24) as f64 / 8.0) * 1e-2
        };
        for c in &cs {
            let g = (-2.0 * u().ln()).sqrt() * (std::f64::consts::TAU * u()).cos();
            x.push((r * c * g) as f32);
        }
    }
    for k in 0..8 {
        let at = 3700 * k + 17 * k + 5;
        x[at] = if k % 2 == 0 { 1.0 } else { -1.0 };
    }
    (x, vec![rows, cols])
}
