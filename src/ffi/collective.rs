//! Exports over the compressed collectives (`crate::collective`): the per-tensor exchange state
//! of one rank and the named residual store.

use std::os::raw::c_char;

use super::codec::{alcm_encoder, alcm_feedback, alcm_report, finish};
use super::error::FfiError;
use super::handle::{
    box_handle, c_path, c_str, free_handle, handle_mut, handle_ref, in_slice, opt_out_ptr, out_ptr,
    out_slice, OpaqueHandle,
};
use super::panic::{ffi_status, ffi_void};
use super::status::alcm_status;
use crate::abi::ALCM_MAX_RANK;
use crate::collective::{ResidualStore, ShardLayout, ShardedExchange};

/// One rank's state for one tensor in a compressed reduce-scatter + all-gather (the residuals
/// of both stages). Exclusive access per call; may move between threads.
pub struct alcm_exchange {
    _private: [u8; 0],
}

// SAFETY: the tag is unique among handle types.
unsafe impl OpaqueHandle for alcm_exchange {
    type Inner = ShardedExchange;
    const MAGIC: u64 = u64::from_be_bytes(*b"alcmXCH1");
    const NAME: &'static str = "alcm_exchange";
}

/// Error-feedback residuals keyed by name, saved to one checksummed file. Exclusive access for
/// calls that take it non-const.
pub struct alcm_residual_store {
    _private: [u8; 0],
}

// SAFETY: the tag is unique among handle types.
unsafe impl OpaqueHandle for alcm_residual_store {
    type Inner = ResidualStore;
    const MAGIC: u64 = u64::from_be_bytes(*b"alcmRST1");
    const NAME: &'static str = "alcm_residual_store";
}

/// --------------------------------------------------------------------------------------------
/// COMPRESSED COLLECTIVES
///
/// A compressed reduce-scatter + all-gather whose bytes per rank stay flat as ranks grow; the
/// caller moves the bytes (MPI_Alltoallv + MPI_Allgatherv, gloo, NCCL). Per step, on rank r of N,
/// for each tensor: (1) for every j, alcm_exchange_compress_shard(j) and send the message to rank
/// j; (2) zero a buffer of alcm_exchange_shard(r) values and alcm_exchange_accumulate every message
/// received (scale 1/N for the mean); (3) alcm_exchange_compress_reduced that buffer and all-gather
/// the message; (4) alcm_exchange_decode_shard(j) every gathered message into the full tensor. Both
/// stages carry an error-feedback residual; alcm_exchange_save_residuals puts them in an
/// alcm_residual_store for a checkpoint.
///
/// The exchange's messages are codec frames without what every rank's state already knows (shape,
/// element type; docs/FORMAT.md, "Exchange messages"): about 15 bytes of framing instead of about
/// 90. They are not alcm frames (alcm_decompress refuses them): decode them with this exchange's
/// functions. Messages concatenate; alcm_exchange_message_len splits such a buffer again.
///
/// --------------------------------------------------------------------------------------------
///
/// Creates the state of rank `this_rank` of `ranks` for tensors of `shape` (zero residuals). The
/// first axis is split into at most `ranks` row-aligned shards of at least `min_shard_values`
/// values each (0 or 1: no minimum), as even as rows allow (the first ones one row longer); the
/// non-empty shards go to consecutive ranks starting at `first_rank` (modulo `ranks`), the
/// other ranks' shards are empty. A minimum of a few thousand values keeps small tensors from
/// being cut into frames that are mostly header (a frame costs about 100 bytes); give every
/// tensor of a model its own `first_rank` (e.g. its index) to spread them. Every rank must
/// pass the same shape, `ranks`, `min_shard_values` and `first_rank`.
///
/// Returns: ALCM_OK; `*out` is written only on success.
/// Errors: ALCM_ERR_INVALID_ARGUMENT (rank above ALCM_MAX_RANK, `ranks` 0, `this_rank` not below
/// `ranks`, a shape whose size overflows, misaligned pointer), ALCM_ERR_NULL_POINTER (`out`;
/// `shape` when `rank` is not 0), ALCM_ERR_TOO_LARGE (more than ALCM_MAX_ELEMENTS values or the
/// residuals cannot be allocated).
/// Memory: `shape` is borrowed for the call. `*out` (about 8 bytes per value of the shape) is owned
/// by the caller: free it with alcm_exchange_free.
/// Threads: any thread.
#[no_mangle]
pub unsafe extern "C" fn alcm_exchange_new(
    rank: usize,
    shape: *const usize,
    ranks: usize,
    this_rank: usize,
    min_shard_values: usize,
    first_rank: usize,
    out: *mut *mut alcm_exchange,
) -> alcm_status {
    ffi_status("alcm_exchange_new", || {
        if rank > ALCM_MAX_RANK {
            return Err(FfiError::invalid_argument(format!(
                "rank {rank} exceeds ALCM_MAX_RANK"
            )));
        }
        // SAFETY: the caller upholds the documented contract.
        let (shape, out) = unsafe { (in_slice(shape, rank, "shape")?, out_ptr(out, "out")?) };
        let layout = ShardLayout {
            min_values: min_shard_values,
            first_rank,
        };
        out.write(box_handle(ShardedExchange::with_layout(
            shape, ranks, this_rank, layout,
        )?));
        Ok(())
    })
}

