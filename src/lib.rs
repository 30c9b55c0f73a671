//! alcm — Adaptive Learned Compression Model.
//!
//! Error-bounded compression of float32 ML tensors (gradients, weights, optimizer state):
//! tensor statistics → neural entropy predictor → bit allocation → quantizer (+ pruning) →
//! integer codes → lossless backend → a checksummed, versioned frame. Decoding needs only the
//! frame bytes.

pub mod codec;
pub mod entropy;
pub mod error;
pub mod ffi;
pub mod format;
pub mod io;
pub mod learn;
pub mod util;

pub use codec::config::{EncoderConfig, Mode, NonFinitePolicy};
pub use codec::decoder::{
    decompress, decompress_into, decompress_into_with_threads, decompress_with_limits,
    decompress_with_threads, Decoded,
};
pub use codec::encoder::{Compressed, Encoder, Report};
pub use codec::feedback::ErrorFeedback;
pub use entropy::BackendKind;
pub use error::{Error, ErrorKind, Result};
pub use format::{compress_bound, peek, DecodeLimits, FrameInfo, FORMAT_VERSION};
pub use io::config::PredictorConfig;
pub use learn::allocation::{empirical_bit_allocation, empirical_channel_allocations, TrainingSet};
pub use learn::metrics::{caq, cpu_time_seconds, error_metrics, variance_percent, ErrorMetrics};
pub use learn::scheduler::{Scheduler, SchedulerConfig, SchedulerStats};
pub use learn::stats::{channel_count, channel_stats, tensor_stats, TensorStats};

pub use io::npy::{
    npy_bytes_f32, npy_bytes_f64, npy_bytes_i64, parse_npy, read_npy, read_npy_f32, write_npy_f32,
    NpyArray, NpyData,
};

pub use io::npz::{npz_bytes, read_npz, read_npz_file, write_npz_file};

pub use learn::predictor::{Normalization, Predictor};

/// The README's Rust example is compiled and run as a doctest, so it stays true.
#[doc = include_str!("../README.md")]
#[cfg(doctest)]
pub struct ReadmeDoctests;
