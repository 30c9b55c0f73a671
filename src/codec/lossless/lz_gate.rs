//! Whether deflate's matches can pay on a small tensor, without running deflate: deflate-6 is
//! the slowest trial of the lossless coder (about half of compressing a 64 KiB tensor) and on
//! float data it nearly always loses to the split.
//!
//! The test counts the 8-byte windows (one at each element start) equal to the last window
//! with the same hash: a long match, not the 3-byte ones deflate also finds on noise. Only a
//! tensor where most windows repeat (labels, quantised or cyclic data) lets deflate win: there
//! its literals are few and its matches long, which neither the split nor the shuffled planes
//! see. Calibrated on every tensor of `../shared/data` as float32, bfloat16 and float16
//! (`tools/src/bin/lossless_trials.rs`, recorded in `bench/results/lossless_choice.csv`):
//! deflate-6 wins, or comes within 8 % of the other methods, only on the digit labels (631 and
//! 640 of 1024 windows repeat as bfloat16 and float16, where deflate is 0.86× and 0.90× the
//! best other method; 958 as float32, where the compact split still wins by 10 %); every other
//! tensor up to 64 KiB has at most 320 (a gradient with dead units, where deflate is 1.29× the
//! split). The digit images (659–735) pass the window test too, and lose (deflate 1.31–1.35×):
//! a second test, deflate-6 of the first 4 KiB ([`prefix_may_win`]), turns them away.

/// A tensor whose share of repeated windows (in 1/1024) is at least this gets the deflate-6
/// trial: between the 320 of the most repetitive tensor where deflate loses by 18 % or more
/// and the 631 of the labels where it wins.
pub const DEFLATE_FROM_REPEATS: usize = 448;

/// Bytes of the prefix that [`prefix_may_win`] deflates.
pub const SCREEN_BYTES: usize = 4096;

/// Whether deflate-6 of a small tensor of `bytes` that passed the window test may come within
/// reach of `best` bytes (the smallest other payload), judged from deflate-6 of its first
/// [`SCREEN_BYTES`] alone: worth the full trial only when that prefix's ratio is at most 1.25×
/// `best`'s ratio (`deflate` is the deflate-6 compressor, level included). A tensor no longer
/// than the prefix always gets the full trial (the prefix would be that trial).
///
/// Why: the digit images pass the window test (659–669 of 1024 windows repeat, mostly zero
/// pixels) and deflate-6 of all 46 KiB costs 4–7 ms, then loses by 31–35 %; their first 4 KiB
/// deflate to 1.34–1.41× the best other method's ratio. Deflate gains on a longer input (more
/// history to match), so a prefix that is far off predicts a loss; the labels, where deflate
/// wins, are 1.4–5.6 KiB.
pub fn prefix_may_win(bytes: &[u8], best: usize, deflate: impl Fn(&[u8]) -> usize) -> bool {
    if bytes.len() <= SCREEN_BYTES {
        return true;
    }
    let head = deflate(&bytes[..SCREEN_BYTES]);
    // head / SCREEN ≤ 1.25 · best / len, in integers.
    (head as u128) * (bytes.len() as u128) * 4 <= (best as u128) * (SCREEN_BYTES as u128) * 5
}

/// Hash table slots at most (a direct-mapped table of the last window per hash).
const MAX_SLOTS: usize = 1 << 12;

/// Share, in 1/1024, of the 8-byte windows starting at element boundaries of `bytes`
/// (elements of `w` bytes) that equal the last earlier window of the same hash (so a
/// lower bound of the share that occurred anywhere before). 0 below two windows.
/// Deterministic: integer arithmetic only.
pub fn window_repeats_per_1024(bytes: &[u8], w: usize) -> usize {
    let windows = window_count(bytes, w);
    if windows == 0 {
        return 0;
    }
    repeats(bytes, w, 0) * 1024 / windows
}

/// Whether [`window_repeats_per_1024`] of `bytes` is at least `per_1024`: the same answer,
/// but the scan stops once the windows left could not reach it (most float tensors repeat
/// almost no window, and stop a little past half way at the threshold of 448), or once it is
/// reached (the digit images, 659–1020 of 1024 windows repeated, stop about half way).
pub fn window_repeats_reach(bytes: &[u8], w: usize, per_1024: usize) -> bool {
    let windows = window_count(bytes, w);
    if windows == 0 {
        return per_1024 == 0;
    }
    // ⌊same · 1024 / windows⌋ ≥ per_1024  ⟺  same · 1024 ≥ per_1024 · windows.
    let needed = (per_1024 * windows).div_ceil(1024);
    repeats(bytes, w, needed) >= needed
}

/// Windows of `bytes` (one per element start with 8 bytes from it), 0 below two.
fn window_count(bytes: &[u8], w: usize) -> usize {
    if bytes.len() < 8 + w {
        0
    } else {
        (bytes.len() - 8) / w + 1
    }
}

/// The windows equal to the last earlier window of the same hash, counted until the end,
/// until they reach `needed`, or until fewer windows are left than it would take to reach it
/// (0: to the end).
fn repeats(bytes: &[u8], w: usize, needed: usize) -> usize {
    match w {
        2 => repeats_of::<2>(bytes, needed),
        4 => repeats_of::<4>(bytes, needed),
        _ => repeats_of::<8>(bytes, needed),
    }
}

