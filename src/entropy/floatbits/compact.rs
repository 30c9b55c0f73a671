//! The compact float-layout split for small tensors (lossless method 5, format version ≥ 5):
//! the same cut of every element into a head and a rest as the split (`floatbits/mod.rs`), but
//! with fixed costs of a few bytes instead of a few dozen, which on a tensor of a few hundred
//! values decide whether the split beats deflate, zstd or ZipNN at all.
//!
//! What the split pays per stream and this layout does not: four 32-bit rANS states (16
//! bytes) and a 32-bit word count per stream, frequency tables of one to two bytes per entry
//! over a fixed 8-bit head. Here every field of every element goes through ONE rANS state
//! (4 bytes) that runs to the end of the payload (no length), tables are counts in as few bits
//! as the largest needs (the last one implied by the total), a uniform field is coded as its
//! raw bits in the same stream (no table), and the head's width is chosen by the encoder: the
//! 8 bits below the sign for float32 / bfloat16, the 5 exponent bits for float16.
//!
//! # Layout
//! ```text
//! u8 first       bits 0–3: hb, the head bits (1..=8); bit 7: blocks; bits 4–6: 0. The head of
//!                an element of w bytes is its hb bits below the sign; its rest is the sign
//!                followed by the 8w−1−hb bits below the head (R = 8w − hb bits), cut into
//!                ⌈R/8⌉ chunks, chunk j = rest bits 8j.. (at most 8 bits; the last chunk holds
//!                the sign at its top)
//! varint B       only with bit 7: the block count, 2..=16 and ≤ n; else B = 1. Block k holds
//!                elements ⌊k·n/B⌋ .. ⌊(k+1)·n/B⌋ − 1 (n: the element count)
//! B × tables     per block, of its elements only:
//!   heads          count table over 2^hb symbols, total = the block's element count
//!   rests, head≠0  per chunk, lowest first, a plane spec (only when some head ≠ 0)
//!   rests, head=0  per chunk, lowest first, a plane spec (only when some head = 0: count c0)
//! stream         u32 final rANS state, then the renormalisation bytes, to the end of the payload
//!
//! plane spec:    u8 0: raw, the chunk's bits uniform (coded in exactly that many bits)
//!                u8 1: count table over 2^bits symbols, total = the elements of that class
//!                u8 2 (only for the last chunk of the head ≠ 0 class): one count table per
//!                head value h ≠ 0 present (in increasing order of h), total = count(h); the
//!                chunk of an element is coded with the table of its head
//! count table:   varint c0, the count of symbol 0 (≤ N); when c0 < N: varint lo (≥ 1) and
//!                varint span (lo + span < 2^bits), and when span > 0, u8 b (1..=64) then
//!                span counts of b bits (symbols lo..lo+span−1, packed from the lowest bit of
//!                each byte, the last byte padded with 0 bits; count(lo) ≥ 1); the count of
//!                lo + span is what is left of N (≥ 1). One symbol present: it is coded in no bits.
//! ```
//! Varints are unsigned LEB128. Element i's fields are decoded in the order head, then its
//! chunks lowest first, with its block's tables and the specs of its class; elements in order,
//! all in the one stream. The encoder tries one block, and for a matrix of 2..=16 rows of at
//! least 256 values one block per row (rows of different precision: MiniLM's token-type
//! embeddings, one row stored from float16), and keeps the smaller estimate.
//!
//! # The rANS stream
//! One 32-bit state x, byte renormalisation, frequencies summing to 2^16: the counts of a table
//! scaled to `f = max(1, ⌊c · 2^16 / N⌋)`, then the difference to 2^16 added to (or, when they
//! sum to more, taken from) the frequency of the most frequent symbol (the lowest on ties); a raw
//! chunk of k bits has frequency 2^(16−k) for each value. Decoding a symbol: slot = x mod 2^16,
//! the symbol s with cum(s) ≤ slot < cum(s) + f(s) (cum: the frequencies of the lower symbols),
//! x ← f(s) · ⌊x / 2^16⌋ + slot − cum(s), then while x < 2^23: x ← 256·x + the next byte. The
//! encoder starts at x = 2^23 and codes the symbols last to first; the decoder checks that the
//! state is back at 2^23 and that the stream ends exactly at the payload's end.

use crate::error::{Error, Result};
use crate::util::detmath::det_log2_int;
use crate::util::varint;

mod count;
mod versus_split;
pub(crate) use versus_split::split_may_win;

const SCALE_BITS: u32 = 16;
const TOTAL: u64 = 1 << SCALE_BITS;
/// Lower bound of the state.
const L: u64 = 1 << 23;

const SPEC_RAW: u8 = 0;
const SPEC_TABLE: u8 = 1;
/// One table per head value (the top chunk of the elements whose head ≠ 0 only).
const SPEC_PER_HEAD: u8 = 2;
/// First byte: the tables come per block.
const FLAG_BLOCKS: u8 = 0x80;
/// Most blocks: bounds the tables a payload can make the decoder build (16 × 270).
const MAX_BLOCKS: usize = 16;

/// Layout of an element of `w` bytes for `hb` head bits.
#[derive(Clone, Copy)]
struct Cut {
    w: usize,
    /// Bit position of the head's lowest bit (= the low bits below it).
    sh: u32,
    /// Rest bits (sign + low bits).
    r: u32,
}

impl Cut {
    fn new(w: usize, hb: u32) -> Cut {
        let bits = 8 * w as u32;
        Cut {
            w,
            sh: bits - 1 - hb,
            r: bits - hb,
        }
    }
    fn chunks(&self) -> usize {
        self.r.div_ceil(8) as usize
    }
    fn chunk_bits(&self, j: usize) -> u32 {
        (self.r - 8 * j as u32).min(8)
    }
    fn split(&self, u: u64) -> (u8, u64) {
        let top = 8 * self.w as u32 - 1;
        let h = ((u >> self.sh) & ((1 << (top - self.sh)) - 1)) as u8;
        (h, (u & ((1 << self.sh) - 1)) | ((u >> top) << self.sh))
    }
    fn join(&self, h: u8, rest: u64) -> u64 {
        let top = 8 * self.w as u32 - 1;
        (rest & ((1 << self.sh) - 1)) | ((h as u64) << self.sh) | ((rest >> self.sh) << top)
    }
}

