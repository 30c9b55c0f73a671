//! The per-row work of `plan_codes`' three statistics passes with explicit AVX2 vectors, one
//! read of the row's codes per pass: the generic path converts each row to f32
//! (`plan::row_f32`) and then runs four to six separate loops over it (counts, sums of
//! squares, dot products), each converting f32 to f64 again. Every lane performs the scalar
//! loops' IEEE operations on the same values in the same order (no fused multiply-add; lane
//! `k` of an accumulator is the scalar `acc[k]`, the < 4 remaining values are handled as the
//! scalar functions handle them), so the plan, and every frame, is the same bit for bit.

use std::arch::x86_64::*;

/// Four codes as the generic path sees them, `((q0 + u) as f32) as f64`: `u` is converted
/// exactly (`(u − 2^31) as i32` to f64, plus 2^31), added to `q0` once as in `row_f32`, then
/// rounded to f32 and widened.
///
/// With `EXACT` (the caller's promise that every `u < 2^31` and `|q0 + u| ≤ 2^24`, see
/// [`row_exact`]), `u` converts as a signed integer and the f32 rounding is the identity: the
/// same doubles in three operations instead of seven.
#[inline]
#[target_feature(enable = "avx2")]
unsafe fn load4<const EXACT: bool>(c: &[u32], q0: __m256d) -> __m256d {
    debug_assert!(c.len() >= 4);
    if EXACT {
        // SAFETY: as below.
        let u = _mm_loadu_si128(c.as_ptr() as *const __m128i);
        return _mm256_add_pd(q0, _mm256_cvtepi32_pd(u));
    }
    // SAFETY: `c` holds at least 4 u32 (16 bytes); unaligned load.
    let u = _mm_loadu_si128(c.as_ptr() as *const __m128i);
    let s = _mm_xor_si128(u, _mm_set1_epi32(i32::MIN));
    let d = _mm256_add_pd(_mm256_cvtepi32_pd(s), _mm256_set1_pd(2147483648.0));
    _mm256_cvtps_pd(_mm256_cvtpd_ps(_mm256_add_pd(q0, d)))
}

/// Whether a row with smallest code `q0` and offsets below `u_bound` (≤ 2^31) has only values
/// of magnitude ≤ 2^24 (exact in f32): the kernels' `EXACT` variants then apply.
pub(super) fn row_exact(q0: i64, u_bound: u64) -> bool {
    const F32_EXACT: i64 = 1 << 24;
    u_bound <= 1 << 31 && q0 >= -F32_EXACT && q0 + u_bound as i64 <= F32_EXACT + 1
}

#[inline]
pub(super) fn one(u: u32, q0: i64) -> f64 {
    ((q0 as f64 + u as f64) as f32) as f64
}

#[inline]
#[target_feature(enable = "avx2")]
unsafe fn lanes(v: __m256d) -> [f64; 4] {
    let mut a = [0f64; 4];
    // SAFETY: `a` holds 4 f64; unaligned store.
    _mm256_storeu_pd(a.as_mut_ptr(), v);
    a
}

