//! Typed entry points: tensors of bfloat16, float16 and float64 (and float32) through the C
//! ABI, with the element type as an `ALCM_DTYPE_*` argument. Values cross the boundary in the
//! platform's byte order; the Rust API takes little-endian bytes, so big-endian targets swap.

use std::ffi::c_void;

use super::codec::{alcm_encoder, alcm_report, finish};
use super::error::FfiError;
use super::handle::{handle_ref, in_slice, opt_out_ptr, out_ptr, out_slice, tensor_view};
use super::panic::{ffi_infallible, ffi_status};
use super::status::alcm_status;
use crate::abi::ALCM_MAX_THREADS;
use crate::{DecodeOptions, Dtype};

fn dtype_arg(dtype: u32) -> Result<Dtype, FfiError> {
    Dtype::from_id(dtype).ok_or_else(|| {
        FfiError::invalid_argument(format!(
            "dtype {dtype} is not an ALCM_DTYPE_* id (1 float32, 2 bfloat16, 3 float16, 4 float64)"
        ))
    })
}

/// Native-order values to little-endian bytes (a copy; byte swaps on big-endian targets).
fn native_to_le(bytes: &[u8], width: usize) -> Vec<u8> {
    let mut out = bytes.to_vec();
    if cfg!(target_endian = "big") {
        out.chunks_exact_mut(width).for_each(|v| v.reverse());
    }
    out
}

/// Worst-case frame size for `n_values` values of element type `dtype` (ALCM_DTYPE_*): a `dst`
/// buffer of this many bytes always suffices for alcm_encoder_compress_typed.
///
/// Returns: the bound, saturated at SIZE_MAX; 0 for an unknown `dtype` (no frame is that small).
/// Threads: any thread.
#[no_mangle]
pub extern "C" fn alcm_compress_bound_typed(n_values: usize, dtype: u32) -> usize {
    ffi_infallible("alcm_compress_bound_typed", usize::MAX, || {
        Dtype::from_id(dtype).map_or(0, |d| crate::compress_bound_typed(n_values, d))
    })
}

/// Compresses the tensor `(data, rank, shape)` of element type `dtype` (ALCM_DTYPE_F32, _BF16,
/// _F16 or _F64; `data` points to values of that type, in the platform's byte order, bfloat16 and
/// float16 as their 16-bit patterns) into `dst`. Like alcm_encoder_compress otherwise: the frame
/// records the type, the mode's error bound holds on these values and on what
/// alcm_decompress_typed returns, lossless frames return every bit. ALCM_DTYPE_F32 writes the
/// frame alcm_encoder_compress writes.
///
/// Returns: ALCM_OK; the frame is in `dst[0..*dst_len]` and, if `report` is non-NULL, `*report`
/// describes it (input_bytes counts the type's width). Outputs are written only on success.
/// Errors: those of alcm_encoder_compress (size `dst` with alcm_compress_bound_typed), and
/// ALCM_ERR_INVALID_ARGUMENT for an unknown `dtype` or `data` misaligned for its type.
/// Memory: every input is borrowed for the call; `dst` must not overlap the inputs.
/// Threads: `enc` is only read: other threads may use the same handle at the same time in calls
/// that take it as `const`.
#[no_mangle]
pub unsafe extern "C" fn alcm_encoder_compress_typed(
    enc: *const alcm_encoder,
    data: *const c_void,
    dtype: u32,
    rank: usize,
    shape: *const usize,
    allocation: *const f64,
    allocation_len: usize,
    dst: *mut u8,
    dst_capacity: usize,
    dst_len: *mut usize,
    report: *mut alcm_report,
) -> alcm_status {
    ffi_status("alcm_encoder_compress_typed", || {
        let d = dtype_arg(dtype)?;
        // SAFETY: the caller upholds the documented contract; each view reads `data` as the
        // type's unsigned integer of its width (alignment checked), then as bytes.
        let (e, bytes, shape, alloc, dst, dst_len) = unsafe {
            let (bytes, shape) = match d.width() {
                2 => {
                    let t = tensor_view(data.cast::<u16>(), rank, shape)?;
                    (bytemuck_bytes(t.data), t.shape)
                }
                4 => {
                    let t = tensor_view(data.cast::<u32>(), rank, shape)?;
                    (bytemuck_bytes(t.data), t.shape)
                }
                _ => {
                    let t = tensor_view(data.cast::<u64>(), rank, shape)?;
                    (bytemuck_bytes(t.data), t.shape)
                }
            };
            (
                handle_ref(enc, "enc")?,
                bytes,
                shape,
                in_slice(allocation, allocation_len, "allocation")?,
                out_slice(dst, dst_capacity, "dst")?,
                out_ptr(dst_len, "dst_len")?,
            )
        };
        // SAFETY: as above; `report` is optional.
        let report_out = unsafe { opt_out_ptr(report, "report")? };
        let le = native_to_le(bytes, d.width());
        let c = e.compress_bytes(&le, d, &shape, (!alloc.is_empty()).then_some(alloc))?;
        finish(&c.bytes, &c.report, dst, dst_len, report_out)
    })
}

