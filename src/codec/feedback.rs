//! Error feedback: the residual that makes lossy gradient compression safe for training.
//!
//! Each step compresses `g + r` (the new gradient plus what earlier steps failed to send) and
//! keeps `r ← (g + r) − decode(frame)`, so the error of one step is sent in the next instead of
//! being lost (the technique of 1-bit SGD, Deep Gradient Compression, PowerSGD). `decode(frame)`
//! comes from the encoder ([`Encoder::compress_reconstructed`]), bit-identical to decoding.
//!
//! State file (little-endian): magic `ALCMEF`, version u8 (1), rank u8, shape (rank × u64),
//! the residual as float32, CRC-32 of everything before it. Saved atomically (temp + rename).

use std::path::Path;

use crate::codec::encoder::{Compressed, Encoder};
use crate::error::{Error, ErrorKind, Result};
use crate::format::{Reader, MAX_RANK};
use crate::util::shape::check_shape;

const STATE_MAGIC: &[u8; 6] = b"ALCMEF";
const STATE_VERSION: u8 = 1;

/// Residual state for one tensor of a fixed shape. Not shared between threads while in use
/// (`compress` takes `&mut self`); may move between threads.
#[derive(Debug, Clone, PartialEq)]
pub struct ErrorFeedback {
    shape: Vec<usize>,
    residual: Vec<f32>,
}

impl ErrorFeedback {
    /// A zero residual for tensors of `shape` (at most 2^40 values).
    pub fn new(shape: &[usize]) -> Result<Self> {
        if shape.len() > MAX_RANK {
            return Err(Error::invalid_argument(format!(
                "rank {} exceeds {MAX_RANK}",
                shape.len()
            )));
        }
        let mut n: usize = 1;
        for &d in shape {
            n = n
                .checked_mul(d)
                .ok_or_else(|| Error::invalid_argument("shape overflows"))?;
        }
        Ok(ErrorFeedback {
            shape: shape.to_vec(),
            residual: vec![0.0; n],
        })
    }

    /// The shape the residual belongs to.
    pub fn shape(&self) -> &[usize] {
        &self.shape
    }

    /// The residual carried to the next step: what the frames so far did not transmit.
    pub fn residual(&self) -> &[f32] {
        &self.residual
    }

    /// Compresses `gradient + residual` and keeps the new residual. On error the residual is
    /// unchanged.
    pub fn compress(
        &mut self,
        encoder: &Encoder,
        gradient: &[f32],
        allocation: Option<&[f64]>,
    ) -> Result<Compressed> {
        check_shape(gradient.len(), &self.shape)?;
        let corrected: Vec<f32> = gradient
            .iter()
            .zip(&self.residual)
            .map(|(g, r)| g + r)
            .collect();
        // The encoder writes what the decoder will return into the residual buffer (only on
        // success), so the frame is never decoded here.
        let out = encoder.compress_reconstructed(
            &corrected,
            &self.shape,
            allocation,
            &mut self.residual,
        )?;
        for (r, x) in self.residual.iter_mut().zip(&corrected) {
            // A kept non-finite value is sent exactly; never let it poison the residual.
            let d = x - *r;
            *r = if d.is_finite() { d } else { 0.0 };
        }
        Ok(out)
    }

    /// Clears the residual (e.g. after a learning-rate reset or a restart).
    pub fn reset(&mut self) {
        self.residual.iter_mut().for_each(|r| *r = 0.0);
    }

    /// The state as bytes (magic, version, shape, residual, CRC-32): what [`ErrorFeedback::save`] writes.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(16 + 8 * self.shape.len() + 4 * self.residual.len());
        out.extend_from_slice(STATE_MAGIC);
        out.push(STATE_VERSION);
        out.push(self.shape.len() as u8);
        for &d in &self.shape {
            out.extend_from_slice(&(d as u64).to_le_bytes());
        }
        for r in &self.residual {
            out.extend_from_slice(&r.to_le_bytes());
        }
        let crc = crc32fast::hash(&out);
        out.extend_from_slice(&crc.to_le_bytes());
        out
    }

    /// Reads a state written by [`ErrorFeedback::to_bytes`]; corrupt or truncated bytes are errors.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self> {
        let bad = |m: String| Error::new(ErrorKind::InvalidModel, m);
        if bytes.len() < 12 || &bytes[..6] != STATE_MAGIC {
            return Err(bad(
                "not an alcm error-feedback state (magic ALCMEF missing)".into(),
            ));
        }
        let (body, crc) = bytes.split_at(bytes.len() - 4);
        if crc32fast::hash(body).to_le_bytes() != crc {
            return Err(Error::new(
                ErrorKind::Checksum,
                "error-feedback state checksum mismatch",
            ));
        }
        let mut r = Reader::new(body, "error-feedback state");
        r.take(6)?;
        let version = r.u8()?;
        if version != STATE_VERSION {
            return Err(Error::new(
                ErrorKind::FormatVersion,
                format!("state version {version} is not supported"),
            ));
        }
        let rank = r.u8()? as usize;
        if rank > MAX_RANK {
            return Err(bad(format!("rank {rank} exceeds {MAX_RANK}")));
        }
        let mut shape = Vec::with_capacity(rank);
        let mut n: u64 = 1;
        for _ in 0..rank {
            let d = r.u64()?;
            n = n
                .checked_mul(d)
                .ok_or_else(|| bad("shape overflows".into()))?;
            shape.push(d as usize);
        }
        // The residual must be exactly what remains: checked before allocating.
        if n.checked_mul(4) != Some(r.remaining() as u64) {
            return Err(bad(format!(
                "state declares {n} values but holds {} bytes of them",
                r.remaining()
            )));
        }
        let residual: Vec<f32> = r
            .take(r.remaining())?
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect();
        // `compress` never keeps a non-finite residual; one in a file would poison every step.
        if let Some(i) = residual.iter().position(|v| !v.is_finite()) {
            return Err(bad(format!(
                "residual value {i} is {} (a state never holds NaN or Inf)",
                residual[i]
            )));
        }
        Ok(ErrorFeedback { shape, residual })
    }

    /// Writes the state atomically: a crash mid-save never leaves a truncated file behind.
    pub fn save(&self, path: &Path) -> Result<()> {
        crate::util::fsutil::write_atomic(path, &self.to_bytes())
    }

    /// Reads a state file written by [`ErrorFeedback::save`].
    pub fn load(path: &Path) -> Result<Self> {
        let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
        Self::from_bytes(&bytes)
    }
}
