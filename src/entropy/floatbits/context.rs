//! Order-1 rANS coder of a byte stream (the exponents of a float tensor): each symbol is coded
//! with the table of its predecessor's context. Contexts are the `K − 1` most frequent symbols,
//! each its own, plus one shared by all others (`K ≤ 16`: enough for the few exponents a tensor
//! really uses; and `K ≤ n / 4096` for `n` symbols, at least 1, so that the tables stay small
//! next to the stream).
//!
//! The stream is cut into four contiguous segments, one per rANS state, so that the context of
//! a symbol is the symbol just before it in the tensor (the first of a segment has the context
//! of symbol 0) and the four states still decode independently of each other's symbols.
//!
//! # Layout (little-endian)
//! ```text
//! u8  K (1..=max(1, min(16, ⌊n / 4096⌋)))
//! K−1 × u8      the symbols owning contexts 0..K−1 (distinct); every other symbol → context K−1
//! K tables, each one of:
//!   u8 0                 empty: no symbol is coded in this context
//!   u8 1, u8 s           constant: every symbol coded in this context is s (costs no bits)
//!   u8 2, u8 lo, u8 hi   lo < hi, then hi−lo+1 × LEB128 frequency (< 2^12, ≥ 2 non-zero,
//!                        summing to 2^12)
//!   u8 3, u8 lo, u8 hi   lo < hi, then hi−lo+1 × LEB128 count (< 2^40, ≥ 2 non-zero): the
//!                        frequencies are the counts normalised to 2^12 (`rans::normalize`,
//!                        integer arithmetic)
//! u32 W, W × u16         words: the four final states (high half first), then renormalisation
//! ```
//! Segment `j` holds `n/4` symbols, plus one for `j < n mod 4`; segments follow each other in
//! order. Decoding runs step `t` over the four segments in turn (lane `j` decodes symbol `t`
//! of segment `j`); the encoder codes the exact reverse. The decoder checks that every state
//! ends at `L` and every word was read.

use crate::entropy::order0::histogram;
use crate::entropy::rans::{normalize, push_final_states, read_states, EncSym, L, M, SCALE_BITS};
use crate::error::{Error, Result};
use crate::util::detmath::det_log2_int;
use crate::util::varint;

const LANES: usize = 4;
/// Largest number of contexts.
pub(crate) const MAX_CONTEXTS: usize = 16;
/// Symbols per context at least: a stream of `n` symbols has at most `n / 4096` contexts (at
/// least 1), so the decoder's tables (16 KiB each) stay within 4 bytes per symbol + 16 KiB,
/// and small streams, where tables cost more than contexts save, use one.
const SYMBOLS_PER_CONTEXT: usize = 4096;

/// The most contexts a stream of `n` symbols may use.
pub(crate) fn max_contexts(n: usize) -> usize {
    (n / SYMBOLS_PER_CONTEXT).clamp(1, MAX_CONTEXTS)
}

const TABLE_EMPTY: u8 = 0;
const TABLE_CONSTANT: u8 = 1;
const TABLE_RANS: u8 = 2;
const TABLE_COUNTS: u8 = 3;

/// Lengths and starts of the four segments of `n` symbols.
fn segments(n: usize) -> ([usize; LANES], [usize; LANES]) {
    let (base, rem) = (n / LANES, n % LANES);
    let mut len = [0; LANES];
    let mut start = [0; LANES];
    let mut s = 0;
    for j in 0..LANES {
        len[j] = base + (j < rem) as usize;
        start[j] = s;
        s += len[j];
    }
    (len, start)
}

/// Context of each predecessor symbol, given the symbols that own a context.
pub(super) fn context_map(owners: &[u8]) -> [u8; 256] {
    let mut map = [owners.len() as u8; 256];
    for (c, &s) in owners.iter().enumerate() {
        map[s as usize] = c as u8;
    }
    map
}

