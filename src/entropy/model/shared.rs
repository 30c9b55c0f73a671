//! Rank-1 model payload kind 6 (format version ≥ 7): the modelling of kind 3 (same tables,
//! scale codes, sign modes, one block), coded on **16 rANS states sharing one word stream**,
//! the value in column `j` on state `j mod 16`, its words in a fixed order across the states.
//!
//! Why: kind 3's four states on one stream make the decoder one serial chain (each value's
//! renormalisation waits for the word position of every earlier value); kind 5's 16 states
//! each with their own stream decode as one AVX-512 vector, but its 16 word counts and 16
//! states cost 112 bytes more than kind 3, too many for the tensors of a few thousand values
//! that a training step sends. Here the 16 states decode as one vector too, each step's words
//! taken from the one stream by an expand (the lanes that renormalise take the next words in
//! lane order), and the payload costs only the 12 extra states: 48 bytes.
//!
//! # Order of the words
//! Values are coded row by row (rows with `a_i = 0` and columns with `b_j = 0` have no
//! symbols), each row in *groups* of 16 columns `16g .. min(16g + 16, C)`, column `16g + l`
//! on state `l`. The symbols of a value are kind 3's (magnitude, after an escape the 6-bit
//! `nb` and its pieces, the `s` low bits in pieces of 8 low first, the sign when `m > 0` and
//! the mode codes signs); a group's symbols are decoded in three *steps*, and within a step
//! the states in ascending order:
//! 1. magnitudes: each state's magnitude symbol and, after an escape, its `nb` and pieces;
//! 2. low bits, piece by piece **aligned at the top piece**: with `p_l = ⌈s_l / 8⌉` pieces on
//!    state `l` and `P = max p_l`, round `t = P − 1, …, 0` decodes, on every state with
//!    `p_l > t`, its piece `p_l − 1 − t` counted from the low end (so each state still reads
//!    its pieces low first, and a state's top piece comes in the last round);
//! 3. signs.
//!
//! Each symbol's renormalisation takes at most one word, from the shared stream, right after
//! the symbol. The encoder codes the same symbols in exactly the reverse order.
//!
//! # Layout
//! Kind 3's header with kind byte 6, then `u32 W` (≥ 32) and `W × u16` words: the 16 final
//! encoder states (state 0 first, each high half first, each in `[L, 2^32)`: a decoder refuses
//! a state below `L`, which no encoder writes), then the stream. Every state must return to
//! `L` and every word be consumed.

use super::decode::{bit, dpicks, escape_cold, renorm_fast, u_of, uniform_fast, DPick, Head};
use super::encode::{RowEnc, WordBuf, MAX_WORDS_PER_VALUE, RUN};
use super::lanes::EncPath;
use super::*;

/// States of a kind-6 payload (one group of columns).
pub(crate) const STATES: usize = 16;

/// Bytes kind 6 adds to kind 3's payload: 12 more final states.
pub(crate) const EXTRA_BYTES: f64 = (4 * (STATES - 4)) as f64;

/// Low-bit pieces of `s` low bits (8 bits each, the top one `s − 8(p − 1)` bits).
#[inline(always)]
fn pieces(s: u32) -> u32 {
    s.div_ceil(8)
}

/// Bits of piece `k` (from the low end) of `s` low bits in `p` pieces.
#[inline(always)]
fn piece_bits(s: u32, p: u32, k: u32) -> u32 {
    if k + 1 == p {
        s - 8 * (p - 1)
    } else {
        8
    }
}