/// The values of shard `j` in the full tensor (C order): `*offset` and `*count`.
///
/// Returns: ALCM_OK; `*offset` and `*count` are written only on success.
/// Errors: ALCM_ERR_NULL_POINTER (`ex`, `offset`, `count`), ALCM_ERR_INVALID_HANDLE (`ex`),
/// ALCM_ERR_INVALID_ARGUMENT (`j` not below the rank count, misaligned pointer).
/// Threads: `ex` is only read: other threads may use it at the same time in calls that take it as
/// `const`.
#[no_mangle]
pub unsafe extern "C" fn alcm_exchange_shard(
    ex: *const alcm_exchange,
    j: usize,
    offset: *mut usize,
    count: *mut usize,
) -> alcm_status {
    ffi_status("alcm_exchange_shard", || {
        // SAFETY: the caller upholds the documented contract.
        let (ex, offset, count) = unsafe {
            (
                handle_ref(ex, "ex")?,
                out_ptr(offset, "offset")?,
                out_ptr(count, "count")?,
            )
        };
        if j >= ex.ranks() {
            return Err(FfiError::invalid_argument(format!(
                "shard {j} does not exist ({} ranks)",
                ex.ranks()
            )));
        }
        let r = ex.shard(j);
        offset.write(r.start);
        count.write(r.len());
        Ok(())
    })
}

/// Stage 1: compresses shard `j` of `gradient` (the full tensor, `n_values` floats) plus its
/// residual with `enc` into a message in `dst`, for rank `j`, and keeps the new residual.
/// `dst_capacity` must be at least alcm_compress_bound of the shard's value count. An empty shard
/// has no message: `*dst_len` is 0 (send nothing) and `*report` is zeroed.
///
/// Returns: ALCM_OK; the message is in `dst[0..*dst_len]`, `*report` (if non-NULL) describes it
/// (its sizes, ratio and CAQ are the message's). On
/// error the residual is unchanged and nothing is written.
/// Errors: ALCM_ERR_NULL_POINTER (`ex`, `enc`, `dst_len`; `gradient`, `dst` when their length is
/// not 0), ALCM_ERR_INVALID_HANDLE (`ex`, `enc`), ALCM_ERR_INVALID_ARGUMENT (`n_values` is not the
/// tensor's value count, `j` not below the rank count, misaligned pointer),
/// ALCM_ERR_BUFFER_TOO_SMALL (`dst_capacity` below the bound; checked before any work),
/// ALCM_ERR_NON_FINITE (NaN/Inf with the refuse policy), ALCM_ERR_TIMEOUT.
/// Memory: inputs are borrowed for the call; `dst` must not overlap them.
/// Threads: exclusive use of `ex`; `enc` is only read and may be shared.
#[no_mangle]
pub unsafe extern "C" fn alcm_exchange_compress_shard(
    ex: *mut alcm_exchange,
    enc: *const alcm_encoder,
    gradient: *const f32,
    n_values: usize,
    j: usize,
    dst: *mut u8,
    dst_capacity: usize,
    dst_len: *mut usize,
    report: *mut alcm_report,
) -> alcm_status {
    // SAFETY: the caller upholds the documented contract; no allocation.
    unsafe {
        compress_shard_as(
            "alcm_exchange_compress_shard",
            ex,
            enc,
            gradient,
            n_values,
            j,
            (std::ptr::null(), 0),
            (dst, dst_capacity, dst_len),
            report,
        )
    }
}

