//! Exports over the low-rank compressor (`crate::lowrank`): one rank's PowerSGD state for one
//! matrix, with the factors coded as alcm frames.

use super::error::FfiError;
use super::handle::{
    box_handle, free_handle, handle_mut, handle_ref, in_slice, out_ptr, out_slice, OpaqueHandle,
    OutSlice,
};
use super::panic::{ffi_status, ffi_void};
use super::status::alcm_status;
use crate::lowrank::{low_rank_pays, LowRank, LowRankConfig};

/// One rank's low-rank state for one matrix: the warm-start factor Q, the error-feedback
/// residual and the step in progress. Exclusive access per call; may move between threads.
pub struct alcm_lowrank {
    _private: [u8; 0],
}

// SAFETY: the tag is unique among handle types.
unsafe impl OpaqueHandle for alcm_lowrank {
    type Inner = LowRank;
    const MAGIC: u64 = u64::from_be_bytes(*b"alcmLRK1");
    const NAME: &'static str = "alcm_lowrank";
}

fn config(
    rank: usize,
    factor_target: f64,
    min_compression: f64,
    feedback: u32,
    seed: u64,
) -> LowRankConfig {
    LowRankConfig {
        rank,
        factor_target,
        min_compression,
        feedback: feedback != 0,
        seed,
    }
}

/// LOW-RANK COMPRESSION (part of the compressed collectives)
///
/// PowerSGD-style compression of a `rows x cols` gradient on each of N ranks, the factors P
/// (`rows x rank`) and Q (`cols x rank`) coded as frames at relative L2 error `factor_target`.
/// The caller moves the bytes; per step: (1) alcm_lowrank_begin gives the P frame: all-gather
/// it, decode every rank's frame and sum them in rank order (every rank the same sum);
/// (2) alcm_lowrank_after_p with that sum gives the Q frame: all-gather and sum the same way;
/// (3) alcm_lowrank_finish with that sum and scale 1/N writes the mean gradient's approximation
/// and keeps the residual and the warm start. Tensors for which alcm_lowrank_pays says 0
/// (biases, conv kernels, small matrices) go through an ordinary mode instead.
///
/// Sets `*out` to 1 when low rank pays for a `rows x cols` matrix at `rank`
/// (`rows*cols >= min_compression * rank * (rows + cols)`, both dimensions non-zero), else 0.
///
/// Returns: ALCM_OK; `*out` is written only on success.
/// Errors: ALCM_ERR_NULL_POINTER (`out`), ALCM_ERR_INVALID_ARGUMENT (`out` misaligned).
/// Threads: any thread.
#[no_mangle]
pub unsafe extern "C" fn alcm_lowrank_pays(
    rows: usize,
    cols: usize,
    rank: usize,
    min_compression: f64,
    out: *mut u32,
) -> alcm_status {
    ffi_status("alcm_lowrank_pays", || {
        // SAFETY: the caller upholds the documented contract.
        let out = unsafe { out_ptr(out, "out")? };
        let c = config(rank, 0.5, min_compression, 1, 0);
        out.write(u32::from(low_rank_pays(&[rows, cols], &c)));
        Ok(())
    })
}

/// Creates the state for `rows x cols` gradients: factors of rank `rank` coded at relative L2
/// error `factor_target` (in (0, 1)); error feedback when `feedback` is non-zero; the first Q
/// drawn from `seed`. Every rank must pass the same arguments.
///
/// Returns: ALCM_OK; `*out` is written only on success.
/// Errors: ALCM_ERR_NULL_POINTER (`out`), ALCM_ERR_INVALID_ARGUMENT (low rank does not pay for
/// the shape, see alcm_lowrank_pays; `out` misaligned), ALCM_ERR_INVALID_CONFIG (`rank` 0,
/// `factor_target` outside (0, 1), `min_compression` below 1 or not finite),
/// ALCM_ERR_TOO_LARGE (the state cannot be allocated).
/// Memory: `*out` (about 8 bytes per value of the matrix) is owned by the caller: free it with
/// alcm_lowrank_free.
/// Threads: any thread.
#[no_mangle]
pub unsafe extern "C" fn alcm_lowrank_new(
    rows: usize,
    cols: usize,
    rank: usize,
    factor_target: f64,
    min_compression: f64,
    feedback: u32,
    seed: u64,
    out: *mut *mut alcm_lowrank,
) -> alcm_status {
    ffi_status("alcm_lowrank_new", || {
        // SAFETY: the caller upholds the documented contract.
        let out = unsafe { out_ptr(out, "out")? };
        let c = config(rank, factor_target, min_compression, feedback, seed);
        out.write(box_handle(LowRank::new(&[rows, cols], c)?));
        Ok(())
    })
}

