//! Exports over the encoder and the decoder (the error-feedback state is in `feedback.rs`).

use std::os::raw::c_char;

use super::error::FfiError;
use super::handle::{
    box_handle, c_path, c_str, free_handle, handle_mut, handle_ref, in_slice, opt_out_ptr, out_ptr,
    out_slice, tensor_view, OpaqueHandle,
};
use super::panic::{ffi_infallible, ffi_status, ffi_void};
use super::status::alcm_status;
use crate::abi::{
    ALCM_BACKEND_DEFLATE, ALCM_BACKEND_RANS, ALCM_BACKEND_STORE, ALCM_MAX_RANK, ALCM_MAX_THREADS,
    ALCM_MODE_ADAPTIVE, ALCM_MODE_LOSSLESS, ALCM_MODE_MAX_ABS, ALCM_MODE_RELATIVE_L2,
    ALCM_NON_FINITE_KEEP, ALCM_NON_FINITE_REFUSE,
};
use crate::{BackendKind, Encoder, EncoderConfig, ErrorFeedback, Mode, NonFinitePolicy, Report};

/// Encoder mode (as stored in the frame): `ALCM_MODE_*`.
#[allow(non_camel_case_types)]
pub type alcm_mode = u32;

/// Lossless backend applied to the packed codes: `ALCM_BACKEND_*`.
#[allow(non_camel_case_types)]
pub type alcm_backend = u32;

/// What to do with NaN/Inf input: `ALCM_NON_FINITE_*`.
#[allow(non_camel_case_types)]
pub type alcm_non_finite = u32;

/// What one compression did. Output only; fields may be added at the end in a major version.
#[allow(non_camel_case_types)]
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct alcm_report {
    /// Size of the input (the element type's width per value: 4 for float32).
    pub input_bytes: u64,
    /// Size of the frame written.
    pub output_bytes: u64,
    /// input_bytes / output_bytes (0 for an empty tensor).
    pub ratio: f64,
    /// 8 * output_bytes / values.
    pub bits_per_value: f64,
    /// Fraction of the values that pruning set to zero (adaptive mode).
    pub dropped_ratio: f64,
    /// CPU time of the calling thread spent in the call, in seconds.
    pub cpu_seconds: f64,
    /// Compression-Accuracy Quotient: ratio / (cpu_seconds + 1).
    pub caq: f64,
    /// The uniform quantization step (error-bounded modes), else 0.
    pub step: f64,
    /// Mode of the frame written (ALCM_MODE_*); lossless when the size fallback applied.
    pub mode: u32,
    /// Values stored verbatim (kept NaN/Inf, rounding outliers).
    pub exceptions: u64,
}

impl From<&Report> for alcm_report {
    fn from(r: &Report) -> Self {
        alcm_report {
            input_bytes: r.input_bytes as u64,
            output_bytes: r.output_bytes as u64,
            ratio: r.ratio,
            bits_per_value: r.bits_per_value,
            dropped_ratio: r.dropped_ratio,
            cpu_seconds: r.cpu_seconds,
            caq: r.caq,
            step: r.step,
            mode: r.mode.id() as u32,
            exceptions: r.exceptions as u64,
        }
    }
}

/// What a frame header says (alcm_peek).
#[allow(non_camel_case_types)]
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct alcm_frame_info {
    /// Byte-format version of the frame (see ALCM_FORMAT_VERSION).
    pub format_version: u32,
    /// ALCM_MODE_* the frame was written in.
    pub mode: u32,
    /// ALCM_BACKEND_* of the payload.
    pub backend: u32,
    /// Number of dimensions; shape[rank..] are 0.
    pub rank: u32,
    /// The tensor's dimensions.
    pub shape: [u64; ALCM_MAX_RANK],
    /// Number of values (product of the shape).
    pub n_values: u64,
    /// Number of channels the frame declares: see `alcm_channel_count` (frames written before
    /// dimensions of 1 were skipped declare `shape[0]` for rank >= 2).
    pub n_channels: u64,
    /// The error target the frame was encoded for (relative L2 or max abs), else 0.
    pub target: f64,
    /// Total size of the frame in bytes.
    pub frame_len: u64,
    /// Values stored verbatim.
    pub n_exceptions: u64,
}

