//! `plan_codes`' per-block loops on the AVX-512 kernels of `plan_avx512.rs`: the block's
//! rows two at a time (a last odd row on the AVX2 kernel), every result the AVX2 loop's.
//!
//! Pairing keeps every order the plan depends on: a row's sums are its own (the kernels keep
//! the two rows in separate halves), and the column accumulators get row A's update, then row
//! B's, as the one-row loop gives them.

// Compiled only where the intrinsics are stable (`alcm_avx512`, rustc ≥ 1.89).
#![allow(clippy::incompatible_msrv)]

use super::plan_avx2::{dots_row, row_exact, stats_row};
use super::plan_avx512::{cols, dots_pair, stats_pair, PairCode};
use super::*;

/// Rows `i` and `k` of `codes` (`cols` each) as `$a` and `$b` in `$body`: as stored when the
/// codes are u32 or u16 (the pair kernels read u16 directly: no widened copy of each row),
/// else widened into `$bufs` (from `row_buf`).
macro_rules! with_pair {
    ($codes:expr, ($i:expr, $k:expr), $cols:expr, $bufs:expr, |$a:ident, $b:ident| $body:expr) => {{
        let (c, cols) = ($codes, $cols);
        let (r0, r1) = (
            &c[$i * cols..($i + 1) * cols],
            &c[$k * cols..($k + 1) * cols],
        );
        if let (Some($a), Some($b)) = (C::as_u32(r0), C::as_u32(r1)) {
            $body
        } else if let (Some($a), Some($b)) = (C::as_u16(r0), C::as_u16(r1)) {
            $body
        } else {
            let (b0, b1) = $bufs;
            let ($a, $b) = (code_row(c, $i, cols, b0), code_row(c, $k, cols, b1));
            $body
        }
    }};
}

/// The updates a row makes to the column vectors: `nv += s · x` (power step) and
/// `acc += x² · a` (maximum-likelihood column sums), each when set.
#[derive(Clone, Copy, PartialEq)]
struct Update {
    axpy: bool,
    sq: bool,
}

/// The updates of `rows` (one or two: `(update, s, a, values)`) in order, two rows in one
/// kernel call when they make the same updates.
///
/// # Safety
/// The CPU must support AVX-512F; every values row, `nv` (if some row has `axpy`) and `acc`
/// (if some row has `sq`) have the same length.
unsafe fn update(nv: &mut [f64], acc: &mut [f64], rows: &[(Update, f64, f64, &[f64])]) {
    if let [(u, s0, a0, x0), (w, s1, a1, x1)] = rows {
        if u == w {
            let (s, a) = ([*s0, *s1], [*a0, *a1]);
            // SAFETY: the caller's contract.
            match (u.axpy, u.sq) {
                (true, true) => cols::<true, true, true>(nv, s, acc, a, x0, x1),
                (true, false) => cols::<true, false, true>(nv, s, acc, a, x0, x1),
                (false, true) => cols::<false, true, true>(nv, s, acc, a, x0, x1),
                (false, false) => {}
            }
            return;
        }
    }
    for &(u, s, a, x) in rows {
        let (s, a) = ([s, 0.0], [a, 0.0]);
        // SAFETY: the caller's contract.
        match (u.axpy, u.sq) {
            (true, true) => cols::<true, true, false>(nv, s, acc, a, x, &[]),
            (true, false) => cols::<true, false, false>(nv, s, acc, a, x, &[]),
            (false, true) => cols::<false, true, false>(nv, s, acc, a, x, &[]),
            (false, false) => {}
        }
    }
}

