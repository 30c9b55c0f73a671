//! The steps of a value on eight lanes that the AVX2 decoders of kinds 5
//! (`lanes::groups_avx2`) and 6 (`shared_dec_avx2.rs`) share: they differ only in where a
//! renormalising lane's word comes from. Each is the vector form of a part of `value_fast`.
//!
//! Inlined into their callers, hence compiled with their features: call them from AVX2 code
//! only. None holds a closure (a closure would not take the caller's features, and its
//! intrinsics would stay calls).

use super::decode::Sink;
use super::lanes::{put_codes, Flat};
use super::{M, SIGN_CLASSES, SIGN_SVD};
use std::arch::x86_64::*;

/// The picks `pick[a_i + b_j]` of the 8 columns at `b`: the lanes with a coded column
/// (`b_j ≠ 0`, all ones), and per lane the table, the low bits `s` and the escape symbol. By
/// two permutes of the window of 16 picks from `win16` where the row has one
/// (`RowSimd::win16`), else by a gather.
///
/// # Safety
/// AVX2; `b` points to 8 readable bytes; `fl` is the payload family's tables; `win16` as
/// `RowsCtx` makes it (every coded column's pick within it).
#[inline(always)]
pub(super) unsafe fn picks(
    fl: &Flat,
    ai: u8,
    win16: Option<usize>,
    b: *const u8,
) -> (__m256i, __m256i, __m256i, __m256i) {
    let zero = _mm256_setzero_si256();
    let bq = _mm256_cvtepu8_epi32(_mm_loadl_epi64(b as *const __m128i));
    let act = _mm256_xor_si256(_mm256_cmpeq_epi32(bq, zero), _mm256_set1_epi32(-1));
    let pk = match win16 {
        // Lane l's pick is entry `a_i + b_j − start` (< 16 for a coded column) of the window:
        // of its first 8 or its last 8 by that index's bit 3.
        Some(start) => {
            let w = fl.pick.as_ptr().add(start) as *const __m256i;
            let idx = _mm256_add_epi32(bq, _mm256_set1_epi32(ai as i32 - start as i32));
            let lo = _mm256_permutevar8x32_epi32(_mm256_loadu_si256(w), idx);
            let hi = _mm256_permutevar8x32_epi32(_mm256_loadu_si256(w.add(1)), idx);
            _mm256_castps_si256(_mm256_blendv_ps(
                _mm256_castsi256_ps(lo),
                _mm256_castsi256_ps(hi),
                _mm256_castsi256_ps(_mm256_slli_epi32::<28>(idx)),
            ))
        }
        // SAFETY: a + b ≤ 510, within the 511 picks.
        None => _mm256_i32gather_epi32::<4>(
            fl.pick.as_ptr() as *const i32,
            _mm256_add_epi32(bq, _mm256_set1_epi32(ai as i32)),
        ),
    };
    let byte = _mm256_set1_epi32(0xFF);
    (
        act,
        _mm256_and_si256(pk, byte),
        _mm256_and_si256(_mm256_srli_epi32::<8>(pk), byte),
        _mm256_srli_epi32::<16>(pk),
    )
}

/// Each lane's slot entry (`Flat::slot`: its magnitude symbol `e >> 24`, frequency and offset
/// in the symbol's range) for its state `x` under its table `ti`: one gather.
///
/// # Safety
/// AVX2; `ti` below the family's table count (from [`picks`]).
#[inline(always)]
pub(super) unsafe fn slot_entries(fl: &Flat, ti: __m256i, x: __m256i) -> __m256i {
    let slot = _mm256_and_si256(x, _mm256_set1_epi32(M as i32 - 1));
    _mm256_i32gather_epi32::<4>(
        fl.slot.as_ptr() as *const i32,
        _mm256_add_epi32(_mm256_slli_epi32::<12>(ti), slot),
    )
}

/// The state after the magnitude step of slot entry `e` ([`slot_entries`]) from `x`, before
/// renormalisation.
///
/// # Safety
/// AVX2.
#[inline(always)]
pub(super) unsafe fn magnitude_state(e: __m256i, x: __m256i) -> __m256i {
    let slot_mask = _mm256_set1_epi32(M as i32 - 1);
    let fr = _mm256_add_epi32(_mm256_and_si256(e, slot_mask), _mm256_set1_epi32(1));
    let off = _mm256_and_si256(_mm256_srli_epi32::<12>(e), slot_mask);
    _mm256_add_epi32(_mm256_mullo_epi32(fr, _mm256_srli_epi32::<12>(x)), off)
}

/// The low-bits step of `s ≤ 8` bits (frequency 2^(12−s); s = 0 is the identity, which leaves
/// a state ≥ L) on `v`, before renormalisation, and the magnitude `sym << s | low bits`.
///
/// # Safety
/// AVX2.
#[inline(always)]
pub(super) unsafe fn low_bits(v: __m256i, s: __m256i, sym: __m256i) -> (__m256i, __m256i) {
    let sh = _mm256_sub_epi32(_mm256_set1_epi32(12), s);
    let slot = _mm256_and_si256(v, _mm256_set1_epi32(M as i32 - 1));
    let one = _mm256_set1_epi32(1);
    let low = _mm256_sub_epi32(_mm256_sllv_epi32(one, sh), one);
    let v = _mm256_add_epi32(
        _mm256_sllv_epi32(_mm256_srli_epi32::<12>(v), sh),
        _mm256_and_si256(slot, low),
    );
    let m = _mm256_or_si256(_mm256_sllv_epi32(sym, s), _mm256_srlv_epi32(slot, sh));
    (v, m)
}