/// Element `i` of `w` bytes as an integer: a fixed-size load per width (a copy of `w` bytes
/// would be a `memcpy` call per element, 12 % of compressing a 64 KiB bfloat16 tensor).
#[inline(always)]
fn element(bytes: &[u8], i: usize, w: usize) -> u64 {
    match w {
        2 => {
            let mut a = [0u8; 2];
            a.copy_from_slice(&bytes[2 * i..2 * i + 2]);
            u16::from_le_bytes(a) as u64
        }
        4 => {
            let mut a = [0u8; 4];
            a.copy_from_slice(&bytes[4 * i..4 * i + 4]);
            u32::from_le_bytes(a) as u64
        }
        _ => {
            let mut a = [0u8; 8];
            a.copy_from_slice(&bytes[8 * i..8 * i + 8]);
            u64::from_le_bytes(a)
        }
    }
}

/// A coding model of one field: its symbols' frequencies (summing to 2^16), or raw bits, or a
/// constant (no coding step).
#[derive(Clone)]
enum Model {
    Constant(u8),
    Raw(u32),
    Table {
        freq: Box<[u32; 256]>,
        cum: Box<[u32; 256]>,
    },
}

impl Model {
    fn table(counts: &[u64; 256]) -> Model {
        Model::table_of(counts, &Present::of(counts))
    }

    /// [`Model::table`] with the present symbols known.
    fn table_of(counts: &[u64; 256], p: &Present) -> Model {
        if p.len == 1 {
            return Model::Constant(p.sym[0]);
        }
        let freq = normalize_of(counts, p);
        let mut cum = Box::new([0u32; 256]);
        let mut c = 0;
        for s in 0..256 {
            cum[s] = c;
            c += freq[s];
        }
        Model::Table {
            freq: Box::new(freq),
            cum,
        }
    }

    /// (frequency, cumulative) of `s`, or None when it costs no step.
    #[inline]
    fn entry(&self, s: u8) -> Option<(u64, u64)> {
        match self {
            Model::Constant(_) => None,
            Model::Raw(k) => {
                let f = 1u64 << (SCALE_BITS - k);
                Some((f, s as u64 * f))
            }
            Model::Table { freq, cum } => Some((freq[s as usize] as u64, cum[s as usize] as u64)),
        }
    }
}

/// The symbols of a count table with a count above 0, increasing, and the counts' total: one
/// pass over the 256 counts, after which a table's length, its frequencies and its code
/// lengths visit only these (a head's table of a few symbols, of which a tensor has up to
/// 255, no longer costs a dozen passes over 256).
struct Present {
    n: u64,
    sym: [u8; 256],
    len: usize,
}

impl Present {
    fn of(counts: &[u64; 256]) -> Present {
        let (mut sym, mut len, mut n) = ([0u8; 256], 0, 0u64);
        // Runs of 8 empty counts are skipped whole: the top chunk's table of a rare head holds
        // a few symbols (a 16 384-value float16 tensor has about 100 of them).
        for (r, run) in counts.chunks_exact(8).enumerate() {
            if run.iter().fold(0, |a, &c| a | c) == 0 {
                continue;
            }
            for (j, &c) in run.iter().enumerate() {
                sym[len] = (8 * r + j) as u8;
                len += (c > 0) as usize;
                // The counts of a table total at most its elements (a decoded table is checked
                // to total its block's), so this cannot overflow.
                n += c;
            }
        }
        Present { n, sym, len }
    }

    fn symbols(&self) -> impl Iterator<Item = usize> + '_ {
        self.sym[..self.len].iter().map(|&s| s as usize)
    }
}

/// Counts (at least two symbols present, total ≤ 2^64) → frequencies summing to 2^16 (module
/// doc). Integer arithmetic only: deterministic.
#[cfg(test)]
fn normalize(counts: &[u64; 256]) -> [u32; 256] {
    normalize_of(counts, &Present::of(counts))
}

/// [`normalize`] with the present symbols known.
fn normalize_of(counts: &[u64; 256], p: &Present) -> [u32; 256] {
    let n = p.n;
    // c · 2^16 fits 64 bits below 2^48 elements: a 64-bit division (the 128-bit one is a
    // library call), the same quotient.
    let small = n < 1 << 48;
    let mut freq = [0u32; 256];
    let mut sum = 0u64;
    // The lowest present symbol (0 for no symbol, as a scan from 0 would leave it).
    let mut top = if p.len > 0 { p.sym[0] as usize } else { 0 };
    for s in p.symbols() {
        let q = if small {
            (counts[s] * TOTAL / n) as u32
        } else {
            (counts[s] as u128 * TOTAL as u128 / n as u128) as u32
        };
        freq[s] = q.max(1);
        sum += freq[s] as u64;
        if counts[s] > counts[top] {
            top = s;
        }
    }
    // Each raised frequency adds less than 1 (at most 255 of them) and the largest frequency
    // is at least 2^16 / 256: taking the excess from it leaves it ≥ 1.
    freq[top] = (freq[top] as u64 + TOTAL - sum) as u32;
    freq
}

/// The count table of `counts` (module doc), appended to `out`.
#[cfg(test)]
fn put_table(counts: &[u64; 256], out: &mut Vec<u8>) {
    put_table_of(counts, &Present::of(counts), out)
}

/// The lowest present symbol above 0 and the highest (`None` when only 0 is present), and
/// the bits of the largest count from the first to before the last (0 when they are the same).
fn table_span(counts: &[u64; 256], p: &Present) -> Option<(usize, usize, u32)> {
    let syms = &p.sym[..p.len];
    let lo_at = (syms.first() == Some(&0)) as usize;
    let (&lo, &hi) = (syms.get(lo_at)?, syms.last()?);
    let max = syms[lo_at..p.len - 1]
        .iter()
        .map(|&s| counts[s as usize])
        .max()
        .unwrap_or(0);
    Some((lo as usize, hi as usize, 64 - max.leading_zeros()))
}

fn put_table_of(counts: &[u64; 256], p: &Present, out: &mut Vec<u8>) {
    varint::put(out, counts[0]);
    let Some((lo, hi, b)) = table_span(counts, p) else {
        return;
    };
    varint::put(out, lo as u64);
    varint::put(out, (hi - lo) as u64);
    if hi == lo {
        return;
    }
    out.push(b as u8);
    let (mut acc, mut nacc) = (0u128, 0u32);
    for &c in &counts[lo..hi] {
        acc |= (c as u128) << nacc;
        nacc += b;
        while nacc >= 8 {
            out.push(acc as u8);
            acc >>= 8;
            nacc -= 8;
        }
    }
    if nacc > 0 {
        out.push(acc as u8);
    }
}

