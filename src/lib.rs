//! alcm — Adaptive Learned Compression Model.
//!
//! Error-bounded compression of float32 ML tensors (gradients, weights, optimizer state):
//! tensor statistics → neural entropy predictor → bit allocation → quantizer (+ pruning) →
//! integer codes → lossless backend → a checksummed, versioned frame. Decoding needs only the
//! frame bytes.

#![warn(missing_docs)]

// The stages, in the order data flows through them (docs/ARCHITECTURE.md). They are private:
// the API is what this file re-exports.
mod abi;
pub mod archive;
mod codec;
mod entropy;
mod error;
mod format;
mod io;
mod learn;
mod util;

/// The C ABI (`include/alcm.h`): opaque handles and `alcm_*` functions over the Rust API
/// below. Rust users have no reason to call it.
#[doc(hidden)]
pub mod ffi;

// --- Compression and decompression --------------------------------------------------------
pub use codec::config::{EncoderConfig, Mode, NonFinitePolicy, MAX_THREADS};
pub use codec::decoder::{decompress, decompress_array, DecodeOptions, Decoded};
pub use codec::encoder::{Compressed, Encoder, Report};
pub use codec::feedback::ErrorFeedback;
pub use codec::typed::{decompress_bytes, decompress_typed, DecodedBytes};
pub use entropy::{Backend, BackendKind};
pub use format::{compress_bound, peek, FrameInfo, FrameMode, FORMAT_VERSION, MAX_RANK};
pub use format::{compress_bound_typed, Dtype, Element};
/// The `half` crate's `bf16` and `f16`, the types [`Encoder::compress_typed`] takes.
pub use half;

// --- Compressed collectives (reduce-scatter + all-gather, residual store) ------------------
pub mod collective;

pub mod lowrank;

// --- Errors --------------------------------------------------------------------------------
pub use error::{Error, ErrorKind, Result};

// --- The learned and adaptive parts --------------------------------------------------------
pub use io::config::PredictorConfig;
pub use learn::allocation::{
    allocation_for_bits, bits_for_allocation, channel_bits, empirical_bit_allocation,
    empirical_channel_allocations, guard_channel_allocations, modelled_channel_allocations,
    TrainingSet,
};
pub use learn::metrics::{caq, error_metrics, variance_percent, ErrorMetrics};
pub use learn::predictor::{Normalization, Predictor};
pub use learn::scheduler::{Scheduler, SchedulerConfig, SchedulerStats};
pub use learn::stats::{channel_stats, tensor_stats, TensorStats};
pub use util::cputime::cpu_time_seconds;
pub use util::shape::channel_count;

// --- Limits of the loaders and constructors (docs/SECURITY.md) ----------------------------
pub use codec::feedback::{MAX_STATE_FILE_BYTES, MAX_STATE_VALUES};
pub use io::config::{MAX_CONFIG_BYTES, MAX_CONFIG_NODES, MAX_EXPANDED_BYTES, MAX_FLOW_BRACKETS};
pub use io::npz::MAX_ENTRY_SIZE;
pub use learn::predictor::{MAX_HIDDEN, MAX_MODEL_FILE_BYTES, MAX_MODEL_MEMBER_BYTES};
pub use learn::scheduler::MAX_WINDOW;

// --- numpy files ---------------------------------------------------------------------------
pub use io::npy::{
    npy_bytes_f32, npy_bytes_f64, npy_bytes_i64, parse_npy, read_npy, read_npy_f32, write_npy_f32,
    NpyArray, NpyData,
};
pub use io::npz::{npz_bytes, read_npz, read_npz_file, read_npz_limited, write_npz_file};

/// Not part of the API and without any stability promise: the internals that the test suite,
/// the fuzz targets, the benches and the development tools (`tools/`) reach into.
#[doc(hidden)]
pub mod internals {
    pub use crate::codec::{fold, lossless, quant};
    pub use crate::entropy::{model, order0, pack, rans, BACKEND_RANS, BACKEND_RANS_MODEL};
    pub use crate::format::{FLAG_EXCEPTIONS, FLAG_SHARED_QMIN};
    pub use crate::learn::allocation::evaluate;
    pub use crate::learn::predictor;
    pub use crate::util::fsutil::write_atomic;
}

/// The README's Rust example is compiled and run as a doctest, so it stays true.
#[doc = include_str!("../README.md")]
#[cfg(doctest)]
pub struct ReadmeDoctests;
