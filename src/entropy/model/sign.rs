//! Sign classes of the rank-1 model (sign mode 3 of payload kinds 3–4, `entropy/model/`).
//!
//! Sign mode 2 predicts `sign(q_ij) = sign(u_i · v_j)` from the top singular pair with one
//! probability. How often the prediction holds depends on how much of the value the rank-1
//! term explains, `|u_i v_j| / σ_ij`, which varies between rows and columns. Mode 3 gives each
//! row and column a 2-bit class from `log2(|u_i| / r_i)` (resp. `|v_j| / c_j`), in half
//! octaves around the median (class = clamp(round(2·(l − median)) + 2, 0, 3)), and codes the
//! sign of value (i, j) with probability `f[class_i + class_j]` (7 probabilities). Measured on
//! the gradients of `../shared/data`: 0.03–0.11 bits/value saved at 1e-3 with the classes and
//! probabilities counted. The encoder uses it only when its estimate beats mode 2.

use super::ModelCode;
use crate::util::detmath::{det_log2, det_log2_in_place};

/// Number of sign probabilities (class sums 0..=6).
pub const BINS: usize = 7;

const SAMPLE: usize = 1 << 15;

pub(crate) struct SignClasses {
    pub rows: Vec<u8>,
    pub cols: Vec<u8>,
    /// P(sign as predicted) · 4096 per class sum, in 1..=4095.
    pub freq: [u32; BINS],
    /// Estimated bits of all signs with these probabilities plus the extra side information
    /// over mode 2 (the classes and six more probabilities).
    pub bits: f64,
}

/// Half-octave classes of `log2(|w_k|) − log2(s2_k)/2` around their median (rows with
/// `s2_k = 0` or `w_k = 0` get class 0).
/// The log-ratios are computed on up to `threads` threads (two `det_log2` a row, 1 M
/// instructions of serial work on the 6144 rows of the MiniLM word embeddings), eight at a
/// time where the CPU allows (`det_log2_in_place`).
fn classes(w: &[f64], s2: &[f64], threads: usize) -> Vec<u8> {
    // Pieces of whole rows, results in order: the same values on any thread count.
    const PIECE: usize = 1024;
    let t = if w.len() >= 2 * PIECE { threads } else { 1 };
    let n = w.len().min(s2.len());
    let l: Vec<Option<f64>> = crate::util::par::map(t, n.div_ceil(PIECE), |k| {
        let r = k * PIECE..((k + 1) * PIECE).min(n);
        let (w, s2) = (&w[r.clone()], &s2[r]);
        let has = |w: f64, s: f64| w != 0.0 && s > 0.0;
        // Both logarithms of the piece at once (`det_log2_in_place`: the same bits as one
        // `det_log2` at a time); 1 stands in where there is no ratio.
        let mut lw: Vec<f64> = w
            .iter()
            .zip(s2)
            .map(|(&w, &s)| if has(w, s) { w.abs() } else { 1.0 })
            .collect();
        let mut ls: Vec<f64> = w
            .iter()
            .zip(s2)
            .map(|(&w, &s)| if has(w, s) { s } else { 1.0 })
            .collect();
        det_log2_in_place(&mut lw);
        det_log2_in_place(&mut ls);
        w.iter()
            .zip(s2)
            .zip(lw.iter().zip(&ls))
            .map(|((&w, &s), (&a, &b))| has(w, s).then_some(a - 0.5 * b))
            .collect::<Vec<_>>()
    })
    .into_iter()
    .flatten()
    .collect();
    let mut sorted: Vec<f64> = l.iter().flatten().copied().collect();
    if sorted.is_empty() {
        return vec![0; w.len()];
    }
    // The element of rank len/2 in the total order (all that is used of a full sort).
    let mid = sorted.len() / 2;
    let med = *sorted.select_nth_unstable_by(mid, |a, b| a.total_cmp(b)).1;
    l.iter()
        .map(|v| {
            v.map_or(0, |x| {
                ((2.0 * (x - med)).round() + 2.0).clamp(0.0, 3.0) as u8
            })
        })
        .collect()
}

