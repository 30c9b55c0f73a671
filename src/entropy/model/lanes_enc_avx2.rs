//! The kind-5 encoder's inner loop with eight lanes per AVX2 vector. Kind 5 codes column `j`
//! on state `j mod 16`, so eight consecutive columns are eight independent states: each of a
//! value's rANS steps (sign, low-bit pieces, magnitude) runs on the eight lanes at once, with
//! the symbols fetched by gathers and the lanes that have nothing to code at a step left as
//! they are (masks). A step is the scalar one's state update written with the symbol's
//! `(freq, cum)` (one gather of the decoder's packed table instead of five words of
//! [`EncSym`]) and `⌊v / freq⌋` by an f64 division, exact here (see [`step`]); every lane gets
//! the scalar encoder's
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

/// Codes the columns `j + g .. j + g + 8` of every `j` in `(j0..body).step_by(LANES)`, last
/// first, on the states `x` (lanes `g .. g + 8`) and their word buffers `wbs`.
///
/// `fc` is the magnitude symbols' packed table of the plan's family (`t · 256 + symbol`).
///
/// # Safety
/// The CPU must support AVX2; `row_fits(ctx.q0)`; `body ≤ ctx.row.len()`, `body − j0` a
/// multiple of [`LANES`]; `g ∈ {0, 8}`; `wbs` and `x` hold eight lanes; `fc` packs `ctx.syms`.
#[target_feature(enable = "avx2")]
pub(super) unsafe fn encode_run8(
    ctx: &RowEnc,
    fc: &[u32],
    wbs: &mut [WordBuf],
    x: &mut [u32],
    g: usize,
    j0: usize,
    body: usize,
) {
    debug_assert!(row_fits(ctx.q0) && wbs.len() == 8 && x.len() == 8 && body <= ctx.row.len());
    debug_assert!(fc.len() == ctx.syms.len());
    let mut xs = _mm256_loadu_si256(x.as_ptr() as *const __m256i);
    let zero = _mm256_setzero_si256();
    let q0 = _mm256_set1_epi32(ctx.q0 as i32);
    let rneg = _mm256_set1_epi32((ctx.code_sign && ctx.rneg) as i32);
    let picks = ctx.picks.as_ptr() as *const i32;
    let syms = fc.as_ptr() as *const i32;
    // The row's sign symbols, [class][flip] from the row's class on.
    let mut sign_fc = [0u32; 2 * BINS];
    for (k, pair) in ctx.sign_syms.iter().take(BINS).enumerate() {
        sign_fc[2 * k] = packed(&pair[0]);
        sign_fc[2 * k + 1] = packed(&pair[1]);
    }
    let sign_syms = sign_fc.as_ptr() as *const i32;
    let mut j = body;
    while j > j0 {
        j -= LANES;
        let c = j + g;
        let u = _mm256_loadu_si256(ctx.row.as_ptr().add(c) as *const __m256i);
        let bj = _mm256_cvtepu8_epi32(_mm_loadl_epi64(ctx.b.as_ptr().add(c) as *const __m128i));
        let active = _mm256_xor_si256(_mm256_cmpeq_epi32(bj, zero), _mm256_set1_epi32(-1));
        let p = _mm256_mask_i32gather_epi32::<4>(zero, picks, bj, active);
        let s = _mm256_and_si256(_mm256_srli_epi32::<16>(p), _mm256_set1_epi32(0xFF));
        let esc = _mm256_srli_epi32::<24>(p);
        let v = _mm256_add_epi32(q0, u);
        let m = _mm256_abs_epi32(v);
        let hi = _mm256_srlv_epi32(m, s);
        // Lanes the vector path does not code: u ≥ 2^30, an escape (hi ≥ esc), s > 24.
        let bad = _mm256_or_si256(
            _mm256_srli_epi32::<30>(u),
            _mm256_and_si256(
                active,
                _mm256_or_si256(
                    _mm256_xor_si256(_mm256_cmpgt_epi32(esc, hi), _mm256_set1_epi32(-1)),
                    _mm256_cmpgt_epi32(s, _mm256_set1_epi32(24)),
                ),
            ),
        );
        if _mm256_testz_si256(bad, bad) == 0 {
            _mm256_storeu_si256(x.as_mut_ptr() as *mut __m256i, xs);
            for l in (0..8).rev() {
                ctx.value(&mut wbs[l], &mut x[l], c + l);
            }
            xs = _mm256_loadu_si256(x.as_ptr() as *const __m256i);
            continue;
        }
        if ctx.code_sign {
            // Sign symbol 0 = as predicted: flip = (v < 0) ≠ (rneg ≠ cneg_j).
            let cn =
                _mm256_cvtepu8_epi32(_mm_loadl_epi64(ctx.cneg.as_ptr().add(c) as *const __m128i));
            let flip = _mm256_xor_si256(_mm256_srli_epi32::<31>(v), _mm256_xor_si256(cn, rneg));
            let cls =
                _mm256_cvtepu8_epi32(_mm_loadl_epi64(ctx.ccls.as_ptr().add(c) as *const __m128i));
            let idx = _mm256_add_epi32(_mm256_add_epi32(cls, cls), flip);
            let mask = _mm256_andnot_si256(_mm256_cmpeq_epi32(m, zero), active);
            xs = step(xs, sign_syms, idx, mask, wbs);
        }
        // Low bits: pieces of 8 bits, the top (s mod 8 bits, if any) first; piece t of a lane
        // holds bits sh.. of the low part, sh = 8·(pieces − 1 − t).
        let s = _mm256_and_si256(s, active);
        let low = _mm256_andnot_si256(_mm256_sllv_epi32(_mm256_set1_epi32(-1), s), m);
        let pieces = _mm256_srli_epi32::<3>(_mm256_add_epi32(s, _mm256_set1_epi32(7)));
        let mut last = _mm256_slli_epi32::<3>(_mm256_sub_epi32(pieces, _mm256_set1_epi32(1)));
        let mut t = zero;
        loop {
            let mask = _mm256_cmpgt_epi32(pieces, t);
            if _mm256_testz_si256(mask, mask) != 0 {
                break;
            }
            let sh = last;
            let val = _mm256_and_si256(_mm256_srlv_epi32(low, sh), _mm256_set1_epi32(0xFF));
            let bits = _mm256_min_epi32(_mm256_sub_epi32(s, sh), _mm256_set1_epi32(8));
            xs = uniform(xs, val, bits, mask, wbs);
            last = _mm256_sub_epi32(last, _mm256_set1_epi32(8));
            t = _mm256_add_epi32(t, _mm256_set1_epi32(1));
        }
        let ti = _mm256_and_si256(p, _mm256_set1_epi32(0xFFFF));
        let idx = _mm256_add_epi32(_mm256_slli_epi32::<8>(ti), hi);
        xs = step(xs, syms, idx, active, wbs);
    }
    _mm256_storeu_si256(x.as_mut_ptr() as *mut __m256i, xs);
}

