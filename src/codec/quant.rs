//! Quantization and pruning: float values → unsigned integer codes and back.
//!
//! Two code layouts, one decode formula `x̂ = (base_c + u · step_c) as f32` per channel `c`:
//! - **Range** (adaptive mode): each channel gets `lo_c` = its minimum and
//!   `step_c = (hi_c − lo_c) / (2^b_c − 1)` from its real-valued precision `b_c`, so
//!   `u = round((x − lo_c)/step_c) ∈ [0, 2^b_c − 1]`. The step follows the channel's spread and
//!   its bit budget (never its mean, GUIDE §2): one more bit halves the error bound `step_c/2`.
//! - **Uniform** (error-bounded modes): one step `Δ` for the tensor, `q = round(x/Δ)`, and per
//!   channel the smallest code `qmin_c`, so `u = q − qmin_c`. A single step is what minimises the
//!   size for a given total squared error (reverse water-filling), and zero stays exactly zero.
//!
//! The encoder reconstructs through [`dequantize`], the very function the decoder runs, so every
//! error it measures or guarantees is the error the user will see.

use std::mem::MaybeUninit;

use crate::error::{Error, Result};

pub use crate::format::params::ChannelParams;

/// Reconstructs values from codes: `out[i] = (base_c + codes[i]·step_c) as f32`, channel by
/// channel. `codes.len()` must equal `out.len()` and be a multiple of the channel count.
pub fn dequantize(params: &ChannelParams, codes: &[u32], out: &mut [f32]) {
    dequantize_codes(params, codes, out)
}

/// [`dequantize`] of codes of any [`Code`] type (the same values).
pub(crate) fn dequantize_codes<C: Code>(params: &ChannelParams, codes: &[C], out: &mut [f32]) {
    let channels = params.channels();
    if channels == 0 || out.is_empty() {
        return;
    }
    let per = out.len() / channels;
    for (c, (oc, uc)) in out
        .chunks_exact_mut(per)
        .zip(codes.chunks_exact(per))
        .enumerate()
    {
        let (base, step) = params.affine(c);
        match params {
            // Uniform codes are exact integers q = qmin + u: multiply once so 0 decodes to 0.
            ChannelParams::Uniform { qmin, .. } => {
                let q0 = qmin[c];
                for (o, &u) in oc.iter_mut().zip(uc) {
                    *o = ((q0 + u.get() as i64) as f64 * step) as f32;
                }
            }
            ChannelParams::Range { .. } => {
                // Saturate: the top code of a channel reaching f32::MAX may land a rounding of
                // the stored step beyond it, which `as f32` would turn into +∞ (the value it
                // stands for is ≤ f32::MAX, so saturating keeps it within step/2).
                let m = f32::MAX as f64;
                for (o, &u) in oc.iter_mut().zip(uc) {
                    *o = (base + u.get() as f64 * step).clamp(-m, m) as f32;
                }
            }
        }
    }
}

/// The integer type of the encoder's code buffer: `u32`, or `u16` where every code of the
/// tensor fits (half the memory; compress peak memory, issue 12). Values are the same codes.
pub(crate) trait Code:
    crate::util::par::ZeroBits + crate::entropy::model::ModelCode
{
    /// The largest code the type holds.
    const MAX: u32;
    /// `v` truncated to the type (mod 2^bits).
    fn wrap(v: u32) -> Self;
    /// [`offset_codes`] into this type.
    fn offset(q: &[f64], lo: f64, u: &mut [MaybeUninit<Self>]);
    /// The largest of `c`, 0 when empty (the frame's code width).
    fn max_code(c: &[Self]) -> u32;
}

impl Code for u32 {
    const MAX: u32 = u32::MAX;
    #[inline(always)]
    fn wrap(v: u32) -> Self {
        v
    }
    fn offset(q: &[f64], lo: f64, u: &mut [MaybeUninit<Self>]) {
        offset_codes(q, lo, u)
    }
    fn max_code(c: &[Self]) -> u32 {
        max_u32(c)
    }
}

impl Code for u16 {
    const MAX: u32 = u16::MAX as u32;
    #[inline(always)]
    fn wrap(v: u32) -> Self {
        v as u16
    }
    fn offset(q: &[f64], lo: f64, u: &mut [MaybeUninit<Self>]) {
        // As `offset_codes_generic`: the low bits of (q − lo) + 2^52 are q − lo (< 2^16 here).
        for (o, &v) in u.iter_mut().zip(q) {
            o.write(((v - lo) + TWO52).to_bits() as u16);
        }
    }
    fn max_code(c: &[Self]) -> u32 {
        max_u16(c) as u32
    }
}

/// Largest code of a range-quantized channel with real-valued precision `bits`.
pub fn range_levels(bits: f64) -> f64 {
    (crate::util::detmath::det_exp2(bits) - 1.0).max(1.0)
}

/// Range-quantizes one channel (values already pruned) with precision `bits`: returns
/// `(lo, step)` and writes the codes.
pub fn quantize_range_channel(values: &[f32], bits: f64, codes: &mut [u32]) -> (f32, f32) {
    quantize_range_pruned(values, -1.0, bits, codes)
}

/// [`quantize_range_channel`] of the channel pruned at `prune_at` (|x| ≤ `prune_at` counts as
/// 0; a negative threshold prunes nothing), applied as the values are read: no pruned copy of
/// the channel (a vector is one channel as long as the tensor: compress peak memory).
pub(crate) fn quantize_range_pruned<C: Code>(
    values: &[f32],
    prune_at: f32,
    bits: f64,
    codes: &mut [C],
) -> (f32, f32) {
    let pruned = |v: f32| if v.abs() <= prune_at { 0.0 } else { v };
    let scalar_range = || {
        let (mut lo, mut hi) = (f32::INFINITY, f32::NEG_INFINITY);
        for &v in values {
            let v = pruned(v);
            lo = lo.min(v);
            hi = hi.max(v);
        }
        (lo, hi)
    };
    #[cfg(target_arch = "x86_64")]
    let avx2 = std::is_x86_feature_detected!("avx2");
    #[cfg(not(target_arch = "x86_64"))]
    let avx2 = false;
    let (lo, hi) = match avx2 {
        #[cfg(target_arch = "x86_64")]
        true => {
            // SAFETY: the CPU supports AVX2 (checked above).
            let (lo, hi) = unsafe { super::quant_avx2::pruned_range(values, prune_at) };
            // ±0.0 compare equal: which one a minimum keeps depends on the order of the
            // comparisons; the scalar loop's order decides. Only without pruning: pruning
            // turns every zero, −0.0 included, into +0.0 (|−0| ≤ prune_at), so a zero
            // result is +0.0 in any order (half the rows of a ReLU layer's gradient are of
            // one sign and would otherwise be read twice).
            if (lo == 0.0 || hi == 0.0) && (prune_at < 0.0 || prune_at.is_nan()) {
                scalar_range()
            } else {
                (lo, hi)
            }
        }
        _ => scalar_range(),
    };
    if values.is_empty() || hi <= lo {
        codes.iter_mut().for_each(|u| *u = C::wrap(0));
        return (if values.is_empty() { 0.0 } else { lo }, 0.0);
    }
    let levels = range_levels(bits);
    let range = hi as f64 - lo as f64;
    // A subnormal step loses relative precision when stored as f32 (it may even round to 0):
    // keep at least the smallest positive f32, and let the top code follow the stored step
    // rather than `levels`, so every value stays within step/2 (for normal steps the two
    // agree and nothing changes).
    let step = ((range / levels) as f32).max(f32::from_bits(1));
    if !step.is_finite() {
        // A range beyond f32::MAX at < 1.6 bits: the step is not representable. Every value
        // decodes to lo (documented in docs/SECURITY.md; unreachable at ≥ 2 bits).
        codes.iter_mut().for_each(|u| *u = C::wrap(0));
        return (lo, 0.0);
    }
    let inv = 1.0 / step as f64;
    let max_code = levels.round().max((range * inv).round());
    #[cfg(target_arch = "x86_64")]
    if avx2 && max_code < 2_147_483_648.0 && codes.len() == values.len() {
        // SAFETY: the CPU supports AVX2; the codes fit i32; `codes` is as long as `values`.
        unsafe {
            super::quant_avx2::range_codes(values, prune_at, lo as f64, inv, max_code, codes)
        };
        return (lo, step);
    }
    for (u, &v) in codes.iter_mut().zip(values) {
        // `round_away_f64`, not `f64::round`: the same value, but baseline x86-64 has no
        // rounding instruction, and `round` is a libm call per value.
        let q = round_away_f64((pruned(v) as f64 - lo as f64) * inv).clamp(0.0, max_code);
        *u = C::wrap(q as u32);
    }
    (lo, step)
}

