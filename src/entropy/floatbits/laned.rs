//! The laned split (lossless method 4, format version ≥ 5): the split of `mod.rs` (masks,
//! heads, rest planes of the elements whose head ≠ 0 and = 0) with every stream a laned
//! plane (`lane_plane.rs`: 16 rANS states, each with its own words) and order-0 heads.
//!
//! Why: the order-1 heads and the four states sharing one word stream of method 3 decode at
//! about 24 instructions a head, serially; here eight heads decode as one AVX2 vector. The
//! encoder writes this layout for large tensors whose heads' predecessor contexts would not
//! save 2 % (weights, embeddings: 0.2 %); the others keep method 3.
//!
//! Where no element is masked (weights), the decoder writes the output elements block by block
//! from the planes' next symbols (1024 heads, and as many rests of each kind as they call for;
//! decoded into small buffers that stay in the L1 cache, stored planes read in place), with
//! no plane-sized buffer; blocks without a zero head are merged with AVX2.
//!
//! # Layout (little-endian)
//! ```text
//! the masks of mod.rs (u8 0, or u8 1 and the rows and flags)
//! u64 zeros               kept elements whose head is 0 (≤ the kept elements m)
//! laned plane             the m heads
//! w−1 laned planes        byte j (j = 0 lowest) of the rests of the kept elements whose
//!                         head ≠ 0 (m − zeros bytes each)
//! w−1 laned planes        the same for those whose head = 0 (zeros bytes each)
//! ```

use std::borrow::Cow;

use super::lane_plane::{self, Plane};
use super::uniform_screen;
use super::{kept, merge, plane_histogram, read_masks, uniform_by, Masks, Rests};
use crate::error::{Error, Result};

/// Elements per block of the fast decoding path (a multiple of the lanes).
const BLOCK: usize = 1024;

/// Appends the laned streams of a split (after its masks): the heads (`hist`: their byte
/// histogram) and the rests of elements of `w` bytes.
pub(crate) fn encode(heads: &[u8], hist: &[u64; 256], rests: &Rests, w: usize, out: &mut Vec<u8>) {
    out.extend_from_slice(&(rests.nb as u64).to_le_bytes());
    lane_plane::encode_with_histogram(heads, hist, out);
    for zero in [false, true] {
        for j in 0..w - 1 {
            encode_rest_plane(rests.plane(zero, j), out);
        }
    }
}

/// Appends one rest plane: stored when close to uniform, else as `lane_plane` chooses. An
/// owned plane is dropped once its words are coded, before they are appended
/// (`lane_plane::encode_with_histogram`).
pub(super) fn encode_rest_plane<D: AsRef<[u8]>>(data: D, out: &mut Vec<u8>) {
    let d = data.as_ref();
    if uniform_screen::clearly_uniform(d) {
        return lane_plane::encode_stored(d, out);
    }
    // The histogram of the test, once: the coder's too.
    let h = match plane_histogram(d) {
        Some(h) if uniform_by(&h, d.len()) => return lane_plane::encode_stored(d, out),
        Some(h) => h,
        None => crate::entropy::order0::histogram(d),
    };
    lane_plane::encode_with_histogram(data, &h, out)
}

/// Decodes the laned split at `p[*pos..]` into `out` (elements of `w` ∈ {2, 4, 8} bytes) and
/// advances `*pos`. Allocates, besides the 16 KiB table of each rANS plane, the output's size
/// at most (when some element is masked or has a zero head), else a few KiB.
pub(crate) fn decode(p: &[u8], pos: &mut usize, w: usize, out: &mut [u8]) -> Result<()> {
    decode_with(p, pos, w, out, lane_plane::have_avx2())
}

