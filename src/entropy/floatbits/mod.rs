//! The float-layout split: floating-point elements of `w` bytes (2, 4 or 8; little-endian) as
//! separate streams, each coded where it pays.
//!
//! Every element `u` (8w bits) is cut into its **head**, the 8 bits below the sign (the exponent
//! of float32 and bfloat16; the exponent and the top three mantissa bits of float16; the top
//! eight exponent bits of float64), and its **rest**, the sign followed by the bits below the
//! head (`8w − 8` bits, `w − 1` bytes). The heads are skewed and correlated with their
//! neighbours: coded with their predecessor as context (`context.rs`) or order-0, whichever is
//! smaller. The rests of elements whose head is zero (zeros, and the subnormals of float32 /
//! bfloat16) are nearly always zero: they go to their own byte planes, so zeros cost next to
//! nothing and the other rests stay uniform. Each rest byte plane is an order-0 plane
//! (`entropy/order0.rs`): stored as it is when uniform, constant when constant, rANS-coded
//! otherwise. A matrix (rows × columns, the rows being the first axis) may first flag its
//! all-zero rows and columns (dead units of a gradient, zero-padded rows): their elements are
//! +0.0 and appear in no stream.
//!
//! # Layout
//! ```text
//! u8 masks: 0 = none; 1 = u32 rows R (R ≥ 2, R divides n, C = n / R ≥ 2), then ⌈R/8⌉ bytes
//!    flagging the all-zero rows and ⌈C/8⌉ bytes the all-zero columns (bit i%8 of byte i/8;
//!    unused high bits 0); a flagged element is 0 (all bits), the others are "kept"
//! the head stream of the m kept elements (context.rs layout)
//! w−1 order-0 planes: byte j (j = 0 lowest) of the rests of the kept elements whose head ≠ 0
//! w−1 order-0 planes: byte j of the rests of the kept elements whose head = 0
//! ```
//! The element counts of each plane follow from the masks and the decoded heads.

pub(crate) mod context;

use crate::entropy::order0::{self, PLANE_STORED};
use crate::entropy::rans::M;
use crate::error::{Error, Result};

/// Bit position of the head's lowest bit in an element of `w` bytes.
fn head_shift(w: usize) -> u32 {
    8 * w as u32 - 9
}

/// The all-zero rows and columns of `bytes` seen as `rows` rows (`None` when there are none,
/// or the shape is not a matrix).
fn zero_masks(bytes: &[u8], w: usize, rows: usize) -> Option<(Vec<bool>, Vec<bool>)> {
    let n = bytes.len() / w;
    if rows < 2 || n % rows != 0 || n / rows < 2 || rows > u32::MAX as usize {
        return None;
    }
    let cols = n / rows;
    let zr: Vec<bool> = bytes
        .chunks_exact(w * cols)
        .map(|row| row.iter().all(|&b| b == 0))
        .collect();
    // A column is zero when the OR of its elements over all rows is (word-wise, one pass).
    let mut acc = vec![0u64; cols];
    for row in bytes.chunks_exact(w * cols) {
        match w {
            2 => or_row::<2>(row, &mut acc),
            4 => or_row::<4>(row, &mut acc),
            _ => or_row::<8>(row, &mut acc),
        }
    }
    let zc: Vec<bool> = acc.iter().map(|&a| a == 0).collect();
    (zr.iter().any(|&z| z) || zc.iter().any(|&z| z)).then_some((zr, zc))
}

fn or_row<const W: usize>(row: &[u8], acc: &mut [u64]) {
    for (a, e) in acc.iter_mut().zip(row.chunks_exact(W)) {
        let mut b = [0u8; 8];
        b[..W].copy_from_slice(e);
        *a |= u64::from_le_bytes(b);
    }
}

fn push_bits(flags: &[bool], out: &mut Vec<u8>) {
    for ch in flags.chunks(8) {
        out.push(ch.iter().enumerate().map(|(i, &f)| (f as u8) << i).sum());
    }
}

/// Calls `f(index)` for the index of every kept element, in order.
fn for_each_kept(n: usize, masks: &Option<(Vec<bool>, Vec<bool>)>, mut f: impl FnMut(usize)) {
    match masks {
        None => (0..n).for_each(f),
        Some((zr, zc)) => {
            let cols = zc.len();
            for (r, _) in zr.iter().enumerate().filter(|(_, &z)| !z) {
                for (c, _) in zc.iter().enumerate().filter(|(_, &z)| !z) {
                    f(r * cols + c);
                }
            }
        }
    }
}

