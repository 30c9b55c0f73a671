//! The kind-5 encoder's inner loop with eight lanes per AVX2 vector. Kind 5 codes column `j`
//! on state `j mod 16`, so eight consecutive columns are eight independent states: each of a
//! value's rANS steps (sign, low-bit pieces, magnitude) runs on the eight lanes at once, with
//! the lanes that have nothing to code at a step left as they are (masks); a block's two groups
//! of eight lanes are coded column group by column group together, two independent chains for
//! the CPU to overlap. A step is the scalar one's state update written with the symbol's
//! `(freq, cum)` (the decoder's packed table: the magnitude symbols by a gather, the row's eight
//! sign symbols by a permute) and `⌊v / freq⌋` by a multiplication with `1/freq`, exact here
//! (see [`step`]). The words a step emits are queued left-packed with their destinations and
//! written to the lanes' buffers later (see [`Pack`]). Every lane gets the scalar encoder's
//! results, so the words, hence the bytes, are the same as [`RowEnc::value`]'s: a group of eight
//! values that this path does not handle (an escape, more than 24 low bits, codes of 2^30 or
//! more) is coded by the scalar function on the same states.
//!
//! Why: the scalar encoder spent ≈ 150 instructions per value (half of compress), one
//! dependent state chain per lane; here a step costs about the same instructions for eight.

use std::arch::x86_64::*;

use super::encode::{RowEnc, WordBuf};
use super::lanes::LANES;
use super::*;

const _: () = assert!(std::mem::size_of::<Pick>() == 4);

/// A symbol as the decoder's tables pack it: `cum << 13 | freq`.
pub(super) fn packed(e: &EncSym) -> u32 {
    // EncSym keeps cmpl = M − freq and bias = cum (+ M − 1 when freq = 1).
    let freq = M - e.cmpl;
    let cum = if freq == 1 { e.bias - (M - 1) } else { e.bias };
    cum << 13 | freq
}

/// Whether rows with smallest code `q0` can take the vector path: with `|q0| < 2^30` and every
/// offset `u < 2^30` (checked per group), `q0 + u` fits an `i32`.
pub(super) fn row_fits(q0: i64) -> bool {
    q0.unsigned_abs() < 1 << 30
}

/// The row's sign symbols packed, `[class][flip]` for the column classes 0..4 (2-bit fields,
/// so `2 · class + flip < 8`: one vector, read by a permute), from the row's class on.
pub(super) fn sign_table(ctx: &RowEnc) -> [u32; 8] {
    let mut t = [0u32; 8];
    for (k, pair) in ctx.sign_syms.iter().take(4).enumerate() {
        t[2 * k] = packed(&pair[0]);
        t[2 * k + 1] = packed(&pair[1]);
    }
    t
}

/// Whether every sign symbol of the table `t` ([`sign_table`]) has probability 1/2: symbol
/// `flip` is then `(freq, cum) = (M/2, flip · M/2)`, the symbol of one uniform bit of value
/// `flip` (`WordBuf::put_uniform`: the same state and the same renormalisation).
fn signs_flat(t: &[u32; 8]) -> bool {
    let half = M / 2;
    t.chunks_exact(2)
        .all(|p| p[0] == half && p[1] == (half << 13 | half))
}

/// Words a step may queue in a [`Pack`] before it is flushed: a column group codes at most
/// five steps (sign, three low-bit pieces, magnitude), each one word per lane at most.
const PACK_CAP: usize = 1024;
const GROUP_WORDS: usize = 5 * 8;

/// The words of eight lanes' steps, queued in emission order: `words[k]` goes to position
/// `dst[k] & 0xFFFF` of lane `dst[k] >> 16`'s buffer. A step appends its emitting lanes'
/// words and destinations left-packed (one permutation and one store each), the lanes'
/// positions advancing in a vector; [`Pack::flush`] then writes the words, each store
/// independent of the others. Renormalisations are rare (about one lane in eight a step), so
/// this replaces a store per lane and step by about one per emitted word.
pub(super) struct Pack {
    words: [u32; PACK_CAP + 8],
    dst: [u32; PACK_CAP + 8],
    n: usize,
    /// The lanes' next positions, `l << 16 | pos_l`.
    pos: __m256i,
}

impl Pack {
    pub(super) fn new() -> Self {
        Pack {
            words: [0; PACK_CAP + 8],
            dst: [0; PACK_CAP + 8],
            n: 0,
            // SAFETY: zero bits are a valid __m256i.
            pos: unsafe { std::mem::zeroed() },
        }
    }

    /// Takes the lanes' positions from their buffers `wbs` (eight).
    #[target_feature(enable = "avx2,popcnt")]
    unsafe fn load_pos(&mut self, wbs: &[WordBuf]) {
        debug_assert!(self.n == 0 && wbs.len() == 8);
        let mut p = [0u32; 8];
        for (l, (d, wb)) in p.iter_mut().zip(wbs).enumerate() {
            // Positions stay below 2^16 (never carry into the lane): they start within their
            // buffers, are checked so at each flush, and a queue adds at most PACK_CAP + 8.
            assert!(wb.pos <= wb.buf.len() && wb.buf.len() + PACK_CAP + 8 < 1 << 16);
            *d = (l as u32) << 16 | wb.pos as u32;
        }
        self.pos = _mm256_loadu_si256(p.as_ptr() as *const __m256i);
    }

