//! The neural entropy predictor (GUIDE §1): a 6 → H → 1 MLP that maps a tensor's (or a
//! channel's) statistics to a bit-allocation fraction in `[min_bits, max_bits]`.
//!
//! # Forward pass
//! `x = normalise(features)`, `h = relu(x·W1 + b1)`, `s = sigmoid(h·W2 + b2)`,
//! `out = min_bits + (max_bits − min_bits)·s`. W1 is 6×H row-major (`W1[i*H + j]`), W2 is H×1.
//!
//! # Feature normalisation
//! Raw features of real gradients span many decades (var ~1e-8, kurtosis up to 1e3), so a
//! fitted model first transforms `[mean, var, std, skew, kurtosis, sparsity]` with
//!
//! | feature  | transform                                   |
//! |----------|---------------------------------------------|
//! | mean     | `asinh(mean / std)` (std ≤ 0 treated as 1e-8) |
//! | var      | `log10(var + 1e-30)`                        |
//! | std      | `log10(std + 1e-30)`                        |
//! | skew     | `asinh(skew)`                               |
//! | kurtosis | `log10(max(kurtosis, 1e-12))`               |
//! | sparsity | unchanged                                   |
//!
//! then z-scores each component with `norm_mean`/`norm_std` (fitted on the training set by
//! [`Predictor::fit_normalization`]; population std, replaced by 1 when below 1e-12) and
//! clamps the result to ±[`NORM_CLAMP`]. A model without normalisation (a fresh one before
//! training, or one loaded from the original prototype's file) feeds the raw features to the
//! MLP unchanged, exactly as the prototype did. In both cases a non-finite input component is
//! replaced by 0, and a NaN pre-activation of the output unit gives s = 0.5, so `forward`
//! never returns NaN.
//!
//! # Determinism
//! The output feeds a compressor whose bytes must be identical on every platform, so nothing
//! here calls libm: [`det_exp`] and [`det_ln`] are built from IEEE `+ − × ÷`, `sqrt` and exact
//! bit manipulation only (Rust never fuses multiply-adds implicitly), and the PRNG for the
//! Xavier initialisation is SplitMix64.
//!
//! # Model files
//! `.npz` with the prototype's keys `W1` (6×H f64), `b1` (H,), `W2` (H×1), `b2` (1,),
//! `hidden_size` (0-d int64), `min_bits`, `max_bits` (0-d f64) plus alcm's `norm_mean`,
//! `norm_std` (6,) (absent when the model has no normalisation), `learning_rate` (0-d f64) and
//! `alcm_model_version` (0-d int64 = 1). Prototype files (only the first seven keys) load too.
//! Every load error is [`ErrorKind::InvalidModel`](crate::ErrorKind::InvalidModel).

use std::path::Path;

use crate::error::{Error, Result};
use crate::io::npy::{npy_bytes_f64, npy_bytes_i64, NpyArray, NpyData};
use crate::io::npz::{npz_bytes, read_npz_limited};
use crate::learn::stats::{channel_stats, tensor_stats};

/// Number of input features.
pub const N_FEATURES: usize = 6;
/// Largest accepted hidden layer.
pub const MAX_HIDDEN: usize = 65536;
/// Normalised features are clamped to ±this.
pub const NORM_CLAMP: f64 = 6.0;
/// The model-file version written by this code.
pub const MODEL_VERSION: i64 = 1;
/// The allocation scale: `min_bits` and `max_bits` must satisfy
/// `ALLOCATION_MIN <= min_bits < max_bits <= ALLOCATION_MAX` (the original's scale, on which
/// the encoder's `allocation.min_bits`/`max_bits` also lie).
pub const ALLOCATION_MIN: f64 = 0.0;
/// See [`ALLOCATION_MIN`].
pub const ALLOCATION_MAX: f64 = 1.0;
/// Largest model file [`Predictor::load`] reads (16 MiB). A model of the largest hidden size
/// (65536) stored as float64 is about 4.2 MB.
pub const MAX_MODEL_FILE_BYTES: u64 = 16 << 20;
/// Largest inflated member of a model file (4 MiB: W1 at the largest hidden size is 3 MiB of
/// float64) and largest total of all members (16 MiB).
pub const MAX_MODEL_MEMBER_BYTES: u64 = 4 << 20;
const MAX_MODEL_TOTAL_BYTES: u64 = 16 << 20;

// ---------------------------------------------------------------------------------------------
// Deterministic elementary functions
// ---------------------------------------------------------------------------------------------