/// [`repeats`] for elements of `W` ∈ {2, 4, 8} bytes: each window is the previous one shifted
/// by one element, the next element loaded into its top (one element read a window, no
/// bounds checks: the elements come from `chunks_exact`).
fn repeats_of<const W: usize>(bytes: &[u8], needed: usize) -> usize {
    let windows = window_count(bytes, W);
    if windows == 0 {
        return 0;
    }
    let slots = (2 * windows).next_power_of_two().min(MAX_SLOTS);
    let shift = 64 - slots.trailing_zeros();
    // A slot holds its window + 1 (0: empty), so that no window is a repeat of nothing; the
    // all-ones window, whose + 1 wraps to 0, is then never counted as a repeat.
    let mut table = vec![0u64; slots];
    let mut same = 0usize;
    let mask = slots - 1;
    let element = |e: &[u8]| {
        let mut a = [0u8; 8];
        a[..W].copy_from_slice(e);
        u64::from_le_bytes(a)
    };
    let mut elements = bytes.chunks_exact(W).map(element);
    // The first window: its 8 / W elements, the first lowest.
    let mut v = 0u64;
    for k in 0..8 / W {
        v |= elements.next().unwrap_or(0) << (8 * W * k);
    }
    let mut seen = 0usize;
    loop {
        let h = (v.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> shift) as usize & mask;
        let key = v.wrapping_add(1);
        same += (table[h] == key && key != 0) as usize;
        table[h] = key;
        seen += 1;
        // Checked every 256 windows: off the per-window path.
        if seen % 256 == 0 && (same + (windows - seen) < needed || (needed > 0 && same >= needed)) {
            break;
        }
        match elements.next() {
            Some(e) if W == 8 => v = e,
            Some(e) => v = (v >> (8 * W % 64)) | (e << ((64 - 8 * W) % 64)),
            None => break,
        }
    }
    same
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_repeated_windows_by_hand() {
        // Too short for two windows.
        assert_eq!(window_repeats_per_1024(&[0; 9], 2), 0);
        // 8 float32 zeros: windows at elements 0..=6 (7 of them), all equal: 6 repeats.
        assert_eq!(window_repeats_per_1024(&[0; 32], 4), 6 * 1024 / 7);
        // 16 distinct float32 values: no window repeats.
        let distinct: Vec<u8> = (0..16u32)
            .flat_map(|k| (1.0f32 + k as f32).to_le_bytes())
            .collect();
        assert_eq!(window_repeats_per_1024(&distinct, 4), 0);
        // The same 4 values twice over (elements a b c d a b c d): of the 7 windows, those at
        // elements 4 (a b), 5 (b c), 6 (c d) repeat the windows at 0, 1, 2.
        let twice: Vec<u8> = distinct[..16].repeat(2);
        assert_eq!(window_repeats_per_1024(&twice, 4), 3 * 1024 / 7);
        // All-ones windows never count (their slot key wraps to the empty mark).
        assert_eq!(window_repeats_per_1024(&[0xFF; 32], 4), 0);
    }

    #[test]
    fn reaching_a_share_agrees_with_the_share() {
        // Float32 data whose second half repeats its first (a share near 512), distinct values
        // (share 0: the early stop decides at the first check for any threshold above 52), and
        // zeros (100 of them: 98 windows, 97 repeats, share 97 · 1024 / 98 = 1013); every
        // threshold around each share gets the same answer as the share itself.
        let distinct: Vec<u8> = (0..5000u32)
            .flat_map(|k| (1.0f32 + k as f32).to_le_bytes())
            .collect();
        let half: Vec<u8> = distinct[..10_000].repeat(2);
        let zeros = vec![0u8; 400];
        assert_eq!(window_repeats_per_1024(&zeros, 4), 1013);
        // 3000 distinct values then 2000 zeros: of the 4999 windows, those starting at
        // elements 3000..=4998 are all zeros, and all but the first repeat: 1998, a share of
        // ⌊1998 · 1024 / 4999⌋ = 409, reached only at the very end of the scan.
        let tail: Vec<u8> = [&distinct[..12_000], &[0u8; 8000][..]].concat();
        assert_eq!(window_repeats_per_1024(&tail, 4), 409);
        assert_eq!(window_repeats_per_1024(&distinct, 4), 0);
        for b in [&half, &distinct, &zeros, &tail] {
            let share = window_repeats_per_1024(b, 4);
            for t in [
                0,
                1,
                52,
                53,
                300,
                448,
                share.max(1) - 1,
                share,
                share + 1,
                1013,
                1014,
            ] {
                assert_eq!(window_repeats_reach(b, 4, t), share >= t, "t {t}");
            }
        }
        assert!(window_repeats_reach(&[0; 9], 2, 0) && !window_repeats_reach(&[0; 9], 2, 1));
    }

    #[test]
    fn prefix_screen_by_hand() {
        // A stand-in compressor returning a fixed size shows the arithmetic: 8192 bytes whose
        // best other payload is 2048 (ratio 1/4); the prefix ratio may be up to 1.25 × 1/4 =
        // 5/16, i.e. 1280 of the 4096 prefix bytes.
        let b = vec![0u8; 2 * SCREEN_BYTES];
        assert!(prefix_may_win(&b, 2048, |p| {
            assert_eq!(p.len(), SCREEN_BYTES);
            1280
        }));
        assert!(!prefix_may_win(&b, 2048, |_| 1281));
        // No longer than the prefix: the full trial, the compressor not even run.
        assert!(prefix_may_win(&b[..SCREEN_BYTES], 1, |_| unreachable!()));
    }

    #[test]
    fn float16_windows_step_by_element() {
        // 2-byte elements 1 2 3 4 1 2 3 4 1 2 3 4: windows (4 elements each) at elements
        // 0..=8; those at 4..=8 repeat the ones 4 elements before: 5 of 9.
        let e: Vec<u8> = [1u16, 2, 3, 4]
            .repeat(3)
            .iter()
            .flat_map(|v| v.to_le_bytes())
            .collect();
        assert_eq!(window_repeats_per_1024(&e, 2), 5 * 1024 / 9);
    }
}
