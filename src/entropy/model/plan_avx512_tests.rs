//! The AVX-512 pair kernels and block loops of `plan_codes` against the AVX2 kernels, bit for
//! bit, and whole plans made by every set of kernels.
//!
//! The inputs make the order of every sum matter: codes of magnitudes from 1 to 2^31 (their
//! squares, up to 2^62, round when added) and real weights, so a partial sum taken in another
//! order, or a column update of row B before row A's, changes the bits.

use super::plan::*;
use super::plan_avx2::*;
use super::plan_avx512::*;
use super::*;

use crate::util::test_rng::uniform as rng;

fn have() -> bool {
    super::lanes::have_avx2() && available()
}

/// A row of codes with `q0`: magnitudes spread over 2^0..2^31 (or small, for rows that take
/// the exact conversion), both signs.
fn row(cols: usize, seed: u64, small: bool) -> (Vec<u32>, i64) {
    let mut r = rng(seed);
    let q: Vec<i64> = (0..cols)
        .map(|_| {
            let e = if small { r() * 10.0 } else { r() * 31.0 };
            let m = ((1u64 << e as u32) as f64 * (1.0 + r())) as i64;
            if r() < 0.4 {
                -m
            } else {
                m
            }
        })
        .collect();
    let q0 = *q.iter().min().unwrap();
    let codes = q.iter().map(|&v| (v - q0).min(u32::MAX as i64) as u32);
    (codes.collect(), q0)
}

fn narrow(c: &[u32]) -> Vec<u16> {
    c.iter().map(|&u| u16::try_from(u).unwrap()).collect()
}

/// The codes as u16 if they all fit, else none.
fn narrow_or_empty(c: &[u32]) -> Vec<u16> {
    match c.iter().all(|&u| u < 1 << 16) {
        true => narrow(c),
        false => Vec::new(),
    }
}

fn bits(x: &[f64]) -> Vec<u64> {
    x.iter().map(|v| v.to_bits()).collect()
}

fn reals(n: usize, seed: u64, lo: f64) -> Vec<f64> {
    let mut r = rng(seed);
    (0..n).map(|_| (r() + lo) * 1e3f64.powf(r())).collect()
}

const COLS: [usize; 12] = [1, 3, 4, 5, 7, 8, 9, 12, 13, 130, 381, 777];

/// `stats_pair` on rows `a` and `b` of code type `C`, `exact` or not: the results, both rows'
/// values and the column sums from `cm0`.
fn pair_stats<C: PairCode>(
    a: &[C],
    b: &[C],
    q: [i64; 2],
    cm0: &[f64],
    exact: bool,
) -> ([RowStats; 2], [Vec<f64>; 3]) {
    let n = a.len();
    let (mut fa, mut fb, mut cm) = (vec![0.0; n], vec![0.0; n], cm0.to_vec());
    // SAFETY: the callers check AVX2 and AVX-512F, and `row_exact` for both rows with `exact`;
    // all lengths are `n`.
    let st = unsafe {
        match exact {
            true => stats_pair::<C, true>(a, b, q, &mut fa, &mut fb, &mut cm),
            false => stats_pair::<C, false>(a, b, q, &mut fa, &mut fb, &mut cm),
        }
    };
    (st, [fa, fb, cm])
}

#[test]
fn stats_pair_is_two_avx2_rows() {
    if !have() {
        return;
    }
    let (mut exact, mut narrow_rows) = (0, 0);
    for cols in COLS {
        for seed in 0..6u64 {
            let small = seed % 2 == 1;
            let (a, qa) = row(cols, seed * 97 + cols as u64, small);
            let (b, qb) = row(cols, seed * 89 + 3 * cols as u64, small);
            let cm0 = reals(cols, seed + 5, 0.0);
            let (mut fa, mut fb, mut cm) = (vec![0.0; cols], vec![0.0; cols], cm0.clone());
            // SAFETY: AVX2 and AVX-512F checked above; all lengths are `cols`.
            let want = unsafe {
                [
                    stats_row::<false>(&a, qa, &mut fa, &mut cm),
                    stats_row::<false>(&b, qb, &mut fb, &mut cm),
                ]
            };
            let key = |s: &[RowStats; 2]| s.map(|(x, y, p, z)| (x.to_bits(), y.to_bits(), p, z));
            let want = (key(&want), [bits(&fa), bits(&fb), bits(&cm)]);
            let bound = *a.iter().chain(&b).max().unwrap() as u64 + 1;
            let both_exact = row_exact(qa, bound) && row_exact(qb, bound);
            exact += both_exact as usize;
            for e in [false, true] {
                if e && !both_exact {
                    continue;
                }
                let q = [qa, qb];
                let (st, v) = pair_stats(&a, &b, q, &cm0, e);
                let got = (key(&st), v.map(|x| bits(&x)));
                assert_eq!(got, want, "cols {cols} seed {seed} exact {e}");
                // The same rows read as u16.
                if bound <= 1 << 16 {
                    narrow_rows += 1;
                    let (st, v) = pair_stats(&narrow(&a), &narrow(&b), q, &cm0, e);
                    let got = (key(&st), v.map(|x| bits(&x)));
                    assert_eq!(got, want, "u16, cols {cols} seed {seed} exact {e}");
                }
            }
        }
    }
    assert!(exact > 20, "{exact} pairs took the exact conversion");
    assert!(narrow_rows > 20, "{narrow_rows} pairs read as u16");
}

