//! The kind-3 encoder's inner loop on AVX2. Kind 3 codes column `j` on state `j mod 4`, all
//! four states writing one word stream, so a group of four consecutive columns is four
//! independent state chains: each of a value's rANS steps (sign, low-bit pieces, magnitude)
//! runs on the four lanes at once (states in a 128-bit vector, `⌊v / freq⌋` in a 256-bit f64
//! vector), with the magnitude symbols fetched by a gather and the row's eight sign symbols by
//! a permute. The step is `lanes_enc_avx2`'s, proven equal there to the scalar [`EncSym`] step.
//!
//! The scalar encoder writes a group's words value by value (column `j + 3`'s words first,
//! then `j + 2`'s …); here a step produces one word per lane. Each lane's words go to a small
//! slot of their own and the four slots are appended in the scalar order when the group is
//! done, so the stream is word for word the scalar one. A group that this path does not
//! handle (an escape, more than 24 low bits, offsets of 2^30 or more) is coded by the scalar
//! [`RowEnc::value`] on the same states.
//!
//! Why: the scalar loop cost ≈ 90 instructions a coded value, 43 % of compressing a
//! trainer-sized (32 768-value) tensor; a vector step costs about a scalar step's
//! instructions for four values.

use std::arch::x86_64::*;

use super::encode::{RowEnc, WordBuf};
use super::lanes_enc_avx2::sign_table;
use super::*;

/// Words of one slot: a value on this path emits at most 5 (sign, ≤ 3 low-bit pieces,
/// magnitude); 8 makes a slot one 128-bit copy.
pub(super) const SLOT: usize = 8;

/// Each lane's words of the group being coded: lane `l`'s slot is `w[SLOT·l ..]`, its count
/// of words the lane `l` of `n` (a vector, so that an emit updates all four counts at once).
struct Slots {
    w: [u16; 4 * SLOT],
    n: __m128i,
}