/// Uniform quantization code of one value: `round(x/Δ)` as an integer, or `None` when it does
/// not fit the 53-bit exact-integer range of f64 (the caller stores such a value losslessly).
#[inline]
pub fn uniform_code(x: f32, inv_step: f64) -> Option<i64> {
    let y = x as f64 * inv_step;
    // |round(y)| < 9e15 ⇔ |y| < 9e15 (9e15 is an integer); NaN fails the test too.
    if y.abs() < 9.0e15 {
        Some(round_to_i64(y))
    } else {
        None
    }
}

/// `y.round() as i64` (half away from zero) for `|y| < 2^62`, without branches: adding the
/// largest double below ½ with the sign of `y` and truncating gives the same integer for every
/// such `y` (the addition rounds to the next integer exactly when the fraction is ≥ ½; from
/// 2^52 on, `y` is an integer and the addition leaves it or its truncation unchanged).
/// Basic IEEE operations only; tested against `f64::round` below.
#[inline(always)]
pub fn round_to_i64(y: f64) -> i64 {
    (y + 0.499_999_999_999_999_94f64.copysign(y)) as i64
}

/// 2^52: from here on every f64 is an integer.
pub(super) const TWO52: f64 = 4_503_599_627_370_496.0;

/// `y.round()` (half away from zero) for `|y| < 2^53`, with additions, comparisons and selects
/// only, so that loops over it vectorise (baseline x86-64 has no packed truncation):
/// `(t + 2^52) − 2^52` rounds `t = |y| < 2^52` to the nearest integer, ties to even, exactly;
/// a tie that went down (`t − r = ½`, exact) goes up instead; from 2^52 on `t` is an integer.
/// Basic IEEE operations only; tested against `f64::round` below.
#[inline(always)]
pub fn round_away_f64(y: f64) -> f64 {
    let t = y.abs();
    let r = (t + TWO52) - TWO52;
    let r = if t - r == 0.5 { r + 1.0 } else { r };
    let r = if t >= TWO52 { t } else { r };
    r.copysign(y)
}

/// See [`uniform_codes_f64`]; vectorisable (see [`round_away_f64`]).
#[inline(always)]
fn uniform_codes_f64_generic(xs: &[f32], inv_step: f64, q: &mut [f64]) -> (f64, f64, f64) {
    let (mut lo, mut hi, mut big) = ([f64::INFINITY; 4], [f64::NEG_INFINITY; 4], [0.0f64; 4]);
    let mut cx = xs.chunks_exact(4);
    let mut cq = q.chunks_exact_mut(4);
    for (c, o) in (&mut cx).zip(&mut cq) {
        for k in 0..4 {
            let y = c[k] as f64 * inv_step;
            // |y| < 9e15 is checked by the caller on `big`; NaN never reaches here (cleaned).
            let r = round_away_f64(y);
            o[k] = r;
            lo[k] = if r < lo[k] { r } else { lo[k] };
            hi[k] = if r > hi[k] { r } else { hi[k] };
            // NaN (0 · ∞ when 1/Δ overflows) propagates into `big`, which the caller rejects.
            let a = y.abs();
            big[k] = if a <= big[k] { big[k] } else { a };
        }
    }
    uniform_codes_tail(cx.remainder(), inv_step, cq.into_remainder(), lo, hi, big)
}

/// The last `xs.len() < 4` values of [`uniform_codes_f64`] on lane 0, then the reduction of
/// the four lanes' `(lo, hi, big)`.
#[inline(always)]
pub(super) fn uniform_codes_tail(
    xs: &[f32],
    inv_step: f64,
    q: &mut [f64],
    mut lo: [f64; 4],
    mut hi: [f64; 4],
    mut big: [f64; 4],
) -> (f64, f64, f64) {
    for (&x, o) in xs.iter().zip(q) {
        let y = x as f64 * inv_step;
        let r = round_away_f64(y);
        *o = r;
        lo[0] = lo[0].min(r);
        hi[0] = hi[0].max(r);
        let a = y.abs();
        big[0] = if a <= big[0] { big[0] } else { a };
    }
    let m = |a: [f64; 4], f: fn(f64, f64) -> f64| f(f(a[0], a[1]), f(a[2], a[3]));
    let nan_max = |a: f64, b: f64| if a <= b { b } else { a };
    (m(lo, f64::min), m(hi, f64::max), m(big, nan_max))
}

/// The low 32 bits of `(q − lo) + 2^52` are the integer `q − lo < 2^32` (vectorisable, unlike
/// an f64 → u32 conversion).
#[inline(always)]
fn offset_codes_generic(q: &[f64], lo: f64, u: &mut [MaybeUninit<u32>]) {
    for (o, &v) in u.iter_mut().zip(q) {
        o.write(((v - lo) + TWO52).to_bits() as u32);
    }
}

