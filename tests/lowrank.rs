//! The low-rank compressor against float64 references computed here: projections of hand-made
//! matrices, rank-1 recovery within the factor bound, residual carry, warm start, and refusals.

use alcm::lowrank::{low_rank_pays, LowRank, LowRankConfig};
use alcm::{decompress, ErrorKind};

fn cfg(rank: usize, factor_target: f64) -> LowRankConfig {
    LowRankConfig {
        rank,
        factor_target,
        ..Default::default()
    }
}

fn rel_l2(a: &[f32], b: &[f64]) -> f64 {
    let num: f64 = a
        .iter()
        .zip(b)
        .map(|(&x, y)| (f64::from(x) - y).powi(2))
        .sum();
    let den: f64 = b.iter().map(|y| y * y).sum();
    (num / den).sqrt()
}

/// A deterministic pseudo-random matrix (a small LCG, independent of the library's seed).
fn noise(n: usize, seed: u64) -> Vec<f32> {
    let mut s = seed
        .wrapping_mul(6364136223846793005)
        .wrapping_add(1442695040888963407);
    (0..n)
        .map(|_| {
            s = s
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            ((s >> 40) as f32) / (1u64 << 24) as f32 - 0.5
        })
        .collect()
}

/// One step over `grads.len()` simulated ranks: the sums are taken in rank order, as a caller
/// would. Returns every rank's output and the decoded P sum.
fn step(states: &mut [LowRank], grads: &[Vec<f32>]) -> (Vec<Vec<f32>>, Vec<f32>) {
    let n = states.len();
    let p_frames: Vec<Vec<u8>> = states
        .iter_mut()
        .zip(grads)
        .map(|(s, g)| s.begin(g).unwrap().bytes)
        .collect();
    let mut p_sum = vec![0.0f32; states[0].p_len()];
    for f in &p_frames {
        for (a, b) in p_sum.iter_mut().zip(decompress(f).unwrap().data) {
            *a += b;
        }
    }
    let q_frames: Vec<Vec<u8>> = states
        .iter_mut()
        .map(|s| s.after_p(&p_sum).unwrap().bytes)
        .collect();
    let mut q_sum = vec![0.0f32; states[0].q_len()];
    for f in &q_frames {
        for (a, b) in q_sum.iter_mut().zip(decompress(f).unwrap().data) {
            *a += b;
        }
    }
    let [rows, cols] = states[0].shape();
    let outs = states
        .iter_mut()
        .map(|s| {
            let mut out = vec![0.0f32; rows * cols];
            s.finish(&q_sum, 1.0 / n as f32, &mut out).unwrap();
            out
        })
        .collect();
    (outs, p_sum)
}

#[test]
fn pays_only_for_large_enough_matrices() {
    // 4x4 at rank 1: 16 >= 2·1·8 = 16 pays; 3x4: 12 < 14 does not.
    assert!(low_rank_pays(&[4, 4], &cfg(1, 0.02)));
    assert!(!low_rank_pays(&[3, 4], &cfg(1, 0.02)));
    assert!(!low_rank_pays(&[64], &cfg(1, 0.02)));
    assert!(!low_rank_pays(&[8, 8, 3, 3], &cfg(1, 0.02)));
    assert!(!low_rank_pays(&[0, 100], &cfg(1, 0.02)));
    // 16x16 at rank 4: 256 >= 2·4·32 = 256 pays; rank 5 does not.
    assert!(low_rank_pays(&[16, 16], &cfg(4, 0.02)));
    assert!(!low_rank_pays(&[16, 16], &cfg(5, 0.02)));
    for shape in [&[3usize, 4][..], &[64], &[8, 8, 3, 3]] {
        let e = LowRank::new(shape, cfg(1, 0.02)).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidArgument, "{shape:?}");
        assert!(e.message().contains("does not pay"), "{}", e.message());
    }
    for bad in [cfg(0, 0.02), cfg(1, 0.0), cfg(1, 1.0), cfg(1, f64::NAN)] {
        assert_eq!(
            LowRank::new(&[64, 64], bad).unwrap_err().kind(),
            ErrorKind::InvalidConfig
        );
    }
    let mut c = cfg(1, 0.02);
    c.min_compression = 0.5;
    assert_eq!(
        LowRank::new(&[64, 64], c).unwrap_err().kind(),
        ErrorKind::InvalidConfig
    );
}

