//! Parametric (rank-1 Gaussian) entropy model for the lossy modes (adaptive frames code the
//! channels relative to their zero code, see `frame_qmin`): backend id 3
//! (`BACKEND_RANS_MODEL`).
//!
//! The frame's codes are `q = qmin_c + u = round(x/Δ)`. The tensor is viewed as `R` rows (the
//! frame's channels) × `C = n/R` columns, and each code is modelled as a discretised zero-mean
//! Gaussian with `σ_ij = r_i · c_j` (GUIDE §6): the row and column scales are sent as 8-bit
//! log-scale codes (`σ = 2^((a_i + b_j − 256)/8)`; code 0 flags an all-zero row or column, whose
//! values are not coded at all). `|q|` is coded with one of 73 static tables chosen by
//! `k = a_i + b_j − 224` (one table per 1/8 octave of σ), the sign with a binary model: against
//! `+` (plain), not at all (non-negative tensors such as Adam's `exp_avg_sq`: the one-sided
//! model), or against `sign(u_i · v_j)` of the top singular pair (three power iterations; the
//! signs of `u` and `v` are sent as bitmaps).
//!
//! The tables are built by a fixed routine using only IEEE-754 `+ − × ÷` and rounding (a
//! hand-written `exp`, Simpson integration, integer normalisation), so they are the same bytes
//! on every platform; [`table_checksum`] is asserted in the tests.
//!
//! # Tables
//! `σ_k = 2^((k − 32)/8)`. For `k ≤ 64` (σ ≤ 16) table `k` codes `m = |q|` directly: symbol
//! `m` for `m ≤ cap_k = min(250, ⌈7σ⌉ + 1)`, symbol `cap_k + 1` = escape. For `k > 64` the
//! value is split: `s = (k − 57) div 8` low bits of `m` are coded uniformly and `h = m >> s`
//! with bucket table `65 + (k − 8s − 57)` (σ' = σ_{k−8s} ∈ (8, 16]). Probabilities of a
//! direct table: `P(0) = H(0.5/σ)`, `P(m) = H((m+0.5)/σ) − H((m−0.5)/σ)`; of a bucket table
//! `P(h) = H((h+1)/σ') − H(h/σ')`; escape = the rest; `H(z) = P(|X| < z)`, `X ~ N(0, 1)`.
//! Each probability times 2^40, rounded, at least 1, is normalised to a total of 2^12 by
//! `rans::normalize`. After an escape, 6 uniform bits give `nb ≤ 56` and `nb` uniform bits
//! (in 8-bit pieces, low first) give `h − cap − 1`.
//!
//! # Payload layout (little-endian)
//! ```text
//! u8  kind = 1
//! u8  sign mode: 0 = sign coded against +, 1 = no sign (every code ≥ 0), 2 = against sign(u_i v_j)
//! u16 f (modes 0, 2): P(sign equals the prediction) = f / 4096, 1 ≤ f ≤ 4095
//! R × u8 row scale codes a_i, C × u8 column scale codes b_j (0 = all-zero row/column)
//! mode 2: ⌈R/8⌉ bytes of row sign bits, ⌈C/8⌉ bytes of column sign bits (bit set = negative,
//!         LSB first)
//! u32 W, then W × u16 words: words 0..8 are the four final rANS states (high half first)
//! ```
//! Kind 2 (tensors of ≥ 2^19 values): the same up to the sign bitmaps, then `u32
//! rows_per_block` (≥ 1) and, for each of the ⌈R / rows_per_block⌉ blocks of consecutive rows,
//! its own `u32 W, W × u16 words` as above (own states; coded and checked independently).
//!
//! Kinds 3 and 4 (written by the encoder since the shape families; kinds 1–2 still decode):
//! ```text
//! u8  kind = 3 (one stream, as kind 1) or 4 (row blocks, as kind 2)
//! u8  family: 0 = the Gaussian tables above, 1–2 = a generalised Gaussian (`rans_family.rs`)
//! u8  sign mode: 0, 1, 2 as kind 1, or 3 = against sign(u_i v_j) with sign classes
//! u16 f (modes 0, 2) as kind 1; mode 3: 7 × u16 f_0..f_6 (each 1..=4095)
//! row scale codes, then column scale codes, each packed: u8 base (≥ 1), u8 bits (≤ 8), then
//!     ⌈count · bits / 8⌉ bytes of `bits`-bit fields, LSB first; field 0 = code 0, field k ≥ 1 =
//!     code base + k − 1 (≤ 255)
//! modes 2, 3: the row and column sign bitmaps as kind 1
//! mode 3: ⌈R/4⌉ bytes of 2-bit row classes, ⌈C/4⌉ bytes of 2-bit column classes (LSB first)
//! the rest as kind 1 (words) or kind 2 (rows_per_block, blocks)
//! ```
//! In mode 3 the sign of value (i, j) is coded like mode 2 but with `f = f_{class_i + class_j}`
//! (`rans_sign.rs`: how strongly the rank-1 term predicts the sign varies by row and column).
//! The family's 73 tables replace the Gaussian ones (same `σ_k`, caps, escapes, buckets and
//! pick; only `H` differs); the encoder chooses the family per tensor
//! (`rans_family::choose`), and packing the scale codes saves 2–4 of their 8 bits.
//!
//! The coded values (those of non-zero rows and columns) are taken in C order; the value in
//! column `j` uses rANS state `j mod 4` for all of its symbols, in this order: the magnitude symbol, after
//! an escape the 6-bit `nb` and its pieces, the `s` low bits (8-bit pieces, low first), then the
//! sign (when `m > 0` and the mode is not 1: symbol 0 (freq f) = as predicted, 1 = opposite).
//! rANS as in backend 2: 32-bit states, L = 2^16, 16-bit renormalisation, total 2^12. The
//! decoder checks that the states return to L and that every word is consumed.

use std::sync::OnceLock;

use crate::error::{Error, Result};

const SCALE_BITS: u32 = 12;
const M: u32 = 1 << SCALE_BITS;
const L: u32 = 1 << 16;
const LANES: usize = 4;

/// Direct tables k = 0..=64, bucket tables 65..=72.
const DIRECT: usize = 65;
const N_TABLES: usize = DIRECT + 8;
/// Largest table index before splitting: s ≤ 30.
const K_MAX: i32 = 64 + 8 * 30;
const MAX_CAP: usize = 250;
const MAX_ESC_BITS: u32 = 56;

