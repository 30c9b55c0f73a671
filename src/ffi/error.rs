//! Errors at the C boundary and the thread-local last-error message.
//!
//! Semantics (documented in the header too):
//! * The message is **per thread**: it describes the most recent *fallible* alcm call made on
//!   the calling thread. There is no process-global mutable state.
//! * Every fallible call (one that returns `alcm_status`, or a value with an error sentinel)
//!   **clears** the message when it starts and sets it when it fails. So after `ALCM_OK` the
//!   message is empty, and after an error it names the function and what was wrong.
//! * Infallible getters (`alcm_version_*`, `alcm_status_string`, `alcm_last_error_message`
//!   itself) and every `*_free` leave it untouched, so the message can be read after looking up
//!   the status text, and a finalizer that frees a handle never erases it.

use std::cell::RefCell;
use std::os::raw::c_char;

use super::status::alcm_status;
use crate::error::Error;

/// An error on its way to C: a status plus a message. Every `crate::Error` converts into it
/// (so `?` works on the Rust API inside an export); boundary-only problems (NULL pointers,
/// bad handles, bad UTF-8) are built with the constructors below.
#[derive(Debug, Clone, PartialEq)]
pub struct FfiError {
    pub status: alcm_status,
    pub message: String,
}

/// Result of the body of an export.
pub type FfiResult<T> = std::result::Result<T, FfiError>;

impl FfiError {
    pub fn new(status: alcm_status, message: impl Into<String>) -> Self {
        FfiError {
            status,
            message: message.into(),
        }
    }
    /// `arg` is NULL (name it as the C parameter is named).
    pub fn null(arg: &str) -> Self {
        Self::new(alcm_status::ALCM_ERR_NULL_POINTER, format!("{arg} is NULL"))
    }
    pub fn invalid_argument(message: impl Into<String>) -> Self {
        Self::new(alcm_status::ALCM_ERR_INVALID_ARGUMENT, message)
    }
    pub fn invalid_handle(message: impl Into<String>) -> Self {
        Self::new(alcm_status::ALCM_ERR_INVALID_HANDLE, message)
    }
    pub fn too_large(message: impl Into<String>) -> Self {
        Self::new(alcm_status::ALCM_ERR_TOO_LARGE, message)
    }
    pub fn buffer_too_small(message: impl Into<String>) -> Self {
        Self::new(alcm_status::ALCM_ERR_BUFFER_TOO_SMALL, message)
    }
}

impl From<Error> for FfiError {
    fn from(e: Error) -> Self {
        FfiError {
            status: alcm_status::from(&e.kind()),
            message: e.message().to_owned(),
        }
    }
}

thread_local! {
    /// Message bytes without NUL (interior NULs are replaced when stored).
    static LAST_ERROR: RefCell<Vec<u8>> = const { RefCell::new(Vec::new()) };
}

/// Sets the calling thread's message to `"{function}: {message}"`.
pub(crate) fn set_last_error(function: &str, message: &str) {
    let mut bytes = Vec::with_capacity(function.len() + 2 + message.len());
    bytes.extend_from_slice(function.as_bytes());
    bytes.extend_from_slice(b": ");
    bytes.extend(message.bytes().map(|b| if b == 0 { b'?' } else { b }));
    // try_with: during thread teardown the slot may be gone; losing the message is fine.
    let _ = LAST_ERROR.try_with(|m| {
        if let Ok(mut m) = m.try_borrow_mut() {
            *m = bytes;
        }
    });
}

/// Clears the calling thread's message (called at the start of every fallible export).
pub(crate) fn clear_last_error() {
    let _ = LAST_ERROR.try_with(|m| {
        if let Ok(mut m) = m.try_borrow_mut() {
            m.clear();
        }
    });
}

/// The calling thread's message (for Rust tests).
pub fn last_error() -> String {
    LAST_ERROR
        .try_with(|m| String::from_utf8_lossy(&m.borrow()).into_owned())
        .unwrap_or_default()
}

/// Copies the calling thread's last error message into `buf` as a NUL-terminated string.
///
/// Returns: the message's full length in bytes, excluding the NUL; 0 when the last fallible call on
/// this thread succeeded, or none was made. At most `buf_len - 1` bytes are copied, so the message
/// was truncated when the return value is `>= buf_len`: call again with `return + 1` bytes. When
/// `buf_len` is 0 nothing is written (the size query). The message is UTF-8; truncation may cut a
/// multi-byte character. Cannot fail.
/// Memory: `buf` is NULL (then `buf_len` is ignored and nothing is written) or `buf_len` writable
/// bytes owned by the caller.
/// Threads: any thread; reads that thread's own message only.
#[no_mangle]
pub unsafe extern "C" fn alcm_last_error_message(buf: *mut c_char, buf_len: usize) -> usize {
    // Never unwinds: no allocation, no indexing beyond checked bounds.
    LAST_ERROR
        .try_with(|m| {
            let Ok(m) = m.try_borrow() else { return 0 };
            if !buf.is_null() && buf_len > 0 {
                let n = m.len().min(buf_len - 1);
                // SAFETY: the caller guarantees `buf` points to `buf_len` writable bytes and
                // n + 1 <= buf_len; the source is our own Vec, which cannot overlap C memory.
                unsafe {
                    std::ptr::copy_nonoverlapping(m.as_ptr(), buf.cast::<u8>(), n);
                    *buf.add(n) = 0;
                }
            }
            m.len()
        })
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(buf_len: usize) -> (usize, Vec<u8>) {
        let mut buf = vec![0x55u8; buf_len];
        // SAFETY: buf has buf_len writable bytes (or is dangling-but-unused for 0).
        let n = unsafe { alcm_last_error_message(buf.as_mut_ptr().cast(), buf_len) };
        (n, buf)
    }

    #[test]
    fn copy_truncate_and_query() {
        set_last_error("alcm_f", "bad\0thing");
        // SAFETY: NULL with length 0 is the documented size query.
        let full = unsafe { alcm_last_error_message(std::ptr::null_mut(), 0) };
        assert_eq!(full, "alcm_f: bad?thing".len());
        let (n, buf) = read(64);
        assert_eq!(n, full);
        assert_eq!(&buf[..=n], b"alcm_f: bad?thing\0");
        let (n, buf) = read(5);
        assert_eq!(n, full);
        assert_eq!(&buf, b"alcm\0");
        let (_, buf) = read(1);
        assert_eq!(&buf, b"\0");
        // SAFETY: a NULL buffer is never written, whatever the length.
        let n = unsafe { alcm_last_error_message(std::ptr::null_mut(), 10) };
        assert_eq!(n, full);
        clear_last_error();
        let (n, buf) = read(4);
        assert_eq!((n, buf[0]), (0, 0));
    }

    #[test]
    fn message_is_per_thread() {
        set_last_error("alcm_main", "here");
        std::thread::spawn(|| {
            assert_eq!(last_error(), "");
            set_last_error("alcm_other", "there");
        })
        .join()
        .unwrap();
        assert_eq!(last_error(), "alcm_main: here");
    }

    #[test]
    fn rust_errors_keep_kind_and_message() {
        let e: FfiError = Error::new(crate::ErrorKind::Checksum, "crc 1 != 2").into();
        assert_eq!(e.status, alcm_status::ALCM_ERR_CHECKSUM);
        assert_eq!(e.message, "crc 1 != 2");
    }
}
