//! The kind-5 encoder's inner loop with all 16 lanes of a block in one AVX-512 vector: the
//! steps of `lanes_enc_avx2.rs` (sign, low-bit pieces, magnitude, each on the lanes that have
//! it) with mask registers where that code blends, and the emitted words written by one
//! masked scatter a step to the lanes' regions of one buffer ([`Pack`]) where it queues them.
//!
//! Why: the AVX2 encoder is bound by the instructions it issues (two vectors of eight lanes,
//! each step's work done twice); here one instruction does the work of two. This one is still
//! bound by what it issues, not by its one chain of states: coding every column group twice
//! (a second, independent chain) took twice the time. So the choices below cut instructions:
//! the sign symbols' reciprocals come from a per-row table (a permute, not a division), and the
//! state update works on the even and odd lanes as 64-bit lanes (conversions within 128-bit
//! lanes, one `vpmuludq` per half), and the magnitude symbols' `1/freq` come from a table
//! (two gathers, not two divisions).
//!
//! Built only by compilers whose AVX-512 intrinsics are stable (`build.rs` sets `alcm_avx512`
//! from rustc 1.89); used when the CPU has AVX-512F and AVX-512DQ. It writes the scalar
//! encoder's words.

// Compiled only where the intrinsics are stable (`alcm_avx512`, rustc ≥ 1.89).
#![allow(clippy::incompatible_msrv)]

use std::arch::x86_64::*;

use super::encode::{RowEnc, WordBuf};
use super::lanes::{LANES, RUN};
use super::lanes_enc_avx2::{row_fits, sign_table};
use super::*;

/// Whether this encoder runs on this CPU.
pub(super) fn available() -> bool {
    #[cfg(test)]
    if super::lanes::NO_AVX512.load(std::sync::atomic::Ordering::SeqCst) {
        return false;
    }
    std::is_x86_feature_detected!("avx512f")
        && std::is_x86_feature_detected!("avx512dq")
        && std::is_x86_feature_detected!("popcnt")
}

/// Words a lane's region of [`Pack`] holds: a run's worth (its values' most words, as the
/// lanes' `WordBuf`s) and one more for the upper half of the last word's 32-bit store.
const STRIDE: usize = RUN / LANES * MAX_WORDS_PER_VALUE + 1;

/// The 16 lanes' words of one run, lane `l`'s from `l · STRIDE`, written by one masked
/// scatter a step (the emitting lanes' words at their lanes' positions).
///
/// Why: a queue of (word, destination) pairs, two compresses a step and then a scalar store
/// per word, cost about 3 cycles a word on top of the compresses; a scatter puts each word
/// where it goes at once. Its elements are 32-bit: lane `l`'s word lands at its position and
/// the word above gets garbage, which the lane's next word overwrites (or which lies past the
/// lane's words). The lanes' regions do not overlap, so neither do a scatter's stores.
pub(super) struct Pack {
    flat: Vec<u16>,
    /// The lanes' word counts after the last run.
    n: [usize; LANES],
}

/// The lanes' next positions in [`Pack`] (`l · STRIDE + n_l`, lane `l`'s `n_l` words so far),
/// a local of [`encode_run`] kept in a register.
#[derive(Clone, Copy)]
struct Cursor {
    pos: __m512i,
}

impl Pack {
    pub(super) fn new() -> Self {
        Pack {
            flat: vec![0; LANES * STRIDE],
            n: [0; LANES],
        }
    }

    /// This thread's spare regions (left by [`Pack::recycle`]), or new ones.
    ///
    /// Why kept: made afresh for every block, the 28 KiB of regions took a page fault on
    /// each of their pages on small tensors (`perf`: `exc_page_fault` 17 → 772 samples over
    /// 9000 compressions of the fc2 gradient, +7 % of its time).
    pub(super) fn cached() -> Box<Pack> {
        SPARE
            .with(|s| s.take())
            .unwrap_or_else(|| Box::new(Pack::new()))
    }

    /// Keeps `self` for this thread's next [`Pack::cached`].
    pub(super) fn recycle(self: Box<Self>) {
        SPARE.with(|s| s.set(Some(self)));
    }
}

thread_local! {
    static SPARE: std::cell::Cell<Option<Box<Pack>>> = const { std::cell::Cell::new(None) };
}

