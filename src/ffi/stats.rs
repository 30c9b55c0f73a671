//! Exports over `crate::learn::stats`: whole-tensor and per-channel statistics.

use super::error::FfiError;
use super::handle::{in_slice, out_ptr, out_slice, tensor_view};
use super::panic::ffi_status;
use super::status::alcm_status;
use crate::abi::ALCM_MAX_RANK;
use crate::learn::stats::{channel_count, channel_stats, tensor_stats, TensorStats};

/// Statistics of a tensor or channel (the predictor's six features plus the count).
/// Moments are accumulated in double precision.
#[allow(non_camel_case_types)]
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct alcm_stats {
    /// Arithmetic mean.
    pub mean: f64,
    /// Population variance.
    pub var: f64,
    /// sqrt(var), or 1e-8 when var is 0.
    pub std: f64,
    /// mean(z^3) with z = (x - mean) / std.
    pub skew: f64,
    /// mean(z^4) (Pearson kurtosis, 3 for a Gaussian; not excess kurtosis).
    pub kurtosis: f64,
    /// Fraction of values with |x| < 1e-6.
    pub sparsity: f64,
    /// Number of values summarised.
    pub count: u64,
}

impl From<TensorStats> for alcm_stats {
    fn from(s: TensorStats) -> Self {
        alcm_stats {
            mean: s.mean,
            var: s.var,
            std: s.std,
            skew: s.skew,
            kurtosis: s.kurtosis,
            sparsity: s.sparsity,
            count: s.count as u64,
        }
    }
}

/// --------------------------------------------------------------------------------------------
/// STATISTICS AND METRICS
///
/// The tensor statistics the predictor reads (mean, variance, std, skew, kurtosis, sparsity; whole
/// tensor or per channel, a channel being a slice along the first axis), the reconstruction error
/// of a decoded tensor, and the CAQ score and run-to-run variance of the original experiment.
/// Functions without a handle: all are thread-safe.
///
/// --------------------------------------------------------------------------------------------
///
/// Statistics of a whole tensor (any shape, flattened). `data` holds the product of
/// `shape[0..rank]` floats, C-contiguous; `rank` is at most ALCM_MAX_RANK; `shape` may be NULL only
/// when `rank` is 0 (a scalar); `data` may be NULL only when the tensor has no elements. An empty
/// tensor gives all fields 0 and `std` 1e-8; NaN/Inf propagate into the moments.
///
/// Returns: ALCM_OK; `*out` is written only on success.
/// Errors: ALCM_ERR_NULL_POINTER (`out`; `shape`, `data` as above), ALCM_ERR_INVALID_ARGUMENT (rank
/// above ALCM_MAX_RANK, misaligned pointer), ALCM_ERR_TOO_LARGE (the shape overflows or exceeds
/// ALCM_MAX_ELEMENTS).
/// Memory: the tensor is borrowed for the call.
/// Threads: any thread.
#[no_mangle]
pub unsafe extern "C" fn alcm_tensor_stats(
    data: *const f32,
    rank: usize,
    shape: *const usize,
    out: *mut alcm_stats,
) -> alcm_status {
    ffi_status("alcm_tensor_stats", || {
        // SAFETY: the caller upholds this function's documented contract.
        let (out, t) = unsafe { (out_ptr(out, "out")?, tensor_view(data, rank, shape)?) };
        out.write(tensor_stats(t.data).into());
        Ok(())
    })
}

/// The number of channels statistics are computed for: `shape[0]` for rank >= 2, 1 for a scalar or
/// vector, 0 for a tensor without elements.
///
/// Returns: ALCM_OK; `*n_channels_out` is written only on success.
/// Errors: ALCM_ERR_INVALID_ARGUMENT (rank above ALCM_MAX_RANK; checked first; misaligned pointer),
/// ALCM_ERR_NULL_POINTER (`n_channels_out`; `shape` when `rank` is not 0), ALCM_ERR_TOO_LARGE (the
/// shape's product overflows size_t).
/// Memory: `shape` is borrowed for the call.
/// Threads: any thread.
#[no_mangle]
pub unsafe extern "C" fn alcm_channel_count(
    rank: usize,
    shape: *const usize,
    n_channels_out: *mut usize,
) -> alcm_status {
    ffi_status("alcm_channel_count", || {
        if rank > ALCM_MAX_RANK {
            return Err(FfiError::invalid_argument(format!(
                "rank {rank} exceeds ALCM_MAX_RANK ({ALCM_MAX_RANK})"
            )));
        }
        // SAFETY: the caller upholds this function's documented contract (rank <= 8 values).
        let (out, dims) = unsafe {
            (
                out_ptr(n_channels_out, "n_channels_out")?,
                in_slice(shape, rank, "shape")?,
            )
        };
        if dims
            .iter()
            .try_fold(1usize, |n, &d| n.checked_mul(d))
            .is_none()
        {
            return Err(FfiError::too_large(format!(
                "shape {dims:?} overflows size_t"
            )));
        }
        out.write(channel_count(dims));
        Ok(())
    })
}

