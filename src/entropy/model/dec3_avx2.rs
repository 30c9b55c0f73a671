//! The kind-1–4 decoder's inner step on AVX2: four consecutive columns (one per rANS state)
//! decoded at once, states in a 128-bit vector.
//!
//! The four states share one word stream, read in lane order: all of lane 0's words for its
//! value (magnitude, low bits, sign), then lane 1's, … So lane `l` reads at the stream
//! position plus the count of words its earlier lanes read — a prefix count, as interleaved
//! rANS decoders with one stream do. That count is known before any word is read when each
//! lane reads at most one word for its value and whether it does is known from its state
//! before that read. Both hold for a lane whose first read is its last: after a read the state
//! is at least `2^16 ×` what it was, and a bound on the value's later steps (below) shows that
//! none of them can fall under `L` again. A group where a bound does not hold, or with an
//! escape or more than 8 low bits, is decoded by the scalar `decode::value_fast` on the same states
//! (nothing of the group is committed before), so every group gives the scalar path's values,
//! states and position exactly.
//!
//! Bounds (`x1` the state after the magnitude step, below `L` when it reads; `s` low bits;
//! `fmin = min(f, M − f)` the smaller sign frequency): after a read the state is `≥ x1 · 2^16`,
//! the low-bit step keeps `≥ x1 · 2^(16 − s)`, which is `≥ L` when `x1 ≥ 2^s`; the sign step
//! then keeps `≥ fmin · ⌊x1 · 2^(16 − s) / 2^12⌋`. A read at the low-bit step (state `x2`)
//! leaves `≥ fmin · x2 · 2^4` after the sign step.
//!
//! Symbol lookups are scalar loads, not gathers: they sit on the state's dependency chain,
//! where a gather's latency (≈ 20 cycles on Zen 3) is several loads' (a first version with
//! gathers decoded slower than the scalar loop).
//!
//! Why: a decode call of a trainer-sized kind-3 tensor cost ≈ 120 instructions a value with
//! the scalar loop (its four lanes wait on one word position), ≈ 57 with this step. The chain
//! of a group (two table loads, two multiplies per step, the word permute) bounds its speed,
//! so sign mode 1 (one short step a value) stays scalar (`decode::rows_mode`).

use std::arch::x86_64::*;

use super::lanes::Flat;
use super::*;

/// A row's constants for [`run`].
pub(super) struct Row<'a> {
    pub(super) fl: &'a Flat,
    /// The word stream of the block (states first).
    pub(super) words: &'a [u8],
    /// The row's scale code `a_i` (the pick of column `j` is `pick[a_i + b_j]`).
    pub(super) ai: u32,
    /// The row's four sign frequencies (by column class; all `fs[0]` unless sign mode 3).
    pub(super) fr: [u32; 4],
    /// Sign modes 2, 3: the row's predicted sign is negative.
    pub(super) rneg: bool,
}

#[cfg(test)]
thread_local! {
    // Tests only: groups decoded on this thread by the vector step and handed to the scalar one.
    pub(super) static COUNTS: std::cell::Cell<[usize; 2]> = const { std::cell::Cell::new([0; 2]) };
}