/// Length of the count table [`put_table`] writes, computed without writing it.
#[cfg(test)]
fn table_len(counts: &[u64; 256]) -> usize {
    table_len_of(counts, &Present::of(counts))
}

fn table_len_of(counts: &[u64; 256], p: &Present) -> usize {
    let varint_len = |v: u64| (64 - v.leading_zeros()).max(1).div_ceil(7) as usize;
    let len = varint_len(counts[0]);
    let Some((lo, hi, b)) = table_span(counts, p) else {
        return len;
    };
    let len = len + varint_len(lo as u64) + varint_len((hi - lo) as u64);
    if hi == lo {
        return len;
    }
    len + 1 + ((hi - lo) * b as usize).div_ceil(8)
}

/// Estimated bits of coding `counts` with their normalised frequencies.
fn coded_bits_of(counts: &[u64; 256], p: &Present) -> f64 {
    if p.len < 2 {
        return 0.0;
    }
    let f = normalize_of(counts, p);
    p.symbols()
        .map(|s| counts[s] as f64 * (SCALE_BITS as f64 - det_log2_int(f[s] as u64)))
        .sum()
}

/// The plane spec of a chunk of `bits` bits with `counts`, appended to `out`; its model and
/// the estimated bits of its symbols.
fn put_spec(counts: &[u64; 256], bits: u32, out: &mut Vec<u8>) -> (Model, f64) {
    let p = Present::of(counts);
    let raw = p.n as f64 * bits as f64;
    let table = 8.0 * table_len_of(counts, &p) as f64;
    // The code lengths are only computed where the table alone leaves room (same choice).
    let coded = if table < raw {
        coded_bits_of(counts, &p)
    } else {
        0.0
    };
    if table < raw && table + coded < raw {
        out.push(SPEC_TABLE);
        put_table_of(counts, &p, out);
        (Model::table_of(counts, &p), coded)
    } else {
        out.push(SPEC_RAW);
        (Model::Raw(bits), raw)
    }
}

/// Estimated bits of the spec [`put_spec`] writes (the table, the coded symbols).
fn spec_bits(counts: &[u64; 256], bits: u32) -> f64 {
    let p = Present::of(counts);
    let raw = p.n as f64 * bits as f64;
    let table = 8.0 * table_len_of(counts, &p) as f64;
    if table >= raw {
        return raw;
    }
    raw.min(table + coded_bits_of(counts, &p))
}

/// Everything before the stream of one block, for one head width: the block's tables, its
/// models, and the estimated size of its tables and symbols in bits.
struct Prepared {
    header: Vec<u8>,
    head_model: Model,
    /// Per class (0: head ≠ 0, 1: head = 0) and chunk.
    models: Vec<Model>,
    /// The top chunk of class 0 per head value, when coded so (plane spec 2).
    top_by_head: Option<Vec<Model>>,
    bits: f64,
}

fn prepare(bytes: &[u8], cut: Cut, keys: Option<&count::Keys>) -> Prepared {
    let n = bytes.len() / cut.w;
    let nc = cut.chunks();
    let top = nc - 1;
    let count::Counts {
        heads,
        rests,
        by_head,
        slot,
    } = count::count(bytes, cut, keys);
    let mut out = Vec::new();
    let heads_present = Present::of(&heads);
    put_table_of(&heads, &heads_present, &mut out);
    let head_model = Model::table_of(&heads, &heads_present);
    let mut bits = coded_bits_of(&heads, &heads_present);
    let mut models: Vec<Model> = Vec::with_capacity(2 * nc);
    let mut top_by_head: Option<Vec<Model>> = None;
    for class in 0..2 {
        let size = if class == 0 {
            n as u64 - heads[0]
        } else {
            heads[0]
        };
        for j in 0..nc {
            let counts = &rests[class * nc + j];
            let chunk = cut.chunk_bits(j);
            if size == 0 {
                models.push(Model::Constant(0));
                continue;
            }
            if class == 0 && j == top {
                let one = spec_bits(counts, chunk);
                let present: Vec<Present> = by_head.iter().map(Present::of).collect();
                let tables = 8.0
                    * by_head
                        .iter()
                        .zip(&present)
                        .map(|(c, p)| table_len_of(c, p))
                        .sum::<usize>() as f64;
                // The code lengths only where the tables alone leave room (same choice).
                let coded: f64 = if tables < one {
                    by_head
                        .iter()
                        .zip(&present)
                        .map(|(c, p)| coded_bits_of(c, p))
                        .sum()
                } else {
                    0.0
                };
                if tables < one && tables + coded < one {
                    out.push(SPEC_PER_HEAD);
                    let mut m = vec![Model::Constant(0); 256];
                    for h in 1..256 {
                        if heads[h] > 0 {
                            let (c, p) = (&by_head[slot[h]], &present[slot[h]]);
                            put_table_of(c, p, &mut out);
                            m[h] = Model::table_of(c, p);
                        }
                    }
                    top_by_head = Some(m);
                    models.push(Model::Constant(0));
                    bits += coded;
                    continue;
                }
            }
            let (m, b) = put_spec(counts, chunk, &mut out);
            models.push(m);
            bits += b;
        }
    }
    bits += 8.0 * out.len() as f64;
    Prepared {
        header: out,
        head_model,
        models,
        top_by_head,
        bits,
    }
}

/// First element of block `k` of `b` over `n` elements.
fn block_start(k: u64, n: u64, b: u64) -> usize {
    (k as u128 * n as u128 / b as u128) as usize
}