#[test]
fn dots_pair_is_two_avx2_rows() {
    if !have() {
        return;
    }
    let mut narrow_rows = 0;
    for cols in COLS {
        for seed in 0..6u64 {
            let small = seed % 2 == 0;
            let (a, qa) = row(cols, seed * 13 + cols as u64, small);
            let (b, qb) = row(cols, seed * 17 + 5 * cols as u64, small);
            let (a16, b16) = (narrow_or_empty(&a), narrow_or_empty(&b));
            let v: Vec<f64> = reals(cols, seed + 1, -0.5);
            let ic = reals(cols, seed + 2, 0.01);
            let bound = *a.iter().chain(&b).max().unwrap() as u64 + 1;
            let ex = row_exact(qa, bound) && row_exact(qb, bound);
            let mut f = [vec![0.0; cols], vec![0.0; cols]];
            let mut g = [vec![0.0; cols], vec![0.0; cols]];
            let key = |s: [(f64, f64); 2]| s.map(|(x, y)| (x.to_bits(), y.to_bits()));
            macro_rules! check {
                ($d:literal, $s:literal, $e:literal) => {{
                    let [f0, f1] = &mut f;
                    let [g0, g1] = &mut g;
                    // SAFETY: AVX2 and AVX-512F checked above; lengths are `cols`; the exact
                    // variant only where `row_exact` holds for both rows.
                    let (want, got) = unsafe {
                        (
                            [
                                dots_row::<$d, $s, $e>(&a, qa, f0, &v, &ic),
                                dots_row::<$d, $s, $e>(&b, qb, f1, &v, &ic),
                            ],
                            dots_pair::<u32, $d, $s, $e>(&a, &b, [qa, qb], g0, g1, &v, &ic),
                        )
                    };
                    let what = format!("cols {cols} seed {seed} {}", stringify!($d $s $e));
                    assert_eq!(key(got), key(want), "{what}");
                    assert_eq!((bits(g0), bits(g1)), (bits(f0), bits(f1)), "{what}");
                    if !a16.is_empty() && !b16.is_empty() {
                        narrow_rows += 1;
                        g0.fill(0.0);
                        g1.fill(0.0);
                        // SAFETY: as above.
                        let got = unsafe {
                            dots_pair::<u16, $d, $s, $e>(&a16, &b16, [qa, qb], g0, g1, &v, &ic)
                        };
                        assert_eq!(key(got), key(want), "u16 {what}");
                        assert_eq!((bits(g0), bits(g1)), (bits(f0), bits(f1)), "u16 {what}");
                    }
                }};
            }
            check!(true, true, false);
            check!(true, false, false);
            check!(false, true, false);
            if ex {
                check!(true, true, true);
                check!(true, false, true);
                check!(false, true, true);
            }
        }
    }
    assert!(narrow_rows > 50, "{narrow_rows} pairs read as u16");
}

