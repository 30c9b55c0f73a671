//! The kind-1–4 decoder's group of four columns (`dec3_avx2.rs`) on AVX-512 (F, VL, IFMA):
//! the same groups, the same fall-back to the scalar step, a shorter chain.
//!
//! A group is one dependency chain through its four states (the magnitude symbol's lookups,
//! the magnitude step, the low-bit and sign steps predicted without words to know which lanes
//! read, the words, the steps redone with them). On AVX2 three of its links are `vpmulld`
//! (10 cycles on Intel) with an add, and the merges are `vpblendvb`. Here the states are
//! 64-bit lanes so that a step's multiply-add is one `vpmadd52luq` (4 cycles; every product
//! is below `2^52`: a frequency ≤ 2^13 times a state's `⌊x / 2^12⌋ < 2^20`), lane conditions
//! are mask registers and merges masked moves, the sign step computes both of its outcomes
//! and picks one (the compare runs beside the multiplies, not before them), and the word of
//! each reading lane is placed by `vpexpandq` under the reading lanes' mask (the prefix
//! count of `dec3_avx2.rs` in one instruction).
//!
//! The bounds that make a group's reads known before its words (at most one read a lane) are
//! those of `dec3_avx2.rs`, evaluated on the same values, so the same groups take the vector
//! path and the values, states and positions are the scalar path's.
//!
//! Why: on the 16 384-value fc1 gradients (kind 3) a decompress took 13–16 % less user time
//! than with the AVX2 step, the 32 768-value `grad_step00010_fc2` 12 % (docs/PERFORMANCE.md,
//! session 17 `k3dec17`). No 512-bit instruction may appear here: one compiled from a mask
//! intrinsic of widened bytes made this step slower than the AVX2 one (`nonzero4`).
//!
//! Built only by compilers whose AVX-512 intrinsics are stable (`build.rs` sets `alcm_avx512`
//! from rustc 1.89).

// Compiled only where the intrinsics are stable (`alcm_avx512`, rustc ≥ 1.89).
#![allow(clippy::incompatible_msrv)]

use std::arch::x86_64::*;

use super::dec3_avx2::{load4, Row};
use super::*;

