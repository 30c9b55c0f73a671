//! Round trips and pinned properties of the rank-1 model coder.

use super::*;

/// Each row's smallest value `qmin_i` and the codes `q − qmin_i` of the values `q` (rows of
/// `cols`), as the quantizer gives them to the model.
pub(super) fn offset_codes(q: &[i64], cols: usize) -> (Vec<i64>, Vec<u32>) {
    let qmin: Vec<i64> = q
        .chunks_exact(cols)
        .map(|r| *r.iter().min().unwrap())
        .collect();
    let codes = q
        .iter()
        .enumerate()
        .map(|(k, &v)| (v - qmin[k / cols]) as u32)
        .collect();
    (qmin, codes)
}

/// States an encoder step of frequency `freq` may start from (L ≤ x < 2^32), chosen where the
/// arithmetic has edges: around multiples of `freq` (exact quotients) before and after the
/// renormalisation shift, both sides of the renormalisation bound, and the extremes. Shared by
/// the vector encoders' tests (kind 3, `enc3_avx2.rs`; kind 5, `lanes_enc_avx2.rs`).
#[cfg(target_arch = "x86_64")]
pub(super) fn edge_states(freq: u32) -> Vec<u32> {
    let x_max = if freq >= M { u32::MAX } else { freq << 20 };
    let mut xs = vec![
        L,
        L + 1,
        u32::MAX,
        u32::MAX - 1,
        x_max.wrapping_sub(1),
        x_max,
    ];
    for k in [1u32, 2, 3, 17, 255, 4095, 65535, 1 << 19, (1 << 20) - 1] {
        let v = (k as u64 * freq as u64) as u32;
        xs.extend([v, v.wrapping_sub(1), v.wrapping_add(1)]);
        xs.extend([v << 16 | 0xFFFF, v << 16]);
    }
    xs.retain(|&x| x >= L);
    xs
}

fn check(q: &[i64], rows: usize) {
    let p = encode(q, rows).unwrap();
    let cols = q.len() / rows;
    let qmin: Vec<i64> = q
        .chunks_exact(cols)
        .map(|r| *r.iter().min().unwrap())
        .collect();
    let mut out = vec![0u32; q.len()];
    decode(&p, &qmin, 4, &mut out).unwrap();
    for (k, (&u, &v)) in out.iter().zip(q).enumerate() {
        assert_eq!(qmin[k / cols] + u as i64, v, "value {k}");
    }
}

/// A 64-bit LCG (Knuth's MMIX constants) from `seed`, as uniform numbers in (0, 1) (never 0,
/// for Box-Muller's log).
fn open_unit(mut s: u64) -> impl FnMut() -> f64 {
    move || {
        s = s
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        ((s >> 11) as f64 + 0.5) / (1u64 << 53) as f64
    }
}

#[test]
fn ideal_size_is_within_a_tenth_of_a_percent_of_the_payload() {
    let mut rnd = open_unit(9);
    // Rank-1 scaled Gaussian codes (Box-Muller), 600 x 1000 (two blocks), a few escapes.
    let (rows, cols) = (600usize, 1000usize);
    let rs: Vec<f64> = (0..rows).map(|_| (3.0 * rnd()).exp()).collect();
    let cs: Vec<f64> = (0..cols).map(|_| (2.0 * rnd()).exp()).collect();
    let mut q = Vec::with_capacity(rows * cols);
    for r in &rs {
        for c in &cs {
            let g = (-2.0 * rnd().ln()).sqrt() * (std::f64::consts::TAU * rnd()).cos();
            q.push((g * r * c).round() as i64);
        }
    }
    q[777] = 1 << 40;
    let (qmin, codes) = offset_codes(&q, cols);
    let plan = plan_codes(&codes, &qmin, 1, None).unwrap();
    let real = plan.encode(&codes, &qmin, 2).len() as f64;
    let ideal = plan.ideal_bytes(&codes, &qmin, 2, 1);
    assert!(
        (real / ideal - 1.0).abs() < 1e-3,
        "payload {real} vs ideal {ideal}"
    );
    // The row-sampled estimate is close too, and both are thread-count independent.
    let est = plan.ideal_bytes(&codes, &qmin, 1, 16);
    assert!((est / ideal - 1.0).abs() < 0.1, "estimate {est} vs {ideal}");
    assert_eq!(ideal, plan.ideal_bytes(&codes, &qmin, 1, 1));
}

