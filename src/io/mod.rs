//! Files in and out: numpy `.npy` / `.npz` (tensors and model files) and the YAML
//! configuration files of the original system. Nothing here compresses.

pub mod config;
pub mod npy;
pub mod npz;