/// Binary entropy of `k` successes in `n`, in bits.
pub(crate) fn binary_bits(k: u64, n: u64) -> f64 {
    let p = k as f64 / n.max(1) as f64;
    let e = |p: f64| {
        if p <= 0.0 || p >= 1.0 {
            0.0
        } else {
            -p * det_log2(p)
        }
    };
    n as f64 * (e(p) + e(1.0 - p))
}

/// Classes, probabilities and estimated cost for the codes `q = qmin_i + u` (row-major, `cols`
/// per row; each sampled row taken as f32 like the model's statistics passes) with singular
/// vectors `u`, `v` and squared scales `r2`, `c2`. Deterministic: integer counts over every
/// `⌊R·C / 2^15⌋`-th row.
#[allow(clippy::too_many_arguments)]
pub(crate) fn sign_classes<C: super::ModelCode>(
    codes: &[C],
    qmin: &[i64],
    cols: usize,
    u: &[f64],
    v: &[f64],
    r2: &[f64],
    c2: &[f64],
    threads: usize,
) -> SignClasses {
    let rows_c = classes(u, r2, threads);
    let cols_c = classes(v, c2, threads);
    // 1 where column j's predicted sign is negative (v_j = 0 counts as positive).
    let vneg: Vec<u32> = v.iter().map(|&x| (x < 0.0) as u32).collect();
    // Agreements and non-zero codes per (row class, column), one pass over each sampled row;
    // the bins (row class + column class) are summed from them at the end: the same integer
    // counts as counting each bin directly, for a quarter of the work of a pass per column
    // class. A count is at most the number of sampled rows (< 2^32).
    let mut ag_rc = vec![0u32; 4 * cols];
    let mut nz_rc = vec![0u32; 4 * cols];
    // Counted on every `stride`-th row (about 2^15 values): the probabilities need no more.
    let stride = (codes.len() / SAMPLE).max(1);
    let mut rbuf = super::row_buf::<C>(cols);
    let n_rows = (codes.len() / cols)
        .min(qmin.len())
        .min(u.len())
        .min(rows_c.len());
    let simd = super::lanes::have_avx2();
    let vbits = wide_counts().then(|| neg_bits(&vneg));
    for i in (0..n_rows).step_by(stride) {
        let (q0, ui, rc) = (qmin[i], u[i], rows_c[i]);
        let row = super::code_row(codes, i, cols, &mut rbuf);
        let at = rc as usize * cols..(rc as usize + 1) * cols;
        let (ag, nz) = (&mut ag_rc[at.clone()], &mut nz_rc[at]);
        count_row(
            row,
            q0,
            (ui < 0.0) as u32,
            &vneg,
            ag,
            nz,
            simd,
            vbits.as_deref(),
        );
    }
    let (mut agree, mut nz) = ([0u64; BINS], [0u64; BINS]);
    for rc in 0..4 {
        let at = rc * cols..(rc + 1) * cols;
        for ((&a, &n), &cc) in ag_rc[at.clone()].iter().zip(&nz_rc[at]).zip(&cols_c) {
            agree[rc + cc as usize] += a as u64;
            nz[rc + cc as usize] += n as u64;
        }
    }
    let mut freq = [2048u32; BINS];
    let mut bits = 0.0;
    for b in 0..BINS {
        if nz[b] > 0 {
            freq[b] = ((agree[b] as f64 / nz[b] as f64 * 4096.0).round() as u32).clamp(1, 4095);
        }
        bits += binary_bits(agree[b], nz[b]);
    }
    // Scaled from the sampled rows to the tensor, plus the side information.
    let rows = codes.len().checked_div(cols).unwrap_or(0);
    let rows_seen = rows.div_ceil(stride).max(1);
    bits =
        bits * rows as f64 / rows_seen as f64 + (2 * (u.len() + v.len()) + 16 * (BINS - 1)) as f64;
    SignClasses {
        rows: rows_c,
        cols: cols_c,
        freq,
        bits,
    }
}