/// As alcm_exchange_compress_shard, with a bit allocation for `ALCM_MODE_ADAPTIVE`:
/// `allocation_len` values, one per channel of shard `j` (the channels of a tensor of the shard's
/// shape: the full shape with the first axis cut to the shard's rows; predict them on the shard,
/// e.g. alcm_predictor_predict_channels). `allocation_len` 0: as alcm_exchange_compress_shard.
///
/// Returns: ALCM_OK; the message is in `dst[0..*dst_len]`, `*report` (if non-NULL) describes it.
/// On error the residual is unchanged and nothing is written.
/// Errors: those of alcm_exchange_compress_shard, and ALCM_ERR_NULL_POINTER (`allocation` when
/// `allocation_len` is not 0), ALCM_ERR_INVALID_ARGUMENT (allocation as for alcm_encoder_compress).
/// Memory: inputs are borrowed for the call; `dst` must not overlap them.
/// Threads: exclusive use of `ex`; `enc` is only read and may be shared.
#[no_mangle]
pub unsafe extern "C" fn alcm_exchange_compress_shard_allocated(
    ex: *mut alcm_exchange,
    enc: *const alcm_encoder,
    gradient: *const f32,
    n_values: usize,
    j: usize,
    allocation: *const f64,
    allocation_len: usize,
    dst: *mut u8,
    dst_capacity: usize,
    dst_len: *mut usize,
    report: *mut alcm_report,
) -> alcm_status {
    // SAFETY: the caller upholds the documented contract.
    unsafe {
        compress_shard_as(
            "alcm_exchange_compress_shard_allocated",
            ex,
            enc,
            gradient,
            n_values,
            j,
            (allocation, allocation_len),
            (dst, dst_capacity, dst_len),
            report,
        )
    }
}

/// The body of alcm_exchange_compress_shard(_allocated), named `function` in errors; an empty
/// allocation compresses as without one.
#[allow(clippy::too_many_arguments)]
unsafe fn compress_shard_as(
    function: &'static str,
    ex: *mut alcm_exchange,
    enc: *const alcm_encoder,
    gradient: *const f32,
    n_values: usize,
    j: usize,
    (allocation, allocation_len): (*const f64, usize),
    (dst, dst_capacity, dst_len): (*mut u8, usize, *mut usize),
    report: *mut alcm_report,
) -> alcm_status {
    ffi_status(function, || {
        // SAFETY: the caller upholds the documented contract.
        let (ex, e, g, alloc, dst, dst_len) = unsafe {
            (
                handle_mut(ex, "ex")?,
                handle_ref(enc, "enc")?,
                in_slice(gradient, n_values, "gradient")?,
                in_slice(allocation, allocation_len, "allocation")?,
                out_slice(dst, dst_capacity, "dst")?,
                out_ptr(dst_len, "dst_len")?,
            )
        };
        // SAFETY: as above; `report` is optional.
        let report_out = unsafe { opt_out_ptr(report, "report")? };
        crate::util::shape::check_shape(g.len(), ex.shape())?;
        if j >= ex.ranks() {
            return Err(FfiError::invalid_argument(format!(
                "shard {j} does not exist ({} ranks)",
                ex.ranks()
            )));
        }
        super::handle::check_compress_bound(ex.shard(j).len(), dst_capacity)?;
        let alloc = (!alloc.is_empty()).then_some(alloc);
        finish_opt(
            ex.compress_shard_allocated(e, g, j, alloc)?,
            dst,
            dst_len,
            report_out,
        )
    })
}

