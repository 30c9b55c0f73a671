//! Kind-5 rows on AVX-512: one vector holds all 16 lane states of a block, so a row's columns
//! go 16 at a time through [`group`] (the steps of `value_fast`, as `groups_avx2` takes them
//! for 8 columns), with mask registers where the AVX2 code blends.
//!
//! Why: on the Intel Xeon of session 13 the AVX2 decoder was bound by the instructions it
//! issues (dropping its 7 conversion instructions of ~180 a group made it 5 % faster), and
//! here each instruction does the work of two. The two words a group can take are read up front (their addresses depend on the
//! starting positions only), which keeps the gathers off the one chain of states.
//!
//! Built only by compilers whose AVX-512 intrinsics are stable (`build.rs` sets `alcm_avx512`
//! from rustc 1.89); used when the CPU has AVX-512F and BW. It gives the values of the scalar
//! path.

// Compiled only where the intrinsics are stable (`alcm_avx512`, rustc ≥ 1.89).
#![allow(clippy::incompatible_msrv)]

use super::{put_codes, scalar_run, Flat, Lanes, RowSimd, LANES};
use crate::entropy::model::decode::Sink;
use crate::entropy::model::{L, M, SIGN_CLASSES, SIGN_NONE, SIGN_SVD};
use crate::Result;
use std::arch::x86_64::*;

/// Whether the AVX-512 decoder runs on this CPU: AVX-512F, and BW, with which the compiler
/// keeps a group's mask of coded columns in a mask register (with F alone it rebuilt it from
/// a byte comparison three times a group, 32 instructions in `row_pair`; the word embeddings
/// decode 5 % faster with BW, `docs/PERFORMANCE.md`, session 24). Every AVX-512 CPU but the
/// Xeon Phi has both.
pub(super) fn available() -> bool {
    #[cfg(test)]
    if super::NO_AVX512.load(std::sync::atomic::Ordering::SeqCst) {
        return false;
    }
    std::is_x86_feature_detected!("avx512f") && std::is_x86_feature_detected!("avx512bw")
}

/// Columns `j..j+16` (all 16 lanes, in order) as one vector: the new states and positions and
/// the 16 codes `q` (|q| < 2^16), or `None`, having changed nothing, when a lane needs an
/// escape or more than 8 low bits (the caller decodes the group one value at a time). A lane
/// of a zero column keeps its state (and its code is 0).
///
/// # Safety
/// AVX-512F and BW must be available. Every gather stays inside its slice: table indices are
/// bounded by the table layout (`Flat`), word reads are clamped to the block's last word; a
/// window of picks (`RowSimd::win`) lies inside the picks.
#[target_feature(enable = "avx512f,avx512bw")]
#[inline]
// `T`: one copy per element type, inlined into `row` and `row_pair`.
#[allow(clippy::extra_unused_type_parameters)]
unsafe fn group<const MODE: u8, T>(
    r: &RowSimd,
    x: __m512i,
    p: __m512i,
    j: usize,
) -> Option<(__m512i, __m512i, __m512i)> {
    debug_assert!(j + LANES <= r.b.len());
    let zero = _mm512_setzero_si512();
    let one = _mm512_set1_epi32(1);
    let lim = _mm512_set1_epi32(L as i32);
    let maxw = _mm512_set1_epi32((r.w.len() / 2 - 1) as i32);
    let wbase = r.w.as_ptr() as *const i32;
    // A group takes at most two words per lane (see the sign step), read up front by one
    // 32-bit gather: words k and k + 1 from k = min(p, last − 1) (16 loads, not two gathers'
    // 32). A lane at the last word or past it (reported as truncated after the block,
    // whatever it read) takes the last word as both, as the block's clamp gives.
    let k = _mm512_min_epu32(p, _mm512_sub_epi32(maxw, one));
    let both = _mm512_i32gather_epi32::<2>(k, wbase);
    let hi = _mm512_srli_epi32::<16>(both);
    let w0 = _mm512_mask_mov_epi32(
        _mm512_and_si512(both, _mm512_set1_epi32(0xFFFF)),
        _mm512_cmpge_epu32_mask(p, maxw),
        hi,
    );
    let w1 = hi;
    // v < L: shift in the given word. Returns the state and the lanes that took it.
    let renorm = |v: __m512i, wd: __m512i| -> (__m512i, __mmask16) {
        let need = _mm512_cmplt_epu32_mask(v, lim);
        (
            _mm512_mask_or_epi32(v, need, _mm512_slli_epi32::<16>(v), wd),
            need,
        )
    };
    let (act, ti, s, esc) = match r.win {
        Some(start) => picks_window(r.fl, r.ai as u32, start, r.b.as_ptr().add(j)),
        None => picks(r.fl, r.ai as u32, r.b.as_ptr().add(j)),
    };
    if _mm512_mask_cmpgt_epu32_mask(act, s, _mm512_set1_epi32(8)) != 0 {
        return None;
    }
    let (sym, v) = magnitude(r.fl, ti, x);
    if _mm512_mask_cmpge_epu32_mask(act, sym, esc) != 0 {
        return None;
    }
    let (v, n1) = renorm(v, w0);
    let (v, lo) = low_bits(v, s);
    let (v, n2) = renorm(v, _mm512_mask_mov_epi32(w0, n1, w1));
    let m = _mm512_or_si512(_mm512_sllv_epi32(sym, s), lo);
    let p1 = _mm512_mask_add_epi32(p, n1, p, one);
    let p2 = _mm512_mask_add_epi32(p1, n2, p1, one);
    let (vf, pf, neg) = if MODE == SIGN_NONE {
        (v, p2, 0)
    } else {
        let (flip, v2) = sign_state(v, sign_freqs::<MODE>(r.fr, r.ccls.as_ptr().add(j)));
        // The word after the one the first two steps took, if any: they never both take one
        // when this one does. From x ≥ L (every state: `decode_block_mode` checks the first)
        // and f ≥ 1, the magnitude step leaves x₁ ≥ 16; renormalised, x₁ ≥ 2^20, so the low
        // bits (sh ≥ 4) leave x₂ ≥ 2^12; renormalised again, x₂ ≥ 2^28, and the sign step
        // leaves at least x₂ >> 12 ≥ L.
        let (v2, n3) = renorm(v2, _mm512_mask_mov_epi32(w0, n1 | n2, w1));
        let nz = _mm512_test_epi32_mask(m, m);
        let pred = predicted_neg::<MODE>(r.cneg.as_ptr().add(j), r.rneg);
        (
            _mm512_mask_mov_epi32(v, nz, v2),
            _mm512_mask_add_epi32(p2, n3 & nz, p2, one),
            (flip ^ pred) & nz,
        )
    };
    let x = _mm512_mask_mov_epi32(x, act, vf);
    let p = _mm512_mask_mov_epi32(p, act, pf);
    let qv = _mm512_maskz_mov_epi32(act, _mm512_mask_sub_epi32(m, neg, zero, m));
    Some((x, p, qv))
}

