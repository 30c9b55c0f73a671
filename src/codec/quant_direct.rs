//! The uniform quantizer's codes of one channel without the f64 code row in between: the
//! channel's smallest and largest code come from its smallest and largest value, then each
//! offset `u = round(x/Δ) − lo` is written straight to the code buffer.
//!
//! Why: `uniform_codes_f64` then `Code::offset` made and re-read a row of f64 codes (≈ 7.5
//! instructions a value on the MiniLM weights); the extremes take eight f32 a step, the
//! offsets four values a step.
//!
//! Same codes, same extremes: `x ↦ round_away(x as f64 · (1/Δ))` is non-decreasing (the
//! widening is exact, the product of a positive factor rounds monotonically, and rounding to
//! an integer is monotone), so the smallest code is the code of the smallest value, the
//! largest that of the largest, and the largest `|x/Δ|` is at one of the two (with no NaN,
//! which [`extremes`] refuses, the caller then taking the two-pass path). The sign of a zero
//! `lo` may differ from the two-pass minimum's; every use of `lo` (`q − lo`, `lo as i64`,
//! `hi − lo`) gives the same numbers for either zero.

use std::mem::MaybeUninit;

use super::quant::{round_away_f64, Code, TWO52};

/// The smallest and largest of `xs`, or `None` if `xs` is empty or holds a non-finite value.
pub(crate) fn extremes(xs: &[f32]) -> Option<(f32, f32)> {
    #[cfg(all(target_arch = "x86_64", alcm_avx512))]
    if super::quant_avx512::available() {
        // SAFETY: the CPU supports AVX-512F (checked just above).
        return unsafe { super::quant_avx512::extremes(xs) };
    }
    #[cfg(target_arch = "x86_64")]
    if std::is_x86_feature_detected!("avx2") {
        // SAFETY: the CPU supports AVX2 (checked just above).
        return unsafe { extremes_avx2(xs) };
    }
    extremes_generic(xs)
}

fn extremes_generic(xs: &[f32]) -> Option<(f32, f32)> {
    let (mut lo, mut hi) = (f32::INFINITY, f32::NEG_INFINITY);
    for &x in xs {
        if !x.is_finite() {
            return None;
        }
        lo = lo.min(x);
        hi = hi.max(x);
    }
    (!xs.is_empty()).then_some((lo, hi))
}

/// `(lo, hi, big)` of [`quant::uniform_codes_f64`](super::quant::uniform_codes_f64) from the
/// channel's extremes `(a, b)` (as values; see the module's note on a zero's sign).
pub(crate) fn code_range((a, b): (f32, f32), inv_step: f64) -> (f64, f64, f64) {
    let (ya, yb) = (a as f64 * inv_step, b as f64 * inv_step);
    let (fa, fb) = (ya.abs(), yb.abs());
    // NaN (0 · ∞ when 1/Δ overflows) is kept, as the two-pass path keeps it.
    let big = if fa <= fb { fb } else { fa };
    let big = if fb.is_nan() { fb } else { big };
    (round_away_f64(ya), round_away_f64(yb), big)
}

/// `u = round_away(x · inv_step) − lo` for every value (`0 ≤ u ≤ C::MAX`: `lo` and the
/// largest code from [`code_range`], checked by the caller). Writes every element of `us`.
pub(crate) fn offsets<C: Code>(xs: &[f32], inv_step: f64, lo: f64, us: &mut [MaybeUninit<C>]) {
    assert_eq!(xs.len(), us.len());
    // `Code` is u16 or u32: the codes are integers of that many bytes.
    #[cfg(target_arch = "x86_64")]
    let out = us.as_mut_ptr() as *mut u8;
    #[cfg(all(target_arch = "x86_64", alcm_avx512))]
    if super::quant_avx512::available() {
        use super::quant_avx512::offsets as wide;
        // SAFETY: the CPU supports AVX-512F; `out` holds `xs.len()` codes of
        // size_of::<C>() bytes.
        match std::mem::size_of::<C>() {
            2 => return unsafe { wide::<2>(xs, inv_step, lo, out) },
            4 => return unsafe { wide::<4>(xs, inv_step, lo, out) },
            _ => {}
        }
    }
    #[cfg(target_arch = "x86_64")]
    if std::is_x86_feature_detected!("avx2") {
        // SAFETY: the CPU supports AVX2; `out` holds `xs.len()` codes of size_of::<C>() bytes.
        match std::mem::size_of::<C>() {
            2 => return unsafe { offsets_avx2::<2>(xs, inv_step, lo, out) },
            4 => return unsafe { offsets_avx2::<4>(xs, inv_step, lo, out) },
            _ => {}
        }
    }
    offsets_generic(xs, inv_step, lo, us)
}