/// Defines `pub fn $name` running `$generic` compiled with AVX2 enabled when the CPU has it.
/// Only the instruction selection changes (wider vectors of the same IEEE operations in the
/// same order; Rust never fuses a multiply and an add), so the results are identical.
macro_rules! wide_simd {
    ($(#[$doc:meta])* $name:ident => $generic:ident ($($a:ident : $t:ty),*) -> $r:ty) => {
        $(#[$doc])*
        pub fn $name($($a: $t),*) -> $r {
            #[cfg(target_arch = "x86_64")]
            {
                #[target_feature(enable = "avx2")]
                unsafe fn avx2($($a: $t),*) -> $r {
                    $generic($($a),*)
                }
                if std::is_x86_feature_detected!("avx2") {
                    // SAFETY: the CPU supports AVX2 (checked just above).
                    return unsafe { avx2($($a),*) };
                }
            }
            $generic($($a),*)
        }
    };
}

/// Uniform codes of one channel: `q = round(x/Δ)` (as f64, exact) into `q`; returns the
/// smallest and largest code and the largest `|x/Δ|` (NaN if any is NaN; the caller rejects
/// anything but `< 9e15`, the exact-integer limit of [`uniform_code`]). Explicit AVX2 vectors
/// when the CPU has them (`quant_avx2.rs`, the same results bit for bit).
pub fn uniform_codes_f64(xs: &[f32], inv_step: f64, q: &mut [f64]) -> (f64, f64, f64) {
    #[cfg(target_arch = "x86_64")]
    if std::is_x86_feature_detected!("avx2") {
        // SAFETY: the CPU supports AVX2 (checked just above).
        return unsafe { super::quant_avx2::uniform_codes_f64(xs, inv_step, q) };
    }
    uniform_codes_f64_generic(xs, inv_step, q)
}

wide_simd! {
    /// `u = q − lo` as u32 for integer-valued f64 with `0 ≤ q − lo < 2^32`.
    offset_codes => offset_codes_generic(q: &[f64], lo: f64, u: &mut [MaybeUninit<u32>]) -> ()
}

fn max_u32_generic(c: &[u32]) -> u32 {
    c.iter().fold(0, |m, &u| m.max(u))
}

fn max_u16_generic(c: &[u16]) -> u16 {
    c.iter().fold(0, |m, &u| m.max(u))
}

wide_simd! {
    /// The largest of `c`, 0 when empty (the frame's code width). SSE2 has no unsigned 32-bit
    /// maximum, so the generic loop stays scalar (≈ 3 instructions a code, 2.5 % of
    /// compressing a 32 768-value tensor); with AVX2 it takes eight codes at a time.
    max_u32 => max_u32_generic(c: &[u32]) -> u32
}

wide_simd! {
    /// [`max_u32`] of u16 codes: SSE2's only 16-bit maximum is signed, so without AVX2 the
    /// fold stays scalar (≈ 2.2 instructions a code, 2 % of compressing the MiniLM key weight).
    max_u16 => max_u16_generic(c: &[u16]) -> u16
}

/// `(x − x̂)²` of one value: x̂ = `(q·Δ) as f32`, `q` the code of `x` (`inv = 1/step`).
#[inline(always)]
pub(super) fn error_sq_one(x: f32, inv: f64, step: f64) -> f64 {
    let q = round_away_f64(x as f64 * inv);
    let d = x as f64 - ((q * step) as f32) as f64;
    d * d
}

/// Σ (x − x̂)² over `block` with step `step` (`inv = 1/step`), x̂ the decoder's reconstruction
/// `(q·Δ) as f32`, in four partial sums (the lanes of the vectorised loop) added in a fixed
/// order. Every `|x·inv|` must be < 9e15 (the caller checks the largest).
#[inline(always)]
fn error_sq_block_generic(block: &[f32], inv: f64, step: f64) -> f64 {
    let e = |x: f32| error_sq_one(x, inv, step);
    let mut acc = [0.0f64; 4];
    let chunks = block.chunks_exact(4);
    let rest = chunks.remainder();
    for c in chunks {
        for k in 0..4 {
            acc[k] += e(c[k]);
        }
    }
    for (k, &x) in rest.iter().enumerate() {
        acc[k] += e(x);
    }
    (acc[0] + acc[1]) + (acc[2] + acc[3])
}

/// See `error_sq_block_generic`: explicit AVX2 vectors when the CPU has them
/// (`quant_avx2.rs`, the same sum bit for bit), else the scalar loop.
pub fn error_sq_block(block: &[f32], inv: f64, step: f64) -> f64 {
    #[cfg(target_arch = "x86_64")]
    if std::is_x86_feature_detected!("avx2") {
        // SAFETY: the CPU supports AVX2 (checked just above).
        return unsafe { super::quant_avx2::error_sq_block(block, inv, step) };
    }
    error_sq_block_generic(block, inv, step)
}

/// `(`[`error_sq_block`]`(a), `[`error_sq_block`]`(b))`, the two sums made side by side where
/// the CPU has AVX-512 (`quant_avx512::error_sq_pair`: two independent chains of additions),
/// each the same to the bit.
pub fn error_sq_pair(a: &[f32], b: &[f32], inv: f64, step: f64) -> (f64, f64) {
    #[cfg(all(target_arch = "x86_64", alcm_avx512))]
    if super::quant_avx512::available() {
        // SAFETY: the CPU supports AVX-512F (checked just above).
        return unsafe { super::quant_avx512::error_sq_pair(a, b, inv, step) };
    }
    (error_sq_block(a, inv, step), error_sq_block(b, inv, step))
}

/// `(Σ x², number of non-zero values, max |x|)` of finite values: four partial sums (the
/// remainder first), per-lane counts and maxima (compare and select, so the loop vectorises;
/// the maximum does not depend on the order).
#[inline(always)]
fn norm_stats_block_generic(block: &[f32]) -> (f64, usize, f32) {
    let (mut acc, mut nonzero, mut max_abs) = ([0.0f64; 4], [0u64; 4], [0.0f32; 4]);
    let chunks = block.chunks_exact(4);
    for (k, &x) in chunks.remainder().iter().enumerate() {
        acc[k] += x as f64 * x as f64;
        nonzero[k] += (x != 0.0) as u64;
        max_abs[k] = if x.abs() > max_abs[k] {
            x.abs()
        } else {
            max_abs[k]
        };
    }
    for c in chunks {
        for k in 0..4 {
            acc[k] += c[k] as f64 * c[k] as f64;
            nonzero[k] += (c[k] != 0.0) as u64;
            max_abs[k] = if c[k].abs() > max_abs[k] {
                c[k].abs()
            } else {
                max_abs[k]
            };
        }
    }
    let m = max_abs[0].max(max_abs[1]).max(max_abs[2].max(max_abs[3]));
    (
        (acc[0] + acc[1]) + (acc[2] + acc[3]),
        nonzero.iter().sum::<u64>() as usize,
        m,
    )
}

/// See `norm_stats_block_generic`: explicit AVX2 vectors when the CPU has them
/// (`quant_avx2.rs`, the same results bit for bit: ≈ 1.5 instructions a value instead of the
/// auto-vectorised loop's 9.5), else the scalar loop.
pub fn norm_stats_block(block: &[f32]) -> (f64, usize, f32) {
    #[cfg(target_arch = "x86_64")]
    if std::is_x86_feature_detected!("avx2") {
        // SAFETY: the CPU supports AVX2 (checked just above).
        return unsafe { super::quant_avx2::norm_stats_block(block) };
    }
    norm_stats_block_generic(block)
}

/// `[`[`norm_stats_block`]`(a), `[`norm_stats_block`]`(b)]`, the two made side by side where
/// the CPU has AVX2 (`quant_avx2::norm_stats_pair`: two independent chains of additions), each
/// the same to the bit.
pub fn norm_stats_pair(a: &[f32], b: &[f32]) -> [(f64, usize, f32); 2] {
    #[cfg(target_arch = "x86_64")]
    if std::is_x86_feature_detected!("avx2") {
        // SAFETY: the CPU supports AVX2 (checked just above).
        return unsafe { super::quant_avx2::norm_stats_pair(a, b) };
    }
    [norm_stats_block_generic(a), norm_stats_block_generic(b)]
}

/// Linear-interpolated percentile (numpy's default method) of `values`, `p` in [0, 100].
/// Reorders `values`. Returns 0 for an empty slice.
pub fn percentile(values: &mut [f32], p: f64) -> f32 {
    let n = values.len();
    if n == 0 {
        return 0.0;
    }
    let (k, frac) = linear_rank(n, p);
    let (_, &mut a, rest) = values.select_nth_unstable_by(k, |x, y| x.total_cmp(y));
    if frac == 0.0 || rest.is_empty() {
        return a;
    }
    // The next order statistic is the minimum of the upper part.
    let b = rest.iter().copied().fold(f32::INFINITY, f32::min);
    interpolate(a, b, frac)
}

/// numpy's "linear" percentile `p` of `n` > 0 values: the rank k of the lower order statistic
/// (from 0) and the fraction of the way to the next one.
fn linear_rank(n: usize, p: f64) -> (usize, f64) {
    let pos = (p.clamp(0.0, 100.0) / 100.0) * (n - 1) as f64;
    let k = pos.floor() as usize;
    (k, pos - k as f64)
}

/// `a + frac·(b − a)` in f64, as f32.
fn interpolate(a: f32, b: f32, frac: f64) -> f32 {
    (a as f64 + frac * (b as f64 - a as f64)) as f32
}

/// Outcome of the pruning rule.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PruneDecision {
    /// Values with |x| ≤ threshold become zero (a threshold < 0 prunes nothing).
    pub magnitude_threshold: f32,
    /// Number of non-zero values that pruning sets to zero.
    pub pruned: usize,
}

/// The prototype's pruning rule (GUIDE §1), over the **non-zero** magnitudes: t = the
/// `threshold·100`-th percentile of |x| (x ≠ 0); prune |x| ≤ t; if that prunes more than
/// `max_drop_ratio` of the non-zero values, t = the `max_drop_ratio·100`-th percentile instead.
///
/// Exact zeros are left out of the percentile on purpose: real gradients hold 21–43 % exact
/// zeros (dead ReLU units, constant inputs), and over all values the rule would give t = 0 and
/// prune nothing at any threshold the scheduler can reach.
pub fn prune_decision(data: &[f32], threshold: f64, max_drop_ratio: f64) -> Result<PruneDecision> {
    if !(threshold > 0.0 && threshold < 1.0 && (0.0..1.0).contains(&max_drop_ratio)) {
        return Err(Error::invalid_argument(format!(
            "pruning threshold {threshold} must be in (0, 1) and max_drop_ratio {max_drop_ratio} in [0, 1)"
        )));
    }
    let ranks = MagnitudeRanks::new(data);
    let nz = ranks.nz;
    if nz == 0 {
        return Ok(PruneDecision {
            magnitude_threshold: -1.0,
            pruned: 0,
        });
    }
    let (mut t, mut pruned) = ranks.percentile(threshold * 100.0);
    if pruned as f64 > max_drop_ratio * nz as f64 {
        (t, pruned) = ranks.percentile(max_drop_ratio * 100.0);
        if pruned as f64 > max_drop_ratio * nz as f64 {
            // Ties at the percentile (many equal magnitudes): prune strictly below it instead,
            // so the max drop ratio always holds.
            let below = |m: &u32| *m < t.to_bits();
            let mags = data.iter().filter_map(|v| kept_magnitude(*v));
            return Ok(PruneDecision {
                magnitude_threshold: mags
                    .clone()
                    .filter(below)
                    .max()
                    .map_or(-1.0, f32::from_bits),
                pruned: mags.filter(below).count(),
            });
        }
    }
    Ok(PruneDecision {
        magnitude_threshold: t,
        pruned,
    })
}

/// The bits of |v| for a finite non-zero `v` (the values the pruning rule ranks), else `None`.
/// Positive finite floats order as their bit patterns do, so ranks need integer compares only.
#[inline(always)]
fn kept_magnitude(v: f32) -> Option<u32> {
    let m = v.to_bits() & 0x7fff_ffff;
    (m != 0 && m < 0x7f80_0000).then_some(m)
}

/// Order statistics of the magnitudes `kept_magnitude` keeps from `data`, without their copy
/// or a quickselect: a histogram of their top 11 bits (one pass), then per query only the bin
/// that holds the rank (a bin is an eighth of a binade: few values), narrowed 11 and 10 bits at
/// a time. The passes are branch-free (the tensor's zeros and signs would mispredict).
struct MagnitudeRanks<'a> {
    data: &'a [f32],
    /// Bins 0..=1019 hold the kept magnitudes (below 0x7f80_0000); bin 1024, everything else.
    hist: Vec<usize>,
    nz: usize,
}

