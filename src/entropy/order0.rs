//! Static (two-pass) rANS entropy coder over byte planes: backend id 2 (`BACKEND_RANS`).
//!
//! The packed code stream (see `pack`) is split into `planes` equal segments (the code width:
//! plane 0 = all low bytes, plane 1 = all second bytes, ...). Each plane gets its own order-0
//! model: the byte frequencies are counted, normalised deterministically (integer arithmetic
//! only, so every platform writes the same bytes) to a total of `2^SCALE_BITS`, serialised in the
//! payload, and the plane is coded with four interleaved 32-bit rANS states and 16-bit
//! renormalisation (at most one 16-bit word in or out per symbol, so the loops are branch-light).
//! Decoding looks up a `2^SCALE_BITS`-entry slot → (symbol, frequency, cumulative) table.
//!
//! # Payload layout (all little-endian)
//! ```text
//! u8  planes P (1..=8); the raw length must be a multiple of P, each plane holds raw_len/P bytes
//! then for each plane, one of:
//!   u8 0 (stored)    then the plane's bytes verbatim
//!   u8 1 (constant)  u8 symbol                — every byte of the plane equals it
//!   u8 2 (rANS)      u8 scale_bits (= 12)
//!                    u8 lo, u8 hi             — symbols lo..=hi may occur (lo < hi)
//!                    hi−lo+1 × LEB128 frequency (0 = absent), at least two non-zero,
//!                             each < 2^scale_bits, summing to exactly 2^scale_bits
//!                    u32 W                    — number of 16-bit words that follow
//!                    W × u16                  — words 0..8 are the four final encoder states
//!                                               (high half first), then renormalisation words
//! ```
//! Symbol `i` of a plane is coded with state `i mod 4`. The encoder starts every state at
//! `L = 2^16` and codes the symbols last to first; the decoder reads the states, decodes first to
//! last, and checks that all four states are back to `L` and all `W` words were consumed — an
//! integrity check on top of the frame's CRC. Any byte string either decodes to exactly the
//! declared length or yields a `Corrupt`/`Truncated` error; nothing is allocated beyond the
//! declared raw length and a fixed 16 KiB table.

use crate::entropy::rans::{normalize, push_final_states, read_states, EncSym, L, M, SCALE_BITS};
use crate::error::{Error, Result};

/// Interleaved states.
const LANES: usize = 4;

pub(crate) const PLANE_STORED: u8 = 0;
const PLANE_CONSTANT: u8 = 1;
const PLANE_RANS: u8 = 2;

/// Encodes `raw` as `planes` byte planes. `planes` must divide `raw.len()` (1 is always valid);
/// otherwise the stream is coded as one plane.
pub fn encode(raw: &[u8], planes: u8) -> Vec<u8> {
    let planes = if (1..=8).contains(&planes) && raw.len() % planes as usize == 0 {
        planes
    } else {
        1
    };
    let n = raw.len() / planes as usize;
    let mut out = Vec::with_capacity(raw.len() / 2 + 64);
    out.push(planes);
    for p in 0..planes as usize {
        encode_plane(&raw[p * n..(p + 1) * n], &mut out);
    }
    out
}

/// Decodes a payload into exactly `raw_len` bytes.
pub fn decode(payload: &[u8], raw_len: usize) -> Result<Vec<u8>> {
    let mut r = Cursor { b: payload, pos: 0 };
    let planes = r.u8()?;
    if !(1..=8).contains(&planes) || raw_len % planes as usize != 0 {
        return Err(Error::corrupt(format!(
            "rANS payload declares {planes} planes for {raw_len} bytes"
        )));
    }
    let n = raw_len / planes as usize;
    let mut out = vec![0u8; raw_len];
    let mut lut: Box<[u32; M as usize]> = Box::new([0u32; M as usize]);
    for p in 0..planes as usize {
        decode_plane(&mut r, &mut out[p * n..(p + 1) * n], &mut lut, |_, b| b)?;
    }
    if r.pos != payload.len() {
        return Err(Error::corrupt(format!(
            "{} unexpected bytes after the rANS payload",
            payload.len() - r.pos
        )));
    }
    Ok(out)
}

/// Decodes a payload of `out.len()` codes of `width` bytes straight into `out`, each code's
/// bits held as an `f32` (`f32::from_bits(code)`), with no intermediate byte or code buffer
/// when the payload has one plane per code byte (what the encoder writes); any other plane
/// count goes through [`decode`] and `pack::unpack_bits`. Same checks and errors as
/// [`decode`] of `out.len() · width` bytes.
pub fn decode_code_bits(payload: &[u8], width: u8, out: &mut [f32]) -> Result<()> {
    let raw_len = out.len() * width as usize;
    if payload.first() != Some(&width) || !matches!(width, 1 | 2 | 4) {
        let raw = decode(payload, raw_len)?;
        return crate::entropy::pack::unpack_bits(&raw, width, out);
    }
    let mut r = Cursor { b: payload, pos: 1 };
    let mut lut: Box<[u32; M as usize]> = Box::new([0u32; M as usize]);
    for p in 0..width as u32 {
        if p == 0 {
            decode_plane(&mut r, out, &mut lut, |_, b| f32::from_bits(b as u32))?;
        } else {
            decode_plane(&mut r, out, &mut lut, move |o: f32, b| {
                f32::from_bits(o.to_bits() | (b as u32) << (8 * p))
            })?;
        }
    }
    if r.pos != payload.len() {
        return Err(Error::corrupt(format!(
            "{} unexpected bytes after the rANS payload",
            payload.len() - r.pos
        )));
    }
    Ok(())
}