/// The value counts of a P factor (`rows * rank`) and of a Q factor (`cols * rank`): the sums
/// passed to alcm_lowrank_after_p and alcm_lowrank_finish, and (through alcm_compress_bound)
/// the frame buffers of alcm_lowrank_begin and alcm_lowrank_after_p.
///
/// Returns: ALCM_OK; `*p_len` and `*q_len` are written only on success.
/// Errors: ALCM_ERR_NULL_POINTER (`lr`, `p_len`, `q_len`), ALCM_ERR_INVALID_HANDLE (`lr`),
/// ALCM_ERR_INVALID_ARGUMENT (misaligned pointer).
/// Threads: `lr` is only read: other threads may use it at the same time in calls that take it
/// as `const`.
#[no_mangle]
pub unsafe extern "C" fn alcm_lowrank_sizes(
    lr: *const alcm_lowrank,
    p_len: *mut usize,
    q_len: *mut usize,
) -> alcm_status {
    ffi_status("alcm_lowrank_sizes", || {
        // SAFETY: the caller upholds the documented contract.
        let (lr, p, q) = unsafe {
            (
                handle_ref(lr, "lr")?,
                out_ptr(p_len, "p_len")?,
                out_ptr(q_len, "q_len")?,
            )
        };
        p.write(lr.p_len());
        q.write(lr.q_len());
        Ok(())
    })
}

/// Round 1: adds the residual to `gradient` (`n_values` = rows*cols floats, C order), and
/// writes the frame of its P factor to `dst` (`dst_capacity` at least alcm_compress_bound of
/// the P value count). Starts a new step (one left unfinished is dropped).
///
/// Returns: ALCM_OK; the frame is in `dst[0..*dst_len]`. On error nothing changes.
/// Errors: ALCM_ERR_NULL_POINTER (`lr`, `dst_len`; `gradient`, `dst` when their length is not
/// 0), ALCM_ERR_INVALID_HANDLE (`lr`), ALCM_ERR_INVALID_ARGUMENT (`n_values` is not rows*cols,
/// misaligned pointer), ALCM_ERR_BUFFER_TOO_SMALL (`dst_capacity` below the bound; checked
/// before any work), ALCM_ERR_NON_FINITE (NaN or Inf in the gradient).
/// Memory: inputs are borrowed for the call; `dst` must not overlap them.
/// Threads: exclusive use of `lr`.
#[no_mangle]
pub unsafe extern "C" fn alcm_lowrank_begin(
    lr: *mut alcm_lowrank,
    gradient: *const f32,
    n_values: usize,
    dst: *mut u8,
    dst_capacity: usize,
    dst_len: *mut usize,
) -> alcm_status {
    ffi_status("alcm_lowrank_begin", || {
        // SAFETY: the caller upholds the documented contract.
        let (lr, g, dst, dst_len) = unsafe {
            (
                handle_mut(lr, "lr")?,
                in_slice(gradient, n_values, "gradient")?,
                out_slice(dst, dst_capacity, "dst")?,
                out_ptr(dst_len, "dst_len")?,
            )
        };
        super::handle::check_compress_bound(lr.p_len(), dst_capacity)?;
        let c = lr.begin(g)?;
        dst_len.write(dst.write_from(&c.bytes)?);
        Ok(())
    })
}

