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
//! Kinds 3 and 4 (format version ≥ 2; written by the encoder since the shape families; kinds 1–2
//! still decode; a version-1 frame with kind 3 or 4 is refused by the decoder as corrupt):
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
//! Kind 5 (format version ≥ 3; written instead of kind 4): kind 4 with 16 independent lane
//! streams per block, see `rans_lanes.rs`.
//!
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
use crate::rans::EncSym;

const SCALE_BITS: u32 = 12;
pub(crate) const M: u32 = 1 << SCALE_BITS;
pub(crate) const L: u32 = 1 << 16;
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
pub const SIGN_PLAIN: u8 = 0;
pub const SIGN_NONE: u8 = 1;
pub const SIGN_SVD: u8 = 2;
/// Kind 1 with a shape family (`rans_family.rs`) and packed scale codes.
pub const KIND_SHAPED: u8 = 3;
/// Kind 3 with independent row blocks, as kind 2.
pub const KIND_SHAPED_BLOCKS: u8 = 4;
/// Kinds 3–4 only: as [`SIGN_SVD`] with a probability per row + column class (`rans_sign.rs`).
pub const SIGN_CLASSES: u8 = 3;
/// Kind 4 with 16 independent lane streams per block (format version ≥ 3; `rans_lanes.rs`).
pub const KIND_LANES_BLOCKS: u8 = 5;
/// Sign probabilities of [`SIGN_CLASSES`] (class sums 0..=6).
const BINS: usize = crate::rans_sign::BINS;

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
    pub(crate) lut: Vec<u8>,
    /// Decoder: table `t`, symbol `m` → `(cum << 13) | freq` at `t·256 + m`.
    pub(crate) fc: Vec<u32>,
    /// `a + b` (0..=510) → table, low bits, escape symbol.
    pub(crate) pick: Vec<Pick>,
}

#[derive(Clone, Copy)]
pub(crate) struct Pick {
    pub(crate) ti: u16,
    pub(crate) s: u8,
    pub(crate) esc: u8,
}

static TABLES: OnceLock<Tables> = OnceLock::new();

pub(crate) fn tables() -> &'static Tables {
    TABLES.get_or_init(build_tables)
}

/// ∫_a^b f(t) dt by composite Simpson with ≥ 64 subintervals per unit of `t` (at least 8):
/// the one integration rule of every table set (Gaussian here, the shape families in
/// `rans_family.rs`), IEEE `+ − × ÷` only.
pub(crate) fn simpson(a: f64, b: f64, f: impl Fn(f64) -> f64) -> f64 {
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
    let mut s = f(a) + f(b);
    for i in 1..n {
        let t = a + i as f64 * h;
        s += if i % 2 == 1 { 4.0 * f(t) } else { 2.0 * f(t) };
    }
    s * h / 3.0
}

/// ∫_a^b φ(t) dt · 2 (φ the standard normal density): P(a ≤ |X| < b), 0 ≤ a ≤ b.
fn half_normal_mass(a: f64, b: f64) -> f64 {
    let b = if b > 40.0 { 40.0 } else { b };
    // 2/√(2π)
    simpson(a, b, |t| crate::detmath::det_exp(-0.5 * t * t)) * 0.797_884_560_802_865_4
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
    Table {
        esc: (nsym - 1) as u32,
        freq,
        cum,
        lut,
    }
}

fn build_tables() -> Tables {
    build_tables_with(&half_normal_mass)
}

