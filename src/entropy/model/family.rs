//! Shape families of the rank-1 model's magnitude tables (payload kinds 3 and 4 of backend 3,
//! `entropy/model/`), and the encoder's per-tensor choice among them.
//!
//! Measured on `../shared/data` (ideal code lengths, all side information counted): given the
//! rank-1 scales, gradient and optimizer-state codes are *lighter*-tailed than a Gaussian —
//! Student-t families lose everywhere, a generalised Gaussian `exp(−|t/w|^β)` with β = 3 or 4
//! saves 0.04–0.12 bits/value on most gradients and optimizer states at every error target,
//! while the Gaussian stays best on weights and on a few gradients (hence a per-tensor choice).
//!
//! Family 0 is the Gaussian of kinds 1–2 (the same tables). Family `f ≥ 1` is the density
//! `∝ exp(−|t/w_f|^β_f)` of the unit-scale value, `(β, w)` = (3, 1.554909) and (4, 1.634076):
//! unit variance times 0.95 (the scale factor that fitted best). Its tables are built exactly
//! like the Gaussian ones (module docs of `entropy/model/`) with `H(z) = P(|X| < z)` of this
//! density: composite Simpson (≥ 64 subintervals per unit of `t`, at least 8) of
//! `exp(−(t/w)^β)` over `[a, min(b, 8w)]`, divided by the same integral over `[0, 8w]`
//! (`(t/w)^β` by repeated multiplication, `exp` = `detmath::det_exp`). Only IEEE `+ − × ÷`:
//! the same bytes everywhere; [`family_checksum`] is pinned in the tests.

use std::sync::OnceLock;

use crate::entropy::model::{build_tables_with, simpson, sym_costs, tables, Tables};

/// Number of families, Gaussian included.
pub const FAMILIES: u8 = 3;

/// (β, w) of families 1 and 2.
const SHAPES: [(u32, f64); 2] = [(3, 1.554_909), (4, 1.634_076)];

/// The unnormalised density `exp(−(t/w)^β)` (`(t/w)^β` by repeated multiplication).
fn density(t: f64, beta: u32, w: f64) -> f64 {
    let u = t / w;
    let mut p = u;
    for _ in 1..beta {
        p *= u;
    }
    crate::util::detmath::det_exp(-p)
}

fn build(beta: u32, w: f64) -> Tables {
    let top = 8.0 * w;
    let f = |t: f64| density(t, beta, w);
    let z = simpson(0.0, top, f);
    build_tables_with(&|a: f64, b: f64| {
        let b = if b > top { top } else { b };
        simpson(a, b, f) / z
    })
}

static SETS: [OnceLock<Tables>; 2] = [OnceLock::new(), OnceLock::new()];

/// The table set of family `f` (< [`FAMILIES`]), built on first use.
pub(crate) fn family_tables(f: u8) -> &'static Tables {
    match f {
        0 => tables(),
        _ => {
            let k = (f as usize - 1).min(SHAPES.len() - 1);
            SETS[k].get_or_init(|| build(SHAPES[k].0, SHAPES[k].1))
        }
    }
}

/// About this many values are histogrammed for the choice (whole rows, evenly spaced): enough
/// to rank families whose costs differ by ≥ 0.5 %, and cheap next to the encoding itself.
const SAMPLE: usize = 1 << 13;