/// An encoder: configuration only, no buffers between calls. Create with alcm_encoder_new (or
/// from YAML), free with alcm_encoder_free. Setters need exclusive access; compress takes a
/// const pointer, so one configured encoder may serve several threads at once.
pub struct alcm_encoder {
    _private: [u8; 0],
}

// SAFETY: the tag is unique among handle types.
unsafe impl OpaqueHandle for alcm_encoder {
    type Inner = Encoder;
    const MAGIC: u64 = u64::from_be_bytes(*b"alcmENC1");
    const NAME: &'static str = "alcm_encoder";
}

/// Error-feedback state of one tensor (the residual carried to the next step). Exclusive
/// access per call; may move between threads.
pub struct alcm_feedback {
    _private: [u8; 0],
}

// SAFETY: the tag is unique among handle types.
unsafe impl OpaqueHandle for alcm_feedback {
    type Inner = ErrorFeedback;
    const MAGIC: u64 = u64::from_be_bytes(*b"alcmFDB1");
    const NAME: &'static str = "alcm_feedback";
}

/// --------------------------------------------------------------------------------------------
/// CODEC
///
/// An alcm_encoder holds settings only (mode, backend, precision, pruning, threads), no buffers:
/// create one, configure it with the alcm_encoder_set_* setters, then compress any number of
/// tensors with alcm_encoder_compress into a buffer of alcm_compress_bound bytes. The frame is
/// self-describing: alcm_peek reads its header, alcm_decompress needs nothing but the bytes.
/// Setters need exclusive access; compression takes a const encoder, so one configured encoder may
/// serve several threads at once.
///
/// --------------------------------------------------------------------------------------------
///
/// Creates an encoder with the defaults of the original encoder_config.yaml: adaptive mode,
/// precision 4..8 bits, pruning threshold 0.01, max drop ratio 0.25, the default backend
/// ALCM_BACKEND_RANS (deflate level 6 if deflate is chosen), non-finite values refused, 1 thread.
///
/// Returns: ALCM_OK; `*out` is written only on success.
/// Errors: ALCM_ERR_NULL_POINTER (`out`), ALCM_ERR_INVALID_ARGUMENT (`out` misaligned).
/// Memory: `*out` is a new encoder owned by the caller: free it with alcm_encoder_free.
/// Threads: any thread.
#[no_mangle]
pub unsafe extern "C" fn alcm_encoder_new(out: *mut *mut alcm_encoder) -> alcm_status {
    ffi_status("alcm_encoder_new", || {
        // SAFETY: the caller upholds the documented contract.
        let out = unsafe { out_ptr(out, "out")? };
        out.write(box_handle(Encoder::new(EncoderConfig::default())?));
        Ok(())
    })
}

/// Creates an encoder from a YAML file in the original encoder_config.yaml schema (plus alcm's
/// optional keys: mode, backend_level, non_finite, allocation, threads).
///
/// Returns: ALCM_OK; `*out` is written only on success.
/// Errors: ALCM_ERR_NULL_POINTER (`path`, `out`), ALCM_ERR_INVALID_UTF8 (`path`),
/// ALCM_ERR_INVALID_ARGUMENT (empty `path`, `out` misaligned), ALCM_ERR_IO (the file cannot be read,
/// is not a regular file, or is not UTF-8 text), ALCM_ERR_TOO_LARGE (a file over 64 KiB, checked
/// before reading; or a text beyond the limits of alcm_encoder_from_yaml_string),
/// ALCM_ERR_INVALID_CONFIG (bad YAML, unknown key or value out of range; the message names the
/// key).
/// Memory: `path` is borrowed for the call. `*out` is owned by the caller: free it with
/// alcm_encoder_free.
/// Threads: any thread.
#[no_mangle]
pub unsafe extern "C" fn alcm_encoder_from_yaml_file(
    path: *const c_char,
    out: *mut *mut alcm_encoder,
) -> alcm_status {
    ffi_status("alcm_encoder_from_yaml_file", || {
        // SAFETY: the caller upholds the documented contract.
        let (path, out) = unsafe { (c_path(path, "path")?, out_ptr(out, "out")?) };
        out.write(box_handle(Encoder::new(EncoderConfig::from_yaml_file(
            path,
        )?)?));
        Ok(())
    })
}