/// Decodes one plane (layout above) that starts at `payload[*pos]` into `out` and advances
/// `*pos` past it (the float-layout coder's streams are such planes, `entropy/floatbits`).
pub(crate) fn decode_plane_at(
    payload: &[u8],
    pos: &mut usize,
    out: &mut [u8],
    lut: &mut [u32; M as usize],
) -> Result<()> {
    let mut r = Cursor {
        b: payload,
        pos: *pos,
    };
    decode_plane(&mut r, out, lut, |_, b| b)?;
    *pos = r.pos;
    Ok(())
}

/// Byte histogram with four sub-histograms (breaks store-to-load dependencies on runs).
pub(crate) fn histogram(data: &[u8]) -> [u64; 256] {
    let mut total = [0u64; 256];
    // Flush the u32 counters well before they can overflow.
    for block in data.chunks(1 << 30) {
        let mut h = [[0u32; 256]; 4];
        let mut chunks = block.chunks_exact(4);
        for c in &mut chunks {
            h[0][c[0] as usize] += 1;
            h[1][c[1] as usize] += 1;
            h[2][c[2] as usize] += 1;
            h[3][c[3] as usize] += 1;
        }
        for &b in chunks.remainder() {
            h[0][b as usize] += 1;
        }
        for s in 0..256 {
            total[s] += (h[0][s] + h[1][s] + h[2][s] + h[3][s]) as u64;
        }
    }
    total
}

pub(crate) fn encode_plane(data: &[u8], out: &mut Vec<u8>) {
    encode_plane_from(&histogram(data), &mut { data }, out);
}

/// A plane's bytes, served a run at a time to the encoder (which codes the last run first):
/// a slice, or [`Produced`] (written on demand, so the plane is never held whole).
pub(crate) trait PlaneSource {
    /// Number of bytes of the plane.
    fn len(&self) -> usize;
    /// Bytes `start..end` of the plane (at most [`WORDS_PER_RUN`] of them).
    fn run(&mut self, start: usize, end: usize) -> &[u8];
}

impl PlaneSource for &[u8] {
    fn len(&self) -> usize {
        <[u8]>::len(self)
    }
    #[inline(always)]
    fn run(&mut self, start: usize, end: usize) -> &[u8] {
        &self[start..end]
    }
}

/// A plane of `n` bytes that `fill(start, dst)` writes on demand (`dst` = bytes
/// `start..start + dst.len()`), one run at a time into a buffer of one run.
pub(crate) struct Produced<F> {
    n: usize,
    fill: F,
    buf: Vec<u8>,
}

impl<F: FnMut(usize, &mut [u8])> Produced<F> {
    pub(crate) fn new(n: usize, fill: F) -> Self {
        Produced {
            n,
            fill,
            buf: Vec::new(),
        }
    }
}

impl<F: FnMut(usize, &mut [u8])> PlaneSource for Produced<F> {
    fn len(&self) -> usize {
        self.n
    }
    fn run(&mut self, start: usize, end: usize) -> &[u8] {
        self.buf.resize(end - start, 0);
        (self.fill)(start, &mut self.buf);
        &self.buf
    }
}

/// How a plane is coded, from its byte histogram alone: the one decision that
/// [`encode_plane_from`] and [`plane_size_from`] share (rANS planes may still be stored, once
/// their words are counted).
enum PlaneCoding {
    Empty,
    Constant(u8),
    Rans,
}

fn plane_coding(counts: &[u64; 256], n: usize) -> PlaneCoding {
    if n == 0 {
        return PlaneCoding::Empty;
    }
    let distinct = counts.iter().filter(|&&c| c > 0).count();
    if distinct == 1 {
        return PlaneCoding::Constant(counts.iter().position(|&c| c > 0).unwrap_or(0) as u8);
    }
    PlaneCoding::Rans
}

/// A rANS plane's normalised frequencies and their cumulative sums.
fn rans_tables(counts: &[u64; 256]) -> ([u32; 256], [u32; 256]) {
    let freq = normalize(counts);
    let mut cum = [0u32; 256];
    let mut acc = 0;
    for s in 0..256 {
        cum[s] = acc;
        acc += freq[s];
    }
    debug_assert_eq!(acc, M);
    (freq, cum)
}

