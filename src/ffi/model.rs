//! Exports over the entropy predictor, the measured allocations and the scheduler.

use std::os::raw::c_char;

use super::codec::alcm_encoder;
use super::error::FfiError;
use super::handle::{
    box_handle, c_path, c_str, free_handle, handle_mut, handle_ref, in_slice, out_ptr, out_slice,
    tensor_view, OpaqueHandle,
};
use super::panic::{ffi_status, ffi_void};
use super::status::alcm_status;
use crate::learn::allocation::{
    empirical_bit_allocation, empirical_channel_allocations, guard_channel_allocations,
};
use crate::learn::predictor::Predictor;
use crate::{PredictorConfig, Scheduler, SchedulerConfig};

/// The neural entropy predictor (6 statistics -> H ReLU -> 1 sigmoid, scaled to
/// [min_bits, max_bits]). Prediction takes a const pointer: one predictor may be shared
/// read-only by many threads. Training needs exclusive access.
pub struct alcm_predictor {
    _private: [u8; 0],
}

// SAFETY: the tag is unique among handle types.
unsafe impl OpaqueHandle for alcm_predictor {
    type Inner = Predictor;
    const MAGIC: u64 = u64::from_be_bytes(*b"alcmPRD1");
    const NAME: &'static str = "alcm_predictor";
}

/// The CAQ-driven pruning-threshold scheduler. Exclusive access per call.
pub struct alcm_scheduler {
    _private: [u8; 0],
}

// SAFETY: the tag is unique among handle types.
unsafe impl OpaqueHandle for alcm_scheduler {
    type Inner = Scheduler;
    const MAGIC: u64 = u64::from_be_bytes(*b"alcmSCH1");
    const NAME: &'static str = "alcm_scheduler";
}

/// Scheduler state, written by alcm_scheduler_stats. The window's scores come from alcm_scheduler_window.
#[allow(non_camel_case_types)]
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct alcm_scheduler_info {
    /// Number of updates since creation or reset.
    pub step: u64,
    /// Current pruning threshold.
    pub threshold: f64,
    /// Mean CAQ of the window (0 when empty).
    pub mean_caq: f64,
    /// Newest minus oldest CAQ of the window (0 with fewer than 2 scores).
    pub trend: f64,
    /// Number of scores in the window.
    pub window_len: u64,
}

/// --------------------------------------------------------------------------------------------
/// PREDICTOR AND ALLOCATIONS
///
/// The neural entropy predictor maps the six statistics of a tensor or channel (alcm_stats) to a
/// bit allocation in [min_bits, max_bits] for adaptive mode. It learns from measured targets:
/// alcm_empirical_allocation / alcm_empirical_channel_allocations search the smallest allocation
/// that meets an error target; alcm_guard_channel_allocations raises predicted allocations to what
/// a closed-form error model needs. Prediction takes a const predictor (share one across threads);
/// training needs exclusive access.
///
/// --------------------------------------------------------------------------------------------
///
/// Creates a predictor with Xavier-uniform weights drawn from `seed` (same seed, same weights on
/// every platform): hidden_size in 1..65536, finite min_bits < max_bits, learning_rate finite and >
/// 0.
///
/// Returns: ALCM_OK; `*out` is written only on success.
/// Errors: ALCM_ERR_NULL_POINTER (`out`), ALCM_ERR_INVALID_ARGUMENT (a value out of range, `out`
/// misaligned).
/// Memory: `*out` is owned by the caller: free it with alcm_predictor_free.
/// Threads: any thread.
#[no_mangle]
pub unsafe extern "C" fn alcm_predictor_new(
    hidden_size: usize,
    min_bits: f64,
    max_bits: f64,
    learning_rate: f64,
    seed: u64,
    out: *mut *mut alcm_predictor,
) -> alcm_status {
    ffi_status("alcm_predictor_new", || {
        // SAFETY: the caller upholds the documented contract.
        let out = unsafe { out_ptr(out, "out")? };
        out.write(box_handle(Predictor::new(
            hidden_size,
            min_bits,
            max_bits,
            learning_rate,
            seed,
        )?));
        Ok(())
    })
}

fn from_config(c: &PredictorConfig) -> crate::Result<Predictor> {
    Predictor::new(
        c.hidden_size,
        c.min_bits,
        c.max_bits,
        c.learning_rate,
        c.seed,
    )
}

