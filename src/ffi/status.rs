//! Status codes of the C ABI and their mapping from [`ErrorKind`].
//!
//! The numbers are part of the ABI: they are explicit, grouped by who can fix the problem, and
//! never reused or renumbered. A new [`ErrorKind`] gets a new number here (the exhaustive match
//! in `From<&ErrorKind>` makes the compiler ask for it).

use std::os::raw::c_char;

use crate::error::ErrorKind;

/// Result of every fallible alcm function. `ALCM_OK` (0) means success; every other value is an
/// error, and `alcm_last_error_message` then holds a message naming the argument, index or size.
///
/// Groups: 1–99 caller errors (fix the call), 100–199 data errors (the bytes are bad),
/// 200–299 environment (files, models, time), 900–999 internal (a bug in alcm: please report).
/// Numbers are never reused; new codes may be added, so treat unknown values as errors.
#[allow(non_camel_case_types)]
#[repr(u32)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum alcm_status {
    /// Success.
    ALCM_OK = 0,
    /// A required pointer argument is NULL.
    ALCM_ERR_NULL_POINTER = 1,
    /// An argument is out of range or inconsistent (shape/data mismatch, rank > ALCM_MAX_RANK, ...).
    ALCM_ERR_INVALID_ARGUMENT = 2,
    /// A configuration value (YAML, or an encoder/scheduler setter) is out of its allowed
    /// range. An unknown enum number (mode, backend, policy) is ALCM_ERR_INVALID_ARGUMENT.
    ALCM_ERR_INVALID_CONFIG = 3,
    /// The input tensor holds NaN or ±Inf and the policy says refuse.
    ALCM_ERR_NON_FINITE = 4,
    /// A caller-provided output buffer is too small.
    ALCM_ERR_BUFFER_TOO_SMALL = 5,
    /// A handle is of the wrong type, already freed, or not an alcm handle (best effort).
    ALCM_ERR_INVALID_HANDLE = 6,
    /// A string argument is not valid UTF-8.
    ALCM_ERR_INVALID_UTF8 = 7,
    /// The byte stream ends before the frame it declares.
    ALCM_ERR_TRUNCATED = 100,
    /// The byte stream is structurally invalid.
    ALCM_ERR_CORRUPT = 101,
    /// The checksum does not match: the bytes were altered.
    ALCM_ERR_CHECKSUM = 102,
    /// The stream does not start with the alcm magic bytes.
    ALCM_ERR_BAD_MAGIC = 103,
    /// The frame was written by a newer, unknown format version (see ALCM_FORMAT_VERSION).
    ALCM_ERR_FORMAT_VERSION = 104,
    /// A declared or requested size exceeds a limit (decompression bomb, overflowing shape).
    ALCM_ERR_TOO_LARGE = 105,
    /// Reading or writing a file failed.
    ALCM_ERR_IO = 200,
    /// A model or state file is not a valid alcm file.
    ALCM_ERR_INVALID_MODEL = 201,
    /// The configured time budget was exceeded.
    ALCM_ERR_TIMEOUT = 202,
    /// alcm panicked (a bug; please report it). Out-parameters were not written; a mutable
    /// handle passed to the call may be left in an unspecified state but can still be freed.
    ALCM_ERR_PANIC = 900,
    /// An internal invariant failed (a bug). Please report it.
    ALCM_ERR_INTERNAL = 901,
}

const ALL_STATUSES: [alcm_status; 19] = [
    alcm_status::ALCM_OK,
    alcm_status::ALCM_ERR_NULL_POINTER,
    alcm_status::ALCM_ERR_INVALID_ARGUMENT,
    alcm_status::ALCM_ERR_INVALID_CONFIG,
    alcm_status::ALCM_ERR_NON_FINITE,
    alcm_status::ALCM_ERR_BUFFER_TOO_SMALL,
    alcm_status::ALCM_ERR_INVALID_HANDLE,
    alcm_status::ALCM_ERR_INVALID_UTF8,
    alcm_status::ALCM_ERR_TRUNCATED,
    alcm_status::ALCM_ERR_CORRUPT,
    alcm_status::ALCM_ERR_CHECKSUM,
    alcm_status::ALCM_ERR_BAD_MAGIC,
    alcm_status::ALCM_ERR_FORMAT_VERSION,
    alcm_status::ALCM_ERR_TOO_LARGE,
    alcm_status::ALCM_ERR_IO,
    alcm_status::ALCM_ERR_INVALID_MODEL,
    alcm_status::ALCM_ERR_TIMEOUT,
    alcm_status::ALCM_ERR_PANIC,
    alcm_status::ALCM_ERR_INTERNAL,
];