/// [`encode_plane`] of the plane `src` whose byte histogram is `counts`: the same bytes.
pub(crate) fn encode_plane_from(
    counts: &[u64; 256],
    src: &mut impl PlaneSource,
    out: &mut Vec<u8>,
) {
    let n = src.len();
    let (freq, cum) = match plane_coding(counts, n) {
        PlaneCoding::Empty => {
            out.push(PLANE_STORED);
            return;
        }
        PlaneCoding::Constant(s) => {
            out.reserve_exact(2);
            out.push(PLANE_CONSTANT);
            out.push(s);
            return;
        }
        PlaneCoding::Rans => rans_tables(counts),
    };
    let start = out.len();
    // The kind, the scale and the largest table, without growing the payload by doubling.
    out.reserve_exact(4 + 2 * 256);
    out.push(PLANE_RANS);
    out.push(SCALE_BITS as u8);
    write_freq_table(&freq, out);
    // The words go straight into `out` in the order they are produced and are then reversed
    // in place (the final states first): no word buffer beside the payload.
    let count_at = out.len();
    out.extend_from_slice(&[0; 4]);
    out.reserve_exact(2 * words_hint(counts, &freq, n));
    let words_at = out.len();
    encode_symbols(src, &freq, &cum, out);
    let words = &mut out[words_at..];
    reverse_words(words);
    let count = (words.len() / 2) as u32;
    out[count_at..count_at + 4].copy_from_slice(&count.to_le_bytes());
    if out.len() - start > n {
        // Incompressible: store the plane.
        out.truncate(start);
        out.reserve_exact(1 + n);
        out.push(PLANE_STORED);
        let mut s = 0;
        while s < n {
            let e = (s + WORDS_PER_RUN).min(n);
            out.extend_from_slice(src.run(s, e));
            s = e;
        }
    }
}

/// The length of [`encode_plane_from`]'s output for the same plane, without holding it: the
/// same state machine runs, its words counted instead of appended (the plane's fold and rANS
/// steps, no payload memory), so the size is the same by construction.
pub(crate) fn plane_size_from(counts: &[u64; 256], src: &mut impl PlaneSource) -> usize {
    let n = src.len();
    match plane_coding(counts, n) {
        PlaneCoding::Empty => 1,
        PlaneCoding::Constant(_) => 2,
        PlaneCoding::Rans => {
            let (freq, cum) = rans_tables(counts);
            let mut words = WordCount(0);
            encode_symbols(src, &freq, &cum, &mut words);
            // Kind, scale, table, word count, words; stored when that exceeds the plane.
            let rans = 2 + freq_table_len(&freq) + 4 + 2 * words.0;
            if rans > n {
                1 + n
            } else {
                rans
            }
        }
    }
}

/// The relative margin [`plane_size_floor`] leaves under a plane's cross-entropy: rANS codes
/// each symbol in log2(M / freq) bits up to the rounding of one integer division, which
/// averages out to far less than this over a plane (`tests`: never below the floor).
const RANS_SLACK: f64 = 1e-3;

/// A floor under the size of [`encode_plane_from`]'s output for a plane whose byte histogram
/// is `counts`, without coding it: a stored plane's size, or a rANS plane's exactly known
/// headers and table plus its final states and words, the words from the cross-entropy of
/// the normalised frequencies less [`RANS_SLACK`] and the 64 bits the final states hold.
/// Deterministic (integer frequencies, `det_ln`), so a choice made on it is the same on
/// every platform.
pub(crate) fn plane_size_floor(counts: &[u64; 256]) -> f64 {
    let n: u64 = counts.iter().sum();
    let distinct = counts.iter().filter(|&&c| c > 0).count();
    if n == 0 {
        return 1.0;
    }
    if distinct == 1 {
        return 2.0;
    }
    let freq = normalize(counts);
    let table = freq_table_len(&freq);
    let ln_m = crate::util::detmath::det_ln(M as f64);
    let bits = counts
        .iter()
        .zip(&freq)
        .filter(|(&c, _)| c > 0)
        .map(|(&c, &f)| c as f64 * (ln_m - crate::util::detmath::det_ln(f as f64)))
        .sum::<f64>()
        / std::f64::consts::LN_2;
    let words = 8.0 + (((1.0 - RANS_SLACK) * bits - 64.0) / 16.0).max(0.0);
    (1.0 + n as f64).min((2 + table + 4) as f64 + 2.0 * words)
}

/// Reverses the order of the 2-byte words of `w` (their bytes stay in order; an odd last
/// byte stays in place).
fn reverse_words(w: &mut [u8]) {
    let k = w.len() / 2;
    // SAFETY: `[u8; 2]` has the size of two bytes and alignment 1, and the view covers the
    // first `2k` bytes of `w`, borrowed mutably for its lifetime only.
    let words = unsafe { std::slice::from_raw_parts_mut(w.as_mut_ptr().cast::<[u8; 2]>(), k) };
    // `slice::reverse` vectorises; swapping byte by byte was 5.4 M instructions of the
    // synthetic Gaussian's compression, on the calling thread while the other plane's
    // coder had finished (12 instructions a word).
    words.reverse();
}

/// Capacity for the words of a plane: its ideal coded size (Σ count · log2(M / freq) bits)
/// and a margin, at most one word per symbol. Only an allocation size: the bytes do not
/// depend on it (reserving one word per symbol cost n bytes of peak memory per plane).
fn words_hint(counts: &[u64; 256], freq: &[u32; 256], n: usize) -> usize {
    let bits: f64 = counts
        .iter()
        .zip(freq)
        .filter(|(&c, &f)| c > 0 && f > 0)
        .map(|(&c, &f)| c as f64 * (SCALE_BITS as f64 - (f as f64).log2()))
        .sum();
    ((bits / 16.0 * 1.01) as usize + 64).min(n / 2 + 16)
}