/// The 73 tables for a magnitude distribution given by `mass(a, b) = P(a ≤ |X| < b)` of the
/// unit-scale variable (see the module docs for how the tables sample it).
pub(crate) fn build_tables_with(mass: &dyn Fn(f64, f64) -> f64) -> Tables {
    let mut t = Vec::with_capacity(N_TABLES);
    for k in 0..N_TABLES {
        let (sigma, bucket) = if k < DIRECT {
            (sigma_of(k), false)
        } else {
            (sigma_of(k - DIRECT + 57), true)
        };
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
            let (ti, s) = if k < DIRECT as i32 {
                (k as usize, 0)
            } else {
                let s = (k - 57) / 8;
                (DIRECT + (k - 8 * s - 57) as usize, s as u32)
            };
            Pick {
                ti: ti as u16,
                s: s as u8,
                esc: t[ti].esc as u8,
            }
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

// ---------------------------------------------------------------------------------------------
// Encoder

/// Number of table sets (shape families, `rans_family.rs`; 0 = the Gaussian).
const N_FAMILIES: usize = crate::rans_family::FAMILIES as usize;

/// Something derived from the table set of `family`, built on first use.
fn per_family<T>(
    cells: &'static [OnceLock<T>; N_FAMILIES],
    family: u8,
    build: impl FnOnce(&'static Tables) -> T,
) -> &'static T {
    cells[family as usize].get_or_init(|| build(crate::rans_family::family_tables(family)))
}

/// Encoder symbols of every table of `family`, `t · 256 + symbol` (built once).
pub(crate) fn enc_syms(family: u8) -> &'static [EncSym] {
    static ENC: [OnceLock<Vec<EncSym>>; N_FAMILIES] = [const { OnceLock::new() }; N_FAMILIES];
    per_family::<Vec<EncSym>>(&ENC, family, |tabs| {
        let mut e = vec![EncSym::default(); N_TABLES * 256];
        for (ti, t) in tabs.t.iter().enumerate() {
            for (sy, (&f, &c)) in t.freq.iter().zip(&t.cum).enumerate() {
                e[ti * 256 + sy] = EncSym::new(f, c);
            }
        }
        e
    })
}

/// Word buffer of one run of columns: each `put` writes a word unconditionally and advances
/// by 0 or 1 (no branch on the ~random renormalisation decision).
pub(crate) struct WordBuf {
    pub(crate) buf: Vec<u16>,
    pub(crate) pos: usize,
}

impl WordBuf {
    #[inline(always)]
    fn put(&mut self, x: &mut u32, e: &EncSym) {
        let v = *x;
        let emit = v >= e.x_max;
        self.buf[self.pos] = v as u16;
        self.pos += emit as usize;
        let v = if emit { v >> 16 } else { v };
        let q = ((v as u128 * e.rcp as u128) >> 64) as u32;
        *x = v + e.bias + q * e.cmpl;
    }
    /// `bits ≤ 8` uniform bits `val`: frequency `M >> bits`, a power of two.
    #[inline(always)]
    fn put_uniform(&mut self, x: &mut u32, val: u32, bits: u32) {
        let v = *x;
        debug_assert!((1..=8).contains(&bits));
        let emit = v >= 1u32 << (32 - bits);
        self.buf[self.pos] = v as u16;
        self.pos += emit as usize;
        let v = if emit { v >> 16 } else { v };
        let sh = SCALE_BITS - bits;
        *x = ((v >> sh) << SCALE_BITS) + (v & ((1 << sh) - 1)) + (val << sh);
    }
    /// `bits ≤ 64` uniform bits of `v` in 8-bit pieces, low first (so put high first).
    #[inline(always)]
    fn put_uniform_wide(&mut self, x: &mut u32, v: u64, bits: u32) {
        let full = bits / 8;
        let rem = bits % 8;
        if rem > 0 {
            self.put_uniform(x, ((v >> (8 * full)) & ((1 << rem) - 1)) as u32, rem);
        }
        for k in (0..full).rev() {
            self.put_uniform(x, ((v >> (8 * k)) & 0xFF) as u32, 8);
        }
    }
}

/// Most words one coded value can produce: magnitude, escape length, ≤ 7 escape pieces,
/// ≤ 4 low-bit pieces, sign (each put emits at most one word).
pub(crate) const MAX_WORDS_PER_VALUE: usize = 14;
/// Columns per run of the word buffer (bounds its size to 28 KiB).
const RUN: usize = 1024;

/// Escape symbol and the high part of an escaped magnitude (rare): `extra = hi − esc`.
#[cold]
#[inline(never)]
fn put_escape(wb: &mut WordBuf, lane: &mut u32, esc: &EncSym, extra: u64) {
    let nb = 64 - extra.leading_zeros();
    wb.put_uniform_wide(lane, extra, nb);
    wb.put_uniform(lane, nb, 6);
    wb.put(lane, esc);
}

fn scale_code(ms: f64) -> u8 {
    // 8·log2(√ms) + 128 = 4·log2(ms) + 128
    if ms <= 0.0 {
        return 0;
    }
    (4.0 * crate::detmath::det_log2(ms) + 128.0)
        .round()
        .clamp(1.0, 255.0) as u8
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

/// [`encode_family`] as format version 2 wrote it: kind 4 where the encoder now writes kind 5
/// (for tests of the kind-4 decoder, which keeps decoding version-2 frames).
#[doc(hidden)]
pub fn encode_family_v2(q: &[i64], rows: usize, family: Option<u8>) -> Option<Vec<u8>> {
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
    Some(plan_codes(&codes, &qmin, 1, family)?.encode_as(&codes, &qmin, 1, false))
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

/// One row of codes as f32, `(qmin_i + u) as f32`: through f64, where `qmin_i + u` is exact
/// (|q| < 2^53), so the rounding to f32 is the same as from the integer; vectorisable.
#[inline(always)]
pub(crate) fn row_f32(codes: &[u32], q0: i64, out: &mut [f32]) {
    let q0 = q0 as f64;
    for (o, &u) in out.iter_mut().zip(codes) {
        *o = (q0 + u as f64) as f32;
    }
}

/// `acc += v` element-wise (`v` empty: nothing). Called on the blocks' column vectors in block
/// order, so the sums are the same whatever the thread count.
fn add_cols(acc: &mut [f64], v: &[f64]) {
    for (a, &x) in acc.iter_mut().zip(v) {
        *a += x;
    }
}

/// `f(k)` for the blocks `k in 0..n_blocks` on up to `threads` threads, a few blocks at a time,
/// each result handed to `sink` in block order: the blocks' column vectors are added as they
/// come rather than all held at once (memory O(threads · cols), not O(blocks · cols)).
fn for_blocks<T: Send>(
    threads: usize,
    n_blocks: usize,
    f: impl Fn(usize) -> T + Sync,
    mut sink: impl FnMut(T),
) {
    let group = 4 * threads.max(1);
    let mut k0 = 0;
    while k0 < n_blocks {
        let k1 = (k0 + group).min(n_blocks);
        for r in crate::par::map(threads, k1 - k0, |i| f(k0 + i)) {
            sink(r);
        }
        k0 = k1;
    }
}

/// Encodes the frame codes `u` (row-major, `qmin.len()` rows; `q = qmin_i + u`, `qmin_i` the
/// smallest code of row `i`) with the rank-1 model, using up to `threads` threads.
fn encode_codes(
    codes: &[u32],
    qmin: &[i64],
    threads: usize,
    family: Option<u8>,
) -> Option<Vec<u8>> {
    Some(plan_codes(codes, qmin, threads, family)?.encode(codes, qmin, threads))
}

/// The model's side information for a tensor (scales, sign model): everything but the rANS
/// coding of the values, which [`ModelPlan::encode`] does and [`ModelPlan::ideal_bytes`]
/// estimates.
pub(crate) struct ModelPlan {
    rows: usize,
    pub(crate) cols: usize,
    rpb: usize,
    a: Vec<u8>,
    b: Vec<u8>,
    /// Shape family (table set, `rans_family.rs`).
    pub(crate) family: u8,
    mode: u8,
    /// P(sign as predicted) · M per class sum (all equal unless the mode is [`SIGN_CLASSES`]).
    fs: [u32; BINS],
    row_neg: Vec<bool>,
    col_neg: Vec<bool>,
    /// Sign classes of the rows and columns (all 0 unless the mode is [`SIGN_CLASSES`]).
    rcls: Vec<u8>,
    ccls: Vec<u8>,
}

/// The statistics passes of [`encode_codes`]: `None` when the model does not apply (or the
/// forced `family` does not exist).
fn plan_codes(
    codes: &[u32],
    qmin: &[i64],
    threads: usize,
    family: Option<u8>,
) -> Option<ModelPlan> {
    if family.is_some_and(|f| f >= crate::rans_family::FAMILIES) {
        return None;
    }
    let n = codes.len();
    let rows = qmin.len();
    if n == 0 || rows == 0 || n % rows != 0 {
        return None;
    }
    let cols = n / rows;
    let rpb = rows_per_block(rows, cols);
    let n_blocks = rows.div_ceil(rpb);
    // Pass 1: row and column sums of squares and sign counts of the codes as f32 (exact below
    // 2^24; beyond, only the scale and sign estimates see the rounding). The f32 codes are
    // made one row at a time in every pass (`row_f32`), never for the whole tensor (memory).
    // qmin_i is the row's smallest code: the tensor has a negative code iff some qmin_i < 0.
    let any_neg = qmin.iter().any(|&q0| q0 < 0);
    // Signed tensors: the sign model's power iteration (see `PowerIteration`) shares these
    // three passes: its first step (v = 1) needs nothing else, the second and the final
    // agreement count run inside the two ML passes. Each sum keeps its own order: the same
    // results as separate passes.
    let ones = vec![1f64; cols];
    let (mut pos, mut nz) = (0u64, 0u64);
    let mut row_ms = Vec::with_capacity(rows);
    let mut col_ms = vec![0f64; cols];
    let mut nv = vec![0f64; if any_neg { cols } else { 0 }];
    for_blocks(
        threads,
        n_blocks,
        |k| {
            let mut row_ms = Vec::with_capacity(rpb);
            let mut col_ms = vec![0f64; cols];
            let mut fr = vec![0f32; cols];
            let mut pi = PiBlock::new(any_neg, cols, rpb);
            let (mut pos, mut nz) = (0u64, 0u64);
            for i in k * rpb..((k + 1) * rpb).min(rows) {
                let q0 = qmin[i];
                row_f32(&codes[i * cols..(i + 1) * cols], q0, &mut fr);
                let (mut rp, mut rz) = (0u32, 0u32);
                for &f in &fr {
                    rp += (f > 0.0) as u32;
                    rz += (f != 0.0) as u32;
                }
                pos += rp as u64;
                nz += rz as u64;
                for (cm, &f) in col_ms.iter_mut().zip(fr.iter()) {
                    let v = f as f64;
                    *cm += v * v;
                }
                row_ms.push(sumsq4(&fr));
                pi.power_row(&fr, &ones);
            }
            (row_ms, col_ms, pos, nz, pi)
        },
        |(r, c, p, z, pi)| {
            row_ms.extend(r);
            add_cols(&mut col_ms, &c);
            pos += p;
            nz += z;
            add_cols(&mut nv, &pi.nv);
        },
    );
    let mut power = PowerIteration {
        v: ones.clone(),
        stopped: false,
    };
    if any_neg {
        power.step(&nv);
    }
    let total: f64 = row_ms.iter().sum();
    let mean_all = total / n as f64;
    // One-pass factorisation (σ² = R_i·C_j/T), then two alternating maximum-likelihood passes
    // for σ_ij = r_i·c_j over the non-zero rows and columns: r_i² = mean_j q²/c_j²,
    // c_j² = mean_i q²/r_i² (one pass each: the column sums use the new row scale at once).
    let mut r2: Vec<f64> = row_ms.iter().map(|&s| s / cols as f64).collect();
    let mut c2: Vec<f64> = col_ms
        .iter()
        .map(|&s| {
            if total > 0.0 {
                s / rows as f64 / mean_all
            } else {
                0.0
            }
        })
        .collect();
    let nz_rows = r2.iter().filter(|&&v| v > 0.0).count().max(1) as f64;
    let nz_cols = c2.iter().filter(|&&v| v > 0.0).count().max(1) as f64;
    let mut signs = None;
    for it in 0..2 {
        let inv_c: Vec<f64> = c2
            .iter()
            .map(|&v| if v > 0.0 { 1.0 / v } else { 0.0 })
            .collect();
        // Pass 2: the second power step (unless the first stopped); pass 3: the agreements.
        let (do_power, do_agree) = (any_neg && it == 0 && !power.stopped, any_neg && it == 1);
        let vr = &power.v;
        // +1 / −1 per column for the sign of v_j (0 for v_j = 0 counts as positive).
        let vs: Vec<f32> = if do_agree {
            vr.iter()
                .map(|&x| if x < 0.0 { -1.0 } else { 1.0 })
                .collect()
        } else {
            Vec::new()
        };
        let mut acc = vec![0f64; cols];
        let mut nv = vec![0f64; if do_power { cols } else { 0 }];
        let (mut u, mut agree) = (Vec::with_capacity(if do_agree { rows } else { 0 }), 0u64);
        let mut r2_new = Vec::with_capacity(rows);
        let r2_old = &r2;
        for_blocks(
            threads,
            n_blocks,
            |k| {
                let mut acc = vec![0f64; cols];
                let mut row = vec![0f32; cols];
                let mut pi = PiBlock::new(do_power || do_agree, cols, rpb);
                let mut rb = r2_old[k * rpb..((k + 1) * rpb).min(rows)].to_vec();
                for (i, r) in (k * rpb..).zip(rb.iter_mut()) {
                    if *r > 0.0 || do_power || do_agree {
                        row_f32(&codes[i * cols..(i + 1) * cols], qmin[i], &mut row);
                    }
                    if do_power {
                        pi.power_row(&row, vr);
                    } else if do_agree {
                        pi.agree_row(&row, vr, &vs);
                    }
                    if *r > 0.0 {
                        let row = &row[..];
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
                (rb, acc, pi)
            },
            |(rb, a, pi)| {
                r2_new.extend(rb);
                add_cols(&mut acc, &a);
                add_cols(&mut nv, &pi.nv);
                u.extend(pi.u);
                agree += pi.agree;
            },
        );
        r2 = r2_new;
        if do_power {
            power.step(&nv);
        } else if do_agree {
            signs = Some((std::mem::take(&mut u), agree));
        }
        for (c, &a) in c2.iter_mut().zip(&acc) {
            if *c > 0.0 {
                *c = a / nz_rows;
            }
        }
    }
    let a: Vec<u8> = r2.iter().map(|&v| scale_code(v)).collect();
    let b: Vec<u8> = c2.iter().map(|&v| scale_code(v)).collect();

    // Sign model: plain, against the top singular pair, or against it with sign classes
    // (`rans_sign.rs`) when their estimate beats one probability.
    let mut classes = None;
    let (mode, f, row_neg, col_neg) = match signs {
        None => (SIGN_NONE, 0u32, Vec::new(), Vec::new()),
        Some((uf, agree)) => {
            let h = |k: u64| crate::rans_sign::binary_bits(k, nz);
            let freq =
                |k: u64| ((k as f64 / nz.max(1) as f64 * M as f64).round() as u32).clamp(1, M - 1);
            if h(agree) + (rows + cols) as f64 + 64.0 < h(pos) {
                let sc = crate::rans_sign::sign_classes(codes, qmin, cols, &uf, &power.v, &r2, &c2);
                if sc.bits < h(agree) {
                    classes = Some(sc);
                }
                let (u, v) = power.signs(&uf);
                (
                    if classes.is_some() {
                        SIGN_CLASSES
                    } else {
                        SIGN_SVD
                    },
                    freq(agree),
                    u,
                    v,
                )
            } else {
                (SIGN_PLAIN, freq(pos), Vec::new(), Vec::new())
            }
        }
    };
    let (fs, rcls, ccls) = match classes {
        Some(c) => (c.freq, c.rows, c.cols),
        None => ([f; BINS], vec![0; rows], vec![0; cols]),
    };
    let family = match family {
        Some(f) => f,
        None => crate::rans_family::choose(codes, qmin, cols, &a, &b),
    };

    Some(ModelPlan {
        rows,
        cols,
        rpb,
        a,
        b,
        family,
        mode,
        fs,
        row_neg,
        col_neg,
        rcls,
        ccls,
    })
}

impl ModelPlan {
    /// The payload header (kinds 3–5): kind, family, sign mode and frequencies, packed scale
    /// codes, sign bitmaps, sign classes, rows per block (kinds 4–5; `lanes`: kind 5).
    fn header(&self, lanes: bool) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.rows + self.cols + 64);
        out.push(match (self.n_blocks() > 1, lanes) {
            (false, _) => KIND_SHAPED,
            (true, false) => KIND_SHAPED_BLOCKS,
            (true, true) => KIND_LANES_BLOCKS,
        });
        out.push(self.family);
        out.push(self.mode);
        let n_f = match self.mode {
            SIGN_NONE => 0,
            SIGN_CLASSES => BINS,
            _ => 1,
        };
        for &f in &self.fs[..n_f] {
            out.extend_from_slice(&(f as u16).to_le_bytes());
        }
        crate::rans_family::push_scale_codes(&self.a, &mut out);
        crate::rans_family::push_scale_codes(&self.b, &mut out);
        if self.mode >= SIGN_SVD {
            push_bits(&self.row_neg, &mut out);
            push_bits(&self.col_neg, &mut out);
        }
        if self.mode == SIGN_CLASSES {
            crate::rans_sign::push_classes(&self.rcls, &mut out);
            crate::rans_sign::push_classes(&self.ccls, &mut out);
        }
        if self.n_blocks() > 1 {
            out.extend_from_slice(&(self.rpb as u32).to_le_bytes());
        }
        out
    }

    fn n_blocks(&self) -> usize {
        self.rows.div_ceil(self.rpb)
    }

    /// Per column: the predicted sign of `u_i·v_j` is negative iff the row's bit differs from
    /// this (false unless the mode predicts signs from the singular pair).
    pub(crate) fn col_pred_neg(&self) -> Vec<bool> {
        (0..self.cols)
            .map(|j| self.mode >= SIGN_SVD && self.col_neg[j])
            .collect()
    }

    /// The payload (codes and `qmin` as given to [`plan_codes`]): kind 3, or kind 5 when
    /// there are several blocks.
    pub(crate) fn encode(&self, codes: &[u32], qmin: &[i64], threads: usize) -> Vec<u8> {
        self.encode_as(codes, qmin, threads, true)
    }

    /// [`encode`](ModelPlan::encode), writing kind 4 instead of 5 unless `lanes`.
    fn encode_as(&self, codes: &[u32], qmin: &[i64], threads: usize, lanes: bool) -> Vec<u8> {
        let (rows, rpb) = (self.rows, self.rpb);
        let mut out = self.header(lanes);
        out.reserve(codes.len() / 2);
        if lanes && self.n_blocks() > 1 {
            // Kind 5: independent lane streams per block (rans_lanes.rs).
            let streams = crate::par::map(threads, self.n_blocks(), |k| {
                let r0 = k * rpb;
                crate::rans_lanes::encode_rows(self, codes, qmin, r0..(r0 + rpb).min(rows))
            });
            for lanes in streams {
                crate::rans_lanes::push_block(&lanes, &mut out);
            }
            return out;
        }
        let streams = crate::par::map(threads, self.n_blocks(), |k| {
            let r0 = k * rpb;
            let r1 = (r0 + rpb).min(rows);
            encode_rows(self, codes, qmin, r0..r1)
        });
        for words in streams {
            out.extend_from_slice(&(words.len() as u32).to_le_bytes());
            out.reserve(words.len() * 2);
            for w in words.iter().rev() {
                out.extend_from_slice(&w.to_le_bytes());
            }
        }
        out
    }

    /// The payload size in bytes if every symbol took exactly its information content
    /// `log2(M / freq)` (header, word counts and final states included): what [`encode`]
    /// produces up to the coder's small overhead, at the cost of a table lookup per value
    /// instead of the rANS state updates. Integer sums of fixed-point costs from `det_log2`:
    /// the same value on every platform and thread count.
    ///
    /// [`encode`]: ModelPlan::encode
    ///
    /// With `row_step > 1`, only every `row_step`-th row is costed and the sum scaled: an
    /// estimate (for deciding which payload to build first, never for a skip).
    pub(crate) fn ideal_bytes(
        &self,
        codes: &[u32],
        qmin: &[i64],
        threads: usize,
        row_step: usize,
    ) -> f64 {
        let (rows, cols, rpb) = (self.rows, self.cols, self.rpb);
        let tabs = tables();
        let costs = sym_costs(self.family);
        let cost_of =
            |f: u32| (crate::detmath::det_log2(M as f64 / f as f64) * COST_ONE as f64) as u64;
        // Sign, per class sum: [as predicted, opposite, not coded].
        let sign_cost = self.fs.map(|f| {
            let fc = f.clamp(1, M - 1);
            [cost_of(fc), cost_of(M - fc), 0]
        });
        let code_sign = self.mode != SIGN_NONE;
        let cneg = self.col_pred_neg();
        let parts = crate::par::map(threads, self.n_blocks(), |k| {
            let mut total = 0u64;
            for i in k * rpb..((k + 1) * rpb).min(rows) {
                let ai = self.a[i];
                if ai == 0 || i % row_step != 0 {
                    continue;
                }
                let picks = &tabs.pick[ai as usize..ai as usize + 256];
                let row = &codes[i * cols..(i + 1) * cols];
                let (q0, rneg) = (qmin[i], self.mode >= SIGN_SVD && self.row_neg[i]);
                let row_sign = &sign_cost[self.rcls[i] as usize..];
                let mut acc = 0u64;
                for (((&u, &bj), &cn), &cc) in row.iter().zip(&self.b).zip(&cneg).zip(&self.ccls) {
                    if bj == 0 {
                        continue;
                    }
                    let v = q0 + u as i64;
                    let m = v.unsigned_abs();
                    let p = picks[bj as usize];
                    let s = p.s as u32;
                    let hi = m >> s;
                    let flip = (v < 0) != (rneg != cn);
                    acc += row_sign[cc as usize][if m != 0 && code_sign {
                        flip as usize
                    } else {
                        2
                    }];
                    acc += (s as u64) * COST_ONE;
                    let base = p.ti as usize * 256;
                    acc += if hi < p.esc as u64 {
                        costs[base + hi as usize]
                    } else {
                        let nb = 64 - (hi - p.esc as u64).leading_zeros() as u64;
                        costs[base + p.esc as usize] + (6 + nb) * COST_ONE
                    };
                }
                total += acc;
            }
            total
        });
        let sampled = rows.div_ceil(row_step.max(1));
        let bits =
            parts.iter().sum::<u64>() as f64 / COST_ONE as f64 * (rows as f64 / sampled as f64);
        // Per block: the word count and four 32-bit final states (kind 3), or 16 word counts
        // and 16 final states (kind 5, several blocks).
        let per_block = if self.n_blocks() > 1 {
            8.0 * crate::rans_lanes::LANES as f64
        } else {
            20.0
        };
        self.header(true).len() as f64 + self.n_blocks() as f64 * per_block + bits / 8.0
    }
}

/// Fixed-point unit of the symbol costs (bits · 2^16).
const COST_ONE: u64 = 1 << 16;

/// `log2(M / freq) · 2^16` of every table symbol of `family`, `t · 256 + symbol` (det_log2:
/// deterministic).
pub(crate) fn sym_costs(family: u8) -> &'static [u64] {
    static COSTS: [OnceLock<Vec<u64>>; N_FAMILIES] = [const { OnceLock::new() }; N_FAMILIES];
    per_family::<Vec<u64>>(&COSTS, family, |tabs| {
        let mut c = vec![0u64; N_TABLES * 256];
        for (ti, t) in tabs.t.iter().enumerate() {
            for (sy, &f) in t.freq.iter().enumerate() {
                c[ti * 256 + sy] =
                    (crate::detmath::det_log2(M as f64 / f as f64) * COST_ONE as f64) as u64;
            }
        }
        c
    })
}

/// What encoding one value of a row needs.
pub(crate) struct RowEnc<'a> {
    row: &'a [u32],
    b: &'a [u8],
    cneg: &'a [bool],
    picks: &'a [Pick],
    syms: &'a [EncSym],
    /// Sign symbols [agrees with the prediction, disagrees] per column class, from the row's
    /// class on (`class_i + class_j` indexes the plan's probabilities).
    sign_syms: &'a [[EncSym; 2]],
    ccls: &'a [u8],
    q0: i64,
    rneg: bool,
    code_sign: bool,
}

impl RowEnc<'_> {
    /// One coded value of column `j` on state `lane` (all of its symbols, last first).
    #[inline(always)]
    pub(crate) fn value(&self, wb: &mut WordBuf, lane: &mut u32, j: usize) {
        let bj = self.b[j];
        if bj == 0 {
            return;
        }
        let v = self.q0 + self.row[j] as i64;
        let m = v.unsigned_abs();
        let p = self.picks[bj as usize];
        let s = p.s as u32;
        let hi = m >> s;
        if m != 0 && self.code_sign {
            // Sign symbol 0 = as predicted.
            let flip = (v < 0) != (self.rneg != self.cneg[j]);
            wb.put(lane, &self.sign_syms[self.ccls[j] as usize][flip as usize]);
        }
        if s > 0 {
            wb.put_uniform_wide(lane, m & ((1u64 << s) - 1), s);
        }
        let base = p.ti as usize * 256;
        if hi < p.esc as u64 {
            wb.put(lane, &self.syms[base + hi as usize]);
        } else {
            put_escape(
                wb,
                lane,
                &self.syms[base + p.esc as usize],
                hi - p.esc as u64,
            );
        }
    }
}

