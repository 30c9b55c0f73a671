//! Bit allocation: the predictor's output (an "allocation" in `[min_bits, max_bits]`, the
//! original's scale) → a real-valued precision in `[min_precision, base_precision]` bits, and the
//! measured ("empirical") allocation that a tensor really needs, used as training target.
//!
//! The mapping is linear and monotone: `bits = min_p + (a − min_bits)/(max_bits − min_bits) ·
//! (base_p − min_p)`, with `a` clamped to `[min_bits, max_bits]`. Precision is real-valued so
//! that the allocation → size relation is continuous (the step is `range / (2^bits − 1)`).

use crate::codec::config::EncoderConfig;
pub use crate::codec::precision::{allocation_for_bits, bits_for_allocation, channel_bits};
use crate::codec::quant::{self, ChannelParams};
use crate::error::{Error, Result};
use crate::learn::predictor::Predictor;
use crate::learn::stats::{channel_count, channel_stats, check_shape};

/// Squared L2 error against `original` of one channel whose `pruned` values are
/// range-quantized at `bits`, measured on the decoder's own reconstruction.
fn channel_error_sq(
    original: &[f32],
    pruned: &[f32],
    bits: f64,
    codes: &mut [u32],
    out: &mut [f32],
) -> f64 {
    let (lo, step) = quant::quantize_range_channel(pruned, bits, codes);
    let p = ChannelParams::Range {
        lo: vec![lo],
        step: vec![step],
    };
    quant::dequantize(&p, codes, out);
    original
        .iter()
        .zip(out.iter())
        .map(|(a, b)| (*a as f64 - *b as f64).powi(2))
        .sum()
}

/// Bisection steps of the allocation search: 2^-30 of the allocation range, far finer than
/// anything the predictor resolves.
const SEARCH_STEPS: usize = 30;

/// The target must be finite and > 0, the shape match the data, every value be finite;
/// returns the value count.
fn check_target_and_data(data: &[f32], shape: &[usize], target_rel_error: f64) -> Result<usize> {
    if !(target_rel_error > 0.0 && target_rel_error.is_finite()) {
        return Err(Error::invalid_argument(format!(
            "target relative error {target_rel_error} must be finite and > 0"
        )));
    }
    let n = check_shape(data.len(), shape)?;
    if let Some(i) = data.iter().position(|v| !v.is_finite()) {
        return Err(Error::new(
            crate::ErrorKind::NonFinite,
            format!("value at index {i} is {}", data[i]),
        ));
    }
    Ok(n)
}

/// The measured allocation a tensor needs: for each channel, the smallest allocation in
/// `[min_bits, max_bits]` whose adaptive encoding (with `cfg`'s pruning) gives that channel a
/// relative L2 error ≤ `target_rel_error`. Meeting the target per channel meets it for the
/// tensor. A channel that misses the target even at `max_bits` (pruning alone costs more, or
/// a range so wide that `base_precision` bits are too coarse) gets `max_bits`; an all-zero channel gets `min_bits`.
pub fn empirical_channel_allocations(
    data: &[f32],
    shape: &[usize],
    target_rel_error: f64,
    cfg: &EncoderConfig,
) -> Result<Vec<f64>> {
    let n = check_target_and_data(data, shape, target_rel_error)?;
    let channels = channel_count(shape);
    if channels == 0 {
        return Ok(Vec::new());
    }
    let prune = quant::prune_decision(data, cfg.threshold, cfg.max_drop_ratio)?;
    let per = n / channels;
    let (mut pruned, mut codes, mut out) = (vec![0f32; per], vec![0u32; per], vec![0f32; per]);
    let mut result = Vec::with_capacity(channels);
    for xs in data.chunks_exact(per) {
        let norm_sq: f64 = xs.iter().map(|v| *v as f64 * *v as f64).sum();
        if norm_sq == 0.0 {
            result.push(cfg.min_bits);
            continue;
        }
        for (p, &x) in pruned.iter_mut().zip(xs) {
            *p = if x.abs() <= prune.magnitude_threshold {
                0.0
            } else {
                x
            };
        }
        let limit = target_rel_error * target_rel_error * norm_sq;
        let meets = |a: f64, codes: &mut [u32], out: &mut [f32]| {
            channel_error_sq(xs, &pruned, bits_for_allocation(a, cfg), codes, out) <= limit
        };
        let (mut lo, mut hi) = (cfg.min_bits, cfg.max_bits);
        if meets(lo, &mut codes, &mut out) {
            result.push(lo);
            continue;
        }
        if !meets(hi, &mut codes, &mut out) {
            result.push(hi);
            continue;
        }
        for _ in 0..SEARCH_STEPS {
            let mid = 0.5 * (lo + hi);
            if meets(mid, &mut codes, &mut out) {
                hi = mid;
            } else {
                lo = mid;
            }
        }
        result.push(hi);
    }
    Ok(result)
}

