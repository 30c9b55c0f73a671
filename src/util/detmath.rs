//! Deterministic elementary functions: the same bits on every platform.
//!
//! libm's `exp`, `ln`, `log2`, `exp2` may differ by an ulp between platforms and library
//! versions. Anything that decides the bytes alcm writes (predictor outputs, quantizer steps,
//! model scale codes, entropy tables) uses these instead: they are built from IEEE `+ − × ÷`,
//! `sqrt` and exact integer operations only, which are correctly rounded everywhere.

// Cody–Waite split of ln 2: LN2_HI has its low bits zero so k·LN2_HI is exact for |k| < 2^11.
pub(crate) const LN2_HI: f64 = 6.931_471_803_691_238e-1;
pub(crate) const LN2_LO: f64 = 1.908_214_929_270_587_7e-10;

/// 2^k for integer k in [-1074, 1023], exactly, via the bit pattern.
fn pow2i(k: i64) -> f64 {
    if k >= -1022 {
        f64::from_bits(((k + 1023) as u64) << 52)
    } else {
        // Subnormal range: 2^k = 2^(k + 54) · 2^-54, both exact.
        f64::from_bits(((k + 54 + 1023) as u64) << 52) * f64::from_bits(((1023 - 54) as u64) << 52)
    }
}

/// Deterministic e^x: the same bits on every platform. Relative error ≲ 1e-15 on the normal
/// range; 0 below −745, +∞ above 709.78, NaN for NaN.
pub fn det_exp(x: f64) -> f64 {
    if x.is_nan() {
        return x;
    }
    if x > 709.78 {
        return f64::INFINITY;
    }
    if x < -745.2 {
        return 0.0;
    }
    // x = k·ln2 + r, |r| ≤ ln2/2.
    let k = (x * std::f64::consts::LOG2_E).round();
    let r = (x - k * LN2_HI) - k * LN2_LO;
    // Taylor series of e^r to degree 15 (truncation < 1e-19 for |r| ≤ 0.35), Horner form.
    let mut p = 1.0;
    let mut i = 15;
    while i >= 1 {
        p = 1.0 + p * r / i as f64;
        i -= 1;
    }
    let k = k as i64;
    // Split the scaling so that 2^k never overflows or underflows on its own.
    if k > 1023 {
        p * pow2i(1023) * pow2i(k - 1023)
    } else if k < -1022 {
        p * pow2i(-1022) * pow2i((k + 1022).max(-1074))
    } else {
        p * pow2i(k)
    }
}

/// Deterministic natural logarithm: −∞ for 0, NaN for negative or NaN, +∞ for +∞.
pub fn det_ln(x: f64) -> f64 {
    if x.is_nan() || x < 0.0 {
        return f64::NAN;
    }
    if x == 0.0 {
        return f64::NEG_INFINITY;
    }
    if x.is_infinite() {
        return x;
    }
    let (mut x, mut e) = (x, 0i64);
    if x < f64::MIN_POSITIVE {
        x *= pow2i(54);
        e -= 54;
    }
    let bits = x.to_bits();
    e += ((bits >> 52) & 0x7ff) as i64 - 1023;
    let mut m = f64::from_bits((bits & 0x000f_ffff_ffff_ffff) | (1023u64 << 52)); // [1, 2)
    if m > std::f64::consts::SQRT_2 {
        m *= 0.5;
        e += 1;
    }
    // ln m = 2·atanh(s), s = (m − 1)/(m + 1), |s| ≤ 0.1716; series to s^29.
    let s = (m - 1.0) / (m + 1.0);
    let s2 = s * s;
    let mut sum = 0.0;
    let mut n = 29;
    while n >= 3 {
        sum = (sum + 1.0 / n as f64) * s2;
        n -= 2;
    }
    let ln_m = 2.0 * s * (1.0 + sum);
    let ef = e as f64;
    ef * LN2_HI + (ef * LN2_LO + ln_m)
}

/// [`det_ln`] of every value of `xs`, in place, the same bits: eight values a step where the
/// CPU has AVX-512 (`detmath_avx512`), whose chains of dependent operations the scalar calls
/// run one after another.
pub(crate) fn det_ln_in_place(xs: &mut [f64]) {
    #[cfg(all(target_arch = "x86_64", alcm_avx512))]
    if super::detmath_avx512::available() {
        // SAFETY: the CPU supports AVX-512F (checked just above).
        unsafe { super::detmath_avx512::ln_in_place(xs) };
        return;
    }
    for x in xs {
        *x = det_ln(*x);
    }
}