/// Creates a predictor from a YAML file in the original entropy_config.yaml schema.
///
/// Returns: ALCM_OK; `*out` is written only on success.
/// Errors: ALCM_ERR_NULL_POINTER (`path`, `out`), ALCM_ERR_INVALID_UTF8 (`path`),
/// ALCM_ERR_INVALID_ARGUMENT (empty `path`, `out` misaligned), ALCM_ERR_IO (the file cannot be read
/// or is not UTF-8 text), ALCM_ERR_INVALID_CONFIG (bad YAML, unknown key or value out of range).
/// Memory: `path` is borrowed for the call. `*out` is owned by the caller: free it with
/// alcm_predictor_free.
/// Threads: any thread.
#[no_mangle]
pub unsafe extern "C" fn alcm_predictor_from_yaml_file(
    path: *const c_char,
    out: *mut *mut alcm_predictor,
) -> alcm_status {
    ffi_status("alcm_predictor_from_yaml_file", || {
        // SAFETY: the caller upholds the documented contract.
        let (path, out) = unsafe { (c_path(path, "path")?, out_ptr(out, "out")?) };
        out.write(box_handle(from_config(&PredictorConfig::from_yaml_file(
            path,
        )?)?));
        Ok(())
    })
}

/// Creates a predictor from YAML text (entropy_config.yaml schema).
///
/// Returns: ALCM_OK; `*out` is written only on success.
/// Errors: ALCM_ERR_NULL_POINTER (`yaml`, `out`), ALCM_ERR_INVALID_UTF8 (`yaml`),
/// ALCM_ERR_INVALID_ARGUMENT (`out` misaligned), ALCM_ERR_INVALID_CONFIG (bad YAML, unknown key or
/// value out of range).
/// Memory: `yaml` is borrowed for the call. `*out` is owned by the caller: free it with
/// alcm_predictor_free.
/// Threads: any thread.
#[no_mangle]
pub unsafe extern "C" fn alcm_predictor_from_yaml_string(
    yaml: *const c_char,
    out: *mut *mut alcm_predictor,
) -> alcm_status {
    ffi_status("alcm_predictor_from_yaml_string", || {
        // SAFETY: the caller upholds the documented contract.
        let (yaml, out) = unsafe { (c_str(yaml, "yaml")?, out_ptr(out, "out")?) };
        out.write(box_handle(from_config(&PredictorConfig::from_yaml_str(
            yaml,
        )?)?));
        Ok(())
    })
}

/// Trains by per-sample SGD on the MSE for `epochs` passes. `features` holds `n` rows of 6 doubles
/// ([mean, var, std, skew, kurtosis, sparsity], e.g. from alcm_channel_stats), `targets` `n`
/// allocations. A model without feature normalisation fits it on these features first.
///
/// Returns: ALCM_OK; if `loss_history` is non-NULL, it receives the `epochs` mean losses.
/// Errors: ALCM_ERR_TOO_LARGE (6 * `n` overflows; an array length beyond the address space),
/// ALCM_ERR_NULL_POINTER (`p`; `features`, `targets` when `n` is not 0), ALCM_ERR_INVALID_HANDLE
/// (`p`), ALCM_ERR_INVALID_ARGUMENT (`n` is 0, a non-finite feature or target, training diverged
/// (the weights are then restored), misaligned pointer).
/// Memory: `features` (6 * `n` doubles) and `targets` (`n`) are borrowed for the call;
/// `loss_history` is NULL or `epochs` writable doubles.
/// Threads: exclusive: no other call may use `p` during this call.
#[no_mangle]
pub unsafe extern "C" fn alcm_predictor_train(
    p: *mut alcm_predictor,
    features: *const f64,
    targets: *const f64,
    n: usize,
    epochs: usize,
    loss_history: *mut f64,
) -> alcm_status {
    ffi_status("alcm_predictor_train", || {
        let len6 = n
            .checked_mul(6)
            .ok_or_else(|| FfiError::too_large("6 * n overflows"))?;
        // SAFETY: the caller upholds the documented contract.
        let (p, f, t) = unsafe {
            (
                handle_mut(p, "p")?,
                in_slice(features, len6, "features")?,
                in_slice(targets, n, "targets")?,
            )
        };
        let history_out = if loss_history.is_null() {
            None
        } else {
            // SAFETY: as above.
            Some(unsafe { out_slice(loss_history, epochs, "loss_history")? })
        };
        let rows: Vec<[f64; 6]> = f
            .chunks_exact(6)
            .map(|c| [c[0], c[1], c[2], c[3], c[4], c[5]])
            .collect();
        let history = p.train(&rows, t, epochs)?;
        if let Some(h) = history_out {
            h.write_from(&history)?;
        }
        Ok(())
    })
}

