//! Integer codes ↔ bytes. Codes are written with the smallest byte width (1, 2 or 4) that holds
//! the largest code, as byte planes (all low bytes, then all second bytes, ...): the high planes
//! of small codes are long runs of zeros that the backend squeezes to almost nothing, which a
//! plain little-endian interleaving would hide from a byte-oriented coder like deflate.

use crate::error::{Error, Result};

/// Smallest byte width (1, 2 or 4) holding `max_code`.
pub fn width_for(max_code: u32) -> u8 {
    if max_code <= 0xFF {
        1
    } else if max_code <= 0xFFFF {
        2
    } else {
        4
    }
}

/// Appends `codes` to `out` as `width` byte planes.
pub fn pack(codes: &[u32], width: u8, out: &mut Vec<u8>) {
    let n = codes.len();
    let start = out.len();
    out.resize(start + n * width as usize, 0);
    let dst = &mut out[start..];
    match width {
        1 => dst.iter_mut().zip(codes).for_each(|(d, &u)| *d = u as u8),
        _ => {
            for plane in 0..width as usize {
                let shift = 8 * plane as u32;
                let p = &mut dst[plane * n..(plane + 1) * n];
                p.iter_mut()
                    .zip(codes)
                    .for_each(|(d, &u)| *d = (u >> shift) as u8);
            }
        }
    }
}

/// Appends the values of `bytes` (`width` little-endian bytes each, `width` 1..=8) to `out` as
/// `width` byte planes: every value's byte 0, then every byte 1, ... For 4-byte values this is
/// [`pack`] of their bits (lossless frames of every element type use it).
pub fn shuffle(bytes: &[u8], width: usize, out: &mut Vec<u8>) {
    let n = bytes.len() / width.max(1);
    let start = out.len();
    out.resize(start + n * width, 0);
    let dst = &mut out[start..];
    for plane in 0..width {
        dst[plane * n..(plane + 1) * n]
            .iter_mut()
            .zip(bytes.chunks_exact(width))
            .for_each(|(d, v)| *d = v[plane]);
    }
}

/// Undoes [`shuffle`]: `planes` (`width` planes of `out.len() / width` bytes) back into
/// little-endian values in `out`.
pub fn unshuffle(planes: &[u8], width: usize, out: &mut [u8]) -> Result<()> {
    if width == 0 || planes.len() != out.len() || out.len() % width != 0 {
        return Err(Error::corrupt(format!(
            "{} plane bytes cannot fill {} bytes of {width}-byte values",
            planes.len(),
            out.len()
        )));
    }
    let n = out.len() / width;
    for plane in 0..width {
        out.chunks_exact_mut(width)
            .zip(&planes[plane * n..(plane + 1) * n])
            .for_each(|(v, &b)| v[plane] = b);
    }
    Ok(())
}

/// A plane stream of `len` bytes must hold exactly `n` codes of `width` (1, 2 or 4) bytes.
pub(crate) fn check_planes(len: u64, width: u8, n: usize) -> Result<()> {
    if !matches!(width, 1 | 2 | 4) {
        return Err(Error::corrupt(format!(
            "code width {width} is not 1, 2 or 4"
        )));
    }
    if len != n as u64 * width as u64 {
        return Err(Error::corrupt(format!(
            "code stream holds {} bytes, expected {} ({} codes of {} bytes)",
            len,
            n as u64 * width as u64,
            n,
            width
        )));
    }
    Ok(())
}

/// Reads `codes.len()` codes of `width` bytes laid out as planes.
pub fn unpack(bytes: &[u8], width: u8, codes: &mut [u32]) -> Result<()> {
    let n = codes.len();
    check_planes(bytes.len() as u64, width, n)?;
    codes
        .iter_mut()
        .zip(&bytes[..n])
        .for_each(|(u, &b)| *u = b as u32);
    for plane in 1..width as usize {
        let shift = 8 * plane as u32;
        let p = &bytes[plane * n..(plane + 1) * n];
        codes
            .iter_mut()
            .zip(p)
            .for_each(|(u, &b)| *u |= (b as u32) << shift);
    }
    Ok(())
}

/// [`unpack`] into codes held as `f32` bits (`f32::from_bits(code)`): the decoder unpacks
/// into its output buffer and dequantizes in place, without a code buffer.
pub fn unpack_bits(bytes: &[u8], width: u8, out: &mut [f32]) -> Result<()> {
    let n = out.len();
    check_planes(bytes.len() as u64, width, n)?;
    out.iter_mut()
        .zip(&bytes[..n])
        .for_each(|(u, &b)| *u = f32::from_bits(b as u32));
    for plane in 1..width as usize {
        let shift = 8 * plane as u32;
        let p = &bytes[plane * n..(plane + 1) * n];
        out.iter_mut()
            .zip(p)
            .for_each(|(u, &b)| *u = f32::from_bits(u.to_bits() | (b as u32) << shift));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn planes_round_trip_and_layout() {
        let codes = [0x0102u32, 0x0304, 0x05];
        let mut out = Vec::new();
        pack(&codes, 2, &mut out);
        assert_eq!(out, vec![0x02, 0x04, 0x05, 0x01, 0x03, 0x00]);
        let mut back = [0u32; 3];
        unpack(&out, 2, &mut back).unwrap();
        assert_eq!(back, codes);
        assert!(unpack(&out[..5], 2, &mut back).is_err());
        assert_eq!(width_for(255), 1);
        assert_eq!(width_for(256), 2);
        assert_eq!(width_for(70000), 4);
    }
}
