//! The direct quantizer's two passes over a channel (`quant_direct`: its extremes, then its
//! offsets) with AVX-512 vectors: sixteen values a step for the extremes, eight for the
//! offsets (whose arithmetic is in f64), against eight and four with AVX2. Each lane performs
//! the AVX2 kernel's IEEE operations on the same value (no fused multiply-add), so the codes
//! are the same bit for bit on every CPU.
//!
//! Built only by compilers whose AVX-512 intrinsics are stable (`build.rs` sets `alcm_avx512`
//! from rustc 1.89); used when the CPU has AVX-512F.

// Compiled only where the intrinsics are stable (`alcm_avx512`, rustc ≥ 1.89).
#![allow(clippy::incompatible_msrv)]

use super::quant::TWO52;
use std::arch::x86_64::*;

/// Whether these kernels run on this CPU.
pub(super) fn available() -> bool {
    #[cfg(test)]
    if NO_AVX512.load(std::sync::atomic::Ordering::SeqCst) {
        return false;
    }
    std::is_x86_feature_detected!("avx512f")
}

/// Tests switch the AVX-512 kernels off to compare the paths through the dispatchers.
#[cfg(test)]
pub(super) static NO_AVX512: std::sync::atomic::AtomicBool =
    std::sync::atomic::AtomicBool::new(false);

/// `quant_direct::extremes` sixteen values a step: the smallest and largest of `xs`, or `None`
/// if `xs` is empty or holds a non-finite value. The extremes of finite values do not depend
/// on the order in which they are taken (a zero's sign aside, which no use of them sees: see
/// `quant_direct`).
///
/// # Safety
/// The CPU must support AVX-512F.
#[target_feature(enable = "avx512f")]
pub(super) unsafe fn extremes(xs: &[f32]) -> Option<(f32, f32)> {
    let body = xs.len() & !15;
    let mut lo = _mm512_set1_ps(f32::INFINITY);
    let mut hi = _mm512_set1_ps(f32::NEG_INFINITY);
    // Non-finite: |x| as an integer above f32::MAX's bits (exponent all ones).
    let mut bad: __mmask16 = 0;
    let (abs, max) = (
        _mm512_set1_epi32(0x7fff_ffff),
        _mm512_set1_epi32(f32::MAX.to_bits() as i32),
    );
    let mut j = 0;
    while j < body {
        // SAFETY: j + 16 ≤ xs.len(); unaligned load.
        let x = _mm512_loadu_ps(xs.as_ptr().add(j));
        let m = _mm512_and_si512(_mm512_castps_si512(x), abs);
        bad |= _mm512_cmpgt_epi32_mask(m, max);
        lo = _mm512_min_ps(lo, x);
        hi = _mm512_max_ps(hi, x);
        j += 16;
    }
    if bad != 0 {
        return None;
    }
    let (mut a, mut b) = (_mm512_reduce_min_ps(lo), _mm512_reduce_max_ps(hi));
    for &x in &xs[body..] {
        if !x.is_finite() {
            return None;
        }
        a = a.min(x);
        b = b.max(x);
    }
    (!xs.is_empty()).then_some((a, b))
}

/// `quant_avx2::round_away` on eight lanes: `trunc(y + copysign(0.5⁻, y))`, the same two
/// IEEE operations.
#[inline]
#[target_feature(enable = "avx512f")]
fn round_away(y: __m512d) -> __m512d {
    let sign = _mm512_set1_epi64(i64::MIN);
    let half_below = _mm512_set1_epi64((0.5f64.to_bits() - 1) as i64);
    let bias = _mm512_or_si512(_mm512_and_si512(sign, _mm512_castpd_si512(y)), half_below);
    let t = _mm512_add_pd(y, _mm512_castsi512_pd(bias));
    _mm512_roundscale_pd::<{ _MM_FROUND_TO_ZERO | _MM_FROUND_NO_EXC }>(t)
}

/// Eight `(round_away(x · inv) − lo) + 2^52` from `xs[j..j + 8]` as 64-bit lanes (the low
/// 32 bits of each are the code).
///
/// # Safety
/// The CPU must support AVX-512F; `j + 8 ≤ xs.len()`.
#[inline]
#[target_feature(enable = "avx512f")]
unsafe fn eight(xs: &[f32], j: usize, vinv: __m512d, vlo: __m512d, two52: __m512d) -> __m512i {
    debug_assert!(j + 8 <= xs.len());
    // SAFETY: j + 8 ≤ len (the caller's contract); unaligned load.
    let y = _mm512_mul_pd(_mm512_cvtps_pd(_mm256_loadu_ps(xs.as_ptr().add(j))), vinv);
    _mm512_castpd_si512(_mm512_add_pd(_mm512_sub_pd(round_away(y), vlo), two52))
}

