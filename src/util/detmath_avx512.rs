//! [`det_ln`](super::detmath::det_ln) and [`det_exp`](super::detmath::det_exp) eight values a
//! step with AVX-512 vectors.
//!
//! The scalar function is a chain of about 35 dependent IEEE operations (the mantissa's
//! series alone is fourteen multiply-adds): the sign classes, the scale codes and the order-0
//! bound call it a few hundred times a compression, one call after another, so that a
//! 32 768-value tensor spent 4 % of its compression waiting on those chains. Each lane here
//! performs the scalar function's operations on its own value, in the same order (no fused
//! multiply-add, the same constants), so the results are the same bit for bit; lanes whose
//! value takes one of the scalar function's other branches (zero, subnormal, negative,
//! infinite, NaN) are left to the scalar function.
//!
//! Built only by compilers whose AVX-512 intrinsics are stable (`build.rs` sets `alcm_avx512`
//! from rustc 1.89); used when the CPU has AVX-512F.

// Compiled only where the intrinsics are stable (`alcm_avx512`, rustc ≥ 1.89).
#![allow(clippy::incompatible_msrv)]

use super::detmath::{det_exp, det_ln, LN2_HI, LN2_LO};
use std::arch::x86_64::*;

/// Whether the kernel runs on this CPU.
pub(super) fn available() -> bool {
    #[cfg(test)]
    if NO_AVX512.load(std::sync::atomic::Ordering::SeqCst) {
        return false;
    }
    std::is_x86_feature_detected!("avx512f")
}

/// Tests switch the kernel off to compare the paths through the dispatcher.
#[cfg(test)]
pub(super) static NO_AVX512: std::sync::atomic::AtomicBool =
    std::sync::atomic::AtomicBool::new(false);

/// Replaces every `x` of `xs` by `det_ln(x)`, bit for bit.
///
/// # Safety
/// The CPU must support AVX-512F.
#[target_feature(enable = "avx512f")]
pub(super) unsafe fn ln_in_place(xs: &mut [f64]) {
    in_place(xs, det_ln, |x| {
        // The scalar function's main branch: `MIN_POSITIVE ≤ x < ∞` (false for NaN).
        let normal = _mm512_cmp_pd_mask::<_CMP_GE_OQ>(x, _mm512_set1_pd(f64::MIN_POSITIVE))
            & _mm512_cmp_pd_mask::<_CMP_LT_OQ>(x, _mm512_set1_pd(f64::INFINITY));
        (ln_normal(x), normal)
    });
}

/// Replaces every `x` of `xs` by `scalar(x)`: eight at a time by `vector`, which returns its
/// eight results and the mask of the lanes where they are `scalar`'s (the others, and the
/// last `len mod 8` values, are left to `scalar`).
#[inline]
#[target_feature(enable = "avx512f")]
fn in_place(xs: &mut [f64], scalar: fn(f64) -> f64, vector: impl Fn(__m512d) -> (__m512d, u8)) {
    let mut chunks = xs.chunks_exact_mut(8);
    for c in &mut chunks {
        // SAFETY: `c` holds 8 f64; unaligned load and store.
        let x = unsafe { _mm512_loadu_pd(c.as_ptr()) };
        let (y, done) = vector(x);
        // SAFETY: as above.
        unsafe { _mm512_storeu_pd(c.as_mut_ptr(), y) };
        if done != 0xFF {
            // SAFETY: a __m512d is 8 f64: the original values (`c` is overwritten).
            let orig: [f64; 8] = unsafe { std::mem::transmute(x) };
            for (k, (v, &o)) in c.iter_mut().zip(&orig).enumerate() {
                if done & (1 << k) == 0 {
                    *v = scalar(o);
                }
            }
        }
    }
    for v in chunks.into_remainder() {
        *v = scalar(*v);
    }
}

