//! Whether the heads' predecessor contexts (`context.rs`) can pay, decided on a sample first.
//!
//! Why: `context::histogram_and_contexts` counts every (predecessor, head) pair of a long stream
//! in a 256 KiB table just to learn, on weights and embeddings, that contexts save about 0.2 %
//! where they must save 2 % (a quarter of the encode time of the bfloat16 MiniLM weights). A
//! byte histogram is cheaper (four 1 KiB tables in the L1 cache, no table to zero and fold),
//! and the laned coder needs only the histogram.
//!
//! The screen counts the pairs of [`CHUNKS`] runs of [`CHUNK`] heads spread evenly over the
//! stream (each run's first head after its real predecessor), in the contexts that the whole
//! stream's histogram gives (the same owners as `context::choose`), and estimates the ratio of
//! the context coding's ideal bits to order-0's on that sample. Contexts are taken as unable to
//! pay when that ratio, applied to the whole stream's order-0 bits, is still at least 99 % of
//! the whole stream's order-0 estimate with its table; otherwise the full pair counts decide as
//! before. The margin (1 % of the estimate, half the 2 % that contexts must save):
//! - the context coding's estimate is its ideal bits plus its tables, so it is never below the
//!   ideal bits: leaving the tables out of the screen only makes it say "may pay" more often;
//! - the sample's plug-in entropies are Miller–Madow corrected ([`corrected_bits`]): left as
//!   they are, a context's few symbols look more predictable than they are, and the sample
//!   overstates what contexts save (by about 0.5 % on the MiniLM weights);
//! - what the sample can miss is a region unlike the rest that is shorter than the gap
//!   between runs (1/63 of the stream); for contexts to save 2 % overall through such a
//!   region, it must save more than its own share of bits. Runs of 512 at 64 places keep
//!   that gap small.
//!
//! Measured on the 282 tensor × type cases of `bench/lossless.py` (payloads identical,
//! `lossless_hashes`): 39 streams are long enough to be screened, the heads of the 13 MiniLM
//! weights as float32, bfloat16 and float16, where the full estimate's ratio is 0.9966–1.023
//! (contexts do not pay). The screen's ratio is 0.9866–0.9993 there, below the full one each
//! time (the tables), so 37 skip the pair counts and two (one 384 × 384 weight as float32 and
//! bfloat16, full ratio 0.9966) are counted in full. The streams where contexts pay on that
//! data (gradients, images) are shorter than the screen's minimum; the tests cover long ones.

use super::context::{self, Histogram};
use super::hot_histogram::histogram;
use crate::util::detmath::det_log2_int;

/// Heads per sampled run.
const CHUNK: usize = 512;
/// Sampled runs, spread evenly from the first head to the last.
const CHUNKS: usize = 64;
/// Streams shorter than this are decided by the full pair counts at once: the sample would be
/// over a third of them.
const SCREEN_FROM: usize = 3 * CHUNK * CHUNKS;
/// Contexts cannot pay when the screen's estimate reaches this share of order-0's (they must
/// go below 0.98 of it, `context::choose`).
const CANNOT_PAY_RATIO: f64 = 0.99;

/// `context::histogram_and_contexts` (the same answer on the tensors measured; module doc),
/// skipping the pair counts of a long stream where the sample shows contexts cannot pay.
pub(crate) fn histogram_and_contexts(sym: &[u8]) -> Histogram {
    if sym.len() < SCREEN_FROM {
        return context::histogram_and_contexts(sym);
    }
    let hist = histogram(sym);
    if cannot_pay(sym, &hist) {
        return (hist, None);
    }
    let ctx = context::contexts(sym, &hist);
    (hist, ctx)
}

/// The ideal bits of coding the counts `cnt` order-0 (Σ c·log2(total / c); `det_log2`, memoised
/// up to 2^16 by `det_log2_int`).
pub(super) fn ideal_bits(cnt: &[u64; 256]) -> f64 {
    let total: u64 = cnt.iter().sum();
    if total == 0 {
        return 0.0;
    }
    let lt = det_log2_int(total);
    cnt.iter()
        .filter(|&&c| c > 0)
        .map(|&c| c as f64 * (lt - det_log2_int(c)))
        .sum()
}

/// [`ideal_bits`] of a sample with the Miller–Madow correction of its bias: the plug-in entropy
/// of `m` present symbols falls short of the true one by about (m − 1) / (2 ln 2) bits in all.
/// Without it, a context's few symbols look more predictable than they are (the sample's ratio
/// was ≈ 0.5 % lower on the MiniLM weights).
fn corrected_bits(cnt: &[u64; 256]) -> f64 {
    let present = cnt.iter().filter(|&&c| c > 0).count();
    ideal_bits(cnt) + present.saturating_sub(1) as f64 / (2.0 * std::f64::consts::LN_2)
}

