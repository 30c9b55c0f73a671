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
//!
//! # Code folding (frames with backend 2 only)
//! Before packing, each quantized code `u` of channel `c` is replaced by its *fold* around the
//! channel's zero code `z_c` (the code that reconstructs 0: `−qmin_c` in the uniform modes,
//! `round(−lo_c/step_c)` in adaptive mode, clamped to `[0, R)` with `R = 2^(8·width)`):
//! with `d = u − z_c` and `m = min(z_c, R−1−z_c)`, `s = 2d−1` for `0 < d ≤ m`, `s = −2d` for
//! `−m ≤ d ≤ 0`, and `s = m + |d|` beyond (only one side is left there). This is a bijection on
//! `[0, R)`, so the width is unchanged; it aligns every channel's distribution on one model
//! (zero → symbol 0), which per-channel `qmin_c` offsets would otherwise smear: 3.3 → 2.6 bits
//! of order-0 entropy on gradients at relative L2 1e-1. Lossless frames are not folded.

use crate::error::{Error, Result};
use crate::quant::ChannelParams;

/// log2 of the frequency total.
pub const SCALE_BITS: u32 = 12;
const M: u32 = 1 << SCALE_BITS;
/// Lower bound of a normalised state.
const L: u32 = 1 << 16;
/// Interleaved states.
const LANES: usize = 4;

const PLANE_STORED: u8 = 0;
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