pub const KIND_RANK1: u8 = 1;
/// Kind 1 with the rows cut into independent blocks, each with its own rANS states and words.
pub const KIND_RANK1_BLOCKS: u8 = 2;
/// Kind 1 with a shape family (`rans_family.rs`) and packed scale codes.
pub const KIND_SHAPED: u8 = 3;
/// Kind 3 with independent row blocks, as kind 2.
pub const KIND_SHAPED_BLOCKS: u8 = 4;
pub const SIGN_PLAIN: u8 = 0;
pub const SIGN_NONE: u8 = 1;
pub const SIGN_SVD: u8 = 2;
/// Kinds 3–4 only: as [`SIGN_SVD`] with a probability per row + column class (`rans_sign.rs`).
pub const SIGN_CLASSES: u8 = 3;

pub(crate) struct Table {
    /// Escape symbol (= cap + 1); symbols 0..=esc.
    pub(crate) esc: u32,
    pub(crate) freq: Vec<u32>,
    cum: Vec<u32>,
    /// slot → symbol.
    lut: Vec<u8>,
}

/// One table set (73 tables): the Gaussian of kinds 1–2, or a shape family of kinds 3–4
/// (`rans_family.rs`). The pick (table index, low bits, escape symbol per `a + b`) is the same
/// for every set: it depends on the scale alone.
pub(crate) struct Tables {
    pub(crate) t: Vec<Table>,
    /// Decoder: table `t`, slot `x` → symbol at `t·M + x` (u8: 299 KiB for all 73 tables, a
    /// quarter of a u32 slot table, so it mostly stays in L2).
    lut: Vec<u8>,
    /// Decoder: table `t`, symbol `m` → `(cum << 13) | freq` at `t·256 + m`.
    fc: Vec<u32>,
    /// `a + b` (0..=510) → table, low bits, escape symbol.
    pick: Vec<Pick>,
}

#[derive(Clone, Copy)]
struct Pick {
    ti: u16,
    s: u8,
    esc: u8,
}

static TABLES: OnceLock<Tables> = OnceLock::new();

pub(crate) fn tables() -> &'static Tables {
    TABLES.get_or_init(build_tables)
}


/// ∫_a^b φ(t) dt · 2 (φ the standard normal density): P(a ≤ |X| < b), 0 ≤ a ≤ b, by composite
/// Simpson with ≥ 64 subintervals per unit.
fn half_normal_mass(a: f64, b: f64) -> f64 {
    let b = if b > 40.0 { 40.0 } else { b };
    if b <= a {
        return 0.0;
    }
    let width = b - a;
    let mut n = (width * 64.0).ceil() as i64;
    n = n.max(8);
    if n % 2 == 1 {
        n += 1;
    }
    let h = width / n as f64;
    let f = |t: f64| crate::detmath::det_exp(-0.5 * t * t);
    let mut s = f(a) + f(b);
    for i in 1..n {
        let t = a + i as f64 * h;
        s += if i % 2 == 1 { 4.0 * f(t) } else { 2.0 * f(t) };
    }
    // 2/√(2π)
    s * h / 3.0 * 0.797_884_560_802_865_4
}

fn sigma_of(k: usize) -> f64 {
    // 2^((k − 32)/8) by repeated multiplication with a fixed constant: deterministic.
    const R8: f64 = 1.090_507_732_665_257_7; // 2^(1/8)
    let mut s = 1.0f64 / 16.0;
    for _ in 0..k {
        s *= R8;
    }
    s
}

fn build_table(probs: &[f64]) -> Table {
    let mut counts = [0u64; 256];
    for (c, &p) in counts.iter_mut().zip(probs) {
        let v = (p * (1u64 << 40) as f64).round();
        *c = if v < 1.0 { 1 } else { v as u64 };
    }
    let f256 = crate::rans::normalize(&counts);
    let nsym = probs.len();
    let freq: Vec<u32> = f256[..nsym].to_vec();
    let mut cum = Vec::with_capacity(nsym);
    let mut lut = vec![0u8; M as usize];
    let mut acc = 0u32;
    for (s, &f) in freq.iter().enumerate() {
        cum.push(acc);
        lut[acc as usize..(acc + f) as usize].fill(s as u8);
        acc += f;
    }
    debug_assert_eq!(acc, M);
    Table { esc: (nsym - 1) as u32, freq, cum, lut }
}

fn build_tables() -> Tables {
    build_tables_with(&half_normal_mass)
}

/// The 73 tables for a magnitude distribution given by `mass(a, b) = P(a ≤ |X| < b)` of the
/// unit-scale variable (see the module docs for how the tables sample it).
pub(crate) fn build_tables_with(mass: &dyn Fn(f64, f64) -> f64) -> Tables {
    let mut t = Vec::with_capacity(N_TABLES);
    for k in 0..N_TABLES {
        let (sigma, bucket) = if k < DIRECT { (sigma_of(k), false) } else { (sigma_of(k - DIRECT + 57), true) };
        let cap = ((7.0 * sigma).ceil() as usize + 1).min(MAX_CAP);
        let mut probs = Vec::with_capacity(cap + 2);
        let mut total = 0.0;
        for m in 0..=cap {
            let (a, b) = if bucket {
                (m as f64 / sigma, (m + 1) as f64 / sigma)
            } else if m == 0 {
                (0.0, 0.5 / sigma)
            } else {
                ((m as f64 - 0.5) / sigma, (m as f64 + 0.5) / sigma)
            };
            let p = mass(a, b);
            total += p;
            probs.push(p);
        }
        let esc = 1.0 - total;
        probs.push(if esc > 0.0 { esc } else { 0.0 });
        t.push(build_table(&probs));
    }
    let mut lut = Vec::with_capacity(N_TABLES * M as usize);
    let mut fc = vec![0u32; N_TABLES * 256];
    for (ti, tab) in t.iter().enumerate() {
        lut.extend_from_slice(&tab.lut);
        for (sy, (&f, &c)) in tab.freq.iter().zip(&tab.cum).enumerate() {
            fc[ti * 256 + sy] = (c << 13) | f;
        }
    }
    let pick = (0..511u32)
        .map(|ab| {
            let k = (ab as i32 - 224).clamp(0, K_MAX);
            let (ti, s) = if k < DIRECT as i32 { (k as usize, 0) } else {
                let s = (k - 57) / 8;
                (DIRECT + (k - 8 * s - 57) as usize, s as u32)
            };
            Pick { ti: ti as u16, s: s as u8, esc: t[ti].esc as u8 }
        })
        .collect();
    Tables { t, lut, fc, pick }
}

