//! `sign::row_agreements` of a row of u16 codes with AVX-512BW: thirty-two codes a step,
//! compared as u16 against the row's split and counted from the masks, against eight per
//! step (widened to u32, with a u32 per column for the prediction) in the AVX2 loop; u32 codes
//! sixteen a step the same way. Counts are integers: any order gives the same count.
//!
//! Built only by compilers whose AVX-512 intrinsics are stable (`build.rs` sets `alcm_avx512`
//! from rustc 1.89); used when the CPU has AVX-512F, AVX-512BW and POPCNT.

// Compiled only where the intrinsics are stable (`alcm_avx512`, rustc ≥ 1.89).
#![allow(clippy::incompatible_msrv)]

use std::arch::x86_64::*;

/// Whether [`agreements_u16`] runs on this CPU.
pub(super) fn available() -> bool {
    std::is_x86_feature_detected!("avx512f")
        && std::is_x86_feature_detected!("avx512bw")
        && std::is_x86_feature_detected!("popcnt")
}

/// The columns' predicted-negative flags (`vneg_j` = 0 or 1) as bits, 64 columns a word
/// (column `j` at bit `j mod 64` of word `j / 64`).
pub(super) fn neg_bits(vneg: &[u32]) -> Vec<u64> {
    vneg.chunks(64)
        .map(|c| {
            c.iter()
                .enumerate()
                .fold(0u64, |w, (k, &p)| w | ((p as u64 & 1) << k))
        })
        .collect()
}

/// The 32 bits of `bits` from bit `j` (a multiple of 32).
#[inline(always)]
fn bits32(bits: &[u64], j: usize) -> u32 {
    (bits[j / 64] >> (j % 64)) as u32
}

/// `sign::row_agreements(row, q0, uneg, vneg)` with `vbits = neg_bits(vneg)`: how many
/// values `q0 + u_j` are non-zero with the predicted sign (negative iff `uneg ≠ vneg_j`).
///
/// Counted as `A` = the non-zero values whose sign is `vneg_j` (the prediction for
/// `uneg = 0`) and `N` = the non-zero values: the agreements are `A` for `uneg = 0`, else
/// `N − A` (every non-zero value agrees with exactly one of the two predictions).
///
/// # Safety
/// The CPU must support AVX-512F, AVX-512BW and POPCNT; `vbits` has a bit for every column
/// of `row`.
#[target_feature(enable = "avx512f,avx512bw,popcnt")]
pub(super) unsafe fn agreements_u16(row: &[u16], q0: i64, uneg: u32, vbits: &[u64]) -> u64 {
    let n = row.len();
    assert!(vbits.len() * 64 >= n);
    // Positive iff u > t, negative iff u < t (`sign::side`), t = −q0 clamped to what a u16
    // comparison sees: below 0 every value is positive, above 65535 every value negative.
    let t = q0.saturating_neg();
    let (all_pos, all_neg) = (t < 0, t > u16::MAX as i64);
    let vt = _mm512_set1_epi16(t.clamp(0, u16::MAX as i64) as u16 as i16);
    let (mut a, mut nz) = (0u64, 0u64);
    let mut j = 0;
    while j < n {
        let k: __mmask32 = if n - j >= 32 {
            u32::MAX
        } else {
            (1u32 << (n - j)) - 1
        };
        // SAFETY: the mask selects codes j.. below n; masked-off lanes are not read.
        let x = _mm512_maskz_loadu_epi16(k, row.as_ptr().add(j) as *const i16);
        let (gt, lt) = match (all_pos, all_neg) {
            (true, _) => (k, 0),
            (_, true) => (0, k),
            _ => (
                _mm512_mask_cmpgt_epu16_mask(k, x, vt),
                _mm512_mask_cmplt_epu16_mask(k, x, vt),
            ),
        };
        let vn = bits32(vbits, j) & k;
        a += ((gt & !vn) | (lt & vn)).count_ones() as u64;
        nz += (gt | lt).count_ones() as u64;
        j += 32;
    }
    match uneg & 1 {
        0 => a,
        _ => nz - a,
    }
}

