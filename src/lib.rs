//! alcm — Adaptive Learned Compression Model.
//!
//! Error-bounded compression of float32 ML tensors (gradients, weights, optimizer state):
//! tensor statistics → neural entropy predictor → bit allocation → quantizer (+ pruning) →
//! integer codes → lossless backend → a checksummed, versioned frame. Decoding needs only the
//! frame bytes.

pub mod allocation;
pub mod backend;
pub mod config;
pub mod decoder;
pub mod detmath;
pub mod encoder;
pub mod error;
pub mod feedback;
pub mod ffi;
pub mod format;
pub mod fsutil;
pub mod metrics;
pub mod pack;
mod par;
pub mod quant;
pub mod rans;
pub mod rans_family;
mod rans_lanes;
pub mod rans_model;
pub mod rans_sign;
pub mod scheduler;
pub mod stats;

pub use allocation::{empirical_bit_allocation, empirical_channel_allocations, TrainingSet};
pub use config::{BackendKind, EncoderConfig, Mode, NonFinitePolicy, PredictorConfig};
pub use decoder::{
    decompress, decompress_into, decompress_into_with_threads, decompress_with_limits,
    decompress_with_threads, Decoded,
};
pub use encoder::{Compressed, Encoder, Report};
pub use error::{Error, ErrorKind, Result};
pub use feedback::ErrorFeedback;
pub use format::{compress_bound, peek, DecodeLimits, FrameInfo, FORMAT_VERSION};
pub use metrics::{caq, cpu_time_seconds, error_metrics, variance_percent, ErrorMetrics};
pub use scheduler::{Scheduler, SchedulerConfig, SchedulerStats};
pub use stats::{channel_count, channel_stats, tensor_stats, TensorStats};
pub mod npy;

pub use npy::{
    npy_bytes_f32, npy_bytes_f64, npy_bytes_i64, parse_npy, read_npy, read_npy_f32, write_npy_f32,
    NpyArray, NpyData,
};
pub mod npz;

pub use npz::{npz_bytes, read_npz, read_npz_file, write_npz_file};
pub mod predictor;

pub use predictor::{Normalization, Predictor};

/// The README's Rust example is compiled and run as a doctest, so it stays true.
#[doc = include_str!("../README.md")]
#[cfg(doctest)]
pub struct ReadmeDoctests;
