//! The kind-5 encoder's inner loop with all 16 lanes of a block in one AVX-512 vector: the
//! steps of `lanes_enc_avx2.rs` (sign, low-bit pieces, magnitude, each on the lanes that have
//! it) with mask registers where that code blends, and the emitted words queued by one
//! `vpcompressd` each where it permutes through a table.
//!
//! Why: the AVX2 encoder is bound by the instructions it issues (two vectors of eight lanes,
//! each step's work done twice); here one instruction does the work of two. This one is still
//! bound by what it issues, not by its one chain of states: coding every column group twice
//! (a second, independent chain) took twice the time. So the choices below cut instructions:
//! the sign symbols' reciprocals come from a per-row table (a permute, not a division), and the
//! state update works on the even and odd lanes as 64-bit lanes (conversions within 128-bit
//! lanes, one `vpmuludq` per half).
//!
//! Built only by compilers whose AVX-512 intrinsics are stable (`build.rs` sets `alcm_avx512`
//! from rustc 1.89); used when the CPU has AVX-512F and AVX-512DQ. It writes the scalar
//! encoder's words.

// Compiled only where the intrinsics are stable (`alcm_avx512`, rustc ≥ 1.89).
#![allow(clippy::incompatible_msrv)]

use std::arch::x86_64::*;

use super::encode::{RowEnc, WordBuf};
use super::lanes::LANES;
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

/// Words the queue holds before it is flushed, and the most a column group adds: five steps
/// (sign, three low-bit pieces, magnitude) of at most one word per lane.
const PACK_CAP: usize = 1024;
const GROUP_WORDS: usize = 5 * LANES;

/// The words of the 16 lanes' steps, queued in emission order: `words[k]` goes to position
/// `dst[k] & 0xFFFF` of lane `dst[k] >> 16`'s buffer (as `lanes_enc_avx2::Pack`, for 16
/// lanes; a step appends its emitting lanes' words by one compress each). The queue's count
/// and the lanes' positions live in a [`Cursor`], a local of [`encode_run`] kept in registers.
pub(super) struct Pack {
    words: [u32; PACK_CAP + LANES],
    dst: [u32; PACK_CAP + LANES],
}

/// The queued words' count and the lanes' next positions, `l << 16 | pos_l`.
#[derive(Clone, Copy)]
struct Cursor {
    n: usize,
    pos: __m512i,
}

impl Pack {
    pub(super) fn new() -> Self {
        Pack {
            words: [0; PACK_CAP + LANES],
            dst: [0; PACK_CAP + LANES],
        }
    }
}

/// An empty queue at the positions of the lanes' buffers `wbs` (sixteen).
#[target_feature(enable = "avx512f")]
unsafe fn load_pos(wbs: &[WordBuf]) -> Cursor {
    debug_assert!(wbs.len() == LANES);
    let mut p = [0u32; LANES];
    for (l, (d, wb)) in p.iter_mut().zip(wbs).enumerate() {
        // Positions stay below 2^16 (never carry into the lane): they start within their
        // buffers, are checked so at each flush, and a queue adds at most PACK_CAP + 16.
        assert!(wb.pos <= wb.buf.len() && wb.buf.len() + PACK_CAP + LANES < 1 << 16);
        *d = (l as u32) << 16 | wb.pos as u32;
    }
    Cursor {
        n: 0,
        pos: _mm512_loadu_si512(p.as_ptr() as *const _),
    }
}