pub use crate::util::detmath::{det_exp, det_ln};
#[cfg(test)]
use crate::util::detmath::{LN2_HI, LN2_LO};
const LN2: f64 = std::f64::consts::LN_2;
const LN10: f64 = std::f64::consts::LN_10;

/// Deterministic log10 (= [`det_ln`] / ln 10).
pub fn det_log10(x: f64) -> f64 {
    det_ln(x) / LN10
}

/// Deterministic asinh: sign(x)·ln(|x| + sqrt(x² + 1)) (absolute error ~1e-16 near 0).
pub fn det_asinh(x: f64) -> f64 {
    if !x.is_finite() {
        return x;
    }
    let a = x.abs();
    let r = if a > 1e8 {
        det_ln(a) + LN2
    } else {
        det_ln(a + (a * a + 1.0).sqrt())
    };
    if x < 0.0 {
        -r
    } else {
        r
    }
}

/// Deterministic logistic function 1/(1+e^−z), computed without overflow; NaN gives 0.5.
pub fn det_sigmoid(z: f64) -> f64 {
    if z.is_nan() {
        0.5
    } else if z >= 0.0 {
        1.0 / (1.0 + det_exp(-z))
    } else {
        let e = det_exp(z);
        e / (1.0 + e)
    }
}

/// [`det_sigmoid`] of each of `z`, the same bits: the eight exponentials side by side
/// (`det_exp_in_place`), where eight calls would run their chains of divisions one after
/// another.
fn sigmoid_group(z: [f64; FORWARD_GROUP]) -> [f64; FORWARD_GROUP] {
    // `det_sigmoid`'s exponent: e^(−z) for z ≥ 0, e^z below (unused for NaN).
    let mut e = z.map(|z| if z >= 0.0 { -z } else { z });
    crate::util::detmath::det_exp_in_place(&mut e);
    std::array::from_fn(|k| {
        let (z, e) = (z[k], e[k]);
        if z.is_nan() {
            0.5
        } else if z >= 0.0 {
            1.0 / (1.0 + e)
        } else {
            e / (1.0 + e)
        }
    })
}

/// SplitMix64: a tiny, well-mixed, platform-independent PRNG.
#[derive(Debug, Clone)]
pub struct SplitMix64(u64);

impl SplitMix64 {
    /// A generator seeded with `seed`.
    pub fn new(seed: u64) -> Self {
        SplitMix64(seed)
    }
    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    /// Uniform in [0, 1) from the top 53 bits.
    pub fn next_f64(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }
}

// ---------------------------------------------------------------------------------------------
// Normalisation
// ---------------------------------------------------------------------------------------------

/// The fixed, per-feature transform applied before z-scoring (see the module docs).
pub fn transform_features(f: &[f64; N_FEATURES]) -> [f64; N_FEATURES] {
    let [mean, var, std, skew, kurt, sparsity] = *f;
    let std_safe = if std > 0.0 { std } else { 1e-8 };
    [
        det_asinh(mean / std_safe),
        det_log10(var + 1e-30),
        det_log10(std + 1e-30),
        det_asinh(skew),
        det_log10(kurt.max(1e-12)),
        sparsity,
    ]
}

/// Per-feature z-scoring parameters, applied after [`transform_features`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Normalization {
    /// Per-feature mean of the (transformed) training features.
    pub mean: [f64; N_FEATURES],
    /// Per-feature standard deviation of the (transformed) training features.
    pub std: [f64; N_FEATURES],
}

impl Normalization {
    /// Fits mean and population std of the transformed features.
    pub fn fit(features: &[[f64; N_FEATURES]]) -> Result<Normalization> {
        if features.is_empty() {
            return Err(Error::invalid_argument(
                "fit_normalization: no feature vectors",
            ));
        }
        check_features(features)?;
        let t: Vec<[f64; N_FEATURES]> = features.iter().map(transform_features).collect();
        let n = t.len() as f64;
        let mut mean = [0.0; N_FEATURES];
        let mut std = [0.0; N_FEATURES];
        for k in 0..N_FEATURES {
            let m = t.iter().map(|v| v[k]).sum::<f64>() / n;
            let var = t.iter().map(|v| (v[k] - m) * (v[k] - m)).sum::<f64>() / n;
            let s = var.sqrt();
            if !m.is_finite() {
                return Err(Error::invalid_argument(format!(
                    "fit_normalization: feature {k} transforms to a non-finite mean (a value too \
                     large for its transform, e.g. |mean|/std above 1e308)"
                )));
            }
            mean[k] = m;
            std[k] = if s.is_finite() && s >= 1e-12 { s } else { 1.0 };
        }
        Ok(Normalization { mean, std })
    }