/// Codes the columns `j .. j + 4` of every `j` in `(j0..body).step_by(4)`, last first, on the
/// states `x` (column `j + l` on `x[l]`), appending their words to `wb` in the scalar
/// encoder's order.
///
/// `fc` is the magnitude symbols' packed table of the plan's family (`t · 256 + symbol`).
///
/// # Safety
/// The CPU must support AVX2; `lanes_enc_avx2::row_fits(ctx.q0)`; `body ≤ ctx.row.len()`,
/// `body − j0` a multiple of 4; `fc` packs `ctx.syms`; `wb.buf` has room for every word of
/// the run plus `4 · SLOT` (the slots are copied whole).
#[target_feature(enable = "avx2")]
pub(super) unsafe fn encode_run4(
    ctx: &RowEnc,
    fc: &[u32],
    wb: &mut WordBuf,
    x: &mut [u32; 4],
    j0: usize,
    body: usize,
) {
    debug_assert!(super::lanes_enc_avx2::row_fits(ctx.q0) && body <= ctx.row.len());
    debug_assert!((body - j0) % 4 == 0 && fc.len() == ctx.syms.len());
    let mut xs = _mm_loadu_si128(x.as_ptr() as *const __m128i);
    let zero = _mm_setzero_si128();
    let ones = _mm_set1_epi32(-1);
    let q0 = _mm_set1_epi32(ctx.q0 as i32);
    let rneg = _mm_set1_epi32((ctx.code_sign && ctx.rneg) as i32);
    let picks = ctx.picks.as_ptr() as *const i32;
    let syms = fc.as_ptr() as *const i32;
    // The row's sign symbols, [class][flip] from the row's class on.
    // Read by a permute (2 · class + flip < 8), not a gather.
    let sign_fc = sign_table(ctx);
    let sign = _mm256_loadu_si256(sign_fc.as_ptr() as *const __m256i);
    let mut sl = Slots {
        w: [0; 4 * SLOT],
        n: zero,
    };
    // Four bytes of a u8 (or bool) column vector from column `c`, widened to i32 lanes.
    let bytes4 = |p: *const u8, c: usize| {
        _mm_cvtepu8_epi32(_mm_cvtsi32_si128((p.add(c) as *const i32).read_unaligned()))
    };
    let mut j = body;
    while j > j0 {
        j -= 4;
        let bj = bytes4(ctx.b.as_ptr(), j);
        let active = _mm_xor_si128(_mm_cmpeq_epi32(bj, zero), ones);
        if _mm_testz_si128(active, active) != 0 {
            continue; // four all-zero columns: nothing coded
        }
        let u = _mm_loadu_si128(ctx.row.as_ptr().add(j) as *const __m128i);
        let p = _mm_mask_i32gather_epi32::<4>(zero, picks, bj, active);
        let s = _mm_and_si128(_mm_srli_epi32::<16>(p), _mm_set1_epi32(0xFF));
        let esc = _mm_srli_epi32::<24>(p);
        let v = _mm_add_epi32(q0, u);
        let m = _mm_abs_epi32(v);
        let hi = _mm_srlv_epi32(m, s);
        // Lanes the vector path does not code: u ≥ 2^30, an escape (hi ≥ esc), s > 24.
        let bad = _mm_or_si128(
            _mm_srli_epi32::<30>(u),
            _mm_and_si128(
                active,
                _mm_or_si128(
                    _mm_xor_si128(_mm_cmpgt_epi32(esc, hi), ones),
                    _mm_cmpgt_epi32(s, _mm_set1_epi32(24)),
                ),
            ),
        );
        if _mm_testz_si128(bad, bad) == 0 {
            _mm_storeu_si128(x.as_mut_ptr() as *mut __m128i, xs);
            for l in (0..4).rev() {
                ctx.value(wb, &mut x[l], j + l);
            }
            xs = _mm_loadu_si128(x.as_ptr() as *const __m128i);
            continue;
        }
        sl.n = zero;
        if ctx.code_sign {
            // Sign symbol 0 = as predicted: flip = (v < 0) ≠ (rneg ≠ cneg_j).
            let cn = bytes4(ctx.cneg.as_ptr() as *const u8, j);
            let flip = _mm_xor_si128(_mm_srli_epi32::<31>(v), _mm_xor_si128(cn, rneg));
            let cls = bytes4(ctx.ccls.as_ptr(), j);
            let idx = _mm_add_epi32(_mm_add_epi32(cls, cls), flip);
            let mask = _mm_andnot_si128(_mm_cmpeq_epi32(m, zero), active);
            let fc = _mm256_castsi256_si128(_mm256_permutevar8x32_epi32(
                sign,
                _mm256_castsi128_si256(idx),
            ));
            xs = step(xs, fc, mask, &mut sl);
        }
        // Low bits (`low_pieces`).
        let s = _mm_and_si128(s, active);
        let low = _mm_andnot_si128(_mm_sllv_epi32(ones, s), m);
        let wide = _mm_cmpgt_epi32(s, _mm_set1_epi32(8));
        if _mm_testz_si128(wide, wide) != 0 {
            // At most one piece per lane (the usual case): the s low bits at once.
            let mask = _mm_cmpgt_epi32(s, zero);
            if _mm_testz_si128(mask, mask) == 0 {
                xs = uniform(xs, low, s, mask, &mut sl);
            }
        } else {
            xs = low_pieces(xs, low, s, &mut sl);
        }
        let ti = _mm_and_si128(p, _mm_set1_epi32(0xFFFF));
        let idx = _mm_add_epi32(_mm_slli_epi32::<8>(ti), hi);
        let fc = _mm_mask_i32gather_epi32::<4>(zero, syms, idx, active);
        xs = step(xs, fc, active, &mut sl);
        // The scalar order: column j + 3's words first. The four slots' words end at most
        // 4·5 words on, the last slot copied whole ends before `pos + 4·SLOT`.
        let mut n = [0u32; 4];
        _mm_storeu_si128(n.as_mut_ptr() as *mut __m128i, sl.n);
        let mut pos = wb.pos;
        let dst = &mut wb.buf[pos..pos + 4 * SLOT];
        let mut at = 0;
        for l in (0..4).rev() {
            let src = _mm_loadu_si128(sl.w.as_ptr().add(SLOT * l) as *const __m128i);
            // SAFETY (of the store): at ≤ 3·5 words, SLOT = 8 more fit in `dst`.
            _mm_storeu_si128(dst.as_mut_ptr().add(at) as *mut __m128i, src);
            at += n[l] as usize & 7;
        }
        pos += at;
        wb.pos = pos;
    }
    _mm_storeu_si128(x.as_mut_ptr() as *mut __m128i, xs);
}