/// `cols` against the AVX2 column kernels called row by row, for every length mod 8.
#[test]
fn column_updates_are_the_avx2_updates_row_by_row() {
    if !have() {
        return;
    }
    for n in (0..=19).chain([64, 777]) {
        let x0 = reals(n, n as u64, -0.5);
        let x1 = reals(n, n as u64 + 50, -0.5);
        let nv0 = reals(n, n as u64 + 70, -0.5);
        let acc0 = reals(n, n as u64 + 90, 0.0);
        let (s, a) = ([0.731, -1.37e3], [3.3e-3, 17.9]);
        // The AVX2 kernels, row A then row B.
        let want = |axpy: bool, sq: bool, two: bool| {
            let (mut nv, mut acc) = (nv0.clone(), acc0.clone());
            for (r, x) in [&x0, &x1].into_iter().enumerate().take(1 + two as usize) {
                // SAFETY: AVX2 checked above; lengths are `n`.
                unsafe {
                    match (axpy, sq) {
                        (true, true) => axpy_sq_axpy(&mut nv, s[r], &mut acc, a[r], x),
                        (true, false) => super::plan_avx2::axpy(&mut nv, s[r], x),
                        (false, true) => sq_axpy(&mut acc, a[r], x),
                        _ => {}
                    }
                }
            }
            (bits(&nv), bits(&acc))
        };
        macro_rules! check {
            ($p:literal, $q:literal, $t:literal) => {{
                let (mut nv, mut acc) = (nv0.clone(), acc0.clone());
                // SAFETY: AVX-512F checked above; lengths are `n`.
                unsafe { cols::<$p, $q, $t>(&mut nv, s, &mut acc, a, &x0, &x1) };
                let what = format!("n {n} {}", stringify!($p $q $t));
                assert_eq!((bits(&nv), bits(&acc)), want($p, $q, $t), "{what}");
            }};
        }
        check!(true, true, true);
        check!(true, false, true);
        check!(false, true, true);
        check!(true, true, false);
        check!(true, false, false);
        check!(false, true, false);
    }
}

/// What the AVX2 loops of `plan_codes` make of a block, for [`block_loops_are_the_avx2_loops`].
#[derive(Debug, PartialEq)]
struct Block {
    row_ms: Vec<u64>,
    col_ms: Vec<u64>,
    counts: (u64, u64),
    u: Vec<u64>,
    nv: Vec<u64>,
    rb: Vec<u64>,
    acc: Vec<u64>,
    agree: u64,
}

/// Pass 1 and one maximum-likelihood pass over all rows of `codes` as `plan_codes` runs them
/// with the AVX2 kernels (`wide`: the AVX-512 block loops), pass 1's `v'` updates on when
/// `signed`, the second pass as `pass` (`(power, agree)`).
fn run_block<C: ModelCode>(
    codes: &[C],
    qmin: &[i64],
    cols: usize,
    wide: bool,
    signed: bool,
    pass: (bool, bool),
) -> Block {
    let rows = qmin.len();
    let ub = 1u64 << 32;
    let (mut row_ms, mut col_ms) = (Vec::new(), reals(cols, 3, 0.0));
    let mut pi = PiBlock::new(signed, cols, rows);
    pi.nv
        .iter_mut()
        .zip(reals(cols, 4, -0.5))
        .for_each(|(a, b)| *a = b);
    let mut counts = (0, 0);
    let mut fd = vec![0.0; cols];
    let mut buf = row_buf::<C>(cols);
    // SAFETY (every kernel call): AVX2 and AVX-512F checked by the caller; lengths are `cols`.
    if wide {
        counts = unsafe {
            super::plan_pairs::stats_block(
                codes,
                qmin,
                0..rows,
                cols,
                ub,
                &mut row_ms,
                &mut col_ms,
                &mut pi,
            )
        };
    } else {
        for (i, &q0) in qmin.iter().enumerate() {
            let row = code_row(codes, i, cols, &mut buf);
            let (ss, s, rp, rz) = unsafe { stats_row::<false>(row, q0, &mut fd, &mut col_ms) };
            counts.0 += rp as u64;
            counts.1 += rz as u64;
            row_ms.push(ss);
            if signed {
                pi.u.push(s);
                if s != 0.0 {
                    unsafe { super::plan_avx2::axpy(&mut pi.nv, s, &fd) };
                }
            }
        }
    }
    let (power, agree) = pass;
    let v = reals(cols, 8, -0.5);
    let vneg: Vec<u32> = v.iter().map(|&x| (x < 0.0) as u32).collect();
    let inv_c = reals(cols, 9, 0.0);
    let nz_cols = 7.0;
    // Every third row's scale zero: the passes skip it or take its dots only.
    let mut rb: Vec<f64> = row_ms
        .iter()
        .enumerate()
        .map(|(i, &x)| if i % 3 == 1 { 0.0 } else { x })
        .collect();
    let mut acc = reals(cols, 10, 0.0);
    let mut pi2 = PiBlock::new(power || agree, cols, rows);
    pi2.nv
        .iter_mut()
        .zip(reals(cols, 11, -0.5))
        .for_each(|(a, b)| *a = b);
    if wide {
        let p = super::plan_pairs::Pass {
            power,
            agree,
            v: &v,
            vneg: &vneg,
            inv_c: &inv_c,
            nz_cols,
        };
        unsafe {
            super::plan_pairs::dots_block(codes, qmin, 0, &mut rb, cols, ub, &p, &mut acc, &mut pi2)
        };
    } else {
        let dot = power || agree;
        for (i, r) in rb.iter_mut().enumerate() {
            if !(*r > 0.0 || dot) {
                continue;
            }
            let row = code_row(codes, i, cols, &mut buf);
            let (s, sq) = unsafe {
                match (dot, *r > 0.0) {
                    (true, true) => {
                        dots_row::<true, true, false>(row, qmin[i], &mut fd, &v, &inv_c)
                    }
                    (true, false) => {
                        dots_row::<true, false, false>(row, qmin[i], &mut fd, &v, &inv_c)
                    }
                    _ => dots_row::<false, true, false>(row, qmin[i], &mut fd, &v, &inv_c),
                }
            };
            if dot {
                pi2.u.push(s);
            }
            if agree {
                let uneg = (s < 0.0) as u32;
                pi2.agree += super::sign::row_agreements(row, qmin[i], uneg, &vneg, true);
            }
            if *r > 0.0 {
                *r = sq / nz_cols;
            }
            unsafe {
                match (power && s != 0.0, *r > 0.0) {
                    (true, true) => axpy_sq_axpy(&mut pi2.nv, s, &mut acc, 1.0 / *r, &fd),
                    (true, false) => super::plan_avx2::axpy(&mut pi2.nv, s, &fd),
                    (false, true) => sq_axpy(&mut acc, 1.0 / *r, &fd),
                    (false, false) => {}
                }
            }
        }
    }
    Block {
        row_ms: bits(&row_ms),
        col_ms: bits(&col_ms),
        counts,
        u: bits(&[pi.u, pi2.u].concat()),
        nv: bits(&[pi.nv, pi2.nv].concat()),
        rb: bits(&rb),
        acc: bits(&acc),
        agree: pi2.agree,
    }
}

