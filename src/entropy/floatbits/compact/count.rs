//! The symbol counts of a block of the compact split (`compact.rs`): the heads, the rest
//! chunks per class (head ≠ 0, head = 0), and the top chunk per head value ≠ 0.
//!
//! Two ways to the same counts. Directly: a pass over the elements, then a second one for the
//! top chunk per head (its table slots are known only once the heads are counted). Keyed, for
//! 2- and 4-byte elements from [`KEYED_FROM`] elements: one pass counting the top 16 bits of
//! every element (all of a 2-byte element; of a 4-byte one, the sign, the head and the top
//! chunk, the two low bytes being counted per class in the same pass), then every count
//! follows from the distinct keys. For a 32 768-value bfloat16 tensor and its two head widths,
//! `prepare` took 6.6 M instructions, now 2.7 M.

use super::{element, Cut};
use crate::util::detmath::det_log2_int;

/// Elements from which 2- and 4-byte blocks are counted by key: below, the 2^16-entry key
/// table costs more to clear and scan than the second pass over the elements.
const KEYED_FROM: usize = 1 << 12;

/// The counts of a block (module doc).
pub(super) struct Counts {
    pub(super) heads: [u64; 256],
    /// Per class (0: head ≠ 0, 1: head = 0) and chunk: `rests[class · chunks + j]`.
    pub(super) rests: Vec<[u64; 256]>,
    /// The top chunk's counts of each head value ≠ 0 present, in increasing head order.
    pub(super) by_head: Vec<[u64; 256]>,
    /// Index in `by_head` of each head value present (`usize::MAX` for the others and 0).
    pub(super) slot: [usize; 256],
}

/// The counts of the elements of `bytes` cut by `cut`; `keys`: their [`shared_keys`], when
/// counted already.
pub(super) fn count(bytes: &[u8], cut: Cut, keys: Option<&Keys>) -> Counts {
    if keyed_ok(bytes, cut.w) {
        keyed(bytes, cut, keys)
    } else {
        direct(bytes, cut)
    }
}

/// Whether the elements of `bytes` (of `w` bytes) are counted by key.
fn keyed_ok(bytes: &[u8], w: usize) -> bool {
    matches!(w, 2 | 4) && (KEYED_FROM..u32::MAX as usize).contains(&(bytes.len() / w))
}

/// The counts of the 2-byte elements' values, which every head width of 2-byte elements
/// counts from (of a 4-byte element, the low bytes are counted per class, which depends on
/// the head width).
pub(super) struct Keys {
    /// Elements per key.
    counts: Vec<u32>,
    /// The keys present (count > 0), increasing.
    present: Vec<u16>,
}

impl Keys {
    /// The order-0 entropy of the keys in bytes: Σ count · log2(total / count) / 8
    /// (deterministic: `det_log2_int`, summed in key order).
    pub(super) fn entropy_bytes(&self) -> f64 {
        let lt = self.log2_total();
        let bits: f64 = self
            .present
            .iter()
            .map(|&k| {
                let c = self.counts[k as usize] as u64;
                c as f64 * (lt - det_log2_int(c))
            })
            .sum();
        bits / 8.0
    }

    /// log2 of the keys' total count (`det_log2_int`).
    fn log2_total(&self) -> f64 {
        det_log2_int(
            self.present
                .iter()
                .map(|&k| self.counts[k as usize] as u64)
                .sum(),
        )
    }

    /// Whether [`Keys::entropy_bytes`] is above `floor`: the same answer, from the same terms
    /// summed in four accumulators first. Why: the key-order sum is one chain of additions, a
    /// few cycles a key, and a float16 tensor of 16 384 values has about as many keys. The
    /// terms are all ≥ 0, so either sum of m of them is within (m − 1)·2^−53 of their exact
    /// sum, relatively (`err` is twice that bound for both, and more); only where that leaves
    /// the comparison open is the key-order sum taken.
    pub(super) fn entropy_above(&self, floor: f64) -> bool {
        let lt = self.log2_total();
        let mut acc = [0.0f64; 4];
        for (i, &k) in self.present.iter().enumerate() {
            let c = self.counts[k as usize] as u64;
            acc[i & 3] += c as f64 * (lt - det_log2_int(c));
        }
        let fast = (acc[0] + acc[1]) + (acc[2] + acc[3]);
        let err = fast * (self.present.len() as f64 + 4.0) * (4.0 * f64::EPSILON);
        if (fast - err) / 8.0 > floor {
            true
        } else if (fast + err) / 8.0 <= floor {
            false
        } else {
            self.entropy_bytes() > floor
        }
    }
}

