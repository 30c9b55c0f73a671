//! The C ABI of alcm (`include/alcm.h`, generated from this module and `crate::abi` by cbindgen).
//!
//! This module has no logic of its own: every export converts C pointers into Rust values with
//! the helpers of `handle`, calls the Rust API, and converts the result back through the panic
//! guard of `panic`, which maps errors to an `alcm_status` plus a thread-local message
//! (`error`). A new export is a few lines:
//!
//! ```ignore
//! #[no_mangle]
//! pub unsafe extern "C" fn alcm_thing(data: *const f32, rank: usize, shape: *const usize,
//!                                     out: *mut f64) -> alcm_status {
//!     ffi_status("alcm_thing", || {
//!         // SAFETY: the caller upholds the contract documented on this function.
//!         let (t, out) = unsafe { (tensor_view(data, rank, shape)?, out_ptr(out, "out")?) };
//!         out.write(crate::thing(t.data, &t.shape)?); // written only on success
//!         Ok(())
//!     })
//! }
//! ```
//!
//! A handle type (the pattern for encoders, predictors, schedulers) is a zero-sized marker
//! struct named as in C (cbindgen emits it as an incomplete `typedef struct alcm_x alcm_x;`)
//! plus an `OpaqueHandle` impl; constructor and `*_free` are one screen:
//!
//! ```ignore
//! /// An encoder. Create with alcm_encoder_new, free with alcm_encoder_free.
//! pub struct alcm_encoder { _private: [u8; 0] }
//! // SAFETY: the tag is unique among handle types.
//! unsafe impl OpaqueHandle for alcm_encoder {
//!     type Inner = crate::Encoder;
//!     const MAGIC: u64 = u64::from_be_bytes(*b"alcmENC1");
//!     const NAME: &'static str = "alcm_encoder";
//! }
//! #[no_mangle]
//! pub unsafe extern "C" fn alcm_encoder_new(cfg: *const alcm_config,
//!                                           out: *mut *mut alcm_encoder) -> alcm_status {
//!     ffi_status("alcm_encoder_new", || {
//!         // SAFETY: the caller upholds the documented contract.
//!         let (cfg, out) = unsafe { (handle_ref(cfg, "cfg")?, out_ptr(out, "out")?) };
//!         out.write(box_handle(crate::Encoder::new(cfg.clone())?));
//!         Ok(())
//!     })
//! }
//! #[no_mangle]
//! pub unsafe extern "C" fn alcm_encoder_free(enc: *mut alcm_encoder) {
//!     // SAFETY: the caller upholds the documented contract; NULL is a no-op.
//!     ffi_void("alcm_encoder_free", || unsafe { free_handle(enc) })
//! }
//! ```
//!
//! Conventions (repeated in the header preamble, `cbindgen.toml`):
//! * every fallible function returns `alcm_status`; `ALCM_OK` is 0;
//! * out-parameters are written only on success (the one documented exception is
//!   `alcm_channel_stats`, which reports the needed count with `ALCM_ERR_BUFFER_TOO_SMALL`);
//! * every pointer is NULL-checked; every `*_free` accepts NULL;
//! * no export unwinds into C: panics become `ALCM_ERR_PANIC`.
//!
//! cbindgen parses this module and `crate::abi` only (see `tests/header.rs`), so items of the
//! Rust API never leak into the header; everything public here with a C name is part of the ABI.

#![deny(unsafe_op_in_unsafe_fn)]
#![warn(clippy::undocumented_unsafe_blocks)]
#![allow(non_camel_case_types)]
// The doc comment of an export is its documentation in include/alcm.h, read by C programmers:
// its pointer contract is C prose ("Memory:", plus the header preamble's POINTERS section)
// rather than a Rust `# Safety` heading, which would leak into the header 48 times. The
// internal unsafe helpers (handle.rs, reconfigure, decompress_impl) keep their `# Safety`.
#![allow(clippy::missing_safety_doc)]

// Module order is header order: cbindgen emits the exports module by module, in the order
// declared here, so each group below is one section of include/alcm.h (errors and versions,
// codec and error feedback, predictor and scheduler, statistics and metrics). The blank lines
// keep rustfmt from sorting them.
pub mod status;

pub mod error;

pub mod version;

pub mod codec;

pub mod dtype;

pub mod feedback;

pub mod model;

pub mod stats;

pub mod metrics;

pub mod collective;

pub mod lowrank;

pub mod archive;

pub mod handle;
pub mod panic;

pub use archive::*;
pub use codec::*;
pub use collective::*;
pub use dtype::*;
pub use error::{alcm_last_error_message, FfiError, FfiResult};
pub use feedback::*;
pub use handle::{
    box_handle, c_path, c_str, free_handle, handle_mut, handle_ref, in_ref, in_slice, out_ptr,
    out_slice, tensor_view, OpaqueHandle, Out, OutSlice, TensorView,
};
pub use lowrank::*;
pub use metrics::*;
pub use model::*;
pub use panic::{ffi_infallible, ffi_status, ffi_value, ffi_void};
pub use stats::{alcm_channel_count, alcm_channel_stats, alcm_stats, alcm_tensor_stats};
pub use status::{alcm_status, alcm_status_string};
pub use version::{alcm_format_version, alcm_version_number, alcm_version_string};

/// The ids and limits of the C ABI (modes, backends, element type, non-finite policies,
/// `ALCM_MAX_*`, `ALCM_FORMAT_VERSION`), defined once in `crate::abi` and emitted from there.
pub use crate::abi::*;

#[cfg(feature = "test-panic")]
pub use panic::alcm_debug_trigger_panic;