/// Pass 1 of a row: writes the row's values into `fr`, adds their squares into `col_ms` and
/// returns (`sumsq4(row)`, `dot4(row, 1)`, count of values > 0, count of values ≠ 0).
///
/// # Safety
/// The CPU must support AVX2; `fr` and `col_ms` are as long as `codes`; with `EXACT`,
/// [`row_exact`]`(q0, b)` for a `b` above every code.
#[target_feature(enable = "avx2")]
pub(super) unsafe fn stats_row<const EXACT: bool>(
    codes: &[u32],
    q0: i64,
    fr: &mut [f64],
    col_ms: &mut [f64],
) -> (f64, f64, u32, u32) {
    let n = codes.len();
    assert!(fr.len() == n && col_ms.len() == n);
    let m = n & !3;
    let vq0 = _mm256_set1_pd(q0 as f64);
    let zero = _mm256_setzero_pd();
    // `sumsq4` adds the remainder first, then the chunks.
    let mut sq0 = [0f64; 4];
    for (k, j) in (m..n).enumerate() {
        let v = one(codes[j], q0);
        sq0[k] += v * v;
    }
    let mut sq = _mm256_loadu_pd(sq0.as_ptr());
    let mut sum = zero;
    let (mut pos, mut nz) = (_mm256_setzero_si256(), _mm256_setzero_si256());
    let mut j = 0;
    while j < m {
        let v = load4::<EXACT>(&codes[j..j + 4], vq0);
        _mm256_storeu_pd(fr[j..j + 4].as_mut_ptr(), v);
        let v2 = _mm256_mul_pd(v, v);
        let cm = col_ms[j..j + 4].as_mut_ptr();
        _mm256_storeu_pd(cm, _mm256_add_pd(_mm256_loadu_pd(cm), v2));
        sq = _mm256_add_pd(sq, v2);
        // dot4 with v = 1: acc += x · 1.0, which is x.
        sum = _mm256_add_pd(sum, v);
        // A true compare is all ones, −1 as an integer lane.
        pos = _mm256_sub_epi64(
            pos,
            _mm256_castpd_si256(_mm256_cmp_pd::<_CMP_GT_OQ>(v, zero)),
        );
        nz = _mm256_sub_epi64(
            nz,
            _mm256_castpd_si256(_mm256_cmp_pd::<_CMP_NEQ_UQ>(v, zero)),
        );
        j += 4;
    }
    let mut sm = lanes(sum);
    let (mut rp, mut rz) = (0u32, 0u32);
    for (k, j) in (m..n).enumerate() {
        let v = one(codes[j], q0);
        fr[j] = v;
        col_ms[j] += v * v;
        sm[k] += v;
        rp += (v > 0.0) as u32;
        rz += (v != 0.0) as u32;
    }
    let mut c = [0i64; 4];
    _mm256_storeu_si256(c.as_mut_ptr() as *mut __m256i, pos);
    rp += c.iter().sum::<i64>() as u32;
    _mm256_storeu_si256(c.as_mut_ptr() as *mut __m256i, nz);
    rz += c.iter().sum::<i64>() as u32;
    let s = lanes(sq);
    (
        (s[0] + s[1]) + (s[2] + s[3]),
        (sm[0] + sm[1]) + (sm[2] + sm[3]),
        rp,
        rz,
    )
}

/// Passes 2 and 3 of a row: writes the row's values into `fr`, returns `dot4(row, v)` (with
/// `DOT`, else 0) and `sq_dot4(row, inv_c)` (with `SQ`, else 0).
///
/// # Safety
/// The CPU must support AVX2; `fr`, `v` (with `DOT`) and `inv_c` (with `SQ`) are as long as
/// `codes`; with `EXACT`, [`row_exact`]`(q0, b)` for a `b` above every code.
#[target_feature(enable = "avx2")]
pub(super) unsafe fn dots_row<const DOT: bool, const SQ: bool, const EXACT: bool>(
    codes: &[u32],
    q0: i64,
    fr: &mut [f64],
    v: &[f64],
    inv_c: &[f64],
) -> (f64, f64) {
    let n = codes.len();
    assert!(fr.len() == n && (!DOT || v.len() == n) && (!SQ || inv_c.len() == n));
    let m = n & !3;
    let vq0 = _mm256_set1_pd(q0 as f64);
    let (mut dot, mut sq) = (_mm256_setzero_pd(), _mm256_setzero_pd());
    let mut j = 0;
    while j < m {
        let x = load4::<EXACT>(&codes[j..j + 4], vq0);
        _mm256_storeu_pd(fr[j..j + 4].as_mut_ptr(), x);
        if DOT {
            dot = _mm256_add_pd(dot, _mm256_mul_pd(x, _mm256_loadu_pd(v[j..j + 4].as_ptr())));
        }
        if SQ {
            let y = _mm256_loadu_pd(inv_c[j..j + 4].as_ptr());
            sq = _mm256_add_pd(sq, _mm256_mul_pd(_mm256_mul_pd(x, x), y));
        }
        j += 4;
    }
    let (mut d, mut s) = (lanes(dot), lanes(sq));
    for (k, j) in (m..n).enumerate() {
        let x = one(codes[j], q0);
        fr[j] = x;
        if DOT {
            d[k] += x * v[j];
        }
        if SQ {
            s[k] += x * x * inv_c[j];
        }
    }
    ((d[0] + d[1]) + (d[2] + d[3]), (s[0] + s[1]) + (s[2] + s[3]))
}

