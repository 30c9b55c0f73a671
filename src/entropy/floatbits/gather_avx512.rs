//! The rest planes of 4- and 8-byte elements (`gather::rest_planes`) sixteen elements at a time:
//! one byte permutation puts the sixteen elements' byte j side by side for every j, and one
//! byte compress per plane keeps those of the side asked for.
//!
//! Why: the one-element-at-a-time loop took 34 instructions an element, with a branch on the
//! head that mispredicts where zero heads are common (a quarter of the instructions of a
//! lossless compress and decompress of a gradient-like tensor with one value in five 0), and
//! the compress call's peak bound (issue 12) now wants the two sides in two passes.

// Compiled only where the intrinsics are stable (`alcm_avx512`, rustc ≥ 1.89; `build.rs`);
// used when the CPU has AVX-512F, BW, VL, VBMI and VBMI2.
#![allow(clippy::incompatible_msrv)]

use std::arch::x86_64::*;

/// Whether the CPU has what [`rest4`] runs on.
pub(super) fn available() -> bool {
    std::is_x86_feature_detected!("avx512f")
        && std::is_x86_feature_detected!("avx512bw")
        && std::is_x86_feature_detected!("avx512vl")
        && std::is_x86_feature_detected!("avx512vbmi")
        && std::is_x86_feature_detected!("avx512vbmi2")
        && std::is_x86_feature_detected!("popcnt")
}

/// The groups of 16 elements of `seg` (4 bytes each) into the rest planes `p[0..3]` at
/// `*at`: byte 0 and byte 1 of each kept element whose head is 0 (`zero`) or is not, and its
/// top rest byte (`e[2] & 0x7F | e[3] & 0x80`); kept: column bit `k % 16` of `cols[k / 16]`,
/// if `cols`. Returns the elements done (a multiple of 16); `*at` stays ≤ `len`.
///
/// # Safety
/// The CPU must have what [`available`] checks. `p[0..3]` must each hold at least
/// `len + 16` bytes, and `*at` ≤ `len`; `cols`, if some, must have a word per 16 elements of
/// `seg` (rounded up).
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vbmi,avx512vbmi2,popcnt")]
pub(super) unsafe fn rest4(
    seg: &[u8],
    cols: Option<&[u16]>,
    zero: bool,
    p: &mut [&mut [u8]; 7],
    at: &mut usize,
    len: usize,
) -> usize {
    debug_assert!(p[..3].iter().all(|b| b.len() >= len + 16) && *at <= len);
    // Output byte 16·j + k is byte j of element k.
    let idx: [u8; 64] = std::array::from_fn(|o| (4 * (o % 16) + o / 16) as u8);
    let idx = _mm512_loadu_si512(idx.as_ptr() as *const _);
    let hi = _mm_set1_epi8(0x80u8 as i8);
    let groups = seg.len() / 64;
    let (p0, p1, p2) = (p[0].as_mut_ptr(), p[1].as_mut_ptr(), p[2].as_mut_ptr());
    let mut a = *at;
    for g in 0..groups {
        // SAFETY: 64·(g + 1) ≤ seg.len(); unaligned load.
        let v = _mm512_loadu_si512(seg.as_ptr().add(64 * g) as *const _);
        let t = _mm512_permutexvar_epi8(idx, v);
        let b0 = _mm512_castsi512_si128(t);
        let b1 = _mm512_extracti32x4_epi32::<1>(t);
        let b2 = _mm512_extracti32x4_epi32::<2>(t);
        let b3 = _mm512_extracti32x4_epi32::<3>(t);
        // The top rest byte: the sign over the low 7 bits of byte 2; the head is the other
        // bits of bytes 2 and 3 (the exponent), 0 where all of them are.
        let top = _mm_or_si128(_mm_andnot_si128(hi, b2), _mm_and_si128(hi, b3));
        let head = _mm_or_si128(_mm_andnot_si128(hi, b3), _mm_and_si128(hi, b2));
        let z = _mm_cmpeq_epi8_mask(head, _mm_setzero_si128());
        let mut keep = if zero { z } else { !z };
        if let Some(c) = cols {
            keep &= c[g];
        }
        // SAFETY: a ≤ len and each plane holds len + 16 bytes: the 16-byte stores stay inside.
        _mm_storeu_si128(p0.add(a) as *mut __m128i, _mm_maskz_compress_epi8(keep, b0));
        _mm_storeu_si128(p1.add(a) as *mut __m128i, _mm_maskz_compress_epi8(keep, b1));
        _mm_storeu_si128(
            p2.add(a) as *mut __m128i,
            _mm_maskz_compress_epi8(keep, top),
        );
        a = (a + keep.count_ones() as usize).min(len);
    }
    *at = a;
    16 * groups
}

