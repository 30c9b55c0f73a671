//! Kind-6 rows on AVX2: the 16 states as two vectors of eight, a row's full groups 16
//! columns at a time (the steps of `shared::decode_group`, as `lanes::groups_avx2` takes them
//! for kind 5), each step's words taken from the shared stream in lane order.
//!
//! Why: without it an AVX2 machine decoded kind 6, the frames of the 4 096 – 2^16-value
//! tensors, one value at a time: 0.5× SZ3's speed on the 16 384-value gradients on a Zen 3
//! machine (docs/PERFORMANCE.md, session 25).
//!
//! How a step takes its words without AVX-512's expand: the lanes of a half that renormalise
//! (a mask of eight) read the eight words from the stream's next one, each its rank among
//! them (a table per mask) by one permute; the upper half reads from after the lower half's.
//! The two halves' steps run side by side, so their chains of states overlap.

use super::decode::Sink;
use super::lanes::Flat;
use super::shared::{decode_group_into, RowDec, Shared, STATES};
use super::steps_avx2::{
    low_bits, magnitude_state, picks, predicted_neg, sign_freqs, sign_state, sink8, sink_consts,
    slot_entries,
};
use super::{L, SIGN_NONE};
use crate::Result;
use std::arch::x86_64::*;

/// Words a group reads at most from its first: two per state (see the sign step), and the
/// eight that a step's load reads from the last word it may take.
const WINDOW: usize = 2 * STATES + 8;

/// Per mask of eight lanes, each lane's count of the lanes set below it (its word's rank).
static RANK: [[u8; 8]; 256] = {
    let mut t = [[0u8; 8]; 256];
    let mut m = 0;
    while m < 256 {
        let (mut l, mut k) = (0, 0u8);
        while l < 8 {
            t[m][l] = k;
            k += (m >> l & 1) as u8;
            l += 1;
        }
        m += 1;
    }
    t
};

/// The lanes `need` of `v` shift in the words from `at` on, in lane order: the new states and
/// the words taken. The count by POPCNT, not a table: the next step's words are read from
/// after these, so the count is on the chain from one half's step to the next.
///
/// # Safety
/// AVX2 and POPCNT (inlined into [`row`] only); `at` points to 8 readable words.
#[inline(always)]
unsafe fn take_words(v: __m256i, need: __m256i, at: *const u8) -> (__m256i, usize) {
    let m = _mm256_movemask_ps(_mm256_castsi256_ps(need)) as usize;
    let rank = _mm256_cvtepu8_epi32(_mm_loadl_epi64(RANK[m].as_ptr() as *const __m128i));
    let words = _mm256_cvtepu16_epi32(_mm_loadu_si128(at as *const __m128i));
    let nv = _mm256_or_si256(
        _mm256_slli_epi32::<16>(v),
        _mm256_permutevar8x32_epi32(words, rank),
    );
    (
        _mm256_blendv_epi8(v, nv, need),
        (m as u32).count_ones() as usize,
    )
}

/// The lanes of `v` below L (unsigned) among `mask`.
///
/// # Safety
/// AVX2 (inlined into AVX2 code only).
#[inline(always)]
unsafe fn below_l(v: __m256i, mask: __m256i) -> __m256i {
    let lim = _mm256_set1_epi32(L as i32 ^ i32::MIN);
    let v = _mm256_xor_si256(v, _mm256_set1_epi32(i32::MIN));
    _mm256_and_si256(_mm256_cmpgt_epi32(lim, v), mask)
}

