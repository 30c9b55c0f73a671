//! The byte histogram of a long stream whose bytes nearly all lie in a few consecutive values
//! (the heads of bfloat16 and float32 weights: their exponents), counted 32 bytes at a time.
//!
//! Why: the table histogram (`order0::histogram`, an increment in memory per byte) took about
//! 1.7 cycles a byte on Zen 3 and was a sixth of the encode of the bfloat16 MiniLM weights.
//! Here each of [`WINDOW`] consecutive values has a vector of byte counters, and a 32-byte
//! block costs one compare and one subtraction per value; the rare bytes outside the window
//! are counted one by one. The window is the one that holds the most of the first [`PROBE`]
//! bytes; unless it holds at least 97 % of them, the table histogram counts the stream (the
//! heads of float16, whose three mantissa bits spread them over many values). The same
//! counts either way.

use crate::entropy::order0;

/// Consecutive values counted by vectors (with the block and a scratch vector, 16 registers).
const WINDOW: usize = 14;
/// Bytes whose table histogram chooses the window.
const PROBE: usize = 4096;
/// Streams from this long may take the vector count.
const FROM: usize = 1 << 16;

/// The byte histogram of `data` (`order0::histogram`'s counts).
pub(crate) fn histogram(data: &[u8]) -> [u64; 256] {
    #[cfg(target_arch = "x86_64")]
    if data.len() >= FROM && super::lane_plane::have_avx2() {
        let mut h = order0::histogram(&data[..PROBE]);
        let (lo, held) = best_window(&h);
        if held * 100 >= PROBE as u64 * 97 {
            // SAFETY: the CPU has AVX2; lo + WINDOW − 1 ≤ 255.
            unsafe { count_avx2(&data[PROBE..], lo, &mut h) };
            return h;
        }
    }
    order0::histogram(data)
}

/// The first value of the window of [`WINDOW`] consecutive values that holds the most counts
/// (the lowest such), and those counts.
fn best_window(h: &[u64; 256]) -> (u8, u64) {
    let mut best = (0u8, 0u64);
    for lo in 0..=256 - WINDOW {
        let held: u64 = h[lo..lo + WINDOW].iter().sum();
        if held > best.1 {
            best = (lo as u8, held);
        }
    }
    best
}

/// Adds the counts of `data` to `h`: values `lo..lo + WINDOW` by byte counters (flushed before
/// they wrap, every 255 blocks), the others one by one.
///
/// # Safety
/// AVX2 must be available; `lo as usize + WINDOW ≤ 256`.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn count_avx2(data: &[u8], lo: u8, h: &mut [u64; 256]) {
    use std::arch::x86_64::*;
    debug_assert!(lo as usize + WINDOW <= 256);
    let zero = _mm256_setzero_si256();
    let base = _mm256_set1_epi8(lo as i8);
    let last = _mm256_set1_epi8((WINDOW - 1) as i8);
    let values: [__m256i; WINDOW] =
        std::array::from_fn(|k| _mm256_set1_epi8((lo as usize + k) as i8));
    let mut blocks = data.chunks_exact(32);
    loop {
        let mut acc = [zero; WINDOW];
        let mut n = 0;
        for b in blocks.by_ref() {
            let x = _mm256_loadu_si256(b.as_ptr() as *const __m256i);
            for (a, v) in acc.iter_mut().zip(&values) {
                // A match is −1: subtracting it counts it.
                *a = _mm256_sub_epi8(*a, _mm256_cmpeq_epi8(x, *v));
            }
            // Bytes in the window: x − lo ≤ WINDOW − 1, unsigned.
            let d = _mm256_sub_epi8(x, base);
            let inside =
                _mm256_movemask_epi8(_mm256_cmpeq_epi8(_mm256_min_epu8(d, last), d)) as u32;
            if inside != u32::MAX {
                let mut out = !inside;
                while out != 0 {
                    h[b[out.trailing_zeros() as usize] as usize] += 1;
                    out &= out - 1;
                }
            }
            n += 1;
            if n == 255 {
                break;
            }
        }
        for (k, a) in acc.iter().enumerate() {
            // Sums of eight byte counters in each 64-bit lane.
            let s = _mm256_sad_epu8(*a, zero);
            let mut l = [0u64; 4];
            _mm256_storeu_si256(l.as_mut_ptr() as *mut __m256i, s);
            h[lo as usize + k] += l.iter().sum::<u64>();
        }
        if n < 255 {
            break;
        }
    }
    for &b in blocks.remainder() {
        h[b as usize] += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stream(n: usize, seed: u64, f: impl Fn(u64) -> u8) -> Vec<u8> {
        let mut s = seed;
        (0..n)
            .map(|_| {
                s = s.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
                f(s >> 24)
            })
            .collect()
    }

    /// The counts of a direct count: exponent-like streams (in a window but for rare bytes
    /// anywhere, at the window's edges, at the top of the byte range), spread streams (the
    /// table path), lengths around the 32-byte blocks and the 255-block flushes.
    #[test]
    fn counts_every_byte_once() {
        let shapes: [&dyn Fn(u64) -> u8; 5] = [
            // Exponents 110..123 with a rare byte anywhere.
            &|r| {
                if r % 1000 == 0 {
                    (r >> 10) as u8
                } else {
                    110 + (r >> 12) as u8 % 14
                }
            },
            // All in the window, piled on one value (counters pass 255 between flushes).
            &|r| if r % 100 == 0 { 121 } else { 120 },
            // The window at the top of the byte range.
            &|r| 255 - (r >> 12) as u8 % 9,
            // Zero and 13 above it (both window edges) and, rarely, one value past it.
            &|r| {
                if r % 1000 == 0 {
                    14
                } else {
                    [0u8, 13][(r >> 12) as usize % 2]
                }
            },
            // Spread: the table histogram counts it.
            &|r| (r >> 12) as u8,
        ];
        for (i, f) in shapes.iter().enumerate() {
            for n in [
                FROM - 1,
                FROM,
                FROM + 31,
                PROBE + 32 * 255,
                PROBE + 32 * 255 + 33,
                300_001,
            ] {
                let data = stream(n, 11 + i as u64, f);
                let mut want = [0u64; 256];
                for &b in &data {
                    want[b as usize] += 1;
                }
                assert!(histogram(&data) == want, "shape {i}, n {n}");
            }
        }
    }

    /// The window: the most counts, the lowest of equal ones, never past 255.
    #[test]
    fn the_window_holds_the_most() {
        let mut h = [0u64; 256];
        h[100] = 5;
        h[120..134].iter_mut().for_each(|c| *c = 1);
        h[250] = 20;
        // 237..=250 is the lowest window holding 250.
        assert_eq!(best_window(&h), (237, 20));
        h[250] = 0;
        assert_eq!(best_window(&h), (120, 14));
        h[100] = 20;
        assert_eq!(best_window(&h), (87, 20));
    }
}