/// One row's agreements and non-zero codes, added per column into `ag` and `nz`: the value
/// `q_j = q0 + u_j` is non-zero, and agrees when its sign is the predicted one (negative iff
/// `uneg ≠ vneg_j`, both 0 or 1). This is `x·sign(v_j)·sign(u_i) > 0` and `x ≠ 0` of the value as
/// f32, `x = (q0 + u_j) as f32` (the model's statistics passes): the rounding to f32 of a
/// non-zero integer keeps its sign and is never zero, and multiplying by ±1 is exact. Counted
/// on the integers instead (`q_j > 0 ⇔ u_j > −q0`), 32-bit lanes throughout, which vectorise;
/// the row as f32 cost two thirds of the pass.
///
/// `vbits`: `vneg` as bits (`neg_bits`) where [`wide_counts`] holds, for the AVX-512 loop.
#[allow(clippy::too_many_arguments)]
fn count_row(
    row: &[u32],
    q0: i64,
    uneg: u32,
    vneg: &[u32],
    ag: &mut [u32],
    nz: &mut [u32],
    simd: bool,
    vbits: Option<&[u64]>,
) {
    match side(q0) {
        Side::Split(t) => {
            #[cfg(all(target_arch = "x86_64", alcm_avx512))]
            if let Some(vb) = vbits.filter(|_| wide_counts()) {
                // SAFETY: `wide_counts` checked the CPU; `vb` covers `vneg`, hence the row.
                unsafe { super::agree_avx512::count_split_u32(row, t, uneg, vb, ag, nz) };
                return;
            }
            let _ = vbits;
            #[cfg(target_arch = "x86_64")]
            if simd {
                // SAFETY: `simd` is only set when the CPU has AVX2.
                unsafe { count_split_avx2(row, t, uneg, vneg, ag, nz) };
                return;
            }
            let _ = simd;
            count_split(row, t, uneg, vneg, ag, nz);
        }
        all => {
            // Every value has the row's sign: it agrees where the column predicts that sign.
            let neg = matches!(all, Side::Neg) as u32;
            for ((a, n), &p) in ag.iter_mut().zip(nz.iter_mut()).zip(vneg).take(row.len()) {
                *a += 1 ^ (p ^ uneg ^ neg);
                *n += 1;
            }
        }
    }
}

/// Whether the sign counts run sixteen columns a step (`agree_avx512::count_split_u32`).
fn wide_counts() -> bool {
    #[cfg(all(target_arch = "x86_64", alcm_avx512))]
    {
        super::agree_avx512::available()
    }
    #[cfg(not(all(target_arch = "x86_64", alcm_avx512)))]
    {
        false
    }
}

/// The columns' predicted-negative flags as bits for [`count_row`]'s AVX-512 loop.
fn neg_bits(vneg: &[u32]) -> Vec<u64> {
    #[cfg(all(target_arch = "x86_64", alcm_avx512))]
    {
        super::agree_avx512::neg_bits(vneg)
    }
    #[cfg(not(all(target_arch = "x86_64", alcm_avx512)))]
    {
        let _ = vneg;
        Vec::new()
    }
}

/// Where a row's values `q0 + u` (`u` any u32) lie against 0.
enum Side {
    /// All positive (`−q0 < 0`).
    Pos,
    /// All negative (`−q0 > u32::MAX`).
    Neg,
    /// Positive iff `u > t`, negative iff `u < t`, for `t = −q0`.
    Split(u32),
}

fn side(q0: i64) -> Side {
    let t = q0.saturating_neg();
    if t < 0 {
        Side::Pos
    } else if t > u32::MAX as i64 {
        Side::Neg
    } else {
        Side::Split(t as u32)
    }
}

/// Of the value `u` split at `t` whose predicted sign is negative iff `pred_neg` (0 or 1):
/// (whether it agrees, whether it is non-zero), as 0 or 1.
#[inline(always)]
fn agree_nz(x: u32, t: u32, pred_neg: u32) -> (u32, u32) {
    let (pos, neg) = ((x > t) as u32, (x < t) as u32);
    ((pos & (pred_neg ^ 1)) | (neg & pred_neg), pos | neg)
}