/// Decodes the groups of four columns from column `j` on (column `j + l` on state `x[l]`,
/// words from `*pos`) while this path can, calling `put(out[j + l], q)` in column order and
/// keeping `qlo`/`qhi` the least and greatest `q`; returns the column where it stopped: the end
/// of the row's groups, a group that needs the scalar path (an escape, more than 8 low bits, a
/// lane that might read twice), or fewer than 4 words left. `x` and `*pos` are left there.
///
/// `b`, `cneg`, `ccls`: the row's columns' scale codes, predicted-negative flags and sign
/// classes (`cols` each, as `out`).
///
/// # Safety
/// The CPU must support AVX2; `r.ai + b_j ≤ 510` for every column (`r.fl.pick` has 511
/// entries).
#[allow(clippy::too_many_arguments)]
#[target_feature(enable = "avx2")]
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
    let mut xv = _mm_loadu_si128(x.as_ptr() as *const __m128i);
    // One group: `Some((states, words read, codes q))`, or `None` for the scalar path. A
    // closure, not a function: a `target_feature` function is not inlined here, and the call
    // (its constants and its result through memory) cost a third of the group.
    let group = |xv: __m128i,
                 pos: usize,
                 b: *const u8,
                 cneg: *const u8,
                 ccls: *const u8|
     -> Option<(__m128i, usize, __m128i)> {
        debug_assert!(pos + 4 <= r.words.len() / 2);
        let zero = _mm_setzero_si128();
        let ones = _mm_set1_epi32(-1);
        let slot_mask = _mm_set1_epi32(M as i32 - 1);
        let byte = _mm_set1_epi32(0xFF);
        // v < L = 2^16 as a lane mask.
        let below = |v: __m128i| _mm_cmpeq_epi32(_mm_srli_epi32::<16>(v), zero);
        let bq = load4(b);
        let act = _mm_xor_si128(_mm_cmpeq_epi32(bq, zero), ones);
        let pk = _mm_i32gather_epi32::<4>(
            r.fl.pick.as_ptr() as *const i32,
            _mm_add_epi32(bq, _mm_set1_epi32(r.ai as i32)),
        );
        let ti = _mm_and_si128(pk, byte);
        let s = _mm_and_si128(_mm_srli_epi32::<8>(pk), byte);
        let esc = _mm_srli_epi32::<16>(pk);
        let wide = _mm_cmpgt_epi32(s, _mm_set1_epi32(8));
        // Magnitude symbol (no word yet: exact on every lane).
        // Scalar loads, not gathers: on the state's dependency chain a gather's latency (≈ 20
        // cycles on Zen 3) is several loads'.
        let slot = _mm_and_si128(xv, slot_mask);
        let mut li = [0u32; 4];
        _mm_storeu_si128(
            li.as_mut_ptr() as *mut __m128i,
            _mm_add_epi32(_mm_slli_epi32::<12>(ti), slot),
        );
        let mut ei = [0u32; 4];
        _mm_storeu_si128(ei.as_mut_ptr() as *mut __m128i, _mm_slli_epi32::<8>(ti));
        let lut = r.fl.lut.as_ptr();
        let sy = li.map(|k| *lut.add(k as usize) as u32);
        let sym = _mm_loadu_si128(sy.as_ptr() as *const __m128i);
        let is_esc = _mm_xor_si128(_mm_cmpgt_epi32(esc, sym), ones);
        if _mm_movemask_ps(_mm_castsi128_ps(_mm_and_si128(
            _mm_or_si128(wide, is_esc),
            act,
        ))) != 0
        {
            return None;
        }
        let fc = r.fl.fc.as_ptr();
        let ev = [0, 1, 2, 3].map(|l| *fc.add((ei[l] + sy[l]) as usize));
        let e = _mm_loadu_si128(ev.as_ptr() as *const __m128i);
        let fm = _mm_and_si128(e, _mm_set1_epi32((1 << 13) - 1));
        let cm = _mm_srli_epi32::<13>(e);
        let x1 = _mm_sub_epi32(
            _mm_add_epi32(_mm_mullo_epi32(fm, _mm_srli_epi32::<12>(xv)), slot),
            cm,
        );
        let n_a = _mm_and_si128(below(x1), act);
        // The low-bit step (s = 0: the identity) and the sign step, from a given state.
        let sh = _mm_sub_epi32(_mm_set1_epi32(SCALE_BITS as i32), s);
        let low = _mm_sub_epi32(_mm_sllv_epi32(_mm_set1_epi32(1), sh), _mm_set1_epi32(1));
        let low_step = |v: __m128i| {
            let sl = _mm_and_si128(v, slot_mask);
            (
                _mm_add_epi32(
                    _mm_sllv_epi32(_mm_srli_epi32::<12>(v), sh),
                    _mm_and_si128(sl, low),
                ),
                _mm_srlv_epi32(sl, sh),
            )
        };
        let f = if MODE == SIGN_CLASSES {
            let frv = _mm_loadu_si128(r.fr.as_ptr() as *const __m128i);
            // vpermilps takes the low two bits of each index: the class `& 3`.
            _mm_castps_si128(_mm_permutevar_ps(_mm_castsi128_ps(frv), load4(ccls)))
        } else {
            _mm_set1_epi32(r.fr[0] as i32)
        };
        let f1 = _mm_sub_epi32(f, _mm_set1_epi32(1));
        let fo = _mm_sub_epi32(_mm_set1_epi32(M as i32), f);
        // (state after the sign step, flip mask).
        let sign_step = |v: __m128i| {
            let sl = _mm_and_si128(v, slot_mask);
            let flip = _mm_cmpgt_epi32(sl, f1);
            let fq = _mm_blendv_epi8(f, fo, flip);
            let c = _mm_and_si128(f, flip);
            (
                _mm_sub_epi32(
                    _mm_add_epi32(_mm_mullo_epi32(fq, _mm_srli_epi32::<12>(v)), sl),
                    c,
                ),
                flip,
            )
        };
        let has_sign = |m: __m128i| {
            if MODE == SIGN_NONE {
                zero
            } else {
                _mm_and_si128(_mm_xor_si128(_mm_cmpeq_epi32(m, zero), ones), act)
            }
        };
        // Which lanes read, from the states before any read.
        let (x2p, lo_p) = low_step(x1);
        let n_b = _mm_andnot_si128(n_a, _mm_and_si128(below(x2p), act));
        let mut n_c = zero;
        if MODE != SIGN_NONE {
            let m_p = _mm_or_si128(_mm_sllv_epi32(sym, s), lo_p);
            let (x3p, _) = sign_step(x2p);
            n_c = _mm_andnot_si128(
                _mm_or_si128(n_a, n_b),
                _mm_and_si128(has_sign(m_p), below(x3p)),
            );
        }
        // Bounds: no second read after the first (module docs).
        let mut bad = _mm_and_si128(n_a, _mm_cmpeq_epi32(_mm_srlv_epi32(x1, s), zero));
        if MODE != SIGN_NONE {
            let fmin = _mm_min_epu32(f, fo);
            let after_a = _mm_mullo_epi32(
                fmin,
                _mm_srli_epi32::<12>(_mm_sllv_epi32(x1, _mm_sub_epi32(_mm_set1_epi32(16), s))),
            );
            let after_b = _mm_mullo_epi32(fmin, _mm_slli_epi32::<4>(x2p));
            bad = _mm_or_si128(bad, _mm_and_si128(n_a, below(after_a)));
            bad = _mm_or_si128(bad, _mm_and_si128(n_b, below(after_b)));
        }
        if _mm_movemask_ps(_mm_castsi128_ps(bad)) != 0 {
            return None;
        }
        // One word per reading lane, at the position plus the reads of the lanes before it: the
        // four words from the position, permuted by that prefix count.
        let reads = _mm_or_si128(_mm_or_si128(n_a, n_b), n_c);
        let rm = _mm_movemask_ps(_mm_castsi128_ps(reads)) as usize;
        let next4 = _mm_cvtepu16_epi32(_mm_loadl_epi64(
            r.words.as_ptr().add(2 * pos) as *const __m128i
        ));
        // The prefix count in the vector (−1 per reading lane shifted up by 1, 2, 3 lanes): a
        // few cycles on the state's chain, where a table indexed by the mask took a move to a
        // register and a load.
        let before = _mm_add_epi32(
            _mm_add_epi32(_mm_slli_si128::<4>(reads), _mm_slli_si128::<8>(reads)),
            _mm_slli_si128::<12>(reads),
        );
        let w = _mm_castps_si128(_mm_permutevar_ps(
            _mm_castsi128_ps(next4),
            _mm_sub_epi32(zero, before),
        ));
        let with_word = |v: __m128i, need: __m128i| {
            _mm_blendv_epi8(v, _mm_or_si128(_mm_slli_epi32::<16>(v), w), need)
        };
        // The value's steps again, with the word where it is read.
        let xa = with_word(x1, n_a);
        let (x2, lo) = low_step(xa);
        let xb = with_word(x2, n_b);
        let m = _mm_or_si128(_mm_sllv_epi32(sym, s), lo);
        let (xf, q) = if MODE == SIGN_NONE {
            (xb, m)
        } else {
            let hs = has_sign(m);
            let (x3, flip) = sign_step(xb);
            let xc = with_word(_mm_blendv_epi8(xb, x3, hs), n_c);
            let pred = if MODE == SIGN_SVD || MODE == SIGN_CLASSES {
                let cn = load4(cneg);
                _mm_sub_epi32(zero, _mm_xor_si128(cn, _mm_set1_epi32(r.rneg as i32)))
            } else {
                zero
            };
            let neg = _mm_and_si128(_mm_xor_si128(pred, flip), hs);
            (xc, _mm_sub_epi32(_mm_xor_si128(m, neg), neg))
        };
        Some((
            _mm_blendv_epi8(xv, xf, act),
            rm.count_ones() as usize,
            _mm_and_si128(q, act),
        ))
    };
    let j = drive(
        &mut xv,
        j,
        pos,
        nw,
        (b, cneg, ccls),
        out,
        put,
        (qlo, qhi),
        group,
    );
    _mm_storeu_si128(x.as_mut_ptr() as *mut __m128i, xv);
    j
}

