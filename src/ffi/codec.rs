//! Exports over the encoder, the decoder and the error-feedback state.

use std::os::raw::c_char;

use super::error::FfiError;
use super::handle::{
    box_handle, c_path, c_str, free_handle, handle_mut, handle_ref, in_slice, out_ptr, out_slice,
    tensor_view, OpaqueHandle, ALCM_MAX_RANK,
};
use super::panic::{ffi_infallible, ffi_status, ffi_void};
use super::status::alcm_status;
use crate::{BackendKind, Encoder, EncoderConfig, ErrorFeedback, Mode, NonFinitePolicy, Report};

/// Encoder mode (as stored in the frame): `ALCM_MODE_*`.
#[allow(non_camel_case_types)]
pub type alcm_mode = u32;
/// The original's scheme: per-channel precision from a bit allocation, pruning.
pub const ALCM_MODE_ADAPTIVE: alcm_mode = 0;
/// Guarantees ||x - x'||_2 <= target * ||x||_2 (target in (0, 1)).
pub const ALCM_MODE_RELATIVE_L2: alcm_mode = 1;
/// Guarantees |x_i - x'_i| <= target for every value (target > 0).
pub const ALCM_MODE_MAX_ABS: alcm_mode = 2;
/// Bit-exact.
pub const ALCM_MODE_LOSSLESS: alcm_mode = 3;

/// Lossless backend applied to the packed codes: `ALCM_BACKEND_*`.
#[allow(non_camel_case_types)]
pub type alcm_backend = u32;
/// No entropy coding.
pub const ALCM_BACKEND_STORE: alcm_backend = 0;
/// Deflate (the original prototype's backend).
pub const ALCM_BACKEND_DEFLATE: alcm_backend = 1;
/// Static rANS over byte planes (the default: smaller and faster than deflate on codes).
pub const ALCM_BACKEND_RANS: alcm_backend = 2;

/// What to do with NaN/Inf input: `ALCM_NON_FINITE_*`.
#[allow(non_camel_case_types)]
pub type alcm_non_finite = u32;
/// Refuse the tensor with ALCM_ERR_NON_FINITE (the default).
pub const ALCM_NON_FINITE_REFUSE: alcm_non_finite = 0;
/// Store NaN/Inf values exactly; the rest is compressed as usual.
pub const ALCM_NON_FINITE_KEEP: alcm_non_finite = 1;

