//! `plan_avx2`'s row kernels with AVX-512 vectors, two rows at a time.
//!
//! Why two rows: a row's sums (`sumsq4`, `dot4`, `sq_dot4`) are four chains of dependent
//! additions in a fixed order, one addition per four values, so the AVX2 kernels wait on the
//! adder's latency rather than on the arithmetic. Here the low half of a 512-bit vector holds
//! row A's four partial sums and the high half row B's: one addition advances both chains, and
//! each half sees exactly the operations the AVX2 kernel performs on its row (no fused
//! multiply-add, the same remainder handling), so every sum is the same bit for bit.
//!
//! The column updates (`col_ms`, `v'`, the maximum-likelihood column sums) are element-wise:
//! eight columns a step, and with two rows each element gets row A's update, then row B's, as
//! two calls of the one-row kernel would give it.
//!
//! Built only by compilers whose AVX-512 intrinsics are stable (`build.rs` sets `alcm_avx512`
//! from rustc 1.89); used when the CPU has AVX-512F.

// Compiled only where the intrinsics are stable (`alcm_avx512`, rustc ≥ 1.89).
#![allow(clippy::incompatible_msrv)]

use super::plan_avx2::one;
use std::arch::x86_64::*;

/// The codes the pair kernels read as they are stored: u32, or u16 without a widened copy of
/// each row first (`code_row`).
pub(super) trait PairCode: Copy {
    /// Codes `j..j + 4` of `a` and of `b` as the low and high halves of eight u32.
    ///
    /// # Safety
    /// The CPU must support AVX2 (the callers are AVX-512 kernels); `j + 4 ≤` both lengths.
    unsafe fn pair4(a: &[Self], b: &[Self], j: usize) -> __m256i;
    fn get(self) -> u32;
}

impl PairCode for u32 {
    #[inline(always)]
    unsafe fn pair4(a: &[u32], b: &[u32], j: usize) -> __m256i {
        debug_assert!(j + 4 <= a.len() && j + 4 <= b.len());
        // SAFETY: j + 4 ≤ both lengths (the caller's contract); unaligned loads.
        let ua = _mm_loadu_si128(a.as_ptr().add(j) as *const __m128i);
        let ub = _mm_loadu_si128(b.as_ptr().add(j) as *const __m128i);
        _mm256_inserti128_si256::<1>(_mm256_castsi128_si256(ua), ub)
    }
    #[inline(always)]
    fn get(self) -> u32 {
        self
    }
}

impl PairCode for u16 {
    #[inline(always)]
    unsafe fn pair4(a: &[u16], b: &[u16], j: usize) -> __m256i {
        debug_assert!(j + 4 <= a.len() && j + 4 <= b.len());
        // SAFETY: j + 4 ≤ both lengths: 8 bytes from each; unaligned loads.
        let lo = _mm_loadl_epi64(a.as_ptr().add(j) as *const __m128i);
        let both = _mm_loadh_pd(_mm_castsi128_pd(lo), b.as_ptr().add(j) as *const f64);
        _mm256_cvtepu16_epi32(_mm_castpd_si128(both))
    }
    #[inline(always)]
    fn get(self) -> u32 {
        self as u32
    }
}

/// Whether these kernels run on this CPU.
pub(super) fn available() -> bool {
    std::is_x86_feature_detected!("avx512f")
}

/// Codes `j..j + 4` of rows `a` (low half) and `b` (high half) as `plan_avx2::load4` makes
/// them, each half with its row's `q0`.
///
/// # Safety
/// The CPU must support AVX-512F; `j + 4 ≤` both lengths.
#[inline]
#[target_feature(enable = "avx512f")]
unsafe fn load_pair<C: PairCode, const EXACT: bool>(
    a: &[C],
    b: &[C],
    j: usize,
    q0: __m512d,
) -> __m512d {
    // SAFETY: the caller's contract.
    let u = C::pair4(a, b, j);
    if EXACT {
        return _mm512_add_pd(q0, _mm512_cvtepi32_pd(u));
    }
    let s = _mm256_xor_si256(u, _mm256_set1_epi32(i32::MIN));
    let d = _mm512_add_pd(_mm512_cvtepi32_pd(s), _mm512_set1_pd(2147483648.0));
    _mm512_cvtps_pd(_mm512_cvtpd_ps(_mm512_add_pd(q0, d)))
}