/// Four bytes from `p`, zero-extended to 32-bit lanes.
///
/// # Safety
/// The CPU must support AVX2; `p..p + 4` must be readable.
#[inline]
#[target_feature(enable = "avx2")]
pub(super) unsafe fn load4(p: *const u8) -> __m128i {
    _mm_cvtepu8_epi32(_mm_cvtsi32_si128(i32::from_le_bytes([
        *p,
        *p.add(1),
        *p.add(2),
        *p.add(3),
    ])))
}

/// [`run`], or `dec3_avx512::run` (the same contract) when `avx512`.
///
/// # Safety
/// As [`run`]; `avx512` only when `dec3_avx512::available()`.
#[allow(clippy::too_many_arguments)]
#[inline]
pub(super) unsafe fn run_best<const MODE: u8, T>(
    avx512: bool,
    r: &Row,
    x: &mut [u32; 4],
    pos: &mut usize,
    j: usize,
    cols: (&[u8], &[bool], &[u8]),
    out: &mut [T],
    put: &mut impl FnMut(&mut T, i64),
    ext: (&mut i64, &mut i64),
) -> usize {
    #[cfg(alcm_avx512)]
    if avx512 {
        return super::dec3_avx512::run::<MODE, T>(r, x, pos, j, cols, out, put, ext);
    }
    let _ = avx512;
    run::<MODE, T>(r, x, pos, j, cols, out, put, ext)
}