/// Statistics of each channel (slices along the first axis; see alcm_channel_count), tensor rules
/// as for alcm_tensor_stats.
///
/// Returns: ALCM_OK; `out[0..n]` holds the statistics and `*n_channels_out` the channel count `n`.
/// Size query, the one exception to "outputs only on success": when `out_len < n`, nothing is
/// written to `out`, `*n_channels_out` is set to `n` and ALCM_ERR_BUFFER_TOO_SMALL is returned, so
/// alcm_channel_stats(data, rank, shape, NULL, 0, &n) asks for the count (alcm_channel_count gives
/// it without data). Other errors write nothing.
/// Errors: ALCM_ERR_NULL_POINTER (`n_channels_out`; `out` when `out_len` is not 0; `shape`, `data`
/// as for alcm_tensor_stats), ALCM_ERR_INVALID_ARGUMENT (rank above ALCM_MAX_RANK, misaligned
/// pointer), ALCM_ERR_TOO_LARGE (the shape overflows or exceeds ALCM_MAX_ELEMENTS; `out_len` beyond
/// the address space), ALCM_ERR_BUFFER_TOO_SMALL (the size query above).
/// Memory: the tensor is borrowed for the call; `out` is caller memory.
/// Threads: any thread.
#[no_mangle]
pub unsafe extern "C" fn alcm_channel_stats(
    data: *const f32,
    rank: usize,
    shape: *const usize,
    out: *mut alcm_stats,
    out_len: usize,
    n_channels_out: *mut usize,
) -> alcm_status {
    ffi_status("alcm_channel_stats", || {
        // SAFETY: the caller upholds this function's documented contract.
        let (n_out, buf, t) = unsafe {
            (
                out_ptr(n_channels_out, "n_channels_out")?,
                out_slice(out, out_len, "out")?,
                tensor_view(data, rank, shape)?,
            )
        };
        let n = channel_count(&t.shape);
        if n > buf.len() {
            n_out.write(n);
            return Err(FfiError::buffer_too_small(format!(
                "the tensor has {n} channels, out holds {out_len}"
            )));
        }
        let stats: Vec<alcm_stats> = channel_stats(t.data, &t.shape)?
            .into_iter()
            .map(alcm_stats::from)
            .collect();
        buf.write_from(&stats)?;
        n_out.write(n);
        Ok(())
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use alcm_status::*;
    use std::ptr::{null, null_mut};

    #[test]
    fn tensor_stats_export() {
        let data = [1.0f32, 2.0, 3.0, 4.0];
        let mut s = alcm_stats::default();
        // SAFETY: valid pointers and lengths.
        let st = unsafe { alcm_tensor_stats(data.as_ptr(), 1, [4usize].as_ptr(), &mut s) };
        assert_eq!(st, ALCM_OK);
        assert!((s.mean - 2.5).abs() < 1e-12 && (s.var - 1.25).abs() < 1e-12);
        assert!((s.kurtosis - 1.64).abs() < 1e-12);
        assert_eq!(s.count, 4);
        // SAFETY: NULL out on purpose.
        let st = unsafe { alcm_tensor_stats(data.as_ptr(), 1, [4usize].as_ptr(), null_mut()) };
        assert_eq!(st, ALCM_ERR_NULL_POINTER);
    }

    #[test]
    fn channel_stats_export_and_size_query() {
        let data = [0.0f32, 0.0, 1.0, 3.0, 5.0, 5.0];
        let shape = [3usize, 2];
        let mut n = 99usize;
        // SAFETY: valid pointers; NULL out with length 0 is the documented size query.
        unsafe {
            let st = alcm_channel_stats(data.as_ptr(), 2, shape.as_ptr(), null_mut(), 0, &mut n);
            assert_eq!((st, n), (ALCM_ERR_BUFFER_TOO_SMALL, 3));
            let mut out = [alcm_stats::default(); 4];
            n = 0;
            let st = alcm_channel_stats(
                data.as_ptr(),
                2,
                shape.as_ptr(),
                out.as_mut_ptr(),
                4,
                &mut n,
            );
            assert_eq!((st, n), (ALCM_OK, 3));
            assert_eq!(out[0].sparsity, 1.0);
            assert_eq!(out[1].mean, 2.0);
            assert_eq!(out[2].var, 0.0);
            assert_eq!(out[3], alcm_stats::default());
            let mut c = 0usize;
            assert_eq!(alcm_channel_count(2, shape.as_ptr(), &mut c), ALCM_OK);
            assert_eq!(c, 3);
            assert_eq!(alcm_channel_count(1, null(), &mut c), ALCM_ERR_NULL_POINTER);
        }
    }
}