/// Calls `f(context, symbol)` for every symbol, contexts as the decoder sees them.
fn for_each_pair(sym: &[u8], map: &[u8; 256], mut f: impl FnMut(usize, u8)) {
    let (len, start) = segments(sym.len());
    for j in 0..LANES {
        let seg = &sym[start[j]..start[j] + len[j]];
        let mut prev = 0u8;
        for &s in seg {
            f(map[prev as usize] as usize, s);
            prev = s;
        }
    }
}

/// Per context (`k` of them, `map`: predecessor → context), the counts of the symbols that
/// follow, as [`for_each_pair`] sees the pairs. A long stream counts every (predecessor, symbol)
/// pair in one flat table first ([`pair_table`]: one increment a symbol, no context lookup) and
/// folds its rows into the contexts after: the same counts.
fn pair_counts(sym: &[u8], map: &[u8; 256], k: usize) -> Vec<[u64; 256]> {
    if !long(sym.len()) {
        let mut counts = vec![[0u64; 256]; k];
        for_each_pair(sym, map, |c, s| counts[c][s as usize] += 1);
        return counts;
    }
    fold_pairs(&pair_table(sym), map, k)
}

/// Whether a stream of `n` symbols counts its pairs in the flat table (u32 pair counts cannot
/// overflow below 2^32 symbols).
fn long(n: usize) -> bool {
    n >= 1 << 16 && (n as u64) < 1 << 32
}

/// The count of every (predecessor, symbol) pair, at `predecessor << 8 | symbol`, as
/// [`for_each_pair`] sees the pairs (fewer than 2^32 symbols).
fn pair_table(sym: &[u8]) -> Vec<u32> {
    let (len, start) = segments(sym.len());
    let mut pairs = vec![0u32; 1 << 16];
    for j in 0..LANES {
        let mut prev = 0usize;
        for &s in &sym[start[j]..start[j] + len[j]] {
            pairs[prev << 8 | s as usize] += 1;
            prev = s as usize;
        }
    }
    pairs
}

/// The rows of a [`pair_table`] summed per context (`map`: predecessor → context, `k`
/// contexts).
fn fold_pairs(pairs: &[u32], map: &[u8; 256], k: usize) -> Vec<[u64; 256]> {
    let mut counts = vec![[0u64; 256]; k];
    for (p, row) in pairs.chunks_exact(256).enumerate() {
        let c = &mut counts[map[p] as usize];
        for (acc, &n) in c.iter_mut().zip(row) {
            *acc += n as u64;
        }
    }
    counts
}

/// Estimated size in bits of coding `counts` (one row per context): the ideal code length
/// plus about a byte and a half per table entry. Deterministic (`det_log2`).
pub(super) fn estimate_bits(counts: &[[u64; 256]]) -> f64 {
    let mut bits = 0.0;
    for cnt in counts {
        let total: u64 = cnt.iter().sum();
        if total == 0 {
            continue;
        }
        let lt = det_log2_int(total);
        let present: Vec<usize> = (0..256).filter(|&s| cnt[s] > 0).collect();
        if present.len() > 1 {
            for &s in &present {
                bits += cnt[s] as f64 * (lt - det_log2_int(cnt[s]));
            }
            bits += 12.0 * (present[present.len() - 1] - present[0] + 1) as f64;
        }
        bits += 24.0;
    }
    bits
}

/// The contexts to code `sym` with (its byte histogram `hist`): their owners and per-context
/// counts when the estimate finds them at least 2 % smaller than order-0, else `None`.
pub(crate) fn contexts(sym: &[u8], hist: &[u64; 256]) -> Option<(Vec<u8>, Vec<[u64; 256]>)> {
    choose(sym.len(), hist, |map, k| pair_counts(sym, map, k))
}

/// The byte histogram of `sym` and [`contexts`]: a long stream counts its pairs first and sums
/// their columns into the histogram (every symbol is the second of exactly one pair), so its
/// symbols are counted once, not twice.
pub(crate) fn histogram_and_contexts(sym: &[u8]) -> Histogram {
    if !long(sym.len()) {
        let hist = histogram(sym);
        let ctx = contexts(sym, &hist);
        return (hist, ctx);
    }
    let pairs = pair_table(sym);
    let mut wide = [0u64; 256];
    for row in pairs.chunks_exact(256) {
        for (h, &c) in wide.iter_mut().zip(row) {
            *h += c as u64;
        }
    }
    let ctx = choose(sym.len(), &wide, |map, k| fold_pairs(&pairs, map, k));
    (wide, ctx)
}

