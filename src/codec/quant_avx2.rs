//! The step search's error and norm passes (`quant::error_sq_block`, `quant::norm_stats_block`)
//! and the uniform quantizer's code pass (`quant::uniform_codes_f64`) with explicit AVX2
//! vectors: the auto-vectorised loops mixed two- and four-lane vectors with scalar loads and
//! stack spills, about twice the instructions of these (six times for the norm pass). Each of
//! the four f64 lanes performs exactly the scalar loop's IEEE operations on the same values in
//! the same order (no fused multiply-add), so the results are bit-identical to the `_generic`
//! functions of `quant.rs` on every machine.

#[cfg(target_arch = "x86_64")]
use std::arch::x86_64::*;

/// `quant::round_away_f64` on four lanes, as `trunc(y + copysign(0.5⁻, y))` with 0.5⁻ the
/// double just below one half: four operations instead of the scalar form's twelve (the error
/// pass runs three to six times a compress). Equal to `f64::round` on every double: a fraction
/// below one half stays below one, one of at least one half reaches the next integer (for
/// `k + 0.5` the exact sum `k + 1 − 2⁻⁵⁴` rounds up to `k + 1`, including where the spacing is
/// 0.5), integers from 2^52 on are unchanged (0.5⁻ is under half their spacing), and NaN, ±∞
/// and −0 keep their bits (`round_away_matches_round`).
#[cfg(target_arch = "x86_64")]
#[inline]
#[target_feature(enable = "avx2")]
pub(super) fn round_away(y: __m256d) -> __m256d {
    let sign = _mm256_set1_pd(-0.0);
    let half_below = _mm256_set1_pd(f64::from_bits(0.5f64.to_bits() - 1));
    let bias = _mm256_or_pd(_mm256_and_pd(sign, y), half_below);
    _mm256_round_pd::<{ _MM_FROUND_TO_ZERO | _MM_FROUND_NO_EXC }>(_mm256_add_pd(y, bias))
}

/// Σ (x − x̂)² as `error_sq_block_generic` computes it: lane `k` of the accumulator adds the
/// errors of values `4m + k` in order, the remainder (< 4 values) goes to lanes 0.., then
/// `(acc₀ + acc₁) + (acc₂ + acc₃)`.
///
/// # Safety
/// The CPU must support AVX2.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
pub(super) unsafe fn error_sq_block(block: &[f32], inv: f64, step: f64) -> f64 {
    let (vinv, vstep) = (_mm256_set1_pd(inv), _mm256_set1_pd(step));
    let mut acc = _mm256_setzero_pd();
    let chunks = block.chunks_exact(4);
    let rest = chunks.remainder();
    for c in chunks {
        // SAFETY: `c` holds 4 f32 (16 bytes); unaligned load.
        let x = _mm256_cvtps_pd(_mm_loadu_ps(c.as_ptr()));
        let y = _mm256_mul_pd(x, vinv);
        let q = round_away(y);
        // (q·Δ) as f32 (round to nearest, the default MXCSR mode), back to f64.
        let xr = _mm256_cvtps_pd(_mm256_cvtpd_ps(_mm256_mul_pd(q, vstep)));
        let d = _mm256_sub_pd(x, xr);
        acc = _mm256_add_pd(acc, _mm256_mul_pd(d, d));
    }
    let mut a = [0.0f64; 4];
    // SAFETY: `a` holds 4 f64; unaligned store.
    _mm256_storeu_pd(a.as_mut_ptr(), acc);
    for (k, &x) in rest.iter().enumerate() {
        a[k] += super::quant::error_sq_one(x, inv, step);
    }
    (a[0] + a[1]) + (a[2] + a[3])
}