/// `quant_direct::offsets` eight values a step into `W`-byte codes (2 or 4) at `out`; the
/// last `< 8` values as the scalar loop does them.
///
/// # Safety
/// The CPU must support AVX-512F; `out` has room for `xs.len()` codes of `W` bytes.
#[target_feature(enable = "avx512f")]
pub(super) unsafe fn offsets<const W: usize>(xs: &[f32], inv_step: f64, lo: f64, out: *mut u8) {
    let n = xs.len();
    let body = n & !7;
    let (vinv, vlo, two52) = (
        _mm512_set1_pd(inv_step),
        _mm512_set1_pd(lo),
        _mm512_set1_pd(TWO52),
    );
    let mut j = 0;
    // SAFETY (the calls of `eight`): j + 8 ≤ body ≤ n; the stores write codes j..j + 8.
    while j < body {
        let t = eight(xs, j, vinv, vlo, two52);
        if W == 2 {
            // Truncation to the low 16 bits: the code (u < 2^16).
            _mm_storeu_si128(out.add(2 * j) as *mut __m128i, _mm512_cvtepi64_epi16(t));
        } else {
            _mm256_storeu_si256(out.add(4 * j) as *mut __m256i, _mm512_cvtepi64_epi32(t));
        }
        j += 8;
    }
    for (k, &x) in xs.iter().enumerate().skip(body) {
        let v = ((super::quant::round_away_f64(x as f64 * inv_step) - lo) + TWO52).to_bits() as u32;
        // SAFETY: code k within `out`; unaligned writes.
        if W == 2 {
            (out.add(2 * k) as *mut u16).write_unaligned(v as u16);
        } else {
            (out.add(4 * k) as *mut u32).write_unaligned(v);
        }
    }
}

/// The squared errors `(x − (q·Δ) as f32)²` of eight values (`quant::error_sq_one` per lane).
///
/// # Safety
/// The CPU must support AVX-512F; `j + 8 ≤ xs.len()`.
#[inline]
#[target_feature(enable = "avx512f")]
unsafe fn eight_errors(xs: &[f32], j: usize, vinv: __m512d, vstep: __m512d) -> __m512d {
    debug_assert!(j + 8 <= xs.len());
    // SAFETY: j + 8 ≤ len (the caller's contract); unaligned load.
    let x = _mm512_cvtps_pd(_mm256_loadu_ps(xs.as_ptr().add(j)));
    let q = round_away(_mm512_mul_pd(x, vinv));
    // (q·Δ) as f32 (round to nearest, the default MXCSR mode), back to f64.
    let xr = _mm512_cvtps_pd(_mm512_cvtpd_ps(_mm512_mul_pd(q, vstep)));
    let d = _mm512_sub_pd(x, xr);
    _mm512_mul_pd(d, d)
}

/// `acc += e[0..4]`, then `acc += e[4..8]`: the four-lane accumulator's order (lane `k` adds
/// the errors of values `4m + k` in order) with eight errors a step.
#[inline]
#[target_feature(enable = "avx512f")]
fn add_halves(acc: __m256d, e: __m512d) -> __m256d {
    let acc = _mm256_add_pd(acc, _mm512_castpd512_pd256(e));
    _mm256_add_pd(acc, _mm512_extractf64x4_pd::<1>(e))
}

/// The last `< 8` values of a block of `quant::error_sq_block`: a group of four on the
/// accumulator, then fewer than four added to lanes 0.. as the scalar loop adds them, and the
/// fixed reduction `(a₀ + a₁) + (a₂ + a₃)`.
///
/// # Safety
/// The CPU must support AVX-512F; `from` is a multiple of 8, at most `xs.len()`.
#[target_feature(enable = "avx512f")]
unsafe fn finish_errors(xs: &[f32], from: usize, acc: __m256d, inv: f64, step: f64) -> f64 {
    let mut acc = acc;
    let mut j = from;
    if j + 4 <= xs.len() {
        // SAFETY: j + 4 ≤ len; unaligned load.
        let x = _mm256_cvtps_pd(_mm_loadu_ps(xs.as_ptr().add(j)));
        let q = super::quant_avx2::round_away(_mm256_mul_pd(x, _mm256_set1_pd(inv)));
        let xr = _mm256_cvtps_pd(_mm256_cvtpd_ps(_mm256_mul_pd(q, _mm256_set1_pd(step))));
        let d = _mm256_sub_pd(x, xr);
        acc = _mm256_add_pd(acc, _mm256_mul_pd(d, d));
        j += 4;
    }
    let mut a = [0.0f64; 4];
    // SAFETY: `a` holds 4 f64; unaligned store.
    _mm256_storeu_pd(a.as_mut_ptr(), acc);
    for (k, &x) in xs[j..].iter().enumerate() {
        a[k] += super::quant::error_sq_one(x, inv, step);
    }
    (a[0] + a[1]) + (a[2] + a[3])
}