/// What one compression did. Output only; fields may be added at the end in a major version.
#[allow(non_camel_case_types)]
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct alcm_report {
    /// Size of the float32 input (4 bytes per value).
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
            mode: r.mode as u32,
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
    pub shape: [u64; 8],
    /// Number of values (product of the shape).
    pub n_values: u64,
    /// Number of channels (first dimension for rank >= 2, else 1; 0 when empty).
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

/// Worst-case frame size for `n_values` floats: a `dst` buffer of this size always suffices.
/// Saturates at SIZE_MAX. Thread-safe, cannot fail.
#[no_mangle]
pub extern "C" fn alcm_compress_bound(n_values: usize) -> usize {
    ffi_infallible("alcm_compress_bound", usize::MAX, || {
        crate::compress_bound(n_values)
    })
}

/// Creates an encoder with the defaults of the original encoder_config.yaml (adaptive mode,
/// precision 4..8 bits, pruning threshold 0.01, max drop ratio 0.25, the default backend
/// ALCM_BACKEND_RANS, non-finite values refused). `*out` is written only on success.
///
/// # Safety
/// `out` points to a writable `alcm_encoder*`.
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
/// optional keys). ALCM_ERR_IO if unreadable or not a regular file, ALCM_ERR_TOO_LARGE above
/// 64 KiB (checked before reading) or as for the string, ALCM_ERR_INVALID_CONFIG (message
/// names the key) if a value is invalid.
///
/// # Safety
/// `path` is a NUL-terminated string; `out` points to a writable `alcm_encoder*`.
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

/// Creates an encoder from YAML text (same schema as alcm_encoder_from_yaml_file).
/// ALCM_ERR_INVALID_CONFIG for an invalid value or text the parser refuses (more than 256
/// `[`/`{`, nesting over 128); ALCM_ERR_TOO_LARGE for text over 64 KiB or a document whose
/// aliases expand past 4096 values or 64 KiB of strings.
///
/// # Safety
/// `yaml` is a NUL-terminated string; `out` points to a writable `alcm_encoder*`.
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

/// Frees an encoder. NULL is a no-op.
///
/// # Safety
/// `enc` is NULL or a live handle from alcm_encoder_*; it is not used afterwards.
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

/// Sets the pruning threshold (a percentile fraction in (0, 1); the scheduler's output).
/// On error the encoder is unchanged.
///
/// # Safety
/// `enc` is a live encoder handle, not used concurrently.
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

/// Sets the mode and its target: relative L2 error in (0, 1) for ALCM_MODE_RELATIVE_L2, max
/// absolute error > 0 for ALCM_MODE_MAX_ABS; ignored for the other modes. On error the encoder
/// is unchanged.
///
/// # Safety
/// `enc` is a live encoder handle, not used concurrently.
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

/// Sets the backend (ALCM_BACKEND_*) and, for deflate, its level 0..10 (ignored otherwise).
///
/// # Safety
/// `enc` is a live encoder handle, not used concurrently.
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
/// # Safety
/// `enc` is a live encoder handle, not used concurrently.
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

/// Sets the largest fraction of non-zero values pruning may drop, in [0, 1).
///
/// # Safety
/// `enc` is a live encoder handle, not used concurrently.
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
/// # Safety
/// `enc` is a live encoder handle, not used concurrently.
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

/// Largest thread count alcm_encoder_set_threads and alcm_decompress_with_threads accept.
pub const ALCM_MAX_THREADS: u32 = 64;

/// Sets how many threads one compression may use, 1..ALCM_MAX_THREADS (default 1). The
/// error-bounded modes split a large tensor into fixed blocks of rows; the frame bytes are
/// the same for every thread count. Threads are started per call and joined before it returns.
/// On error (ALCM_ERR_INVALID_CONFIG for 0 or more than ALCM_MAX_THREADS) the encoder is
/// unchanged.
///
/// # Safety
/// `enc` is a live encoder handle, not used concurrently.
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

/// Writes a frame of `n` bytes into `dst`, then sets `*dst_len` and (if non-NULL) `*report`.
fn finish(
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

/// Compresses the tensor `(data, rank, shape)` into `dst` (capacity `dst_capacity` bytes; size it
/// with alcm_compress_bound). `allocation` (adaptive mode; may be NULL with `allocation_len` 0
/// for full precision) holds 1 value for the whole tensor or one per channel, in
/// [min_bits, max_bits] (the predictor's output). On success writes the frame length to
/// `*dst_len` and, if `report` is non-NULL, the report.
///
/// Errors: ALCM_ERR_NULL_POINTER, ALCM_ERR_INVALID_ARGUMENT (shape/allocation mismatch, an
/// allocation value outside [min_bits, max_bits]: the message names the index),
/// ALCM_ERR_NON_FINITE (NaN/Inf with the refuse policy; the message names the index),
/// ALCM_ERR_BUFFER_TOO_SMALL, ALCM_ERR_TIMEOUT.
///
/// # Safety
/// `enc` is a live encoder handle; the tensor and allocation arrays are readable for the given
/// sizes; `dst` is writable for `dst_capacity` bytes and does not overlap the inputs.
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
        let report_out = if report.is_null() {
            None
        } else {
            // SAFETY: as above; `report` is optional and not NULL here.
            Some(unsafe { out_ptr(report, "report")? })
        };
        let c = e.compress(t.data, &t.shape, (!alloc.is_empty()).then_some(alloc))?;
        finish(&c.bytes, &c.report, dst, dst_len, report_out)
    })
}