/// The [`Keys`] of `bytes` when its elements (of `w` bytes) are 2-byte and counted by key.
pub(super) fn shared_keys(bytes: &[u8], w: usize) -> Option<Keys> {
    (w == 2 && keyed_ok(bytes, w))
        .then(|| count_keys(bytes, Cut::new(2, 8), &mut [[[0; 256]; 2]; 2]))
}

thread_local! {
    /// A key table left by this thread's last [`Keys`], all zeros again: a fresh one is 256 KiB
    /// to allocate and clear per tensor (a tenth of counting a 4096-value one).
    static SPARE_TABLE: std::cell::Cell<Vec<u32>> = const { std::cell::Cell::new(Vec::new()) };
}

/// 2^16 zero counts: this thread's spare table, or a new one.
fn zeroed_key_table() -> Vec<u32> {
    let spare = SPARE_TABLE.with(|s| s.take());
    if spare.len() == 1 << 16 {
        spare
    } else {
        vec![0; 1 << 16]
    }
}

impl Drop for Keys {
    /// Clears the present keys (every count above 0) and leaves the table as the thread's
    /// spare.
    fn drop(&mut self) {
        let mut table = std::mem::take(&mut self.counts);
        for &k in &self.present {
            table[k as usize] = 0;
        }
        SPARE_TABLE.with(|s| s.set(table));
    }
}

/// The slots of the head values ≠ 0 present, and their number.
fn slots(heads: &[u64; 256]) -> ([usize; 256], usize) {
    let mut slot = [usize::MAX; 256];
    let mut present = 0;
    for h in 1..256 {
        if heads[h] > 0 {
            slot[h] = present;
            present += 1;
        }
    }
    (slot, present)
}

fn direct(bytes: &[u8], cut: Cut) -> Counts {
    let w = cut.w;
    let n = bytes.len() / w;
    let nc = cut.chunks();
    let mut heads = [0u64; 256];
    let mut rests = vec![[0u64; 256]; 2 * nc];
    for i in 0..n {
        let (h, rest) = cut.split(element(bytes, i, w));
        heads[h as usize] += 1;
        let class = (h == 0) as usize;
        for j in 0..nc {
            rests[class * nc + j][(rest >> (8 * j)) as u8 as usize] += 1;
        }
    }
    // The top chunk (sign, top bits below the head) of each head value ≠ 0 on its own: where
    // the values are few (labels, quantized data), it depends on the head.
    let top = nc - 1;
    let (slot, present) = slots(&heads);
    let mut by_head = vec![[0u64; 256]; present];
    if present > 0 {
        for i in 0..n {
            let (h, rest) = cut.split(element(bytes, i, w));
            if h != 0 {
                by_head[slot[h as usize]][(rest >> (8 * top)) as u8 as usize] += 1;
            }
        }
    }
    Counts {
        heads,
        rests,
        by_head,
        slot,
    }
}