impl ModelPlan {
    /// Sign symbols per class sum: [agrees with the prediction, disagrees]; unused when no
    /// sign is coded.
    pub(crate) fn sign_syms(&self) -> [[EncSym; 2]; BINS] {
        self.fs.map(|f| {
            let f = f.clamp(1, M - 1);
            [EncSym::new(f, 0), EncSym::new(M - f, f)]
        })
    }

    /// What encoding the values of row `i` needs (`None`: an all-zero row, nothing coded).
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn row_enc<'a>(
        &'a self,
        i: usize,
        codes: &'a [u32],
        qmin: &[i64],
        cneg: &'a [bool],
        syms: &'a [EncSym],
        sign_syms: &'a [[EncSym; 2]; BINS],
        tabs: &'a Tables,
    ) -> Option<RowEnc<'a>> {
        let (a, cols) = (&self.a, self.cols);
        if a[i] == 0 {
            return None;
        }
        Some(RowEnc {
            row: &codes[i * cols..(i + 1) * cols],
            b: &self.b,
            cneg,
            picks: &tabs.pick[a[i] as usize..a[i] as usize + 256],
            syms,
            sign_syms: &sign_syms[self.rcls[i] as usize..],
            ccls: &self.ccls,
            q0: qmin[i],
            rneg: self.mode >= SIGN_SVD && self.row_neg[i],
            code_sign: self.mode != SIGN_NONE,
        })
    }
}