// The steps of a group of 16 lanes that kinds 5 (`group` above) and 6
// (`shared_dec_avx512.rs`) share: they differ only in where a renormalising lane's word
// comes from. Inlined into their callers (hence compiled with their features): call them
// from AVX-512F code only.

/// A group's picks `pick[a_i + b_j]` for the 16 columns at `b`: the lanes with a coded
/// column (`b_j ≠ 0`), and per lane the table, the low bits `s` and the escape symbol.
///
/// # Safety
/// AVX-512F; `b` points to 16 readable bytes; `fl` is the payload family's tables.
#[inline(always)]
pub(in crate::entropy::model) unsafe fn picks(
    fl: &Flat,
    ai: u32,
    b: *const u8,
) -> (__mmask16, __m512i, __m512i, __m512i) {
    let bq = _mm512_cvtepu8_epi32(_mm_loadu_si128(b as *const __m128i));
    let act = _mm512_test_epi32_mask(bq, bq);
    // SAFETY: a + b ≤ 510, within the 511 picks.
    let pk = _mm512_i32gather_epi32::<4>(
        _mm512_add_epi32(bq, _mm512_set1_epi32(ai as i32)),
        fl.pick.as_ptr() as *const i32,
    );
    let byte = _mm512_set1_epi32(0xFF);
    (
        act,
        _mm512_and_si512(pk, byte),
        _mm512_and_si512(_mm512_srli_epi32::<8>(pk), byte),
        _mm512_srli_epi32::<16>(pk),
    )
}

