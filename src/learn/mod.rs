//! The learned and adaptive parts: tensor statistics, the neural entropy predictor, measured
//! bit allocations (the predictor's training targets and its guard), the CAQ scheduler and the
//! reconstruction metrics.

pub mod allocation;
pub mod metrics;
pub mod predictor;
pub mod scheduler;
pub mod stats;
