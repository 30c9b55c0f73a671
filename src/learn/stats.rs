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
    finish(n, shift, [s1, s2, s3, s4], zeros)
}

/// The statistics of `n ≥ 1` values from their power sums `s` (Σd, Σd², Σd³, Σd⁴ with
/// `d = x − shift`) and their number of zeros.
fn finish(n: usize, shift: f64, s: [f64; 4], zeros: usize) -> TensorStats {
    let [s1, s2, s3, s4] = s;
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

/// Channels whose sums are accumulated side by side by [`channel_stats`].
const GROUP: usize = 8;
/// Values per channel moved into the transposed tile at a time (the tile is 16 KiB).
const TILE: usize = 256;

/// The power sums of one group of channels, lane `k` channel `k`'s: `[Σd, Σd², Σd³, Σd⁴]`
/// and the number of zeros.
type GroupSums = ([[f64; GROUP]; 4], [u64; GROUP]);

/// [`tensor_stats`] of each of [`GROUP`] channels of `per ≥ 1` values, stored back to back in
/// `data`, to the bit: each channel's sums take its values in order with the same operations.
///
/// Why: each of `tensor_stats`' four sums is one chain of dependent additions (≈ 4 cycles a
/// value whatever the CPU); eight channels side by side are eight independent chains, one
/// vector lane each (a value of each channel per row of the transposed channels).
fn group_stats(data: &[f32], per: usize, avx2: bool) -> [TensorStats; GROUP] {
    debug_assert!(per >= 1 && data.len() == GROUP * per);
    let shift: [f64; GROUP] = std::array::from_fn(|k| data[k * per] as f64);
    let mut sums: GroupSums = ([[0f64; GROUP]; 4], [0u64; GROUP]);
    let mut done = 0;
    #[cfg(target_arch = "x86_64")]
    if avx2 {
        // SAFETY: `avx2` is only true where the CPU supports AVX2 (`channel_stats`).
        done = unsafe { add_avx2(data, per, &shift, &mut sums) };
    }
    let _ = avx2;
    // The rest of each channel (all of it without AVX2), through a transposed tile.
    let mut tile = vec![[0f64; GROUP]; TILE.min(per - done)];
    for i0 in (done..per).step_by(TILE) {
        let m = TILE.min(per - i0);
        for k in 0..GROUP {
            let from = k * per + i0;
            for (t, &v) in tile.iter_mut().zip(&data[from..from + m]) {
                t[k] = v as f64;
            }
        }
        add_rows(&tile[..m], &shift, &mut sums);
    }
    let ([s1, s2, s3, s4], zeros) = sums;
    std::array::from_fn(|k| {
        finish(
            per,
            shift[k],
            [s1[k], s2[k], s3[k], s4[k]],
            zeros[k] as usize,
        )
    })
}

/// Adds the rows of a tile to the group's sums (`tensor_stats`' loop, lane by lane).
fn add_rows(rows: &[[f64; GROUP]], shift: &[f64; GROUP], sums: &mut GroupSums) {
    let ([s1, s2, s3, s4], zeros) = sums;
    for t in rows {
        for k in 0..GROUP {
            let x = t[k];
            zeros[k] += (x.abs() < SPARSITY_EPS) as u64;
            let d = x - shift[k];
            let d2 = d * d;
            s1[k] += d;
            s2[k] += d2;
            s3[k] += d2 * d;
            s4[k] += d2 * d2;
        }
    }
}

/// The first `8·⌊per/8⌋` values of each channel of the group added to `sums` on AVX2 (returns
/// that count): eight values of each channel loaded, transposed in registers (an 8 × 8 f32
/// transpose), and each row (one value of every channel) added as two vectors of four f64
/// lanes, with [`add_rows`]' IEEE operations (none fused) on each lane, hence the same sums.
/// The compiler's own vectorisation of `add_rows` spilled its 40 accumulators and gained
/// nothing; a scalar transposed tile cost more than the sums.
///
/// # Safety
/// The CPU must support AVX2; `data.len() = GROUP · per`.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn add_avx2(data: &[f32], per: usize, shift: &[f64; GROUP], sums: &mut GroupSums) -> usize {
    use std::arch::x86_64::*;
    assert_eq!(data.len(), GROUP * per);
    let ld = |p: &[f64]| _mm256_loadu_pd(p.as_ptr());
    let ([s1, s2, s3, s4], zeros) = sums;
    let (sh0, sh1) = (ld(&shift[..4]), ld(&shift[4..]));
    let (mut a1, mut b1) = (ld(&s1[..4]), ld(&s1[4..]));
    let (mut a2, mut b2) = (ld(&s2[..4]), ld(&s2[4..]));
    let (mut a3, mut b3) = (ld(&s3[..4]), ld(&s3[4..]));
    let (mut a4, mut b4) = (ld(&s4[..4]), ld(&s4[4..]));
    let (mut za, mut zb) = (_mm256_setzero_si256(), _mm256_setzero_si256());
    let eps = _mm256_set1_pd(SPARSITY_EPS);
    let sign = _mm256_set1_pd(-0.0);
    let end = per - per % 8;
    let p = data.as_ptr();
    for i in (0..end).step_by(8) {
        // SAFETY: channel k's values i..i + 8 lie within its `per` (i + 8 ≤ end ≤ per).
        let r: [__m256; 8] = std::array::from_fn(|k| _mm256_loadu_ps(p.add(k * per + i)));
        // 8 × 8 transpose: t[j] holds value i + j of channels 0..8.
        let u = [
            _mm256_unpacklo_ps(r[0], r[1]),
            _mm256_unpackhi_ps(r[0], r[1]),
            _mm256_unpacklo_ps(r[2], r[3]),
            _mm256_unpackhi_ps(r[2], r[3]),
            _mm256_unpacklo_ps(r[4], r[5]),
            _mm256_unpackhi_ps(r[4], r[5]),
            _mm256_unpacklo_ps(r[6], r[7]),
            _mm256_unpackhi_ps(r[6], r[7]),
        ];
        let v = [
            _mm256_shuffle_ps::<0x44>(u[0], u[2]),
            _mm256_shuffle_ps::<0xEE>(u[0], u[2]),
            _mm256_shuffle_ps::<0x44>(u[1], u[3]),
            _mm256_shuffle_ps::<0xEE>(u[1], u[3]),
            _mm256_shuffle_ps::<0x44>(u[4], u[6]),
            _mm256_shuffle_ps::<0xEE>(u[4], u[6]),
            _mm256_shuffle_ps::<0x44>(u[5], u[7]),
            _mm256_shuffle_ps::<0xEE>(u[5], u[7]),
        ];
        // v[j] (j < 4) holds value j of channels 0–3 in its low half and value j + 4 of the
        // same channels in its high half; v[j + 4] the same for channels 4–7.
        for j in 0..8 {
            let (lo, hi) = if j < 4 {
                (
                    _mm256_castps256_ps128(v[j]),
                    _mm256_castps256_ps128(v[j + 4]),
                )
            } else {
                (
                    _mm256_extractf128_ps::<1>(v[j - 4]),
                    _mm256_extractf128_ps::<1>(v[j]),
                )
            };
            let (x0, x1) = (_mm256_cvtps_pd(lo), _mm256_cvtps_pd(hi));
            // |x| < ε (ordered: false for NaN, as the scalar test); all ones = −1 per true lane.
            let z0 = _mm256_cmp_pd::<_CMP_LT_OQ>(_mm256_andnot_pd(sign, x0), eps);
            let z1 = _mm256_cmp_pd::<_CMP_LT_OQ>(_mm256_andnot_pd(sign, x1), eps);
            za = _mm256_sub_epi64(za, _mm256_castpd_si256(z0));
            zb = _mm256_sub_epi64(zb, _mm256_castpd_si256(z1));
            let (d0, d1) = (_mm256_sub_pd(x0, sh0), _mm256_sub_pd(x1, sh1));
            let (e0, e1) = (_mm256_mul_pd(d0, d0), _mm256_mul_pd(d1, d1));
            a1 = _mm256_add_pd(a1, d0);
            b1 = _mm256_add_pd(b1, d1);
            a2 = _mm256_add_pd(a2, e0);
            b2 = _mm256_add_pd(b2, e1);
            a3 = _mm256_add_pd(a3, _mm256_mul_pd(e0, d0));
            b3 = _mm256_add_pd(b3, _mm256_mul_pd(e1, d1));
            a4 = _mm256_add_pd(a4, _mm256_mul_pd(e0, e0));
            b4 = _mm256_add_pd(b4, _mm256_mul_pd(e1, e1));
        }
    }
    let st = |v: __m256d, w: __m256d, out: &mut [f64; GROUP]| {
        _mm256_storeu_pd(out.as_mut_ptr(), v);
        _mm256_storeu_pd(out.as_mut_ptr().add(4), w);
    };
    st(a1, b1, s1);
    st(a2, b2, s2);
    st(a3, b3, s3);
    st(a4, b4, s4);
    let mut z = [0u64; GROUP];
    _mm256_storeu_si256(z.as_mut_ptr() as *mut __m256i, za);
    _mm256_storeu_si256(z.as_mut_ptr().add(4) as *mut __m256i, zb);
    for (a, b) in zeros.iter_mut().zip(z) {
        *a += b;
    }
    end
}

