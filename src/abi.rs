//! The numbers alcm shares with the outside world, each defined once: ids stored in frames
//! (mode, backend, element type, format version), the C ABI's enum values, and the limits the
//! encoder, decoder and C API enforce.
//!
//! cbindgen reads this file as it is (`tests/header.rs` passes it next to `src/ffi/mod.rs`), so
//! every item here appears in `include/alcm.h` under the name it has here; that is why the
//! names are the C names. The rest of the crate derives its typed constants from these (e.g.
//! `format::MODE_ADAPTIVE: u8`), and the bindings' test suites compare their copies with the
//! header. Rules for this file: literals only (cbindgen copies expressions textually, it does
//! not evaluate them), no items other than documented `pub const`s, numbers never reused.

// ---- Limits ---------------------------------------------------------------------------------

/// Highest tensor rank a frame can hold and the C API accepts.
pub const ALCM_MAX_RANK: usize = 8;

/// Largest thread count one compression (alcm_encoder_set_threads, YAML `threads`) or one
/// decompression (alcm_decompress_with_threads) may use.
pub const ALCM_MAX_THREADS: u32 = 64;

/// The most bytes alcm_peek needs: the largest fixed frame header (without the 4-byte CRC).
pub const ALCM_FRAME_HEADER_MAX: usize = 132;

/// The most elements one tensor may hold at the C API (2^40, i.e. 4 TiB of float32; lower on
/// 32-bit targets, where it is `PTRDIFF_MAX / 4`). Larger shapes give `ALCM_ERR_TOO_LARGE`.
pub const ALCM_MAX_ELEMENTS: u64 = 1_099_511_627_776;

/// Version of the frame format this library writes (and the newest it reads; it reads every
/// version from 1 up). Independent of the library version. Version 2 added the shared code
/// offset flag and rANS-model payload kinds 3-4, version 3 payload kind 5, version 4 the element
/// types other than float32 and the lossless float-layout backend ALCM_BACKEND_FLOAT, version 5
/// lossless float-layout methods 4 and 5, version 6 method 6, version 7 rANS-model payload
/// kind 6 (docs/FORMAT.md, "Version history").
pub const ALCM_FORMAT_VERSION: u32 = 7;

// ---- Modes (alcm_mode; the frame's mode byte) ------------------------------------------------

/// Mode: the original's scheme, per-channel precision from a bit allocation, plus pruning.
pub const ALCM_MODE_ADAPTIVE: u32 = 0;
/// Mode: guarantees ||x - x'||_2 <= target * ||x||_2 (target in (0, 1)).
pub const ALCM_MODE_RELATIVE_L2: u32 = 1;
/// Mode: guarantees |x_i - x'_i| <= target for every value (target > 0).
pub const ALCM_MODE_MAX_ABS: u32 = 2;
/// Mode: bit-exact.
pub const ALCM_MODE_LOSSLESS: u32 = 3;

// ---- Backends (alcm_backend; the frame's backend byte) ---------------------------------------

/// Backend: no entropy coding.
pub const ALCM_BACKEND_STORE: u32 = 0;
/// Backend: deflate (the original prototype's backend), level 0..10.
pub const ALCM_BACKEND_DEFLATE: u32 = 1;
/// Backend: static rANS over byte planes of the codes. The default (smaller and faster than
/// deflate on codes).
pub const ALCM_BACKEND_RANS: u32 = 2;
/// Backend, in frames only (alcm_peek reports it; it cannot be selected): rANS over a rank-1
/// Gaussian model of the signed codes. With ALCM_BACKEND_RANS selected, the encoder writes it
/// instead for a tensor of rank >= 2 whenever its payload is smaller (most lossy frames of real
/// tensors), so a decoder must expect it.
pub const ALCM_BACKEND_RANS_MODEL: u32 = 3;
/// Backend, in frames only (format version >= 4; alcm_peek reports it): lossless coding of the
/// floating-point layout (exponents entropy-coded with their predecessor as context, mantissa
/// bytes coded only where not uniform, zero elements apart). With ALCM_BACKEND_RANS selected,
/// ALCM_MODE_LOSSLESS writes it.
pub const ALCM_BACKEND_FLOAT: u32 = 4;

// ---- Element types (the frame's dtype byte) --------------------------------------------------

/// Element type IEEE 754 binary32 (C `float`); every frame of format versions 1-3.
pub const ALCM_DTYPE_F32: u32 = 1;
/// Element type bfloat16 (the upper 16 bits of a binary32; 2 bytes, little-endian). Format
/// version 4 and later.
pub const ALCM_DTYPE_BF16: u32 = 2;
/// Element type IEEE 754 binary16 (C `_Float16`; 2 bytes, little-endian). Format version 4 and
/// later.
pub const ALCM_DTYPE_F16: u32 = 3;
/// Element type IEEE 754 binary64 (C `double`). Format version 4 and later.
pub const ALCM_DTYPE_F64: u32 = 4;

// ---- Non-finite policies (alcm_non_finite) ---------------------------------------------------

/// NaN/Inf policy: refuse the tensor with ALCM_ERR_NON_FINITE (the default).
pub const ALCM_NON_FINITE_REFUSE: u32 = 0;
/// NaN/Inf policy: store NaN/Inf values exactly; the rest is compressed as usual.
pub const ALCM_NON_FINITE_KEEP: u32 = 1;

// The narrowing casts of the frame's byte fields (`as u8`) must not truncate.
const _: () = assert!(
    ALCM_FORMAT_VERSION <= 255 && ALCM_BACKEND_RANS_MODEL <= 255 && ALCM_BACKEND_FLOAT <= 255
);
