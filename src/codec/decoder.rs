//! The decoder: frame bytes → tensor. It needs nothing but the bytes; every size it allocates
//! is checked against the frame header, the limits and the bytes present first.

use crate::codec::config::MAX_THREADS;
use crate::codec::payload;
use crate::error::{Error, ErrorKind, Result};
use crate::format::{self, DecodeLimits, FrameInfo};

/// A decoded tensor: C-contiguous values and their shape.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct Decoded {
    /// The values, C order.
    pub data: Vec<f32>,
    /// The shape the frame records.
    pub shape: Vec<usize>,
}

/// How to decode a frame: the size limit a frame must stay under before anything is
/// allocated, and the threads a large frame's independent blocks may be decoded on. The result
/// never depends on the thread count.
///
/// ```
/// # let frame = alcm::Encoder::new(alcm::EncoderConfig::default())?.compress(&[1.0; 8], &[8], None)?.bytes;
/// let decoded = alcm::DecodeOptions::default().with_threads(2).decompress(&frame)?;
/// assert_eq!(decoded.shape, [8]);
/// # Ok::<(), alcm::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct DecodeOptions {
    /// Largest number of values a frame may declare (default 2^32); a frame declaring more is
    /// refused with [`ErrorKind::TooLarge`] before any allocation. Not used by
    /// [`DecodeOptions::decompress_into`], where the caller's buffer is the bound.
    pub max_values: u64,
    /// Threads (1..=[`MAX_THREADS`]) the independent blocks of a large frame are decoded on.
    pub threads: usize,
}

impl Default for DecodeOptions {
    fn default() -> Self {
        DecodeOptions {
            max_values: format::DEFAULT_MAX_VALUES,
            threads: 1,
        }
    }
}

crate::util::with_setters!(DecodeOptions {
    max_values: u64 => with_max_values,
    threads: usize => with_threads,
});

/// Decodes a frame with the default [`DecodeOptions`].
pub fn decompress(bytes: &[u8]) -> Result<Decoded> {
    DecodeOptions::default().decompress(bytes)
}

/// Decodes a frame with the default [`DecodeOptions`] into an n-dimensional array of the
/// frame's shape.
pub fn decompress_array(bytes: &[u8]) -> Result<ndarray::ArrayD<f32>> {
    DecodeOptions::default().decompress_array(bytes)
}

impl DecodeOptions {
    /// Decodes a frame into a new buffer.
    pub fn decompress(&self, bytes: &[u8]) -> Result<Decoded> {
        if (2..=MAX_THREADS).contains(&self.threads) {
            if let Some(d) = self.decompress_threaded(bytes)? {
                return Ok(d);
            }
        }
        let info = format::open_frame(
            bytes,
            &DecodeLimits {
                max_values: self.max_values,
            },
        )?;
        require_f32(&info)?;
        // The size is already bounded by the limits and by the payload (entropy::check_sizes);
        // an allocation the system still cannot satisfy is an error, never an abort.
        let n = info.n_values as usize;
        let mut data = Vec::new();
        data.try_reserve_exact(n)
            .map_err(|_| Error::too_large(format!("cannot allocate {n} output values")))?;
        data.resize(n, 0f32);
        decode_checked(bytes, &info, &mut data, self.threads)?;
        Ok(Decoded {
            data,
            shape: info.shape,
        })
    }

    /// [`decompress`](Self::decompress) of a large model frame on several threads (`None`
    /// for any other frame): the output's zeroing and the checksum, each a pass on the calling
    /// thread before the decode's parallel one (about 4 % of a 2-thread decode of 1 M values),
    /// are split over the threads in one pass, whose worker then decodes its blocks. The
    /// checksum is still verified before the payload is read.
    fn decompress_threaded(&self, bytes: &[u8]) -> Result<Option<Decoded>> {
        let limits = DecodeLimits {
            max_values: self.max_values,
        };
        let info = format::open_frame_unverified(bytes, &limits)?;
        let n = info.n_values as usize;
        // Anything else, and any error after the header's, is the one-thread path's (which
        // reports a bad checksum first).
        let model = info.backend == crate::entropy::Backend::RansModel;
        if !model || n < THREADED_MIN_VALUES || require_f32(&info).is_err() {
            return Ok(None);
        }
        // The call's passes share one worker (util/pool.rs), joined when it returns.
        let _workers = crate::util::pool::Scope::enter(self.threads);
        let mut data = Vec::new();
        data.try_reserve_exact(n)
            .map_err(|_| Error::too_large(format!("cannot allocate {n} output values")))?;
        // One chunk per thread (contiguous halves on two, as the decode's blocks are split),
        // each with its share of the checksummed bytes.
        let body = format::checksummed(bytes);
        let chunk = n.div_ceil(self.threads);
        let pieces = n.div_ceil(chunk);
        let crcs = crate::util::par::map_new_chunks_in(
            self.threads,
            &mut data,
            n,
            chunk,
            |k, _: &mut [f32]| {
                let at = |k: usize| (body.len() / pieces) * k;
                let end = if k + 1 == pieces {
                    body.len()
                } else {
                    at(k + 1)
                };
                let mut h = crc32fast::Hasher::new();
                h.update(&body[at(k)..end]);
                h
            },
        );
        let mut crc = crc32fast::Hasher::new();
        for h in &crcs {
            crc.combine(h);
        }
        format::verify_checksum(bytes, crc.finalize())?;
        decode_checked(bytes, &info, &mut data, self.threads)?;
        Ok(Some(Decoded {
            data,
            shape: info.shape,
        }))
    }