/// The two rows' `q0` as the halves of a vector.
#[inline]
#[target_feature(enable = "avx512f")]
fn q0_pair(q0: [i64; 2]) -> __m512d {
    _mm512_insertf64x4::<1>(
        _mm512_castpd256_pd512(_mm256_set1_pd(q0[0] as f64)),
        _mm256_set1_pd(q0[1] as f64),
    )
}

/// `x[j..j + 4]` in both halves.
///
/// # Safety
/// The CPU must support AVX-512F; `j + 4 ≤ x.len()`.
#[inline]
#[target_feature(enable = "avx512f")]
unsafe fn both(x: &[f64], j: usize) -> __m512d {
    debug_assert!(j + 4 <= x.len());
    // SAFETY: j + 4 ≤ len (the caller's contract); unaligned load.
    _mm512_broadcast_f64x4(_mm256_loadu_pd(x.as_ptr().add(j)))
}

/// Stores the halves of `v` at `fa[j..j + 4]` and `fb[j..j + 4]`.
///
/// # Safety
/// The CPU must support AVX-512F; `j + 4 ≤` both lengths.
#[inline]
#[target_feature(enable = "avx512f")]
unsafe fn store_pair(fa: &mut [f64], fb: &mut [f64], j: usize, v: __m512d) {
    debug_assert!(j + 4 <= fa.len() && j + 4 <= fb.len());
    // SAFETY: j + 4 ≤ both lengths; unaligned stores.
    _mm256_storeu_pd(fa.as_mut_ptr().add(j), _mm512_castpd512_pd256(v));
    _mm256_storeu_pd(fb.as_mut_ptr().add(j), _mm512_extractf64x4_pd::<1>(v));
}

#[inline]
#[target_feature(enable = "avx512f")]
fn lanes8(v: __m512d) -> [f64; 8] {
    let mut a = [0f64; 8];
    // SAFETY: `a` holds 8 f64; unaligned store.
    unsafe { _mm512_storeu_pd(a.as_mut_ptr(), v) };
    a
}

/// The fixed reduction `(a₀ + a₁) + (a₂ + a₃)` of four partial sums.
#[inline(always)]
fn reduce(a: &[f64]) -> f64 {
    (a[0] + a[1]) + (a[2] + a[3])
}

/// What `plan_avx2::stats_row` returns for one row.
pub(super) type RowStats = (f64, f64, u32, u32);