/// Moves the words in the lanes' buffers `wbs` (sixteen) into their regions of `pk`, after the
/// lanes' `n` words there, and returns the positions after them; each buffer is left empty.
#[target_feature(enable = "avx512f")]
unsafe fn take(pk: &mut Pack, n: [usize; LANES], wbs: &mut [WordBuf]) -> Cursor {
    assert!(wbs.len() == LANES);
    let mut p = [0u32; LANES];
    for (l, (d, wb)) in p.iter_mut().zip(wbs.iter_mut()).enumerate() {
        // Most runs start with every buffer empty (no tail columns).
        if wb.pos > 0 {
            let region = &mut pk.flat[l * STRIDE..(l + 1) * STRIDE - 1];
            region[n[l]..n[l] + wb.pos].copy_from_slice(&wb.buf[..wb.pos]);
        }
        *d = (l * STRIDE + n[l] + wb.pos) as u32;
        wb.pos = 0;
    }
    Cursor {
        pos: _mm512_loadu_si512(p.as_ptr() as *const _),
    }
}

/// The lanes' word counts in `pk` at `cur`.
#[target_feature(enable = "avx512f")]
unsafe fn counts(cur: Cursor) -> [usize; LANES] {
    let mut p = [0u32; LANES];
    _mm512_storeu_si512(p.as_mut_ptr() as *mut _, cur.pos);
    std::array::from_fn(|l| p[l] as usize - l * STRIDE)
}

impl Pack {
    /// Lane `l`'s words of the last run (those its buffer held before the run first).
    pub(super) fn lane(&self, l: usize) -> &[u16] {
        &self.flat[l * STRIDE..l * STRIDE + self.n[l]]
    }
}

/// What a column group's code needs of the row, as vectors and pointers.
struct RowVec<'a> {
    ctx: &'a RowEnc<'a>,
    q0: __m512i,
    rneg: __m512i,
    picks: *const i32,
    syms: *const i32,
    /// The row's sign symbols (`sign_table`, in the low eight lanes).
    sign: __m512i,
    /// `1/freq` of each of those symbols (f64, exact to rounding; 1 where unused).
    sign_rcp: __m512d,
    /// The lanes this run codes.
    lanes: __mmask16,
    /// [`rcp_table`].
    rcp: *const f64,
}

/// Codes the columns `j .. j + 16` of every `j` in `run.step_by(LANES)`, last first, on the
/// lanes in `lanes` (all sixteen, or one half), with the states `x` and the word buffers
/// `wbs` (all sixteen lanes; left empty) into `pk`'s regions ([`Pack::lane`] gives each lane's
/// words: what its buffer held, then the run's).
///
/// `fc` is the magnitude symbols' packed table of the plan's family (`t · 256 + symbol`).
///
/// # Safety
/// The CPU must support AVX-512F and POPCNT ([`available`]); `row_fits(ctx.q0)`;
/// `run.end ≤ ctx.row.len()`, `run.len()` a multiple of [`LANES`]; `wbs` and `x` hold
/// sixteen lanes; `fc` packs `ctx.syms`.
#[target_feature(enable = "avx512f,avx512dq,popcnt")]
pub(super) unsafe fn encode_run(
    ctx: &RowEnc,
    fc: &[u32],
    wbs: &mut [WordBuf],
    x: &mut [u32],
    lanes: std::ops::Range<usize>,
    pk: &mut Pack,
    run: std::ops::Range<usize>,
) {
    let (j0, body) = (run.start, run.end);
    debug_assert!(row_fits(ctx.q0) && wbs.len() == LANES && x.len() == LANES);
    debug_assert!(body <= ctx.row.len() && (body - j0) % LANES == 0);
    debug_assert!(fc.len() == ctx.syms.len());
    let rv = row_vec(ctx, fc, lanes);
    let mut xs = _mm512_loadu_si512(x.as_ptr() as *const _);
    // Every scatter stays within its lane's region: a lane starts the run with what its
    // buffer holds and a column group adds at most MAX_WORDS_PER_VALUE words to it (five on
    // the vector path), so it ends at most one word (the last store's upper half) short of
    // the region's end.
    let groups = (body - j0) / LANES;
    assert!(wbs
        .iter()
        .all(|wb| wb.pos + groups * MAX_WORDS_PER_VALUE < STRIDE));
    let cur = take(pk, [0; LANES], wbs);
    let mut out = Scatter {
        base: pk.flat.as_mut_ptr(),
        cur,
    };
    let mut j = body;
    while j > j0 {
        j -= LANES;
        if !column16(&rv, &mut xs, &mut out, j) {
            // The scalar code writes to the (empty) buffers; their words then go to the
            // regions.
            _mm512_storeu_si512(x.as_mut_ptr() as *mut _, xs);
            for l in (0..LANES).rev().filter(|&l| rv.lanes >> l & 1 == 1) {
                ctx.value(&mut wbs[l], &mut x[l], j + l);
            }
            xs = _mm512_loadu_si512(x.as_ptr() as *const _);
            out.cur = take(pk, counts(out.cur), wbs);
        }
    }
    pk.n = counts(out.cur);
    _mm512_storeu_si512(x.as_mut_ptr() as *mut _, xs);
}

