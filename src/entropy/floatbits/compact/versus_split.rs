//! When the split (`floatbits/mod.rs`, lossless method 3) can be smaller than the compact
//! split of the same elements, so that a small tensor's coder codes it at all.
//!
//! The split with 8 head bits cuts every element exactly as the compact split with 8 head
//! bits does (the 8 bits below the sign; the rest: the sign and the bits below, in bytes), and
//! without zero-row / zero-column masks and without head contexts it codes the same
//! histograms order-0, at 12-bit frequencies instead of 16-bit ones, behind larger fixed
//! costs (four 32-bit states and a word count per stream, byte-wide frequency tables, a mask
//! byte). The compact split's own estimate covers 8 head bits in one block, and it keeps a
//! different layout only where that estimate is smaller. So only the masks (all-zero rows or
//! columns: dead units of a gradient) or contexts (from 2 × 4096 elements) can make the split
//! win: on ../shared/data's tensors up to 64 KiB it wins only with masks, and loses on all 159
//! without masks of fewer than 8192 elements (`tools/src/bin/lossless_trials.rs`).

use crate::entropy::floatbits::{context, zero_masks};

/// Whether the split of `bytes` (elements of `w` bytes, `rows` rows) may be smaller than its
/// compact split: it has masks to flag, or enough elements for head contexts.
pub(crate) fn split_may_win(bytes: &[u8], w: usize, rows: usize) -> bool {
    context::max_contexts(bytes.len() / w) > 1 || zero_masks(bytes, w, rows).is_some()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masks_or_contexts_by_hand() {
        let one = 1.0f32.to_le_bytes();
        // A 2 × 3 matrix of ones: no zero row or column, 6 elements: the split cannot win.
        let ones: Vec<u8> = one.repeat(6);
        assert!(!split_may_win(&ones, 4, 2));
        // Its middle column zeroed: a mask to flag.
        let mut col = ones.clone();
        for r in 0..2 {
            col[(3 * r + 1) * 4..(3 * r + 2) * 4].fill(0);
        }
        assert!(split_may_win(&col, 4, 2));
        // The same as a vector (one row): no masks.
        assert!(!split_may_win(&col, 4, 1));
        // 8192 bfloat16 ones: contexts possible; 8191: not.
        let bf_one = [0x80u8, 0x3F];
        assert!(split_may_win(&bf_one.repeat(8192), 2, 1));
        assert!(!split_may_win(&bf_one.repeat(8191), 2, 1));
    }
}
