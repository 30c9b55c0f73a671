//! The tensors of the large golden frames: kind 4 (`v2_synth1024x512_rel1e-1_model`) and kind 5
//! (`v3_*`).

/// The kind-4 tensor (≥ 2^19 values; no tests/data tensor is that large): 1024 × 512, rows of
/// odd index all zero (dead units), the others `r_i · c_j · g` with `g` a sum of four uniforms
/// from a 64-bit LCG (IEEE arithmetic only, so it is the same on every platform).
/// Shared by examples/make_golden.rs (which wrote the golden frame) and tests/golden.rs (which
/// regenerates it to check the decoded values' error bound).
pub fn kind4_tensor() -> (Vec<f32>, Vec<usize>) {
    let (rows, cols) = (1024usize, 512usize);
    let mut s = 0x2545_f491_4f6c_dd1du64;
    let mut uni = || {
        s = s
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (s >> 40) as f64 / (1u64 << 24) as f64
    };
    let mut x = vec![0f32; rows * cols];
    for i in (0..rows).step_by(2) {
        let r = 0.25 + (i % 13) as f64 * 0.125;
        for j in 0..cols {
            let c = 1e-3 * (1.0 + (j % 5) as f64 * 0.5);
            let g = uni() + uni() + uni() + uni() - 2.0;
            x[i * cols + j] = (r * c * g) as f32;
        }
    }
    (x, vec![rows, cols])
}

/// A 640 × 1000 tensor whose signs follow a rank-1 term, `x_ij = r_i · c_j · (3 u_i v_j + g)`
/// with `u, v = ±1` and `g` a centred sum of four uniforms (same LCG as [`kind4_tensor`]), and
/// a few values 10^4 times larger (escapes): kind 5 with signs predicted from the singular pair.
#[allow(dead_code)] // not used by every test that includes this file
pub fn kind5_signed_tensor() -> (Vec<f32>, Vec<usize>) {
    let (rows, cols) = (640usize, 1000usize);
    let mut s = 0x9e37_79b9_7f4a_7c15u64;
    let mut uni = || {
        s = s
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (s >> 40) as f64 / (1u64 << 24) as f64
    };
    let mut x = vec![0f32; rows * cols];
    for i in 0..rows {
        let r = 0.5 + (i % 7) as f64 * 0.25;
        let u = if i % 3 == 0 { -1.0 } else { 1.0 };
        for j in 0..cols {
            let c = 1e-2 * (1.0 + (j % 11) as f64 * 0.3);
            let v = if j % 4 == 1 { -1.0 } else { 1.0 };
            let g = uni() + uni() + uni() + uni() - 2.0;
            let big = if (i * cols + j) % 99_991 == 17 {
                1e4
            } else {
                1.0
            };
            x[i * cols + j] = (r * c * (3.0 * u * v + g) * big) as f32;
        }
    }
    (x, vec![rows, cols])
}