/// The low bits `low` (`s` of them per lane, up to 24) in 8-bit pieces, the top piece
/// (`s mod 8` bits, if any) first: piece `t` of a lane holds bits `sh..` of `low`,
/// `sh = 8·(pieces − 1 − t)`, as `WordBuf::put_uniform_wide`.
#[inline]
#[target_feature(enable = "avx2")]
unsafe fn low_pieces(mut xs: __m128i, low: __m128i, s: __m128i, sl: &mut Slots) -> __m128i {
    let zero = _mm_setzero_si128();
    let pieces = _mm_srli_epi32::<3>(_mm_add_epi32(s, _mm_set1_epi32(7)));
    let mut sh = _mm_slli_epi32::<3>(_mm_sub_epi32(pieces, _mm_set1_epi32(1)));
    let mut t = zero;
    loop {
        let mask = _mm_cmpgt_epi32(pieces, t);
        if _mm_testz_si128(mask, mask) != 0 {
            return xs;
        }
        let val = _mm_and_si128(_mm_srlv_epi32(low, sh), _mm_set1_epi32(0xFF));
        let bits = _mm_min_epi32(_mm_sub_epi32(s, sh), _mm_set1_epi32(8));
        xs = uniform(xs, val, bits, mask, sl);
        sh = _mm_sub_epi32(sh, _mm_set1_epi32(8));
        t = _mm_add_epi32(t, _mm_set1_epi32(1));
    }
}

/// Writes the low 16 bits of `words` to the slots of the lanes set in `emit`: every lane
/// writes, only those set advance (no branch on the ~random renormalisation decisions).
#[inline]
#[target_feature(enable = "avx2")]
unsafe fn emit_words(words: __m128i, emit: __m128i, sl: &mut Slots) {
    // Lane l writes at SLOT·l + n_l; a lane emits at most 5 words a group, so the mask only
    // spares a bounds check.
    let at = _mm_add_epi32(
        sl.n,
        _mm_setr_epi32(0, SLOT as i32, 2 * SLOT as i32, 3 * SLOT as i32),
    );
    let mask = 4 * SLOT - 1;
    sl.w[_mm_extract_epi32::<0>(at) as usize & mask] = _mm_extract_epi16::<0>(words) as u16;
    sl.w[_mm_extract_epi32::<1>(at) as usize & mask] = _mm_extract_epi16::<2>(words) as u16;
    sl.w[_mm_extract_epi32::<2>(at) as usize & mask] = _mm_extract_epi16::<4>(words) as u16;
    sl.w[_mm_extract_epi32::<3>(at) as usize & mask] = _mm_extract_epi16::<6>(words) as u16;
    sl.n = _mm_sub_epi32(sl.n, emit);
}

/// `x ≥ y` as unsigned 32-bit lanes.
#[inline]
#[target_feature(enable = "avx2")]
unsafe fn ge_u32(x: __m128i, y: __m128i) -> __m128i {
    _mm_cmpeq_epi32(_mm_max_epu32(x, y), x)
}

/// [`EncSym::step`] on the lanes of `mask`, lane `l`'s symbol packed in `fc_l`:
/// `v + cum + ⌊v / freq⌋·(M − freq)` (see `lanes_enc_avx2::step`, the same update on eight
/// lanes).
///
/// The quotient is taken as `trunc(v · r + 2^−14)` with `r = 1/freq` rounded to f64: the
/// state chain of four lanes is serial, so a multiplication (off the chain: `r` depends on the
/// symbol only) replaces the division and the floor (≈ 20 cycles of latency a step). Exact:
/// `v < freq · 2^20` after renormalisation, so `v/freq < 2^20` and the two roundings of `v · r`
/// err by < 2^−52 · 2^20 · 2 = 2^−31; a true quotient `k + φ` has φ = 0 or φ ≥ 1/freq ≥ 2^−12,
/// so adding 2^−14 lands in `[k, k + 1)` either way, and truncation of a non-negative double is
/// its floor (the test `step_equals_the_scalar_step` checks every frequency).
#[inline]
#[target_feature(enable = "avx2")]
unsafe fn step(x: __m128i, fc: __m128i, mask: __m128i, sl: &mut Slots) -> __m128i {
    let freq = _mm_and_si128(fc, _mm_set1_epi32((1 << 13) - 1));
    let cum = _mm_srli_epi32::<13>(fc);
    // Masked-off lanes may hold freq 0: take 1 for them.
    let fd = _mm256_cvtepi32_pd(_mm_max_epi32(freq, _mm_set1_epi32(1)));
    let r = _mm256_div_pd(_mm256_set1_pd(1.0), fd);
    // x_max = freq · 2^20, or 2^32 − 1 for freq = M (the scalar EncSym's never-renormalise).
    let x_max = _mm_slli_epi32::<{ 32 - SCALE_BITS as i32 }>(freq);
    let x_max = _mm_add_epi32(x_max, _mm_cmpeq_epi32(x_max, _mm_setzero_si128()));
    let emit = _mm_and_si128(mask, ge_u32(x, x_max));
    emit_words(x, emit, sl);
    let v = _mm_blendv_epi8(x, _mm_srli_epi32::<16>(x), emit);
    // v as f64 (through the sign flip: v may reach 2^32 − 1).
    let vs = _mm_xor_si128(v, _mm_set1_epi32(i32::MIN));
    let vd = _mm256_add_pd(_mm256_cvtepi32_pd(vs), _mm256_set1_pd(2147483648.0));
    let t = _mm256_add_pd(_mm256_mul_pd(vd, r), _mm256_set1_pd(1.0 / 16384.0));
    let q = _mm256_cvttpd_epi32(t);
    let cmpl = _mm_sub_epi32(_mm_set1_epi32(M as i32), freq);
    let xn = _mm_add_epi32(_mm_add_epi32(v, cum), _mm_mullo_epi32(q, cmpl));
    _mm_blendv_epi8(x, xn, mask)
}