/// The scalar encoder of one group: columns `c0 .. c0 + n` (`n ≤ 16`, `c0` a multiple of 16)
/// of the row `ctx` on the states `x`, last symbol first, words appended to `wb` in the order
/// made (the payload holds them reversed).
pub(super) fn encode_group(
    ctx: &RowEnc,
    wb: &mut WordBuf,
    x: &mut [u32; STATES],
    c0: usize,
    n: usize,
) {
    let (mut m, mut v, mut s) = ([0u64; STATES], [0i64; STATES], [0u32; STATES]);
    let mut act = [false; STATES];
    let mut max_p = 0;
    for l in 0..n {
        let bj = ctx.b[c0 + l];
        if bj == 0 {
            continue;
        }
        act[l] = true;
        v[l] = ctx.q0 + ctx.row[c0 + l] as i64;
        m[l] = v[l].unsigned_abs();
        s[l] = ctx.picks[bj as usize].s as u32;
        max_p = max_p.max(pieces(s[l]));
    }
    if ctx.code_sign {
        for l in (0..n).rev().filter(|&l| act[l] && m[l] != 0) {
            let j = c0 + l;
            // Sign symbol 0 = as predicted.
            let flip = (v[l] < 0) != (ctx.rneg != ctx.cneg[j]);
            wb.put(
                &mut x[l],
                &ctx.sign_syms[ctx.ccls[j] as usize][flip as usize],
            );
        }
    }
    for t in 0..max_p {
        for l in (0..n).rev().filter(|&l| act[l] && pieces(s[l]) > t) {
            let p = pieces(s[l]);
            let k = p - 1 - t;
            let bits = piece_bits(s[l], p, k);
            let val = (m[l] >> (8 * k)) as u32 & ((1u32 << bits) - 1);
            wb.put_uniform(&mut x[l], val, bits);
        }
    }
    for l in (0..n).rev().filter(|&l| act[l]) {
        let p = ctx.picks[ctx.b[c0 + l] as usize];
        ctx.put_magnitude(wb, &mut x[l], p, m[l] >> s[l]);
    }
}

/// The words of a kind-6 payload's stream, in the order made (the payload holds them
/// reversed): every row, last first, then the 16 final states. The full groups go through
/// kind 5's AVX-512 group code on `EncPath::Avx512` (`lanes_enc_avx512.rs`), its AVX2 steps
/// on `EncPath::Avx2` (`lanes_enc_avx2::encode_run_shared`), else through [`encode_group`]:
/// the same words either way.
pub(crate) fn encode_rows<C: ModelCode>(
    plan: &ModelPlan,
    codes: &[C],
    qmin: &[i64],
    path: EncPath,
) -> Vec<u16> {
    let cols = plan.cols;
    let tabs = tables();
    let syms = enc_syms(plan.family);
    let mut words: Vec<u16> = Vec::with_capacity(codes.len() / 4 + 64);
    // A run's words, and room for the vector path's 16-word stores past them.
    let mut wb = WordBuf {
        buf: vec![0u16; RUN.min(cols) * MAX_WORDS_PER_VALUE + STATES],
        pos: 0,
    };
    let sign_syms = plan.sign_syms();
    let cneg = plan.col_pred_neg();
    let mut x = [L; STATES];
    let mut rbuf = row_buf::<C>(cols);
    for i in (0..plan.rows).rev() {
        let Some(ctx) = plan.row_enc(i, codes, &mut rbuf, qmin, &cneg, syms, &sign_syms, tabs)
        else {
            continue;
        };
        let mut j1 = cols;
        while j1 > 0 {
            let j0 = (j1 - 1) / RUN * RUN;
            wb.pos = 0;
            let body = j0 + (j1 - j0) / STATES * STATES;
            if body < j1 {
                encode_group(&ctx, &mut wb, &mut x, body, j1 - body);
            }
            if !vector_run(&ctx, plan.family, &mut wb, &mut x, j0..body, path) {
                for c0 in (j0..body).step_by(STATES).rev() {
                    encode_group(&ctx, &mut wb, &mut x, c0, STATES);
                }
            }
            words.extend_from_slice(&wb.buf[..wb.pos]);
            j1 = j0;
        }
    }
    crate::entropy::rans::push_final_states(&x, &mut words);
    words
}