/// Columns `j..j+16` from the states `x` (lanes 0–7, 8–15), the stream's words from `at`:
/// the new states, the number of words taken and the 16 codes `q` (|q| < 2^16), or `None`,
/// having changed nothing, when a lane needs an escape or more than 8 low bits.
///
/// # Safety
/// AVX2 (inlined into AVX2 code only; no closures, which would not take its features).
/// Table gathers stay inside the tables (`Flat`'s layout); `j + 16 ≤ r.b.len()`; `at` points
/// to [`WINDOW`] readable words.
#[inline(always)]
#[allow(clippy::needless_range_loop)] // the steps of the two halves, side by side
unsafe fn group<const MODE: u8>(
    r: &RowDec,
    fl: &Flat,
    ai: u8,
    x: [__m256i; 2],
    at: *const u8,
    j: usize,
) -> Option<([__m256i; 2], usize, [__m256i; 2])> {
    debug_assert!(j + STATES <= r.b.len());
    let zero = _mm256_setzero_si256();
    let ones = _mm256_set1_epi32(-1);
    let v0 = [zero; 2];
    let (mut act, mut ti, mut s, mut esc) = (v0, v0, v0, v0);
    let mut wide = zero;
    for k in 0..2 {
        (act[k], ti[k], s[k], esc[k]) = picks(fl, ai, None, r.b.as_ptr().add(j + 8 * k));
        let w = _mm256_and_si256(_mm256_cmpgt_epi32(s[k], _mm256_set1_epi32(8)), act[k]);
        wide = _mm256_or_si256(wide, w);
    }
    if _mm256_movemask_epi8(wide) != 0 {
        return None;
    }
    // Step 1: magnitude symbols, by the slot's entry (`Flat::slot`).
    let (mut e, mut sym) = (v0, v0);
    let mut bad = zero;
    for k in 0..2 {
        e[k] = slot_entries(fl, ti[k], x[k]);
    }
    for k in 0..2 {
        sym[k] = _mm256_srli_epi32::<24>(e[k]);
        let b = _mm256_xor_si256(_mm256_cmpgt_epi32(esc[k], sym[k]), ones);
        bad = _mm256_or_si256(bad, _mm256_and_si256(b, act[k]));
    }
    if _mm256_movemask_epi8(bad) != 0 {
        return None;
    }
    let mut v = v0;
    for k in 0..2 {
        v[k] = magnitude_state(e[k], x[k]);
    }
    let mut taken = 0;
    for k in 0..2 {
        let t;
        (v[k], t) = take_words(v[k], below_l(v[k], act[k]), at.add(2 * taken));
        taken += t;
    }
    // Step 2: s ≤ 8 low bits (s = 0: the identity, which leaves the state ≥ L, so no word).
    let mut m = v0;
    for k in 0..2 {
        (v[k], m[k]) = low_bits(v[k], s[k], sym[k]);
    }
    for k in 0..2 {
        let t;
        (v[k], t) = take_words(v[k], below_l(v[k], act[k]), at.add(2 * taken));
        taken += t;
    }
    let mut neg = v0;
    if MODE != SIGN_NONE {
        // Step 3: signs, on the lanes with m ≠ 0. At most two words per lane in a group
        // (see `shared_dec_avx512.rs`).
        let (mut flip, mut v2, mut nz) = (v0, v0, v0);
        for k in 0..2 {
            let f = sign_freqs::<MODE>(r.fr, r.ccls.as_ptr().add(j + 8 * k));
            (flip[k], v2[k]) = sign_state(v[k], f);
            nz[k] = _mm256_andnot_si256(_mm256_cmpeq_epi32(m[k], zero), act[k]);
        }
        for k in 0..2 {
            let t;
            (v2[k], t) = take_words(v2[k], below_l(v2[k], nz[k]), at.add(2 * taken));
            taken += t;
            v[k] = _mm256_blendv_epi8(v[k], v2[k], nz[k]);
            let pred = predicted_neg::<MODE>(r.cneg.as_ptr().add(j + 8 * k), r.rneg);
            neg[k] = _mm256_and_si256(_mm256_xor_si256(flip[k], pred), nz[k]);
        }
    }
    let (mut xo, mut qo) = (v0, v0);
    for k in 0..2 {
        xo[k] = _mm256_blendv_epi8(x[k], v[k], act[k]);
        let q = _mm256_sub_epi32(_mm256_xor_si256(m[k], neg[k]), neg[k]);
        qo[k] = _mm256_and_si256(q, act[k]);
    }
    Some((xo, taken, qo))
}

/// The full groups of a row (columns `0 .. cols / 16 · 16`): as vectors while the stream has
/// a whole window left, else (and where the vector step declines: escape, wide low bits)
/// through the scalar [`decode_group`]; each group's values written into `out` by `sink` (a
/// vector sink only when T is f32) or `put`. Returns the columns done and the extremes of
/// their codes.
///
/// # Safety
/// AVX2 and POPCNT must be available (`lanes::have_avx2`); `sink` is [`Sink::Put`] unless T
/// is f32; `fl` is the tables of the payload's family and `ai` the row's scale code (≥ 1).
#[target_feature(enable = "avx2,popcnt")]
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
    let (mut vlo, mut vhi) = (_mm256_set1_epi32(i32::MAX), _mm256_set1_epi32(i32::MIN));
    let (mut qlo, mut qhi) = (i64::MAX, i64::MIN);
    let mut any_vector = false;
    let n_words = w.len() / 2;
    let load = |st: &Shared| {
        let p = st.x.as_ptr() as *const __m256i;
        [_mm256_loadu_si256(p), _mm256_loadu_si256(p.add(1))]
    };
    let store = |st: &mut Shared, x: [__m256i; 2]| {
        let p = st.x.as_mut_ptr() as *mut __m256i;
        _mm256_storeu_si256(p, x[0]);
        _mm256_storeu_si256(p.add(1), x[1]);
    };
    let mut x = load(st);
    let mut pos = st.pos;
    let cols16 = out.len() / STATES * STATES;
    let mut j = 0;
    while j < cols16 {
        if pos + WINDOW <= n_words {
            let at = w.as_ptr().add(2 * pos);
            if let Some((nx, taken, qv)) = group::<MODE>(r, fl, ai, x, at, j) {
                any_vector = true;
                for (k, &qk) in qv.iter().enumerate() {
                    vlo = _mm256_min_epi32(vlo, qk);
                    vhi = _mm256_max_epi32(vhi, qk);
                    let o = &mut out[j + 8 * k..j + 8 * k + 8];
                    sink8(o, qk, sink, consts, q0, put);
                }
                (x, pos) = (nx, pos + taken);
                j += STATES;
                continue;
            }
        }
        store(st, x);
        st.pos = pos;
        let o = &mut out[j..j + STATES];
        decode_group_into::<MODE, T>(r, w, st, j, o, q0, put, (&mut qlo, &mut qhi))?;
        x = load(st);
        pos = st.pos;
        j += STATES;
    }
    store(st, x);
    st.pos = pos;
    if any_vector {
        let (mut lo, mut hi) = ([0i32; 8], [0i32; 8]);
        _mm256_storeu_si256(lo.as_mut_ptr() as *mut __m256i, vlo);
        _mm256_storeu_si256(hi.as_mut_ptr() as *mut __m256i, vhi);
        qlo = qlo.min(lo.into_iter().min().unwrap_or(i32::MAX) as i64);
        qhi = qhi.max(hi.into_iter().max().unwrap_or(i32::MIN) as i64);
    }
    Ok((cols16, qlo, qhi))
}