/// [`picks`] where every coded column's pick `a_i + b_j` lies in `fl.pick[start..start + 32]`
/// (`RowSimd::win`): by one permute of those 32 picks (two vector loads, the same for the
/// whole row) instead of a gather. A lane of a zero column takes some pick of the window, a
/// valid one, as the gather's `pick[a_i]` was: its state is left unchanged all the same.
///
/// # Safety
/// AVX-512F; `b` points to 16 readable bytes; `start + 32 ≤ fl.pick.len()`, and
/// `start ≤ a_i + b_j < start + 32` for every `b_j ≠ 0` of the group.
#[inline(always)]
unsafe fn picks_window(
    fl: &Flat,
    ai: u32,
    start: usize,
    b: *const u8,
) -> (__mmask16, __m512i, __m512i, __m512i) {
    debug_assert!(start + 32 <= fl.pick.len());
    let bq = _mm512_cvtepu8_epi32(_mm_loadu_si128(b as *const __m128i));
    let act = _mm512_test_epi32_mask(bq, bq);
    let w = fl.pick.as_ptr().add(start);
    // Only the index's low 5 bits are read: `a_i + b_j − start` for the coded columns.
    let idx = _mm512_add_epi32(bq, _mm512_set1_epi32(ai as i32 - start as i32));
    let pk = _mm512_permutex2var_epi32(
        _mm512_loadu_si512(w as *const _),
        idx,
        _mm512_loadu_si512(w.add(16) as *const _),
    );
    let byte = _mm512_set1_epi32(0xFF);
    (
        act,
        _mm512_and_si512(pk, byte),
        _mm512_and_si512(_mm512_srli_epi32::<8>(pk), byte),
        _mm512_srli_epi32::<16>(pk),
    )
}

/// The magnitude symbol of each lane's state `x` under its table `ti`, and the state after
/// decoding it (before renormalisation): one gather of the slot's entry
/// ([`Flat::slot`]: the symbol, its frequency and the slot's offset in its range), where
/// [`magnitude_symbol`] and then [`magnitude_state`] make two gathers in a row on the chain of
/// states (kind 6 keeps those: see `Flat::slot`).
///
/// # Safety
/// AVX-512F; `ti` below the family's table count (from [`picks`]).
#[inline(always)]
pub(in crate::entropy::model) unsafe fn magnitude(
    fl: &Flat,
    ti: __m512i,
    x: __m512i,
) -> (__m512i, __m512i) {
    let low12 = _mm512_set1_epi32(M as i32 - 1);
    let slot = _mm512_and_si512(x, low12);
    // SAFETY: table · 4096 + slot lies within the entries (4096 a table).
    let e = _mm512_i32gather_epi32::<4>(
        _mm512_add_epi32(_mm512_slli_epi32::<12>(ti), slot),
        fl.slot.as_ptr() as *const i32,
    );
    let sym = _mm512_srli_epi32::<24>(e);
    let fr = _mm512_add_epi32(_mm512_and_si512(e, low12), _mm512_set1_epi32(1));
    let off = _mm512_and_si512(_mm512_srli_epi32::<12>(e), low12);
    let v = _mm512_add_epi32(_mm512_mullo_epi32(fr, _mm512_srli_epi32::<12>(x)), off);
    (sym, v)
}

/// The magnitude symbol of each lane's state `x` under its table `ti`.
///
/// # Safety
/// AVX-512F; `ti` below the family's table count (from [`picks`]).
#[inline(always)]
pub(in crate::entropy::model) unsafe fn magnitude_symbol(
    fl: &Flat,
    ti: __m512i,
    x: __m512i,
) -> __m512i {
    let slot = _mm512_and_si512(x, _mm512_set1_epi32(M as i32 - 1));
    // SAFETY: table · 4096 + slot lies within the padded slot map.
    _mm512_and_si512(
        _mm512_i32gather_epi32::<1>(
            _mm512_add_epi32(_mm512_slli_epi32::<12>(ti), slot),
            fl.lut.as_ptr() as *const i32,
        ),
        _mm512_set1_epi32(0xFF),
    )
}

/// Each lane's state after decoding its magnitude symbol `sym` from `x` (before
/// renormalisation).
///
/// # Safety
/// AVX-512F; `ti` and `sym` from [`picks`] and [`magnitude_symbol`].
#[inline(always)]
pub(in crate::entropy::model) unsafe fn magnitude_state(
    fl: &Flat,
    ti: __m512i,
    sym: __m512i,
    x: __m512i,
) -> __m512i {
    // SAFETY: table · 256 + symbol (< 256) lies within the packed entries.
    let e = _mm512_i32gather_epi32::<4>(
        _mm512_add_epi32(_mm512_slli_epi32::<8>(ti), sym),
        fl.fc.as_ptr() as *const i32,
    );
    let fr = _mm512_and_si512(e, _mm512_set1_epi32((1 << 13) - 1));
    let c = _mm512_srli_epi32::<13>(e);
    let slot = _mm512_and_si512(x, _mm512_set1_epi32(M as i32 - 1));
    _mm512_sub_epi32(
        _mm512_add_epi32(_mm512_mullo_epi32(fr, _mm512_srli_epi32::<12>(x)), slot),
        c,
    )
}