    /// Writes the queued words to their lanes' buffers `wbs` (eight), sets the buffers'
    /// positions past them and empties the queue.
    #[target_feature(enable = "avx2,popcnt")]
    unsafe fn flush(&mut self, wbs: &mut [WordBuf]) {
        let mut p = [0u32; 8];
        _mm256_storeu_si256(p.as_mut_ptr() as *mut __m256i, self.pos);
        // A lane's queued words go below its position now (each advanced it by one): with
        // every position within its buffer, so is every store.
        assert!(wbs.len() == 8);
        for (wb, &d) in wbs.iter().zip(&p) {
            assert!(
                (d & 0xFFFF) as usize <= wb.buf.len(),
                "lane word buffer overrun"
            );
        }
        let base: [*mut u16; 8] = std::array::from_fn(|l| wbs[l].buf.as_mut_ptr());
        for (&w, &d) in self.words[..self.n].iter().zip(&self.dst[..self.n]) {
            // SAFETY: a lane < 8, its position below the lane's checked one.
            *base
                .get_unchecked((d >> 16) as usize & 7)
                .add((d & 0xFFFF) as usize) = w as u16;
        }
        self.n = 0;
        for (wb, &d) in wbs.iter_mut().zip(&p) {
            wb.pos = (d & 0xFFFF) as usize;
        }
    }
}

/// Left-pack permutations: entry `m` lists the lanes set in `m`, lowest first (padded with 0).
static PERM: [[u32; 8]; 256] = {
    let mut t = [[0u32; 8]; 256];
    let mut m = 0;
    while m < 256 {
        let (mut l, mut k) = (0, 0);
        while l < 8 {
            if m >> l & 1 == 1 {
                t[m][k] = l as u32;
                k += 1;
            }
            l += 1;
        }
        m += 1;
    }
    t
};

/// One group of eight lanes of a run: its states (as a vector) and its queue of words.
struct Group<'p> {
    xs: __m256i,
    pk: &'p mut Pack,
}

/// What a column group's code needs of the row, as vectors and pointers.
struct RowVec<'a> {
    ctx: &'a RowEnc<'a>,
    q0: __m256i,
    rneg: __m256i,
    picks: *const i32,
    syms: *const i32,
    /// The row's sign symbols ([`sign_table`]).
    sign: __m256i,
    /// Whether they are all of probability 1/2 ([`signs_flat`]): the usual groups then code a
    /// sign as one uniform bit, which needs no division (weights and gradients without sign
    /// structure are coded so).
    sign_flat: bool,
}

impl<'a> RowVec<'a> {
    /// The row `ctx`'s vectors, `fc` its magnitude symbols packed.
    #[inline(always)]
    unsafe fn new(ctx: &'a RowEnc<'a>, fc: &[u32]) -> Self {
        // The row's sign symbols, [class][flip] from the row's class on.
        let sign_fc = sign_table(ctx);
        RowVec {
            ctx,
            q0: _mm256_set1_epi32(ctx.q0 as i32),
            rneg: _mm256_set1_epi32((ctx.code_sign && ctx.rneg) as i32),
            picks: ctx.picks.as_ptr() as *const i32,
            syms: fc.as_ptr() as *const i32,
            sign: _mm256_loadu_si256(sign_fc.as_ptr() as *const __m256i),
            sign_flat: signs_flat(&sign_fc),
        }
    }
}

/// Codes the columns `j + g .. j + g + 8` of every `j` in `run.step_by(LANES)`, last
/// first, for each group `g ∈ {0, 8}` of the lanes in `lanes`, on the states `x` and the word
/// buffers `wbs` (all sixteen lanes), with `packs` (empty, left empty) as the groups' queues. The two groups' state chains are independent and coded
/// column group by column group together, so the CPU overlaps them.
///
/// `fc` is the magnitude symbols' packed table of the plan's family (`t · 256 + symbol`).
///
/// # Safety
/// The CPU must support AVX2 and POPCNT (`lanes::have_avx2`); `row_fits(ctx.q0)`;
/// `run.end ≤ ctx.row.len()`, `run.len()` a multiple of [`LANES`]; `wbs` and `x` hold sixteen
/// lanes; `fc` packs `ctx.syms`.
#[target_feature(enable = "avx2,popcnt")]
pub(super) unsafe fn encode_run(
    ctx: &RowEnc,
    fc: &[u32],
    wbs: &mut [WordBuf],
    x: &mut [u32],
    lanes: std::ops::Range<usize>,
    packs: &mut [Pack; 2],
    run: std::ops::Range<usize>,
) {
    let (j0, body) = (run.start, run.end);
    debug_assert!(packs[0].n == 0 && packs[1].n == 0);
    debug_assert!(row_fits(ctx.q0) && wbs.len() == LANES && x.len() == LANES);
    debug_assert!(body <= ctx.row.len() && (body - j0) % LANES == 0);
    debug_assert!(fc.len() == ctx.syms.len());
    let rv = RowVec::new(ctx, fc);
    let (lo, hi) = (lanes.contains(&0), lanes.contains(&8));
    let (wlo, whi) = wbs.split_at_mut(8);
    let (xlo, xhi) = x.split_at_mut(8);
    let [pa, pb] = packs;
    let mut a = Group {
        xs: _mm256_loadu_si256(xlo.as_ptr() as *const __m256i),
        pk: pa,
    };
    let mut b = Group {
        xs: _mm256_loadu_si256(xhi.as_ptr() as *const __m256i),
        pk: pb,
    };
    a.pk.load_pos(wlo);
    b.pk.load_pos(whi);
    let mut j = body;
    while j > j0 {
        j -= LANES;
        match (lo, hi, rv.sign_flat) {
            (true, true, false) => {
                column16::<false>(&rv, [&mut a, &mut b], [wlo, whi], [xlo, xhi], j)
            }
            (true, true, true) => {
                column16::<true>(&rv, [&mut a, &mut b], [wlo, whi], [xlo, xhi], j)
            }
            (true, false, _) => column8(&rv, &mut a, wlo, xlo, j),
            (false, true, _) => column8(&rv, &mut b, whi, xhi, j + 8),
            (false, false, _) => {}
        }
    }
    a.pk.flush(wlo);
    b.pk.flush(whi);
    _mm256_storeu_si256(xlo.as_mut_ptr() as *mut __m256i, a.xs);
    _mm256_storeu_si256(xhi.as_mut_ptr() as *mut __m256i, b.xs);
}