/// [`det_exp`] of every value of `xs`, in place, the same bits: eight values a step where the
/// CPU has AVX-512 (`detmath_avx512`), whose chains of fifteen divisions the scalar calls run
/// one after another.
pub(crate) fn det_exp_in_place(xs: &mut [f64]) {
    #[cfg(all(target_arch = "x86_64", alcm_avx512))]
    if super::detmath_avx512::available() {
        // SAFETY: the CPU supports AVX-512F (checked just above).
        unsafe { super::detmath_avx512::exp_in_place(xs) };
        return;
    }
    for x in xs {
        *x = det_exp(*x);
    }
}

/// [`det_log2`] of every value of `xs`, in place, the same bits ([`det_ln_in_place`]).
pub(crate) fn det_log2_in_place(xs: &mut [f64]) {
    det_ln_in_place(xs);
    for x in xs {
        *x /= std::f64::consts::LN_2;
    }
}

/// Deterministic log2 (= [`det_ln`] / ln 2).
pub fn det_log2(x: f64) -> f64 {
    det_ln(x) / std::f64::consts::LN_2
}

/// Integers up to this are memoised by [`det_log2_int`]: every frequency of a 2^16 table.
const LOG2_MEMO_MAX: u64 = 1 << 16;

/// [`det_log2`] of an integer, the same bits, memoised process-wide for `v` ≤ 2^16.
///
/// The lossless estimators evaluate it for every symbol of every table they consider (a
/// frequency of a 2^16-scaled table, or a count); on a 32 768-value tensor that was a third of
/// choosing its coding, always over the same few thousand integers. Each entry is filled on
/// first use (relaxed atomics: racing threads store the same value), so a cold process pays
/// what it paid before for the values it needs, once.
pub fn det_log2_int(v: u64) -> f64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    // Every value for v ≥ 1 is ≥ +0.0, so its sign bit is free to mark a filled entry (0 is
    // log2 1's bits).
    const FILLED: u64 = 1 << 63;
    #[allow(clippy::declare_interior_mutable_const)]
    const EMPTY: AtomicU64 = AtomicU64::new(0);
    static MEMO: [AtomicU64; LOG2_MEMO_MAX as usize + 1] = [EMPTY; LOG2_MEMO_MAX as usize + 1];
    if v == 0 || v > LOG2_MEMO_MAX {
        return det_log2(v as f64);
    }
    let e = &MEMO[v as usize];
    let b = e.load(Ordering::Relaxed);
    if b != 0 {
        return f64::from_bits(b & !FILLED);
    }
    let l = det_log2(v as f64);
    e.store(l.to_bits() | FILLED, Ordering::Relaxed);
    l
}