/// The rANS words of rows `range` (one block; its own four states), in production order.
#[allow(clippy::too_many_arguments)]
fn encode_rows(
    plan: &ModelPlan,
    codes: &[u32],
    qmin: &[i64],
    range: std::ops::Range<usize>,
) -> Vec<u16> {
    let cols = plan.cols;
    let tabs = tables();
    let syms = enc_syms(plan.family);
    let mut words: Vec<u16> = Vec::with_capacity(range.len() * cols / 4 + 16);
    let mut wb = WordBuf {
        buf: vec![0u16; RUN.min(cols) * MAX_WORDS_PER_VALUE],
        pos: 0,
    };
    let sign_syms = plan.sign_syms();
    let cneg = plan.col_pred_neg();
    let [mut x0, mut x1, mut x2, mut x3] = [L; LANES];
    for i in range.rev() {
        let Some(ctx) = plan.row_enc(i, codes, qmin, &cneg, syms, &sign_syms, tabs) else {
            continue;
        };
        // Runs of RUN columns (a multiple of LANES) from the end of the row; within a run the
        // four states stay in registers, column j on state j mod 4.
        let mut j1 = cols;
        while j1 > 0 {
            let j0 = (j1 - 1) / RUN * RUN;
            wb.pos = 0;
            let body = j0 + (j1 - j0) / LANES * LANES;
            for j in (body..j1).rev() {
                let lane = match j % LANES {
                    0 => &mut x0,
                    1 => &mut x1,
                    2 => &mut x2,
                    _ => &mut x3,
                };
                ctx.value(&mut wb, lane, j);
            }
            for j in (j0..body).step_by(LANES).rev() {
                ctx.value(&mut wb, &mut x3, j + 3);
                ctx.value(&mut wb, &mut x2, j + 2);
                ctx.value(&mut wb, &mut x1, j + 1);
                ctx.value(&mut wb, &mut x0, j);
            }
            words.extend_from_slice(&wb.buf[..wb.pos]);
            j1 = j0;
        }
    }
    let x = [x0, x1, x2, x3];
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

/// Signs (true = negative) of the top singular pair of `q = qmin_i + u` by power iteration,
/// and how many non-zero codes have the sign of `u_i · v_j`: two iterations from `v = 1` (each
/// one pass: `u_i = row_i · v`, `v' += u_i · row_i`, then `v = v' / |v'|`; a zero or non-finite
/// `|v'|` stops the iteration), then a pass computes `u = A v` and counts the agreements
/// against that same `v` (a consistent pair). The passes run inside `plan_codes`' statistics
/// passes, block by block (`PiBlock`), the blocks' sums added in order.
struct PowerIteration {
    v: Vec<f64>,
    stopped: bool,
}

impl PowerIteration {
    /// `v = v' / |v'|` from the pass's `v'` (added over the blocks in order).
    fn step(&mut self, nv: &[f64]) {
        if self.stopped {
            return;
        }
        let norm = nv.iter().map(|x| x * x).sum::<f64>().sqrt();
        if !(norm > 0.0 && norm.is_finite()) {
            self.stopped = true;
            return;
        }
        for (vj, &x) in self.v.iter_mut().zip(nv) {
            *vj = x / norm;
        }
    }

    /// Row and column signs (true = negative) from the final pass's `u` and this `v`.
    fn signs(&self, u: &[f64]) -> (Vec<bool>, Vec<bool>) {
        (
            u.iter().map(|&x| x < 0.0).collect(),
            self.v.iter().map(|&x| x < 0.0).collect(),
        )
    }
}

/// One block's part of a power-iteration pass.
struct PiBlock {
    u: Vec<f64>,
    nv: Vec<f64>,
    agree: u64,
}

impl PiBlock {
    fn new(active: bool, cols: usize, rows: usize) -> PiBlock {
        if active {
            PiBlock {
                u: Vec::with_capacity(rows),
                nv: vec![0f64; cols],
                agree: 0,
            }
        } else {
            PiBlock {
                u: Vec::new(),
                nv: Vec::new(),
                agree: 0,
            }
        }
    }

    /// `u_i = row · v`, `v' += u_i · row` (no-op when inactive).
    #[inline(always)]
    fn power_row(&mut self, row: &[f32], v: &[f64]) {
        if self.nv.is_empty() {
            return;
        }
        let s = dot4(row, v);
        self.u.push(s);
        if s != 0.0 {
            for (nvj, &x) in self.nv.iter_mut().zip(row) {
                *nvj += s * x as f64;
            }
        }
    }

    /// `u_i = row · v` and the agreements of the row's signs with `sign(u_i)·sign(v_j)`.
    #[inline(always)]
    fn agree_row(&mut self, row: &[f32], v: &[f64], vs: &[f32]) {
        let s = dot4(row, v);
        self.u.push(s);
        let us = if s < 0.0 { -1.0f32 } else { 1.0 };
        // x·sign(u)·sign(v) > 0: the prediction holds; exactly `(x < 0) == (u_neg != v_neg)`
        // for x ≠ 0.
        let mut a = 0u32;
        for (&x, &sv) in row.iter().zip(vs) {
            a += (x * us * sv > 0.0) as u32;
        }
        self.agree += a as u64;
    }
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
            return Err(Error::truncated(format!(
                "rANS-model payload ends early ({k} more bytes needed)"
            )));
        }
        let s = &self.b[self.pos..self.pos + k];
        self.pos += k;
        Ok(s)
    }
    fn u8(&mut self) -> Result<u8> {
        Ok(self.take(1)?[0])
    }
}