/// Writes the word unconditionally at `pos` and advances by 0 or 1 (no branch on the ~random
/// renormalisation decision); `buf` holds `N` words (a power of two), `pos` stays below (the
/// mask only spares the bounds check).
#[inline(always)]
fn enc_put<const N: usize>(x: &mut u32, e: EncSym, buf: &mut [u16; N], pos: &mut usize) {
    let (word, emit) = e.step(x);
    buf[*pos & (N - 1)] = word;
    *pos += emit as usize;
}

/// Symbols per run of the word buffer (each symbol emits at most one word).
const WORDS_PER_RUN: usize = 1 << 13;
/// Planes of at most this many symbols use a word buffer of this size on the stack: zeroing
/// the 16 KiB one per plane was ≈ 40 % of compressing a 128-value tensor (three planes).
const SMALL_RUN: usize = 1 << 9;

/// Where a plane's words go as the encoder makes them, a run at a time: appended to the
/// payload (`Vec<u8>`, little-endian) or only counted ([`WordCount`]). Monomorphised, so the
/// payload's coder is the one it was.
trait WordSink {
    fn put(&mut self, words: &[u16]);
}

impl WordSink for Vec<u8> {
    #[inline]
    fn put(&mut self, words: &[u16]) {
        push_words(words, self);
    }
}

/// The number of words a plane's coder made ([`plane_size_from`]).
struct WordCount(usize);

impl WordSink for WordCount {
    #[inline]
    fn put(&mut self, words: &[u16]) {
        self.0 += words.len();
    }
}

/// Codes `data` (last symbol first) and gives `out` the words in the order they were produced;
/// the payload holds them reversed, so the final states come first.
fn encode_symbols(
    src: &mut impl PlaneSource,
    freq: &[u32; 256],
    cum: &[u32; 256],
    out: &mut impl WordSink,
) {
    let mut tab = [EncSym::default(); 256];
    for s in 0..256 {
        if freq[s] > 0 {
            tab[s] = EncSym::new(freq[s], cum[s]);
        }
    }
    // The run length only decides when the buffer is flushed: the words are the same.
    if src.len() <= SMALL_RUN {
        encode_runs(src, &tab, &mut [0u16; SMALL_RUN], out)
    } else {
        encode_runs(src, &tab, &mut Box::new([0u16; WORDS_PER_RUN]), out)
    }
}

/// [`encode_symbols`] with a word buffer of `N` words (a power of two, a multiple of LANES,
/// at most [`WORDS_PER_RUN`]): runs of `N` symbols from the end. Gives `out` the words in the
/// order they are produced; the stream is their reverse.
fn encode_runs<const N: usize>(
    src: &mut impl PlaneSource,
    tab: &[EncSym; 256],
    buf: &mut [u16; N],
    out: &mut impl WordSink,
) {
    let n = src.len();
    let mut x = [L; LANES];
    let body = n - n % LANES;
    let mut pos = 0;
    let tail = src.run(body, n);
    for (i, &b) in tail.iter().enumerate().rev() {
        enc_put(&mut x[(body + i) % LANES], tab[b as usize], buf, &mut pos);
    }
    out.put(&buf[..pos]);
    // Runs of N symbols (a multiple of LANES) from the end, four states in locals.
    let [mut x0, mut x1, mut x2, mut x3] = x;
    let mut end = body;
    while end > 0 {
        let start = end.saturating_sub(N);
        let mut pos = 0;
        for c in src.run(start, end).chunks_exact(LANES).rev() {
            enc_put(&mut x3, tab[c[3] as usize], buf, &mut pos);
            enc_put(&mut x2, tab[c[2] as usize], buf, &mut pos);
            enc_put(&mut x1, tab[c[1] as usize], buf, &mut pos);
            enc_put(&mut x0, tab[c[0] as usize], buf, &mut pos);
        }
        out.put(&buf[..pos]);
        end = start;
    }
    let mut last = Vec::with_capacity(2 * LANES);
    push_final_states(&[x0, x1, x2, x3], &mut last);
    out.put(&last);
}

/// Appends `words` to `out`, little-endian: one `memcpy` of their memory on a little-endian
/// target (zeroing the tail and storing each word into it was 0.9 M instructions of the
/// synthetic Gaussian's larger plane, coded on one thread).
#[inline]
fn push_words(words: &[u16], out: &mut Vec<u8>) {
    #[cfg(target_endian = "little")]
    {
        // SAFETY: the `2 · len` bytes of `words`' memory are initialised, `u8` needs no
        // alignment, and the view ends with this statement.
        let bytes =
            unsafe { std::slice::from_raw_parts(words.as_ptr().cast::<u8>(), 2 * words.len()) };
        out.extend_from_slice(bytes);
    }
    #[cfg(not(target_endian = "little"))]
    out.extend(words.iter().flat_map(|w| w.to_le_bytes()));
}

/// The length of [`write_freq_table`]'s output for `freq`.
fn freq_table_len(freq: &[u32; 256]) -> usize {
    let lo = freq.iter().position(|&f| f > 0).unwrap_or(0);
    let hi = 255 - freq.iter().rev().position(|&f| f > 0).unwrap_or(0);
    2 + freq[lo..=hi]
        .iter()
        .map(|&f| if f < 0x80 { 1 } else { 2 })
        .sum::<usize>()
}