/// The block loops of `plan_pairs.rs` against the AVX2 loops: odd and even row counts, rows
/// skipped by a pass (so pairs are not always neighbours), rows whose `u_i` is 0 (no `v'`
/// update: a pair with one such row takes its rows one at a time), every pass.
#[test]
fn block_loops_are_the_avx2_loops() {
    if !have() {
        return;
    }
    let mut narrow_blocks = 0;
    for (rows, cols, wide) in [
        (1usize, 5usize, true),
        (2, 8, true),
        (5, 13, true),
        (8, 130, true),
        (11, 77, true),
        (7, 21, false),
        (10, 130, false),
    ] {
        let mut codes = Vec::new();
        let mut qmin = Vec::new();
        for i in 0..rows {
            let (c, q0) = match i % 4 {
                // A row of zeros: u_i = 0.
                2 => (vec![0u32; cols], 0),
                _ => row(cols, (rows * 31 + i) as u64, !wide || i % 2 == 0),
            };
            codes.extend(c);
            qmin.push(q0);
        }
        let codes16 = narrow_or_empty(&codes);
        for signed in [false, true] {
            for pass in [(false, false), (true, false), (false, true)] {
                let want = run_block(&codes, &qmin, cols, false, signed, pass);
                let got = run_block(&codes, &qmin, cols, true, signed, pass);
                assert_eq!(got, want, "{rows}x{cols} signed {signed} pass {pass:?}");
                if !codes16.is_empty() {
                    narrow_blocks += 1;
                    let got = run_block(&codes16, &qmin, cols, true, signed, pass);
                    assert_eq!(got, want, "u16 {rows}x{cols} signed {signed} pass {pass:?}");
                }
            }
        }
    }
    assert!(narrow_blocks >= 12, "{narrow_blocks} blocks of u16 codes");
}