fn read_bits<'a>(r: &mut Rd<'a>, n: usize) -> Result<&'a [u8]> {
    r.take(n.div_ceil(8))
}

#[inline(always)]
pub(crate) fn bit(bytes: &[u8], i: usize) -> bool {
    bytes[i / 8] >> (i % 8) & 1 != 0
}

/// Decodes a payload into the frame's codes `u = q − qmin_c` (`out.len()` values, `qmin.len()`
/// rows), checking that each code fits `width` bytes.
pub fn decode(payload: &[u8], qmin: &[i64], width: u8, out: &mut [u32]) -> Result<()> {
    decode_with(payload, qmin, width, out, 1, |_, u| u)
}

/// [`decode`] into codes held as f32 bits (`f32::from_bits(u)`), for in-place dequantization
/// by the decoder without a code buffer; the blocks of a kind-2 payload on up to `threads`
/// threads.
pub fn decode_code_bits(
    payload: &[u8],
    qmin: &[i64],
    width: u8,
    out: &mut [f32],
    threads: usize,
) -> Result<()> {
    decode_with(payload, qmin, width, out, threads, |_, u| f32::from_bits(u))
}

/// Decodes a payload straight to values, `x̂ = (q · step) as f32` — the same arithmetic as
/// `quant::dequantize` for uniform codes (`q = qmin_c + u` exactly), fused into the decode loop.
/// The code range checks are those of [`decode`].
/// The blocks of a kind-2 payload are decoded on up to `threads` threads.
pub fn decode_values(
    payload: &[u8],
    qmin: &[i64],
    step: f64,
    width: u8,
    out: &mut [f32],
    threads: usize,
) -> Result<()> {
    decode_with(payload, qmin, width, out, threads, |q, _| {
        (q as f64 * step) as f32
    })
}

