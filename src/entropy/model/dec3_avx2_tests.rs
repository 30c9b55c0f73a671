//! The kind-3/4 vector decoder (`dec3_avx2.rs`) against the scalar one: the same codes, states
//! and errors on payloads of every sign mode, scale range (escapes, 0–30 low bits) and row
//! width, and on damaged and truncated payloads.

use super::decode::{decode_with_simd, Sink};
use super::*;

use crate::util::test_rng::uniform as rng;

/// Rank-1 scaled Gaussian codes `rows × cols` (Box-Muller) with all-zero rows and columns and
/// a few outliers; non-negative unless `signed`.
fn gaussian(rows: usize, cols: usize, scale: f64, signed: bool, seed: u64) -> Vec<i64> {
    let mut rnd = rng(seed);
    let rs: Vec<f64> = (0..rows)
        .map(|i| if i % 7 == 3 { 0.0 } else { (2.0 * rnd()).exp() })
        .collect();
    let cs: Vec<f64> = (0..cols)
        .map(|j| {
            if j % 11 == 5 {
                0.0
            } else {
                (2.0 * rnd()).exp()
            }
        })
        .collect();
    let mut q = Vec::with_capacity(rows * cols);
    for r in &rs {
        for c in &cs {
            let g = (-2.0 * rnd().ln()).sqrt() * (std::f64::consts::TAU * rnd()).cos();
            let v = (g * r * c * scale).round() as i64;
            q.push(if signed { v } else { v.abs() });
        }
    }
    let n = q.len();
    if n > 40 && rs[1] != 0.0 && cs[1] != 0.0 {
        q[cols + 1] = if signed { -(1 << 24) } else { 1 << 24 };
    }
    q
}

/// Decodes `p` into codes on the vector path (with its count of vector and scalar groups) and
/// on the scalar path. Where the AVX-512 step runs, the AVX2 step must give the same result
/// (codes or error) from the same groups.
type Both = (Result<Vec<u32>>, [usize; 2], Result<Vec<u32>>);

fn decode_both(p: &[u8], qmin: &[i64], n: usize) -> Both {
    let put = |o: &mut u32, _: i64, u: u32| *o = u;
    // One vector path's result and its groups [vector, scalar].
    let vector = || {
        let mut a = vec![0u32; n];
        super::dec3_avx2::COUNTS.with(|c| c.set([0; 2]));
        let ra = decode_with_simd(p, qmin, 4, &mut a, 1, Sink::Put, put, true).map(|_| a);
        (ra, super::dec3_avx2::COUNTS.with(|c| c.get()))
    };
    #[cfg(alcm_avx512)]
    super::dec3_avx512::RAN.with(|c| c.set(false));
    let (ra, counts) = vector();
    #[cfg(alcm_avx512)]
    if super::dec3_avx512::available() {
        use super::dec3_avx512::{OFF, RAN};
        // Sign mode 1 stays scalar; every other mode has vector groups.
        assert!(
            RAN.with(|c| c.get()) || counts == [0; 2],
            "the AVX-512 step did not run where it is available"
        );
        OFF.with(|c| c.set(true));
        RAN.with(|c| c.set(false));
        let (ra2, counts2) = vector();
        OFF.with(|c| c.set(false));
        assert!(!RAN.with(|c| c.get()), "the AVX-512 step ran switched off");
        assert_eq!(ra, ra2, "AVX-512 and AVX2 steps decode differently");
        assert_eq!(
            counts, counts2,
            "AVX-512 and AVX2 steps take different groups"
        );
    }
    let mut b = vec![0u32; n];
    let rb = decode_with_simd(p, qmin, 4, &mut b, 1, Sink::Put, put, false).map(|_| b);
    (ra, counts, rb)
}

/// Kind-3 (one block) or kind-4 payloads of `q` in sign mode `mode`, the plan's scale codes
/// moved by `shift` (non-zero codes stay in 1..=255: larger shifts give more low bits and
/// escapes, as a badly fitted model would), random sign classes and probabilities.
fn payload(q: &[i64], rows: usize, mode: u8, shift: i32, seed: u64) -> (Vec<u8>, Vec<i64>) {
    let cols = q.len() / rows;
    let (qmin, codes) = crate::entropy::model::tests::offset_codes(q, cols);
    let mut plan = plan_codes(&codes, &qmin, 1, None).unwrap();
    let mut rnd = rng(seed);
    let mv = |c: &mut u8| {
        if *c != 0 {
            *c = (*c as i32 + shift).clamp(1, 255) as u8;
        }
    };
    plan.a.iter_mut().for_each(mv);
    plan.b.iter_mut().for_each(mv);
    plan.mode = mode;
    for f in plan.fs.iter_mut() {
        *f = 1 + (rnd() * 4094.0) as u32;
    }
    if mode != SIGN_CLASSES {
        plan.fs = [plan.fs[0]; BINS];
    }
    plan.row_neg = (0..rows).map(|_| rnd() < 0.5).collect();
    plan.col_neg = (0..cols).map(|_| rnd() < 0.5).collect();
    let (rc, cc) = if mode == SIGN_CLASSES {
        (4.0, 4.0)
    } else {
        (0.0, 0.0)
    };
    plan.rcls = (0..rows).map(|_| (rnd() * rc) as u8).collect();
    plan.ccls = (0..cols).map(|_| (rnd() * cc) as u8).collect();
    (
        plan.encode_as(&codes, &qmin, 1, false, codes.len() / 2),
        qmin,
    )
}

