//! Parametric (rank-1 Gaussian) entropy model for the lossy modes (adaptive frames code the
//! channels relative to their zero code, see `frame_qmin`): backend id 3
//! (`BACKEND_RANS_MODEL`).
//!
//! The frame's codes are `q = qmin_c + u = round(x/Δ)`. The tensor is viewed as `R` rows (the
//! frame's channels) × `C = n/R` columns, and each code is modelled as a discretised zero-mean
//! Gaussian with `σ_ij = r_i · c_j` (GUIDE §6): the row and column scales are sent as 8-bit
//! log-scale codes (`σ = 2^((a_i + b_j − 256)/8)`; code 0 flags an all-zero row or column, whose
//! values are not coded at all). `|q|` is coded with one of 73 static tables chosen by
//! `k = a_i + b_j − 224` (one table per 1/8 octave of σ), the sign with a binary model: against
//! `+` (plain), not at all (non-negative tensors such as Adam's `exp_avg_sq`: the one-sided
//! model), or against `sign(u_i · v_j)` of the top singular pair (three power iterations; the
//! signs of `u` and `v` are sent as bitmaps).
//!
//! The tables are built by a fixed routine using only IEEE-754 `+ − × ÷` and rounding (a
//! hand-written `exp`, Simpson integration, integer normalisation), so they are the same bytes
//! on every platform; [`table_checksum`] is asserted in the tests.
//!
//! # Tables
//! `σ_k = 2^((k − 32)/8)`. For `k ≤ 64` (σ ≤ 16) table `k` codes `m = |q|` directly: symbol
//! `m` for `m ≤ cap_k = min(250, ⌈7σ⌉ + 1)`, symbol `cap_k + 1` = escape. For `k > 64` the
//! value is split: `s = (k − 57) div 8` low bits of `m` are coded uniformly and `h = m >> s`
//! with bucket table `65 + (k − 8s − 57)` (σ' = σ_{k−8s} ∈ (8, 16]). Probabilities of a
//! direct table: `P(0) = H(0.5/σ)`, `P(m) = H((m+0.5)/σ) − H((m−0.5)/σ)`; of a bucket table
//! `P(h) = H((h+1)/σ') − H(h/σ')`; escape = the rest; `H(z) = P(|X| < z)`, `X ~ N(0, 1)`.
//! Each probability times 2^40, rounded, at least 1, is normalised to a total of 2^12 by
//! `rans::normalize`. After an escape, 6 uniform bits give `nb ≤ 56` and `nb` uniform bits
//! (in 8-bit pieces, low first) give `h − cap − 1`.
//!
//! # Payload layout (little-endian)
//! ```text
//! u8  kind = 1
//! u8  sign mode: 0 = sign coded against +, 1 = no sign (every code ≥ 0), 2 = against sign(u_i v_j)
//! u16 f (modes 0, 2): P(sign equals the prediction) = f / 4096, 1 ≤ f ≤ 4095
//! R × u8 row scale codes a_i, C × u8 column scale codes b_j (0 = all-zero row/column)
//! mode 2: ⌈R/8⌉ bytes of row sign bits, ⌈C/8⌉ bytes of column sign bits (bit set = negative,
//!         LSB first)
//! u32 W, then W × u16 words: words 0..8 are the four final rANS states (high half first)
//! ```
//! Kind 2 (tensors of ≥ 2^19 values): the same up to the sign bitmaps, then `u32
//! rows_per_block` (≥ 1) and, for each of the ⌈R / rows_per_block⌉ blocks of consecutive rows,
//! its own `u32 W, W × u16 words` as above (own states; coded and checked independently).
//!
//! Kinds 3 and 4 (format version ≥ 2; written by the encoder since the shape families; kinds 1–2
//! still decode; a version-1 frame with kind 3 or 4 is refused by the decoder as corrupt):
//! ```text
//! u8  kind = 3 (one stream, as kind 1) or 4 (row blocks, as kind 2)
//! u8  family: 0 = the Gaussian tables above, 1–2 = a generalised Gaussian (`family.rs`)
//! u8  sign mode: 0, 1, 2 as kind 1, or 3 = against sign(u_i v_j) with sign classes
//! u16 f (modes 0, 2) as kind 1; mode 3: 7 × u16 f_0..f_6 (each 1..=4095)
//! row scale codes, then column scale codes, each packed: u8 base (≥ 1), u8 bits (≤ 8), then
//!     ⌈count · bits / 8⌉ bytes of `bits`-bit fields, LSB first; field 0 = code 0, field k ≥ 1 =
//!     code base + k − 1 (≤ 255)
//! modes 2, 3: the row and column sign bitmaps as kind 1
//! mode 3: ⌈R/4⌉ bytes of 2-bit row classes, ⌈C/4⌉ bytes of 2-bit column classes (LSB first)
//! the rest as kind 1 (words) or kind 2 (rows_per_block, blocks)
//! ```
//! Kind 5 (format version ≥ 3; written instead of kind 4, and instead of kind 3 from
//! `plan::LANES_MIN_VALUES` values on, or from `plan::LANES_MID_VALUES` when its lanes cost
//! little, then with one block): kind 4 with 16 independent lane streams per block, see
//! `lanes.rs`.
//!
//! Kind 6 (format version ≥ 7; written instead of kind 3 for a single block of at least 16
//! columns when its 48 extra bytes are at most `plan::LANES_MAX_SHARE` of the payload's
//! estimate, and kind 5 is not chosen): kind 3 with 16 states on its one word stream, in the
//! order `shared.rs` specifies.
//!
//! In mode 3 the sign of value (i, j) is coded like mode 2 but with `f = f_{class_i + class_j}`
//! (`sign.rs`: how strongly the rank-1 term predicts the sign varies by row and column).
//! The family's 73 tables replace the Gaussian ones (same `σ_k`, caps, escapes, buckets and
//! pick; only `H` differs); the encoder chooses the family per tensor
//! (`family::choose`), and packing the scale codes saves 2–4 of their 8 bits.
//!
//! The coded values (those of non-zero rows and columns) are taken in C order; the value in
//! column `j` uses rANS state `j mod 4` for all of its symbols, in this order: the magnitude symbol, after
//! an escape the 6-bit `nb` and its pieces, the `s` low bits (8-bit pieces, low first), then the
//! sign (when `m > 0` and the mode is not 1: symbol 0 (freq f) = as predicted, 1 = opposite).
//! rANS as in backend 2: 32-bit states, L = 2^16, 16-bit renormalisation, total 2^12. The
//! decoder checks that the states return to L and that every word is consumed.