/// [`direct`] through the counts of each element's top 16 bits (module doc); `cut.w` is 2 or
/// 4 and there are fewer than 2^32 elements; `shared`: the keys of 2-byte elements, when
/// counted already.
fn keyed(bytes: &[u8], cut: Cut, shared: Option<&Keys>) -> Counts {
    // The head widths the planner tries for 2-byte elements (bfloat16's 8 exponent bits,
    // float16's 5), with their shifts and masks constant.
    if cut.w == 2 && matches!(cut.r, 8 | 11) {
        let built;
        let keys = match shared {
            Some(k) => k,
            None => {
                built = count_keys(bytes, cut, &mut [[[0; 256]; 2]; 2]);
                &built
            }
        };
        return match cut.r {
            8 => keyed2::<8>(keys),
            _ => keyed2::<5>(keys),
        };
    }
    let w = cut.w;
    let nc = cut.chunks();
    let top = nc - 1;
    // Bits of an element below its key; chunks from `first` on lie in the key (for 4-byte
    // elements the head starts at bit 23 or above, so chunks 0 and 1 are the two low bytes).
    let low_bits = 8 * w as u32 - 16;
    let first = w - 2;
    let mut low = [[[0u64; 256]; 2]; 2];
    let built;
    let keys: &Keys = match shared {
        Some(k) if w == 2 => k,
        _ => {
            built = count_keys(bytes, cut, &mut low);
            &built
        }
    };
    let mut heads = [0u64; 256];
    let mut rests = vec![[0u64; 256]; 2 * nc];
    for &key in &keys.present {
        let (h, rest) = cut.split((key as u64) << low_bits);
        let k = keys.counts[key as usize] as u64;
        heads[h as usize] += k;
        let class = (h == 0) as usize;
        for j in first..nc {
            rests[class * nc + j][(rest >> (8 * j)) as u8 as usize] += k;
        }
    }
    for class in 0..2 {
        for j in 0..first {
            rests[class * nc + j] = low[class][j];
        }
    }
    let (slot, present) = slots(&heads);
    let mut by_head = vec![[0u64; 256]; present];
    for &key in &keys.present {
        let (h, rest) = cut.split((key as u64) << low_bits);
        if h != 0 {
            by_head[slot[h as usize]][(rest >> (8 * top)) as u8 as usize] +=
                keys.counts[key as usize] as u64;
        }
    }
    Counts {
        heads,
        rests,
        by_head,
        slot,
    }
}

/// [`keyed`] for 2-byte elements with `HB` head bits: every key is a whole element. Why a
/// function of its own: the keys come in increasing order, so a run of keys sharing their
/// bits from `unit` up shares its head, its class and (with two chunks) its top chunk, whose
/// counts are summed in a register over the run instead of incremented in memory key after
/// key (each increment waiting for the last one's store: on a float16 tensor nearly every key
/// is present once, and this count was the largest part of planning its compact split).
fn keyed2<const HB: u32>(keys: &Keys) -> Counts {
    let sh = 15 - HB;
    let nc = (16 - HB as usize).div_ceil(8);
    // With two chunks the top one is the rest's bits from 8 up (key bits 8.. below the head,
    // and the sign); with one, a run shares the head (key bits sh..) and the sign.
    let unit = if nc == 2 { 8 } else { sh };
    let split = |key: u32| {
        let h = (key >> sh) & ((1 << HB) - 1);
        (h as usize, (key & ((1 << sh) - 1)) | ((key >> 15) << sh))
    };
    let mut heads = [0u64; 256];
    let mut rests = vec![[0u64; 256]; 2 * nc];
    // Runs: (a key of the run, its count so far).
    let mut runs: Vec<(u32, u64)> = Vec::new();
    let (mut at, mut run) = (u32::MAX, 0u64);
    for &key in &keys.present {
        let (key, k) = (key as u32, keys.counts[key as usize] as u64);
        if key >> unit != at >> unit {
            if at != u32::MAX {
                runs.push((at, run));
            }
            (at, run) = (key, 0);
        }
        run += k;
        let (h, rest) = split(key);
        rests[(h == 0) as usize * nc][(rest & 255) as usize] += k;
    }
    if at != u32::MAX {
        runs.push((at, run));
    }
    for &(key, run) in &runs {
        let (h, rest) = split(key);
        heads[h] += run;
        if nc == 2 {
            rests[(h == 0) as usize * nc + 1][((rest >> 8) & 255) as usize] += run;
        }
    }
    let (slot, present) = slots(&heads);
    let mut by_head = vec![[0u64; 256]; present];
    if nc == 2 {
        for &(key, run) in &runs {
            let (h, rest) = split(key);
            if h != 0 {
                by_head[slot[h]][((rest >> 8) & 255) as usize] += run;
            }
        }
    } else {
        for &key in &keys.present {
            let (h, rest) = split(key as u32);
            if h != 0 {
                by_head[slot[h]][(rest & 255) as usize] += keys.counts[key as usize] as u64;
            }
        }
    }
    Counts {
        heads,
        rests,
        by_head,
        slot,
    }
}

