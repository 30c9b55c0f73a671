//! The exchange's messages: a codec frame without what both ends of an exchange already know.
//!
//! Every rank builds the same [`super::ShardedExchange`] (shape, rank count, layout), so the
//! receiver knows each shard's shape and that its values are float32; the error target and the
//! pruned count are informational (the decoder reads neither). A message is therefore the
//! frame's compact body (`src/format/compact.rs`, the archive's block layout) behind its own
//! length and value count and ahead of a CRC-32: about 15 bytes of framing instead of the
//! frame's 88 for a matrix shard, which is a large part of a small shard's bytes. Layout
//! (docs/FORMAT.md, "Exchange messages"):
//!
//! ```text
//! varint  L        bytes that follow: messages concatenate and split again
//! varint  n        the shard's value count (a message for another shard is refused)
//! body             compact body: version, backend, flags, mode | code width << 4, section
//!                  lengths as varints, then the frame's parameter, exception, payload sections
//! u32 LE  CRC-32   of n and the body
//! ```

use crate::error::{Error, ErrorKind, Result};
use crate::format::compact::{compact_body_of_any, frame_from_body, CompactLayout};
use crate::format::{put_varint, Dtype, Reader};

/// The message of a complete `frame` written by the encoder.
pub(crate) fn message_of_frame(frame: &[u8]) -> Result<Vec<u8>> {
    let n_values = crate::format::peek(frame)?.n_values;
    let mut covered = Vec::with_capacity(frame.len());
    put_varint(&mut covered, n_values);
    covered.extend_from_slice(&compact_body_of_any(frame)?);
    let mut out = Vec::with_capacity(covered.len() + 14);
    put_varint(&mut out, covered.len() as u64 + 4);
    out.extend_from_slice(&covered);
    out.extend_from_slice(&crc32fast::hash(&covered).to_le_bytes());
    Ok(out)
}

/// The length of the message at the start of `bytes` (its length prefix included): the
/// caller splits a buffer of concatenated messages with it. `Truncated` when `bytes` holds
/// less than the message declares, `Corrupt` for a bad length prefix.
pub fn message_len(bytes: &[u8]) -> Result<usize> {
    let mut r = Reader::new(bytes, "exchange message");
    let declared = r.varint()?;
    if declared < 8 {
        return Err(Error::corrupt(format!(
            "an exchange message declares {declared} bytes, fewer than its fixed fields"
        )));
    }
    let total = (r.pos() as u64)
        .checked_add(declared)
        .filter(|&t| t <= usize::MAX as u64)
        .ok_or_else(|| Error::corrupt("exchange message length overflows"))?;
    if total > bytes.len() as u64 {
        return Err(Error::truncated(format!(
            "the exchange message is {total} bytes but only {} are present",
            bytes.len()
        )));
    }
    Ok(total as usize)
}