/// Estimated size in bits of a stream coded as [`histogram_and_contexts`] chose: with its
/// contexts, or order-0.
pub(crate) fn estimated_bits(h: &Histogram) -> f64 {
    match &h.1 {
        Some((_, counts)) => estimate_bits(counts),
        None => estimate_bits(&[h.0]),
    }
}

/// A byte histogram and the contexts chosen with it ([`histogram_and_contexts`]).
pub(crate) type Histogram = ([u64; 256], Option<(Vec<u8>, Vec<[u64; 256]>)>);

/// The symbols owning a context in a stream of `n` symbols of histogram `hist`: the
/// `max_contexts(n) − 1` most frequent.
pub(super) fn owners(n: usize, hist: &[u64; 256]) -> Vec<u8> {
    let mut order: Vec<usize> = (0..256).filter(|&s| hist[s] > 0).collect();
    // Most frequent first, ties to the lower symbol: deterministic.
    order.sort_by(|&a, &b| hist[b].cmp(&hist[a]).then(a.cmp(&b)));
    order
        .iter()
        .take(max_contexts(n) - 1)
        .map(|&s| s as u8)
        .collect()
}

/// [`contexts`] of a stream of `n` symbols, its per-context counts by `counts(map, k)`.
fn choose(
    n: usize,
    hist: &[u64; 256],
    counts: impl FnOnce(&[u8; 256], usize) -> Vec<[u64; 256]>,
) -> Option<(Vec<u8>, Vec<[u64; 256]>)> {
    let owners = owners(n, hist);
    if owners.is_empty() {
        return None;
    }
    let map = context_map(&owners);
    let counts = counts(&map, owners.len() + 1);
    // Contexts must save 2 %: below that (weights, embeddings: 0.2 %) their tables, up to
    // 256 KiB, cost more decoding speed (cache misses) than the bytes are worth.
    (estimate_bits(&counts) < 0.98 * estimate_bits(&[*hist])).then_some((owners, counts))
}