/// `encode(raw, width)` of the folded codes' byte planes (`pack_folded`), producing one plane
/// at a time (n bytes) instead of the whole packed stream (n · width): the same payload. The
/// planes are independent streams, so with `threads > 1` they are built and coded in
/// parallel (each into its own buffer, concatenated in plane order: the same bytes); at most
/// `threads` planes are alive at once.
pub fn encode_folded(params: &ChannelParams, width: u8, codes: &[u32], threads: usize) -> Vec<u8> {
    let channels = params.channels();
    if !matches!(width, 1 | 2 | 4)
        || channels == 0
        || codes.is_empty()
        || codes.len() % channels != 0
    {
        let mut raw = Vec::new();
        pack_folded(params, width, codes, &mut raw);
        return encode(&raw, width);
    }
    let n = codes.len();
    let r_max: u32 = if width >= 4 {
        u32::MAX
    } else {
        (1u32 << (8 * width as u32)) - 1
    };
    let per = n / channels;
    let zs = zero_codes(params, width);
    let code_plane = |p: usize, plane: &mut [u8], out: &mut Vec<u8>| {
        for ((dst, chunk), &z) in plane
            .chunks_exact_mut(per)
            .zip(codes.chunks_exact(per))
            .zip(&zs)
        {
            let m = z.min(r_max - z);
            for (d, &u) in dst.iter_mut().zip(chunk) {
                *d = (fold_branchless(u, z, m) >> (8 * p)) as u8;
            }
        }
        encode_plane(plane, out);
    };
    let mut out = Vec::with_capacity(n * width as usize / 2 + 64);
    out.push(width);
    if threads > 1 && width > 1 {
        // One plane per work item; `par::map` hands each thread a contiguous run of planes.
        let coded = crate::par::map(threads, width as usize, |p| {
            let mut o = Vec::new();
            code_plane(p, &mut vec![0u8; n], &mut o);
            o
        });
        for c in coded {
            out.extend_from_slice(&c);
        }
    } else {
        let mut plane = vec![0u8; n];
        for p in 0..width as usize {
            code_plane(p, &mut plane, &mut out);
        }
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
        return crate::pack::unpack_bits(&raw, width, out);
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

/// Byte histogram with four sub-histograms (breaks store-to-load dependencies on runs).
fn histogram(data: &[u8]) -> [u64; 256] {
    let mut h = [[0u32; 256]; 4];
    let mut total = [0u64; 256];
    // Flush the u32 counters well before they can overflow.
    for block in data.chunks(1 << 30) {
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
        h = [[0u32; 256]; 4];
    }
    total
}

/// Normalises counts (at least two non-zero) to frequencies summing to exactly `M`, every
/// present symbol ≥ 1. Integer arithmetic only: deterministic everywhere.
pub(crate) fn normalize(counts: &[u64; 256]) -> [u32; 256] {
    let total: u64 = counts.iter().sum();
    let mut freq = [0u32; 256];
    let mut sum = 0i64;
    for s in 0..256 {
        if counts[s] > 0 {
            // Rounded share, at least 1.
            let f = ((counts[s] as u128 * M as u128 + total as u128 / 2) / total as u128) as u32;
            freq[s] = f.clamp(1, M - 1);
            sum += freq[s] as i64;
        }
    }
    let mut diff = M as i64 - sum;
    // Give or take the difference where it costs least: the largest frequencies (ties → the
    // lowest symbol), one unit at a time, never below 1.
    while diff != 0 {
        let mut best = usize::MAX;
        for s in 0..256 {
            if counts[s] > 0
                && (diff > 0 || freq[s] > 1)
                && (best == usize::MAX || freq[s] > freq[best])
            {
                best = s;
            }
        }
        // diff < 0 ⇒ sum > M ≥ 256 ⇒ some frequency > 1, so `best` exists.
        let step = if diff > 0 {
            diff
        } else {
            // Take at most half of the largest frequency at a time so the others share the cut.
            -(((freq[best] - 1) as i64)
                .min(-diff)
                .min((freq[best] as i64 / 2).max(1)))
        };
        freq[best] = (freq[best] as i64 + step) as u32;
        diff -= step;
    }
    freq
}

fn encode_plane(data: &[u8], out: &mut Vec<u8>) {
    let n = data.len();
    if n == 0 {
        out.push(PLANE_STORED);
        return;
    }
    let counts = histogram(data);
    let distinct = counts.iter().filter(|&&c| c > 0).count();
    if distinct == 1 {
        out.push(PLANE_CONSTANT);
        out.push(data[0]);
        return;
    }
    let freq = normalize(&counts);
    let mut cum = [0u32; 256];
    let mut acc = 0;
    for s in 0..256 {
        cum[s] = acc;
        acc += freq[s];
    }
    debug_assert_eq!(acc, M);
    let start = out.len();
    out.push(PLANE_RANS);
    out.push(SCALE_BITS as u8);
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
    let words = encode_symbols(data, &freq, &cum);
    out.extend_from_slice(&(words.len() as u32).to_le_bytes());
    out.reserve(words.len() * 2);
    for w in words.iter().rev() {
        out.extend_from_slice(&w.to_le_bytes());
    }
    if out.len() - start > n {
        // Incompressible: store the plane.
        out.truncate(start);
        out.push(PLANE_STORED);
        out.extend_from_slice(data);
    }
}

/// Per-symbol encoder entry (shared with the model's encoder, `rans_model.rs`): the state
/// transition `x → (x / freq)·M + x mod freq + cum` by an exact reciprocal multiplication
/// instead of a 32-bit division (Lemire, Kaser, Kurz 2019: with `rcp = ⌈2^64 / freq⌉`,
/// `⌊x / freq⌋ = ⌊x · rcp / 2^64⌋` for every 32-bit `x`), written as `x + bias + q·(M − freq)`.
/// `freq = 1` (no 64-bit reciprocal) uses `rcp = 2^64 − 1`, which gives `q = x − 1`, and
/// `bias = cum + M − 1` to compensate (ryg_rans' trick).
#[derive(Clone, Copy, Default)]
pub(crate) struct EncSym {
    pub(crate) rcp: u64,
    /// Renormalise (emit 16 bits) when the state is ≥ this: `freq · 2^(32 − SCALE_BITS)`.
    pub(crate) x_max: u32,
    pub(crate) bias: u32,
    pub(crate) cmpl: u32,
}

impl EncSym {
    pub(crate) fn new(freq: u32, cum: u32) -> EncSym {
        debug_assert!((1..=M).contains(&freq));
        let (rcp, bias) = if freq == 1 {
            (u64::MAX, cum + M - 1)
        } else {
            (u64::MAX / freq as u64 + 1, cum)
        };
        // freq = M (a certain symbol) would need x_max = 2^32: never renormalise.
        let x_max = if freq >= M {
            u32::MAX
        } else {
            freq << (32 - SCALE_BITS)
        };
        EncSym {
            rcp,
            x_max,
            bias,
            cmpl: M - freq,
        }
    }
}

/// Writes the word unconditionally at `pos` and advances by 0 or 1 (no branch on the ~random
/// renormalisation decision); `buf` holds WORDS_PER_RUN words, `pos` stays below (the mask
/// only spares the bounds check).
#[inline(always)]
fn enc_put(x: &mut u32, e: EncSym, buf: &mut [u16; WORDS_PER_RUN], pos: &mut usize) {
    let v = *x;
    let emit = v >= e.x_max;
    buf[*pos & (WORDS_PER_RUN - 1)] = v as u16;
    *pos += emit as usize;
    let v = if emit { v >> 16 } else { v };
    let q = ((v as u128 * e.rcp as u128) >> 64) as u32;
    *x = v + e.bias + q * e.cmpl;
}

/// Symbols per run of the word buffer (each symbol emits at most one word).
const WORDS_PER_RUN: usize = 1 << 13;

/// Codes `data` (last symbol first) and returns the words in the order they were produced;
/// the caller writes them reversed, so the final states come first.
fn encode_symbols(data: &[u8], freq: &[u32; 256], cum: &[u32; 256]) -> Vec<u16> {
    let mut tab = [EncSym::default(); 256];
    for s in 0..256 {
        if freq[s] > 0 {
            tab[s] = EncSym::new(freq[s], cum[s]);
        }
    }
    let n = data.len();
    // Each symbol emits at most one word; typical output is well below that.
    let mut words: Vec<u16> = Vec::with_capacity(n / 2 + 16);
    let mut buf = Box::new([0u16; WORDS_PER_RUN]);
    let mut x = [L; LANES];
    let body = n - n % LANES;
    let mut pos = 0;
    for i in (body..n).rev() {
        enc_put(&mut x[i % LANES], tab[data[i] as usize], &mut buf, &mut pos);
    }
    words.extend_from_slice(&buf[..pos]);
    // Runs of WORDS_PER_RUN symbols (a multiple of LANES) from the end, four states in locals.
    let [mut x0, mut x1, mut x2, mut x3] = x;
    let mut end = body;
    while end > 0 {
        let start = end.saturating_sub(WORDS_PER_RUN);
        let mut pos = 0;
        for c in data[start..end].chunks_exact(LANES).rev() {
            enc_put(&mut x3, tab[c[3] as usize], &mut buf, &mut pos);
            enc_put(&mut x2, tab[c[2] as usize], &mut buf, &mut pos);
            enc_put(&mut x1, tab[c[1] as usize], &mut buf, &mut pos);
            enc_put(&mut x0, tab[c[0] as usize], &mut buf, &mut pos);
        }
        words.extend_from_slice(&buf[..pos]);
        end = start;
    }
    let x = [x0, x1, x2, x3];
    for j in (0..LANES).rev() {
        words.push(x[j] as u16);
        words.push((x[j] >> 16) as u16);
    }
    words
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
    let mut x = [0u32; LANES];
    for (j, s) in x.iter_mut().enumerate() {
        let b = &words[4 * j..4 * j + 4];
        *s = (u16::from_le_bytes([b[0], b[1]]) as u32) << 16
            | u16::from_le_bytes([b[2], b[3]]) as u32;
    }
    let mut pos = 4 * LANES;
    let mut chunks = out.chunks_exact_mut(LANES);
    for c in &mut chunks {
        c[0] = put(c[0], dec_get(&mut x[0], lut, words, &mut pos)?);
        c[1] = put(c[1], dec_get(&mut x[1], lut, words, &mut pos)?);
        c[2] = put(c[2], dec_get(&mut x[2], lut, words, &mut pos)?);
        c[3] = put(c[3], dec_get(&mut x[3], lut, words, &mut pos)?);
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

/// Zero code of every channel (see the module doc), clamped to the `width`-byte code range.
/// Each channel's zero code: the code that reconstructs 0 (clamped to the width's range).
pub(crate) fn zero_codes(params: &ChannelParams, width: u8) -> Vec<u32> {
    let r_max = if width >= 4 {
        u32::MAX as i64
    } else {
        (1i64 << (8 * width as u32)) - 1
    };
    match params {
        ChannelParams::Uniform { qmin, .. } => qmin
            .iter()
            .map(|&q| q.saturating_neg().clamp(0, r_max) as u32)
            .collect(),
        ChannelParams::Range { lo, step } => lo
            .iter()
            .zip(step)
            .map(|(&l, &s)| {
                let z = if s > 0.0 {
                    (-(l as f64) / s as f64).round()
                } else {
                    0.0
                };
                if z.is_finite() {
                    (z.clamp(0.0, r_max as f64)) as u32
                } else {
                    0
                }
            })
            .collect(),
    }
}

#[cfg(test)]
fn fold_one(u: u32, z: u32, m: u32) -> u32 {
    if u > z {
        let d = u - z;
        if d <= m {
            2 * d - 1
        } else {
            m + d
        }
    } else {
        let d = z - u;
        if d <= m {
            2 * d
        } else {
            m + d
        }
    }
}

/// [`fold_one`] with selects instead of branches: the sign of a code is close to a coin
/// flip, so the branchy form mispredicts on about half of the values.
#[inline(always)]
fn fold_branchless(u: u32, z: u32, m: u32) -> u32 {
    let up = u > z;
    let d = if up {
        u.wrapping_sub(z)
    } else {
        z.wrapping_sub(u)
    };
    let small = d.wrapping_mul(2).wrapping_sub(up as u32);
    let big = m.wrapping_add(d);
    if d <= m {
        small
    } else {
        big
    }
}

/// [`unfold_one`] without the branch on the parity of `s` (the sign of the value, a coin
/// flip: mispredicted half the time): `s ≤ 2m` → `z + (s/2 + 1)` for odd `s`, `z − s/2` for
/// even `s`; beyond, one-sided.
#[inline(always)]
pub(crate) fn unfold_branchless(s: u32, z: u32, m: u32, up: bool) -> u32 {
    let odd = s & 1;
    let d = (s >> 1) + odd;
    let neg = odd.wrapping_sub(1); // all ones for even s
    let near = z.wrapping_add((d ^ neg).wrapping_sub(neg));
    let far = if up {
        z.wrapping_add(s.wrapping_sub(m))
    } else {
        z.wrapping_sub(s.wrapping_sub(m))
    };
    if s <= 2 * m {
        near
    } else {
        far
    }
}

#[cfg(test)]
fn unfold_one(s: u32, z: u32, m: u32, up: bool) -> u32 {
    if s <= 2 * m {
        if s & 1 == 1 {
            z.wrapping_add(s / 2 + 1)
        } else {
            z.wrapping_sub(s / 2)
        }
    } else if up {
        z.wrapping_add(s - m)
    } else {
        z.wrapping_sub(s - m)
    }
}

/// Applies the fold (`forward`) or its inverse in place, channel by channel, for codes of
/// `width` bytes. Codes outside the width's range are never produced by the fold; on the
/// decoder side, whatever the (possibly corrupt) input, the result stays within `[0, R)`.
pub fn fold_codes(params: &ChannelParams, width: u8, codes: &mut [u32], forward: bool) {
    let channels = params.channels();
    if channels == 0 || codes.is_empty() || codes.len() % channels != 0 {
        return;
    }
    let r_max: u32 = if width >= 4 {
        u32::MAX
    } else {
        (1u32 << (8 * width as u32)) - 1
    };
    let per = codes.len() / channels;
    for (chunk, z) in codes.chunks_exact_mut(per).zip(zero_codes(params, width)) {
        let m = z.min(r_max - z);
        if m == 0 && z == 0 {
            continue; // identity: s = u
        }
        if forward {
            chunk
                .iter_mut()
                .for_each(|u| *u = fold_branchless(*u, z, m));
        } else {
            let up = z < r_max - z;
            chunk
                .iter_mut()
                .for_each(|s| *s = unfold_branchless((*s).min(r_max), z, m, up));
        }
    }
}

/// Appends the folded codes (`fold_codes` forward) as `width` byte planes, exactly as
/// `pack::pack` of a folded copy would, without making that copy (encoder peak memory).
pub fn pack_folded(params: &ChannelParams, width: u8, codes: &[u32], out: &mut Vec<u8>) {
    let channels = params.channels();
    if channels == 0 || codes.is_empty() || codes.len() % channels != 0 {
        crate::pack::pack(codes, width, out);
        return;
    }
    let n = codes.len();
    let w = width as usize;
    let r_max: u32 = if width >= 4 {
        u32::MAX
    } else {
        (1u32 << (8 * width as u32)) - 1
    };
    let per = n / channels;
    let start = out.len();
    out.resize(start + n * w, 0);
    let dst = &mut out[start..];
    for (c, (chunk, z)) in codes
        .chunks_exact(per)
        .zip(zero_codes(params, width))
        .enumerate()
    {
        // z = m = 0 is the identity for fold_branchless too (fold_codes skips it).
        let m = z.min(r_max - z);
        if w == 1 {
            for (d, &u) in dst[c * per..(c + 1) * per].iter_mut().zip(chunk) {
                *d = fold_branchless(u, z, m) as u8;
            }
        } else {
            for (i, &u) in chunk.iter().enumerate() {
                let f = fold_branchless(u, z, m);
                for p in 0..w {
                    dst[p * n + c * per + i] = (f >> (8 * p)) as u8;
                }
            }
        }
    }
}

/// A lower bound, in bytes, of the backend-2 payload of `codes` (before `fold_codes`): the
/// order-0 empirical entropy of each byte plane of the folded codes. A static order-0 coder
/// cannot beat it (Gibbs' inequality; tables, headers and final states only add), so a payload
/// of another backend smaller than this makes building the backend-2 payload pointless. Uses
/// basic IEEE operations only (the encoder's choice must be the same on every platform).
pub fn order0_bound_bytes(params: &ChannelParams, width: u8, codes: &[u32], threads: usize) -> f64 {
    let channels = params.channels();
    if channels == 0 || codes.is_empty() || codes.len() % channels != 0 {
        return 0.0;
    }
    let r_max: u32 = if width >= 4 {
        u32::MAX
    } else {
        (1u32 << (8 * width as u32)) - 1
    };
    let per = codes.len() / channels;
    let planes = width.clamp(1, 4) as usize;
    let zs = zero_codes(params, width);
    // Integer counts: any partition into blocks of channels gives the same histograms.
    let cpb = crate::rans_model::rows_per_block(channels, per);
    let parts = crate::par::map(threads, channels.div_ceil(cpb), |k| {
        let mut h = vec![[0u32; 256]; planes];
        let c1 = ((k + 1) * cpb).min(channels);
        for (chunk, &z) in codes[k * cpb * per..c1 * per]
            .chunks_exact(per)
            .zip(&zs[k * cpb..c1])
        {
            let m = z.min(r_max - z);
            match planes {
                1 => {
                    // Four sub-histograms: runs of one code (zeros mostly) would otherwise
                    // serialise on the same counter's store → load.
                    let mut h4 = [[0u32; 256]; 4];
                    let mut c4 = chunk.chunks_exact(4);
                    for c in &mut c4 {
                        for k in 0..4 {
                            h4[k][(fold_branchless(c[k], z, m) & 0xFF) as usize] += 1;
                        }
                    }
                    for &u in c4.remainder() {
                        h4[0][(fold_branchless(u, z, m) & 0xFF) as usize] += 1;
                    }
                    for (s, a) in h[0].iter_mut().enumerate() {
                        *a += h4[0][s] + h4[1][s] + h4[2][s] + h4[3][s];
                    }
                }
                _ => {
                    for &u in chunk {
                        let f = fold_branchless(u, z, m);
                        for (p, hp) in h.iter_mut().enumerate() {
                            hp[((f >> (8 * p)) & 0xFF) as usize] += 1;
                        }
                    }
                }
            }
        }
        h
    });
    let mut h = vec![[0u64; 256]; planes];
    for part in parts {
        for (hp, pp) in h.iter_mut().zip(part) {
            for (a, b) in hp.iter_mut().zip(pp) {
                *a += b as u64;
            }
        }
    }
    let n = codes.len() as f64;
    let ln_n = crate::detmath::det_ln(n);
    let mut bits = 0.0f64;
    for hp in &h {
        for &c in hp.iter() {
            if c > 0 {
                let c = c as f64;
                bits += c * (ln_n - crate::detmath::det_ln(c));
            }
        }
    }
    bits / std::f64::consts::LN_2 / 8.0
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
        crate::pack::pack(&codes, 2, &mut raw);
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
    fn branchless_fold_equals_fold() {
        let mut s = 11u64;
        let edges = [
            0u32,
            1,
            2,
            127,
            128,
            255,
            256,
            65535,
            65536,
            u32::MAX / 2,
            u32::MAX - 1,
            u32::MAX,
        ];
        for _ in 0..100_000 {
            let r = lcg(&mut s);
            let pick = |k: u32| {
                if k % 3 == 0 {
                    edges[(k / 3) as usize % edges.len()]
                } else {
                    k
                }
            };
            let (u, z) = (pick(r as u32), pick((r >> 32) as u32));
            let r_max = [255u32, 65535, u32::MAX][(r >> 5) as usize % 3];
            let (u, z) = (u.min(r_max), z.min(r_max));
            let m = z.min(r_max - z);
            assert_eq!(
                fold_branchless(u, z, m),
                fold_one(u, z, m),
                "u {u} z {z} m {m}"
            );
        }
    }

    #[test]
    fn pack_folded_equals_fold_then_pack() {
        let mut s = 3u64;
        for (width, channels, per) in [(1u8, 3usize, 7usize), (2, 4, 5), (4, 2, 9), (1, 1, 1)] {
            let r_max = if width >= 4 {
                u32::MAX as u64
            } else {
                (1u64 << (8 * width as u32)) - 1
            };
            let codes: Vec<u32> = (0..channels * per)
                .map(|_| (lcg(&mut s) % (r_max + 1)) as u32)
                .collect();
            let qmin: Vec<i64> = (0..channels)
                .map(|_| -((lcg(&mut s) % (r_max + 1)) as i64))
                .collect();
            let p = ChannelParams::Uniform { step: 1.0, qmin };
            let mut folded = codes.clone();
            fold_codes(&p, width, &mut folded, true);
            let (mut a, mut b) = (vec![9u8], vec![9u8]);
            crate::pack::pack(&folded, width, &mut a);
            pack_folded(&p, width, &codes, &mut b);
            assert_eq!(a, b, "width {width}");
        }
    }

    #[test]
    fn encode_folded_equals_pack_then_encode() {
        let mut s = 17u64;
        for (width, channels, per) in [(1u8, 3usize, 700usize), (2, 4, 500), (4, 2, 900)] {
            let r_max = if width >= 4 {
                u32::MAX as u64
            } else {
                (1u64 << (8 * width as u32)) - 1
            };
            // Mostly small codes around each channel's zero, some spread over the whole range.
            let qmin: Vec<i64> = (0..channels)
                .map(|_| -((lcg(&mut s) % (r_max + 1).min(300)) as i64))
                .collect();
            let codes: Vec<u32> = (0..channels * per)
                .map(|k| {
                    let r = lcg(&mut s);
                    let z = (-qmin[k / per]) as u64;
                    (if r % 7 == 0 {
                        (r >> 8) % (r_max + 1)
                    } else {
                        (z + (r >> 8) % 5).min(r_max)
                    }) as u32
                })
                .collect();
            let p = ChannelParams::Uniform { step: 1.0, qmin };
            let mut raw = Vec::new();
            pack_folded(&p, width, &codes, &mut raw);
            for threads in [1, 2, 3] {
                assert_eq!(
                    encode_folded(&p, width, &codes, threads),
                    encode(&raw, width),
                    "width {width}, {threads} threads"
                );
            }
        }
    }

    #[test]
    fn fold_is_a_bijection() {
        for width in [1u8, 2] {
            let r = 1u32 << (8 * width as u32);
            for z in [0u32, 1, 5, r / 2 - 1, r / 2, r - 2, r - 1] {
                let p = ChannelParams::Uniform {
                    step: 1.0,
                    qmin: vec![-(z as i64)],
                };
                let mut codes: Vec<u32> = (0..r).collect();
                fold_codes(&p, width, &mut codes, true);
                let mut seen = vec![false; r as usize];
                for &s in &codes {
                    assert!(s < r && !seen[s as usize], "width {width} z {z}: {s}");
                    seen[s as usize] = true;
                }
                assert_eq!(codes[z as usize], 0);
                fold_codes(&p, width, &mut codes, false);
                assert!(
                    codes.iter().enumerate().all(|(i, &u)| u == i as u32),
                    "width {width} z {z}"
                );
            }
        }
        // 4-byte codes near both ends.
        let p = ChannelParams::Uniform {
            step: 1.0,
            qmin: vec![-7],
        };
        let mut c = vec![0, 7, 8, 6, 100, u32::MAX, u32::MAX - 5];
        let orig = c.clone();
        fold_codes(&p, 4, &mut c, true);
        assert_eq!(&c[..4], &[14, 0, 1, 2]);
        fold_codes(&p, 4, &mut c, false);
        assert_eq!(c, orig);
    }

    #[test]
    fn real_tensor_codes_round_trip_through_frames() {
        use crate::{decompress, BackendKind, Encoder, EncoderConfig, Mode};
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/gradients");
        let mut files: Vec<_> = std::fs::read_dir(&dir)
            .unwrap()
            .flatten()
            .map(|e| e.path())
            .collect();
        files.retain(|p| p.extension().is_some_and(|x| x == "npy"));
        files.sort();
        assert!(!files.is_empty());
        for path in files.iter().take(6) {
            let (x, shape) = crate::npy::read_npy_f32(path).unwrap();
            for mode in [
                Mode::RelativeL2(1e-1),
                Mode::RelativeL2(1e-3),
                Mode::MaxAbs(1e-4),
                Mode::Adaptive,
                Mode::Lossless,
            ] {
                let enc = Encoder::new(EncoderConfig {
                    mode,
                    backend: BackendKind::Rans,
                    ..Default::default()
                })
                .unwrap();
                let c = enc.compress(&x, &shape, None).unwrap();
                let d = decompress(&c.bytes).unwrap();
                let dfl = Encoder::new(EncoderConfig {
                    mode,
                    backend: BackendKind::Deflate,
                    ..Default::default()
                })
                .unwrap();
                let c2 = dfl.compress(&x, &shape, None).unwrap();
                // Same quantization whatever the backend: identical reconstruction.
                assert_eq!(
                    d.data,
                    decompress(&c2.bytes).unwrap().data,
                    "{} {mode:?}",
                    path.display()
                );
                assert_eq!(c.bytes, enc.compress(&x, &shape, None).unwrap().bytes);
            }
        }
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

    #[test]
    fn branch_free_unfold_equals_the_reference() {
        // Every (s, z) of 1-byte codes, and a spread of 2- and 4-byte ones.
        let mut cases = vec![];
        for z in 0..=255u32 {
            for s in 0..=255u32 {
                cases.push((s, z, 255u32));
            }
        }
        let mut r = 1u64;
        for _ in 0..200_000 {
            r = r
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            let r_max = if r >> 63 == 0 { 65535u32 } else { u32::MAX };
            let z = ((r >> 20) as u32) & r_max;
            let s = match (r >> 8) % 3 {
                0 => ((r >> 32) as u32) & 63,
                1 => ((r >> 32) as u32) & r_max,
                _ => r_max - (((r >> 32) as u32) & 63),
            };
            cases.push((s, z, r_max));
        }
        for (s, z, r_max) in cases {
            let m = z.min(r_max - z);
            let up = z < r_max - z;
            assert_eq!(
                unfold_branchless(s, z, m, up),
                unfold_one(s, z, m, up),
                "s={s} z={z} r_max={r_max}"
            );
        }
    }
}