/// `quant::uniform_codes_f64_generic`: lane `k` holds values `4m + k` (codes, running smallest
/// and largest code, largest `|x/Δ|` with the same compare-and-select, so a NaN is kept or
/// dropped exactly as there); the remainder and the final reduction are the scalar code's.
///
/// # Safety
/// The CPU must support AVX2.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
pub(super) unsafe fn uniform_codes_f64(
    xs: &[f32],
    inv_step: f64,
    q: &mut [f64],
) -> (f64, f64, f64) {
    let sign = _mm256_set1_pd(-0.0);
    let vinv = _mm256_set1_pd(inv_step);
    let mut lo = _mm256_set1_pd(f64::INFINITY);
    let mut hi = _mm256_set1_pd(f64::NEG_INFINITY);
    let mut big = _mm256_setzero_pd();
    let mut cx = xs.chunks_exact(4);
    let mut cq = q.chunks_exact_mut(4);
    for (c, o) in (&mut cx).zip(&mut cq) {
        // SAFETY: `c` holds 4 f32, `o` 4 f64; unaligned load and store.
        let y = _mm256_mul_pd(_mm256_cvtps_pd(_mm_loadu_ps(c.as_ptr())), vinv);
        let r = round_away(y);
        _mm256_storeu_pd(o.as_mut_ptr(), r);
        // lo = r < lo ? r : lo; hi = r > hi ? r : hi; big = a <= big ? big : a.
        lo = _mm256_blendv_pd(lo, r, _mm256_cmp_pd::<_CMP_LT_OQ>(r, lo));
        hi = _mm256_blendv_pd(hi, r, _mm256_cmp_pd::<_CMP_GT_OQ>(r, hi));
        let a = _mm256_andnot_pd(sign, y);
        big = _mm256_blendv_pd(a, big, _mm256_cmp_pd::<_CMP_LE_OQ>(a, big));
    }
    let (mut l, mut h, mut b) = ([0.0f64; 4], [0.0f64; 4], [0.0f64; 4]);
    // SAFETY: each array holds 4 f64; unaligned stores.
    _mm256_storeu_pd(l.as_mut_ptr(), lo);
    _mm256_storeu_pd(h.as_mut_ptr(), hi);
    _mm256_storeu_pd(b.as_mut_ptr(), big);
    super::quant::uniform_codes_tail(cx.remainder(), inv_step, cq.into_remainder(), l, h, b)
}

/// `quant::norm_stats_block_generic` eight values at a time: the remainder (< 4 values) first
/// into lanes 0.., then lane `k` of the f64 accumulator adds `x²` of values `4m + k` in order
/// (each group of eight is two such steps, its low half first), so Σ x² is the scalar loop's
/// to the bit. The count of non-zero values (NaN counts, as `x != 0.0`) and the largest `|x|`
/// (`|x| > m ? |x| : m`, a NaN never taken) do not depend on the lanes.
///
/// # Safety
/// The CPU must support AVX2.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
pub(super) unsafe fn norm_stats_block(block: &[f32]) -> (f64, usize, f32) {
    let mut st = NormState::new(block);
    // Non-zero counts as 32-bit lanes, added to `nonzero` every 2^20 groups (no overflow).
    for part in st.body.chunks(8 << 20) {
        for c in part.chunks_exact(8) {
            st.eight(c);
        }
        st.part_end(part);
    }
    st.finish()
}

/// [`norm_stats_block`] of two blocks at once, each in its own order. Σ x² is one chain of
/// dependent additions per block (two per eight values, each waiting on the last: about a
/// cycle a value), so the adder idles on one block; two independent chains keep it busy.
/// Each result is the one-block kernel's to the bit.
///
/// # Safety
/// The CPU must support AVX2.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
pub(super) unsafe fn norm_stats_pair(a: &[f32], b: &[f32]) -> [(f64, usize, f32); 2] {
    if a.len().max(b.len()) > 8 << 20 {
        // Longer than one part of the counts: the one-block kernel's flushes.
        return [norm_stats_block(a), norm_stats_block(b)];
    }
    let (mut sa, mut sb) = (NormState::new(a), NormState::new(b));
    let (ba, bb) = (sa.body, sb.body);
    let both = ba.len().min(bb.len()) / 8 * 8;
    for (x, y) in ba[..both].chunks_exact(8).zip(bb[..both].chunks_exact(8)) {
        sa.eight(x);
        sb.eight(y);
    }
    for x in ba[both..].chunks_exact(8) {
        sa.eight(x);
    }
    for y in bb[both..].chunks_exact(8) {
        sb.eight(y);
    }
    sa.part_end(ba);
    sb.part_end(bb);
    [sa.finish(), sb.finish()]
}