/// Codes `sym` with the contexts of `owners` and their `counts` (as `for_each_pair` counts).
pub(crate) fn encode_with(sym: &[u8], owners: &[u8], counts: &[[u64; 256]], out: &mut Vec<u8>) {
    let k = owners.len() + 1;
    let map = context_map(owners);
    out.push(k as u8);
    out.extend_from_slice(owners);
    // Per context: None (empty or constant: no coding step), or the encoder entries.
    let mut tabs: Vec<Option<Box<[EncSym; 256]>>> = Vec::with_capacity(k);
    for cnt in counts {
        let present = cnt.iter().filter(|&&c| c > 0).count();
        if present == 0 {
            out.push(TABLE_EMPTY);
            tabs.push(None);
            continue;
        }
        if present == 1 {
            out.push(TABLE_CONSTANT);
            out.push(cnt.iter().position(|&c| c > 0).unwrap_or(0) as u8);
            tabs.push(None);
            continue;
        }
        let freq = normalize(cnt);
        let lo = freq.iter().position(|&f| f > 0).unwrap_or(0);
        let hi = 255 - freq.iter().rev().position(|&f| f > 0).unwrap_or(0);
        // The frequencies, or the counts they normalise from (fewer bytes on small tensors;
        // the decoder normalises them the same way): whichever is shorter.
        let mut as_freq = Vec::new();
        freq[lo..=hi]
            .iter()
            .for_each(|&f| varint::put(&mut as_freq, f as u64));
        let mut as_counts = Vec::new();
        cnt[lo..=hi]
            .iter()
            .for_each(|&c| varint::put(&mut as_counts, c));
        if as_counts.len() < as_freq.len() {
            out.extend_from_slice(&[TABLE_COUNTS, lo as u8, hi as u8]);
            out.extend_from_slice(&as_counts);
        } else {
            out.extend_from_slice(&[TABLE_RANS, lo as u8, hi as u8]);
            out.extend_from_slice(&as_freq);
        }
        let mut tab = Box::new([EncSym::default(); 256]);
        let mut cum = 0;
        for s in 0..256 {
            if freq[s] > 0 {
                tab[s] = EncSym::new(freq[s], cum);
                cum += freq[s];
            }
        }
        tabs.push(Some(tab));
    }

    let (len, start) = segments(sym.len());
    // At most one word per symbol: written unconditionally at `nw`, which advances by the
    // renormalisation flag (no branch, no capacity check).
    let mut words = vec![0u16; sym.len() + 1];
    let mut nw = 0;
    let mut x = [L; LANES];
    let order0 = match (owners.is_empty(), &tabs[..]) {
        (true, [Some(tab)]) => Some(&**tab),
        _ => None,
    };
    let mut code = |j: usize, t: usize, x: &mut [u32; LANES]| {
        let s = sym[start[j] + t] as usize;
        let tab = match order0 {
            Some(tab) => tab,
            None => {
                let prev = if t == 0 { 0 } else { sym[start[j] + t - 1] };
                match &tabs[map[prev as usize] as usize] {
                    Some(tab) => tab,
                    None => return,
                }
            }
        };
        let (w, emit) = tab[s].step(&mut x[j]);
        words[nw] = w;
        nw += emit as usize;
    };
    let base = len[LANES - 1];
    for j in (0..LANES).rev() {
        if len[j] > base {
            code(j, base, &mut x);
        }
    }
    for t in (0..base).rev() {
        for j in (0..LANES).rev() {
            code(j, t, &mut x);
        }
    }
    words.truncate(nw);
    push_final_states(&x, &mut words);
    out.reserve_exact(4 + words.len() * 2);
    out.extend_from_slice(&(words.len() as u32).to_le_bytes());
    for w in words.iter().rev() {
        out.extend_from_slice(&w.to_le_bytes());
    }
}

/// Fills `lut` (one context's `M` slots) from frequencies summing to `M`: slot →
/// (symbol << 24) | (cum << 12) | (freq − 1). A constant context is one symbol of frequency
/// `M`: decoding it leaves the state as it is and costs no bits, as the encoder skips it.
fn fill_lut(freq: &[u32; 256], lut: &mut [u32]) {
    let mut c = 0usize;
    for (s, &f) in freq.iter().enumerate() {
        if f > 0 {
            lut[c..c + f as usize].fill(((s as u32) << 24) | ((c as u32) << 12) | (f - 1));
            c += f as usize;
        }
    }
}

fn take<'a>(p: &'a [u8], pos: &mut usize, k: usize) -> Result<&'a [u8]> {
    if p.len() - *pos < k {
        return Err(Error::truncated(format!(
            "exponent stream ends early ({k} more bytes needed)"
        )));
    }
    let s = &p[*pos..*pos + k];
    *pos += k;
    Ok(s)
}

/// A LEB128 count below 2^40 (enough for any tensor; more is a corrupt table, and keeps the
/// sum of 256 counts far from overflowing `normalize`'s arithmetic).
fn read_leb128(p: &[u8], pos: &mut usize) -> Result<u64> {
    let mut v = 0u64;
    for k in 0..6 {
        let b = take(p, pos, 1)?[0];
        v |= ((b & 0x7F) as u64) << (7 * k);
        if b & 0x80 == 0 {
            if (k > 0 && b == 0) || v >= 1 << 40 {
                return Err(Error::corrupt(
                    "exponent table count is not a canonical LEB128 below 2^40",
                ));
            }
            return Ok(v);
        }
    }
    Err(Error::corrupt("exponent table count is too long"))
}

fn symbol_range(p: &[u8], pos: &mut usize) -> Result<(usize, usize)> {
    let r = take(p, pos, 2)?;
    let (lo, hi) = (r[0] as usize, r[1] as usize);
    if hi <= lo {
        return Err(Error::corrupt(
            "exponent table symbol range is empty or reversed",
        ));
    }
    Ok((lo, hi))
}