/// The full groups `run` of a row on the vector path `path`, as [`encode_group`] on each,
/// last first: whether it took them (a vector path, and the row's codes fit its steps,
/// `lanes_enc_avx2::row_fits`).
fn vector_run(
    ctx: &RowEnc,
    family: u8,
    wb: &mut WordBuf,
    x: &mut [u32; STATES],
    run: std::ops::Range<usize>,
    path: EncPath,
) -> bool {
    #[cfg(target_arch = "x86_64")]
    if path != EncPath::Scalar && super::lanes_enc_avx2::row_fits(ctx.q0) {
        let fc = super::lanes::packed_syms(family);
        // SAFETY: the CPU has the path's features (`path`), the row fits, `run` is a multiple
        // of 16 within the row, `wb` has room for a run's words and 16 more (`encode_rows`).
        unsafe {
            #[cfg(alcm_avx512)]
            if path == EncPath::Avx512 {
                super::lanes_enc_avx512::encode_run_shared(ctx, fc, wb, x, run);
                return true;
            }
            super::lanes_enc_avx2::encode_run_shared(ctx, fc, wb, x, run);
        }
        return true;
    }
    let _ = (ctx, family, wb, x, run, path);
    false
}

/// The decoder's states: all 16 and the one word position.
pub(super) struct Shared {
    pub(super) x: [u32; STATES],
    pub(super) pos: usize,
}

/// What decoding a row's values needs besides the states and the words.
pub(super) struct RowDec<'a> {
    pub(super) picks: &'a [DPick],
    pub(super) b: &'a [u8],
    pub(super) cneg: &'a [bool],
    pub(super) ccls: &'a [u8],
    /// The row's sign frequencies per column class.
    pub(super) fr: [u32; 4],
    /// The row's predicted sign (modes 2, 3).
    pub(super) rneg: bool,
}

/// The scalar decoder of one group: columns `c0 .. c0 + q.len()` (at most 16) into `q`.
#[inline(always)]
pub(super) fn decode_group<const MODE: u8>(
    r: &RowDec,
    w: &[u8],
    st: &mut Shared,
    c0: usize,
    q: &mut [i64],
) -> Result<()> {
    let n = q.len();
    let (mut m, mut s) = ([0u64; STATES], [0u32; STATES]);
    let mut max_p = 0;
    for l in 0..n {
        let bj = r.b[c0 + l];
        if bj == 0 {
            continue;
        }
        let p = &r.picks[bj as usize];
        let x = &mut st.x[l];
        let v = *x;
        let slot = v & (M - 1);
        let sym = p.lut[slot as usize] as u32;
        let e = p.fc[sym as usize & 255];
        let (fr, c) = (e & ((1 << 13) - 1), e >> 13);
        *x = renorm_fast(fr * (v >> SCALE_BITS) + slot - c, w, &mut st.pos);
        m[l] = if sym < p.esc {
            sym as u64
        } else {
            escape_cold(x, w, &mut st.pos, sym, p.s)?
        };
        s[l] = p.s;
        max_p = max_p.max(pieces(p.s));
    }
    let mut lo = [0u64; STATES];
    for t in (0..max_p).rev() {
        for l in 0..n {
            let p = pieces(s[l]);
            if p > t {
                let k = p - 1 - t;
                let bits = piece_bits(s[l], p, k);
                lo[l] |= (uniform_fast(&mut st.x[l], w, &mut st.pos, bits) as u64) << (8 * k);
            }
        }
    }
    let svd = MODE == SIGN_SVD || MODE == SIGN_CLASSES;
    for l in 0..n {
        let mag = (m[l] << s[l]) | lo[l];
        q[l] = mag as i64;
        if MODE == SIGN_NONE || mag == 0 {
            continue;
        }
        let j = c0 + l;
        let f = if MODE == SIGN_CLASSES {
            r.fr[r.ccls[j] as usize & 3]
        } else {
            r.fr[0]
        };
        let x = &mut st.x[l];
        let v = *x;
        let slot = v & (M - 1);
        let flip = slot >= f;
        let fr = if flip { M - f } else { f };
        let c = if flip { f } else { 0 };
        *x = renorm_fast(fr * (v >> SCALE_BITS) + slot - c, w, &mut st.pos);
        let neg = -(((svd && (r.rneg != r.cneg[j])) != flip) as i64);
        q[l] = (q[l] ^ neg) - neg;
    }
    Ok(())
}

