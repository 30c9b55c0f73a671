//! A byte plane coded on 16 rANS states, **each with its own word stream** (the streams of
//! lossless method 4, `laned.rs`): symbol `k` of the plane is coded on lane `k mod 16`.
//!
//! Why: with four states sharing one word stream (`order0.rs`), every renormalisation waits for
//! the word position of the lanes before it, so decoding is one serial chain at about 24
//! instructions a symbol. Here a lane depends only on itself: eight consecutive symbols decode
//! as one AVX2 vector (table lookups and word reads by gathers, the
//! renormalisation by a select), two vectors in flight, as the rank-1 model's kind 5 (`entropy/model/lanes.rs`).
//! The scalar decoder gives the same bytes; the encoder does not depend on the CPU.
//!
//! # Layout (little-endian)
//! ```text
//! u8 0 stored     the plane's n bytes
//! u8 1 constant   u8 s: every byte of the plane is s
//! u8 2 rANS       (n ≥ 1) u8 lo, u8 hi, hi−lo+1 × LEB128 frequency (the table of order0.rs:
//!                 each < 2^12, at least two non-zero, summing to 2^12),
//!                 16 × u32 W_l (words of lane l, each ≥ 2, together at most n + 32),
//!                 then the W_l 16-bit words of lane 0, lane 1, …: a lane's first two words
//!                 are its final encoder state (high half first), then its renormalisation
//!                 words in decoding order
//! ```
//! Every lane starts the encoder at `L = 2^16` and codes its symbols last to first; the
//! decoder checks that every lane returns to `L` having read exactly its words.

use crate::entropy::order0::{read_freq_table_at, write_freq_table};
use crate::entropy::rans::{normalize, EncSym, L, M, SCALE_BITS};
use crate::error::{Error, Result};

/// States, each with its own word stream.
pub(crate) const LANES: usize = 16;

pub(crate) const KIND_STORED: u8 = 0;
const KIND_CONSTANT: u8 = 1;
const KIND_RANS: u8 = 2;

/// Appends `data` stored.
pub(crate) fn encode_stored(data: &[u8], out: &mut Vec<u8>) {
    // Exactly: a payload grown by doubling would hold up to twice its size (issue 12).
    out.reserve_exact(1 + data.len());
    out.push(KIND_STORED);
    out.extend_from_slice(data);
}

/// Appends a plane whose every byte is `s`.
pub(crate) fn encode_constant(s: u8, out: &mut Vec<u8>) {
    out.reserve_exact(2);
    out.push(KIND_CONSTANT);
    out.push(s);
}

/// Appends `data` (its byte histogram `hist`) as the smallest of stored, constant and rANS.
/// An owned `data` is dropped once its words
/// are coded, before they are appended (the compress call's peak: issue 12).
pub(crate) fn encode_with_histogram<D: AsRef<[u8]>>(data: D, hist: &[u64; 256], out: &mut Vec<u8>) {
    let d = data.as_ref();
    let distinct = hist.iter().filter(|&&c| c > 0).count();
    if distinct == 0 {
        return encode_stored(d, out);
    }
    if distinct == 1 {
        return encode_constant(d[0], out);
    }
    let start = out.len();
    let freq = normalize(hist);
    // The kind and the largest table (lo, hi, 256 two-byte frequencies): pushed without
    // growing the payload by doubling.
    out.reserve_exact(3 + 2 * 256);
    out.push(KIND_RANS);
    write_freq_table(&freq, out);
    // The words the plane should take (Σ count · log2(M / f) bits): the lanes' reserve, so
    // they hold about the coded size, not a doubling's up to twice that.
    let bits: f64 = (0..256)
        .filter(|&s| hist[s] > 0)
        .map(|s| hist[s] as f64 * (SCALE_BITS as f64 - (freq[s] as f64).log2()))
        .sum();
    let (words, x) = code_lanes(d, &freq, Kernel::best(), (bits / 16.0) as usize);
    let total: usize = words.iter().map(|w| w.len()).sum();
    // Stored when coding would not pay, decided before the words are copied out.
    if out.len() - start + 8 * LANES + 2 * total > d.len() + 1 {
        drop(words);
        out.truncate(start);
        return encode_stored(d, out);
    }
    drop(data);
    write_lanes(&words, &x, out);
}

/// The encoder's body for the groups of 16 symbols: the same states and words on every one.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Kernel {
    Scalar,
    /// `encode_body_avx2` (the CPU has AVX2).
    Avx2,
    /// `lane_plane_avx512::encode_body` (the CPU has AVX-512F and IFMA).
    Avx512,
}

impl Kernel {
    /// The fastest kernel this CPU runs.
    fn best() -> Kernel {
        #[cfg(all(target_arch = "x86_64", alcm_avx512))]
        if super::lane_plane_avx512::available() {
            return Kernel::Avx512;
        }
        match have_avx2() {
            true => Kernel::Avx2,
            false => Kernel::Scalar,
        }
    }
}

