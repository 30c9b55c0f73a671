//! The promise of every mode, checked independently of the encoder's own bookkeeping.
//! Shared by `tests/properties.rs`, `tests/regressions.rs` and the `roundtrip` fuzz target
//! (`#[path]`-included there), so the fuzzer and the test suite check the same thing.
#![allow(dead_code)]

use alcm::channel_bits;
use alcm::internals::quant::{prune_decision, range_levels};
use alcm::{channel_count, Decoded, EncoderConfig, Mode};

/// Checks `decoded` against `input` under `cfg` (and the `allocation` given to compress).
/// Non-finite inputs (NonFinitePolicy::Keep) must come back exactly, NaN as NaN; the finite
/// rest must meet the mode's bound, with the non-finite positions read as 0 (what the encoder
/// quantizes in their place).
pub fn check_bound(
    cfg: &EncoderConfig,
    input: &[f32],
    shape: &[usize],
    allocation: Option<&[f64]>,
    decoded: &Decoded,
) -> Result<(), String> {
    if decoded.shape != shape {
        return Err(format!(
            "shape {:?} came back as {:?}",
            shape, decoded.shape
        ));
    }
    if decoded.data.len() != input.len() {
        return Err(format!(
            "{} values came back as {}",
            input.len(),
            decoded.data.len()
        ));
    }
    for (i, (&x, &y)) in input.iter().zip(&decoded.data).enumerate() {
        if x.is_nan() && !y.is_nan() {
            return Err(format!("NaN at {i} came back as {y}"));
        }
        if x.is_infinite() && x.to_bits() != y.to_bits() {
            return Err(format!("{x} at {i} came back as {y}"));
        }
        if x.is_finite() && !y.is_finite() {
            return Err(format!("finite {x} at {i} came back as {y}"));
        }
    }
    let clean: Vec<f32> = input
        .iter()
        .map(|&v| if v.is_finite() { v } else { 0.0 })
        .collect();
    let out: Vec<f32> = input
        .iter()
        .zip(&decoded.data)
        .map(|(&x, &y)| if x.is_finite() { y } else { 0.0 })
        .collect();
    match cfg.mode {
        Mode::Lossless => {
            for (i, (x, y)) in input.iter().zip(&decoded.data).enumerate() {
                if x.to_bits() != y.to_bits() {
                    return Err(format!("lossless: value {i} {x:e} came back as {y:e}"));
                }
            }
        }
        Mode::MaxAbs(e) => {
            for (i, (&x, &y)) in clean.iter().zip(&out).enumerate() {
                let d = (x as f64 - y as f64).abs();
                if d > e {
                    return Err(format!(
                        "max_abs {e:e}: value {i} {x:e} came back as {y:e} (error {d:e})"
                    ));
                }
            }
        }
        Mode::RelativeL2(eps) => {
            let (mut se, mut sx) = (0.0f64, 0.0f64);
            for (&x, &y) in clean.iter().zip(&out) {
                let d = x as f64 - y as f64;
                se += d * d;
                sx += x as f64 * x as f64;
            }
            if se.sqrt() > eps * sx.sqrt() {
                return Err(format!(
                    "relative_l2 {eps:e}: ‖e‖ = {:e} > ε‖x‖ = {:e}",
                    se.sqrt(),
                    eps * sx.sqrt()
                ));
            }
        }
        Mode::Adaptive => check_adaptive(cfg, &clean, shape, allocation, &out)?,
        other => return Err(format!("no bound written for mode {other:?}")),
    }
    Ok(())
}

/// Adaptive mode: per channel, with `lo`/`hi` the extremes of the pruned channel and `b` its
/// precision, every value is within `(hi − lo)/(2^b − 1)/2` (plus f32 rounding of the result)
/// of its original; a pruned value (|x| ≤ the pruning threshold) within |x| + that.
fn check_adaptive(
    cfg: &EncoderConfig,
    x: &[f32],
    shape: &[usize],
    allocation: Option<&[f64]>,
    y: &[f32],
) -> Result<(), String> {
    let channels = channel_count(shape);
    if channels == 0 {
        return Ok(());
    }
    if x.iter().zip(y).all(|(a, b)| a.to_bits() == b.to_bits()) {
        return Ok(()); // exact (e.g. the stored fallback)
    }
    let bits = channel_bits(allocation, channels, cfg).map_err(|e| e.to_string())?;
    let prune = prune_decision(x, cfg.threshold, cfg.max_drop_ratio).map_err(|e| e.to_string())?;
    let t = prune.magnitude_threshold;
    let per = x.len() / channels;
    for (c, (xs, ys)) in x.chunks_exact(per).zip(y.chunks_exact(per)).enumerate() {
        let pruned = |v: f32| if v.abs() <= t { 0.0 } else { v };
        let (lo, hi) = xs
            .iter()
            .fold((f32::INFINITY, f32::NEG_INFINITY), |(l, h), &v| {
                (l.min(pruned(v)), h.max(pruned(v)))
            });
        let ideal = (hi as f64 - lo as f64) / range_levels(bits[c]);
        if ideal > f32::MAX as f64 {
            continue; // documented: a channel range beyond f32::MAX at < 1.6 bits is not bounded
        }
        // The step is stored as f32: allow its rounding (one subnormal unit at worst).
        let half = 0.5 * (ideal * (1.0 + 1e-6) + 1.5e-45);
        for (k, (&a, &b)) in xs.iter().zip(ys).enumerate() {
            let extra = if pruned(a) == 0.0 {
                a.abs() as f64
            } else {
                0.0
            };
            let tol = half + extra + (b.abs() as f64) * f64::powi(2.0, -23) + 1.5e-45;
            let d = (a as f64 - b as f64).abs();
            if d > tol {
                return Err(format!(
                    "adaptive: channel {c} value {k} {a:e} came back as {b:e} (error {d:e} > {tol:e}; \
                     lo {lo:e} hi {hi:e} bits {})",
                    bits[c]
                ));
            }
        }
    }
    Ok(())
}