/// Writes the words queued in `pk` (`cur.n` of them) to their lanes' buffers `wbs`
/// (sixteen), sets the buffers' positions past them and returns the queue emptied.
///
/// Not compiled with AVX-512: LLVM vectorised the loop below into gathers of the lanes' base
/// pointers and one extract per word, twice as slow as the scalar stores.
#[inline(never)]
unsafe fn flush(pk: &Pack, cur: Cursor, wbs: &mut [WordBuf]) -> Cursor {
    // SAFETY: a __m512i is 16 u32 (no feature needed to move it to memory).
    let p: [u32; LANES] = std::mem::transmute(cur.pos);
    // A lane's queued words go below its position now (each advanced it by one): with
    // every position within its buffer, so is every store.
    assert!(wbs.len() == LANES && cur.n <= PACK_CAP + LANES);
    for (wb, &d) in wbs.iter().zip(&p) {
        assert!(
            (d & 0xFFFF) as usize <= wb.buf.len(),
            "lane word buffer overrun"
        );
    }
    let base: [*mut u16; LANES] = std::array::from_fn(|l| wbs[l].buf.as_mut_ptr());
    for (&w, &d) in pk.words[..cur.n].iter().zip(&pk.dst[..cur.n]) {
        // SAFETY: a lane < 16, its position below the lane's checked one.
        *base
            .get_unchecked((d >> 16) as usize & (LANES - 1))
            .add((d & 0xFFFF) as usize) = w as u16;
    }
    for (wb, &d) in wbs.iter_mut().zip(&p) {
        wb.pos = (d & 0xFFFF) as usize;
    }
    Cursor { n: 0, ..cur }
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
/// `wbs` (all sixteen lanes) and `pk` as the queue.
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
    let mut sign_fc = [0u32; LANES];
    sign_fc[..8].copy_from_slice(&sign_table(ctx));
    let sign_rcp: [f64; 8] = std::array::from_fn(|k| 1.0 / (sign_fc[k] & 0x1FFF).max(1) as f64);
    let lane_mask = lanes.clone().fold(0u16, |m, l| m | 1 << l);
    let rv = RowVec {
        ctx,
        q0: _mm512_set1_epi32(ctx.q0 as i32),
        rneg: _mm512_set1_epi32((ctx.code_sign && ctx.rneg) as i32),
        picks: ctx.picks.as_ptr() as *const i32,
        syms: fc.as_ptr() as *const i32,
        sign: _mm512_loadu_si512(sign_fc.as_ptr() as *const _),
        sign_rcp: _mm512_loadu_pd(sign_rcp.as_ptr()),
        lanes: lane_mask,
        rcp: rcp_table().as_ptr(),
    };
    let mut xs = _mm512_loadu_si512(x.as_ptr() as *const _);
    let mut cur = load_pos(wbs);
    let mut j = body;
    while j > j0 {
        j -= LANES;
        column16(&rv, &mut xs, pk, &mut cur, wbs, x, j);
    }
    flush(pk, cur, wbs);
    _mm512_storeu_si512(x.as_mut_ptr() as *mut _, xs);
}

/// Codes the columns `c .. c + 16` on the states `xs` (`x` is their array, written only when
/// the scalar code takes over).
///
/// Inlined into [`encode_run`] (hence compiled with its features, and the queue's count and
/// positions kept in registers): call it from there only.
#[inline(always)]
unsafe fn column16(
    rv: &RowVec,
    xs: &mut __m512i,
    pk: &mut Pack,
    cur: &mut Cursor,
    wbs: &mut [WordBuf],
    x: &mut [u32],
    c: usize,
) {
    let ctx = rv.ctx;
    let zero = _mm512_setzero_si512();
    let bj = _mm512_cvtepu8_epi32(_mm_loadu_si128(ctx.b.as_ptr().add(c) as *const __m128i));
    let active = _mm512_mask_test_epi32_mask(rv.lanes, bj, bj);
    if active == 0 {
        return; // sixteen all-zero columns (or none of this run's lanes): nothing coded
    }
    if cur.n > PACK_CAP - GROUP_WORDS {
        *cur = flush(pk, *cur, wbs);
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
        // The scalar code writes straight to the buffers: the queued words go first.
        flush(pk, *cur, wbs);
        _mm512_storeu_si512(x.as_mut_ptr() as *mut _, *xs);
        for l in (0..LANES).rev().filter(|&l| rv.lanes >> l & 1 == 1) {
            ctx.value(&mut wbs[l], &mut x[l], c + l);
        }
        *xs = _mm512_loadu_si512(x.as_ptr() as *const _);
        *cur = load_pos(wbs);
        return;
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
        st = step(st, fc, re, ro, mask, pk, cur);
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
            st = uniform(st, low, s, mask, pk, cur);
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
            st = uniform(st, val, bits, mask, pk, cur);
            sh = _mm512_sub_epi32(sh, eight);
            t = _mm512_add_epi32(t, _mm512_set1_epi32(1));
        }
    }
    *xs = step(st, fc, re, ro, active, pk, cur);
}