/// One block's running sums in [`norm_stats_block`]'s order.
#[cfg(target_arch = "x86_64")]
struct NormState<'a> {
    /// The values after the remainder, a multiple of four.
    body: &'a [f32],
    acc: __m256d,
    cnt: __m256i,
    vmax: __m256,
    nonzero: u64,
    m: f32,
}

#[cfg(target_arch = "x86_64")]
impl<'a> NormState<'a> {
    /// The remainder (< 4 values, the block's first) in lanes 0.., as the scalar loop.
    #[inline]
    #[target_feature(enable = "avx2")]
    fn new(block: &'a [f32]) -> Self {
        let chunks = block.chunks_exact(4);
        let (mut a, mut nonzero, mut m) = ([0.0f64; 4], 0u64, 0.0f32);
        for (k, &x) in chunks.remainder().iter().enumerate() {
            a[k] += x as f64 * x as f64;
            nonzero += (x != 0.0) as u64;
            m = if x.abs() > m { x.abs() } else { m };
        }
        NormState {
            body: &block[..block.len() / 4 * 4],
            // SAFETY: `a` holds 4 f64; unaligned load.
            acc: unsafe { _mm256_loadu_pd(a.as_ptr()) },
            cnt: _mm256_setzero_si256(),
            vmax: _mm256_setzero_ps(),
            nonzero,
            m,
        }
    }

    /// Eight values `c` (exactly eight).
    #[inline]
    #[target_feature(enable = "avx2")]
    fn eight(&mut self, c: &[f32]) {
        assert!(c.len() == 8);
        // SAFETY: `c` holds 8 f32; unaligned load.
        let x = unsafe { _mm256_loadu_ps(c.as_ptr()) };
        let lo = _mm256_cvtps_pd(_mm256_castps256_ps128(x));
        let hi = _mm256_cvtps_pd(_mm256_extractf128_ps::<1>(x));
        self.acc = _mm256_add_pd(self.acc, _mm256_mul_pd(lo, lo));
        self.acc = _mm256_add_pd(self.acc, _mm256_mul_pd(hi, hi));
        let nz = _mm256_cmp_ps::<_CMP_NEQ_UQ>(x, _mm256_setzero_ps());
        self.cnt = _mm256_sub_epi32(self.cnt, _mm256_castps_si256(nz));
        let abs = _mm256_castsi256_ps(_mm256_set1_epi32(0x7fff_ffff));
        // max_ps(a, m) is `a > m ? a : m`.
        self.vmax = _mm256_max_ps(_mm256_and_ps(x, abs), self.vmax);
    }

    /// The end of a part of the body (after its groups of eight): its last four values, if
    /// any, then its count added to `nonzero`.
    #[inline]
    #[target_feature(enable = "avx2")]
    fn part_end(&mut self, part: &[f32]) {
        let four = part.chunks_exact(8).remainder();
        if !four.is_empty() {
            assert!(four.len() == 4);
            // SAFETY: `four` holds 4 f32; unaligned load.
            let x = unsafe { _mm_loadu_ps(four.as_ptr()) };
            let lo = _mm256_cvtps_pd(x);
            self.acc = _mm256_add_pd(self.acc, _mm256_mul_pd(lo, lo));
            let x = _mm256_castps128_ps256(x);
            let x = _mm256_insertf128_ps::<1>(x, _mm_setzero_ps());
            let nz = _mm256_cmp_ps::<_CMP_NEQ_UQ>(x, _mm256_setzero_ps());
            self.cnt = _mm256_sub_epi32(self.cnt, _mm256_castps_si256(nz));
            let abs = _mm256_castsi256_ps(_mm256_set1_epi32(0x7fff_ffff));
            self.vmax = _mm256_max_ps(_mm256_and_ps(x, abs), self.vmax);
        }
        let mut c = [0u32; 8];
        // SAFETY: `c` holds 8 u32; unaligned store.
        unsafe { _mm256_storeu_si256(c.as_mut_ptr().cast(), self.cnt) };
        self.nonzero += c.iter().map(|&v| v as u64).sum::<u64>();
        self.cnt = _mm256_setzero_si256();
    }