#[cfg(test)]
thread_local! {
    // Tests only: this thread has decoded with this step (its groups are counted in
    // `dec3_avx2::COUNTS`, as the AVX2 step's).
    pub(super) static RAN: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
    // Tests only: this thread decodes kind 3 on the AVX2 step instead. Per thread, unlike
    // `lanes::NO_AVX512`, so that tests running at once do not switch each other's paths.
    pub(super) static OFF: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Whether this decoder runs on this CPU.
pub(super) fn available() -> bool {
    #[cfg(test)]
    if OFF.with(|c| c.get()) {
        return false;
    }
    std::is_x86_feature_detected!("avx2")
        && std::is_x86_feature_detected!("avx512f")
        && std::is_x86_feature_detected!("avx512vl")
        && std::is_x86_feature_detected!("avx512ifma")
        && std::is_x86_feature_detected!("popcnt")
}

/// [`super::dec3_avx2::run`] on AVX-512: the same contract, the same groups decoded here and
/// handed to the scalar step.
///
/// # Safety
/// The CPU must support AVX2, AVX-512 F/VL/IFMA and POPCNT ([`available`]); `r.ai + b_j ≤ 510`
/// for every column (`r.fl.pick` has 511 entries).
#[allow(clippy::too_many_arguments)]
#[target_feature(enable = "avx2,avx512f,avx512vl,avx512ifma,popcnt")]
pub(super) unsafe fn run<const MODE: u8, T>(
    r: &Row,
    x: &mut [u32; 4],
    pos: &mut usize,
    j: usize,
    (b, cneg, ccls): (&[u8], &[bool], &[u8]),
    out: &mut [T],
    put: &mut impl FnMut(&mut T, i64),
    (qlo, qhi): (&mut i64, &mut i64),
) -> usize {
    let nw = r.words.len() / 2;
    #[cfg(test)]
    RAN.with(|c| c.set(true));
    let mut xv = _mm256_cvtepu32_epi64(_mm_loadu_si128(x.as_ptr() as *const __m128i));
    let frv = _mm_loadu_si128(r.fr.as_ptr() as *const __m128i);
    let ai = _mm_set1_epi32(r.ai as i32);
    // A closure, not a function, as on the AVX2 path (a call per group cost a third of it).
    let group = |xv: __m256i,
                 pos: usize,
                 b: *const u8,
                 cneg: *const u8,
                 ccls: *const u8|
     -> Option<(__m256i, usize, __m128i)> {
        debug_assert!(pos + 4 <= r.words.len() / 2);
        let slot_mask = _mm256_set1_epi64x(M as i64 - 1);
        let big_l = _mm256_set1_epi64x(L as i64);
        // Which of four bytes are not 0, by a byte compare: `_mm_test_epi32_mask` of the widened
        // bytes compiled to a 512-bit `vptestmd` (which slows every vector port around it).
        let nonzero4 = |p: *const u8| {
            let v = _mm_cvtsi32_si128(i32::from_le_bytes([*p, *p.add(1), *p.add(2), *p.add(3)]));
            (!_mm_movemask_epi8(_mm_cmpeq_epi8(v, _mm_setzero_si128())) & 0xF) as __mmask8
        };
        let bq = load4(b);
        let act = nonzero4(b);
        // The pick and everything derived from it are off the states' chain.
        let pk = _mm_i32gather_epi32::<4>(r.fl.pick.as_ptr() as *const i32, _mm_add_epi32(bq, ai));
        let byte = _mm_set1_epi32(0xFF);
        let ti = _mm_and_si128(pk, byte);
        let s32 = _mm_and_si128(_mm_srli_epi32::<8>(pk), byte);
        let esc = _mm_srli_epi32::<16>(pk);
        let wide = _mm_mask_cmpgt_epu32_mask(act, s32, _mm_set1_epi32(8));
        let s = _mm256_cvtepu32_epi64(s32);
        let mut ei = [0u32; 4];
        _mm_storeu_si128(ei.as_mut_ptr() as *mut __m128i, _mm_slli_epi32::<8>(ti));
        let ti12 = _mm256_slli_epi64::<12>(_mm256_cvtepu32_epi64(ti));
        // Magnitude symbol: scalar loads (a gather's latency is several loads' on the chain).
        let slot = _mm256_and_si256(xv, slot_mask);
        let li = _mm256_add_epi64(ti12, slot);
        let (l01, l23) = (
            _mm256_castsi256_si128(li),
            _mm256_extracti128_si256::<1>(li),
        );
        // SAFETY (the loads below): `ti` is a table of the set (`Flat::pick`), so `ti·M + slot`
        // is inside `lut` and `ti·256 + sym` inside `fc`; the caller's loop keeps columns
        // `j..j + 4` and words `pos..pos + 4` inside their slices (`dec3_avx2::drive`).
        let lut = r.fl.lut.as_ptr();
        let sy = [
            *lut.add(_mm_cvtsi128_si64(l01) as usize) as u32,
            *lut.add(_mm_extract_epi64::<1>(l01) as usize) as u32,
            *lut.add(_mm_cvtsi128_si64(l23) as usize) as u32,
            *lut.add(_mm_extract_epi64::<1>(l23) as usize) as u32,
        ];
        let fc = r.fl.fc.as_ptr();
        let e32 = _mm_setr_epi32(
            *fc.add((ei[0] + sy[0]) as usize) as i32,
            *fc.add((ei[1] + sy[1]) as usize) as i32,
            *fc.add((ei[2] + sy[2]) as usize) as i32,
            *fc.add((ei[3] + sy[3]) as usize) as i32,
        );
        let sym32 = _mm_setr_epi32(sy[0] as i32, sy[1] as i32, sy[2] as i32, sy[3] as i32);
        if wide | _mm_mask_cmpge_epu32_mask(act, sym32, esc) != 0 {
            return None;
        }
        let e = _mm256_cvtepu32_epi64(e32);
        let fm = _mm256_and_si256(e, _mm256_set1_epi64x((1 << 13) - 1));
        let cm = _mm256_srli_epi64::<13>(e);
        // `slot − cum` may wrap below 0: the 64-bit sum of the multiply-add wraps back.
        let x1 = _mm256_madd52lo_epu64(_mm256_sub_epi64(slot, cm), fm, _mm256_srli_epi64::<12>(xv));
        let below = |v: __m256i, k: __mmask8| _mm256_mask_cmplt_epu64_mask(k, v, big_l);
        let n_a = below(x1, act);
        // The low-bit step (s = 0: the identity) and the sign step, from a given state.
        let sh = _mm256_sub_epi64(_mm256_set1_epi64x(SCALE_BITS as i64), s);
        let low = _mm256_sub_epi64(
            _mm256_sllv_epi64(_mm256_set1_epi64x(1), sh),
            _mm256_set1_epi64x(1),
        );
        let low_step = |v: __m256i| {
            let sl = _mm256_and_si256(v, slot_mask);
            (
                _mm256_add_epi64(
                    _mm256_sllv_epi64(_mm256_srli_epi64::<12>(v), sh),
                    _mm256_and_si256(sl, low),
                ),
                _mm256_srlv_epi64(sl, sh),
            )
        };
        let f = _mm256_cvtepu32_epi64(if MODE == SIGN_CLASSES {
            // vpermilps takes the low two bits of each index: the class `& 3`.
            _mm_castps_si128(_mm_permutevar_ps(_mm_castsi128_ps(frv), load4(ccls)))
        } else {
            _mm_set1_epi32(r.fr[0] as i32)
        });
        let fo = _mm256_sub_epi64(_mm256_set1_epi64x(M as i64), f);
        let f1 = _mm256_sub_epi64(f, _mm256_set1_epi64x(1));
        let neg_f = _mm256_sub_epi64(_mm256_setzero_si256(), f);
        // (state after the sign step, flip mask): both outcomes, then the pick.
        let sign_step = |v: __m256i| {
            let sl = _mm256_and_si256(v, slot_mask);
            let hv = _mm256_srli_epi64::<12>(v);
            let keep = _mm256_madd52lo_epu64(sl, f, hv);
            let flipped = _mm256_madd52lo_epu64(_mm256_add_epi64(sl, neg_f), fo, hv);
            let flip = _mm256_cmpgt_epu64_mask(sl, f1);
            (_mm256_mask_mov_epi64(keep, flip, flipped), flip)
        };
        let has_sign = |m: __m256i| {
            if MODE == SIGN_NONE {
                0
            } else {
                _mm256_mask_test_epi64_mask(act, m, m)
            }
        };
        let sym = _mm256_cvtepu32_epi64(sym32);
        // Which lanes read, from the states before any read.
        let (x2p, lo_p) = low_step(x1);
        let n_b = below(x2p, act & !n_a);
        let mut n_c = 0;
        let x3p = if MODE != SIGN_NONE {
            let m_p = _mm256_or_si256(_mm256_sllv_epi64(sym, s), lo_p);
            let (x3p, _) = sign_step(x2p);
            n_c = below(x3p, has_sign(m_p) & !(n_a | n_b));
            x3p
        } else {
            x2p
        };
        // Bounds: no second read after the first (module docs of `dec3_avx2.rs`).
        let zero = _mm256_setzero_si256();
        let mut bad = _mm256_mask_cmpeq_epi64_mask(n_a, _mm256_srlv_epi64(x1, s), zero);
        if MODE != SIGN_NONE {
            let fmin = _mm256_min_epu64(f, fo);
            // Lanes of `n_a` have `x1 < 2^16`, those of `n_b` `x2p < 2^16`: the AVX2 path's
            // 32-bit products, exactly.
            let after_a = _mm256_madd52lo_epu64(
                zero,
                fmin,
                _mm256_srli_epi64::<12>(_mm256_sllv_epi64(
                    x1,
                    _mm256_sub_epi64(_mm256_set1_epi64x(16), s),
                )),
            );
            let after_b = _mm256_madd52lo_epu64(zero, fmin, _mm256_slli_epi64::<4>(x2p));
            bad |= below(after_a, n_a) | below(after_b, n_b);
        }
        if bad != 0 {
            return None;
        }
        // One word per reading lane, at the position plus the reads of the lanes before it.
        let reads = n_a | n_b | n_c;
        let next4 = _mm256_cvtepu16_epi64(_mm_loadl_epi64(
            r.words.as_ptr().add(2 * pos) as *const __m128i
        ));
        let w = _mm256_maskz_expand_epi64(reads, next4);
        let with_word = |v: __m256i| _mm256_or_si256(_mm256_slli_epi64::<16>(v), w);
        // The value's steps again, with the word where it is read.
        let xa = _mm256_mask_mov_epi64(x1, n_a, with_word(x1));
        let (x2, lo) = low_step(xa);
        let xb = _mm256_mask_mov_epi64(x2, n_b, with_word(x2p));
        let m = _mm256_or_si256(_mm256_sllv_epi64(sym, s), lo);
        let (xf, q) = if MODE == SIGN_NONE {
            (xb, m)
        } else {
            let hs = has_sign(m);
            let (x3, flip) = sign_step(xb);
            let xc = _mm256_mask_mov_epi64(xb, hs, x3);
            // Lanes reading at the sign step had no read before: their `x3` is `x3p`.
            let xc = _mm256_mask_mov_epi64(xc, n_c, with_word(x3p));
            let pred: __mmask8 = if MODE == SIGN_SVD || MODE == SIGN_CLASSES {
                let cn = nonzero4(cneg);
                if r.rneg {
                    !cn
                } else {
                    cn
                }
            } else {
                0
            };
            let neg = (pred ^ flip) & hs;
            (xc, _mm256_mask_sub_epi64(m, neg, zero, m))
        };
        Some((
            _mm256_mask_mov_epi64(xv, act, xf),
            (reads as u32).count_ones() as usize,
            _mm256_maskz_cvtepi64_epi32(act, q),
        ))
    };
    let cols3 = (b, cneg, ccls);
    let j = super::dec3_avx2::drive(&mut xv, j, pos, nw, cols3, out, put, (qlo, qhi), group);
    _mm_storeu_si128(x.as_mut_ptr() as *mut __m128i, _mm256_cvtepi64_epi32(xv));
    j
}
