//! Reconstruction error metrics, the CAQ score, run-to-run variance and thread CPU time.
//!
//! All sums are accumulated in f64. Definitions, with `x` the original, `x̂` the reconstruction,
//! `e = x − x̂` and `n` the number of values:
//!
//! | metric | definition | special cases |
//! | --- | --- | --- |
//! | `mse` | Σe² / n | |
//! | `mae` | Σ\|e\| / n | |
//! | `rel_l2` | ‖e‖₂ / ‖x‖₂ | 0 when ‖x‖ = 0 and x̂ = x; +∞ when ‖x‖ = 0 but x̂ ≠ x |
//! | `max_abs` | max \|e\| | |
//! | `psnr` | 10·log10(peak² / mse) dB, peak = max(x) − min(x) (SZ's convention) | +∞ when mse = 0; when the range is 0 (constant x) peak = max\|x\|; −∞ when x is all zeros and mse > 0 |
//! | `snr` | 10·log10(Σx² / Σe²) dB | +∞ when Σe² = 0; −∞ when Σx² = 0 and Σe² > 0 |
//!
//! Empty input gives all-zero metrics. Finite input never gives NaN; non-finite input
//! propagates (check finiteness first if that matters).

use crate::error::{Error, Result};

/// Errors of a reconstruction `x̂` against the original `x` (see the module docs).
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct ErrorMetrics {
    /// Mean squared error.
    pub mse: f64,
    /// Mean absolute error.
    pub mae: f64,
    /// Relative L2 error ‖x − x̂‖₂ / ‖x‖₂.
    pub rel_l2: f64,
    /// Maximum absolute error (L∞).
    pub max_abs: f64,
    /// Peak signal-to-noise ratio in dB, peak = value range of the original.
    pub psnr: f64,
    /// Signal-to-noise ratio 10·log10(Σx² / Σ(x − x̂)²) in dB.
    pub snr: f64,
}

/// Computes [`ErrorMetrics`]. The slices must have the same length
/// ([`crate::ErrorKind::InvalidArgument`] otherwise).
pub fn error_metrics(original: &[f32], reconstructed: &[f32]) -> Result<ErrorMetrics> {
    if original.len() != reconstructed.len() {
        return Err(Error::invalid_argument(format!(
            "original has {} values but reconstructed has {}",
            original.len(),
            reconstructed.len()
        )));
    }
    let n = original.len();
    if n == 0 {
        return Ok(ErrorMetrics::default());
    }
    let (mut se, mut ae, mut sx, mut max_e) = (0.0f64, 0.0f64, 0.0f64, 0.0f64);
    let (mut lo, mut hi, mut max_x) = (f64::INFINITY, f64::NEG_INFINITY, 0.0f64);
    for (&a, &b) in original.iter().zip(reconstructed) {
        let x = a as f64;
        let e = x - b as f64;
        se += e * e;
        ae += e.abs();
        sx += x * x;
        max_e = max_e.max(e.abs());
        lo = lo.min(x);
        hi = hi.max(x);
        max_x = max_x.max(x.abs());
    }
    let nf = n as f64;
    let mse = se / nf;
    let rel_l2 = if sx > 0.0 {
        se.sqrt() / sx.sqrt()
    } else if se == 0.0 {
        0.0
    } else {
        f64::INFINITY
    };
    let psnr = if se == 0.0 {
        f64::INFINITY
    } else {
        let range = hi - lo;
        let peak = if range > 0.0 { range } else { max_x };
        if peak > 0.0 {
            10.0 * (peak * peak / mse).log10()
        } else {
            f64::NEG_INFINITY
        }
    };
    let snr = if se == 0.0 {
        f64::INFINITY
    } else if sx > 0.0 {
        10.0 * (sx / se).log10()
    } else {
        f64::NEG_INFINITY
    };
    Ok(ErrorMetrics {
        mse,
        mae: ae / nf,
        rel_l2,
        max_abs: max_e,
        psnr,
        snr,
    })
}

/// The compression-accuracy quotient of the original: `compression_ratio / (cpu_seconds + 1)`.
/// The ratio must be finite and > 0, the seconds finite and ≥ 0
/// ([`crate::ErrorKind::InvalidArgument`] otherwise).
pub fn caq(compression_ratio: f64, cpu_seconds: f64) -> Result<f64> {
    if !(compression_ratio.is_finite() && compression_ratio > 0.0) {
        return Err(Error::invalid_argument(format!(
            "compression_ratio must be finite and > 0, got {compression_ratio}"
        )));
    }
    if !(cpu_seconds.is_finite() && cpu_seconds >= 0.0) {
        return Err(Error::invalid_argument(format!(
            "cpu_seconds must be finite and >= 0, got {cpu_seconds}"
        )));
    }
    Ok(compression_ratio / (cpu_seconds + 1.0))
}