/// Kind 6 (`shared.rs`): codes the column groups `j .. j + 16` of every `j` in
/// `run.step_by(16)`, last first, on the 16 states `x`, appending each step's words to `wb`
/// from the highest lane down (the shared stream's order, reversed).
///
/// # Safety
/// As [`encode_run`]; `wb.buf` has room for the run's words (at most
/// `MAX_WORDS_PER_VALUE` per value) and 16 more past them.
#[target_feature(enable = "avx512f,avx512dq,popcnt")]
pub(super) unsafe fn encode_run_shared(
    ctx: &RowEnc,
    fc: &[u32],
    wb: &mut WordBuf,
    x: &mut [u32; LANES],
    run: std::ops::Range<usize>,
) {
    let (j0, body) = (run.start, run.end);
    debug_assert!(row_fits(ctx.q0) && (body - j0) % LANES == 0 && body <= ctx.row.len());
    debug_assert!(fc.len() == ctx.syms.len());
    let rv = row_vec(ctx, fc, 0..LANES);
    // Every group adds at most MAX_WORDS_PER_VALUE words a value, and a step's store writes
    // 16 words from the end: within the buffer.
    assert!(wb.pos + (body - j0) * MAX_WORDS_PER_VALUE + LANES <= wb.buf.len());
    let mut xs = _mm512_loadu_si512(x.as_ptr() as *const _);
    let mut out = Append {
        buf: wb.buf.as_mut_ptr(),
        pos: wb.pos,
    };
    let mut j = body;
    while j > j0 {
        j -= LANES;
        if !column16(&rv, &mut xs, &mut out, j) {
            _mm512_storeu_si512(x.as_mut_ptr() as *mut _, xs);
            wb.pos = out.pos;
            super::shared::encode_group(ctx, wb, x, j, LANES);
            out.pos = wb.pos;
            xs = _mm512_loadu_si512(x.as_ptr() as *const _);
        }
    }
    wb.pos = out.pos;
    _mm512_storeu_si512(x.as_mut_ptr() as *mut _, xs);
}

/// Where a step's emitted words go.
trait Emit {
    /// Writes the low 16 bits of `words` of the lanes set in `emit`.
    ///
    /// # Safety
    /// AVX-512F and POPCNT; the destination has room (the constructor's contract).
    unsafe fn emit(&mut self, words: __m512i, emit: __mmask16);
}

/// Kind 5: each lane's words to its own region of a [`Pack`].
struct Scatter {
    base: *mut u16,
    cur: Cursor,
}

impl Emit for Scatter {
    #[inline(always)]
    unsafe fn emit(&mut self, words: __m512i, emit: __mmask16) {
        emit_words(words, emit, self.base, &mut self.cur);
    }
}

/// Kind 6: every lane's words to one buffer, a step's from the highest lane down.
struct Append {
    buf: *mut u16,
    pos: usize,
}