/// What a column group's code needs of its eight columns, read before any step.
struct Cols {
    active: __m256i,
    /// The picks (table `0xFFFF`, low bits `s` and escape above).
    p: __m256i,
    /// The low bits (0 on the lanes not active).
    s: __m256i,
    v: __m256i,
    m: __m256i,
    hi: __m256i,
    /// The lanes the vector steps cannot code at all: u ≥ 2^30, or an escape (hi ≥ esc).
    unfit: __m256i,
}

/// Reads the columns `c .. c + 8` ([`column8`], [`column16`]).
#[inline(always)]
unsafe fn read_cols(rv: &RowVec, c: usize) -> Cols {
    let ctx = rv.ctx;
    let zero = _mm256_setzero_si256();
    let ones = _mm256_set1_epi32(-1);
    let bj = _mm256_cvtepu8_epi32(_mm_loadl_epi64(ctx.b.as_ptr().add(c) as *const __m128i));
    let active = _mm256_xor_si256(_mm256_cmpeq_epi32(bj, zero), ones);
    let u = _mm256_loadu_si256(ctx.row.as_ptr().add(c) as *const __m256i);
    // The lanes not active get 0: s = 0 and esc = 0.
    let p = _mm256_mask_i32gather_epi32::<4>(zero, rv.picks, bj, active);
    let s = _mm256_and_si256(_mm256_srli_epi32::<16>(p), _mm256_set1_epi32(0xFF));
    let esc = _mm256_srli_epi32::<24>(p);
    let v = _mm256_add_epi32(rv.q0, u);
    let m = _mm256_abs_epi32(v);
    let hi = _mm256_srlv_epi32(m, s);
    let escape = _mm256_and_si256(active, _mm256_xor_si256(_mm256_cmpgt_epi32(esc, hi), ones));
    Cols {
        active,
        p,
        s,
        v,
        m,
        hi,
        unfit: _mm256_or_si256(_mm256_srli_epi32::<30>(u), escape),
    }
}

/// The lanes of `cl` with more than `bits` low bits.
#[inline(always)]
unsafe fn low_over(cl: &Cols, bits: i32) -> __m256i {
    _mm256_cmpgt_epi32(cl.s, _mm256_set1_epi32(bits))
}

/// Reads the columns `c .. c + 8` for [`column16`]: `None` where [`column8`] codes them
/// otherwise than by one step of each kind (all-zero columns, a lane for the scalar code,
/// more than 8 low bits).
#[inline(always)]
unsafe fn cols(rv: &RowVec, c: usize) -> Option<Cols> {
    let cl = read_cols(rv, c);
    let bad = _mm256_or_si256(cl.unfit, low_over(&cl, 8));
    let usual = _mm256_testz_si256(bad, bad) != 0 && _mm256_testz_si256(cl.active, cl.active) == 0;
    usual.then_some(cl)
}

/// The sign symbols of the columns `c .. c + 8` ([`read_cols`]), the lanes that code one
/// (a non-zero value) and the symbols' values `flip`: symbol 0 = as predicted, flip =
/// (v < 0) ≠ (rneg ≠ cneg_j); idx = 2 · class + flip < 8, one permute of the row's table (no
/// gather).
#[inline(always)]
unsafe fn sign_sym(rv: &RowVec, cl: &Cols, c: usize) -> (__m256i, __m256i, __m256i) {
    let ctx = rv.ctx;
    let cn = _mm256_cvtepu8_epi32(_mm_loadl_epi64(ctx.cneg.as_ptr().add(c) as *const __m128i));
    let flip = _mm256_xor_si256(_mm256_srli_epi32::<31>(cl.v), _mm256_xor_si256(cn, rv.rneg));
    let cls = _mm256_cvtepu8_epi32(_mm_loadl_epi64(ctx.ccls.as_ptr().add(c) as *const __m128i));
    let idx = _mm256_add_epi32(_mm256_add_epi32(cls, cls), flip);
    let mask = _mm256_andnot_si256(_mm256_cmpeq_epi32(cl.m, _mm256_setzero_si256()), cl.active);
    (_mm256_permutevar8x32_epi32(rv.sign, idx), mask, flip)
}

/// The `s` low bits of each lane's magnitude ([`read_cols`]).
#[inline(always)]
unsafe fn low_bits(cl: &Cols) -> __m256i {
    _mm256_andnot_si256(_mm256_sllv_epi32(_mm256_set1_epi32(-1), cl.s), cl.m)
}

/// The magnitude symbols (`hi` under the lane's table) packed, by a gather ([`read_cols`]).
#[inline(always)]
unsafe fn magnitude_sym(rv: &RowVec, cl: &Cols) -> __m256i {
    let ti = _mm256_and_si256(cl.p, _mm256_set1_epi32(0xFFFF));
    let idx = _mm256_add_epi32(_mm256_slli_epi32::<8>(ti), cl.hi);
    _mm256_mask_i32gather_epi32::<4>(_mm256_setzero_si256(), rv.syms, idx, cl.active)
}

