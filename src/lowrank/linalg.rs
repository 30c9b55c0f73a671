//! The dense kernels of the low-rank compressor: products with a thin factor, Gram-Schmidt,
//! and the seeded start. Every sum runs in float64 in a fixed order (no FMA, no threads), so
//! the bytes are the same on every machine.

/// `out[i, k] = sum_j a[i, j] * b[j, k]` for `a` of `rows x cols` and `b` of `cols x rank`
/// (row-major), rounded once to float32.
pub fn mul(a: &[f32], rows: usize, cols: usize, b: &[f32], rank: usize, out: &mut [f32]) {
    let mut acc = vec![0.0f64; rank];
    for i in 0..rows {
        acc.fill(0.0);
        let row = &a[i * cols..(i + 1) * cols];
        for (j, &x) in row.iter().enumerate() {
            let x = f64::from(x);
            for (s, &y) in acc.iter_mut().zip(&b[j * rank..(j + 1) * rank]) {
                *s += x * f64::from(y);
            }
        }
        for (o, &s) in out[i * rank..(i + 1) * rank].iter_mut().zip(&acc) {
            *o = s as f32;
        }
    }
}

/// `out[j, k] = sum_i a[i, j] * p[i, k]`: `a^T p` for `a` of `rows x cols` and `p` of
/// `rows x rank`, rounded once to float32.
pub fn mul_transposed(
    a: &[f32],
    rows: usize,
    cols: usize,
    p: &[f32],
    rank: usize,
    out: &mut [f32],
) {
    let mut acc = vec![0.0f64; cols * rank];
    for i in 0..rows {
        let pr = &p[i * rank..(i + 1) * rank];
        for (j, &x) in a[i * cols..(i + 1) * cols].iter().enumerate() {
            let x = f64::from(x);
            for (s, &y) in acc[j * rank..(j + 1) * rank].iter_mut().zip(pr) {
                *s += x * f64::from(y);
            }
        }
    }
    for (o, s) in out.iter_mut().zip(acc) {
        *o = s as f32;
    }
}

/// `out[i, j] = scale * sum_k p[i, k] * q[j, k]`: `scale · p q^T`, rounded once to float32.
pub fn outer(p: &[f32], q: &[f32], rank: usize, scale: f64, out: &mut [f32], cols: usize) {
    for (i, row) in out.chunks_exact_mut(cols).enumerate() {
        let pr = &p[i * rank..(i + 1) * rank];
        for (j, o) in row.iter_mut().enumerate() {
            let s: f64 = pr
                .iter()
                .zip(&q[j * rank..(j + 1) * rank])
                .map(|(&a, &b)| f64::from(a) * f64::from(b))
                .sum();
            *o = (s * scale) as f32;
        }
    }
}

/// Orthonormalises the columns of `p` (`rows x rank`, row-major) in place by modified
/// Gram-Schmidt in float64, run twice (one pass loses orthogonality on nearly dependent
/// columns). A column that vanishes (nothing left after removing the others, or zero from the
/// start) becomes zero: it then contributes nothing to the approximation.
pub fn orthonormalize(p: &mut [f32], rows: usize, rank: usize) {
    let mut cols: Vec<Vec<f64>> = (0..rank)
        .map(|k| (0..rows).map(|i| f64::from(p[i * rank + k])).collect())
        .collect();
    let norms0: Vec<f64> = cols.iter().map(|c| norm(c)).collect();
    for (k, &n0) in norms0.iter().enumerate() {
        let (done, rest) = cols.split_at_mut(k);
        let c = &mut rest[0];
        for _ in 0..2 {
            for d in done.iter() {
                let dot: f64 = d.iter().zip(c.iter()).map(|(a, b)| a * b).sum();
                for (x, y) in c.iter_mut().zip(d) {
                    *x -= dot * y;
                }
            }
        }
        let n = norm(c);
        // Below this fraction of its own length the column is rounding noise of the others.
        if n > 0.0 && n > n0 * 1e-12 {
            c.iter_mut().for_each(|x| *x /= n);
        } else {
            c.iter_mut().for_each(|x| *x = 0.0);
        }
    }
    for (k, c) in cols.iter().enumerate() {
        for (i, &x) in c.iter().enumerate() {
            p[i * rank + k] = x as f32;
        }
    }
}

fn norm(c: &[f64]) -> f64 {
    c.iter().map(|x| x * x).sum::<f64>().sqrt()
}

/// Value `index` of the seeded start, uniform in [-1, 1): splitmix64 of `(seed, index)`, so any
/// column can be redrawn alone and every rank draws the same numbers.
pub fn seeded(seed: u64, index: u64) -> f32 {
    let mut z = seed ^ index.wrapping_add(1).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^= z >> 31;
    // 24 random bits: exact in float32.
    ((z >> 40) as f32) / (1u32 << 23) as f32 - 1.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn products_match_hand_computed_values() {
        // a = [[1, 2, 3], [4, 5, 6]], b = [[1], [0], [-1]] -> a b = [[-2], [-2]]
        let a = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0];
        let mut out = [0.0f32; 2];
        mul(&a, 2, 3, &[1.0, 0.0, -1.0], 1, &mut out);
        assert_eq!(out, [-2.0, -2.0]);
        // a^T [1, 1] = [5, 7, 9]
        let mut t = [0.0f32; 3];
        mul_transposed(&a, 2, 3, &[1.0, 1.0], 1, &mut t);
        assert_eq!(t, [5.0, 7.0, 9.0]);
        // 0.5 · [1, 2]^T [3, 4, 5] = [[1.5, 2, 2.5], [3, 4, 5]]
        let mut o = [0.0f32; 6];
        outer(&[1.0, 2.0], &[3.0, 4.0, 5.0], 1, 0.5, &mut o, 3);
        assert_eq!(o, [1.5, 2.0, 2.5, 3.0, 4.0, 5.0]);
    }

    #[test]
    fn gram_schmidt_gives_orthonormal_columns_and_zeroes_dependent_ones() {
        // Columns [3, 4, 0], [1, 1, 1], [6, 8, 0] (the third is twice the first).
        let mut p = [3.0, 1.0, 6.0, 4.0, 1.0, 8.0, 0.0, 1.0, 0.0];
        orthonormalize(&mut p, 3, 3);
        let col = |k: usize| [p[k], p[3 + k], p[6 + k]];
        assert_eq!(col(0), [0.6, 0.8, 0.0]);
        // [1,1,1] minus its projection 1.4·[0.6, 0.8, 0] = [0.16, -0.12, 1], norm sqrt(1.04).
        let n = 1.04f64.sqrt();
        for (x, e) in col(1).iter().zip([0.16 / n, -0.12 / n, 1.0 / n]) {
            assert!((f64::from(*x) - e).abs() < 1e-7);
        }
        assert_eq!(col(2), [0.0, 0.0, 0.0]);
    }

    #[test]
    fn seeded_values_are_in_range_and_depend_on_seed_and_index() {
        let v: Vec<f32> = (0..1000).map(|i| seeded(7, i)).collect();
        assert!(v.iter().all(|x| (-1.0..1.0).contains(x)));
        let mean = v.iter().map(|&x| f64::from(x)).sum::<f64>() / 1000.0;
        assert!(mean.abs() < 0.1, "mean {mean}");
        assert_ne!(seeded(7, 0), seeded(8, 0));
        assert_ne!(seeded(7, 0), seeded(7, 1));
    }
}
