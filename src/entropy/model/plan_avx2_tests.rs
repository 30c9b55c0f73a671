//! The AVX2 row kernels of `plan_codes` against the generic loops of `plan.rs`, bit for bit,
//! and whole plans made both ways.

use super::plan::*;
use super::plan_avx2::*;
use super::*;

use crate::util::test_rng::uniform as rng;

/// A row of codes: small signed values, a few beyond 2^24 (rounded to f32 in the generic
/// path) and offsets `u` ≥ 2^31 (the kernels' unsigned conversion).
fn row(cols: usize, seed: u64) -> (Vec<u32>, i64) {
    let mut r = rng(seed);
    let mut q: Vec<i64> = (0..cols)
        .map(|_| ((r() - 0.5) * 40.0 * r()).round() as i64)
        .collect();
    if cols > 3 && seed % 3 == 0 {
        q[1] = (1 << 24) + 3;
        q[cols - 2] = -(1 << 31) - 5;
        q[cols / 2] = (1 << 31) + 17;
    }
    let q0 = *q.iter().min().unwrap();
    (q.iter().map(|&v| (v - q0) as u32).collect(), q0)
}

fn bits(x: &[f64]) -> Vec<u64> {
    x.iter().map(|v| v.to_bits()).collect()
}

#[test]
fn row_kernels_match_the_generic_loops_bit_for_bit() {
    if !super::lanes::have_avx2() {
        return;
    }
    let mut exact_rows = 0;
    for cols in [1usize, 3, 4, 5, 8, 13, 130, 777] {
        for seed in 0..6u64 {
            let (c, q0) = row(cols, seed * 31 + cols as u64);
            let mut r = rng(seed + 7);
            let v: Vec<f64> = (0..cols).map(|_| r() - 0.4).collect();
            let inv_c: Vec<f64> = (0..cols).map(|_| 1.0 / (r() + 0.01)).collect();
            let vs32: Vec<f32> = v
                .iter()
                .map(|&x| if x < 0.0 { -1.0 } else { 1.0 })
                .collect();
            // Generic.
            let mut f32row = vec![0f32; cols];
            row_f32(&c, q0, &mut f32row);
            let mut cm_g: Vec<f64> = (0..cols).map(|j| j as f64 * 0.25).collect();
            for (m, &f) in cm_g.iter_mut().zip(&f32row) {
                *m += f as f64 * f as f64;
            }
            let ones = vec![1f64; cols];
            let pos_g = f32row.iter().filter(|&&f| f > 0.0).count() as u32;
            let nz_g = f32row.iter().filter(|&&f| f != 0.0).count() as u32;
            // AVX2.
            let mut fd = vec![f64::NAN; cols];
            let mut cm: Vec<f64> = (0..cols).map(|j| j as f64 * 0.25).collect();
            // SAFETY: AVX2 checked above; all lengths are `cols`.
            let (ss, s1, pos, nz) = unsafe { stats_row::<false>(&c, q0, &mut fd, &mut cm) };
            let fg: Vec<f64> = f32row.iter().map(|&f| f as f64).collect();
            assert_eq!(bits(&fd), bits(&fg), "values, cols {cols}");
            assert_eq!(bits(&cm), bits(&cm_g), "column sums, cols {cols}");
            assert_eq!(ss.to_bits(), sumsq4(&f32row).to_bits());
            assert_eq!(s1.to_bits(), dot4(&f32row, &ones).to_bits());
            assert_eq!((pos, nz), (pos_g, nz_g));

            let mut fd2 = vec![f64::NAN; cols];
            // SAFETY: as above.
            let (d, sq) = unsafe { dots_row::<true, true, false>(&c, q0, &mut fd2, &v, &inv_c) };
            assert_eq!(bits(&fd2), bits(&fg));
            assert_eq!(d.to_bits(), dot4(&f32row, &v).to_bits(), "dot, cols {cols}");
            assert_eq!(sq.to_bits(), sq_dot4(&f32row, &inv_c).to_bits());
            // SAFETY: as above.
            let (d1, z1) = unsafe { dots_row::<true, false, false>(&c, q0, &mut fd2, &v, &[]) };
            assert_eq!((d1.to_bits(), z1), (d.to_bits(), 0.0));
            // SAFETY: as above.
            let (z2, sq2) =
                unsafe { dots_row::<false, true, false>(&c, q0, &mut fd2, &[], &inv_c) };
            assert_eq!((z2, sq2.to_bits()), (0.0, sq.to_bits()));

            // The exact conversion, where its condition holds (small codes).
            let bound = *c.iter().max().unwrap() as u64 + 1;
            if row_exact(q0, bound) {
                exact_rows += 1;
                let (mut fe, mut cme) = (
                    vec![f64::NAN; cols],
                    (0..cols).map(|j| j as f64 * 0.25).collect::<Vec<_>>(),
                );
                // SAFETY: as above; row_exact holds.
                let e1 = unsafe { stats_row::<true>(&c, q0, &mut fe, &mut cme) };
                assert_eq!(bits(&fe), bits(&fg), "exact values, cols {cols}");
                assert_eq!(bits(&cme), bits(&cm_g), "exact column sums, cols {cols}");
                assert_eq!(
                    (e1.0.to_bits(), e1.1.to_bits(), e1.2, e1.3),
                    (ss.to_bits(), s1.to_bits(), pos, nz)
                );
                // SAFETY: as above.
                let (de, sqe) =
                    unsafe { dots_row::<true, true, true>(&c, q0, &mut fe, &v, &inv_c) };
                assert_eq!(
                    (de.to_bits(), sqe.to_bits()),
                    (d.to_bits(), sq.to_bits()),
                    "exact dots, cols {cols}"
                );
            }

            // v' update and the maximum-likelihood column sums.
            let mut pi = PiBlock::new(true, cols, 1);
            pi.nv.copy_from_slice(&inv_c);
            pi.power_row(&f32row, &v);
            let mut nv = inv_c.clone();
            if d != 0.0 {
                // SAFETY: as above.
                unsafe { axpy(&mut nv, d, &fd) };
            }
            assert_eq!(bits(&nv), bits(&pi.nv), "v', cols {cols}");
            let ir = 1.0 / (sq + 0.3);
            let mut acc_g = v.clone();
            for (a, &f) in acc_g.iter_mut().zip(&f32row) {
                let f = f as f64;
                *a += f * f * ir;
            }
            let mut acc = v.clone();
            // SAFETY: as above.
            unsafe { sq_axpy(&mut acc, ir, &fd) };
            assert_eq!(bits(&acc), bits(&acc_g));
            // Both updates in one loop.
            let (mut nv2, mut acc2) = (inv_c.clone(), v.clone());
            // SAFETY: as above.
            unsafe { axpy_sq_axpy(&mut nv2, d, &mut acc2, ir, &fd) };
            assert_eq!(bits(&nv2), bits(&pi.nv), "fused v', cols {cols}");
            assert_eq!(bits(&acc2), bits(&acc_g), "fused column sums, cols {cols}");

            // Sign agreements for both signs of u_i.
            for us in [1.0f64, -1.0] {
                let mut pa = PiBlock::new(true, cols, 1);
                let v_us: Vec<f64> = v.iter().map(|&x| x * us).collect();
                pa.agree_row(&f32row, &v_us, &vs32);
                let uneg = (pa.u[0] < 0.0) as u32;
                let vneg: Vec<u32> = vs32.iter().map(|&x| (x < 0.0) as u32).collect();
                let a = super::sign::row_agreements(&c, q0, uneg, &vneg, true);
                assert_eq!(a, pa.agree, "agreements, cols {cols}");
            }
        }
    }
    assert!(
        exact_rows > 20,
        "{exact_rows} rows took the exact conversion"
    );
}