/// The family whose tables give the fewest bits for the magnitude symbols of the codes
/// `q = qmin_i + u` (row-major, `cols` per row) under the scale codes `a`, `b`, estimated on
/// every `⌊R·C / 2^13⌋`-th row (escape tails, low bits and signs cost the same in every family).
/// Ties go to the lower id; deterministic (integer counts, then integer sums, whose order does
/// not matter). The sampled rows are split into contiguous runs on up to `threads` threads (the
/// counts are integers, added per table: the same choice on any thread count); the choice ran
/// on the calling thread alone between two parallel passes (0.37 M instructions of 1 M values).
pub(crate) fn choose<C: super::ModelCode>(
    codes: &[C],
    qmin: &[i64],
    cols: usize,
    a: &[u8],
    b: &[u8],
    threads: usize,
) -> u8 {
    let rows = qmin.len();
    let stride = (rows * cols / SAMPLE).max(1);
    let tabs = tables();
    let sampled = rows.div_ceil(stride);
    let Some(layout) = Layout::new(tabs, (0..rows).step_by(stride).map(|i| a[i]), b) else {
        // Nothing sampled is coded: every family costs 0 bits, the lowest id wins.
        return 0;
    };
    // A small tensor's whole sample is less work than a hand-off to another thread.
    let threads = if rows * cols >= 4 * SAMPLE {
        threads
    } else {
        1
    };
    let per = sampled.div_ceil(threads.clamp(1, sampled.max(1))).max(1);
    let zero_cols = b.contains(&0);
    let parts = crate::util::par::map(threads, sampled.div_ceil(per), |k| {
        let first = k * per * stride;
        let last = ((k + 1) * per * stride).min(rows);
        let rows = (first..last).step_by(stride);
        if zero_cols {
            histograms::<C, true>(codes, qmin, cols, a, b, &layout, rows)
        } else {
            histograms::<C, false>(codes, qmin, cols, a, b, &layout, rows)
        }
    });
    let mut parts = parts.into_iter();
    let mut hist = parts.next().unwrap_or_default();
    for h in parts {
        for (x, y) in hist.iter_mut().zip(h) {
            *x += y;
        }
    }
    let mut used: Vec<(usize, u64)> = Vec::new();
    for (&t, h) in layout.tables.iter().zip(hist.chunks_exact(256)) {
        // A pick's escape symbol is its table's (`esc as u8`): no count lies above it.
        let top = (tabs.t[t].esc as usize).min(255);
        for (sym, &c) in h[..=top].iter().enumerate() {
            if c > 0 {
                used.push((t * 256 + sym, c as u64));
            }
        }
    }
    // Fixed-point code lengths (`rans_model::sym_costs`): integer sums, exact and
    // order-independent.
    let mut best = (u64::MAX, 0u8);
    for f in 0..FAMILIES {
        let c = sym_costs(f);
        let bits: u64 = used.iter().map(|&(i, h)| h * c[i]).sum();
        if bits < best.0 {
            best = (bits, f);
        }
    }
    best.1
}

/// Where the sample's magnitude symbols are counted: one block of 256 counters per table that
/// a pick index `k = a_i + b_j` of the sample can reach (the sampled rows' non-zero `a_i` plus
/// the non-zero `b_j`), so that a value costs one lookup of its pick instead of a lookup of
/// its table's counters behind a first-use test (half of a 2^14-value tensor's choice).
struct Layout {
    /// Per pick index `k` (0 ..= 510; only the reachable ones are set): `(counters' offset,
    /// low bits, escape symbol)`.
    at: Vec<Slot>,
    /// The table of each block of counters, in block order.
    tables: Vec<usize>,
}

#[derive(Clone, Copy, Default)]
struct Slot {
    base: u32,
    s: u8,
    esc: u8,
}

impl Layout {
    /// `None` when no sampled row or no column has a non-zero scale code (nothing is counted).
    fn new(tabs: &super::Tables, a: impl Iterator<Item = u8>, b: &[u8]) -> Option<Layout> {
        let (alo, ahi) = nonzero_range(a)?;
        let (blo, bhi) = nonzero_range(b.iter().copied())?;
        let (k0, k1) = (alo as usize + blo as usize, ahi as usize + bhi as usize);
        let mut slot = vec![u32::MAX; tabs.t.len()];
        let mut tables = Vec::new();
        let mut at = vec![Slot::default(); tabs.pick.len()];
        for (k, p) in at.iter_mut().zip(&tabs.pick).take(k1 + 1).skip(k0) {
            let t = p.ti as usize;
            if slot[t] == u32::MAX {
                slot[t] = tables.len() as u32;
                tables.push(t);
            }
            *k = Slot {
                base: slot[t] * 256,
                s: p.s,
                esc: p.esc,
            };
        }
        Some(Layout { at, tables })
    }
}

/// The smallest and largest non-zero code (`None`: none).
fn nonzero_range(v: impl Iterator<Item = u8>) -> Option<(u8, u8)> {
    v.filter(|&c| c > 0).fold(None, |r, c| match r {
        None => Some((c, c)),
        Some((l, h)) => Some((l.min(c), h.max(c))),
    })
}