/// Creates an encoder from YAML text (same schema as alcm_encoder_from_yaml_file). A
/// configuration is small: the text is capped before the parser sees it.
///
/// Returns: ALCM_OK; `*out` is written only on success.
/// Errors: ALCM_ERR_NULL_POINTER (`yaml`, `out`), ALCM_ERR_INVALID_UTF8 (`yaml`),
/// ALCM_ERR_INVALID_ARGUMENT (`out` misaligned), ALCM_ERR_TOO_LARGE (text over 64 KiB, or a
/// document whose aliases expand past 4096 values or 64 KiB of strings), ALCM_ERR_INVALID_CONFIG
/// (bad YAML, text the parser refuses (more than 256 `[`/`{`, nesting over 128), unknown key or
/// value out of range; the message names the key).
/// Memory: `yaml` is borrowed for the call. `*out` is owned by the caller: free it with
/// alcm_encoder_free.
/// Threads: any thread.
#[no_mangle]
pub unsafe extern "C" fn alcm_encoder_from_yaml_string(
    yaml: *const c_char,
    out: *mut *mut alcm_encoder,
) -> alcm_status {
    ffi_status("alcm_encoder_from_yaml_string", || {
        // SAFETY: the caller upholds the documented contract.
        let (yaml, out) = unsafe { (c_str(yaml, "yaml")?, out_ptr(out, "out")?) };
        out.write(box_handle(Encoder::new(EncoderConfig::from_yaml_str(
            yaml,
        )?)?));
        Ok(())
    })
}

/// Frees an encoder. NULL is a no-op; a handle that is not a live encoder is left alone.
///
/// Memory: `enc` is NULL or an encoder from alcm_encoder_new / alcm_encoder_from_yaml_*, freed once
/// and not used afterwards.
/// Threads: any thread, once no other call uses `enc`.
#[no_mangle]
pub unsafe extern "C" fn alcm_encoder_free(enc: *mut alcm_encoder) {
    // SAFETY: the caller upholds the documented contract; NULL is a no-op.
    ffi_void("alcm_encoder_free", || unsafe { free_handle(enc) })
}

/// Applies `change` to a copy of the encoder's configuration and keeps it only if valid.
///
/// # Safety
/// `enc` is NULL or a live encoder handle not used concurrently.
unsafe fn reconfigure(
    enc: *mut alcm_encoder,
    change: impl FnOnce(&mut EncoderConfig),
) -> Result<(), FfiError> {
    // SAFETY: forwarded contract of the calling export.
    let e = unsafe { handle_mut(enc, "enc")? };
    let mut cfg = e.config().clone();
    change(&mut cfg);
    *e = Encoder::new(cfg)?;
    Ok(())
}

/// Sets the pruning threshold, a percentile fraction in (0, 1) (the scheduler's output).
///
/// Returns: ALCM_OK. On error the encoder is unchanged.
/// Errors: ALCM_ERR_NULL_POINTER (`enc`), ALCM_ERR_INVALID_HANDLE (`enc`), ALCM_ERR_INVALID_CONFIG
/// (`threshold` not in (0, 1)).
/// Threads: exclusive: no other call may use `enc` during this call.
#[no_mangle]
pub unsafe extern "C" fn alcm_encoder_set_threshold(
    enc: *mut alcm_encoder,
    threshold: f64,
) -> alcm_status {
    ffi_status("alcm_encoder_set_threshold", || {
        // SAFETY: forwarded contract.
        unsafe { reconfigure(enc, |c| c.threshold = threshold) }
    })
}