/// Reads one table into `lut`; returns whether the context is empty.
fn read_table(p: &[u8], pos: &mut usize, lut: &mut [u32]) -> Result<bool> {
    let mut freq = [0u32; 256];
    match take(p, pos, 1)?[0] {
        TABLE_EMPTY => return Ok(true),
        TABLE_CONSTANT => freq[take(p, pos, 1)?[0] as usize] = M,
        TABLE_COUNTS => {
            let (lo, hi) = symbol_range(p, pos)?;
            let mut counts = [0u64; 256];
            for c in &mut counts[lo..=hi] {
                *c = read_leb128(p, pos)?;
            }
            if counts.iter().filter(|&&c| c > 0).count() < 2 {
                return Err(Error::corrupt(
                    "exponent table counts have fewer than two symbols",
                ));
            }
            freq = normalize(&counts);
        }
        TABLE_RANS => {
            let (lo, hi) = symbol_range(p, pos)?;
            let (mut sum, mut present) = (0u32, 0usize);
            for f in &mut freq[lo..=hi] {
                let b0 = take(p, pos, 1)?[0] as u32;
                let v = if b0 & 0x80 != 0 {
                    let b1 = take(p, pos, 1)?[0] as u32;
                    if b1 == 0 || b1 >= 0x80 {
                        return Err(Error::corrupt(
                            "exponent table frequency is not a canonical 2-byte LEB128",
                        ));
                    }
                    (b0 & 0x7F) | (b1 << 7)
                } else {
                    b0
                };
                if v >= M {
                    return Err(Error::corrupt(format!(
                        "exponent table frequency {v} is not below {M}"
                    )));
                }
                *f = v;
                sum += v;
                present += (v > 0) as usize;
            }
            if sum != M || present < 2 {
                return Err(Error::corrupt(format!(
                    "exponent table frequencies sum to {sum} over {present} symbols, need {M} over at least 2"
                )));
            }
        }
        t => return Err(Error::corrupt(format!("unknown exponent table kind {t}"))),
    }
    fill_lut(&freq, lut);
    Ok(false)
}

/// One decoding step of state `x` with context `c`'s table.
#[inline(always)]
fn dec(x: &mut u32, luts: &[u32], base: usize, words: &[u8], wp: &mut usize) -> Result<u8> {
    let v = *x;
    let e = luts[base | (v & (M - 1)) as usize];
    let (freq, cum) = ((e & (M - 1)) + 1, (e >> 12) & (M - 1));
    // freq · (v >> 12) + slot − cum < 2^32 (slot ≥ cum, freq ≤ 2^12, v < 2^32).
    let mut v = freq * (v >> SCALE_BITS) + (v & (M - 1)) - cum;
    if v < L {
        let b = words
            .get(*wp..*wp + 2)
            .ok_or_else(|| Error::truncated("exponent word stream ends early"))?;
        v = (v << 16) | u16::from_le_bytes([b[0], b[1]]) as u32;
        *wp += 2;
    }
    *x = v;
    Ok((e >> 24) as u8)
}

/// [`dec`] in context 0 reading its renormalisation word, if any, at `w[*k..]` (`*k` ≤ 6: at
/// most one word per earlier step of the group of four), without a branch.
#[inline(always)]
fn dec_fast(x: &mut u32, lut: &[u32; M as usize], w: &[u8; 2 * LANES], k: &mut usize) -> u8 {
    let v = *x;
    let e = lut[(v & (M - 1)) as usize];
    let (freq, cum) = ((e & (M - 1)) + 1, (e >> 12) & (M - 1));
    let v = freq * (v >> SCALE_BITS) + (v & (M - 1)) - cum;
    let need = v < L;
    let i = *k & (2 * LANES - 2);
    let word = u16::from_le_bytes([w[i], w[i + 1]]) as u32;
    *x = if need { (v << 16) | word } else { v };
    *k += 2 * need as usize;
    (e >> 24) as u8
}

/// What a decoding step reads.
struct Tables<'a> {
    luts: &'a [u32],
    ctx_of: &'a [u32; 256],
    empty: &'a [bool; MAX_CONTEXTS],
    words: &'a [u8],
}