/// `s ≤ 8` uniform low bits from each lane's state `v`, frequency 2^(12 − s) (s = 0: the
/// identity): the state (before renormalisation) and the bits.
///
/// # Safety
/// AVX-512F.
#[inline(always)]
pub(in crate::entropy::model) unsafe fn low_bits(v: __m512i, s: __m512i) -> (__m512i, __m512i) {
    let one = _mm512_set1_epi32(1);
    let sh = _mm512_sub_epi32(_mm512_set1_epi32(12), s);
    let slot = _mm512_and_si512(v, _mm512_set1_epi32(M as i32 - 1));
    let low = _mm512_sub_epi32(_mm512_sllv_epi32(one, sh), one);
    let v = _mm512_add_epi32(
        _mm512_sllv_epi32(_mm512_srli_epi32::<12>(v), sh),
        _mm512_and_si512(slot, low),
    );
    (v, _mm512_srlv_epi32(slot, sh))
}

/// Each lane's frequency of "sign as predicted": the row's `fr[class_j]` in sign mode 3
/// (column classes at `ccls`), else `fr[0]`.
///
/// # Safety
/// AVX-512F; in sign mode 3, `ccls` points to 16 readable bytes.
#[inline(always)]
pub(in crate::entropy::model) unsafe fn sign_freqs<const MODE: u8>(
    fr: [u32; 4],
    ccls: *const u8,
) -> __m512i {
    if MODE != SIGN_CLASSES {
        return _mm512_set1_epi32(fr[0] as i32);
    }
    let frv = _mm512_setr_epi32(
        fr[0] as i32,
        fr[1] as i32,
        fr[2] as i32,
        fr[3] as i32,
        0,
        0,
        0,
        0,
        0,
        0,
        0,
        0,
        0,
        0,
        0,
        0,
    );
    let cl = _mm512_and_si512(
        _mm512_cvtepu8_epi32(_mm_loadu_si128(ccls as *const __m128i)),
        _mm512_set1_epi32(3),
    );
    _mm512_permutexvar_epi32(cl, frv)
}

/// The sign symbol of each lane's state `v` with frequency `f` for "as predicted": the lanes
/// where it is the opposite, and the state (before renormalisation).
///
/// # Safety
/// AVX-512F.
#[inline(always)]
pub(in crate::entropy::model) unsafe fn sign_state(v: __m512i, f: __m512i) -> (__mmask16, __m512i) {
    let slot = _mm512_and_si512(v, _mm512_set1_epi32(M as i32 - 1));
    // slot ≥ f: the opposite of the prediction.
    let flip = _mm512_cmpge_epu32_mask(slot, f);
    let frs = _mm512_mask_sub_epi32(f, flip, _mm512_set1_epi32(M as i32), f);
    let cs = _mm512_maskz_mov_epi32(flip, f);
    let v2 = _mm512_sub_epi32(
        _mm512_add_epi32(_mm512_mullo_epi32(frs, _mm512_srli_epi32::<12>(v)), slot),
        cs,
    );
    (flip, v2)
}

/// The lanes whose sign is predicted negative: `rneg ≠ cneg_j` in sign modes 2 and 3 (the
/// columns' flags at `cneg`), none otherwise.
///
/// # Safety
/// AVX-512F; in sign modes 2 and 3, `cneg` points to 16 readable bools.
#[inline(always)]
pub(in crate::entropy::model) unsafe fn predicted_neg<const MODE: u8>(
    cneg: *const bool,
    rneg: bool,
) -> __mmask16 {
    if MODE != SIGN_SVD && MODE != SIGN_CLASSES {
        return 0;
    }
    // bool is one byte 0 or 1.
    let cn = _mm512_cvtepu8_epi32(_mm_loadu_si128(cneg as *const __m128i));
    let cn = _mm512_test_epi32_mask(cn, cn);
    if rneg {
        !cn
    } else {
        cn
    }
}

/// A row's codes so far: the extremes of its vector groups' codes (as vectors, reduced once
/// at the row's end) and of its values decoded one at a time.
struct Extremes {
    vlo: __m512i,
    vhi: __m512i,
    qlo: i64,
    qhi: i64,
    any_vector: bool,
}

impl Extremes {
    /// # Safety
    /// AVX-512F must be available (inlined into AVX-512F code only).
    #[inline(always)]
    unsafe fn new() -> Self {
        Extremes {
            vlo: _mm512_set1_epi32(i32::MAX),
            vhi: _mm512_set1_epi32(i32::MIN),
            qlo: i64::MAX,
            qhi: i64::MIN,
            any_vector: false,
        }
    }

    /// The lowest and highest code.
    ///
    /// # Safety
    /// AVX-512F must be available (inlined into AVX-512F code only).
    #[inline(always)]
    unsafe fn get(&self) -> (i64, i64) {
        if self.any_vector {
            (
                self.qlo.min(_mm512_reduce_min_epi32(self.vlo) as i64),
                self.qhi.max(_mm512_reduce_max_epi32(self.vhi) as i64),
            )
        } else {
            (self.qlo, self.qhi)
        }
    }
}