/// Runs the network on one feature vector (6 doubles) and writes the allocation to `*out`.
///
/// Returns: ALCM_OK; `*out` is written only on success.
/// Errors: ALCM_ERR_NULL_POINTER (`p`, `features`, `out`), ALCM_ERR_INVALID_HANDLE (`p`),
/// ALCM_ERR_INVALID_ARGUMENT (misaligned pointer).
/// Memory: `features` is borrowed for the call.
/// Threads: `p` is only read: other threads may use the same handle at the same time in calls that
/// take it as `const`.
#[no_mangle]
pub unsafe extern "C" fn alcm_predictor_forward(
    p: *const alcm_predictor,
    features: *const f64,
    out: *mut f64,
) -> alcm_status {
    ffi_status("alcm_predictor_forward", || {
        // SAFETY: the caller upholds the documented contract.
        let (p, f, out) = unsafe {
            (
                handle_ref(p, "p")?,
                in_slice(features, 6, "features")?,
                out_ptr(out, "out")?,
            )
        };
        out.write(p.forward(&[f[0], f[1], f[2], f[3], f[4], f[5]]));
        Ok(())
    })
}

/// Predicts one allocation for the whole tensor `(data, rank, shape)` (its statistics, then the
/// network).
///
/// Returns: ALCM_OK; `*out` is written only on success.
/// Errors: ALCM_ERR_NULL_POINTER (`p`, `out`; `shape` when `rank` is not 0; `data` when the tensor
/// has elements), ALCM_ERR_INVALID_HANDLE (`p`), ALCM_ERR_INVALID_ARGUMENT (rank above
/// ALCM_MAX_RANK, misaligned pointer), ALCM_ERR_TOO_LARGE (the shape overflows or exceeds
/// ALCM_MAX_ELEMENTS).
/// Memory: the tensor is borrowed for the call.
/// Threads: `p` is only read: other threads may use the same handle at the same time in calls that
/// take it as `const`.
#[no_mangle]
pub unsafe extern "C" fn alcm_predictor_predict(
    p: *const alcm_predictor,
    data: *const f32,
    rank: usize,
    shape: *const usize,
    out: *mut f64,
) -> alcm_status {
    ffi_status("alcm_predictor_predict", || {
        // SAFETY: the caller upholds the documented contract.
        let (p, t, out) = unsafe {
            (
                handle_ref(p, "p")?,
                tensor_view(data, rank, shape)?,
                out_ptr(out, "out")?,
            )
        };
        out.write(p.predict_tensor(t.data));
        Ok(())
    })
}

/// Predicts one allocation per channel (the "entropy map"; alcm_channel_count gives the count) into
/// `out` (`out_len` doubles).
///
/// Returns: ALCM_OK; `out[0..*n_channels]` holds the allocations, `*n_channels` the count.
/// Errors: ALCM_ERR_NULL_POINTER (`p`, `n_channels`; `out` when `out_len` is not 0; tensor pointers
/// as for alcm_predictor_predict), ALCM_ERR_INVALID_HANDLE (`p`), ALCM_ERR_INVALID_ARGUMENT (rank
/// above ALCM_MAX_RANK, misaligned pointer), ALCM_ERR_TOO_LARGE (the shape overflows or exceeds
/// ALCM_MAX_ELEMENTS; `out_len` beyond the address space), ALCM_ERR_BUFFER_TOO_SMALL (`out_len`
/// below the channel count; nothing is written).
/// Memory: the tensor is borrowed for the call; `out` is caller memory.
/// Threads: `p` is only read: other threads may use the same handle at the same time in calls that
/// take it as `const`.
#[no_mangle]
pub unsafe extern "C" fn alcm_predictor_predict_channels(
    p: *const alcm_predictor,
    data: *const f32,
    rank: usize,
    shape: *const usize,
    out: *mut f64,
    out_len: usize,
    n_channels: *mut usize,
) -> alcm_status {
    ffi_status("alcm_predictor_predict_channels", || {
        // SAFETY: the caller upholds the documented contract.
        let (p, t, out, n_out) = unsafe {
            (
                handle_ref(p, "p")?,
                tensor_view(data, rank, shape)?,
                out_slice(out, out_len, "out")?,
                out_ptr(n_channels, "n_channels")?,
            )
        };
        let v = p.predict_channels(t.data, &t.shape)?;
        n_out.write(out.write_from(&v)?);
        Ok(())
    })
}