/// [`decode_group`] of the columns `c0 .. c0 + out.len()` (at most 16) into `out` by `put`
/// (row offset `q0`), widening `ext` (lowest, highest) by their codes.
#[allow(clippy::too_many_arguments)]
#[inline(always)]
pub(super) fn decode_group_into<const MODE: u8, T>(
    r: &RowDec,
    w: &[u8],
    st: &mut Shared,
    c0: usize,
    out: &mut [T],
    q0: i64,
    put: &impl Fn(&mut T, i64, u32),
    ext: (&mut i64, &mut i64),
) -> Result<()> {
    let mut q = [0i64; STATES];
    let q = &mut q[..out.len()];
    decode_group::<MODE>(r, w, st, c0, q)?;
    for (o, &v) in out.iter_mut().zip(q.iter()) {
        *ext.0 = (*ext.0).min(v);
        *ext.1 = (*ext.1).max(v);
        put(o, v, v.wrapping_sub(q0) as u32);
    }
    Ok(())
}

/// Decodes a kind-6 payload's words `w` (states first) into `out` (`out.len() / cols` rows
/// from row 0); with `simd` the full groups go through the AVX-512 decoder where the CPU has
/// it (`shared_dec_avx512.rs`), else the AVX2 one (`shared_dec_avx2.rs`; the same values and
/// errors).
#[allow(clippy::too_many_arguments)]
pub(super) fn decode_block<T: Copy + 'static>(
    h: &Head,
    w: &[u8],
    qmin: &[i64],
    out: &mut [T],
    cols: usize,
    put: &impl Fn(&mut T, i64, u32),
    simd: bool,
    sink: super::decode::Sink,
) -> Result<()> {
    let a = (qmin, out, cols, put, simd, sink);
    match h.mode {
        SIGN_PLAIN => decode_mode::<SIGN_PLAIN, T>(h, w, a),
        SIGN_NONE => decode_mode::<SIGN_NONE, T>(h, w, a),
        SIGN_SVD => decode_mode::<SIGN_SVD, T>(h, w, a),
        _ => decode_mode::<SIGN_CLASSES, T>(h, w, a),
    }
}

/// The arguments of [`decode_block`] after the head and the words; `G`, the vector path: whether
/// the CPU runs AVX2, then ([`rows`]) the decoder of the full groups.
type Args<'a, T, P, G = bool> = (&'a [i64], &'a mut [T], usize, &'a P, G, super::decode::Sink);

fn decode_mode<const MODE: u8, T: Copy + 'static>(
    h: &Head,
    w: &[u8],
    (qmin, out, cols, put, simd, sink): Args<T, impl Fn(&mut T, i64, u32)>,
) -> Result<()> {
    let n_words = w.len() / 2;
    let mut st = Shared {
        x: crate::entropy::rans::read_states::<STATES>(w),
        pos: 2 * STATES,
    };
    // An encoder's final state is in [L, 2^32); from there every state stays ≥ L, which the
    // vector decoder relies on (at most two words per state and group).
    if st.x.iter().any(|&x| x < L) {
        return Err(Error::corrupt(
            "rANS-model state starts below its lower bound (corrupt payload)",
        ));
    }
    #[cfg(all(target_arch = "x86_64", alcm_avx512))]
    let path = match simd && super::shared_dec_avx512::available() {
        true => Path::Avx512,
        false if simd => Path::Avx2,
        false => Path::Scalar,
    };
    #[cfg(all(target_arch = "x86_64", not(alcm_avx512)))]
    let path = match simd {
        true => Path::Avx2,
        false => Path::Scalar,
    };
    #[cfg(not(target_arch = "x86_64"))]
    let path = {
        let _ = simd;
        Path::Scalar
    };
    // The vector sinks write f32; any other element type goes through `put`.
    let sink = if std::any::TypeId::of::<T>() == std::any::TypeId::of::<f32>() {
        sink
    } else {
        super::decode::Sink::Put
    };
    // A truncated stream (a needed word missing) is reported as such, whatever error it causes.
    let rows = rows::<MODE, T>(h, w, &mut st, (qmin, out, cols, put, path, sink));
    if st.pos > n_words {
        return Err(Error::truncated("rANS-model word stream ends early"));
    }
    rows?;
    if st.x != [L; STATES] || st.pos != n_words {
        return Err(Error::corrupt(
            "rANS-model payload does not decode to its initial state (corrupt payload)",
        ));
    }
    Ok(())
}