/// Appends the layout: the first byte (head bits, block flag), the block count when blocked,
/// every block's tables, and the one rANS stream of all elements.
fn write(bytes: &[u8], cut: Cut, hb: u32, blocks: &[Prepared], out: &mut Vec<u8>) {
    let w = cut.w;
    let n = bytes.len() / w;
    let nb = blocks.len();
    let nc = cut.chunks();
    let top = nc - 1;
    if nb > 1 {
        out.push(hb as u8 | FLAG_BLOCKS);
        varint::put(out, nb as u64);
    } else {
        out.push(hb as u8);
    }
    for p in blocks {
        out.extend_from_slice(&p.header);
    }
    // rANS, last symbol first. The state stays below 2^31: 32-bit arithmetic.
    let mut x = L as u32;
    let mut emitted: Vec<u8> = Vec::with_capacity(bytes.len() / 2 + 8);
    let mut code = |x: &mut u32, m: &Model, s: u8| {
        if let Some((f, c)) = m.entry(s) {
            let (f, c) = (f as u32, c as u32);
            let x_max = (((L >> SCALE_BITS) << 8) as u32) * f;
            while *x >= x_max {
                emitted.push(*x as u8);
                *x >>= 8;
            }
            *x = ((*x / f) << SCALE_BITS) + *x % f + c;
        }
    };
    for (k, p) in blocks.iter().enumerate().rev() {
        let (lo, hi) = (
            block_start(k as u64, n as u64, nb as u64),
            block_start(k as u64 + 1, n as u64, nb as u64),
        );
        for i in (lo..hi).rev() {
            let (h, rest) = cut.split(element(bytes, i, w));
            let class = (h == 0) as usize;
            for j in (0..nc).rev() {
                let m = match &p.top_by_head {
                    Some(t) if class == 0 && j == top => &t[h as usize],
                    _ => &p.models[class * nc + j],
                };
                code(&mut x, m, (rest >> (8 * j)) as u8);
            }
            code(&mut x, &p.head_model, h);
        }
    }
    out.extend_from_slice(&x.to_le_bytes());
    out.extend(emitted.iter().rev());
}

/// The blocks of `bytes` (`nb` of them) prepared with `hb` head bits, and their estimated bits
/// with the first byte, the block count and the final state; `keys`: the key counts of all
/// of `bytes` when counted already (one block only).
fn prepare_blocks(
    bytes: &[u8],
    w: usize,
    hb: u32,
    nb: usize,
    keys: Option<&count::Keys>,
) -> (Vec<Prepared>, f64) {
    let cut = Cut::new(w, hb);
    let n = bytes.len() / w;
    let blocks: Vec<Prepared> = (0..nb)
        .map(|k| {
            let lo = block_start(k as u64, n as u64, nb as u64);
            let hi = block_start(k as u64 + 1, n as u64, nb as u64);
            prepare(&bytes[lo * w..hi * w], cut, keys.filter(|_| nb == 1))
        })
        .collect();
    let bits =
        blocks.iter().map(|p| p.bits).sum::<f64>() + 8.0 * (1 + 4 + (nb > 1) as usize) as f64;
    (blocks, bits)
}

/// Appends the compact coding of `bytes` (elements of `w` ∈ {2, 4, 8} bytes, at least one) with
/// `hb` head bits (1..=8) in `nb` blocks (1..=16, at most the element count) to `out`.
#[cfg(test)]
pub(crate) fn encode(bytes: &[u8], w: usize, hb: u32, nb: usize, out: &mut Vec<u8>) {
    let (blocks, _) = prepare_blocks(bytes, w, hb, nb, None);
    write(bytes, Cut::new(w, hb), hb, &blocks, out);
}

/// The compact coding chosen for a tensor, before it is written: its head width, its blocks'
/// tables and models, and its estimated size.
pub(crate) struct Plan {
    hb: u32,
    blocks: Vec<Prepared>,
    bits: f64,
}

impl Plan {
    /// Estimated payload bytes of the coding (without the lossless method byte): the ideal
    /// code lengths of the symbols under the normalised frequencies, the tables, the first
    /// byte and the final state.
    pub(crate) fn estimated_bytes(&self) -> usize {
        (self.bits / 8.0).ceil() as usize
    }

    /// Appends the coding of `bytes` (the elements the plan was made for, of `w` bytes).
    pub(crate) fn write(&self, bytes: &[u8], w: usize, out: &mut Vec<u8>) {
        write(bytes, Cut::new(w, self.hb), self.hb, &self.blocks, out);
    }
}

/// The coding of `bytes` whose estimated size is the smallest (`None` for no element): the
/// head width worth trying for `w`-byte elements in one block, then with that width, for a
/// matrix of 2..=16 `rows` of at least 256 elements each, one block per row (rows of different
/// precision, e.g. one stored from float16; shorter rows could not pay for their tables).
pub(crate) fn plan_best(bytes: &[u8], w: usize, rows: usize) -> Option<Plan> {
    plan_best_against(bytes, w, rows, None)
}

/// How far above the rival's size the entropy bound of [`plan_best_against`] must be: rANS
/// can code a symbol in up to log2(1 + 2^16 / 2^23) ≈ 0.011 bits less than its ideal
/// length (the state's rounding), 0.35 % of the 2-byte elements coded here at 3 symbols
/// and 8–10 bits each; 1 % leaves the rest for `COMPACT_MARGIN` (0.2 %).
const BOUND_SLACK: (u64, u64) = (101, 100);

/// [`plan_best`], or `None` without planning when `rival` (the bytes of a payload already
/// coded) is certainly smaller: for 2-byte elements counted by key, every compact coding
/// spends at least the keys' order-0 entropy (the elements' empirical entropy: the product of
/// its fields' probabilities is a distribution over the element values, and no distribution
/// codes them in fewer bits, Gibbs' inequality); when that is above the rival's size by
/// [`BOUND_SLACK`], the compact split cannot replace it. On ../shared/data this skips the
/// 16 384- and 32 768-value bfloat16 and float16 gradients, where the split (with exponent
/// contexts) was 2–10 % below the bound: half of their encoding time.
pub(crate) fn plan_best_against(
    bytes: &[u8],
    w: usize,
    rows: usize,
    rival: Option<usize>,
) -> Option<Plan> {
    // bfloat16's exponent is 8 bits, float16's 5; the coder cannot tell them apart.
    let widths: &[u32] = if w == 2 { &[8, 5] } else { &[8] };
    let n = bytes.len() / w;
    if n == 0 {
        return None;
    }
    let mut best: Option<Plan> = None;
    // Both head widths of 2-byte elements count from the same keys.
    let keys = count::shared_keys(bytes, w);
    if let (Some(k), Some(r)) = (&keys, rival) {
        let floor = (r as u64).saturating_mul(BOUND_SLACK.0) as f64 / BOUND_SLACK.1 as f64;
        if k.entropy_above(floor) {
            return None;
        }
    }
    for &hb in widths {
        let (blocks, bits) = prepare_blocks(bytes, w, hb, 1, keys.as_ref());
        if best.as_ref().map_or(true, |b| bits < b.bits) {
            best = Some(Plan { hb, blocks, bits });
        }
    }
    if let Some(hb) = best.as_ref().map(|b| b.hb) {
        if (2..=MAX_BLOCKS).contains(&rows) && n / rows >= 256 {
            let (blocks, bits) = prepare_blocks(bytes, w, hb, rows, None);
            if best.as_ref().map_or(true, |b| bits < b.bits) {
                best = Some(Plan { hb, blocks, bits });
            }
        }
    }
    best
}