/// Symbols per lane coded into the fixed word buffer before its words move to the lanes'
/// own streams: 16 · 2048 symbols, a 64 KiB buffer.
const CHUNK_PER_LANE: usize = 2048;

/// Codes `data` on the lanes with the frequencies `freq` (at least two symbols, summing to
/// `M`) and appends the word counts and the words, the groups of 16 by `kernel` (which the CPU
/// must run), the same bytes whichever it is.
#[cfg(test)]
fn encode_lanes(data: &[u8], freq: &[u32; 256], out: &mut Vec<u8>, kernel: Kernel) {
    let (words, x) = code_lanes(data, freq, kernel, 0);
    write_lanes(&words, &x, out);
}

/// Each lane's words in the order the encoder emits them (the reverse of the decoder's), and
/// the lanes' final states. `hint`: the words expected in all (their reserve; 0 for none).
///
/// Why in chunks: a lane emits at most one word per symbol, so a buffer with room for every
/// lane's worst case holds two bytes per symbol, twice the plane, beside the payload and the
/// plane itself (issue 12's compress peak: 93.7 MiB on a 64 MiB tensor whose bound is 64 MiB).
/// A chunk's worst case is a fixed 64 KiB; the words kept from it are the plane's coded size.
fn code_lanes(
    data: &[u8],
    freq: &[u32; 256],
    kernel: Kernel,
    hint: usize,
) -> ([Vec<u16>; LANES], [u32; LANES]) {
    let n = data.len();
    let mut tab = [EncSym::default(); 256];
    // The same symbols packed `cum << 13 | freq` for the vector path.
    let mut fc = [0u32; 256];
    let mut cum = 0;
    for s in 0..256 {
        if freq[s] > 0 {
            tab[s] = EncSym::new(freq[s], cum);
            fc[s] = cum << 13 | freq[s];
            cum += freq[s];
        }
    }
    #[cfg(all(target_arch = "x86_64", alcm_avx512))]
    let t512 = (kernel == Kernel::Avx512).then(|| super::lane_plane_avx512::table(freq));
    let mut words: [Vec<u16>; LANES] =
        std::array::from_fn(|_| Vec::with_capacity(hint / LANES + hint / (64 * LANES) + 8));
    // Lane l codes at most `CHUNK_PER_LANE` symbols of a chunk, each emitting at most one word:
    // its words go to `buf[l·per..]`, `pos[l]` being the next free one. Every step writes its
    // word at `pos[l]` whether it emits or not: the buffer needs no zeroing (a word is read only
    // once a step has written it and advanced past it). The AVX-512 kernel writes each word as
    // 32 bits, the word after it too (overwritten by the lane's next word, if any): a spare
    // word a lane keeps that write inside the lane's own slots.
    let per = CHUNK_PER_LANE.min(n / LANES) + 2;
    let mut store: Vec<u16> = Vec::with_capacity(LANES * per);
    let buf = &mut store.spare_capacity_mut()[..LANES * per];
    let mut x = [L; LANES];
    let keep =
        |buf: &[std::mem::MaybeUninit<u16>], pos: &[usize; LANES], w: &mut [Vec<u16>; LANES]| {
            for (l, lane) in w.iter_mut().enumerate() {
                let b = &buf[l * per..pos[l]];
                // SAFETY: a lane's words below its position were each written by the step that
                // advanced the position past them.
                lane.extend_from_slice(unsafe {
                    &*(b as *const [std::mem::MaybeUninit<u16>] as *const [u16])
                });
            }
        };
    let start = || -> [usize; LANES] { std::array::from_fn(|l| l * per) };
    let body = n - n % LANES;
    let mut pos = start();
    for k in (body..n).rev() {
        let l = k % LANES;
        let (w, emit) = tab[data[k] as usize].step(&mut x[l]);
        buf[pos[l]].write(w);
        pos[l] += emit as usize;
    }
    keep(buf, &pos, &mut words);
    // Chunks of the groups of 16, last first (the encoder runs backwards).
    let mut end = body;
    while end > 0 {
        let from = end.saturating_sub(LANES * CHUNK_PER_LANE);
        let chunk = &data[from..end];
        let mut pos = start();
        // The groups of 16 not coded by the vector path.
        let mut scalar_body = chunk.len();
        #[cfg(all(target_arch = "x86_64", alcm_avx512))]
        if let Some(t) = &t512 {
            // SAFETY: `Kernel::Avx512` only when the CPU has AVX-512F, VL and IFMA; every
            // lane has room for one word per symbol of the chunk and one more (`per`), the
            // positions are below 16 · `per` < 2^31, and `t` holds every symbol of `data`.
            unsafe { super::lane_plane_avx512::encode_body(chunk, t, &mut x, buf, &mut pos) };
            scalar_body = 0;
        }
        let avx2 = kernel == Kernel::Avx2 || (kernel == Kernel::Avx512 && have_avx2());
        #[cfg(target_arch = "x86_64")]
        if avx2 && scalar_body != 0 {
            // SAFETY: `avx2` only when the CPU has AVX2; every lane has room for one word per
            // symbol of the chunk (`per`), the positions fit in 32 bits, and `fc` holds every
            // symbol of `data`.
            unsafe { encode_body_avx2(chunk, &fc, &mut x, buf, &mut pos) };
            scalar_body = 0;
        }
        let _ = (avx2, &fc);
        for c in chunk[..scalar_body].chunks_exact(LANES).rev() {
            for ((xl, pl), &s) in x.iter_mut().zip(pos.iter_mut()).zip(c) {
                let (w, emit) = tab[s as usize].step(xl);
                buf[*pl].write(w);
                *pl += emit as usize;
            }
        }
        keep(buf, &pos, &mut words);
        end = from;
    }
    (words, x)
}