/// Where `MagnitudeRanks::new` counts the zeros and non-finite values.
pub(super) const REJECT_BIN: usize = 1024;

/// `MagnitudeRanks`' bin of `v`: the top 11 bits of a kept magnitude, else [`REJECT_BIN`].
#[inline(always)]
pub(super) fn magnitude_bin(v: f32) -> usize {
    let m = v.to_bits() & 0x7fff_ffff;
    let kept = m.wrapping_sub(1) < 0x7f7f_ffff;
    if kept {
        (m >> 21) as usize
    } else {
        REJECT_BIN
    }
}

impl<'a> MagnitudeRanks<'a> {
    fn new(data: &'a [f32]) -> Self {
        let mut hist = vec![0usize; REJECT_BIN + 1];
        #[cfg(target_arch = "x86_64")]
        // Below a few thousand values the sub-histograms' 16 KiB would cost more than they save.
        let done = if data.len() >= 4096 && std::is_x86_feature_detected!("avx2") {
            // SAFETY: the CPU supports AVX2 (checked just above).
            unsafe { super::quant_avx2::magnitude_bins(data, &mut hist) }
        } else {
            0
        };
        #[cfg(not(target_arch = "x86_64"))]
        let done = 0;
        for v in &data[done..] {
            hist[magnitude_bin(*v)] += 1;
        }
        let nz = hist[..REJECT_BIN].iter().sum();
        MagnitudeRanks { data, hist, nz }
    }

