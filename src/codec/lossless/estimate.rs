//! Sizes of the shuffled method (lossless method 2: one order-0 rANS plane per element byte,
//! `entropy/order0.rs`) predicted from the planes' byte histograms, without shuffling or
//! coding: the small tensors' choice codes it only when the prediction comes near the best.
//!
//! A plane of n bytes costs (order0.rs layout): 1 byte when empty; 2 when constant; else the
//! smaller of the stored plane (1 + n) and the rANS plane: 2 bytes (kind, scale), the frequency
//! table (lo, hi, one LEB128 byte per frequency below 128, two above), a 4-byte word count and
//! 2 bytes a word, the words being the four 32-bit final states (8) and the renormalisation
//! words, about Σ count · log2(M / freq) / 16. Deterministic (`det_log2`).

use crate::entropy::rans::{normalize, M};
use crate::util::detmath::{det_log2, det_log2_int};

/// Predicted bytes of `order0::encode_plane` of a plane with the byte histogram `counts`.
pub(super) fn order0_plane_bytes(counts: &[u64; 256]) -> usize {
    let n: u64 = counts.iter().sum();
    let distinct = counts.iter().filter(|&&c| c > 0).count();
    match distinct {
        0 => return 1,
        1 => return 2,
        _ => {}
    }
    let freq = normalize(counts);
    let lo = freq.iter().position(|&f| f > 0).unwrap_or(0);
    let hi = 255 - freq.iter().rev().position(|&f| f > 0).unwrap_or(0);
    let table: usize = 2 + freq[lo..=hi]
        .iter()
        .map(|&f| if f < 0x80 { 1 } else { 2 })
        .sum::<usize>();
    let lm = det_log2(M as f64);
    let bits: f64 = (0..256)
        .filter(|&s| counts[s] > 0)
        .map(|s| counts[s] as f64 * (lm - det_log2_int(freq[s] as u64)))
        .sum();
    let words = (bits / 16.0).ceil() as usize + 8;
    let rans = 2 + table + 4 + 2 * words;
    // The encoder stores a plane whose rANS form is longer than the plane.
    if rans > n as usize {
        1 + n as usize
    } else {
        rans
    }
}

/// The byte histograms of the `w` planes of `bytes` (plane j: byte j of every element).
fn plane_histograms(bytes: &[u8], w: usize) -> Vec<[u64; 256]> {
    match w {
        2 => plane_histograms_of::<2>(bytes),
        4 => plane_histograms_of::<4>(bytes),
        _ => plane_histograms_of::<8>(bytes),
    }
}

/// Sub-tables per plane in [`plane_histograms_of`].
const TABLES: usize = 4;

/// [`plane_histograms`] for `W`-byte elements, element k counted in sub-table k mod 4. Why:
/// with one table per plane, the top byte of float elements (a few exponents) increments the
/// same counter element after element, each increment waiting for the last one's store; that
/// chain made this estimate a tenth of a small 2-byte tensor's encode.
fn plane_histograms_of<const W: usize>(bytes: &[u8]) -> Vec<[u64; 256]> {
    let mut h = vec![[0u64; 256]; W];
    // u32 counters, flushed well before they could wrap (the caller's tensors are small).
    for block in bytes.chunks(W << 28) {
        let mut t = [[[0u32; 256]; W]; TABLES];
        let mut groups = block.chunks_exact(TABLES * W);
        for g in &mut groups {
            for (k, tk) in t.iter_mut().enumerate() {
                for (j, tj) in tk.iter_mut().enumerate() {
                    tj[g[k * W + j] as usize] += 1;
                }
            }
        }
        for e in groups.remainder().chunks_exact(W) {
            for (tj, &b) in t[0].iter_mut().zip(e) {
                tj[b as usize] += 1;
            }
        }
        for (j, hj) in h.iter_mut().enumerate() {
            for (s, c) in hj.iter_mut().enumerate() {
                *c += t.iter().map(|tk| tk[j][s] as u64).sum::<u64>();
            }
        }
    }
    h
}

