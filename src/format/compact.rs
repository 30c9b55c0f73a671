//! Compact frame bodies, for containers that keep a frame's shape, element type and error
//! target in their own index (the archive, `src/archive/`). A compact body is a frame without
//! its magic, shape, target, redundant lengths and CRC: the container checksums it and supplies
//! the rest when the frame is rebuilt for the decoder. Two layouts (docs/FORMAT.md, "Archive"):
//! archive version 1 kept the frame version, backend, flags, mode and code width in 4 bytes and
//! the section lengths as varints; version 2 packs all but the frame version (held once by the
//! container) in one byte and finds the parameter section's end by reading it.

use super::{
    peek, put_varint, Reader, FLAG_EXCEPTIONS, FLAG_SHARED_QMIN, FRAME_OVERHEAD_MAX, MAGIC,
    MAX_RANK, MODE_ADAPTIVE, MODE_LOSSLESS,
};
use crate::error::{Error, Result};
use crate::util::shape::channel_count;

/// Which layout a compact body has.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum CompactLayout {
    /// Archive version 1: every field in the body.
    V1,
    /// Archive version 2: one head byte; the frame version and the tensor's (lossy) mode come
    /// from the container.
    V2 {
        /// Frame format version of every body.
        frame_version: u8,
        /// The tensor's mode id: a body not flagged lossless has this mode.
        mode: u8,
    },
}

/// Head byte of a version-2 body: backend id in bits 0–2, the frame's flags in bits 3–4.
const V2_FLAGS_SHIFT: u8 = 3;
/// Head byte: the body is a lossless frame (in a lossy tensor, a block the encoder stored
/// losslessly; in a lossless tensor always set).
const V2_LOSSLESS: u8 = 0x20;
/// Head byte: log2 of the code width in bits 6–7.
const V2_WIDTH_SHIFT: u8 = 6;

/// The version-2 compact body of a complete, valid `frame` written by this library's encoder
/// (format version `frame_version`, an error-bounded or lossless mode, nothing pruned) for a
/// tensor of mode `mode`: one head byte, the exception count and length when there are
/// exceptions, then the frame's parameter, exception and payload sections unchanged.
pub(crate) fn compact_body(frame: &[u8], frame_version: u8, mode: u8) -> Result<Vec<u8>> {
    let info = peek(frame)?;
    let p0 = info.params_range.0;
    let (e0, e1) = info.exceptions_range;
    let end = frame
        .len()
        .checked_sub(4)
        .filter(|&end| end >= p0 && info.frame_len == frame.len() as u64)
        .ok_or_else(|| Error::corrupt("compact_body needs one complete frame"))?;
    if info.n_pruned != 0 || info.mode.id() == MODE_ADAPTIVE {
        return Err(Error::invalid_argument(
            "compact bodies hold no adaptive-mode frames",
        ));
    }
    let backend = info.backend.id();
    let lossless = info.mode.id() == MODE_LOSSLESS;
    if info.format_version != frame_version
        || backend > 7
        || info.flags & !(FLAG_EXCEPTIONS | FLAG_SHARED_QMIN) != 0
        || !matches!(info.code_width, 1 | 2 | 4 | 8)
        || !(lossless || info.mode.id() == mode)
    {
        return Err(Error::invalid_argument(format!(
            "a version-{} frame of mode {} does not fit a compact body for version {frame_version}, mode {mode}",
            info.format_version,
            info.mode.id()
        )));
    }
    let mut out = Vec::with_capacity(24 + end - p0);
    out.push(
        backend
            | info.flags << V2_FLAGS_SHIFT
            | if lossless { V2_LOSSLESS } else { 0 }
            | (info.code_width.trailing_zeros() as u8) << V2_WIDTH_SHIFT,
    );
    if info.n_exceptions > 0 {
        put_varint(&mut out, info.n_exceptions);
        put_varint(&mut out, (e1 - e0) as u64);
    }
    out.extend_from_slice(&frame[p0..end]);
    Ok(out)
}