#[inline(always)]
fn offset_one<C: Code>(x: f32, inv_step: f64, lo: f64) -> C {
    // The low bits of (q − lo) + 2^52 are the integer q − lo (< 2^32), as `Code::offset`.
    C::wrap(((round_away_f64(x as f64 * inv_step) - lo) + TWO52).to_bits() as u32)
}

fn offsets_generic<C: Code>(xs: &[f32], inv_step: f64, lo: f64, us: &mut [MaybeUninit<C>]) {
    for (u, &x) in us.iter_mut().zip(xs) {
        u.write(offset_one(x, inv_step, lo));
    }
}

/// # Safety
/// The CPU must support AVX2.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn extremes_avx2(xs: &[f32]) -> Option<(f32, f32)> {
    use std::arch::x86_64::*;
    let body = xs.len() & !7;
    let mut lo = _mm256_set1_ps(f32::INFINITY);
    let mut hi = _mm256_set1_ps(f32::NEG_INFINITY);
    // Non-finite: exponent bits all ones, i.e. |x| as an integer above f32::MAX's bits.
    let mut bad = _mm256_setzero_si256();
    let (abs, max) = (
        _mm256_set1_epi32(0x7fff_ffff),
        _mm256_set1_epi32(f32::MAX.to_bits() as i32),
    );
    let mut j = 0;
    while j < body {
        // SAFETY: j + 8 ≤ xs.len(); unaligned load.
        let x = _mm256_loadu_ps(xs.as_ptr().add(j));
        let m = _mm256_and_si256(_mm256_castps_si256(x), abs);
        bad = _mm256_or_si256(bad, _mm256_cmpgt_epi32(m, max));
        lo = _mm256_min_ps(lo, x);
        hi = _mm256_max_ps(hi, x);
        j += 8;
    }
    if _mm256_testz_si256(bad, bad) == 0 {
        return None;
    }
    let (mut l, mut h) = ([0f32; 8], [0f32; 8]);
    _mm256_storeu_ps(l.as_mut_ptr(), lo);
    _mm256_storeu_ps(h.as_mut_ptr(), hi);
    // Finite lanes: min/max in any order give the same values (±0 aside, see the module).
    let (mut a, mut b) = (
        l.iter().fold(f32::INFINITY, |m, &v| m.min(v)),
        h.iter().fold(f32::NEG_INFINITY, |m, &v| m.max(v)),
    );
    for &x in &xs[body..] {
        if !x.is_finite() {
            return None;
        }
        a = a.min(x);
        b = b.max(x);
    }
    (!xs.is_empty()).then_some((a, b))
}

/// Four offsets from `xs[j..j + 4]`, as 32-bit lanes.
///
/// # Safety
/// The CPU must support AVX2; `j + 4 ≤ xs.len()`.
#[cfg(target_arch = "x86_64")]
#[inline]
#[target_feature(enable = "avx2")]
unsafe fn four(
    xs: &[f32],
    j: usize,
    vinv: std::arch::x86_64::__m256d,
    vlo: std::arch::x86_64::__m256d,
    two52: std::arch::x86_64::__m256d,
    pick: std::arch::x86_64::__m256i,
) -> std::arch::x86_64::__m128i {
    use std::arch::x86_64::*;
    debug_assert!(j + 4 <= xs.len());
    // SAFETY: j + 4 ≤ len (the caller's contract); unaligned load.
    let y = _mm256_mul_pd(_mm256_cvtps_pd(_mm_loadu_ps(xs.as_ptr().add(j))), vinv);
    let q = super::quant_avx2::round_away(y);
    let t = _mm256_add_pd(_mm256_sub_pd(q, vlo), two52);
    _mm256_castsi256_si128(_mm256_permutevar8x32_epi32(_mm256_castpd_si256(t), pick))
}