    /// `(Σ x², non-zero values, max |x|)`.
    #[inline]
    #[target_feature(enable = "avx2")]
    fn finish(self) -> (f64, usize, f32) {
        let (mut a, mut lanes) = ([0.0f64; 4], [0.0f32; 8]);
        // SAFETY: `a` holds 4 f64, `lanes` 8 f32; unaligned stores.
        unsafe {
            _mm256_storeu_pd(a.as_mut_ptr(), self.acc);
            _mm256_storeu_ps(lanes.as_mut_ptr(), self.vmax);
        }
        let mut m = self.m;
        for v in lanes {
            m = if v > m { v } else { m };
        }
        ((a[0] + a[1]) + (a[2] + a[3]), self.nonzero as usize, m)
    }
}

/// The pruned values' smallest and largest (`quant::quantize_range_pruned`'s first pass): a
/// value with |v| ≤ `prune_at` counts as +0.0, NaN is skipped (`f32::min`/`max` keep the other
/// operand, as `vminps`/`vmaxps` do with the NaN first). The minimum of a set of floats is the
/// same in any order, except between +0.0 and −0.0, so the caller reruns the scalar loop when
/// a result is a zero.
///
/// # Safety
/// The CPU must support AVX2.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
pub(super) unsafe fn pruned_range(values: &[f32], prune_at: f32) -> (f32, f32) {
    let sign = _mm256_set1_ps(-0.0);
    let at = _mm256_set1_ps(prune_at);
    let (mut lo, mut hi) = (
        _mm256_set1_ps(f32::INFINITY),
        _mm256_set1_ps(f32::NEG_INFINITY),
    );
    let chunks = values.chunks_exact(8);
    let rest = chunks.remainder();
    for c in chunks {
        // SAFETY: `c` holds 8 f32; unaligned load.
        let v = _mm256_loadu_ps(c.as_ptr());
        let cut = _mm256_cmp_ps::<_CMP_LE_OQ>(_mm256_andnot_ps(sign, v), at);
        let v = _mm256_andnot_ps(cut, v);
        lo = _mm256_min_ps(v, lo);
        hi = _mm256_max_ps(v, hi);
    }
    let (mut l, mut h) = ([0f32; 8], [0f32; 8]);
    // SAFETY: 8 f32 each; unaligned stores.
    _mm256_storeu_ps(l.as_mut_ptr(), lo);
    _mm256_storeu_ps(h.as_mut_ptr(), hi);
    let (mut lo, mut hi) = (f32::INFINITY, f32::NEG_INFINITY);
    for k in 0..8 {
        lo = lo.min(l[k]);
        hi = hi.max(h[k]);
    }
    for &v in rest {
        let v = if v.abs() <= prune_at { 0.0 } else { v };
        lo = lo.min(v);
        hi = hi.max(v);
    }
    (lo, hi)
}