/// Each lane's frequency of the predicted sign: the row's `fr[class]` by the columns'
/// classes at `ccls` (mode 3), else `fr[0]`.
///
/// # Safety
/// AVX2; `ccls` points to 8 readable bytes (mode 3).
#[inline(always)]
pub(super) unsafe fn sign_freqs<const MODE: u8>(fr: [u32; 4], ccls: *const u8) -> __m256i {
    if MODE == SIGN_CLASSES {
        let frv = _mm256_setr_epi32(
            fr[0] as i32,
            fr[1] as i32,
            fr[2] as i32,
            fr[3] as i32,
            0,
            0,
            0,
            0,
        );
        let cl = _mm256_and_si256(
            _mm256_cvtepu8_epi32(_mm_loadl_epi64(ccls as *const __m128i)),
            _mm256_set1_epi32(3),
        );
        _mm256_permutevar8x32_epi32(frv, cl)
    } else {
        _mm256_set1_epi32(fr[0] as i32)
    }
}

/// The sign step on `v` with the predicted sign's frequency `f`: the lanes whose sign is the
/// opposite of the prediction (slot ≥ f), and the state before renormalisation.
///
/// # Safety
/// AVX2.
#[inline(always)]
pub(super) unsafe fn sign_state(v: __m256i, f: __m256i) -> (__m256i, __m256i) {
    let slot = _mm256_and_si256(v, _mm256_set1_epi32(M as i32 - 1));
    let flip = _mm256_xor_si256(_mm256_cmpgt_epi32(f, slot), _mm256_set1_epi32(-1));
    let frs = _mm256_blendv_epi8(f, _mm256_sub_epi32(_mm256_set1_epi32(M as i32), f), flip);
    let cs = _mm256_and_si256(f, flip);
    let v2 = _mm256_sub_epi32(
        _mm256_add_epi32(_mm256_mullo_epi32(frs, _mm256_srli_epi32::<12>(v)), slot),
        cs,
    );
    (flip, v2)
}

/// The lanes whose predicted sign is negative: the row's `rneg` against the columns' `cneg`
/// (modes 2 and 3), else none.
///
/// # Safety
/// AVX2; `cneg` points to 8 readable bools (modes 2, 3).
#[inline(always)]
pub(super) unsafe fn predicted_neg<const MODE: u8>(cneg: *const bool, rneg: bool) -> __m256i {
    let zero = _mm256_setzero_si256();
    if MODE == SIGN_SVD || MODE == SIGN_CLASSES {
        // bool is one byte 0 or 1.
        let cn = _mm256_cvtepu8_epi32(_mm_loadl_epi64(cneg as *const __m128i));
        let cn = _mm256_cmpgt_epi32(cn, zero);
        if rneg {
            _mm256_xor_si256(cn, _mm256_set1_epi32(-1))
        } else {
            cn
        }
    } else {
        zero
    }
}

/// The vector sinks' step and scale ([`sink8`]).
///
/// # Safety
/// AVX2.
#[inline(always)]
pub(super) unsafe fn sink_consts(sink: Sink) -> (__m256d, __m128) {
    let (step, scale) = match sink {
        Sink::Store(step) => (step, 0.0),
        Sink::Add(step, scale) => (step, scale),
        Sink::Put => (0.0, 0.0),
    };
    (_mm256_set1_pd(step), _mm_set1_ps(scale))
}

/// A group's eight codes `qv` into `out` (eight values) by `sink` (`consts` from
/// [`sink_consts`]): `(q as f64 * step) as f32` per value (exact i32 → f64, then the scalar
/// path's IEEE product and rounding), stored or added (`*o += scale * x̂`, an f32 product then
/// an f32 sum), or each through `put`.
///
/// # Safety
/// AVX2; `out` holds eight values; `sink` is [`Sink::Put`] unless T is f32.
#[inline(always)]
pub(super) unsafe fn sink8<T>(
    out: &mut [T],
    qv: __m256i,
    sink: Sink,
    (stepv, scalev): (__m256d, __m128),
    q0: i64,
    put: &impl Fn(&mut T, i64, u32),
) {
    debug_assert!(out.len() == 8);
    if let Sink::Put = sink {
        let mut qs = [0i32; 8];
        _mm256_storeu_si256(qs.as_mut_ptr() as *mut __m256i, qv);
        put_codes(out, &qs, q0, put);
        return;
    }
    let lo = _mm256_cvtpd_ps(_mm256_mul_pd(
        _mm256_cvtepi32_pd(_mm256_castsi256_si128(qv)),
        stepv,
    ));
    let hi = _mm256_cvtpd_ps(_mm256_mul_pd(
        _mm256_cvtepi32_pd(_mm256_extracti128_si256::<1>(qv)),
        stepv,
    ));
    let o = out.as_mut_ptr() as *mut f32;
    if let Sink::Add(..) = sink {
        _mm_storeu_ps(o, _mm_add_ps(_mm_loadu_ps(o), _mm_mul_ps(scalev, lo)));
        let o4 = o.add(4);
        _mm_storeu_ps(o4, _mm_add_ps(_mm_loadu_ps(o4), _mm_mul_ps(scalev, hi)));
    } else {
        _mm_storeu_ps(o, lo);
        _mm_storeu_ps(o.add(4), hi);
    }
}
