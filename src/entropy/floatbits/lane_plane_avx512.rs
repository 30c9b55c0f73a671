//! The laned plane encoder's steps (`lane_plane.rs`) on AVX-512 with IFMA: the quotient
//! `⌊v/f⌋` by one 52-bit high multiply (`vpmadd52huq`) of a 33-bit reciprocal, and the new
//! state `v + cum + q·(M − f)` by one 52-bit multiply-add (`vpmadd52luq`), eight lanes of 64
//! bits a vector, two vectors for the 16 lanes. The same states and words as the scalar
//! `EncSym::step`.
//!
//! Why: the AVX2 body's chain of states (f32 estimate of the quotient, `vpmulld`, correction:
//! about 30 cycles a step) bounded it. Here the chain is a compare into a mask, a blend and
//! the two multiplies (about 12 cycles), and one gather of a 64-bit entry per symbol gives
//! every field.
//!
//! **Exactness.** A symbol of frequency `f` (1 ≤ f < M) has `c = ⌈log2 f⌉` (0..=12) and
//! `rcp = ⌈2^(32+c) / f⌉`, which lies in [2^32, 2^33). With `a = v · 2^(20−c)` (below 2^52:
//! `v < f·2^20 ≤ 2^(20+c)` after renormalisation), the high multiply gives
//! `⌊a·rcp / 2^52⌋ = ⌊v·rcp / 2^(32+c)⌋ = ⌊v/f + v·e / 2^(32+c)⌋` with `e = rcp − 2^(32+c)/f`
//! in [0, 1). Writing `v = k·f + j` (`j ≤ f − 1`), that is `k` as long as `v·e / 2^(32+c) <
//! 1/f`, which holds since `v·f < f²·2^20 ≤ 2^(20+2c) ≤ 2^(32+c)` (c ≤ 12). The product
//! `q·(M − f)` is below 2^32·2^12, so the low multiply-add is exact in 64 bits.
//!
//! Built only by compilers whose AVX-512 intrinsics are stable (`build.rs` sets `alcm_avx512`
//! from rustc 1.89); used when the CPU has AVX-512F, VL and IFMA.

// Compiled only where the intrinsics are stable (`alcm_avx512`, rustc ≥ 1.89).
#![allow(clippy::incompatible_msrv)]

use super::lane_plane::LANES;
use crate::entropy::rans::{M, SCALE_BITS};
use std::arch::x86_64::*;
use std::mem::MaybeUninit;

/// Bits of an entry: the reciprocal (33 bits), then the shift `20 − c` (5), the cumulative
/// frequency (12) and, at the top, the frequency (12).
const RCP_BITS: u32 = 33;
const SHIFT_AT: u32 = 33;
const CUM_AT: u32 = 38;
const FREQ_AT: u32 = 52;

/// Whether this CPU runs [`encode_body`].
pub(super) fn available() -> bool {
    std::is_x86_feature_detected!("avx512f")
        && std::is_x86_feature_detected!("avx512vl")
        && std::is_x86_feature_detected!("avx512ifma")
}

/// The entry of a symbol of frequency `freq` (1 ≤ freq < M) and cumulative frequency `cum`.
pub(super) fn entry(freq: u32, cum: u32) -> u64 {
    debug_assert!((1..M).contains(&freq) && cum + freq <= M);
    let c = 32 - (freq - 1).leading_zeros();
    let k = 32 + c;
    let f = freq as u64;
    let rcp = (1u64 << k).div_ceil(f);
    debug_assert!(rcp >> RCP_BITS == 0);
    rcp | ((20 - c) as u64) << SHIFT_AT | (cum as u64) << CUM_AT | f << FREQ_AT
}

/// The entries of the symbols of frequencies `freq` (absent symbols: 0, never read).
pub(super) fn table(freq: &[u32; 256]) -> [u64; 256] {
    let mut t = [0u64; 256];
    let mut cum = 0;
    for (e, &f) in t.iter_mut().zip(freq) {
        if f > 0 {
            *e = entry(f, cum);
            cum += f;
        }
    }
    t
}