/// The magnitude symbols' counts of the sampled `rows` laid out by `layout` (256 per table of
/// `layout.tables`). `ZERO_COLS`: some `b_j` is 0 (those columns are not coded, not counted).
fn histograms<C: super::ModelCode, const ZERO_COLS: bool>(
    codes: &[C],
    qmin: &[i64],
    cols: usize,
    a: &[u8],
    b: &[u8],
    layout: &Layout,
    rows: impl Iterator<Item = usize>,
) -> Vec<u32> {
    let mut hist = vec![0u32; layout.tables.len() * 256];
    let mut rbuf = super::row_buf::<C>(cols);
    for i in rows {
        if a[i] == 0 {
            continue;
        }
        let row = super::code_row(codes, i, cols, &mut rbuf);
        let picks = &layout.at[a[i] as usize..a[i] as usize + 256];
        let q0 = qmin[i];
        for (&u, &bj) in row.iter().zip(b) {
            if ZERO_COLS && bj == 0 {
                continue;
            }
            let p = picks[bj as usize];
            let m = (q0 + u as i64).unsigned_abs() >> p.s;
            hist[p.base as usize + m.min(p.esc as u64) as usize] += 1;
        }
    }
    hist
}

/// CRC-32 of every table's frequencies of family `f` (laid out as `rans_model::table_checksum`).
pub fn family_checksum(f: u8) -> u32 {
    let mut bytes = Vec::new();
    for t in &family_tables(f.min(FAMILIES - 1)).t {
        bytes.extend_from_slice(&(t.freq.len() as u16).to_le_bytes());
        for &fr in &t.freq {
            bytes.extend_from_slice(&(fr as u16).to_le_bytes());
        }
    }
    crc32fast::hash(&bytes)
}

/// Appends the scale codes `v` packed for kinds 3–4: `u8 base`, `u8 bits`, then
/// `⌈len·bits/8⌉` bytes of `bits`-bit fields (LSB first): field 0 = code 0, field `k ≥ 1` =
/// code `base + k − 1`. `bits` is the fewest that hold the non-zero codes' range (0 when every
/// code is 0).
pub(crate) fn push_scale_codes(v: &[u8], out: &mut Vec<u8>) {
    let nz = v.iter().copied().filter(|&c| c > 0);
    let (lo, hi) = nz.fold((255u8, 0u8), |(l, h), c| (l.min(c), h.max(c)));
    let (base, bits) = if hi == 0 {
        (1u8, 0u32)
    } else {
        (lo, 32 - ((hi - lo) as u32 + 1).leading_zeros())
    };
    out.push(base);
    out.push(bits as u8);
    let (mut acc, mut n) = (0u32, 0u32);
    for &c in v {
        let field = if c == 0 { 0 } else { (c - base) as u32 + 1 };
        acc |= field << n;
        n += bits;
        while n >= 8 {
            out.push(acc as u8);
            acc >>= 8;
            n -= 8;
        }
    }
    if n > 0 {
        out.push(acc as u8);
    }
}