/// [`agreements_u16`] of a row of u32 codes, sixteen a step (AVX-512F): the same count as
/// `sign::row_agreements`, whose AVX2 loop takes eight a step with a u32 per column for the
/// prediction (2.5 % of a 32 768-value tensor's compression).
///
/// # Safety
/// The CPU must support AVX-512F, AVX-512BW and POPCNT ([`available`]); `vbits` has a bit for
/// every column of `row`.
#[target_feature(enable = "avx512f,avx512bw,popcnt")]
pub(super) unsafe fn agreements_u32(row: &[u32], q0: i64, uneg: u32, vbits: &[u64]) -> u64 {
    let n = row.len();
    assert!(vbits.len() * 64 >= n);
    // `sign::side`: t = −q0; below 0 every value is positive, above u32::MAX every value is
    // negative.
    let t = q0.saturating_neg();
    let (all_pos, all_neg) = (t < 0, t > u32::MAX as i64);
    let vt = _mm512_set1_epi32(t.clamp(0, u32::MAX as i64) as u32 as i32);
    let (mut a, mut nz) = (0u64, 0u64);
    let mut j = 0;
    // Thirty-two codes a step (two vectors, one 32-bit word of the prediction's bits), then
    // the tail sixteen at a time under a mask.
    while j + 32 <= n && !(all_pos || all_neg) {
        // SAFETY: j + 32 ≤ n: both loads are inside the row; unaligned.
        let x0 = _mm512_loadu_si512(row.as_ptr().add(j) as *const __m512i);
        let x1 = _mm512_loadu_si512(row.as_ptr().add(j + 16) as *const __m512i);
        let gt =
            _mm512_cmpgt_epu32_mask(x0, vt) as u32 | (_mm512_cmpgt_epu32_mask(x1, vt) as u32) << 16;
        let lt =
            _mm512_cmplt_epu32_mask(x0, vt) as u32 | (_mm512_cmplt_epu32_mask(x1, vt) as u32) << 16;
        let vn = bits32(vbits, j);
        a += ((gt & !vn) | (lt & vn)).count_ones() as u64;
        nz += (gt | lt).count_ones() as u64;
        j += 32;
    }
    while j < n {
        let k: __mmask16 = if n - j >= 16 {
            u16::MAX
        } else {
            (1u16 << (n - j)) - 1
        };
        // SAFETY: the mask selects codes j.. below n; masked-off lanes are not read.
        let x = _mm512_maskz_loadu_epi32(k, row.as_ptr().add(j) as *const i32);
        let (gt, lt) = match (all_pos, all_neg) {
            (true, _) => (k, 0),
            (_, true) => (0, k),
            _ => (
                _mm512_mask_cmpgt_epu32_mask(k, x, vt),
                _mm512_mask_cmplt_epu32_mask(k, x, vt),
            ),
        };
        let vn = (bits32(vbits, j & !31) >> (j % 32)) as u16 & k;
        a += ((gt & !vn) | (lt & vn)).count_ones() as u64;
        nz += (gt | lt).count_ones() as u64;
        j += 16;
    }
    match uneg & 1 {
        0 => a,
        _ => nz - a,
    }
}

/// `sign::count_split` sixteen columns a step (AVX-512F): adds 1 to `ag[j]` where
/// `u_j = row[j]` (split at `t`: positive iff `u_j > t`, negative iff `u_j < t`) is non-zero
/// with the predicted sign (negative iff `uneg ≠` bit `j` of `vbits`), and 1 to `nz[j]` where
/// it is non-zero, from the comparisons' masks; the AVX2 loop takes eight a step with a u32
/// per column for the prediction (3 % of a 32 768-value tensor's compression, its sign
/// classes).
///
/// # Safety
/// The CPU must support AVX-512F, AVX-512BW and POPCNT ([`available`]); `vbits` has a bit for
/// every column of `row`; `ag` and `nz` are at least as long as `row`.
#[target_feature(enable = "avx512f,avx512bw,popcnt")]
pub(super) unsafe fn count_split_u32(
    row: &[u32],
    t: u32,
    uneg: u32,
    vbits: &[u64],
    ag: &mut [u32],
    nz: &mut [u32],
) {
    let n = row.len();
    assert!(vbits.len() * 64 >= n && ag.len() >= n && nz.len() >= n);
    let (vt, one) = (_mm512_set1_epi32(t as i32), _mm512_set1_epi32(1));
    // Predicted negative where the column's bit differs from `uneg`.
    let flip: u16 = if uneg & 1 == 1 { u16::MAX } else { 0 };
    let mut j = 0;
    while j < n {
        let k: __mmask16 = if n - j >= 16 {
            u16::MAX
        } else {
            (1u16 << (n - j)) - 1
        };
        // SAFETY: the mask selects lanes j.. below n ≤ every length; masked-off lanes are
        // neither read nor written.
        let x = _mm512_maskz_loadu_epi32(k, row.as_ptr().add(j) as *const i32);
        let gt = _mm512_mask_cmpgt_epu32_mask(k, x, vt);
        let lt = _mm512_mask_cmplt_epu32_mask(k, x, vt);
        let pred_neg = ((bits32(vbits, j & !31) >> (j % 32)) as u16 ^ flip) & k;
        let agree = (gt & !pred_neg) | (lt & pred_neg);
        let (pa, pn) = (
            ag.as_mut_ptr().add(j) as *mut i32,
            nz.as_mut_ptr().add(j) as *mut i32,
        );
        let a = _mm512_maskz_loadu_epi32(k, pa);
        _mm512_mask_storeu_epi32(pa, k, _mm512_mask_add_epi32(a, agree, a, one));
        let z = _mm512_maskz_loadu_epi32(k, pn);
        _mm512_mask_storeu_epi32(pn, k, _mm512_mask_add_epi32(z, gt | lt, z, one));
        j += 16;
    }
}