#[test]
fn synthetic_round_trips() {
    let mut s = 3u64;
    let mut rnd = move || {
        s = s
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (s >> 11) as f64 / (1u64 << 53) as f64
    };
    for (rows, cols, scale) in [
        (3, 5, 1.0),
        (8, 8, 0.1),
        (16, 12, 100.0),
        (5, 8, 1e3),
        (5, 8, 1e5),
        (5, 7, 1e3),
        (5, 8, 1e6),
        (5, 7, 1e6),
        (4, 4, 3e9),
    ] {
        let q: Vec<i64> = (0..rows * cols)
            .map(|_| ((rnd() - 0.3) * scale).round() as i64)
            .collect();
        check(&q, rows);
        let q2: Vec<i64> = q.iter().map(|v| v.abs()).collect();
        check(&q2, rows);
    }
    // An outlier far beyond the table: escapes.
    let mut q = vec![0i64; 64];
    q[5] = 1;
    q[9] = -2;
    q[17] = (1 << 32) - 3;
    check(&q, 8);
}

#[test]
fn block_counts_are_multiples_of_4_where_the_rows_allow() {
    let blocks = |rows: usize, cols: usize| rows.div_ceil(rows_per_block(rows, cols));
    // One block below 2^17 values (or of one row), two blocks of ⌈rows / 2⌉ rows below 2^19.
    assert_eq!(rows_per_block(100, 100), 100);
    assert_eq!(rows_per_block(255, 512), 255);
    assert_eq!(rows_per_block(256, 512), 128);
    assert_eq!(rows_per_block(1, 300_000), 1);
    assert_eq!(rows_per_block(384, 384), 192);
    assert_eq!(rows_per_block(1023, 512), 512);
    assert_eq!(blocks(1023, 512), 2);
    assert_eq!(rows_per_block(3, 100_000), 2);
    assert_eq!(blocks(3, 100_000), 2);
    // 1024 × 1024: 256 rows of 2^18 values, four blocks, as before.
    assert_eq!(rows_per_block(1024, 1024), 256);
    // 1024 × 512 (2^19 values): 512 rows gave 2 blocks; k = 3 gives ⌈1024 / 3⌉ = 342 rows,
    // 3 blocks; k = 4, 256 rows, 4 blocks.
    assert_eq!(rows_per_block(1024, 512), 256);
    // The MiniLM word embeddings, 6144 × 384: 683 rows (9 blocks) became 615 (10 blocks) in
    // session 22, now 512 (12 blocks): k = 10 gives 615 rows, 10 blocks; k = 11, 559 rows,
    // 11 blocks (10 · 559 = 5590 < 6144); k = 12, 512 rows.
    assert_eq!(rows_per_block(6144, 384), 512);
    assert_eq!(blocks(6144, 384), 12);
    // 10 rows of 2^17 values: 2 rows per block gives 5 blocks; k = 6 … 9 also give 5 (2 rows),
    // k = 10 … 12 give 10 (1 row): no multiple of 4, the first even count, 1 row per block.
    assert_eq!(rows_per_block(10, 1 << 17), 1);
    assert_eq!(blocks(10, 1 << 17), 10);
    // 3 rows of 2^18 values: no even count exists; one row per block.
    assert_eq!(rows_per_block(3, 1 << 18), 1);
    // 3000 × 262: 1001 rows (3 blocks) became 750 (4 blocks).
    assert_eq!(rows_per_block(3000, 262), 750);
    // 5000 × 300: 874 rows (6 blocks); k = 7 gives 715 rows, still 7 blocks; k = 8, 625 rows.
    assert_eq!(rows_per_block(5000, 300), 625);
    for &(r, c) in &[
        (6144usize, 384usize),
        (1024, 1024),
        (1024, 512),
        (5000, 300),
        (777, 1000),
        (2048, 4096),
    ] {
        assert_eq!(blocks(r, c) % 4, 0, "{r} x {c}");
    }
}