/// Statistics of each channel (a slice along the first axis other than 1; see [`channel_count`]).
pub fn channel_stats(data: &[f32], shape: &[usize]) -> Result<Vec<TensorStats>> {
    let n = check_shape(data.len(), shape)?;
    let channels = channel_count(shape);
    if channels == 0 {
        return Ok(Vec::new());
    }
    let per = n / channels;
    #[cfg(target_arch = "x86_64")]
    let avx2 = std::is_x86_feature_detected!("avx2");
    #[cfg(not(target_arch = "x86_64"))]
    let avx2 = false;
    Ok(channel_stats_with(data, per, avx2))
}

/// The statistics of the channels of `per ≥ 1` values each that fill `data`: groups of
/// [`GROUP`] side by side, the rest one at a time; each the channel's [`tensor_stats`].
fn channel_stats_with(data: &[f32], per: usize, avx2: bool) -> Vec<TensorStats> {
    let groups = data.chunks_exact(GROUP * per);
    let rest = groups.remainder();
    let mut out = Vec::with_capacity(data.len() / per);
    for g in groups {
        out.extend(group_stats(g, per, avx2));
    }
    out.extend(rest.chunks_exact(per).map(tensor_stats));
    out
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

    /// Equal to the bit, or both NaN (a NaN's payload may depend on the operand order).
    fn same(a: &TensorStats, b: &TensorStats) -> bool {
        let f = |x: f64, y: f64| x.to_bits() == y.to_bits() || (x.is_nan() && y.is_nan());
        a.count == b.count && a.features().iter().zip(b.features()).all(|(&x, y)| f(x, y))
    }

    #[test]
    fn grouped_channels_are_each_channels_own_statistics() {
        // Channel counts around the group of eight, lengths around the tile: every channel's
        // statistics must be `tensor_stats` of its own values, to the bit.
        let mut u = crate::util::test_rng::uniform(19);
        for (channels, per) in [
            (8, 1),
            (8, 3),
            (9, 256),
            (16, 257),
            (17, 600),
            (3, 40),
            (24, 513),
        ] {
            let mut data: Vec<f32> = (0..channels * per)
                .map(|_| ((u() - 0.3) * 1e3).powi(3) as f32)
                .collect();
            // Zeros, a constant channel, values far from zero, a NaN and an infinity.
            for v in data.iter_mut().step_by(7) {
                *v = 0.0;
            }
            if channels > 9 {
                data[2 * per..3 * per].fill(5.5);
                data[9 * per..10 * per].iter_mut().for_each(|v| *v += 1e6);
                data[4 * per + per / 2] = f32::NAN;
                data[5 * per] = f32::INFINITY;
            }
            let want: Vec<TensorStats> = data.chunks_exact(per).map(tensor_stats).collect();
            let mut paths = vec![false];
            #[cfg(target_arch = "x86_64")]
            if std::is_x86_feature_detected!("avx2") {
                paths.push(true);
            }
            for avx2 in paths {
                let got = channel_stats_with(&data, per, avx2);
                assert_eq!(got.len(), channels);
                for (c, (g, w)) in got.iter().zip(&want).enumerate() {
                    assert!(
                        same(g, w),
                        "{channels}×{per} channel {c} avx2 {avx2}: {g:?} {w:?}"
                    );
                }
            }
            if per > 1 {
                let shape = [channels, per];
                assert_eq!(channel_stats(&data, &shape).unwrap().len(), channels);
            }
        }
    }

    #[test]
    fn grouped_channels_match_hand_computed_values() {
        // Eight channels of [1, 2, 3, 4] + 10c: mean 2.5 + 10c, var 1.25, skew 0, kurtosis
        // 1.64 (as `hand_computed_small_vector`), through the grouped path.
        let data: Vec<f32> = (0..8)
            .flat_map(|c| [1.0, 2.0, 3.0, 4.0].map(|v| v + 10.0 * c as f32))
            .collect();
        let got = channel_stats(&data, &[8, 4]).unwrap();
        for (c, s) in got.iter().enumerate() {
            assert!((s.mean - (2.5 + 10.0 * c as f64)).abs() < 1e-12, "{c}");
            assert!((s.var - 1.25).abs() < 1e-12, "{c}");
            assert!(s.skew.abs() < 1e-12, "{c}");
            assert!((s.kurtosis - 1.64).abs() < 1e-12, "{c}");
            assert_eq!(s.sparsity, 0.0);
        }
    }

    #[test]
    fn trivial_dimensions_do_not_make_channels() {
        for s in [
            &[7][..],
            &[7, 1],
            &[1, 7],
            &[7, 1, 1],
            &[1, 1, 7],
            &[1],
            &[1, 1],
            &[],
        ] {
            assert_eq!(channel_count(s), 1, "{s:?}");
        }
        assert_eq!(channel_count(&[3, 4]), 3);
        assert_eq!(channel_count(&[1, 3, 4]), 3);
        assert_eq!(channel_count(&[3, 1, 4]), 3);
        assert_eq!(channel_count(&[1, 0]), 0);
        assert_eq!(crate::util::shape::legacy_channel_count(&[7, 1]), 7);
        assert_eq!(crate::util::shape::legacy_channel_count(&[1, 3, 4]), 1);
        assert_eq!(crate::util::shape::effective_rank(&[7, 1, 1]), 1);
        assert_eq!(crate::util::shape::effective_rank(&[1, 3, 4]), 2);
        // The channels of (1, 3, 4) are the rows of (3, 4): same statistics.
        let data: Vec<f32> = (0..12).map(|i| (i * i) as f32).collect();
        assert_eq!(
            channel_stats(&data, &[1, 3, 4]).unwrap(),
            channel_stats(&data, &[3, 4]).unwrap()
        );
    }
}