#[test]
fn rank_one_matrices_are_recovered_within_the_factor_bound() {
    let (rows, cols) = (48, 40);
    let u: Vec<f64> = (0..rows).map(|i| ((i as f64) * 0.37).sin() + 0.2).collect();
    let v: Vec<f64> = (0..cols).map(|j| ((j as f64) * 0.11).cos() * 3.0).collect();
    let exact: Vec<f64> = (0..rows * cols)
        .map(|i| u[i / cols] * v[i % cols])
        .collect();
    let g: Vec<f32> = exact.iter().map(|&x| x as f32).collect();
    for target in [1e-4, 1e-2, 5e-2] {
        let mut s = [LowRank::new(&[rows, cols], cfg(1, target)).unwrap()];
        let (outs, _) = step(&mut s, std::slice::from_ref(&g));
        let err = rel_l2(&outs[0], &exact);
        // Two coded factors, each within `target`: the product within about their sum.
        assert!(err <= 2.0 * target + 1e-6, "target {target}: error {err}");
    }
}

#[test]
fn two_ranks_match_a_float64_projection_reference() {
    // The result is the mean gradient projected on span(sum_r M_r Q): P̂ P̂ᵀ mean(M). The
    // reference builds that projector from the P sum by the normal equations,
    // P (PᵀP)⁻¹ Pᵀ with the 2x2 inverse written out (not Gram-Schmidt as the library does).
    let (rows, cols) = (30, 20);
    let grads = [noise(rows * cols, 1), noise(rows * cols, 2)];
    let mut s: Vec<LowRank> = (0..2)
        .map(|_| LowRank::new(&[rows, cols], cfg(2, 1e-5)).unwrap())
        .collect();
    let (outs, p_sum) = step(&mut s, &grads);
    assert_eq!(outs[0], outs[1], "both ranks get the same bits");
    let p = |i: usize, k: usize| f64::from(p_sum[i * 2 + k]);
    let (mut a, mut b, mut d) = (0.0, 0.0, 0.0);
    for i in 0..rows {
        a += p(i, 0) * p(i, 0);
        b += p(i, 0) * p(i, 1);
        d += p(i, 1) * p(i, 1);
    }
    let det = a * d - b * b;
    let inv = [d / det, -b / det, -b / det, a / det];
    let mean: Vec<f64> = (0..rows * cols)
        .map(|i| (f64::from(grads[0][i]) + f64::from(grads[1][i])) / 2.0)
        .collect();
    let mut reference = vec![0.0f64; rows * cols];
    for i in 0..rows {
        for k in 0..rows {
            let w = p(i, 0) * (inv[0] * p(k, 0) + inv[1] * p(k, 1))
                + p(i, 1) * (inv[2] * p(k, 0) + inv[3] * p(k, 1));
            for j in 0..cols {
                reference[i * cols + j] += w * mean[k * cols + j];
            }
        }
    }
    let err = rel_l2(&outs[0], &reference);
    assert!(err < 1e-4, "error against the reference {err}");
}

#[test]
fn residual_carries_the_error_into_the_next_step() {
    let (rows, cols) = (24, 16);
    let g1 = noise(rows * cols, 3);
    let g2 = noise(rows * cols, 4);
    let mut s = [LowRank::new(&[rows, cols], cfg(1, 1e-2)).unwrap()];
    let (o1, _) = step(&mut s, std::slice::from_ref(&g1));
    let r1: Vec<f32> = g1.iter().zip(&o1[0]).map(|(g, o)| g - o).collect();
    assert_eq!(s[0].residual(), &r1[..]);
    let (o2, _) = step(&mut s, std::slice::from_ref(&g2));
    let r2: Vec<f32> = g2
        .iter()
        .zip(&r1)
        .zip(&o2[0])
        .map(|((g, r), o)| (g + r) - o)
        .collect();
    assert_eq!(s[0].residual(), &r2[..]);
    // What was sent plus what is left is what came in.
    for i in 0..rows * cols {
        let sent = f64::from(o1[0][i]) + f64::from(o2[0][i]) + f64::from(r2[i]);
        assert!((sent - f64::from(g1[i]) - f64::from(g2[i])).abs() < 1e-5);
    }
    // Without feedback there is no residual.
    let mut c = cfg(1, 1e-2);
    c.feedback = false;
    let mut s = [LowRank::new(&[rows, cols], c).unwrap()];
    step(&mut s, &[g1]);
    assert!(s[0].residual().is_empty());
}