/// [`decode`] on the AVX2 path (`simd`: the CPU must have AVX2) or the scalar one: the same
/// bytes and errors either way.
fn decode_with(p: &[u8], pos: &mut usize, w: usize, out: &mut [u8], simd: bool) -> Result<()> {
    if !matches!(w, 2 | 4 | 8) || out.len() % w != 0 {
        return Err(Error::corrupt(format!(
            "laned float-layout payload for {} bytes of {w}-byte elements",
            out.len()
        )));
    }
    let n = out.len() / w;
    let masks = read_masks(p, pos, n)?;
    let m = kept(n, &masks);
    let z = p
        .get(*pos..*pos + 8)
        .ok_or_else(|| Error::truncated("laned float-layout payload ends early"))?;
    *pos += 8;
    let zeros = u64::from_le_bytes(z.try_into().unwrap_or([0; 8]));
    if zeros > m as u64 {
        return Err(Error::corrupt(format!(
            "laned float-layout payload declares {zeros} zero heads of {m} elements"
        )));
    }
    let nb = zeros as usize;
    let mut heads = lane_plane::read(p, pos, m)?;
    let mut planes = Vec::with_capacity(2 * (w - 1));
    for k in 0..2 * (w - 1) {
        planes.push(lane_plane::read(
            p,
            pos,
            if k < w - 1 { m - nb } else { nb },
        )?);
    }
    if masks.is_none() {
        match w {
            2 => blocks::<2>(&mut heads, &mut planes, nb, out, simd)?,
            4 => blocks::<4>(&mut heads, &mut planes, nb, out, simd)?,
            _ => blocks::<8>(&mut heads, &mut planes, nb, out, simd)?,
        }
    } else {
        general(&mut heads, &mut planes, &masks, nb, w, out, simd)?;
    }
    heads.finish()?;
    planes.iter().try_for_each(|pl| pl.finish())
}

/// No masks: the output block by block, each block's rests taken from the planes of the
/// elements whose head is ≠ 0 and = 0 as its heads say (`nb`: the declared zero heads; as no
/// block may take more than the declared rests of either kind, and the blocks take all `m`
/// rests, they take exactly the declared ones).
fn blocks<const W: usize>(
    heads: &mut Plane,
    planes: &mut [Plane],
    nb: usize,
    out: &mut [u8],
    simd: bool,
) -> Result<()> {
    let na = out.len() / W - nb;
    let mut hbuf = [0u8; BLOCK];
    let mut abuf = [[0u8; BLOCK]; 7];
    let mut bbuf = [[0u8; BLOCK]; 7];
    let (mut at_a, mut at_b) = (0, 0);
    let (pa, pb) = planes.split_at_mut(W - 1);
    for (b, ob) in out.chunks_mut(BLOCK * W).enumerate() {
        let len = ob.len() / W;
        let h = heads.next(b * BLOCK, len, &mut hbuf, simd)?;
        let zeros = count_zeros(h, simd);
        let (len_a, len_b) = (len - zeros, zeros);
        if at_a + len_a > na || at_b + len_b > nb {
            return Err(Error::corrupt(
                "laned float-layout payload's zero heads differ from their declared count",
            ));
        }
        let mut ra: [&[u8]; 7] = [&[]; 7];
        let mut rb: [&[u8]; 7] = [&[]; 7];
        for ((slot, pl), buf) in ra.iter_mut().zip(pa.iter_mut()).zip(&mut abuf) {
            *slot = pl.next(at_a, len_a, buf, simd)?;
        }
        for ((slot, pl), buf) in rb.iter_mut().zip(pb.iter_mut()).zip(&mut bbuf) {
            *slot = pl.next(at_b, len_b, buf, simd)?;
        }
        (at_a, at_b) = (at_a + len_a, at_b + len_b);
        if zeros == 0 && merge_avx2::<W>(h, &ra, ob, simd) {
            continue;
        }
        if zeros * ZERO_RUNS_BELOW < len && merge_around_zeros::<W>(h, &ra, &rb, ob, simd) {
            continue;
        }
        merge::<W>(h, &ra[..W - 1], &rb[..W - 1], &None, ob);
    }
    Ok(())
}

/// The zero bytes of `h` (32 at a time on the AVX2 path: the iterator count is not vectorised).
#[inline]
pub(super) fn count_zeros(h: &[u8], simd: bool) -> usize {
    #[cfg(target_arch = "x86_64")]
    if simd {
        // SAFETY: `simd` only when the CPU has AVX2.
        return unsafe { count_zeros_avx2(h) };
    }
    let _ = simd;
    h.iter().filter(|&&s| s == 0).count()
}

/// # Safety
/// AVX2 must be available.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn count_zeros_avx2(h: &[u8]) -> usize {
    use std::arch::x86_64::*;
    let mut chunks = h.chunks_exact(32);
    let mut n = 0;
    for c in &mut chunks {
        let v = _mm256_loadu_si256(c.as_ptr() as *const __m256i);
        let z = _mm256_movemask_epi8(_mm256_cmpeq_epi8(v, _mm256_setzero_si256()));
        n += (z as u32).count_ones() as usize;
    }
    n + chunks.remainder().iter().filter(|&&s| s == 0).count()
}