impl alcm_status {
    /// Every status, in numeric order.
    pub fn all() -> &'static [alcm_status] {
        &ALL_STATUSES
    }

    /// The status with this number, if any (C passes plain integers; never transmute them).
    pub fn from_u32(code: u32) -> Option<alcm_status> {
        ALL_STATUSES.iter().copied().find(|s| *s as u32 == code)
    }

    /// The static, NUL-terminated description `"ALCM_ERR_X: text\0"`.
    fn describe_nul(self) -> &'static str {
        use alcm_status::*;
        match self {
            ALCM_OK => "ALCM_OK: success\0",
            ALCM_ERR_NULL_POINTER => "ALCM_ERR_NULL_POINTER: a required pointer is NULL\0",
            ALCM_ERR_INVALID_ARGUMENT => "ALCM_ERR_INVALID_ARGUMENT: invalid argument\0",
            ALCM_ERR_INVALID_CONFIG => "ALCM_ERR_INVALID_CONFIG: invalid configuration\0",
            ALCM_ERR_NON_FINITE => "ALCM_ERR_NON_FINITE: input holds NaN or infinity\0",
            ALCM_ERR_BUFFER_TOO_SMALL => "ALCM_ERR_BUFFER_TOO_SMALL: output buffer too small\0",
            ALCM_ERR_INVALID_HANDLE => {
                "ALCM_ERR_INVALID_HANDLE: wrong-type, freed or foreign handle\0"
            }
            ALCM_ERR_INVALID_UTF8 => "ALCM_ERR_INVALID_UTF8: string is not valid UTF-8\0",
            ALCM_ERR_TRUNCATED => "ALCM_ERR_TRUNCATED: data ends before the frame does\0",
            ALCM_ERR_CORRUPT => "ALCM_ERR_CORRUPT: corrupt data\0",
            ALCM_ERR_CHECKSUM => "ALCM_ERR_CHECKSUM: checksum mismatch\0",
            ALCM_ERR_BAD_MAGIC => "ALCM_ERR_BAD_MAGIC: not an alcm frame (bad magic)\0",
            ALCM_ERR_FORMAT_VERSION => "ALCM_ERR_FORMAT_VERSION: unsupported format version\0",
            ALCM_ERR_TOO_LARGE => "ALCM_ERR_TOO_LARGE: size exceeds a limit\0",
            ALCM_ERR_IO => "ALCM_ERR_IO: I/O error\0",
            ALCM_ERR_INVALID_MODEL => "ALCM_ERR_INVALID_MODEL: invalid model file\0",
            ALCM_ERR_TIMEOUT => "ALCM_ERR_TIMEOUT: time budget exceeded\0",
            ALCM_ERR_PANIC => "ALCM_ERR_PANIC: internal panic (a bug in alcm)\0",
            ALCM_ERR_INTERNAL => "ALCM_ERR_INTERNAL: internal error (a bug in alcm)\0",
        }
    }

    /// Human description, e.g. `"ALCM_ERR_CHECKSUM: checksum mismatch"`.
    pub fn describe(self) -> &'static str {
        let s = self.describe_nul();
        &s[..s.len() - 1]
    }
}

const UNKNOWN_STATUS: &str = "unknown status\0";