    /// The magnitudes of top bits `bin` (< 1020: zeros and non-finite values are in no such
    /// bin but 0, where `m != 0` keeps the zeros out).
    fn bin(&self, bin: u32) -> Vec<u32> {
        let want = self.hist[bin as usize];
        #[cfg(target_arch = "x86_64")]
        if std::is_x86_feature_detected!("avx2") {
            let mut v = Vec::with_capacity(want);
            // SAFETY: the CPU supports AVX2 (checked just above).
            unsafe { super::quant_avx2::magnitudes_in_bin(self.data, bin, &mut v) };
            return v;
        }
        magnitudes_in_bin_generic(self.data, bin, want)
    }

    /// Magnitudes in the bins below `bin`.
    fn below(&self, bin: u32) -> usize {
        self.hist[..bin as usize].iter().sum()
    }

    /// [`percentile`] of the magnitudes (`nz` > 0; the same rank and interpolation), and how
    /// many are ≤ it.
    fn percentile(&self, p: f64) -> (f32, usize) {
        let nz = self.nz;
        let (k, frac) = linear_rank(nz, p);
        let mut kin = k;
        let bin = pick_bin(&self.hist, &mut kin);
        let cand = self.bin(bin);
        let a = kth_in(cand.clone(), kin);
        let below = self.below(bin);
        let count_le = |t: u32| below + cand.iter().filter(|&&m| m <= t).count();
        if frac == 0.0 || k + 1 >= nz {
            return (f32::from_bits(a), count_le(a));
        }
        // The (k+1)-th smallest: `a` again when more than k + 1 magnitudes are ≤ a, else the
        // smallest above it (in this bin, or the first one of the next non-empty bin).
        let b = if count_le(a) > k + 1 {
            a
        } else if let Some(m) = cand.iter().copied().filter(|&m| m > a).min() {
            m
        } else {
            let next = (bin + 1..REJECT_BIN as u32)
                .find(|&j| self.hist[j as usize] > 0)
                .unwrap_or(bin);
            self.bin(next).into_iter().min().unwrap_or(a)
        };
        let t = interpolate(f32::from_bits(a), f32::from_bits(b), frac);
        // a ≤ t ≤ b: while t is in this bin its count is here; else t is in b's bin.
        let tb = t.to_bits();
        let n = if tb >> 21 == bin {
            count_le(tb)
        } else {
            self.below(tb >> 21) + self.bin(tb >> 21).iter().filter(|&&m| m <= tb).count()
        };
        (t, n)
    }
}

/// The non-zero magnitudes (bits of `|x|`) of `data` whose top 11 bits are `bin`, in data
/// order; `want` is their count (the histogram's). Branch-free: a store every value, the
/// length advanced where it matches (the tensor's signs and zeros would mispredict a branch).
pub(super) fn magnitudes_in_bin_generic(data: &[f32], bin: u32, want: usize) -> Vec<u32> {
    let mut v = vec![0u32; want + 1];
    let mut len = 0;
    for x in data {
        let m = x.to_bits() & 0x7fff_ffff;
        // len ≤ want: exactly `want` magnitudes match.
        v[len] = m;
        len += (m >> 21 == bin && m != 0) as usize;
    }
    v.truncate(len);
    v
}

/// Up to this many candidates [`kth_in`] sorts them.
const KTH_SORT_MAX: usize = 512;

/// The k-th smallest (from 0) of `cand` (k below its length), all sharing their top 11 bits:
/// by the next 11 bits, then the last 10, each by histogram.
fn kth_in(mut cand: Vec<u32>, mut k: usize) -> u32 {
    // Few candidates (every bin of a small tensor): a sort costs less than clearing and
    // scanning two 2048-bin histograms (40 k instructions a call, 6 % of compressing a
    // 1280-value gradient).
    if cand.len() <= KTH_SORT_MAX {
        cand.sort_unstable();
        return cand[k];
    }
    let mut hist = vec![0usize; 2048];
    for (shift, mask) in [(10u32, 0x7ffu32), (0, 0x3ff)] {
        hist.iter_mut().for_each(|h| *h = 0);
        for &m in &cand {
            hist[((m >> shift) & mask) as usize] += 1;
        }
        let bin = pick_bin(&hist, &mut k);
        cand.retain(|m| (m >> shift) & mask == bin);
    }
    // Every candidate left has the same 32 bits.
    cand[0]
}

