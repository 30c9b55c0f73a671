//! Exports over the error-feedback state (the residual carried from step to step).

use std::os::raw::c_char;

use super::codec::{alcm_encoder, alcm_feedback, alcm_report, finish};
use super::error::FfiError;
use super::handle::{
    box_handle, c_path, free_handle, handle_mut, handle_ref, in_slice, opt_out_ptr, out_ptr,
    out_slice,
};
use super::panic::{ffi_status, ffi_void};
use super::status::alcm_status;
use crate::abi::ALCM_MAX_RANK;
use crate::ErrorFeedback;

/// --------------------------------------------------------------------------------------------
/// ERROR FEEDBACK
///
/// Gradient compression in a training loop: an alcm_feedback keeps, for one tensor, the residual of
/// the previous step (what the decoder lost) and adds it to the next gradient before compressing,
/// so that quantization error is delayed, never lost. One state per tensor; it can be saved and
/// loaded with a checkpoint. Every call on a state needs exclusive access.
///
/// --------------------------------------------------------------------------------------------
///
/// Creates error-feedback state (a zero residual) for tensors of `shape`.
/// ALCM_ERR_INVALID_ARGUMENT for rank > ALCM_MAX_RANK; ALCM_ERR_TOO_LARGE for more than
/// ALCM_MAX_ELEMENTS values or when the residual's memory cannot be had (never an abort).
///
/// Returns: ALCM_OK; `*out` is written only on success.
/// Errors: ALCM_ERR_INVALID_ARGUMENT (rank above ALCM_MAX_RANK; checked first; misaligned pointer),
/// ALCM_ERR_NULL_POINTER (`out`; `shape` when `rank` is not 0), ALCM_ERR_TOO_LARGE (the shape
/// overflows or exceeds ALCM_MAX_ELEMENTS, or its residual cannot be allocated).
/// Memory: `shape` is borrowed for the call. `*out` (4 bytes per value of the shape) is owned by
/// the caller: free it with alcm_feedback_free.
/// Threads: any thread.
#[no_mangle]
pub unsafe extern "C" fn alcm_feedback_new(
    rank: usize,
    shape: *const usize,
    out: *mut *mut alcm_feedback,
) -> alcm_status {
    ffi_status("alcm_feedback_new", || {
        if rank > ALCM_MAX_RANK {
            return Err(FfiError::invalid_argument(format!(
                "rank {rank} exceeds ALCM_MAX_RANK"
            )));
        }
        // SAFETY: the caller upholds the documented contract.
        let (shape, out) = unsafe { (in_slice(shape, rank, "shape")?, out_ptr(out, "out")?) };
        // ErrorFeedback::new bounds the count (ALCM_MAX_ELEMENTS) and reserves fallibly.
        out.write(box_handle(ErrorFeedback::new(shape)?));
        Ok(())
    })
}

/// Compresses `gradient + residual` (`n_values` floats, the state's value count, C order of its
/// shape) with `enc` into `dst` and keeps the new residual; `allocation`, `dst`, `dst_len` and
/// `report` as for alcm_encoder_compress, except that `dst_capacity` must be at least
/// alcm_compress_bound(n_values).
/// On error the residual is unchanged. The value count is checked before the buffer size.
///
/// Returns: ALCM_OK; the frame is in `dst[0..*dst_len]`, `*report` (if non-NULL) describes it. On
/// error the residual is unchanged and nothing is written.
/// Errors: ALCM_ERR_NULL_POINTER (`fb`, `enc`, `dst_len`; `gradient`, `allocation`, `dst` when
/// their length is not 0), ALCM_ERR_INVALID_HANDLE (`fb`, `enc`), ALCM_ERR_INVALID_ARGUMENT
/// (`n_values` is not the state's value count, allocation as for alcm_encoder_compress, misaligned
/// pointer), ALCM_ERR_TOO_LARGE (an array length beyond the address space),
/// ALCM_ERR_BUFFER_TOO_SMALL (`dst_capacity` below alcm_compress_bound(n_values); checked before
/// any work), ALCM_ERR_NON_FINITE (NaN/Inf with the refuse policy), ALCM_ERR_TIMEOUT.
/// Memory: inputs are borrowed for the call; `dst` must not overlap them.
/// Threads: exclusive use of `fb`; `enc` is only read and may be shared.
#[no_mangle]
pub unsafe extern "C" fn alcm_feedback_compress(
    fb: *mut alcm_feedback,
    enc: *const alcm_encoder,
    gradient: *const f32,
    n_values: usize,
    allocation: *const f64,
    allocation_len: usize,
    dst: *mut u8,
    dst_capacity: usize,
    dst_len: *mut usize,
    report: *mut alcm_report,
) -> alcm_status {
    ffi_status("alcm_feedback_compress", || {
        // SAFETY: the caller upholds the documented contract.
        let (fb, e, g, alloc, dst, dst_len) = unsafe {
            (
                handle_mut(fb, "fb")?,
                handle_ref(enc, "enc")?,
                in_slice(gradient, n_values, "gradient")?,
                in_slice(allocation, allocation_len, "allocation")?,
                out_slice(dst, dst_capacity, "dst")?,
                out_ptr(dst_len, "dst_len")?,
            )
        };
        // SAFETY: as above; `report` is optional.
        let report_out = unsafe { opt_out_ptr(report, "report")? };
        // The value count is the caller's mistake to report first (not a buffer too small
        // for a count that is wrong anyway).
        crate::util::shape::check_shape(g.len(), fb.shape())?;
        super::handle::check_compress_bound(n_values, dst_capacity)?;
        let c = fb.compress(e, g, (!alloc.is_empty()).then_some(alloc))?;
        finish(&c.bytes, &c.report, dst, dst_len, report_out)
    })
}

