//! Tensor statistics: the predictor's six features, for a whole tensor or per channel.
//!
//! Semantics follow the original prototype exactly (GUIDE §1): population variance,
//! `std = sqrt(var)` or 1e-8 when var is 0, skew = mean(z³), kurtosis = mean(z⁴) (not excess),
//! sparsity = fraction of |x| < 1e-6. Accumulation is in f64.
//!
//! "One pass": the moments are accumulated as raw power sums about a shift (the first value),
//! which keeps the pass single while avoiding the catastrophic cancellation of plain Σx², Σx³
//! for tensors whose mean is far from zero (biases, LayerNorm gains).

use crate::error::Result;
pub use crate::util::shape::{channel_count, check_shape};

/// Values with |x| below this count as zero for `sparsity` (the prototype's constant).
pub const SPARSITY_EPS: f64 = 1e-6;

/// Statistics of one tensor or channel.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct TensorStats {
    /// Mean of the values.
    pub mean: f64,
    /// Population variance.
    pub var: f64,
    /// sqrt(var), or 1e-8 when var is 0.
    pub std: f64,
    /// mean(z³), z = (x − mean)/std.
    pub skew: f64,
    /// mean(z⁴) (Pearson kurtosis, 3 for a Gaussian).
    pub kurtosis: f64,
    /// Fraction of values with |x| < 1e-6.
    pub sparsity: f64,
    /// Number of values summarised.
    pub count: usize,
}

impl TensorStats {
    /// The predictor's feature vector `[mean, var, std, skew, kurtosis, sparsity]`.
    pub fn features(&self) -> [f64; 6] {
        [
            self.mean,
            self.var,
            self.std,
            self.skew,
            self.kurtosis,
            self.sparsity,
        ]
    }
}

/// Statistics of a whole tensor (any shape, flattened). An empty slice gives all zeros with
/// `std = 1e-8`. Non-finite values propagate into the moments; callers that must not see NaN
/// check finiteness first (the encoder does).
pub fn tensor_stats(data: &[f32]) -> TensorStats {
    let n = data.len();
    if n == 0 {
        return TensorStats {
            std: 1e-8,
            ..Default::default()
        };
    }
    let shift = data[0] as f64;
    let (mut s1, mut s2, mut s3, mut s4) = (0.0f64, 0.0f64, 0.0f64, 0.0f64);
    let mut zeros = 0usize;
    for &v in data {
        let x = v as f64;
        if x.abs() < SPARSITY_EPS {
            zeros += 1;
        }
        let d = x - shift;
        let d2 = d * d;
        s1 += d;
        s2 += d2;
        s3 += d2 * d;
        s4 += d2 * d2;
    }
    let nf = n as f64;
    // Central moments from raw moments about `shift`.
    let m1 = s1 / nf;
    let r2 = s2 / nf;
    let r3 = s3 / nf;
    let r4 = s4 / nf;
    let mean = shift + m1;
    let var = (r2 - m1 * m1).max(0.0);
    let mu3 = r3 - 3.0 * m1 * r2 + 2.0 * m1 * m1 * m1;
    let mu4 = r4 - 4.0 * m1 * r3 + 6.0 * m1 * m1 * r2 - 3.0 * m1 * m1 * m1 * m1;
    let std = if var > 0.0 { var.sqrt() } else { 1e-8 };
    let (skew, kurtosis) = if var > 0.0 {
        (mu3 / (std * std * std), (mu4 / (var * var)).max(0.0))
    } else {
        // z = 0 for every value when the tensor is constant (up to the 1e-8 floor).
        (0.0, 0.0)
    };
    TensorStats {
        mean,
        var,
        std,
        skew,
        kurtosis,
        sparsity: zeros as f64 / nf,
        count: n,
    }
}

/// Statistics of each channel (a slice along the first axis; see [`channel_count`]).
pub fn channel_stats(data: &[f32], shape: &[usize]) -> Result<Vec<TensorStats>> {
    let n = check_shape(data.len(), shape)?;
    let channels = channel_count(shape);
    if channels == 0 {
        return Ok(Vec::new());
    }
    let per = n / channels;
    Ok(data.chunks_exact(per).map(tensor_stats).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hand_computed_small_vector() {
        // x = [1, 2, 3, 4]: mean 2.5, var 1.25, z = ±1.3416, ±0.4472
        let s = tensor_stats(&[1.0, 2.0, 3.0, 4.0]);
        assert!((s.mean - 2.5).abs() < 1e-12);
        assert!((s.var - 1.25).abs() < 1e-12);
        assert!(s.skew.abs() < 1e-12);
        // mean(z^4) = (2*(1.5^4) + 2*(0.5^4)) / 4 / 1.25^2 = 1.64
        assert!((s.kurtosis - 1.64).abs() < 1e-12);
        assert_eq!(s.sparsity, 0.0);
    }

    #[test]
    fn constant_tensor_has_floor_std_and_no_nan() {
        let s = tensor_stats(&[0.5; 10]);
        assert_eq!(s.var, 0.0);
        assert_eq!(s.std, 1e-8);
        assert_eq!(s.skew, 0.0);
        assert_eq!(s.kurtosis, 0.0);
    }

    #[test]
    fn channels_follow_first_axis() {
        let data = [0.0, 0.0, 1.0, 3.0];
        let c = channel_stats(&data, &[2, 2]).unwrap();
        assert_eq!(c.len(), 2);
        assert_eq!(c[0].sparsity, 1.0);
        assert!((c[1].mean - 2.0).abs() < 1e-12);
        assert_eq!(channel_stats(&data, &[4]).unwrap().len(), 1);
        assert!(channel_stats(&data, &[3]).is_err());
        assert_eq!(channel_count(&[5, 0, 3]), 0);
    }
}