/// Codes the columns `c .. c + 16`: `c .. c + 8` on the group `gr[0]` (lanes 0–7, buffers
/// `wbs[0]`, states `x[0]`) and `c + 8 ..` on `gr[1]`, as [`column8`] on each, but a step of
/// one group beside the same step of the other where both take the usual steps (one sign
/// step, at most 8 low bits, one magnitude step).
///
/// Why: on Zen 3 each group's chain of steps (a division, float conversions, a gather) holds
/// its ~60 dependent operations in the vector scheduler; the other group's, after them in
/// program order, wait behind them. Side by side, the two chains overlap.
///
/// Inlined into [`encode_run`] (hence compiled with AVX2): call it from there only.
#[inline(always)]
unsafe fn column16<const FLAT: bool>(
    rv: &RowVec,
    gr: [&mut Group; 2],
    wbs: [&mut [WordBuf]; 2],
    x: [&mut [u32]; 2],
    c: usize,
) {
    let [ga, gb] = gr;
    let [wa, wb] = wbs;
    let [xa, xb] = x;
    let (Some(ca), Some(cb)) = (cols(rv, c), cols(rv, c + 8)) else {
        column8(rv, ga, wa, xa, c);
        column8(rv, gb, wb, xb, c + 8);
        return;
    };
    if ga.pk.n > PACK_CAP - GROUP_WORDS {
        ga.pk.flush(wa);
    }
    if gb.pk.n > PACK_CAP - GROUP_WORDS {
        gb.pk.flush(wb);
    }
    let mut two = Packs2 {
        lo: &mut *ga.pk,
        hi: &mut *gb.pk,
    };
    [ga.xs, gb.xs] = steps16::<_, FLAT>(rv, [ga.xs, gb.xs], [&ca, &cb], c, &mut two);
}

/// A [`Emit2`] of two [`Pack`]s, one per half of the lanes.
struct Packs2<'p> {
    lo: &'p mut Pack,
    hi: &'p mut Pack,
}

/// Where the steps of both halves of the lanes ([`steps16`]) emit their words.
trait Emit2 {
    /// As [`Emit8::emit`], for the half `h` (0: lanes 0–7).
    ///
    /// # Safety
    /// As [`Emit8::emit`].
    unsafe fn emit_half(&mut self, h: usize, words: __m256i, emit: __m256i);
}

impl Emit2 for Packs2<'_> {
    #[inline(always)]
    unsafe fn emit_half(&mut self, h: usize, words: __m256i, emit: __m256i) {
        match h {
            0 => self.lo.emit(words, emit),
            _ => self.hi.emit(words, emit),
        }
    }
}

impl Emit2 for Append {
    #[inline(always)]
    unsafe fn emit_half(&mut self, _: usize, words: __m256i, emit: __m256i) {
        self.emit(words, emit);
    }
}

/// One half of an [`Emit2`], as an [`Emit8`].
struct Half<'e, E> {
    e: &'e mut E,
    h: usize,
}

impl<E: Emit2> Emit8 for Half<'_, E> {
    #[inline(always)]
    unsafe fn emit(&mut self, words: __m256i, emit: __m256i) {
        self.e.emit_half(self.h, words, emit);
    }
}

/// The steps of the columns `c .. c + 16` read by [`cols`] (`cl[0]` from `c`, lanes 0–7 on
/// the states `xs[0]`; `cl[1]` from `c + 8`): each step (sign, low bits, magnitude) on the
/// upper half, then on the lower, their words to `out`. Returns the new states. `FLAT`: the
/// row's signs are all of probability one half (`RowVec::sign_flat`), each coded as one bit;
/// a parameter of the type so that the other rows' loop is the same code as without it.
///
/// Inlined into AVX2 code only.
#[inline(always)]
unsafe fn steps16<E: Emit2, const FLAT: bool>(
    rv: &RowVec,
    xs: [__m256i; 2],
    cl: [&Cols; 2],
    c: usize,
    out: &mut E,
) -> [__m256i; 2] {
    let ctx = rv.ctx;
    let zero = _mm256_setzero_si256();
    let [mut xa, mut xb] = xs;
    let [ca, cb] = cl;
    if ctx.code_sign {
        let ((fa, ma, la), (fb, mb, lb)) = (sign_sym(rv, ca, c), sign_sym(rv, cb, c + 8));
        if FLAT {
            xb = one_bit(xb, lb, mb, &mut Half { e: out, h: 1 });
            xa = one_bit(xa, la, ma, &mut Half { e: out, h: 0 });
        } else {
            xb = step(xb, fb, mb, &mut Half { e: out, h: 1 });
            xa = step(xa, fa, ma, &mut Half { e: out, h: 0 });
        }
    }
    // At most 8 low bits a lane (`cols`): the s low bits at once.
    let (ka, kb) = (
        _mm256_cmpgt_epi32(ca.s, zero),
        _mm256_cmpgt_epi32(cb.s, zero),
    );
    if _mm256_testz_si256(kb, kb) == 0 {
        xb = uniform(xb, low_bits(cb), cb.s, kb, &mut Half { e: out, h: 1 });
    }
    if _mm256_testz_si256(ka, ka) == 0 {
        xa = uniform(xa, low_bits(ca), ca.s, ka, &mut Half { e: out, h: 0 });
    }
    let (fa, fb) = (magnitude_sym(rv, ca), magnitude_sym(rv, cb));
    xb = step(xb, fb, cb.active, &mut Half { e: out, h: 1 });
    xa = step(xa, fa, ca.active, &mut Half { e: out, h: 0 });
    [xa, xb]
}

