//! Library and format versions.
//!
//! Two independent numbers:
//! * the **library version** (`ALCM_VERSION_*` macros in the header, `alcm_version_number()`,
//!   `alcm_version_string()`), taken from Cargo.toml; it changes with every release;
//! * the **format version** (`ALCM_FORMAT_VERSION`, `alcm_format_version()`), the version of
//!   the frame layout; it changes only when the bytes change, and a library decodes every
//!   format version from 1 up to its own (newer ones give `ALCM_ERR_FORMAT_VERSION`).
//!
//! The header macros are written by cbindgen from `after_includes` in `cbindgen.toml`;
//! `tests/header.rs` checks that Cargo.toml, cbindgen.toml, the header and these getters agree.

use std::os::raw::c_char;

use super::panic::ffi_infallible;
use crate::abi::ALCM_FORMAT_VERSION;

const fn parse_u32(s: &str) -> u32 {
    let b = s.as_bytes();
    let mut i = 0;
    let mut v: u32 = 0;
    while i < b.len() {
        assert!(b[i].is_ascii_digit(), "version component is not a number");
        v = v * 10 + (b[i] - b'0') as u32;
        i += 1;
    }
    v
}

pub(crate) const VERSION_MAJOR: u32 = parse_u32(env!("CARGO_PKG_VERSION_MAJOR"));
pub(crate) const VERSION_MINOR: u32 = parse_u32(env!("CARGO_PKG_VERSION_MINOR"));
pub(crate) const VERSION_PATCH: u32 = parse_u32(env!("CARGO_PKG_VERSION_PATCH"));
/// MAJOR*10000 + MINOR*100 + PATCH, like `ALCM_VERSION_NUMBER`.
pub(crate) const VERSION_NUMBER: u32 = VERSION_MAJOR * 10000 + VERSION_MINOR * 100 + VERSION_PATCH;
const VERSION_STRING_NUL: &str = concat!(env!("CARGO_PKG_VERSION"), "\0");

/// The library version as MAJOR*10000 + MINOR*100 + PATCH; compare it with `ALCM_VERSION_NUMBER` to
/// detect a header/library mismatch at run time.
///
/// Returns: the number; cannot fail.
/// Threads: any thread.
#[no_mangle]
pub extern "C" fn alcm_version_number() -> u32 {
    ffi_infallible("alcm_version_number", 0, || VERSION_NUMBER)
}

/// The library version as a string, e.g. "0.1.0" (`ALCM_VERSION_STRING` of the matching header).
///
/// Returns: never NULL; cannot fail.
/// Memory: the string is static: never free it.
/// Threads: any thread.
#[no_mangle]
pub extern "C" fn alcm_version_string() -> *const c_char {
    VERSION_STRING_NUL.as_ptr().cast()
}

/// The frame format version this library writes, `ALCM_FORMAT_VERSION` of the matching header.
///
/// Returns: the number; cannot fail.
/// Threads: any thread.
#[no_mangle]
pub extern "C" fn alcm_format_version() -> u32 {
    ALCM_FORMAT_VERSION
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn getters_agree_with_cargo() {
        // SAFETY: static NUL-terminated string.
        let s = unsafe { std::ffi::CStr::from_ptr(alcm_version_string()) };
        assert_eq!(s.to_str().unwrap(), env!("CARGO_PKG_VERSION"));
        assert_eq!(alcm_version_number(), VERSION_NUMBER);
        assert_eq!(parse_u32("107"), 107);
        assert_eq!(alcm_format_version(), 7);
    }
}