/// The key counts of the elements of `bytes` (2 or 4 bytes), and for 4-byte elements the
/// counts of their two low bytes per class into `low[class][byte]`.
fn count_keys(bytes: &[u8], cut: Cut, low: &mut [[[u64; 256]; 2]; 2]) -> Keys {
    let counts = key_counts(bytes, cut, low);
    let present = present_keys(&counts);
    Keys { counts, present }
}

/// The keys of `counts` (2^16 of them) whose count is not 0, increasing. Keys of a float
/// tensor crowd into the few exponents it uses: blocks of 64 empty keys are skipped whole (an
/// OR the compiler vectorises), and within a block every key is written and kept only when
/// present (a branch per key would be mispredicted where about half the keys of an exponent
/// are present, as in a float16 tensor of 16 384 values).
fn present_keys(counts: &[u32]) -> Vec<u16> {
    const BLOCK: usize = 64;
    let mut present = Vec::new();
    let mut found = [0u16; BLOCK];
    for (c, block) in counts.chunks_exact(BLOCK).enumerate() {
        if block.iter().fold(0, |a, &k| a | k) == 0 {
            continue;
        }
        let mut len = 0;
        for (j, &k) in block.iter().enumerate() {
            // len ≤ j < BLOCK here.
            found[len & (BLOCK - 1)] = (BLOCK * c + j) as u16;
            len += (k != 0) as usize;
        }
        present.extend_from_slice(&found[..len]);
    }
    present
}

fn key_counts(bytes: &[u8], cut: Cut, low: &mut [[[u64; 256]; 2]; 2]) -> Vec<u32> {
    let mut keys = zeroed_key_table();
    if cut.w == 2 {
        for e in bytes.chunks_exact(2) {
            keys[u16::from_le_bytes([e[0], e[1]]) as usize] += 1;
        }
    } else {
        for e in bytes.chunks_exact(4) {
            let u = u32::from_le_bytes([e[0], e[1], e[2], e[3]]) as u64;
            keys[(u >> 16) as usize] += 1;
            let class = (cut.split(u).0 == 0) as usize;
            low[class][0][e[0] as usize] += 1;
            low[class][1][e[1] as usize] += 1;
        }
    }
    keys
}

#[cfg(test)]
mod tests {
    use super::*;

    fn same(a: &Counts, b: &Counts) -> bool {
        a.heads == b.heads && a.rests == b.rests && a.by_head == b.by_head && a.slot == b.slot
    }

    #[test]
    fn keyed_counts_equal_direct_counts() {
        let mut s = 0x9E37_79B9_7F4A_7C15u64;
        let mut next = || {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            s
        };
        // Random bit patterns, then float-like data (few heads, zeros among them).
        let random: Vec<u8> = (0..40_000).map(|_| next() as u8).collect();
        let floats: Vec<u8> = (0..10_000)
            .flat_map(|i| {
                let v = if i % 7 == 0 {
                    0.0f32
                } else {
                    ((next() % 2000) as f32 - 1000.0) * 1e-3
                };
                v.to_le_bytes()
            })
            .collect();
        for data in [&random, &floats] {
            for w in [2usize, 4] {
                for hb in 1..=8 {
                    let cut = Cut::new(w, hb);
                    let bytes = &data[..data.len() / w * w];
                    assert!(
                        same(&keyed(bytes, cut, None), &direct(bytes, cut))
                            && same(
                                &keyed(bytes, cut, shared_keys(bytes, w).as_ref()),
                                &direct(bytes, cut)
                            ),
                        "w = {w}, hb = {hb}"
                    );
                }
            }
        }
    }