/// A row's value of column `j` on its lane, one symbol at a time.
type ScalarStep<'s> = dyn FnMut(&mut Lanes, usize) -> Result<i64> + 's;

/// One row's decoding as [`row`] and [`row_pair`] run it: the lane states in registers, their
/// copy in `st` (for the scalar steps), the row's output and its extremes so far.
struct RowRun<'r, 'a, T, S: ?Sized> {
    r: &'r RowSimd<'a>,
    st: &'r mut Lanes,
    out: &'r mut [T],
    q0: i64,
    scalar: &'r mut S,
    x: __m512i,
    p: __m512i,
    ext: Extremes,
}

impl<'r, 'a, T: Copy, S: FnMut(&mut Lanes, usize) -> Result<i64> + ?Sized> RowRun<'r, 'a, T, S> {
    /// # Safety
    /// AVX-512F must be available (inlined into AVX-512F code only).
    #[inline(always)]
    unsafe fn new(
        r: &'r RowSimd<'a>,
        st: &'r mut Lanes,
        out: &'r mut [T],
        q0: i64,
        scalar: &'r mut S,
    ) -> Self {
        let mut run = RowRun {
            r,
            st,
            out,
            q0,
            scalar,
            x: _mm512_setzero_si512(),
            p: _mm512_setzero_si512(),
            ext: Extremes::new(),
        };
        run.load();
        run
    }

    /// Reads the states in `st` into the registers.
    ///
    /// # Safety
    /// AVX-512F must be available (inlined into AVX-512F code only).
    #[inline(always)]
    unsafe fn load(&mut self) {
        let ps: [u32; LANES] = std::array::from_fn(|k| self.st.pos[k] as u32);
        self.x = _mm512_loadu_si512(self.st.x.as_ptr() as *const _);
        self.p = _mm512_loadu_si512(ps.as_ptr() as *const _);
    }

    /// Writes the registers' states back to `st`.
    ///
    /// # Safety
    /// AVX-512F must be available (inlined into AVX-512F code only).
    #[inline(always)]
    unsafe fn store(&mut self) {
        let mut ps = [0u32; LANES];
        _mm512_storeu_si512(self.st.x.as_mut_ptr() as *mut _, self.x);
        _mm512_storeu_si512(ps.as_mut_ptr() as *mut _, self.p);
        for (sp, &p) in self.st.pos.iter_mut().zip(&ps) {
            *sp = p as usize;
        }
    }

    /// Takes the outcome `g` of [`group`] at columns `j..j + 16`: its values, or, where it
    /// declined, the group one value at a time.
    ///
    /// # Safety
    /// AVX-512F must be available; `sink` is [`Sink::Put`] unless T is f32.
    #[inline(always)]
    unsafe fn apply(
        &mut self,
        g: Option<(__m512i, __m512i, __m512i)>,
        j: usize,
        put: &impl Fn(&mut T, i64, u32),
        sink: Sink,
        consts: (__m512d, __m256),
    ) -> Result<()> {
        match g {
            Some((nx, np, qv)) => {
                self.ext.any_vector = true;
                self.ext.vlo = _mm512_min_epi32(self.ext.vlo, qv);
                self.ext.vhi = _mm512_max_epi32(self.ext.vhi, qv);
                sink16(&mut self.out[j..j + LANES], qv, sink, consts, self.q0, put);
                (self.x, self.p) = (nx, np);
            }
            None => {
                self.store();
                let ext = (&mut self.ext.qlo, &mut self.ext.qhi);
                scalar_run(
                    self.st,
                    self.out,
                    j..j + LANES,
                    self.q0,
                    put,
                    self.scalar,
                    ext,
                )?;
                self.load();
            }
        }
        Ok(())
    }

    /// The groups from column `j` on, then the states back to `st`: the columns done and the
    /// extremes of their codes.
    ///
    /// # Safety
    /// AVX-512F must be available; `sink` is [`Sink::Put`] unless T is f32.
    #[inline(always)]
    unsafe fn finish<const MODE: u8>(
        mut self,
        mut j: usize,
        put: &impl Fn(&mut T, i64, u32),
        sink: Sink,
        consts: (__m512d, __m256),
    ) -> Result<(usize, i64, i64)> {
        let cols16 = self.out.len() / LANES * LANES;
        while j < cols16 {
            let g = group::<MODE, T>(self.r, self.x, self.p, j);
            self.apply(g, j, put, sink, consts)?;
            j += LANES;
        }
        self.store();
        let (lo, hi) = self.ext.get();
        Ok((cols16, lo, hi))
    }
}