/// A block takes [`merge_around_zeros`] when fewer than one head in this many is 0 (float16
/// weights: about one zero head in 10 000, yet in 5–15 % of their blocks of 1024; those blocks
/// took the scalar merge, 8.5 % of the instructions of decoding them).
const ZERO_RUNS_BELOW: usize = 16;

/// The merge of a block with some zero heads on the AVX2 path (2- and 4-byte elements;
/// `simd`: the CPU has AVX2): the runs between zero heads as blocks without ([`merge_avx2`]),
/// each zero head's element from the next rests of its kind (`rb`); returns false, having done
/// nothing, otherwise. The bytes of [`merge`].
#[inline]
fn merge_around_zeros<const W: usize>(
    h: &[u8],
    ra: &[&[u8]; 7],
    rb: &[&[u8]; 7],
    out: &mut [u8],
    simd: bool,
) -> bool {
    if !(simd && (W == 2 || W == 4)) {
        return false;
    }
    let (mut from, mut ia, mut ib) = (0usize, 0usize, 0usize);
    let run = |from: usize, to: usize, ia: &mut usize, out: &mut [u8]| {
        let len = to - from;
        let mut r: [&[u8]; 7] = [&[]; 7];
        for (d, s) in r.iter_mut().zip(ra).take(W - 1) {
            *d = &s[*ia..*ia + len];
        }
        merge_avx2::<W>(&h[from..to], &r, &mut out[from * W..to * W], simd);
        *ia += len;
    };
    for (k, _) in h.iter().enumerate().filter(|(_, &x)| x == 0) {
        run(from, k, &mut ia, out);
        // Head 0: the element is the rest with a zero inserted at the head's bits.
        let mut rest = 0u64;
        for (j, p) in rb.iter().take(W - 1).enumerate() {
            rest |= (p[ib] as u64) << (8 * j);
        }
        ib += 1;
        let u = super::element_bits::<W>(0, rest);
        out[k * W..k * W + W].copy_from_slice(&u.to_le_bytes()[..W]);
        from = k + 1;
    }
    run(from, h.len(), &mut ia, out);
    true
}

/// The merge of a block without zero heads on the AVX2 path (2- and 4-byte elements; `simd`:
/// the CPU has AVX2); returns false, having done nothing, otherwise.
#[inline]
fn merge_avx2<const W: usize>(h: &[u8], ra: &[&[u8]; 7], out: &mut [u8], simd: bool) -> bool {
    #[cfg(target_arch = "x86_64")]
    if simd && (W == 2 || W == 4) {
        // SAFETY: `simd` only when the CPU has AVX2; every plane holds `h.len()` bytes and
        // `out` `W·h.len()`.
        unsafe {
            if W == 2 {
                merge2_avx2(h, ra[0], out);
            } else {
                merge4_avx2(h, ra[0], ra[1], ra[2], out);
            }
        }
        return true;
    }
    let _ = (h, ra, out, simd);
    false
}

/// 2-byte elements from heads and rests: `(r & 0x7F) | h << 7 | (r >> 7) << 15`, 16 at a time.
///
/// # Safety
/// AVX2 must be available; `r.len() == h.len()` and `out.len() == 2·h.len()`.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn merge2_avx2(h: &[u8], r: &[u8], out: &mut [u8]) {
    use std::arch::x86_64::*;
    debug_assert!(r.len() == h.len() && out.len() == 2 * h.len());
    let n = h.len();
    let low7 = _mm256_set1_epi16(0x7F);
    let sign = _mm256_set1_epi16(i16::MIN);
    let mut i = 0;
    while i + 16 <= n {
        let hv = _mm256_cvtepu8_epi16(_mm_loadu_si128(h.as_ptr().add(i) as *const __m128i));
        let rv = _mm256_cvtepu8_epi16(_mm_loadu_si128(r.as_ptr().add(i) as *const __m128i));
        let u = _mm256_or_si256(
            _mm256_or_si256(_mm256_and_si256(rv, low7), _mm256_slli_epi16::<7>(hv)),
            _mm256_and_si256(_mm256_slli_epi16::<8>(rv), sign),
        );
        _mm256_storeu_si256(out.as_mut_ptr().add(2 * i) as *mut __m256i, u);
        i += 16;
    }
    for k in i..n {
        let u = (r[k] as u16 & 0x7F) | (h[k] as u16) << 7 | ((r[k] >> 7) as u16) << 15;
        out[2 * k..2 * k + 2].copy_from_slice(&u.to_le_bytes());
    }
}