/// Sets the residual to zero (e.g. after a learning-rate reset or a restart).
///
/// Returns: ALCM_OK.
/// Errors: ALCM_ERR_NULL_POINTER (`fb`), ALCM_ERR_INVALID_HANDLE (`fb`).
/// Threads: exclusive: no other call may use `fb` during this call.
#[no_mangle]
pub unsafe extern "C" fn alcm_feedback_reset(fb: *mut alcm_feedback) -> alcm_status {
    ffi_status("alcm_feedback_reset", || {
        // SAFETY: the caller upholds the documented contract.
        unsafe { handle_mut(fb, "fb")? }.reset();
        Ok(())
    })
}

/// Saves the state (shape and residual, checksummed) to `path` atomically (temporary file in the
/// same directory, then rename).
///
/// Returns: ALCM_OK.
/// Errors: ALCM_ERR_NULL_POINTER (`fb`, `path`), ALCM_ERR_INVALID_HANDLE (`fb`),
/// ALCM_ERR_INVALID_UTF8 (`path`), ALCM_ERR_INVALID_ARGUMENT (empty `path`, or one that names no
/// file), ALCM_ERR_IO (writing or renaming failed).
/// Memory: `path` is borrowed for the call.
/// Threads: `fb` is only read: other threads may use the same handle at the same time in calls that
/// take it as `const`.
#[no_mangle]
pub unsafe extern "C" fn alcm_feedback_save(
    fb: *const alcm_feedback,
    path: *const c_char,
) -> alcm_status {
    ffi_status("alcm_feedback_save", || {
        // SAFETY: the caller upholds the documented contract.
        let (fb, path) = unsafe { (handle_ref(fb, "fb")?, c_path(path, "path")?) };
        Ok(fb.save(path)?)
    })
}

/// Loads a state saved by alcm_feedback_save.
///
/// Returns: ALCM_OK; `*out` is written only on success.
/// Errors: ALCM_ERR_NULL_POINTER (`path`, `out`), ALCM_ERR_INVALID_UTF8 (`path`),
/// ALCM_ERR_INVALID_ARGUMENT (empty `path`, `out` misaligned), ALCM_ERR_IO (the file cannot be
/// read or is not a regular file), ALCM_ERR_TOO_LARGE (a file over 76 + 4 * 2^32 bytes, checked
/// before reading), ALCM_ERR_INVALID_MODEL (not an alcm feedback state, truncated under a valid
/// checksum, or inconsistent), ALCM_ERR_CHECKSUM (the file was altered or cut),
/// ALCM_ERR_FORMAT_VERSION (written in a newer state version).
/// Memory: `path` is borrowed for the call. `*out` is owned by the caller: free it with
/// alcm_feedback_free.
/// Threads: any thread.
#[no_mangle]
pub unsafe extern "C" fn alcm_feedback_load(
    path: *const c_char,
    out: *mut *mut alcm_feedback,
) -> alcm_status {
    ffi_status("alcm_feedback_load", || {
        // SAFETY: the caller upholds the documented contract.
        let (path, out) = unsafe { (c_path(path, "path")?, out_ptr(out, "out")?) };
        out.write(box_handle(ErrorFeedback::load(path)?));
        Ok(())
    })
}

/// Frees feedback state. NULL is a no-op; a handle that is not live state is left alone.
///
/// Memory: `fb` is NULL or a handle from alcm_feedback_new / alcm_feedback_load, freed once and not
/// used afterwards.
/// Threads: any thread, once no other call uses `fb`.
#[no_mangle]
pub unsafe extern "C" fn alcm_feedback_free(fb: *mut alcm_feedback) {
    // SAFETY: the caller upholds the documented contract; NULL is a no-op.
    ffi_void("alcm_feedback_free", || unsafe { free_handle(fb) })
}