/// CRC-32 of every table's frequencies (u16 little-endian, table after table): pins the tables.
pub fn table_checksum() -> u32 {
    let mut bytes = Vec::new();
    for t in &tables().t {
        bytes.extend_from_slice(&(t.freq.len() as u16).to_le_bytes());
        for &f in &t.freq {
            bytes.extend_from_slice(&(f as u16).to_le_bytes());
        }
    }
    crc32fast::hash(&bytes)
}

/// Table index and number of uniformly coded low bits for the scale codes `a`, `b` (both ≥ 1).
#[inline(always)]
pub(crate) fn table_for(a: u8, b: u8) -> (usize, u32) {
    let k = (a as i32 + b as i32 - 224).clamp(0, K_MAX);
    if k < DIRECT as i32 {
        (k as usize, 0)
    } else {
        let s = (k - 57) / 8;
        (DIRECT + (k - 8 * s - 57) as usize, s as u32)
    }
}

// ---------------------------------------------------------------------------------------------
// Encoder

#[derive(Clone, Copy)]
struct Op {
    freq: u32,
    cum: u32,
}

#[inline(always)]
fn put(x: &mut u32, op: Op, words: &mut Vec<u16>) {
    let mut v = *x;
    if v >= op.freq << (32 - SCALE_BITS) {
        words.push(v as u16);
        v >>= 16;
    }
    *x = ((v / op.freq) << SCALE_BITS) + (v % op.freq) + op.cum;
}

#[inline(always)]
fn uniform_op(v: u32, bits: u32) -> Op {
    Op { freq: M >> bits, cum: v << (SCALE_BITS - bits) }
}

/// Pushes the ops of `bits` uniform bits of `v` (8-bit pieces, low first).
#[inline(always)]
fn uniform_ops(mut v: u64, mut bits: u32, ops: &mut [Op; 16], n: &mut usize) {
    while bits > 0 {
        let b = bits.min(8);
        ops[*n] = uniform_op((v & ((1 << b) - 1)) as u32, b);
        *n += 1;
        v >>= b;
        bits -= b;
    }
}

fn scale_code(ms: f64) -> u8 {
    // 8·log2(√ms) + 128 = 4·log2(ms) + 128
    if ms <= 0.0 {
        return 0;
    }
    (4.0 * crate::detmath::det_log2(ms) + 128.0).round().clamp(1.0, 255.0) as u8
}

/// Encodes signed codes `q` (row-major, `rows` × `q.len()/rows`) with the rank-1 model.
/// Returns `None` when the model does not apply (no values, rows not dividing, a row spanning
/// more than 2^32 codes).
pub fn encode(q: &[i64], rows: usize) -> Option<Vec<u8>> {
    encode_family(q, rows, None)
}

/// [`encode`] with the shape family forced (`Some(f)`, `f` < `rans_family::FAMILIES`) or
/// chosen by the encoder (`None`).
pub fn encode_family(q: &[i64], rows: usize, family: Option<u8>) -> Option<Vec<u8>> {
    let n = q.len();
    if n == 0 || rows == 0 || n % rows != 0 {
        return None;
    }
    let cols = n / rows;
    let mut qmin = Vec::with_capacity(rows);
    let mut codes = Vec::with_capacity(n);
    for row in q.chunks_exact(cols) {
        let lo = *row.iter().min()?;
        for &v in row {
            codes.push(u32::try_from(v.checked_sub(lo)?).ok()?);
        }
        qmin.push(lo);
    }
    encode_codes(&codes, &qmin, 1, family)
}

/// Dot product with four partial sums in a fixed order (deterministic on every platform).
#[inline(always)]
fn dot4(a: &[f32], b: &[f64]) -> f64 {
    let mut acc = [0.0f64; 4];
    let (ca, cb) = (a.chunks_exact(4), b.chunks_exact(4));
    let (ra, rb) = (ca.remainder(), cb.remainder());
    for (x, y) in ca.zip(cb) {
        for k in 0..4 {
            acc[k] += x[k] as f64 * y[k];
        }
    }
    for (k, (&x, &y)) in ra.iter().zip(rb).enumerate() {
        acc[k] += x as f64 * y;
    }
    (acc[0] + acc[1]) + (acc[2] + acc[3])
}

/// Σ a_j² with four partial sums in a fixed order.
#[inline(always)]
fn sumsq4(a: &[f32]) -> f64 {
    let mut acc = [0.0f64; 4];
    let c = a.chunks_exact(4);
    for (k, &x) in c.remainder().iter().enumerate() {
        acc[k] += x as f64 * x as f64;
    }
    for x in c {
        for k in 0..4 {
            acc[k] += x[k] as f64 * x[k] as f64;
        }
    }
    (acc[0] + acc[1]) + (acc[2] + acc[3])
}

/// Σ a_j² · b_j with four partial sums in a fixed order.
#[inline(always)]
fn sq_dot4(a: &[f32], b: &[f64]) -> f64 {
    let mut acc = [0.0f64; 4];
    let (ca, cb) = (a.chunks_exact(4), b.chunks_exact(4));
    let (ra, rb) = (ca.remainder(), cb.remainder());
    for (x, y) in ca.zip(cb) {
        for k in 0..4 {
            let v = x[k] as f64;
            acc[k] += v * v * y[k];
        }
    }
    for (k, (&x, &y)) in ra.iter().zip(rb).enumerate() {
        let v = x as f64;
        acc[k] += v * v * y;
    }
    (acc[0] + acc[1]) + (acc[2] + acc[3])
}

/// Rows per independent block: all rows (one block, payload kind 1) below 2^19 values, else
/// about 2^18 values per block (kind 2). Fixed by the shape alone, never by the thread count.
pub(crate) fn rows_per_block(rows: usize, cols: usize) -> usize {
    if rows.saturating_mul(cols) < 1 << 19 {
        rows.max(1)
    } else {
        (((1usize << 18) + cols - 1) / cols.max(1)).clamp(1, rows.max(1))
    }
}

