//! Kind-6 rows on AVX-512: the 16 states in one vector, a row's full groups 16 columns at a
//! time (the steps of `shared::decode_group`, as `lanes_dec_avx512.rs` takes them for kind 5),
//! each step's words taken from the shared stream by one expand.
//!
//! Why an expand from registers: a group takes at most 32 words (two per state, see the
//! sign step), so its window of the stream is read up front as two vectors; a step's words
//! are then the window from the words the earlier steps took (a two-source permute by their
//! count), expanded into the lanes that renormalise, in lane order. No memory access waits on
//! the chain of states.
//!
//! Built only by compilers whose AVX-512 intrinsics are stable (`build.rs` sets `alcm_avx512`
//! from rustc 1.89); used when the CPU has AVX-512F. It gives the values of the scalar path.

// Compiled only where the intrinsics are stable (`alcm_avx512`, rustc ≥ 1.89).
#![allow(clippy::incompatible_msrv)]

use super::decode::Sink;
use super::lanes::avx512::{
    low_bits, magnitude_state, magnitude_symbol, picks, predicted_neg, sign_freqs, sign_state,
    sink16, sink_consts,
};
use super::lanes::Flat;
use super::shared::{decode_group_into, RowDec, Shared, STATES};
use super::{L, SIGN_NONE};
use crate::Result;
use std::arch::x86_64::*;

/// Whether this decoder runs on this CPU.
pub(super) fn available() -> bool {
    #[cfg(test)]
    if super::lanes::NO_AVX512.load(std::sync::atomic::Ordering::SeqCst) {
        return false;
    }
    std::is_x86_feature_detected!("avx512f") && std::is_x86_feature_detected!("popcnt")
}

/// Words a group can take at most: two per state.
const WINDOW: usize = 2 * STATES;

/// Columns `j..j+16` as one vector from the states `x`, the stream's words from `pos` on in
/// `win` (the window: words `pos .. pos + 32` as 32-bit lanes, low vector first): the new
/// states, the number of words taken and the 16 codes `q` (|q| < 2^16), or `None`, having
/// changed nothing, when a lane needs an escape or more than 8 low bits.
///
/// # Safety
/// AVX-512F and POPCNT must be available. Table gathers stay inside the tables (`Flat`'s
/// layout); `j + 16 ≤ r.b.len()`.
#[target_feature(enable = "avx512f,popcnt")]
#[inline]
unsafe fn group<const MODE: u8>(
    r: &RowDec,
    fl: &Flat,
    ai: u32,
    x: __m512i,
    win: (__m512i, __m512i),
    j: usize,
) -> Option<(__m512i, usize, __m512i)> {
    debug_assert!(j + STATES <= r.b.len());
    let zero = _mm512_setzero_si512();
    let lim = _mm512_set1_epi32(L as i32);
    let iota = _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
    // Lanes `need` (v < L) shift in the window's words from `taken` on, in lane order. Only
    // words below 32 are ever taken, so the permute's 5-bit indices do not wrap on a word
    // that is used.
    let renorm = |v: __m512i, need: __mmask16, taken: u32| -> __m512i {
        let words = _mm512_permutex2var_epi32(
            win.0,
            _mm512_add_epi32(iota, _mm512_set1_epi32(taken as i32)),
            win.1,
        );
        _mm512_mask_or_epi32(
            v,
            need,
            _mm512_slli_epi32::<16>(v),
            _mm512_maskz_expand_epi32(need, words),
        )
    };
    let (act, ti, s, esc) = picks(fl, ai, r.b.as_ptr().add(j));
    if _mm512_mask_cmpgt_epu32_mask(act, s, _mm512_set1_epi32(8)) != 0 {
        return None;
    }
    // Step 1: magnitude symbols.
    let sym = magnitude_symbol(fl, ti, x);
    if _mm512_mask_cmpge_epu32_mask(act, sym, esc) != 0 {
        return None;
    }
    let v = magnitude_state(fl, ti, sym, x);
    let n1 = _mm512_mask_cmplt_epu32_mask(act, v, lim);
    let v = renorm(v, n1, 0);
    let t1 = (n1 as u32).count_ones();
    // Step 2: s ≤ 8 low bits (s = 0: the identity, which leaves the state ≥ L, so no word).
    let (v, lo) = low_bits(v, s);
    let n2 = _mm512_mask_cmplt_epu32_mask(act, v, lim);
    let v = renorm(v, n2, t1);
    let t2 = t1 + (n2 as u32).count_ones();
    let m = _mm512_or_si512(_mm512_sllv_epi32(sym, s), lo);
    let (vf, taken, neg) = if MODE == SIGN_NONE {
        (v, t2, 0)
    } else {
        // Step 3: signs, on the lanes with m ≠ 0.
        let (flip, v2) = sign_state(v, sign_freqs::<MODE>(r.fr, r.ccls.as_ptr().add(j)));
        // At most two words per lane in a group: from x ≥ L the magnitude step leaves ≥ 16,
        // renormalised ≥ 2^20; the low bits (sh ≥ 4) leave ≥ 2^12, renormalised ≥ 2^28; a
        // lane that took a word in both steps is ≥ 2^28 before its sign step and ≥ L after.
        let nz = _mm512_mask_test_epi32_mask(act, m, m);
        let n3 = _mm512_mask_cmplt_epu32_mask(nz, v2, lim);
        let v2 = renorm(v2, n3, t2);
        let pred = predicted_neg::<MODE>(r.cneg.as_ptr().add(j), r.rneg);
        (
            _mm512_mask_mov_epi32(v, nz, v2),
            t2 + (n3 as u32).count_ones(),
            (flip ^ pred) & nz,
        )
    };
    let x = _mm512_mask_mov_epi32(x, act, vf);
    let qv = _mm512_maskz_mov_epi32(act, _mm512_mask_sub_epi32(m, neg, zero, m));
    Some((x, taken as usize, qv))
}