/// Saves the model as .npz (keys W1, b1, W2, b2, hidden_size, min_bits, max_bits, plus alcm's
/// normalisation) atomically; numpy.load opens it.
///
/// Returns: ALCM_OK.
/// Errors: ALCM_ERR_NULL_POINTER (`p`, `path`), ALCM_ERR_INVALID_HANDLE (`p`),
/// ALCM_ERR_INVALID_UTF8 (`path`), ALCM_ERR_INVALID_ARGUMENT (empty `path`, or one that names no
/// file), ALCM_ERR_IO (writing or renaming failed).
/// Memory: `path` is borrowed for the call.
/// Threads: `p` is only read: other threads may use the same handle at the same time in calls that
/// take it as `const`.
#[no_mangle]
pub unsafe extern "C" fn alcm_predictor_save(
    p: *const alcm_predictor,
    path: *const c_char,
) -> alcm_status {
    ffi_status("alcm_predictor_save", || {
        // SAFETY: the caller upholds the documented contract.
        let (p, path) = unsafe { (handle_ref(p, "p")?, c_path(path, "path")?) };
        Ok(p.save(path)?)
    })
}

/// Loads a model saved by alcm_predictor_save or by the original Python prototype.
///
/// Returns: ALCM_OK; `*out` is written only on success.
/// Errors: ALCM_ERR_NULL_POINTER (`path`, `out`), ALCM_ERR_INVALID_UTF8 (`path`),
/// ALCM_ERR_INVALID_ARGUMENT (empty `path`, `out` misaligned), ALCM_ERR_IO (the file cannot be
/// read), ALCM_ERR_INVALID_MODEL (truncated, foreign or inconsistent file).
/// Memory: `path` is borrowed for the call. `*out` is owned by the caller: free it with
/// alcm_predictor_free.
/// Threads: any thread.
#[no_mangle]
pub unsafe extern "C" fn alcm_predictor_load(
    path: *const c_char,
    out: *mut *mut alcm_predictor,
) -> alcm_status {
    ffi_status("alcm_predictor_load", || {
        // SAFETY: the caller upholds the documented contract.
        let (path, out) = unsafe { (c_path(path, "path")?, out_ptr(out, "out")?) };
        out.write(box_handle(Predictor::load(path)?));
        Ok(())
    })
}

/// Frees a predictor. NULL is a no-op; a handle that is not a live predictor is left alone.
///
/// Memory: `p` is NULL or a handle from alcm_predictor_new / _from_yaml_* / _load, freed once and
/// not used afterwards.
/// Threads: any thread, once no other call uses `p`.
#[no_mangle]
pub unsafe extern "C" fn alcm_predictor_free(p: *mut alcm_predictor) {
    // SAFETY: the caller upholds the documented contract; NULL is a no-op.
    ffi_void("alcm_predictor_free", || unsafe { free_handle(p) })
}

/// The measured allocation of a tensor: the smallest single allocation whose adaptive encoding with
/// `enc`'s settings meets `target_rel_error` (relative L2), found by bisection. The training target
/// the predictor learns.
///
/// Returns: ALCM_OK; `*out` is written only on success.
/// Errors: ALCM_ERR_NULL_POINTER (`enc`, `out`; `shape` when `rank` is not 0; `data` when the
/// tensor has elements), ALCM_ERR_INVALID_HANDLE (`enc`), ALCM_ERR_INVALID_ARGUMENT (rank above
/// ALCM_MAX_RANK, `target_rel_error` not finite and > 0, misaligned pointer), ALCM_ERR_TOO_LARGE
/// (the shape overflows or exceeds ALCM_MAX_ELEMENTS), ALCM_ERR_NON_FINITE (NaN/Inf in the data).
/// Memory: the tensor is borrowed for the call.
/// Threads: `enc` is only read: other threads may use the same handle at the same time in calls
/// that take it as `const`.
#[no_mangle]
pub unsafe extern "C" fn alcm_empirical_allocation(
    enc: *const alcm_encoder,
    data: *const f32,
    rank: usize,
    shape: *const usize,
    target_rel_error: f64,
    out: *mut f64,
) -> alcm_status {
    ffi_status("alcm_empirical_allocation", || {
        // SAFETY: the caller upholds the documented contract.
        let (e, t, out) = unsafe {
            (
                handle_ref(enc, "enc")?,
                tensor_view(data, rank, shape)?,
                out_ptr(out, "out")?,
            )
        };
        out.write(empirical_bit_allocation(
            t.data,
            &t.shape,
            target_rel_error,
            e.config(),
        )?);
        Ok(())
    })
}