/// Kind 6 (`shared.rs`): codes the column groups `j .. j + 16` of every `j` in
/// `run.step_by(16)`, last first, on the 16 states `x`, appending each step's words to `wb`
/// from the highest lane down (the shared stream's order, reversed); a group the vector steps
/// do not take (see [`cols`]) goes through the scalar `shared::encode_group`.
///
/// # Safety
/// The CPU must support AVX2 and POPCNT (`lanes::have_avx2`); `row_fits(ctx.q0)`;
/// `run.end ≤ ctx.row.len()`, `run.len()` a multiple of 16; `fc` packs `ctx.syms`; `wb.buf` has
/// room for the run's words (at most `MAX_WORDS_PER_VALUE` per value) and 8 more past them.
#[target_feature(enable = "avx2,popcnt")]
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
    assert!(
        wb.pos + (body - j0) * super::encode::MAX_WORDS_PER_VALUE + 8 <= wb.buf.len(),
        "kind-6 word buffer too small"
    );
    let rv = RowVec::new(ctx, fc);
    let mut out = Append {
        buf: wb.buf.as_mut_ptr(),
        pos: wb.pos,
    };
    let p = x.as_mut_ptr() as *mut __m256i;
    let mut xs = [_mm256_loadu_si256(p), _mm256_loadu_si256(p.add(1))];
    let mut j = body;
    while j > j0 {
        j -= LANES;
        if let (Some(ca), Some(cb)) = (cols(&rv, j), cols(&rv, j + 8)) {
            xs = match rv.sign_flat {
                true => steps16::<_, true>(&rv, xs, [&ca, &cb], j, &mut out),
                false => steps16::<_, false>(&rv, xs, [&ca, &cb], j, &mut out),
            };
        } else {
            _mm256_storeu_si256(p, xs[0]);
            _mm256_storeu_si256(p.add(1), xs[1]);
            wb.pos = out.pos;
            super::shared::encode_group(ctx, wb, x, j, LANES);
            out.pos = wb.pos;
            xs = [_mm256_loadu_si256(p), _mm256_loadu_si256(p.add(1))];
        }
    }
    wb.pos = out.pos;
    _mm256_storeu_si256(p, xs[0]);
    _mm256_storeu_si256(p.add(1), xs[1]);
}

/// Codes the columns `c .. c + 8` on the group `gr` (lanes whose buffers are `wbs`; `x` is
/// their state array, written only when the scalar code takes over).
///
/// Inlined into [`encode_run`] (hence compiled with AVX2, and the queue's count and positions
/// kept in registers): call it from there only.
#[inline(always)]
unsafe fn column8(rv: &RowVec, gr: &mut Group, wbs: &mut [WordBuf], x: &mut [u32], c: usize) {
    let ctx = rv.ctx;
    let zero = _mm256_setzero_si256();
    let cl = read_cols(rv, c);
    if _mm256_testz_si256(cl.active, cl.active) != 0 {
        return; // eight all-zero columns: nothing coded
    }
    if gr.pk.n > PACK_CAP - GROUP_WORDS {
        gr.pk.flush(wbs);
    }
    // Lanes the vector path does not code: u ≥ 2^30, an escape, s > 24.
    let bad = _mm256_or_si256(cl.unfit, low_over(&cl, 24));
    if _mm256_testz_si256(bad, bad) == 0 {
        // The scalar code writes straight to the buffers: the queued words go first.
        gr.pk.flush(wbs);
        _mm256_storeu_si256(x.as_mut_ptr() as *mut __m256i, gr.xs);
        for l in (0..8).rev() {
            ctx.value(&mut wbs[l], &mut x[l], c + l);
        }
        gr.xs = _mm256_loadu_si256(x.as_ptr() as *const __m256i);
        gr.pk.load_pos(wbs);
        return;
    }
    let mut xs = gr.xs;
    let pk = &mut *gr.pk;
    if ctx.code_sign {
        let (f, mask, _) = sign_sym(rv, &cl, c);
        xs = step(xs, f, mask, pk);
    }
    // Low bits: pieces of 8 bits, the top (s mod 8 bits, if any) first; piece t of a lane
    // holds bits sh.. of the low part, sh = 8·(pieces − 1 − t).
    let s = cl.s;
    let low = low_bits(&cl);
    let wide = low_over(&cl, 8);
    if _mm256_testz_si256(wide, wide) != 0 {
        // At most one piece per lane (the usual case): the s low bits at once.
        let mask = _mm256_cmpgt_epi32(s, zero);
        if _mm256_testz_si256(mask, mask) == 0 {
            xs = uniform(xs, low, s, mask, pk);
        }
    } else {
        let pieces = _mm256_srli_epi32::<3>(_mm256_add_epi32(s, _mm256_set1_epi32(7)));
        let mut sh = _mm256_slli_epi32::<3>(_mm256_sub_epi32(pieces, _mm256_set1_epi32(1)));
        let mut t = zero;
        loop {
            let mask = _mm256_cmpgt_epi32(pieces, t);
            if _mm256_testz_si256(mask, mask) != 0 {
                break;
            }
            let val = _mm256_and_si256(_mm256_srlv_epi32(low, sh), _mm256_set1_epi32(0xFF));
            let bits = _mm256_min_epi32(_mm256_sub_epi32(s, sh), _mm256_set1_epi32(8));
            xs = uniform(xs, val, bits, mask, pk);
            sh = _mm256_sub_epi32(sh, _mm256_set1_epi32(8));
            t = _mm256_add_epi32(t, _mm256_set1_epi32(1));
        }
    }
    gr.xs = step(xs, magnitude_sym(rv, &cl), cl.active, pk);
}

/// Where a step's emitted words go.
trait Emit8 {
    /// Takes the low 16 bits of `words` of the lanes set in `emit`.
    ///
    /// # Safety
    /// AVX2; the destination has room (its constructor's contract).
    unsafe fn emit(&mut self, words: __m256i, emit: __m256i);
}

/// Kind 5: each lane's words queued for its own buffer.
impl Emit8 for Pack {
    #[inline(always)]
    unsafe fn emit(&mut self, words: __m256i, emit: __m256i) {
        emit_words(words, emit, self);
    }
}

/// Kind 6 (`shared.rs`): every lane's words appended to one buffer, a step's from the
/// highest lane down.
struct Append {
    buf: *mut u16,
    pos: usize,
}

/// Right-pack permutations: entry `m` lists the lanes set in `m`, highest first (padded
/// with 0).
static PERM_DOWN: [[u32; 8]; 256] = {
    let mut t = [[0u32; 8]; 256];
    let mut m = 0;
    while m < 256 {
        let (mut l, mut k) = (8, 0);
        while l > 0 {
            l -= 1;
            if m >> l & 1 == 1 {
                t[m][k] = l as u32;
                k += 1;
            }
        }
        m += 1;
    }
    t
};