/// `row_exact` against its definition: every value `q0 + u` (u < bound) within ±2^24.
#[test]
fn row_exact_is_the_f32_exact_range() {
    let f = 1i64 << 24;
    for (q0, bound, want) in [
        (0, 1 << 16, true),
        (-f, 1 << 16, true),
        (-f - 1, 1 << 16, false),
        (f - 65535, 1 << 16, true),
        (f - 65534, 1 << 16, false),
        (f, 1, true),
        (f, 2, false),
        (-5, 1 << 31, false),
        (-(1 << 30), 1 << 31, false),
        (0, 1 << 32, false),
    ] {
        assert_eq!(row_exact(q0, bound), want, "q0 {q0} bound {bound}");
    }
}

/// u16 codes (the narrow buffer) on rows at the edge of f32's exact integers: the plan is the
/// generic loops' one whether a row takes the exact conversion or not.
#[test]
fn u16_plans_near_two_to_the_24_are_the_same_on_both_paths() {
    if !super::lanes::have_avx2() {
        return;
    }
    let (rows, cols) = (96usize, 77usize);
    let mut r = rng(99);
    let mut codes = Vec::with_capacity(rows * cols);
    let mut qmin = Vec::with_capacity(rows);
    for i in 0..rows {
        // Rows straddling +2^24 (odd values beyond it round in f32), -2^24, and small rows.
        let q0 = match i % 4 {
            0 => (1i64 << 24) - 150,
            1 => -(1i64 << 24) - 3,
            2 => -40,
            _ => (1i64 << 24) - 65_536,
        };
        qmin.push(q0);
        for j in 0..cols {
            let u = if j == 0 {
                0
            } else {
                (r() * 300.0) as u16 + (i % 4 == 3) as u16 * 65_000
            };
            codes.push(u);
        }
    }
    let a = plan_codes_with(&codes, &qmin, 2, None, Kernels::Avx2).unwrap();
    let b = plan_codes_with(&codes, &qmin, 2, None, Kernels::Generic).unwrap();
    assert_eq!(a.header(true), b.header(true));
    assert_eq!((a.mode, a.family), (b.mode, b.family));
}

/// Whole plans (scales, family, sign model and classes) are the same on both paths, signed
/// and unsigned, one block and several, with all-zero rows.
#[test]
fn plans_are_the_same_on_both_paths() {
    if !super::lanes::have_avx2() {
        return;
    }
    for (rows, cols, signed) in [
        (64usize, 37usize, true),
        (300, 130, true),
        (200, 77, false),
        (1100, 515, true),
    ] {
        let mut r = rng(rows as u64);
        let u: Vec<f64> = (0..rows).map(|_| r() - 0.3).collect();
        let v: Vec<f64> = (0..cols).map(|_| r() - 0.6).collect();
        let mut q = Vec::with_capacity(rows * cols);
        for (i, &ui) in u.iter().enumerate() {
            for &vj in &v {
                let x = if i % 29 == 3 {
                    0.0
                } else {
                    60.0 * ui * vj + 8.0 * (r() - 0.5)
                };
                let x = x.round() as i64;
                q.push(if signed { x } else { x.abs() });
            }
        }
        let (qmin, codes) = crate::entropy::model::tests::offset_codes(&q, cols);
        let a = plan_codes_with(&codes, &qmin, 2, None, Kernels::Avx2).unwrap();
        let b = plan_codes_with(&codes, &qmin, 2, None, Kernels::Generic).unwrap();
        assert_eq!(a.header(true), b.header(true), "{rows}x{cols}");
        assert_eq!((a.mode, a.family), (b.mode, b.family));
        if signed {
            assert_ne!(a.mode, SIGN_NONE, "{rows}x{cols} is signed");
        }
    }
}