/// The archive-version-1 layout of any complete frame, pruned (adaptive-mode) ones too:
/// version, backend, flags, mode and code width in 4 bytes, the section lengths as varints,
/// then the frame's parameter, exception and payload sections unchanged. The body does not
/// keep the pruned count, which the decoder never reads (a frame rebuilt by
/// [`frame_from_body`] with [`CompactLayout::V1`] says 0), so this is for containers that only
/// decode their frames (the collective exchange's messages, `src/collective/message.rs`).
pub(crate) fn compact_body_of_any(frame: &[u8]) -> Result<Vec<u8>> {
    let info = peek(frame)?;
    let (p0, p1) = info.params_range;
    let (e0, e1) = info.exceptions_range;
    let end = frame
        .len()
        .checked_sub(4)
        .filter(|&end| end >= p0 && info.frame_len == frame.len() as u64)
        .ok_or_else(|| Error::corrupt("compact_body_of_any needs one complete frame"))?;
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

/// Header fields a compact body carries.
struct BodyHead {
    version: u8,
    mode: u8,
    backend: u8,
    flags: u8,
    code_width: u8,
    params_len: u64,
    n_exceptions: u64,
    exc_len: u64,
    /// Where the parameter section starts in the body.
    start: usize,
}

fn head_v1(body: &[u8]) -> Result<BodyHead> {
    let mut r = Reader::new(body, "compact frame");
    let head = r.take(4)?;
    let (version, backend, flags, mode, code_width) =
        (head[0], head[1], head[2], head[3] & 15, head[3] >> 4);
    let params_len = r.varint()?;
    let n_exceptions = r.varint()?;
    let exc_len = if n_exceptions > 0 { r.varint()? } else { 0 };
    Ok(BodyHead {
        version,
        mode,
        backend,
        flags,
        code_width,
        params_len,
        n_exceptions,
        exc_len,
        start: r.pos(),
    })
}

fn head_v2(body: &[u8], frame_version: u8, mode: u8, shape: &[usize]) -> Result<BodyHead> {
    let mut r = Reader::new(body, "compact frame");
    let head = r.u8()?;
    let flags = (head >> V2_FLAGS_SHIFT) & 3;
    let lossless = head & V2_LOSSLESS != 0;
    if !lossless && mode == MODE_LOSSLESS {
        return Err(Error::corrupt(
            "a lossless tensor's compact frame is not flagged lossless",
        ));
    }
    let (n_exceptions, exc_len) = if flags & FLAG_EXCEPTIONS != 0 {
        (r.varint()?, r.varint()?)
    } else {
        (0, 0)
    };
    let start = r.pos();
    // The parameters of a lossy frame: an f64 step, then one zigzag varint per channel (one in
    // all with the shared flag). Reading them gives their length; the decoder checks values.
    let params_len = if lossless {
        0
    } else {
        r.take(8)?;
        let codes = if flags & FLAG_SHARED_QMIN != 0 {
            1
        } else {
            channel_count(shape) as u64
        };
        // Each varint takes at least a byte: the loop ends with the body.
        for _ in 0..codes {
            r.varint()?;
        }
        (r.pos() - start) as u64
    };
    Ok(BodyHead {
        version: frame_version,
        mode: if lossless { MODE_LOSSLESS } else { mode },
        backend: head & 7,
        flags,
        code_width: 1 << (head >> V2_WIDTH_SHIFT),
        params_len,
        n_exceptions,
        exc_len,
        start,
    })
}

/// Rebuilds the frame of a compact `body` of `layout` for a tensor of `shape` with element
/// type `dtype` and error target `target`. Every length is checked against the body; the
/// frame decoder then checks the rest (the result is only a frame with a fresh CRC, so the
/// container must have verified the body's own checksum first).
pub(crate) fn frame_from_body(
    body: &[u8],
    layout: CompactLayout,
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
    let h = match layout {
        CompactLayout::V1 => head_v1(body)?,
        CompactLayout::V2 {
            frame_version,
            mode,
        } => head_v2(body, frame_version, mode, shape)?,
    };
    let remaining = (body.len() - h.start) as u64;
    let sections = h
        .params_len
        .checked_add(h.exc_len)
        .filter(|&s| s <= remaining && h.params_len <= u32::MAX as u64)
        .ok_or_else(|| Error::corrupt("compact frame sections exceed its body"))?;
    let payload_len = remaining - sections;
    let n_values = shape
        .iter()
        .try_fold(1u64, |n, &d| n.checked_mul(d as u64))
        .ok_or_else(|| Error::too_large("shape overflows 64 bits"))?;
    let raw_len = n_values
        .checked_mul(h.code_width as u64)
        .ok_or_else(|| Error::too_large("code stream size overflows"))?;
    let channels = u32::try_from(channel_count(shape))
        .map_err(|_| Error::corrupt("more than 2^32 - 1 channels"))?;
    let rest = &body[h.start..];
    let mut out = Vec::new();
    out.try_reserve_exact(FRAME_OVERHEAD_MAX + rest.len())
        .map_err(|_| Error::too_large("cannot allocate the frame"))?;
    out.extend_from_slice(&MAGIC);
    out.extend_from_slice(&[
        h.version,
        h.mode,
        h.backend,
        h.flags,
        dtype,
        shape.len() as u8,
        h.code_width,
        0,
    ]);
    out.extend_from_slice(&channels.to_le_bytes());
    for &d in shape {
        out.extend_from_slice(&(d as u64).to_le_bytes());
    }
    out.extend_from_slice(&target.to_le_bytes());
    out.extend_from_slice(&0u64.to_le_bytes()); // n_pruned
    out.extend_from_slice(&(h.params_len as u32).to_le_bytes());
    out.extend_from_slice(&h.n_exceptions.to_le_bytes());
    out.extend_from_slice(&h.exc_len.to_le_bytes());
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
    use crate::format::FORMAT_VERSION;
    use crate::{Encoder, EncoderConfig, Mode, NonFinitePolicy};

    #[test]
    fn a_frame_is_rebuilt_bit_for_bit_from_its_compact_body() {
        let mut x: Vec<f32> = (0..3000)
            .map(|i| ((i * 7919) % 1000) as f32 / 999.0 - 0.5)
            .collect();
        for with_nan in [false, true] {
            if with_nan {
                // Exceptions: the body then carries their count and length.
                x[17] = f32::NAN;
                x[2999] = f32::INFINITY;
            }
            for (mode, id) in [
                (Mode::RelativeL2(1e-2), 1),
                (Mode::MaxAbs(1e-3), 2),
                (Mode::Lossless, 3),
            ] {
                let config = EncoderConfig {
                    non_finite: NonFinitePolicy::Keep,
                    ..EncoderConfig::default()
                }
                .with_mode(mode);
                let enc = Encoder::new(config).unwrap();
                for shape in [[30usize, 100], [1, 3000], [3000, 1]] {
                    let frame = enc.compress(&x, &shape, None).unwrap().bytes;
                    let info = peek(&frame).unwrap();
                    // Lossy frames keep non-finite values as exceptions; lossless ones in place.
                    let exc = info.n_exceptions > 0;
                    assert_eq!(exc, with_nan && id != 3);
                    let body = compact_body(&frame, FORMAT_VERSION, id).unwrap();
                    // Of the frame's 16 + 8·rank + 52 + 4 header and CRC bytes, the body keeps
                    // one (plus 2 exception lengths when there are exceptions).
                    let kept = frame.len() - info.params_range.0 - 4;
                    assert_eq!(body.len(), kept + 1 + 2 * exc as usize, "{mode:?}");
                    let layout = CompactLayout::V2 {
                        frame_version: FORMAT_VERSION,
                        mode: id,
                    };
                    let back = frame_from_body(&body, layout, 1, &shape, info.target).unwrap();
                    assert_eq!(back, frame, "{mode:?} {shape:?}");
                    // A body cut short is refused here or by the decoder, never read past
                    // its end.
                    for cut in (0..body.len())
                        .step_by(body.len() / 40 + 1)
                        .chain([body.len() - 1])
                    {
                        let f = frame_from_body(&body[..cut], layout, 1, &shape, info.target);
                        assert!(
                            f.and_then(|f| crate::decompress(&f)).is_err(),
                            "{mode:?} cut {cut}"
                        );
                    }
                }
            }
        }
    }

    #[test]
    fn frames_that_do_not_fit_are_refused() {
        let x: Vec<f32> = (0..500).map(|i| (i as f32 * 0.1).sin()).collect();
        let enc = Encoder::new(EncoderConfig::default().with_mode(Mode::RelativeL2(1e-2))).unwrap();
        let frame = enc.compress(&x, &[500], None).unwrap().bytes;
        // Another frame version or a lossy mode other than the tensor's.
        assert!(compact_body(&frame, FORMAT_VERSION - 1, 1).is_err());
        assert!(compact_body(&frame, FORMAT_VERSION, 2).is_err());
        // Adaptive frames have no compact form.
        let adaptive = Encoder::new(EncoderConfig::default()).unwrap();
        let f = adaptive.compress(&x, &[500], None).unwrap().bytes;
        assert!(compact_body(&f, FORMAT_VERSION, 1).is_err());
    }
}