/// The lanes' bytes of the layout above: the word counts, then each lane's final state and
/// its words in decoding order.
fn write_lanes(words: &[Vec<u16>; LANES], x: &[u32; LANES], out: &mut Vec<u8>) {
    // Exactly the counts, the states and the words (not by doubling: issue 12).
    let total: usize = words.iter().map(|w| w.len()).sum();
    out.reserve_exact(8 * LANES + 2 * total);
    for w in words {
        out.extend_from_slice(&(w.len() as u32 + 2).to_le_bytes());
    }
    for (&s, w) in x.iter().zip(words) {
        out.extend_from_slice(&((s >> 16) as u16).to_le_bytes());
        out.extend_from_slice(&(s as u16).to_le_bytes());
        let dst = &mut out.spare_capacity_mut()[..2 * w.len()];
        for (d, &w) in dst.chunks_exact_mut(2).zip(w.iter().rev()) {
            d[0].write(w as u8);
            d[1].write((w >> 8) as u8);
        }
        // SAFETY: the loop wrote the 2·len bytes past the end.
        unsafe { out.set_len(out.len() + 2 * w.len()) };
    }
}

/// The encoder's steps over `data` (a multiple of 16 symbols, last group first) with eight
/// lanes per vector: the scalar [`EncSym::step`] as `x' = ⌊v/f⌋·M + (v mod f) + cum`, the same
/// states and words. The quotient comes from an f32 estimate, `fl(v)·fl(1/f)`, off by at most
/// one: after renormalisation `v < f·2^20` (else the step emits and `v = x >> 16`), so
/// `⌊v/f⌋ < 2^20`, and `fl(v)` (from `v >> 8` and `v & 255`, each exact, one rounding when
/// added), `fl(1/f)` and the product each round by at most 2^−24, relatively: under
/// 3·2^−24·2^20 < 0.2 absolutely. The remainder `v − q·f` (exact in wrapping 32 bits: it lies
/// in (−f, 2f)) then says which way to correct. Why: the f64 division this replaced sat on
/// the states' chain (13+ cycles, and two per vector); the reciprocal is computed from the
/// symbol alone, beside it. The symbols' entries come by a gather (on the Xeon of this
/// project's benchmarks less than eight scalar loads put together, which win on Zen 3), and
/// each lane's word by a scalar load from a stack copy of the states (vector lane extracts
/// are all on one port, as are the inserts).
///
/// # Safety
/// AVX2 must be available; lane l's words go to `buf[pos[l]..]`, which must have room for one
/// word per symbol of the lane, and every position must stay below 2^32 (they are kept as
/// 32-bit vector lanes); every symbol of `data` must have a frequency in `fc`.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn encode_body_avx2(
    data: &[u8],
    fc: &[u32; 256],
    x: &mut [u32; LANES],
    buf: &mut [std::mem::MaybeUninit<u16>],
    pos: &mut [usize; LANES],
) {
    use std::arch::x86_64::*;
    let table = fc.as_ptr() as *const i32;
    let bp = buf.as_mut_ptr() as *mut u16;
    let fmask = _mm256_set1_epi32((1 << 13) - 1);
    let mf = _mm256_set1_epi32(M as i32);
    let one_i = _mm256_set1_epi32(1);
    let one = _mm256_set1_ps(1.0);
    let scale = _mm256_set1_ps(256.0);
    let low8 = _mm256_set1_epi32(255);
    let sixteen = _mm256_set1_epi32(16);
    let zero = _mm256_setzero_si256();
    let step = |x: __m256i, e: __m256i| -> (__m256i, __m256i) {
        let freq = _mm256_and_si256(e, fmask);
        let cum = _mm256_srli_epi32::<13>(e);
        let x_max = _mm256_slli_epi32::<{ 32 - SCALE_BITS as i32 }>(freq);
        let emit = _mm256_cmpeq_epi32(_mm256_max_epu32(x, x_max), x);
        // A variable shift (one micro-op) rather than a blend of x and x >> 16 (three).
        let v = _mm256_srlv_epi32(x, _mm256_and_si256(emit, sixteen));
        let rcp = _mm256_div_ps(one, _mm256_cvtepi32_ps(freq));
        let hi = _mm256_cvtepi32_ps(_mm256_srli_epi32::<8>(v));
        let lo = _mm256_cvtepi32_ps(_mm256_and_si256(v, low8));
        let qf = _mm256_add_ps(
            _mm256_mul_ps(hi, _mm256_mul_ps(rcp, scale)),
            _mm256_mul_ps(lo, rcp),
        );
        let q = _mm256_cvttps_epi32(qf);
        let r = _mm256_sub_epi32(v, _mm256_mullo_epi32(q, freq));
        let base = _mm256_add_epi32(
            _mm256_add_epi32(_mm256_slli_epi32::<{ SCALE_BITS as i32 }>(q), r),
            cum,
        );
        let cmpl = _mm256_sub_epi32(mf, freq);
        let under = _mm256_cmpgt_epi32(zero, r);
        let over = _mm256_cmpgt_epi32(r, _mm256_sub_epi32(freq, one_i));
        let x = _mm256_sub_epi32(base, _mm256_and_si256(cmpl, under));
        (_mm256_add_epi32(x, _mm256_and_si256(cmpl, over)), emit)
    };
    let mut x0 = _mm256_loadu_si256(x.as_ptr() as *const __m256i);
    let mut x1 = _mm256_loadu_si256(x.as_ptr().add(8) as *const __m256i);
    let pv: [u32; LANES] = std::array::from_fn(|l| pos[l] as u32);
    let mut p0 = _mm256_loadu_si256(pv.as_ptr() as *const __m256i);
    let mut p1 = _mm256_loadu_si256(pv.as_ptr().add(8) as *const __m256i);
    let mut ws = [0u32; LANES];
    let mut ps = [0u32; LANES];
    for c in data.chunks_exact(LANES).rev() {
        let i0 = _mm256_cvtepu8_epi32(_mm_loadl_epi64(c.as_ptr() as *const __m128i));
        let i1 = _mm256_cvtepu8_epi32(_mm_loadl_epi64(c.as_ptr().add(8) as *const __m128i));
        let e0 = _mm256_i32gather_epi32::<4>(table, i0);
        let e1 = _mm256_i32gather_epi32::<4>(table, i1);
        let (n0, m0) = step(x0, e0);
        let (n1, m1) = step(x1, e1);
        _mm256_storeu_si256(ws.as_mut_ptr() as *mut __m256i, x0);
        _mm256_storeu_si256(ws.as_mut_ptr().add(8) as *mut __m256i, x1);
        _mm256_storeu_si256(ps.as_mut_ptr() as *mut __m256i, p0);
        _mm256_storeu_si256(ps.as_mut_ptr().add(8) as *mut __m256i, p1);
        // Hidden from the optimiser: it would read the words back by lane extracts again.
        let wp = std::hint::black_box(ws.as_ptr()) as *const u16;
        for l in 0..LANES {
            let at = std::ptr::read_volatile(ps.as_ptr().add(l)) as usize;
            *bp.add(at) = std::ptr::read_volatile(wp.add(2 * l));
        }
        p0 = _mm256_sub_epi32(p0, m0);
        p1 = _mm256_sub_epi32(p1, m1);
        x0 = n0;
        x1 = n1;
    }
    _mm256_storeu_si256(x.as_mut_ptr() as *mut __m256i, x0);
    _mm256_storeu_si256(x.as_mut_ptr().add(8) as *mut __m256i, x1);
    let mut pv = [0u32; LANES];
    _mm256_storeu_si256(pv.as_mut_ptr() as *mut __m256i, p0);
    _mm256_storeu_si256(pv.as_mut_ptr().add(8) as *mut __m256i, p1);
    for l in 0..LANES {
        pos[l] = pv[l] as usize;
    }
}

