//! The learned rate–distortion curve of a tensor, for the model-level budget's `predictor`
//! method: the bytes a float32 tensor takes in an archive at a relative-L2 bound, predicted
//! from its statistics (the predictor's features) without compressing it.
//!
//! High-rate theory says a tensor quantized with step Δ = b·rms·√12 costs about
//! h − log2 Δ bits per value (h its differential entropy), so the bits fall by one per halving
//! of the bound and their offset depends on the distribution's shape. Real curves flatten at
//! low rates (bits cannot go below 0) and carry side information (a step and one code offset
//! per channel). The model is therefore
//!
//! ```text
//! bytes(b) = side + n/8 · log2(1 + 2^(c·φ(b)))     side = 24 + channels
//! φ(b) = [1, −log2 b, log2(std/rms), ln kurtosis, sparsity, ln(1 + skew²)]
//! ```
//!
//! a base-2 softplus of a linear model, which is h − log2 Δ at high rate and tends to 0 at low
//! rate. The coefficients c are fitted by least squares on curves measured by the archive
//! writer (`cargo run --release -p alcm-tools --bin fit_budget_curves`, which prints them and
//! the fit's error), on tensors that are neither in `tests/data` nor MiniLM's.

use crate::error::{Error, Result};
use crate::learn::stats::{channel_count, TensorStats};

/// Number of features of [`CurveModel`].
pub const CURVE_FEATURES: usize = 6;

/// A fitted curve model: bytes of a tensor at a relative-L2 bound, from its statistics.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CurveModel {
    /// Coefficients of the features (see the module documentation).
    pub coef: [f64; CURVE_FEATURES],
}

/// Side bytes of a coded tensor besides its payload: index entry, block head and the
/// quantization step (about 24), and one code-offset varint per channel.
fn side_bytes(channels: usize) -> f64 {
    24.0 + channels as f64
}

impl CurveModel {
    /// The model fitted by `tools/src/bin/fit_budget_curves.rs` (its output, pasted).
    pub const FITTED: CurveModel = CurveModel {
        coef: [5.054835, 0.925381, 0.755530, -2.795819, -6.408221, 2.323092],
    };

    /// The features of a tensor with statistics `s` at relative bound `bound`.
    pub fn features(s: &TensorStats, bound: f64) -> [f64; CURVE_FEATURES] {
        let rms = (s.var + s.mean * s.mean).sqrt().max(f64::MIN_POSITIVE);
        [
            1.0,
            -bound.log2(),
            (s.std / rms).max(1e-12).log2(),
            s.kurtosis.max(1e-12).ln(),
            s.sparsity,
            (1.0 + s.skew * s.skew).ln(),
        ]
    }

    /// Predicted bits per value of the payload (without side information).
    pub fn bits_per_value(&self, s: &TensorStats, bound: f64) -> f64 {
        let z: f64 = Self::features(s, bound)
            .iter()
            .zip(&self.coef)
            .map(|(f, c)| f * c)
            .sum();
        // log2(1 + 2^z) without overflow for large z.
        if z > 30.0 {
            z
        } else {
            (1.0 + z.exp2()).log2()
        }
    }

    /// Predicted stored bytes of a tensor of `shape` with statistics `s` at `bound`.
    pub fn bytes(&self, s: &TensorStats, shape: &[usize], bound: f64) -> f64 {
        side_bytes(channel_count(shape)) + s.count as f64 / 8.0 * self.bits_per_value(s, bound)
    }

    /// The least-squares fit target of a measured point: the inverse softplus of the payload's
    /// bits per value (`None` where it is too close to 0 to invert usefully).
    pub fn target(stored_bytes: f64, n: usize, shape: &[usize]) -> Option<f64> {
        let bits = (stored_bytes - side_bytes(channel_count(shape))) * 8.0 / n.max(1) as f64;
        (bits > 0.05).then(|| (bits.exp2() - 1.0).log2())
    }

    /// Least-squares coefficients for `(features, target)` samples (normal equations, solved
    /// by Gaussian elimination with partial pivoting).
    pub fn fit(samples: &[([f64; CURVE_FEATURES], f64)]) -> Result<CurveModel> {
        const K: usize = CURVE_FEATURES;
        let mut a = [[0f64; K + 1]; K];
        for (f, t) in samples {
            for i in 0..K {
                for j in 0..K {
                    a[i][j] += f[i] * f[j];
                }
                a[i][K] += f[i] * t;
            }
        }
        for col in 0..K {
            let pivot = (col..K)
                .max_by(|&x, &y| a[x][col].abs().total_cmp(&a[y][col].abs()))
                .unwrap_or(col);
            if a[pivot][col].abs() < 1e-12 {
                return Err(Error::invalid_argument(
                    "the curve samples do not determine the model (too few or collinear)",
                ));
            }
            a.swap(col, pivot);
            let p = a[col];
            for (row, r) in a.iter_mut().enumerate() {
                if row != col {
                    let m = r[col] / p[col];
                    for (x, &y) in r[col..].iter_mut().zip(&p[col..]) {
                        *x -= m * y;
                    }
                }
            }
        }
        Ok(CurveModel {
            coef: std::array::from_fn(|i| a[i][K] / a[i][i]),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::learn::stats::tensor_stats;

    #[test]
    fn the_fit_recovers_known_coefficients() {
        let truth = [0.3, 1.0, 0.8, -0.5, 2.0, 0.1];
        let mut samples = Vec::new();
        for t in 0..40 {
            let x: Vec<f32> = (0..500)
                .map(|i| {
                    let v = ((i * (t + 3)) % 97) as f32 / 97.0 - 0.3;
                    if i % (t + 2) == 0 {
                        0.0
                    } else {
                        v * v * v * (1 + t % 5) as f32
                    }
                })
                .collect();
            let s = tensor_stats(&x);
            for b in [1e-4, 1e-3, 1e-2, 1e-1] {
                let f = CurveModel::features(&s, b);
                let y: f64 = f.iter().zip(&truth).map(|(a, c)| a * c).sum();
                samples.push((f, y));
            }
        }
        let m = CurveModel::fit(&samples).unwrap();
        for (c, t) in m.coef.iter().zip(&truth) {
            assert!((c - t).abs() < 1e-6, "{:?}", m.coef);
        }
        assert!(CurveModel::fit(&samples[..3]).is_err());
    }

    #[test]
    fn predicted_bytes_fall_with_the_bound_and_softplus_inverts_the_target() {
        let x: Vec<f32> = (0..4096).map(|i| (i as f32 * 0.7).sin()).collect();
        let s = tensor_stats(&x);
        let m = CurveModel::FITTED;
        let sizes: Vec<f64> = [1e-5, 1e-3, 1e-1, 0.5]
            .iter()
            .map(|&b| m.bytes(&s, &[64, 64], b))
            .collect();
        assert!(sizes.windows(2).all(|w| w[0] > w[1]), "{sizes:?}");
        // bits 3 → target log2(2^3 - 1) = log2 7, and back through the softplus.
        let bytes = 24.0 + 64.0 + 4096.0 * 3.0 / 8.0;
        let t = CurveModel::target(bytes, 4096, &[64, 64]).unwrap();
        assert!((t - 7f64.log2()).abs() < 1e-12);
        assert!(((1.0 + t.exp2()).log2() - 3.0).abs() < 1e-12);
    }
}
