//! The step search's error pass (`quant::error_sq_block`) and the uniform quantizer's code pass
//! (`quant::uniform_codes_f64`) with explicit AVX2 vectors: the auto-vectorised loops mixed
//! two- and four-lane vectors with scalar loads and stack spills, about twice the instructions
//! of these. Each of the four lanes performs exactly the scalar loop's IEEE operations on the
//! same values in the same order (no fused multiply-add), so the results are bit-identical to
//! the `_generic` functions of `quant.rs` on every machine.

#[cfg(target_arch = "x86_64")]
use std::arch::x86_64::*;

/// `quant::round_away_f64` on four lanes: t = |y|, r = (t + 2^52) − 2^52, +1 on a tie that
/// went down, t itself from 2^52 on, then y's sign.
#[cfg(target_arch = "x86_64")]
#[inline]
#[target_feature(enable = "avx2")]
fn round_away(y: __m256d) -> __m256d {
    let sign = _mm256_set1_pd(-0.0);
    let two52 = _mm256_set1_pd(super::quant::TWO52);
    let t = _mm256_andnot_pd(sign, y);
    let r = _mm256_sub_pd(_mm256_add_pd(t, two52), two52);
    let tie = _mm256_cmp_pd::<_CMP_EQ_OQ>(_mm256_sub_pd(t, r), _mm256_set1_pd(0.5));
    let r = _mm256_blendv_pd(r, _mm256_add_pd(r, _mm256_set1_pd(1.0)), tie);
    let r = _mm256_blendv_pd(r, t, _mm256_cmp_pd::<_CMP_GE_OQ>(t, two52));
    _mm256_or_pd(_mm256_andnot_pd(sign, r), _mm256_and_pd(sign, y))
}

/// Σ (x − x̂)² as `error_sq_block_generic` computes it: lane `k` of the accumulator adds the
/// errors of values `4m + k` in order, the remainder (< 4 values) goes to lanes 0.., then
/// `(acc₀ + acc₁) + (acc₂ + acc₃)`.
///
/// # Safety
/// The CPU must support AVX2.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
pub(super) unsafe fn error_sq_block(block: &[f32], inv: f64, step: f64) -> f64 {
    let (vinv, vstep) = (_mm256_set1_pd(inv), _mm256_set1_pd(step));
    let mut acc = _mm256_setzero_pd();
    let chunks = block.chunks_exact(4);
    let rest = chunks.remainder();
    for c in chunks {
        // SAFETY: `c` holds 4 f32 (16 bytes); unaligned load.
        let x = _mm256_cvtps_pd(_mm_loadu_ps(c.as_ptr()));
        let y = _mm256_mul_pd(x, vinv);
        let q = round_away(y);
        // (q·Δ) as f32 (round to nearest, the default MXCSR mode), back to f64.
        let xr = _mm256_cvtps_pd(_mm256_cvtpd_ps(_mm256_mul_pd(q, vstep)));
        let d = _mm256_sub_pd(x, xr);
        acc = _mm256_add_pd(acc, _mm256_mul_pd(d, d));
    }
    let mut a = [0.0f64; 4];
    // SAFETY: `a` holds 4 f64; unaligned store.
    _mm256_storeu_pd(a.as_mut_ptr(), acc);
    for (k, &x) in rest.iter().enumerate() {
        a[k] += super::quant::error_sq_one(x, inv, step);
    }
    (a[0] + a[1]) + (a[2] + a[3])
}

/// `quant::uniform_codes_f64_generic`: lane `k` holds values `4m + k` (codes, running smallest
/// and largest code, largest `|x/Δ|` with the same compare-and-select, so a NaN is kept or
/// dropped exactly as there); the remainder and the final reduction are the scalar code's.
///
/// # Safety
/// The CPU must support AVX2.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
pub(super) unsafe fn uniform_codes_f64(
    xs: &[f32],
    inv_step: f64,
    q: &mut [f64],
) -> (f64, f64, f64) {
    let sign = _mm256_set1_pd(-0.0);
    let vinv = _mm256_set1_pd(inv_step);
    let mut lo = _mm256_set1_pd(f64::INFINITY);
    let mut hi = _mm256_set1_pd(f64::NEG_INFINITY);
    let mut big = _mm256_setzero_pd();
    let mut cx = xs.chunks_exact(4);
    let mut cq = q.chunks_exact_mut(4);
    for (c, o) in (&mut cx).zip(&mut cq) {
        // SAFETY: `c` holds 4 f32, `o` 4 f64; unaligned load and store.
        let y = _mm256_mul_pd(_mm256_cvtps_pd(_mm_loadu_ps(c.as_ptr())), vinv);
        let r = round_away(y);
        _mm256_storeu_pd(o.as_mut_ptr(), r);
        // lo = r < lo ? r : lo; hi = r > hi ? r : hi; big = a <= big ? big : a.
        lo = _mm256_blendv_pd(lo, r, _mm256_cmp_pd::<_CMP_LT_OQ>(r, lo));
        hi = _mm256_blendv_pd(hi, r, _mm256_cmp_pd::<_CMP_GT_OQ>(r, hi));
        let a = _mm256_andnot_pd(sign, y);
        big = _mm256_blendv_pd(a, big, _mm256_cmp_pd::<_CMP_LE_OQ>(a, big));
    }
    let (mut l, mut h, mut b) = ([0.0f64; 4], [0.0f64; 4], [0.0f64; 4]);
    // SAFETY: each array holds 4 f64; unaligned stores.
    _mm256_storeu_pd(l.as_mut_ptr(), lo);
    _mm256_storeu_pd(h.as_mut_ptr(), hi);
    _mm256_storeu_pd(b.as_mut_ptr(), big);
    super::quant::uniform_codes_tail(cx.remainder(), inv_step, cq.into_remainder(), l, h, b)
}