#[test]
fn warm_start_converges_to_the_best_rank_one_approximation() {
    // G = 3 u1 v1ᵀ + u2 v2ᵀ with orthonormal u's and v's: the best rank-1 error is 1/sqrt(10).
    let (rows, cols) = (32, 32);
    let unit = |f: &dyn Fn(usize) -> f64, n: usize| {
        let v: Vec<f64> = (0..n).map(f).collect();
        let norm = v.iter().map(|x| x * x).sum::<f64>().sqrt();
        v.into_iter().map(|x| x / norm).collect::<Vec<_>>()
    };
    let u1 = unit(&|i| if i % 2 == 0 { 1.0 } else { 0.0 }, rows);
    let u2 = unit(&|i| if i % 2 == 1 { 1.0 } else { 0.0 }, rows);
    let v1 = unit(&|j| if j < 16 { 1.0 } else { 0.0 }, cols);
    let v2 = unit(&|j| if j >= 16 { 1.0 } else { 0.0 }, cols);
    let exact: Vec<f64> = (0..rows * cols)
        .map(|k| 3.0 * u1[k / cols] * v1[k % cols] + u2[k / cols] * v2[k % cols])
        .collect();
    let g: Vec<f32> = exact.iter().map(|&x| x as f32).collect();
    let mut c = cfg(1, 1e-4);
    c.feedback = false;
    let mut s = [LowRank::new(&[rows, cols], c).unwrap()];
    let errs: Vec<f64> = (0..8)
        .map(|_| rel_l2(&step(&mut s, std::slice::from_ref(&g)).0[0], &exact))
        .collect();
    let best = 0.1f64.sqrt();
    assert!(
        errs[0] > best + 1e-3,
        "a random start is not optimal: {errs:?}"
    );
    assert!((errs[7] - best).abs() < 1e-3, "{errs:?}");
}

#[test]
fn same_bytes_every_run_and_state_round_trips() {
    let (rows, cols) = (40, 25);
    let g = noise(rows * cols, 5);
    let run = || {
        let mut s = LowRank::new(&[rows, cols], cfg(2, 1e-2)).unwrap();
        let p = s.begin(&g).unwrap().bytes;
        let q = s.after_p(&decompress(&p).unwrap().data).unwrap().bytes;
        (p, q)
    };
    assert_eq!(run(), run());
    // A state restored from q() and residual() continues with the same bytes.
    let mut a = [LowRank::new(&[rows, cols], cfg(2, 1e-2)).unwrap()];
    step(&mut a, std::slice::from_ref(&g));
    let mut b = LowRank::new(&[rows, cols], cfg(2, 1e-2)).unwrap();
    b.set_q(a[0].q()).unwrap();
    b.set_residual(a[0].residual()).unwrap();
    assert_eq!(a[0].begin(&g).unwrap().bytes, b.begin(&g).unwrap().bytes);
}

#[test]
fn bad_calls_are_refused_and_change_nothing() {
    let (rows, cols) = (16, 16);
    let g = noise(rows * cols, 6);
    let mut s = LowRank::new(&[rows, cols], cfg(1, 1e-2)).unwrap();
    let kind = |r: alcm::Result<alcm::Compressed>| r.unwrap_err().kind();
    assert_eq!(kind(s.after_p(&[0.0; 16])), ErrorKind::InvalidArgument);
    let mut out = vec![0.0f32; rows * cols];
    assert!(s.finish(&[0.0; 16], 1.0, &mut out).is_err());
    assert_eq!(kind(s.begin(&g[1..])), ErrorKind::InvalidArgument);
    let mut bad = g.clone();
    bad[3] = f32::NAN;
    assert!(s.begin(&bad).is_err());
    let p = decompress(&s.begin(&g).unwrap().bytes).unwrap().data;
    let mut p_bad = p.clone();
    p_bad[0] = f32::INFINITY;
    assert_eq!(kind(s.after_p(&p_bad)), ErrorKind::InvalidArgument);
    assert_eq!(kind(s.after_p(&p[1..])), ErrorKind::InvalidArgument);
    let q = decompress(&s.after_p(&p).unwrap().bytes).unwrap().data;
    assert!(s.finish(&q, f32::NAN, &mut out).is_err());
    assert!(s.finish(&q, 1.0, &mut out[1..]).is_err());
    assert!(s.set_q(&q[1..]).is_err() && s.set_residual(&[1.0]).is_err());
    s.finish(&q, 1.0, &mut out).unwrap();
    assert!(out.iter().any(|&x| x != 0.0));
}