/// `quant::error_sq_block` of two blocks at once, each summed in its own order: the sum is a
/// chain of dependent additions (two per eight values), so one block leaves the adder idle
/// most of the time; two independent chains keep it busy. Each result is the one-block
/// kernel's to the bit. `b` may be empty (its sum is then 0, unused).
///
/// # Safety
/// The CPU must support AVX-512F.
#[target_feature(enable = "avx512f")]
pub(super) unsafe fn error_sq_pair(a: &[f32], b: &[f32], inv: f64, step: f64) -> (f64, f64) {
    let (vinv, vstep) = (_mm512_set1_pd(inv), _mm512_set1_pd(step));
    let (mut acc_a, mut acc_b) = (_mm256_setzero_pd(), _mm256_setzero_pd());
    let both = a.len().min(b.len()) & !7;
    let mut j = 0;
    // SAFETY (the calls of `eight_errors`): j + 8 ≤ both ≤ each length, then ≤ its own body.
    while j < both {
        acc_a = add_halves(acc_a, eight_errors(a, j, vinv, vstep));
        acc_b = add_halves(acc_b, eight_errors(b, j, vinv, vstep));
        j += 8;
    }
    let (mut ja, mut jb) = (j, j);
    while ja + 8 <= a.len() {
        acc_a = add_halves(acc_a, eight_errors(a, ja, vinv, vstep));
        ja += 8;
    }
    while jb + 8 <= b.len() {
        acc_b = add_halves(acc_b, eight_errors(b, jb, vinv, vstep));
        jb += 8;
    }
    (
        finish_errors(a, ja, acc_a, inv, step),
        finish_errors(b, jb, acc_b, inv, step),
    )
}

/// Codes and squared errors of eight values (`fused::code_error` on each): the codes'
/// `(q − lo) + 2^52` as 64-bit lanes and the errors.
///
/// # Safety
/// The CPU must support AVX-512F; `j + 8 ≤ xs.len()`.
#[inline]
#[target_feature(enable = "avx512f")]
unsafe fn eight_codes_errors(
    xs: &[f32],
    j: usize,
    (vinv, vstep, vlo, two52): (__m512d, __m512d, __m512d, __m512d),
) -> (__m512i, __m512d) {
    debug_assert!(j + 8 <= xs.len());
    // SAFETY: j + 8 ≤ len (the caller's contract); unaligned load.
    let x = _mm512_cvtps_pd(_mm256_loadu_ps(xs.as_ptr().add(j)));
    let q = round_away(_mm512_mul_pd(x, vinv));
    let t = _mm512_castpd_si512(_mm512_add_pd(_mm512_sub_pd(q, vlo), two52));
    // (q·Δ) as f32 (round to nearest, the default MXCSR mode), back to f64.
    let xr = _mm512_cvtps_pd(_mm512_cvtpd_ps(_mm512_mul_pd(q, vstep)));
    let d = _mm512_sub_pd(x, xr);
    (t, _mm512_mul_pd(d, d))
}

/// Stores the low `W` bytes of each 64-bit lane of `t` (truncation: the code) as codes
/// `j..j + 8` at `out`.
///
/// # Safety
/// The CPU must support AVX-512F; `out` has room for codes `j..j + 8` of `W` bytes.
#[inline]
#[target_feature(enable = "avx512f")]
unsafe fn store_codes<const W: usize>(out: *mut u8, j: usize, t: __m512i) {
    // SAFETY: the caller's contract; unaligned stores.
    if W == 2 {
        _mm_storeu_si128(out.add(2 * j) as *mut __m128i, _mm512_cvtepi64_epi16(t));
    } else {
        _mm256_storeu_si256(out.add(4 * j) as *mut __m256i, _mm512_cvtepi64_epi32(t));
    }
}

/// One block of `fused::pair`: its values, the smallest code of each of its row pieces in
/// order (the first piece `first` values long, the others `per`), room for its codes.
pub(super) struct RowsBlock<'a> {
    pub(super) xs: &'a [f32],
    pub(super) los: &'a [f64],
    pub(super) first: usize,
    pub(super) out: *mut u8,
}

/// The walk of a [`RowsBlock`]: the row piece under it, where that piece ends, its `lo`
/// broadcast, and the block's four partial sums.
struct RowsState {
    cur: usize,
    end: usize,
    vlo: __m512d,
    acc: __m256d,
}