/// The 16-column groups of a row (columns `0..cols / 16 · 16`) with the block's 16 lane states
/// in one vector, each group's values written into `out` by `sink` (a vector sink only when T
/// is f32); a group the vector step declines (escape, wide low bits) goes through `scalar` on
/// the lane states and `put`. Returns the number of columns done and the extremes of their
/// codes.
///
/// # Safety
/// AVX-512F and BW must be available; see [`group`]. `sink` is [`Sink::Put`] unless T is f32.
#[target_feature(enable = "avx512f,avx512bw")]
#[allow(clippy::too_many_arguments)]
pub(super) unsafe fn row<const MODE: u8, T: Copy>(
    r: &RowSimd,
    st: &mut Lanes,
    out: &mut [T],
    q0: i64,
    put: &impl Fn(&mut T, i64, u32),
    sink: Sink,
    scalar: &mut dyn FnMut(&mut Lanes, usize) -> Result<i64>,
) -> Result<(usize, i64, i64)> {
    let consts = sink_consts(sink);
    RowRun::new(r, st, out, q0, scalar).finish::<MODE>(0, put, sink, consts)
}

/// [`row`] on two rows of the same length from two blocks (their own lane states and words),
/// their groups taken side by side: one block's states are one chain of dependent steps (two
/// table gathers, a multiplication and up to three renormalisations a group), which leaves
/// the core waiting; the other block's chain fills those waits (a fifth less time on the
/// synthetic gradient's four blocks, `docs/PERFORMANCE.md`, session 22). Each row's outcome
/// is that of [`row`] on it alone; a row that fails stops there while the other goes on.
/// (Three or four blocks side by side, tried as arrays of rows, were no faster than two.)
///
/// # Safety
/// As [`row`], for both rows; `out[0].len() == out[1].len()`.
#[target_feature(enable = "avx512f,avx512bw")]
#[allow(clippy::too_many_arguments)]
pub(super) unsafe fn row_pair<const MODE: u8, T: Copy>(
    r: [&RowSimd; 2],
    st: [&mut Lanes; 2],
    out: [&mut [T]; 2],
    q0: [i64; 2],
    put: &impl Fn(&mut T, i64, u32),
    sink: Sink,
    scalar: [&mut ScalarStep; 2],
) -> [Result<(usize, i64, i64)>; 2] {
    debug_assert_eq!(out[0].len(), out[1].len());
    let consts = sink_consts(sink);
    let [st0, st1] = st;
    let [o0, o1] = out;
    let [s0, s1] = scalar;
    let mut a = RowRun::new(r[0], st0, o0, q0[0], s0);
    let mut b = RowRun::new(r[1], st1, o1, q0[1], s1);
    let cols16 = a.out.len() / LANES * LANES;
    let mut j = 0;
    while j < cols16 {
        // The groups both rows take as vectors, with the states and extremes in locals (in
        // registers: through `apply`'s `&mut self` they went to the stack and back every
        // group), up to the first group either declines.
        j = fast_pair::<MODE, T, _>(&mut a, &mut b, j, cols16, put, sink, consts);
        if j >= cols16 {
            break;
        }
        let ga = group::<MODE, T>(a.r, a.x, a.p, j);
        let gb = group::<MODE, T>(b.r, b.x, b.p, j);
        let da = a.apply(ga, j, put, sink, consts);
        let db = b.apply(gb, j, put, sink, consts);
        if da.is_err() || db.is_err() {
            // The one that failed stops here; the other finishes its row alone.
            let (ea, eb) = (da.is_err(), db.is_err());
            let (fa, fb) = (da.map(|_| (0, 0, 0)), db.map(|_| (0, 0, 0)));
            return match (ea, eb) {
                (true, true) => [fa, fb],
                (true, false) => [fa, b.finish::<MODE>(j + LANES, put, sink, consts)],
                _ => [a.finish::<MODE>(j + LANES, put, sink, consts), fb],
            };
        }
        j += LANES;
    }
    [
        a.finish::<MODE>(j, put, sink, consts),
        b.finish::<MODE>(j, put, sink, consts),
    ]
}

/// [`row_pair`]'s groups from column `j` while both rows' groups are vectors: each pair of
/// groups as [`RowRun::apply`] takes them, the states and extremes held in locals and written
/// back at the end. Returns the first column not done (`cols16`, or a group either row's
/// vector step declined: [`group`] changes nothing then, so the caller takes it again).
///
/// # Safety
/// As [`row_pair`]; `j` and `cols16` multiples of 16 within the rows.
#[inline(always)]
unsafe fn fast_pair<
    const MODE: u8,
    T: Copy,
    S: FnMut(&mut Lanes, usize) -> Result<i64> + ?Sized,