impl Emit8 for Append {
    #[inline(always)]
    unsafe fn emit(&mut self, words: __m256i, emit: __m256i) {
        let bits = _mm256_movemask_ps(_mm256_castsi256_ps(emit)) as usize & 0xFF;
        let perm = _mm256_loadu_si256(PERM_DOWN[bits].as_ptr() as *const __m256i);
        let down = _mm256_permutevar8x32_epi32(words, perm);
        // Each 32-bit lane's low 16 bits, the eight words in the low 128 bits.
        let halves = _mm256_shuffle_epi8(
            down,
            _mm256_setr_epi8(
                0, 1, 4, 5, 8, 9, 12, 13, -1, -1, -1, -1, -1, -1, -1, -1, 0, 1, 4, 5, 8, 9, 12, 13,
                -1, -1, -1, -1, -1, -1, -1, -1,
            ),
        );
        let packed = _mm256_permute4x64_epi64::<0b1000>(halves);
        // SAFETY: the buffer has room for 8 words at `pos` (`encode_run_shared`); the words
        // past the emitted ones are overwritten by the next step's or lie past the run's.
        _mm_storeu_si128(
            self.buf.add(self.pos) as *mut __m128i,
            _mm256_castsi256_si128(packed),
        );
        self.pos += (bits as u32).count_ones() as usize;
    }
}

/// Queues the low 16 bits of `words` of the lanes set in `emit`, left-packed (see [`Pack`]).
#[inline]
#[target_feature(enable = "avx2,popcnt")]
unsafe fn emit_words(words: __m256i, emit: __m256i, pk: &mut Pack) {
    let bits = _mm256_movemask_ps(_mm256_castsi256_ps(emit)) as usize & 0xFF;
    let perm = _mm256_loadu_si256(PERM[bits].as_ptr() as *const __m256i);
    debug_assert!(pk.n <= PACK_CAP);
    // SAFETY: n ≤ PACK_CAP (flushed before each column group that could pass it), and both
    // arrays have 8 entries of room past PACK_CAP for the whole-vector stores.
    _mm256_storeu_si256(
        pk.words.as_mut_ptr().add(pk.n) as *mut __m256i,
        _mm256_permutevar8x32_epi32(words, perm),
    );
    _mm256_storeu_si256(
        pk.dst.as_mut_ptr().add(pk.n) as *mut __m256i,
        _mm256_permutevar8x32_epi32(pk.pos, perm),
    );
    pk.pos = _mm256_sub_epi32(pk.pos, emit);
    pk.n += (bits as u32).count_ones() as usize;
}

/// `x ≥ y` as unsigned 32-bit lanes.
#[inline]
#[target_feature(enable = "avx2,popcnt")]
unsafe fn ge_u32(x: __m256i, y: __m256i) -> __m256i {
    _mm256_cmpeq_epi32(_mm256_max_epu32(x, y), x)
}

/// [`EncSym::step`] on the lanes of `mask`, with lane `l`'s symbol packed in `fc_l`.
/// The scalar step's new state is `v + bias + q·(M − freq)` with `q = ⌊v·rcp / 2^64⌋`, which
/// is `⌊v / freq⌋·M + v mod freq + cum` (rcp = ⌈2^64 / freq⌉ errs by < 2^−32 < 1/freq; for
/// freq = 1 the bias makes up for q = v − 1): computed here as `v + cum + q·(M − freq)`.
///
/// The quotient is `trunc(v · r + 2^−14)` with `r = 1/freq` rounded to f64: the state chain
/// is serial, so a multiplication on the chain (`r` depends on the symbol only, off the chain)
/// replaces a division and a floor. Exact: `v < freq · 2^20` after renormalisation (or
/// `v < 2^32 = M · 2^20` for freq = M), so `v/freq < 2^20` and the two roundings of `v · r`
/// err by < 2^−52 · 2^20 · 2 = 2^−31; a true quotient `k + φ` has φ = 0 or φ ≥ 1/freq ≥
/// 2^−12, so adding 2^−14 lands in `[k, k + 1)` either way, and truncation of a non-negative
/// double is its floor (the test `step_equals_the_scalar_step` checks every frequency).
#[inline]
#[target_feature(enable = "avx2,popcnt")]
unsafe fn step<E: Emit8>(x: __m256i, fc: __m256i, mask: __m256i, pk: &mut E) -> __m256i {
    let freq = _mm256_and_si256(fc, _mm256_set1_epi32((1 << 13) - 1));
    let cum = _mm256_srli_epi32::<13>(fc);
    // Masked-off lanes may hold freq 0: take 1 for them.
    let fd = _mm256_max_epi32(freq, _mm256_set1_epi32(1));
    let one = _mm256_set1_pd(1.0);
    let rlo = _mm256_div_pd(one, _mm256_cvtepi32_pd(_mm256_castsi256_si128(fd)));
    let rhi = _mm256_div_pd(one, _mm256_cvtepi32_pd(_mm256_extracti128_si256::<1>(fd)));
    // x_max = freq · 2^20, or 2^32 − 1 for freq = M (the scalar EncSym's never-renormalise).
    let x_max = _mm256_slli_epi32::<{ 32 - SCALE_BITS as i32 }>(freq);
    let x_max = _mm256_add_epi32(x_max, _mm256_cmpeq_epi32(x_max, _mm256_setzero_si256()));
    let emit = _mm256_and_si256(mask, ge_u32(x, x_max));
    pk.emit(x, emit);
    let v = _mm256_blendv_epi8(x, _mm256_srli_epi32::<16>(x), emit);
    // v as f64 (through the sign flip: v may reach 2^32 − 1).
    let vs = _mm256_xor_si256(v, _mm256_set1_epi32(i32::MIN));
    let bias = _mm256_set1_pd(2147483648.0);
    let vlo = _mm256_add_pd(_mm256_cvtepi32_pd(_mm256_castsi256_si128(vs)), bias);
    let vhi = _mm256_add_pd(_mm256_cvtepi32_pd(_mm256_extracti128_si256::<1>(vs)), bias);
    let eps = _mm256_set1_pd(1.0 / 16384.0);
    let qlo = _mm256_cvttpd_epi32(_mm256_add_pd(_mm256_mul_pd(vlo, rlo), eps));
    let qhi = _mm256_cvttpd_epi32(_mm256_add_pd(_mm256_mul_pd(vhi, rhi), eps));
    let q = _mm256_inserti128_si256::<1>(_mm256_castsi128_si256(qlo), qhi);
    let cmpl = _mm256_sub_epi32(_mm256_set1_epi32(M as i32), freq);
    let xn = _mm256_add_epi32(_mm256_add_epi32(v, cum), _mm256_mullo_epi32(q, cmpl));
    _mm256_blendv_epi8(x, xn, mask)
}

