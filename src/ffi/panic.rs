//! The guard every export runs in: no panic unwinds into C, every error becomes a status plus
//! the thread-local message.
//!
//! * [`ffi_status`] — the body returns `FfiResult<()>`, the export returns `alcm_status`.
//! * [`ffi_value`] — the body returns `FfiResult<T>`, the export returns `T` with a documented
//!   error sentinel (e.g. `0` for a bound, NULL for a constructor).
//! * [`ffi_void`] — for `*_free` and other `void` functions: errors only set the message.
//! * [`ffi_infallible`] — for getters that cannot fail; only a panic (a bug) is caught, and the
//!   last-error message is left alone otherwise.
//!
//! Panics are caught with `catch_unwind`, so the library must be built with `panic = "unwind"`
//! (the release profile says so; with `panic = "abort"` a bug would abort the host process).
//! The process's panic hook still runs (by default it prints the panic to stderr); alcm does not
//! replace it because the hook is process-global and belongs to the application.

use std::any::Any;
use std::panic::{catch_unwind, AssertUnwindSafe};

use super::error::{clear_last_error, set_last_error, FfiError, FfiResult};
use super::status::alcm_status;

fn panic_message(payload: &(dyn Any + Send)) -> String {
    let what = if let Some(s) = payload.downcast_ref::<&str>() {
        s
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.as_str()
    } else {
        "(non-string payload)"
    };
    format!("panic (a bug in alcm, please report it): {what}")
}

/// Runs a fallible body that returns a value; on error or panic returns `on_error` and sets the
/// message. Clears the message first.
///
/// `AssertUnwindSafe`: after a panic nothing the body touched is used again except through
/// `&mut` handles, whose objects may be left half-updated; every later call on such a handle
/// still only sees a valid Rust value (no memory unsafety), and the caller has been told the
/// call failed with `ALCM_ERR_PANIC`.
pub fn ffi_value<T, F>(function: &'static str, on_error: T, body: F) -> T
where
    F: FnOnce() -> FfiResult<T>,
{
    clear_last_error();
    match catch_unwind(AssertUnwindSafe(body)) {
        Ok(Ok(v)) => v,
        Ok(Err(e)) => {
            set_last_error(function, &e.message);
            on_error
        }
        Err(payload) => {
            set_last_error(function, &panic_message(&*payload));
            on_error
        }
    }
}

/// Runs a fallible body; returns `ALCM_OK`, the error's status, or `ALCM_ERR_PANIC`.
/// Clears the message first and sets it on failure.
pub fn ffi_status<F>(function: &'static str, body: F) -> alcm_status
where
    F: FnOnce() -> FfiResult<()>,
{
    clear_last_error();
    match catch_unwind(AssertUnwindSafe(body)) {
        Ok(Ok(())) => alcm_status::ALCM_OK,
        Ok(Err(FfiError { status, message })) => {
            set_last_error(function, &message);
            status
        }
        Err(payload) => {
            set_last_error(function, &panic_message(&*payload));
            alcm_status::ALCM_ERR_PANIC
        }
    }
}

/// For `void` exports (`*_free`): runs the body under the panic guard and leaves the calling
/// thread's last-error message untouched, success or failure. Language finalizers (Python,
/// Julia) free handles at arbitrary moments, e.g. between a failing call and the caller's read
/// of its message; a free must never erase or replace that message.
pub fn ffi_void<F>(function: &'static str, body: F)
where
    F: FnOnce() -> FfiResult<()>,
{
    let _ = function;
    let _ = catch_unwind(AssertUnwindSafe(body));
}

/// For getters that cannot fail: returns the body's value, or `on_panic` (and sets the message)
/// if it panics. Does not clear the message.
pub fn ffi_infallible<T, F>(function: &'static str, on_panic: T, body: F) -> T
where
    F: FnOnce() -> T,
{
    match catch_unwind(AssertUnwindSafe(body)) {
        Ok(v) => v,
        Err(payload) => {
            set_last_error(function, &panic_message(&*payload));
            on_panic
        }
    }
}

/// TEST ONLY (compiled with the cargo feature `test-panic`, never in the header): panics inside
/// the guard, to prove that a panic becomes `ALCM_ERR_PANIC` and the process survives.
///
/// cbindgen:ignore
#[cfg(feature = "test-panic")]
#[no_mangle]
pub extern "C" fn alcm_debug_trigger_panic() -> alcm_status {
    ffi_status("alcm_debug_trigger_panic", || {
        panic!("alcm_debug_trigger_panic was called")
    })
}

#[cfg(test)]
mod tests {
    use super::super::error::last_error;
    use super::*;

    #[test]
    fn panic_becomes_status_and_message_and_we_survive() {
        let st = ffi_status("alcm_boom", || panic!("boom {}", 42));
        assert_eq!(st, alcm_status::ALCM_ERR_PANIC);
        assert!(
            last_error().starts_with("alcm_boom: panic"),
            "{}",
            last_error()
        );
        assert!(last_error().contains("boom 42"));
        let v = ffi_value("alcm_boom2", 7usize, || -> FfiResult<usize> {
            panic!("static")
        });
        assert_eq!(v, 7);
        assert!(last_error().contains("static"));
        assert_eq!(
            ffi_infallible("alcm_boom3", 0u32, || -> u32 { panic!("x") }),
            0
        );
        // Still alive, and the next successful call clears the message.
        assert_eq!(ffi_status("alcm_ok", || Ok(())), alcm_status::ALCM_OK);
        assert_eq!(last_error(), "");
    }

    #[test]
    fn errors_become_their_status() {
        let st = ffi_status("alcm_f", || Err(crate::Error::corrupt("bad length 3"))?);
        assert_eq!(st, alcm_status::ALCM_ERR_CORRUPT);
        assert_eq!(last_error(), "alcm_f: bad length 3");
        assert_eq!(
            ffi_value("alcm_g", 0usize, || Err(FfiError::null("out"))),
            0
        );
        assert_eq!(last_error(), "alcm_g: out is NULL");
        // Infallible getters leave the message alone.
        assert_eq!(ffi_infallible("alcm_h", 0, || 5), 5);
        assert_eq!(last_error(), "alcm_g: out is NULL");
    }

    #[cfg(feature = "test-panic")]
    #[test]
    fn debug_export_panics_into_a_status() {
        assert_eq!(alcm_debug_trigger_panic(), alcm_status::ALCM_ERR_PANIC);
        assert!(last_error().contains("alcm_debug_trigger_panic was called"));
    }
}
