//! Small shared pieces with no knowledge of tensors or frames: deterministic math (the same
//! bits on every platform), the thread helpers, and atomic file writes.

pub mod cputime;
pub mod detmath;
pub mod fsutil;
pub(crate) mod par;
pub mod shape;
