//! The kind-3 encoder's inner loop on AVX-512 (F, VL, BW, IFMA, VBMI2): the groups of four
//! columns of `enc3_avx2.rs`, with a state step of four instructions.
//!
//! Kind 3 has four states for the whole block, so coding is one serial chain of steps per
//! state: a group costs at least the latency of its steps (sign, low-bit pieces, magnitude).
//! The AVX2 step is ≈ 45 cycles of latency (conversions to f64 and back, a division-free
//! quotient in f64, `vpmullud`, blends). Here the states are 64-bit lanes and a step is a
//! compare into a mask, a masked shift (renormalise), `vpmadd52huq` (the quotient, by a 52-bit
//! reciprocal) and `vpmadd52luq` (`v + bias + q·cmpl`): 12 cycles nominal, 7–8 ns measured on
//! the development machine. Everything else (the symbols' parameters, the words) is off the
//! chain; the loop is now bound partly by what it issues (docs/PERFORMANCE.md, `k3enc16`).
//!
//! The quotient: `⌊v · m / 2^52⌋` with `m = ⌈2^52 / freq⌉` is `⌊v / freq⌋` for every
//! `v < 2^32`: `v · m / 2^52 = v / freq + ε` with `0 ≤ ε < v / 2^52 < 2^−20`, and the
//! fractional part of `v / freq` is at most `1 − 1/freq ≤ 1 − 2^−12`. `m` comes from the
//! scalar reciprocal `rcp = ⌈2^64 / freq⌉` as `⌈rcp / 2^12⌉`; `freq = 1` keeps the scalar's
//! trick (`q = v − 1` from `m = 2^52 − 1`, compensated by its `bias = cum + M − 1`).
//!
//! Words: each step writes its four lanes' words (the states' low halves) to its slot of the
//! group (sign, three low-bit pieces, magnitude) and its emit mask to four bits; at the end of
//! the group one permutation puts them in the scalar order (column `j + 3`'s words first, each
//! column's in step order) and one `vpcompressw` keeps the emitted ones. A group this path
//! does not handle (an escape, more than 24 low bits, offsets of 2^30 or more) is coded by the
//! scalar [`RowEnc::value`] on the same states, as on the AVX2 path.
//!
//! Built only by compilers whose AVX-512 intrinsics are stable (`build.rs` sets `alcm_avx512`
//! from rustc 1.89).

// Compiled only where the intrinsics are stable (`alcm_avx512`, rustc ≥ 1.89).
#![allow(clippy::incompatible_msrv)]

use std::arch::x86_64::*;

use super::encode::{RowEnc, WordBuf};
use super::*;

/// Whether this encoder runs on this CPU.
pub(super) fn available() -> bool {
    #[cfg(test)]
    if super::lanes::NO_AVX512.load(std::sync::atomic::Ordering::SeqCst) {
        return false;
    }
    std::is_x86_feature_detected!("avx512f")
        && std::is_x86_feature_detected!("avx512vl")
        && std::is_x86_feature_detected!("avx512bw")
        && std::is_x86_feature_detected!("avx512ifma")
        && std::is_x86_feature_detected!("avx512vbmi2")
        && std::is_x86_feature_detected!("popcnt")
}

/// A group's step slots, in the scalar order of a value's words: sign, the low-bit pieces
/// (top piece first), magnitude.
const SIGN: usize = 0;
const LOW: usize = 1;
const MAG: usize = 4;
const SLOTS: usize = 5;

/// Words one group may write past its position (a 64-byte store of the compressed words).
pub(super) const GROUP_ROOM: usize = 32;

/// One symbol per lane as [`step`] takes it (64-bit lanes). A lane without a symbol in the
/// step has `xmax = 2^64 − 1`, `bias = cmpl = 0`: its state passes unchanged, nothing emitted.
#[derive(Clone, Copy)]
struct Syms {
    xmax: __m256i,
    m: __m256i,
    bias: __m256i,
    cmpl: __m256i,
}

/// The words of a group's steps, `w[4·slot + l]` the word lane `l` would emit at `slot`, and
/// which it does emit (bit `4·slot + l`).
struct Group {
    w: [u16; 32],
    emit: u32,
}

/// The 52-bit reciprocal of an [`EncSym`] (see the module's note).
fn recip52(rcp: u64) -> u64 {
    (((rcp - 1) >> 12) + 1).min((1 << 52) - 1)
}

/// The row's eight sign symbols (`2 · class + flip`, from the row's class on) as tables of
/// [`Syms`]' fields, read by a permute.
struct SignTables {
    xmax: __m512i,
    m: __m512i,
    bias: __m512i,
    cmpl: __m512i,
}