/// `plan_avx2::stats_row` of rows `a` and `b` at once (their `q0`, values into `fa` and
/// `fb`); `col_ms` gets row A's squares, then row B's.
///
/// # Safety
/// The CPU must support AVX-512F; `b`, `fa`, `fb` and `col_ms` are as long as `a`; with
/// `EXACT`, `plan_avx2::row_exact` holds for both rows.
#[target_feature(enable = "avx512f")]
pub(super) unsafe fn stats_pair<C: PairCode, const EXACT: bool>(
    a: &[C],
    b: &[C],
    q0: [i64; 2],
    fa: &mut [f64],
    fb: &mut [f64],
    col_ms: &mut [f64],
) -> [RowStats; 2] {
    let n = a.len();
    assert!(b.len() == n && fa.len() == n && fb.len() == n && col_ms.len() == n);
    let m = n & !3;
    let vq0 = q0_pair(q0);
    let zero = _mm512_setzero_pd();
    // `sumsq4` adds the remainder first, then the chunks.
    let mut sq0 = [0f64; 8];
    for (k, j) in (m..n).enumerate() {
        let (x, y) = (one(a[j].get(), q0[0]), one(b[j].get(), q0[1]));
        sq0[k] += x * x;
        sq0[4 + k] += y * y;
    }
    let mut sq = _mm512_loadu_pd(sq0.as_ptr());
    let mut sum = zero;
    let (mut pos, mut nz) = (_mm512_setzero_si512(), _mm512_setzero_si512());
    let one64 = _mm512_set1_epi64(1);
    let mut j = 0;
    // SAFETY (the loads and stores): j + 4 ≤ m ≤ n, every slice is n long.
    while j < m {
        let v = load_pair::<C, EXACT>(a, b, j, vq0);
        store_pair(fa, fb, j, v);
        let v2 = _mm512_mul_pd(v, v);
        let cm = col_ms.as_mut_ptr().add(j);
        let c = _mm256_add_pd(_mm256_loadu_pd(cm), _mm512_castpd512_pd256(v2));
        _mm256_storeu_pd(cm, _mm256_add_pd(c, _mm512_extractf64x4_pd::<1>(v2)));
        sq = _mm512_add_pd(sq, v2);
        // dot4 with v = 1: acc += x · 1.0, which is x.
        sum = _mm512_add_pd(sum, v);
        let gt = _mm512_cmp_pd_mask::<_CMP_GT_OQ>(v, zero);
        let ne = _mm512_cmp_pd_mask::<_CMP_NEQ_UQ>(v, zero);
        pos = _mm512_mask_add_epi64(pos, gt, pos, one64);
        nz = _mm512_mask_add_epi64(nz, ne, nz, one64);
        j += 4;
    }
    let mut sm = lanes8(sum);
    let (mut rp, mut rz) = ([0u32; 2], [0u32; 2]);
    for (r, (codes, fr)) in [(a, &mut *fa), (b, &mut *fb)].into_iter().enumerate() {
        for (k, j) in (m..n).enumerate() {
            let v = one(codes[j].get(), q0[r]);
            fr[j] = v;
            col_ms[j] += v * v;
            sm[4 * r + k] += v;
            rp[r] += (v > 0.0) as u32;
            rz[r] += (v != 0.0) as u32;
        }
    }
    let mut c = [0i64; 8];
    _mm512_storeu_si512(c.as_mut_ptr() as *mut _, pos);
    let mut d = [0i64; 8];
    _mm512_storeu_si512(d.as_mut_ptr() as *mut _, nz);
    let s = lanes8(sq);
    std::array::from_fn(|r| {
        let h = 4 * r..4 * r + 4;
        (
            reduce(&s[h.clone()]),
            reduce(&sm[h.clone()]),
            rp[r] + c[h.clone()].iter().sum::<i64>() as u32,
            rz[r] + d[h].iter().sum::<i64>() as u32,
        )
    })
}

/// `plan_avx2::dots_row` of rows `a` and `b` at once (their `q0`, values into `fa` and `fb`):
/// per row `(dot4(row, v)` with `DOT`, else 0`, sq_dot4(row, inv_c)` with `SQ`, else 0`)`.
///
/// # Safety
/// The CPU must support AVX-512F; `b`, `fa`, `fb`, `v` (with `DOT`) and `inv_c` (with `SQ`)
/// are as long as `a`; with `EXACT`, `plan_avx2::row_exact` holds for both rows.
#[target_feature(enable = "avx512f")]
pub(super) unsafe fn dots_pair<C: PairCode, const DOT: bool, const SQ: bool, const EXACT: bool>(
    a: &[C],
    b: &[C],
    q0: [i64; 2],
    fa: &mut [f64],
    fb: &mut [f64],
    v: &[f64],
    inv_c: &[f64],
) -> [(f64, f64); 2] {
    let n = a.len();
    assert!(b.len() == n && fa.len() == n && fb.len() == n);
    assert!((!DOT || v.len() == n) && (!SQ || inv_c.len() == n));
    let m = n & !3;
    let vq0 = q0_pair(q0);
    let (mut dot, mut sq) = (_mm512_setzero_pd(), _mm512_setzero_pd());
    let mut j = 0;
    // SAFETY (the loads and stores): j + 4 ≤ m ≤ n, every slice used is n long.
    while j < m {
        let x = load_pair::<C, EXACT>(a, b, j, vq0);
        store_pair(fa, fb, j, x);
        if DOT {
            dot = _mm512_add_pd(dot, _mm512_mul_pd(x, both(v, j)));
        }
        if SQ {
            sq = _mm512_add_pd(sq, _mm512_mul_pd(_mm512_mul_pd(x, x), both(inv_c, j)));
        }
        j += 4;
    }
    let (mut d, mut s) = (lanes8(dot), lanes8(sq));
    for (r, (codes, fr)) in [(a, &mut *fa), (b, &mut *fb)].into_iter().enumerate() {
        for (k, j) in (m..n).enumerate() {
            let x = one(codes[j].get(), q0[r]);
            fr[j] = x;
            if DOT {
                d[4 * r + k] += x * v[j];
            }
            if SQ {
                s[4 * r + k] += x * x * inv_c[j];
            }
        }
    }
    std::array::from_fn(|r| {
        let h = 4 * r..4 * r + 4;
        (reduce(&d[h.clone()]), reduce(&s[h]))
    })
}

