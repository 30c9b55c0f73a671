//! Whether deflate is worth a full trial on a large tensor (above 64 KiB), decided faster
//! than by compressing the whole tensor at level 1.
//!
//! Two steps, each exact about what it replaces or calibrated like the small tensors' gate:
//! - [`shorter_than`]: "is deflate-1's output shorter than `limit`" by a streaming compressor
//!   that stops as soon as the blocks it has flushed reach `limit` (deflate's output only
//!   grows), the same answer as `compress_to_vec(bytes, 1).len() < limit` — on the digit
//!   images, where level 1 is 1.6–2× the split, it stops after part of the tensor;
//! - [`may_pay`]: the long-window test of the small tensors (`lz_gate`) before that screen:
//!   a tensor where fewer than `lz_gate::DEFLATE_FROM_REPEATS` of 1024 8-byte windows repeat
//!   gets no deflate trial. The float32 gradients above 64 KiB of `../shared/data` with many
//!   equal neighbours (dead units: 147–350 of 1024 elements equal their predecessor) have 221
//!   to 350 repeated windows, and deflate-6 of them is 1.149–1.171× the split
//!   (`tools/src/bin/lossless_trials.rs`): the level-1 screen cost about two thirds of their
//!   compress time and never led to a win. Over all 52 tensor × type cases above 64 KiB there,
//!   deflate-6 is at least 1.087× the chosen payload.

use miniz_oxide::deflate::core::{
    compress_to_output, create_comp_flags_from_zip_params, CompressorOxide, TDEFLFlush, TDEFLStatus,
};

use super::lz_gate;

/// Whether the raw deflate stream of `bytes` at `level` (as `miniz_oxide`'s `compress_to_vec`
/// writes it) is shorter than `limit` bytes. Stops compressing once the flushed blocks reach
/// `limit`. Deterministic.
pub(super) fn shorter_than(bytes: &[u8], level: u8, limit: usize) -> bool {
    // The flags of `compress_to_vec` (raw deflate: no zlib header, default strategy).
    let flags = create_comp_flags_from_zip_params(level.into(), 0, 0);
    let mut d = CompressorOxide::new(flags);
    let mut written = 0usize;
    let (status, _) = compress_to_output(&mut d, bytes, TDEFLFlush::Finish, |block| {
        written += block.len();
        // Returning false aborts the compression (status PutBufFailed).
        written < limit
    });
    status == TDEFLStatus::Done && written < limit
}

/// Bytes of the prefix that [`prefix_within`] deflates.
pub(super) const PREFIX_BYTES: usize = 16 << 10;

/// Whether deflate-1 of the first [`PREFIX_BYTES`] of `bytes` (a tensor above 64 KiB) comes
/// within 1.25× the rate of `limit` bytes for the whole: the level-1 stream of
/// [`shorter_than`] is run only then. A prediction, as [`lz_gate::prefix_may_win`] is for the
/// small tensors (a tensor no longer than four prefixes always passes).
///
/// Why: on `../shared/data`, the tensors above 64 KiB that pass [`may_pay`] (the digit images
/// in all three types, `digits_test_x` as float32) deflate at level 1 to 1.5–2× the split's
/// size all along: their first 16 KiB come to 1.56–2.03× the rate of the limit (1.1× the
/// split), so the stream ran over most of the tensor before it reached the limit (1.2–1.5 ms
/// of a 1.8–2.5 ms encode, where ZipNN takes 0.4 ms).
pub(super) fn prefix_within(bytes: &[u8], limit: usize) -> bool {
    if bytes.len() <= 4 * PREFIX_BYTES {
        return true;
    }
    let head = miniz_oxide::deflate::compress_to_vec(&bytes[..PREFIX_BYTES], 1).len();
    // head / PREFIX ≤ 1.25 · limit / len, in integers.
    (head as u128) * (bytes.len() as u128) * 4 <= (limit as u128) * (PREFIX_BYTES as u128) * 5
}