/// The smallest single allocation for the whole tensor whose adaptive encoding meets
/// `target_rel_error` (relative L2 over the tensor), found by bisection; `max_bits` when even
/// that misses the target.
pub fn empirical_bit_allocation(
    data: &[f32],
    shape: &[usize],
    target_rel_error: f64,
    cfg: &EncoderConfig,
) -> Result<f64> {
    if !(target_rel_error > 0.0 && target_rel_error.is_finite()) {
        return Err(Error::invalid_argument(format!(
            "target relative error {target_rel_error} must be finite and > 0"
        )));
    }
    let n = check_shape(data.len(), shape)?;
    let channels = channel_count(shape);
    let norm_sq: f64 = data.iter().map(|v| *v as f64 * *v as f64).sum();
    if channels == 0 || norm_sq == 0.0 {
        return Ok(cfg.min_bits);
    }
    if let Some(i) = data.iter().position(|v| !v.is_finite()) {
        return Err(Error::new(
            crate::ErrorKind::NonFinite,
            format!("value at index {i} is {}", data[i]),
        ));
    }
    let prune = quant::prune_decision(data, cfg.threshold, cfg.max_drop_ratio)?;
    let per = n / channels;
    let (mut pruned, mut codes, mut out) = (vec![0f32; per], vec![0u32; per], vec![0f32; per]);
    let mut err_at = |a: f64| {
        let bits = bits_for_allocation(a, cfg);
        let mut err = 0.0;
        for xs in data.chunks_exact(per) {
            for (p, &x) in pruned.iter_mut().zip(xs) {
                *p = if x.abs() <= prune.magnitude_threshold {
                    0.0
                } else {
                    x
                };
            }
            err += channel_error_sq(xs, &pruned, bits, &mut codes, &mut out);
        }
        err
    };
    let limit = target_rel_error * target_rel_error * norm_sq;
    let (mut lo, mut hi) = (cfg.min_bits, cfg.max_bits);
    if err_at(lo) <= limit {
        return Ok(lo);
    }
    if err_at(hi) > limit {
        return Ok(hi);
    }
    for _ in 0..SEARCH_STEPS {
        let mid = 0.5 * (lo + hi);
        if err_at(mid) <= limit {
            hi = mid;
        } else {
            lo = mid;
        }
    }
    Ok(hi)
}

/// What the error model needs of one channel, gathered in one pass over its values with the
/// tensor's pruning applied (the encoder computes the same quantities to quantize).
#[derive(Debug, Clone, Copy, PartialEq)]
struct ChannelErrorStats {
    /// Values in the channel.
    n: f64,
    /// max − min of the pruned values: the span the range quantizer divides into steps.
    range: f64,
    /// Σ x² of the original values.
    norm_sq: f64,
    /// Σ x² of the values pruning sets to zero.
    pruned_sq: f64,
}

fn channel_error_stats(xs: &[f32], prune_at: f32) -> ChannelErrorStats {
    let (mut lo, mut hi) = (f64::INFINITY, f64::NEG_INFINITY);
    let (mut norm_sq, mut pruned_sq) = (0.0f64, 0.0f64);
    for &x in xs {
        let v = x as f64;
        let sq = v * v;
        norm_sq += sq;
        let kept = if x.abs() <= prune_at {
            pruned_sq += sq;
            0.0
        } else {
            v
        };
        lo = lo.min(kept);
        hi = hi.max(kept);
    }
    let range = if hi > lo { hi - lo } else { 0.0 };
    ChannelErrorStats {
        n: xs.len() as f64,
        range,
        norm_sq,
        pruned_sq,
    }
}

/// The allocation that the closed-form error model says a channel needs for
/// `target_rel_error`, without quantizing anything.
///
/// Model: with step `d = range / (2^bits − 1)`, every value — kept or pruned to zero — lands
/// on a grid point with an error that is spread evenly over one step, `d²/12` on average, and a
/// pruned value `x` additionally loses `x²` (the rounding offset of zero is independent of
/// the sign of `x`, so the cross term averages out). The squared error is therefore
/// `n·d²/12 + Σ_pruned x²`; the largest step that keeps it within `ε²·‖x‖²` is
/// `d = sqrt(12·(ε²‖x‖² − Σ_pruned x²)/n)`, so `bits = log2(range/d + 1)`.
/// A channel that pruning alone puts over the target gets `max_bits` (as the search does);
/// one that decodes exactly at any precision (all zero, or constant after pruning) and meets
/// the target gets `min_bits`.
fn modelled_allocation(s: &ChannelErrorStats, target_rel_error: f64, cfg: &EncoderConfig) -> f64 {
    let budget = target_rel_error * target_rel_error * s.norm_sq - s.pruned_sq;
    if s.norm_sq == 0.0 || (s.range == 0.0 && budget >= 0.0) {
        return cfg.min_bits;
    }
    if budget <= 0.0 {
        return cfg.max_bits;
    }
    let step = (12.0 * budget / s.n).sqrt();
    let bits = crate::util::detmath::det_log2(s.range / step + 1.0);
    // Below `min_precision` / above `base_precision` the mapping clamps (the quantizer cannot
    // go there); bits is finite because budget > 0 makes step > 0.
    if bits >= cfg.base_precision as f64 {
        cfg.max_bits
    } else {
        allocation_for_bits(bits, cfg)
    }
}