/// [`WordBuf::put_uniform`] of `bits` (1..=8) bits `val` on the lanes of `mask`.
#[inline]
#[target_feature(enable = "avx2,popcnt")]
unsafe fn uniform<E: Emit8>(
    x: __m256i,
    val: __m256i,
    bits: __m256i,
    mask: __m256i,
    pk: &mut E,
) -> __m256i {
    let one = _mm256_set1_epi32(1);
    let limit = _mm256_sllv_epi32(one, _mm256_sub_epi32(_mm256_set1_epi32(32), bits));
    let emit = _mm256_and_si256(mask, ge_u32(x, limit));
    pk.emit(x, emit);
    let v = _mm256_blendv_epi8(x, _mm256_srli_epi32::<16>(x), emit);
    let sh = _mm256_sub_epi32(_mm256_set1_epi32(SCALE_BITS as i32), bits);
    let xn = _mm256_add_epi32(
        _mm256_add_epi32(
            _mm256_slli_epi32::<{ SCALE_BITS as i32 }>(_mm256_srlv_epi32(v, sh)),
            _mm256_and_si256(v, _mm256_sub_epi32(_mm256_sllv_epi32(one, sh), one)),
        ),
        _mm256_sllv_epi32(val, sh),
    );
    _mm256_blendv_epi8(x, xn, mask)
}