/// Pass 1 of `plan_codes` on rows `block`: pushes each row's sum of squares to `row_ms`, adds
/// the squares to `col_ms`, makes the first power step's `u` and `v'` in `pi` (when active);
/// returns the counts of values > 0 and ≠ 0.
///
/// # Safety
/// The CPU must support AVX-512F and AVX2; `col_ms` is `cols` long; `u_bound` is above every
/// code.
#[allow(clippy::too_many_arguments)]
pub(super) unsafe fn stats_block<C: ModelCode>(
    codes: &[C],
    qmin: &[i64],
    block: std::ops::Range<usize>,
    cols: usize,
    u_bound: u64,
    row_ms: &mut Vec<f64>,
    col_ms: &mut [f64],
    pi: &mut PiBlock,
) -> (u64, u64) {
    let (mut pos, mut nz) = (0u64, 0u64);
    let (mut buf0, mut buf1) = (row_buf::<C>(cols), row_buf::<C>(cols));
    let (mut f0, mut f1) = (vec![0f64; cols], vec![0f64; cols]);
    let mut i = block.start;
    while i < block.end {
        let pair = i + 1 < block.end;
        let n = 1 + pair as usize;
        let st = if pair {
            let q = [qmin[i], qmin[i + 1]];
            let exact = row_exact(q[0], u_bound) && row_exact(q[1], u_bound);
            let bufs = (&mut buf0[..], &mut buf1[..]);
            // SAFETY: the caller's contract; lengths are `cols`; the exact variant only where
            // `row_exact` holds for both rows.
            with_pair!(codes, (i, i + 1), cols, bufs, |a, b| match exact {
                true => stats_pair::<_, true>(a, b, q, &mut f0, &mut f1, col_ms),
                false => stats_pair::<_, false>(a, b, q, &mut f0, &mut f1, col_ms),
            })
        } else {
            let (a, q0) = (code_row(codes, i, cols, &mut buf0), qmin[i]);
            // SAFETY: as above (AVX2).
            let r = match row_exact(q0, u_bound) {
                true => stats_row::<true>(a, q0, &mut f0, col_ms),
                false => stats_row::<false>(a, q0, &mut f0, col_ms),
            };
            [r, r]
        };
        for &(ss, _, rp, rz) in &st[..n] {
            pos += rp as u64;
            nz += rz as u64;
            row_ms.push(ss);
        }
        if !pi.nv.is_empty() {
            let xs: [&[f64]; 2] = [&f0, &f1];
            let rows = std::array::from_fn::<_, 2, _>(|r| {
                let s = st[r].1;
                let u = Update {
                    axpy: s != 0.0,
                    sq: false,
                };
                (u, s, 0.0, xs[r])
            });
            pi.u.extend(rows[..n].iter().map(|r| r.1));
            // SAFETY: the caller's contract; `nv` is `cols` long.
            update(&mut pi.nv, &mut [], &rows[..n]);
        }
        i += n;
    }
    (pos, nz)
}

/// What a maximum-likelihood pass of `plan_codes` does besides the column sums.
pub(super) struct Pass<'a> {
    /// The second power step: `u_i = row · v` and `v' += u_i · row`.
    pub(super) power: bool,
    /// The final `u_i = row · v` and the sign agreements (`vneg`: `v_j < 0` per column).
    pub(super) agree: bool,
    pub(super) v: &'a [f64],
    pub(super) vneg: &'a [u32],
    /// `1 / c_j²` (0 for zero columns) and the count of non-zero columns.
    pub(super) inv_c: &'a [f64],
    pub(super) nz_cols: f64,
}