/// The measured allocation of each channel for `target_rel_error` (per-channel relative L2), into
/// `out` (`out_len` doubles, at least the channel count).
///
/// Returns: ALCM_OK; `out[0..*n_channels]` holds the allocations, `*n_channels` the count.
/// Errors: ALCM_ERR_NULL_POINTER (`enc`, `n_channels`; `out` when `out_len` is not 0; tensor
/// pointers as for alcm_empirical_allocation), ALCM_ERR_INVALID_HANDLE (`enc`),
/// ALCM_ERR_INVALID_ARGUMENT (rank above ALCM_MAX_RANK, `target_rel_error` not finite and > 0,
/// misaligned pointer), ALCM_ERR_TOO_LARGE (the shape overflows or exceeds ALCM_MAX_ELEMENTS),
/// ALCM_ERR_NON_FINITE (NaN/Inf in the data), ALCM_ERR_BUFFER_TOO_SMALL (`out_len` below the
/// channel count; nothing is written).
/// Memory: the tensor is borrowed for the call; `out` is caller memory.
/// Threads: `enc` is only read: other threads may use the same handle at the same time in calls
/// that take it as `const`.
#[no_mangle]
pub unsafe extern "C" fn alcm_empirical_channel_allocations(
    enc: *const alcm_encoder,
    data: *const f32,
    rank: usize,
    shape: *const usize,
    target_rel_error: f64,
    out: *mut f64,
    out_len: usize,
    n_channels: *mut usize,
) -> alcm_status {
    ffi_status("alcm_empirical_channel_allocations", || {
        // SAFETY: the caller upholds the documented contract.
        let (e, t, out, n_out) = unsafe {
            (
                handle_ref(enc, "enc")?,
                tensor_view(data, rank, shape)?,
                out_slice(out, out_len, "out")?,
                out_ptr(n_channels, "n_channels")?,
            )
        };
        let v = empirical_channel_allocations(t.data, &t.shape, target_rel_error, e.config())?;
        n_out.write(out.write_from(&v)?);
        Ok(())
    })
}

/// Caps the predicted error of each channel: raises every value of `allocation` (one per channel,
/// `allocation_len` = alcm_channel_count, e.g. alcm_predictor_predict_channels' output) in place to
/// at least the allocation that a closed-form error model (step^2/12 per value plus the pruned
/// energy, from the channel's range, norm and pruning under `enc`'s settings) needs for
/// `target_rel_error` (relative L2); values already above stay. One pass over the data, no search
/// (docs/PERFORMANCE.md, "The learned part").
///
/// Returns: ALCM_OK; `allocation` is rewritten only on success.
/// Errors: ALCM_ERR_NULL_POINTER (`enc`; `allocation` when `allocation_len` is not 0; tensor
/// pointers as for alcm_empirical_allocation), ALCM_ERR_INVALID_HANDLE (`enc`),
/// ALCM_ERR_INVALID_ARGUMENT (rank above ALCM_MAX_RANK, `allocation_len` is not the channel count,
/// a non-finite allocation, `target_rel_error` not finite and > 0, misaligned pointer),
/// ALCM_ERR_TOO_LARGE (the shape overflows or exceeds ALCM_MAX_ELEMENTS), ALCM_ERR_NON_FINITE
/// (NaN/Inf in the data).
/// Memory: the tensor is borrowed for the call; `allocation` is caller memory, read and written,
/// and must not overlap the tensor.
/// Threads: `enc` is only read: other threads may use the same handle at the same time in calls
/// that take it as `const`.
#[no_mangle]
pub unsafe extern "C" fn alcm_guard_channel_allocations(
    enc: *const alcm_encoder,
    data: *const f32,
    rank: usize,
    shape: *const usize,
    target_rel_error: f64,
    allocation: *mut f64,
    allocation_len: usize,
) -> alcm_status {
    ffi_status("alcm_guard_channel_allocations", || {
        // SAFETY: the caller upholds the documented contract; the input view of `allocation`
        // is copied and dropped before the output view of the same memory is made.
        let (e, t, mut alloc) = unsafe {
            (
                handle_ref(enc, "enc")?,
                tensor_view(data, rank, shape)?,
                in_slice(allocation.cast_const(), allocation_len, "allocation")?.to_vec(),
            )
        };
        guard_channel_allocations(&mut alloc, t.data, &t.shape, target_rel_error, e.config())?;
        // SAFETY: as above.
        let out = unsafe { out_slice(allocation, allocation_len, "allocation")? };
        out.write_from(&alloc)?;
        Ok(())
    })
}