/// The parsed side information of a payload.
pub(crate) struct Head<'a> {
    /// Shape family (table set; kinds 1–2: 0, the Gaussian).
    pub(crate) family: u8,
    pub(crate) mode: u8,
    /// P(sign as predicted) · M per class sum (all equal unless sign mode 3).
    pub(crate) fs: [u32; BINS],
    pub(crate) a: &'a [u8],
    pub(crate) b: &'a [u8],
    pub(crate) rs: &'a [u8],
    /// Per column: predicted negative (sign modes 2, 3), else false.
    pub(crate) cneg: Vec<bool>,
    /// Sign mode 3: the packed row classes and the column classes (else empty, all 0).
    pub(crate) rcls: &'a [u8],
    pub(crate) ccls: Vec<u8>,
    pub(crate) max_u: u64,
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
        return Err(Error::corrupt(
            "rANS-model payload for a tensor without rows",
        ));
    }
    let cols = n / rows;
    let mut r = Rd { b: payload, pos: 0 };
    let kind = r.u8()?;
    if !(KIND_RANK1..=KIND_LANES_BLOCKS).contains(&kind) {
        return Err(Error::corrupt("unknown rANS-model kind"));
    }
    let shaped = kind >= KIND_SHAPED;
    let family = if shaped { r.u8()? } else { 0 };
    if family >= crate::rans_family::FAMILIES {
        return Err(Error::corrupt(format!(
            "unknown rANS-model shape family {family}"
        )));
    }
    let mode = r.u8()?;
    if mode > if shaped { SIGN_CLASSES } else { SIGN_SVD } {
        return Err(Error::corrupt(format!(
            "unknown rANS-model sign mode {mode}"
        )));
    }
    let mut fs = [0u32; BINS];
    let n_f = match mode {
        SIGN_NONE => 0,
        SIGN_CLASSES => BINS,
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
        fs = [fs[0]; BINS];
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
    let (rs, cs) = if mode >= SIGN_SVD {
        (read_bits(&mut r, rows)?, read_bits(&mut r, cols)?)
    } else {
        (&[][..], &[][..])
    };
    let (rcls, ccls) = if mode == SIGN_CLASSES {
        let rc = r.take(rows.div_ceil(4))?;
        let cc = r.take(cols.div_ceil(4))?;
        (
            rc,
            (0..cols)
                .map(|j| crate::rans_sign::class_at(cc, j))
                .collect(),
        )
    } else {
        (&[][..], vec![0u8; cols])
    };
    let lanes = kind == KIND_LANES_BLOCKS;
    let rows_per_block = if kind == KIND_RANK1_BLOCKS || kind == KIND_SHAPED_BLOCKS || lanes {
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
    let mut streams = Vec::with_capacity(if lanes { 0 } else { n_blocks });
    let mut lane_blocks = Vec::with_capacity(if lanes { n_blocks } else { 0 });
    for _ in 0..n_blocks {
        if lanes {
            lane_blocks.push(crate::rans_lanes::read_block(payload, &mut r.pos)?);
            continue;
        }
        let wb = r.take(4)?;
        let w = u32::from_le_bytes([wb[0], wb[1], wb[2], wb[3]]) as usize;
        if w < 2 * LANES {
            return Err(Error::corrupt("rANS-model payload has fewer than 8 words"));
        }
        streams.push(
            r.take(
                w.checked_mul(2)
                    .ok_or_else(|| Error::corrupt("word count overflows"))?,
            )?,
        );
    }
    if r.pos != payload.len() {
        return Err(Error::corrupt(format!(
            "{} unexpected bytes after the rANS-model payload",
            payload.len() - r.pos
        )));
    }
    let max_u: u64 = if width >= 4 {
        u32::MAX as u64
    } else {
        (1u64 << (8 * width as u32)) - 1
    };
    let cneg: Vec<bool> = (0..cols).map(|j| mode >= SIGN_SVD && bit(cs, j)).collect();
    let head = Head {
        family,
        mode,
        fs,
        a,
        b,
        rs,
        cneg,
        rcls,
        ccls,
        max_u,
    };
    let simd = crate::rans_lanes::have_avx2();
    let results = crate::par::map_chunks_mut(threads, out, rows_per_block * cols, |k, block| {
        if lanes {
            return crate::rans_lanes::decode_block(
                &head,
                &lane_blocks[k],
                qmin,
                k * rows_per_block,
                block,
                cols,
                &conv,
                simd,
            );
        }
        decode_block(
            &head,
            streams[k],
            qmin,
            k * rows_per_block,
            block,
            cols,
            &conv,
        )
    });
    results.into_iter().collect()
}

/// The decoder's view of a [`Pick`]: the table's slot → symbol map and its `(cum << 13) |
/// freq` entries by reference, so the hot loop does no index arithmetic or bounds checks.
#[derive(Clone, Copy)]
pub(crate) struct DPick {
    lut: &'static [u8; M as usize],
    fc: &'static [u32; 256],
    s: u32,
    esc: u32,
}

/// `a + b` (0..=510) → [`DPick`] of the table set of `family`.
pub(crate) fn dpicks(family: u8) -> &'static [DPick] {
    static DPICKS: [OnceLock<Vec<DPick>>; N_FAMILIES] = [const { OnceLock::new() }; N_FAMILIES];
    per_family::<Vec<DPick>>(&DPICKS, family, |t| {
        t.pick
            .iter()
            .map(|p| {
                let ti = p.ti as usize;
                let lut = t.lut[ti * M as usize..][..M as usize]
                    .try_into()
                    .expect("a table of M slots");
                let fc = t.fc[ti * 256..][..256]
                    .try_into()
                    .expect("a table of 256 symbols");
                DPick {
                    lut,
                    fc,
                    s: p.s as u32,
                    esc: p.esc as u32,
                }
            })
            .collect()
    })
}