/// Adds per-block column vectors in block order (deterministic whatever the thread count).
fn sum_cols(parts: Vec<Vec<f64>>, cols: usize) -> Vec<f64> {
    let mut acc = vec![0f64; cols];
    for p in parts {
        for (a, v) in acc.iter_mut().zip(p) {
            *a += v;
        }
    }
    acc
}

/// Encodes the frame codes `u` (row-major, `qmin.len()` rows; `q = qmin_i + u`, `qmin_i` the
/// smallest code of row `i`) with the rank-1 model, using up to `threads` threads.
fn encode_codes(codes: &[u32], qmin: &[i64], threads: usize, family: Option<u8>) -> Option<Vec<u8>> {
    let n = codes.len();
    let rows = qmin.len();
    if n == 0 || rows == 0 || n % rows != 0 {
        return None;
    }
    let cols = n / rows;
    let rpb = rows_per_block(rows, cols);
    let n_blocks = rows.div_ceil(rpb);
    let block_len = rpb * cols;
    // Pass 1: the codes as f32 (exact below 2^24; beyond, only the scale and sign estimates
    // see the rounding), row and column sums of squares, sign counts.
    let mut qf = vec![0f32; n];
    // qmin_i is the row's smallest code: the tensor has a negative code iff some qmin_i < 0.
    let any_neg = qmin.iter().any(|&q0| q0 < 0);
    let parts = crate::par::map_chunks_mut(threads, &mut qf, block_len, |k, fb| {
        let mut row_ms = Vec::with_capacity(rpb);
        let mut col_ms = vec![0f64; cols];
        let (mut pos, mut nz) = (0u64, 0u64);
        let ub = &codes[k * block_len..k * block_len + fb.len()];
        for ((fr, ur), &q0) in fb.chunks_exact_mut(cols).zip(ub.chunks_exact(cols)).zip(&qmin[k * rpb..]) {
            let (mut rp, mut rz) = (0u32, 0u32);
            for (f, &u) in fr.iter_mut().zip(ur) {
                let q = q0 + u as i64;
                *f = q as f32;
                rp += (q > 0) as u32;
                rz += (q != 0) as u32;
            }
            pos += rp as u64;
            nz += rz as u64;
            for (cm, &f) in col_ms.iter_mut().zip(fr.iter()) {
                let v = f as f64;
                *cm += v * v;
            }
            row_ms.push(sumsq4(fr));
        }
        (row_ms, col_ms, pos, nz)
    });
    let (mut pos, mut nz) = (0u64, 0u64);
    let mut row_ms = Vec::with_capacity(rows);
    let mut col_parts = Vec::with_capacity(n_blocks);
    for (r, c, p, z) in parts {
        row_ms.extend(r);
        col_parts.push(c);
        pos += p;
        nz += z;
    }
    let col_ms = sum_cols(col_parts, cols);
    let qf = &qf[..];
    let total: f64 = row_ms.iter().sum();
    let mean_all = total / n as f64;
    // One-pass factorisation (σ² = R_i·C_j/T), then two alternating maximum-likelihood passes
    // for σ_ij = r_i·c_j over the non-zero rows and columns: r_i² = mean_j q²/c_j²,
    // c_j² = mean_i q²/r_i² (one pass each: the column sums use the new row scale at once).
    let mut r2: Vec<f64> = row_ms.iter().map(|&s| s / cols as f64).collect();
    let mut c2: Vec<f64> = col_ms.iter().map(|&s| if total > 0.0 { s / rows as f64 / mean_all } else { 0.0 }).collect();
    let nz_rows = r2.iter().filter(|&&v| v > 0.0).count().max(1) as f64;
    let nz_cols = c2.iter().filter(|&&v| v > 0.0).count().max(1) as f64;
    for _ in 0..2 {
        let inv_c: Vec<f64> = c2.iter().map(|&v| if v > 0.0 { 1.0 / v } else { 0.0 }).collect();
        let parts = crate::par::map_chunks_mut(threads, &mut r2, rpb, |k, rb| {
            let mut acc = vec![0f64; cols];
            for (r, row) in rb.iter_mut().zip(qf[k * block_len..].chunks_exact(cols)) {
                if *r > 0.0 {
                    *r = sq_dot4(row, &inv_c) / nz_cols;
                    if *r > 0.0 {
                        let ir = 1.0 / *r;
                        for (a, &v) in acc.iter_mut().zip(row) {
                            let v = v as f64;
                            *a += v * v * ir;
                        }
                    }
                }
            }
            acc
        });
        let acc = sum_cols(parts, cols);
        for (c, &a) in c2.iter_mut().zip(&acc) {
            if *c > 0.0 {
                *c = a / nz_rows;
            }
        }
    }
    let a: Vec<u8> = r2.iter().map(|&v| scale_code(v)).collect();
    let b: Vec<u8> = c2.iter().map(|&v| scale_code(v)).collect();

    // Sign model.
    let mut classes = None;
    let (mode, f, row_neg, col_neg) = if !any_neg {
        (SIGN_NONE, 0u32, Vec::new(), Vec::new())
    } else {
        let (uf, vf, agree) = top_singular_signs(qf, rows, cols, rpb, threads);
        let u: Vec<bool> = uf.iter().map(|&x| x < 0.0).collect();
        let v: Vec<bool> = vf.iter().map(|&x| x < 0.0).collect();
        let h = |k: u64| {
            let p = k as f64 / nz.max(1) as f64;
            let e = |p: f64| if p <= 0.0 || p >= 1.0 { 0.0 } else { -p * crate::detmath::det_log2(p) };
            nz as f64 * (e(p) + e(1.0 - p))
        };
        let freq = |k: u64| ((k as f64 / nz.max(1) as f64 * M as f64).round() as u32).clamp(1, M - 1);
        if h(agree) + (rows + cols) as f64 + 64.0 < h(pos) {
            let sc = crate::rans_sign::sign_classes(qf, cols, &uf, &vf, &r2, &c2);
            if sc.bits < h(agree) {
                classes = Some(sc);
            }
            (if classes.is_some() { SIGN_CLASSES } else { SIGN_SVD }, freq(agree), u, v)
        } else {
            (SIGN_PLAIN, freq(pos), Vec::new(), Vec::new())
        }
    };

    let family = match family {
        Some(f) if f < crate::rans_family::FAMILIES => f,
        Some(_) => return None,
        None => crate::rans_family::choose(codes, qmin, cols, &a, &b),
    };
    let tabs = crate::rans_family::family_tables(family);
    let mut out = Vec::with_capacity(n / 2 + rows + cols + 64);
    out.push(if n_blocks > 1 { KIND_SHAPED_BLOCKS } else { KIND_SHAPED });
    out.push(family);
    out.push(mode);
    // Sign probability per row class + column class (one class, 0, unless mode 3).
    let fs = classes.as_ref().map_or([f; crate::rans_sign::BINS], |c| c.freq);
    if mode == SIGN_CLASSES {
        for &fb in &fs {
            out.extend_from_slice(&(fb as u16).to_le_bytes());
        }
    } else if mode != SIGN_NONE {
        out.extend_from_slice(&(f as u16).to_le_bytes());
    }
    crate::rans_family::push_scale_codes(&a, &mut out);
    crate::rans_family::push_scale_codes(&b, &mut out);
    if mode >= SIGN_SVD {
        push_bits(&row_neg, &mut out);
        push_bits(&col_neg, &mut out);
    }
    let (rcls, ccls) = match classes {
        Some(c) => {
            crate::rans_sign::push_classes(&c.rows, &mut out);
            crate::rans_sign::push_classes(&c.cols, &mut out);
            (c.rows, c.cols)
        }
        None => (vec![0; rows], vec![0; cols]),
    };

    if n_blocks > 1 {
        out.extend_from_slice(&(rpb as u32).to_le_bytes());
    }
    let streams = crate::par::map(threads, n_blocks, |k| {
        let r0 = k * rpb;
        let r1 = (r0 + rpb).min(rows);
        encode_rows(tabs, codes, qmin, cols, r0..r1, &a, &b, mode, &fs, (&rcls, &ccls), &row_neg, &col_neg)
    });
    for words in streams {
        out.extend_from_slice(&(words.len() as u32).to_le_bytes());
        out.reserve(words.len() * 2);
        for w in words.iter().rev() {
            out.extend_from_slice(&w.to_le_bytes());
        }
    }
    Some(out)
}