    /// Decodes a frame into an n-dimensional array of the frame's shape.
    pub fn decompress_array(&self, bytes: &[u8]) -> Result<ndarray::ArrayD<f32>> {
        let d = self.decompress(bytes)?;
        ndarray::ArrayD::from_shape_vec(ndarray::IxDyn(&d.shape), d.data)
            .map_err(|e| Error::corrupt(format!("decoded values do not fit the shape: {e}")))
    }

    /// Decodes a frame into a caller buffer of exactly the frame's value count ([`crate::peek`]
    /// gives it); returns the frame's header. A smaller buffer is
    /// [`ErrorKind::BufferTooSmall`], a larger one [`ErrorKind::InvalidArgument`]; on error the
    /// buffer's content is unspecified.
    pub fn decompress_into(&self, bytes: &[u8], out: &mut [f32]) -> Result<FrameInfo> {
        let info = format::open_frame(
            bytes,
            &DecodeLimits {
                max_values: u64::MAX,
            },
        )?;
        require_f32(&info)?;
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
        decode_checked(bytes, &info, out, self.threads)?;
        Ok(info)
    }
}

/// Frames of fewer values than this are decoded by [`DecodeOptions::decompress`]'s one-thread
/// preparation: below 2^19 values a model payload has one or two blocks (`rows_per_block`),
/// and a worker started for the zeroing as well cost more than it saved (tried from 2^17 in
/// session 23: the 147 456-value weights' 2-thread decode was no faster and the compressions
/// between the decodes slower, 1.22× → 0.93× one thread, in `thread_scaling`).
const THREADED_MIN_VALUES: usize = 1 << 19;

impl DecodeOptions {
    /// `out[i] += scale · decode(bytes)[i]` (f32 product, then f32 sum, in index order: the
    /// arithmetic of decoding and then adding) for a frame of exactly `out.len()` values
    /// (checked by the caller). Model payloads of uniform codes are summed as they decode, with
    /// no buffer of decoded values; any other frame is decoded into `scratch` (resized to
    /// `out.len()`, bounded by the caller's buffer) and then added. A frame with a bad checksum
    /// or header leaves `out` unchanged; a frame that passes its checksum but whose payload is
    /// malformed (crafted, not damaged) may leave it partly summed.
    pub(crate) fn accumulate_into(
        &self,
        bytes: &[u8],
        scale: f32,
        out: &mut [f32],
        scratch: &mut Vec<f32>,
    ) -> Result<FrameInfo> {
        let info = format::open_frame(
            bytes,
            &DecodeLimits {
                max_values: u64::MAX,
            },
        )?;
        require_f32(&info)?;
        if out.len() as u64 != info.n_values {
            return Err(Error::invalid_argument(format!(
                "the frame holds {} values, the output buffer {}",
                info.n_values,
                out.len()
            )));
        }
        check_threads(self.threads)?;
        let params =
            format::decode_params(&info, &bytes[info.params_range.0..info.params_range.1])?;
        let exceptions = format::decode_exceptions(
            &info,
            &bytes[info.exceptions_range.0..info.exceptions_range.1],
        )?;
        let payload = &bytes[info.payload_offset..info.payload_offset + info.payload_len as usize];
        // The sum before this frame at each verbatim value's index: there the frame's value is
        // the verbatim one, not the payload's.
        let before: Vec<f32> = exceptions.iter().map(|&(i, _)| out[i]).collect();
        if payload::accumulate(&info, params.as_ref(), payload, scale, out, self.threads)? {
            for (&(i, v), &o) in exceptions.iter().zip(&before) {
                out[i] = o + scale * v;
            }
            return Ok(info);
        }
        if scratch.len() != out.len() {
            scratch.clear();
            scratch
                .try_reserve_exact(out.len())
                .map_err(|_| Error::too_large("cannot allocate the accumulator's scratch"))?;
            scratch.resize(out.len(), 0.0);
        }
        payload::decode(&info, params.as_ref(), payload, scratch, self.threads)?;
        for (i, v) in exceptions {
            scratch[i] = v;
        }
        for (o, &v) in out.iter_mut().zip(scratch.iter()) {
            *o += scale * v;
        }
        Ok(info)
    }
}

fn check_threads(threads: usize) -> Result<()> {
    if !(1..=MAX_THREADS).contains(&threads) {
        return Err(Error::invalid_argument(format!(
            "threads must be in 1..={MAX_THREADS}, got {threads}"
        )));
    }
    Ok(())
}

/// The float32 API decodes float32 frames only (the typed one, `codec/typed.rs`, decodes all).
fn require_f32(info: &FrameInfo) -> Result<()> {
    if info.element_type() != crate::format::Dtype::F32 {
        return Err(Error::invalid_argument(format!(
            "the frame holds {} values: decode it with decompress_bytes / decompress_typed",
            info.element_type()
        )));
    }
    Ok(())
}

pub(super) fn decode_checked(
    bytes: &[u8],
    info: &FrameInfo,
    out: &mut [f32],
    threads: usize,
) -> Result<()> {
    check_threads(threads)?;
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