/// Appends the coding of [`plan_best`] (only that one is coded); nothing for no element.
pub(crate) fn encode_best(bytes: &[u8], w: usize, rows: usize, out: &mut Vec<u8>) {
    if let Some(p) = plan_best(bytes, w, rows) {
        p.write(bytes, w, out);
    }
}

struct Reader<'a> {
    p: &'a [u8],
    pos: usize,
}

impl Reader<'_> {
    fn u8(&mut self) -> Result<u8> {
        let b = *self
            .p
            .get(self.pos)
            .ok_or_else(|| Error::truncated("compact float payload ends early"))?;
        self.pos += 1;
        Ok(b)
    }
    fn varint(&mut self) -> Result<u64> {
        varint::read(|| self.u8())?
            .ok_or_else(|| Error::corrupt("compact float payload: varint too long"))
    }
}

/// Reads a count table over `2^bits` symbols with total `n` (module doc) into counts.
fn read_table(r: &mut Reader, bits: u32, n: u64) -> Result<[u64; 256]> {
    let bad = |what: &str| Error::corrupt(format!("compact float payload: {what}"));
    let mut counts = [0u64; 256];
    let c0 = r.varint()?;
    if c0 > n {
        return Err(bad("count of symbol 0 above the total"));
    }
    counts[0] = c0;
    if c0 == n {
        return Ok(counts);
    }
    let lo = r.varint()?;
    let span = r.varint()?;
    let size = 1u64 << bits;
    if lo == 0 || lo >= size || span >= size - lo {
        return Err(bad("table symbols out of range"));
    }
    let (lo, span) = (lo as usize, span as usize);
    let mut left = n - c0;
    if span > 0 {
        let b = r.u8()? as u32;
        if !(1..=64).contains(&b) {
            return Err(bad("count width out of range"));
        }
        let (mut acc, mut nacc) = (0u128, 0u32);
        for (s, count) in counts.iter_mut().enumerate().skip(lo).take(span) {
            while nacc < b {
                acc |= (r.u8()? as u128) << nacc;
                nacc += 8;
            }
            let c = (acc & ((1u128 << b) - 1)) as u64;
            acc >>= b;
            nacc -= b;
            if s == lo && c == 0 {
                return Err(bad("first table symbol has count 0"));
            }
            *count = c;
            left = left
                .checked_sub(c)
                .ok_or_else(|| bad("table counts above the total"))?;
        }
        if acc != 0 {
            return Err(bad("table padding bits set"));
        }
    }
    if left == 0 {
        return Err(bad("last table symbol has count 0"));
    }
    counts[lo + span] = left;
    Ok(counts)
}

/// Tables of up to this many symbols are searched by a scan from the first.
const SCAN_SYMBOLS: usize = 8;

/// A model's decoding side, holding the present symbols only (what a hostile table can make
/// the decoder allocate is proportional to the bits it spends on them).
enum Dec {
    Constant(u8),
    Raw(u32),
    Table {
        syms: Vec<u8>,
        cum: Vec<u32>,
        freq: Vec<u32>,
        /// For tables of more than [`SCAN_SYMBOLS`] symbols, `start[b]`: the index of the symbol
        /// whose range holds slot `b · 2^(SCALE_BITS − 8)`; the symbol of a slot is found from
        /// there in a step or two instead of a binary search over up to 256 symbols (the
        /// search's unpredictable branches were most of a decode). Smaller tables are scanned
        /// from their first symbol, so the index's 256 bytes come only with a table that spent
        /// bits on more than 8 symbols.
        start: Option<Box<[u8; 256]>>,
    },
}

impl Dec {
    fn new(model: Model) -> Dec {
        match model {
            Model::Constant(s) => Dec::Constant(s),
            Model::Raw(k) => Dec::Raw(k),
            Model::Table { freq, cum } => {
                let syms: Vec<u8> = (0..=255u8).filter(|&s| freq[s as usize] > 0).collect();
                let cum: Vec<u32> = syms.iter().map(|&s| cum[s as usize]).collect();
                let start = (cum.len() > SCAN_SYMBOLS).then(|| {
                    let mut start = Box::new([0u8; 256]);
                    let mut k = 0usize;
                    for (b, e) in start.iter_mut().enumerate() {
                        while k + 1 < cum.len()
                            && cum[k + 1] as u64 <= (b as u64) << (SCALE_BITS - 8)
                        {
                            k += 1;
                        }
                        *e = k as u8;
                    }
                    start
                });
                Dec::Table {
                    freq: syms.iter().map(|&s| freq[s as usize]).collect(),
                    cum,
                    syms,
                    start,
                }
            }
        }
    }
}

struct Stream<'a> {
    p: &'a [u8],
    pos: usize,
    x: u64,
}

impl Stream<'_> {
    #[inline]
    fn get(&mut self, d: &Dec) -> Result<u8> {
        let slot = self.x & (TOTAL - 1);
        let (s, f, c) = match d {
            Dec::Constant(s) => return Ok(*s),
            Dec::Raw(k) => {
                let s = slot >> (SCALE_BITS - k);
                (s as u8, 1u64 << (SCALE_BITS - k), s << (SCALE_BITS - k))
            }
            Dec::Table {
                syms,
                cum,
                freq,
                start,
            } => {
                let mut k = start
                    .as_ref()
                    .map_or(0, |t| t[(slot >> (SCALE_BITS - 8)) as usize] as usize);
                while k + 1 < cum.len() && cum[k + 1] as u64 <= slot {
                    k += 1;
                }
                (syms[k], freq[k] as u64, cum[k] as u64)
            }
        };
        self.x = f * (self.x >> SCALE_BITS) + slot - c;
        while self.x < L {
            let b = *self
                .p
                .get(self.pos)
                .ok_or_else(|| Error::truncated("compact float stream ends early"))?;
            self.pos += 1;
            self.x = (self.x << 8) | b as u64;
        }
        Ok(s)
    }
}

/// The decoding models of one block of `n` elements.
struct BlockDec {
    head: Dec,
    specs: Vec<Dec>,
    /// The top chunk of class 0 per head value (plane spec 2).
    top_by_head: Option<Vec<Option<Dec>>>,
}