/// Deterministic 2^x, exact for integer x: 2^⌊x⌋ (exact) × e^((x − ⌊x⌋)·ln 2).
pub fn det_exp2(x: f64) -> f64 {
    if !x.is_finite() || x.abs() > 1000.0 {
        return det_exp(x * std::f64::consts::LN_2);
    }
    let k = x.floor();
    let f = x - k;
    let scale = if k >= -1022.0 {
        pow2i(k as i64)
    } else {
        return det_exp(x * std::f64::consts::LN_2);
    };
    if f == 0.0 {
        scale
    } else {
        det_exp(f * std::f64::consts::LN_2) * scale
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn logs_in_place_are_the_scalar_bits() {
        // Every branch of `det_ln` (zero, subnormal, negative, infinite, NaN, mantissas on
        // either side of √2), values around the exponent range's ends and random bit patterns
        // over the whole range, in slices of every length up to two vectors and a half (so
        // that each kind of value lands in every lane and in the scalar tail).
        let mut draw = crate::util::test_rng::bits(29);
        let mut xs = vec![
            0.0,
            -0.0,
            -1.0,
            f64::MIN_POSITIVE,
            f64::MIN_POSITIVE / 3.0,
            5e-324,
            f64::MAX,
            f64::INFINITY,
            f64::NEG_INFINITY,
            f64::NAN,
            1.0,
            std::f64::consts::SQRT_2,
            f64::from_bits(std::f64::consts::SQRT_2.to_bits() + 1),
            f64::from_bits(std::f64::consts::SQRT_2.to_bits() - 1),
            2.0,
            0.5,
            1e300,
            1e-300,
            32768.0,
            147_456.0,
        ];
        xs.extend((0..4000).map(|_| f64::from_bits(draw() << 11 | draw() & 0x7ff)));
        // Positive normal values dominate what the callers pass: many more of them.
        xs.extend((0..4000).map(|_| f64::from_bits((draw() % 0x7fe + 1) << 52 | draw())));
        xs.extend((1..3000).map(|k| k as f64));
        let want: Vec<u64> = xs.iter().map(|&x| det_ln(x).to_bits()).collect();
        let mut got = xs.clone();
        det_ln_in_place(&mut got);
        for ((&x, g), w) in xs.iter().zip(&got).zip(&want) {
            assert_eq!(g.to_bits(), *w, "det_ln({x:e})");
        }
        for len in 0..=20 {
            for start in 0..xs.len().min(40) {
                let piece = &xs[start..start + len];
                let mut got = piece.to_vec();
                det_ln_in_place(&mut got);
                let mut log2 = piece.to_vec();
                det_log2_in_place(&mut log2);
                for (k, &x) in piece.iter().enumerate() {
                    assert_eq!(got[k].to_bits(), det_ln(x).to_bits(), "len {len}: {x:e}");
                    assert_eq!(log2[k].to_bits(), det_log2(x).to_bits(), "len {len}: {x:e}");
                }
            }
        }
    }

    #[test]
    fn exps_in_place_are_the_scalar_bits() {
        // Every branch of `det_exp` (NaN, overflow, underflow, the split scalings at both
        // ends), the vector path's edges (±708, 709), halves of log2 e's multiples (the
        // rounding of k), signed zeros, and random values over the sigmoid's range and over
        // the whole bit range, in slices of every length up to two vectors and a half.
        let mut draw = crate::util::test_rng::bits(31);
        let mut u = crate::util::test_rng::uniform(37);
        let mut xs = vec![
            0.0,
            -0.0,
            f64::NAN,
            f64::INFINITY,
            f64::NEG_INFINITY,
            709.0,
            709.78,
            710.0,
            -708.0,
            -708.1,
            -745.0,
            -746.0,
            -1e-300,
            5e-324,
            1.0,
            -1.0,
            0.5 * std::f64::consts::LN_2,
            -0.5 * std::f64::consts::LN_2,
            2.5 * std::f64::consts::LN_2,
            -2.5 * std::f64::consts::LN_2,
        ];
        for h in [0.5, 1.5, 2.5, 100.5, -0.5, -1.5, -600.5] {
            let x = h * std::f64::consts::LN_2;
            xs.extend([
                x,
                f64::from_bits(x.to_bits() + 1),
                f64::from_bits(x.to_bits() - 1),
            ]);
        }
        xs.extend((0..4000).map(|_| (u() - 0.5) * 80.0));
        xs.extend((0..4000).map(|_| (u() - 0.5) * 1500.0));
        xs.extend((0..2000).map(|_| f64::from_bits(draw())));
        let same = |a: f64, b: f64| a.to_bits() == b.to_bits() || (a.is_nan() && b.is_nan());
        let mut got = xs.clone();
        det_exp_in_place(&mut got);
        for (&x, &g) in xs.iter().zip(&got) {
            assert!(
                same(g, det_exp(x)),
                "det_exp({x:e}): {g:e} vs {:e}",
                det_exp(x)
            );
        }
        for len in 0..=20 {
            for start in 0..xs.len().min(40) {
                let piece = &xs[start..start + len];
                let mut got = piece.to_vec();
                det_exp_in_place(&mut got);
                for (k, &x) in piece.iter().enumerate() {
                    assert!(same(got[k], det_exp(x)), "len {len}: {x:e}");
                }
            }
        }
    }

    #[test]
    fn memoised_log2_of_integers_is_det_log2() {
        // Every integer the memo holds, twice (filling, then filled), its neighbours outside
        // it, and 0; compared bit for bit with the unmemoised function.
        for pass in 0..2 {
            for v in (0..=LOG2_MEMO_MAX + 3).chain([u64::MAX, 1 << 40]) {
                let (a, b) = (det_log2_int(v), det_log2(v as f64));
                assert!(a.to_bits() == b.to_bits(), "pass {pass}, v {v}: {a} vs {b}");
            }
        }
        assert_eq!(det_log2_int(1), 0.0);
        assert_eq!(det_log2_int(1024), 10.0);
    }

    #[test]
    fn log2_and_exp2_match_libm_closely() {
        for i in -200..200 {
            let x = 1.37f64.powi(i);
            assert!(
                (det_log2(x) - x.log2()).abs() <= 1e-13 * (1.0 + x.log2().abs()),
                "{x}"
            );
        }
        for i in 0..=160 {
            let b = i as f64 / 10.0;
            assert!((det_exp2(b) / b.exp2() - 1.0).abs() < 1e-14, "{b}");
        }
        assert_eq!(det_exp2(3.0), 8.0);
    }
}