    fn apply(&self, f: &[f64; N_FEATURES]) -> [f64; N_FEATURES] {
        let t = transform_features(f);
        let mut x = [0.0; N_FEATURES];
        for k in 0..N_FEATURES {
            let z = (t[k] - self.mean[k]) / self.std[k];
            x[k] = if z.is_finite() {
                z.clamp(-NORM_CLAMP, NORM_CLAMP)
            } else {
                0.0
            };
        }
        x
    }
}

/// Feature vectors must be what [`crate::stats`] can produce: finite, with var, std and
/// kurtosis ≥ 0 and sparsity in [0, 1]. A negative variance made the fitted normalisation NaN,
/// which saved fine and then could not be loaded.
fn check_features(features: &[[f64; N_FEATURES]]) -> Result<()> {
    const NAMES: [&str; N_FEATURES] = ["mean", "var", "std", "skew", "kurtosis", "sparsity"];
    for (i, f) in features.iter().enumerate() {
        if let Some(k) = f.iter().position(|v| !v.is_finite()) {
            return Err(Error::invalid_argument(format!(
                "feature vector {i} has a non-finite {} (component {k}): {}",
                NAMES[k], f[k]
            )));
        }
        for k in [1, 2, 4] {
            if f[k] < 0.0 {
                return Err(Error::invalid_argument(format!(
                    "feature vector {i} has a negative {} (component {k}): {}",
                    NAMES[k], f[k]
                )));
            }
        }
        if !(0.0..=1.0).contains(&f[5]) {
            return Err(Error::invalid_argument(format!(
                "feature vector {i} has sparsity {} outside [0, 1] (component 5)",
                f[5]
            )));
        }
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// The predictor
// ---------------------------------------------------------------------------------------------

/// The MLP entropy predictor.
#[derive(Debug, Clone, PartialEq)]
pub struct Predictor {
    hidden_size: usize,
    /// 6×H, row-major: `w1[i * H + j]` links feature i to hidden unit j.
    w1: Vec<f64>,
    b1: Vec<f64>,
    /// H×1.
    w2: Vec<f64>,
    b2: f64,
    min_bits: f64,
    max_bits: f64,
    learning_rate: f64,
    normalization: Option<Normalization>,
}

fn validate_hparams(
    hidden_size: usize,
    min_bits: f64,
    max_bits: f64,
    learning_rate: f64,
) -> Result<()> {
    if hidden_size == 0 || hidden_size > MAX_HIDDEN {
        return Err(Error::invalid_argument(format!(
            "hidden_size must be in 1..={MAX_HIDDEN}, got {hidden_size}"
        )));
    }
    // `!(a <= b)` so that NaN fails too.
    if !(ALLOCATION_MIN <= min_bits && min_bits < max_bits && max_bits <= ALLOCATION_MAX) {
        return Err(Error::invalid_argument(format!(
            "need {ALLOCATION_MIN} <= min_bits < max_bits <= {ALLOCATION_MAX}, got {min_bits} and {max_bits}"
        )));
    }
    if !(learning_rate.is_finite() && learning_rate > 0.0) {
        return Err(Error::invalid_argument(format!(
            "learning_rate must be finite and > 0, got {learning_rate}"
        )));
    }
    Ok(())
}

/// Intermediate values of one forward pass, kept for backpropagation.
/// Feature vectors whose forward passes [`Predictor::forward_many`] runs side by side.
const FORWARD_GROUP: usize = 8;

struct Pass {
    x: [f64; N_FEATURES],
    a: Vec<f64>,
    h: Vec<f64>,
    s: f64,
    out: f64,
}

impl Predictor {
    /// A fresh predictor: Xavier-uniform weights (limit sqrt(6/(fan_in+fan_out)), W1 filled
    /// row-major first, then W2) from SplitMix64(`seed`), zero biases, no normalisation.
    pub fn new(
        hidden_size: usize,
        min_bits: f64,
        max_bits: f64,
        learning_rate: f64,
        seed: u64,
    ) -> Result<Predictor> {
        validate_hparams(hidden_size, min_bits, max_bits, learning_rate)?;
        let mut rng = SplitMix64::new(seed);
        let mut uniform = |limit: f64| -limit + 2.0 * limit * rng.next_f64();
        let l1 = (6.0 / (N_FEATURES + hidden_size) as f64).sqrt();
        let l2 = (6.0 / (hidden_size + 1) as f64).sqrt();
        let w1 = (0..N_FEATURES * hidden_size).map(|_| uniform(l1)).collect();
        let w2 = (0..hidden_size).map(|_| uniform(l2)).collect();
        Ok(Predictor {
            hidden_size,
            w1,
            b1: vec![0.0; hidden_size],
            w2,
            b2: 0.0,
            min_bits,
            max_bits,
            learning_rate,
            normalization: None,
        })
    }

    /// A predictor from explicit weights (W1 6×H row-major, b1 H, W2 H, b2), no normalisation.
    #[allow(clippy::too_many_arguments)]
    pub fn from_weights(
        hidden_size: usize,
        w1: Vec<f64>,
        b1: Vec<f64>,
        w2: Vec<f64>,
        b2: f64,
        min_bits: f64,
        max_bits: f64,
        learning_rate: f64,
    ) -> Result<Predictor> {
        validate_hparams(hidden_size, min_bits, max_bits, learning_rate)?;
        let h = hidden_size;
        if w1.len() != N_FEATURES * h || b1.len() != h || w2.len() != h {
            return Err(Error::invalid_argument(format!(
                "weights do not match hidden_size {h}: W1 {} (need {}), b1 {}, W2 {}",
                w1.len(),
                N_FEATURES * h,
                b1.len(),
                w2.len()
            )));
        }
        if !w1
            .iter()
            .chain(&b1)
            .chain(&w2)
            .chain(std::iter::once(&b2))
            .all(|v| v.is_finite())
        {
            return Err(Error::invalid_argument("weights must be finite"));
        }
        Ok(Predictor {
            hidden_size,
            w1,
            b1,
            w2,
            b2,
            min_bits,
            max_bits,
            learning_rate,
            normalization: None,
        })
    }

    /// Hidden units H.
    pub fn hidden_size(&self) -> usize {
        self.hidden_size
    }
    /// Lower end of the output allocation.
    pub fn min_bits(&self) -> f64 {
        self.min_bits
    }
    /// Upper end of the output allocation.
    pub fn max_bits(&self) -> f64 {
        self.max_bits
    }
    /// SGD learning rate.
    pub fn learning_rate(&self) -> f64 {
        self.learning_rate
    }
    /// Sets the SGD learning rate (finite, > 0).
    pub fn set_learning_rate(&mut self, learning_rate: f64) -> Result<()> {
        if !(learning_rate.is_finite() && learning_rate > 0.0) {
            return Err(Error::invalid_argument(format!(
                "learning_rate must be finite and > 0, got {learning_rate}"
            )));
        }
        self.learning_rate = learning_rate;
        Ok(())
    }
    /// W1 (6×H, row-major).
    pub fn w1(&self) -> &[f64] {
        &self.w1
    }
    /// Hidden-layer biases (H).
    pub fn b1(&self) -> &[f64] {
        &self.b1
    }
    /// W2 (H×1).
    pub fn w2(&self) -> &[f64] {
        &self.w2
    }
    /// Output bias.
    pub fn b2(&self) -> f64 {
        self.b2
    }
    /// The feature normalisation, `None` for raw features (prototype behaviour).
    pub fn normalization(&self) -> Option<&Normalization> {
        self.normalization.as_ref()
    }
    /// Replaces the normalisation (`None` = raw features). Parameters must be finite, std > 0.
    pub fn set_normalization(&mut self, n: Option<Normalization>) -> Result<()> {
        if let Some(n) = &n {
            if !n.mean.iter().all(|v| v.is_finite())
                || !n.std.iter().all(|v| v.is_finite() && *v > 0.0)
            {
                return Err(Error::invalid_argument(
                    "normalisation needs finite means and finite std > 0",
                ));
            }
        }
        self.normalization = n;
        Ok(())
    }
    /// Fits the normalisation on these (raw) feature vectors and installs it.
    pub fn fit_normalization(&mut self, features: &[[f64; N_FEATURES]]) -> Result<()> {
        self.normalization = Some(Normalization::fit(features)?);
        Ok(())
    }

    /// The MLP's input for these raw features (normalised, or raw with non-finite → 0).
    pub fn normalize(&self, f: &[f64; N_FEATURES]) -> [f64; N_FEATURES] {
        match &self.normalization {
            Some(n) => n.apply(f),
            None => f.map(|v| if v.is_finite() { v } else { 0.0 }),
        }
    }

    fn pass(&self, features: &[f64; N_FEATURES]) -> Pass {
        let h_n = self.hidden_size;
        let x = self.normalize(features);
        let mut a = self.b1.clone();
        for (i, &xi) in x.iter().enumerate() {
            let row = &self.w1[i * h_n..(i + 1) * h_n];
            for (aj, &w) in a.iter_mut().zip(row) {
                *aj += xi * w;
            }
        }
        let h: Vec<f64> = a.iter().map(|&v| if v > 0.0 { v } else { 0.0 }).collect();
        let mut z = self.b2;
        for (&hj, &w) in h.iter().zip(&self.w2) {
            z += hj * w;
        }
        let s = det_sigmoid(z);
        let out = self.scaled(s);
        Pass { x, a, h, s, out }
    }

    /// The sigmoid's output `s` scaled to `[min_bits, max_bits]`.
    fn scaled(&self, s: f64) -> f64 {
        // Rounding of min + range·s may land an ulp outside the range; the encoder refuses
        // allocations outside [min_bits, max_bits], so never return one.
        (self.min_bits + (self.max_bits - self.min_bits) * s).clamp(self.min_bits, self.max_bits)
    }

    /// The predicted allocation for one raw feature vector, in `[min_bits, max_bits]`.
    pub fn forward(&self, features: &[f64; N_FEATURES]) -> f64 {
        self.pass(features).out
    }

    /// [`forward`](Self::forward) of each feature vector, to the bit: groups of eight
    /// vectors side by side, each with the same operations in the same order.
    ///
    /// Why: one vector's output is a chain of `hidden_size` dependent additions and a
    /// sigmoid (a chain of divisions); per channel of a tensor, one after another, they were
    /// ≈ 3 % of the MPI trainer's step. Side by side they are independent chains.
    pub fn forward_many(&self, features: &[[f64; N_FEATURES]]) -> Vec<f64> {
        let groups = features.chunks_exact(FORWARD_GROUP);
        let rest = groups.remainder();
        let mut out = Vec::with_capacity(features.len());
        #[cfg(target_arch = "x86_64")]
        let avx2 = std::is_x86_feature_detected!("avx2");
        for g in groups {
            #[cfg(target_arch = "x86_64")]
            if avx2 {
                // SAFETY: the CPU supports AVX2 (checked before the loop).
                out.extend(unsafe { self.forward_group_avx2(g) });
                continue;
            }
            out.extend(self.forward_group(g));
        }
        out.extend(rest.iter().map(|f| self.forward(f)));
        out
    }

    /// [`forward_group`](Self::forward_group) compiled for AVX2 (four f64 lanes a vector; the
    /// same IEEE operations, none fused, hence the same bits).
    ///
    /// # Safety
    /// The CPU must support AVX2.
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2")]
    unsafe fn forward_group_avx2(&self, g: &[[f64; N_FEATURES]]) -> [f64; FORWARD_GROUP] {
        self.forward_group(g)
    }

    /// `pass(g[k]).out` for each `k`, lane `k` of every array below holding vector `k`'s
    /// value of `pass`' variable of the same name.
    #[inline(always)]
    fn forward_group(&self, g: &[[f64; N_FEATURES]]) -> [f64; FORWARD_GROUP] {
        const B: usize = FORWARD_GROUP;
        let h_n = self.hidden_size;
        let xs: [[f64; N_FEATURES]; B] = std::array::from_fn(|k| self.normalize(&g[k]));
        let x: [[f64; B]; N_FEATURES] = std::array::from_fn(|i| std::array::from_fn(|k| xs[k][i]));
        let mut z = [self.b2; B];
        for j in 0..h_n {
            let mut a = [self.b1[j]; B];
            for (i, xi) in x.iter().enumerate() {
                let w = self.w1[i * h_n + j];
                for (ak, &xk) in a.iter_mut().zip(xi) {
                    *ak += xk * w;
                }
            }
            let w = self.w2[j];
            for (zk, &ak) in z.iter_mut().zip(&a) {
                let h = if ak > 0.0 { ak } else { 0.0 };
                *zk += h * w;
            }
        }
        sigmoid_group(z).map(|s| self.scaled(s))
    }

    /// Per-sample SGD on (output − target)², samples in the given order each epoch, for
    /// `epochs` passes; returns the mean loss of each epoch (the loss of a sample is taken
    /// before its update). If the model has no normalisation yet, it is first fitted on
    /// `features`. On divergence (non-finite weights) the weights are restored and an error
    /// is returned.
    pub fn train(
        &mut self,
        features: &[[f64; N_FEATURES]],
        targets: &[f64],
        epochs: usize,
    ) -> Result<Vec<f64>> {
        if features.is_empty() {
            return Err(Error::invalid_argument("train: no samples"));
        }
        if features.len() != targets.len() {
            return Err(Error::invalid_argument(format!(
                "train: {} feature vectors but {} targets",
                features.len(),
                targets.len()
            )));
        }
        check_features(features)?;
        if let Some(i) = targets.iter().position(|t| !t.is_finite()) {
            return Err(Error::invalid_argument(format!(
                "train: target {i} is not finite ({})",
                targets[i]
            )));
        }
        if self.normalization.is_none() {
            self.fit_normalization(features)?;
        }
        let backup = self.clone();
        let lr = self.learning_rate;
        let range = self.max_bits - self.min_bits;
        let h_n = self.hidden_size;
        let mut history = Vec::with_capacity(epochs);
        for epoch in 0..epochs {
            let mut total = 0.0;
            for (f, &t) in features.iter().zip(targets) {
                let p = self.pass(f);
                let err = p.out - t;
                total += err * err;
                // dL/dz = 2(out − t) · (max − min) · s(1 − s)
                let dz = 2.0 * err * range * p.s * (1.0 - p.s);
                for j in 0..h_n {
                    let da = if p.a[j] > 0.0 { dz * self.w2[j] } else { 0.0 };
                    self.w2[j] -= lr * dz * p.h[j];
                    if da != 0.0 {
                        self.b1[j] -= lr * da;
                        for (i, &xi) in p.x.iter().enumerate() {
                            self.w1[i * h_n + j] -= lr * da * xi;
                        }
                    }
                }
                self.b2 -= lr * dz;
            }
            let mean = total / features.len() as f64;
            let finite =
                mean.is_finite() && self.b2.is_finite() && self.w2.iter().all(|v| v.is_finite());
            if !finite || !self.w1.iter().chain(&self.b1).all(|v| v.is_finite()) {
                *self = backup;
                return Err(Error::invalid_argument(format!(
                    "train: diverged in epoch {epoch} (non-finite weights); lower the learning rate"
                )));
            }
            history.push(mean);
        }
        Ok(history)
    }

    /// Prediction for a whole tensor: its statistics, then [`Predictor::forward`].
    pub fn predict_tensor(&self, data: &[f32]) -> f64 {
        self.forward(&tensor_stats(data).features())
    }

    /// The per-channel entropy map: one prediction per slice along the first axis
    /// other than 1 (see [`crate::channel_count`]); an empty tensor gives an empty vector.
    pub fn predict_channels(&self, data: &[f32], shape: &[usize]) -> Result<Vec<f64>> {
        let features: Vec<[f64; N_FEATURES]> = channel_stats(data, shape)?
            .iter()
            .map(|s| s.features())
            .collect();
        Ok(self.forward_many(&features))
    }

    // ----- model files -----------------------------------------------------------------------

    /// The model as `.npz` bytes (see the module docs for the keys).
    pub fn to_npz_bytes(&self) -> Vec<u8> {
        let h = self.hidden_size;
        let mut entries: Vec<(&str, Vec<u8>)> = vec![
            ("W1", npy_bytes_f64(&[N_FEATURES, h], &self.w1)),
            ("b1", npy_bytes_f64(&[h], &self.b1)),
            ("W2", npy_bytes_f64(&[h, 1], &self.w2)),
            ("b2", npy_bytes_f64(&[1], &[self.b2])),
            ("hidden_size", npy_bytes_i64(&[], &[h as i64])),
            ("min_bits", npy_bytes_f64(&[], &[self.min_bits])),
            ("max_bits", npy_bytes_f64(&[], &[self.max_bits])),
        ];
        if let Some(n) = &self.normalization {
            entries.push(("norm_mean", npy_bytes_f64(&[N_FEATURES], &n.mean)));
            entries.push(("norm_std", npy_bytes_f64(&[N_FEATURES], &n.std)));
        }
        entries.push(("learning_rate", npy_bytes_f64(&[], &[self.learning_rate])));
        entries.push(("alcm_model_version", npy_bytes_i64(&[], &[MODEL_VERSION])));
        npz_bytes(&entries)
    }

    /// Saves the model atomically (temporary file + rename).
    pub fn save(&self, path: &Path) -> Result<()> {
        crate::util::fsutil::write_atomic(path, &self.to_npz_bytes())
    }

    /// Loads a model file written by [`Predictor::save`] or by the original prototype: a
    /// regular file of at most [`MAX_MODEL_FILE_BYTES`] (`Io` otherwise, `TooLarge` above).
    pub fn load(path: &Path) -> Result<Predictor> {
        let bytes =
            crate::util::fsutil::read_regular_file(path, MAX_MODEL_FILE_BYTES, "a model file")?;
        Self::from_npz_bytes(&bytes)
            .map_err(|e| Error::new(e.kind(), format!("{}: {}", path.display(), e.message())))
    }

    /// Parses model bytes (see [`Predictor::load`]). Every error is `InvalidModel`. No member
    /// may inflate past [`MAX_MODEL_MEMBER_BYTES`], nor all of them past 16 MiB.
    pub fn from_npz_bytes(bytes: &[u8]) -> Result<Predictor> {
        let members = read_npz_limited(bytes, MAX_MODEL_MEMBER_BYTES, MAX_MODEL_TOTAL_BYTES)
            .map_err(|e| Error::model(format!("not a valid model archive: {e}")))?;
        let get = |key: &str| members.iter().find(|(k, _)| k == key).map(|(_, a)| a);
        let need =
            |key: &str| get(key).ok_or_else(|| Error::model(format!("model file lacks '{key}'")));
        let scalar = |key: &str, a: &NpyArray| {
            a.scalar_f64().map_err(|_| {
                Error::model(format!("'{key}' must be a scalar, has shape {:?}", a.shape))
            })
        };
        if let Some(v) = get("alcm_model_version") {
            let v = int_scalar("alcm_model_version", v)?;
            if v != MODEL_VERSION {
                return Err(Error::model(format!(
                    "model file version {v} is not supported (this build reads version {MODEL_VERSION})"
                )));
            }
        }
        let h_raw = int_scalar("hidden_size", need("hidden_size")?)?;
        if h_raw < 1 || h_raw > MAX_HIDDEN as i64 {
            return Err(Error::model(format!(
                "hidden_size {h_raw} is outside 1..={MAX_HIDDEN}"
            )));
        }
        let h = h_raw as usize;
        let w1 = float_array("W1", need("W1")?, &[&[N_FEATURES, h]])?;
        let b1 = float_array("b1", need("b1")?, &[&[h], &[1, h], &[h, 1]])?;
        let w2 = float_array("W2", need("W2")?, &[&[h, 1], &[h]])?;
        let b2 = float_array("b2", need("b2")?, &[&[1], &[], &[1, 1]])?[0];
        let min_bits = scalar("min_bits", need("min_bits")?)?;
        let max_bits = scalar("max_bits", need("max_bits")?)?;
        let learning_rate = match get("learning_rate") {
            Some(a) => scalar("learning_rate", a)?,
            None => 0.001,
        };
        let mut p = Predictor::from_weights(h, w1, b1, w2, b2, min_bits, max_bits, learning_rate)
            .map_err(|e| Error::model(e.message().to_string()))?;
        let norm = match (get("norm_mean"), get("norm_std")) {
            (None, None) => None,
            (Some(m), Some(s)) => {
                let m = float_array("norm_mean", m, &[&[N_FEATURES]])?;
                let s = float_array("norm_std", s, &[&[N_FEATURES]])?;
                let mut n = Normalization {
                    mean: [0.0; N_FEATURES],
                    std: [0.0; N_FEATURES],
                };
                n.mean.copy_from_slice(&m);
                n.std.copy_from_slice(&s);
                Some(n)
            }
            _ => {
                return Err(Error::model(
                    "model file has only one of 'norm_mean' and 'norm_std'",
                ))
            }
        };
        p.set_normalization(norm)
            .map_err(|e| Error::model(e.message().to_string()))?;
        Ok(p)
    }
}

fn int_scalar(key: &str, a: &NpyArray) -> Result<i64> {
    if a.len() != 1 {
        return Err(Error::model(format!(
            "'{key}' must be a scalar, has shape {:?}",
            a.shape
        )));
    }
    match &a.data {
        NpyData::I64(v) => Ok(v[0]),
        NpyData::I32(v) => Ok(v[0] as i64),
        NpyData::U8(v) => Ok(v[0] as i64),
        NpyData::F64(v) if v[0].fract() == 0.0 && v[0].abs() < 9e15 => Ok(v[0] as i64),
        _ => Err(Error::model(format!(
            "'{key}' must be an integer, got {:?}",
            a.descr()
        ))),
    }
}

fn float_array(key: &str, a: &NpyArray, shapes: &[&[usize]]) -> Result<Vec<f64>> {
    if !shapes.contains(&a.shape.as_slice()) {
        return Err(Error::model(format!(
            "'{key}' has shape {:?}, expected {:?}",
            a.shape, shapes[0]
        )));
    }
    let v = match &a.data {
        NpyData::F64(v) => v.clone(),
        NpyData::F32(_) => a.to_f64(),
        _ => {
            return Err(Error::model(format!(
                "'{key}' must be float64 (or float32), got {:?}",
                a.descr()
            )))
        }
    };
    if let Some(i) = v.iter().position(|x| !x.is_finite()) {
        return Err(Error::model(format!(
            "'{key}' holds a non-finite value ({}) at index {i}",
            v[i]
        )));
    }
    Ok(v)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forward_many_is_forward_of_each_vector() {
        let mut u = crate::util::test_rng::uniform(7);
        let mut feats: Vec<[f64; N_FEATURES]> = (0..37)
            .map(|_| std::array::from_fn(|_| (u() - 0.5) * 20.0))
            .collect();
        // Saturating, non-finite and zero features.
        feats[3] = [1e300, -1e300, 0.0, 5.0, -5.0, 1.0];
        feats[10] = [f64::NAN, f64::INFINITY, 0.0, 0.0, 0.0, 0.0];
        feats[17] = [0.0; N_FEATURES];
        for hidden in [64, 3] {
            let mut p = Predictor::new(hidden, 0.0, 1.0, 0.01, 11).unwrap();
            for normalized in [false, true] {
                if normalized {
                    // Fitted on valid statistics (variances, kurtoses ≥ 0, sparsity in [0, 1]).
                    let valid: Vec<[f64; N_FEATURES]> = feats[20..30]
                        .iter()
                        .map(|f| {
                            let mut v = f.map(f64::abs);
                            v[5] /= 10.0;
                            v
                        })
                        .collect();
                    p.fit_normalization(&valid).unwrap();
                }
                for n in [0, 7, 8, 9, 16, 37] {
                    let got = p.forward_many(&feats[..n]);
                    assert_eq!(got.len(), n);
                    for (k, (g, f)) in got.iter().zip(&feats).enumerate() {
                        let w = p.forward(f);
                        assert_eq!(g.to_bits(), w.to_bits(), "h {hidden} norm {normalized} {k}");
                    }
                }
            }
        }
    }

    #[test]
    fn grouped_sigmoids_are_det_sigmoid() {
        let mut u = crate::util::test_rng::uniform(3);
        let special = [f64::NAN, 0.0, -0.0, 800.0, -800.0, 40.0, -40.0, 1e-300];
        let mut zs: Vec<f64> = special.to_vec();
        zs.extend((0..800).map(|_| (u() - 0.5) * 100.0));
        for z in zs.chunks_exact(FORWARD_GROUP) {
            let z: [f64; FORWARD_GROUP] = z.try_into().unwrap();
            for (g, &z) in sigmoid_group(z).iter().zip(&z) {
                assert_eq!(g.to_bits(), det_sigmoid(z).to_bits(), "{z:e}");
            }
        }
    }

    #[test]
    fn forward_many_gives_hand_computed_outputs() {
        // One hidden unit a = feature 0, output z = a − 1 (W2 = 1, b2 = −1): feature 0 = 1
        // gives s = 1/2, i.e. the middle of [0.2, 1] = 0.6; a negative feature 0 is cut by
        // the ReLU (z = −1: 0.2 + 0.8·e⁻¹/(1 + e⁻¹)); a huge one saturates at 1.
        let w1 = vec![1.0, 0.0, 0.0, 0.0, 0.0, 0.0];
        let p = Predictor::from_weights(1, w1, vec![0.0], vec![1.0], -1.0, 0.2, 1.0, 0.01).unwrap();
        let f = |x0: f64| [x0, 3.0, 3.0, 3.0, 3.0, 3.0];
        let feats: Vec<[f64; N_FEATURES]> = (0..9).map(|k| f([1.0, -4.0, 1e9][k % 3])).collect();
        let low = 0.2 + 0.8 * ((-1.0f64).exp() / (1.0 + (-1.0f64).exp()));
        for (k, v) in p.forward_many(&feats).into_iter().enumerate() {
            let want = [0.6, low, 1.0][k % 3];
            assert!((v - want).abs() < 1e-12, "{k}: {v} vs {want}");
        }
    }

    #[test]
    fn ln2_split_constants_are_the_fdlibm_bits() {
        assert_eq!(LN2_HI.to_bits(), 0x3fe6_2e42_fee0_0000);
        assert_eq!(LN2_LO.to_bits(), 0x3dea_39ef_3579_3c76);
    }
}