#[cfg(all(target_arch = "x86_64", alcm_avx512))]
mod agree_avx512;
#[cfg(target_arch = "x86_64")]
mod dec3_avx2;
#[cfg(all(test, target_arch = "x86_64"))]
mod dec3_avx2_tests;
#[cfg(all(target_arch = "x86_64", alcm_avx512))]
mod dec3_avx512;
mod decode;
#[cfg(target_arch = "x86_64")]
mod enc3_avx2;
#[cfg(all(target_arch = "x86_64", alcm_avx512))]
mod enc3_avx512;
mod encode;
pub mod family;
mod lane_room;
mod lanes;
#[cfg(target_arch = "x86_64")]
mod lanes_enc_avx2;
#[cfg(all(target_arch = "x86_64", alcm_avx512))]
mod lanes_enc_avx512;
mod plan;
#[cfg(target_arch = "x86_64")]
mod plan_avx2;
#[cfg(all(test, target_arch = "x86_64"))]
mod plan_avx2_tests;
#[cfg(all(target_arch = "x86_64", alcm_avx512))]
mod plan_avx512;
#[cfg(all(test, target_arch = "x86_64", alcm_avx512))]
mod plan_avx512_tests;
#[cfg(all(target_arch = "x86_64", alcm_avx512))]
mod plan_pairs;
mod row_cost;
mod shared;
#[cfg(target_arch = "x86_64")]
mod shared_dec_avx2;
#[cfg(all(target_arch = "x86_64", alcm_avx512))]
mod shared_dec_avx512;
pub mod sign;
#[cfg(target_arch = "x86_64")]
mod steps_avx2;
mod tables;
#[cfg(test)]
mod tests;

// The sub-modules share one namespace (`use super::*`): the model is one coder cut into the
// steps of its data flow, not independent components.
pub(crate) use encode::*;
pub(crate) use plan::*;
use row_cost::RowCost;
pub(crate) use tables::*;

pub use decode::{accumulate_values, decode, decode_code_bits, decode_values};
pub use encode::{encode, encode_family, encode_family_v2};
pub use family::{family_checksum, FAMILIES};
pub use tables::table_checksum;

pub(crate) use std::sync::OnceLock;

pub(crate) use crate::entropy::rans::{EncSym, L, M, SCALE_BITS};
pub(crate) use crate::error::{Error, Result};

/// The integer codes the model reads: u32, or u16 where every code of the tensor fits, which
/// halves a matrix's code buffer (compress peak memory, issue 12). The model's passes take
/// a tensor's codes row by row as u32: borrowed when they are u32, widened into
/// a row buffer when u16, so the statistics, sizes and payload are the same either way.
pub trait ModelCode: Copy + Send + Sync + 'static {
    /// The code as u32.
    fn get(self) -> u32;
    /// The codes themselves when they are u32.
    fn as_u32(codes: &[Self]) -> Option<&[u32]>;
    /// The codes themselves when they are u16 (kernels that read them without widening).
    fn as_u16(_codes: &[Self]) -> Option<&[u16]> {
        None
    }
    /// `out[k] = codes[k] as u32` (`out` at least as long as `codes`).
    fn widen(codes: &[Self], out: &mut [u32]) {
        for (o, &c) in out.iter_mut().zip(codes) {
            *o = c.get();
        }
    }
}