#[target_feature(enable = "avx512f")]
unsafe fn sign_tables(ctx: &RowEnc) -> SignTables {
    let mut t = [[0u64; 8]; 4];
    for (k, pair) in ctx.sign_syms.iter().take(4).enumerate() {
        for (f, e) in pair.iter().enumerate() {
            let c = 2 * k + f;
            t[0][c] = e.x_max as u64;
            t[1][c] = recip52(e.rcp);
            t[2][c] = e.bias as u64;
            t[3][c] = e.cmpl as u64;
        }
    }
    let v = |a: &[u64; 8]| _mm512_loadu_si512(a.as_ptr() as *const _);
    SignTables {
        xmax: v(&t[0]),
        m: v(&t[1]),
        bias: v(&t[2]),
        cmpl: v(&t[3]),
    }
}

/// [`EncSym::step`] on the four lanes (see [`Syms`] for lanes without a symbol), its words
/// recorded at `slot` of `g`.
#[inline]
#[target_feature(enable = "avx512f,avx512vl,avx512ifma")]
unsafe fn step(x: __m256i, s: &Syms, slot: usize, g: &mut Group) -> __m256i {
    let emit = _mm256_cmpge_epu64_mask(x, s.xmax);
    _mm_storel_epi64(
        g.w.as_mut_ptr().add(4 * slot) as *mut __m128i,
        _mm256_cvtepi64_epi16(x),
    );
    g.emit |= (emit as u32) << (4 * slot);
    let v = _mm256_mask_srli_epi64(x, emit, x, 16);
    let q = _mm256_madd52hi_epu64(_mm256_setzero_si256(), v, s.m);
    _mm256_madd52lo_epu64(_mm256_add_epi64(v, s.bias), q, s.cmpl)
}

/// The uniform symbols of `bits` (0..=8 per lane, 0: no symbol) bits `val`: frequency
/// `2^(12 − bits)`, cumulative `val · 2^(12 − bits)` (`WordBuf::put_uniform`).
#[inline]
#[target_feature(enable = "avx512f,avx512vl")]
unsafe fn uniform(bits: __m128i, val: __m128i) -> Syms {
    let k = _mm_test_epi32_mask(bits, bits);
    let b = _mm256_cvtepu32_epi64(bits);
    let sh = _mm256_sub_epi64(_mm256_set1_epi64x(SCALE_BITS as i64), b);
    let one = _mm256_set1_epi64x(1);
    let f = _mm256_sllv_epi64(one, sh);
    Syms {
        xmax: _mm256_mask_sllv_epi64(
            _mm256_set1_epi64x(-1),
            k,
            one,
            _mm256_sub_epi64(_mm256_set1_epi64x(32), b),
        ),
        m: _mm256_sllv_epi64(one, _mm256_add_epi64(_mm256_set1_epi64x(40), b)),
        bias: _mm256_maskz_sllv_epi64(k, _mm256_cvtepu32_epi64(val), sh),
        cmpl: _mm256_maskz_sub_epi64(k, _mm256_set1_epi64x(M as i64), f),
    }
}

/// The symbols `syms[idx_l]` of the lanes in `k` (the others: no symbol), from the scalar
/// [`EncSym`] table: `rcp`, `x_max` and `bias` are its first 16 bytes (`repr(C)`), one load
/// a lane and a transposition (a `vpgatherdq` of four lanes took longer: perf put 16 % of
/// the loop's samples on the instruction after each gather).
///
/// # Safety
/// `idx_l < syms.len()` for the lanes in `k`.
#[inline]
#[target_feature(enable = "avx512f,avx512vl")]
unsafe fn load_syms(syms: &[EncSym], idx: __m128i, k: __mmask8) -> Syms {
    const _: () = assert!(std::mem::size_of::<EncSym>() == 24);
    let mut i = [0u32; 4];
    // A lane without a symbol reads symbol 0 (masked below).
    _mm_storeu_si128(i.as_mut_ptr() as *mut __m128i, _mm_maskz_mov_epi32(k, idx));
    debug_assert!(i.iter().all(|&i| (i as usize) < syms.len()));
    let at = |l: usize| _mm_loadu_si128(syms.as_ptr().add(i[l] as usize) as *const __m128i);
    // [rcp_l, x_max_l | bias_l << 32] of lanes 0, 2 and 1, 3, then transposed.
    let a02 = _mm256_inserti128_si256::<1>(_mm256_castsi128_si256(at(0)), at(2));
    let a13 = _mm256_inserti128_si256::<1>(_mm256_castsi128_si256(at(1)), at(3));
    let rcp = _mm256_unpacklo_epi64(a02, a13);
    let xb = _mm256_unpackhi_epi64(a02, a13);
    let m = _mm256_min_epu64(
        _mm256_add_epi64(
            _mm256_srli_epi64::<12>(_mm256_sub_epi64(rcp, _mm256_set1_epi64x(1))),
            _mm256_set1_epi64x(1),
        ),
        _mm256_set1_epi64x((1 << 52) - 1),
    );
    let xmax = _mm256_and_si256(xb, _mm256_set1_epi64x(u32::MAX as i64));
    // freq = (x_max + 1) >> 20: x_max = freq · 2^20, or 2^32 − 1 for freq = M.
    let freq = _mm256_srli_epi64::<20>(_mm256_add_epi64(xmax, _mm256_set1_epi64x(1)));
    Syms {
        xmax: _mm256_mask_mov_epi64(_mm256_set1_epi64x(-1), k, xmax),
        m,
        bias: _mm256_maskz_mov_epi64(k, _mm256_srli_epi64::<32>(xb)),
        cmpl: _mm256_maskz_sub_epi64(k, _mm256_set1_epi64x(M as i64), freq),
    }
}

