//! Decode-and-accumulate: `out += scale · decode(frame)`, the reduction step of a compressed
//! reduce-scatter.

use crate::codec::decoder::DecodeOptions;
use crate::error::{Error, ErrorKind, Result};
use crate::format::FrameInfo;

/// Sums decoded frames into a caller buffer. Frames whose payload decodes straight to values
/// (the rank-1 model's, uniform codes: the usual lossy frame of a large tensor) are summed as
/// they decode, with no buffer; any other frame is decoded into one scratch buffer of the
/// output's size that the accumulator keeps and reuses (so summing `N` frames allocates
/// nothing after the first call) and added in one pass. Either way the sum is bit-identical to
/// decoding and then adding.
/// Not shared between threads while in use; may move between threads.
#[derive(Debug, Clone, Default)]
pub struct Accumulator {
    scratch: Vec<f32>,
    options: DecodeOptions,
}

impl Accumulator {
    /// An accumulator decoding on one thread.
    pub fn new() -> Self {
        Self::default()
    }

    /// An accumulator decoding large frames on `threads` threads (the result never depends on
    /// it; checked on use, 1..=[`crate::MAX_THREADS`]).
    pub fn with_threads(threads: usize) -> Self {
        Accumulator {
            scratch: Vec::new(),
            options: DecodeOptions::default().with_threads(threads),
        }
    }

    /// `out[i] += scale · decode(frame)[i]` (in f32, in index order). The frame must hold
    /// exactly `out.len()` values (`BufferTooSmall` when it holds more, `InvalidArgument` when
    /// fewer); `scale` must be finite. On error `out` is unchanged — except for a frame that
    /// passes its checksum but whose payload is malformed (crafted, not damaged in transit):
    /// then `out` may be partly summed. Returns the frame's header.
    pub fn accumulate(&mut self, frame: &[u8], scale: f32, out: &mut [f32]) -> Result<FrameInfo> {
        if !scale.is_finite() {
            return Err(Error::invalid_argument(format!(
                "scale must be finite, got {scale}"
            )));
        }
        let info = crate::format::peek(frame)?;
        if info.n_values != out.len() as u64 {
            return Err(Error::new(
                if info.n_values > out.len() as u64 {
                    ErrorKind::BufferTooSmall
                } else {
                    ErrorKind::InvalidArgument
                },
                format!(
                    "the frame holds {} values, the accumulator's output {}",
                    info.n_values,
                    out.len()
                ),
            ));
        }
        self.options
            .accumulate_into(frame, scale, out, &mut self.scratch)
    }
}