impl From<&ErrorKind> for alcm_status {
    fn from(kind: &ErrorKind) -> Self {
        use alcm_status::*;
        // Exhaustive on purpose: a new ErrorKind must get its own (new) number.
        match kind {
            ErrorKind::InvalidArgument => ALCM_ERR_INVALID_ARGUMENT,
            ErrorKind::InvalidConfig => ALCM_ERR_INVALID_CONFIG,
            ErrorKind::NonFinite => ALCM_ERR_NON_FINITE,
            ErrorKind::Truncated => ALCM_ERR_TRUNCATED,
            ErrorKind::Corrupt => ALCM_ERR_CORRUPT,
            ErrorKind::Checksum => ALCM_ERR_CHECKSUM,
            ErrorKind::BadMagic => ALCM_ERR_BAD_MAGIC,
            ErrorKind::FormatVersion => ALCM_ERR_FORMAT_VERSION,
            ErrorKind::TooLarge => ALCM_ERR_TOO_LARGE,
            ErrorKind::BufferTooSmall => ALCM_ERR_BUFFER_TOO_SMALL,
            ErrorKind::Io => ALCM_ERR_IO,
            ErrorKind::InvalidModel => ALCM_ERR_INVALID_MODEL,
            ErrorKind::Timeout => ALCM_ERR_TIMEOUT,
            ErrorKind::Internal => ALCM_ERR_INTERNAL,
        }
    }
}

impl From<ErrorKind> for alcm_status {
    fn from(kind: ErrorKind) -> Self {
        (&kind).into()
    }
}

/// --------------------------------------------------------------------------------------------
/// ERRORS AND VERSIONS
///
/// Every fallible function returns an alcm_status; alcm_status_string names it and
/// alcm_last_error_message says what was wrong in the failed call (thread-local). The version
/// getters let a program compare the library it runs with the header it was compiled against.
///
/// --------------------------------------------------------------------------------------------
///
/// A static, NUL-terminated description of a status code, e.g. `"ALCM_ERR_CHECKSUM: checksum
/// mismatch"`, or `"unknown status"` for a number alcm does not know.
///
/// Returns: never NULL; cannot fail.
/// Memory: the string is static: never free it.
/// Threads: any thread.
#[no_mangle]
pub extern "C" fn alcm_status_string(status: u32) -> *const c_char {
    let s = match alcm_status::from_u32(status) {
        Some(st) => st.describe_nul(),
        None => UNKNOWN_STATUS,
    };
    s.as_ptr().cast()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::ffi::CStr;

    #[test]
    fn numbers_are_the_documented_ones_and_unique() {
        let nums: Vec<u32> = alcm_status::all().iter().map(|s| *s as u32).collect();
        assert_eq!(
            nums,
            [0, 1, 2, 3, 4, 5, 6, 7, 100, 101, 102, 103, 104, 105, 200, 201, 202, 900, 901]
        );
        for &s in alcm_status::all() {
            assert_eq!(alcm_status::from_u32(s as u32), Some(s));
        }
        assert_eq!(alcm_status::from_u32(8), None);
        assert_eq!(std::mem::size_of::<alcm_status>(), 4);
    }

    #[test]
    fn strings_are_static_prefixed_and_nul_terminated() {
        for &s in alcm_status::all() {
            // SAFETY: alcm_status_string returns a pointer to a static NUL-terminated string.
            let c = unsafe { CStr::from_ptr(alcm_status_string(s as u32)) };
            let text = c.to_str().unwrap();
            assert!(text.starts_with(&format!("{s:?}: ")), "{text}");
            assert_eq!(text, s.describe());
        }
        // SAFETY: as above.
        let c = unsafe { CStr::from_ptr(alcm_status_string(12345)) };
        assert_eq!(c.to_str().unwrap(), "unknown status");
        assert_eq!(
            alcm_status::ALCM_ERR_CHECKSUM.describe(),
            "ALCM_ERR_CHECKSUM: checksum mismatch"
        );
    }

    #[test]
    fn every_error_kind_maps_to_a_distinct_error_status() {
        use ErrorKind::*;
        let kinds = [
            InvalidArgument,
            InvalidConfig,
            NonFinite,
            Truncated,
            Corrupt,
            Checksum,
            BadMagic,
            FormatVersion,
            TooLarge,
            BufferTooSmall,
            Io,
            InvalidModel,
            Timeout,
            Internal,
        ];
        let mut seen = std::collections::HashSet::new();
        for k in kinds {
            let s = alcm_status::from(&k);
            assert_ne!(s, alcm_status::ALCM_OK);
            assert!(seen.insert(s), "{k:?} shares {s:?}");
        }
    }
}