/// [`rest4`] for 8-byte elements, 16 at a time from two loads: `p[0..7]`, planes 0–5 the
/// bytes 0–5, plane 6 the top rest byte (`e[6] & 0x7F | e[7] & 0x80`).
///
/// # Safety
/// As [`rest4`], with `p[0..7]`.
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vbmi,avx512vbmi2,popcnt")]
pub(super) unsafe fn rest8(
    seg: &[u8],
    cols: Option<&[u16]>,
    zero: bool,
    p: &mut [&mut [u8]; 7],
    at: &mut usize,
    len: usize,
) -> usize {
    debug_assert!(p.iter().all(|b| b.len() >= len + 16) && *at <= len);
    // Output byte 16·j + k of half h is byte 4h + j of element k: elements 0–7 from the first
    // load, 8–15 from the second (index bit 6).
    let index = |h: usize| -> [u8; 64] {
        std::array::from_fn(|o| {
            let (j, k) = (4 * h + o / 16, o % 16);
            ((k / 8) * 64 + 8 * (k % 8) + j) as u8
        })
    };
    let (lo, hi4) = (index(0), index(1));
    let lo = _mm512_loadu_si512(lo.as_ptr() as *const _);
    let hi4 = _mm512_loadu_si512(hi4.as_ptr() as *const _);
    let hi = _mm_set1_epi8(0x80u8 as i8);
    let groups = seg.len() / 128;
    let d: [*mut u8; 7] = std::array::from_fn(|j| p[j].as_mut_ptr());
    let mut a = *at;
    for g in 0..groups {
        // SAFETY: 128·(g + 1) ≤ seg.len(); unaligned loads.
        let v0 = _mm512_loadu_si512(seg.as_ptr().add(128 * g) as *const _);
        let v1 = _mm512_loadu_si512(seg.as_ptr().add(128 * g + 64) as *const _);
        let t0 = _mm512_permutex2var_epi8(v0, lo, v1);
        let t1 = _mm512_permutex2var_epi8(v0, hi4, v1);
        let b = [
            _mm512_castsi512_si128(t0),
            _mm512_extracti32x4_epi32::<1>(t0),
            _mm512_extracti32x4_epi32::<2>(t0),
            _mm512_extracti32x4_epi32::<3>(t0),
            _mm512_castsi512_si128(t1),
            _mm512_extracti32x4_epi32::<1>(t1),
        ];
        let (b6, b7) = (
            _mm512_extracti32x4_epi32::<2>(t1),
            _mm512_extracti32x4_epi32::<3>(t1),
        );
        let top = _mm_or_si128(_mm_andnot_si128(hi, b6), _mm_and_si128(hi, b7));
        let head = _mm_or_si128(_mm_andnot_si128(hi, b7), _mm_and_si128(hi, b6));
        let z = _mm_cmpeq_epi8_mask(head, _mm_setzero_si128());
        let mut keep = if zero { z } else { !z };
        if let Some(c) = cols {
            keep &= c[g];
        }
        // SAFETY: a ≤ len and each plane holds len + 16 bytes: the 16-byte stores stay inside.
        for (j, &bj) in b.iter().enumerate() {
            _mm_storeu_si128(
                d[j].add(a) as *mut __m128i,
                _mm_maskz_compress_epi8(keep, bj),
            );
        }
        _mm_storeu_si128(
            d[6].add(a) as *mut __m128i,
            _mm_maskz_compress_epi8(keep, top),
        );
        a = (a + keep.count_ones() as usize).min(len);
    }
    *at = a;
    16 * groups
}