/// The bytes of a slice of plain integers.
fn bytemuck_bytes<T: Copy>(s: &[T]) -> &[u8] {
    // SAFETY: `T` is u16/u32/u64 here (no padding, every byte initialised); u8 has alignment 1
    // and the length covers exactly the slice's memory.
    unsafe { std::slice::from_raw_parts(s.as_ptr().cast::<u8>(), std::mem::size_of_val(s)) }
}

/// Reads the element type of a frame from its header (`src`: at least the first
/// ALCM_FRAME_HEADER_MAX bytes, or the whole frame if shorter), without decoding.
///
/// Returns: ALCM_OK; `*dtype` (an ALCM_DTYPE_* id) is written only on success.
/// Errors: those of alcm_peek (NULL `dtype` is ALCM_ERR_NULL_POINTER).
/// Memory: `src` is borrowed for the call.
/// Threads: any thread.
#[no_mangle]
pub unsafe extern "C" fn alcm_peek_dtype(
    src: *const u8,
    src_len: usize,
    dtype: *mut u32,
) -> alcm_status {
    ffi_status("alcm_peek_dtype", || {
        // SAFETY: the caller upholds the documented contract.
        let (src, out) = unsafe { (in_slice(src, src_len, "src")?, out_ptr(dtype, "dtype")?) };
        out.write(u32::from(crate::peek(src)?.dtype));
        Ok(())
    })
}

/// Decodes the complete frame `src` (exactly `src_len` bytes) whose element type is `dtype` into
/// `dst`, which must hold at least the frame's value count (`dst_capacity` counts values of that
/// type; alcm_peek gives the count, alcm_peek_dtype the type), in the platform's byte order. The
/// independent blocks of a large frame are decoded on up to `threads` threads
/// (1..ALCM_MAX_THREADS); the values do not depend on it.
///
/// Returns: ALCM_OK; `dst[0..*n_values]` holds the values, `*n_values` the count.
/// Errors: those of alcm_decompress_with_threads, and ALCM_ERR_INVALID_ARGUMENT for an unknown
/// `dtype`, a frame of another element type than `dtype` (checked before decoding), or `dst`
/// misaligned for its type. On error `dst` may hold partial output and `*n_values` is not
/// written.
/// Memory: `src` is borrowed for the call; `dst` must not overlap it.
/// Threads: any thread.
#[no_mangle]
pub unsafe extern "C" fn alcm_decompress_typed(
    src: *const u8,
    src_len: usize,
    dtype: u32,
    dst: *mut c_void,
    dst_capacity: usize,
    threads: u32,
    n_values: *mut usize,
) -> alcm_status {
    ffi_status("alcm_decompress_typed", || {
        let d = dtype_arg(dtype)?;
        if !(1..=ALCM_MAX_THREADS).contains(&threads) {
            return Err(FfiError::invalid_argument(format!(
                "threads must be in 1..={ALCM_MAX_THREADS}, got {threads}"
            )));
        }
        // SAFETY: the caller upholds the documented contract.
        let (src, n_out) = unsafe {
            (
                in_slice(src, src_len, "src")?,
                out_ptr(n_values, "n_values")?,
            )
        };
        let info = crate::peek(src)?;
        if info.element_type() != d {
            return Err(FfiError::invalid_argument(format!(
                "the frame holds {} values, not {d}",
                info.element_type()
            )));
        }
        if info.n_values > dst_capacity as u64 {
            return Err(FfiError::buffer_too_small(format!(
                "the frame holds {} values, dst holds {dst_capacity}",
                info.n_values
            )));
        }
        let n = info.n_values as usize;
        let w = d.width();
        // SAFETY: the caller promises `dst_capacity` >= n writable values of the type; the
        // views as the type's unsigned integer check NULL and alignment.
        let out: &mut [u8] = unsafe {
            match w {
                2 => {
                    out_slice(dst.cast::<u16>(), n, "dst")?;
                }
                4 => {
                    out_slice(dst.cast::<u32>(), n, "dst")?;
                }
                _ => {
                    out_slice(dst.cast::<u64>(), n, "dst")?;
                }
            }
            if n == 0 {
                &mut []
            } else {
                // Zeroed first: every byte initialised before it is viewed as `u8`s.
                std::ptr::write_bytes(dst.cast::<u8>(), 0, n * w);
                std::slice::from_raw_parts_mut(dst.cast::<u8>(), n * w)
            }
        };
        DecodeOptions::default()
            .with_threads(threads as usize)
            .decompress_bytes_into(src, out)?;
        if cfg!(target_endian = "big") {
            out.chunks_exact_mut(w).for_each(|v| v.reverse());
        }
        n_out.write(n);
        Ok(())
    })
}