/// Stage 1, receiving side: `out[i] += scale * decode(frame)[i]`, where `frame` is one message
/// of alcm_exchange_compress_shard for this rank and `out` is this rank's shard (`out_len` = the
/// count of alcm_exchange_shard(this rank)). A lossy frame of the rank-1 model (the usual one) is
/// summed as it decodes; any other frame is decoded into one scratch buffer the state keeps and
/// reuses, then added in one pass; the sum is the same either way. When this rank's shard is
/// empty, `frame_len` must be 0 and nothing happens.
///
/// Returns: ALCM_OK. On error `out` is unchanged, except for a frame that passes its checksum
/// but is malformed (crafted, not damaged in transit): then `out` may be partly summed.
/// Errors: ALCM_ERR_NULL_POINTER (`ex`; `frame`, `out` when their length is not 0),
/// ALCM_ERR_INVALID_HANDLE (`ex`), ALCM_ERR_INVALID_ARGUMENT (`out_len` is not the shard's count,
/// a message of fewer values, `scale` not finite, misaligned pointer), ALCM_ERR_BUFFER_TOO_SMALL (a
/// message of more values), ALCM_ERR_TRUNCATED, ALCM_ERR_CORRUPT, ALCM_ERR_CHECKSUM (a damaged
/// message), and every error of alcm_decompress for a bad frame inside it.
/// Memory: inputs are borrowed for the call; `out` must not overlap `frame`.
/// Threads: exclusive use of `ex`.
#[no_mangle]
pub unsafe extern "C" fn alcm_exchange_accumulate(
    ex: *mut alcm_exchange,
    frame: *const u8,
    frame_len: usize,
    scale: f32,
    out: *mut f32,
    out_len: usize,
) -> alcm_status {
    ffi_status("alcm_exchange_accumulate", || {
        // SAFETY: the caller upholds the documented contract; `out` is read and written, so
        // it is taken as an initialised mutable slice.
        let (ex, frame) = unsafe { (handle_mut(ex, "ex")?, in_slice(frame, frame_len, "frame")?) };
        // SAFETY: as above.
        let out = unsafe { inout_slice(out, out_len, "out")? };
        Ok(ex.accumulate(frame, scale, out)?)
    })
}

/// Stage 2: compresses this rank's reduced shard (`n_values` floats, the shard's count) plus the
/// second residual with `enc` into a message in `dst`, for the all-gather, and keeps the new
/// residual. When this rank's shard is empty, `*dst_len` is 0 (nothing to gather) and `*report`
/// is zeroed.
///
/// Returns: ALCM_OK; the message is in `dst[0..*dst_len]`, `*report` (if non-NULL) describes it
/// (its sizes, ratio and CAQ are the message's). On
/// error the residual is unchanged and nothing is written.
/// Errors: ALCM_ERR_NULL_POINTER (`ex`, `enc`, `dst_len`; `reduced`, `dst` when their length is
/// not 0), ALCM_ERR_INVALID_HANDLE (`ex`, `enc`), ALCM_ERR_INVALID_ARGUMENT (`n_values` is not this
/// rank's shard count, misaligned pointer), ALCM_ERR_BUFFER_TOO_SMALL (`dst_capacity` below the
/// bound; checked before any work), ALCM_ERR_NON_FINITE (NaN/Inf with the refuse policy),
/// ALCM_ERR_TIMEOUT.
/// Memory: inputs are borrowed for the call; `dst` must not overlap them.
/// Threads: exclusive use of `ex`; `enc` is only read and may be shared.
#[no_mangle]
pub unsafe extern "C" fn alcm_exchange_compress_reduced(
    ex: *mut alcm_exchange,
    enc: *const alcm_encoder,
    reduced: *const f32,
    n_values: usize,
    dst: *mut u8,
    dst_capacity: usize,
    dst_len: *mut usize,
    report: *mut alcm_report,
) -> alcm_status {
    // SAFETY: the caller upholds the documented contract; no allocation.
    unsafe {
        compress_reduced_as(
            "alcm_exchange_compress_reduced",
            ex,
            enc,
            reduced,
            n_values,
            (std::ptr::null(), 0),
            (dst, dst_capacity, dst_len),
            report,
        )
    }
}

/// As alcm_exchange_compress_reduced, with a bit allocation for `ALCM_MODE_ADAPTIVE`:
/// `allocation_len` values, one per channel of this rank's shard (predict them on the reduced
/// shard). `allocation_len` 0: as alcm_exchange_compress_reduced.
///
/// Returns: ALCM_OK; the message is in `dst[0..*dst_len]`, `*report` (if non-NULL) describes it.
/// On error the residual is unchanged and nothing is written.
/// Errors: those of alcm_exchange_compress_reduced, and ALCM_ERR_NULL_POINTER (`allocation` when
/// `allocation_len` is not 0), ALCM_ERR_INVALID_ARGUMENT (allocation as for alcm_encoder_compress).
/// Memory: inputs are borrowed for the call; `dst` must not overlap them.
/// Threads: exclusive use of `ex`; `enc` is only read and may be shared.
#[no_mangle]
pub unsafe extern "C" fn alcm_exchange_compress_reduced_allocated(
    ex: *mut alcm_exchange,
    enc: *const alcm_encoder,
    reduced: *const f32,
    n_values: usize,
    allocation: *const f64,
    allocation_len: usize,
    dst: *mut u8,
    dst_capacity: usize,
    dst_len: *mut usize,
    report: *mut alcm_report,
) -> alcm_status {
    // SAFETY: the caller upholds the documented contract.
    unsafe {
        compress_reduced_as(
            "alcm_exchange_compress_reduced_allocated",
            ex,
            enc,
            reduced,
            n_values,
            (allocation, allocation_len),
            (dst, dst_capacity, dst_len),
            report,
        )
    }
}