/// [`uniform`] of one bit `val` (0 or 1 in each lane) on the lanes of `mask`, with the
/// shifts fixed: the state renormalises from 2^31 on (its top bit), and the bit goes in at
/// bit 11, the bits from there on moving up by one: `x + (x & !(2^11 − 1)) + val · 2^11`.
#[inline]
#[target_feature(enable = "avx2,popcnt")]
unsafe fn one_bit<E: Emit8>(x: __m256i, val: __m256i, mask: __m256i, pk: &mut E) -> __m256i {
    let emit = _mm256_and_si256(mask, _mm256_srai_epi32::<31>(x));
    pk.emit(x, emit);
    let v = _mm256_blendv_epi8(x, _mm256_srli_epi32::<16>(x), emit);
    let high = _mm256_and_si256(v, _mm256_set1_epi32(!((M as i32 / 2) - 1)));
    let xn = _mm256_add_epi32(
        _mm256_add_epi32(v, high),
        _mm256_slli_epi32::<{ SCALE_BITS as i32 - 1 }>(val),
    );
    _mm256_blendv_epi8(x, xn, mask)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bufs(start: &[usize; 8]) -> Vec<WordBuf> {
        start
            .iter()
            .map(|&p| WordBuf {
                buf: vec![0xDEAD; 4096],
                pos: p,
            })
            .collect()
    }

    /// The eight-lane step against [`EncSym::step`] for every frequency 1..=M (cumulative 0
    /// and M − freq), on states where the quotient is exact or just below an integer, on both
    /// sides of the renormalisation bound and at the extremes, with lane 5 masked off (its
    /// state and buffer must stay as they were): the words, their emission and the new states
    /// must be the scalar ones.
    #[test]
    fn step_equals_the_scalar_step() {
        if !super::super::lanes::have_avx2() {
            return;
        }
        let mut n = 0u64;
        let mut pk = Box::new(Pack::new());
        for freq in 1..=M {
            for cum in [0, M - freq] {
                let e = EncSym::new(freq, cum);
                let xs = super::super::tests::edge_states(freq);
                for oct in xs.chunks(8) {
                    let mut xv = [L; 8];
                    xv[..oct.len()].copy_from_slice(oct);
                    let mut want = xv;
                    let mut want_w = vec![Vec::new(); 8];
                    for l in (0..8).filter(|&l| l != 5) {
                        let (w, emit) = e.step(&mut want[l]);
                        if emit {
                            want_w[l].push(w);
                        }
                    }
                    let start = [0, 1, 2, 3, 900, 5, 6, 7];
                    let mut wbs = bufs(&start);
                    let mut got = [0u32; 8];
                    // SAFETY: AVX2 checked above.
                    unsafe {
                        pk.load_pos(&wbs);
                        let mask = _mm256_setr_epi32(-1, -1, -1, -1, -1, 0, -1, -1);
                        let x = _mm256_loadu_si256(xv.as_ptr() as *const __m256i);
                        let r = step(x, _mm256_set1_epi32(packed(&e) as i32), mask, &mut *pk);
                        _mm256_storeu_si256(got.as_mut_ptr() as *mut __m256i, r);
                        pk.flush(&mut wbs);
                    }
                    for l in 0..8 {
                        let x = xv[l];
                        assert_eq!(got[l], want[l], "freq {freq} cum {cum} x {x} lane {l}");
                        let w = &wbs[l].buf[start[l]..wbs[l].pos];
                        assert_eq!(w, &want_w[l][..], "freq {freq} cum {cum} x {x} lane {l}");
                        n += 1;
                    }
                }
            }
        }
        assert!(n > 200_000, "{n} steps checked");
    }

    /// A row's sign table is flat when each of its four classes packs the symbols
    /// `(M/2, 0)` and `(M/2, M/2)`, by hand and as [`packed`] packs `EncSym`s; not with one
    /// symbol off by one, a class's pair swapped, or a class missing (zeros).
    #[test]
    fn flat_sign_tables_are_those_of_one_half() {
        let h = M / 2;
        assert_eq!(packed(&EncSym::new(h, 0)), h);
        assert_eq!(packed(&EncSym::new(h, h)), h << 13 | h);
        let flat = [
            h,
            h << 13 | h,
            h,
            h << 13 | h,
            h,
            h << 13 | h,
            h,
            h << 13 | h,
        ];
        assert!(signs_flat(&flat));
        let mut t = flat;
        t[5] = (h - 1) << 13 | (h + 1);
        assert!(!signs_flat(&t));
        let mut t = flat;
        (t[2], t[3]) = (h << 13 | h, h);
        assert!(!signs_flat(&t));
        let mut t = flat;
        (t[6], t[7]) = (0, 0);
        assert!(!signs_flat(&t));
    }

    /// [`one_bit`] against [`uniform`] of one bit, on states about the renormalisation bound
    /// 2^31, the extremes and between, with both bit values and lane 3 masked off: the same
    /// states and the same words.
    #[test]
    fn one_bit_equals_the_uniform_step_of_one_bit() {
        if !super::super::lanes::have_avx2() {
            return;
        }
        let edges = [
            L,
            L + 1,
            2047,
            2048,
            4095,
            4096,
            (1 << 31) - 1,
            1 << 31,
            u32::MAX,
        ];
        let mid = (0..64u32).map(|k| k.wrapping_mul(0x9E37_79B9) | L);
        let states: Vec<u32> = edges.into_iter().chain(mid).collect();
        for oct in states.chunks(8) {
            let mut xv = [L; 8];
            xv[..oct.len()].copy_from_slice(oct);
            for bits in [0u32, 0xFF, 0xA5] {
                let val: [u32; 8] = std::array::from_fn(|l| bits >> l & 1);
                let mut got = [[0u32; 8]; 2];
                let mut wbs = [bufs(&[0; 8]), bufs(&[0; 8])];
                for (k, (g, wb)) in got.iter_mut().zip(&mut wbs).enumerate() {
                    let mut pk = Box::new(Pack::new());
                    // SAFETY: AVX2 checked above.
                    unsafe {
                        pk.load_pos(wb);
                        let x = _mm256_loadu_si256(xv.as_ptr() as *const __m256i);
                        let v = _mm256_loadu_si256(val.as_ptr() as *const __m256i);
                        let mask = _mm256_setr_epi32(-1, -1, -1, 0, -1, -1, -1, -1);
                        let r = match k {
                            0 => uniform(x, v, _mm256_set1_epi32(1), mask, &mut *pk),
                            _ => one_bit(x, v, mask, &mut *pk),
                        };
                        _mm256_storeu_si256(g.as_mut_ptr() as *mut __m256i, r);
                        pk.flush(wb);
                    }
                }
                assert_eq!(got[0], got[1], "states {xv:?} bits {bits:#x}");
                for (l, (a, b)) in wbs[0].iter().zip(&wbs[1]).enumerate() {
                    assert_eq!(a.buf[..a.pos], b.buf[..b.pos], "lane {l} of {xv:?}");
                }
                assert_eq!(got[0][3], xv[3], "masked lane");
            }
        }
    }

    /// Queued words reach each lane's buffer in emission order at the lane's own position,
    /// whatever the emit masks (all 256 of them, in a scrambled order), across flushes in the
    /// middle of the queue and with lanes starting at different positions: the same buffers
    /// as writing each emitted word to its lane directly.
    #[test]
    fn queued_words_equal_direct_writes() {
        if !super::super::lanes::have_avx2() {
            return;
        }
        let start = [0, 7, 100, 3, 0, 55, 1, 9];
        let mut want = bufs(&start);
        let mut got = bufs(&start);
        let mut pk = Box::new(Pack::new());
        // SAFETY: AVX2 checked above.
        unsafe { pk.load_pos(&got) };
        for round in 0..3u32 {
            for k in 0..256u32 {
                let m = (k * 167 + round * 71) % 256;
                let words: [u32; 8] = std::array::from_fn(|l| k << 8 | (l as u32) << 4 | round);
                for (l, wb) in want.iter_mut().enumerate() {
                    if m >> l & 1 == 1 {
                        wb.buf[wb.pos] = words[l] as u16;
                        wb.pos += 1;
                    }
                }
                let emit: [i32; 8] = std::array::from_fn(|l| -((m >> l & 1) as i32));
                // SAFETY: AVX2 checked above; at most 8 words queued per call, flushed
                // before the queue could pass PACK_CAP.
                unsafe {
                    let w = _mm256_loadu_si256(words.as_ptr() as *const __m256i);
                    let e = _mm256_loadu_si256(emit.as_ptr() as *const __m256i);
                    emit_words(w, e, &mut pk);
                    if k % 97 == 0 || pk.n > PACK_CAP - 8 {
                        pk.flush(&mut got);
                    }
                }
            }
        }
        // SAFETY: AVX2 checked above.
        unsafe { pk.flush(&mut got) };
        for l in 0..8 {
            assert_eq!(got[l].pos, want[l].pos, "lane {l}");
            assert_eq!(got[l].buf, want[l].buf, "lane {l}");
        }
    }
}