/// The codes and squared errors of values `j..j + 8` of `b` (`j + 8 ≤ b.xs.len()`): eight a
/// step when they lie in one row piece, else one by one as the scalar loop does them.
///
/// # Safety
/// The CPU must support AVX-512F; `b.out` has room for `b.xs.len()` codes of `W` bytes;
/// `b.los` holds the `lo` of every piece up to the one holding `j + 7`.
#[inline]
#[target_feature(enable = "avx512f")]
unsafe fn rows_step<const W: usize>(
    b: &RowsBlock<'_>,
    st: &mut RowsState,
    j: usize,
    per: usize,
    (vinv, vstep, two52): (__m512d, __m512d, __m512d),
    (inv, step): (f64, f64),
) {
    if j >= st.end {
        while j >= st.end {
            st.cur += 1;
            st.end += per;
        }
        st.vlo = _mm512_set1_pd(b.los[st.cur]);
    }
    if j + 8 <= st.end {
        // SAFETY: j + 8 ≤ len; codes j..j + 8 within `out`.
        let (t, e) = eight_codes_errors(b.xs, j, (vinv, vstep, st.vlo, two52));
        store_codes::<W>(b.out, j, t);
        st.acc = add_halves(st.acc, e);
        return;
    }
    let mut a = [0.0f64; 4];
    _mm256_storeu_pd(a.as_mut_ptr(), st.acc);
    rows_scalar::<W>(b, j..j + 8, (inv, step, per), &mut a);
    st.acc = _mm256_loadu_pd(a.as_ptr());
}

/// Values `range` of `b` one by one, each with the `lo` of its row piece, its error added to
/// lane `i mod 4` of `acc`.
///
/// # Safety
/// `b.out` has room for `b.xs.len()` codes of `W` bytes; `range` within `b.xs`; `b.los` as
/// [`rows_step`]'s.
unsafe fn rows_scalar<const W: usize>(
    b: &RowsBlock<'_>,
    range: std::ops::Range<usize>,
    (inv, step, per): (f64, f64, usize),
    acc: &mut [f64; 4],
) {
    for i in range {
        let r = if i < b.first {
            0
        } else {
            1 + (i - b.first) / per
        };
        let (u, e) = super::fused::code_error(b.xs[i], inv, step, b.los[r]);
        acc[i % 4] += e;
        // SAFETY: code i within `out` (the caller's contract); unaligned writes.
        unsafe {
            if W == 2 {
                (b.out.add(2 * i) as *mut u16).write_unaligned(u as u16);
            } else {
                (b.out.add(4 * i) as *mut u32).write_unaligned(u);
            }
        }
    }
}

/// `fused::codes_errors` of two whole blocks of the error sum (`b` may be shorter, or empty),
/// each with its rows' `lo`s, made side by side: two independent chains of additions (as
/// `error_sq_pair`), each in its own block's order; the row boundaries are crossed inside the
/// loop (one call per block, the sums kept in registers). Returns each block's four partial
/// sums.
///
/// # Safety
/// The CPU must support AVX-512F; `a.xs.len() ≥ b.xs.len()`; each block's `out` has room for
/// its `xs.len()` codes of `W` bytes and its `los` a `lo` for every row piece of its values.
#[target_feature(enable = "avx512f")]
pub(super) unsafe fn codes_errors_blocks<const W: usize>(
    (a, b): (&RowsBlock<'_>, &RowsBlock<'_>),
    per: usize,
    (inv, step): (f64, f64),
) -> [[f64; 4]; 2] {
    debug_assert!(a.xs.len() >= b.xs.len());
    let k = (
        _mm512_set1_pd(inv),
        _mm512_set1_pd(step),
        _mm512_set1_pd(TWO52),
    );
    let start = |x: &RowsBlock<'_>| RowsState {
        cur: 0,
        end: x.first,
        vlo: _mm512_set1_pd(x.los.first().copied().unwrap_or(0.0)),
        acc: _mm256_setzero_pd(),
    };
    let (mut sa, mut sb) = (start(a), start(b));
    let mut j = 0;
    // SAFETY (the steps): j + 8 ≤ each block's length; the caller's contract for the rest.
    while j + 8 <= b.xs.len() {
        rows_step::<W>(a, &mut sa, j, per, k, (inv, step));
        rows_step::<W>(b, &mut sb, j, per, k, (inv, step));
        j += 8;
    }
    let jb = j;
    while j + 8 <= a.xs.len() {
        rows_step::<W>(a, &mut sa, j, per, k, (inv, step));
        j += 8;
    }
    let mut out = [[0.0f64; 4]; 2];
    _mm256_storeu_pd(out[0].as_mut_ptr(), sa.acc);
    _mm256_storeu_pd(out[1].as_mut_ptr(), sb.acc);
    let kk = (inv, step, per);
    // SAFETY: the last < 8 values of each block.
    rows_scalar::<W>(a, j..a.xs.len(), kk, &mut out[0]);
    rows_scalar::<W>(b, jb..b.xs.len(), kk, &mut out[1]);
    out
}
