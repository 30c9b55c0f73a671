//! The ideal cost of one row of codes under a plan (`ModelPlan::ideal_bytes`): the scalar
//! per-value cost, and the same sum four values a step with AVX2 gathers.
//!
//! Why: the scalar loop took ≈ 53 instructions a value (every 16th row on each compress of a
//! large tensor, every row near a tie). The costs are integers (fixed point, `COST_ONE`), so
//! a sum in any order is the same sum: the kernel's lanes need not follow the scalar order.

use super::*;

/// What the cost of a row's values depends on.
pub(super) struct RowCost<'a> {
    pub(super) q0: i64,
    /// The row's picks, indexed by the column's scale code.
    pub(super) picks: &'a [Pick],
    /// The plan's column scale codes, predicted-negative columns and column sign classes.
    pub(super) b: &'a [u8],
    pub(super) cneg: &'a [bool],
    pub(super) ccls: &'a [u8],
    /// The family's symbol costs, `t · 256 + symbol`.
    pub(super) costs: &'a [u64],
    pub(super) rneg: bool,
    /// Per column class (< 4): the sign's cost [as predicted, opposite] (0 when signs are
    /// not coded).
    pub(super) sign: [[u64; 2]; 4],
    pub(super) code_sign: bool,
}

impl RowCost<'_> {
    /// Whether every pick of `picks` names a table of `costs` ([`RowCost::row_avx2`]'s
    /// contract; true of the model's tables, checked once per call).
    pub(super) fn picks_fit(picks: &[Pick], costs: &[u64]) -> bool {
        picks
            .iter()
            .all(|p| p.ti as usize * 256 + 256 <= costs.len())
    }

    /// The cost of code `u` in column `j` (0 in a zero-scale column).
    #[inline(always)]
    pub(super) fn value(&self, u: u32, j: usize) -> u64 {
        let bj = self.b[j];
        if bj == 0 {
            return 0;
        }
        let v = self.q0 + u as i64;
        let m = v.unsigned_abs();
        let p = self.picks[bj as usize];
        let s = p.s as u32;
        let hi = m >> s;
        let flip = (v < 0) != (self.rneg != self.cneg[j]);
        let mut acc = self.sign[self.ccls[j] as usize & 3][flip as usize] * (m != 0) as u64;
        acc += (s as u64) * COST_ONE;
        let base = p.ti as usize * 256;
        acc += if hi < p.esc as u64 {
            self.costs[base + hi as usize]
        } else {
            let nb = 64 - (hi - p.esc as u64).leading_zeros() as u64;
            self.costs[base + p.esc as usize] + (6 + nb) * COST_ONE
        };
        acc
    }

    /// The vector kernels' sign costs, `[class][flip]` as `2 · class + flip`, or `None` for a
    /// row they leave to [`RowCost::row`] (`|q0| ≥ 2^30`: `q0 + u` may not fit an `i32`).
    /// Checks the lengths the kernels read (the row's, and a full table of picks).
    #[cfg(target_arch = "x86_64")]
    fn vector_signs(&self, row: &[u32]) -> Option<[u64; 8]> {
        let n = row.len();
        assert!(self.b.len() == n && self.cneg.len() == n && self.ccls.len() == n);
        assert!(self.picks.len() >= 256 && self.costs.len() % 256 == 0);
        (self.q0.unsigned_abs() < 1 << 30).then(|| std::array::from_fn(|k| self.sign[k / 2][k % 2]))
    }

    /// The cost of the row `row` (as long as the plan's columns), one value at a time.
    pub(super) fn row(&self, row: &[u32]) -> u64 {
        self.span(row, 0..row.len())
    }

    /// The cost of the columns `cols` of the row `row`, one value at a time.
    fn span(&self, row: &[u32], cols: std::ops::Range<usize>) -> u64 {
        let mut acc = 0u64;
        for j in cols {
            acc += self.value(row[j], j);
        }
        acc
    }

    /// [`RowCost::row`] with the symbols' costs and picks gathered four columns at a time.
    /// A group of four with an escape, a code offset of 2^30 or more or more than 31 low bits
    /// is costed by [`RowCost::value`]; rows with `|q0| ≥ 2^30` entirely so.
    ///
    /// # Safety
    /// The CPU must support AVX2; every pick of `picks` names a table of `costs`
    /// (`ti · 256 + 256 ≤ costs.len()`, [`RowCost::picks_fit`]).
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2")]
    pub(super) unsafe fn row_avx2(&self, row: &[u32]) -> u64 {
        use std::arch::x86_64::*;
        let n = row.len();
        let Some(sign) = self.vector_signs(row) else {
            return self.row(row);
        };
        let zero = _mm_setzero_si128();
        let ones = _mm_set1_epi32(-1);
        let q0 = _mm_set1_epi32(self.q0 as i32);
        let rneg = _mm_set1_epi32(self.rneg as i32);
        let mut acc = _mm256_setzero_si256();
        let mut extra = 0u64;
        let m4 = n & !3;
        let mut j = 0;
        while j < m4 {
            // SAFETY: j + 4 ≤ n for `b`, `cneg`, `ccls` (bytes) and `row` (u32); unaligned.
            let b4 = (self.b.as_ptr().add(j) as *const i32).read_unaligned();
            let bj = _mm_cvtepu8_epi32(_mm_cvtsi32_si128(b4));
            let active = _mm_xor_si128(_mm_cmpeq_epi32(bj, zero), ones);
            if _mm_testz_si128(active, active) != 0 {
                j += 4;
                continue;
            }
            let u = _mm_loadu_si128(row.as_ptr().add(j) as *const __m128i);
            // SAFETY: bj ≤ 255 < picks.len(); inactive lanes are not read.
            let p =
                _mm_mask_i32gather_epi32::<4>(zero, self.picks.as_ptr() as *const i32, bj, active);
            let s = _mm_and_si128(_mm_srli_epi32::<16>(p), _mm_set1_epi32(0xFF));
            let esc = _mm_srli_epi32::<24>(p);
            // |q0| < 2^30 and u < 2^30 (else the group is scalar): v fits an i32.
            let v = _mm_add_epi32(q0, u);
            let m = _mm_abs_epi32(v);
            let hi = _mm_srlv_epi32(m, s);
            let bad = _mm_or_si128(
                _mm_srli_epi32::<30>(u),
                _mm_and_si128(
                    active,
                    _mm_or_si128(
                        _mm_xor_si128(_mm_cmpgt_epi32(esc, hi), ones),
                        _mm_cmpgt_epi32(s, _mm_set1_epi32(31)),
                    ),
                ),
            );
            if _mm_testz_si128(bad, bad) == 0 {
                extra += self.span(row, j..j + 4);
                j += 4;
                continue;
            }
            let ti = _mm_and_si128(p, _mm_set1_epi32(0xFFFF));
            let idx = _mm_add_epi32(_mm_slli_epi32::<8>(ti), hi);
            // SAFETY: idx = ti · 256 + hi with hi < esc ≤ 255, within `costs` (the caller's
            // contract).
            let c = _mm256_mask_i32gather_epi64::<8>(
                _mm256_setzero_si256(),
                self.costs.as_ptr() as *const i64,
                idx,
                _mm256_cvtepi32_epi64(active),
            );
            // Inactive lanes gathered p = 0, hence s = 0.
            let s64 = _mm256_slli_epi64::<16>(_mm256_cvtepu32_epi64(s));
            acc = _mm256_add_epi64(acc, _mm256_add_epi64(c, s64));
            if self.code_sign {
                // SAFETY: as above; bools are one byte, 0 or 1.
                let cn4 = (self.cneg.as_ptr().add(j) as *const i32).read_unaligned();
                let cc4 = (self.ccls.as_ptr().add(j) as *const i32).read_unaligned();
                let cn = _mm_cvtepu8_epi32(_mm_cvtsi32_si128(cn4));
                let cls =
                    _mm_and_si128(_mm_cvtepu8_epi32(_mm_cvtsi32_si128(cc4)), _mm_set1_epi32(3));
                let flip = _mm_xor_si128(_mm_srli_epi32::<31>(v), _mm_xor_si128(cn, rneg));
                let k = _mm_add_epi32(_mm_add_epi32(cls, cls), flip);
                let mask = _mm_andnot_si128(_mm_cmpeq_epi32(m, zero), active);
                // SAFETY: k = 2 · class + flip < 8 = sign.len().
                let sc = _mm256_mask_i32gather_epi64::<8>(
                    _mm256_setzero_si256(),
                    sign.as_ptr() as *const i64,
                    k,
                    _mm256_cvtepi32_epi64(mask),
                );
                acc = _mm256_add_epi64(acc, sc);
            }
            j += 4;
        }
        extra += self.span(row, m4..n);
        let mut lanes = [0u64; 4];
        _mm256_storeu_si256(lanes.as_mut_ptr() as *mut __m256i, acc);
        lanes.iter().fold(extra, |a, &x| a.wrapping_add(x))
    }
}