/// Sets the mode (ALCM_MODE_*) and its target: the relative L2 error in (0, 1) for
/// ALCM_MODE_RELATIVE_L2, the max absolute error (> 0) for ALCM_MODE_MAX_ABS; `target` is ignored
/// for the other modes.
///
/// Returns: ALCM_OK. On error the encoder is unchanged.
/// Errors: ALCM_ERR_INVALID_ARGUMENT (unknown mode; checked first), ALCM_ERR_NULL_POINTER (`enc`),
/// ALCM_ERR_INVALID_HANDLE (`enc`), ALCM_ERR_INVALID_CONFIG (target out of range).
/// Threads: exclusive: no other call may use `enc` during this call.
#[no_mangle]
pub unsafe extern "C" fn alcm_encoder_set_mode(
    enc: *mut alcm_encoder,
    mode: alcm_mode,
    target: f64,
) -> alcm_status {
    ffi_status("alcm_encoder_set_mode", || {
        let mode = match mode {
            ALCM_MODE_ADAPTIVE => Mode::Adaptive,
            ALCM_MODE_RELATIVE_L2 => Mode::RelativeL2(target),
            ALCM_MODE_MAX_ABS => Mode::MaxAbs(target),
            ALCM_MODE_LOSSLESS => Mode::Lossless,
            other => return Err(FfiError::invalid_argument(format!("unknown mode {other}"))),
        };
        // SAFETY: forwarded contract.
        unsafe { reconfigure(enc, |c| c.mode = mode) }
    })
}

/// Sets the backend: ALCM_BACKEND_RANS (the default), ALCM_BACKEND_DEFLATE or ALCM_BACKEND_STORE,
/// and the deflate level 0..10 (validated for every backend, used by deflate only).
/// ALCM_BACKEND_RANS_MODEL cannot be selected: the encoder chooses it by itself.
///
/// Returns: ALCM_OK. On error the encoder is unchanged.
/// Errors: ALCM_ERR_INVALID_ARGUMENT (unknown or unselectable backend, `level` > 10; checked
/// first), ALCM_ERR_NULL_POINTER (`enc`), ALCM_ERR_INVALID_HANDLE (`enc`).
/// Threads: exclusive: no other call may use `enc` during this call.
#[no_mangle]
pub unsafe extern "C" fn alcm_encoder_set_backend(
    enc: *mut alcm_encoder,
    backend: alcm_backend,
    level: u32,
) -> alcm_status {
    ffi_status("alcm_encoder_set_backend", || {
        let kind = match backend {
            ALCM_BACKEND_STORE => BackendKind::Store,
            ALCM_BACKEND_DEFLATE => BackendKind::Deflate,
            ALCM_BACKEND_RANS => BackendKind::Rans,
            other => {
                return Err(FfiError::invalid_argument(format!(
                    "unknown backend {other}"
                )))
            }
        };
        if level > 10 {
            return Err(FfiError::invalid_argument(format!(
                "deflate level {level} is not in 0..=10"
            )));
        }
        // SAFETY: forwarded contract.
        unsafe {
            reconfigure(enc, |c| {
                c.backend = kind;
                c.deflate_level = level as u8;
            })
        }
    })
}

/// Sets the precision range of adaptive mode: 1 <= min_precision <= base_precision <= 16.
///
/// Returns: ALCM_OK. On error the encoder is unchanged.
/// Errors: ALCM_ERR_NULL_POINTER (`enc`), ALCM_ERR_INVALID_HANDLE (`enc`), ALCM_ERR_INVALID_CONFIG
/// (range violated).
/// Threads: exclusive: no other call may use `enc` during this call.
#[no_mangle]
pub unsafe extern "C" fn alcm_encoder_set_precision(
    enc: *mut alcm_encoder,
    min_precision: u32,
    base_precision: u32,
) -> alcm_status {
    ffi_status("alcm_encoder_set_precision", || {
        // SAFETY: forwarded contract.
        unsafe {
            reconfigure(enc, |c| {
                c.min_precision = min_precision;
                c.base_precision = base_precision;
            })
        }
    })
}

/// Sets the largest fraction of values pruning may drop, in [0, 1).
///
/// Returns: ALCM_OK. On error the encoder is unchanged.
/// Errors: ALCM_ERR_NULL_POINTER (`enc`), ALCM_ERR_INVALID_HANDLE (`enc`), ALCM_ERR_INVALID_CONFIG
/// (not in [0, 1)).
/// Threads: exclusive: no other call may use `enc` during this call.
#[no_mangle]
pub unsafe extern "C" fn alcm_encoder_set_max_drop_ratio(
    enc: *mut alcm_encoder,
    max_drop_ratio: f64,
) -> alcm_status {
    ffi_status("alcm_encoder_set_max_drop_ratio", || {
        // SAFETY: forwarded contract.
        unsafe { reconfigure(enc, |c| c.max_drop_ratio = max_drop_ratio) }
    })
}