/// `quant::quantize_range_pruned`'s code pass, four values at a time with the scalar loop's
/// IEEE operations: `round_away((pruned(v) as f64 − lo) · inv)` clamped to `[0, max_code]`
/// (NaN stays NaN through the clamp, then converts to 0 as `f64 as u32` does).
///
/// # Safety
/// The CPU must support AVX2; `max_code < 2^31`; `codes.len() == values.len()`.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
pub(super) unsafe fn range_codes<C: super::quant::Code>(
    values: &[f32],
    prune_at: f32,
    lo: f64,
    inv: f64,
    max_code: f64,
    codes: &mut [C],
) {
    let sign = _mm_set1_ps(-0.0);
    let at = _mm_set1_ps(prune_at);
    let (vlo, vinv, vmax, zero) = (
        _mm256_set1_pd(lo),
        _mm256_set1_pd(inv),
        _mm256_set1_pd(max_code),
        _mm256_setzero_pd(),
    );
    let mut cv = values.chunks_exact(4);
    let mut cc = codes.chunks_exact_mut(4);
    for (c, o) in (&mut cv).zip(&mut cc) {
        // SAFETY: `c` holds 4 f32; unaligned load.
        let v = _mm_loadu_ps(c.as_ptr());
        let v = _mm_andnot_ps(_mm_cmp_ps::<_CMP_LE_OQ>(_mm_andnot_ps(sign, v), at), v);
        let y = _mm256_mul_pd(_mm256_sub_pd(_mm256_cvtps_pd(v), vlo), vinv);
        let q = round_away(y);
        let q = _mm256_blendv_pd(q, zero, _mm256_cmp_pd::<_CMP_LT_OQ>(q, zero));
        let q = _mm256_blendv_pd(q, vmax, _mm256_cmp_pd::<_CMP_GT_OQ>(q, vmax));
        let q = _mm256_and_pd(q, _mm256_cmp_pd::<_CMP_ORD_Q>(q, q));
        let mut u = [0i32; 4];
        // SAFETY: 4 i32; unaligned store.
        _mm_storeu_si128(u.as_mut_ptr() as *mut __m128i, _mm256_cvttpd_epi32(q));
        for (o, &u) in o.iter_mut().zip(&u) {
            *o = C::wrap(u as u32);
        }
    }
    for (o, &v) in cc.into_remainder().iter_mut().zip(cv.remainder()) {
        let v = if v.abs() <= prune_at { 0.0 } else { v };
        let q = super::quant::round_away_f64((v as f64 - lo) * inv).clamp(0.0, max_code);
        *o = C::wrap(q as u32);
    }
}

/// Counts `quant::magnitude_bin` of the values of `data` in `hist` (1025 bins), eight bins
/// computed a step (the scalar select costs about five instructions a value, a pass every
/// adaptive compression); returns how many values it counted (a multiple of eight; the
/// caller counts the rest). Four sub-histograms, value `8m + l` in sub-histogram `l mod 4`, added
/// at the end: runs of one bin (the zeros of a gradient) would otherwise wait on the same
/// counter's store and load.
///
/// # Safety
/// The CPU must support AVX2; `hist` has 1025 bins.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
pub(super) unsafe fn magnitude_bins(data: &[f32], hist: &mut [usize]) -> usize {
    const BINS: usize = super::quant::REJECT_BIN + 1;
    assert!(hist.len() == BINS);
    let mut h4 = vec![[0u32; BINS]; 4];
    let abs = _mm256_set1_epi32(0x7fff_ffff);
    let inf = _mm256_set1_epi32(0x7f80_0000);
    let reject = _mm256_set1_epi32(super::quant::REJECT_BIN as i32);
    let zero = _mm256_setzero_si256();
    let done = data.len() & !7;
    let mut idx = [0u32; 8];
    // Blocks of 2^30 values: a u32 sub-histogram counts at most a quarter of a block.
    for block in data[..done].chunks(1 << 30) {
        for c in block.chunks_exact(8) {
            // SAFETY: `c` holds 8 f32; unaligned load; `idx` holds 8 u32.
            let m = _mm256_and_si256(_mm256_loadu_si256(c.as_ptr().cast()), abs);
            // 0 < m < 0x7f80_0000 as signed compares (m ≤ 0x7fff_ffff).
            let kept = _mm256_and_si256(_mm256_cmpgt_epi32(m, zero), _mm256_cmpgt_epi32(inf, m));
            let bin = _mm256_blendv_epi8(reject, _mm256_srli_epi32::<21>(m), kept);
            _mm256_storeu_si256(idx.as_mut_ptr().cast(), bin);
            for (l, &b) in idx.iter().enumerate() {
                // Every bin is ≤ REJECT_BIN (a kept magnitude is below 0x7f80_0000).
                h4[l & 3][b as usize] += 1;
            }
        }
        for (b, h) in hist.iter_mut().enumerate() {
            *h += (h4[0][b] + h4[1][b]) as usize + (h4[2][b] + h4[3][b]) as usize;
        }
        h4.iter_mut().for_each(|s| s.fill(0));
    }
    done
}

