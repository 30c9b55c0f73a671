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
