//! Unsigned LEB128 varints: seven bits a byte, low bits first, the top bit set on every byte
//! but the last. The frame's parameter sections, the archive index, exchange messages and the
//! lossless float layouts all write them with [`put`]; readers that take any 64-bit value
//! share [`read`] (the float layouts' table counts have stricter rules of their own).

use crate::error::Result;

/// Appends `v` to `out`.
pub(crate) fn put(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push(v as u8 | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

/// Reads one varint, its bytes from `next`: `Ok(None)` when it does not fit in 64 bits (more
/// than 10 bytes, or a tenth byte above 1), so each caller names the error in its own terms.
pub(crate) fn read(mut next: impl FnMut() -> Result<u8>) -> Result<Option<u64>> {
    let mut v = 0u64;
    for k in 0..10 {
        let b = next()?;
        if k == 9 && b > 1 {
            break;
        }
        v |= ((b & 0x7F) as u64) << (7 * k);
        if b & 0x80 == 0 {
            return Ok(Some(v));
        }
    }
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hand_checked_bytes_and_limits() {
        // 300 = 0b10_0101100: 0xAC (low seven bits, continued), then 0x02.
        let mut out = vec![];
        put(&mut out, 0);
        put(&mut out, 127);
        put(&mut out, 300);
        put(&mut out, u64::MAX);
        assert_eq!(&out[..4], &[0x00, 0x7F, 0xAC, 0x02]);
        assert_eq!(
            &out[4..],
            &[0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x01]
        );
        let mut it = out.iter().copied();
        let mut next = || Ok(it.next().unwrap());
        for want in [0, 127, 300, u64::MAX] {
            assert_eq!(read(&mut next).unwrap(), Some(want));
        }
        // A tenth byte of 2 would need bit 64; eleven continued bytes never end.
        let long = [0xFFu8, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x02];
        let mut it = long.iter().copied();
        assert_eq!(read(|| Ok(it.next().unwrap())).unwrap(), None);
        let mut it = std::iter::repeat(0x80u8);
        assert_eq!(read(|| Ok(it.next().unwrap())).unwrap(), None);
    }
}
