//! The decoder: frame bytes → tensor. It needs nothing but the bytes; every size it allocates
//! is checked against the frame header, the limits and the bytes present first.

use crate::codec::payload;
use crate::error::{Error, ErrorKind, Result};
use crate::format::{self, DecodeLimits, FrameInfo};

/// A decoded tensor: C-contiguous values and their shape.
#[derive(Debug, Clone, PartialEq)]
pub struct Decoded {
    pub data: Vec<f32>,
    pub shape: Vec<usize>,
}

/// Decodes a frame with the default limits.
pub fn decompress(bytes: &[u8]) -> Result<Decoded> {
    decompress_with_limits(bytes, &DecodeLimits::default())
}

/// Decodes a frame, refusing frames that declare more than `limits.max_values` values.
pub fn decompress_with_limits(bytes: &[u8], limits: &DecodeLimits) -> Result<Decoded> {
    decompress_with_threads(bytes, limits, 1)
}

/// Like [`decompress_with_limits`], decoding the independent blocks of a large tensor's frame
/// (rank-1 model payloads of kind 2, see docs/FORMAT.md) on up to `threads` threads. The
/// result does not depend on `threads`.
pub fn decompress_with_threads(
    bytes: &[u8],
    limits: &DecodeLimits,
    threads: usize,
) -> Result<Decoded> {
    let info = format::open_frame(bytes, limits)?;
    // The size is already bounded by the limits and by the payload (entropy::check_sizes);
    // an allocation the system still cannot satisfy is an error, never an abort.
    let n = info.n_values as usize;
    let mut data = Vec::new();
    data.try_reserve_exact(n)
        .map_err(|_| Error::too_large(format!("cannot allocate {n} output values")))?;
    data.resize(n, 0f32);
    decode_checked(bytes, &info, &mut data, threads)?;
    Ok(Decoded {
        data,
        shape: info.shape,
    })
}

/// Decodes into a caller buffer of exactly the frame's value count (see [`format::peek`]).
pub fn decompress_into(bytes: &[u8], out: &mut [f32]) -> Result<FrameInfo> {
    decompress_into_with_threads(bytes, out, 1)
}

/// Like [`decompress_into`], decoding a large frame's independent blocks on up to `threads`
/// threads (as [`decompress_with_threads`]); the result does not depend on `threads`.
pub fn decompress_into_with_threads(
    bytes: &[u8],
    out: &mut [f32],
    threads: usize,
) -> Result<FrameInfo> {
    let info = format::open_frame(
        bytes,
        &DecodeLimits {
            max_values: u64::MAX,
        },
    )?;
    if out.len() as u64 != info.n_values {
        return Err(Error::new(
            if (out.len() as u64) < info.n_values {
                ErrorKind::BufferTooSmall
            } else {
                ErrorKind::InvalidArgument
            },
            format!(
                "the frame holds {} values, the output buffer {}",
                info.n_values,
                out.len()
            ),
        ));
    }
    decode_checked(bytes, &info, out, threads)?;
    Ok(info)
}

fn decode_checked(bytes: &[u8], info: &FrameInfo, out: &mut [f32], threads: usize) -> Result<()> {
    let params = format::decode_params(info, &bytes[info.params_range.0..info.params_range.1])?;
    let exceptions = format::decode_exceptions(
        info,
        &bytes[info.exceptions_range.0..info.exceptions_range.1],
    )?;
    let payload = &bytes[info.payload_offset..info.payload_offset + info.payload_len as usize];
    payload::decode(info, params.as_ref(), payload, out, threads)?;
    for (i, v) in exceptions {
        out[i] = v;
    }
    Ok(())
}