/// Sets the policy for NaN/Inf input (ALCM_NON_FINITE_*).
///
/// Returns: ALCM_OK. On error the encoder is unchanged.
/// Errors: ALCM_ERR_INVALID_ARGUMENT (unknown policy; checked first), ALCM_ERR_NULL_POINTER
/// (`enc`), ALCM_ERR_INVALID_HANDLE (`enc`).
/// Threads: exclusive: no other call may use `enc` during this call.
#[no_mangle]
pub unsafe extern "C" fn alcm_encoder_set_non_finite(
    enc: *mut alcm_encoder,
    policy: alcm_non_finite,
) -> alcm_status {
    ffi_status("alcm_encoder_set_non_finite", || {
        let p = match policy {
            ALCM_NON_FINITE_REFUSE => NonFinitePolicy::Refuse,
            ALCM_NON_FINITE_KEEP => NonFinitePolicy::Keep,
            other => {
                return Err(FfiError::invalid_argument(format!(
                    "unknown non-finite policy {other}"
                )))
            }
        };
        // SAFETY: forwarded contract.
        unsafe { reconfigure(enc, |c| c.non_finite = p) }
    })
}

/// Sets how many threads one compression may use, 1..ALCM_MAX_THREADS (default 1). The
/// error-bounded modes split a large tensor into fixed blocks of rows; the frame bytes are the same
/// for every thread count. Threads are started per call and joined before it returns.
///
/// Returns: ALCM_OK. On error the encoder is unchanged.
/// Errors: ALCM_ERR_NULL_POINTER (`enc`), ALCM_ERR_INVALID_HANDLE (`enc`), ALCM_ERR_INVALID_CONFIG
/// (0 or more than ALCM_MAX_THREADS).
/// Threads: exclusive: no other call may use `enc` during this call.
#[no_mangle]
pub unsafe extern "C" fn alcm_encoder_set_threads(
    enc: *mut alcm_encoder,
    threads: u32,
) -> alcm_status {
    ffi_status("alcm_encoder_set_threads", || {
        // SAFETY: forwarded contract.
        unsafe { reconfigure(enc, |c| c.threads = threads as usize) }
    })
}

/// Worst-case frame size for `n_values` floats: a `dst` buffer of this many bytes always suffices
/// for alcm_encoder_compress and is what alcm_feedback_compress requires.
///
/// Returns: the bound, saturated at SIZE_MAX; cannot fail.
/// Threads: any thread.
#[no_mangle]
pub extern "C" fn alcm_compress_bound(n_values: usize) -> usize {
    ffi_infallible("alcm_compress_bound", usize::MAX, || {
        crate::compress_bound(n_values)
    })
}

/// Writes a frame of `n` bytes into `dst`, then sets `*dst_len` and (if non-NULL) `*report`.
pub(super) fn finish(
    bytes: &[u8],
    report: &Report,
    mut dst: super::handle::OutSlice<'_, u8>,
    dst_len: super::handle::Out<'_, usize>,
    report_out: Option<super::handle::Out<'_, alcm_report>>,
) -> Result<(), FfiError> {
    if bytes.len() > dst.len() {
        return Err(FfiError::buffer_too_small(format!(
            "the frame needs {} bytes, dst holds {} (size dst with alcm_compress_bound)",
            bytes.len(),
            dst.len()
        )));
    }
    for (d, s) in dst.as_uninit().iter_mut().zip(bytes) {
        d.write(*s);
    }
    dst_len.write(bytes.len());
    if let Some(r) = report_out {
        r.write(report.into());
    }
    Ok(())
}