/// From 2^17 values a tensor is two kind-5 blocks (the second one row shorter on odd rows),
/// coded to the same bytes on any thread count and decoded (the two blocks side by side) to
/// exactly its codes; 255 × 514, two values short of 2^17, is one block.
#[test]
fn two_blocks_from_2_17_values() {
    let mut rnd = open_unit(17);
    for (rows, cols, blocks) in [(257usize, 512usize, 2usize), (256, 512, 2), (255, 514, 1)] {
        let mut q = Vec::with_capacity(rows * cols);
        for i in 0..rows {
            for j in 0..cols {
                let g = (-2.0 * rnd().ln()).sqrt() * (std::f64::consts::TAU * rnd()).cos();
                q.push((g * (1 + i % 7) as f64 * (1 + j % 5) as f64 * 9.0).round() as i64);
            }
        }
        let (qmin, codes) = offset_codes(&q, cols);
        let plan = plan_codes(&codes, &qmin, 1, None).unwrap();
        assert_eq!(plan.n_blocks(), blocks, "{rows} x {cols}");
        let p = plan.encode(&codes, &qmin, 1);
        assert_eq!(p[0], KIND_LANES_BLOCKS, "{rows} x {cols}");
        for t in [2, 3] {
            let pt = plan_codes(&codes, &qmin, t, None).unwrap();
            assert!(
                pt.encode(&codes, &qmin, t) == p,
                "{rows} x {cols} on {t} threads"
            );
        }
        let mut out = vec![0u32; q.len()];
        decode(&p, &qmin, 4, &mut out).unwrap();
        for (k, (&u, &v)) in out.iter().zip(&q).enumerate() {
            assert_eq!(qmin[k / cols] + u as i64, v, "{rows} x {cols}: value {k}");
        }
    }
}

/// `ideal_bytes` against a per-value sum written out directly: every sign mode, sign classes
/// on rows and columns, zero rows and columns, escapes and low bits.
#[test]
fn ideal_size_is_the_sum_of_each_values_cost() {
    let mut s = 3u64;
    let mut next = move || {
        s = s
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        s >> 33
    };
    let (rows, cols) = (70usize, 45usize);
    let q: Vec<i64> = (0..rows * cols)
        .map(|k| match next() % 50 {
            0 => 1 << 20,
            1 => -(1 << 12),
            r => (r as i64 - 25) * (1 + (k % 7) as i64),
        })
        .collect();
    let (qmin, codes) = offset_codes(&q, cols);
    let mut plan = plan_codes(&codes, &qmin, 1, None).unwrap();
    plan.a = (0..rows)
        .map(|i| {
            if i % 9 == 4 {
                0
            } else {
                110 + (next() % 40) as u8
            }
        })
        .collect();
    plan.b = (0..cols)
        .map(|j| {
            if j % 11 == 6 {
                0
            } else {
                100 + (next() % 60) as u8
            }
        })
        .collect();
    plan.row_neg = (0..rows).map(|_| next() % 2 == 0).collect();
    plan.col_neg = (0..cols).map(|_| next() % 2 == 0).collect();
    plan.rcls = (0..rows).map(|_| (next() % 4) as u8).collect();
    plan.ccls = (0..cols).map(|_| (next() % 4) as u8).collect();
    plan.fs = [100, 700, 1500, 2048, 2900, 3600, 4000];
    let tabs = tables();
    let cost_of = |f: u32| (crate::util::detmath::det_log2(M as f64 / f as f64) * 65536.0) as u64;
    // Classes first: the other modes have none (every class 0).
    for mode in [SIGN_CLASSES, SIGN_SVD, SIGN_PLAIN, SIGN_NONE] {
        plan.mode = mode;
        if mode != SIGN_CLASSES {
            plan.rcls = vec![0; rows];
            plan.ccls = vec![0; cols];
        }
        let costs = sym_costs(plan.family);
        let mut bits = 0u64;
        for i in (0..rows).filter(|&i| plan.a[i] != 0) {
            for j in (0..cols).filter(|&j| plan.b[j] != 0) {
                let v = qmin[i] + codes[i * cols + j] as i64;
                let m = v.unsigned_abs();
                if m != 0 && mode != SIGN_NONE {
                    let f = match mode {
                        SIGN_CLASSES => plan.fs[(plan.rcls[i] + plan.ccls[j]) as usize],
                        _ => plan.fs[0],
                    };
                    let pred_neg = mode >= SIGN_SVD && plan.row_neg[i] != plan.col_neg[j];
                    bits += if (v < 0) == pred_neg {
                        cost_of(f)
                    } else {
                        cost_of(M - f)
                    };
                }
                let p = tabs.pick[plan.a[i] as usize + plan.b[j] as usize];
                let (t, esc) = (p.ti as usize * 256, p.esc as u64);
                let hi = m >> p.s;
                bits += p.s as u64 * 65536;
                bits += if hi < esc {
                    costs[t + hi as usize]
                } else {
                    costs[t + esc as usize] + (6 + 64 - (hi - esc).leading_zeros() as u64) * 65536
                };
            }
        }
        let want = plan.header(true).len() as f64 + 20.0 + bits as f64 / 65536.0 / 8.0;
        assert_eq!(
            plan.ideal_bytes(&codes, &qmin, 1, 1),
            want,
            "sign mode {mode}"
        );
    }
}