/// `quant::magnitudes_in_bin_generic` (the same magnitudes in the same order), eight values a
/// compare: the scalar form stores and counts every value (about ten instructions a value,
/// twice a compress in the adaptive mode's pruning rule), while a bin is an eighth of a binade
/// and most groups of eight hold none of it, so only groups with a match are unpacked.
///
/// # Safety
/// The CPU must support AVX2.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
pub(super) unsafe fn magnitudes_in_bin(data: &[f32], bin: u32, out: &mut Vec<u32>) {
    let abs = _mm256_set1_epi32(0x7fff_ffff);
    let vbin = _mm256_set1_epi32(bin as i32);
    let zero = _mm256_setzero_si256();
    let chunks = data.chunks_exact(8);
    let tail = chunks.remainder();
    for c in chunks {
        // SAFETY: `c` holds 8 f32 (32 bytes); unaligned load.
        let m = _mm256_and_si256(_mm256_loadu_si256(c.as_ptr().cast()), abs);
        let hit = _mm256_andnot_si256(
            _mm256_cmpeq_epi32(m, zero),
            _mm256_cmpeq_epi32(_mm256_srli_epi32::<21>(m), vbin),
        );
        let mut bits = _mm256_movemask_ps(_mm256_castsi256_ps(hit)) as u32;
        while bits != 0 {
            out.push(c[bits.trailing_zeros() as usize].to_bits() & 0x7fff_ffff);
            bits &= bits - 1;
        }
    }
    for x in tail {
        let m = x.to_bits() & 0x7fff_ffff;
        if m >> 21 == bin && m != 0 {
            out.push(m);
        }
    }
}

/// `dequantize_bits`' range-channel arithmetic on codes held as f32 bits, four values a step:
/// `out[k] = (base + bits(out[k]) as f64 · step).clamp(−f32::MAX, f32::MAX) as f32`, with the
/// same IEEE operations in the same order (exact u32 → f64, product, sum, clamp, rounding to
/// f32), so the same values as the scalar loop, NaN included (the minimum and maximum take the
/// clamp's operand second: a NaN passes through, as `f64::clamp` returns it).
///
/// Why: the scalar loop was 18 % of an adaptive 16 384-value gradient's decompression (a
/// second pass over the output after the model's decoder).
///
/// # Safety
/// The CPU must support AVX2.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
pub(super) unsafe fn range_values_from_bits(out: &mut [f32], base: f64, step: f64) {
    let (vb, vs) = (_mm256_set1_pd(base), _mm256_set1_pd(step));
    let mx = f32::MAX as f64;
    let (hi, lo) = (_mm256_set1_pd(mx), _mm256_set1_pd(-mx));
    // u | 2^52's exponent, minus 2^52: the u32 as an exact f64.
    let magic = _mm256_set1_epi64x(0x4330_0000_0000_0000);
    let two52 = _mm256_set1_pd(4_503_599_627_370_496.0);
    let mut chunks = out.chunks_exact_mut(4);
    for c in &mut chunks {
        // SAFETY: `c` holds 4 f32 (16 bytes); unaligned load and store.
        let u = _mm256_cvtepu32_epi64(_mm_loadu_si128(c.as_ptr() as *const __m128i));
        let uf = _mm256_sub_pd(_mm256_castsi256_pd(_mm256_or_si256(u, magic)), two52);
        let x = _mm256_add_pd(vb, _mm256_mul_pd(uf, vs));
        // min(hi, x) is x when x is NaN (the second operand), as is max(lo, ·).
        let x = _mm256_max_pd(lo, _mm256_min_pd(hi, x));
        _mm_storeu_ps(c.as_mut_ptr(), _mm256_cvtpd_ps(x));
    }
    for o in chunks.into_remainder() {
        *o = (base + o.to_bits() as f64 * step).clamp(-mx, mx) as f32;
    }
}