/// Whole plans (u32 and u16 codes, signed and not, one block and several, zero rows) are the
/// same with every set of kernels.
#[test]
fn plans_are_the_same_with_every_kernel_set() {
    if !have() {
        return;
    }
    for (rows, cols, signed) in [
        (63usize, 37usize, true),
        (301, 130, true),
        (201, 77, false),
        (1101, 515, true),
    ] {
        let mut r = rng(rows as u64 + 5);
        let u: Vec<f64> = (0..rows).map(|_| r() - 0.3).collect();
        let v: Vec<f64> = (0..cols).map(|_| r() - 0.6).collect();
        let mut q = Vec::with_capacity(rows * cols);
        for (i, &ui) in u.iter().enumerate() {
            for &vj in &v {
                let x = match i % 29 == 3 {
                    true => 0.0,
                    false => 600.0 * ui * vj + 80.0 * (r() - 0.5),
                };
                let x = x.round() as i64;
                q.push(if signed { x } else { x.abs() });
            }
        }
        let (qmin, codes) = crate::entropy::model::tests::offset_codes(&q, cols);
        let narrow: Vec<u16> = codes.iter().map(|&c| c as u16).collect();
        assert!(codes.iter().all(|&c| c < 1 << 16));
        let plan = |k| plan_codes_with(&codes, &qmin, 2, None, k).unwrap();
        let want = plan(Kernels::Generic);
        for (k, p) in [
            (Kernels::Avx2, plan(Kernels::Avx2)),
            (Kernels::Avx512, plan(Kernels::Avx512)),
            (
                Kernels::Avx512,
                plan_codes_with(&narrow, &qmin, 1, None, Kernels::Avx512).unwrap(),
            ),
        ] {
            assert_eq!(p.header(true), want.header(true), "{rows}x{cols} {k:?}");
            assert_eq!((p.mode, p.family), (want.mode, want.family));
        }
        if signed {
            assert_ne!(want.mode, SIGN_NONE, "{rows}x{cols} is signed");
        }
    }
}

/// `agree_avx512::agreements_u16` against `sign::row_agreements` for every length mod 32, rows
/// all positive (q0 > 0), split at 0 and inside the codes, and all negative (−q0 > 65535),
/// both signs of `u_i`.
#[test]
fn u16_agreements_are_row_agreements() {
    use super::agree_avx512::{agreements_u16, available, neg_bits};
    if !available() {
        return;
    }
    let mut r = rng(41);
    let mut split_rows = 0;
    for n in (0..=70).chain([777]) {
        for q0 in [5i64, 0, -1, -37, -300, -65535, -65536, -70_000] {
            let row: Vec<u16> = (0..n)
                .map(|_| match (r() * 10.0) as u32 {
                    0 => 0,
                    1 => u16::MAX,
                    2 => (-q0).clamp(0, 65535) as u16,
                    _ => ((-q0).clamp(0, 65535) as f64 + (r() - 0.5) * 80.0).clamp(0.0, 65535.0)
                        as u16,
                })
                .collect();
            let vneg: Vec<u32> = (0..n).map(|_| (r() < 0.4) as u32).collect();
            let vbits = neg_bits(&vneg);
            for uneg in [0u32, 1] {
                let want = super::sign::row_agreements(&row, q0, uneg, &vneg, false);
                // SAFETY: checked above; `vbits` covers the row.
                let got = unsafe { agreements_u16(&row, q0, uneg, &vbits) };
                assert_eq!(got, want, "n {n} q0 {q0} uneg {uneg}");
                split_rows += (0 < want && want < n as u64) as usize;
            }
        }
    }
    assert!(
        split_rows > 500,
        "{split_rows} rows with some agreements, not all"
    );
}

/// `agree_avx512::agreements_u32` against `sign::row_agreements` for every length mod 32 (the
/// prediction's bits are read 16 at a time from 32-bit pieces), rows all positive, split at 0,
/// inside the codes and near the top of the u32 range, and all negative (−q0 > u32::MAX), both
/// signs of `u_i`.
#[test]
fn u32_agreements_are_row_agreements() {
    use super::agree_avx512::{agreements_u32, available, neg_bits};
    if !available() {
        return;
    }
    let mut r = rng(43);
    let mut split_rows = 0;
    let top = u32::MAX as i64;
    for n in (0..=70).chain([777]) {
        for q0 in [5i64, 0, -1, -37, -300, -70_000, 1 - top, -top, -top - 1] {
            let t = (-q0).clamp(0, top) as f64;
            let row: Vec<u32> = (0..n)
                .map(|_| match (r() * 10.0) as u32 {
                    0 => 0,
                    1 => u32::MAX,
                    2 => t as u32,
                    _ => (t + (r() - 0.5) * 80.0).clamp(0.0, top as f64) as u32,
                })
                .collect();
            let vneg: Vec<u32> = (0..n).map(|_| (r() < 0.4) as u32).collect();
            let vbits = neg_bits(&vneg);
            for uneg in [0u32, 1] {
                let want = super::sign::row_agreements(&row, q0, uneg, &vneg, false);
                // SAFETY: checked above; `vbits` covers the row.
                let got = unsafe { agreements_u32(&row, q0, uneg, &vbits) };
                assert_eq!(got, want, "n {n} q0 {q0} uneg {uneg}");
                split_rows += (0 < want && want < n as u64) as usize;
            }
        }
    }
    assert!(
        split_rows > 500,
        "{split_rows} rows with some agreements, not all"
    );
}
