//! The relative-L2 step search's first pass, on the threads: the data's norm statistics, the
//! strided subsample the search starts on (with its own statistics), and whether any value is
//! non-finite, all from one read of the data. Before, the non-finite scan and the statistics
//! were two passes on the threads, and the subsample's gather and statistics ran on the calling
//! thread alone (≈ 0.7 M instructions of a 1 M-value compression's serial work).
//!
//! Every figure is the one the separate passes gave: the statistics are added block by block
//! in order (fixed blocks of [`SUM_BLOCK`] values), and the subsample's count of non-zero values
//! and largest magnitude do not depend on the order in which its values are seen.

use super::quant::norm_stats_pair;

/// Values per block of the sums (fixed, so the sums do not depend on the thread count).
pub(crate) const SUM_BLOCK: usize = 1 << 16;
/// The subsample's size, about: the search starts on it from this many times that many values.
const SUB: usize = 1 << 16;

/// What the first pass learns.
pub(crate) struct Prescan {
    /// `(Σ x², number of non-zero values, max |x|)` of the data, blocks added in order.
    pub(crate) stats: (f64, usize, f32),
    /// Every value is finite (else `stats` and `sub` mean nothing: the caller scans for the
    /// non-finite values and runs the pass again on the cleaned data).
    pub(crate) finite: bool,
    /// The subsample (every `stride`-th value from the first) and its number of non-zero values
    /// and largest magnitude, for tensors of at least 4 · 2^16 values.
    pub(crate) sub: Option<(Vec<f32>, usize, f32)>,
    /// The smallest and largest value of each row, when asked for (`fused.rs`: the search's
    /// passes then write the codes without reading a row twice), else empty.
    pub(crate) rows: Vec<(f32, f32)>,
}

/// The subsample's stride for `n` values: about n / 2^16, made prime so that the sample does
/// not align with the rows' period. `None` below 4 · 2^16 values (no subsample).
fn sub_stride(n: usize) -> Option<usize> {
    if n < 4 * SUB {
        return None;
    }
    let mut stride = n / SUB;
    while (2..stride)
        .take_while(|d| d * d <= stride)
        .any(|d| stride % d == 0)
    {
        stride += 1;
    }
    Some(stride)
}

/// The first pass over `data` on up to `threads` threads; with `per` > 0, also the extremes
/// of its rows of `per` values.
pub(crate) fn scan(data: &[f32], threads: usize, per: usize) -> Prescan {
    scan_holed(data, &[], threads, per)
}

/// [`scan`] of `data` with zeros in its `holes` (kept non-finite values, `holes.rs`).
pub(crate) fn scan_holed(
    data: &[f32],
    holes: &[(u64, f32)],
    threads: usize,
    per: usize,
) -> Prescan {
    let stride = sub_stride(data.len());
    let blocks = data.len().div_ceil(SUM_BLOCK);
    // Two blocks a work item, their sums made side by side (`norm_stats_pair`: one chain of
    // additions per block; each block's sum the one-block kernel's).
    let pairs = crate::util::par::map(threads, blocks.div_ceil(2), |k| {
        let range =
            |b: usize| (b * SUM_BLOCK).min(data.len())..((b + 1) * SUM_BLOCK).min(data.len());
        let (mut s0, mut s1) = (Vec::new(), Vec::new());
        let a = super::holes::piece(data, range(2 * k), holes, &mut s0);
        let b = super::holes::piece(data, range(2 * k + 1), holes, &mut s1);
        let stats = norm_stats_pair(a, b);
        [(2 * k, a, stats[0]), (2 * k + 1, b, stats[1])].map(|(i, block, stats)| {
            // This block's share of the subsample: the indices that are multiples of the stride.
            let start = i * SUM_BLOCK;
            let piece: Vec<f32> = match stride {
                Some(s) => block
                    .iter()
                    .skip(start.next_multiple_of(s) - start)
                    .step_by(s)
                    .copied()
                    .collect(),
                None => Vec::new(),
            };
            let (mut nonzero, mut max_abs) = (0usize, 0.0f32);
            for &x in &piece {
                nonzero += (x != 0.0) as usize;
                max_abs = if x.abs() > max_abs { x.abs() } else { max_abs };
            }
            (
                stats,
                piece,
                nonzero,
                max_abs,
                row_pieces(block, start, per),
            )
        })
    });
    let parts = pairs.into_iter().flatten().take(blocks);
    let (mut norm_sq, mut nonzero, mut max_abs, mut finite) = (0.0f64, 0usize, 0.0f32, true);
    let mut sub = Vec::with_capacity(if stride.is_some() { SUB + 1 } else { 0 });
    let (mut sub_nonzero, mut sub_max) = (0usize, 0.0f32);
    let mut rows: Vec<(f32, f32)> = Vec::with_capacity(data.len().checked_div(per).unwrap_or(0));
    for (i, ((a, z, m), piece, pz, pm, ext)) in parts.enumerate() {
        // A row begun in the previous block continues in this one's first piece.
        let mut ext = ext.into_iter();
        if per > 0 && (i * SUM_BLOCK) % per != 0 {
            if let (Some(last), Some((lo, hi))) = (rows.last_mut(), ext.next()) {
                *last = (last.0.min(lo), last.1.max(hi));
            }
        }
        rows.extend(ext);
        // Σ x² of finite float32 values, in f64, cannot overflow over a block (65 536 · 2^256):
        // a non-finite block sum means a non-finite value (∞² = ∞, NaN stays NaN).
        finite &= a.is_finite();
        norm_sq += a;
        nonzero += z;
        max_abs = max_abs.max(m);
        sub.extend_from_slice(&piece);
        sub_nonzero += pz;
        sub_max = sub_max.max(pm);
    }
    Prescan {
        stats: (norm_sq, nonzero, max_abs),
        finite,
        sub: stride.map(|_| (sub, sub_nonzero, sub_max)),
        rows,
    }
}