/// Output position `(3 − l)·SLOTS + slot` takes the word of lane `l` at `slot`
/// (`4·slot + l` in [`Group::w`]); positions past the 20 read an unused word.
const fn order() -> [u16; 32] {
    let mut p = [31u16; 32];
    let mut l = 0;
    while l < 4 {
        let mut s = 0;
        while s < SLOTS {
            p[(3 - l) * SLOTS + s] = (4 * s + l) as u16;
            s += 1;
        }
        l += 1;
    }
    p
}
const ORDER: [u16; 32] = order();

/// [`enc3_avx2::encode_run4`](super::enc3_avx2::encode_run4) on this path: codes the columns
/// `j .. j + 4` of every `j` in `(j0..body).step_by(4)`, last first, on the states `x`
/// (column `j + l` on `x[l]`), appending their words to `wb` in the scalar encoder's order.
///
/// # Safety
/// [`available`]; `lanes_enc_avx2::row_fits(ctx.q0)`; `body ≤ ctx.row.len()`, `body − j0` a
/// multiple of 4.
#[target_feature(enable = "avx512f,avx512vl,avx512bw,avx512ifma,avx512vbmi2,avx2,popcnt")]
pub(super) unsafe fn encode_run4(
    ctx: &RowEnc,
    wb: &mut WordBuf,
    x: &mut [u32; 4],
    j0: usize,
    body: usize,
) {
    debug_assert!(super::lanes_enc_avx2::row_fits(ctx.q0) && body <= ctx.row.len());
    debug_assert!((body - j0) % 4 == 0);
    let mut xs = _mm256_cvtepu32_epi64(_mm_loadu_si128(x.as_ptr() as *const __m128i));
    let zero = _mm_setzero_si128();
    let ones = _mm_set1_epi32(-1);
    let q0 = _mm_set1_epi32(ctx.q0 as i32);
    let rneg = _mm_set1_epi32((ctx.code_sign && ctx.rneg) as i32);
    let picks = ctx.picks.as_ptr() as *const i32;
    let st = if ctx.code_sign {
        Some(sign_tables(ctx))
    } else {
        None
    };
    let order = _mm512_loadu_si512(ORDER.as_ptr() as *const _);
    let mut g = Group {
        w: [0; 32],
        emit: 0,
    };
    // Four bytes of a u8 (or bool) column vector from column `c`, widened to i32 lanes.
    let bytes4 = |p: *const u8, c: usize| {
        _mm_cvtepu8_epi32(_mm_cvtsi32_si128((p.add(c) as *const i32).read_unaligned()))
    };
    let mut j = body;
    while j > j0 {
        j -= 4;
        let bj = bytes4(ctx.b.as_ptr(), j);
        let active = _mm_test_epi32_mask(bj, bj);
        if active == 0 {
            continue; // four all-zero columns: nothing coded
        }
        let u = _mm_loadu_si128(ctx.row.as_ptr().add(j) as *const __m128i);
        let p = _mm_mmask_i32gather_epi32::<4>(zero, active, bj, picks);
        let s = _mm_and_si128(_mm_srli_epi32::<16>(p), _mm_set1_epi32(0xFF));
        let esc = _mm_srli_epi32::<24>(p);
        let v = _mm_add_epi32(q0, u);
        let m = _mm_abs_epi32(v);
        let hi = _mm_srlv_epi32(m, s);
        // Lanes this path does not code: u ≥ 2^30, an escape (hi ≥ esc), s > 24.
        let bad = _mm_test_epi32_mask(u, _mm_set1_epi32(-1 << 30))
            | _mm_mask_cmpge_epu32_mask(active, hi, esc)
            | _mm_mask_cmpgt_epi32_mask(active, s, _mm_set1_epi32(24));
        if bad != 0 {
            _mm_storeu_si128(x.as_mut_ptr() as *mut __m128i, _mm256_cvtepi64_epi32(xs));
            for l in (0..4).rev() {
                ctx.value(wb, &mut x[l], j + l);
            }
            xs = _mm256_cvtepu32_epi64(_mm_loadu_si128(x.as_ptr() as *const __m128i));
            continue;
        }
        g.emit = 0;
        if let Some(st) = &st {
            // Sign symbol 0 = as predicted: flip = (v < 0) ≠ (rneg ≠ cneg_j).
            // Not skipped when no lane has a sign (a group of zeros, rare): a branch on the
            // data costs more than a step.
            let k = _mm_mask_test_epi32_mask(active, m, m);
            {
                let cn = bytes4(ctx.cneg.as_ptr() as *const u8, j);
                let flip = _mm_xor_si128(_mm_srli_epi32::<31>(v), _mm_xor_si128(cn, rneg));
                let cls = bytes4(ctx.ccls.as_ptr(), j);
                let idx = _mm_add_epi32(_mm_add_epi32(cls, cls), flip);
                let idx = _mm512_zextsi256_si512(_mm256_cvtepu32_epi64(idx));
                let pick = |t: __m512i| _mm512_castsi512_si256(_mm512_permutexvar_epi64(idx, t));
                let sy = Syms {
                    xmax: _mm256_mask_mov_epi64(_mm256_set1_epi64x(-1), k, pick(st.xmax)),
                    m: pick(st.m),
                    bias: _mm256_maskz_mov_epi64(k, pick(st.bias)),
                    cmpl: _mm256_maskz_mov_epi64(k, pick(st.cmpl)),
                };
                xs = step(xs, &sy, SIGN, &mut g);
            }
        }
        // Low bits, in 8-bit pieces, the top piece (`s mod 8` bits, if any) first
        // (`WordBuf::put_uniform_wide`).
        let s = _mm_maskz_mov_epi32(active, s);
        let low = _mm_andnot_si128(_mm_sllv_epi32(ones, s), m);
        if _mm_cmpgt_epi32_mask(s, _mm_set1_epi32(8)) == 0 {
            // At most one piece per lane (the usual case): the s low bits at once, the step
            // taken even when no lane has low bits (one group in five on the fc1 gradient at
            // 1e-2, at random: the mispredicted branch cost more than the step).
            xs = step(xs, &uniform(s, low), LOW, &mut g);
        } else {
            let pieces = _mm_srli_epi32::<3>(_mm_add_epi32(s, _mm_set1_epi32(7)));
            let mut sh = _mm_slli_epi32::<3>(_mm_sub_epi32(pieces, _mm_set1_epi32(1)));
            for t in 0..3 {
                let k = _mm_cmpgt_epi32_mask(pieces, _mm_set1_epi32(t as i32));
                let val = _mm_and_si128(_mm_srlv_epi32(low, sh), _mm_set1_epi32(0xFF));
                let bits = _mm_maskz_min_epi32(k, _mm_sub_epi32(s, sh), _mm_set1_epi32(8));
                xs = step(xs, &uniform(bits, val), LOW + t, &mut g);
                sh = _mm_sub_epi32(sh, _mm_set1_epi32(8));
            }
        }
        let ti = _mm_and_si128(p, _mm_set1_epi32(0xFFFF));
        // In the table: hi < esc ≤ 255 (no escape), ti a table of the family.
        let idx = _mm_add_epi32(_mm_slli_epi32::<8>(ti), hi);
        xs = step(xs, &load_syms(ctx.syms, idx, active), MAG, &mut g);
        // The scalar order, the emitted words kept.
        let words = _mm512_permutexvar_epi16(order, _mm512_loadu_si512(g.w.as_ptr() as *const _));
        let keep = _mm512_movepi16_mask(_mm512_permutexvar_epi16(order, _mm512_movm_epi16(g.emit)));
        let dst = &mut wb.buf[wb.pos..wb.pos + GROUP_ROOM];
        _mm512_storeu_si512(
            dst.as_mut_ptr() as *mut _,
            _mm512_maskz_compress_epi16(keep, words),
        );
        wb.pos += keep.count_ones() as usize;
    }
    _mm_storeu_si128(x.as_mut_ptr() as *mut __m128i, _mm256_cvtepi64_epi32(xs));
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The IFMA step against [`EncSym::step`] for every frequency 1..=M (cumulative 0 and
    /// M − freq), on states at the renormalisation edge and where the quotient is exact or
    /// just below an integer: the words, their emission and the new states must be the
    /// scalar ones; a lane without a symbol keeps its state and emits nothing.
    #[test]
    fn step_equals_the_scalar_step() {
        if !available() {
            return;
        }
        let mut n = 0u64;
        for freq in 1..=M {
            for cum in [0, M - freq] {
                let e = EncSym::new(freq, cum);
                let xs = super::super::tests::edge_states(freq);
                for quad in xs.chunks(4) {
                    let mut xv = [L; 4];
                    xv[..quad.len()].copy_from_slice(quad);
                    // Lane 3 has no symbol when the quad is full (it checks the pass-through).
                    let k: __mmask8 = if quad.len() == 4 { 0b0111 } else { 0b1111 };
                    let mut g = Group {
                        w: [0; 32],
                        emit: 0,
                    };
                    let mut got = [0u32; 4];
                    // SAFETY: the CPU has the features (`available`).
                    unsafe {
                        let x = _mm256_cvtepu32_epi64(_mm_loadu_si128(xv.as_ptr() as *const _));
                        let sy = load_syms(std::slice::from_ref(&e), _mm_setzero_si128(), k);
                        let r = step(x, &sy, MAG, &mut g);
                        let r32 = _mm256_cvtepi64_epi32(r);
                        _mm_storeu_si128(got.as_mut_ptr() as *mut __m128i, r32);
                    }
                    for l in 0..4 {
                        let emitted = g.emit >> (4 * MAG + l) & 1 == 1;
                        let word = g.w[4 * MAG + l];
                        if k >> l & 1 == 0 {
                            assert_eq!((got[l], emitted), (xv[l], false), "lane {l} passes");
                            continue;
                        }
                        let mut s = xv[l];
                        let (w, emit) = e.step(&mut s);
                        assert_eq!(got[l], s, "freq {freq} cum {cum} x {}", xv[l]);
                        assert_eq!(emitted, emit, "freq {freq} cum {cum} x {}", xv[l]);
                        if emit {
                            assert_eq!(word, w, "freq {freq} cum {cum} x {}", xv[l]);
                        }
                        n += 1;
                    }
                }
            }
        }
        assert!(n > 100_000, "{n} steps checked");
    }

    /// The uniform steps against [`WordBuf::put_uniform`] for every width 1..=8 and value,
    /// on states at the renormalisation edge.
    #[test]
    fn uniform_equals_put_uniform() {
        if !available() {
            return;
        }
        let mut n = 0;
        for bits in 1..=8u32 {
            let edge = 1u32 << (32 - bits);
            let states = [L, L + 1, edge - 1, edge, edge + 1, u32::MAX, 0x9E37_79B9];
            for val in 0..1u32 << bits {
                for &x0 in &states {
                    let mut wb = WordBuf {
                        buf: vec![0; 2],
                        pos: 0,
                    };
                    let mut want = x0;
                    wb.put_uniform(&mut want, val, bits);
                    let mut g = Group {
                        w: [0; 32],
                        emit: 0,
                    };
                    let mut got = [0u32; 4];
                    // SAFETY: the CPU has the features (`available`).
                    unsafe {
                        let b = _mm_setr_epi32(bits as i32, bits as i32, 0, bits as i32);
                        let x = _mm256_set1_epi64x(x0 as i64);
                        let sy = uniform(b, _mm_set1_epi32(val as i32));
                        let r = _mm256_cvtepi64_epi32(step(x, &sy, LOW, &mut g));
                        _mm_storeu_si128(got.as_mut_ptr() as *mut __m128i, r);
                    }
                    for l in [0, 1, 3] {
                        assert_eq!(got[l], want, "bits {bits} val {val} x {x0}");
                        assert_eq!(g.emit >> (4 * LOW + l) & 1, wb.pos as u32);
                        if wb.pos == 1 {
                            assert_eq!(g.w[4 * LOW + l], wb.buf[0]);
                        }
                        n += 1;
                    }
                    assert_eq!((got[2], g.emit >> (4 * LOW + 2) & 1), (x0, 0));
                }
            }
        }
        assert!(n > 10_000, "{n}");
    }
}