/// A plane as read from a payload, decoded on demand in order.
pub(crate) enum Plane<'a> {
    /// The bytes, where they lie in the payload.
    Stored(&'a [u8]),
    /// Every byte is this one.
    Constant(u8),
    /// rANS lanes (boxed: their tables are 16 KiB).
    Rans(Box<Lanes<'a>>),
}

/// The decoder state of a rANS plane.
pub(crate) struct Lanes<'a> {
    /// slot → (symbol << 24) | (cum << 12) | freq.
    lut: Box<[u32; M as usize]>,
    /// Every lane's words, lane after lane.
    words: &'a [u8],
    x: [u32; LANES],
    /// Next word of each lane (absolute index in `words`, in words).
    pos: [u32; LANES],
    end: [u32; LANES],
    /// Symbols decoded so far.
    done: usize,
}

/// Reads a plane of `n` symbols at `p[*pos..]` and advances `*pos` past it (the words are
/// checked for presence, not decoded).
pub(crate) fn read<'a>(p: &'a [u8], pos: &mut usize, n: usize) -> Result<Plane<'a>> {
    let kind = *p
        .get(*pos)
        .ok_or_else(|| Error::truncated("laned plane ends early"))?;
    *pos += 1;
    match kind {
        KIND_STORED => {
            if p.len() - *pos < n {
                return Err(Error::truncated("stored laned plane ends early"));
            }
            *pos += n;
            Ok(Plane::Stored(&p[*pos - n..*pos]))
        }
        KIND_CONSTANT => {
            let s = *p
                .get(*pos)
                .ok_or_else(|| Error::truncated("constant laned plane ends early"))?;
            *pos += 1;
            Ok(Plane::Constant(s))
        }
        KIND_RANS => {
            if n == 0 {
                return Err(Error::corrupt("rANS laned plane holds no symbols"));
            }
            let freq = read_freq_table_at(p, pos)?;
            let counts = p
                .get(*pos..*pos + 4 * LANES)
                .ok_or_else(|| Error::truncated("laned plane ends early (word counts)"))?;
            *pos += 4 * LANES;
            let (mut start, mut end) = ([0u32; LANES], [0u32; LANES]);
            let mut total = 0u64;
            for l in 0..LANES {
                let c = &counts[4 * l..4 * l + 4];
                let w = u32::from_le_bytes([c[0], c[1], c[2], c[3]]) as u64;
                if w < 2 {
                    return Err(Error::corrupt("laned plane lane with fewer than 2 words"));
                }
                start[l] = total as u32;
                total += w;
                // At most one word per symbol besides the states: bounds the reads, and keeps
                // word positions in u32 (n < 2^31 is the decoder's limit).
                if total > n as u64 + 2 * LANES as u64 || total >= 1 << 31 {
                    return Err(Error::corrupt(format!(
                        "laned plane declares more than {} words for {n} symbols",
                        n + 2 * LANES
                    )));
                }
                end[l] = total as u32;
            }
            let bytes = 2 * total as usize;
            if p.len() - *pos < bytes {
                return Err(Error::truncated(format!(
                    "laned plane ends early ({bytes} bytes of words needed)"
                )));
            }
            let words = &p[*pos..*pos + bytes];
            *pos += bytes;
            let mut lut: Box<[u32; M as usize]> = Box::new([0u32; M as usize]);
            let mut c = 0usize;
            for (s, &f) in freq.iter().enumerate() {
                lut[c..c + f as usize].fill(((s as u32) << 24) | ((c as u32) << 12) | f);
                c += f as usize;
            }
            let word = |k: u32| {
                let k = 2 * k as usize;
                u16::from_le_bytes([words[k], words[k + 1]]) as u32
            };
            let mut x = [0u32; LANES];
            let mut next = [0u32; LANES];
            for l in 0..LANES {
                x[l] = word(start[l]) << 16 | word(start[l] + 1);
                next[l] = start[l] + 2;
            }
            Ok(Plane::Rans(Box::new(Lanes {
                lut,
                words,
                x,
                pos: next,
                end,
                done: 0,
            })))
        }
        k => Err(Error::corrupt(format!("unknown laned plane kind {k}"))),
    }
}