/// A maximum-likelihood pass of `plan_codes` on the rows from `first` on (`rb`: their `r²`,
/// replaced by the new ones): adds the column sums to `acc`, makes `u`, `v'` and the agreements
/// in `pi` as `p` asks.
///
/// # Safety
/// The CPU must support AVX-512F and AVX2; `acc`, `p.inv_c`, `p.v` (when `p.power` or
/// `p.agree`) and `p.vneg` (when `p.agree`) are `cols` long; `u_bound` is above every code.
#[allow(clippy::too_many_arguments)]
pub(super) unsafe fn dots_block<C: ModelCode>(
    codes: &[C],
    qmin: &[i64],
    first: usize,
    rb: &mut [f64],
    cols: usize,
    u_bound: u64,
    p: &Pass,
    acc: &mut [f64],
    pi: &mut PiBlock,
) {
    let dot = p.power || p.agree;
    let (mut buf0, mut buf1) = (row_buf::<C>(cols), row_buf::<C>(cols));
    let (mut f0, mut f1) = (vec![0f64; cols], vec![0f64; cols]);
    let active: Vec<usize> = (0..rb.len()).filter(|&t| rb[t] > 0.0 || dot).collect();
    // The agreements from the prediction's bits, 32 codes a step (`agree_avx512`).
    use super::agree_avx512 as ag;
    let fast_agree = p.agree && ag::available();
    let vbits = match fast_agree {
        true => ag::neg_bits(p.vneg),
        false => Vec::new(),
    };
    for ts in active.chunks(2) {
        let n = ts.len();
        let sq = ts.iter().any(|&t| rb[t] > 0.0);
        let q = [qmin[first + ts[0]], qmin[first + ts[n - 1]]];
        let exact = q.iter().all(|&q0| row_exact(q0, u_bound));
        let (k, i0) = ((dot, sq, exact), first + ts[0]);
        let res = if n == 2 {
            let bufs = (&mut buf0[..], &mut buf1[..]);
            // SAFETY: the caller's contract; `exact` only where `row_exact` holds for both.
            with_pair!(codes, (i0, first + ts[1]), cols, bufs, |a, b| {
                dots2(k, a, b, q, &mut f0, &mut f1, p)
            })
        } else {
            let a = code_row(codes, i0, cols, &mut buf0);
            // SAFETY: as above.
            let r = dots1(k, a, q[0], &mut f0, p);
            [r, r]
        };
        let xs: [&[f64]; 2] = [&f0, &f1];
        let none = Update {
            axpy: false,
            sq: false,
        };
        let mut rows = [(none, 0.0, 0.0, xs[0]); 2];
        for (k, (&t, (s, sq))) in ts.iter().zip(res).enumerate() {
            if dot {
                pi.u.push(s);
            }
            if p.agree {
                let uneg = (s < 0.0) as u32;
                let row = &codes[(first + t) * cols..(first + t + 1) * cols];
                let q0 = qmin[first + t];
                // SAFETY: `fast_agree` only where the CPU runs it; `vbits` covers `cols`.
                pi.agree += match (C::as_u16(row), C::as_u32(row)) {
                    (Some(r), _) if fast_agree => ag::agreements_u16(r, q0, uneg, &vbits),
                    (_, Some(r)) if fast_agree => ag::agreements_u32(r, q0, uneg, &vbits),
                    _ => super::sign::row_agreements(row, q0, uneg, p.vneg, true),
                };
            }
            let r = &mut rb[t];
            if *r > 0.0 {
                *r = sq / p.nz_cols;
            }
            let u = Update {
                axpy: p.power && s != 0.0,
                sq: *r > 0.0,
            };
            rows[k] = (u, s, 1.0 / *r, xs[k]);
        }
        // SAFETY: the caller's contract; `pi.nv` is `cols` long when `p.power`.
        update(&mut pi.nv, acc, &rows[..n]);
    }
}

/// `plan_avx2::dots_row` of row `a` with `(DOT, SQ, EXACT)` = `k`: `(dot, sum of squares)`.
///
/// # Safety
/// As [`dots_block`]'s; `f0` is as long as `a`; with `EXACT`, `row_exact` holds.
unsafe fn dots1(k: (bool, bool, bool), a: &[u32], q0: i64, f0: &mut [f64], p: &Pass) -> (f64, f64) {
    let (v, ic) = (p.v, p.inv_c);
    // SAFETY: the caller's contract (AVX2).
    match k {
        (true, true, true) => dots_row::<true, true, true>(a, q0, f0, v, ic),
        (true, true, false) => dots_row::<true, true, false>(a, q0, f0, v, ic),
        (true, false, true) => dots_row::<true, false, true>(a, q0, f0, v, ic),
        (true, false, false) => dots_row::<true, false, false>(a, q0, f0, v, ic),
        (false, _, true) => dots_row::<false, true, true>(a, q0, f0, v, ic),
        (false, _, false) => dots_row::<false, true, false>(a, q0, f0, v, ic),
    }
}

/// [`dots1`] of rows `a` and `b` (their `q0` in `q`) at once.
///
/// # Safety
/// As [`dots_block`]'s; `b`, `f0` and `f1` are as long as `a`; with `EXACT`, `row_exact`
/// holds for both rows.
unsafe fn dots2<T: PairCode>(
    k: (bool, bool, bool),
    a: &[T],
    b: &[T],
    q: [i64; 2],
    f0: &mut [f64],
    f1: &mut [f64],
    p: &Pass,
) -> [(f64, f64); 2] {
    let (v, ic) = (p.v, p.inv_c);
    // SAFETY: the caller's contract (AVX-512F).
    match k {
        (true, true, true) => dots_pair::<_, true, true, true>(a, b, q, f0, f1, v, ic),
        (true, true, false) => dots_pair::<_, true, true, false>(a, b, q, f0, f1, v, ic),
        (true, false, true) => dots_pair::<_, true, false, true>(a, b, q, f0, f1, v, ic),
        (true, false, false) => dots_pair::<_, true, false, false>(a, b, q, f0, f1, v, ic),
        (false, _, true) => dots_pair::<_, false, true, true>(a, b, q, f0, f1, v, ic),
        (false, _, false) => dots_pair::<_, false, true, false>(a, b, q, f0, f1, v, ic),
    }
}