/// Appends a frequency table (at least two symbols, summing to `M`): `u8 lo, u8 hi`, then
/// `hi − lo + 1` LEB128 frequencies (each < 2^12: one or two bytes).
pub(crate) fn write_freq_table(freq: &[u32; 256], out: &mut Vec<u8>) {
    let lo = freq.iter().position(|&f| f > 0).unwrap_or(0);
    let hi = 255 - freq.iter().rev().position(|&f| f > 0).unwrap_or(0);
    out.push(lo as u8);
    out.push(hi as u8);
    for &f in &freq[lo..=hi] {
        if f < 0x80 {
            out.push(f as u8);
        } else {
            out.push((f & 0x7F) as u8 | 0x80);
            out.push((f >> 7) as u8);
        }
    }
}

/// Reads a table of [`write_freq_table`] at `p[*pos..]` and advances `*pos`: the frequencies
/// must be canonical LEB128 below `M`, at least two non-zero, summing to `M`.
pub(crate) fn read_freq_table_at(p: &[u8], pos: &mut usize) -> Result<[u32; 256]> {
    let mut r = Cursor { b: p, pos: *pos };
    let freq = read_freq_table(&mut r)?;
    *pos = r.pos;
    Ok(freq)
}

fn read_freq_table(r: &mut Cursor) -> Result<[u32; 256]> {
    let lo = r.u8()? as usize;
    let hi = r.u8()? as usize;
    if hi <= lo {
        return Err(Error::corrupt(
            "rANS table symbol range is empty or reversed",
        ));
    }
    let mut freq = [0u32; 256];
    let (mut sum, mut present) = (0u32, 0usize);
    for f in &mut freq[lo..=hi] {
        let b0 = r.u8()? as u32;
        let v = if b0 & 0x80 != 0 {
            let b1 = r.u8()? as u32;
            if b1 == 0 || b1 >= 0x80 {
                return Err(Error::corrupt(
                    "rANS table frequency is not a canonical 2-byte LEB128",
                ));
            }
            (b0 & 0x7F) | (b1 << 7)
        } else {
            b0
        };
        if v >= M {
            return Err(Error::corrupt(format!(
                "rANS table frequency {v} is not below {M}"
            )));
        }
        *f = v;
        sum += v;
        present += (v > 0) as usize;
    }
    if sum != M || present < 2 {
        return Err(Error::corrupt(format!(
            "rANS table frequencies sum to {sum} over {present} symbols, need {M} over at least 2"
        )));
    }
    Ok(freq)
}

struct Cursor<'a> {
    b: &'a [u8],
    pos: usize,
}

impl Cursor<'_> {
    fn u8(&mut self) -> Result<u8> {
        let v = *self
            .b
            .get(self.pos)
            .ok_or_else(|| Error::truncated("rANS payload ends early"))?;
        self.pos += 1;
        Ok(v)
    }
    fn take(&mut self, k: usize) -> Result<&[u8]> {
        if self.b.len() - self.pos < k {
            return Err(Error::truncated(format!(
                "rANS payload ends early ({k} more bytes needed)"
            )));
        }
        let s = &self.b[self.pos..self.pos + k];
        self.pos += k;
        Ok(s)
    }
}

/// Decodes one plane into `out`, combining each decoded byte `b` with its slot as
/// `put(old, b)` (a byte array: `b`; a code array: `b` in the plane's byte of the code).
fn decode_plane<O: Copy>(
    r: &mut Cursor,
    out: &mut [O],
    lut: &mut [u32; M as usize],
    put: impl Fn(O, u8) -> O + Copy,
) -> Result<()> {
    match r.u8()? {
        PLANE_STORED => {
            let bytes = r.take(out.len())?;
            out.iter_mut()
                .zip(bytes)
                .for_each(|(o, &b)| *o = put(*o, b));
            Ok(())
        }
        PLANE_CONSTANT => {
            let s = r.u8()?;
            out.iter_mut().for_each(|o| *o = put(*o, s));
            Ok(())
        }
        PLANE_RANS => {
            let scale = r.u8()?;
            if scale as u32 != SCALE_BITS {
                return Err(Error::corrupt(format!(
                    "rANS scale of {scale} bits is not supported"
                )));
            }
            let freq = read_freq_table(r)?;
            if out.is_empty() {
                return Err(Error::corrupt("rANS plane holds no symbols"));
            }
            // slot → (symbol << 24) | (cum << 12) | freq; every slot maps to a present symbol.
            let mut c = 0usize;
            for (s, &f) in freq.iter().enumerate() {
                let e = ((s as u32) << 24) | ((c as u32) << 12) | f;
                lut[c..c + f as usize].fill(e);
                c += f as usize;
            }
            let w = u32::from_le_bytes(r.take(4)?.try_into().unwrap_or([0; 4])) as usize;
            if w < 2 * LANES || w > out.len() + 2 * LANES {
                return Err(Error::corrupt(format!(
                    "rANS plane declares {w} words for {} symbols",
                    out.len()
                )));
            }
            let words = r.take(2 * w)?;
            decode_symbols(words, out, lut, put)
        }
        k => Err(Error::corrupt(format!("unknown rANS plane kind {k}"))),
    }
}