/// Renormalisation of the fast path: the next word is taken (the position, in words,
/// advanced) only when the state is below L. A missing word reads as 0 and the position
/// still advances, so a truncated stream shows as `2·pos > words.len()`, checked at the end of
/// the block and before reporting any other error, and the hot path has no error exit. (The
/// compiler emits a branch around the load; it is mostly predicted. Forcing selects instead
/// measured slower: it makes every step wait for the word position, i.e. for all earlier
/// lanes.)
#[inline(always)]
fn renorm_fast(v: u32, words: &[u8], pos: &mut usize) -> u32 {
    let need = v < L;
    let w = match words.get(2 * *pos..2 * *pos + 2) {
        Some(&[a, b]) => u16::from_le_bytes([a, b]) as u32,
        _ => 0,
    };
    *pos += need as usize;
    if need {
        (v << 16) | w
    } else {
        v
    }
}

/// One coded value `q` of the fast path: magnitude symbol with the pick's table, the `s` low
/// bits (one uniform step when `s ≤ 8`), the sign step only when `m ≠ 0`. Escapes go out of
/// line. `pred_neg`: the sign prediction (sign mode 2), else false.
#[inline(always)]
pub(crate) fn value_fast<const MODE: u8>(
    x: &mut u32,
    words: &[u8],
    pos: &mut usize,
    p: &DPick,
    pred_neg: bool,
    f: u32,
) -> Result<i64> {
    let v = *x;
    let slot = v & (M - 1);
    let sym = p.lut[slot as usize] as u32;
    let e = p.fc[sym as usize & 255];
    let (fr, c) = (e & ((1 << 13) - 1), e >> 13);
    *x = renorm_fast(fr * (v >> SCALE_BITS) + slot - c, words, pos);
    let s = p.s;
    let hi = if sym < p.esc {
        sym as u64
    } else {
        escape_cold(x, words, pos, sym, s)?
    };
    let lo = if s == 0 {
        0
    } else if s <= 8 {
        uniform_fast(x, words, pos, s) as u64
    } else {
        // Wide scales (adaptive frames of many-bit channels).
        uniform_wide_fast(x, words, pos, s)
    };
    let m = (hi << s) | lo;
    if MODE == SIGN_NONE || m == 0 {
        return Ok(m as i64);
    }
    let v = *x;
    let slot = v & (M - 1);
    let flip = slot >= f;
    let fr = if flip { M - f } else { f };
    let c = if flip { f } else { 0 };
    *x = renorm_fast(fr * (v >> SCALE_BITS) + slot - c, words, pos);
    let neg = -((pred_neg != flip) as i64);
    Ok(((m as i64) ^ neg) - neg)
}

/// `bits ≤ 8` uniform bits (frequency `M >> bits = 2^sh`, cum = `sym << sh`: the state loses
/// the `bits` bits above its low `sh`), renormalised as [`renorm_fast`].
#[inline(always)]
fn uniform_fast(x: &mut u32, words: &[u8], pos: &mut usize, bits: u32) -> u32 {
    let v = *x;
    let slot = v & (M - 1);
    let sh = SCALE_BITS - bits;
    *x = renorm_fast(
        ((v >> SCALE_BITS) << sh) + (slot & ((1 << sh) - 1)),
        words,
        pos,
    );
    slot >> sh
}

/// `bits ≤ 64` uniform bits in 8-bit pieces, low first.
#[inline(always)]
fn uniform_wide_fast(x: &mut u32, words: &[u8], pos: &mut usize, mut bits: u32) -> u64 {
    let (mut v, mut shift) = (0u64, 0u32);
    while bits > 0 {
        let b = bits.min(8);
        v |= (uniform_fast(x, words, pos, b) as u64) << shift;
        shift += b;
        bits -= b;
    }
    v
}

/// After an escape symbol `sym`: the 6-bit length `nb ≤ 56`, then `nb` bits of `hi − sym`
/// (rare, so out of line). A truncated stream shows in `pos` as on the fast path.
#[cold]
#[inline(never)]
fn escape_cold(x: &mut u32, words: &[u8], pos: &mut usize, sym: u32, s: u32) -> Result<u64> {
    let nb = uniform_fast(x, words, pos, 6);
    if nb > MAX_ESC_BITS {
        return Err(Error::corrupt("rANS-model escape longer than 56 bits"));
    }
    let hi = uniform_wide_fast(x, words, pos, nb) + sym as u64;
    if hi >> (60 - s.min(60)) != 0 {
        return Err(Error::corrupt("rANS-model code magnitude out of range"));
    }
    Ok(hi)
}

/// Decodes the rows `row0..` of one block (`out.len() / cols` rows) from its word stream.
fn decode_block<T: Copy>(
    h: &Head,
    words: &[u8],
    qmin: &[i64],
    row0: usize,
    out: &mut [T],
    cols: usize,
    conv: &impl Fn(i64, u32) -> T,
) -> Result<()> {
    match h.mode {
        SIGN_PLAIN => decode_block_mode::<SIGN_PLAIN, T>(h, words, qmin, row0, out, cols, conv),
        SIGN_NONE => decode_block_mode::<SIGN_NONE, T>(h, words, qmin, row0, out, cols, conv),
        SIGN_SVD => decode_block_mode::<SIGN_SVD, T>(h, words, qmin, row0, out, cols, conv),
        _ => decode_block_mode::<SIGN_CLASSES, T>(h, words, qmin, row0, out, cols, conv),
    }
}

fn decode_block_mode<const MODE: u8, T: Copy>(
    h: &Head,
    words: &[u8],
    qmin: &[i64],
    row0: usize,
    out: &mut [T],
    cols: usize,
    conv: &impl Fn(i64, u32) -> T,
) -> Result<()> {
    let mut x = [0u32; LANES];
    for (j, s) in x.iter_mut().enumerate() {
        let bb = &words[4 * j..4 * j + 4];
        *s = (u16::from_le_bytes([bb[0], bb[1]]) as u32) << 16
            | u16::from_le_bytes([bb[2], bb[3]]) as u32;
    }
    let mut pos = 2 * LANES;
    // A truncated stream (a needed word missing) is reported as such, whatever error it causes.
    rows_mode::<MODE, T>(h, words, &mut pos, &mut x, qmin, row0, out, cols, conv).map_err(|e| {
        if pos > words.len() / 2 {
            Error::truncated("rANS-model word stream ends early")
        } else {
            e
        }
    })?;
    if pos > words.len() / 2 {
        return Err(Error::truncated("rANS-model word stream ends early"));
    }
    if x != [L; LANES] || pos != words.len() / 2 {
        return Err(Error::corrupt(
            "rANS-model payload does not decode to its initial state (corrupt payload)",
        ));
    }
    Ok(())
}

