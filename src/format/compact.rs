//! Compact frame bodies, for containers that keep a frame's shape, element type and error
//! target in their own index (the archive, `src/archive/`). A compact body is a frame without
//! its magic, shape, target, redundant lengths and CRC: the container checksums it and supplies
//! the rest when the frame is rebuilt for the decoder. Layout in docs/FORMAT.md ("Archive").

use super::{peek, put_varint, Reader, FRAME_OVERHEAD_MAX, MAGIC, MAX_RANK};
use crate::error::{Error, Result};
use crate::util::shape::channel_count;

/// The compact body of a complete, valid `frame` (as the encoder wrote it, in an error-bounded
/// or lossless mode: nothing pruned): version, backend, flags, mode and code width in 4 bytes,
/// the section lengths as varints,
/// then the frame's parameter, exception and payload sections unchanged.
pub(crate) fn compact_body(frame: &[u8]) -> Result<Vec<u8>> {
    if peek(frame)?.n_pruned != 0 {
        return Err(Error::invalid_argument(
            "compact bodies hold no pruned (adaptive-mode) frames",
        ));
    }
    compact_body_of_any(frame)
}

/// As [`compact_body`] for any frame, pruned ones too: the body does not keep the pruned
/// count, which the decoder never reads (a frame rebuilt by [`frame_from_body`] says 0), so
/// this is for containers that only decode their frames (the collective exchange's messages).
pub(crate) fn compact_body_of_any(frame: &[u8]) -> Result<Vec<u8>> {
    let info = peek(frame)?;
    let (p0, p1) = info.params_range;
    let (e0, e1) = info.exceptions_range;
    let end = frame
        .len()
        .checked_sub(4)
        .filter(|&end| end >= p0 && info.frame_len == frame.len() as u64)
        .ok_or_else(|| Error::corrupt("compact_body needs one complete frame"))?;
    let mut out = Vec::with_capacity(24 + end - p0);
    out.extend_from_slice(&[
        info.format_version,
        info.backend.id(),
        info.flags,
        info.mode.id() | (info.code_width << 4),
    ]);
    put_varint(&mut out, (p1 - p0) as u64);
    put_varint(&mut out, info.n_exceptions);
    if info.n_exceptions > 0 {
        put_varint(&mut out, (e1 - e0) as u64);
    }
    out.extend_from_slice(&frame[p0..end]);
    Ok(out)
}

/// Rebuilds the frame of a compact `body` for a tensor of `shape` with element type `dtype`
/// and error target `target`. Every length is checked against the body; the frame decoder
/// then checks the rest (the result is only a frame with a fresh CRC, so the container must
/// have verified the body's own checksum first).
pub(crate) fn frame_from_body(
    body: &[u8],
    dtype: u8,
    shape: &[usize],
    target: f64,
) -> Result<Vec<u8>> {
    if shape.len() > MAX_RANK {
        return Err(Error::corrupt(format!(
            "rank {} exceeds {MAX_RANK}",
            shape.len()
        )));
    }
    let mut r = Reader::new(body, "compact frame");
    let head = r.take(4)?;
    let (version, backend, flags, mode, code_width) =
        (head[0], head[1], head[2], head[3] & 15, head[3] >> 4);
    let params_len = r.varint()?;
    let n_exceptions = r.varint()?;
    let exc_len = if n_exceptions > 0 { r.varint()? } else { 0 };
    let sections = params_len
        .checked_add(exc_len)
        .filter(|&s| s <= r.remaining() as u64 && params_len <= u32::MAX as u64)
        .ok_or_else(|| Error::corrupt("compact frame sections exceed its body"))?;
    let payload_len = r.remaining() as u64 - sections;
    let n_values = shape
        .iter()
        .try_fold(1u64, |n, &d| n.checked_mul(d as u64))
        .ok_or_else(|| Error::too_large("shape overflows 64 bits"))?;
    let raw_len = n_values
        .checked_mul(code_width as u64)
        .ok_or_else(|| Error::too_large("code stream size overflows"))?;
    let channels = u32::try_from(channel_count(shape))
        .map_err(|_| Error::corrupt("more than 2^32 - 1 channels"))?;
    let rest = &body[r.pos()..];
    let mut out = Vec::new();
    out.try_reserve_exact(FRAME_OVERHEAD_MAX + rest.len())
        .map_err(|_| Error::too_large("cannot allocate the frame"))?;
    out.extend_from_slice(&MAGIC);
    out.extend_from_slice(&[
        version,
        mode,
        backend,
        flags,
        dtype,
        shape.len() as u8,
        code_width,
        0,
    ]);
    out.extend_from_slice(&channels.to_le_bytes());
    for &d in shape {
        out.extend_from_slice(&(d as u64).to_le_bytes());
    }
    out.extend_from_slice(&target.to_le_bytes());
    out.extend_from_slice(&0u64.to_le_bytes()); // n_pruned
    out.extend_from_slice(&(params_len as u32).to_le_bytes());
    out.extend_from_slice(&n_exceptions.to_le_bytes());
    out.extend_from_slice(&exc_len.to_le_bytes());
    out.extend_from_slice(&raw_len.to_le_bytes());
    out.extend_from_slice(&payload_len.to_le_bytes());
    out.extend_from_slice(rest);
    let crc = crc32fast::hash(&out);
    out.extend_from_slice(&crc.to_le_bytes());
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Encoder, EncoderConfig, Mode};

    #[test]
    fn a_frame_is_rebuilt_bit_for_bit_from_its_compact_body() {
        let x: Vec<f32> = (0..3000)
            .map(|i| ((i * 7919) % 1000) as f32 / 999.0 - 0.5)
            .collect();
        for mode in [Mode::RelativeL2(1e-2), Mode::MaxAbs(1e-3), Mode::Lossless] {
            let enc = Encoder::new(EncoderConfig::default().with_mode(mode)).unwrap();
            let frame = enc.compress(&x, &[30, 100], None).unwrap().bytes;
            let info = peek(&frame).unwrap();
            let body = compact_body(&frame).unwrap();
            // Magic, shape, target, 7 lengths and the CRC are gone: 72 + 16 bytes, less 5-7.
            assert!(body.len() + 80 <= frame.len(), "{mode:?}");
            let back = frame_from_body(&body, 1, &[30, 100], info.target).unwrap();
            assert_eq!(back, frame, "{mode:?}");
            // A body cut short is refused here or by the decoder, never read past its end.
            for cut in (0..body.len())
                .step_by(body.len() / 40 + 1)
                .chain([body.len() - 1])
            {
                let f = frame_from_body(&body[..cut], 1, &[30, 100], info.target);
                assert!(
                    f.and_then(|f| crate::decompress(&f)).is_err(),
                    "{mode:?} cut {cut}"
                );
            }
        }
    }
}