/// The body of alcm_exchange_compress_reduced(_allocated), named `function` in errors; an
/// empty allocation compresses as without one.
#[allow(clippy::too_many_arguments)]
unsafe fn compress_reduced_as(
    function: &'static str,
    ex: *mut alcm_exchange,
    enc: *const alcm_encoder,
    reduced: *const f32,
    n_values: usize,
    (allocation, allocation_len): (*const f64, usize),
    (dst, dst_capacity, dst_len): (*mut u8, usize, *mut usize),
    report: *mut alcm_report,
) -> alcm_status {
    ffi_status(function, || {
        // SAFETY: the caller upholds the documented contract.
        let (ex, e, x, alloc, dst, dst_len) = unsafe {
            (
                handle_mut(ex, "ex")?,
                handle_ref(enc, "enc")?,
                in_slice(reduced, n_values, "reduced")?,
                in_slice(allocation, allocation_len, "allocation")?,
                out_slice(dst, dst_capacity, "dst")?,
                out_ptr(dst_len, "dst_len")?,
            )
        };
        // SAFETY: as above; `report` is optional.
        let report_out = unsafe { opt_out_ptr(report, "report")? };
        let n = ex.shard(ex.rank()).len();
        if x.len() != n {
            return Err(FfiError::invalid_argument(format!(
                "reduced holds {} values, this rank's shard {n}",
                x.len()
            )));
        }
        super::handle::check_compress_bound(n, dst_capacity)?;
        let alloc = (!alloc.is_empty()).then_some(alloc);
        finish_opt(
            ex.compress_reduced_allocated(e, x, alloc)?,
            dst,
            dst_len,
            report_out,
        )
    })
}

/// Stage 2, receiving side: decodes the message of rank `j`'s reduced shard (from its
/// alcm_exchange_compress_reduced; a stage-1 message for shard `j` decodes too) into its place in
/// `out`, the full tensor (`out_len` = the tensor's value count); the rest of `out` is not
/// touched. An empty shard has an empty message (`frame_len` 0).
///
/// Returns: ALCM_OK. On error the shard's part of `out` is unspecified.
/// Errors: ALCM_ERR_NULL_POINTER (`ex`; `frame`, `out` when their length is not 0),
/// ALCM_ERR_INVALID_HANDLE (`ex`), ALCM_ERR_INVALID_ARGUMENT (`out_len` is not the tensor's count,
/// `j` not below the rank count, a message of fewer values than the shard, misaligned pointer),
/// ALCM_ERR_BUFFER_TOO_SMALL (a message of more values), ALCM_ERR_TRUNCATED, ALCM_ERR_CORRUPT,
/// ALCM_ERR_CHECKSUM (a damaged message), and every error of alcm_decompress.
/// Memory: inputs are borrowed for the call; `out` must not overlap `frame`.
/// Threads: `ex` is only read: other threads may use it at the same time in calls that take it as
/// `const`.
#[no_mangle]
pub unsafe extern "C" fn alcm_exchange_decode_shard(
    ex: *const alcm_exchange,
    frame: *const u8,
    frame_len: usize,
    j: usize,
    out: *mut f32,
    out_len: usize,
) -> alcm_status {
    ffi_status("alcm_exchange_decode_shard", || {
        // SAFETY: the caller upholds the documented contract.
        let (ex, frame) = unsafe { (handle_ref(ex, "ex")?, in_slice(frame, frame_len, "frame")?) };
        // SAFETY: as above (only the shard's part is written; the rest keeps its values).
        let out = unsafe { inout_slice(out, out_len, "out")? };
        Ok(ex.decode_shard(frame, j, out)?)
    })
}