>(
    a: &mut RowRun<'_, '_, T, S>,
    b: &mut RowRun<'_, '_, T, S>,
    mut j: usize,
    cols16: usize,
    put: &impl Fn(&mut T, i64, u32),
    sink: Sink,
    consts: (__m512d, __m256),
) -> usize {
    let (ra, rb) = (a.r, b.r);
    let (mut xa, mut pa, mut xb, mut pb) = (a.x, a.p, b.x, b.p);
    let (mut loa, mut hia) = (a.ext.vlo, a.ext.vhi);
    let (mut lob, mut hib) = (b.ext.vlo, b.ext.vhi);
    let (oa, ob) = (a.out.as_mut_ptr(), b.out.as_mut_ptr());
    let j0 = j;
    while j < cols16 {
        let (Some((nxa, npa, qa)), Some((nxb, npb, qb))) = (
            group::<MODE, T>(ra, xa, pa, j),
            group::<MODE, T>(rb, xb, pb, j),
        ) else {
            break;
        };
        loa = _mm512_min_epi32(loa, qa);
        hia = _mm512_max_epi32(hia, qa);
        lob = _mm512_min_epi32(lob, qb);
        hib = _mm512_max_epi32(hib, qb);
        // SAFETY: j + 16 ≤ cols16 ≤ both rows' lengths (equal).
        sink16(
            std::slice::from_raw_parts_mut(oa.add(j), LANES),
            qa,
            sink,
            consts,
            a.q0,
            put,
        );
        sink16(
            std::slice::from_raw_parts_mut(ob.add(j), LANES),
            qb,
            sink,
            consts,
            b.q0,
            put,
        );
        (xa, pa, xb, pb) = (nxa, npa, nxb, npb);
        j += LANES;
    }
    if j > j0 {
        (a.x, a.p, b.x, b.p) = (xa, pa, xb, pb);
        (a.ext.vlo, a.ext.vhi, b.ext.vlo, b.ext.vhi) = (loa, hia, lob, hib);
        a.ext.any_vector = true;
        b.ext.any_vector = true;
    }
    j
}

/// Writes a vector group's 16 codes `qv` into `out` (16 values) by `sink` (a vector sink only
/// when T is f32); `(stepv, scalev)` hold the sink's step and scale.
///
/// # Safety
/// AVX-512F must be available; `sink` is [`Sink::Put`] unless T is f32; `out` holds 16
/// values.
#[target_feature(enable = "avx512f")]
#[inline]
pub(crate) unsafe fn sink16<T: Copy>(
    out: &mut [T],
    qv: __m512i,
    sink: Sink,
    (stepv, scalev): (__m512d, __m256),
    q0: i64,
    put: &impl Fn(&mut T, i64, u32),
) {
    debug_assert!(out.len() == LANES);
    // `(q as f64 * step) as f32` per value: exact i32 → f64, then the scalar path's IEEE
    // product and rounding.
    let half = |k: usize| {
        let qh = if k == 0 {
            _mm512_castsi512_si256(qv)
        } else {
            _mm512_extracti64x4_epi64::<1>(qv)
        };
        _mm512_cvtpd_ps(_mm512_mul_pd(_mm512_cvtepi32_pd(qh), stepv))
    };
    let o = out.as_mut_ptr() as *mut f32;
    match sink {
        Sink::Store(_) => {
            _mm256_storeu_ps(o, half(0));
            _mm256_storeu_ps(o.add(8), half(1));
        }
        Sink::Add(..) => {
            // f32 product, then f32 sum: `*o += scale * x̂`.
            for k in 0..2 {
                let ok = o.add(8 * k);
                _mm256_storeu_ps(
                    ok,
                    _mm256_add_ps(_mm256_loadu_ps(ok), _mm256_mul_ps(scalev, half(k))),
                );
            }
        }
        Sink::Put => {
            let mut qs = [0i32; LANES];
            _mm512_storeu_si512(qs.as_mut_ptr() as *mut _, qv);
            put_codes(out, &qs, q0, put);
        }
    }
}