/// --------------------------------------------------------------------------------------------
/// SCHEDULER
///
/// The compression scheduler moves the encoder's pruning threshold by the trend of the CAQ score
/// (compression ratio / (CPU seconds + 1)) over a window of recent steps: feed each step's CAQ to
/// alcm_scheduler_update and pass the returned threshold to alcm_encoder_set_threshold. Every call
/// that changes a scheduler needs exclusive access.
///
/// --------------------------------------------------------------------------------------------
///
/// Creates a scheduler. The original's values: initial_threshold 0.01, decay 0.95, window 5,
/// thresholds clipped to [0.001, 0.1]. Requires 0 < decay < 1, window >= 2 and 0 < min_threshold <=
/// initial_threshold <= max_threshold < 1.
///
/// Returns: ALCM_OK; `*out` is written only on success.
/// Errors: ALCM_ERR_NULL_POINTER (`out`), ALCM_ERR_INVALID_ARGUMENT (`out` misaligned),
/// ALCM_ERR_INVALID_CONFIG (a value out of range; the message names it).
/// Memory: `*out` is owned by the caller: free it with alcm_scheduler_free.
/// Threads: any thread.
#[no_mangle]
pub unsafe extern "C" fn alcm_scheduler_new(
    initial_threshold: f64,
    decay: f64,
    window: usize,
    min_threshold: f64,
    max_threshold: f64,
    out: *mut *mut alcm_scheduler,
) -> alcm_status {
    ffi_status("alcm_scheduler_new", || {
        // SAFETY: the caller upholds the documented contract.
        let out = unsafe { out_ptr(out, "out")? };
        let cfg = SchedulerConfig {
            initial_threshold,
            decay,
            window,
            min_threshold,
            max_threshold,
        };
        out.write(box_handle(Scheduler::new(cfg)?));
        Ok(())
    })
}

/// Feeds one CAQ score (finite, >= 0) and writes the new pruning threshold to `*threshold`.
///
/// Returns: ALCM_OK; `*threshold` is written only on success. On error the state is unchanged.
/// Errors: ALCM_ERR_NULL_POINTER (`s`, `threshold`), ALCM_ERR_INVALID_HANDLE (`s`),
/// ALCM_ERR_INVALID_ARGUMENT (`caq` negative or not finite, `threshold` misaligned).
/// Threads: exclusive: no other call may use `s` during this call.
#[no_mangle]
pub unsafe extern "C" fn alcm_scheduler_update(
    s: *mut alcm_scheduler,
    caq: f64,
    threshold: *mut f64,
) -> alcm_status {
    ffi_status("alcm_scheduler_update", || {
        // SAFETY: the caller upholds the documented contract.
        let (s, out) = unsafe { (handle_mut(s, "s")?, out_ptr(threshold, "threshold")?) };
        out.write(s.update(caq)?);
        Ok(())
    })
}

/// Writes the scheduler's state (step, threshold, mean CAQ and trend of the window) to `*out`.
///
/// Returns: ALCM_OK; `*out` is written only on success.
/// Errors: ALCM_ERR_NULL_POINTER (`s`, `out`), ALCM_ERR_INVALID_HANDLE (`s`),
/// ALCM_ERR_INVALID_ARGUMENT (`out` misaligned).
/// Threads: `s` is only read: other threads may use the same handle at the same time in calls that
/// take it as `const`.
#[no_mangle]
pub unsafe extern "C" fn alcm_scheduler_stats(
    s: *const alcm_scheduler,
    out: *mut alcm_scheduler_info,
) -> alcm_status {
    ffi_status("alcm_scheduler_stats", || {
        // SAFETY: the caller upholds the documented contract.
        let (s, out) = unsafe { (handle_ref(s, "s")?, out_ptr(out, "out")?) };
        let st = s.stats();
        out.write(alcm_scheduler_info {
            step: st.step,
            threshold: st.threshold,
            mean_caq: st.mean_caq,
            trend: st.trend,
            window_len: st.window.len() as u64,
        });
        Ok(())
    })
}

