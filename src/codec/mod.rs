//! The codec: tensor → integer codes → payload → frame, and back. The encoder orchestrates
//! (modes, pruning, step search, fallback to lossless); the quantizer, the code folding and
//! packing, and the payload choice each have their own file. Entropy coding itself lives in
//! [`crate::entropy`], the byte layout of frames in [`crate::format`].

pub mod config;
pub mod decoder;
pub mod encoder;
pub mod feedback;
pub mod fold;
mod fused;
mod holes;
pub mod lossless;
pub(crate) mod payload;
pub mod precision;
mod prescan;
pub mod quant;
mod quant_avx2;
#[cfg(all(target_arch = "x86_64", alcm_avx512))]
mod quant_avx512;
mod quant_direct;
pub mod typed;
