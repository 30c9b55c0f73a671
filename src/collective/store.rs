//! Named error-feedback residuals saved together: the state a compressed run needs to resume.
//!
//! File (little-endian): magic `ALCMRS`, version u8 (1), u32 entry count, then per entry (in
//! increasing byte order of the names, each once; a reader refuses any other order): u16 name
//! length, the name (UTF-8), u64 state length, an error-feedback state
//! as [`ErrorFeedback::to_bytes`] writes it (its own magic and CRC); last, CRC-32 of everything
//! before it. Saved atomically (temporary file + rename).

use std::collections::BTreeMap;
use std::path::Path;

use crate::codec::feedback::ErrorFeedback;
use crate::error::{Error, ErrorKind, Result};
use crate::format::Reader;

const MAGIC: &[u8; 6] = b"ALCMRS";
const VERSION: u8 = 1;

/// Longest entry name, in bytes.
pub const MAX_NAME_BYTES: usize = 1024;
/// Most entries a store holds.
pub const MAX_STORE_ENTRIES: usize = 1 << 20;
/// Largest file [`ResidualStore::load`] reads (16 GiB). Every allocation while reading is
/// bounded by the bytes actually present.
pub const MAX_STORE_FILE_BYTES: u64 = 16 << 30;

/// Error-feedback residuals keyed by name (e.g. `layer1.weight/scatter/3`), saved to and loaded
/// from one checksummed file. Names are unique, non-empty UTF-8 of at most
/// [`MAX_NAME_BYTES`] bytes.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ResidualStore {
    entries: BTreeMap<String, ErrorFeedback>,
}

impl ResidualStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    /// Number of entries.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// True when the store holds no entry.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The names, sorted.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.entries.keys().map(String::as_str)
    }

    /// Stores `state` under `name`, replacing an entry of that name.
    pub fn insert(&mut self, name: &str, state: ErrorFeedback) -> Result<()> {
        check_name(name)?;
        if !self.entries.contains_key(name) && self.entries.len() >= MAX_STORE_ENTRIES {
            return Err(Error::too_large(format!(
                "a residual store holds at most {MAX_STORE_ENTRIES} entries"
            )));
        }
        self.entries.insert(name.to_string(), state);
        Ok(())
    }

    /// The entry `name`; a missing name is an `InvalidArgument` error that names it and lists
    /// a few of the names present.
    pub fn get(&self, name: &str) -> Result<&ErrorFeedback> {
        self.entries.get(name).ok_or_else(|| {
            let some: Vec<&str> = self.names().take(4).collect();
            Error::invalid_argument(format!(
                "the residual store has no entry {name:?} ({} entries, e.g. {some:?})",
                self.entries.len()
            ))
        })
    }

    /// A copy of the entry `name`, which must have `shape` (`InvalidArgument` otherwise).
    pub fn get_shaped(&self, name: &str, shape: &[usize]) -> Result<ErrorFeedback> {
        let fb = self.get(name)?;
        if fb.shape() != shape {
            return Err(Error::invalid_argument(format!(
                "residual {name:?} has shape {:?}, expected {shape:?}",
                fb.shape()
            )));
        }
        Ok(fb.clone())
    }

    /// The store as bytes: what [`ResidualStore::save`] writes.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::new();
        out.extend_from_slice(MAGIC);
        out.push(VERSION);
        out.extend_from_slice(&(self.entries.len() as u32).to_le_bytes());
        for (name, fb) in &self.entries {
            let state = fb.to_bytes();
            out.extend_from_slice(&(name.len() as u16).to_le_bytes());
            out.extend_from_slice(name.as_bytes());
            out.extend_from_slice(&(state.len() as u64).to_le_bytes());
            out.extend_from_slice(&state);
        }
        let crc = crc32fast::hash(&out);
        out.extend_from_slice(&crc.to_le_bytes());
        out
    }

    /// Reads a store written by [`ResidualStore::to_bytes`]. Corrupt, truncated or foreign
    /// bytes are errors (`BadMagic`, `Checksum`, `FormatVersion`, `InvalidModel`); nothing is
    /// allocated beyond the bytes present.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self> {
        if bytes.len() < MAGIC.len() + 1 + 4 + 4 || &bytes[..MAGIC.len()] != MAGIC {
            return Err(Error::new(
                ErrorKind::BadMagic,
                "not an alcm residual store (magic ALCMRS missing)",
            ));
        }
        let (body, crc) = bytes.split_at(bytes.len() - 4);
        if crc32fast::hash(body).to_le_bytes() != crc {
            return Err(Error::new(
                ErrorKind::Checksum,
                "residual store checksum mismatch",
            ));
        }
        let bad = |m: String| Error::new(ErrorKind::InvalidModel, m);
        let foreign = |e: Error| bad(e.message().to_string());
        let mut r = Reader::new(body, "residual store");
        r.take(MAGIC.len()).map_err(foreign)?;
        let version = r.u8().map_err(foreign)?;
        if version != VERSION {
            return Err(Error::new(
                ErrorKind::FormatVersion,
                format!("residual store version {version} is not supported"),
            ));
        }
        let count = r.u32().map_err(foreign)? as usize;
        if count > MAX_STORE_ENTRIES {
            return Err(bad(format!("{count} entries exceed {MAX_STORE_ENTRIES}")));
        }
        let mut entries: BTreeMap<String, ErrorFeedback> = BTreeMap::new();
        for _ in 0..count {
            let l = r.take(2).map_err(foreign)?;
            let len = u16::from_le_bytes([l[0], l[1]]) as usize;
            let name = std::str::from_utf8(r.take(len).map_err(foreign)?)
                .map_err(|_| bad("an entry name is not UTF-8".into()))?;
            check_name(name).map_err(foreign)?;
            let state_len = r.u64().map_err(foreign)?;
            if state_len > r.remaining() as u64 {
                return Err(bad(format!(
                    "entry {name:?} declares {state_len} bytes, {} remain",
                    r.remaining()
                )));
            }
            let fb = ErrorFeedback::from_bytes(r.take(state_len as usize).map_err(foreign)?)
                .map_err(|e| Error::new(e.kind(), format!("entry {name:?}: {}", e.message())))?;
            // Names are written in increasing order, once each: the file has one spelling.
            if let Some((last, _)) = entries.last_key_value() {
                if name <= last.as_str() {
                    return Err(bad(format!(
                        "entry {name:?} is out of order or repeated (after {last:?})"
                    )));
                }
            }
            entries.insert(name.to_string(), fb);
        }
        if r.remaining() != 0 {
            return Err(bad(format!(
                "{} bytes follow the last entry",
                r.remaining()
            )));
        }
        Ok(ResidualStore { entries })
    }

    /// Writes the store atomically: a crash mid-save never leaves a truncated file behind.
    pub fn save(&self, path: &Path) -> Result<()> {
        crate::util::fsutil::write_atomic(path, &self.to_bytes())
    }

    /// Reads a file written by [`ResidualStore::save`] (a regular file of at most
    /// [`MAX_STORE_FILE_BYTES`]), then [`Self::from_bytes`].
    pub fn load(path: &Path) -> Result<Self> {
        let bytes =
            crate::util::fsutil::read_regular_file(path, MAX_STORE_FILE_BYTES, "a residual store")?;
        Self::from_bytes(&bytes)
    }
}

fn check_name(name: &str) -> Result<()> {
    if name.is_empty() || name.len() > MAX_NAME_BYTES {
        return Err(Error::invalid_argument(format!(
            "a residual name has 1..={MAX_NAME_BYTES} bytes, got {}",
            name.len()
        )));
    }
    Ok(())
}