impl<'a> Plane<'a> {
    /// The plane's next `len` symbols (from symbol `at`, which the caller advances by `len`
    /// each call, starting at 0): in place for a stored plane, else decoded into `buf`
    /// (at least `len` long). `simd`: the AVX2 decoder may run (the CPU has AVX2).
    #[inline]
    pub(crate) fn next<'s>(
        &'s mut self,
        at: usize,
        len: usize,
        buf: &'s mut [u8],
        simd: bool,
    ) -> Result<&'s [u8]>
    where
        'a: 's,
    {
        match self {
            Plane::Stored(b) => Ok(&b[at..at + len]),
            Plane::Constant(s) => {
                buf[..len].fill(*s);
                Ok(&buf[..len])
            }
            Plane::Rans(r) => {
                r.decode(&mut buf[..len], simd)?;
                Ok(&buf[..len])
            }
        }
    }

    /// Checks, after all symbols were taken, that a rANS plane ended where it began.
    pub(crate) fn finish(&self) -> Result<()> {
        match self {
            Plane::Rans(r) => r.finish(),
            _ => Ok(()),
        }
    }
}

impl Lanes<'_> {
    /// Decodes the next `out.len()` symbols.
    fn decode(&mut self, out: &mut [u8], simd: bool) -> Result<()> {
        // Up to the next whole group of lanes one at a time, the groups as vectors, the rest
        // one at a time.
        let head = ((LANES - self.done % LANES) % LANES).min(out.len());
        let (first, out) = out.split_at_mut(head);
        self.decode_scalar(first)?;
        let mut k = 0;
        #[cfg(target_arch = "x86_64")]
        if simd {
            // Each lane reads its words slowly (a few bytes per block of symbols), too slowly
            // for the hardware prefetcher to follow 16 of them: ask for the next lines.
            for &p in &self.pos {
                let at = self.words.as_ptr().wrapping_add(2 * p as usize + 64);
                // SAFETY: a prefetch never faults, whatever the address.
                unsafe {
                    std::arch::x86_64::_mm_prefetch::<{ std::arch::x86_64::_MM_HINT_T0 }>(
                        at as *const i8,
                    )
                };
            }
            // SAFETY: `simd` is set only when the CPU has AVX2 (`have_avx2`); `done` is now a
            // multiple of LANES or `out` is empty.
            k = unsafe { self.decode_avx2(out) };
        }
        let _ = simd;
        self.decode_scalar(&mut out[k..])
    }

    fn decode_scalar(&mut self, out: &mut [u8]) -> Result<()> {
        for o in out.iter_mut() {
            let l = self.done % LANES;
            let v = self.x[l];
            let e = self.lut[(v & (M - 1)) as usize];
            let (freq, cum) = (e & (M - 1), (e >> 12) & (M - 1));
            // freq · (v >> 12) ≤ 2^32 − 2^12 and slot − cum < freq: no overflow.
            let mut v = freq * (v >> SCALE_BITS) + (v & (M - 1)) - cum;
            if v < L {
                let at = 2 * self.pos[l] as usize;
                let w = self
                    .words
                    .get(at..at + 2)
                    .ok_or_else(|| Error::truncated("laned plane word stream ends early"))?;
                v = (v << 16) | u16::from_le_bytes([w[0], w[1]]) as u32;
                self.pos[l] += 1;
            }
            self.x[l] = v;
            *o = (e >> 24) as u8;
            self.done += 1;
        }
        Ok(())
    }

    /// Decodes whole groups of 16 symbols of `out` (the lanes in order: `done` is a multiple
    /// of 16) and returns how many symbols it decoded. A lane reading past its own words
    /// reads its neighbour's (or the last word): the check in [`Lanes::finish`] reports it.
    ///
    /// # Safety
    /// The CPU must have AVX2. Every read stays inside its slice: table slots are below `M`,
    /// word reads are clamped to the plane's last word.
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2")]
    unsafe fn decode_avx2(&mut self, out: &mut [u8]) -> usize {
        use std::arch::x86_64::*;
        let slot_mask = _mm256_set1_epi32(M as i32 - 1);
        let zero = _mm256_setzero_si256();
        let total = (self.words.len() / 2) as i32;
        let maxw = _mm256_set1_epi32(total - 1);
        let one = _mm256_set1_epi32(1);
        let wbase = self.words.as_ptr() as *const i32;
        let lut = self.lut.as_ptr() as *const i32;
        // Byte 3 of each 32-bit element to the low four bytes of each 128-bit half.
        let pick = _mm256_setr_epi8(
            3, 7, 11, 15, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, 3, 7, 11, 15, -1, -1, -1,
            -1, -1, -1, -1, -1, -1, -1, -1, -1,
        );
        let step = |x: __m256i, p: __m256i| -> (__m256i, __m256i, __m256i) {
            let slot = _mm256_and_si256(x, slot_mask);
            // A gather: on the Xeon of this project's benchmarks less than the eight scalar
            // loads put together by inserts that won on Zen 3 (the inserts share one port with
            // the other shuffles; the 28 16-bit cases above 64 KiB decode 2 % faster).
            let e = _mm256_i32gather_epi32::<4>(lut, slot);
            let freq = _mm256_and_si256(e, slot_mask);
            let cum = _mm256_and_si256(_mm256_srli_epi32::<12>(e), slot_mask);
            let v = _mm256_sub_epi32(
                _mm256_add_epi32(_mm256_mullo_epi32(freq, _mm256_srli_epi32::<12>(x)), slot),
                cum,
            );
            // v < L = 2^16 ⇔ its high half is zero: take the lane's next word, the high half
            // of the 4 bytes at word p − 1 (p ≥ 2: the state words come first).
            let need = _mm256_cmpeq_epi32(_mm256_srli_epi32::<16>(v), zero);
            let idx = _mm256_sub_epi32(_mm256_min_epu32(p, maxw), one);
            let wd = _mm256_srli_epi32::<16>(_mm256_i32gather_epi32::<2>(wbase, idx));
            let nv = _mm256_or_si256(_mm256_slli_epi32::<16>(v), wd);
            (
                _mm256_blendv_epi8(v, nv, need),
                _mm256_sub_epi32(p, need),
                _mm256_shuffle_epi8(e, pick),
            )
        };
        let mut x0 = _mm256_loadu_si256(self.x.as_ptr() as *const __m256i);
        let mut x1 = _mm256_loadu_si256(self.x.as_ptr().add(8) as *const __m256i);
        let mut p0 = _mm256_loadu_si256(self.pos.as_ptr() as *const __m256i);
        let mut p1 = _mm256_loadu_si256(self.pos.as_ptr().add(8) as *const __m256i);
        let mut chunks = out.chunks_exact_mut(LANES);
        let mut k = 0;
        for c in &mut chunks {
            let (a, pa, sa) = step(x0, p0);
            let (b, pb, sb) = step(x1, p1);
            (x0, p0, x1, p1) = (a, pa, b, pb);
            // The eight symbols of each vector: low dwords of its two halves.
            let lo = _mm_unpacklo_epi32(
                _mm256_castsi256_si128(sa),
                _mm256_extracti128_si256::<1>(sa),
            );
            let hi = _mm_unpacklo_epi32(
                _mm256_castsi256_si128(sb),
                _mm256_extracti128_si256::<1>(sb),
            );
            _mm_storeu_si128(c.as_mut_ptr() as *mut __m128i, _mm_unpacklo_epi64(lo, hi));
            k += LANES;
        }
        _mm256_storeu_si256(self.x.as_mut_ptr() as *mut __m256i, x0);
        _mm256_storeu_si256(self.x.as_mut_ptr().add(8) as *mut __m256i, x1);
        _mm256_storeu_si256(self.pos.as_mut_ptr() as *mut __m256i, p0);
        _mm256_storeu_si256(self.pos.as_mut_ptr().add(8) as *mut __m256i, p1);
        self.done += k;
        k
    }

    fn finish(&self) -> Result<()> {
        if self.pos.iter().zip(&self.end).any(|(p, e)| p > e) {
            return Err(Error::truncated("laned plane word stream ends early"));
        }
        if self.x != [L; LANES] || self.pos != self.end {
            return Err(Error::corrupt(
                "laned plane does not decode to its initial state (corrupt payload)",
            ));
        }
        Ok(())
    }
}