impl Emit for Append {
    #[inline(always)]
    unsafe fn emit(&mut self, words: __m512i, emit: __mmask16) {
        let n = (emit as u32).count_ones();
        let packed = _mm512_maskz_compress_epi32(emit, words);
        // Element k = the (n − 1 − k)-th emitted lane's word (indices taken mod 16).
        let iota = _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
        let down = _mm512_permutexvar_epi32(
            _mm512_sub_epi32(_mm512_set1_epi32(n as i32 - 1), iota),
            packed,
        );
        // SAFETY: the buffer has room for 16 words at `pos` (`encode_run_shared`); the words
        // past the n emitted ones are overwritten by the next step's or lie past the run's.
        _mm256_storeu_si256(
            self.buf.add(self.pos) as *mut __m256i,
            _mm512_cvtepi32_epi16(down),
        );
        self.pos += n as usize;
    }
}

/// The vectors and pointers [`column16`] needs of the row `ctx`, for the lanes `lanes`.
#[inline]
#[target_feature(enable = "avx512f")]
unsafe fn row_vec<'a>(
    ctx: &'a RowEnc<'a>,
    fc: &[u32],
    lanes: std::ops::Range<usize>,
) -> RowVec<'a> {
    let mut sign_fc = [0u32; LANES];
    sign_fc[..8].copy_from_slice(&sign_table(ctx));
    let sign_rcp: [f64; 8] = std::array::from_fn(|k| 1.0 / (sign_fc[k] & 0x1FFF).max(1) as f64);
    let lane_mask = lanes.fold(0u16, |m, l| m | 1 << l);
    RowVec {
        ctx,
        q0: _mm512_set1_epi32(ctx.q0 as i32),
        rneg: _mm512_set1_epi32((ctx.code_sign && ctx.rneg) as i32),
        picks: ctx.picks.as_ptr() as *const i32,
        syms: fc.as_ptr() as *const i32,
        sign: _mm512_loadu_si512(sign_fc.as_ptr() as *const _),
        sign_rcp: _mm512_loadu_pd(sign_rcp.as_ptr()),
        lanes: lane_mask,
        rcp: rcp_table().as_ptr(),
    }
}