impl ModelCode for u32 {
    #[inline(always)]
    fn get(self) -> u32 {
        self
    }
    #[inline(always)]
    fn as_u32(codes: &[Self]) -> Option<&[u32]> {
        Some(codes)
    }
}

impl ModelCode for u16 {
    #[inline(always)]
    fn get(self) -> u32 {
        self as u32
    }
    #[inline(always)]
    fn as_u32(_: &[Self]) -> Option<&[u32]> {
        None
    }
    #[inline(always)]
    fn as_u16(codes: &[Self]) -> Option<&[u16]> {
        Some(codes)
    }
    #[inline]
    fn widen(codes: &[Self], out: &mut [u32]) {
        #[cfg(target_arch = "x86_64")]
        if lanes::have_avx2() {
            // SAFETY: the CPU supports AVX2 (checked just above).
            return unsafe { widen_u16_avx2(codes, out) };
        }
        for (o, &c) in out.iter_mut().zip(codes) {
            *o = c as u32;
        }
    }
}

/// [`ModelCode::widen`] of u16 codes, sixteen at a time with 256-bit vectors (the crate is
/// built for baseline x86-64, whose vectors are 128 bits).
///
/// # Safety
/// The CPU must support AVX2.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn widen_u16_avx2(codes: &[u16], out: &mut [u32]) {
    use std::arch::x86_64::*;
    let n = codes.len().min(out.len());
    let (src, dst) = (&codes[..n], &mut out[..n]);
    let mut k = 0;
    while k + 16 <= n {
        // SAFETY: k + 16 ≤ n: 32 bytes read from `src`, 64 written to `dst`; unaligned.
        let v = _mm256_loadu_si256(src.as_ptr().add(k) as *const __m256i);
        let lo = _mm256_cvtepu16_epi32(_mm256_castsi256_si128(v));
        let hi = _mm256_cvtepu16_epi32(_mm256_extracti128_si256::<1>(v));
        _mm256_storeu_si256(dst.as_mut_ptr().add(k) as *mut __m256i, lo);
        _mm256_storeu_si256(dst.as_mut_ptr().add(k + 8) as *mut __m256i, hi);
        k += 16;
    }
    for (o, &c) in dst[k..].iter_mut().zip(&src[k..]) {
        *o = c as u32;
    }
}

/// The row buffer [`code_row`] needs: `cols` u32 for codes that are not u32, else none.
pub(crate) fn row_buf<C: ModelCode>(cols: usize) -> Vec<u32> {
    if C::as_u32(&[]).is_some() {
        Vec::new()
    } else {
        vec![0; cols]
    }
}

/// Row `i` (`cols` codes) of `codes` as u32: the row itself, or widened into `buf` (from
/// [`row_buf`]).
#[inline]
pub(crate) fn code_row<'a, C: ModelCode>(
    codes: &'a [C],
    i: usize,
    cols: usize,
    buf: &'a mut [u32],
) -> &'a [u32] {
    let row = &codes[i * cols..(i + 1) * cols];
    match C::as_u32(row) {
        Some(r) => r,
        None => {
            let buf = &mut buf[..cols];
            C::widen(row, buf);
            buf
        }
    }
}

/// Interleaved rANS states of a block.
const LANES: usize = 4;

/// Direct tables k = 0..=64, bucket tables 65..=72.
const DIRECT: usize = 65;
const N_TABLES: usize = DIRECT + 8;
/// Largest table index before splitting: s ≤ 30.
const K_MAX: i32 = 64 + 8 * 30;
const MAX_CAP: usize = 250;
const MAX_ESC_BITS: u32 = 56;

/// Payload kind 1: one stream, Gaussian tables, raw scale codes (format version 1).
pub const KIND_RANK1: u8 = 1;
/// Kind 1 with the rows cut into independent blocks, each with its own rANS states and words.
pub const KIND_RANK1_BLOCKS: u8 = 2;
/// Sign mode 0: the sign coded against `+`.
pub const SIGN_PLAIN: u8 = 0;
/// Sign mode 1: no sign (every code ≥ 0).
pub const SIGN_NONE: u8 = 1;
/// Sign mode 2: the sign coded against sign(u_i · v_j) of the top singular pair.
pub const SIGN_SVD: u8 = 2;
/// Kind 1 with a shape family (`family.rs`) and packed scale codes.
pub const KIND_SHAPED: u8 = 3;
/// Kind 3 with independent row blocks, as kind 2.
pub const KIND_SHAPED_BLOCKS: u8 = 4;
/// Kinds 3–4 only: as [`SIGN_SVD`] with a probability per row + column class (`sign.rs`).
pub const SIGN_CLASSES: u8 = 3;
/// Kind 4 with 16 independent lane streams per block (format version ≥ 3; `lanes.rs`).
pub const KIND_LANES_BLOCKS: u8 = 5;
/// Kind 3 with 16 states sharing its one word stream (format version ≥ 7; `shared.rs`).
pub const KIND_SHARED: u8 = 6;
/// Sign probabilities of [`SIGN_CLASSES`] (class sums 0..=6).
const BINS: usize = sign::BINS;
