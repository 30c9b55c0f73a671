//! The encoder's settings: what it aims for ([`Mode`]), how it treats NaN/Inf, which backend
//! codes the integer codes, and the ranges every setting must lie in. The YAML schema that
//! fills them lives in [`crate::io::config`].

use crate::entropy::BackendKind;
use crate::error::{Error, Result};

/// Most threads one call may use (encoder and decoder alike).
pub const MAX_THREADS: usize = crate::abi::ALCM_MAX_THREADS as usize;

/// What the encoder aims for.
#[derive(Debug, Clone, Copy, PartialEq)]
#[non_exhaustive]
pub enum Mode {
    /// Predictor-driven allocation (the original's behaviour).
    Adaptive,
    /// Guarantee ‖x − x̂‖₂ / ‖x‖₂ ≤ target, 0 < target < 1.
    RelativeL2(f64),
    /// Guarantee max |x − x̂| ≤ target, target > 0.
    MaxAbs(f64),
    /// Bit-exact reconstruction.
    Lossless,
}

/// What to do with NaN / ±Inf in the input.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum NonFinitePolicy {
    /// Fail with [`ErrorKind::NonFinite`](crate::ErrorKind::NonFinite) (default).
    Refuse,
    /// Store non-finite values exactly, out of band.
    Keep,
}

/// Settings of the gradient encoder (GUIDE §1 plus alcm extensions). Build it with
/// `EncoderConfig::default().with_mode(..)` (or from YAML, [`EncoderConfig::from_yaml_str`]).
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct EncoderConfig {
    /// Bits per value at full precision, min_precision..=16 (`quantization.base_precision`, 8).
    pub base_precision: u32,
    /// Lowest bits per value, 1..=base_precision (`quantization.min_precision`, 4).
    pub min_precision: u32,
    /// Pruning threshold (a quantile fraction), in (0, 1) (`pruning.threshold_init`, 0.01).
    pub threshold: f64,
    /// Largest fraction of values pruning may drop, in [0, 1) (`pruning.max_drop_ratio`, 0.25).
    pub max_drop_ratio: f64,
    /// Lossless backend (`backend`, default rans; "bridge" means the default).
    pub backend: BackendKind,
    /// Deflate level 0..=10 (`backend_level`, default 6).
    pub deflate_level: u8,
    /// Time budget per call in seconds, finite and > 0 (`timeout_seconds`, default 300).
    pub timeout_seconds: f64,
    /// Target of the encoder (`mode`, default adaptive).
    pub mode: Mode,
    /// NaN/Inf policy (`non_finite`, default refuse).
    pub non_finite: NonFinitePolicy,
    /// Lower end of the allocation, 0 < min_bits < max_bits (`allocation.min_bits`, 0.2).
    pub min_bits: f64,
    /// Upper end of the allocation, min_bits < max_bits < 1 (`allocation.max_bits`, 0.9).
    pub max_bits: f64,
    /// Threads one compression may use, 1..=64 (`threads`, default 1). The error-bounded
    /// modes split large tensors into fixed blocks of rows; the frame bytes do not depend on
    /// this setting.
    pub threads: usize,
}

impl Default for EncoderConfig {
    fn default() -> Self {
        EncoderConfig {
            base_precision: 8,
            min_precision: 4,
            threshold: 0.01,
            max_drop_ratio: 0.25,
            backend: BackendKind::Rans,
            deflate_level: 6,
            timeout_seconds: 300.0,
            mode: Mode::Adaptive,
            non_finite: NonFinitePolicy::Refuse,
            min_bits: 0.2,
            max_bits: 0.9,
            threads: 1,
        }
    }
}

/// `0 < min_bits < max_bits < 1`; errors name the YAML key under `prefix`.
pub(crate) fn check_bits(min_bits: f64, max_bits: f64, prefix: &str) -> Result<()> {
    if !(min_bits > 0.0 && min_bits < 1.0) {
        return Err(Error::config(
            &format!("{prefix}.min_bits"),
            format!("must satisfy 0 < min_bits < max_bits < 1, got {min_bits}"),
        ));
    }
    if !(max_bits > min_bits && max_bits < 1.0) {
        return Err(Error::config(
            &format!("{prefix}.max_bits"),
            format!("must satisfy min_bits ({min_bits}) < max_bits < 1, got {max_bits}"),
        ));
    }
    Ok(())
}

impl EncoderConfig {
    /// Checks every range; errors name the YAML key (`quantization.min_precision`, ...) and the
    /// allowed range.
    pub fn validate(&self) -> Result<()> {
        if !(1..=16).contains(&self.base_precision) {
            return Err(Error::config(
                "quantization.base_precision",
                format!(
                    "must satisfy 1 <= min_precision <= base_precision <= 16, got {}",
                    self.base_precision
                ),
            ));
        }
        if !(1..=self.base_precision).contains(&self.min_precision) {
            return Err(Error::config(
                "quantization.min_precision",
                format!(
                    "must be in 1..=base_precision ({}), got {}",
                    self.base_precision, self.min_precision
                ),
            ));
        }
        if !(self.threshold > 0.0 && self.threshold < 1.0) {
            return Err(Error::config(
                "pruning.threshold_init",
                format!("must be in (0, 1), got {}", self.threshold),
            ));
        }
        if !(self.max_drop_ratio >= 0.0 && self.max_drop_ratio < 1.0) {
            return Err(Error::config(
                "pruning.max_drop_ratio",
                format!("must be in [0, 1), got {}", self.max_drop_ratio),
            ));
        }
        if self.deflate_level > 10 {
            return Err(Error::config(
                "backend_level",
                format!("must be in 0..=10, got {}", self.deflate_level),
            ));
        }
        if !(1..=MAX_THREADS).contains(&self.threads) {
            return Err(Error::config(
                "threads",
                format!("must be in 1..={MAX_THREADS}, got {}", self.threads),
            ));
        }
        if !(self.timeout_seconds.is_finite() && self.timeout_seconds > 0.0) {
            return Err(Error::config(
                "timeout_seconds",
                format!("must be finite and > 0, got {}", self.timeout_seconds),
            ));
        }
        match self.mode {
            Mode::RelativeL2(t) if !(t.is_finite() && t > 0.0 && t < 1.0) => {
                return Err(Error::config(
                    "mode.target",
                    format!("relative_l2 target must be in (0, 1), got {t}"),
                ))
            }
            Mode::MaxAbs(t) if !(t.is_finite() && t > 0.0) => {
                return Err(Error::config(
                    "mode.target",
                    format!("max_abs target must be finite and > 0, got {t}"),
                ))
            }
            _ => {}
        }
        check_bits(self.min_bits, self.max_bits, "allocation")
    }
}

crate::util::with_setters!(EncoderConfig {
    base_precision: u32 => with_base_precision,
    min_precision: u32 => with_min_precision,
    threshold: f64 => with_threshold,
    max_drop_ratio: f64 => with_max_drop_ratio,
    backend: BackendKind => with_backend,
    deflate_level: u8 => with_deflate_level,
    timeout_seconds: f64 => with_timeout_seconds,
    mode: Mode => with_mode,
    non_finite: NonFinitePolicy => with_non_finite,
    min_bits: f64 => with_min_bits,
    max_bits: f64 => with_max_bits,
    threads: usize => with_threads,
});