/// Reads `len` scale codes written by [`push_scale_codes`] from the front of `bytes`; returns
/// them and the bytes used. Errors on a truncated section, `bits > 8`, `base = 0` or a code
/// beyond 255.
pub(crate) fn read_scale_codes(bytes: &[u8], len: usize) -> crate::error::Result<(Vec<u8>, usize)> {
    use crate::error::Error;
    if bytes.len() < 2 {
        return Err(Error::truncated("rANS-model scale codes end early"));
    }
    let (base, bits) = (bytes[0] as u32, bytes[1] as u32);
    if base == 0 || bits > 8 {
        return Err(Error::corrupt(format!(
            "rANS-model scale codes: base {base}, {bits} bits"
        )));
    }
    let nbytes = (len as u64 * bits as u64).div_ceil(8);
    if nbytes > (bytes.len() - 2) as u64 {
        return Err(Error::truncated("rANS-model scale codes end early"));
    }
    let body = &bytes[2..2 + nbytes as usize];
    let mut out = Vec::with_capacity(len);
    let (mut acc, mut n, mut pos) = (0u32, 0u32, 0usize);
    let mask = (1u32 << bits) - 1;
    for _ in 0..len {
        while n < bits {
            acc |= (body[pos] as u32) << n;
            pos += 1;
            n += 8;
        }
        let field = acc & mask;
        acc >>= bits;
        n -= bits;
        let c = if field == 0 { 0 } else { base + field - 1 };
        if c > 255 {
            return Err(Error::corrupt(format!(
                "rANS-model scale code {c} out of range"
            )));
        }
        out.push(c as u8);
    }
    Ok((out, 2 + nbytes as usize))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The choice by brute force: every sampled value's cost in every family, summed in
    /// the full `N_TABLES · 256` layout, the cheapest family first on ties.
    fn choose_reference(codes: &[u32], qmin: &[i64], cols: usize, a: &[u8], b: &[u8]) -> u8 {
        let rows = qmin.len();
        let stride = (rows * cols / SAMPLE).max(1);
        let tabs = tables();
        let mut best = (u64::MAX, 0u8);
        for f in 0..FAMILIES {
            let c = sym_costs(f);
            let mut bits = 0u64;
            for i in (0..rows).step_by(stride).filter(|&i| a[i] != 0) {
                for j in (0..cols).filter(|&j| b[j] != 0) {
                    let p = tabs.pick[a[i] as usize + b[j] as usize];
                    let m = (qmin[i] + codes[i * cols + j] as i64).unsigned_abs() >> p.s;
                    bits += c[p.ti as usize * 256 + m.min(p.esc as u64) as usize];
                }
            }
            if bits < best.0 {
                best = (bits, f);
            }
        }
        best.1
    }

    #[test]
    fn choice_matches_brute_force() {
        let mut seed = 11u64;
        let mut next = move || {
            seed = seed
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            seed >> 33
        };
        let mut chosen = [0usize; FAMILIES as usize];
        // Small and sampled (rows skipped) shapes, narrow and heavy-tailed codes.
        for (rows, cols) in [(1, 7), (10, 128), (37, 300), (256, 64), (300, 200)] {
            for spread in [2u64, 40, 3000] {
                let a: Vec<u8> = (0..rows).map(|_| (next() % 256) as u8).collect();
                let b: Vec<u8> = (0..cols).map(|_| (next() % 256) as u8).collect();
                let qmin: Vec<i64> = (0..rows).map(|_| -((next() % spread) as i64)).collect();
                let codes: Vec<u32> = (0..rows * cols)
                    .map(|_| {
                        let r = next() % spread;
                        (r * (next() % spread) / spread * 2) as u32
                    })
                    .collect();
                let f = choose(&codes, &qmin, cols, &a, &b, 1);
                for threads in [2, 3] {
                    assert_eq!(choose(&codes, &qmin, cols, &a, &b, threads), f);
                }
                assert_eq!(
                    f,
                    choose_reference(&codes, &qmin, cols, &a, &b),
                    "{rows}x{cols} spread {spread}"
                );
                chosen[f as usize] += 1;
            }
        }
        // Zero columns and rows are not counted; with nothing counted, family 0.
        let (rows, cols) = (64, 48);
        let codes: Vec<u32> = (0..rows * cols).map(|_| (next() % 30) as u32).collect();
        let qmin: Vec<i64> = (0..rows).map(|_| -((next() % 15) as i64)).collect();
        let a: Vec<u8> = (0..rows)
            .map(|i| {
                if i % 5 == 0 {
                    0
                } else {
                    100 + (next() % 60) as u8
                }
            })
            .collect();
        let b: Vec<u8> = (0..cols)
            .map(|j| {
                if j % 7 == 3 {
                    0
                } else {
                    90 + (next() % 80) as u8
                }
            })
            .collect();
        let f = choose(&codes, &qmin, cols, &a, &b, 1);
        assert_eq!(f, choose_reference(&codes, &qmin, cols, &a, &b));
        assert_eq!(choose(&codes, &qmin, cols, &a, &vec![0; cols], 1), 0);
        assert_eq!(choose(&codes, &qmin, cols, &vec![0; rows], &b, 2), 0);
        assert!(chosen.iter().filter(|&&n| n > 0).count() >= 2, "{chosen:?}");
    }

    #[test]
    fn sample_counts_are_each_values_symbol() {
        // Every (table, symbol) count of the laid-out histograms against a direct count, with
        // scale codes spread wide (many tables, shifted picks), zero rows and zero columns.
        let mut seed = 5u64;
        let mut next = move || {
            seed = seed
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            seed >> 33
        };
        let tabs = tables();
        let (rows, cols) = (40usize, 50usize);
        let codes: Vec<u32> = (0..rows * cols).map(|_| (next() % 5000) as u32).collect();
        let qmin: Vec<i64> = (0..rows).map(|_| -((next() % 2500) as i64)).collect();
        let a: Vec<u8> = (0..rows)
            .map(|i| {
                if i % 6 == 1 {
                    0
                } else {
                    1 + (next() % 255) as u8
                }
            })
            .collect();
        let b: Vec<u8> = (0..cols)
            .map(|j| {
                if j % 9 == 2 {
                    0
                } else {
                    1 + (next() % 255) as u8
                }
            })
            .collect();
        let layout = Layout::new(tabs, a.iter().copied(), &b).unwrap();
        let hist = histograms::<u32, true>(&codes, &qmin, cols, &a, &b, &layout, 0..rows);
        let mut want = vec![0u32; tabs.t.len() * 256];
        for i in (0..rows).filter(|&i| a[i] != 0) {
            for j in (0..cols).filter(|&j| b[j] != 0) {
                let p = tabs.pick[a[i] as usize + b[j] as usize];
                let m = (qmin[i] + codes[i * cols + j] as i64).unsigned_abs() >> p.s;
                want[p.ti as usize * 256 + m.min(p.esc as u64) as usize] += 1;
            }
        }
        let mut got = vec![0u32; tabs.t.len() * 256];
        for (&t, h) in layout.tables.iter().zip(hist.chunks_exact(256)) {
            got[t * 256..(t + 1) * 256].copy_from_slice(h);
        }
        assert_eq!(got, want);
        assert!(layout.tables.len() > 20, "{} tables", layout.tables.len());
    }

    #[test]
    fn scale_codes_round_trip() {
        for v in [
            vec![0u8; 5],
            vec![7; 3],
            vec![0, 1, 255, 128, 0],
            vec![100, 0, 101, 131, 99, 100, 0],
            (0..=255).collect(),
        ] {
            let mut out = Vec::new();
            push_scale_codes(&v, &mut out);
            let (back, used) = read_scale_codes(&out, v.len()).unwrap();
            assert_eq!(back, v);
            assert_eq!(used, out.len());
        }
        // Range 99..=131 plus zero: 34 field values, 6 bits.
        let mut out = Vec::new();
        push_scale_codes(&[100, 0, 101, 131, 99, 100, 0], &mut out);
        assert_eq!(&out[..2], &[99, 6]);
        assert_eq!(out.len(), 2 + (7 * 6usize).div_ceil(8));
    }

    #[test]
    fn hostile_scale_codes_are_rejected() {
        assert!(read_scale_codes(&[], 1).is_err());
        assert!(read_scale_codes(&[0, 1, 0], 1).is_err());
        assert!(read_scale_codes(&[1, 9, 0, 0], 1).is_err());
        assert!(read_scale_codes(&[200, 8, 0xFF], 1).is_err());
        assert!(read_scale_codes(&[1, 8, 1], 2).is_err());
        assert_eq!(read_scale_codes(&[5, 0], 1000).unwrap().0, vec![0u8; 1000]);
    }

    #[test]
    fn family_masses_are_distributions() {
        for &(beta, w) in &SHAPES {
            let z = simpson(0.0, 8.0 * w, |t| density(t, beta, w));
            // Unit variance × 0.95²: ∫ t² f / ∫ f over the half line.
            let mut m2 = 0.0;
            let n = 20000;
            let h = 8.0 * w / n as f64;
            for i in 0..n {
                let t = (i as f64 + 0.5) * h;
                m2 += t * t * crate::util::detmath::det_exp(-(t / w).powi(beta as i32)) * h;
            }
            let var = m2 / z;
            assert!((var - 0.9025).abs() < 2e-3, "beta {beta}: variance {var}");
        }
    }
}