/// Codes the columns `c .. c + 16` on the states `xs`, each step's words to `out` (sign,
/// low-bit pieces top first, magnitude: the order `shared.rs` fixes for kind 6). Returns
/// false, having changed nothing, where a lane needs the scalar code (an escape, u ≥ 2^30,
/// s > 24).
///
/// Inlined into the `encode_run`s (hence compiled with their features, and the lanes'
/// positions kept in registers): call it from there only.
#[inline(always)]
unsafe fn column16(rv: &RowVec, xs: &mut __m512i, out: &mut impl Emit, c: usize) -> bool {
    let ctx = rv.ctx;
    let zero = _mm512_setzero_si512();
    let bj = _mm512_cvtepu8_epi32(_mm_loadu_si128(ctx.b.as_ptr().add(c) as *const __m128i));
    let active = _mm512_mask_test_epi32_mask(rv.lanes, bj, bj);
    if active == 0 {
        return true; // sixteen all-zero columns (or none of this run's lanes): nothing coded
    }
    let u = _mm512_loadu_si512(ctx.row.as_ptr().add(c) as *const _);
    let p = _mm512_mask_i32gather_epi32::<4>(zero, active, bj, rv.picks);
    let byte = _mm512_set1_epi32(0xFF);
    let s = _mm512_and_si512(_mm512_srli_epi32::<16>(p), byte);
    let esc = _mm512_srli_epi32::<24>(p);
    let v = _mm512_add_epi32(rv.q0, u);
    let m = _mm512_abs_epi32(v);
    let hi = _mm512_srlv_epi32(m, s);
    // Lanes the vector path does not code: u ≥ 2^30, an escape (hi ≥ esc), s > 24.
    let bad = _mm512_mask_test_epi32_mask(rv.lanes, u, _mm512_set1_epi32(-1 << 30))
        | _mm512_mask_cmpge_epu32_mask(active, hi, esc)
        | _mm512_mask_cmpgt_epu32_mask(active, s, _mm512_set1_epi32(24));
    if bad != 0 {
        return false;
    }
    // The magnitude symbol and its reciprocal first: they do not depend on the states, and
    // issued here they are ready when the chain of states reaches them.
    let ti = _mm512_and_si512(p, _mm512_set1_epi32(0xFFFF));
    let idx = _mm512_add_epi32(_mm512_slli_epi32::<8>(ti), hi);
    let fc = _mm512_mask_i32gather_epi32::<4>(zero, active, idx, rv.syms);
    let (re, ro) = reciprocals(fc, rv.rcp);
    let mut st = *xs;
    if ctx.code_sign {
        // Sign symbol 0 = as predicted: flip = (v < 0) ≠ (rneg ≠ cneg_j).
        let cn = _mm512_cvtepu8_epi32(_mm_loadu_si128(ctx.cneg.as_ptr().add(c) as *const __m128i));
        let flip = _mm512_xor_si512(_mm512_srli_epi32::<31>(v), _mm512_xor_si512(cn, rv.rneg));
        let cls = _mm512_cvtepu8_epi32(_mm_loadu_si128(ctx.ccls.as_ptr().add(c) as *const __m128i));
        let idx = _mm512_add_epi32(_mm512_add_epi32(cls, cls), flip);
        let mask = _mm512_mask_test_epi32_mask(active, m, m);
        // idx = 2 · class + flip < 8: one permute of the row's table (no gather).
        let fc = _mm512_permutexvar_epi32(idx, rv.sign);
        // The even lanes' indices are the low halves of the 64-bit lanes, which is all
        // `vpermpd` reads (3 bits); the odd lanes' the high halves.
        let re = _mm512_permutexvar_pd(idx, rv.sign_rcp);
        let ro = _mm512_permutexvar_pd(_mm512_srli_epi64::<32>(idx), rv.sign_rcp);
        st = step(st, fc, re, ro, mask, out);
    }
    // Low bits: pieces of 8 bits, the top (s mod 8 bits, if any) first; piece t of a lane
    // holds bits sh.. of the low part, sh = 8·(pieces − 1 − t).
    let s = _mm512_maskz_mov_epi32(active, s);
    let low = _mm512_andnot_si512(_mm512_sllv_epi32(_mm512_set1_epi32(-1), s), m);
    let eight = _mm512_set1_epi32(8);
    if _mm512_cmpgt_epi32_mask(s, eight) == 0 {
        // At most one piece per lane (the usual case): the s low bits at once.
        let mask = _mm512_test_epi32_mask(s, s);
        if mask != 0 {
            st = uniform(st, low, s, mask, out);
        }
    } else {
        let pieces = _mm512_srli_epi32::<3>(_mm512_add_epi32(s, _mm512_set1_epi32(7)));
        let mut sh = _mm512_slli_epi32::<3>(_mm512_sub_epi32(pieces, _mm512_set1_epi32(1)));
        let mut t = zero;
        loop {
            let mask = _mm512_cmpgt_epi32_mask(pieces, t);
            if mask == 0 {
                break;
            }
            let val = _mm512_and_si512(_mm512_srlv_epi32(low, sh), byte);
            let bits = _mm512_min_epi32(_mm512_sub_epi32(s, sh), eight);
            st = uniform(st, val, bits, mask, out);
            sh = _mm512_sub_epi32(sh, eight);
            t = _mm512_add_epi32(t, _mm512_set1_epi32(1));
        }
    }
    *xs = step(st, fc, re, ro, active, out);
    true
}

/// Writes the low 16 bits of `words` of the lanes set in `emit` at their lanes' positions in
/// the regions at `base` (see [`Pack`]) and advances those positions.
///
/// # Safety
/// AVX-512F; `base` is the regions' start, and each emitting lane's position is at least one
/// word short of its region's end.
#[inline]
#[target_feature(enable = "avx512f,avx512dq,popcnt")]
unsafe fn emit_words(words: __m512i, emit: __mmask16, base: *mut u16, cur: &mut Cursor) {
    // SAFETY: each store (32 bits at 2 · pos) is within its lane's region, as the caller
    // guarantees; the lanes' regions are apart.
    _mm512_mask_i32scatter_epi32::<2>(base as *mut _, emit, cur.pos, words);
    cur.pos = _mm512_mask_add_epi32(cur.pos, emit, cur.pos, _mm512_set1_epi32(1));
}

