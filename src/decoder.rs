//! The decoder: frame bytes → tensor. It needs nothing but the bytes; every size it allocates
//! is checked against the frame header, the limits and the bytes present first.

use crate::backend;
use crate::error::{Error, ErrorKind, Result};
use crate::format::{self, DecodeLimits, FrameInfo};
use crate::pack;
use crate::quant;

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
    // The size is already bounded by the limits and by the payload (backend::check_sizes);
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
    // --- backend 3 (rank-1 parametric model): decodes straight to values (dequantisation
    // fused into the decode loop), see rans_model.rs ---
    if info.backend == backend::BACKEND_RANS_MODEL {
        // Version-1 writers produced kinds 1–2 only: a later kind in a version-1 frame was
        // altered, not written by a newer library (the payload decoder itself is versionless).
        if info.format_version < 2
            && payload
                .first()
                .is_some_and(|&k| k >= crate::rans_model::KIND_SHAPED)
        {
            return Err(Error::corrupt(format!(
                "rANS-model payload kind {} in a version-1 frame",
                payload[0]
            )));
        }
        // Likewise kind 5 (independent lane streams) came with version 3.
        if info.format_version < 3
            && payload
                .first()
                .is_some_and(|&k| k >= crate::rans_model::KIND_LANES_BLOCKS)
        {
            return Err(Error::corrupt(format!(
                "rANS-model payload kind {} in a version-{} frame",
                payload[0], info.format_version
            )));
        }
        match &params {
            Some(quant::ChannelParams::Uniform { qmin, step }) if !out.is_empty() => {
                crate::rans_model::decode_values(
                    payload,
                    qmin,
                    *step,
                    info.code_width,
                    out,
                    threads,
                )?
            }
            // Adaptive frames: codes relative to each channel's zero code (decoded into `out`
            // as f32 bits), then the usual range dequantization in place.
            Some(p @ quant::ChannelParams::Range { .. }) if !out.is_empty() => {
                let qmin = crate::rans_model::frame_qmin(p, info.code_width);
                crate::rans_model::decode_code_bits(payload, &qmin, info.code_width, out, threads)?;
                dequantize_bits(p, info.code_width, false, out);
            }
            _ => {
                return Err(Error::corrupt(
                    "rANS-model backend in a frame without quantized codes",
                ))
            }
        }
        for (i, v) in exceptions {
            out[i] = v;
        }
        return Ok(());
    }
    // The codes are decoded into `out` itself, each held as f32 bits, and dequantized in
    // place: no code buffer, and for rANS (planes = code bytes) and store no byte buffer.
    backend::check_sizes(info.backend, payload.len() as u64, info.raw_len)?;
    pack::check_planes(info.raw_len, info.code_width, out.len())?;
    match info.backend {
        backend::BACKEND_RANS => crate::rans::decode_code_bits(payload, info.code_width, out)?,
        backend::BACKEND_STORE => pack::unpack_bits(payload, info.code_width, out)?,
        _ => pack::unpack_bits(
            &backend::decode(info.backend, payload, info.raw_len as usize)?,
            info.code_width,
            out,
        )?,
    }
    if let Some(p) = &params {
        dequantize_bits(
            p,
            info.code_width,
            info.backend == backend::BACKEND_RANS,
            out,
        );
    }
    for (i, v) in exceptions {
        out[i] = v;
    }
    Ok(())
}

/// Replaces the codes held as f32 bits in `out` (`f32::from_bits(code)`) by their values:
/// `rans::fold_codes` undone first when `unfold` (backend 2), then `quant::dequantize` — the
/// same arithmetic, fused into one pass over the buffer.
fn dequantize_bits(p: &quant::ChannelParams, width: u8, unfold: bool, out: &mut [f32]) {
    let channels = p.channels();
    if channels == 0 || out.len() % channels != 0 || out.len() < channels {
        // Not produced by `format::open_frame` (the channel count comes from the shape); kept
        // exact with the two separate passes and a code buffer.
        let mut codes: Vec<u32> = out.iter().map(|v| v.to_bits()).collect();
        if unfold {
            crate::rans::fold_codes(p, width, &mut codes, false);
        }
        out.fill(0.0);
        quant::dequantize(p, &codes, out);
        return;
    }
    let per = out.len() / channels;
    let r_max: u32 = if width >= 4 {
        u32::MAX
    } else {
        (1u32 << (8 * width as u32)) - 1
    };
    let zeros = if unfold {
        crate::rans::zero_codes(p, width)
    } else {
        vec![0; channels]
    };
    for (c, (oc, &z)) in out.chunks_exact_mut(per).zip(&zeros).enumerate() {
        let m = z.min(r_max - z);
        let up = z < r_max - z;
        let identity = !unfold || (m == 0 && z == 0);
        let code = |v: f32| {
            let s = v.to_bits();
            if identity {
                s
            } else {
                crate::rans::unfold_branchless(s.min(r_max), z, m, up)
            }
        };
        let (base, step) = p.affine(c);
        match p {
            // As `quant::dequantize`: uniform codes are exact integers q = qmin + u.
            quant::ChannelParams::Uniform { qmin, .. } => {
                let q0 = qmin[c];
                oc.iter_mut()
                    .for_each(|o| *o = ((q0 + code(*o) as i64) as f64 * step) as f32);
            }
            quant::ChannelParams::Range { .. } => {
                let mx = f32::MAX as f64;
                oc.iter_mut()
                    .for_each(|o| *o = (base + code(*o) as f64 * step).clamp(-mx, mx) as f32);
            }
        }
    }
}