/// The vector sinks' step and scale as [`sink16`] takes them.
///
/// # Safety
/// AVX-512F must be available.
#[target_feature(enable = "avx512f")]
#[inline]
pub(crate) unsafe fn sink_consts(sink: Sink) -> (__m512d, __m256) {
    let (step, scale) = match sink {
        Sink::Store(step) => (step, 0.0),
        Sink::Add(step, scale) => (step, scale),
        Sink::Put => (0.0, 0.0),
    };
    (_mm512_set1_pd(step), _mm256_set1_ps(scale))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::entropy::model::lanes::tests::RandomLanes;
    use crate::entropy::model::lanes::{flat, pick_window, pick_window_base};
    use crate::entropy::model::SIGN_PLAIN;

    /// One group against 16 scalar steps (`value_fast`) from random states, positions, words,
    /// scale codes and sign classes in every sign mode: the same states, positions and codes
    /// wherever the vector step takes the group. States near `L`, rare symbols and extreme
    /// sign frequencies make lanes take two words in one value (which the test checks it saw);
    /// none ever takes three, which the vector step relies on. Where the coded columns' picks
    /// fit a window of 32 (every other case), the window's permute gives what the gather gave.
    #[test]
    fn a_group_is_sixteen_scalar_steps() {
        if !available() {
            return;
        }
        let mut s = 0x9e37_79b9_7f4a_7c15u64;
        let mut rnd = move || {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            s
        };
        let words: Vec<u8> = (0..2 * 600).map(|_| rnd() as u8).collect();
        let mut taken = [0usize; 4];
        let (mut windows, mut clamped) = (0, 0);
        for t in 0..40_000 {
            let mode = (t % 4) as u8;
            let family = (t / 4 % 3) as u8;
            let ai = 1 + (rnd() % 254) as u8;
            // Every other case, the coded columns' scale codes within 32 of each other (a
            // window of picks, `picks_window`, checked against the gather below).
            // Up to 255: a + b then reaches past 479, where the window is clamped to the
            // table's end.
            let lo = 1 + rnd() % 255;
            let near = rnd() % 2 == 0;
            let b: Vec<u8> = (0..LANES)
                .map(|_| match (rnd() % 9 == 0, near) {
                    (true, _) => 0,
                    (false, true) => (lo + rnd() % 32).min(255) as u8,
                    (false, false) => rnd() as u8,
                })
                .collect();
            let rl = RandomLanes::new(&mut rnd);
            let (cneg, ccls, fr, rneg, x0) = (&rl.cneg, &rl.ccls, rl.fr, rl.rneg, rl.x0);
            let p0: [u32; LANES] = std::array::from_fn(|_| 2 + (rnd() % 580) as u32);
            let fl = flat(family);
            let win = pick_window_base(&b, 32).map(|lo| pick_window(fl, ai, lo, 32));
            if near && b.iter().any(|&v| v != 0) {
                assert!(
                    win.is_some(),
                    "case {t}: codes within 31 of {lo}, no window"
                );
            }
            windows += win.is_some() as usize;
            clamped += (win == Some(fl.pick.len() - 32) && ai as u64 + lo > 479) as usize;
            let run = |win: Option<usize>| {
                let r = RowSimd {
                    w: &words,
                    fl,
                    ai,
                    win,
                    win16: None,
                    b: &b,
                    cneg,
                    ccls,
                    fr,
                    rneg,
                };
                // SAFETY: the test returned above unless the CPU has AVX-512F and BW; 16
                // lanes of 4 bytes each from arrays of 16; `win` as `RowsCtx` makes it.
                unsafe {
                    let xv = _mm512_loadu_si512(x0.as_ptr() as *const _);
                    let pv = _mm512_loadu_si512(p0.as_ptr() as *const _);
                    let g = match mode {
                        SIGN_PLAIN => group::<SIGN_PLAIN, f32>(&r, xv, pv, 0),
                        SIGN_NONE => group::<SIGN_NONE, f32>(&r, xv, pv, 0),
                        SIGN_SVD => group::<SIGN_SVD, f32>(&r, xv, pv, 0),
                        _ => group::<SIGN_CLASSES, f32>(&r, xv, pv, 0),
                    };
                    g.map(|(x, p, q)| {
                        let mut v = [[0u32; LANES]; 3];
                        for (d, s) in v.iter_mut().zip([x, p, q]) {
                            _mm512_storeu_si512(d.as_mut_ptr() as *mut _, s);
                        }
                        v
                    })
                }
            };
            let g = run(None);
            if win.is_some() {
                assert_eq!(run(win), g, "case {t} mode {mode}: the window's picks");
            }
            let Some([xs, ps, qs]) = g else { continue };
            let qs = qs.map(|q| q as i32);
            let case = rl.case(mode, family, ai, &b);
            for l in 0..LANES {
                let (x, pos, q) = case.scalar(&words, l, x0[l], p0[l] as usize);
                assert_eq!(
                    (xs[l], ps[l] as usize, qs[l] as i64),
                    (x, pos, q),
                    "case {t} lane {l} mode {mode}"
                );
                taken[pos - p0[l] as usize] += 1;
            }
        }
        assert!(taken[2] > 0 && taken[3] == 0, "words per lane: {taken:?}");
        assert!(windows > 10_000, "{windows} cases with a window of picks");
        assert!(clamped > 100, "{clamped} windows at the table's end");
    }
}