/// `det_ln` of eight normal, positive, finite values: its operations lane by lane.
#[inline]
#[target_feature(enable = "avx512f")]
fn ln_normal(x: __m512d) -> __m512d {
    let bits = _mm512_castpd_si512(x);
    // e = biased exponent − 1023, m = the mantissa in [1, 2).
    let biased = _mm512_and_si512(_mm512_srli_epi64::<52>(bits), _mm512_set1_epi64(0x7ff));
    let e = _mm512_sub_epi64(biased, _mm512_set1_epi64(1023));
    let mant = _mm512_or_si512(
        _mm512_and_si512(bits, _mm512_set1_epi64(0x000f_ffff_ffff_ffff)),
        _mm512_set1_epi64((1023u64 << 52) as i64),
    );
    let m = _mm512_castsi512_pd(mant);
    // m > √2: m·0.5 (exact) and e + 1.
    let big = _mm512_cmp_pd_mask::<_CMP_GT_OQ>(m, _mm512_set1_pd(std::f64::consts::SQRT_2));
    let m = _mm512_mask_mul_pd(m, big, m, _mm512_set1_pd(0.5));
    let e = _mm512_mask_add_epi64(e, big, e, _mm512_set1_epi64(1));
    let one = _mm512_set1_pd(1.0);
    let s = _mm512_div_pd(_mm512_sub_pd(m, one), _mm512_add_pd(m, one));
    let s2 = _mm512_mul_pd(s, s);
    let mut sum = _mm512_setzero_pd();
    let mut n = 29;
    while n >= 3 {
        sum = _mm512_mul_pd(_mm512_add_pd(sum, _mm512_set1_pd(1.0 / n as f64)), s2);
        n -= 2;
    }
    // 2·s·(1 + sum), left to right.
    let ln_m = _mm512_mul_pd(
        _mm512_mul_pd(_mm512_set1_pd(2.0), s),
        _mm512_add_pd(one, sum),
    );
    // |e| ≤ 1024: exact through i32.
    let ef = _mm512_cvtepi32_pd(_mm512_cvtepi64_epi32(e));
    _mm512_add_pd(
        _mm512_mul_pd(ef, _mm512_set1_pd(LN2_HI)),
        _mm512_add_pd(_mm512_mul_pd(ef, _mm512_set1_pd(LN2_LO)), ln_m),
    )
}

/// Replaces every `x` of `xs` by `det_exp(x)`, bit for bit.
///
/// Why: `det_exp` is a chain of fifteen dependent divisions (its Taylor series); the
/// predictor's sigmoid calls it once per channel, eight channels at a time
/// (`Predictor::forward_many`), and one call after another those chains do not overlap.
///
/// # Safety
/// The CPU must support AVX-512F.
#[target_feature(enable = "avx512f")]
pub(super) unsafe fn exp_in_place(xs: &mut [f64]) {
    in_place(xs, det_exp, |x| {
        // Where `det_exp` scales by one normal power of two: −708 < x < 709 gives
        // −1022 ≤ k ≤ 1023 (false for NaN).
        let normal = _mm512_cmp_pd_mask::<_CMP_GT_OQ>(x, _mm512_set1_pd(-708.0))
            & _mm512_cmp_pd_mask::<_CMP_LT_OQ>(x, _mm512_set1_pd(709.0));
        (exp_normal(x), normal)
    });
}

/// `det_exp` of eight values in (−708, 709): its operations lane by lane.
#[inline]
#[target_feature(enable = "avx512f")]
fn exp_normal(x: __m512d) -> __m512d {
    // k = round(x·log2 e), halves away from zero (`f64::round`): the truncation, plus the
    // sign of t where the exact remainder t − trunc(t) is at least a half.
    let t = _mm512_mul_pd(x, _mm512_set1_pd(std::f64::consts::LOG2_E));
    let tr = _mm512_roundscale_pd::<{ _MM_FROUND_TO_ZERO | _MM_FROUND_NO_EXC }>(t);
    let rem = _mm512_sub_pd(t, tr);
    let half = _mm512_cmp_pd_mask::<_CMP_GE_OQ>(_mm512_abs_pd(rem), _mm512_set1_pd(0.5));
    // ±1 with t's sign (integer ops: the f64 `and`/`or` need AVX-512DQ).
    let sign = _mm512_and_si512(_mm512_castpd_si512(t), _mm512_set1_epi64(i64::MIN));
    let step = _mm512_castsi512_pd(_mm512_or_si512(
        sign,
        _mm512_castpd_si512(_mm512_set1_pd(1.0)),
    ));
    let k = _mm512_mask_add_pd(tr, half, tr, step);
    let r = _mm512_sub_pd(
        _mm512_sub_pd(x, _mm512_mul_pd(k, _mm512_set1_pd(LN2_HI))),
        _mm512_mul_pd(k, _mm512_set1_pd(LN2_LO)),
    );
    let one = _mm512_set1_pd(1.0);
    let mut p = one;
    let mut i = 15;
    while i >= 1 {
        p = _mm512_add_pd(
            one,
            _mm512_div_pd(_mm512_mul_pd(p, r), _mm512_set1_pd(i as f64)),
        );
        i -= 1;
    }
    // 2^k for −1022 ≤ k ≤ 1023: the biased exponent k + 1023 alone (k exact through i32).
    let ki = _mm512_cvtepi32_epi64(_mm512_cvtpd_epi32(k));
    let scale = _mm512_slli_epi64::<52>(_mm512_add_epi64(ki, _mm512_set1_epi64(1023)));
    _mm512_mul_pd(p, _mm512_castsi512_pd(scale))
}