/// [`EncSym::step`] on the lanes of `mask`, with lane `l`'s symbol packed in `fc_l` and
/// `1/freq` in `re` (even lanes) and `ro` (odd lanes, both as [`reciprocals`] gives them):
/// the AVX2 encoder's `step` (see there why the quotient `trunc(v · (1/freq) + 2^−14)` is
/// exact), on 16 lanes.
///
/// The arithmetic runs on the even and the odd lanes apart, each as eight 64-bit lanes: the
/// conversions to and from f64 stay within 128-bit lanes, and `q · (M − freq)` is one
/// `vpmuludq` per half in place of the two-µop `vpmulld` and the moves across halves.
#[inline]
#[target_feature(enable = "avx512f,avx512dq,popcnt")]
unsafe fn step(
    x: __m512i,
    fc: __m512i,
    re: __m512d,
    ro: __m512d,
    mask: __mmask16,
    out: &mut impl Emit,
) -> __m512i {
    let freq = _mm512_and_si512(fc, _mm512_set1_epi32((1 << 13) - 1));
    let cum = _mm512_srli_epi32::<13>(fc);
    let low = _mm512_set1_epi64(0xFFFF_FFFF);
    // x_max = freq · 2^20, or 2^32 − 1 for freq = M (the scalar EncSym's never-renormalise).
    let x_max = _mm512_slli_epi32::<{ 32 - SCALE_BITS }>(freq);
    let x_max = _mm512_mask_mov_epi32(
        x_max,
        _mm512_testn_epi32_mask(x_max, x_max),
        _mm512_set1_epi32(-1),
    );
    let emit = _mm512_mask_cmpge_epu32_mask(mask, x, x_max);
    out.emit(x, emit);
    let v = _mm512_mask_srli_epi32::<16>(x, emit, x);
    let eps = _mm512_set1_pd(1.0 / 16384.0);
    let ve = _mm512_cvtepi64_pd(_mm512_and_si512(v, low));
    let vo = _mm512_cvtepi64_pd(_mm512_srli_epi64::<32>(v));
    // q < 2^20: in the low half of each 64-bit lane, which is all `vpmuludq` reads.
    let qe = _mm512_cvttpd_epi64(_mm512_fmadd_pd(ve, re, eps));
    let qo = _mm512_cvttpd_epi64(_mm512_fmadd_pd(vo, ro, eps));
    let cmpl = _mm512_sub_epi32(_mm512_set1_epi32(M as i32), freq);
    let vc = _mm512_add_epi32(v, cum);
    // The new states, v + cum + q · (M − freq) < 2^32: the even lanes' in the low halves of
    // `xe`, the odd lanes' in the high halves of `xo` (the other halves are not used).
    let xe = _mm512_add_epi32(_mm512_mul_epu32(qe, cmpl), vc);
    let po = mul_epu32(qo, _mm512_srli_epi64::<32>(cmpl));
    let xo = _mm512_add_epi32(_mm512_slli_epi64::<32>(po), vc);
    let x = _mm512_mask_mov_epi32(x, mask & 0x5555, xe);
    _mm512_mask_mov_epi32(x, mask & 0xAAAA, xo)
}

/// `_mm512_mul_epu32`, kept a `vpmuludq`: where only the product's low half is used (the odd
/// lanes' states, shifted up), LLVM rewrites the intrinsic as a 64-bit `vpmullq`, three
/// times its latency on the chain of states.
#[inline]
#[target_feature(enable = "avx512f")]
unsafe fn mul_epu32(a: __m512i, b: __m512i) -> __m512i {
    let p: __m512i;
    // SAFETY: a register-only instruction of AVX-512F (enabled here).
    std::arch::asm!(
        "vpmuludq {p}, {a}, {b}",
        p = lateout(zmm_reg) p,
        a = in(zmm_reg) a,
        b = in(zmm_reg) b,
        options(pure, nomem, nostack, preserves_flags),
    );
    p
}

/// `1/freq` for every 13-bit frequency field (`1/0` taken as 1: masked-off lanes hold
/// freq 0), each the correctly rounded quotient a division gives.
///
/// Why a table: two `vdivpd` of eight lanes per column group kept the divider busy for about
/// 32 cycles a group on this loop's CPUs (its largest single cost in `perf annotate`); two
/// gathers of eight read the same values from a table that stays in L1 (the few frequencies
/// a row uses).
fn rcp_table() -> &'static [f64; FREQ_FIELD] {
    static RCP: OnceLock<Box<[f64; FREQ_FIELD]>> = OnceLock::new();
    RCP.get_or_init(|| {
        let mut t = Box::new([1.0; FREQ_FIELD]);
        for (f, r) in t.iter_mut().enumerate().skip(1) {
            *r = 1.0 / f as f64;
        }
        t
    })
}