/// [`count_row`] for a row split at `t` ([`Side::Split`]).
#[inline(always)]
fn count_split(row: &[u32], t: u32, uneg: u32, vneg: &[u32], ag: &mut [u32], nz: &mut [u32]) {
    // Equal lengths up front: one bounds check, a loop the compiler vectorises.
    let len = row.len().min(vneg.len()).min(ag.len()).min(nz.len());
    let (row, vneg, ag, nz) = (&row[..len], &vneg[..len], &mut ag[..len], &mut nz[..len]);
    for j in 0..len {
        let (a, n) = agree_nz(row[j], t, vneg[j] ^ uneg);
        ag[j] += a;
        nz[j] += n;
    }
}

/// [`count_split`] compiled for AVX2 (eight lanes).
///
/// # Safety
/// The CPU must support AVX2.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn count_split_avx2(
    row: &[u32],
    t: u32,
    uneg: u32,
    vneg: &[u32],
    ag: &mut [u32],
    nz: &mut [u32],
) {
    count_split(row, t, uneg, vneg, ag, nz)
}

/// [`count_row`]'s agreements summed over the row: how many `q_j = q0 + u_j` are non-zero
/// with the predicted sign (negative iff `uneg ≠ vneg_j`). The agreement count of
/// `plan_codes`' last pass (`PiBlock::agree_row` on the row as f32: the same count, as
/// [`count_row`] explains), on the integer codes.
pub(super) fn row_agreements<C: ModelCode>(
    row: &[C],
    q0: i64,
    uneg: u32,
    vneg: &[u32],
    simd: bool,
) -> u64 {
    match side(q0) {
        Side::Split(t) => {
            #[cfg(target_arch = "x86_64")]
            if simd {
                // SAFETY: `simd` is only set when the CPU has AVX2.
                return unsafe { agree_split_avx2(row, t, uneg, vneg) } as u64;
            }
            let _ = simd;
            agree_split(row, t, uneg, vneg) as u64
        }
        all => {
            // Every value has the row's sign: the columns that predict it.
            let n = row.len().min(vneg.len());
            let pred_neg = vneg[..n].iter().map(|&p| (p ^ uneg) as u64).sum::<u64>();
            match all {
                Side::Neg => pred_neg,
                _ => n as u64 - pred_neg,
            }
        }
    }
}

/// [`row_agreements`] for a row split at `t` (a count below 2^32: one row).
#[inline(always)]
fn agree_split<C: ModelCode>(row: &[C], t: u32, uneg: u32, vneg: &[u32]) -> u32 {
    row.iter()
        .zip(vneg)
        .map(|(&x, &p)| agree_nz(x.get(), t, p ^ uneg).0)
        .sum()
}

/// [`agree_split`] compiled for AVX2.
///
/// # Safety
/// The CPU must support AVX2.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn agree_split_avx2<C: ModelCode>(row: &[C], t: u32, uneg: u32, vneg: &[u32]) -> u32 {
    agree_split(row, t, uneg, vneg)
}

/// Appends 2-bit fields (LSB first), `⌈len / 4⌉` bytes.
pub(crate) fn push_classes(c: &[u8], out: &mut Vec<u8>) {
    for ch in c.chunks(4) {
        out.push(
            ch.iter()
                .enumerate()
                .fold(0u8, |acc, (k, &v)| acc | (v & 3) << (2 * k)),
        );
    }
}