/// The length of the exchange message at the start of `bytes` (`len` bytes, which may hold more
/// messages after it): a transport that concatenates the messages of several tensors for one
/// peer splits them with it.
///
/// Returns: ALCM_OK; `*message_len` (at most `len`) is written only on success.
/// Errors: ALCM_ERR_NULL_POINTER (`message_len`; `bytes` when `len` is not 0),
/// ALCM_ERR_TRUNCATED (`bytes` ends inside the message), ALCM_ERR_CORRUPT (a bad length prefix),
/// ALCM_ERR_INVALID_ARGUMENT (misaligned pointer).
/// Memory: `bytes` is borrowed for the call.
/// Threads: any thread.
#[no_mangle]
pub unsafe extern "C" fn alcm_exchange_message_len(
    bytes: *const u8,
    len: usize,
    message_len: *mut usize,
) -> alcm_status {
    ffi_status("alcm_exchange_message_len", || {
        // SAFETY: the caller upholds the documented contract.
        let (bytes, out) = unsafe {
            (
                in_slice(bytes, len, "bytes")?,
                out_ptr(message_len, "message_len")?,
            )
        };
        out.write(crate::collective::message_len(bytes)?);
        Ok(())
    })
}

/// Puts every residual of `ex` into `store` under `name/scatter/<j>` and `name/gather` (`name` is
/// the tensor's name, e.g. "fc1.weight"), replacing entries of those names.
///
/// Returns: ALCM_OK.
/// Errors: ALCM_ERR_NULL_POINTER (`ex`, `name`, `store`), ALCM_ERR_INVALID_HANDLE (`ex`, `store`),
/// ALCM_ERR_INVALID_UTF8 (`name`), ALCM_ERR_INVALID_ARGUMENT (an empty name or one over 1000
/// bytes), ALCM_ERR_TOO_LARGE (the store is full: 2^20 entries).
/// Memory: `name` is borrowed for the call; the store keeps copies of the residuals.
/// Threads: `ex` is only read; exclusive use of `store`.
#[no_mangle]
pub unsafe extern "C" fn alcm_exchange_save_residuals(
    ex: *const alcm_exchange,
    name: *const c_char,
    store: *mut alcm_residual_store,
) -> alcm_status {
    ffi_status("alcm_exchange_save_residuals", || {
        // SAFETY: the caller upholds the documented contract.
        let (ex, name, store) = unsafe {
            (
                handle_ref(ex, "ex")?,
                c_str(name, "name")?,
                handle_mut(store, "store")?,
            )
        };
        Ok(ex.save_residuals(name, store)?)
    })
}

/// Restores every residual of `ex` from the entries alcm_exchange_save_residuals wrote under
/// `name`. A missing entry (a renamed tensor) or one of another shape (another rank count) is an
/// error naming the entry, and then `ex` is unchanged: never a silent reset.
///
/// Returns: ALCM_OK.
/// Errors: ALCM_ERR_NULL_POINTER (`ex`, `name`, `store`), ALCM_ERR_INVALID_HANDLE (`ex`, `store`),
/// ALCM_ERR_INVALID_UTF8 (`name`), ALCM_ERR_INVALID_ARGUMENT (missing entry or wrong shape).
/// Memory: `name` is borrowed for the call; `ex` gets copies of the residuals.
/// Threads: exclusive use of `ex`; `store` is only read.
#[no_mangle]
pub unsafe extern "C" fn alcm_exchange_load_residuals(
    ex: *mut alcm_exchange,
    name: *const c_char,
    store: *const alcm_residual_store,
) -> alcm_status {
    ffi_status("alcm_exchange_load_residuals", || {
        // SAFETY: the caller upholds the documented contract.
        let (ex, name, store) = unsafe {
            (
                handle_mut(ex, "ex")?,
                c_str(name, "name")?,
                handle_ref(store, "store")?,
            )
        };
        Ok(ex.load_residuals(name, store)?)
    })
}

/// Frees exchange state. NULL is a no-op; a handle that is not live state is left alone.
///
/// Memory: `ex` is NULL or a handle from alcm_exchange_new, freed once and not used afterwards.
/// Threads: any thread, once no other call uses `ex`.
#[no_mangle]
pub unsafe extern "C" fn alcm_exchange_free(ex: *mut alcm_exchange) {
    // SAFETY: the caller upholds the documented contract; NULL is a no-op.
    ffi_void("alcm_exchange_free", || unsafe { free_handle(ex) })
}