/// Compresses the tensor `(data, rank, shape)` into `dst` (`dst_capacity` bytes; size it with
/// alcm_compress_bound). `allocation` (adaptive mode; NULL with `allocation_len` 0 for full
/// precision) holds 1 value for the whole tensor or one per channel, in [min_bits, max_bits] (the
/// predictor's output); other modes ignore it.
///
/// Returns: ALCM_OK; the frame is in `dst[0..*dst_len]` and, if `report` is non-NULL, `*report`
/// describes it. Outputs are written only on success.
/// Errors: ALCM_ERR_NULL_POINTER (`enc`, `dst_len`; `data`, `shape`, `allocation`, `dst` when their
/// length is not 0), ALCM_ERR_INVALID_HANDLE (`enc`), ALCM_ERR_INVALID_ARGUMENT (rank above
/// ALCM_MAX_RANK, allocation length neither 1 nor the channel count, an allocation value not finite
/// or outside [min_bits, max_bits] (the message names the index), more than 2^32 - 1 channels,
/// misaligned pointer), ALCM_ERR_TOO_LARGE (the shape overflows or exceeds ALCM_MAX_ELEMENTS),
/// ALCM_ERR_NON_FINITE (NaN/Inf with the refuse policy; the message
/// names the index), ALCM_ERR_BUFFER_TOO_SMALL (the frame is longer than `dst_capacity`; never with
/// alcm_compress_bound), ALCM_ERR_TIMEOUT (the relative-L2 search ran out of the encoder's time
/// budget, YAML `timeout_seconds`).
/// Memory: every input is borrowed for the call; `dst` must not overlap the inputs.
/// Threads: `enc` is only read: other threads may use the same handle at the same time in calls
/// that take it as `const`.
#[no_mangle]
pub unsafe extern "C" fn alcm_encoder_compress(
    enc: *const alcm_encoder,
    data: *const f32,
    rank: usize,
    shape: *const usize,
    allocation: *const f64,
    allocation_len: usize,
    dst: *mut u8,
    dst_capacity: usize,
    dst_len: *mut usize,
    report: *mut alcm_report,
) -> alcm_status {
    ffi_status("alcm_encoder_compress", || {
        // SAFETY: the caller upholds the documented contract.
        let (e, t, alloc, dst, dst_len) = unsafe {
            (
                handle_ref(enc, "enc")?,
                tensor_view(data, rank, shape)?,
                in_slice(allocation, allocation_len, "allocation")?,
                out_slice(dst, dst_capacity, "dst")?,
                out_ptr(dst_len, "dst_len")?,
            )
        };
        // SAFETY: as above; `report` is optional.
        let report_out = unsafe { opt_out_ptr(report, "report")? };
        let c = e.compress(t.data, &t.shape, (!alloc.is_empty()).then_some(alloc))?;
        finish(&c.bytes, &c.report, dst, dst_len, report_out)
    })
}

/// Reads a frame header from `src` (at least the first ALCM_FRAME_HEADER_MAX bytes, or the whole
/// frame if shorter) without decoding or checksumming the payload.
///
/// Returns: ALCM_OK; `*info` is written only on success.
/// Errors: ALCM_ERR_NULL_POINTER (`info`; `src` when `src_len` is not 0), ALCM_ERR_INVALID_ARGUMENT
/// (`info` misaligned), ALCM_ERR_BAD_MAGIC (not an alcm frame), ALCM_ERR_FORMAT_VERSION (written by
/// a newer format), ALCM_ERR_TRUNCATED (fewer bytes than the header), ALCM_ERR_CORRUPT (invalid
/// header field), ALCM_ERR_TOO_LARGE (the declared shape overflows or exceeds the address space).
/// Memory: `src` is borrowed for the call.
/// Threads: any thread.
#[no_mangle]
pub unsafe extern "C" fn alcm_peek(
    src: *const u8,
    src_len: usize,
    info: *mut alcm_frame_info,
) -> alcm_status {
    ffi_status("alcm_peek", || {
        // SAFETY: the caller upholds the documented contract.
        let (src, info) = unsafe { (in_slice(src, src_len, "src")?, out_ptr(info, "info")?) };
        let i = crate::peek(src)?;
        let mut shape = [0u64; ALCM_MAX_RANK];
        for (d, s) in shape.iter_mut().zip(&i.shape) {
            *d = *s as u64;
        }
        info.write(alcm_frame_info {
            format_version: i.format_version as u32,
            mode: i.mode.id() as u32,
            backend: i.backend.id() as u32,
            rank: i.shape.len() as u32,
            shape,
            n_values: i.n_values,
            n_channels: i.n_channels,
            target: i.target,
            frame_len: i.frame_len,
            n_exceptions: i.n_exceptions,
        });
        Ok(())
    })
}