/// The extremes of each row's piece in `block` (its first value at index `start`; rows of
/// `per` values, none when 0), a piece with a non-finite value as `(0, 0)` (the scan then
/// reports the data not finite, and nothing is read of it).
fn row_pieces(block: &[f32], start: usize, per: usize) -> Vec<(f32, f32)> {
    if per == 0 {
        return Vec::new();
    }
    let mut out = Vec::with_capacity(block.len() / per + 2);
    let mut pos = 0;
    while pos < block.len() {
        let to = (pos + per - (start + pos) % per).min(block.len());
        out.push(super::quant_direct::extremes(&block[pos..to]).unwrap_or((0.0, 0.0)));
        pos = to;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec::quant::norm_stats_block;

    /// The separate passes the scan replaces: the statistics of the whole data, and the
    /// subsample gathered from the start with its own statistics.
    fn separate(data: &[f32]) -> Prescan {
        let mut stats = (0.0f64, 0usize, 0.0f32);
        for b in data.chunks(SUM_BLOCK) {
            let (a, z, m) = norm_stats_block(b);
            stats = (stats.0 + a, stats.1 + z, stats.2.max(m));
        }
        let sub = sub_stride(data.len()).map(|s| {
            let sub: Vec<f32> = data.iter().step_by(s).copied().collect();
            let (_, z, m) = norm_stats_block(&sub);
            (sub, z, m)
        });
        Prescan {
            stats,
            finite: true,
            sub,
            rows: Vec::new(),
        }
    }

    fn data(n: usize) -> Vec<f32> {
        // Deterministic values with zeros, both signs and a wide range of magnitudes.
        (0..n)
            .map(|i| {
                let h = (i as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 40;
                if h % 7 == 0 {
                    0.0
                } else {
                    (h as f32 - 8e6) * 1e-3 * (1 + i % 5) as f32
                }
            })
            .collect()
    }

    #[test]
    fn one_pass_gives_what_the_separate_passes_gave() {
        // Below the subsample's size, at it, and sizes whose blocks and stride do not align.
        for n in [
            0usize,
            1,
            1000,
            4 * SUB - 1,
            4 * SUB,
            300_007,
            1 << 20,
            1_048_583,
        ] {
            let x = data(n);
            let Prescan { stats, sub, .. } = separate(&x);
            for threads in [1, 2, 3] {
                let p = scan(&x, threads, 0);
                assert!(p.finite, "{n}");
                assert_eq!(p.stats.0.to_bits(), stats.0.to_bits(), "{n} {threads}");
                assert_eq!((p.stats.1, p.stats.2), (stats.1, stats.2), "{n} {threads}");
                match (&p.sub, &sub) {
                    (None, None) => assert!(n < 4 * SUB),
                    (Some(a), Some(b)) => {
                        assert!(a
                            .0
                            .iter()
                            .map(|v| v.to_bits())
                            .eq(b.0.iter().map(|v| v.to_bits())));
                        assert_eq!((a.1, a.2), (b.1, b.2), "{n} {threads}");
                    }
                    _ => panic!("{n}: subsample present in one only"),
                }
            }
        }
    }

    #[test]
    fn stride_is_prime_and_about_n_over_the_sample() {
        assert_eq!(sub_stride(4 * SUB - 1), None);
        assert_eq!(sub_stride(4 * SUB), Some(5));
        assert_eq!(sub_stride(1 << 20), Some(17));
        assert_eq!(sub_stride(2_359_296), Some(37));
    }

    #[test]
    fn any_non_finite_value_is_seen() {
        let n = 3 * SUM_BLOCK + 5;
        for bad in [f32::NAN, f32::INFINITY, f32::NEG_INFINITY] {
            // In every block, at the edges too, and where the subsample does not look.
            for i in [0, 1, SUM_BLOCK - 1, SUM_BLOCK, 2 * SUM_BLOCK + 7, n - 1] {
                let mut x = data(n);
                x[i] = bad;
                for threads in [1, 2] {
                    assert!(!scan(&x, threads, 0).finite, "{bad} at {i}");
                }
            }
        }
        // The largest finite values still sum to a finite value over a block.
        let x = vec![f32::MAX; 2 * SUM_BLOCK];
        assert!(scan(&x, 2, 0).finite);
    }
}
