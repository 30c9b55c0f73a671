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
pub mod scheduler;

pub use scheduler::{Scheduler, SchedulerConfig, SchedulerStats};
pub mod metrics;

pub use metrics::{caq, cpu_time_seconds, error_metrics, variance_percent, ErrorMetrics};
pub mod config;

pub use config::{BackendKind, EncoderConfig, Mode, NonFinitePolicy, PredictorConfig};