/// Queues the low 16 bits of `words` of the lanes set in `emit`, left-packed (see [`Pack`]).
#[inline]
#[target_feature(enable = "avx512f,avx512dq,popcnt")]
unsafe fn emit_words(words: __m512i, emit: __mmask16, pk: &mut Pack, cur: &mut Cursor) {
    debug_assert!(cur.n <= PACK_CAP);
    // SAFETY: n ≤ PACK_CAP (flushed before each column group that could pass it), and both
    // arrays have 16 entries of room past PACK_CAP for the whole-vector stores.
    _mm512_storeu_si512(
        pk.words.as_mut_ptr().add(cur.n) as *mut _,
        _mm512_maskz_compress_epi32(emit, words),
    );
    _mm512_storeu_si512(
        pk.dst.as_mut_ptr().add(cur.n) as *mut _,
        _mm512_maskz_compress_epi32(emit, cur.pos),
    );
    cur.pos = _mm512_mask_add_epi32(cur.pos, emit, cur.pos, _mm512_set1_epi32(1));
    cur.n += emit.count_ones() as usize;
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
    pk: &mut Pack,
    cur: &mut Cursor,
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
    emit_words(x, emit, pk, cur);
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
    pk: &mut Pack,
    cur: &mut Cursor,
) -> __m512i {
    let one = _mm512_set1_epi32(1);
    let limit = _mm512_sllv_epi32(one, _mm512_sub_epi32(_mm512_set1_epi32(32), bits));
    let emit = _mm512_mask_cmpge_epu32_mask(mask, x, limit);
    emit_words(x, emit, pk, cur);
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
        let start: [usize; LANES] = std::array::from_fn(|l| if l == 4 { 900 } else { l });
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
                    // SAFETY: AVX-512F, DQ and POPCNT checked above; one step queues ≤ 16
                    // words.
                    unsafe {
                        let mut cur = load_pos(&wbs);
                        let fc = _mm512_loadu_si512(fcs.as_ptr() as *const _);
                        let (re, ro) = reciprocals(fc, rcp_table().as_ptr());
                        let x = _mm512_loadu_si512(xv.as_ptr() as *const _);
                        let r = step(x, fc, re, ro, !(1 << 5), &mut pk, &mut cur);
                        _mm512_storeu_si512(got.as_mut_ptr() as *mut _, r);
                        flush(&pk, cur, &mut wbs);
                    }
                    for l in 0..LANES {
                        let x = xv[l];
                        assert_eq!(got[l], want[l], "freq {freq} cum {cum} x {x} lane {l}");
                        let w = &wbs[l].buf[start[l]..wbs[l].pos];
                        assert_eq!(w, &want_w[l][..], "freq {freq} cum {cum} x {x} lane {l}");
                        n += 1;
                    }
                }
            }
        }
        assert!(n > 600_000, "{n} steps checked");
    }

    /// Queued words reach each lane's buffer in emission order at the lane's own position,
    /// whatever the emit masks (a scrambled sequence of 3 × 4096 of the 65 536), across
    /// flushes in the middle of the queue and with lanes starting at different positions:
    /// the same buffers as writing each emitted word to its lane directly.
    #[test]
    fn queued_words_equal_direct_writes() {
        if !available() {
            return;
        }
        let start: [usize; LANES] = std::array::from_fn(|l| (l * 37) % 101);
        let mut want = bufs(&start);
        let mut got = bufs(&start);
        let mut pk = Box::new(Pack::new());
        // SAFETY: AVX-512F checked above.
        let mut cur = unsafe { load_pos(&got) };
        let mut flushes = 0;
        for round in 0..3u32 {
            for k in 0..4096u32 {
                let m = (k.wrapping_mul(40503) ^ round.wrapping_mul(0x9E37)) as u16;
                let words: [u32; LANES] = std::array::from_fn(|l| k << 6 | (l as u32) << 2 | round);
                for (l, wb) in want.iter_mut().enumerate() {
                    if m >> l & 1 == 1 {
                        wb.buf[wb.pos] = words[l] as u16;
                        wb.pos += 1;
                    }
                }
                // SAFETY: AVX-512F and POPCNT checked above; at most 16 words queued per call,
                // flushed before the queue could pass PACK_CAP.
                unsafe {
                    let w = _mm512_loadu_si512(words.as_ptr() as *const _);
                    emit_words(w, m, &mut pk, &mut cur);
                    if k % 97 == 0 || cur.n > PACK_CAP - LANES {
                        cur = flush(&pk, cur, &mut got);
                        flushes += 1;
                    }
                }
            }
            // Keep the buffers from filling: every lane back to its start.
            // SAFETY: AVX-512F checked above.
            unsafe {
                flush(&pk, cur, &mut got);
                for (g, w) in got.iter_mut().zip(&mut want) {
                    assert_eq!(g.pos, w.pos);
                    assert_eq!(g.buf, w.buf);
                    (g.pos, w.pos) = (start[0], start[0]);
                }
                cur = load_pos(&got);
            }
        }
        assert!(flushes > 100);
    }
}