#[cfg(all(test, target_arch = "x86_64"))]
mod tests {
    use super::*;

    /// The vector dequantization against the scalar expression it replaces, value for value
    /// (bits): codes from 0 to u32::MAX (random, and the extremes), bases and steps of both
    /// signs and far apart in size, products beyond f32::MAX both ways (clamped), a NaN base
    /// (NaN out), lengths that are and are not multiples of four.
    #[test]
    fn range_values_from_bits_match_scalar() {
        if !std::is_x86_feature_detected!("avx2") {
            return;
        }
        let mut s = 0x2545_F491_4F6C_DD1Du64;
        let mut next = move || {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            s
        };
        let mx = f32::MAX as f64;
        let params = [
            (0.0, 1.0),
            (-1.5, 3.0517578125e-5),
            (1e-30, 1e-40),
            (-3.0e38, 1e30),
            (2.0e38, 1e29),
            (0.1, -7.3e-3),
            (f64::NAN, 1.0),
            (-0.0, 0.0),
        ];
        for (base, step) in params {
            for n in [0usize, 3, 4, 5, 64, 1001] {
                let bits: Vec<u32> = (0..n)
                    .map(|k| match k % 7 {
                        0 => 0,
                        1 => u32::MAX,
                        2 => 1 << 31,
                        _ => next() as u32,
                    })
                    .collect();
                let want: Vec<u32> = bits
                    .iter()
                    .map(|&u| ((base + u as f64 * step).clamp(-mx, mx) as f32).to_bits())
                    .collect();
                let mut out: Vec<f32> = bits.iter().map(|&u| f32::from_bits(u)).collect();
                // SAFETY: AVX2 checked above.
                unsafe { range_values_from_bits(&mut out, base, step) };
                let got: Vec<u32> = out.iter().map(|v| v.to_bits()).collect();
                assert!(got == want, "base {base} step {step} n {n}");
            }
        }
    }

    /// The vector magnitude histogram against `magnitude_bin` counted one value at a time:
    /// zeros of both signs, subnormals, the largest finite magnitude, infinities, NaNs, runs
    /// of one bin, lengths that are and are not multiples of eight.
    #[test]
    fn magnitude_bins_match_scalar() {
        if !std::is_x86_feature_detected!("avx2") {
            return;
        }
        use super::super::quant::magnitude_bin;
        let mut s = 0xD1B5_4A32_D192_ED03u64;
        for n in [0usize, 7, 8, 9, 4096, 10_007] {
            let data: Vec<f32> = (0..n)
                .map(|i| {
                    s ^= s << 13;
                    s ^= s >> 7;
                    s ^= s << 17;
                    match i % 11 {
                        0 => 0.0,
                        1 => -0.0,
                        2 => f32::from_bits(s as u32 & 0x807f_ffff),
                        3 => [
                            f32::NAN,
                            f32::INFINITY,
                            f32::NEG_INFINITY,
                            f32::MAX,
                            -f32::MAX,
                        ][(s % 5) as usize],
                        4 | 5 => f32::from_bits(s as u32),
                        6 => 0.0,
                        _ => (s >> 40) as f32 * 1e-9,
                    }
                })
                .collect();
            let mut want = vec![0usize; 1025];
            for &v in &data {
                want[magnitude_bin(v)] += 1;
            }
            let mut got = vec![0usize; 1025];
            // SAFETY: AVX2 checked above; 1025 bins.
            let done = unsafe { magnitude_bins(&data, &mut got) };
            assert_eq!(done, n & !7);
            for &v in &data[done..] {
                got[magnitude_bin(v)] += 1;
            }
            assert_eq!(got, want, "length {n}");
        }
    }

