//! Lossless backends applied to the packed code stream: `store` (none), `deflate`
//! (miniz_oxide, the original prototype's choice) and `rans` (a static order-0 rANS coder per
//! byte plane over codes folded around each channel's zero code; see [`crate::entropy::order0`] for the
//! payload layout; the default). Decoding is bounded by the size the frame
//! declares, so a hostile payload cannot make the decoder allocate more than that.

pub mod model;
pub mod order0;
pub mod pack;
pub mod rans;

use crate::error::{Error, Result};

/// The lossless backend that codes the integer codes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BackendKind {
    /// No compression (bytes stored as they are).
    Store,
    /// Deflate (miniz_oxide), the original prototype's backend.
    Deflate,
    /// Static rANS per byte plane ([`crate::entropy::order0`]). The default; the original's `"bridge"`
    /// (= "the default backend") maps here.
    Rans,
}

/// Backend identifiers as stored in the frame header. Never renumbered.
pub const BACKEND_STORE: u8 = 0;
pub const BACKEND_DEFLATE: u8 = 1;
pub const BACKEND_RANS: u8 = 2;
/// Rank-1 Gaussian parametric model + rANS over the signed codes (error-bounded modes only;
/// chosen per tensor by the encoder when smaller than backend 2; see [`crate::entropy::model`]).
pub const BACKEND_RANS_MODEL: u8 = 3;

/// Largest expansion deflate can achieve (≈1032:1 for long runs); a declared raw size beyond
/// `payload × MAX_DEFLATE_RATIO + 1024` is impossible and rejected before allocating.
pub const MAX_DEFLATE_RATIO: u64 = 1040;

pub fn backend_id(kind: BackendKind) -> u8 {
    match kind {
        BackendKind::Store => BACKEND_STORE,
        BackendKind::Deflate => BACKEND_DEFLATE,
        BackendKind::Rans => BACKEND_RANS,
    }
}

pub fn backend_name(id: u8) -> &'static str {
    match id {
        BACKEND_STORE => "store",
        BACKEND_DEFLATE => "deflate",
        BACKEND_RANS => "rans",
        BACKEND_RANS_MODEL => "rans-model",
        _ => "unknown",
    }
}

/// Whether `payload_len` bytes may legitimately stand for `raw_len` bytes of code stream.
pub fn expansion_ok(payload_len: u64, raw_len: u64) -> bool {
    raw_len
        <= payload_len
            .saturating_mul(MAX_DEFLATE_RATIO)
            .saturating_add(1024)
}

/// Encodes `raw` with the backend `id`. `planes` is the number of byte planes `raw` holds (the
/// code width; rANS models each plane separately, the other backends ignore it).
pub fn encode(id: u8, level: u8, raw: &[u8], planes: u8) -> Vec<u8> {
    match id {
        BACKEND_DEFLATE => miniz_oxide::deflate::compress_to_vec(raw, level.min(10)),
        BACKEND_RANS => crate::entropy::order0::encode(raw, planes),
        _ => raw.to_vec(),
    }
}

/// Checks that a payload of `payload_len` bytes can plausibly expand to `raw_len` bytes.
pub fn check_sizes(id: u8, payload_len: u64, raw_len: u64) -> Result<()> {
    match id {
        BACKEND_STORE if payload_len != raw_len => Err(Error::corrupt(format!(
            "stored payload is {payload_len} bytes but the frame declares {raw_len}"
        ))),
        // Every compressing backend is held to deflate's expansion bound, so the decoder can size
        // what it allocates from the bytes it was given. Deflate cannot exceed it; the encoder
        // writes a deflate payload instead of an rANS one that would (a huge constant tensor).
        BACKEND_DEFLATE | BACKEND_RANS | BACKEND_RANS_MODEL
            if !expansion_ok(payload_len, raw_len) =>
        {
            Err(Error::corrupt(format!(
                "a {} payload of {payload_len} bytes cannot expand to the declared {raw_len} bytes",
                backend_name(id)
            )))
        }
        BACKEND_STORE | BACKEND_DEFLATE | BACKEND_RANS | BACKEND_RANS_MODEL => Ok(()),
        other => Err(Error::corrupt(format!("unknown backend id {other}"))),
    }
}

/// Decodes `payload` into exactly `raw_len` bytes.
pub fn decode(id: u8, payload: &[u8], raw_len: usize) -> Result<Vec<u8>> {
    check_sizes(id, payload.len() as u64, raw_len as u64)?;
    match id {
        BACKEND_DEFLATE => {
            let out = miniz_oxide::inflate::decompress_to_vec_with_limit(payload, raw_len)
                .map_err(|e| {
                    Error::corrupt(format!("deflate payload is invalid: {:?}", e.status))
                })?;
            if out.len() != raw_len {
                return Err(Error::corrupt(format!(
                    "deflate payload decodes to {} bytes, the frame declares {raw_len}",
                    out.len()
                )));
            }
            Ok(out)
        }
        BACKEND_RANS => crate::entropy::order0::decode(payload, raw_len),
        // Decoded straight into codes by the decoder (it needs the channel parameters).
        BACKEND_RANS_MODEL => Err(Error::corrupt(
            "rANS-model payload outside an error-bounded frame",
        )),
        _ => Ok(payload.to_vec()),
    }
}