/// Field `i` of 2-bit fields written by [`push_classes`].
#[inline(always)]
pub(crate) fn class_at(bytes: &[u8], i: usize) -> u8 {
    bytes[i / 4] >> (2 * (i % 4)) & 3
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classes_are_half_octaves_around_the_median() {
        // |w|/s = 1, 2, 4, 1/2, √2 (s2 = 1): log2 = 0, 1, 2, −1, 0.5; median 0.5.
        let w = [1.0, -2.0, 4.0, 0.5, std::f64::consts::SQRT_2, 0.0];
        let s2 = [1.0, 1.0, 1.0, 1.0, 1.0, 1.0];
        // round(2·(l − 0.5)) + 2 = 1, 3, 5→3, −1→0, 2; w = 0 → 0.
        assert_eq!(classes(&w, &s2, 1), vec![1, 3, 3, 0, 2, 0]);
    }

    #[test]
    fn classes_use_the_upper_median_of_a_full_sort() {
        // Reference: sort every finite log-ratio, take element len/2, class each value.
        let mut seed = 7u64;
        // From 2048 values on, the log-ratios are made on the threads in pieces of 1024.
        for n in [1usize, 2, 3, 8, 61, 256, 2048, 5000] {
            let mut next = || {
                seed = seed
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                (seed >> 40) as f64
            };
            // Few distinct magnitudes (many ties), some zeros.
            let w: Vec<f64> = (0..n).map(|_| (next() % 5.0).floor() - 1.0).collect();
            let s2: Vec<f64> = (0..n).map(|_| 1.0 + (next() % 3.0).floor()).collect();
            let l: Vec<Option<f64>> = w
                .iter()
                .zip(&s2)
                .map(|(&w, &s)| (w != 0.0).then(|| det_log2(w.abs()) - 0.5 * det_log2(s)))
                .collect();
            let mut sorted: Vec<f64> = l.iter().flatten().copied().collect();
            sorted.sort_by(|a, b| a.total_cmp(b));
            let want: Vec<u8> = match sorted.get(sorted.len() / 2) {
                None => vec![0; n],
                Some(&med) => l
                    .iter()
                    .map(|v| {
                        v.map_or(0, |x| {
                            ((2.0 * (x - med)).round() + 2.0).clamp(0.0, 3.0) as u8
                        })
                    })
                    .collect(),
            };
            for threads in [1, 2, 3] {
                assert_eq!(classes(&w, &s2, threads), want, "n {n}, {threads} threads");
            }
        }
    }

    #[test]
    fn counts_follow_the_class_sums() {
        // 2 × 2 codes q = (3, −1; −2, 0) as q = qmin_i + u, u = (1, −1), v = (1, 1): predicted
        // signs +, +, −, −.
        let (codes, qmin) = ([4u32, 0, 0, 2], [-1i64, -2]);
        let (u, v) = ([1.0, -1.0], [1.0, 1.0]);
        // Row classes from |u|/r: r2 = (1, 4) → log2 = 0, −1 → median (upper) 0 → 2, 0.
        // Column classes from |v|/c: c2 = (1, 1/4) → 0, 1 → median 1 → 0, 2.
        let s = sign_classes(&codes, &qmin, 2, &u, &v, &[1.0, 4.0], &[1.0, 0.25], 1);
        assert_eq!((s.rows.clone(), s.cols.clone()), (vec![2, 0], vec![0, 2]));
        // Value (0,0) = 3 agrees, bin 2; (0,1) = −1 disagrees, bin 4; (1,0) = −2 agrees, bin 0.
        assert_eq!(s.freq[2], 4095);
        assert_eq!(s.freq[4], 1);
        assert_eq!(s.freq[0], 4095);
        assert_eq!(s.freq[1], 2048);
        let mut out = Vec::new();
        push_classes(&[1, 3, 0, 2, 3], &mut out);
        assert_eq!(out, vec![0b10_00_11_01, 0b11]);
        assert_eq!(
            (0..5).map(|i| class_at(&out, i)).collect::<Vec<_>>(),
            vec![1, 3, 0, 2, 3]
        );
    }

    #[test]
    fn row_counts_match_the_values_as_f32() {
        // Reference: the value as f32 (`row_f32`), agreeing when `x·sign(v)·sign(u) > 0`.
        let mut seed = 5u64;
        let mut next = || {
            seed = seed
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            seed >> 33
        };
        let big = 1i64 << 32;
        // Rows all positive, mixed, all negative, and at the 2^32 edges of −q0.
        for q0 in [5, 1, 0, -3, -40, -(big - 1), -big, -(big + 7)] {
            for cols in [1usize, 7, 8, 16, 17, 37, 70] {
                let row: Vec<u32> = (0..cols)
                    .map(|_| match next() % 3 {
                        0 => (-q0).clamp(0, u32::MAX as i64) as u32,
                        1 => (next() % 90) as u32,
                        _ => u32::MAX - (next() % 90) as u32,
                    })
                    .collect();
                let vneg: Vec<u32> = (0..cols).map(|_| (next() % 2) as u32).collect();
                for uneg in [0, 1] {
                    let mut x = vec![0f32; cols];
                    crate::entropy::model::row_f32(&row, q0, &mut x);
                    let us = if uneg == 1 { -1.0f32 } else { 1.0 };
                    let want: Vec<(u32, u32)> = x
                        .iter()
                        .zip(&vneg)
                        .map(|(&x, &p)| {
                            let sv = if p == 1 { -1.0f32 } else { 1.0 };
                            (1 + (x * sv * us > 0.0) as u32, 2 + (x != 0.0) as u32)
                        })
                        .collect();
                    // Scalar, AVX2, and AVX-512 (`vbits`) where the CPU has them.
                    let vbits = wide_counts().then(|| neg_bits(&vneg));
                    let avx2 = crate::entropy::model::lanes::have_avx2();
                    for (simd, vb) in [(false, None), (avx2, None), (avx2, vbits.as_deref())] {
                        let (mut ag, mut nz) = (vec![1u32; cols], vec![2u32; cols]);
                        count_row(&row, q0, uneg, &vneg, &mut ag, &mut nz, simd, vb);
                        let got: Vec<(u32, u32)> = ag.into_iter().zip(nz).collect();
                        assert_eq!(got, want, "q0 {q0}, {cols} cols, uneg {uneg}");
                        let sum = want.iter().map(|w| (w.0 - 1) as u64).sum::<u64>();
                        assert_eq!(row_agreements(&row, q0, uneg, &vneg, simd), sum);
                    }
                }
            }
        }
    }

    #[test]
    fn counts_equal_a_per_value_count_of_each_bin() {
        // Reference: every value's bin (row class + column class) and agreement counted
        // directly, against the per-(row class, column) counts summed at the end.
        let mut seed = 11u64;
        let mut next = || {
            seed = seed
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (seed >> 33) as i64
        };
        for (rows, cols) in [(40usize, 33usize), (7, 256), (128, 256)] {
            let q: Vec<i64> = (0..rows * cols).map(|_| next() % 9 - 4).collect();
            let (qmin, codes) = crate::entropy::model::tests::offset_codes(&q, cols);
            let u: Vec<f64> = (0..rows)
                .map(|i| (next() % 7 - 3) as f64 * (1 + i % 3) as f64)
                .collect();
            let v: Vec<f64> = (0..cols).map(|_| (next() % 5 - 2) as f64).collect();
            let r2: Vec<f64> = (0..rows).map(|_| (1 + next() % 4) as f64).collect();
            let c2: Vec<f64> = (0..cols).map(|_| (1 + next() % 4) as f64).collect();
            let s = sign_classes(&codes, &qmin, cols, &u, &v, &r2, &c2, 1);
            let (mut agree, mut nz) = ([0u64; BINS], [0u64; BINS]);
            for (k, &x) in q.iter().enumerate() {
                let (i, j) = (k / cols, k % cols);
                if x == 0 {
                    continue;
                }
                let b = (s.rows[i] + s.cols[j]) as usize;
                nz[b] += 1;
                agree[b] += ((x < 0) == ((u[i] < 0.0) != (v[j] < 0.0))) as u64;
            }
            let want: Vec<u32> = (0..BINS)
                .map(|b| match nz[b] {
                    0 => 2048,
                    n => ((agree[b] as f64 / n as f64 * 4096.0).round() as u32).clamp(1, 4095),
                })
                .collect();
            assert_eq!(s.freq.to_vec(), want, "{rows}x{cols}");
            assert!(
                nz.iter().filter(|&&n| n > 0).count() >= 3,
                "{rows}x{cols}: {nz:?}"
            );
            let bits: f64 = (0..BINS).map(|b| binary_bits(agree[b], nz[b])).sum::<f64>()
                + (2 * (rows + cols) + 16 * (BINS - 1)) as f64;
            assert_eq!(s.bits, bits, "{rows}x{cols}");
        }
    }
}