fn read_block(r: &mut Reader, cut: Cut, hb: u32, n: u64) -> Result<BlockDec> {
    let nc = cut.chunks();
    let heads = read_table(r, hb, n)?;
    let head = Dec::new(Model::table(&heads));
    let mut specs: Vec<Dec> = Vec::with_capacity(2 * nc);
    let top = nc - 1;
    let mut top_by_head: Option<Vec<Option<Dec>>> = None;
    for class in 0..2 {
        let size = if class == 0 { n - heads[0] } else { heads[0] };
        for j in 0..nc {
            let bits = cut.chunk_bits(j);
            let model = if size == 0 {
                Model::Constant(0)
            } else {
                match r.u8()? {
                    SPEC_RAW => Model::Raw(bits),
                    SPEC_TABLE => Model::table(&read_table(r, bits, size)?),
                    SPEC_PER_HEAD if class == 0 && j == top => {
                        let mut t: Vec<Option<Dec>> = (0..256).map(|_| None).collect();
                        for h in 1..256 {
                            if heads[h] > 0 {
                                let c = read_table(r, bits, heads[h])?;
                                t[h] = Some(Dec::new(Model::table(&c)));
                            }
                        }
                        top_by_head = Some(t);
                        Model::Constant(0)
                    }
                    k => {
                        return Err(Error::corrupt(format!(
                            "compact float payload: unknown plane spec {k}"
                        )))
                    }
                }
            };
            specs.push(Dec::new(model));
        }
    }
    Ok(BlockDec {
        head,
        specs,
        top_by_head,
    })
}

