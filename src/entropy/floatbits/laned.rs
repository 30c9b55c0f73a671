//! The laned split (lossless method 4, format version ≥ 5): the split of `mod.rs` (masks,
//! heads, rest planes of the elements whose head ≠ 0 and = 0) with every stream a laned
//! plane (`lane_plane.rs`: 16 rANS states, each with its own words) and order-0 heads.
//!
//! Why: the order-1 heads and the four states sharing one word stream of method 3 decode at
//! about 24 instructions a head, serially; here eight heads decode as one AVX2 vector. The
//! encoder writes this layout for large tensors whose heads' predecessor contexts would not
//! save 2 % (weights, embeddings: 0.2 %); the others keep method 3.
//!
//! Where no element is masked and no head is 0 (most weights), the decoder writes the output
//! elements block by block from the planes' next 1024 symbols (decoded into small buffers
//! that stay in the L1 cache; stored planes read in place), with no plane-sized buffer.
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
use super::{kept, merge, near_uniform, read_masks, Masks, Rests};
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
            let data = rests.plane(zero, j);
            if near_uniform(data) {
                lane_plane::encode_stored(data, out);
            } else {
                lane_plane::encode(data, out);
            }
        }
    }
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
    if masks.is_none() && nb == 0 {
        match w {
            2 => blocks::<2>(&mut heads, &mut planes, out, simd)?,
            4 => blocks::<4>(&mut heads, &mut planes, out, simd)?,
            _ => blocks::<8>(&mut heads, &mut planes, out, simd)?,
        }
    } else {
        general(&mut heads, &mut planes, &masks, nb, w, out, simd)?;
    }
    heads.finish()?;
    planes.iter().try_for_each(|pl| pl.finish())
}

/// No masks, no zero heads: the output block by block.
fn blocks<const W: usize>(
    heads: &mut Plane,
    planes: &mut [Plane],
    out: &mut [u8],
    simd: bool,
) -> Result<()> {
    let mut hbuf = [0u8; BLOCK];
    let mut rbuf = [[0u8; BLOCK]; 7];
    let none: [&[u8]; 7] = [&[]; 7];
    for (b, ob) in out.chunks_mut(BLOCK * W).enumerate() {
        let (at, len) = (b * BLOCK, ob.len() / W);
        let h = heads.next(at, len, &mut hbuf, simd)?;
        if h.contains(&0) {
            return Err(Error::corrupt(
                "laned float-layout payload has a zero head it did not declare",
            ));
        }
        let mut r: [&[u8]; 7] = [&[]; 7];
        for ((slot, pl), buf) in r.iter_mut().zip(&mut planes[..W - 1]).zip(&mut rbuf) {
            *slot = pl.next(at, len, buf, simd)?;
        }
        merge::<W>(h, &r[..W - 1], &none[..W - 1], &None, ob);
    }
    Ok(())
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