// Compiled only where the AVX-512 intrinsics are stable (`alcm_avx512`, rustc ≥ 1.89).
#[cfg(all(target_arch = "x86_64", alcm_avx512))]
#[allow(clippy::incompatible_msrv)]
impl RowCost<'_> {
    /// [`RowCost::row_avx2`] sixteen columns at a time: the picks by one gather, the symbols'
    /// costs by two (eight 64-bit costs each), the signs' by a permute of the row's eight
    /// costs. Why: the cost of every row is the near-tie test's exact pass (the MiniLM weights
    /// near the order-0 floor: 14 % of such a compression with the AVX2 kernel). A group of
    /// sixteen with an escape, a code offset of 2^30 or more or more than 31 low bits is
    /// costed by [`RowCost::value`]; rows with `|q0| ≥ 2^30` entirely so. The costs are
    /// integers: the same sum in any order.
    ///
    /// # Safety
    /// The CPU must support AVX-512F (`plan_avx512::available`); every pick of `picks` names a
    /// table of `costs` ([`RowCost::picks_fit`]).
    #[target_feature(enable = "avx512f")]
    pub(super) unsafe fn row_avx512(&self, row: &[u32]) -> u64 {
        use std::arch::x86_64::*;
        let n = row.len();
        let Some(sign8) = self.vector_signs(row) else {
            return self.row(row);
        };
        let sign = _mm512_loadu_si512(sign8.as_ptr() as *const _);
        let zero = _mm512_setzero_si512();
        let q0 = _mm512_set1_epi32(self.q0 as i32);
        let rneg = _mm512_set1_epi32(self.rneg as i32);
        let (mut acc_lo, mut acc_hi) = (zero, zero);
        let mut extra = 0u64;
        let m16 = n & !15;
        let mut j = 0;
        while j < m16 {
            // SAFETY: j + 16 ≤ n for `b`, `cneg`, `ccls` (bytes) and `row` (u32); unaligned.
            let bj = _mm512_cvtepu8_epi32(_mm_loadu_si128(self.b.as_ptr().add(j) as *const _));
            let active = _mm512_test_epi32_mask(bj, bj);
            if active == 0 {
                j += 16;
                continue;
            }
            let u = _mm512_loadu_si512(row.as_ptr().add(j) as *const _);
            // SAFETY: bj ≤ 255 < picks.len(); inactive lanes are not read.
            let p = _mm512_mask_i32gather_epi32::<4>(
                zero,
                active,
                bj,
                self.picks.as_ptr() as *const i32,
            );
            let s = _mm512_and_si512(_mm512_srli_epi32::<16>(p), _mm512_set1_epi32(0xFF));
            let esc = _mm512_srli_epi32::<24>(p);
            // |q0| < 2^30 and u < 2^30 (else the group is scalar): v fits an i32.
            let v = _mm512_add_epi32(q0, u);
            let m = _mm512_abs_epi32(v);
            let hi = _mm512_srlv_epi32(m, s);
            let bad = _mm512_test_epi32_mask(u, _mm512_set1_epi32(-1 << 30))
                | _mm512_mask_cmpge_epu32_mask(active, hi, esc)
                | _mm512_mask_cmpgt_epu32_mask(active, s, _mm512_set1_epi32(31));
            if bad != 0 {
                extra += self.span(row, j..j + 16);
                j += 16;
                continue;
            }
            let ti = _mm512_and_si512(p, _mm512_set1_epi32(0xFFFF));
            let idx = _mm512_add_epi32(_mm512_slli_epi32::<8>(ti), hi);
            // SAFETY: idx = ti · 256 + hi with hi < esc ≤ 255, within `costs` (the caller's
            // contract); inactive lanes are not read.
            let costs = self.costs.as_ptr() as *const i64;
            let c_lo = _mm512_mask_i32gather_epi64::<8>(
                zero,
                active as u8,
                _mm512_castsi512_si256(idx),
                costs,
            );
            let c_hi = _mm512_mask_i32gather_epi64::<8>(
                zero,
                (active >> 8) as u8,
                _mm512_extracti64x4_epi64::<1>(idx),
                costs,
            );
            // s · COST_ONE (inactive lanes gathered p = 0, hence s = 0).
            let s_lo = _mm512_slli_epi64::<16>(_mm512_cvtepu32_epi64(_mm512_castsi512_si256(s)));
            let s_hi =
                _mm512_slli_epi64::<16>(_mm512_cvtepu32_epi64(_mm512_extracti64x4_epi64::<1>(s)));
            acc_lo = _mm512_add_epi64(acc_lo, _mm512_add_epi64(c_lo, s_lo));
            acc_hi = _mm512_add_epi64(acc_hi, _mm512_add_epi64(c_hi, s_hi));
            if self.code_sign {
                // SAFETY: as above; bools are one byte, 0 or 1.
                let cn =
                    _mm512_cvtepu8_epi32(_mm_loadu_si128(self.cneg.as_ptr().add(j) as *const _));
                let cls = _mm512_and_si512(
                    _mm512_cvtepu8_epi32(_mm_loadu_si128(self.ccls.as_ptr().add(j) as *const _)),
                    _mm512_set1_epi32(3),
                );
                let flip = _mm512_xor_si512(_mm512_srli_epi32::<31>(v), _mm512_xor_si512(cn, rneg));
                let k = _mm512_add_epi32(_mm512_add_epi32(cls, cls), flip);
                let mask = _mm512_mask_test_epi32_mask(active, m, m);
                // k = 2 · class + flip < 8: the permute reads the low three bits.
                let k_lo = _mm512_cvtepu32_epi64(_mm512_castsi512_si256(k));
                let k_hi = _mm512_cvtepu32_epi64(_mm512_extracti64x4_epi64::<1>(k));
                let sc_lo = _mm512_maskz_permutexvar_epi64(mask as u8, k_lo, sign);
                let sc_hi = _mm512_maskz_permutexvar_epi64((mask >> 8) as u8, k_hi, sign);
                acc_lo = _mm512_add_epi64(acc_lo, sc_lo);
                acc_hi = _mm512_add_epi64(acc_hi, sc_hi);
            }
            j += 16;
        }
        extra += self.span(row, m16..n);
        // The lanes' sum wraps as the scalar sum would (it never reaches 2^64).
        extra.wrapping_add(_mm512_reduce_add_epi64(_mm512_add_epi64(acc_lo, acc_hi)) as u64)
    }
}