/// The column updates of row `x0` and, with `TWO`, then row `x1`, eight columns a step, each
/// element updated by the rows in order: with `AXPY`, `nv_j += s_r · x_rj`
/// (`plan_avx2::axpy`); with `SQ`, `acc_j += x_rj² · a_r` (`plan_avx2::sq_axpy`). Unused
/// slices may be empty.
///
/// # Safety
/// The CPU must support AVX-512F; `x1` (with `TWO`), `nv` (with `AXPY`) and `acc` (with `SQ`)
/// are as long as `x0`.
#[target_feature(enable = "avx512f")]
pub(super) unsafe fn cols<const AXPY: bool, const SQ: bool, const TWO: bool>(
    nv: &mut [f64],
    s: [f64; 2],
    acc: &mut [f64],
    a: [f64; 2],
    x0: &[f64],
    x1: &[f64],
) {
    let n = x0.len();
    assert!((!TWO || x1.len() == n) && (!AXPY || nv.len() == n) && (!SQ || acc.len() == n));
    let c = Coefs {
        s: [_mm512_set1_pd(s[0]), _mm512_set1_pd(s[1])],
        a: [_mm512_set1_pd(a[0]), _mm512_set1_pd(a[1])],
    };
    let p = [nv.as_mut_ptr(), acc.as_mut_ptr()];
    let x = [x0.as_ptr(), x1.as_ptr()];
    let body = n & !7;
    let mut j = 0;
    // SAFETY (the steps): their masks cover columns below n of slices n long.
    while j < body {
        cols_step::<AXPY, SQ, TWO>(p, x, j, 0xFF, &c);
        j += 8;
    }
    if j < n {
        cols_step::<AXPY, SQ, TWO>(p, x, j, (1u8 << (n - j)) - 1, &c);
    }
}

/// The coefficients of [`cols`] in every lane.
struct Coefs {
    s: [__m512d; 2],
    a: [__m512d; 2],
}

/// [`cols`] on the columns `j..` that the mask `k` selects (masked-off lanes are neither read
/// nor written); `p` = [`nv`, `acc`], `x` = the rows.
///
/// # Safety
/// The CPU must support AVX-512F; the selected columns are within every slice used.
#[inline]
#[target_feature(enable = "avx512f")]
unsafe fn cols_step<const AXPY: bool, const SQ: bool, const TWO: bool>(
    p: [*mut f64; 2],
    x: [*const f64; 2],
    j: usize,
    k: __mmask8,
    c: &Coefs,
) {
    // SAFETY: the caller's contract; unaligned masked loads and stores.
    let y0 = _mm512_maskz_loadu_pd(k, x[0].add(j));
    let y1 = if TWO {
        _mm512_maskz_loadu_pd(k, x[1].add(j))
    } else {
        y0
    };
    if AXPY {
        let mut v = _mm512_maskz_loadu_pd(k, p[0].add(j));
        v = _mm512_add_pd(v, _mm512_mul_pd(c.s[0], y0));
        if TWO {
            v = _mm512_add_pd(v, _mm512_mul_pd(c.s[1], y1));
        }
        _mm512_mask_storeu_pd(p[0].add(j), k, v);
    }
    if SQ {
        let mut q = _mm512_maskz_loadu_pd(k, p[1].add(j));
        q = _mm512_add_pd(q, _mm512_mul_pd(_mm512_mul_pd(y0, y0), c.a[0]));
        if TWO {
            q = _mm512_add_pd(q, _mm512_mul_pd(_mm512_mul_pd(y1, y1), c.a[1]));
        }
        _mm512_mask_storeu_pd(p[1].add(j), k, q);
    }
}