/// Entries of [`rcp_table`]: every value of the 13-bit frequency field of a packed symbol.
const FREQ_FIELD: usize = 1 << 13;

/// `1/freq` of the symbols packed in `fc` from [`rcp_table`] `rcp` (f64, rounded as a
/// division rounds; 1 for freq 0, which masked-off lanes may hold): the even lanes' in the
/// first vector, the odd lanes' in the second, as [`step`] takes them.
///
/// # Safety
/// AVX-512F; `rcp` points to the [`FREQ_FIELD`] entries of [`rcp_table`].
#[inline]
#[target_feature(enable = "avx512f,avx512dq")]
unsafe fn reciprocals(fc: __m512i, rcp: *const f64) -> (__m512d, __m512d) {
    let f = _mm512_and_si512(fc, _mm512_set1_epi32((1 << 13) - 1));
    let fe = _mm512_and_si512(f, _mm512_set1_epi64(0xFFFF_FFFF));
    let fo = _mm512_srli_epi64::<32>(f);
    // SAFETY: every index is a 13-bit field, below FREQ_FIELD, the table's length.
    (
        _mm512_i64gather_pd::<8>(fe, rcp),
        _mm512_i64gather_pd::<8>(fo, rcp),
    )
}

/// [`WordBuf::put_uniform`] of `bits` (1..=8) bits `val` on the lanes of `mask`.
#[inline]
#[target_feature(enable = "avx512f,avx512dq,popcnt")]
unsafe fn uniform(
    x: __m512i,
    val: __m512i,
    bits: __m512i,
    mask: __mmask16,
    out: &mut impl Emit,
) -> __m512i {
    let one = _mm512_set1_epi32(1);
    let limit = _mm512_sllv_epi32(one, _mm512_sub_epi32(_mm512_set1_epi32(32), bits));
    let emit = _mm512_mask_cmpge_epu32_mask(mask, x, limit);
    out.emit(x, emit);
    let v = _mm512_mask_srli_epi32::<16>(x, emit, x);
    let sh = _mm512_sub_epi32(_mm512_set1_epi32(SCALE_BITS as i32), bits);
    let xn = _mm512_add_epi32(
        _mm512_add_epi32(
            _mm512_slli_epi32::<{ SCALE_BITS }>(_mm512_srlv_epi32(v, sh)),
            _mm512_and_si512(v, _mm512_sub_epi32(_mm512_sllv_epi32(one, sh), one)),
        ),
        _mm512_sllv_epi32(val, sh),
    );
    _mm512_mask_mov_epi32(x, mask, xn)
}

#[cfg(test)]
mod tests {
    use super::super::lanes_enc_avx2::packed;
    use super::*;

    fn bufs(start: &[usize; LANES]) -> Vec<WordBuf> {
        start
            .iter()
            .map(|&p| WordBuf {
                buf: vec![0xDEAD; 4096],
                pos: p,
            })
            .collect()
    }