#[cfg(all(test, target_arch = "x86_64"))]
mod tests {
    use super::*;

    use crate::util::test_rng::bits as rng;

    /// The AVX2 and AVX-512 row costs equal the scalar one on every family's tables, for rows
    /// of several lengths (mod 4 and mod 16) with zero-scale columns, both signs, sign classes,
    /// escapes (large codes), offsets ≥ 2^30 and rows with |q0| ≥ 2^30; and the scalar cost of
    /// a value is its definition (low bits, the symbol's or the escape's cost, the sign's when
    /// non-zero).
    #[test]
    fn avx2_row_cost_equals_the_scalar_sum() {
        if !super::super::lanes::have_avx2() {
            return;
        }
        let tabs = tables();
        let mut r = rng(7);
        let mut checked = 0;
        #[cfg(alcm_avx512)]
        let mut checked512 = 0;
        for family in 0..crate::entropy::model::family::FAMILIES {
            let costs = sym_costs(family);
            assert!(RowCost::picks_fit(&tabs.pick, costs));
            for case in 0..24u64 {
                let cols = [1usize, 3, 4, 7, 64, 130, 385][case as usize % 7];
                let b: Vec<u8> = (0..cols)
                    .map(|_| if r() % 9 == 0 { 0 } else { (r() % 256) as u8 })
                    .collect();
                let cneg: Vec<bool> = (0..cols).map(|_| r() % 2 == 0).collect();
                let ccls: Vec<u8> = (0..cols).map(|_| (r() % 4) as u8).collect();
                let ai = (r() % 255 + 1) as usize;
                let spread = [3i64, 40, 700, 1 << 14, 1 << 20][case as usize % 5];
                let q: Vec<i64> = (0..cols)
                    .map(|_| (r() % (2 * spread as u64 + 1)) as i64 - spread)
                    .collect();
                let mut q0 = *q.iter().min().unwrap();
                let mut row: Vec<u32> = q.iter().map(|&v| (v - q0) as u32).collect();
                if case % 6 == 5 {
                    row[cols / 2] = (1 << 30) + 5;
                }
                if case % 8 == 7 {
                    q0 = -(1 << 30) - 3;
                }
                let code_sign = case % 3 != 0;
                let sign: [[u64; 2]; 4] = std::array::from_fn(|c| match code_sign {
                    true => [1000 + c as u64 * 77, 90_000 + c as u64 * 5],
                    false => [0, 0],
                });
                let rc = RowCost {
                    q0,
                    picks: &tabs.pick[ai..ai + 256],
                    b: &b,
                    cneg: &cneg,
                    ccls: &ccls,
                    costs,
                    rneg: case % 2 == 1,
                    sign,
                    code_sign,
                };
                // The definition, independently of `value`.
                let mut want = 0u64;
                for (j, &u) in row.iter().enumerate() {
                    if b[j] == 0 {
                        continue;
                    }
                    let v = q0 + u as i64;
                    let p = rc.picks[b[j] as usize];
                    let hi = v.unsigned_abs() >> p.s;
                    let sym = hi.min(p.esc as u64) as usize;
                    want += p.s as u64 * COST_ONE + costs[p.ti as usize * 256 + sym];
                    if hi >= p.esc as u64 {
                        want += (6 + 64 - (hi - p.esc as u64).leading_zeros() as u64) * COST_ONE;
                    }
                    if v != 0 {
                        let predicted_neg = rc.rneg != cneg[j];
                        want += sign[ccls[j] as usize][((v < 0) != predicted_neg) as usize];
                    }
                }
                assert_eq!(rc.row(&row), want, "scalar, family {family} case {case}");
                // SAFETY: AVX2 checked above; the picks fit (asserted above).
                let got = unsafe { rc.row_avx2(&row) };
                assert_eq!(got, want, "avx2, family {family} case {case}");
                #[cfg(alcm_avx512)]
                if super::super::plan_avx512::available() {
                    // SAFETY: AVX-512F checked; the picks fit (asserted above).
                    let got = unsafe { rc.row_avx512(&row) };
                    assert_eq!(got, want, "avx512, family {family} case {case}");
                    checked512 += cols;
                }
                checked += cols;
            }
        }
        assert!(checked > 1000);
        #[cfg(alcm_avx512)]
        assert!(checked512 == 0 || checked512 == checked);
    }
}