/// Appends the split coding of `bytes` (elements of `w` ∈ {2, 4, 8} bytes; `rows`: the
/// length of the first axis, 1 for a vector) to `out`.
pub(crate) fn encode(bytes: &[u8], w: usize, rows: usize, out: &mut Vec<u8>) {
    debug_assert!(matches!(w, 2 | 4 | 8) && bytes.len() % w == 0);
    let masks = zero_masks(bytes, w, rows);
    match &masks {
        None => out.push(0),
        Some((zr, zc)) => {
            out.push(1);
            out.extend_from_slice(&(zr.len() as u32).to_le_bytes());
            push_bits(zr, out);
            push_bits(zc, out);
        }
    }
    let (heads, planes) = match w {
        2 => split::<2>(bytes, &masks),
        4 => split::<4>(bytes, &masks),
        _ => split::<8>(bytes, &masks),
    };
    context::encode(&heads, out);
    for p in &planes {
        plane(p, out);
    }
}

/// The element's head and rest (module doc).
#[inline(always)]
fn head_rest<const W: usize>(e: &[u8]) -> (u8, u64) {
    let sh = head_shift(W);
    let mut a = [0u8; 8];
    a[..W].copy_from_slice(e);
    let u = u64::from_le_bytes(a);
    let h = (u >> sh) as u8;
    (h, (u & ((1u64 << sh) - 1)) | ((u >> (8 * W - 1)) << sh))
}

/// The heads of the kept elements and the 2(W−1) rest planes (head ≠ 0, then head = 0).
fn split<const W: usize>(
    bytes: &[u8],
    masks: &Option<(Vec<bool>, Vec<bool>)>,
) -> (Vec<u8>, Vec<Vec<u8>>) {
    let n = bytes.len() / W;
    let mut heads = Vec::with_capacity(n);
    for_each_kept(n, masks, |i| {
        heads.push(head_rest::<W>(&bytes[i * W..i * W + W]).0)
    });
    let nb = heads.iter().filter(|&&h| h == 0).count();
    let na = heads.len() - nb;
    let mut planes: Vec<Vec<u8>> = (0..2 * (W - 1))
        .map(|j| vec![0u8; if j < W - 1 { na } else { nb }])
        .collect();
    let (pa, pb) = planes.split_at_mut(W - 1);
    let (mut ia, mut ib) = (0usize, 0usize);
    for_each_kept(n, masks, |i| {
        let (h, rest) = head_rest::<W>(&bytes[i * W..i * W + W]);
        if h != 0 {
            for (j, p) in pa.iter_mut().enumerate() {
                p[ia] = (rest >> (8 * j)) as u8;
            }
            ia += 1;
        } else {
            for (j, p) in pb.iter_mut().enumerate() {
                p[ib] = (rest >> (8 * j)) as u8;
            }
            ib += 1;
        }
    });
    (heads, planes)
}

/// One order-0 plane; a plane whose bytes are close to uniform is stored without trying rANS
/// (it could not save its table's size; integer test, the same on every platform).
fn plane(data: &[u8], out: &mut Vec<u8>) {
    let n = data.len() as u128;
    if n >= 1 << 14 {
        let h = order0::histogram(data);
        // Σ (256·c − n)² < 2^20·n  ⇔  chi² < 4096: the entropy deficit from 8 bits is then
        // below ≈ 4096 / (2 ln 2) bits ≈ 370 bytes, less than a table and the states.
        let s: u128 = h
            .iter()
            .map(|&c| {
                let d = (256 * c as i128 - n as i128).unsigned_abs();
                d * d
            })
            .sum();
        if s < (n << 20) {
            out.push(PLANE_STORED);
            out.extend_from_slice(data);
            return;
        }
    }
    order0::encode_plane(data, out);
}

fn read_bits(p: &[u8], pos: &mut usize, k: usize) -> Result<Vec<bool>> {
    let b = p
        .get(*pos..*pos + k.div_ceil(8))
        .ok_or_else(|| Error::truncated("float-layout masks end early"))?;
    *pos += k.div_ceil(8);
    if k % 8 != 0 && b[b.len() - 1] >> (k % 8) != 0 {
        return Err(Error::corrupt(
            "float-layout mask has bits set past its end",
        ));
    }
    Ok((0..k).map(|i| b[i / 8] >> (i % 8) & 1 != 0).collect())
}