/// [`offsets_generic`] four values a step into `W`-byte codes (2 or 4) at `out`.
///
/// # Safety
/// The CPU must support AVX2; `out` has room for `xs.len()` codes of `W` bytes.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn offsets_avx2<const W: usize>(xs: &[f32], inv_step: f64, lo: f64, out: *mut u8) {
    use std::arch::x86_64::*;
    let n = xs.len();
    let body = n & !3;
    let (vinv, vlo, two52) = (
        _mm256_set1_pd(inv_step),
        _mm256_set1_pd(lo),
        _mm256_set1_pd(TWO52),
    );
    // The low 32 bits of each 64-bit lane, into the low half.
    let pick = _mm256_setr_epi32(0, 2, 4, 6, 0, 2, 4, 6);
    let mut j = 0;
    if W == 2 {
        // Eight u16 codes a store (u < 2^16: the saturating pack keeps them).
        while j + 8 <= body {
            let p = _mm_packus_epi32(
                four(xs, j, vinv, vlo, two52, pick),
                four(xs, j + 4, vinv, vlo, two52, pick),
            );
            // SAFETY: 8 codes of 2 bytes at j within `out`.
            _mm_storeu_si128(out.add(2 * j) as *mut __m128i, p);
            j += 8;
        }
    }
    // SAFETY (the calls of `four`): j + 4 ≤ body ≤ n.
    while j < body {
        let u = four(xs, j, vinv, vlo, two52, pick);
        if W == 2 {
            // SAFETY: 4 codes of 2 bytes at j within `out`.
            _mm_storel_epi64(out.add(2 * j) as *mut __m128i, _mm_packus_epi32(u, u));
        } else {
            // SAFETY: 4 codes of 4 bytes at j within `out`.
            _mm_storeu_si128(out.add(4 * j) as *mut __m128i, u);
        }
        j += 4;
    }
    for (k, &x) in xs.iter().enumerate().skip(body) {
        let v = ((round_away_f64(x as f64 * inv_step) - lo) + TWO52).to_bits() as u32;
        // SAFETY: code k within `out`; unaligned writes.
        if W == 2 {
            (out.add(2 * k) as *mut u16).write_unaligned(v as u16);
        } else {
            (out.add(4 * k) as *mut u32).write_unaligned(v);
        }
    }
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;
    use crate::codec::quant::uniform_codes_f64;
    use crate::util::par::written;

    use crate::util::test_rng::uniform as rng;

    /// The dispatchers' paths on this CPU: AVX-512 (where built and present), AVX2.
    #[derive(Debug, Clone, Copy)]
    pub(in crate::codec) enum Path {
        Widest,
        Avx2,
    }

    impl Path {
        pub(in crate::codec) const ALL: [Path; 2] = [Path::Widest, Path::Avx2];

        /// `f` with the AVX-512 kernels switched off for `Avx2` (tests that switch them
        /// run one at a time: `LOCK`).
        pub(in crate::codec) fn run<T>(self, f: impl FnOnce() -> T) -> T {
            #[cfg(all(target_arch = "x86_64", alcm_avx512))]
            {
                use std::sync::atomic::Ordering::SeqCst;
                static LOCK: std::sync::Mutex<()> = std::sync::Mutex::new(());
                let _g = LOCK.lock().unwrap_or_else(|e| e.into_inner());
                let flag = &super::super::quant_avx512::NO_AVX512;
                flag.store(matches!(self, Path::Avx2), SeqCst);
                let r = f();
                flag.store(false, SeqCst);
                r
            }
            #[cfg(not(all(target_arch = "x86_64", alcm_avx512)))]
            f()
        }
    }

    /// The two-pass path: f64 codes, their range, then the offsets.
    fn two_pass<C: Code>(xs: &[f32], inv: f64) -> ((f64, f64, f64), Vec<C>) {
        let mut q = vec![0f64; xs.len()];
        let r = uniform_codes_f64(xs, inv, &mut q);
        let u = if r.1 - r.0 <= C::MAX as f64 {
            // SAFETY: `C::offset` only writes codes.
            unsafe { written(xs.len(), |u| C::offset(&q, r.0, u)) }
        } else {
            vec![C::wrap(0); xs.len()]
        };
        (r, u)
    }

    fn check<C: Code + PartialEq + std::fmt::Debug>(xs: &[f32], inv: f64) {
        let (want, want_u) = two_pass::<C>(xs, inv);
        let ext = extremes(xs).expect("finite");
        for path in Path::ALL {
            assert_eq!(
                path.run(|| extremes(xs)),
                extremes_generic(xs),
                "extremes, {} values, {path:?}",
                xs.len()
            );
        }
        let (lo, hi, big) = code_range(ext, inv);
        // Values (a zero's sign aside) and the NaN-ness of `big`.
        assert!(lo == want.0 && hi == want.1, "range {lo} {hi} vs {want:?}");
        assert!(
            big == want.2 || (big.is_nan() && want.2.is_nan()),
            "{big} vs {want:?}"
        );
        if hi - lo > C::MAX as f64 || big.is_nan() || big >= 9.0e15 {
            return;
        }
        for path in Path::ALL {
            // SAFETY: `offsets` only writes codes.
            let u = unsafe { written::<C>(xs.len(), |u| path.run(|| offsets(xs, inv, lo, u))) };
            assert_eq!(
                u,
                want_u,
                "offsets, {} values, inv {inv}, {path:?}",
                xs.len()
            );
        }
        // SAFETY: `offsets_generic` only writes codes.
        let g = unsafe { written::<C>(xs.len(), |g| offsets_generic(xs, inv, lo, g)) };
        assert_eq!(g, want_u, "generic offsets");
    }

    /// Codes, range and largest |x/Δ| equal the two-pass path's for u16 and u32 codes:
    /// lengths around the vector widths, ties at one half, zeros of both signs, all-negative
    /// and all-positive channels, steps from fine to coarse.
    #[test]
    fn direct_codes_equal_the_two_pass_codes() {
        let mut r = rng(3);
        for len in [1usize, 2, 3, 4, 5, 7, 8, 9, 15, 16, 17, 63, 384, 1001] {
            for case in 0..8 {
                let scale = [1e-3f64, 0.7, 30.0, 1e4][case % 4];
                let mut xs: Vec<f32> = (0..len)
                    .map(|_| ((r() - [0.5, 1.2, -0.1, 0.5][case / 2]) * scale) as f32)
                    .collect();
                if len > 4 && case % 3 == 0 {
                    xs[1] = -0.0;
                    xs[len - 1] = 0.0;
                }
                for inv in [1.0, 3.0, 1e3 / scale, 1e-2, 12_345.678 / scale] {
                    if case == 5 && len > 2 {
                        // Exact ties: x · inv = k + 1/2.
                        xs[0] = (2.5 / inv) as f32;
                        xs[2] = (-7.5 / inv) as f32;
                    }
                    check::<u16>(&xs, inv);
                    check::<u32>(&xs, inv);
                }
            }
        }
    }

    /// Non-finite values and empty channels are refused (the caller's two-pass path then
    /// rejects or handles them), wherever the value sits.
    #[test]
    fn extremes_refuse_non_finite_values() {
        assert_eq!(extremes(&[]), None);
        for len in [1usize, 5, 8, 9, 40] {
            for pos in [0, len / 2, len - 1] {
                for bad in [f32::NAN, f32::INFINITY, f32::NEG_INFINITY] {
                    let mut xs = vec![0.25f32; len];
                    xs[pos] = bad;
                    for path in Path::ALL {
                        let e = path.run(|| extremes(&xs));
                        assert_eq!(e, None, "{bad} at {pos} of {len}, {path:?}");
                    }
                    assert_eq!(extremes_generic(&xs), None);
                }
            }
        }
        assert_eq!(
            extremes(&[f32::MAX, -f32::MAX, 1.0]),
            Some((-f32::MAX, f32::MAX))
        );
    }
}
