//! Lossless backends applied to the packed code stream: `store` (none), `deflate`
//! (miniz_oxide, the original prototype's choice) and `rans` (a static order-0 rANS coder per
//! byte plane over codes folded around each channel's zero code; see [`crate::entropy::order0`] for the
//! payload layout; the default). Decoding is bounded by the size the frame
//! declares, so a hostile payload cannot make the decoder allocate more than that.

pub(crate) mod floatbits;
pub mod model;
pub mod order0;
pub mod pack;
pub mod rans;

use crate::abi;
use crate::error::{Error, Result};

/// The lossless backend that codes the integer codes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum BackendKind {
    /// No compression (bytes stored as they are).
    Store,
    /// Deflate (miniz_oxide), the original prototype's backend.
    Deflate,
    /// Static rANS per byte plane ([`crate::entropy::order0`]). The default; the original's `"bridge"`
    /// (= "the default backend") maps here.
    Rans,
}

/// The entropy coder of a frame's payload, as a frame records it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Backend {
    /// Codes stored as they are.
    Store,
    /// Deflate of the packed codes.
    Deflate,
    /// Order-0 rANS per byte plane of the folded codes.
    Rans,
    /// The rank-1 parametric model with rANS (error-bounded modes, when smaller).
    RansModel,
    /// Lossless coding of the floating-point layout (format version ≥ 4; `codec/lossless.rs`).
    Float,
}

impl Backend {
    /// The id stored in the frame (`ALCM_BACKEND_*` in the C header).
    pub fn id(self) -> u8 {
        match self {
            Backend::Store => BACKEND_STORE,
            Backend::Deflate => BACKEND_DEFLATE,
            Backend::Rans => BACKEND_RANS,
            Backend::RansModel => BACKEND_RANS_MODEL,
            Backend::Float => BACKEND_FLOAT,
        }
    }

    /// The backend of a stored id, `None` for an unknown one.
    pub fn from_id(id: u8) -> Option<Backend> {
        Some(match id {
            BACKEND_STORE => Backend::Store,
            BACKEND_DEFLATE => Backend::Deflate,
            BACKEND_RANS => Backend::Rans,
            BACKEND_RANS_MODEL => Backend::RansModel,
            BACKEND_FLOAT => Backend::Float,
            _ => return None,
        })
    }

    /// A short lower-case name ("store", "deflate", "rans", "rans-model", "float").
    pub fn name(self) -> &'static str {
        backend_name(self.id())
    }
}

/// Backend 0 as stored in the frame header: the codes stored. The numbers (and their C names)
/// are defined once in `crate::abi`; never renumbered.
pub const BACKEND_STORE: u8 = abi::ALCM_BACKEND_STORE as u8;
/// Backend 1: deflate of the packed codes.
pub const BACKEND_DEFLATE: u8 = abi::ALCM_BACKEND_DEFLATE as u8;
/// Backend 2: order-0 rANS per byte plane of the folded codes.
pub const BACKEND_RANS: u8 = abi::ALCM_BACKEND_RANS as u8;
/// Rank-1 Gaussian parametric model + rANS over the signed codes (error-bounded modes only;
/// chosen per tensor by the encoder when smaller than backend 2; see [`crate::entropy::model`]).
pub const BACKEND_RANS_MODEL: u8 = abi::ALCM_BACKEND_RANS_MODEL as u8;
/// Lossless coding of the floating-point layout (lossless frames, format version ≥ 4; see
/// `codec/lossless.rs`).
pub const BACKEND_FLOAT: u8 = abi::ALCM_BACKEND_FLOAT as u8;

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
        BACKEND_FLOAT => "float",
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
        BACKEND_DEFLATE | BACKEND_RANS | BACKEND_RANS_MODEL | BACKEND_FLOAT
            if !expansion_ok(payload_len, raw_len) =>
        {
            Err(Error::corrupt(format!(
                "a {} payload of {payload_len} bytes cannot expand to the declared {raw_len} bytes",
                backend_name(id)
            )))
        }
        BACKEND_STORE | BACKEND_DEFLATE | BACKEND_RANS | BACKEND_RANS_MODEL | BACKEND_FLOAT => {
            Ok(())
        }
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
        // Decoded straight into the values by the decoder (codec/lossless.rs).
        BACKEND_FLOAT => Err(Error::corrupt(
            "float-layout payload outside a lossless frame",
        )),
        _ => Ok(payload.to_vec()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every backend id a frame may carry has its C constant (alcm_peek reports them all), and
    /// the C header names no id the decoder would refuse.
    #[test]
    fn every_frame_backend_has_a_c_constant() {
        let c_ids = [
            abi::ALCM_BACKEND_STORE,
            abi::ALCM_BACKEND_DEFLATE,
            abi::ALCM_BACKEND_RANS,
            abi::ALCM_BACKEND_RANS_MODEL,
            abi::ALCM_BACKEND_FLOAT,
        ];
        for id in 0..=u8::MAX {
            let known = backend_name(id) != "unknown";
            assert_eq!(known, c_ids.contains(&u32::from(id)), "backend id {id}");
        }
        // The selectable ones are exactly the BackendKind variants; 3 and 4 are chosen by the
        // encoder.
        let kinds = [BackendKind::Store, BackendKind::Deflate, BackendKind::Rans];
        let ids: Vec<u32> = kinds.iter().map(|&k| u32::from(backend_id(k))).collect();
        assert_eq!(ids, [0, 1, 2]);
    }
}