/// The group loop of [`run`] and `dec3_avx512::run`: `group(states, pos, b, cneg, ccls)`
/// decodes the group of four columns at `b`, `cneg`, `ccls` with words from `pos` and gives
/// its new states, word count and codes, or `None` for the scalar path. Runs from column `j`
/// while groups decode and four columns and four words (of `nw`) are left, keeping `xv`; the
/// codes go to `put` in column order and into `qlo`/`qhi`. Returns the column where it
/// stopped.
///
/// # Safety
/// The CPU must support AVX2; `group` may read four bytes at each pointer and four words from
/// `pos` (this loop keeps both inside their slices).
#[allow(clippy::too_many_arguments)]
#[inline]
#[target_feature(enable = "avx2")]
pub(super) unsafe fn drive<V: Copy, T>(
    xv: &mut V,
    mut j: usize,
    pos: &mut usize,
    nw: usize,
    (b, cneg, ccls): (&[u8], &[bool], &[u8]),
    out: &mut [T],
    put: &mut impl FnMut(&mut T, i64),
    (qlo, qhi): (&mut i64, &mut i64),
    mut group: impl FnMut(V, usize, *const u8, *const u8, *const u8) -> Option<(V, usize, __m128i)>,
) -> usize {
    let cols = out.len();
    assert!(b.len() == cols && cneg.len() == cols && ccls.len() == cols);
    let (mut lo, mut hi) = (_mm_set1_epi32(i32::MAX), _mm_set1_epi32(i32::MIN));
    let mut any = false;
    while j + 4 <= cols && *pos + 4 <= nw {
        let g = group(
            *xv,
            *pos,
            b.as_ptr().add(j),
            cneg.as_ptr().add(j) as *const u8,
            ccls.as_ptr().add(j),
        );
        #[cfg(test)]
        COUNTS.with(|c| {
            let mut v = c.get();
            v[g.is_none() as usize] += 1;
            c.set(v);
        });
        let Some((xn, reads, q)) = g else { break };
        *xv = xn;
        *pos += reads;
        lo = _mm_min_epi32(lo, q);
        hi = _mm_max_epi32(hi, q);
        any = true;
        let mut qs = [0i32; 4];
        _mm_storeu_si128(qs.as_mut_ptr() as *mut __m128i, q);
        for (o, q) in out[j..j + 4].iter_mut().zip(qs) {
            put(o, q as i64);
        }
        j += 4;
    }
    if any {
        let (mut l, mut h) = ([0i32; 4], [0i32; 4]);
        _mm_storeu_si128(l.as_mut_ptr() as *mut __m128i, lo);
        _mm_storeu_si128(h.as_mut_ptr() as *mut __m128i, hi);
        *qlo = (*qlo).min(l.into_iter().min().unwrap_or(i32::MAX) as i64);
        *qhi = (*qhi).max(h.into_iter().max().unwrap_or(i32::MIN) as i64);
    }
    j
}