/// Round 2: `p_sum` (`n_values` = the P value count) is the sum, in rank order, of every
/// rank's decoded P frame; orthonormalises it and writes the frame of this rank's Q factor to
/// `dst` (`dst_capacity` at least alcm_compress_bound of the Q value count).
///
/// Returns: ALCM_OK; the frame is in `dst[0..*dst_len]`. On error nothing changes.
/// Errors: ALCM_ERR_NULL_POINTER (`lr`, `dst_len`; `p_sum`, `dst` when their length is not 0),
/// ALCM_ERR_INVALID_HANDLE (`lr`), ALCM_ERR_INVALID_ARGUMENT (not after alcm_lowrank_begin,
/// wrong `n_values`, NaN or Inf in `p_sum`, misaligned pointer), ALCM_ERR_BUFFER_TOO_SMALL
/// (`dst_capacity` below the bound; checked before any work).
/// Memory: inputs are borrowed for the call; `dst` must not overlap them.
/// Threads: exclusive use of `lr`.
#[no_mangle]
pub unsafe extern "C" fn alcm_lowrank_after_p(
    lr: *mut alcm_lowrank,
    p_sum: *const f32,
    n_values: usize,
    dst: *mut u8,
    dst_capacity: usize,
    dst_len: *mut usize,
) -> alcm_status {
    ffi_status("alcm_lowrank_after_p", || {
        // SAFETY: the caller upholds the documented contract.
        let (lr, p, dst, dst_len) = unsafe {
            (
                handle_mut(lr, "lr")?,
                in_slice(p_sum, n_values, "p_sum")?,
                out_slice(dst, dst_capacity, "dst")?,
                out_ptr(dst_len, "dst_len")?,
            )
        };
        super::handle::check_compress_bound(lr.q_len(), dst_capacity)?;
        let c = lr.after_p(p)?;
        dst_len.write(dst.write_from(&c.bytes)?);
        Ok(())
    })
}

/// Last step: `q_sum` (`n_values` = the Q value count) is the sum, in rank order, of every
/// rank's decoded Q frame; writes `scale * P Q^T` to `out` (`out_len` = rows*cols; scale 1/N
/// for the mean over N ranks), updates the residual and keeps `q_sum` as the next warm start.
///
/// Returns: ALCM_OK. On error nothing changes and `out` is not written.
/// Errors: ALCM_ERR_NULL_POINTER (`lr`; `q_sum`, `out` when their length is not 0),
/// ALCM_ERR_INVALID_HANDLE (`lr`), ALCM_ERR_INVALID_ARGUMENT (not after alcm_lowrank_after_p,
/// wrong `n_values` or `out_len`, `scale` or `q_sum` not finite, misaligned pointer).
/// Memory: inputs are borrowed for the call; `out` must not overlap them.
/// Threads: exclusive use of `lr`.
#[no_mangle]
pub unsafe extern "C" fn alcm_lowrank_finish(
    lr: *mut alcm_lowrank,
    q_sum: *const f32,
    n_values: usize,
    scale: f32,
    out: *mut f32,
    out_len: usize,
) -> alcm_status {
    ffi_status("alcm_lowrank_finish", || {
        // SAFETY: the caller upholds the documented contract.
        let (lr, q, out) = unsafe {
            (
                handle_mut(lr, "lr")?,
                in_slice(q_sum, n_values, "q_sum")?,
                out_slice(out, out_len, "out")?,
            )
        };
        let mut buf = vec![0.0f32; out.len().min(lr.shape()[0] * lr.shape()[1])];
        if out.len() != buf.len() {
            return Err(FfiError::invalid_argument(format!(
                "out holds {} values, the matrix {}",
                out.len(),
                buf.len()
            )));
        }
        lr.finish(q, scale, &mut buf)?;
        out.write_from(&buf)?;
        Ok(())
    })
}

/// Copies the warm-start Q (`cols x rank`, C order; `len` = the Q value count) to `out`, for
/// a checkpoint.
///
/// Returns: ALCM_OK.
/// Errors: ALCM_ERR_NULL_POINTER (`lr`; `out` when `len` is not 0), ALCM_ERR_INVALID_HANDLE
/// (`lr`), ALCM_ERR_INVALID_ARGUMENT (`len` is not the Q value count, misaligned pointer).
/// Threads: `lr` is only read: other threads may use it at the same time in calls that take it
/// as `const`.
#[no_mangle]
pub unsafe extern "C" fn alcm_lowrank_get_q(
    lr: *const alcm_lowrank,
    out: *mut f32,
    len: usize,
) -> alcm_status {
    ffi_status("alcm_lowrank_get_q", || {
        // SAFETY: the caller upholds the documented contract.
        let (lr, out) = unsafe { (handle_ref(lr, "lr")?, out_slice(out, len, "out")?) };
        copy_out(lr.q(), out, "q")
    })
}