/// Every payload decodes to its codes on both paths, and the vector path decodes most groups
/// of fitted payloads and hands some (escapes, wide low bits, lanes that might read twice) to the scalar step.
#[test]
fn vector_and_scalar_paths_decode_alike() {
    // Vector and scalar groups of the fitted payloads (shift 0) of at most 8 low bits, and of
    // all.
    let (mut fitted, mut groups) = ([0usize; 2], [0usize; 2]);
    let mut seed = 1;
    for &(rows, cols) in &[(40usize, 64usize), (33, 129), (16, 7), (9, 3), (120, 250)] {
        for &scale in &[0.05, 1.0, 30.0, 3000.0] {
            for &signed in &[true, false] {
                let q = gaussian(rows, cols, scale, signed, seed);
                let modes: &[u8] = if signed {
                    &[SIGN_PLAIN, SIGN_SVD, SIGN_CLASSES]
                } else {
                    &[SIGN_PLAIN, SIGN_NONE, SIGN_SVD, SIGN_CLASSES]
                };
                for &mode in modes {
                    for shift in [0, -40, 40, 90] {
                        seed += 1;
                        let (p, qmin) = payload(&q, rows, mode, shift, seed);
                        assert!(p[0] == KIND_SHAPED || p[0] == KIND_SHAPED_BLOCKS);
                        let (a, counts, b) = decode_both(&p, &qmin, q.len());
                        let what = format!("{rows}x{cols} scale {scale} mode {mode} shift {shift}");
                        let a = a.unwrap_or_else(|e| panic!("vector {what}: {e}"));
                        let b = b.unwrap_or_else(|e| panic!("scalar {what}: {e}"));
                        for (k, ((&u, &v), &w)) in a.iter().zip(&b).zip(&q).enumerate() {
                            assert_eq!(qmin[k / cols] + u as i64, w, "vector {what} value {k}");
                            assert_eq!(u, v, "{what} value {k}");
                        }
                        for k in 0..2 {
                            groups[k] += counts[k];
                            fitted[k] += if shift == 0 && scale <= 30.0 {
                                counts[k]
                            } else {
                                0
                            };
                        }
                    }
                }
            }
        }
    }
    assert!(
        fitted[0] > 10 * fitted[1],
        "fitted: vector / scalar {fitted:?}"
    );
    assert!(groups[1] > 1000, "all: vector / scalar groups {groups:?}");
}

/// Damaged payloads (bytes of the word stream changed, words cut off) give the same codes or
/// the same error on both paths.
#[test]
fn damaged_payloads_fail_alike_on_both_paths() {
    let mut rnd = rng(77);
    let (rows, cols) = (24usize, 101usize);
    let mut errors = 0;
    for (i, &mode) in [SIGN_PLAIN, SIGN_NONE, SIGN_SVD, SIGN_CLASSES]
        .iter()
        .enumerate()
    {
        let q = gaussian(rows, cols, 20.0, mode != SIGN_NONE, 5 + i as u64);
        let (p, qmin) = payload(&q, rows, mode, 0, 9 + i as u64);
        for trial in 0..60 {
            let mut d = p.clone();
            if trial % 3 == 0 {
                // Cut k words off the stream, W adjusted: the stream ends early.
                let wpos = find_w(&d);
                let w = u32::from_le_bytes(d[wpos..wpos + 4].try_into().unwrap());
                let k = 1 + (rnd() * (w as f64 - 9.0).min(40.0)) as u32;
                d[wpos..wpos + 4].copy_from_slice(&(w - k).to_le_bytes());
                d.truncate(d.len() - 2 * k as usize);
            } else {
                let wpos = find_w(&d);
                for _ in 0..1 + trial % 4 {
                    let at = wpos + 4 + (rnd() * (d.len() - wpos - 4) as f64) as usize;
                    d[at] ^= 1 + (rnd() * 255.0) as u8;
                }
            }
            let (a, _, b) = decode_both(&d, &qmin, q.len());
            errors += a.is_err() as usize;
            assert_eq!(a, b, "mode {mode} trial {trial}");
        }
    }
    assert!(errors > 100, "{errors} damaged payloads refused");
}

/// The offset of a one-block payload's `u32 W` (the words run to the payload's end).
fn find_w(p: &[u8]) -> usize {
    (0..p.len() - 4)
        .rev()
        .find(|&k| {
            u32::from_le_bytes(p[k..k + 4].try_into().unwrap()) as usize * 2 == p.len() - k - 4
        })
        .expect("a word count")
}