/// Copies the window's CAQ scores (oldest first) into `out` (`out_len` doubles) and writes their
/// count to `*n`.
///
/// Returns: ALCM_OK; outputs are written only on success.
/// Errors: ALCM_ERR_NULL_POINTER (`s`, `n`; `out` when `out_len` is not 0), ALCM_ERR_INVALID_HANDLE
/// (`s`), ALCM_ERR_INVALID_ARGUMENT (misaligned pointer), ALCM_ERR_TOO_LARGE (`out_len` beyond the
/// address space), ALCM_ERR_BUFFER_TOO_SMALL (`out_len` below the count, at most the window size).
/// Threads: `s` is only read: other threads may use the same handle at the same time in calls that
/// take it as `const`.
#[no_mangle]
pub unsafe extern "C" fn alcm_scheduler_window(
    s: *const alcm_scheduler,
    out: *mut f64,
    out_len: usize,
    n: *mut usize,
) -> alcm_status {
    ffi_status("alcm_scheduler_window", || {
        // SAFETY: the caller upholds the documented contract.
        let (s, out, n) = unsafe {
            (
                handle_ref(s, "s")?,
                out_slice(out, out_len, "out")?,
                out_ptr(n, "n")?,
            )
        };
        n.write(out.write_from(&s.stats().window)?);
        Ok(())
    })
}

/// Copies the threshold history (one per update since creation or reset, oldest first) into `out`
/// (`out_len` doubles) and writes the count (= step) to `*n`.
///
/// Returns: ALCM_OK; outputs are written only on success.
/// Errors: ALCM_ERR_NULL_POINTER (`s`, `n`; `out` when `out_len` is not 0), ALCM_ERR_INVALID_HANDLE
/// (`s`), ALCM_ERR_INVALID_ARGUMENT (misaligned pointer), ALCM_ERR_TOO_LARGE (`out_len` beyond the
/// address space), ALCM_ERR_BUFFER_TOO_SMALL (`out_len` below the count).
/// Threads: `s` is only read: other threads may use the same handle at the same time in calls that
/// take it as `const`.
#[no_mangle]
pub unsafe extern "C" fn alcm_scheduler_history(
    s: *const alcm_scheduler,
    out: *mut f64,
    out_len: usize,
    n: *mut usize,
) -> alcm_status {
    ffi_status("alcm_scheduler_history", || {
        // SAFETY: the caller upholds the documented contract.
        let (s, out, n) = unsafe {
            (
                handle_ref(s, "s")?,
                out_slice(out, out_len, "out")?,
                out_ptr(n, "n")?,
            )
        };
        n.write(out.write_from(s.history())?);
        Ok(())
    })
}

/// Returns the scheduler to its initial threshold with an empty window and history.
///
/// Returns: ALCM_OK.
/// Errors: ALCM_ERR_NULL_POINTER (`s`), ALCM_ERR_INVALID_HANDLE (`s`).
/// Threads: exclusive: no other call may use `s` during this call.
#[no_mangle]
pub unsafe extern "C" fn alcm_scheduler_reset(s: *mut alcm_scheduler) -> alcm_status {
    ffi_status("alcm_scheduler_reset", || {
        // SAFETY: the caller upholds the documented contract.
        unsafe { handle_mut(s, "s")? }.reset();
        Ok(())
    })
}

/// Frees a scheduler. NULL is a no-op; a handle that is not a live scheduler is left alone.
///
/// Memory: `s` is NULL or a handle from alcm_scheduler_new, freed once and not used afterwards.
/// Threads: any thread, once no other call uses `s`.
#[no_mangle]
pub unsafe extern "C" fn alcm_scheduler_free(s: *mut alcm_scheduler) {
    // SAFETY: the caller upholds the documented contract; NULL is a no-op.
    ffi_void("alcm_scheduler_free", || unsafe { free_handle(s) })
}