/// Writes the low 16 bits of `words` to the buffers of the lanes set in `emit`: every lane
/// writes, only those set advance (as the scalar `WordBuf::put`: no branch on the ~random
/// renormalisation decisions).
#[inline]
#[target_feature(enable = "avx2")]
unsafe fn emit_words(words: __m256i, emit: __m256i, wbs: &mut [WordBuf]) {
    let bits = _mm256_movemask_ps(_mm256_castsi256_ps(emit)) as u32;
    let mut w = [0u32; 8];
    _mm256_storeu_si256(w.as_mut_ptr() as *mut __m256i, words);
    for (l, wb) in wbs.iter_mut().enumerate().take(8) {
        wb.buf[wb.pos] = w[l] as u16;
        wb.pos += ((bits >> l) & 1) as usize;
    }
}

/// `x ≥ y` as unsigned 32-bit lanes.
#[inline]
#[target_feature(enable = "avx2")]
unsafe fn ge_u32(x: __m256i, y: __m256i) -> __m256i {
    _mm256_cmpeq_epi32(_mm256_max_epu32(x, y), x)
}

/// [`EncSym::step`] on the lanes of `mask`, the symbol of lane `l` packed at `table[idx_l]`.
/// The scalar step's new state is `v + bias + q·(M − freq)` with `q = ⌊v·rcp / 2^64⌋`, which
/// is `⌊v / freq⌋·M + v mod freq + cum` (rcp = ⌈2^64 / freq⌉ errs by < 2^−32 < 1/freq; for
/// freq = 1 the bias makes up for q = v − 1): computed here as `v + cum + q·(M − freq)` with
/// `q = ⌊v / freq⌋` in f64, exact since v < 2^32 and a quotient `k − δ` has δ ≥ 1/freq ≥ 2^−12,
/// far above the rounding of a double of magnitude < 2^32.
#[inline]
#[target_feature(enable = "avx2")]
unsafe fn step(
    x: __m256i,
    table: *const i32,
    idx: __m256i,
    mask: __m256i,
    wbs: &mut [WordBuf],
) -> __m256i {
    let fc = _mm256_mask_i32gather_epi32::<4>(_mm256_setzero_si256(), table, idx, mask);
    let freq = _mm256_and_si256(fc, _mm256_set1_epi32((1 << 13) - 1));
    let cum = _mm256_srli_epi32::<13>(fc);
    // x_max = freq · 2^20, or 2^32 − 1 for freq = M (the scalar EncSym's never-renormalise).
    let x_max = _mm256_slli_epi32::<{ 32 - SCALE_BITS as i32 }>(freq);
    let x_max = _mm256_add_epi32(x_max, _mm256_cmpeq_epi32(x_max, _mm256_setzero_si256()));
    let emit = _mm256_and_si256(mask, ge_u32(x, x_max));
    emit_words(x, emit, wbs);
    let v = _mm256_blendv_epi8(x, _mm256_srli_epi32::<16>(x), emit);
    // v as f64 (through the sign flip: v may reach 2^32 − 1), divided by freq, floored.
    let flip = _mm256_set1_epi32(i32::MIN);
    let vs = _mm256_xor_si256(v, flip);
    let bias = _mm256_set1_pd(2147483648.0);
    let vlo = _mm256_add_pd(_mm256_cvtepi32_pd(_mm256_castsi256_si128(vs)), bias);
    let vhi = _mm256_add_pd(_mm256_cvtepi32_pd(_mm256_extracti128_si256::<1>(vs)), bias);
    // Masked-off lanes may hold freq 0: divide them by 1.
    let fd = _mm256_max_epi32(freq, _mm256_set1_epi32(1));
    let flo = _mm256_cvtepi32_pd(_mm256_castsi256_si128(fd));
    let fhi = _mm256_cvtepi32_pd(_mm256_extracti128_si256::<1>(fd));
    const FLOOR: i32 = _MM_FROUND_TO_NEG_INF | _MM_FROUND_NO_EXC;
    let qlo = _mm256_cvttpd_epi32(_mm256_round_pd::<FLOOR>(_mm256_div_pd(vlo, flo)));
    let qhi = _mm256_cvttpd_epi32(_mm256_round_pd::<FLOOR>(_mm256_div_pd(vhi, fhi)));
    let q = _mm256_inserti128_si256::<1>(_mm256_castsi128_si256(qlo), qhi);
    let cmpl = _mm256_sub_epi32(_mm256_set1_epi32(M as i32), freq);
    let xn = _mm256_add_epi32(_mm256_add_epi32(v, cum), _mm256_mullo_epi32(q, cmpl));
    _mm256_blendv_epi8(x, xn, mask)
}

/// [`WordBuf::put_uniform`] of `bits` (1..=8) bits `val` on the lanes of `mask`.
#[inline]
#[target_feature(enable = "avx2")]
unsafe fn uniform(
    x: __m256i,
    val: __m256i,
    bits: __m256i,
    mask: __m256i,
    wbs: &mut [WordBuf],
) -> __m256i {
    let one = _mm256_set1_epi32(1);
    let limit = _mm256_sllv_epi32(one, _mm256_sub_epi32(_mm256_set1_epi32(32), bits));
    let emit = _mm256_and_si256(mask, ge_u32(x, limit));
    emit_words(x, emit, wbs);
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