/// Run-to-run variance as the original reports it: `(max − min) / mean × 100` (percent).
/// Empty input, a non-finite value or a mean ≤ 0 is an [`crate::ErrorKind::InvalidArgument`]
/// error.
pub fn variance_percent(values: &[f64]) -> Result<f64> {
    if values.is_empty() {
        return Err(Error::invalid_argument(
            "variance_percent needs at least one value",
        ));
    }
    if let Some((i, v)) = values.iter().enumerate().find(|(_, v)| !v.is_finite()) {
        return Err(Error::invalid_argument(format!(
            "value {i} is not finite ({v})"
        )));
    }
    let (lo, hi) = values
        .iter()
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), &v| {
            (lo.min(v), hi.max(v))
        });
    let mean = values.iter().sum::<f64>() / values.len() as f64;
    if !(mean > 0.0 && mean.is_finite()) {
        return Err(Error::invalid_argument(format!(
            "variance_percent needs a positive finite mean, got {mean}"
        )));
    }
    Ok((hi - lo) / mean * 100.0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ErrorKind;
    use crate::util::cputime::cpu_time_seconds;

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() <= 1e-12 * b.abs().max(1e-300)
    }

    #[test]
    fn hand_computed_small_vector() {
        // x = [1, 2, 3, 4], x̂ = [1, 2.5, 3, 3]: e = [0, -0.5, 0, 1]
        let m = error_metrics(&[1.0, 2.0, 3.0, 4.0], &[1.0, 2.5, 3.0, 3.0]).unwrap();
        // Σe² = 1.25, mse = 0.3125; Σ|e| = 1.5, mae = 0.375; Σx² = 30
        assert!(close(m.mse, 0.3125));
        assert!(close(m.mae, 0.375));
        assert!(close(m.max_abs, 1.0));
        assert!(close(m.rel_l2, (1.25f64 / 30.0).sqrt())); // 0.2041241452
                                                           // range = 3: psnr = 10 log10(9 / 0.3125) = 10 log10(28.8) = 14.5939...
        assert!(close(m.psnr, 10.0 * 28.8f64.log10()));
        assert!((m.psnr - 14.593_924_877_592_308).abs() < 1e-9);
        // snr = 10 log10(30 / 1.25) = 10 log10(24) = 13.8021...
        assert!((m.snr - 13.802_112_417_116_06).abs() < 1e-9);
    }

    #[test]
    fn exact_reconstruction() {
        let x = [0.5f32, -1.0, 2.0];
        let m = error_metrics(&x, &x).unwrap();
        assert_eq!(m.mse, 0.0);
        assert_eq!(m.mae, 0.0);
        assert_eq!(m.rel_l2, 0.0);
        assert_eq!(m.max_abs, 0.0);
        assert_eq!(m.psnr, f64::INFINITY);
        assert_eq!(m.snr, f64::INFINITY);
    }

    #[test]
    fn zero_original() {
        let z = [0.0f32; 4];
        let m = error_metrics(&z, &z).unwrap();
        assert_eq!(m.rel_l2, 0.0);
        assert_eq!(m.psnr, f64::INFINITY);
        assert_eq!(m.snr, f64::INFINITY);
        let m = error_metrics(&z, &[0.0, 0.0, 0.0, 2.0]).unwrap();
        assert_eq!(m.rel_l2, f64::INFINITY);
        assert_eq!(m.mse, 1.0);
        assert_eq!(m.psnr, f64::NEG_INFINITY);
        assert_eq!(m.snr, f64::NEG_INFINITY);
    }

    #[test]
    fn constant_original_uses_max_abs_as_peak() {
        // x = [2, 2], x̂ = [2, 1]: mse = 0.5, range 0 -> peak = 2: psnr = 10 log10(4 / 0.5)
        let m = error_metrics(&[2.0, 2.0], &[2.0, 1.0]).unwrap();
        assert!(close(m.psnr, 10.0 * 8.0f64.log10()));
        assert!(!m.psnr.is_nan());
    }

    #[test]
    fn empty_is_all_zeros() {
        assert_eq!(error_metrics(&[], &[]).unwrap(), ErrorMetrics::default());
    }

    #[test]
    fn length_mismatch_is_invalid_argument() {
        let e = error_metrics(&[1.0, 2.0], &[1.0]).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidArgument);
    }

    #[test]
    fn caq_values_and_errors() {
        assert_eq!(caq(2.0, 0.0).unwrap(), 2.0);
        assert!(close(caq(3.0, 0.5).unwrap(), 2.0));
        assert!(close(caq(1.56, 0.02).unwrap(), 1.56 / 1.02));
        for (r, s) in [
            (0.0, 0.0),
            (-1.0, 0.0),
            (f64::NAN, 0.0),
            (f64::INFINITY, 0.0),
            (1.0, -0.1),
            (1.0, f64::NAN),
            (1.0, f64::INFINITY),
        ] {
            assert_eq!(
                caq(r, s).unwrap_err().kind(),
                ErrorKind::InvalidArgument,
                "{r} {s}"
            );
        }
    }

    #[test]
    fn variance_values_and_errors() {
        // [1, 2, 3]: (3 - 1) / 2 * 100 = 100
        assert!(close(variance_percent(&[1.0, 2.0, 3.0]).unwrap(), 100.0));
        // [1.5, 1.52, 1.48]: 0.04 / 1.5 * 100 = 2.6667
        assert!((variance_percent(&[1.5, 1.52, 1.48]).unwrap() - 8.0 / 3.0).abs() < 1e-12);
        assert_eq!(variance_percent(&[4.0]).unwrap(), 0.0);
        for bad in [
            &[][..],
            &[1.0, f64::NAN][..],
            &[f64::INFINITY][..],
            &[-1.0, 1.0][..],
            &[-2.0][..],
        ] {
            assert_eq!(
                variance_percent(bad).unwrap_err().kind(),
                ErrorKind::InvalidArgument
            );
        }
    }

    #[test]
    fn cpu_time_is_monotonic_and_counts_work() {
        let t0 = cpu_time_seconds();
        let mut acc = 0u64;
        for i in 0..2_000_000u64 {
            acc = acc.wrapping_mul(6364136223846793005).wrapping_add(i);
        }
        std::hint::black_box(acc);
        let t1 = cpu_time_seconds();
        assert!(t0 > 0.0);
        assert!(t1 >= t0);
    }
}