#[inline(always)]
fn dec_get(x: &mut u32, lut: &[u32; M as usize], words: &[u8], pos: &mut usize) -> Result<u8> {
    let v = *x;
    let e = lut[(v & (M - 1)) as usize];
    let (freq, cum) = (e & (M - 1), (e >> 12) & (M - 1));
    // freq · (v >> 12) ≤ 2^32 − 2^12 and (slot − cum) < freq ≤ 2^12: no overflow.
    let mut v = freq * (v >> SCALE_BITS) + (v & (M - 1)) - cum;
    if v < L {
        let w = words
            .get(*pos..*pos + 2)
            .ok_or_else(|| Error::truncated("rANS word stream ends early"))?;
        v = (v << 16) | u16::from_le_bytes([w[0], w[1]]) as u32;
        *pos += 2;
    }
    *x = v;
    Ok((e >> 24) as u8)
}

fn decode_symbols<O: Copy>(
    words: &[u8],
    out: &mut [O],
    lut: &[u32; M as usize],
    put: impl Fn(O, u8) -> O,
) -> Result<()> {
    let mut x = read_states::<LANES>(words);
    let mut pos = 4 * LANES;
    let mut chunks = out.chunks_exact_mut(LANES);
    // While four more words are surely there (each step reads at most one), the steps read
    // without a bounds check per step and refill without a branch; the tail goes checked.
    for c in chunks.by_ref() {
        let Some(w) = words.get(pos..pos + 2 * LANES) else {
            c[0] = put(c[0], dec_get(&mut x[0], lut, words, &mut pos)?);
            c[1] = put(c[1], dec_get(&mut x[1], lut, words, &mut pos)?);
            c[2] = put(c[2], dec_get(&mut x[2], lut, words, &mut pos)?);
            c[3] = put(c[3], dec_get(&mut x[3], lut, words, &mut pos)?);
            continue;
        };
        let mut k = 0;
        let w: &[u8; 2 * LANES] = w.try_into().unwrap_or(&[0; 2 * LANES]);
        for (o, xj) in c.iter_mut().zip(x.iter_mut()) {
            *o = put(*o, dec_fast(xj, lut, w, &mut k));
        }
        pos += k;
    }
    for (j, o) in chunks.into_remainder().iter_mut().enumerate() {
        *o = put(*o, dec_get(&mut x[j], lut, words, &mut pos)?);
    }
    if x != [L; LANES] || pos != words.len() {
        return Err(Error::corrupt(
            "rANS plane does not decode to its initial state (corrupt payload)",
        ));
    }
    Ok(())
}