    /// The vector bin scan against the scalar one: every bin that occurs (and some that do
    /// not) over data with zeros of both signs, subnormals, NaNs, infinities, negative values
    /// and many values in a few bins, at every length 0..=40 (the 8-wide body and its tail).
    #[test]
    fn magnitudes_in_bin_matches_scalar() {
        if !std::is_x86_feature_detected!("avx2") {
            return;
        }
        let generic = super::super::quant::magnitudes_in_bin_generic;
        let mut s = 0x9E37_79B9_7F4A_7C15u64;
        let mut data: Vec<f32> = Vec::new();
        for i in 0..4000u32 {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            data.push(match i % 9 {
                0 => 0.0,
                1 => -0.0,
                2 => f32::from_bits((s as u32) & 0x807f_ffff), // ±0 or ±subnormal
                3 => [f32::NAN, f32::INFINITY, f32::NEG_INFINITY][(s % 3) as usize],
                4 | 5 => f32::from_bits(s as u32), // any bit pattern
                _ => {
                    (1.0 + (s >> 40) as f32 / (1u64 << 24) as f32)
                        * if s & 1 == 0 { 1.0 } else { -0.01 }
                }
            });
        }
        let bins: std::collections::BTreeSet<u32> = data
            .iter()
            .map(|v| (v.to_bits() & 0x7fff_ffff) >> 21)
            .chain([0, 1, 1019, 1023])
            .collect();
        let mut checked = 0;
        for len in (0..=40).chain([data.len()]) {
            let d = &data[..len];
            for &b in &bins {
                let want = generic(d, b, d.len());
                let mut got = Vec::new();
                // SAFETY: AVX2 checked above.
                unsafe { magnitudes_in_bin(d, b, &mut got) };
                assert_eq!(got, want, "bin {b}, length {len}");
                checked += !want.is_empty() as usize;
            }
        }
        assert!(checked > 300, "{checked} non-empty bins");
    }

    /// The four-operation rounding against the scalar `round_away_f64` (itself checked
    /// against `f64::round`), bit for bit: ties on both sides of every spacing, the 2^52
    /// boundary, the doubles next to each half, zeros, infinities, NaNs of both signs and
    /// random bit patterns of every exponent.
    #[test]
    fn round_away_matches_round() {
        if !std::is_x86_feature_detected!("avx2") {
            return;
        }
        let two52 = super::super::quant::TWO52;
        let next = |y: f64, d: i64| f64::from_bits((y.to_bits() as i64 + d) as u64);
        let mut ys = vec![
            0.0,
            -0.0,
            0.5,
            1.5,
            2.5,
            next(0.5, -1),
            next(0.5, 1),
            two52 - 0.5,
            two52 - 1.5,
            two52,
            two52 + 1.0,
            2.0 * two52 + 2.0,
            f64::MAX,
            f64::MIN_POSITIVE,
            5e-324,
            f64::INFINITY,
            f64::NAN,
            -f64::NAN,
            f64::from_bits(0x7FF0_0000_0000_0001),
        ];
        for k in [1.0, 3.0, 1e6, 2f64.powi(51) + 1.0, 2f64.powi(51) - 1.0] {
            for y in [k + 0.5, k - 0.5, next(k + 0.5, -1), next(k + 0.5, 1)] {
                ys.extend([y, -y]);
            }
        }
        let mut s = 0x0123_4567_89AB_CDEFu64;
        for _ in 0..400_000 {
            s = s
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            ys.push(f64::from_bits(s));
            // Exponents where the fraction matters (|y| < 2^53) more often.
            let e = 1023 - 4 + (s >> 58) % 60;
            ys.push(f64::from_bits((s & 0x800F_FFFF_FFFF_FFFF) | (e << 52)));
        }
        for c in ys.chunks(4) {
            let mut v = [0.0f64; 4];
            v[..c.len()].copy_from_slice(c);
            let mut r = [0.0f64; 4];
            // SAFETY: AVX2 checked above; 4 f64 loads and stores.
            unsafe { _mm256_storeu_pd(r.as_mut_ptr(), round_away(_mm256_loadu_pd(v.as_ptr()))) };
            for (&y, &got) in v.iter().zip(&r) {
                let want = super::super::quant::round_away_f64(y);
                assert_eq!(got.to_bits(), want.to_bits(), "{y:e} ({:#x})", y.to_bits());
            }
        }
    }
}
