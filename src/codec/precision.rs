//! An allocation (the predictor's output, on the original's `[min_bits, max_bits]` scale) →
//! a real-valued precision per channel in `[min_precision, base_precision]` bits. The mapping
//! is linear and monotone, so that the allocation → size relation is continuous.

use crate::codec::config::EncoderConfig;
use crate::error::{Error, Result};

/// Precision (bits) for an allocation `a` under `cfg`.
pub fn bits_for_allocation(a: f64, cfg: &EncoderConfig) -> f64 {
    let t = ((a - cfg.min_bits) / (cfg.max_bits - cfg.min_bits)).clamp(0.0, 1.0);
    cfg.min_precision as f64 + t * (cfg.base_precision as f64 - cfg.min_precision as f64)
}

/// Inverse of [`bits_for_allocation`] on `[min_precision, base_precision]`.
pub fn allocation_for_bits(bits: f64, cfg: &EncoderConfig) -> f64 {
    let span = cfg.base_precision as f64 - cfg.min_precision as f64;
    let t = if span > 0.0 {
        ((bits - cfg.min_precision as f64) / span).clamp(0.0, 1.0)
    } else {
        1.0
    };
    cfg.min_bits + t * (cfg.max_bits - cfg.min_bits)
}

/// Per-channel precision for an optional allocation: `None` → `base_precision` everywhere
/// (the safe choice), one value → broadcast, else one value per channel.
pub fn channel_bits(
    allocation: Option<&[f64]>,
    channels: usize,
    cfg: &EncoderConfig,
) -> Result<Vec<f64>> {
    match allocation {
        None => Ok(vec![cfg.base_precision as f64; channels]),
        Some(a) => {
            if let Some(i) = a.iter().position(|v| !v.is_finite()) {
                return Err(Error::invalid_argument(format!(
                    "allocation[{i}] = {} is not finite",
                    a[i]
                )));
            }
            match a.len() {
                1 => Ok(vec![bits_for_allocation(a[0], cfg); channels]),
                len if len == channels => Ok(a.iter().map(|&v| bits_for_allocation(v, cfg)).collect()),
                len => Err(Error::invalid_argument(format!(
                    "allocation has {len} values; the tensor has {channels} channels (give 1 or {channels})"
                ))),
            }
        }
    }
}