/// Predicted payload bytes of the shuffled method for `bytes` (elements of `w` bytes): the
/// method byte, the plane count, and each plane.
pub(super) fn shuffled_bytes(bytes: &[u8], w: usize) -> usize {
    if bytes.is_empty() {
        return 2 + w;
    }
    2 + plane_histograms(bytes, w)
        .iter()
        .map(order0_plane_bytes)
        .sum::<usize>()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::entropy::order0;
    use order0::histogram;

    #[test]
    fn plane_sizes_by_hand() {
        let mut c = [0u64; 256];
        assert_eq!(order0_plane_bytes(&c), 1);
        c[7] = 100;
        assert_eq!(order0_plane_bytes(&c), 2);
        // Two symbols, 3000 and 1000 of 4000: frequencies 3072 and 1024 of 4096 (exact), the
        // code lengths log2(4/3) and 2 bits: 3000·0.41504 + 1000·2 = 3245.1 bits = 203 words
        // (rounded up) + 8 state words; table lo = 0, hi = 1: 2 + two 2-byte LEB128
        // frequencies; so 2 + 6 + 4 + 2·211 = 434 bytes.
        let mut c = [0u64; 256];
        c[0] = 3000;
        c[1] = 1000;
        assert_eq!(order0_plane_bytes(&c), 434);
        // The same two symbols 3 and 1 times: the rANS plane (2 + 6 + 4 + 2·(1 + 8)) is longer
        // than the 4 bytes: stored, 1 + 4.
        let mut c = [0u64; 256];
        c[0] = 3;
        c[1] = 1;
        assert_eq!(order0_plane_bytes(&c), 5);
    }

    /// The sub-tables add up to one table's counts: lengths around the groups of four
    /// elements, every width.
    #[test]
    fn plane_histograms_are_the_planes_counts() {
        let mut s = 0x9E37_79B9_7F4A_7C15u64;
        let data: Vec<u8> = (0..4099)
            .map(|_| {
                s ^= s << 13;
                s ^= s >> 7;
                s ^= s << 17;
                // Skewed: the repeated counters the sub-tables are for.
                (s % 5 * (s >> 60)) as u8
            })
            .collect();
        for w in [2usize, 4, 8] {
            for n in [0usize, 1, 3, 4, 5, 7, 8, 9, 511] {
                let bytes = &data[..n * w];
                let want: Vec<[u64; 256]> = (0..w)
                    .map(|j| {
                        let plane: Vec<u8> = bytes.iter().skip(j).step_by(w).copied().collect();
                        histogram(&plane)
                    })
                    .collect();
                assert!(plane_histograms(bytes, w) == want, "w = {w}, n = {n}");
            }
        }
    }

    #[test]
    fn predictions_are_near_the_coded_planes() {
        // Skewed bytes of a deterministic generator: the prediction within 0.2 % and the four
        // states' 16 bytes of what order0 writes (the final states hold up to 32 bits of
        // information the ideal code length counts in words).
        let mut s = 0x2545_F491_4F6C_DD1Du64;
        let data: Vec<u8> = (0..20_000)
            .map(|_| {
                s ^= s << 13;
                s ^= s >> 7;
                s ^= s << 17;
                (s % 7 * (s >> 40) % 5) as u8
            })
            .collect();
        let mut coded = Vec::new();
        order0::encode_plane(&data, &mut coded);
        let p = order0_plane_bytes(&histogram(&data));
        assert!(
            p.abs_diff(coded.len()) <= coded.len() / 500 + 16,
            "{p} predicted, {} coded",
            coded.len()
        );
        // And the whole method on 2- and 4-byte elements.
        for w in [2usize, 4] {
            let bytes = &data[..data.len() / w * w];
            let real = super::super::trial(bytes, w, &[bytes.len() / w], 2).map(|p| p.len());
            let p = shuffled_bytes(bytes, w);
            let real = real.unwrap_or(0);
            assert!(
                p.abs_diff(real) <= real / 500 + 16 * w,
                "{p} against {real}"
            );
        }
    }
}