/// The decoder of a kind-6 row's full groups.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Path {
    Scalar,
    /// `shared_dec_avx2.rs` (the CPU has AVX2).
    #[cfg(target_arch = "x86_64")]
    Avx2,
    /// `shared_dec_avx512.rs` (the CPU has AVX-512F).
    #[cfg(all(target_arch = "x86_64", alcm_avx512))]
    Avx512,
}

/// The rows of [`decode_mode`] (full groups on `path`); `st` is left where decoding stopped.
fn rows<const MODE: u8, T: Copy + 'static>(
    h: &Head,
    w: &[u8],
    st: &mut Shared,
    (qmin, out, cols, put, path, sink): Args<T, impl Fn(&mut T, i64, u32), Path>,
) -> Result<()> {
    #[cfg(not(target_arch = "x86_64"))]
    let _ = (path, sink);
    let dp = dpicks(h.family);
    let svd = MODE == SIGN_SVD || MODE == SIGN_CLASSES;
    for (i, orow) in out.chunks_exact_mut(cols).enumerate() {
        let q0 = qmin[i];
        let ai = h.a[i];
        if ai == 0 {
            let u = u_of(0, q0, h.max_u)?;
            orow.iter_mut().for_each(|o| put(o, 0, u));
            continue;
        }
        let rc = if MODE == SIGN_CLASSES {
            sign::class_at(h.rcls, i) as usize
        } else {
            0
        };
        let r = RowDec {
            picks: &dp[ai as usize..ai as usize + 256],
            b: &h.b[..cols],
            cneg: &h.cneg[..cols],
            ccls: &h.ccls[..cols],
            fr: [h.fs[rc], h.fs[rc + 1], h.fs[rc + 2], h.fs[rc + 3]],
            rneg: svd && bit(h.rs, i),
        };
        let (mut qlo, mut qhi) = (i64::MAX, i64::MIN);
        let mut c0 = 0;
        #[cfg(target_arch = "x86_64")]
        if path != Path::Scalar {
            let fl = super::lanes::flat(h.family);
            // SAFETY: `path` is only a vector one when the CPU has what its decoder needs; a
            // vector sink only when T is f32 (checked above).
            (c0, qlo, qhi) = unsafe {
                #[cfg(alcm_avx512)]
                if path == Path::Avx512 {
                    super::shared_dec_avx512::row::<MODE, T>(
                        &r, fl, ai, w, st, orow, q0, put, sink,
                    )?
                } else {
                    super::shared_dec_avx2::row::<MODE, T>(&r, fl, ai, w, st, orow, q0, put, sink)?
                }
                #[cfg(not(alcm_avx512))]
                super::shared_dec_avx2::row::<MODE, T>(&r, fl, ai, w, st, orow, q0, put, sink)?
            };
        }
        while c0 < cols {
            let n = STATES.min(cols - c0);
            let ext = (&mut qlo, &mut qhi);
            decode_group_into::<MODE, T>(&r, w, st, c0, &mut orow[c0..c0 + n], q0, put, ext)?;
            c0 += n;
        }
        u_of(qlo, q0, h.max_u)?;
        u_of(qhi, q0, h.max_u)?;
    }
    Ok(())
}

#[cfg(test)]
#[path = "shared_tests.rs"]
mod tests;