/// Decodes a compact payload `p` (the whole rest of the payload) into `out` (elements of `w`
/// bytes, at least one). Allocates only tables: at most 16 blocks of at most 270 tables, each
/// of the symbols present in it (and a 256-byte slot index when there are more than 8).
pub(crate) fn decode(p: &[u8], w: usize, out: &mut [u8]) -> Result<()> {
    if !matches!(w, 2 | 4 | 8) || out.len() % w != 0 || out.is_empty() {
        return Err(Error::corrupt(format!(
            "compact float payload for {} bytes of {w}-byte elements",
            out.len()
        )));
    }
    let n = (out.len() / w) as u64;
    let mut r = Reader { p, pos: 0 };
    let first = r.u8()?;
    let hb = (first & 0x0F) as u32;
    if !(1..=8).contains(&hb) || first & 0x70 != 0 {
        return Err(Error::corrupt(format!(
            "compact float payload: first byte {first:#04x}"
        )));
    }
    let nb = if first & FLAG_BLOCKS != 0 {
        let b = r.varint()?;
        if b < 2 || b > MAX_BLOCKS as u64 || b > n {
            return Err(Error::corrupt(format!(
                "compact float payload: {b} blocks for {n} elements"
            )));
        }
        b
    } else {
        1
    };
    let cut = Cut::new(w, hb);
    let nc = cut.chunks();
    let top = nc - 1;
    let mut blocks = Vec::with_capacity(nb as usize);
    for k in 0..nb {
        let size = block_start(k + 1, n, nb) - block_start(k, n, nb);
        blocks.push(read_block(&mut r, cut, hb, size as u64)?);
    }
    let s = p
        .get(r.pos..r.pos + 4)
        .ok_or_else(|| Error::truncated("compact float stream ends early"))?;
    let mut st = Stream {
        p,
        pos: r.pos + 4,
        x: u32::from_le_bytes([s[0], s[1], s[2], s[3]]) as u64,
    };
    for (k, b) in blocks.iter().enumerate() {
        let (lo, hi) = (
            block_start(k as u64, n, nb),
            block_start(k as u64 + 1, n, nb),
        );
        for o in out[lo * w..hi * w].chunks_exact_mut(w) {
            let h = st.get(&b.head)?;
            let class = (h == 0) as usize;
            let mut rest = 0u64;
            for j in 0..nc {
                let d = match &b.top_by_head {
                    Some(t) if class == 0 && j == top => {
                        t[h as usize].as_ref().ok_or_else(|| {
                            Error::corrupt("compact float payload: a head outside its table")
                        })?
                    }
                    _ => &b.specs[class * nc + j],
                };
                rest |= (st.get(d)? as u64) << (8 * j);
            }
            o.copy_from_slice(&cut.join(h, rest).to_le_bytes()[..w]);
        }
    }
    if st.x != L || st.pos != p.len() {
        return Err(Error::corrupt(
            "compact float stream does not end in its initial state at the payload's end",
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The present symbols and the total by hand: symbols at both ends of a run of 8 and
    /// next to an empty run, the last symbol, an empty table.
    #[test]
    fn present_symbols_by_hand() {
        let mut c = [0u64; 256];
        for (s, k) in [(0, 3), (7, 1), (8, 2), (100, 5), (255, 4)] {
            c[s] = k;
        }
        let p = Present::of(&c);
        assert_eq!(p.symbols().collect::<Vec<_>>(), vec![0, 7, 8, 100, 255]);
        assert_eq!(p.n, 15);
        let p = Present::of(&[0u64; 256]);
        assert_eq!((p.len, p.n), (0, 0));
    }

    fn bf16(v: f32) -> [u8; 2] {
        ((v.to_bits() >> 16) as u16).to_le_bytes()
    }

    /// Three bfloat16 1.0 (0x3F80: head 127, rest 0): every field is constant, so the stream
    /// is the untouched initial state.
    #[test]
    fn constant_tensor_by_hand() {
        let b: Vec<u8> = [1.0f32; 3].iter().flat_map(|&v| bf16(v)).collect();
        let mut p = Vec::new();
        encode(&b, 2, 8, 1, &mut p);
        let want = [
            8, // head bits
            0, 0x7F, 0, // heads: no zero head, lo 127, span 0 (constant)
            1, 3, // rest chunk of head ≠ 0: a table whose symbol 0 has all 3
            0x00, 0x00, 0x80, 0x00, // final state 2^23
        ];
        assert_eq!(p, want);
        let mut out = vec![0u8; 6];
        decode(&p, 2, &mut out).unwrap();
        assert_eq!(out, b);
    }

    /// bfloat16 1.0 and 2.0 (heads 127 and 128, rests 0): frequencies 2^15 each; coding 128
    /// (cum 2^15) then 127 from x = 2^23 gives x = ((2^23 / 2^15) << 16) + 2^15 = 2^24 + 2^15,
    /// then ((2^24 + 2^15) / 2^15) << 16 = 513 · 2^16 = 0x0201_0000, with no renormalisation.
    #[test]
    fn two_heads_by_hand() {
        let b: Vec<u8> = [1.0f32, 2.0].iter().flat_map(|&v| bf16(v)).collect();
        let mut p = Vec::new();
        encode(&b, 2, 8, 1, &mut p);
        let want = [
            8, // head bits
            0, 0x7F, 1, 1, 1, // heads: c0 0, lo 127, span 1, 1-bit counts: count(127) = 1
            1, 2, // rests of head ≠ 0: symbol 0 twice
            0x00, 0x00, 0x01, 0x02, // final state 0x0201_0000
        ];
        assert_eq!(p, want);
        let mut out = vec![0u8; 4];
        decode(&p, 2, &mut out).unwrap();
        assert_eq!(out, b);
    }

    /// The estimates of the two layouts above: the tables and the first byte and final state
    /// in whole bytes, plus the symbols' ideal code lengths. Constant: 3 + 2 table bytes,
    /// 1 + 4, no coded bits: 80 bits, 10 bytes (as written). Two heads of frequency 2^15
    /// each: 5 + 2 table bytes, 1 + 4, and 1 bit per head: 98 bits, 13 bytes (12 written: the
    /// 2 bits stay in the final state). Both keep 8 head bits (5 would cut 1.0 = 0x3F80 into
    /// the head 15 and the rest 0x380, more symbols to code).
    #[test]
    fn plan_estimates_by_hand() {
        for (values, est, written) in [(&[1.0f32; 3][..], 10, 10), (&[1.0f32, 2.0][..], 13, 12)] {
            let b: Vec<u8> = values.iter().flat_map(|&v| bf16(v)).collect();
            let plan = plan_best(&b, 2, 1).unwrap();
            assert_eq!((plan.hb, plan.estimated_bytes()), (8, est));
            let mut p = Vec::new();
            plan.write(&b, 2, &mut p);
            assert_eq!(p.len(), written);
        }
        assert!(plan_best(&[], 2, 1).is_none());
    }

    /// A float16 head of 5 bits: 1.0 is 0x3C00 (exponent 15, rest 0), −2.0 is 0xC000
    /// (exponent 16, sign 1: rest 0x400, chunk 1 = 0b100).
    #[test]
    fn float16_head_bits_cut() {
        let c = Cut::new(2, 5);
        assert_eq!(
            (c.sh, c.r, c.chunks(), c.chunk_bits(0), c.chunk_bits(1)),
            (10, 11, 2, 8, 3)
        );
        assert_eq!(c.split(0x3C00), (15, 0));
        assert_eq!(c.split(0xC000), (16, 0x400));
        assert_eq!(c.join(16, 0x400), 0xC000);
        let d = Cut::new(8, 8);
        assert_eq!((d.r, d.chunks(), d.chunk_bits(6)), (56, 7, 8));
        let u = 0xC00F_0000_0000_0001u64; // −3.875: sign, exponent 0x400
        assert_eq!(d.split(u), (0x80, 0x8F_0000_0000_0001)); // sign, 3 exponent bits, mantissa
        assert_eq!(d.join(d.split(u).0, d.split(u).1), u);
    }

    /// Eight float32 1.0 (head 127, top chunk 0) then eight 3.0 (head 128, top chunk 0x40: the
    /// top mantissa bit): the top chunk is constant per head, so one table per head (4 bytes,
    /// 0 bits) beats one table for both (3 bytes + 16 bits) and raw (128 bits).
    #[test]
    fn top_chunk_per_head_by_hand() {
        let v = [
            1.0f32, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 3.0, 3.0, 3.0, 3.0, 3.0, 3.0, 3.0, 3.0,
        ];
        let b: Vec<u8> = v.iter().flat_map(|x| x.to_le_bytes()).collect();
        let mut p = Vec::new();
        encode(&b, 4, 8, 1, &mut p);
        let want = [
            8, // head bits
            0, 0x7F, 1, 4, 8, // heads: c0 0, lo 127, span 1, 4-bit counts: count(127) = 8
            1, 0x10, // chunk 0: symbol 0 sixteen times
            1, 0x10, // chunk 1: the same
            2, 8, 0, 0x40,
            0, // top chunk per head: 127 → all 8 are 0; 128 → constant 0x40
        ];
        assert_eq!(p[..want.len()], want);
        // 16 heads of one bit each: two renormalisation bytes after the 4-byte state.
        assert_eq!(p.len(), want.len() + 4 + 2);
        let mut out = vec![0u8; b.len()];
        decode(&p, 4, &mut out).unwrap();
        assert_eq!(out, b);
        // A per-head spec is refused on any other chunk.
        let mut q = p.clone();
        q[6] = 2;
        assert!(decode(&q, 4, &mut out).is_err());
    }

    /// bfloat16 [1.0, 1.0 | 2.0, 2.0] in two blocks: each block's head is constant (127, then
    /// 128: varint 0x80 0x01) and its rest chunk all 0, so the stream is the initial state.
    #[test]
    fn blocks_by_hand() {
        let b: Vec<u8> = [1.0f32, 1.0, 2.0, 2.0]
            .iter()
            .flat_map(|&v| bf16(v))
            .collect();
        let mut p = Vec::new();
        encode(&b, 2, 8, 2, &mut p);
        let want = [
            0x88, 2, // 8 head bits, blocks flag; 2 blocks
            0, 0x7F, 0, 1, 2, // block 0: head 127 constant; rests: symbol 0 twice
            0, 0x80, 0x01, 0, 1, 2, // block 1: head 128 constant; rests: symbol 0 twice
            0x00, 0x00, 0x80, 0x00, // final state 2^23
        ];
        assert_eq!(p, want);
        let mut out = vec![0u8; 8];
        decode(&p, 2, &mut out).unwrap();
        assert_eq!(out, b);
        // A block count of 1 or above 16 or above the element count, unused first-byte bits.
        for (at, v) in [(1, 1u8), (1, 17), (1, 5), (0, 0x98)] {
            let mut q = p.clone();
            q[at] = v;
            assert!(decode(&q, 2, &mut out).is_err(), "byte {at} = {v}");
        }
    }

    struct Lcg(u64);
    impl Lcg {
        fn next(&mut self) -> u64 {
            self.0 = self
                .0
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            self.0 >> 11
        }
    }

    /// Random bit patterns (uniform, few distinct values, mostly zeros), every width, every
    /// head width, lengths 1..~2000: bit-exact round trips; every truncation and any extra byte
    /// is an error; a flipped byte never panics.
    #[test]
    fn round_trips_and_damage() {
        let mut g = Lcg(3);
        for w in [2usize, 4, 8] {
            for len in [1usize, 2, 3, 5, 17, 64, 255, 256, 1000, 1999] {
                for kind in 0..3 {
                    let pool: Vec<u64> = (0..5).map(|_| g.next() ^ (g.next() << 40)).collect();
                    let b: Vec<u8> = (0..len)
                        .flat_map(|_| {
                            let u = match kind {
                                0 => g.next() ^ (g.next() << 40),
                                1 => pool[(g.next() % 5) as usize],
                                _ if g.next() % 4 == 0 => g.next() << 20,
                                _ => 0,
                            };
                            u.to_le_bytes()[..w].to_vec()
                        })
                        .collect();
                    for hb in 1..=8 {
                        let mut p = Vec::new();
                        encode(&b, w, hb, 1 + (hb as usize % 3).min(len - 1), &mut p);
                        let mut out = vec![0u8; b.len()];
                        decode(&p, w, &mut out).unwrap();
                        assert!(out == b, "w {w} len {len} kind {kind} hb {hb}");
                        if len <= 64 && hb % 3 == 2 {
                            for cut in 0..p.len() {
                                assert!(decode(&p[..cut], w, &mut out).is_err());
                            }
                            let mut longer = p.clone();
                            longer.push(0);
                            assert!(decode(&longer, w, &mut out).is_err());
                            for i in 0..p.len() {
                                let mut q = p.clone();
                                q[i] ^= 1 << (g.next() % 8);
                                let _ = decode(&q, w, &mut out);
                            }
                        }
                    }
                }
            }
        }
    }

    /// The normalised frequencies sum to 2^16 with every present symbol ≥ 1, also when most
    /// symbols are rare (255 singletons beside one symbol of a large count).
    #[test]
    fn slot_lookup_equals_a_binary_search() {
        // Tables of 2, 3, 40 and 256 symbols, skewed and flat: every slot's symbol through
        // `start` and the short scan equals the binary search over the cumulative counts.
        let mut tables: Vec<[u64; 256]> = vec![];
        let mut c = [0u64; 256];
        c[7] = 1;
        c[200] = 99_999;
        tables.push(c);
        let mut c = [0u64; 256];
        c[0] = 5;
        c[1] = 1;
        c[255] = 3;
        tables.push(c);
        let mut c = [0u64; 256];
        for (i, v) in c.iter_mut().enumerate().take(40) {
            *v = 1 + (i as u64 * 37) % 11;
        }
        tables.push(c);
        tables.push([1u64; 256]);
        for counts in &tables {
            let d = Dec::new(Model::table(counts));
            let Dec::Table { syms, cum, .. } = &d else {
                panic!("not a table")
            };
            for slot in 0..TOTAL {
                let k = cum.partition_point(|&c| c as u64 <= slot) - 1;
                // Decode one symbol from a state whose slot is `slot` (x = L · 2^16 + slot
                // keeps x ≥ L after the step for every frequency, so no byte is read).
                let mut st = Stream {
                    p: &[],
                    pos: 0,
                    x: (L << SCALE_BITS) | slot,
                };
                assert_eq!(st.get(&d).unwrap(), syms[k], "slot {slot}");
            }
        }
    }

    #[test]
    fn table_lengths_are_the_written_lengths() {
        let mut s = 0x1234_5678_9ABC_DEF1u64;
        let mut next = || {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            s
        };
        let mut cases: Vec<[u64; 256]> = vec![[0; 256]];
        cases[0][0] = 5; // one symbol, 0
        let mut one = [0u64; 256];
        one[200] = 1 << 40; // one symbol ≠ 0, a long varint
        cases.push(one);
        for k in 0..200 {
            let mut c = [0u64; 256];
            for _ in 0..(k % 9 + 2) {
                let v = next();
                c[(v % 256) as usize] += (v >> 8) % (1 << (k % 40 + 1));
            }
            cases.push(c);
        }
        for c in &cases {
            if c.iter().sum::<u64>() == 0 {
                continue;
            }
            let mut v = Vec::new();
            put_table(c, &mut v);
            assert_eq!(table_len(c), v.len(), "{c:?}");
        }
    }

    #[test]
    fn normalisation_sums_to_the_total() {
        let mut c = [1u64; 256];
        c[7] = 1 << 40;
        let f = normalize(&c);
        assert_eq!(f.iter().map(|&v| v as u64).sum::<u64>(), TOTAL);
        assert!(f.iter().all(|&v| v >= 1));
        assert_eq!(f[7] as u64, TOTAL - 255);
        let mut d = [0u64; 256];
        d[1] = 3;
        d[200] = 1;
        assert_eq!((normalize(&d)[1], normalize(&d)[200]), (49152, 16384));
        // Equal counts: the excess goes to the lowest of the largest (symbol 3 of 3, 9, 250:
        // 21 845 each, 65 535 in all, +1 to symbol 3); no symbol: the whole total on symbol 0.
        let mut e = [0u64; 256];
        e[3] = 5;
        e[9] = 5;
        e[250] = 5;
        assert_eq!(
            (normalize(&e)[3], normalize(&e)[9], normalize(&e)[250]),
            (21_846, 21_845, 21_845)
        );
        assert_eq!(normalize(&[0u64; 256])[0] as u64, TOTAL);
    }

    /// Hostile tables: counts above the total, a first count of 0, symbols past the alphabet,
    /// an unknown spec, too many head bits, a bad final state.
    #[test]
    fn bad_tables_are_errors() {
        let mut out = vec![0u8; 4];
        for p in [
            &[8u8, 3][..],                             // c0 3 > 2 elements
            &[8, 0, 0x7F, 1, 1, 0][..],                // count(lo) = 0
            &[8, 0, 0x7F, 1, 1, 3][..],                // a padding bit set after the 1-bit count
            &[8, 0, 0xFF, 0x01, 1][..],                // lo 255, span 1: past 2^8
            &[5, 0, 0x20][..],                         // lo 32 with 5 head bits
            &[9, 2][..],                               // 9 head bits
            &[8, 0, 0x7F, 0, 7][..],                   // unknown plane spec 7
            &[8, 0, 0x7F, 0, 1, 2, 1, 0, 0x80, 0][..], // state 2^23 + 1: not back at L
        ] {
            assert!(decode(p, 2, &mut out).is_err(), "{p:?}");
        }
        assert!(decode(&[8, 0, 0x7F, 0, 1, 2, 0, 0, 0x80, 0], 2, &mut out).is_ok());
    }
}