/// Creates an empty residual store.
///
/// Returns: ALCM_OK; `*out` is written only on success.
/// Errors: ALCM_ERR_NULL_POINTER (`out`), ALCM_ERR_INVALID_ARGUMENT (`out` misaligned).
/// Memory: `*out` is owned by the caller: free it with alcm_residual_store_free.
/// Threads: any thread.
#[no_mangle]
pub unsafe extern "C" fn alcm_residual_store_new(
    out: *mut *mut alcm_residual_store,
) -> alcm_status {
    ffi_status("alcm_residual_store_new", || {
        // SAFETY: the caller upholds the documented contract.
        unsafe { out_ptr(out, "out")? }.write(box_handle(ResidualStore::new()));
        Ok(())
    })
}

/// The number of entries of `store` in `*count`.
///
/// Returns: ALCM_OK; `*count` is written only on success.
/// Errors: ALCM_ERR_NULL_POINTER (`store`, `count`), ALCM_ERR_INVALID_HANDLE (`store`),
/// ALCM_ERR_INVALID_ARGUMENT (`count` misaligned).
/// Threads: `store` is only read.
#[no_mangle]
pub unsafe extern "C" fn alcm_residual_store_len(
    store: *const alcm_residual_store,
    count: *mut usize,
) -> alcm_status {
    ffi_status("alcm_residual_store_len", || {
        // SAFETY: the caller upholds the documented contract.
        let (store, count) = unsafe { (handle_ref(store, "store")?, out_ptr(count, "count")?) };
        count.write(store.len());
        Ok(())
    })
}

/// Saves the store (every name and residual, checksummed) to `path` atomically (temporary file in
/// the same directory, then rename).
///
/// Returns: ALCM_OK.
/// Errors: ALCM_ERR_NULL_POINTER (`store`, `path`), ALCM_ERR_INVALID_HANDLE (`store`),
/// ALCM_ERR_INVALID_UTF8 (`path`), ALCM_ERR_INVALID_ARGUMENT (empty `path`, or one that names no
/// file), ALCM_ERR_IO (writing or renaming failed).
/// Memory: `path` is borrowed for the call.
/// Threads: `store` is only read.
#[no_mangle]
pub unsafe extern "C" fn alcm_residual_store_save(
    store: *const alcm_residual_store,
    path: *const c_char,
) -> alcm_status {
    ffi_status("alcm_residual_store_save", || {
        // SAFETY: the caller upholds the documented contract.
        let (store, path) = unsafe { (handle_ref(store, "store")?, c_path(path, "path")?) };
        Ok(store.save(path)?)
    })
}

/// Loads a store saved by alcm_residual_store_save.
///
/// Returns: ALCM_OK; `*out` is written only on success.
/// Errors: ALCM_ERR_NULL_POINTER (`path`, `out`), ALCM_ERR_INVALID_UTF8 (`path`),
/// ALCM_ERR_INVALID_ARGUMENT (empty `path`, `out` misaligned), ALCM_ERR_IO (the file cannot be
/// read or is not a regular file), ALCM_ERR_TOO_LARGE (a file over 16 GiB, checked before
/// reading), ALCM_ERR_BAD_MAGIC (not a residual store), ALCM_ERR_CHECKSUM (the file was altered or
/// cut), ALCM_ERR_FORMAT_VERSION (a newer store version), ALCM_ERR_INVALID_MODEL (inconsistent
/// under a valid checksum).
/// Memory: `path` is borrowed for the call. `*out` is owned by the caller: free it with
/// alcm_residual_store_free.
/// Threads: any thread.
#[no_mangle]
pub unsafe extern "C" fn alcm_residual_store_load(
    path: *const c_char,
    out: *mut *mut alcm_residual_store,
) -> alcm_status {
    ffi_status("alcm_residual_store_load", || {
        // SAFETY: the caller upholds the documented contract.
        let (path, out) = unsafe { (c_path(path, "path")?, out_ptr(out, "out")?) };
        out.write(box_handle(ResidualStore::load(path)?));
        Ok(())
    })
}