    /// The 16-lane step against [`EncSym::step`] for every frequency 1..=M (cumulative 0 and
    /// M − freq) on the even lanes, with another symbol (frequency M + 1 − freq) on the odd
    /// ones, on states where the quotient is exact or just below an integer, on both sides of
    /// the renormalisation bound and at the extremes, with lane 5 masked off (its state and
    /// buffer must stay as they were): the words, their emission and the new states must be
    /// the scalar ones.
    #[test]
    fn step_equals_the_scalar_step() {
        if !available() {
            return;
        }
        let mut n = 0u64;
        let mut pk = Box::new(Pack::new());
        let start: [usize; LANES] = std::array::from_fn(|l| if l == 4 { 890 } else { l });
        for freq in 1..=M {
            let f2 = M + 1 - freq;
            for cum in [0, M - freq] {
                let sym = [
                    EncSym::new(freq, cum),
                    EncSym::new(f2, (cum * 7) % (M + 1 - f2)),
                ];
                let fcs: [u32; LANES] = std::array::from_fn(|l| packed(&sym[l % 2]));
                let mut xs = super::super::tests::edge_states(freq);
                xs.extend(super::super::tests::edge_states(f2));
                for (k, chunk) in xs.chunks(LANES).enumerate() {
                    // The states rotated by k, so every state meets both symbols.
                    let xv: [u32; LANES] =
                        std::array::from_fn(|l| *chunk.get((l + k) % LANES).unwrap_or(&L));
                    let mut want = xv;
                    let mut want_w = vec![Vec::new(); LANES];
                    for l in (0..LANES).filter(|&l| l != 5) {
                        let (w, emit) = sym[l % 2].step(&mut want[l]);
                        if emit {
                            want_w[l].push(w);
                        }
                    }
                    let mut wbs = bufs(&start);
                    let mut got = [0u32; LANES];
                    // SAFETY: AVX-512F, DQ and POPCNT checked above; one step adds at most
                    // one word a lane, and no lane starts within two words of its region's end.
                    unsafe {
                        let cur = take(&mut pk, [0; LANES], &mut wbs);
                        let fc = _mm512_loadu_si512(fcs.as_ptr() as *const _);
                        let (re, ro) = reciprocals(fc, rcp_table().as_ptr());
                        let x = _mm512_loadu_si512(xv.as_ptr() as *const _);
                        let base = pk.flat.as_mut_ptr();
                        let mut out = Scatter { base, cur };
                        let r = step(x, fc, re, ro, !(1 << 5), &mut out);
                        _mm512_storeu_si512(got.as_mut_ptr() as *mut _, r);
                        pk.n = counts(out.cur);
                    }
                    for l in 0..LANES {
                        let x = xv[l];
                        assert_eq!(got[l], want[l], "freq {freq} cum {cum} x {x} lane {l}");
                        assert!(wbs[l].buf[..start[l]] == pk.lane(l)[..start[l]]);
                        let w = &pk.lane(l)[start[l]..];
                        assert_eq!(w, &want_w[l][..], "freq {freq} cum {cum} x {x} lane {l}");
                        n += 1;
                    }
                }
            }
        }
        assert!(n > 600_000, "{n} steps checked");
    }

    /// Scattered words reach each lane's region in emission order at the lane's own position,
    /// whatever the emit masks (a scrambled sequence of 3 × 800 of the 65 536), with lanes
    /// starting at different positions, each run's words moved in from the lanes' buffers
    /// first: the same words as writing each emitted word to its lane directly (the garbage
    /// upper half of each 32-bit store overwritten by the lane's next word).
    #[test]
    fn scattered_words_equal_direct_writes() {
        if !available() {
            return;
        }
        let start: [usize; LANES] = std::array::from_fn(|l| (l * 37) % 91);
        let mut pk = Box::new(Pack::new());
        for round in 0..3u32 {
            let mut want = bufs(&start);
            let mut got = bufs(&start);
            for (l, (w, g)) in want.iter_mut().zip(&mut got).enumerate() {
                for k in 0..start[l] {
                    (w.buf[k], g.buf[k]) = (k as u16 ^ 0x5A5A, k as u16 ^ 0x5A5A);
                }
            }
            // SAFETY: AVX-512F checked above; the lanes start below 91 and take at most 800
            // words, short of STRIDE − 1.
            let mut cur = unsafe { take(&mut pk, [0; LANES], &mut got) };
            for k in 0..800u32 {
                let m = (k.wrapping_mul(40503) ^ round.wrapping_mul(0x9E37)) as u16;
                let words: [u32; LANES] =
                    std::array::from_fn(|l| 0xBEEF << 16 | k << 6 | (l as u32) << 2 | round);
                for (l, wb) in want.iter_mut().enumerate() {
                    if m >> l & 1 == 1 {
                        wb.buf[wb.pos] = words[l] as u16;
                        wb.pos += 1;
                    }
                }
                // SAFETY: as above.
                unsafe {
                    let w = _mm512_loadu_si512(words.as_ptr() as *const _);
                    emit_words(w, m, pk.flat.as_mut_ptr(), &mut cur);
                }
            }
            // SAFETY: AVX-512F checked above.
            pk.n = unsafe { counts(cur) };
            for (l, w) in want.iter().enumerate() {
                assert_eq!(pk.lane(l), &w.buf[..w.pos], "round {round} lane {l}");
            }
        }
    }
}