/// One step of eight lanes: the new states and the lanes that emit (their word is the low 16
/// bits of the state before the step).
#[inline]
#[target_feature(enable = "avx512f,avx512ifma")]
unsafe fn step(x: __m512i, e: __m512i) -> (__m512i, __mmask8) {
    let rcp = _mm512_and_si512(e, _mm512_set1_epi64((1 << RCP_BITS) - 1));
    let shift = _mm512_and_si512(_mm512_srli_epi64::<SHIFT_AT>(e), _mm512_set1_epi64(31));
    let cum = _mm512_and_si512(_mm512_srli_epi64::<CUM_AT>(e), _mm512_set1_epi64(0xFFF));
    let freq = _mm512_srli_epi64::<FREQ_AT>(e);
    let x_max = _mm512_slli_epi64::<{ 32 - SCALE_BITS }>(freq);
    let cmpl = _mm512_sub_epi64(_mm512_set1_epi64(M as i64), freq);
    let emit = _mm512_cmpge_epu64_mask(x, x_max);
    let xh = _mm512_srli_epi64::<16>(x);
    // Both renormalisation outcomes' multiplicands beside the compare, one blend after it.
    let a = _mm512_mask_blend_epi64(
        emit,
        _mm512_sllv_epi64(x, shift),
        _mm512_sllv_epi64(xh, shift),
    );
    let v = _mm512_mask_blend_epi64(emit, x, xh);
    let q = _mm512_madd52hi_epu64(_mm512_setzero_si512(), a, rcp);
    let x = _mm512_madd52lo_epu64(_mm512_add_epi64(v, cum), q, cmpl);
    (x, emit)
}

