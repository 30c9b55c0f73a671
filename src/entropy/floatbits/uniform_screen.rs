//! Whether a long rest plane is clearly close to uniform, decided on a sample, so that it is
//! stored without its byte histogram.
//!
//! Why: the laned split (`laned.rs`) stores a rest plane when rANS would save under 0.5 % of
//! it (`uniform_by`), and takes the plane's byte histogram to learn that. The rest bytes of
//! 16-bit weights (the sign and seven mantissa bits) are close enough to uniform to be stored,
//! so that histogram, an increment per byte, was about a sixth of their encode (the MiniLM
//! embeddings: 2.4 M bytes), only to store the plane.
//!
//! The screen counts the bytes of [`RUNS`] runs of [`RUN`] bytes spread evenly over the plane
//! and predicts the whole plane's statistic of `uniform_by`, `S = Σ (256·c − n)²`, from the
//! sample's `s` (the same sum over its `N` bytes). In expectation `s` = 65 280·N (the chance
//! part, 256·255 per byte, that any finite count shows) + N²·K (the skew `K` of the bytes'
//! law), and `S` the same with `n`; so `S ≈ 65 280·n + n²·(s − 65 280·N) / N²`. The plane is
//! stored at once when that is under 0.9 of `uniform_by`'s bound (14·n² from 74 899 bytes),
//! else the full test decides as before.
//!
//! The margin: the prediction's error on the planes measured below is at most 0.09 of the
//! bound (sampling, and tensors whose rows differ), against 0.1 between the threshold and the
//! bound; and a plane the screen wrongly stores is one where rANS saves barely more than
//! 0.5 %: its statistic is proportional to that saving, so a plane predicted under 0.9 of the
//! bound that is in fact at 1.2 of it (an error the size of the largest seen, doubled) loses
//! 0.6 % of the plane. A region the runs miss is shorter than the gap between them (1/63 of
//! the plane) and adds at most 256·(1/63)² ≈ 0.065 to χ²/n, 1.2 of the bound, were it all
//! one byte value.
//!
//! Measured on the 282 tensor × type cases of `bench/lossless.py` (payloads identical,
//! `lossless_hashes`): 65 rest planes are long enough to be screened, all uniform by the full
//! test, and all pass. The float16 rest planes of the MiniLM weights and the two low rest
//! bytes of their float32 form: statistic 0.004–0.052 of the bound, predicted −0.01–0.06, but
//! one float32 embeddings plane at 0.025 predicted 0.50; the bfloat16 rest planes and
//! float32's top rest bytes (the leading mantissa bits are skewed): 0.72–0.79, predicted
//! 0.67–0.82.

/// Bytes per sampled run.
pub(crate) const RUN: usize = 512;
/// Sampled runs, spread evenly from the first byte to the last.
const RUNS: usize = 64;
/// Planes shorter than this keep the full test (the sample would be over a third of them;
/// and from here `uniform_by`'s bound is 14·n²).
pub(crate) const SCREEN_FROM: usize = 3 * RUN * RUNS;

/// Whether the sample of `data` predicts that `uniform_by` would find the plane uniform, below
/// 0.9 of its bound (module doc). Integer arithmetic: deterministic.
pub(crate) fn clearly_uniform(data: &[u8]) -> bool {
    clearly_uniform_by(data.len(), |start, run| {
        run.extend_from_slice(&data[start..start + RUN])
    })
}

/// [`clearly_uniform`] of a plane of `n` bytes whose run of [`RUN`] bytes from `start`
/// `run_at(start, run)` appends to `run` (a plane gathered from the elements as it is read).
pub(crate) fn clearly_uniform_by(n: usize, mut run_at: impl FnMut(usize, &mut Vec<u8>)) -> bool {
    if n < SCREEN_FROM {
        return false;
    }
    let mut h = [0u32; 256];
    let mut run = Vec::with_capacity(RUN);
    for i in 0..RUNS {
        run.clear();
        run_at(i * (n - RUN) / (RUNS - 1), &mut run);
        for &b in &run {
            h[b as usize] += 1;
        }
    }
    let ns = (RUN * RUNS) as i128;
    // s = Σ (256·c − N)².
    let s: i128 = h
        .iter()
        .map(|&c| {
            let d = 256 * c as i128 - ns;
            d * d
        })
        .sum();
    // 65 280·n + n²·(s − 65 280·N) / N² < 0.9 · 14·n²  ⇔
    // 10·n·(s − 65 280·N) + 652 800·N² < 126·n·N².
    let n = n as i128;
    10 * n * (s - 65_280 * ns) + 652_800 * ns * ns < 126 * n * ns * ns
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

    /// A uniform plane passes and the full test agrees; so does one at 0.7 of the bound; planes
    /// skewed beyond the bound, just (1.07) or far, do not pass.
    #[test]
    fn only_planes_well_below_the_bound_pass() {
        let n = 200_000;
        let uniform = plane(n, 0);
        assert!(clearly_uniform(&uniform));
        assert!(uniform_by(&histogram(&uniform), n));
        // A skew of q/256 towards half the values: χ²/n = (q/256)² in the limit, and the bound
        // is χ²/n < 14/256: q = 50 is at 0.70 of it, 62 at 1.07, 96 at 2.6.
        let below = plane(n, 50);
        assert!(uniform_by(&histogram(&below), n));
        assert!(clearly_uniform(&below));
        for q in [62, 96] {
            let skewed = plane(n, q);
            assert!(!uniform_by(&histogram(&skewed), n), "q {q}");
            assert!(!clearly_uniform(&skewed), "q {q}");
        }
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