/// The stream's words `pos .. pos + 32` as 32-bit lanes (low 16, high 16).
///
/// # Safety
/// AVX-512F; `w` holds at least `pos + 32` words.
#[target_feature(enable = "avx512f")]
#[inline]
unsafe fn window(w: &[u8], pos: usize) -> (__m512i, __m512i) {
    debug_assert!(2 * (pos + WINDOW) <= w.len());
    let p = w.as_ptr().add(2 * pos) as *const __m256i;
    (
        _mm512_cvtepu16_epi32(_mm256_loadu_si256(p)),
        _mm512_cvtepu16_epi32(_mm256_loadu_si256(p.add(1))),
    )
}

/// The full groups of a row (columns `0 .. cols / 16 · 16`): as vectors while the stream has
/// a whole window left, else (and where the vector step declines: escape, wide low bits)
/// through the scalar [`decode_group`]; each group's values written into `out` by `sink` (a
/// vector sink only when T is f32) or `put`. Returns the columns done and the extremes of
/// their codes.
///
/// # Safety
/// AVX-512F and POPCNT must be available ([`available`]); `sink` is [`Sink::Put`] unless T
/// is f32; `fl` is the tables of the payload's family and `ai` the row's scale code (≥ 1).
#[target_feature(enable = "avx512f,popcnt")]
#[allow(clippy::too_many_arguments)]
pub(super) unsafe fn row<const MODE: u8, T: Copy>(
    r: &RowDec,
    fl: &Flat,
    ai: u8,
    w: &[u8],
    st: &mut Shared,
    out: &mut [T],
    q0: i64,
    put: &impl Fn(&mut T, i64, u32),
    sink: Sink,
) -> Result<(usize, i64, i64)> {
    let consts = sink_consts(sink);
    let (mut vlo, mut vhi) = (_mm512_set1_epi32(i32::MAX), _mm512_set1_epi32(i32::MIN));
    let (mut qlo, mut qhi) = (i64::MAX, i64::MIN);
    let mut any_vector = false;
    let n_words = w.len() / 2;
    let mut x = _mm512_loadu_si512(st.x.as_ptr() as *const _);
    let mut pos = st.pos;
    let cols16 = out.len() / STATES * STATES;
    let mut j = 0;
    while j < cols16 {
        if pos + WINDOW <= n_words {
            if let Some((nx, taken, qv)) = group::<MODE>(r, fl, ai as u32, x, window(w, pos), j) {
                any_vector = true;
                vlo = _mm512_min_epi32(vlo, qv);
                vhi = _mm512_max_epi32(vhi, qv);
                sink16(&mut out[j..j + STATES], qv, sink, consts, q0, put);
                (x, pos) = (nx, pos + taken);
                j += STATES;
                continue;
            }
        }
        _mm512_storeu_si512(st.x.as_mut_ptr() as *mut _, x);
        st.pos = pos;
        let o = &mut out[j..j + STATES];
        decode_group_into::<MODE, T>(r, w, st, j, o, q0, put, (&mut qlo, &mut qhi))?;
        x = _mm512_loadu_si512(st.x.as_ptr() as *const _);
        pos = st.pos;
        j += STATES;
    }
    _mm512_storeu_si512(st.x.as_mut_ptr() as *mut _, x);
    st.pos = pos;
    if any_vector {
        qlo = qlo.min(_mm512_reduce_min_epi32(vlo) as i64);
        qhi = qhi.max(_mm512_reduce_max_epi32(vhi) as i64);
    }
    Ok((cols16, qlo, qhi))
}