/// Decodes the complete frame `src` (exactly `src_len` bytes) into `dst`, which must hold at least
/// the frame's value count (alcm_peek gives it); nothing larger than that count is allocated.
///
/// Returns: ALCM_OK; `dst[0..*n_values]` holds the values, `*n_values` the count.
/// Errors: ALCM_ERR_NULL_POINTER (`n_values`; `src` when `src_len` is not 0; `dst` when the frame
/// holds values), ALCM_ERR_INVALID_ARGUMENT (misaligned `dst` or `n_values`), ALCM_ERR_BAD_MAGIC,
/// ALCM_ERR_FORMAT_VERSION, ALCM_ERR_TRUNCATED, ALCM_ERR_CORRUPT, ALCM_ERR_CHECKSUM (the bytes were
/// altered), ALCM_ERR_TOO_LARGE (the declared shape overflows or exceeds the address space),
/// ALCM_ERR_BUFFER_TOO_SMALL (`dst_capacity` is below the value count). On error `dst` may hold
/// partial output and `*n_values` is not written.
/// Memory: `src` is borrowed for the call; `dst` must not overlap it.
/// Threads: any thread.
#[no_mangle]
pub unsafe extern "C" fn alcm_decompress(
    src: *const u8,
    src_len: usize,
    dst: *mut f32,
    dst_capacity: usize,
    n_values: *mut usize,
) -> alcm_status {
    ffi_status("alcm_decompress", || {
        // SAFETY: forwarded contract.
        unsafe { decompress_impl(src, src_len, dst, dst_capacity, 1, n_values) }
    })
}

/// The body of alcm_decompress and alcm_decompress_with_threads.
///
/// # Safety
/// The contract of alcm_decompress.
unsafe fn decompress_impl(
    src: *const u8,
    src_len: usize,
    dst: *mut f32,
    dst_capacity: usize,
    threads: usize,
    n_values: *mut usize,
) -> Result<(), FfiError> {
    // SAFETY: the caller upholds the documented contract.
    let (src, n_out) = unsafe {
        (
            in_slice(src, src_len, "src")?,
            out_ptr(n_values, "n_values")?,
        )
    };
    let info = crate::peek(src)?;
    if info.n_values > dst_capacity as u64 {
        return Err(FfiError::buffer_too_small(format!(
            "the frame holds {} values, dst holds {dst_capacity}",
            info.n_values
        )));
    }
    let n = info.n_values as usize;
    // SAFETY: the caller promises `dst_capacity` >= n writable floats.
    let mut dst = unsafe { out_slice(dst, n, "dst")? };
    let buf = dst.as_uninit();
    for v in buf.iter_mut() {
        v.write(0.0);
    }
    // SAFETY: every element was initialised just above; MaybeUninit<f32> has f32's layout.
    let out = unsafe { std::slice::from_raw_parts_mut(buf.as_mut_ptr().cast::<f32>(), n) };
    crate::DecodeOptions::default()
        .with_threads(threads)
        .decompress_into(src, out)?;
    n_out.write(n);
    Ok(())
}

/// Like alcm_decompress, decoding the independent blocks of a large frame (payload kinds 2 and 4,
/// docs/FORMAT.md) on up to `threads` threads, 1..ALCM_MAX_THREADS; other frames decode on one
/// thread. The decoded values are the same for every thread count.
///
/// Returns: as alcm_decompress.
/// Errors: ALCM_ERR_INVALID_ARGUMENT for a thread count of 0 or more than ALCM_MAX_THREADS (checked
/// first; `dst` and `*n_values` are then untouched), and those of alcm_decompress.
/// Memory: as alcm_decompress.
/// Threads: any thread.
#[no_mangle]
pub unsafe extern "C" fn alcm_decompress_with_threads(
    src: *const u8,
    src_len: usize,
    dst: *mut f32,
    dst_capacity: usize,
    threads: u32,
    n_values: *mut usize,
) -> alcm_status {
    ffi_status("alcm_decompress_with_threads", || {
        if !(1..=ALCM_MAX_THREADS).contains(&threads) {
            return Err(FfiError::invalid_argument(format!(
                "threads must be in 1..={ALCM_MAX_THREADS}, got {threads}"
            )));
        }
        // SAFETY: forwarded contract.
        unsafe { decompress_impl(src, src_len, dst, dst_capacity, threads as usize, n_values) }
    })
}