impl Tables<'_> {
    /// Decodes one symbol of a lane (state `x`, context table offset `ctx`), moves `ctx` to
    /// the symbol's context and flags `bad` when the context it was decoded in is empty.
    #[inline(always)]
    fn step(&self, x: &mut u32, ctx: &mut u32, bad: &mut bool, wp: &mut usize) -> Result<u8> {
        *bad |= self.empty[(*ctx >> SCALE_BITS) as usize & (MAX_CONTEXTS - 1)];
        let s = dec(x, self.luts, *ctx as usize, self.words, wp)?;
        *ctx = self.ctx_of[s as usize];
        Ok(s)
    }
}

/// Decodes the stream starting at `p[*pos]` into `out` (its length is the symbol count) and
/// advances `*pos` past it. Allocates one 16 KiB table per context (at most 16, and at most one
/// per 4096 symbols).
pub(crate) fn decode(p: &[u8], pos: &mut usize, out: &mut [u8]) -> Result<()> {
    let k = take(p, pos, 1)?[0] as usize;
    let k_max = max_contexts(out.len());
    if !(1..=k_max).contains(&k) {
        return Err(Error::corrupt(format!(
            "exponent stream declares {k} contexts for {} symbols (1..={k_max})",
            out.len()
        )));
    }
    let owners = take(p, pos, k - 1)?;
    let mut seen = [false; 256];
    for &s in owners {
        if std::mem::replace(&mut seen[s as usize], true) {
            return Err(Error::corrupt(format!(
                "exponent symbol {s} owns two contexts"
            )));
        }
    }
    let map = context_map(owners);
    let mut luts = vec![0u32; k << SCALE_BITS];
    let mut empty = [false; MAX_CONTEXTS];
    for (c, lut) in luts.chunks_exact_mut(M as usize).enumerate() {
        empty[c] = read_table(p, pos, lut)?;
    }
    let w = u32::from_le_bytes(take(p, pos, 4)?.try_into().unwrap_or([0; 4])) as usize;
    let n = out.len();
    if w < 2 * LANES || w > n + 2 * LANES {
        return Err(Error::corrupt(format!(
            "exponent stream declares {w} words for {n} symbols"
        )));
    }
    let words = take(p, pos, 2 * w)?;
    let mut x: [u32; LANES] = read_states(words);
    let mut wp = 4 * LANES;
    let (len, start) = segments(n);
    // Predecessor → the offset of its context's table in `luts`. A symbol decoded in an empty
    // context is flagged after the loop (one OR per symbol, no branch in the loop).
    let ctx_of: [u32; 256] = std::array::from_fn(|s| (map[s] as u32) << SCALE_BITS);
    let mut bad = false;
    let mut ctx = [ctx_of[0]; LANES];
    let base = len[LANES - 1];
    let (s0, rest) = out.split_at_mut(start[1]);
    let (s1, rest) = rest.split_at_mut(start[2] - start[1]);
    let (s2, s3) = rest.split_at_mut(start[3] - start[2]);
    if k == 1 {
        // Order-0 (most weights): one table, no context to follow; the same symbols as the
        // general loop below, without its per-step context and bounds work.
        if empty[0] && n > 0 {
            return Err(Error::corrupt("exponent symbol in an empty context"));
        }
        let lut: &[u32; M as usize] = luts[..M as usize].try_into().unwrap_or(&[0; M as usize]);
        let mut t = 0;
        while t < base {
            let Some(w) = words.get(wp..wp + 2 * LANES) else {
                break;
            };
            let w: &[u8; 2 * LANES] = w.try_into().unwrap_or(&[0; 2 * LANES]);
            let mut kw = 0;
            s0[t] = dec_fast(&mut x[0], lut, w, &mut kw);
            s1[t] = dec_fast(&mut x[1], lut, w, &mut kw);
            s2[t] = dec_fast(&mut x[2], lut, w, &mut kw);
            s3[t] = dec_fast(&mut x[3], lut, w, &mut kw);
            wp += kw;
            t += 1;
        }
        // The last steps, where fewer than four words may remain, go checked.
        for t in t..base {
            s0[t] = dec(&mut x[0], lut, 0, words, &mut wp)?;
            s1[t] = dec(&mut x[1], lut, 0, words, &mut wp)?;
            s2[t] = dec(&mut x[2], lut, 0, words, &mut wp)?;
            s3[t] = dec(&mut x[3], lut, 0, words, &mut wp)?;
        }
        for (j, seg) in [s0, s1, s2].into_iter().enumerate() {
            if len[j] > base {
                seg[base] = dec(&mut x[j], lut, 0, words, &mut wp)?;
            }
        }
        if x != [L; LANES] || wp != words.len() {
            return Err(Error::corrupt(
                "exponent stream does not decode to its initial state (corrupt payload)",
            ));
        }
        return Ok(());
    }
    let tabs = Tables {
        luts: &luts,
        ctx_of: &ctx_of,
        empty: &empty,
        words,
    };
    // Step t writes symbol t of all four segments.
    for (((a, b), c), d) in s0[..base]
        .iter_mut()
        .zip(&mut s1[..base])
        .zip(&mut s2[..base])
        .zip(&mut s3[..base])
    {
        *a = tabs.step(&mut x[0], &mut ctx[0], &mut bad, &mut wp)?;
        *b = tabs.step(&mut x[1], &mut ctx[1], &mut bad, &mut wp)?;
        *c = tabs.step(&mut x[2], &mut ctx[2], &mut bad, &mut wp)?;
        *d = tabs.step(&mut x[3], &mut ctx[3], &mut bad, &mut wp)?;
    }
    for (j, seg) in [s0, s1, s2].into_iter().enumerate() {
        if len[j] > base {
            seg[base] = tabs.step(&mut x[j], &mut ctx[j], &mut bad, &mut wp)?;
        }
    }
    if bad {
        return Err(Error::corrupt("exponent symbol in an empty context"));
    }
    if x != [L; LANES] || wp != words.len() {
        return Err(Error::corrupt(
            "exponent stream does not decode to its initial state (corrupt payload)",
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The flat pair table of long streams gives the per-context counts of a direct count
    /// (each symbol after its predecessor in its quarter, the first of a quarter after 0).
    #[test]
    fn long_streams_count_the_same_pairs() {
        let mut s = 3u64;
        let sym: Vec<u8> = (0..70_001)
            .map(|_| {
                s = s.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
                [0u8, 120, 121, 121, 122, 125, 255][(s >> 40) as usize % 7]
            })
            .collect();
        let owners = [121u8, 120, 0];
        let map = context_map(&owners);
        let mut want = vec![[0u64; 256]; 4];
        let q = sym.len() / 4;
        let bounds = [0, q + 1, 2 * q + 1, 3 * q + 1, sym.len()];
        for w in bounds.windows(2) {
            let mut prev = 0u8;
            for &x in &sym[w[0]..w[1]] {
                let c = owners.iter().position(|&o| o == prev).unwrap_or(3);
                want[c][x as usize] += 1;
                prev = x;
            }
        }
        assert!(pair_counts(&sym, &map, 4) == want);
    }

    /// The histogram from the pair table counts every symbol once, the first of each quarter
    /// included, and the contexts chosen with it are those of a direct count.
    #[test]
    fn pair_table_histogram_is_the_byte_count() {
        let mut s = 5u64;
        for n in [(1 << 16) - 1, 1 << 16, 70_003] {
            let sym: Vec<u8> = (0..n)
                .map(|i| {
                    s = s.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
                    // Runs (pairs repeat) with a rare 255 and the quarter starts' own symbols.
                    if i % 17_501 == 0 {
                        255
                    } else {
                        [7u8, 8, 8, 9][(s >> 40) as usize % 4]
                    }
                })
                .collect();
            let mut want = [0u64; 256];
            for &x in &sym {
                want[x as usize] += 1;
            }
            let (hist, ctx) = histogram_and_contexts(&sym);
            assert!(hist == want, "n {n}");
            assert!(ctx == contexts(&sym, &want), "n {n}");
        }
    }
}