/// [`dec_get`] reading its renormalisation word, if any, at `w[*k..]` (`*k` ≤ 6: at most one
/// word per earlier step of the group), without a branch.
#[inline(always)]
fn dec_fast(x: &mut u32, lut: &[u32; M as usize], w: &[u8; 2 * LANES], k: &mut usize) -> u8 {
    let v = *x;
    let e = lut[(v & (M - 1)) as usize];
    let (freq, cum) = (e & (M - 1), (e >> 12) & (M - 1));
    let v = freq * (v >> SCALE_BITS) + (v & (M - 1)) - cum;
    let need = v < L;
    let i = *k & (2 * LANES - 2);
    let word = u16::from_le_bytes([w[i], w[i + 1]]) as u32;
    *x = if need { (v << 16) | word } else { v };
    *k += 2 * need as usize;
    (e >> 24) as u8
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lcg(seed: &mut u64) -> u64 {
        *seed = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        *seed >> 33
    }

    fn round_trip(raw: &[u8], planes: u8) -> Vec<u8> {
        let enc = encode(raw, planes);
        assert_eq!(
            decode(&enc, raw.len()).unwrap(),
            raw,
            "planes {planes}, len {}",
            raw.len()
        );
        enc
    }

    #[test]
    fn edge_cases_round_trip() {
        round_trip(&[], 1);
        round_trip(&[], 4);
        for n in 1..20 {
            round_trip(&vec![7u8; n], 1);
            let v: Vec<u8> = (0..n as u32).map(|i| (i % 3) as u8).collect();
            round_trip(&v, 1);
        }
        let one = round_trip(&vec![42u8; 100_000], 1);
        assert!(one.len() <= 4, "constant plane costs {} bytes", one.len());
        let all: Vec<u8> = (0..=255u8).cycle().take(256 * 40).collect();
        round_trip(&all, 1);
        // 65536 distinct 16-bit codes as two planes.
        let codes: Vec<u32> = (0..65536u32).collect();
        let mut raw = Vec::new();
        crate::entropy::pack::pack(&codes, 2, &mut raw);
        round_trip(&raw, 2);
        // Two symbols, one very rare (frequency clamped to 1).
        let mut skew = vec![0u8; 1_000_000];
        skew[123_456] = 1;
        let e = round_trip(&skew, 1);
        assert!(e.len() < 400, "skewed plane costs {} bytes", e.len());
    }

    #[test]
    fn random_codes_round_trip_and_compress() {
        let mut seed = 1;
        for &n in &[1usize, 3, 4, 5, 7, 1000, 4097, 100_003] {
            // Roughly Gaussian codes around 128.
            let v: Vec<u8> = (0..n)
                .map(|_| {
                    let s: i64 = (0..4).map(|_| (lcg(&mut seed) % 16) as i64).sum();
                    (98 + 2 * s) as u8
                })
                .collect();
            let enc = round_trip(&v, 1);
            if n > 10_000 {
                assert!(enc.len() < n * 6 / 8, "{} bytes for {n}", enc.len());
            }
            let u: Vec<u8> = (0..n).map(|_| lcg(&mut seed) as u8).collect();
            let enc = round_trip(&u, 1);
            assert!(enc.len() <= n + 2);
        }
    }

    #[test]
    fn normalization_sums_and_is_deterministic() {
        let mut seed = 9;
        for _ in 0..200 {
            let mut c = [0u64; 256];
            let k = 2 + (lcg(&mut seed) % 255) as usize;
            for _ in 0..k {
                c[(lcg(&mut seed) % 256) as usize] +=
                    1 + lcg(&mut seed) % 1_000_000 * (lcg(&mut seed) % 2);
            }
            if c.iter().filter(|&&v| v > 0).count() < 2 {
                continue;
            }
            let f = normalize(&c);
            assert_eq!(f.iter().sum::<u32>(), M);
            for s in 0..256 {
                assert_eq!(c[s] > 0, f[s] > 0);
                assert!(f[s] < M);
            }
            assert_eq!(f, normalize(&c));
        }
    }

    #[test]
    fn word_buffer_size_does_not_change_the_words() {
        // The run length only decides when words are flushed: runs of 4, 512 and 8192
        // symbols give the same stream, and planes either side of SMALL_RUN decode.
        let mut seed = 3;
        for &n in &[1usize, 5, SMALL_RUN - 1, SMALL_RUN, SMALL_RUN + 1, 3000] {
            let v: Vec<u8> = (0..n).map(|_| (lcg(&mut seed) % 23) as u8).collect();
            let freq = normalize(&histogram(&v));
            let mut cum = [0u32; 256];
            for s in 1..256 {
                cum[s] = cum[s - 1] + freq[s - 1];
            }
            let mut tab = [EncSym::default(); 256];
            for s in 0..256 {
                if freq[s] > 0 {
                    tab[s] = EncSym::new(freq[s], cum[s]);
                }
            }
            let runs = |buf: &mut [u16]| {
                let mut o = Vec::new();
                match buf.len() {
                    4 => encode_runs(&mut v.as_slice(), &tab, &mut [0u16; 4], &mut o),
                    SMALL_RUN => encode_runs(&mut v.as_slice(), &tab, &mut [0; SMALL_RUN], &mut o),
                    _ => encode_runs(
                        &mut v.as_slice(),
                        &tab,
                        &mut Box::new([0u16; WORDS_PER_RUN]),
                        &mut o,
                    ),
                }
                o
            };
            let tiny = runs(&mut [0; 4]);
            assert_eq!(runs(&mut [0; SMALL_RUN]), tiny, "n {n}");
            assert_eq!(runs(&mut [0; WORDS_PER_RUN]), tiny, "n {n}");
            let mut o = Vec::new();
            encode_symbols(&mut v.as_slice(), &freq, &cum, &mut o);
            assert_eq!(o, tiny);
            round_trip(&v, 1);
        }
    }

    #[test]
    fn words_reverse_in_place() {
        for k in (0..9u16).chain([31, 32, 33, 1000]) {
            let words: Vec<u16> = (0..k)
                .map(|i| 0x0102u16.wrapping_mul(i + 1) ^ 0x3000)
                .collect();
            let mut bytes: Vec<u8> = words.iter().flat_map(|w| w.to_le_bytes()).collect();
            reverse_words(&mut bytes);
            let want: Vec<u8> = words.iter().rev().flat_map(|w| w.to_le_bytes()).collect();
            assert_eq!(bytes, want, "{k} words");
            // An odd trailing byte is not part of any word.
            let mut odd: Vec<u8> = words.iter().flat_map(|w| w.to_le_bytes()).collect();
            odd.push(0xEE);
            reverse_words(&mut odd);
            assert_eq!(
                (&odd[..odd.len() - 1], odd[odd.len() - 1]),
                (&want[..], 0xEE)
            );
        }
    }

    #[test]
    fn a_produced_plane_codes_as_the_slice() {
        // Planes written run by run on demand (`Produced`) give the bytes of the slice, for
        // rANS, constant, stored and empty planes, either side of the run lengths.
        let mut seed = 9;
        for &n in &[
            0usize,
            1,
            7,
            SMALL_RUN,
            SMALL_RUN + 3,
            WORDS_PER_RUN + 5,
            20_000,
        ] {
            let skewed: Vec<u8> = (0..n)
                .map(|_| ((lcg(&mut seed) % 5) * (lcg(&mut seed) % 3)) as u8)
                .collect();
            let flat: Vec<u8> = (0..n).map(|_| lcg(&mut seed) as u8).collect();
            for v in [skewed, vec![42u8; n], flat] {
                let mut want = vec![7u8];
                encode_plane(&v, &mut want);
                let mut got = vec![7u8];
                let mut src = Produced::new(n, |s, dst: &mut [u8]| {
                    assert!(dst.len() <= WORDS_PER_RUN);
                    dst.copy_from_slice(&v[s..s + dst.len()]);
                });
                encode_plane_from(&histogram(&v), &mut src, &mut got);
                assert_eq!(got, want, "n {n}");
            }
        }
    }

    #[test]
    fn a_plane_sized_without_its_bytes_is_the_coded_plane() {
        // `plane_size_from` is the length of `encode_plane_from`'s output, from a slice and
        // from a produced plane, for rANS planes (several shapes of histogram, some just
        // above or below the stored size), stored, constant and empty ones, either side of
        // the run lengths.
        let mut r = crate::util::test_rng::bits(0x18_5EED);
        let mut kinds = [0usize; 3];
        for &n in &[
            0usize,
            1,
            3,
            4,
            5,
            SMALL_RUN - 1,
            SMALL_RUN,
            SMALL_RUN + 1,
            WORDS_PER_RUN - 1,
            WORDS_PER_RUN,
            WORDS_PER_RUN + 3,
            3 * WORDS_PER_RUN + 7,
            50_000,
        ] {
            let mut draw = |k: u64| (0..n).map(|_| (r() % k) as u8).collect::<Vec<u8>>();
            let skewed: Vec<u8> = draw(9).iter().map(|&b| b * (b % 3)).collect();
            let mut rare = vec![3u8; n];
            if n > 1 {
                rare[n / 2] = 200;
            }
            // 2, 250 and 256 equiprobable symbols: coded, near the stored size, stored.
            let planes = [skewed, rare, draw(2), draw(250), draw(256), vec![42u8; n]];
            for v in planes {
                let h = histogram(&v);
                let mut want = Vec::new();
                encode_plane_from(&h, &mut v.as_slice(), &mut want);
                if n > 0 {
                    kinds[want[0] as usize] += 1;
                }
                assert_eq!(plane_size_from(&h, &mut v.as_slice()), want.len(), "n {n}");
                let mut src = Produced::new(n, |s, dst: &mut [u8]| {
                    dst.copy_from_slice(&v[s..s + dst.len()]);
                });
                assert_eq!(plane_size_from(&h, &mut src), want.len(), "n {n}");
            }
        }
        // Every kind of plane was sized.
        assert!(kinds.iter().all(|&k| k > 5), "{kinds:?}");
    }

    #[test]
    fn planes_at_the_stored_size_are_sized_as_coded() {
        // Planes half of whose bytes are 0 and the rest uniform code to about their own
        // length: the rANS plane is kept when it is at most the plane's length and stored
        // beyond, and the sizes agree at that edge (some plane codes to exactly `n` bytes).
        let mut r = crate::util::test_rng::bits(0x18_5EED);
        let (mut exact, mut stored) = (0, 0);
        for n in 300..900usize {
            let v: Vec<u8> = (0..n)
                .map(|_| if r() % 100 < 55 { r() as u8 } else { 0 })
                .collect();
            let h = histogram(&v);
            let mut want = Vec::new();
            encode_plane_from(&h, &mut v.as_slice(), &mut want);
            assert_eq!(plane_size_from(&h, &mut v.as_slice()), want.len(), "n {n}");
            exact += (want[0] == PLANE_RANS && want.len() == n) as usize;
            stored += (want[0] == PLANE_STORED) as usize;
        }
        assert!(
            exact > 0 && stored > 0,
            "{exact} planes of n bytes, {stored} stored"
        );
    }

    #[test]
    fn deterministic_bytes() {
        let v: Vec<u8> = (0..50_000u32)
            .map(|i| (i.wrapping_mul(2654435761u32) >> 27) as u8)
            .collect();
        assert_eq!(encode(&v, 2), encode(&v, 2));
    }

    #[test]
    fn truncations_and_corruptions_error_without_panic() {
        let mut seed = 5;
        let v: Vec<u8> = (0..3000)
            .map(|_| ((lcg(&mut seed) % 7) * (lcg(&mut seed) % 5)) as u8)
            .collect();
        let enc = encode(&v, 2);
        for cut in 0..enc.len() {
            assert!(
                decode(&enc[..cut], v.len()).is_err(),
                "truncation at {cut} accepted"
            );
        }
        let mut longer = enc.clone();
        longer.push(0);
        assert!(decode(&longer, v.len()).is_err());
        assert!(decode(&enc, v.len() + 2).is_err());
        let mut detected = 0;
        let trials = 3000;
        for _ in 0..trials {
            let mut bad = enc.clone();
            let k = 1 + lcg(&mut seed) as usize % 3;
            for _ in 0..k {
                let i = lcg(&mut seed) as usize % bad.len();
                bad[i] ^= 1 + (lcg(&mut seed) % 255) as u8;
            }
            match decode(&bad, v.len()) {
                Ok(out) => assert_eq!(out.len(), v.len()),
                Err(_) => detected += 1,
            }
        }
        // The state check catches nearly every corruption (the frame CRC catches the rest).
        assert!(
            detected * 100 >= trials * 95,
            "only {detected}/{trials} corruptions detected"
        );
        // Pure garbage.
        for len in 0..200 {
            let g: Vec<u8> = (0..len).map(|_| lcg(&mut seed) as u8).collect();
            let _ = decode(&g, 64);
            let _ = decode(&g, 0);
        }
    }
}