/// Whether the sample of `sym` (at least [`SCREEN_FROM`] symbols, byte histogram `hist`) shows
/// that its contexts cannot save 2 % (module doc). Deterministic: integer counts and
/// `det_log2`.
fn cannot_pay(sym: &[u8], hist: &[u64; 256]) -> bool {
    let n = sym.len();
    debug_assert!(n >= SCREEN_FROM);
    let owners = context::owners(n, hist);
    if owners.is_empty() {
        // `context::choose` gives no contexts then either.
        return true;
    }
    let map = context::context_map(&owners);
    let mut counts = vec![[0u64; 256]; owners.len() + 1];
    for i in 0..CHUNKS {
        let start = i * (n - CHUNK) / (CHUNKS - 1);
        let mut prev = if start == 0 { 0 } else { sym[start - 1] };
        for &s in &sym[start..start + CHUNK] {
            counts[map[prev as usize] as usize][s as usize] += 1;
            prev = s;
        }
    }
    let mut sample = [0u64; 256];
    for c in &counts {
        for (t, &x) in sample.iter_mut().zip(c) {
            *t += x;
        }
    }
    let with_contexts: f64 = counts.iter().map(corrected_bits).sum();
    let order0 = corrected_bits(&sample);
    if order0 == 0.0 {
        // A constant sample says nothing about the rest.
        return false;
    }
    // with_contexts / order0 · (the whole stream's ideal order-0 bits) ≥ ratio · its estimate.
    with_contexts * ideal_bits(hist) >= CANNOT_PAY_RATIO * order0 * context::estimate_bits(&[*hist])
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A deterministic stream of `n` symbols: a first-order Markov chain that repeats its
    /// predecessor with probability `stay`/256 inside `[from, to)` and draws an independent
    /// symbol of a skewed 24-symbol law elsewhere (an exponent-like alphabet 100..124).
    fn stream(n: usize, stay: u64, from: usize, to: usize) -> Vec<u8> {
        let mut s = 0x9E37_79B9_7F4A_7C15u64;
        let mut prev = 110u8;
        (0..n)
            .map(|i| {
                s = s.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
                let r = s >> 33;
                let x = if (from..to).contains(&i) && r % 256 < stay {
                    prev
                } else {
                    // Geometric-like: symbol 100 + k with weight about 2^-k/2.
                    100 + ((r >> 8) % 4096).leading_zeros().saturating_sub(20) as u8 * 2
                        + ((r >> 20) & 1) as u8
                };
                prev = x;
                x
            })
            .collect()
    }

    /// Independent symbols: the sample shows contexts cannot pay, and the full count agrees.
    #[test]
    fn independent_symbols_skip_the_pair_counts() {
        let sym = stream(200_000, 0, 0, 0);
        let hist = histogram(&sym);
        assert!(cannot_pay(&sym, &hist));
        assert!(context::histogram_and_contexts(&sym).1.is_none());
        assert!(histogram_and_contexts(&sym) == context::histogram_and_contexts(&sym));
    }

    /// Symbols that repeat their predecessor half the time: contexts pay, the screen must not
    /// say otherwise, and the answer is the full count's.
    #[test]
    fn dependent_symbols_keep_their_contexts() {
        let sym = stream(200_000, 128, 0, 200_000);
        let hist = histogram(&sym);
        assert!(!cannot_pay(&sym, &hist));
        let full = context::histogram_and_contexts(&sym);
        assert!(full.1.is_some());
        assert!(histogram_and_contexts(&sym) == full);
    }

    /// Dependence in a fifth of the stream only (a region between sampled runs would be
    /// shorter than 1/63 of it): still sampled, and contexts still pay overall.
    #[test]
    fn a_dependent_region_is_sampled() {
        let n = 300_000;
        let sym = stream(n, 250, n / 2, n / 2 + n / 5);
        let full = context::histogram_and_contexts(&sym);
        assert!(full.1.is_some(), "the region must make contexts pay");
        assert!(!cannot_pay(&sym, &full.0));
        assert!(histogram_and_contexts(&sym) == full);
    }

    /// Short streams and constant samples go to the full count (hand-checked: one symbol
    /// owns the only context, and no contexts are chosen).
    #[test]
    fn short_and_constant_streams_take_the_full_count() {
        let short = stream(SCREEN_FROM - 1, 0, 0, 0);
        assert!(histogram_and_contexts(&short) == context::histogram_and_contexts(&short));
        let constant = vec![7u8; SCREEN_FROM + 5];
        let hist = histogram(&constant);
        assert!(!cannot_pay(&constant, &hist));
        let (h, ctx) = histogram_and_contexts(&constant);
        assert_eq!(h[7], (SCREEN_FROM + 5) as u64);
        assert!(ctx.is_none());
    }
}
