//! The per-channel quantization parameters a frame carries (range or uniform), their byte
//! encoding, and the verbatim values (exceptions) section.

use super::*;

/// Per-channel quantization parameters.
#[derive(Debug, Clone, PartialEq)]
pub enum ChannelParams {
    /// Adaptive mode: per channel minimum and step (both f32 as stored in the frame).
    Range {
        /// Per channel: the value of code 0.
        lo: Vec<f32>,
        /// Per channel: the value step between consecutive codes.
        step: Vec<f32>,
    },
    /// Error-bounded modes: one step for all channels and each channel's smallest code.
    Uniform {
        /// The tensor's one step.
        step: f64,
        /// Per channel: the smallest code, so that `q = qmin + u`.
        qmin: Vec<i64>,
    },
}

impl ChannelParams {
    /// Number of channels.
    pub fn channels(&self) -> usize {
        match self {
            ChannelParams::Range { lo, .. } => lo.len(),
            ChannelParams::Uniform { qmin, .. } => qmin.len(),
        }
    }

    /// `(base, step)` of channel `c` in f64: `x̂ = (base + u·step) as f32`.
    #[inline]
    pub(crate) fn affine(&self, c: usize) -> (f64, f64) {
        match self {
            ChannelParams::Range { lo, step } => (lo[c] as f64, step[c] as f64),
            ChannelParams::Uniform { step, qmin } => (qmin[c] as f64 * step, *step),
        }
    }
}

/// parameters of ≥ 2 channels that all have the same `qmin`.
pub fn shares_qmin(p: &ChannelParams) -> bool {
    match p {
        ChannelParams::Uniform { qmin, .. } => {
            qmin.len() >= 2 && qmin.iter().all(|&q| q == qmin[0])
        }
        ChannelParams::Range { .. } => false,
    }
}

/// Serializes the per-channel parameters of a frame (uniform ones in the shared form when
/// [`shares_qmin`]).
pub fn encode_params(p: &ChannelParams) -> Vec<u8> {
    let shared = shares_qmin(p);
    let mut out = Vec::new();
    match p {
        ChannelParams::Range { lo, step } => {
            for (l, s) in lo.iter().zip(step) {
                out.extend_from_slice(&l.to_le_bytes());
                out.extend_from_slice(&s.to_le_bytes());
            }
        }
        ChannelParams::Uniform { step, qmin } => {
            out.extend_from_slice(&step.to_le_bytes());
            for &q in if shared { &qmin[..1] } else { &qmin[..] } {
                put_varint(&mut out, zigzag(q));
            }
        }
    }
    out
}

/// Largest |code| of a uniform frame: integers beyond 2^53 are not exact in f64.
const MAX_UNIFORM_CODE: i64 = 1 << 53;

pub(crate) fn decode_params(info: &FrameInfo, bytes: &[u8]) -> Result<Option<ChannelParams>> {
    let c = info.n_channels as usize;
    let mut r = Reader::new(bytes, "channel parameters");
    let params = match info.mode.id() {
        MODE_LOSSLESS => None,
        MODE_ADAPTIVE => {
            if bytes.len() != c * 8 {
                return Err(Error::corrupt(format!(
                    "channel table is {} bytes, {c} channels need {}",
                    bytes.len(),
                    c * 8
                )));
            }
            let (mut lo, mut step) = (Vec::with_capacity(c), Vec::with_capacity(c));
            for i in 0..c {
                let (l, s) = (r.f32()?, r.f32()?);
                if !l.is_finite() || !s.is_finite() || s < 0.0 {
                    return Err(Error::corrupt(format!(
                        "channel {i}: invalid range parameters lo={l} step={s}"
                    )));
                }
                lo.push(l);
                step.push(s);
            }
            Some(ChannelParams::Range { lo, step })
        }
        _ => {
            let step = r.f64()?;
            if !(step.is_finite() && step > 0.0) {
                return Err(Error::corrupt(format!("invalid quantization step {step}")));
            }
            // Each varint takes at least one byte: the count is bounded by the section size (the
            // shared form allocates `c` ≤ the frame's value count, itself bounded by
            // `entropy::check_sizes` and the decode limits).
            let shared = info.flags & FLAG_SHARED_QMIN != 0;
            let stored = if shared { 1 } else { c };
            if shared && (c < 2 || c as u64 > info.n_values) {
                return Err(Error::corrupt(format!(
                    "shared code offset for {c} channels of {} values",
                    info.n_values
                )));
            }
            if stored > r.remaining() {
                return Err(Error::truncated(format!(
                    "channel table too short for {c} channels"
                )));
            }
            let mut qmin = Vec::with_capacity(c);
            for i in 0..stored {
                let q = unzigzag(r.varint()?);
                // unsigned_abs: a varint of 2^64 - 1 unzigzags to i64::MIN, whose abs() overflows.
                if q.unsigned_abs() > MAX_UNIFORM_CODE.unsigned_abs() {
                    return Err(Error::corrupt(format!(
                        "channel {i}: code offset {q} out of range"
                    )));
                }
                qmin.push(q);
            }
            if shared {
                qmin.resize(c, qmin[0]);
            }
            if r.remaining() != 0 {
                return Err(Error::corrupt("trailing bytes in the channel table"));
            }
            Some(ChannelParams::Uniform { step, qmin })
        }
    };
    Ok(params)
}

pub(super) fn encode_exceptions(exc: &[(u64, f32)]) -> Vec<u8> {
    let mut out = Vec::with_capacity(exc.len() * 6);
    let mut prev = 0u64;
    for (k, &(i, v)) in exc.iter().enumerate() {
        put_varint(&mut out, if k == 0 { i } else { i - prev });
        out.extend_from_slice(&v.to_bits().to_le_bytes());
        prev = i;
    }
    out
}

/// Decodes the exception list: strictly increasing indices below `n_values`.
pub(crate) fn decode_exceptions(info: &FrameInfo, bytes: &[u8]) -> Result<Vec<(usize, f32)>> {
    let n = info.n_exceptions as usize;
    // Each exception takes at least 5 bytes: the count is bounded by the section size.
    if n > bytes.len() / 5 {
        return Err(Error::truncated(format!(
            "exception section too short for {n} entries"
        )));
    }
    let mut r = Reader::new(bytes, "exceptions");
    let mut out = Vec::with_capacity(n);
    let mut idx = 0u64;
    for k in 0..n {
        let d = r.varint()?;
        if k > 0 && d == 0 {
            return Err(Error::corrupt(
                "exception indices are not strictly increasing",
            ));
        }
        idx = if k == 0 {
            d
        } else {
            idx.checked_add(d)
                .ok_or_else(|| Error::corrupt("exception index overflows"))?
        };
        if idx >= info.n_values {
            return Err(Error::corrupt(format!(
                "exception index {idx} is outside the {} values",
                info.n_values
            )));
        }
        out.push((idx as usize, r.f32()?));
    }
    if r.remaining() != 0 {
        return Err(Error::corrupt("trailing bytes in the exception section"));
    }
    Ok(out)
}