/// Decodes a split payload starting at `p[*pos]` into `out` (`out.len()/w` elements of `w`
/// bytes) and advances `*pos`. Allocates at most about `out.len()` bytes besides fixed tables
/// (masks: one byte per row and column).
pub(crate) fn decode(p: &[u8], pos: &mut usize, w: usize, out: &mut [u8]) -> Result<()> {
    if !matches!(w, 2 | 4 | 8) || out.len() % w != 0 {
        return Err(Error::corrupt(format!(
            "float-layout payload for {} bytes of {w}-byte elements",
            out.len()
        )));
    }
    let n = out.len() / w;
    let flag = *p
        .get(*pos)
        .ok_or_else(|| Error::truncated("float-layout payload ends early"))?;
    *pos += 1;
    let masks = match flag {
        0 => None,
        1 => {
            let r = p
                .get(*pos..*pos + 4)
                .ok_or_else(|| Error::truncated("float-layout masks end early"))?;
            *pos += 4;
            let rows = u32::from_le_bytes([r[0], r[1], r[2], r[3]]) as usize;
            if rows < 2 || n % rows != 0 || n / rows < 2 {
                return Err(Error::corrupt(format!(
                    "float-layout masks of {rows} rows for {n} elements"
                )));
            }
            let zr = read_bits(p, pos, rows)?;
            let zc = read_bits(p, pos, n / rows)?;
            Some((zr, zc))
        }
        f => {
            return Err(Error::corrupt(format!(
                "unknown float-layout mask flag {f}"
            )))
        }
    };
    let m = match &masks {
        None => n,
        Some((zr, zc)) => zr.iter().filter(|&&z| !z).count() * zc.iter().filter(|&&z| !z).count(),
    };
    let mut heads = vec![0u8; m];
    context::decode(p, pos, &mut heads)?;
    let zeros = heads.iter().filter(|&&h| h == 0).count();
    let (na, nb) = (m - zeros, zeros);
    // Rests, plane after plane: (w−1)·na bytes then (w−1)·nb bytes.
    let r = w - 1;
    let mut rests = vec![0u8; r * m];
    let mut lut: Box<[u32; M as usize]> = Box::new([0u32; M as usize]);
    for j in 0..r {
        order0::decode_plane_at(p, pos, &mut rests[j * na..(j + 1) * na], &mut lut)?;
    }
    let (ra, rb) = rests.split_at_mut(r * na);
    for j in 0..r {
        order0::decode_plane_at(p, pos, &mut rb[j * nb..(j + 1) * nb], &mut lut)?;
    }
    if masks.is_some() {
        out.fill(0);
    }
    match w {
        2 => merge::<2>(&heads, ra, rb, &masks, out),
        4 => merge::<4>(&heads, ra, rb, &masks, out),
        _ => merge::<8>(&heads, ra, rb, &masks, out),
    }
    Ok(())
}

/// Writes the kept elements of `out` from their heads and rests (planes of `na` / `nb` bytes:
/// `ra` for head ≠ 0, `rb` for head = 0).
fn merge<const W: usize>(
    heads: &[u8],
    ra: &[u8],
    rb: &[u8],
    masks: &Option<(Vec<bool>, Vec<bool>)>,
    out: &mut [u8],
) {
    let sh = head_shift(W);
    let low = (1u64 << sh) - 1;
    let (na, nb) = (ra.len() / (W - 1), rb.len() / (W - 1));
    if masks.is_none() && nb == 0 {
        // No masks and no zero heads (most weights): element i takes byte i of every plane.
        let mut planes: [&[u8]; 7] = [&[]; 7];
        for (j, p) in ra.chunks_exact(na.max(1)).take(W - 1).enumerate() {
            planes[j] = p;
        }
        for (i, (&h, o)) in heads.iter().zip(out.chunks_exact_mut(W)).enumerate() {
            let mut rest = 0u64;
            for (j, p) in planes[..W - 1].iter().enumerate() {
                rest |= (p[i] as u64) << (8 * j);
            }
            let u = (rest & low) | ((h as u64) << sh) | ((rest >> sh) << (8 * W - 1));
            o.copy_from_slice(&u.to_le_bytes()[..W]);
        }
        return;
    }
    let (mut ia, mut ib, mut k) = (0usize, 0usize, 0usize);
    for_each_kept(out.len() / W, masks, |i| {
        let h = heads[k];
        k += 1;
        let mut rest = 0u64;
        if h != 0 {
            for j in 0..W - 1 {
                rest |= (ra[j * na + ia] as u64) << (8 * j);
            }
            ia += 1;
        } else {
            for j in 0..W - 1 {
                rest |= (rb[j * nb + ib] as u64) << (8 * j);
            }
            ib += 1;
        }
        let u = (rest & low) | ((h as u64) << sh) | ((rest >> sh) << (8 * W - 1));
        out[i * W..i * W + W].copy_from_slice(&u.to_le_bytes()[..W]);
    });
}