    #[test]
    fn a_reused_key_table_counts_from_zero() {
        // bfloat16 1.0 ×3 and 2.0, then 1.0 and −1.0: the second count must not see the
        // first's keys (the spare table is cleared).
        let first = [0x80u8, 0x3F, 0x80, 0x3F, 0x80, 0x3F, 0x00, 0x40];
        let k = count_keys(&first, Cut::new(2, 8), &mut [[[0; 256]; 2]; 2]);
        assert_eq!((k.counts[0x3F80], k.counts[0x4000]), (3, 1));
        drop(k);
        let second = [0x80u8, 0x3F, 0x80, 0xBF];
        let k = count_keys(&second, Cut::new(2, 8), &mut [[[0; 256]; 2]; 2]);
        assert_eq!(
            (k.counts[0x3F80], k.counts[0xBF80], k.counts[0x4000]),
            (1, 1, 0)
        );
        assert_eq!(k.present, vec![0x3F80, 0xBF80]);
        assert_eq!(k.counts.iter().map(|&c| c as u64).sum::<u64>(), 2);
    }

    #[test]
    fn key_entropy_by_hand() {
        // 4096 bfloat16 values: 2048 × 1.0, 1024 × 2.0, 1024 × −1.0: entropy 1.5 bits a
        // value, 4096 · 1.5 / 8 = 768 bytes.
        let mut b = Vec::new();
        for (v, k) in [(0x3F80u16, 2048), (0x4000, 1024), (0xBF80, 1024)] {
            for _ in 0..k {
                b.extend_from_slice(&v.to_le_bytes());
            }
        }
        let k = shared_keys(&b, 2).expect("4096 values are counted by key");
        assert_eq!(k.entropy_bytes(), 768.0);
        // Below KEYED_FROM, and 4-byte elements: no shared keys.
        assert!(shared_keys(&b[..2 * 4095], 2).is_none() && shared_keys(&b, 4).is_none());
    }

    /// The bound's answer is the key-order sum's, at floors on either side of it, a few ulps
    /// away and at it (where only the key-order sum can answer).
    #[test]
    fn entropy_above_agrees_with_the_entropy() {
        let mut s = 0x2545_F491_4F6C_DD1Du64;
        let mut b = Vec::new();
        for _ in 0..20_000 {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            // Skewed keys: a few frequent, many rare.
            let v = if s % 3 == 0 {
                (s >> 20) as u16 % 64
            } else {
                (s >> 32) as u16
            };
            b.extend_from_slice(&v.to_le_bytes());
        }
        let k = shared_keys(&b, 2).expect("counted by key");
        let e = k.entropy_bytes();
        let mut floors = vec![0.0, e * 0.99, e * 1.01, e, e * 2.0];
        let (mut lo, mut hi) = (e, e);
        for _ in 0..64 {
            lo = f64::from_bits(lo.to_bits() - 1);
            hi = f64::from_bits(hi.to_bits() + 1);
            floors.extend([lo, hi]);
        }
        for f in floors {
            assert_eq!(k.entropy_above(f), e > f, "floor {f} against {e}");
        }
    }

    #[test]
    fn present_keys_by_hand() {
        // Keys 0, 7, 8, 63 (the end of the first block of 64), 64 (the start of the next),
        // the whole block 128..192, 65 535 (the last); every other key absent.
        let mut counts = vec![0u32; 1 << 16];
        let want: Vec<u16> = [0u16, 7, 8, 63, 64]
            .into_iter()
            .chain(128..192)
            .chain([65_535])
            .collect();
        for &k in &want {
            counts[k as usize] = 3;
        }
        assert_eq!(present_keys(&counts), want);
        assert!(present_keys(&vec![0u32; 1 << 16]).is_empty());
    }

    #[test]
    fn counts_by_hand() {
        // bfloat16 1.0 (0x3F80), 1.0, −2.0 (0xC000), +0.0 with 8 head bits: heads 0x7F ×2,
        // 0x80, 0; rests (sign, then the 7 bits below the head): 0, 0, 0x80, 0.
        let bytes = [0x80, 0x3F, 0x80, 0x3F, 0x00, 0xC0, 0x00, 0x00];
        let c = direct(&bytes, Cut::new(2, 8));
        assert_eq!((c.heads[0x7F], c.heads[0x80], c.heads[0]), (2, 1, 1));
        assert_eq!((c.rests[0][0], c.rests[0][0x80], c.rests[1][0]), (2, 1, 1));
        assert_eq!((c.slot[0x7F], c.slot[0x80], c.by_head.len()), (0, 1, 2));
        assert_eq!((c.by_head[0][0], c.by_head[1][0x80]), (2, 1));
    }
}