/// [`WordBuf::put_uniform`] of `bits` (1..=8) bits `val` on the lanes of `mask`.
#[inline]
#[target_feature(enable = "avx2")]
unsafe fn uniform(
    x: __m128i,
    val: __m128i,
    bits: __m128i,
    mask: __m128i,
    sl: &mut Slots,
) -> __m128i {
    let one = _mm_set1_epi32(1);
    let limit = _mm_sllv_epi32(one, _mm_sub_epi32(_mm_set1_epi32(32), bits));
    let emit = _mm_and_si128(mask, ge_u32(x, limit));
    emit_words(x, emit, sl);
    let v = _mm_blendv_epi8(x, _mm_srli_epi32::<16>(x), emit);
    let sh = _mm_sub_epi32(_mm_set1_epi32(SCALE_BITS as i32), bits);
    let xn = _mm_add_epi32(
        _mm_add_epi32(
            _mm_slli_epi32::<{ SCALE_BITS as i32 }>(_mm_srlv_epi32(v, sh)),
            _mm_and_si128(v, _mm_sub_epi32(_mm_sllv_epi32(one, sh), one)),
        ),
        _mm_sllv_epi32(val, sh),
    );
    _mm_blendv_epi8(x, xn, mask)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The vector step against [`EncSym::step`] for every frequency 1..=M (cumulative 0 and
    /// M − freq), on states where the quotient is exact or just below an integer: the words,
    /// their emission and the new states must be the scalar ones.
    #[test]
    fn step_equals_the_scalar_step() {
        if !std::is_x86_feature_detected!("avx2") {
            return;
        }
        let mut n = 0u64;
        for freq in 1..=M {
            for cum in [0, M - freq] {
                let e = EncSym::new(freq, cum);
                let table = [super::super::lanes_enc_avx2::packed(&e)];
                let xs = super::super::tests::edge_states(freq);
                for quad in xs.chunks(4) {
                    let mut want = [0u32; 4];
                    let mut words = Vec::new();
                    for (l, &x) in quad.iter().enumerate() {
                        let mut s = x;
                        let (w, emit) = e.step(&mut s);
                        want[l] = s;
                        words.push(emit.then_some(w));
                    }
                    let mut xv = [L; 4];
                    xv[..quad.len()].copy_from_slice(quad);
                    let mut sl = Slots {
                        // SAFETY: zero is a valid __m128i.
                        w: [0; 4 * SLOT],
                        n: unsafe { _mm_setzero_si128() },
                    };
                    let mut got = [0u32; 4];
                    let mut cnt = [0u32; 4];
                    // SAFETY: AVX2 checked above.
                    unsafe {
                        let mask = _mm_set1_epi32(-1);
                        let x = _mm_loadu_si128(xv.as_ptr() as *const __m128i);
                        let r = step(x, _mm_set1_epi32(table[0] as i32), mask, &mut sl);
                        _mm_storeu_si128(got.as_mut_ptr() as *mut __m128i, r);
                        _mm_storeu_si128(cnt.as_mut_ptr() as *mut __m128i, sl.n);
                    }
                    for l in 0..quad.len() {
                        assert_eq!(got[l], want[l], "freq {freq} cum {cum} x {}", quad[l]);
                        let w = (cnt[l] == 1).then_some(sl.w[SLOT * l]);
                        assert_eq!(w, words[l], "freq {freq} cum {cum} x {}", quad[l]);
                        n += 1;
                    }
                }
            }
        }
        assert!(n > 100_000, "{n} steps checked");
    }
}
