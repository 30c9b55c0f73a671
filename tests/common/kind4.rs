//! The tensor of the kind-4 golden frame `v2_synth1024x512_rel1e-1_model`.

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