/// The rows of [`decode_block_mode`]: `x` and `pos` are left where decoding stopped.
#[allow(clippy::too_many_arguments)]
#[inline(always)]
fn rows_mode<const MODE: u8, T: Copy>(
    h: &Head,
    words: &[u8],
    pos: &mut usize,
    x: &mut [u32; LANES],
    qmin: &[i64],
    row0: usize,
    out: &mut [T],
    cols: usize,
    conv: &impl Fn(i64, u32) -> T,
) -> Result<()> {
    let dp = dpicks(h.family);
    let (max_u, b) = (h.max_u, &h.b[..cols]);
    let cneg = &h.cneg[..cols];
    let ccls = &h.ccls[..cols];
    // Sign predicted from the singular pair (modes 2 and 3).
    let svd = MODE == SIGN_SVD || MODE == SIGN_CLASSES;
    for (i, orow) in (row0..).zip(out.chunks_exact_mut(cols)) {
        let q0 = qmin[i];
        if h.a[i] == 0 {
            // The code of 0 (all-zero rows and columns); outside the range only in corrupt frames.
            orow.fill(conv(0, u_of(0, q0, max_u)?));
            continue;
        }
        let picks: &[DPick; 256] = dp[h.a[i] as usize..][..256].try_into().expect("256 picks");
        let rneg = svd && bit(h.rs, i);
        // The row's sign probabilities per column class (mode 3), else all `fs[0]`.
        let rc = if MODE == SIGN_CLASSES {
            crate::rans_sign::class_at(h.rcls, i) as usize
        } else {
            0
        };
        let fr = [h.fs[rc], h.fs[rc + 1], h.fs[rc + 2], h.fs[rc + 3]];
        let [mut x0, mut x1, mut x2, mut x3] = *x;
        // Range of the row's codes, checked once at the end of the row (every `q` between
        // these extremes is then within the channel's code range).
        let (mut qlo, mut qhi) = (i64::MAX, i64::MIN);
        // A macro, not a closure: the closure was not inlined (a call per value).
        macro_rules! one {
            ($lane:expr, $bj:expr, $cn:expr, $cl:expr, $o:expr) => {{
                let bj: u8 = $bj;
                let q = if bj == 0 {
                    0
                } else {
                    let f = if MODE == SIGN_CLASSES {
                        fr[$cl as usize & 3]
                    } else {
                        fr[0]
                    };
                    value_fast::<MODE>(
                        $lane,
                        words,
                        pos,
                        &picks[bj as usize],
                        svd && (rneg != $cn),
                        f,
                    )?
                };
                qlo = qlo.min(q);
                qhi = qhi.max(q);
                *$o = conv(q, q.wrapping_sub(q0) as u32);
            }};
        }
        let mut chunks = orow.chunks_exact_mut(LANES);
        let mut bc = b.chunks_exact(LANES);
        let mut cc = cneg.chunks_exact(LANES);
        let mut kc = ccls.chunks_exact(LANES);
        for (((c, bq), cn), kl) in (&mut chunks).zip(&mut bc).zip(&mut cc).zip(&mut kc) {
            one!(&mut x0, bq[0], cn[0], kl[0], &mut c[0]);
            one!(&mut x1, bq[1], cn[1], kl[1], &mut c[1]);
            one!(&mut x2, bq[2], cn[2], kl[2], &mut c[2]);
            one!(&mut x3, bq[3], cn[3], kl[3], &mut c[3]);
        }
        let lanes = [&mut x0, &mut x1, &mut x2, &mut x3];
        let rest = chunks
            .into_remainder()
            .iter_mut()
            .zip(lanes)
            .zip(bc.remainder())
            .zip(cc.remainder())
            .zip(kc.remainder());
        for ((((o, lane), &bj), &cn), &kl) in rest {
            one!(lane, bj, cn, kl, o);
        }
        *x = [x0, x1, x2, x3];
        u_of(qlo, q0, max_u)?;
        u_of(qhi, q0, max_u)?;
    }
    Ok(())
}

#[inline(always)]
pub(crate) fn u_of(q: i64, q0: i64, max_u: u64) -> Result<u32> {
    match q.checked_sub(q0) {
        Some(u) if u >= 0 && (u as u64) <= max_u => Ok(u as u32),
        _ => Err(Error::corrupt(
            "rANS-model code outside the channel's code range",
        )),
    }
}

/// The model payload for a frame's codes (uniform parameters only): `q = qmin_c + u`.
pub fn encode_frame_codes(
    params: &crate::quant::ChannelParams,
    codes: &[u32],
    width: u8,
    threads: usize,
) -> Option<Vec<u8>> {
    let (plan, qmin) = plan_frame_codes(params, codes, width, threads)?;
    Some(plan.encode(codes, &qmin, threads))
}

/// The model's plan for a frame's codes and the rows' offsets `qmin` it is to be used with
/// (`ModelPlan::encode` / `ideal_bytes`); `None` when the model does not apply.
pub(crate) fn plan_frame_codes(
    params: &crate::quant::ChannelParams,
    codes: &[u32],
    width: u8,
    threads: usize,
) -> Option<(ModelPlan, Vec<i64>)> {
    let qmin = frame_qmin(params, width);
    let rows = qmin.len();
    if rows == 0 || codes.is_empty() || codes.len() % rows != 0 {
        return None;
    }
    Some((plan_codes(codes, &qmin, threads, None)?, qmin))
}

/// The signed offset of each row's codes, `q = qmin_c + u`: the uniform modes' smallest code,
/// or, in adaptive mode, minus the channel's zero code (so that q = 0 reconstructs ≈ 0 and the
/// zero-mean model applies to range-quantized channels too).
pub fn frame_qmin(params: &crate::quant::ChannelParams, width: u8) -> Vec<i64> {
    match params {
        crate::quant::ChannelParams::Uniform { qmin, .. } => qmin.clone(),
        crate::quant::ChannelParams::Range { .. } => crate::rans::zero_codes(params, width)
            .into_iter()
            .map(|z| -(z as i64))
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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

    #[test]
    fn ideal_size_is_within_a_tenth_of_a_percent_of_the_payload() {
        let mut s = 9u64;
        let mut rnd = move || {
            s = s
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            ((s >> 11) as f64 + 0.5) / (1u64 << 53) as f64
        };
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
        let qmin: Vec<i64> = q
            .chunks_exact(cols)
            .map(|r| *r.iter().min().unwrap())
            .collect();
        let codes: Vec<u32> = q
            .iter()
            .enumerate()
            .map(|(k, &v)| (v - qmin[k / cols]) as u32)
            .collect();
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
}