/// Whether the AVX2 decoder runs on this CPU (the scalar one gives the same bytes).
pub(crate) fn have_avx2() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        std::is_x86_feature_detected!("avx2")
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::entropy::order0::histogram;

    /// One vector step from chosen states gives the scalar step's states and words, for every
    /// frequency 1..M − 1 (cumulative 0 and M − freq) and states whose quotient is exact (a
    /// multiple of the frequency), one off either way, and at the renormalisation bound.
    #[test]
    fn vector_step_is_the_scalar_step_from_edge_states() {
        if !have_avx2() {
            return;
        }
        let data = [0u8; LANES];
        for f in 1..M {
            for cum in [0, M - f] {
                let mut fc = [0u32; 256];
                fc[0] = cum << 13 | f;
                let sym = EncSym::new(f, cum);
                let bound = f << (32 - SCALE_BITS);
                // Candidate states in [L, 2^32): around multiples of f (exact quotients,
                // before and after renormalisation) and around the bound.
                let mut states: Vec<u32> = Vec::new();
                for q in [1u32, 3, 255, 4097, (1 << 20) - 1] {
                    let m = q.saturating_mul(f).max(L);
                    states.extend([m, m + 1, m - 1, (m << 16).max(bound), m << 16 | 0xFFFF]);
                }
                states.extend([bound - 1, bound, bound.saturating_add(1), u32::MAX, L]);
                states.retain(|&x| x >= L);
                for group in states.chunks(LANES) {
                    let mut x = [L; LANES];
                    x[..group.len()].copy_from_slice(group);
                    let (mut want_x, mut want_w) = (x, Vec::new());
                    for xl in want_x.iter_mut() {
                        let (w, emit) = sym.step(xl);
                        want_w.push((w, emit));
                    }
                    let mut buf = vec![std::mem::MaybeUninit::<u16>::uninit(); LANES];
                    let mut pos: [usize; LANES] = std::array::from_fn(|l| l);
                    // SAFETY: the CPU has AVX2; lane l writes at most one word, at buf[l].
                    unsafe { encode_body_avx2(&data, &fc, &mut x, &mut buf, &mut pos) };
                    assert_eq!(x, want_x, "freq {f} cum {cum} states {group:?}");
                    for (l, &(w, emit)) in want_w.iter().enumerate() {
                        assert_eq!(pos[l], l + emit as usize, "freq {f} lane {l}");
                        if emit {
                            // SAFETY: the step wrote this word before advancing past it.
                            assert_eq!(unsafe { buf[l].assume_init() }, w, "freq {f} lane {l}");
                        }
                    }
                }
            }
        }
    }

    /// The vector step (its quotient an f32 estimate, corrected) gives the scalar step's states
    /// and words for every frequency from states spread over all of [L, 2^32): a multiplicative
    /// walk (every magnitude) and states just under the renormalisation bound, where the
    /// quotient is largest (just under 2^20) and the estimate's error too.
    #[test]
    fn vector_step_is_the_scalar_step_over_the_state_range() {
        if !have_avx2() {
            return;
        }
        let data = [0u8; LANES];
        let mut s = 0x9E37_79B9_7F4A_7C15u64;
        let mut next = || {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            s
        };
        for f in 1..M {
            let mut fc = [0u32; 256];
            fc[0] = (M - f) << 13 | f;
            let sym = EncSym::new(f, M - f);
            let bound = f << (32 - SCALE_BITS);
            for _ in 0..8 {
                let mut x: [u32; LANES] = std::array::from_fn(|l| {
                    let r = next();
                    match l % 3 {
                        // Any magnitude: a random mantissa under a random power of two.
                        0 => ((r as u32) >> (r >> 59)).max(L),
                        1 => bound.saturating_sub((r >> 40) as u32 % 4096).max(L),
                        _ => (r as u32).max(L),
                    }
                });
                let mut want = x;
                let words: Vec<(u16, bool)> = want.iter_mut().map(|xl| sym.step(xl)).collect();
                let mut buf = vec![std::mem::MaybeUninit::<u16>::uninit(); LANES];
                let mut pos: [usize; LANES] = std::array::from_fn(|l| l);
                let before = x;
                // SAFETY: the CPU has AVX2; lane l writes at most one word, at buf[l].
                unsafe { encode_body_avx2(&data, &fc, &mut x, &mut buf, &mut pos) };
                assert_eq!(x, want, "freq {f} states {before:?}");
                for (l, &(w, emit)) in words.iter().enumerate() {
                    assert_eq!(pos[l], l + emit as usize, "freq {f} lane {l}");
                    if emit {
                        // SAFETY: the step wrote this word before advancing past it.
                        assert_eq!(unsafe { buf[l].assume_init() }, w, "freq {f} lane {l}");
                    }
                }
            }
        }
    }

    /// The vector kernels this CPU runs.
    fn vector_kernels() -> Vec<Kernel> {
        let mut k = Vec::new();
        if have_avx2() {
            k.push(Kernel::Avx2);
        }
        #[cfg(all(target_arch = "x86_64", alcm_avx512))]
        if super::super::lane_plane_avx512::available() {
            k.push(Kernel::Avx512);
        }
        k
    }

    /// A plane of several chunks of the encoder's word buffer (`CHUNK_PER_LANE`), and a tail
    /// short of a group of 16, decodes to itself: the lanes' words kept across chunks are
    /// each lane's whole stream, in order.
    #[test]
    fn planes_of_several_chunks_decode_to_themselves() {
        let n = 2 * LANES * CHUNK_PER_LANE + 16 * 5 + 7;
        let mut s = 11u64;
        let data: Vec<u8> = (0..n)
            .map(|i| {
                s = s.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
                // Skewed, and flatter in the middle chunk: the lanes emit at different rates.
                let r = (s >> 33) as u32;
                match i * 3 / n {
                    1 => r as u8,
                    _ => [7, 7, 7, 8, 8, 9, 200, (r >> 8) as u8][r as usize % 8],
                }
            })
            .collect();
        let hist = crate::entropy::order0::histogram(&data);
        for kernel in [Kernel::Scalar].into_iter().chain(vector_kernels()) {
            let mut out = vec![KIND_RANS];
            let freq = normalize(&hist);
            write_freq_table(&freq, &mut out);
            encode_lanes(&data, &freq, &mut out, kernel);
            let mut pos = 0;
            let mut plane = read(&out, &mut pos, n).unwrap();
            assert!(
                matches!(plane, Plane::Rans(_)),
                "{kernel:?}: not a rANS plane"
            );
            assert_eq!(pos, out.len());
            // Decoded in pieces of a prime length, as the decoder's callers take them.
            let (mut got, mut buf) = (Vec::with_capacity(n), vec![0u8; 4099]);
            while got.len() < n {
                let len = (n - got.len()).min(buf.len());
                let at = got.len();
                got.extend_from_slice(plane.next(at, len, &mut buf, false).unwrap());
            }
            plane.finish().unwrap();
            assert!(
                got == data,
                "{kernel:?}: the plane does not decode to itself"
            );
        }
    }

    /// The vector encoders write the scalar one's bytes: skewed and flat symbol distributions,
    /// rare symbols (frequency 1), lengths around the groups of 16.
    #[test]
    fn vector_encoder_writes_the_scalar_bytes() {
        let mut s = 7u64;
        let mut next = || {
            s = s.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
            (s >> 33) as u32
        };
        for n in [2, 15, 16, 17, 31, 33, 255, 1000, 4097, 70_000] {
            for shape in 0..4 {
                let data: Vec<u8> = (0..n)
                    .map(|_| match shape {
                        0 => next() as u8,
                        // Skewed: mostly 120..124, with a rare 0 and 255.
                        1 => [120, 121, 121, 122, 122, 122, 123, 124][next() as usize % 8],
                        2 => match next() % 5000 {
                            0 => 0,
                            1 => 255,
                            k => 100 + (k % 3) as u8,
                        },
                        // One symbol but once: frequencies M − 1 and 1, the states pressed
                        // against the renormalisation bound of each.
                        _ => 9,
                    })
                    .collect();
                let mut data = data;
                if shape == 3 {
                    data[n / 2] = 200;
                }
                let hist = histogram(&data);
                if hist.iter().filter(|&&c| c > 0).count() < 2 {
                    continue;
                }
                let freq = normalize(&hist);
                if shape == 3 && n > 4096 {
                    assert!(freq[9] == M - 1 && freq[200] == 1);
                }
                let mut a = Vec::new();
                encode_lanes(&data, &freq, &mut a, Kernel::Scalar);
                for kernel in vector_kernels() {
                    let mut b = Vec::new();
                    encode_lanes(&data, &freq, &mut b, kernel);
                    assert!(a == b, "n {n} shape {shape}: {kernel:?}'s bytes differ");
                }
            }
        }
    }
}