/// Reads a frame header (at least the first ALCM_FRAME_HEADER_MAX bytes, or the whole frame)
/// without decoding or checksumming the payload. `*info` is written only on success.
///
/// # Safety
/// `src` is readable for `src_len` bytes; `info` points to a writable alcm_frame_info.
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
        let mut shape = [0u64; 8];
        for (d, s) in shape.iter_mut().zip(&i.shape) {
            *d = *s as u64;
        }
        info.write(alcm_frame_info {
            format_version: i.format_version as u32,
            mode: i.mode as u32,
            backend: i.backend as u32,
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

/// The most bytes alcm_peek needs: the largest fixed frame header.
// A literal, not `FRAME_OVERHEAD_MAX - 4`: cbindgen cannot evaluate a path expression and
// silently left the macro out of alcm.h. The assertion keeps the two in step.
pub const ALCM_FRAME_HEADER_MAX: usize = 132;
const _: () = assert!(ALCM_FRAME_HEADER_MAX == crate::format::FRAME_OVERHEAD_MAX - 4);

/// Decodes the complete frame `src` (exactly `src_len` bytes) into `dst`, which must hold at
/// least the frame's value count (`alcm_peek` gives it); nothing larger than `dst_capacity`
/// values is ever allocated. On success writes the value count to `*n_values`.
///
/// Errors: ALCM_ERR_BAD_MAGIC, ALCM_ERR_FORMAT_VERSION, ALCM_ERR_TRUNCATED, ALCM_ERR_CORRUPT,
/// ALCM_ERR_CHECKSUM, ALCM_ERR_BUFFER_TOO_SMALL. On error, `dst` may hold partial output.
///
/// # Safety
/// `src` is readable for `src_len` bytes; `dst` is writable for `dst_capacity` floats and does
/// not overlap `src`.
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
    crate::decompress_into_with_threads(src, out, threads)?;
    n_out.write(n);
    Ok(())
}

/// Like alcm_decompress, decoding the independent blocks of a large frame (payload kinds 2 and 4,
/// docs/FORMAT.md) on up to `threads` threads, 1..ALCM_MAX_THREADS; other frames decode on
/// one thread. The decoded values are the same for every thread count.
///
/// Errors: those of alcm_decompress, and ALCM_ERR_INVALID_ARGUMENT for a thread count of 0 or
/// more than ALCM_MAX_THREADS (checked first; `dst` and `*n_values` are then untouched).
///
/// # Safety
/// As alcm_decompress.
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

/// Creates error-feedback state (a zero residual) for tensors of `shape`.
/// ALCM_ERR_INVALID_ARGUMENT for rank > ALCM_MAX_RANK; ALCM_ERR_TOO_LARGE for more than
/// ALCM_MAX_ELEMENTS values or when the residual's memory cannot be had (never an abort).
///
/// # Safety
/// `shape` is readable for `rank` values (may be NULL when rank is 0); `out` is writable.
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

/// Compresses `gradient + residual` (n_values floats, the state's shape) into `dst` and keeps the
/// new residual; arguments as alcm_encoder_compress. On error the residual is unchanged.
/// ALCM_ERR_INVALID_ARGUMENT when `n_values` is not the state's value count (checked before
/// the buffer size); otherwise the errors of alcm_encoder_compress.
///
/// # Safety
/// `fb` is a live feedback handle used by no other thread during the call; `enc` a live encoder;
/// arrays readable/writable for the given sizes.
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
        let report_out = if report.is_null() {
            None
        } else {
            // SAFETY: as above; `report` is optional and not NULL here.
            Some(unsafe { out_ptr(report, "report")? })
        };
        // The value count is the caller's mistake to report first (not a buffer too small
        // for a count that is wrong anyway).
        crate::stats::check_shape(g.len(), fb.shape())?;
        if crate::compress_bound(n_values) > dst_capacity {
            // Checked first so that a too-small buffer never consumes the residual.
            return Err(FfiError::buffer_too_small(format!(
                "dst holds {dst_capacity} bytes; size it with alcm_compress_bound ({})",
                crate::compress_bound(n_values)
            )));
        }
        let c = fb.compress(e, g, (!alloc.is_empty()).then_some(alloc))?;
        finish(&c.bytes, &c.report, dst, dst_len, report_out)
    })
}

/// Sets the residual to zero.
///
/// # Safety
/// `fb` is a live feedback handle, not used concurrently.
#[no_mangle]
pub unsafe extern "C" fn alcm_feedback_reset(fb: *mut alcm_feedback) -> alcm_status {
    ffi_status("alcm_feedback_reset", || {
        // SAFETY: the caller upholds the documented contract.
        unsafe { handle_mut(fb, "fb")? }.reset();
        Ok(())
    })
}

/// Saves the state to `path` atomically (temporary file + rename).
///
/// # Safety
/// `fb` is a live feedback handle; `path` a NUL-terminated string.
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

/// Loads a state saved by alcm_feedback_save. A truncated or foreign file gives
/// ALCM_ERR_INVALID_MODEL or ALCM_ERR_CHECKSUM; an unknown state version
/// ALCM_ERR_FORMAT_VERSION; a path that is unreadable or not a regular file ALCM_ERR_IO; a
/// file over 76 + 4·2^32 bytes ALCM_ERR_TOO_LARGE (checked before reading).
///
/// # Safety
/// `path` is a NUL-terminated string; `out` is writable.
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

/// Frees feedback state. NULL is a no-op.
///
/// # Safety
/// `fb` is NULL or a live handle; it is not used afterwards.
#[no_mangle]
pub unsafe extern "C" fn alcm_feedback_free(fb: *mut alcm_feedback) {
    // SAFETY: the caller upholds the documented contract; NULL is a no-op.
    ffi_void("alcm_feedback_free", || unsafe { free_handle(fb) })
}
