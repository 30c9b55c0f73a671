//! Whether a long rest plane is clearly close to uniform, decided on a sample, so that it is
//! stored without its byte histogram.
//!
//! Why: the laned split (`laned.rs`) stores a rest plane when rANS would save under 0.5 % of
//! it (`uniform_by`), and takes the plane's byte histogram to learn that. The rest bytes of
//! float16 weights (the sign and the seven low mantissa bits) are as good as uniform, so that
//! histogram, an increment per byte, was about a sixth of their encode (the MiniLM embeddings:
//! 2.4 M bytes), only to store the plane.
//!
//! The screen counts the bytes of [`RUNS`] runs of [`RUN`] bytes spread evenly over the plane
//! and predicts the whole plane's statistic of `uniform_by`, `Σ (256·c − n)²` = 256·n·χ², from
//! the sample's χ² per byte: χ² ≈ n·(χ²_sample / N) + 255 (255: the χ² a uniform plane shows by
//! chance, on average). The plane is taken as uniform when that prediction is under half of
//! `uniform_by`'s bound (14·n² from 74 899 bytes). The margin:
//! - χ²_sample / N counts the sample's own chance χ² (about 255 / 32 768 ≈ 0.008 a byte) as if
//!   it were the plane's skew: the prediction is high by about 0.008·256/14 ≈ 0.15 of the
//!   bound, so only planes whose skew is well under the bound's half pass;
//! - what the sample can miss is a region unlike the rest shorter than the gap between runs
//!   (1/63 of the plane).
//!
//! Measured on the 282 tensor × type cases of `bench/lossless.py` (payloads identical,
//! `lossless_hashes`): 65 rest planes are long enough to be screened, all uniform by the full
//! test. 38 pass: the float16 rest planes of the MiniLM weights and the two low rest bytes of
//! their float32 form, whose statistic is 0.005–0.052 of the bound, predicted at 0.13–0.20.
//! 27 keep the histogram: the bfloat16 rest planes and float32's top rest bytes (0.72–0.79 of
//! the bound: the leading mantissa bits are skewed), predicted at 0.82–0.96, and one float32
//! embeddings plane (0.025, predicted 0.65).

/// Bytes per sampled run.
const RUN: usize = 512;
/// Sampled runs, spread evenly from the first byte to the last.
const RUNS: usize = 64;
/// Planes shorter than this keep the full test (the sample would be over a third of them;
/// and from here `uniform_by`'s bound is 14·n²).
pub(crate) const SCREEN_FROM: usize = 3 * RUN * RUNS;

/// Whether the sample of `data` predicts that `uniform_by` would find the plane uniform with
/// a factor of 2 to spare (module doc). Integer arithmetic: deterministic.
pub(crate) fn clearly_uniform(data: &[u8]) -> bool {
    let n = data.len();
    if n < SCREEN_FROM {
        return false;
    }
    let mut h = [0u32; 256];
    for i in 0..RUNS {
        let start = i * (n - RUN) / (RUNS - 1);
        for &b in &data[start..start + RUN] {
            h[b as usize] += 1;
        }
    }
    let ns = (RUN * RUNS) as i128;
    // s = Σ (256·c − N)² = 256·N·χ²_sample.
    let s: i128 = h
        .iter()
        .map(|&c| {
            let d = 256 * c as i128 - ns;
            d * d
        })
        .sum();
    // Predicted 256·n·(n·χ²_s/N + 255) < 7·n²  ⇔  n·s + 65 280·N² < 7·n·N².
    let n = n as i128;
    n * s + 65_280 * ns * ns < 7 * n * ns * ns
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::entropy::floatbits::uniform_by;
    use crate::entropy::order0::histogram;

    /// `n` bytes of a generator: uniform, or skewed towards the low values by `skew`/256 (a
    /// byte of the low half replaces the draw that often).
    fn plane(n: usize, skew: u64) -> Vec<u8> {
        let mut s = 0x2545_F491_4F6C_DD1Du64;
        (0..n)
            .map(|_| {
                s = s.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
                let r = s >> 24;
                if r % 256 < skew {
                    (r >> 8) as u8 & 0x7F
                } else {
                    (r >> 16) as u8
                }
            })
            .collect()
    }

    /// A uniform plane passes and the full test agrees; a plane skewed beyond the full
    /// test's bound does not pass; nor does one near the bound (where the full test still
    /// stores it, but with little to spare).
    #[test]
    fn only_clearly_uniform_planes_pass() {
        let n = 200_000;
        let uniform = plane(n, 0);
        assert!(clearly_uniform(&uniform));
        assert!(uniform_by(&histogram(&uniform), n));
        // A skew of q/256 towards half the values: χ²/n = (q/256)² exactly in the limit, so the
        // bound (χ²/n < 14/256) sits near q = 60.
        let skewed = plane(n, 96);
        assert!(!uniform_by(&histogram(&skewed), n));
        assert!(!clearly_uniform(&skewed));
        let near = plane(n, 50);
        assert!(uniform_by(&histogram(&near), n));
        assert!(!clearly_uniform(&near));
    }

    /// Short planes are left to the full test; a skewed region that covers a tenth of the
    /// plane is sampled.
    #[test]
    fn short_planes_and_skewed_regions_keep_the_histogram() {
        assert!(!clearly_uniform(&plane(SCREEN_FROM - 1, 0)));
        let n = 300_000;
        let mut p = plane(n, 0);
        p[n / 3..n / 3 + n / 10].fill(0);
        assert!(!uniform_by(&histogram(&p), n));
        assert!(!clearly_uniform(&p));
    }
}