/// The rANS words of rows `range` (one block; its own four states), in production order.
#[allow(clippy::too_many_arguments)]
fn encode_rows(
    tabs: &Tables,
    codes: &[u32],
    qmin: &[i64],
    cols: usize,
    range: std::ops::Range<usize>,
    a: &[u8],
    b: &[u8],
    mode: u8,
    fs: &[u32; crate::rans_sign::BINS],
    (rcls, ccls): (&[u8], &[u8]),
    row_neg: &[bool],
    col_neg: &[bool],
) -> Vec<u16> {
    let mut words: Vec<u16> = Vec::with_capacity(range.len() * cols / 4 + 16);
    let mut x = [L; LANES];
    // (agree, disagree) ops per class sum.
    let sign_ops = fs.map(|f| (Op { freq: f.max(1), cum: 0 }, Op { freq: M - f.min(M - 1), cum: f }));
    let mut ops = [Op { freq: M, cum: 0 }; 16];
    for i in range.rev() {
        if a[i] == 0 {
            continue;
        }
        let row = &codes[i * cols..(i + 1) * cols];
        let q0 = qmin[i];
        let row_ops = &sign_ops[rcls[i] as usize..];
        for j in (0..cols).rev() {
            if b[j] == 0 {
                continue;
            }
            let v = q0 + row[j] as i64;
            let m = v.unsigned_abs();
            let (ti, s) = table_for(a[i], b[j]);
            let tab = &tabs.t[ti];
            let hi = m >> s;
            let mut no: usize;
            if hi < tab.esc as u64 {
                let h = hi as usize;
                ops[0] = Op { freq: tab.freq[h], cum: tab.cum[h] };
                no = 1;
            } else {
                let e = tab.esc as usize;
                ops[0] = Op { freq: tab.freq[e], cum: tab.cum[e] };
                let extra = hi - tab.esc as u64;
                let nb = 64 - extra.leading_zeros();
                ops[1] = uniform_op(nb, 6);
                no = 2;
                uniform_ops(extra, nb, &mut ops, &mut no);
            }
            uniform_ops(m & ((1u64 << s) - 1), s, &mut ops, &mut no);
            if m != 0 && mode != SIGN_NONE {
                let pred_neg = mode >= SIGN_SVD && (row_neg[i] != col_neg[j]);
                let (agree_op, disagree_op) = row_ops[ccls[j] as usize];
                ops[no] = if (v < 0) == pred_neg { agree_op } else { disagree_op };
                no += 1;
            }
            let lane = &mut x[j % LANES];
            for op in ops[..no].iter().rev() {
                put(lane, *op, &mut words);
            }
        }
    }
    for j in (0..LANES).rev() {
        words.push(x[j] as u16);
        words.push((x[j] >> 16) as u16);
    }
    words
}

fn push_bits(bits: &[bool], out: &mut Vec<u8>) {
    for c in bits.chunks(8) {
        let mut byte = 0u8;
        for (k, &b) in c.iter().enumerate() {
            byte |= (b as u8) << k;
        }
        out.push(byte);
    }
}