/// Stores a copy of the residual of `fb` (an alcm_feedback of any tensor) in `store` under
/// `name`, replacing an entry of that name: the way to checkpoint per-tensor error feedback.
///
/// Returns: ALCM_OK.
/// Errors: ALCM_ERR_NULL_POINTER (`store`, `name`, `fb`), ALCM_ERR_INVALID_HANDLE (`store`, `fb`),
/// ALCM_ERR_INVALID_UTF8 (`name`), ALCM_ERR_INVALID_ARGUMENT (an empty name or one over 1024
/// bytes), ALCM_ERR_TOO_LARGE (the store is full: 2^20 entries).
/// Memory: `name` is borrowed for the call; the store keeps its own copy.
/// Threads: exclusive use of `store`; `fb` is only read.
#[no_mangle]
pub unsafe extern "C" fn alcm_residual_store_put(
    store: *mut alcm_residual_store,
    name: *const c_char,
    fb: *const alcm_feedback,
) -> alcm_status {
    ffi_status("alcm_residual_store_put", || {
        // SAFETY: the caller upholds the documented contract.
        let (store, name, fb) = unsafe {
            (
                handle_mut(store, "store")?,
                c_str(name, "name")?,
                handle_ref(fb, "fb")?,
            )
        };
        Ok(store.insert(name, fb.clone())?)
    })
}

/// A new alcm_feedback holding a copy of the entry `name` of `store` (shape and residual).
/// A missing name is an error that names it: never a silent zero residual.
///
/// Returns: ALCM_OK; `*out` is written only on success.
/// Errors: ALCM_ERR_NULL_POINTER (`store`, `name`, `out`), ALCM_ERR_INVALID_HANDLE (`store`),
/// ALCM_ERR_INVALID_UTF8 (`name`), ALCM_ERR_INVALID_ARGUMENT (no entry `name`, `out` misaligned).
/// Memory: `name` is borrowed for the call. `*out` is owned by the caller: free it with
/// alcm_feedback_free.
/// Threads: `store` is only read.
#[no_mangle]
pub unsafe extern "C" fn alcm_residual_store_get(
    store: *const alcm_residual_store,
    name: *const c_char,
    out: *mut *mut alcm_feedback,
) -> alcm_status {
    ffi_status("alcm_residual_store_get", || {
        // SAFETY: the caller upholds the documented contract.
        let (store, name, out) = unsafe {
            (
                handle_ref(store, "store")?,
                c_str(name, "name")?,
                out_ptr(out, "out")?,
            )
        };
        out.write(box_handle::<alcm_feedback>(store.get(name)?.clone()));
        Ok(())
    })
}

/// Frees a residual store. NULL is a no-op; a handle that is not a live store is left alone.
///
/// Memory: `store` is NULL or a handle from alcm_residual_store_new / alcm_residual_store_load,
/// freed once and not used afterwards.
/// Threads: any thread, once no other call uses `store`.
#[no_mangle]
pub unsafe extern "C" fn alcm_residual_store_free(store: *mut alcm_residual_store) {
    // SAFETY: the caller upholds the documented contract; NULL is a no-op.
    ffi_void("alcm_residual_store_free", || unsafe { free_handle(store) })
}

/// Copies a message out like `finish`; an empty shard (`None`) writes length 0 and a zero report.
fn finish_opt(
    c: Option<crate::Compressed>,
    dst: super::handle::OutSlice<'_, u8>,
    dst_len: super::handle::Out<'_, usize>,
    report_out: Option<super::handle::Out<'_, alcm_report>>,
) -> Result<(), FfiError> {
    match c {
        Some(c) => finish(&c.bytes, &c.report, dst, dst_len, report_out),
        None => {
            dst_len.write(0);
            if let Some(r) = report_out {
                r.write(alcm_report::default());
            }
            Ok(())
        }
    }
}

/// A caller buffer that is read and written (initialised floats).
///
/// # Safety
/// `p` is NULL (with `len` 0) or valid for reads and writes of `len` floats for the call.
unsafe fn inout_slice<'a>(p: *mut f32, len: usize, arg: &str) -> Result<&'a mut [f32], FfiError> {
    if len == 0 {
        return Ok(&mut []);
    }
    // Same NULL, alignment and size checks as for inputs (the shared view is dropped at once).
    // SAFETY: forwarded contract.
    unsafe { in_slice(p as *const f32, len, arg)? };
    // SAFETY: checked above (non-NULL, aligned, size); the caller grants exclusive read/write
    // access to these `len` initialised floats for the call.
    Ok(unsafe { std::slice::from_raw_parts_mut(p, len) })
}