/// Whether deflate's matches may pay on `bytes` (elements of `w` bytes), by the long-window
/// share of `lz_gate` (module doc).
pub(super) fn may_pay(bytes: &[u8], w: usize) -> bool {
    lz_gate::window_repeats_reach(bytes, w, lz_gate::DEFLATE_FROM_REPEATS)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The streaming answer is the full compressor's length compared with the limit: at the
    /// length itself, one above and one below, and far below (where the stream stops early),
    /// for noise, runs and mixtures at levels 1 and 6.
    #[test]
    fn agrees_with_the_full_length() {
        let mut s = 7u64;
        let mut next = || {
            s = s
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1442695040888963407);
            (s >> 33) as u32
        };
        let mut inputs: Vec<Vec<u8>> = vec![Vec::new(), vec![0u8; 1], vec![0u8; 300_000]];
        // Noise with runs of repeated 4-byte elements, the share of runs varied.
        for share in [0u32, 3, 6, 9] {
            let mut v = Vec::new();
            let mut e = next();
            for _ in 0..120_000 {
                if next() % 10 >= share {
                    e = next() & 0x3FFF_FFFF;
                }
                v.extend_from_slice(&e.to_le_bytes());
            }
            inputs.push(v);
        }
        // Small values (image-like: few distinct bytes).
        inputs.push((0..400_000).map(|_| (next() % 17) as u8).collect());
        for b in &inputs {
            for level in [1u8, 6] {
                let len = miniz_oxide::deflate::compress_to_vec(b, level).len();
                for limit in [len + 1, len, len.saturating_sub(1), len / 3, 0] {
                    assert_eq!(
                        shorter_than(b, level, limit),
                        len < limit,
                        "{} bytes, level {level}, length {len}, limit {limit}",
                        b.len()
                    );
                }
            }
        }
    }

    /// The prefix's rate against the limit's: true from the smallest limit where deflate-1 of
    /// the first 16 KiB is within 1.25× its rate, false one byte below; judged on the prefix
    /// alone (noise then zeros is turned away though the whole deflates far below the limit);
    /// a tensor of at most 64 KiB always passes.
    #[test]
    fn the_prefix_rate_decides() {
        let mut s = 11u64;
        let mut noise = |n: usize| -> Vec<u8> {
            (0..n)
                .map(|_| {
                    s = s.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
                    (s >> 56) as u8
                })
                .collect()
        };
        let mut cyclic = noise(40);
        cyclic = cyclic.repeat(300_000 / 40);
        let mut mixed = noise(PREFIX_BYTES);
        mixed.resize(256 << 10, 0);
        for b in [&cyclic, &mixed] {
            let head = miniz_oxide::deflate::compress_to_vec(&b[..PREFIX_BYTES], 1).len() as u128;
            // The least limit with head · len · 4 ≤ limit · PREFIX · 5.
            let least = (head * b.len() as u128 * 4).div_ceil(PREFIX_BYTES as u128 * 5) as usize;
            assert!(prefix_within(b, least), "{} bytes, limit {least}", b.len());
            assert!(
                !prefix_within(b, least - 1),
                "{} bytes, limit {}",
                b.len(),
                least - 1
            );
        }
        // The whole of `mixed` deflates to about its noise: a limit twice that passes the full
        // stream, not the prefix (16 KiB of noise at the rate of 32 KiB for 256 KiB).
        let whole = miniz_oxide::deflate::compress_to_vec(&mixed, 1).len();
        assert!(shorter_than(&mixed, 1, 2 * whole) && !prefix_within(&mixed, 2 * whole));
        assert!(prefix_within(&noise(4 * PREFIX_BYTES), 0));
    }

    #[test]
    fn the_gate_needs_long_repeated_windows() {
        // 40 000 distinct float32 values: no repeated window.
        let distinct: Vec<u8> = (0..40_000u32)
            .flat_map(|k| (1.0f32 + k as f32).to_le_bytes())
            .collect();
        assert!(!may_pay(&distinct, 4));
        // The same 16 values over and over: every window after the first period repeats.
        let cyclic: Vec<u8> = distinct[..64].repeat(2500);
        assert!(may_pay(&cyclic, 4));
    }
}
