//! The model's static tables: one Gaussian set and the shape families' sets (73 tables
//! each), built once per process from IEEE-754 arithmetic only (the same bytes everywhere),
//! and what the coders derive from them (encoder symbols, symbol costs).

use super::*;

pub(crate) struct Table {
    /// Escape symbol (= cap + 1); symbols 0..=esc.
    pub(crate) esc: u32,
    pub(crate) freq: Vec<u32>,
    pub(super) cum: Vec<u32>,
    /// slot → symbol.
    pub(super) lut: Vec<u8>,
}

/// One table set (73 tables): the Gaussian of kinds 1–2, or a shape family of kinds 3–4
/// (`family.rs`). The pick (table index, low bits, escape symbol per `a + b`) is the same
/// for every set: it depends on the scale alone.
pub(crate) struct Tables {
    pub(crate) t: Vec<Table>,
    /// Decoder: table `t`, slot `x` → symbol at `t·M + x` (u8: 299 KiB for all 73 tables, a
    /// quarter of a u32 slot table, so it mostly stays in L2).
    pub(super) lut: Vec<u8>,
    /// Decoder: table `t`, symbol `m` → `(cum << 13) | freq` at `t·256 + m`.
    pub(super) fc: Vec<u32>,
    /// `a + b` (0..=510) → table, low bits, escape symbol.
    pub(crate) pick: Vec<Pick>,
}

// `repr(C)`: the AVX2 encoder gathers a pick as one 32-bit word `ti | s << 16 | esc << 24`.
#[derive(Clone, Copy)]
#[repr(C)]
pub(crate) struct Pick {
    pub(crate) ti: u16,
    pub(crate) s: u8,
    pub(crate) esc: u8,
}

pub(super) static TABLES: OnceLock<Tables> = OnceLock::new();

pub(crate) fn tables() -> &'static Tables {
    TABLES.get_or_init(build_tables)
}

/// ∫_a^b f(t) dt by composite Simpson with ≥ 64 subintervals per unit of `t` (at least 8):
/// the one integration rule of every table set (Gaussian here, the shape families in
/// `family.rs`), IEEE `+ − × ÷` only.
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
pub(super) fn half_normal_mass(a: f64, b: f64) -> f64 {
    let b = if b > 40.0 { 40.0 } else { b };
    // 2/√(2π)
    simpson(a, b, |t| crate::util::detmath::det_exp(-0.5 * t * t)) * 0.797_884_560_802_865_4
}

pub(super) fn sigma_of(k: usize) -> f64 {
    // 2^((k − 32)/8) by repeated multiplication with a fixed constant: deterministic.
    const R8: f64 = 1.090_507_732_665_257_7; // 2^(1/8)
    let mut s = 1.0f64 / 16.0;
    for _ in 0..k {
        s *= R8;
    }
    s
}

pub(super) fn build_table(probs: &[f64]) -> Table {
    let mut counts = [0u64; 256];
    for (c, &p) in counts.iter_mut().zip(probs) {
        let v = (p * (1u64 << 40) as f64).round();
        *c = if v < 1.0 { 1 } else { v as u64 };
    }
    let f256 = crate::entropy::rans::normalize(&counts);
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

pub(super) fn build_tables() -> Tables {
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

/// Number of table sets (shape families, `family.rs`; 0 = the Gaussian).
pub(super) const N_FAMILIES: usize = crate::entropy::model::family::FAMILIES as usize;

/// Something derived from the table set of `family`, built on first use.
pub(super) fn per_family<T>(
    cells: &'static [OnceLock<T>; N_FAMILIES],
    family: u8,
    build: impl FnOnce(&'static Tables) -> T,
) -> &'static T {
    cells[family as usize]
        .get_or_init(|| build(crate::entropy::model::family::family_tables(family)))
}

/// Encoder symbols of every table of `family`, `t · 256 + symbol` (built once).
pub(super) fn enc_syms(family: u8) -> &'static [EncSym] {
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

/// Fixed-point unit of the symbol costs (bits · 2^16).
pub(super) const COST_ONE: u64 = 1 << 16;

/// `log2(M / freq) · 2^16` of every table symbol of `family`, `t · 256 + symbol` (det_log2:
/// deterministic).
pub(crate) fn sym_costs(family: u8) -> &'static [u64] {
    static COSTS: [OnceLock<Vec<u64>>; N_FAMILIES] = [const { OnceLock::new() }; N_FAMILIES];
    per_family::<Vec<u64>>(&COSTS, family, |tabs| {
        let mut c = vec![0u64; N_TABLES * 256];
        for (ti, t) in tabs.t.iter().enumerate() {
            for (sy, &f) in t.freq.iter().enumerate() {
                c[ti * 256 + sy] =
                    (crate::util::detmath::det_log2(M as f64 / f as f64) * COST_ONE as f64) as u64;
            }
        }
        c
    })
}
