//! The one error type of alcm. Every fallible function returns [`Result<T>`].
//!
//! The error carries a [`ErrorKind`] (stable, what callers branch on; the C ABI maps it to a
//! numbered status code) and a human message that names the offending key, index or size.

use std::fmt;

/// What went wrong, coarse enough to branch on. New kinds may be added; existing ones are never
/// renumbered in the C ABI.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorKind {
    /// A caller-supplied argument is out of range or inconsistent (shape/data mismatch, ...).
    InvalidArgument,
    /// A configuration value (YAML or setter) is out of its allowed range or unknown.
    InvalidConfig,
    /// The input tensor holds NaN or ±Inf and the policy says refuse.
    NonFinite,
    /// The byte stream ends before the frame (or file) it declares.
    Truncated,
    /// The byte stream is structurally invalid (bad field value, inconsistent sizes).
    Corrupt,
    /// The checksum does not match: the bytes were altered.
    Checksum,
    /// The stream does not start with the expected magic bytes.
    BadMagic,
    /// The frame was written by a newer, unknown format version.
    FormatVersion,
    /// The declared size exceeds a limit (decompression bomb, overflowing shape).
    TooLarge,
    /// A caller-provided output buffer is too small.
    BufferTooSmall,
    /// Reading or writing a file failed.
    Io,
    /// A model or state file is not a valid alcm/prototype file.
    InvalidModel,
    /// The configured time budget was exceeded.
    Timeout,
    /// A bug in alcm (e.g. a caught panic). Please report it.
    Internal,
}

/// An alcm error: a kind plus a message that says what and where.
#[derive(Debug, Clone, PartialEq)]
pub struct Error {
    kind: ErrorKind,
    message: String,
}

/// Result alias used throughout the crate.
pub type Result<T> = std::result::Result<T, Error>;

impl Error {
    /// An error of `kind` with a message for people.
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        Error {
            kind,
            message: message.into(),
        }
    }
    /// What went wrong, to branch on.
    pub fn kind(&self) -> ErrorKind {
        self.kind
    }
    /// What went wrong, for people.
    pub fn message(&self) -> &str {
        &self.message
    }
    /// An [`ErrorKind::InvalidArgument`] error.
    pub fn invalid_argument(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::InvalidArgument, message)
    }
    /// A configuration error naming the key and the allowed range.
    pub fn config(key: &str, message: impl fmt::Display) -> Self {
        Self::new(ErrorKind::InvalidConfig, format!("{key}: {message}"))
    }
    /// An [`ErrorKind::Corrupt`] error.
    pub fn corrupt(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Corrupt, message)
    }
    /// An [`ErrorKind::Truncated`] error.
    pub fn truncated(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Truncated, message)
    }
    /// An [`ErrorKind::TooLarge`] error.
    pub fn too_large(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::TooLarge, message)
    }
    /// An [`ErrorKind::InvalidModel`] error.
    pub fn model(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::InvalidModel, message)
    }
    /// An [`ErrorKind::Io`] error naming the path.
    pub fn io(path: &std::path::Path, err: std::io::Error) -> Self {
        Self::new(ErrorKind::Io, format!("{}: {err}", path.display()))
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}: {}", self.kind, self.message)
    }
}

impl std::error::Error for Error {}