/// The bin holding rank `k` of `hist`; `k` becomes the rank within that bin.
fn pick_bin(hist: &[usize], k: &mut usize) -> u32 {
    let mut b = 0;
    while *k >= hist[b] {
        *k -= hist[b];
        b += 1;
    }
    b as u32
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn max_u32_is_the_largest_code() {
        assert_eq!(max_u32(&[]), 0);
        // Every length up to two vectors and a tail; the maximum at every position.
        for n in 1..40usize {
            for at in 0..n {
                for top in [1u32, 0x8000_0000, u32::MAX] {
                    let mut c: Vec<u32> = (0..n as u32).map(|i| i % 3).collect();
                    c[at] = top;
                    assert_eq!(max_u32(&c), *c.iter().max().unwrap(), "{n} codes");
                }
                for top in [1u16, 0x8000, u16::MAX] {
                    let mut c: Vec<u16> = (0..n as u16).map(|i| i % 3).collect();
                    c[at] = top;
                    let want = *c.iter().max().unwrap();
                    assert_eq!(max_u16(&c), want, "{n} u16 codes");
                    assert_eq!(<u16 as Code>::max_code(&c), want as u32);
                }
            }
        }
        assert_eq!(max_u16(&[]), 0);
    }

    #[test]
    fn round_to_i64_equals_round() {
        let mut s = 7u64;
        let mut specials = vec![
            0.0,
            -0.0,
            0.5,
            -0.5,
            1.5,
            -1.5,
            2.5,
            0.49999999999999994,
            -0.49999999999999994,
            4503599627370495.5,
            -4503599627370495.5,
            4503599627370496.0,
            9.0e15,
            1e300,
            -1e300,
            f64::MIN_POSITIVE,
            f64::INFINITY,
            f64::NEG_INFINITY,
            1.0 - f64::EPSILON / 2.0,
            0.5 + f64::EPSILON,
        ];
        for _ in 0..200_000 {
            s = s
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            let bits = s ^ (s >> 29);
            let v = f64::from_bits(bits);
            if v.is_finite() {
                specials.push(v);
            }
            let scale = [1.0, 10.0, 1e3, 1e6, 1e12, 1e16][(s >> 60) as usize % 6];
            specials.push(((s >> 11) as f64 / (1u64 << 53) as f64 - 0.5) * scale);
            specials.push((s >> 40) as f64 + 0.5);
        }
        for v in specials {
            if v.abs() < 4.6e18 {
                assert_eq!(round_to_i64(v), v.round() as i64, "{v:e}");
                let (n, h) = (v.floor(), v.floor() + 0.5);
                for w in [
                    n,
                    h,
                    f64::from_bits(h.to_bits() + 1),
                    f64::from_bits(h.to_bits().wrapping_sub(1)),
                ] {
                    if w.abs() < 4.6e18 {
                        assert_eq!(round_to_i64(w), w.round() as i64, "{w:e}");
                    }
                }
            }
        }
    }

    #[test]
    fn vectorisable_rounding_and_offsets_are_exact() {
        let mut s = 5u64;
        let mut ys = vec![
            0.0,
            -0.0,
            0.5,
            -0.5,
            1.5,
            2.5,
            -2.5,
            0.49999999999999994,
            TWO52 - 0.5,
            -(TWO52 - 0.5),
            TWO52,
            TWO52 + 1.0,
            8.99e15,
            -8.99e15,
            1e-300,
        ];
        for _ in 0..200_000 {
            s = s
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            let scale = [1.0, 10.0, 1e3, 1e6, 1e12, 8e15][(s >> 60) as usize % 6];
            let y = ((s >> 11) as f64 / (1u64 << 53) as f64 - 0.5) * 2.0 * scale;
            ys.push(y);
            ys.push(y.floor() + 0.5);
            ys.push(f64::from_bits((y.floor() + 0.5).to_bits() + 1));
        }
        for &y in &ys {
            assert_eq!(round_away_f64(y), y.round(), "{y:e}");
        }
        // The block kernel against the scalar code path, with a remainder of 3.
        let xs: Vec<f32> = (0..1003)
            .map(|i| ((i as f32) * 0.731).sin() * 37.0)
            .collect();
        let inv = 1.0 / 0.0173;
        let mut q = vec![0f64; xs.len()];
        let (lo, hi, big) = uniform_codes_f64(&xs, inv, &mut q);
        let qi: Vec<i64> = xs.iter().map(|&x| uniform_code(x, inv).unwrap()).collect();
        assert!(q.iter().zip(&qi).all(|(&a, &b)| a == b as f64));
        assert_eq!(
            (lo, hi),
            (
                *qi.iter().min().unwrap() as f64,
                *qi.iter().max().unwrap() as f64
            )
        );
        assert_eq!(
            big,
            xs.iter()
                .map(|&x| (x as f64 * inv).abs())
                .fold(0.0, f64::max)
        );
        // SAFETY: `offset_codes` only writes codes.
        let u = unsafe { crate::util::par::written(xs.len(), |u| offset_codes(&q, lo, u)) };
        assert!(u.iter().zip(&qi).all(|(&a, &b)| a as i64 == b - lo as i64));
        let big_q = [lo, lo + 4_294_967_295.0];
        // SAFETY: as above.
        let u = unsafe { crate::util::par::written(2, |u| offset_codes(&big_q, lo, u)) };
        assert_eq!(u, [0, u32::MAX]);
    }

    /// The dispatched kernels (explicit AVX2 where the CPU has it) give the scalar loops'
    /// results bit for bit: ties of the rounding, codes ≥ 2^52, signed zeros, every remainder
    /// length, and a NaN `|x/Δ|` (1/Δ overflowed) kept or dropped by the same selects.
    #[test]
    fn simd_kernels_match_the_scalar_loops_bit_for_bit() {
        let step = 0.25f64;
        let mut xs: Vec<f32> = vec![0.0, -0.0, 0.125, -0.125, 0.375, -0.375, 1e-40, -1e-40];
        let mut s = 11u64;
        for _ in 0..4000 {
            s = s
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            let k = ((s >> 40) % 2001) as f32 - 1000.0;
            // Exact ties (k + ½)·Δ, their neighbours, and values of every magnitude.
            xs.push((k + 0.5) * step as f32);
            xs.push(f32::from_bits(((k + 0.5) * step as f32).to_bits() + 1));
            let e = ((s >> 20) % 40) as i32 - 20;
            xs.push(((s >> 11) as f32 / (1u64 << 53) as f32 - 0.5) * 2f32.powi(e));
        }
        for len in (0..12).chain([xs.len() - 1, xs.len()]) {
            let b = &xs[..len];
            let expect = error_sq_block_generic(b, 1.0 / step, step);
            assert_eq!(
                error_sq_block(b, 1.0 / step, step).to_bits(),
                expect.to_bits()
            );
            // And against the sum written out: lane k takes values 4m + k, then the remainder.
            let mut lanes = [0f64; 4];
            let body = len / 4 * 4;
            for (i, &x) in b[..body].iter().enumerate() {
                let q = uniform_code(x, 1.0 / step).unwrap() as f64;
                let d = x as f64 - ((q * step) as f32) as f64;
                lanes[i % 4] += d * d;
            }
            for (k, &x) in b[body..].iter().enumerate() {
                let q = uniform_code(x, 1.0 / step).unwrap() as f64;
                let d = x as f64 - ((q * step) as f32) as f64;
                lanes[k] += d * d;
            }
            assert_eq!(
                expect.to_bits(),
                ((lanes[0] + lanes[1]) + (lanes[2] + lanes[3])).to_bits()
            );
        }
        // Two blocks side by side (`error_sq_pair`): pairs of lengths around the vector
        // widths (equal, one longer, one empty), each sum the one-block sum's bits. Also
        // values in (−1, 1) · 2^−(i mod 12) at the steps 0.1 and 0.0037: errors (many of them
        // the value itself) with ~48 significant bits, whose sums round differently in almost
        // any other order.
        let ys: Vec<f32> = (0..3001)
            .map(|i| {
                s = s
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                let u = (s >> 11) as f64 / (1u64 << 52) as f64 - 1.0;
                (u / (1 << (i % 12)) as f64) as f32
            })
            .collect();
        let lens = [0, 1, 3, 4, 5, 7, 8, 9, 12, 15, 16, 17, 23, 24, 1001, 3001];
        for (v, st) in [(&xs, step), (&xs, 0.1), (&ys, 0.1), (&ys, 3.7e-3)] {
            for &la in &lens {
                for &lb in &lens {
                    let (a, b) = (&v[..la], &v[v.len() - lb..]);
                    let (ea, eb) = error_sq_pair(a, b, 1.0 / st, st);
                    let want_a = error_sq_block_generic(a, 1.0 / st, st);
                    let want_b = error_sq_block_generic(b, 1.0 / st, st);
                    assert_eq!(ea.to_bits(), want_a.to_bits(), "{st}: {la}, {lb}: first");
                    assert_eq!(eb.to_bits(), want_b.to_bits(), "{st}: {la}, {lb}: second");
                }
            }
        }
        // Codes beyond 2^52 (x/Δ large) and an overflowed 1/Δ (0·∞ = NaN).
        let wide: Vec<f32> = vec![3e15, -3e15, 0.0, 1.0, -0.0, 2.5, 7.0, -1.5, 0.0];
        let mut cases: Vec<(&[f32], f64)> = vec![(&wide, 2.0), (&wide[2..], 1.0)];
        for len in 0..12 {
            cases.push((&xs[..len], 1.0 / step));
        }
        cases.push((&xs, 1.0 / step));
        let zeros = [0.0f32; 6];
        cases.push((&zeros, f64::INFINITY));
        cases.push((&zeros[..4], f64::INFINITY));
        cases.push((&wide[2..8], f64::INFINITY));
        for (b, inv) in cases {
            let (mut q1, mut q2) = (vec![0f64; b.len()], vec![0f64; b.len()]);
            let r1 = uniform_codes_f64(b, inv, &mut q1);
            let r2 = uniform_codes_f64_generic(b, inv, &mut q2);
            let bits = |r: (f64, f64, f64)| (r.0.to_bits(), r.1.to_bits(), r.2.to_bits());
            assert_eq!(bits(r1), bits(r2), "{b:?} {inv}");
            assert!(q1.iter().zip(&q2).all(|(a, b)| a.to_bits() == b.to_bits()));
        }
    }

    /// The AVX2 norm pass gives the scalar loop's `(Σ x², non-zeros, max |x|)` bit for bit:
    /// every remainder length, groups of eight and a trailing four, zeros of both signs,
    /// subnormals and a NaN (counted as non-zero, never the maximum).
    #[test]
    fn norm_stats_kernel_matches_the_scalar_loop_bit_for_bit() {
        let mut s = 3u64;
        let mut xs: Vec<f32> = vec![0.0, -0.0, 1e-42, -1e-42, 3.5, -7.25];
        for _ in 0..5000 {
            s = s
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            let e = ((s >> 20) % 60) as i32 - 30;
            let v = ((s >> 11) as f32 / (1u64 << 53) as f32 - 0.5) * 2f32.powi(e);
            xs.push(if s >> 62 == 0 { 0.0 } else { v });
        }
        let mut with_nan = xs[..40].to_vec();
        with_nan[13] = f32::NAN;
        let bits = |r: (f64, usize, f32)| (r.0.to_bits(), r.1, r.2.to_bits());
        let mut cases: Vec<&[f32]> = (0..20).map(|n| &xs[..n]).collect();
        cases.extend([
            &xs[..],
            &xs[1..],
            &xs[3..4003],
            &with_nan[..],
            &with_nan[..37],
        ]);
        for &b in &cases {
            let expect = norm_stats_block_generic(b);
            assert_eq!(
                bits(norm_stats_block(b)),
                bits(expect),
                "{} values",
                b.len()
            );
            // And against the definition: Σ x² in four lanes (remainder first), the count, the max.
            let body = b.len() / 4 * 4;
            let mut lanes = [0f64; 4];
            for (k, &x) in b[body..].iter().enumerate() {
                lanes[k] += x as f64 * x as f64;
            }
            for (i, &x) in b[..body].iter().enumerate() {
                lanes[i % 4] += x as f64 * x as f64;
            }
            let sum = (lanes[0] + lanes[1]) + (lanes[2] + lanes[3]);
            let nz = b.iter().filter(|&&x| x != 0.0).count();
            let m = b
                .iter()
                .filter(|x| !x.is_nan())
                .fold(0f32, |m, x| m.max(x.abs()));
            assert_eq!(bits(expect), bits((sum, nz, m)), "{} values", b.len());
        }
        // Two blocks side by side: each its own block's figures, whatever the other's length.
        for a in &cases {
            for b in &cases {
                let [ra, rb] = norm_stats_pair(a, b);
                let (ea, eb) = (norm_stats_block_generic(a), norm_stats_block_generic(b));
                let lens = (a.len(), b.len());
                assert_eq!((bits(ra), bits(rb)), (bits(ea), bits(eb)), "{lens:?}");
            }
        }
    }

    #[test]
    fn percentile_matches_numpy_linear() {
        // numpy.percentile([1, 2, 3, 4], 25) = 1.75; 50 → 2.5; 100 → 4
        let mut v = [4.0, 1.0, 3.0, 2.0];
        assert_eq!(percentile(&mut v, 25.0), 1.75);
        assert_eq!(percentile(&mut v, 50.0), 2.5);
        assert_eq!(percentile(&mut v, 100.0), 4.0);
        assert_eq!(percentile(&mut v, 0.0), 1.0);
    }

    #[test]
    fn range_codes_fit_bits_and_error_is_half_step() {
        let vals: Vec<f32> = (0..1000).map(|i| ((i as f32) * 0.37).sin()).collect();
        for bits in [4.0, 5.5, 8.0] {
            let mut codes = vec![0u32; vals.len()];
            let (lo, step) = quantize_range_channel(&vals, bits, &mut codes);
            assert!(codes
                .iter()
                .all(|&u| (u as f64) <= range_levels(bits).round()));
            let p = ChannelParams::Range {
                lo: vec![lo],
                step: vec![step],
            };
            let mut out = vec![0f32; vals.len()];
            dequantize(&p, &codes, &mut out);
            let max_err = vals
                .iter()
                .zip(&out)
                .map(|(a, b)| (a - b).abs())
                .fold(0f32, f32::max);
            assert!(
                max_err <= step * 0.5 * 1.0001 + 1e-7,
                "bits {bits}: {max_err} > {}",
                step / 2.0
            );
        }
    }

    #[test]
    fn pruning_respects_max_drop_ratio_and_ignores_zeros() {
        // 4 zeros, then magnitudes 1..=8: 10th percentile of [1..8] = 1.7 → prunes 1 (12.5 %)
        let mut data = vec![0.0f32; 4];
        data.extend((1..=8).map(|i| i as f32));
        let d = prune_decision(&data, 0.10, 0.25).unwrap();
        assert_eq!(d.pruned, 1);
        assert!((d.magnitude_threshold - 1.7).abs() < 1e-6);
        // 50 % requested: capped at the 25th percentile = 2.75 → prunes 1, 2 (25 %)
        let d = prune_decision(&data, 0.5, 0.25).unwrap();
        assert_eq!(d.pruned, 2);
        assert!(prune_decision(&data, 0.0, 0.25).is_err());
        assert_eq!(prune_decision(&[0.0; 5], 0.1, 0.25).unwrap().pruned, 0);
    }

    /// The rule as GUIDE §1 states it, on a sorted copy of the non-zero finite magnitudes:
    /// the reference the radix selection of `prune_decision` must match exactly.
    fn prune_reference(data: &[f32], threshold: f64, max_drop: f64) -> (f32, usize) {
        let mut mags: Vec<f32> = data
            .iter()
            .filter(|v| **v != 0.0 && v.is_finite())
            .map(|v| v.abs())
            .collect();
        if mags.is_empty() {
            return (-1.0, 0);
        }
        mags.sort_by(|a, b| a.total_cmp(b));
        let n = mags.len();
        let pct = |p: f64| {
            let pos = p / 100.0 * (n - 1) as f64;
            let k = pos.floor() as usize;
            let frac = pos - k as f64;
            if frac == 0.0 || k + 1 == n {
                mags[k]
            } else {
                (mags[k] as f64 + frac * (mags[k + 1] as f64 - mags[k] as f64)) as f32
            }
        };
        let le = |t: f32| mags.iter().filter(|m| **m <= t).count();
        let mut t = pct(threshold * 100.0);
        if le(t) as f64 > max_drop * n as f64 {
            t = pct(max_drop * 100.0);
            if le(t) as f64 > max_drop * n as f64 {
                let below: Vec<f32> = mags.iter().copied().filter(|m| *m < t).collect();
                return (below.last().copied().unwrap_or(-1.0), below.len());
            }
        }
        (t, le(t))
    }

    #[test]
    fn pruning_threshold_on_the_next_float_counts_it() {
        // a = the largest float of its 11-bit bin, b = the next float (the next bin); the 10th
        // percentile of [a, b, 3..=10] is a + 0.9·(b − a), which rounds to b: both are pruned.
        let (a, b) = (f32::from_bits(0x3fdf_ffff), f32::from_bits(0x3fe0_0000));
        let mut data = vec![b, -a];
        data.extend((3..=10).map(|i| i as f32));
        let d = prune_decision(&data, 0.1, 0.25).unwrap();
        assert_eq!((d.magnitude_threshold, d.pruned), (b, 2));
    }

    #[test]
    fn pruning_matches_the_sorted_reference() {
        let mut s = 0x9e37_79b9_7f4a_7c15u64;
        let mut next = move || {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            s
        };
        for case in 0..300 {
            let n = 1 + (next() % 3000) as usize;
            let data: Vec<f32> = (0..n)
                .map(|_| {
                    let r = next();
                    match (case % 5, r % 16) {
                        // Ties, zeros, the non-finite values the rule skips, subnormals.
                        (_, 0) => 0.0,
                        (0, _) => ((r >> 8) % 7) as f32 * if r & 32 != 0 { -0.5 } else { 0.5 },
                        (1, 1) => f32::NAN,
                        (1, 2) => f32::NEG_INFINITY,
                        (2, _) => f32::from_bits((r >> 8) as u32 % 5000),
                        (3, _) => f32::from_bits((r >> 16) as u32 & 0x807f_ffff | 0x3f00_0000),
                        _ => f32::from_bits((r >> 20) as u32),
                    }
                })
                .collect();
            for (threshold, max_drop) in [(0.01, 0.25), (0.1, 0.25), (0.5, 0.25), (0.9, 0.0)] {
                let d = prune_decision(&data, threshold, max_drop).unwrap();
                let (t, pruned) = prune_reference(&data, threshold, max_drop);
                assert_eq!(
                    (d.magnitude_threshold.to_bits(), d.pruned),
                    (t.to_bits(), pruned),
                    "case {case}, n {n}, threshold {threshold}"
                );
            }
        }
    }

    /// The range quantiser as written before its AVX2 kernels (`f64::round`, sequential
    /// `f32::min`/`max`): the reference those kernels must match bit for bit.
    fn range_reference(values: &[f32], prune_at: f32, bits: f64) -> (f32, f32, Vec<u32>) {
        let pruned = |v: f32| if v.abs() <= prune_at { 0.0 } else { v };
        let (mut lo, mut hi) = (f32::INFINITY, f32::NEG_INFINITY);
        for &v in values {
            lo = lo.min(pruned(v));
            hi = hi.max(pruned(v));
        }
        if values.is_empty() || hi <= lo {
            return (
                if values.is_empty() { 0.0 } else { lo },
                0.0,
                vec![0; values.len()],
            );
        }
        let levels = range_levels(bits);
        let range = hi as f64 - lo as f64;
        let step = ((range / levels) as f32).max(f32::from_bits(1));
        if !step.is_finite() {
            return (lo, 0.0, vec![0; values.len()]);
        }
        let inv = 1.0 / step as f64;
        let max_code = levels.round().max((range * inv).round());
        let codes = values
            .iter()
            .map(|&v| {
                ((pruned(v) as f64 - lo as f64) * inv)
                    .round()
                    .clamp(0.0, max_code) as u32
            })
            .collect();
        (lo, step, codes)
    }

    /// Both ways of taking the k-th smallest (a sort up to `KTH_SORT_MAX` candidates, the
    /// histograms beyond) against a sorted copy, with repeated values.
    #[test]
    fn kth_in_is_the_kth_smallest() {
        let mut s = 0x51u64;
        for n in [1usize, 2, 100, KTH_SORT_MAX, KTH_SORT_MAX + 1, 3000] {
            let cand: Vec<u32> = (0..n)
                .map(|_| {
                    s = s
                        .wrapping_mul(6364136223846793005)
                        .wrapping_add(1442695040888963407);
                    // One bin (top 11 bits 0x1F5), few distinct low bits: ties.
                    (0x1F5 << 21) | (((s >> 40) as u32 % 700) * 2997)
                })
                .collect();
            let mut sorted = cand.clone();
            sorted.sort_unstable();
            for k in [0, n / 3, n / 2, n - 1] {
                assert_eq!(kth_in(cand.clone(), k), sorted[k], "n {n}, k {k}");
            }
        }
    }

    #[test]
    fn range_quantiser_matches_the_scalar_reference() {
        let mut s = 0x2545_f491_4f6c_dd1du64;
        let mut next = move || {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            s
        };
        for case in 0..400 {
            let n = (next() % 700) as usize;
            let values: Vec<f32> = (0..n)
                .map(|_| {
                    let r = next();
                    match (case % 6, r % 23) {
                        (0, 0) => f32::NAN,
                        (0, 1) => f32::INFINITY,
                        (1, 0) => -0.0,
                        (1, 1) => 0.0,
                        // All non-negative with zeros: the minimum is a zero (±0 order).
                        (2, k) if k < 4 => [0.0, -0.0][k as usize % 2],
                        (2, _) => ((r >> 12) % 1000) as f32 * 1e-3,
                        (3, _) => f32::from_bits((r >> 20) as u32),
                        (4, _) => ((r >> 12) % 9) as f32 - 4.0,
                        _ => ((r >> 11) as f64 / (1u64 << 53) as f64 * 2.0 - 1.0) as f32,
                    }
                })
                .collect();
            let prune_at = [-1.0f32, 0.0, 0.05, 0.5][case % 4];
            let bits = [2.0, 4.5, 8.0, 15.0, 16.0][case % 5];
            let (lo, step, want) = range_reference(&values, prune_at, bits);
            let mut got = vec![0u32; n];
            let (l, st) = quantize_range_pruned(&values, prune_at, bits, &mut got);
            assert_eq!(
                (l.to_bits(), st.to_bits()),
                (lo.to_bits(), step.to_bits()),
                "case {case}"
            );
            assert_eq!(got, want, "case {case}");
            if bits <= 15.0 {
                let mut narrow = vec![0u16; n];
                quantize_range_pruned(&values, prune_at, bits, &mut narrow);
                assert!(narrow.iter().zip(&want).all(|(a, b)| *a as u32 == *b));
            }
        }
    }
}