/// `acc_j += a · x_j` (`PiBlock::power_row`'s update of `v'`).
///
/// # Safety
/// The CPU must support AVX2; `acc` and `x` have the same length.
#[target_feature(enable = "avx2")]
pub(super) unsafe fn axpy(acc: &mut [f64], a: f64, x: &[f64]) {
    let n = acc.len();
    assert!(x.len() == n);
    let m = n & !3;
    let va = _mm256_set1_pd(a);
    let mut j = 0;
    while j < m {
        let p = acc[j..j + 4].as_mut_ptr();
        let t = _mm256_mul_pd(va, _mm256_loadu_pd(x[j..j + 4].as_ptr()));
        _mm256_storeu_pd(p, _mm256_add_pd(_mm256_loadu_pd(p), t));
        j += 4;
    }
    for j in m..n {
        acc[j] += a * x[j];
    }
}

/// `acc_j += x_j² · a` (the column sums of the maximum-likelihood passes).
///
/// # Safety
/// The CPU must support AVX2; `acc` and `x` have the same length.
#[target_feature(enable = "avx2")]
pub(super) unsafe fn sq_axpy(acc: &mut [f64], a: f64, x: &[f64]) {
    let n = acc.len();
    assert!(x.len() == n);
    let m = n & !3;
    let va = _mm256_set1_pd(a);
    let mut j = 0;
    while j < m {
        let p = acc[j..j + 4].as_mut_ptr();
        let y = _mm256_loadu_pd(x[j..j + 4].as_ptr());
        let t = _mm256_mul_pd(_mm256_mul_pd(y, y), va);
        _mm256_storeu_pd(p, _mm256_add_pd(_mm256_loadu_pd(p), t));
        j += 4;
    }
    for j in m..n {
        acc[j] += x[j] * x[j] * a;
    }
}

/// [`axpy`]`(nv, s, x)` and [`sq_axpy`]`(acc, a, x)` in one loop over `x` (the second
/// statistics pass's two updates of a row: one read of the row's values instead of two). Each
/// element gets the same two operations as from the separate kernels.
///
/// # Safety
/// The CPU must support AVX2; `nv`, `acc` and `x` have the same length.
#[target_feature(enable = "avx2")]
pub(super) unsafe fn axpy_sq_axpy(nv: &mut [f64], s: f64, acc: &mut [f64], a: f64, x: &[f64]) {
    let n = x.len();
    assert!(nv.len() == n && acc.len() == n);
    let m = n & !3;
    let (vs, va) = (_mm256_set1_pd(s), _mm256_set1_pd(a));
    let mut j = 0;
    while j < m {
        let y = _mm256_loadu_pd(x[j..j + 4].as_ptr());
        let p = nv[j..j + 4].as_mut_ptr();
        _mm256_storeu_pd(p, _mm256_add_pd(_mm256_loadu_pd(p), _mm256_mul_pd(vs, y)));
        let q = acc[j..j + 4].as_mut_ptr();
        let t = _mm256_mul_pd(_mm256_mul_pd(y, y), va);
        _mm256_storeu_pd(q, _mm256_add_pd(_mm256_loadu_pd(q), t));
        j += 4;
    }
    for j in m..n {
        nv[j] += s * x[j];
        acc[j] += x[j] * x[j] * a;
    }
}
