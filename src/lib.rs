//! alcm — Adaptive Learned Compression Model.
//!
//! Error-bounded compression of float32 ML tensors (gradients, weights, optimizer state):
//! tensor statistics → neural entropy predictor → bit allocation → quantizer (+ pruning) →
//! integer codes → lossless backend → a checksummed, versioned frame. Decoding needs only the
//! frame bytes.

pub mod error;
pub mod ffi;

pub use error::{Error, ErrorKind, Result};
pub mod stats;

pub use stats::{channel_count, channel_stats, tensor_stats, TensorStats};