/// 4-byte elements from heads and rests: `r0 | r1 << 8 | (r2 & 0x7F) << 16 | h << 23 |
/// (r2 >> 7) << 31`, 8 at a time.
///
/// # Safety
/// AVX2 must be available; each `r*.len() == h.len()` and `out.len() == 4·h.len()`.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn merge4_avx2(h: &[u8], r0: &[u8], r1: &[u8], r2: &[u8], out: &mut [u8]) {
    use std::arch::x86_64::*;
    debug_assert!(r0.len() == h.len() && r1.len() == h.len() && r2.len() == h.len());
    debug_assert!(out.len() == 4 * h.len());
    let n = h.len();
    let load = |p: &[u8], i: usize| {
        _mm256_cvtepu8_epi32(_mm_loadl_epi64(p.as_ptr().add(i) as *const __m128i))
    };
    let low7 = _mm256_set1_epi32(0x7F);
    let sign = _mm256_set1_epi32(i32::MIN);
    let mut i = 0;
    while i + 8 <= n {
        let (hv, b0, b1, b2) = (load(h, i), load(r0, i), load(r1, i), load(r2, i));
        let u = _mm256_or_si256(
            _mm256_or_si256(b0, _mm256_slli_epi32::<8>(b1)),
            _mm256_or_si256(
                _mm256_or_si256(
                    _mm256_slli_epi32::<16>(_mm256_and_si256(b2, low7)),
                    _mm256_slli_epi32::<23>(hv),
                ),
                _mm256_and_si256(_mm256_slli_epi32::<24>(b2), sign),
            ),
        );
        _mm256_storeu_si256(out.as_mut_ptr().add(4 * i) as *mut __m256i, u);
        i += 8;
    }
    for k in i..n {
        let u = r0[k] as u32
            | (r1[k] as u32) << 8
            | (r2[k] as u32 & 0x7F) << 16
            | (h[k] as u32) << 23
            | ((r2[k] >> 7) as u32) << 31;
        out[4 * k..4 * k + 4].copy_from_slice(&u.to_le_bytes());
    }
}

/// The next `len` symbols of `plane`, whole: in place when stored.
fn whole<'a>(plane: &mut Plane<'a>, len: usize, simd: bool) -> Result<Cow<'a, [u8]>> {
    if let Plane::Stored(b) = plane {
        return Ok(Cow::Borrowed(&b[..len]));
    }
    let mut buf = vec![0u8; len];
    plane.next(0, len, &mut buf, simd)?;
    Ok(Cow::Owned(buf))
}

/// Masks or zero heads: each stream whole, then the merge of `mod.rs`.
fn general(
    heads: &mut Plane,
    planes: &mut [Plane],
    masks: &Masks,
    nb: usize,
    w: usize,
    out: &mut [u8],
    simd: bool,
) -> Result<()> {
    let m = kept(out.len() / w, masks);
    let h = whole(heads, m, simd)?;
    if h.iter().filter(|&&s| s == 0).count() != nb {
        return Err(Error::corrupt(
            "laned float-layout payload's zero heads differ from their declared count",
        ));
    }
    let mut rests = Vec::with_capacity(2 * (w - 1));
    for (k, pl) in planes.iter_mut().enumerate() {
        rests.push(whole(pl, if k < w - 1 { m - nb } else { nb }, simd)?);
    }
    let r: Vec<&[u8]> = rests.iter().map(|c| &c[..]).collect();
    if masks.is_some() {
        out.fill(0);
    }
    let (ra, rb) = r.split_at(w - 1);
    match w {
        2 => merge::<2>(&h, ra, rb, masks, out),
        4 => merge::<4>(&h, ra, rb, masks, out),
        _ => merge::<8>(&h, ra, rb, masks, out),
    }
    Ok(())
}

#[cfg(test)]
#[path = "laned_tests.rs"]
mod tests;