/// The frame of `message` (exactly one message, nothing after it) for a float32 shard of
/// `shape`, ready for the decoder. `Checksum` when the CRC does not match; the decoder checks
/// the rest of the rebuilt frame.
pub(crate) fn frame_of_message(message: &[u8], shape: &[usize]) -> Result<Vec<u8>> {
    let total = message_len(message)?;
    if total != message.len() {
        return Err(Error::corrupt(format!(
            "{} bytes after the {total}-byte exchange message",
            message.len() - total
        )));
    }
    let mut r = Reader::new(message, "exchange message");
    r.varint()?; // the length, checked by message_len
    let covered = &message[r.pos()..total - 4];
    let crc = &message[total - 4..];
    let stored = u32::from_le_bytes([crc[0], crc[1], crc[2], crc[3]]);
    let actual = crc32fast::hash(covered);
    if stored != actual {
        return Err(Error::new(
            ErrorKind::Checksum,
            format!("exchange message checksum mismatch: {stored:#010x} stored, {actual:#010x} computed"),
        ));
    }
    let mut r = Reader::new(covered, "exchange message");
    let n_values = r.varint()?;
    let expected = shape.iter().try_fold(1u64, |n, &d| n.checked_mul(d as u64));
    if expected != Some(n_values) {
        // As the decoder reports a frame against a caller's buffer.
        let kind = match expected {
            Some(e) if n_values > e => ErrorKind::BufferTooSmall,
            _ => ErrorKind::InvalidArgument,
        };
        return Err(Error::new(
            kind,
            format!(
                "the exchange message holds {n_values} values, its shard of shape {shape:?} {}",
                expected.map_or("overflows".to_string(), |e| e.to_string())
            ),
        ));
    }
    frame_from_body(
        &covered[r.pos()..],
        CompactLayout::V1,
        Dtype::F32.id(),
        shape,
        0.0,
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{decompress, Encoder, EncoderConfig, Mode};

    fn values(n: usize) -> Vec<f32> {
        // A deterministic, gradient-like mix of small and larger values.
        (0..n)
            .map(|i| {
                let t = ((i * 7919) % 1009) as f32 / 1008.0 - 0.5;
                t * t * t * 4.0
            })
            .collect()
    }

    #[test]
    fn a_message_decodes_to_the_frames_values_and_is_much_smaller() {
        let x = values(64 * 40);
        let modes = [
            EncoderConfig::default().with_mode(Mode::RelativeL2(0.4)),
            EncoderConfig::default().with_mode(Mode::MaxAbs(1e-3)),
            EncoderConfig::default().with_mode(Mode::Lossless),
            // Adaptive with pruning: a frame with a pruned count, which compact_body refuses.
            EncoderConfig::default(),
        ];
        for cfg in modes {
            let frame = Encoder::new(cfg.clone())
                .unwrap()
                .compress(&x, &[64, 40], None)
                .unwrap()
                .bytes;
            let msg = message_of_frame(&frame).unwrap();
            // 16 fixed + 16 shape + 52 lengths + 4 CRC = 88 bytes of frame framing; a message
            // keeps a length, the value count, 4 bytes of ids, up to 3 varints and its CRC.
            assert!(msg.len() + 65 <= frame.len(), "{cfg:?}");
            assert_eq!(message_len(&msg).unwrap(), msg.len());
            let back = frame_of_message(&msg, &[64, 40]).unwrap();
            assert_eq!(
                decompress(&back).unwrap().data,
                decompress(&frame).unwrap().data
            );
        }
    }

    #[test]
    fn damaged_or_misframed_messages_are_errors() {
        let x = values(2000);
        let enc = Encoder::new(EncoderConfig::default().with_mode(Mode::RelativeL2(0.1))).unwrap();
        let msg = message_of_frame(&enc.compress(&x, &[2000], None).unwrap().bytes).unwrap();
        // Every byte flipped somewhere: the CRC or the length check catches it.
        for i in 0..msg.len() {
            let mut m = msg.clone();
            m[i] ^= 0x41;
            assert!(frame_of_message(&m, &[2000])
                .and_then(|f| decompress(&f))
                .is_err());
        }
        // Cut short, or followed by more bytes.
        assert_eq!(
            message_len(&msg[..msg.len() - 1]).unwrap_err().kind(),
            ErrorKind::Truncated
        );
        let mut two = msg.clone();
        two.extend_from_slice(&msg);
        assert_eq!(message_len(&two).unwrap(), msg.len());
        assert!(frame_of_message(&two, &[2000]).is_err());
        // A message for a shard of another size is refused before decoding.
        let kind = |n: usize| frame_of_message(&msg, &[n]).unwrap_err().kind();
        assert_eq!(kind(1999), ErrorKind::BufferTooSmall);
        assert_eq!(kind(2001), ErrorKind::InvalidArgument);
        assert!(message_len(&[]).is_err());
        assert!(message_len(&[3, 0, 0, 0]).is_err());
    }
}