/// Signs (true = negative) of the top singular pair of `q` by power iteration, and how many
/// non-zero codes have the sign of `u_i · v_j`. Two full iterations (each one pass:
/// u_i = row_i · v, v' += u_i · row_i), then a third pass computes `u = A v` and counts the
/// agreements against that same `v` (a consistent pair; no further update of `v`).
fn top_singular_signs(q: &[f32], rows: usize, cols: usize, rpb: usize, threads: usize) -> (Vec<f64>, Vec<f64>, u64) {
    let mut v = vec![1f64; cols];
    let mut u = vec![0f64; rows];
    for _ in 0..2 {
        let vr = &v;
        let parts = crate::par::map_chunks_mut(threads, &mut u, rpb, |k, ub| {
            let mut nv = vec![0f64; cols];
            for (ui, row) in ub.iter_mut().zip(q[k * rpb * cols..].chunks_exact(cols)) {
                let s = dot4(row, vr);
                *ui = s;
                if s != 0.0 {
                    for (nvj, &x) in nv.iter_mut().zip(row) {
                        *nvj += s * x as f64;
                    }
                }
            }
            nv
        });
        let nv = sum_cols(parts, cols);
        let norm = nv.iter().map(|x| x * x).sum::<f64>().sqrt();
        if !(norm > 0.0 && norm.is_finite()) {
            break;
        }
        for (vj, &x) in v.iter_mut().zip(&nv) {
            *vj = x / norm;
        }
    }
    // +1 / −1 per column for the sign of v_j (0 for v_j = 0 counts as positive).
    let vs: Vec<f32> = v.iter().map(|&x| if x < 0.0 { -1.0 } else { 1.0 }).collect();
    let vr = &v;
    let agrees = crate::par::map_chunks_mut(threads, &mut u, rpb, |k, ub| {
        let mut agree = 0u64;
        for (ui, row) in ub.iter_mut().zip(q[k * rpb * cols..].chunks_exact(cols)) {
            let s = dot4(row, vr);
            *ui = s;
            let us = if s < 0.0 { -1.0f32 } else { 1.0 };
            // x·sign(u)·sign(v) > 0: the prediction holds; exactly `(x < 0) == (u_neg != v_neg)`
            // for x ≠ 0.
            let mut a = 0u32;
            for (&x, &sv) in row.iter().zip(&vs) {
                a += (x * us * sv > 0.0) as u32;
            }
            agree += a as u64;
        }
        agree
    });
    let agree = agrees.into_iter().sum();
    (u, v, agree)
}

// ---------------------------------------------------------------------------------------------
// Decoder

struct Rd<'a> {
    b: &'a [u8],
    pos: usize,
}

impl<'a> Rd<'a> {
    fn take(&mut self, k: usize) -> Result<&'a [u8]> {
        if self.b.len() - self.pos < k {
            return Err(Error::truncated(format!("rANS-model payload ends early ({k} more bytes needed)")));
        }
        let s = &self.b[self.pos..self.pos + k];
        self.pos += k;
        Ok(s)
    }
    fn u8(&mut self) -> Result<u8> {
        Ok(self.take(1)?[0])
    }
}

struct Dec<'a> {
    words: &'a [u8],
    pos: usize,
}

impl Dec<'_> {
    /// Renormalisation without a data-dependent branch: the next word is read whenever it
    /// exists and taken (with the position advanced) only when the state is below L, so the
    /// CPU does not mispredict on the ~random need for a word. A missing word that is needed
    /// is a truncated stream.
    #[inline(always)]
    fn renorm(&mut self, v: u32) -> Result<u32> {
        let need = v < L;
        let w = match self.words.get(self.pos..self.pos + 2) {
            Some(w) => u16::from_le_bytes([w[0], w[1]]) as u32,
            None if need => return Err(Error::truncated("rANS-model word stream ends early")),
            None => 0,
        };
        let shift = if need { 16 } else { 0 };
        self.pos += 2 * need as usize;
        Ok(if need { (v << shift) | w } else { v })
    }
    /// One magnitude symbol with table `ti` (< N_TABLES).
    #[inline(always)]
    fn table(&mut self, x: &mut u32, tabs: &Tables, ti: usize) -> Result<u32> {
        let v = *x;
        let slot = v & (M - 1);
        let sym = tabs.lut[ti * M as usize + slot as usize] as u32;
        let e = tabs.fc[ti * 256 + sym as usize];
        let (f, c) = (e & ((1 << 13) - 1), e >> 13);
        *x = self.renorm(f * (v >> SCALE_BITS) + slot - c)?;
        Ok(sym)
    }
    #[inline(always)]
    fn uniform(&mut self, x: &mut u32, bits: u32) -> Result<u32> {
        let v = *x;
        let slot = v & (M - 1);
        let sym = slot >> (SCALE_BITS - bits);
        let f = M >> bits;
        *x = self.renorm(f * (v >> SCALE_BITS) + slot - (sym << (SCALE_BITS - bits)))?;
        Ok(sym)
    }
    #[inline(always)]
    fn uniform_wide(&mut self, x: &mut u32, mut bits: u32) -> Result<u64> {
        let (mut v, mut shift) = (0u64, 0u32);
        while bits > 0 {
            let b = bits.min(8);
            v |= (self.uniform(x, b)? as u64) << shift;
            shift += b;
            bits -= b;
        }
        Ok(v)
    }
    #[inline(always)]
    fn binary(&mut self, x: &mut u32, f: u32) -> Result<bool> {
        let v = *x;
        let slot = v & (M - 1);
        let bit = slot >= f;
        // Selects, not branches: the sign is close to a coin flip.
        let fr = if bit { M - f } else { f };
        let c = if bit { f } else { 0 };
        *x = self.renorm(fr * (v >> SCALE_BITS) + slot - c)?;
        Ok(bit)
    }
}

fn read_bits<'a>(r: &mut Rd<'a>, n: usize) -> Result<&'a [u8]> {
    r.take(n.div_ceil(8))
}

#[inline(always)]
fn bit(bytes: &[u8], i: usize) -> bool {
    bytes[i / 8] >> (i % 8) & 1 != 0
}

/// Decodes a payload into the frame's codes `u = q − qmin_c` (`out.len()` values, `qmin.len()`
/// rows), checking that each code fits `width` bytes.
pub fn decode(payload: &[u8], qmin: &[i64], width: u8, out: &mut [u32]) -> Result<()> {
    decode_with(payload, qmin, width, out, 1, |_, u| u)
}

/// Decodes a payload straight to values, `x̂ = (q · step) as f32` — the same arithmetic as
/// `quant::dequantize` for uniform codes (`q = qmin_c + u` exactly), fused into the decode loop.
/// The code range checks are those of [`decode`].
/// The blocks of a kind-2 payload are decoded on up to `threads` threads.
pub fn decode_values(payload: &[u8], qmin: &[i64], step: f64, width: u8, out: &mut [f32], threads: usize) -> Result<()> {
    decode_with(payload, qmin, width, out, threads, |q, _| (q as f64 * step) as f32)
}

/// The high part of a magnitude after an escape symbol `sym` (rare).
#[cold]
#[inline(never)]
fn escape_tail(d: &mut Dec, lane: &mut u32, sym: u32, s: u32) -> Result<u64> {
    let nb = d.uniform(lane, 6)?;
    if nb > MAX_ESC_BITS {
        return Err(Error::corrupt("rANS-model escape longer than 56 bits"));
    }
    let hi = d.uniform_wide(lane, nb)? + sym as u64;
    if hi >> (60 - s.min(60)) != 0 {
        return Err(Error::corrupt("rANS-model code magnitude out of range"));
    }
    Ok(hi)
}