/// Restores a warm-start Q saved with alcm_lowrank_get_q (cancels a step in progress).
///
/// Returns: ALCM_OK. On error nothing changes.
/// Errors: ALCM_ERR_NULL_POINTER (`lr`; `q` when `len` is not 0), ALCM_ERR_INVALID_HANDLE
/// (`lr`), ALCM_ERR_INVALID_ARGUMENT (`len` is not the Q value count, NaN or Inf, misaligned
/// pointer).
/// Memory: `q` is borrowed for the call.
/// Threads: exclusive use of `lr`.
#[no_mangle]
pub unsafe extern "C" fn alcm_lowrank_set_q(
    lr: *mut alcm_lowrank,
    q: *const f32,
    len: usize,
) -> alcm_status {
    ffi_status("alcm_lowrank_set_q", || {
        // SAFETY: the caller upholds the documented contract.
        let (lr, q) = unsafe { (handle_mut(lr, "lr")?, in_slice(q, len, "q")?) };
        Ok(lr.set_q(q)?)
    })
}

/// Copies the residual (rows*cols values, C order; 0 values when the state has no error
/// feedback) to `out` (`len` values), for a checkpoint.
///
/// Returns: ALCM_OK.
/// Errors: ALCM_ERR_NULL_POINTER (`lr`; `out` when `len` is not 0), ALCM_ERR_INVALID_HANDLE
/// (`lr`), ALCM_ERR_INVALID_ARGUMENT (`len` is not the residual's length, misaligned pointer).
/// Threads: `lr` is only read: other threads may use it at the same time in calls that take it
/// as `const`.
#[no_mangle]
pub unsafe extern "C" fn alcm_lowrank_get_residual(
    lr: *const alcm_lowrank,
    out: *mut f32,
    len: usize,
) -> alcm_status {
    ffi_status("alcm_lowrank_get_residual", || {
        // SAFETY: the caller upholds the documented contract.
        let (lr, out) = unsafe { (handle_ref(lr, "lr")?, out_slice(out, len, "out")?) };
        copy_out(lr.residual(), out, "residual")
    })
}

/// Restores a residual saved with alcm_lowrank_get_residual (cancels a step in progress).
///
/// Returns: ALCM_OK. On error nothing changes.
/// Errors: ALCM_ERR_NULL_POINTER (`lr`; `residual` when `len` is not 0),
/// ALCM_ERR_INVALID_HANDLE (`lr`), ALCM_ERR_INVALID_ARGUMENT (`len` is not the residual's
/// length, NaN or Inf, misaligned pointer).
/// Memory: `residual` is borrowed for the call.
/// Threads: exclusive use of `lr`.
#[no_mangle]
pub unsafe extern "C" fn alcm_lowrank_set_residual(
    lr: *mut alcm_lowrank,
    residual: *const f32,
    len: usize,
) -> alcm_status {
    ffi_status("alcm_lowrank_set_residual", || {
        // SAFETY: the caller upholds the documented contract.
        let (lr, r) = unsafe { (handle_mut(lr, "lr")?, in_slice(residual, len, "residual")?) };
        Ok(lr.set_residual(r)?)
    })
}

/// Frees low-rank state. NULL is a no-op; a handle that is not live state is left alone.
///
/// Memory: `lr` is NULL or a handle from alcm_lowrank_new, freed once and not used afterwards.
/// Threads: any thread, once no other call uses `lr`.
#[no_mangle]
pub unsafe extern "C" fn alcm_lowrank_free(lr: *mut alcm_lowrank) {
    // SAFETY: the caller upholds the documented contract; NULL is a no-op.
    ffi_void("alcm_lowrank_free", || unsafe { free_handle(lr) })
}

fn copy_out(src: &[f32], out: OutSlice<'_, f32>, what: &str) -> Result<(), FfiError> {
    if out.len() != src.len() {
        return Err(FfiError::invalid_argument(format!(
            "out holds {} values, the {what} {}",
            out.len(),
            src.len()
        )));
    }
    out.write_from(src)?;
    Ok(())
}