/// Per-channel allocations from the closed-form error model alone (see
/// [`guard_channel_allocations`]): one pass over the data, no quantization, no search.
pub fn modelled_channel_allocations(
    data: &[f32],
    shape: &[usize],
    target_rel_error: f64,
    cfg: &EncoderConfig,
) -> Result<Vec<f64>> {
    let n = check_target_and_data(data, shape, target_rel_error)?;
    let channels = channel_count(shape);
    if channels == 0 {
        return Ok(Vec::new());
    }
    let prune = quant::prune_decision(data, cfg.threshold, cfg.max_drop_ratio)?;
    Ok(data
        .chunks_exact(n / channels)
        .map(|xs| {
            modelled_allocation(
                &channel_error_stats(xs, prune.magnitude_threshold),
                target_rel_error,
                cfg,
            )
        })
        .collect())
}

/// Caps each channel's predicted error: raises every allocation in `allocation` (one per
/// channel, e.g. [`Predictor::predict_channels`]) to at least what the closed-form error model
/// of [`modelled_channel_allocations`] needs for `target_rel_error`, and leaves it where it
/// is when the model needs less. The predictor sees only scale-free moments of a channel, so
/// it cannot tell a channel whose range is stretched by a few outliers (a coarse step for the
/// bulk of the values) from a compact one; the model sees the range, the pruned energy and
/// the norm, which are exactly what the range quantizer's error depends on. On error
/// (non-finite allocation or data, wrong length, bad target) `allocation` is unchanged.
pub fn guard_channel_allocations(
    allocation: &mut [f64],
    data: &[f32],
    shape: &[usize],
    target_rel_error: f64,
    cfg: &EncoderConfig,
) -> Result<()> {
    if let Some(i) = allocation.iter().position(|v| !v.is_finite()) {
        return Err(Error::invalid_argument(format!(
            "allocation[{i}] = {} is not finite",
            allocation[i]
        )));
    }
    let need = modelled_channel_allocations(data, shape, target_rel_error, cfg)?;
    if need.len() != allocation.len() {
        return Err(Error::invalid_argument(format!(
            "allocation has {} values; the tensor has {} channels",
            allocation.len(),
            need.len()
        )));
    }
    for (a, m) in allocation.iter_mut().zip(need) {
        *a = a.max(m);
    }
    Ok(())
}

/// Predictor training pairs: one per channel, features = the channel's statistics, target =
/// its measured allocation for `target_rel_error`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TrainingSet {
    /// One feature vector per sample ([`crate::TensorStats::features`]).
    pub features: Vec<[f64; 6]>,
    /// The measured allocation of each sample.
    pub targets: Vec<f64>,
}

impl TrainingSet {
    /// Adds every channel of one tensor.
    pub fn add_tensor(
        &mut self,
        data: &[f32],
        shape: &[usize],
        target_rel_error: f64,
        cfg: &EncoderConfig,
    ) -> Result<()> {
        let targets = empirical_channel_allocations(data, shape, target_rel_error, cfg)?;
        let stats = channel_stats(data, shape)?;
        self.features.extend(stats.iter().map(|s| s.features()));
        self.targets.extend(targets);
        Ok(())
    }

    /// Number of samples.
    pub fn len(&self) -> usize {
        self.targets.len()
    }

    /// Whether there are no samples.
    pub fn is_empty(&self) -> bool {
        self.targets.is_empty()
    }
}

/// Mean squared error of `predictor` on `set`, and of always predicting `mean_target` (the
/// baseline a useful predictor must beat).
pub fn evaluate(predictor: &Predictor, set: &TrainingSet, mean_target: f64) -> (f64, f64) {
    let n = set.len().max(1) as f64;
    let mut mse = 0.0;
    let mut base = 0.0;
    for (f, t) in set.features.iter().zip(&set.targets) {
        mse += (predictor.forward(f) - t).powi(2);
        base += (mean_target - t).powi(2);
    }
    (mse / n, base / n)
}