/// What decoding one value of a row needs.
struct RowCtx<'a> {
    tabs: &'a Tables,
    picks: &'a [Pick],
    b: &'a [u8],
    cneg: &'a [bool],
    rneg: bool,
    mode: u8,
    /// Sign probability per column class (the row's class sums).
    fr: [u32; 4],
    ccls: &'a [u8],
    q0: i64,
    max_u: u64,
    zero_u: Result<u32>,
}

impl RowCtx<'_> {
    /// One value of column `j` with state `lane`.
    #[inline(always)]
    fn value<T>(&self, d: &mut Dec, lane: &mut u32, j: usize, conv: &impl Fn(i64, u32) -> T) -> Result<T> {
        let bj = self.b[j];
        if bj == 0 {
            return Ok(conv(0, self.zero_u.clone()?));
        }
        let p = self.picks[bj as usize];
        let sym = d.table(lane, self.tabs, p.ti as usize)?;
        let s = p.s as u32;
        let hi = if sym < p.esc as u32 { sym as u64 } else { escape_tail(d, lane, sym, s)? };
        let mut m = hi << s;
        if s > 0 {
            // s ≤ 30 low bits, in 8-bit pieces, low first.
            m |= d.uniform_wide(lane, s)?;
        }
        let mut q = m as i64;
        if m != 0 && self.mode != SIGN_NONE {
            let flip = d.binary(lane, self.fr[self.ccls[j] as usize & 3])?;
            let neg = -(((self.rneg != self.cneg[j]) != flip) as i64);
            q = (q ^ neg) - neg;
        }
        Ok(conv(q, u_of(q, self.q0, self.max_u)?))
    }
}

/// The parsed side information of a payload.
struct Head<'a> {
    /// The payload's table set (kinds 1–2: the Gaussian).
    tabs: &'static Tables,
    mode: u8,
    fs: [u32; crate::rans_sign::BINS],
    a: &'a [u8],
    b: &'a [u8],
    rs: &'a [u8],
    /// Per column: predicted negative (sign mode 2), else false.
    cneg: Vec<bool>,
    /// Sign mode 3: packed row classes, per-column classes (else empty, all zero).
    rcls: &'a [u8],
    ccls: Vec<u8>,
    max_u: u64,
}

fn decode_with<T: Copy + Send>(
    payload: &[u8],
    qmin: &[i64],
    width: u8,
    out: &mut [T],
    threads: usize,
    conv: impl Fn(i64, u32) -> T + Sync,
) -> Result<()> {
    let rows = qmin.len();
    let n = out.len();
    if rows == 0 || n % rows != 0 || n == 0 {
        return Err(Error::corrupt("rANS-model payload for a tensor without rows"));
    }
    let cols = n / rows;
    let mut r = Rd { b: payload, pos: 0 };
    let kind = r.u8()?;
    if !(KIND_RANK1..=KIND_SHAPED_BLOCKS).contains(&kind) {
        return Err(Error::corrupt("unknown rANS-model kind"));
    }
    let shaped = kind >= KIND_SHAPED;
    let family = if shaped { r.u8()? } else { 0 };
    if family >= crate::rans_family::FAMILIES {
        return Err(Error::corrupt(format!("unknown rANS-model shape family {family}")));
    }
    let mode = r.u8()?;
    if mode > if shaped { SIGN_CLASSES } else { SIGN_SVD } {
        return Err(Error::corrupt(format!("unknown rANS-model sign mode {mode}")));
    }
    let mut fs = [0u32; crate::rans_sign::BINS];
    let n_f = match mode {
        SIGN_NONE => 0,
        SIGN_CLASSES => crate::rans_sign::BINS,
        _ => 1,
    };
    for slot in fs.iter_mut().take(n_f) {
        let b = r.take(2)?;
        let f = u16::from_le_bytes([b[0], b[1]]) as u32;
        if !(1..M).contains(&f) {
            return Err(Error::corrupt(format!("sign frequency {f} out of range")));
        }
        *slot = f;
    }
    if n_f == 1 {
        fs = [fs[0]; crate::rans_sign::BINS];
    }
    let (a_packed, b_packed);
    let (a, b) = if shaped {
        let (v, used) = crate::rans_family::read_scale_codes(&payload[r.pos..], rows)?;
        r.pos += used;
        a_packed = v;
        let (v, used) = crate::rans_family::read_scale_codes(&payload[r.pos..], cols)?;
        r.pos += used;
        b_packed = v;
        (&a_packed[..], &b_packed[..])
    } else {
        (r.take(rows)?, r.take(cols)?)
    };
    let (rs, cs) = if mode >= SIGN_SVD { (read_bits(&mut r, rows)?, read_bits(&mut r, cols)?) } else { (&[][..], &[][..]) };
    let (rcls, ccls) = if mode == SIGN_CLASSES {
        let rc = r.take(rows.div_ceil(4))?;
        let cc = r.take(cols.div_ceil(4))?;
        (rc, (0..cols).map(|j| crate::rans_sign::class_at(cc, j)).collect())
    } else {
        (&[][..], vec![0u8; cols])
    };
    let rows_per_block = if kind == KIND_RANK1_BLOCKS || kind == KIND_SHAPED_BLOCKS {
        let v = r.take(4)?;
        let v = u32::from_le_bytes([v[0], v[1], v[2], v[3]]) as usize;
        if v == 0 {
            return Err(Error::corrupt("rANS-model block of 0 rows"));
        }
        v.min(rows)
    } else {
        rows
    };
    // Every block's word stream (at most `rows` blocks: bounded by the declared shape).
    let n_blocks = rows.div_ceil(rows_per_block);
    let mut streams = Vec::with_capacity(n_blocks);
    for _ in 0..n_blocks {
        let wb = r.take(4)?;
        let w = u32::from_le_bytes([wb[0], wb[1], wb[2], wb[3]]) as usize;
        if w < 2 * LANES {
            return Err(Error::corrupt("rANS-model payload has fewer than 8 words"));
        }
        streams.push(r.take(w.checked_mul(2).ok_or_else(|| Error::corrupt("word count overflows"))?)?);
    }
    if r.pos != payload.len() {
        return Err(Error::corrupt(format!("{} unexpected bytes after the rANS-model payload", payload.len() - r.pos)));
    }
    let max_u: u64 = if width >= 4 { u32::MAX as u64 } else { (1u64 << (8 * width as u32)) - 1 };
    let cneg: Vec<bool> = (0..cols).map(|j| mode >= SIGN_SVD && bit(cs, j)).collect();
    let head = Head { tabs: crate::rans_family::family_tables(family), mode, fs, a, b, rs, cneg, rcls, ccls, max_u };
    let results = crate::par::map_chunks_mut(threads, out, rows_per_block * cols, |k, block| {
        decode_block(&head, streams[k], qmin, k * rows_per_block, block, cols, &conv)
    });
    results.into_iter().collect()
}

