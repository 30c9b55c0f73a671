//! alcm — Adaptive Learned Compression Model.
//!
//! Error-bounded compression of float32 ML tensors (gradients, weights, optimizer state):
//! tensor statistics → neural entropy predictor → bit allocation → quantizer (+ pruning) →
//! integer codes → lossless backend → a checksummed, versioned frame. Decoding needs only the
//! frame bytes.

pub mod error;

pub use error::{Error, ErrorKind, Result};
pub mod stats;

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
