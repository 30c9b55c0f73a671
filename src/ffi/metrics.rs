//! Exports over the reconstruction metrics, CAQ and run-to-run variance.

use super::handle::{in_slice, out_ptr};
use super::panic::ffi_status;
use super::status::alcm_status;

/// Reconstruction error of a decoded tensor against the original.
#[allow(non_camel_case_types)]
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct alcm_metrics {
    /// Mean squared error.
    pub mse: f64,
    /// Mean absolute error.
    pub mae: f64,
    /// ||x - x'||_2 / ||x||_2 (0 when both are zero).
    pub rel_l2: f64,
    /// max |x_i - x'_i|.
    pub max_abs: f64,
    /// 10 log10(range^2 / MSE) in dB, range = max - min of the original (+inf when exact).
    pub psnr: f64,
    /// 10 log10(sum x^2 / sum (x - x')^2) in dB (+inf when exact).
    pub snr: f64,
}

/// The reconstruction error of `reconstructed` against `original` (both `n` floats): MSE, MAE,
/// relative L2, max abs, PSNR, SNR.
///
/// Returns: ALCM_OK; `*out` is written only on success.
/// Errors: ALCM_ERR_NULL_POINTER (`out`; the arrays when `n` is not 0), ALCM_ERR_INVALID_ARGUMENT
/// (misaligned pointer), ALCM_ERR_TOO_LARGE (`n` beyond the address space).
/// Memory: both arrays are borrowed for the call.
/// Threads: any thread.
#[no_mangle]
pub unsafe extern "C" fn alcm_error_metrics(
    original: *const f32,
    reconstructed: *const f32,
    n: usize,
    out: *mut alcm_metrics,
) -> alcm_status {
    ffi_status("alcm_error_metrics", || {
        // SAFETY: the caller upholds the documented contract.
        let (a, b, out) = unsafe {
            (
                in_slice(original, n, "original")?,
                in_slice(reconstructed, n, "reconstructed")?,
                out_ptr(out, "out")?,
            )
        };
        let m = crate::error_metrics(a, b)?;
        out.write(alcm_metrics {
            mse: m.mse,
            mae: m.mae,
            rel_l2: m.rel_l2,
            max_abs: m.max_abs,
            psnr: m.psnr,
            snr: m.snr,
        });
        Ok(())
    })
}

/// The Compression-Accuracy Quotient: compression_ratio / (cpu_seconds + 1).
///
/// Returns: ALCM_OK; `*out` is written only on success.
/// Errors: ALCM_ERR_NULL_POINTER (`out`), ALCM_ERR_INVALID_ARGUMENT (`compression_ratio` not finite
/// and > 0, `cpu_seconds` not finite and >= 0, `out` misaligned).
/// Threads: any thread.
#[no_mangle]
pub unsafe extern "C" fn alcm_caq(
    compression_ratio: f64,
    cpu_seconds: f64,
    out: *mut f64,
) -> alcm_status {
    ffi_status("alcm_caq", || {
        // SAFETY: the caller upholds the documented contract.
        let out = unsafe { out_ptr(out, "out")? };
        out.write(crate::caq(compression_ratio, cpu_seconds)?);
        Ok(())
    })
}

/// Run-to-run variance in percent, (max - min) / mean * 100, over `n` values.
///
/// Returns: ALCM_OK; `*out` is written only on success.
/// Errors: ALCM_ERR_NULL_POINTER (`out`; `values` when `n` is not 0), ALCM_ERR_INVALID_ARGUMENT
/// (`n` is 0, a non-finite value, a mean not > 0, misaligned pointer), ALCM_ERR_TOO_LARGE (`n`
/// beyond the address space).
/// Memory: `values` is borrowed for the call.
/// Threads: any thread.
#[no_mangle]
pub unsafe extern "C" fn alcm_variance_percent(
    values: *const f64,
    n: usize,
    out: *mut f64,
) -> alcm_status {
    ffi_status("alcm_variance_percent", || {
        // SAFETY: the caller upholds the documented contract.
        let (v, out) = unsafe { (in_slice(values, n, "values")?, out_ptr(out, "out")?) };
        out.write(crate::variance_percent(v)?);
        Ok(())
    })
}