/// Decodes the rows `row0..` of one block (`out.len() / cols` rows) from its word stream.
fn decode_block<T: Copy>(h: &Head, words: &[u8], qmin: &[i64], row0: usize, out: &mut [T], cols: usize, conv: &impl Fn(i64, u32) -> T) -> Result<()> {
    let mut x = [0u32; LANES];
    for (j, s) in x.iter_mut().enumerate() {
        let bb = &words[4 * j..4 * j + 4];
        *s = (u16::from_le_bytes([bb[0], bb[1]]) as u32) << 16 | u16::from_le_bytes([bb[2], bb[3]]) as u32;
    }
    let mut d = Dec { words, pos: 4 * LANES };
    let tabs = h.tabs;
    let (mode, fs, max_u, b) = (h.mode, h.fs, h.max_u, h.b);
    for (i, orow) in (row0..).zip(out.chunks_exact_mut(cols)) {
        let q0 = qmin[i];
        // The code of 0 (all-zero rows and columns); outside the range only in corrupt frames.
        let zero_u = u_of(0, q0, max_u);
        if h.a[i] == 0 {
            orow.fill(conv(0, zero_u?));
            continue;
        }
        let picks = &tabs.pick[h.a[i] as usize..h.a[i] as usize + 256];
        let rneg = mode >= SIGN_SVD && bit(h.rs, i);
        let rc = if mode == SIGN_CLASSES { crate::rans_sign::class_at(h.rcls, i) as usize } else { 0 };
        let fr = [fs[rc], fs[rc + 1], fs[rc + 2], fs[rc + 3]];
        let [mut x0, mut x1, mut x2, mut x3] = x;
        let row = RowCtx { tabs, picks, b, cneg: &h.cneg, rneg, mode, fr, ccls: &h.ccls, q0, max_u, zero_u };
        let mut one = |lane: &mut u32, j: usize, o: &mut T| -> Result<()> {
            *o = row.value(&mut d, lane, j, conv)?;
            Ok(())
        };
        let mut chunks = orow.chunks_exact_mut(LANES);
        let mut j = 0;
        for c in &mut chunks {
            one(&mut x0, j, &mut c[0])?;
            one(&mut x1, j + 1, &mut c[1])?;
            one(&mut x2, j + 2, &mut c[2])?;
            one(&mut x3, j + 3, &mut c[3])?;
            j += LANES;
        }
        let rem = chunks.into_remainder();
        let lanes = [&mut x0, &mut x1, &mut x2, &mut x3];
        for ((o, lane), jj) in rem.iter_mut().zip(lanes).zip(j..) {
            one(lane, jj, o)?;
        }
        x = [x0, x1, x2, x3];
    }
    if x != [L; LANES] || d.pos != words.len() {
        return Err(Error::corrupt("rANS-model payload does not decode to its initial state (corrupt payload)"));
    }
    Ok(())
}

#[inline(always)]
fn u_of(q: i64, q0: i64, max_u: u64) -> Result<u32> {
    match q.checked_sub(q0) {
        Some(u) if u >= 0 && (u as u64) <= max_u => Ok(u as u32),
        _ => Err(Error::corrupt("rANS-model code outside the channel's code range")),
    }
}

/// The model payload for a frame's codes (uniform parameters only): `q = qmin_c + u`.
pub fn encode_frame_codes(params: &crate::quant::ChannelParams, codes: &[u32], width: u8, threads: usize) -> Option<Vec<u8>> {
    let qmin = frame_qmin(params, width);
    let rows = qmin.len();
    if rows == 0 || codes.is_empty() || codes.len() % rows != 0 {
        return None;
    }
    encode_codes(codes, &qmin, threads, None)
}

/// The signed offset of each row's codes, `q = qmin_c + u`: the uniform modes' smallest code,
/// or, in adaptive mode, minus the channel's zero code (so that q = 0 reconstructs ≈ 0 and the
/// zero-mean model applies to range-quantized channels too).
pub fn frame_qmin(params: &crate::quant::ChannelParams, width: u8) -> Vec<i64> {
    match params {
        crate::quant::ChannelParams::Uniform { qmin, .. } => qmin.clone(),
        crate::quant::ChannelParams::Range { .. } => {
            crate::rans::zero_codes(params, width).into_iter().map(|z| -(z as i64)).collect()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(q: &[i64], rows: usize) {
        let p = encode(q, rows).unwrap();
        let cols = q.len() / rows;
        let qmin: Vec<i64> = q.chunks_exact(cols).map(|r| *r.iter().min().unwrap()).collect();
        let mut out = vec![0u32; q.len()];
        decode(&p, &qmin, 4, &mut out).unwrap();
        for (k, (&u, &v)) in out.iter().zip(q).enumerate() {
            assert_eq!(qmin[k / cols] + u as i64, v, "value {k}");
        }
    }

    #[test]
    fn synthetic_round_trips() {
        let mut s = 3u64;
        let mut rnd = move || {
            s = s.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            (s >> 11) as f64 / (1u64 << 53) as f64
        };
        for (rows, cols, scale) in [(3, 5, 1.0), (8, 8, 0.1), (16, 12, 100.0), (5, 8, 1e3), (5, 8, 1e5), (5, 7, 1e3), (5, 8, 1e6), (5, 7, 1e6), (4, 4, 3e9)] {
            let q: Vec<i64> = (0..rows * cols).map(|_| ((rnd() - 0.3) * scale).round() as i64).collect();
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
}