/// The encoder's steps over `data` (a multiple of 16 symbols, last group first), as
/// `lane_plane::encode_body_avx2` takes them: the same states, words and positions. Each
/// emitting lane's word is written at its position, which then advances. The words go out by
/// one scatter of 32-bit elements masked to the emitting lanes (the word and, above it, the
/// next word's slot, which the lane's next word overwrites): 16 scalar stores a step, each
/// reading its word and position back from a stack copy, were half of the kernel's
/// instructions and bound it, and the scatter of all 16 lanes cost more than the masked one.
///
/// # Safety
/// AVX-512F, VL and IFMA must be available ([`available`]); lane l's words go to
/// `buf[pos[l]..]`, which must have room for one word per symbol of the lane and one more;
/// every symbol of `data` must have an entry in `tab` ([`table`]); every position must stay
/// below 2^31 (they are scattered to as signed 32-bit indices).
#[target_feature(enable = "avx512f,avx512vl,avx512ifma")]
pub(super) unsafe fn encode_body(
    data: &[u8],
    tab: &[u64; 256],
    x: &mut [u32; LANES],
    buf: &mut [MaybeUninit<u16>],
    pos: &mut [usize; LANES],
) {
    debug_assert!(data.len() % LANES == 0);
    let table = tab.as_ptr() as *const i64;
    let bp = buf.as_mut_ptr() as *mut u16;
    let one = _mm512_set1_epi32(1);
    let xv: [u64; LANES] = std::array::from_fn(|l| x[l] as u64);
    let mut x0 = _mm512_loadu_si512(xv.as_ptr() as *const _);
    let mut x1 = _mm512_loadu_si512(xv.as_ptr().add(8) as *const _);
    let pv: [u32; LANES] = std::array::from_fn(|l| pos[l] as u32);
    let mut p = _mm512_loadu_si512(pv.as_ptr() as *const _);
    for c in data.chunks_exact(LANES).rev() {
        let i0 = _mm256_cvtepu8_epi32(_mm_loadl_epi64(c.as_ptr() as *const __m128i));
        let i1 = _mm256_cvtepu8_epi32(_mm_loadl_epi64(c.as_ptr().add(8) as *const __m128i));
        let e0 = _mm512_i32gather_epi64::<8>(i0, table);
        let e1 = _mm512_i32gather_epi64::<8>(i1, table);
        let (n0, m0) = step(x0, e0);
        let (n1, m1) = step(x1, e1);
        let w = _mm512_inserti64x4::<1>(
            _mm512_castsi256_si512(_mm512_cvtepi64_epi32(x0)),
            _mm512_cvtepi64_epi32(x1),
        );
        let emit = _mm512_kunpackb(m1 as u16, m0 as u16);
        _mm512_mask_i32scatter_epi32::<2>(bp as *mut _, emit, p, w);
        p = _mm512_mask_add_epi32(p, emit, p, one);
        x0 = n0;
        x1 = n1;
    }
    let mut pv = [0u32; LANES];
    _mm512_storeu_si512(pv.as_mut_ptr() as *mut _, p);
    let mut xv = [0u64; LANES];
    _mm512_storeu_si512(xv.as_mut_ptr() as *mut _, x0);
    _mm512_storeu_si512(xv.as_mut_ptr().add(8) as *mut _, x1);
    for l in 0..LANES {
        x[l] = xv[l] as u32;
        pos[l] = pv[l] as usize;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::entropy::rans::{EncSym, L};

    /// Runs one vector step of the 16 lanes from states `x` on a symbol of frequency `f` and
    /// cumulative frequency `cum`, and checks the states, positions and words against the
    /// scalar step's.
    fn check_one_step(f: u32, cum: u32, x: [u32; LANES]) {
        let data = [0u8; LANES];
        let mut tab = [0u64; 256];
        tab[0] = entry(f, cum);
        let sym = EncSym::new(f, cum);
        let mut want = x;
        let words: Vec<(u16, bool)> = want.iter_mut().map(|xl| sym.step(xl)).collect();
        // Two words of room a lane: the scatter writes the word's neighbour too.
        let mut buf = vec![MaybeUninit::<u16>::uninit(); 2 * LANES];
        let mut pos: [usize; LANES] = std::array::from_fn(|l| 2 * l);
        let mut got = x;
        // SAFETY: the caller checked `available()`; lane l writes at buf[2l..2l + 2].
        unsafe { encode_body(&data, &tab, &mut got, &mut buf, &mut pos) };
        assert_eq!(got, want, "freq {f} cum {cum} states {x:?}");
        for (l, &(w, emit)) in words.iter().enumerate() {
            assert_eq!(pos[l], 2 * l + emit as usize, "freq {f} lane {l}");
            if emit {
                // SAFETY: the step wrote this word before advancing past it.
                assert_eq!(unsafe { buf[2 * l].assume_init() }, w, "freq {f} lane {l}");
            }
        }
    }

    /// The entry's fields, by hand for a few frequencies: `c = ⌈log2 f⌉`, the reciprocal
    /// `⌈2^(32+c) / f⌉`, the shift `20 − c`, the cumulative frequency and the frequency.
    #[test]
    fn entries_hold_the_reciprocal_and_the_fields() {
        let field = |e: u64, at: u32, bits: u32| (e >> at) & ((1 << bits) - 1);
        // f = 1: c = 0, rcp = 2^32; f = 3: c = 2, ⌈2^34 / 3⌉ = 5 726 623 062;
        // f = 4095: c = 12, ⌈2^44 / 4095⌉ = 4 296 016 129.
        for (f, cum, rcp, shift) in [
            (1u32, 7u32, 1u64 << 32, 20u64),
            (3, 4093, 5_726_623_062, 18),
            (4, 0, 1 << 32, 18),
            (4095, 1, 4_296_016_129, 8),
        ] {
            let e = entry(f, cum);
            assert_eq!(field(e, 0, RCP_BITS), rcp, "freq {f}");
            assert_eq!(field(e, SHIFT_AT, 5), shift, "freq {f}");
            assert_eq!(field(e, CUM_AT, 12), cum as u64, "freq {f}");
            assert_eq!(e >> FREQ_AT, f as u64, "freq {f}");
        }
    }

    /// One vector step gives the scalar step's states and words for every frequency 1..M − 1
    /// (cumulative 0 and M − freq), from states whose quotient is exact (a multiple of the
    /// frequency), one off either way, at the renormalisation bound, and spread over all of
    /// [L, 2^32) (a random mantissa under a random power of two, and just under the bound,
    /// where the quotient is largest).
    #[test]
    fn vector_step_is_the_scalar_step() {
        if !available() {
            return;
        }
        let mut next = crate::util::test_rng::bits(0x5EED);
        for f in 1..M {
            let bound = f << (32 - SCALE_BITS);
            let mut states: Vec<u32> = Vec::new();
            for q in [1u32, 3, 255, 4097, (1 << 20) - 1] {
                let m = q.saturating_mul(f).max(L);
                states.extend([m, m + 1, m - 1, (m << 16).max(bound), m << 16 | 0xFFFF]);
            }
            states.extend([bound - 1, bound, bound.saturating_add(1), u32::MAX, L]);
            for _ in 0..48 {
                let r = next();
                states.push(match r % 3 {
                    0 => ((r >> 8) as u32 >> (r >> 48 & 15)).max(L),
                    1 => bound.saturating_sub((r >> 20) as u32 % 4096).max(L),
                    _ => ((r >> 16) as u32).max(L),
                });
            }
            states.retain(|&x| x >= L);
            for cum in [0, M - f] {
                for group in states.chunks(LANES) {
                    let mut x = [L; LANES];
                    x[..group.len()].copy_from_slice(group);
                    check_one_step(f, cum, x);
                }
            }
        }
    }
}
