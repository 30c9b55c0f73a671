/*
 * alcm -- error-bounded compression of float32 ML tensors.  C API.
 *
 * CONTENTS, in this order
 *   Ids and limits   ALCM_VERSION_*, ALCM_MAX_*, ALCM_FRAME_HEADER_MAX, ALCM_FORMAT_VERSION,
 *                    ALCM_MODE_*, ALCM_BACKEND_*, ALCM_DTYPE_*, ALCM_NON_FINITE_*
 *   Types            alcm_status (every status code), the opaque handles, the result structs
 *   Functions, in sections that each open with a short introduction:
 *     ERRORS AND VERSIONS        alcm_status_string, alcm_last_error_message, alcm_*version*
 *     CODEC                      alcm_encoder_*, alcm_compress_bound, alcm_peek, alcm_decompress*
 *     ERROR FEEDBACK             alcm_feedback_*
 *     PREDICTOR AND ALLOCATIONS  alcm_predictor_*, alcm_empirical_*, alcm_guard_*
 *     SCHEDULER                  alcm_scheduler_*
 *     STATISTICS AND METRICS     alcm_tensor_stats, alcm_channel_*, alcm_error_metrics,
 *                                alcm_caq, alcm_variance_percent
 *     COMPRESSED COLLECTIVES     alcm_exchange_*, alcm_residual_store_*, alcm_lowrank_*
 *     ARCHIVES                   alcm_archive_*, alcm_archive_writer_*
 *
 * HOW A FUNCTION IS DOCUMENTED
 *   Returns:  what success means and what is then written.
 *   Errors:   every status the function can return besides ALCM_OK, with its causes; any
 *             fallible function may also return ALCM_ERR_PANIC (a bug in alcm), not listed.
 *             (ALCM_ERR_INTERNAL is reserved for failed invariants; no function returns it.)
 *   Memory:   what the caller lends and what it owns afterwards (see OWNERSHIP).
 *   Threads:  its thread rule (see THREAD SAFETY).
 *
 * API CONVENTIONS
 *  - Every fallible function returns alcm_status. ALCM_OK is 0; every other value is an error
 *    and alcm_status_string(status) describes it. Numbers are stable and never reused; treat
 *    unknown values as errors.
 *  - Out-parameters are written only on success (the one exception, the size query of
 *    alcm_channel_stats, is documented on that function).
 *  - Output buffers are allocated by the caller; size compressed-output buffers with
 *    alcm_compress_bound().
 *  - Tensors are C-contiguous (row-major) float32 arrays described by (data, rank, shape),
 *    rank <= ALCM_MAX_RANK, at most ALCM_MAX_ELEMENTS values.
 *  - Strings (paths) are NUL-terminated UTF-8; invalid UTF-8 gives ALCM_ERR_INVALID_UTF8.
 *  - alcm never unwinds into C: an internal panic gives ALCM_ERR_PANIC and the process
 *    continues.
 *
 * POINTERS
 *  - Every pointer argument is checked: NULL where a value is required gives
 *    ALCM_ERR_NULL_POINTER; an array argument may be NULL only when its length is 0. A pointer
 *    not aligned for its type gives ALCM_ERR_INVALID_ARGUMENT, an array length beyond the
 *    address space ALCM_ERR_TOO_LARGE.
 *  - A non-NULL pointer must point to memory valid for what the function documents: `n`
 *    readable elements for an input array of length `n`, writable ones for an output, one
 *    object for a struct or out-parameter, a NUL-terminated string for a `const char *`.
 *    alcm cannot check this; violating it is undefined behaviour, as in any C library.
 *  - Output memory must not overlap input memory of the same call (unless documented, as the
 *    in-place `allocation` of alcm_guard_channel_allocations).
 *  - Handles carry a type tag checked on every call: a wrong-type or (best effort) already
 *    freed handle gives ALCM_ERR_INVALID_HANDLE. Every *_free function accepts NULL (no-op).
 *
 * OWNERSHIP
 *  - alcm never keeps a pointer it was given: arrays, strings and handles passed in are
 *    borrowed for the duration of the call only.
 *  - A handle returned through `alcm_x **out` belongs to the caller, who frees it exactly once
 *    with alcm_x_free. Nothing else alcm returns needs freeing: the strings of
 *    alcm_status_string and alcm_version_string are static.
 *
 * ERROR MESSAGES
 *  - alcm_last_error_message() copies a message for the most recent fallible call made on the
 *    CALLING THREAD. It is thread-local: no call on another thread changes it. Every fallible
 *    call clears it on entry and sets it on failure, so it is empty after ALCM_OK. Infallible
 *    getters (versions, alcm_status_string, alcm_last_error_message) and every *_free function
 *    leave it unchanged, so a finalizer freeing a handle never erases a pending message.
 *
 * THREAD SAFETY
 *  - Functions without a handle argument are thread-safe.
 *  - A handle passed as `const alcm_x *` is only read: the same handle may be used
 *    concurrently from several threads (e.g. one read-only predictor shared by all workers,
 *    one configured encoder compressing on every thread).
 *  - A handle passed as `alcm_x *` (setters, training, scheduler updates, feedback state) needs
 *    exclusive access for the duration of the call; it may be moved between threads between
 *    calls.
 *  - *_free may be called on any thread, once no other call uses the handle.
 *  - Threads inside a call (alcm_encoder_set_threads, alcm_decompress_with_threads) are
 *    started by the call and joined before it returns. No alcm thread runs between calls:
 *    exit(), dlclose() and fork() find none, and a forked child uses threads as usual.
 *
 * VERSIONS
 *  - ALCM_VERSION_* (this header) and alcm_version_number()/alcm_version_string() (the
 *    library): compare them to detect a header/library mismatch.
 *    ALCM_VERSION_NUMBER = MAJOR * 10000 + MINOR * 100 + PATCH.
 *  - ALCM_FORMAT_VERSION / alcm_format_version(): the version of the compressed frame layout,
 *    independent of the library version. A library reads every format up to its own.
 */

#ifndef ALCM_H
#define ALCM_H

/* Generated by cbindgen from src/abi.rs and src/ffi/ -- do not edit; see cbindgen.toml. */

#include <stddef.h>
#include <stdint.h>
#define ALCM_VERSION_MAJOR 0
#define ALCM_VERSION_MINOR 1
#define ALCM_VERSION_PATCH 0
#define ALCM_VERSION_NUMBER 100
#define ALCM_VERSION_STRING "0.1.0"


/**
 * Highest tensor rank a frame can hold and the C API accepts.
 */
#define ALCM_MAX_RANK 8

/**
 * Largest thread count one compression (alcm_encoder_set_threads, YAML `threads`) or one
 * decompression (alcm_decompress_with_threads) may use.
 */
#define ALCM_MAX_THREADS 64

/**
 * The most bytes alcm_peek needs: the largest fixed frame header (without the 4-byte CRC).
 */
#define ALCM_FRAME_HEADER_MAX 132

/**
 * The most elements one tensor may hold at the C API (2^40, i.e. 4 TiB of float32; lower on
 * 32-bit targets, where it is `PTRDIFF_MAX / 4`). Larger shapes give `ALCM_ERR_TOO_LARGE`.
 */
#define ALCM_MAX_ELEMENTS 1099511627776

/**
 * Version of the frame format this library writes (and the newest it reads; it reads every
 * version from 1 up). Independent of the library version. Version 2 added the shared code
 * offset flag and rANS-model payload kinds 3-4, version 3 payload kind 5, version 4 the element
 * types other than float32 and the lossless float-layout backend ALCM_BACKEND_FLOAT, version 5
 * lossless float-layout methods 4 and 5, version 6 method 6, version 7 rANS-model payload
 * kind 6 (docs/FORMAT.md, "Version history").
 */
#define ALCM_FORMAT_VERSION 7

/**
 * Mode: the original's scheme, per-channel precision from a bit allocation, plus pruning.
 */
#define ALCM_MODE_ADAPTIVE 0

/**
 * Mode: guarantees ||x - x'||_2 <= target * ||x||_2 (target in (0, 1)).
 */
#define ALCM_MODE_RELATIVE_L2 1

/**
 * Mode: guarantees |x_i - x'_i| <= target for every value (target > 0).
 */
#define ALCM_MODE_MAX_ABS 2

/**
 * Mode: bit-exact.
 */
#define ALCM_MODE_LOSSLESS 3

/**
 * Backend: no entropy coding.
 */
#define ALCM_BACKEND_STORE 0

/**
 * Backend: deflate (the original prototype's backend), level 0..10.
 */
#define ALCM_BACKEND_DEFLATE 1

/**
 * Backend: static rANS over byte planes of the codes. The default (smaller and faster than
 * deflate on codes).
 */
#define ALCM_BACKEND_RANS 2

/**
 * Backend, in frames only (alcm_peek reports it; it cannot be selected): rANS over a rank-1
 * Gaussian model of the signed codes. With ALCM_BACKEND_RANS selected, the encoder writes it
 * instead for a tensor of rank >= 2 whenever its payload is smaller (most lossy frames of real
 * tensors), so a decoder must expect it.
 */
#define ALCM_BACKEND_RANS_MODEL 3

/**
 * Backend, in frames only (format version >= 4; alcm_peek reports it): lossless coding of the
 * floating-point layout (exponents entropy-coded with their predecessor as context, mantissa
 * bytes coded only where not uniform, zero elements apart). With ALCM_BACKEND_RANS selected,
 * ALCM_MODE_LOSSLESS writes it.
 */
#define ALCM_BACKEND_FLOAT 4

/**
 * Element type IEEE 754 binary32 (C `float`); every frame of format versions 1-3.
 */
#define ALCM_DTYPE_F32 1

/**
 * Element type bfloat16 (the upper 16 bits of a binary32; 2 bytes, little-endian). Format
 * version 4 and later.
 */
#define ALCM_DTYPE_BF16 2

/**
 * Element type IEEE 754 binary16 (C `_Float16`; 2 bytes, little-endian). Format version 4 and
 * later.
 */
#define ALCM_DTYPE_F16 3

/**
 * Element type IEEE 754 binary64 (C `double`). Format version 4 and later.
 */
#define ALCM_DTYPE_F64 4

/**
 * NaN/Inf policy: refuse the tensor with ALCM_ERR_NON_FINITE (the default).
 */
#define ALCM_NON_FINITE_REFUSE 0

/**
 * NaN/Inf policy: store NaN/Inf values exactly; the rest is compressed as usual.
 */
#define ALCM_NON_FINITE_KEEP 1

/**
 * Result of every fallible alcm function. `ALCM_OK` (0) means success; every other value is an
 * error, and `alcm_last_error_message` then holds a message naming the argument, index or size.
 *
 * Groups: 1–99 caller errors (fix the call), 100–199 data errors (the bytes are bad),
 * 200–299 environment (files, models, time), 900–999 internal (a bug in alcm: please report).
 * Numbers are never reused; new codes may be added, so treat unknown values as errors.
 */
enum alcm_status
#if defined(__cplusplus) || __STDC_VERSION__ >= 202311L
  : uint32_t
#endif // defined(__cplusplus) || __STDC_VERSION__ >= 202311L
 {
    /**
     * Success.
     */
    ALCM_OK = 0,
    /**
     * A required pointer argument is NULL.
     */
    ALCM_ERR_NULL_POINTER = 1,
    /**
     * An argument is out of range or inconsistent (shape/data mismatch, rank > ALCM_MAX_RANK, ...).
     */
    ALCM_ERR_INVALID_ARGUMENT = 2,
    /**
     * A configuration value (YAML, or an encoder/scheduler setter) is out of its allowed
     * range. An unknown enum number (mode, backend, policy) is ALCM_ERR_INVALID_ARGUMENT.
     */
    ALCM_ERR_INVALID_CONFIG = 3,
    /**
     * The input tensor holds NaN or ±Inf and the policy says refuse.
     */
    ALCM_ERR_NON_FINITE = 4,
    /**
     * A caller-provided output buffer is too small.
     */
    ALCM_ERR_BUFFER_TOO_SMALL = 5,
    /**
     * A handle is of the wrong type, already freed, or not an alcm handle (best effort).
     */
    ALCM_ERR_INVALID_HANDLE = 6,
    /**
     * A string argument is not valid UTF-8.
     */
    ALCM_ERR_INVALID_UTF8 = 7,
    /**
     * The byte stream ends before the frame it declares.
     */
    ALCM_ERR_TRUNCATED = 100,
    /**
     * The byte stream is structurally invalid.
     */
    ALCM_ERR_CORRUPT = 101,
    /**
     * The checksum does not match: the bytes were altered.
     */
    ALCM_ERR_CHECKSUM = 102,
    /**
     * The stream does not start with the alcm magic bytes.
     */
    ALCM_ERR_BAD_MAGIC = 103,
    /**
     * The frame was written by a newer, unknown format version (see ALCM_FORMAT_VERSION).
     */
    ALCM_ERR_FORMAT_VERSION = 104,
    /**
     * A declared or requested size exceeds a limit (decompression bomb, overflowing shape).
     */
    ALCM_ERR_TOO_LARGE = 105,
    /**
     * Reading or writing a file failed.
     */
    ALCM_ERR_IO = 200,
    /**
     * A model or state file is not a valid alcm file.
     */
    ALCM_ERR_INVALID_MODEL = 201,
    /**
     * The configured time budget was exceeded.
     */
    ALCM_ERR_TIMEOUT = 202,
    /**
     * alcm panicked (a bug; please report it). Out-parameters were not written; a mutable
     * handle passed to the call may be left in an unspecified state but can still be freed.
     */
    ALCM_ERR_PANIC = 900,
    /**
     * An internal invariant failed (a bug). Please report it.
     */
    ALCM_ERR_INTERNAL = 901,
};
#ifndef __cplusplus
#if __STDC_VERSION__ >= 202311L
typedef enum alcm_status alcm_status;
#else
typedef uint32_t alcm_status;
#endif // __STDC_VERSION__ >= 202311L
#endif // __cplusplus

/**
 * An open archive: its index in memory, the file open for reading. Create with
 * alcm_archive_open, free with alcm_archive_free. Reads need exclusive access (they move the
 * file position); the listing functions take a const pointer.
 */
typedef struct alcm_archive alcm_archive;

/**
 * An archive being written: tensors are compressed and written as they are added, the index
 * when alcm_archive_writer_finish is called. Create with alcm_archive_writer_new, free with
 * alcm_archive_writer_free. Not for concurrent use.
 */
typedef struct alcm_archive_writer alcm_archive_writer;

/**
 * An encoder: configuration only, no buffers between calls. Create with alcm_encoder_new (or
 * from YAML), free with alcm_encoder_free. Setters need exclusive access; compress takes a
 * const pointer, so one configured encoder may serve several threads at once.
 */
typedef struct alcm_encoder alcm_encoder;

/**
 * One rank's state for one tensor in a compressed reduce-scatter + all-gather (the residuals
 * of both stages). Exclusive access per call; may move between threads.
 */
typedef struct alcm_exchange alcm_exchange;

/**
 * Error-feedback state of one tensor (the residual carried to the next step). Exclusive
 * access per call; may move between threads.
 */
typedef struct alcm_feedback alcm_feedback;

/**
 * One rank's low-rank state for one matrix: the warm-start factor Q, the error-feedback
 * residual and the step in progress. Exclusive access per call; may move between threads.
 */
typedef struct alcm_lowrank alcm_lowrank;

/**
 * The neural entropy predictor (6 statistics -> H ReLU -> 1 sigmoid, scaled to
 * [min_bits, max_bits]). Prediction takes a const pointer: one predictor may be shared
 * read-only by many threads. Training needs exclusive access.
 */
typedef struct alcm_predictor alcm_predictor;

/**
 * Error-feedback residuals keyed by name, saved to one checksummed file. Exclusive access for
 * calls that take it non-const.
 */
typedef struct alcm_residual_store alcm_residual_store;

/**
 * The CAQ-driven pruning-threshold scheduler. Exclusive access per call.
 */
typedef struct alcm_scheduler alcm_scheduler;

/**
 * Encoder mode (as stored in the frame): `ALCM_MODE_*`.
 */
typedef uint32_t alcm_mode;

/**
 * Lossless backend applied to the packed codes: `ALCM_BACKEND_*`.
 */
typedef uint32_t alcm_backend;

/**
 * What to do with NaN/Inf input: `ALCM_NON_FINITE_*`.
 */
typedef uint32_t alcm_non_finite;

/**
 * What one compression did. Output only; fields may be added at the end in a major version.
 */
typedef struct alcm_report {
    /**
     * Size of the input (the element type's width per value: 4 for float32).
     */
    uint64_t input_bytes;
    /**
     * Size of the frame written.
     */
    uint64_t output_bytes;
    /**
     * input_bytes / output_bytes (0 for an empty tensor).
     */
    double ratio;
    /**
     * 8 * output_bytes / values.
     */
    double bits_per_value;
    /**
     * Fraction of the values that pruning set to zero (adaptive mode).
     */
    double dropped_ratio;
    /**
     * CPU time of the calling thread spent in the call, in seconds.
     */
    double cpu_seconds;
    /**
     * Compression-Accuracy Quotient: ratio / (cpu_seconds + 1).
     */
    double caq;
    /**
     * The uniform quantization step (error-bounded modes), else 0.
     */
    double step;
    /**
     * Mode of the frame written (ALCM_MODE_*); lossless when the size fallback applied.
     */
    uint32_t mode;
    /**
     * Values stored verbatim (kept NaN/Inf, rounding outliers).
     */
    uint64_t exceptions;
} alcm_report;

/**
 * What a frame header says (alcm_peek).
 */
typedef struct alcm_frame_info {
    /**
     * Byte-format version of the frame (see ALCM_FORMAT_VERSION).
     */
    uint32_t format_version;
    /**
     * ALCM_MODE_* the frame was written in.
     */
    uint32_t mode;
    /**
     * ALCM_BACKEND_* of the payload.
     */
    uint32_t backend;
    /**
     * Number of dimensions; shape[rank..] are 0.
     */
    uint32_t rank;
    /**
     * The tensor's dimensions.
     */
    uint64_t shape[ALCM_MAX_RANK];
    /**
     * Number of values (product of the shape).
     */
    uint64_t n_values;
    /**
     * Number of channels the frame declares: see `alcm_channel_count` (frames written before
     * dimensions of 1 were skipped declare `shape[0]` for rank >= 2).
     */
    uint64_t n_channels;
    /**
     * The error target the frame was encoded for (relative L2 or max abs), else 0.
     */
    double target;
    /**
     * Total size of the frame in bytes.
     */
    uint64_t frame_len;
    /**
     * Values stored verbatim.
     */
    uint64_t n_exceptions;
} alcm_frame_info;

/**
 * Scheduler state, written by alcm_scheduler_stats. The window's scores come from alcm_scheduler_window.
 */
typedef struct alcm_scheduler_info {
    /**
     * Number of updates since creation or reset.
     */
    uint64_t step;
    /**
     * Current pruning threshold.
     */
    double threshold;
    /**
     * Mean CAQ of the window (0 when empty).
     */
    double mean_caq;
    /**
     * Newest minus oldest CAQ of the window (0 with fewer than 2 scores).
     */
    double trend;
    /**
     * Number of scores in the window.
     */
    uint64_t window_len;
} alcm_scheduler_info;

/**
 * Statistics of a tensor or channel (the predictor's six features plus the count).
 * Moments are accumulated in double precision.
 */
typedef struct alcm_stats {
    /**
     * Arithmetic mean.
     */
    double mean;
    /**
     * Population variance.
     */
    double var;
    /**
     * sqrt(var), or 1e-8 when var is 0.
     */
    double std;
    /**
     * mean(z^3) with z = (x - mean) / std.
     */
    double skew;
    /**
     * mean(z^4) (Pearson kurtosis, 3 for a Gaussian; not excess kurtosis).
     */
    double kurtosis;
    /**
     * Fraction of values with |x| < 1e-6.
     */
    double sparsity;
    /**
     * Number of values summarised.
     */
    uint64_t count;
} alcm_stats;

/**
 * Reconstruction error of a decoded tensor against the original.
 */
typedef struct alcm_metrics {
    /**
     * Mean squared error.
     */
    double mse;
    /**
     * Mean absolute error.
     */
    double mae;
    /**
     * ||x - x'||_2 / ||x||_2 (0 when both are zero).
     */
    double rel_l2;
    /**
     * max |x_i - x'_i|.
     */
    double max_abs;
    /**
     * 10 log10(range^2 / MSE) in dB, range = max - min of the original (+inf when exact).
     */
    double psnr;
    /**
     * 10 log10(sum x^2 / sum (x - x')^2) in dB (+inf when exact).
     */
    double snr;
} alcm_metrics;

#ifdef __cplusplus
extern "C" {
#endif // __cplusplus

/**
 * --------------------------------------------------------------------------------------------
 * ERRORS AND VERSIONS
 *
 * Every fallible function returns an alcm_status; alcm_status_string names it and
 * alcm_last_error_message says what was wrong in the failed call (thread-local). The version
 * getters let a program compare the library it runs with the header it was compiled against.
 *
 * --------------------------------------------------------------------------------------------
 *
 * A static, NUL-terminated description of a status code, e.g. `"ALCM_ERR_CHECKSUM: checksum
 * mismatch"`, or `"unknown status"` for a number alcm does not know.
 *
 * Returns: never NULL; cannot fail.
 * Memory: the string is static: never free it.
 * Threads: any thread.
 */
const char *alcm_status_string(uint32_t status);

/**
 * Copies the calling thread's last error message into `buf` as a NUL-terminated string.
 *
 * Returns: the message's full length in bytes, excluding the NUL; 0 when the last fallible call on
 * this thread succeeded, or none was made. At most `buf_len - 1` bytes are copied, so the message
 * was truncated when the return value is `>= buf_len`: call again with `return + 1` bytes. When
 * `buf_len` is 0 nothing is written (the size query). The message is UTF-8; truncation may cut a
 * multi-byte character. Cannot fail.
 * Memory: `buf` is NULL (then `buf_len` is ignored and nothing is written) or `buf_len` writable
 * bytes owned by the caller.
 * Threads: any thread; reads that thread's own message only.
 */
size_t alcm_last_error_message(char *buf, size_t buf_len);

/**
 * The library version as MAJOR*10000 + MINOR*100 + PATCH; compare it with `ALCM_VERSION_NUMBER` to
 * detect a header/library mismatch at run time.
 *
 * Returns: the number; cannot fail.
 * Threads: any thread.
 */
uint32_t alcm_version_number(void);

/**
 * The library version as a string, e.g. "0.1.0" (`ALCM_VERSION_STRING` of the matching header).
 *
 * Returns: never NULL; cannot fail.
 * Memory: the string is static: never free it.
 * Threads: any thread.
 */
const char *alcm_version_string(void);

/**
 * The frame format version this library writes, `ALCM_FORMAT_VERSION` of the matching header.
 *
 * Returns: the number; cannot fail.
 * Threads: any thread.
 */
uint32_t alcm_format_version(void);

/**
 * --------------------------------------------------------------------------------------------
 * CODEC
 *
 * An alcm_encoder holds settings only (mode, backend, precision, pruning, threads), no buffers:
 * create one, configure it with the alcm_encoder_set_* setters, then compress any number of
 * tensors with alcm_encoder_compress into a buffer of alcm_compress_bound bytes. The frame is
 * self-describing: alcm_peek reads its header, alcm_decompress needs nothing but the bytes.
 * Setters need exclusive access; compression takes a const encoder, so one configured encoder may
 * serve several threads at once.
 *
 * --------------------------------------------------------------------------------------------
 *
 * Creates an encoder with the defaults of the original encoder_config.yaml: adaptive mode,
 * precision 4..8 bits, pruning threshold 0.01, max drop ratio 0.25, the default backend
 * ALCM_BACKEND_RANS (deflate level 6 if deflate is chosen), non-finite values refused, 1 thread.
 *
 * Returns: ALCM_OK; `*out` is written only on success.
 * Errors: ALCM_ERR_NULL_POINTER (`out`), ALCM_ERR_INVALID_ARGUMENT (`out` misaligned).
 * Memory: `*out` is a new encoder owned by the caller: free it with alcm_encoder_free.
 * Threads: any thread.
 */
alcm_status alcm_encoder_new(struct alcm_encoder **out);

/**
 * Creates an encoder from a YAML file in the original encoder_config.yaml schema (plus alcm's
 * optional keys: mode, backend_level, non_finite, allocation, threads).
 *
 * Returns: ALCM_OK; `*out` is written only on success.
 * Errors: ALCM_ERR_NULL_POINTER (`path`, `out`), ALCM_ERR_INVALID_UTF8 (`path`),
 * ALCM_ERR_INVALID_ARGUMENT (empty `path`, `out` misaligned), ALCM_ERR_IO (the file cannot be read,
 * is not a regular file, or is not UTF-8 text), ALCM_ERR_TOO_LARGE (a file over 64 KiB, checked
 * before reading; or a text beyond the limits of alcm_encoder_from_yaml_string),
 * ALCM_ERR_INVALID_CONFIG (bad YAML, unknown key or value out of range; the message names the
 * key).
 * Memory: `path` is borrowed for the call. `*out` is owned by the caller: free it with
 * alcm_encoder_free.
 * Threads: any thread.
 */
alcm_status alcm_encoder_from_yaml_file(const char *path, struct alcm_encoder **out);

/**
 * Creates an encoder from YAML text (same schema as alcm_encoder_from_yaml_file). A
 * configuration is small: the text is capped before the parser sees it.
 *
 * Returns: ALCM_OK; `*out` is written only on success.
 * Errors: ALCM_ERR_NULL_POINTER (`yaml`, `out`), ALCM_ERR_INVALID_UTF8 (`yaml`),
 * ALCM_ERR_INVALID_ARGUMENT (`out` misaligned), ALCM_ERR_TOO_LARGE (text over 64 KiB, or a
 * document whose aliases expand past 4096 values or 64 KiB of strings), ALCM_ERR_INVALID_CONFIG
 * (bad YAML, text the parser refuses (more than 256 `[`/`{`, nesting over 128), unknown key or
 * value out of range; the message names the key).
 * Memory: `yaml` is borrowed for the call. `*out` is owned by the caller: free it with
 * alcm_encoder_free.
 * Threads: any thread.
 */
alcm_status alcm_encoder_from_yaml_string(const char *yaml, struct alcm_encoder **out);

/**
 * Frees an encoder. NULL is a no-op; a handle that is not a live encoder is left alone.
 *
 * Memory: `enc` is NULL or an encoder from alcm_encoder_new / alcm_encoder_from_yaml_*, freed once
 * and not used afterwards.
 * Threads: any thread, once no other call uses `enc`.
 */
void alcm_encoder_free(struct alcm_encoder *enc);

/**
 * Sets the pruning threshold, a percentile fraction in (0, 1) (the scheduler's output).
 *
 * Returns: ALCM_OK. On error the encoder is unchanged.
 * Errors: ALCM_ERR_NULL_POINTER (`enc`), ALCM_ERR_INVALID_HANDLE (`enc`), ALCM_ERR_INVALID_CONFIG
 * (`threshold` not in (0, 1)).
 * Threads: exclusive: no other call may use `enc` during this call.
 */
alcm_status alcm_encoder_set_threshold(struct alcm_encoder *enc, double threshold);

/**
 * Sets the mode (ALCM_MODE_*) and its target: the relative L2 error in (0, 1) for
 * ALCM_MODE_RELATIVE_L2, the max absolute error (> 0) for ALCM_MODE_MAX_ABS; `target` is ignored
 * for the other modes.
 *
 * Returns: ALCM_OK. On error the encoder is unchanged.
 * Errors: ALCM_ERR_INVALID_ARGUMENT (unknown mode; checked first), ALCM_ERR_NULL_POINTER (`enc`),
 * ALCM_ERR_INVALID_HANDLE (`enc`), ALCM_ERR_INVALID_CONFIG (target out of range).
 * Threads: exclusive: no other call may use `enc` during this call.
 */
alcm_status alcm_encoder_set_mode(struct alcm_encoder *enc, alcm_mode mode, double target);

/**
 * Sets the backend: ALCM_BACKEND_RANS (the default), ALCM_BACKEND_DEFLATE or ALCM_BACKEND_STORE,
 * and the deflate level 0..10 (validated for every backend, used by deflate only).
 * ALCM_BACKEND_RANS_MODEL cannot be selected: the encoder chooses it by itself.
 *
 * Returns: ALCM_OK. On error the encoder is unchanged.
 * Errors: ALCM_ERR_INVALID_ARGUMENT (unknown or unselectable backend, `level` > 10; checked
 * first), ALCM_ERR_NULL_POINTER (`enc`), ALCM_ERR_INVALID_HANDLE (`enc`).
 * Threads: exclusive: no other call may use `enc` during this call.
 */
alcm_status alcm_encoder_set_backend(struct alcm_encoder *enc,
                                     alcm_backend backend,
                                     uint32_t level);

/**
 * Sets the precision range of adaptive mode: 1 <= min_precision <= base_precision <= 16.
 *
 * Returns: ALCM_OK. On error the encoder is unchanged.
 * Errors: ALCM_ERR_NULL_POINTER (`enc`), ALCM_ERR_INVALID_HANDLE (`enc`), ALCM_ERR_INVALID_CONFIG
 * (range violated).
 * Threads: exclusive: no other call may use `enc` during this call.
 */
alcm_status alcm_encoder_set_precision(struct alcm_encoder *enc,
                                       uint32_t min_precision,
                                       uint32_t base_precision);

/**
 * Sets the largest fraction of values pruning may drop, in [0, 1).
 *
 * Returns: ALCM_OK. On error the encoder is unchanged.
 * Errors: ALCM_ERR_NULL_POINTER (`enc`), ALCM_ERR_INVALID_HANDLE (`enc`), ALCM_ERR_INVALID_CONFIG
 * (not in [0, 1)).
 * Threads: exclusive: no other call may use `enc` during this call.
 */
alcm_status alcm_encoder_set_max_drop_ratio(struct alcm_encoder *enc, double max_drop_ratio);

/**
 * Sets the policy for NaN/Inf input (ALCM_NON_FINITE_*).
 *
 * Returns: ALCM_OK. On error the encoder is unchanged.
 * Errors: ALCM_ERR_INVALID_ARGUMENT (unknown policy; checked first), ALCM_ERR_NULL_POINTER
 * (`enc`), ALCM_ERR_INVALID_HANDLE (`enc`).
 * Threads: exclusive: no other call may use `enc` during this call.
 */
alcm_status alcm_encoder_set_non_finite(struct alcm_encoder *enc, alcm_non_finite policy);

/**
 * Sets how many threads one compression may use, 1..ALCM_MAX_THREADS (default 1). The
 * error-bounded modes split a large tensor into fixed blocks of rows; the frame bytes are the same
 * for every thread count. Threads are started per call and joined before it returns.
 *
 * Returns: ALCM_OK. On error the encoder is unchanged.
 * Errors: ALCM_ERR_NULL_POINTER (`enc`), ALCM_ERR_INVALID_HANDLE (`enc`), ALCM_ERR_INVALID_CONFIG
 * (0 or more than ALCM_MAX_THREADS).
 * Threads: exclusive: no other call may use `enc` during this call.
 */
alcm_status alcm_encoder_set_threads(struct alcm_encoder *enc, uint32_t threads);

/**
 * Worst-case frame size for `n_values` floats: a `dst` buffer of this many bytes always suffices
 * for alcm_encoder_compress and is what alcm_feedback_compress requires.
 *
 * Returns: the bound, saturated at SIZE_MAX; cannot fail.
 * Threads: any thread.
 */
size_t alcm_compress_bound(size_t n_values);

/**
 * Compresses the tensor `(data, rank, shape)` into `dst` (`dst_capacity` bytes; size it with
 * alcm_compress_bound). `allocation` (adaptive mode; NULL with `allocation_len` 0 for full
 * precision) holds 1 value for the whole tensor or one per channel, in [min_bits, max_bits] (the
 * predictor's output); other modes ignore it.
 *
 * Returns: ALCM_OK; the frame is in `dst[0..*dst_len]` and, if `report` is non-NULL, `*report`
 * describes it. Outputs are written only on success.
 * Errors: ALCM_ERR_NULL_POINTER (`enc`, `dst_len`; `data`, `shape`, `allocation`, `dst` when their
 * length is not 0), ALCM_ERR_INVALID_HANDLE (`enc`), ALCM_ERR_INVALID_ARGUMENT (rank above
 * ALCM_MAX_RANK, allocation length neither 1 nor the channel count, an allocation value not finite
 * or outside [min_bits, max_bits] (the message names the index), more than 2^32 - 1 channels,
 * misaligned pointer), ALCM_ERR_TOO_LARGE (the shape overflows or exceeds ALCM_MAX_ELEMENTS),
 * ALCM_ERR_NON_FINITE (NaN/Inf with the refuse policy; the message
 * names the index), ALCM_ERR_BUFFER_TOO_SMALL (the frame is longer than `dst_capacity`; never with
 * alcm_compress_bound), ALCM_ERR_TIMEOUT (the relative-L2 search ran out of the encoder's time
 * budget, YAML `timeout_seconds`).
 * Memory: every input is borrowed for the call; `dst` must not overlap the inputs.
 * Threads: `enc` is only read: other threads may use the same handle at the same time in calls
 * that take it as `const`.
 */
alcm_status alcm_encoder_compress(const struct alcm_encoder *enc,
                                  const float *data,
                                  size_t rank,
                                  const size_t *shape,
                                  const double *allocation,
                                  size_t allocation_len,
                                  uint8_t *dst,
                                  size_t dst_capacity,
                                  size_t *dst_len,
                                  struct alcm_report *report);

/**
 * Reads a frame header from `src` (at least the first ALCM_FRAME_HEADER_MAX bytes, or the whole
 * frame if shorter) without decoding or checksumming the payload.
 *
 * Returns: ALCM_OK; `*info` is written only on success.
 * Errors: ALCM_ERR_NULL_POINTER (`info`; `src` when `src_len` is not 0), ALCM_ERR_INVALID_ARGUMENT
 * (`info` misaligned), ALCM_ERR_BAD_MAGIC (not an alcm frame), ALCM_ERR_FORMAT_VERSION (written by
 * a newer format), ALCM_ERR_TRUNCATED (fewer bytes than the header), ALCM_ERR_CORRUPT (invalid
 * header field), ALCM_ERR_TOO_LARGE (the declared shape overflows or exceeds the address space).
 * Memory: `src` is borrowed for the call.
 * Threads: any thread.
 */
alcm_status alcm_peek(const uint8_t *src, size_t src_len, struct alcm_frame_info *info);

/**
 * Decodes the complete frame `src` (exactly `src_len` bytes) into `dst`, which must hold at least
 * the frame's value count (alcm_peek gives it); nothing larger than that count is allocated.
 *
 * Returns: ALCM_OK; `dst[0..*n_values]` holds the values, `*n_values` the count.
 * Errors: ALCM_ERR_NULL_POINTER (`n_values`; `src` when `src_len` is not 0; `dst` when the frame
 * holds values), ALCM_ERR_INVALID_ARGUMENT (misaligned `dst` or `n_values`), ALCM_ERR_BAD_MAGIC,
 * ALCM_ERR_FORMAT_VERSION, ALCM_ERR_TRUNCATED, ALCM_ERR_CORRUPT, ALCM_ERR_CHECKSUM (the bytes were
 * altered), ALCM_ERR_TOO_LARGE (the declared shape overflows or exceeds the address space),
 * ALCM_ERR_BUFFER_TOO_SMALL (`dst_capacity` is below the value count). On error `dst` may hold
 * partial output and `*n_values` is not written.
 * Memory: `src` is borrowed for the call; `dst` must not overlap it.
 * Threads: any thread.
 */
alcm_status alcm_decompress(const uint8_t *src,
                            size_t src_len,
                            float *dst,
                            size_t dst_capacity,
                            size_t *n_values);

/**
 * Like alcm_decompress, decoding the independent blocks of a large frame (payload kinds 2 and 4,
 * docs/FORMAT.md) on up to `threads` threads, 1..ALCM_MAX_THREADS; other frames decode on one
 * thread. The decoded values are the same for every thread count.
 *
 * Returns: as alcm_decompress.
 * Errors: ALCM_ERR_INVALID_ARGUMENT for a thread count of 0 or more than ALCM_MAX_THREADS (checked
 * first; `dst` and `*n_values` are then untouched), and those of alcm_decompress.
 * Memory: as alcm_decompress.
 * Threads: any thread.
 */
alcm_status alcm_decompress_with_threads(const uint8_t *src,
                                         size_t src_len,
                                         float *dst,
                                         size_t dst_capacity,
                                         uint32_t threads,
                                         size_t *n_values);

/**
 * Worst-case frame size for `n_values` values of element type `dtype` (ALCM_DTYPE_*): a `dst`
 * buffer of this many bytes always suffices for alcm_encoder_compress_typed.
 *
 * Returns: the bound, saturated at SIZE_MAX; 0 for an unknown `dtype` (no frame is that small).
 * Threads: any thread.
 */
size_t alcm_compress_bound_typed(size_t n_values, uint32_t dtype);

/**
 * Compresses the tensor `(data, rank, shape)` of element type `dtype` (ALCM_DTYPE_F32, _BF16,
 * _F16 or _F64; `data` points to values of that type, in the platform's byte order, bfloat16 and
 * float16 as their 16-bit patterns) into `dst`. Like alcm_encoder_compress otherwise: the frame
 * records the type, the mode's error bound holds on these values and on what
 * alcm_decompress_typed returns, lossless frames return every bit. ALCM_DTYPE_F32 writes the
 * frame alcm_encoder_compress writes.
 *
 * Returns: ALCM_OK; the frame is in `dst[0..*dst_len]` and, if `report` is non-NULL, `*report`
 * describes it (input_bytes counts the type's width). Outputs are written only on success.
 * Errors: those of alcm_encoder_compress (size `dst` with alcm_compress_bound_typed), and
 * ALCM_ERR_INVALID_ARGUMENT for an unknown `dtype` or `data` misaligned for its type.
 * Memory: every input is borrowed for the call; `dst` must not overlap the inputs.
 * Threads: `enc` is only read: other threads may use the same handle at the same time in calls
 * that take it as `const`.
 */
alcm_status alcm_encoder_compress_typed(const struct alcm_encoder *enc,
                                        const void *data,
                                        uint32_t dtype,
                                        size_t rank,
                                        const size_t *shape,
                                        const double *allocation,
                                        size_t allocation_len,
                                        uint8_t *dst,
                                        size_t dst_capacity,
                                        size_t *dst_len,
                                        struct alcm_report *report);

/**
 * Reads the element type of a frame from its header (`src`: at least the first
 * ALCM_FRAME_HEADER_MAX bytes, or the whole frame if shorter), without decoding.
 *
 * Returns: ALCM_OK; `*dtype` (an ALCM_DTYPE_* id) is written only on success.
 * Errors: those of alcm_peek (NULL `dtype` is ALCM_ERR_NULL_POINTER).
 * Memory: `src` is borrowed for the call.
 * Threads: any thread.
 */
alcm_status alcm_peek_dtype(const uint8_t *src, size_t src_len, uint32_t *dtype);

/**
 * Decodes the complete frame `src` (exactly `src_len` bytes) whose element type is `dtype` into
 * `dst`, which must hold at least the frame's value count (`dst_capacity` counts values of that
 * type; alcm_peek gives the count, alcm_peek_dtype the type), in the platform's byte order. The
 * independent blocks of a large frame are decoded on up to `threads` threads
 * (1..ALCM_MAX_THREADS); the values do not depend on it.
 *
 * Returns: ALCM_OK; `dst[0..*n_values]` holds the values, `*n_values` the count.
 * Errors: those of alcm_decompress_with_threads, and ALCM_ERR_INVALID_ARGUMENT for an unknown
 * `dtype`, a frame of another element type than `dtype` (checked before decoding), or `dst`
 * misaligned for its type. On error `dst` may hold partial output and `*n_values` is not
 * written.
 * Memory: `src` is borrowed for the call; `dst` must not overlap it.
 * Threads: any thread.
 */
alcm_status alcm_decompress_typed(const uint8_t *src,
                                  size_t src_len,
                                  uint32_t dtype,
                                  void *dst,
                                  size_t dst_capacity,
                                  uint32_t threads,
                                  size_t *n_values);

/**
 * --------------------------------------------------------------------------------------------
 * ERROR FEEDBACK
 *
 * Gradient compression in a training loop: an alcm_feedback keeps, for one tensor, the residual of
 * the previous step (what the decoder lost) and adds it to the next gradient before compressing,
 * so that quantization error is delayed, never lost. One state per tensor; it can be saved and
 * loaded with a checkpoint. Every call on a state needs exclusive access.
 *
 * --------------------------------------------------------------------------------------------
 *
 * Creates error-feedback state (a zero residual) for tensors of `shape`.
 * ALCM_ERR_INVALID_ARGUMENT for rank > ALCM_MAX_RANK; ALCM_ERR_TOO_LARGE for more than
 * ALCM_MAX_ELEMENTS values or when the residual's memory cannot be had (never an abort).
 *
 * Returns: ALCM_OK; `*out` is written only on success.
 * Errors: ALCM_ERR_INVALID_ARGUMENT (rank above ALCM_MAX_RANK; checked first; misaligned pointer),
 * ALCM_ERR_NULL_POINTER (`out`; `shape` when `rank` is not 0), ALCM_ERR_TOO_LARGE (the shape
 * overflows or exceeds ALCM_MAX_ELEMENTS, or its residual cannot be allocated).
 * Memory: `shape` is borrowed for the call. `*out` (4 bytes per value of the shape) is owned by
 * the caller: free it with alcm_feedback_free.
 * Threads: any thread.
 */
alcm_status alcm_feedback_new(size_t rank, const size_t *shape, struct alcm_feedback **out);

/**
 * Compresses `gradient + residual` (`n_values` floats, the state's value count, C order of its
 * shape) with `enc` into `dst` and keeps the new residual; `allocation`, `dst`, `dst_len` and
 * `report` as for alcm_encoder_compress, except that `dst_capacity` must be at least
 * alcm_compress_bound(n_values).
 * On error the residual is unchanged. The value count is checked before the buffer size.
 *
 * Returns: ALCM_OK; the frame is in `dst[0..*dst_len]`, `*report` (if non-NULL) describes it. On
 * error the residual is unchanged and nothing is written.
 * Errors: ALCM_ERR_NULL_POINTER (`fb`, `enc`, `dst_len`; `gradient`, `allocation`, `dst` when
 * their length is not 0), ALCM_ERR_INVALID_HANDLE (`fb`, `enc`), ALCM_ERR_INVALID_ARGUMENT
 * (`n_values` is not the state's value count, allocation as for alcm_encoder_compress, misaligned
 * pointer), ALCM_ERR_TOO_LARGE (an array length beyond the address space),
 * ALCM_ERR_BUFFER_TOO_SMALL (`dst_capacity` below alcm_compress_bound(n_values); checked before
 * any work), ALCM_ERR_NON_FINITE (NaN/Inf with the refuse policy), ALCM_ERR_TIMEOUT.
 * Memory: inputs are borrowed for the call; `dst` must not overlap them.
 * Threads: exclusive use of `fb`; `enc` is only read and may be shared.
 */
alcm_status alcm_feedback_compress(struct alcm_feedback *fb,
                                   const struct alcm_encoder *enc,
                                   const float *gradient,
                                   size_t n_values,
                                   const double *allocation,
                                   size_t allocation_len,
                                   uint8_t *dst,
                                   size_t dst_capacity,
                                   size_t *dst_len,
                                   struct alcm_report *report);

/**
 * Sets the residual to zero (e.g. after a learning-rate reset or a restart).
 *
 * Returns: ALCM_OK.
 * Errors: ALCM_ERR_NULL_POINTER (`fb`), ALCM_ERR_INVALID_HANDLE (`fb`).
 * Threads: exclusive: no other call may use `fb` during this call.
 */
alcm_status alcm_feedback_reset(struct alcm_feedback *fb);

/**
 * Saves the state (shape and residual, checksummed) to `path` atomically (temporary file in the
 * same directory, then rename).
 *
 * Returns: ALCM_OK.
 * Errors: ALCM_ERR_NULL_POINTER (`fb`, `path`), ALCM_ERR_INVALID_HANDLE (`fb`),
 * ALCM_ERR_INVALID_UTF8 (`path`), ALCM_ERR_INVALID_ARGUMENT (empty `path`, or one that names no
 * file), ALCM_ERR_IO (writing or renaming failed).
 * Memory: `path` is borrowed for the call.
 * Threads: `fb` is only read: other threads may use the same handle at the same time in calls that
 * take it as `const`.
 */
alcm_status alcm_feedback_save(const struct alcm_feedback *fb, const char *path);

/**
 * Loads a state saved by alcm_feedback_save.
 *
 * Returns: ALCM_OK; `*out` is written only on success.
 * Errors: ALCM_ERR_NULL_POINTER (`path`, `out`), ALCM_ERR_INVALID_UTF8 (`path`),
 * ALCM_ERR_INVALID_ARGUMENT (empty `path`, `out` misaligned), ALCM_ERR_IO (the file cannot be
 * read or is not a regular file), ALCM_ERR_TOO_LARGE (a file over 76 + 4 * 2^32 bytes, checked
 * before reading), ALCM_ERR_INVALID_MODEL (not an alcm feedback state, truncated under a valid
 * checksum, or inconsistent), ALCM_ERR_CHECKSUM (the file was altered or cut),
 * ALCM_ERR_FORMAT_VERSION (written in a newer state version).
 * Memory: `path` is borrowed for the call. `*out` is owned by the caller: free it with
 * alcm_feedback_free.
 * Threads: any thread.
 */
alcm_status alcm_feedback_load(const char *path, struct alcm_feedback **out);

/**
 * Frees feedback state. NULL is a no-op; a handle that is not live state is left alone.
 *
 * Memory: `fb` is NULL or a handle from alcm_feedback_new / alcm_feedback_load, freed once and not
 * used afterwards.
 * Threads: any thread, once no other call uses `fb`.
 */
void alcm_feedback_free(struct alcm_feedback *fb);

/**
 * --------------------------------------------------------------------------------------------
 * PREDICTOR AND ALLOCATIONS
 *
 * The neural entropy predictor maps the six statistics of a tensor or channel (alcm_stats) to a
 * bit allocation in [min_bits, max_bits] for adaptive mode. It learns from measured targets:
 * alcm_empirical_allocation / alcm_empirical_channel_allocations search the smallest allocation
 * that meets an error target; alcm_guard_channel_allocations raises predicted allocations to what
 * a closed-form error model needs. Prediction takes a const predictor (share one across threads);
 * training needs exclusive access.
 *
 * --------------------------------------------------------------------------------------------
 *
 * Creates a predictor with Xavier-uniform weights drawn from `seed` (same seed, same weights on
 * every platform): hidden_size in 1..65536, 0 <= min_bits < max_bits <= 1, learning_rate finite
 * and > 0.
 *
 * Returns: ALCM_OK; `*out` is written only on success.
 * Errors: ALCM_ERR_NULL_POINTER (`out`), ALCM_ERR_INVALID_ARGUMENT (a value out of range, `out`
 * misaligned).
 * Memory: `*out` is owned by the caller: free it with alcm_predictor_free.
 * Threads: any thread.
 */
alcm_status alcm_predictor_new(size_t hidden_size,
                               double min_bits,
                               double max_bits,
                               double learning_rate,
                               uint64_t seed,
                               struct alcm_predictor **out);

/**
 * Creates a predictor from a YAML file in the original entropy_config.yaml schema. Statuses as
 * alcm_encoder_from_yaml_file.
 *
 * Returns: ALCM_OK; `*out` is written only on success.
 * Errors: ALCM_ERR_NULL_POINTER (`path`, `out`), ALCM_ERR_INVALID_UTF8 (`path`),
 * ALCM_ERR_INVALID_ARGUMENT (empty `path`, `out` misaligned), ALCM_ERR_IO (the file cannot be read,
 * is not a regular file, or is not UTF-8 text), ALCM_ERR_TOO_LARGE (a file over 64 KiB, checked
 * before reading, or text beyond the limits of alcm_encoder_from_yaml_string),
 * ALCM_ERR_INVALID_CONFIG (bad YAML, unknown key or value out of range).
 * Memory: `path` is borrowed for the call. `*out` is owned by the caller: free it with
 * alcm_predictor_free.
 * Threads: any thread.
 */
alcm_status alcm_predictor_from_yaml_file(const char *path, struct alcm_predictor **out);

/**
 * Creates a predictor from YAML text (entropy_config.yaml schema). Statuses as
 * alcm_encoder_from_yaml_string.
 *
 * Returns: ALCM_OK; `*out` is written only on success.
 * Errors: ALCM_ERR_NULL_POINTER (`yaml`, `out`), ALCM_ERR_INVALID_UTF8 (`yaml`),
 * ALCM_ERR_INVALID_ARGUMENT (`out` misaligned), ALCM_ERR_TOO_LARGE (as for
 * alcm_encoder_from_yaml_string), ALCM_ERR_INVALID_CONFIG (bad YAML, unknown key or value out of
 * range).
 * Memory: `yaml` is borrowed for the call. `*out` is owned by the caller: free it with
 * alcm_predictor_free.
 * Threads: any thread.
 */
alcm_status alcm_predictor_from_yaml_string(const char *yaml, struct alcm_predictor **out);

/**
 * Trains by per-sample SGD on the MSE for `epochs` passes. `features` holds `n` rows of 6 doubles
 * ([mean, var, std, skew, kurtosis, sparsity], e.g. from alcm_channel_stats), `targets` `n`
 * allocations. A model without feature normalisation fits it on these features first.
 *
 * Returns: ALCM_OK; if `loss_history` is non-NULL, it receives the `epochs` mean losses.
 * Errors: ALCM_ERR_TOO_LARGE (6 * `n` overflows; an array length beyond the address space),
 * ALCM_ERR_NULL_POINTER (`p`; `features`, `targets` when `n` is not 0), ALCM_ERR_INVALID_HANDLE
 * (`p`), ALCM_ERR_INVALID_ARGUMENT (`n` is 0; a non-finite feature or target; features no tensor
 * has: a negative var, std or kurtosis, a sparsity outside [0, 1], values whose normalisation
 * overflows (the message names the row; the model is unchanged); training diverged (the weights
 * are then restored); misaligned pointer).
 * Memory: `features` (6 * `n` doubles) and `targets` (`n`) are borrowed for the call;
 * `loss_history` is NULL or `epochs` writable doubles.
 * Threads: exclusive: no other call may use `p` during this call.
 */
alcm_status alcm_predictor_train(struct alcm_predictor *p,
                                 const double *features,
                                 const double *targets,
                                 size_t n,
                                 size_t epochs,
                                 double *loss_history);

/**
 * Runs the network on one feature vector (6 doubles) and writes the allocation to `*out`.
 *
 * Returns: ALCM_OK; `*out` is written only on success.
 * Errors: ALCM_ERR_NULL_POINTER (`p`, `features`, `out`), ALCM_ERR_INVALID_HANDLE (`p`),
 * ALCM_ERR_INVALID_ARGUMENT (misaligned pointer).
 * Memory: `features` is borrowed for the call.
 * Threads: `p` is only read: other threads may use the same handle at the same time in calls that
 * take it as `const`.
 */
alcm_status alcm_predictor_forward(const struct alcm_predictor *p,
                                   const double *features,
                                   double *out);

/**
 * Predicts one allocation for the whole tensor `(data, rank, shape)` (its statistics, then the
 * network).
 *
 * Returns: ALCM_OK; `*out` is written only on success.
 * Errors: ALCM_ERR_NULL_POINTER (`p`, `out`; `shape` when `rank` is not 0; `data` when the tensor
 * has elements), ALCM_ERR_INVALID_HANDLE (`p`), ALCM_ERR_INVALID_ARGUMENT (rank above
 * ALCM_MAX_RANK, misaligned pointer), ALCM_ERR_TOO_LARGE (the shape overflows or exceeds
 * ALCM_MAX_ELEMENTS).
 * Memory: the tensor is borrowed for the call.
 * Threads: `p` is only read: other threads may use the same handle at the same time in calls that
 * take it as `const`.
 */
alcm_status alcm_predictor_predict(const struct alcm_predictor *p,
                                   const float *data,
                                   size_t rank,
                                   const size_t *shape,
                                   double *out);

/**
 * Predicts one allocation per channel (the "entropy map"; alcm_channel_count gives the count) into
 * `out` (`out_len` doubles).
 *
 * Returns: ALCM_OK; `out[0..*n_channels]` holds the allocations, `*n_channels` the count.
 * Errors: ALCM_ERR_NULL_POINTER (`p`, `n_channels`; `out` when `out_len` is not 0; tensor pointers
 * as for alcm_predictor_predict), ALCM_ERR_INVALID_HANDLE (`p`), ALCM_ERR_INVALID_ARGUMENT (rank
 * above ALCM_MAX_RANK, misaligned pointer), ALCM_ERR_TOO_LARGE (the shape overflows or exceeds
 * ALCM_MAX_ELEMENTS; `out_len` beyond the address space), ALCM_ERR_BUFFER_TOO_SMALL (`out_len`
 * below the channel count; nothing is written).
 * Memory: the tensor is borrowed for the call; `out` is caller memory.
 * Threads: `p` is only read: other threads may use the same handle at the same time in calls that
 * take it as `const`.
 */
alcm_status alcm_predictor_predict_channels(const struct alcm_predictor *p,
                                            const float *data,
                                            size_t rank,
                                            const size_t *shape,
                                            double *out,
                                            size_t out_len,
                                            size_t *n_channels);

/**
 * Saves the model as .npz (keys W1, b1, W2, b2, hidden_size, min_bits, max_bits, plus alcm's
 * normalisation) atomically; numpy.load opens it.
 *
 * Returns: ALCM_OK.
 * Errors: ALCM_ERR_NULL_POINTER (`p`, `path`), ALCM_ERR_INVALID_HANDLE (`p`),
 * ALCM_ERR_INVALID_UTF8 (`path`), ALCM_ERR_INVALID_ARGUMENT (empty `path`, or one that names no
 * file), ALCM_ERR_IO (writing or renaming failed).
 * Memory: `path` is borrowed for the call.
 * Threads: `p` is only read: other threads may use the same handle at the same time in calls that
 * take it as `const`.
 */
alcm_status alcm_predictor_save(const struct alcm_predictor *p, const char *path);

/**
 * Loads a model saved by alcm_predictor_save or by the original Python prototype.
 *
 * Returns: ALCM_OK; `*out` is written only on success.
 * Errors: ALCM_ERR_NULL_POINTER (`path`, `out`), ALCM_ERR_INVALID_UTF8 (`path`),
 * ALCM_ERR_INVALID_ARGUMENT (empty `path`, `out` misaligned), ALCM_ERR_IO (the file cannot be
 * read or is not a regular file), ALCM_ERR_TOO_LARGE (a file over 16 MiB, checked before reading),
 * ALCM_ERR_INVALID_MODEL (truncated, foreign or inconsistent file: a member that inflates past its
 * npy header or over 4 MiB, min_bits/max_bits outside 0 <= min < max <= 1).
 * Memory: `path` is borrowed for the call. `*out` is owned by the caller: free it with
 * alcm_predictor_free.
 * Threads: any thread.
 */
alcm_status alcm_predictor_load(const char *path, struct alcm_predictor **out);

/**
 * Frees a predictor. NULL is a no-op; a handle that is not a live predictor is left alone.
 *
 * Memory: `p` is NULL or a handle from alcm_predictor_new / _from_yaml_* / _load, freed once and
 * not used afterwards.
 * Threads: any thread, once no other call uses `p`.
 */
void alcm_predictor_free(struct alcm_predictor *p);

/**
 * The measured allocation of a tensor: the smallest single allocation whose adaptive encoding with
 * `enc`'s settings meets `target_rel_error` (relative L2), found by bisection. The training target
 * the predictor learns.
 *
 * Returns: ALCM_OK; `*out` is written only on success.
 * Errors: ALCM_ERR_NULL_POINTER (`enc`, `out`; `shape` when `rank` is not 0; `data` when the
 * tensor has elements), ALCM_ERR_INVALID_HANDLE (`enc`), ALCM_ERR_INVALID_ARGUMENT (rank above
 * ALCM_MAX_RANK, `target_rel_error` not finite and > 0, misaligned pointer), ALCM_ERR_TOO_LARGE
 * (the shape overflows or exceeds ALCM_MAX_ELEMENTS), ALCM_ERR_NON_FINITE (NaN/Inf in the data),
 * ALCM_ERR_TIMEOUT (`enc`'s timeout_seconds passed; checked between trial encodings).
 * Memory: the tensor is borrowed for the call.
 * Threads: `enc` is only read: other threads may use the same handle at the same time in calls
 * that take it as `const`.
 */
alcm_status alcm_empirical_allocation(const struct alcm_encoder *enc,
                                      const float *data,
                                      size_t rank,
                                      const size_t *shape,
                                      double target_rel_error,
                                      double *out);

/**
 * The measured allocation of each channel for `target_rel_error` (per-channel relative L2), into
 * `out` (`out_len` doubles, at least the channel count).
 *
 * Returns: ALCM_OK; `out[0..*n_channels]` holds the allocations, `*n_channels` the count.
 * Errors: ALCM_ERR_NULL_POINTER (`enc`, `n_channels`; `out` when `out_len` is not 0; tensor
 * pointers as for alcm_empirical_allocation), ALCM_ERR_INVALID_HANDLE (`enc`),
 * ALCM_ERR_INVALID_ARGUMENT (rank above ALCM_MAX_RANK, `target_rel_error` not finite and > 0,
 * misaligned pointer), ALCM_ERR_TOO_LARGE (the shape overflows or exceeds ALCM_MAX_ELEMENTS),
 * ALCM_ERR_NON_FINITE (NaN/Inf in the data), ALCM_ERR_BUFFER_TOO_SMALL (`out_len` below the
 * channel count; nothing is written), ALCM_ERR_TIMEOUT (`enc`'s timeout_seconds passed).
 * Memory: the tensor is borrowed for the call; `out` is caller memory.
 * Threads: `enc` is only read: other threads may use the same handle at the same time in calls
 * that take it as `const`.
 */
alcm_status alcm_empirical_channel_allocations(const struct alcm_encoder *enc,
                                               const float *data,
                                               size_t rank,
                                               const size_t *shape,
                                               double target_rel_error,
                                               double *out,
                                               size_t out_len,
                                               size_t *n_channels);

/**
 * Caps the predicted error of each channel: raises every value of `allocation` (one per channel,
 * `allocation_len` = alcm_channel_count, e.g. alcm_predictor_predict_channels' output) in place to
 * at least the allocation that a closed-form error model (step^2/12 per value plus the pruned
 * energy, from the channel's range, norm and pruning under `enc`'s settings) needs for
 * `target_rel_error` (relative L2); values already above stay. One pass over the data, no search
 * (docs/PERFORMANCE.md, "The learned part").
 *
 * Returns: ALCM_OK; `allocation` is rewritten only on success.
 * Errors: ALCM_ERR_NULL_POINTER (`enc`; `allocation` when `allocation_len` is not 0; tensor
 * pointers as for alcm_empirical_allocation), ALCM_ERR_INVALID_HANDLE (`enc`),
 * ALCM_ERR_INVALID_ARGUMENT (rank above ALCM_MAX_RANK, `allocation_len` is not the channel count,
 * a non-finite allocation, `target_rel_error` not finite and > 0, misaligned pointer),
 * ALCM_ERR_TOO_LARGE (the shape overflows or exceeds ALCM_MAX_ELEMENTS), ALCM_ERR_NON_FINITE
 * (NaN/Inf in the data).
 * Memory: the tensor is borrowed for the call; `allocation` is caller memory, read and written,
 * and must not overlap the tensor.
 * Threads: `enc` is only read: other threads may use the same handle at the same time in calls
 * that take it as `const`.
 */
alcm_status alcm_guard_channel_allocations(const struct alcm_encoder *enc,
                                           const float *data,
                                           size_t rank,
                                           const size_t *shape,
                                           double target_rel_error,
                                           double *allocation,
                                           size_t allocation_len);

/**
 * --------------------------------------------------------------------------------------------
 * SCHEDULER
 *
 * The compression scheduler moves the encoder's pruning threshold by the trend of the CAQ score
 * (compression ratio / (CPU seconds + 1)) over a window of recent steps: feed each step's CAQ to
 * alcm_scheduler_update and pass the returned threshold to alcm_encoder_set_threshold. Every call
 * that changes a scheduler needs exclusive access.
 *
 * --------------------------------------------------------------------------------------------
 *
 * Creates a scheduler. The original's values: initial_threshold 0.01, decay 0.95, window 5,
 * thresholds clipped to [0.001, 0.1]. Requires 0 < decay < 1, 2 <= window <= 2^20 (nothing is
 * reserved up front) and 0 < min_threshold <= initial_threshold <= max_threshold < 1.
 *
 * Returns: ALCM_OK; `*out` is written only on success.
 * Errors: ALCM_ERR_NULL_POINTER (`out`), ALCM_ERR_INVALID_ARGUMENT (`out` misaligned),
 * ALCM_ERR_INVALID_CONFIG (a value out of range; the message names it).
 * Memory: `*out` is owned by the caller: free it with alcm_scheduler_free.
 * Threads: any thread.
 */
alcm_status alcm_scheduler_new(double initial_threshold,
                               double decay,
                               size_t window,
                               double min_threshold,
                               double max_threshold,
                               struct alcm_scheduler **out);

/**
 * Feeds one CAQ score (finite, >= 0) and writes the new pruning threshold to `*threshold`.
 *
 * Returns: ALCM_OK; `*threshold` is written only on success. On error the state is unchanged.
 * Errors: ALCM_ERR_NULL_POINTER (`s`, `threshold`), ALCM_ERR_INVALID_HANDLE (`s`),
 * ALCM_ERR_INVALID_ARGUMENT (`caq` negative or not finite, `threshold` misaligned).
 * Threads: exclusive: no other call may use `s` during this call.
 */
alcm_status alcm_scheduler_update(struct alcm_scheduler *s, double caq, double *threshold);

/**
 * Writes the scheduler's state (step, threshold, mean CAQ and trend of the window) to `*out`.
 *
 * Returns: ALCM_OK; `*out` is written only on success.
 * Errors: ALCM_ERR_NULL_POINTER (`s`, `out`), ALCM_ERR_INVALID_HANDLE (`s`),
 * ALCM_ERR_INVALID_ARGUMENT (`out` misaligned).
 * Threads: `s` is only read: other threads may use the same handle at the same time in calls that
 * take it as `const`.
 */
alcm_status alcm_scheduler_stats(const struct alcm_scheduler *s, struct alcm_scheduler_info *out);

/**
 * Copies the window's CAQ scores (oldest first) into `out` (`out_len` doubles) and writes their
 * count to `*n`.
 *
 * Returns: ALCM_OK; outputs are written only on success.
 * Errors: ALCM_ERR_NULL_POINTER (`s`, `n`; `out` when `out_len` is not 0), ALCM_ERR_INVALID_HANDLE
 * (`s`), ALCM_ERR_INVALID_ARGUMENT (misaligned pointer), ALCM_ERR_TOO_LARGE (`out_len` beyond the
 * address space), ALCM_ERR_BUFFER_TOO_SMALL (`out_len` below the count, at most the window size).
 * Threads: `s` is only read: other threads may use the same handle at the same time in calls that
 * take it as `const`.
 */
alcm_status alcm_scheduler_window(const struct alcm_scheduler *s,
                                  double *out,
                                  size_t out_len,
                                  size_t *n);

/**
 * Copies the threshold history (one per update since creation or reset, oldest first) into `out`
 * (`out_len` doubles) and writes the count (= step) to `*n`.
 *
 * Returns: ALCM_OK; outputs are written only on success.
 * Errors: ALCM_ERR_NULL_POINTER (`s`, `n`; `out` when `out_len` is not 0), ALCM_ERR_INVALID_HANDLE
 * (`s`), ALCM_ERR_INVALID_ARGUMENT (misaligned pointer), ALCM_ERR_TOO_LARGE (`out_len` beyond the
 * address space), ALCM_ERR_BUFFER_TOO_SMALL (`out_len` below the count).
 * Threads: `s` is only read: other threads may use the same handle at the same time in calls that
 * take it as `const`.
 */
alcm_status alcm_scheduler_history(const struct alcm_scheduler *s,
                                   double *out,
                                   size_t out_len,
                                   size_t *n);

/**
 * Returns the scheduler to its initial threshold with an empty window and history.
 *
 * Returns: ALCM_OK.
 * Errors: ALCM_ERR_NULL_POINTER (`s`), ALCM_ERR_INVALID_HANDLE (`s`).
 * Threads: exclusive: no other call may use `s` during this call.
 */
alcm_status alcm_scheduler_reset(struct alcm_scheduler *s);

/**
 * Frees a scheduler. NULL is a no-op; a handle that is not a live scheduler is left alone.
 *
 * Memory: `s` is NULL or a handle from alcm_scheduler_new, freed once and not used afterwards.
 * Threads: any thread, once no other call uses `s`.
 */
void alcm_scheduler_free(struct alcm_scheduler *s);

/**
 * --------------------------------------------------------------------------------------------
 * STATISTICS AND METRICS
 *
 * The tensor statistics the predictor reads (mean, variance, std, skew, kurtosis, sparsity; whole
 * tensor or per channel, a channel being a slice along the first axis), the reconstruction error
 * of a decoded tensor, and the CAQ score and run-to-run variance of the original experiment.
 * Functions without a handle: all are thread-safe.
 *
 * --------------------------------------------------------------------------------------------
 *
 * Statistics of a whole tensor (any shape, flattened). `data` holds the product of
 * `shape[0..rank]` floats, C-contiguous; `rank` is at most ALCM_MAX_RANK; `shape` may be NULL only
 * when `rank` is 0 (a scalar); `data` may be NULL only when the tensor has no elements. An empty
 * tensor gives all fields 0 and `std` 1e-8; NaN/Inf propagate into the moments.
 *
 * Returns: ALCM_OK; `*out` is written only on success.
 * Errors: ALCM_ERR_NULL_POINTER (`out`; `shape`, `data` as above), ALCM_ERR_INVALID_ARGUMENT (rank
 * above ALCM_MAX_RANK, misaligned pointer), ALCM_ERR_TOO_LARGE (the shape overflows or exceeds
 * ALCM_MAX_ELEMENTS).
 * Memory: the tensor is borrowed for the call.
 * Threads: any thread.
 */
alcm_status alcm_tensor_stats(const float *data,
                              size_t rank,
                              const size_t *shape,
                              struct alcm_stats *out);

/**
 * The number of channels statistics are computed for: the first dimension other than 1 when
 * at least two dimensions are other than 1, else 1 (a scalar or vector, also `(N, 1)`,
 * `(1, N)`, `(N, 1, 1)`), 0 for a tensor without elements.
 *
 * Returns: ALCM_OK; `*n_channels_out` is written only on success.
 * Errors: ALCM_ERR_INVALID_ARGUMENT (rank above ALCM_MAX_RANK; checked first; misaligned pointer),
 * ALCM_ERR_NULL_POINTER (`n_channels_out`; `shape` when `rank` is not 0), ALCM_ERR_TOO_LARGE (the
 * shape's product overflows size_t).
 * Memory: `shape` is borrowed for the call.
 * Threads: any thread.
 */
alcm_status alcm_channel_count(size_t rank, const size_t *shape, size_t *n_channels_out);

/**
 * Statistics of each channel (slices along the first axis other than 1; see
 * `alcm_channel_count`).
 *
 * Returns: ALCM_OK; `out[0..n]` holds the statistics and `*n_channels_out` the channel count `n`.
 * Size query, the one exception to "outputs only on success": when `out_len < n`, nothing is
 * written to `out`, `*n_channels_out` is set to `n` and ALCM_ERR_BUFFER_TOO_SMALL is returned, so
 * alcm_channel_stats(data, rank, shape, NULL, 0, &n) asks for the count (alcm_channel_count gives
 * it without data). Other errors write nothing.
 * Errors: ALCM_ERR_NULL_POINTER (`n_channels_out`; `out` when `out_len` is not 0; `shape`, `data`
 * as for alcm_tensor_stats), ALCM_ERR_INVALID_ARGUMENT (rank above ALCM_MAX_RANK, misaligned
 * pointer), ALCM_ERR_TOO_LARGE (the shape overflows or exceeds ALCM_MAX_ELEMENTS; `out_len` beyond
 * the address space), ALCM_ERR_BUFFER_TOO_SMALL (the size query above).
 * Memory: the tensor is borrowed for the call; `out` is caller memory.
 * Threads: any thread.
 */
alcm_status alcm_channel_stats(const float *data,
                               size_t rank,
                               const size_t *shape,
                               struct alcm_stats *out,
                               size_t out_len,
                               size_t *n_channels_out);

/**
 * The reconstruction error of `reconstructed` against `original` (both `n` floats): MSE, MAE,
 * relative L2, max abs, PSNR, SNR.
 *
 * Returns: ALCM_OK; `*out` is written only on success.
 * Errors: ALCM_ERR_NULL_POINTER (`out`; the arrays when `n` is not 0), ALCM_ERR_INVALID_ARGUMENT
 * (misaligned pointer), ALCM_ERR_TOO_LARGE (`n` beyond the address space).
 * Memory: both arrays are borrowed for the call.
 * Threads: any thread.
 */
alcm_status alcm_error_metrics(const float *original,
                               const float *reconstructed,
                               size_t n,
                               struct alcm_metrics *out);

/**
 * The Compression-Accuracy Quotient: compression_ratio / (cpu_seconds + 1).
 *
 * Returns: ALCM_OK; `*out` is written only on success.
 * Errors: ALCM_ERR_NULL_POINTER (`out`), ALCM_ERR_INVALID_ARGUMENT (`compression_ratio` not finite
 * and > 0, `cpu_seconds` not finite and >= 0, `out` misaligned).
 * Threads: any thread.
 */
alcm_status alcm_caq(double compression_ratio, double cpu_seconds, double *out);

/**
 * Run-to-run variance in percent, (max - min) / mean * 100, over `n` values.
 *
 * Returns: ALCM_OK; `*out` is written only on success.
 * Errors: ALCM_ERR_NULL_POINTER (`out`; `values` when `n` is not 0), ALCM_ERR_INVALID_ARGUMENT
 * (`n` is 0, a non-finite value, a mean not > 0, misaligned pointer), ALCM_ERR_TOO_LARGE (`n`
 * beyond the address space).
 * Memory: `values` is borrowed for the call.
 * Threads: any thread.
 */
alcm_status alcm_variance_percent(const double *values, size_t n, double *out);

/**
 * --------------------------------------------------------------------------------------------
 * COMPRESSED COLLECTIVES
 *
 * A compressed reduce-scatter + all-gather whose bytes per rank stay flat as ranks grow; the
 * caller moves the bytes (MPI_Alltoallv + MPI_Allgatherv, gloo, NCCL). Per step, on rank r of N,
 * for each tensor: (1) for every j, alcm_exchange_compress_shard(j) and send the message to rank
 * j; (2) zero a buffer of alcm_exchange_shard(r) values and alcm_exchange_accumulate every message
 * received (scale 1/N for the mean); (3) alcm_exchange_compress_reduced that buffer and all-gather
 * the message; (4) alcm_exchange_decode_shard(j) every gathered message into the full tensor. Both
 * stages carry an error-feedback residual; alcm_exchange_save_residuals puts them in an
 * alcm_residual_store for a checkpoint.
 *
 * The exchange's messages are codec frames without what every rank's state already knows (shape,
 * element type; docs/FORMAT.md, "Exchange messages"): about 15 bytes of framing instead of about
 * 90. They are not alcm frames (alcm_decompress refuses them): decode them with this exchange's
 * functions. Messages concatenate; alcm_exchange_message_len splits such a buffer again.
 *
 * --------------------------------------------------------------------------------------------
 *
 * Creates the state of rank `this_rank` of `ranks` for tensors of `shape` (zero residuals). The
 * first axis is split into at most `ranks` row-aligned shards of at least `min_shard_values`
 * values each (0 or 1: no minimum), as even as rows allow (the first ones one row longer); the
 * non-empty shards go to consecutive ranks starting at `first_rank` (modulo `ranks`), the
 * other ranks' shards are empty. A minimum of a few thousand values keeps small tensors from
 * being cut into frames that are mostly header (a frame costs about 100 bytes); give every
 * tensor of a model its own `first_rank` (e.g. its index) to spread them. Every rank must
 * pass the same shape, `ranks`, `min_shard_values` and `first_rank`.
 *
 * Returns: ALCM_OK; `*out` is written only on success.
 * Errors: ALCM_ERR_INVALID_ARGUMENT (rank above ALCM_MAX_RANK, `ranks` 0, `this_rank` not below
 * `ranks`, a shape whose size overflows, misaligned pointer), ALCM_ERR_NULL_POINTER (`out`;
 * `shape` when `rank` is not 0), ALCM_ERR_TOO_LARGE (more than ALCM_MAX_ELEMENTS values or the
 * residuals cannot be allocated).
 * Memory: `shape` is borrowed for the call. `*out` (about 8 bytes per value of the shape) is owned
 * by the caller: free it with alcm_exchange_free.
 * Threads: any thread.
 */
alcm_status alcm_exchange_new(size_t rank,
                              const size_t *shape,
                              size_t ranks,
                              size_t this_rank,
                              size_t min_shard_values,
                              size_t first_rank,
                              struct alcm_exchange **out);

/**
 * The values of shard `j` in the full tensor (C order): `*offset` and `*count`.
 *
 * Returns: ALCM_OK; `*offset` and `*count` are written only on success.
 * Errors: ALCM_ERR_NULL_POINTER (`ex`, `offset`, `count`), ALCM_ERR_INVALID_HANDLE (`ex`),
 * ALCM_ERR_INVALID_ARGUMENT (`j` not below the rank count, misaligned pointer).
 * Threads: `ex` is only read: other threads may use it at the same time in calls that take it as
 * `const`.
 */
alcm_status alcm_exchange_shard(const struct alcm_exchange *ex,
                                size_t j,
                                size_t *offset,
                                size_t *count);

/**
 * Stage 1: compresses shard `j` of `gradient` (the full tensor, `n_values` floats) plus its
 * residual with `enc` into a message in `dst`, for rank `j`, and keeps the new residual.
 * `dst_capacity` must be at least alcm_compress_bound of the shard's value count. An empty shard
 * has no message: `*dst_len` is 0 (send nothing) and `*report` is zeroed.
 *
 * Returns: ALCM_OK; the message is in `dst[0..*dst_len]`, `*report` (if non-NULL) describes it
 * (its sizes, ratio and CAQ are the message's). On
 * error the residual is unchanged and nothing is written.
 * Errors: ALCM_ERR_NULL_POINTER (`ex`, `enc`, `dst_len`; `gradient`, `dst` when their length is
 * not 0), ALCM_ERR_INVALID_HANDLE (`ex`, `enc`), ALCM_ERR_INVALID_ARGUMENT (`n_values` is not the
 * tensor's value count, `j` not below the rank count, misaligned pointer),
 * ALCM_ERR_BUFFER_TOO_SMALL (`dst_capacity` below the bound; checked before any work),
 * ALCM_ERR_NON_FINITE (NaN/Inf with the refuse policy), ALCM_ERR_TIMEOUT.
 * Memory: inputs are borrowed for the call; `dst` must not overlap them.
 * Threads: exclusive use of `ex`; `enc` is only read and may be shared.
 */
alcm_status alcm_exchange_compress_shard(struct alcm_exchange *ex,
                                         const struct alcm_encoder *enc,
                                         const float *gradient,
                                         size_t n_values,
                                         size_t j,
                                         uint8_t *dst,
                                         size_t dst_capacity,
                                         size_t *dst_len,
                                         struct alcm_report *report);

/**
 * As alcm_exchange_compress_shard, with a bit allocation for `ALCM_MODE_ADAPTIVE`:
 * `allocation_len` values, one per channel of shard `j` (the channels of a tensor of the shard's
 * shape: the full shape with the first axis cut to the shard's rows; predict them on the shard,
 * e.g. alcm_predictor_predict_channels). `allocation_len` 0: as alcm_exchange_compress_shard.
 *
 * Returns: ALCM_OK; the message is in `dst[0..*dst_len]`, `*report` (if non-NULL) describes it.
 * On error the residual is unchanged and nothing is written.
 * Errors: those of alcm_exchange_compress_shard, and ALCM_ERR_NULL_POINTER (`allocation` when
 * `allocation_len` is not 0), ALCM_ERR_INVALID_ARGUMENT (allocation as for alcm_encoder_compress).
 * Memory: inputs are borrowed for the call; `dst` must not overlap them.
 * Threads: exclusive use of `ex`; `enc` is only read and may be shared.
 */
alcm_status alcm_exchange_compress_shard_allocated(struct alcm_exchange *ex,
                                                   const struct alcm_encoder *enc,
                                                   const float *gradient,
                                                   size_t n_values,
                                                   size_t j,
                                                   const double *allocation,
                                                   size_t allocation_len,
                                                   uint8_t *dst,
                                                   size_t dst_capacity,
                                                   size_t *dst_len,
                                                   struct alcm_report *report);

/**
 * Stage 1, receiving side: `out[i] += scale * decode(frame)[i]`, where `frame` is one message
 * of alcm_exchange_compress_shard for this rank and `out` is this rank's shard (`out_len` = the
 * count of alcm_exchange_shard(this rank)). A lossy frame of the rank-1 model (the usual one) is
 * summed as it decodes; any other frame is decoded into one scratch buffer the state keeps and
 * reuses, then added in one pass; the sum is the same either way. When this rank's shard is
 * empty, `frame_len` must be 0 and nothing happens.
 *
 * Returns: ALCM_OK. On error `out` is unchanged, except for a frame that passes its checksum
 * but is malformed (crafted, not damaged in transit): then `out` may be partly summed.
 * Errors: ALCM_ERR_NULL_POINTER (`ex`; `frame`, `out` when their length is not 0),
 * ALCM_ERR_INVALID_HANDLE (`ex`), ALCM_ERR_INVALID_ARGUMENT (`out_len` is not the shard's count,
 * a message of fewer values, `scale` not finite, misaligned pointer), ALCM_ERR_BUFFER_TOO_SMALL (a
 * message of more values), ALCM_ERR_TRUNCATED, ALCM_ERR_CORRUPT, ALCM_ERR_CHECKSUM (a damaged
 * message), and every error of alcm_decompress for a bad frame inside it.
 * Memory: inputs are borrowed for the call; `out` must not overlap `frame`.
 * Threads: exclusive use of `ex`.
 */
alcm_status alcm_exchange_accumulate(struct alcm_exchange *ex,
                                     const uint8_t *frame,
                                     size_t frame_len,
                                     float scale,
                                     float *out,
                                     size_t out_len);

/**
 * Stage 2: compresses this rank's reduced shard (`n_values` floats, the shard's count) plus the
 * second residual with `enc` into a message in `dst`, for the all-gather, and keeps the new
 * residual. When this rank's shard is empty, `*dst_len` is 0 (nothing to gather) and `*report`
 * is zeroed.
 *
 * Returns: ALCM_OK; the message is in `dst[0..*dst_len]`, `*report` (if non-NULL) describes it
 * (its sizes, ratio and CAQ are the message's). On
 * error the residual is unchanged and nothing is written.
 * Errors: ALCM_ERR_NULL_POINTER (`ex`, `enc`, `dst_len`; `reduced`, `dst` when their length is
 * not 0), ALCM_ERR_INVALID_HANDLE (`ex`, `enc`), ALCM_ERR_INVALID_ARGUMENT (`n_values` is not this
 * rank's shard count, misaligned pointer), ALCM_ERR_BUFFER_TOO_SMALL (`dst_capacity` below the
 * bound; checked before any work), ALCM_ERR_NON_FINITE (NaN/Inf with the refuse policy),
 * ALCM_ERR_TIMEOUT.
 * Memory: inputs are borrowed for the call; `dst` must not overlap them.
 * Threads: exclusive use of `ex`; `enc` is only read and may be shared.
 */
alcm_status alcm_exchange_compress_reduced(struct alcm_exchange *ex,
                                           const struct alcm_encoder *enc,
                                           const float *reduced,
                                           size_t n_values,
                                           uint8_t *dst,
                                           size_t dst_capacity,
                                           size_t *dst_len,
                                           struct alcm_report *report);

/**
 * As alcm_exchange_compress_reduced, with a bit allocation for `ALCM_MODE_ADAPTIVE`:
 * `allocation_len` values, one per channel of this rank's shard (predict them on the reduced
 * shard). `allocation_len` 0: as alcm_exchange_compress_reduced.
 *
 * Returns: ALCM_OK; the message is in `dst[0..*dst_len]`, `*report` (if non-NULL) describes it.
 * On error the residual is unchanged and nothing is written.
 * Errors: those of alcm_exchange_compress_reduced, and ALCM_ERR_NULL_POINTER (`allocation` when
 * `allocation_len` is not 0), ALCM_ERR_INVALID_ARGUMENT (allocation as for alcm_encoder_compress).
 * Memory: inputs are borrowed for the call; `dst` must not overlap them.
 * Threads: exclusive use of `ex`; `enc` is only read and may be shared.
 */
alcm_status alcm_exchange_compress_reduced_allocated(struct alcm_exchange *ex,
                                                     const struct alcm_encoder *enc,
                                                     const float *reduced,
                                                     size_t n_values,
                                                     const double *allocation,
                                                     size_t allocation_len,
                                                     uint8_t *dst,
                                                     size_t dst_capacity,
                                                     size_t *dst_len,
                                                     struct alcm_report *report);

/**
 * Stage 2, receiving side: decodes the message of rank `j`'s reduced shard (from its
 * alcm_exchange_compress_reduced; a stage-1 message for shard `j` decodes too) into its place in
 * `out`, the full tensor (`out_len` = the tensor's value count); the rest of `out` is not
 * touched. An empty shard has an empty message (`frame_len` 0).
 *
 * Returns: ALCM_OK. On error the shard's part of `out` is unspecified.
 * Errors: ALCM_ERR_NULL_POINTER (`ex`; `frame`, `out` when their length is not 0),
 * ALCM_ERR_INVALID_HANDLE (`ex`), ALCM_ERR_INVALID_ARGUMENT (`out_len` is not the tensor's count,
 * `j` not below the rank count, a message of fewer values than the shard, misaligned pointer),
 * ALCM_ERR_BUFFER_TOO_SMALL (a message of more values), ALCM_ERR_TRUNCATED, ALCM_ERR_CORRUPT,
 * ALCM_ERR_CHECKSUM (a damaged message), and every error of alcm_decompress.
 * Memory: inputs are borrowed for the call; `out` must not overlap `frame`.
 * Threads: `ex` is only read: other threads may use it at the same time in calls that take it as
 * `const`.
 */
alcm_status alcm_exchange_decode_shard(const struct alcm_exchange *ex,
                                       const uint8_t *frame,
                                       size_t frame_len,
                                       size_t j,
                                       float *out,
                                       size_t out_len);

/**
 * The length of the exchange message at the start of `bytes` (`len` bytes, which may hold more
 * messages after it): a transport that concatenates the messages of several tensors for one
 * peer splits them with it.
 *
 * Returns: ALCM_OK; `*message_len` (at most `len`) is written only on success.
 * Errors: ALCM_ERR_NULL_POINTER (`message_len`; `bytes` when `len` is not 0),
 * ALCM_ERR_TRUNCATED (`bytes` ends inside the message), ALCM_ERR_CORRUPT (a bad length prefix),
 * ALCM_ERR_INVALID_ARGUMENT (misaligned pointer).
 * Memory: `bytes` is borrowed for the call.
 * Threads: any thread.
 */
alcm_status alcm_exchange_message_len(const uint8_t *bytes, size_t len, size_t *message_len);

/**
 * Puts every residual of `ex` into `store` under `name/scatter/<j>` and `name/gather` (`name` is
 * the tensor's name, e.g. "fc1.weight"), replacing entries of those names.
 *
 * Returns: ALCM_OK.
 * Errors: ALCM_ERR_NULL_POINTER (`ex`, `name`, `store`), ALCM_ERR_INVALID_HANDLE (`ex`, `store`),
 * ALCM_ERR_INVALID_UTF8 (`name`), ALCM_ERR_INVALID_ARGUMENT (an empty name or one over 1000
 * bytes), ALCM_ERR_TOO_LARGE (the store is full: 2^20 entries).
 * Memory: `name` is borrowed for the call; the store keeps copies of the residuals.
 * Threads: `ex` is only read; exclusive use of `store`.
 */
alcm_status alcm_exchange_save_residuals(const struct alcm_exchange *ex,
                                         const char *name,
                                         struct alcm_residual_store *store);

/**
 * Restores every residual of `ex` from the entries alcm_exchange_save_residuals wrote under
 * `name`. A missing entry (a renamed tensor) or one of another shape (another rank count) is an
 * error naming the entry, and then `ex` is unchanged: never a silent reset.
 *
 * Returns: ALCM_OK.
 * Errors: ALCM_ERR_NULL_POINTER (`ex`, `name`, `store`), ALCM_ERR_INVALID_HANDLE (`ex`, `store`),
 * ALCM_ERR_INVALID_UTF8 (`name`), ALCM_ERR_INVALID_ARGUMENT (missing entry or wrong shape).
 * Memory: `name` is borrowed for the call; `ex` gets copies of the residuals.
 * Threads: exclusive use of `ex`; `store` is only read.
 */
alcm_status alcm_exchange_load_residuals(struct alcm_exchange *ex,
                                         const char *name,
                                         const struct alcm_residual_store *store);

/**
 * Frees exchange state. NULL is a no-op; a handle that is not live state is left alone.
 *
 * Memory: `ex` is NULL or a handle from alcm_exchange_new, freed once and not used afterwards.
 * Threads: any thread, once no other call uses `ex`.
 */
void alcm_exchange_free(struct alcm_exchange *ex);

/**
 * Creates an empty residual store.
 *
 * Returns: ALCM_OK; `*out` is written only on success.
 * Errors: ALCM_ERR_NULL_POINTER (`out`), ALCM_ERR_INVALID_ARGUMENT (`out` misaligned).
 * Memory: `*out` is owned by the caller: free it with alcm_residual_store_free.
 * Threads: any thread.
 */
alcm_status alcm_residual_store_new(struct alcm_residual_store **out);

/**
 * The number of entries of `store` in `*count`.
 *
 * Returns: ALCM_OK; `*count` is written only on success.
 * Errors: ALCM_ERR_NULL_POINTER (`store`, `count`), ALCM_ERR_INVALID_HANDLE (`store`),
 * ALCM_ERR_INVALID_ARGUMENT (`count` misaligned).
 * Threads: `store` is only read.
 */
alcm_status alcm_residual_store_len(const struct alcm_residual_store *store, size_t *count);

/**
 * Saves the store (every name and residual, checksummed) to `path` atomically (temporary file in
 * the same directory, then rename).
 *
 * Returns: ALCM_OK.
 * Errors: ALCM_ERR_NULL_POINTER (`store`, `path`), ALCM_ERR_INVALID_HANDLE (`store`),
 * ALCM_ERR_INVALID_UTF8 (`path`), ALCM_ERR_INVALID_ARGUMENT (empty `path`, or one that names no
 * file), ALCM_ERR_IO (writing or renaming failed).
 * Memory: `path` is borrowed for the call.
 * Threads: `store` is only read.
 */
alcm_status alcm_residual_store_save(const struct alcm_residual_store *store, const char *path);

/**
 * Loads a store saved by alcm_residual_store_save.
 *
 * Returns: ALCM_OK; `*out` is written only on success.
 * Errors: ALCM_ERR_NULL_POINTER (`path`, `out`), ALCM_ERR_INVALID_UTF8 (`path`),
 * ALCM_ERR_INVALID_ARGUMENT (empty `path`, `out` misaligned), ALCM_ERR_IO (the file cannot be
 * read or is not a regular file), ALCM_ERR_TOO_LARGE (a file over 16 GiB, checked before
 * reading), ALCM_ERR_BAD_MAGIC (not a residual store), ALCM_ERR_CHECKSUM (the file was altered or
 * cut), ALCM_ERR_FORMAT_VERSION (a newer store version), ALCM_ERR_INVALID_MODEL (inconsistent
 * under a valid checksum).
 * Memory: `path` is borrowed for the call. `*out` is owned by the caller: free it with
 * alcm_residual_store_free.
 * Threads: any thread.
 */
alcm_status alcm_residual_store_load(const char *path, struct alcm_residual_store **out);

/**
 * Stores a copy of the residual of `fb` (an alcm_feedback of any tensor) in `store` under
 * `name`, replacing an entry of that name: the way to checkpoint per-tensor error feedback.
 *
 * Returns: ALCM_OK.
 * Errors: ALCM_ERR_NULL_POINTER (`store`, `name`, `fb`), ALCM_ERR_INVALID_HANDLE (`store`, `fb`),
 * ALCM_ERR_INVALID_UTF8 (`name`), ALCM_ERR_INVALID_ARGUMENT (an empty name or one over 1024
 * bytes), ALCM_ERR_TOO_LARGE (the store is full: 2^20 entries).
 * Memory: `name` is borrowed for the call; the store keeps its own copy.
 * Threads: exclusive use of `store`; `fb` is only read.
 */
alcm_status alcm_residual_store_put(struct alcm_residual_store *store,
                                    const char *name,
                                    const struct alcm_feedback *fb);

/**
 * A new alcm_feedback holding a copy of the entry `name` of `store` (shape and residual).
 * A missing name is an error that names it: never a silent zero residual.
 *
 * Returns: ALCM_OK; `*out` is written only on success.
 * Errors: ALCM_ERR_NULL_POINTER (`store`, `name`, `out`), ALCM_ERR_INVALID_HANDLE (`store`),
 * ALCM_ERR_INVALID_UTF8 (`name`), ALCM_ERR_INVALID_ARGUMENT (no entry `name`, `out` misaligned).
 * Memory: `name` is borrowed for the call. `*out` is owned by the caller: free it with
 * alcm_feedback_free.
 * Threads: `store` is only read.
 */
alcm_status alcm_residual_store_get(const struct alcm_residual_store *store,
                                    const char *name,
                                    struct alcm_feedback **out);

/**
 * Frees a residual store. NULL is a no-op; a handle that is not a live store is left alone.
 *
 * Memory: `store` is NULL or a handle from alcm_residual_store_new / alcm_residual_store_load,
 * freed once and not used afterwards.
 * Threads: any thread, once no other call uses `store`.
 */
void alcm_residual_store_free(struct alcm_residual_store *store);

/**
 * LOW-RANK COMPRESSION (part of the compressed collectives)
 *
 * PowerSGD-style compression of a `rows x cols` gradient on each of N ranks, the factors P
 * (`rows x rank`) and Q (`cols x rank`) coded as frames at relative L2 error `factor_target`.
 * The caller moves the bytes; per step: (1) alcm_lowrank_begin gives the P frame: all-gather
 * it, decode every rank's frame and sum them in rank order (every rank the same sum);
 * (2) alcm_lowrank_after_p with that sum gives the Q frame: all-gather and sum the same way;
 * (3) alcm_lowrank_finish with that sum and scale 1/N writes the mean gradient's approximation
 * and keeps the residual and the warm start. Tensors for which alcm_lowrank_pays says 0
 * (biases, conv kernels, small matrices) go through an ordinary mode instead.
 *
 * Sets `*out` to 1 when low rank pays for a `rows x cols` matrix at `rank`
 * (`rows*cols >= min_compression * rank * (rows + cols)`, both dimensions non-zero), else 0.
 *
 * Returns: ALCM_OK; `*out` is written only on success.
 * Errors: ALCM_ERR_NULL_POINTER (`out`), ALCM_ERR_INVALID_ARGUMENT (`out` misaligned).
 * Threads: any thread.
 */
alcm_status alcm_lowrank_pays(size_t rows,
                              size_t cols,
                              size_t rank,
                              double min_compression,
                              uint32_t *out);

/**
 * Creates the state for `rows x cols` gradients: factors of rank `rank` coded at relative L2
 * error `factor_target` (in (0, 1)); error feedback when `feedback` is non-zero; the first Q
 * drawn from `seed`. Every rank must pass the same arguments.
 *
 * Returns: ALCM_OK; `*out` is written only on success.
 * Errors: ALCM_ERR_NULL_POINTER (`out`), ALCM_ERR_INVALID_ARGUMENT (low rank does not pay for
 * the shape, see alcm_lowrank_pays; `out` misaligned), ALCM_ERR_INVALID_CONFIG (`rank` 0,
 * `factor_target` outside (0, 1), `min_compression` below 1 or not finite),
 * ALCM_ERR_TOO_LARGE (the state cannot be allocated).
 * Memory: `*out` (about 8 bytes per value of the matrix) is owned by the caller: free it with
 * alcm_lowrank_free.
 * Threads: any thread.
 */
alcm_status alcm_lowrank_new(size_t rows,
                             size_t cols,
                             size_t rank,
                             double factor_target,
                             double min_compression,
                             uint32_t feedback,
                             uint64_t seed,
                             struct alcm_lowrank **out);

/**
 * The value counts of a P factor (`rows * rank`) and of a Q factor (`cols * rank`): the sums
 * passed to alcm_lowrank_after_p and alcm_lowrank_finish, and (through alcm_compress_bound)
 * the frame buffers of alcm_lowrank_begin and alcm_lowrank_after_p.
 *
 * Returns: ALCM_OK; `*p_len` and `*q_len` are written only on success.
 * Errors: ALCM_ERR_NULL_POINTER (`lr`, `p_len`, `q_len`), ALCM_ERR_INVALID_HANDLE (`lr`),
 * ALCM_ERR_INVALID_ARGUMENT (misaligned pointer).
 * Threads: `lr` is only read: other threads may use it at the same time in calls that take it
 * as `const`.
 */
alcm_status alcm_lowrank_sizes(const struct alcm_lowrank *lr, size_t *p_len, size_t *q_len);

/**
 * Round 1: adds the residual to `gradient` (`n_values` = rows*cols floats, C order), and
 * writes the frame of its P factor to `dst` (`dst_capacity` at least alcm_compress_bound of
 * the P value count). Starts a new step (one left unfinished is dropped).
 *
 * Returns: ALCM_OK; the frame is in `dst[0..*dst_len]`. On error nothing changes.
 * Errors: ALCM_ERR_NULL_POINTER (`lr`, `dst_len`; `gradient`, `dst` when their length is not
 * 0), ALCM_ERR_INVALID_HANDLE (`lr`), ALCM_ERR_INVALID_ARGUMENT (`n_values` is not rows*cols,
 * misaligned pointer), ALCM_ERR_BUFFER_TOO_SMALL (`dst_capacity` below the bound; checked
 * before any work), ALCM_ERR_NON_FINITE (NaN or Inf in the gradient).
 * Memory: inputs are borrowed for the call; `dst` must not overlap them.
 * Threads: exclusive use of `lr`.
 */
alcm_status alcm_lowrank_begin(struct alcm_lowrank *lr,
                               const float *gradient,
                               size_t n_values,
                               uint8_t *dst,
                               size_t dst_capacity,
                               size_t *dst_len);

/**
 * Round 2: `p_sum` (`n_values` = the P value count) is the sum, in rank order, of every
 * rank's decoded P frame; orthonormalises it and writes the frame of this rank's Q factor to
 * `dst` (`dst_capacity` at least alcm_compress_bound of the Q value count).
 *
 * Returns: ALCM_OK; the frame is in `dst[0..*dst_len]`. On error nothing changes.
 * Errors: ALCM_ERR_NULL_POINTER (`lr`, `dst_len`; `p_sum`, `dst` when their length is not 0),
 * ALCM_ERR_INVALID_HANDLE (`lr`), ALCM_ERR_INVALID_ARGUMENT (not after alcm_lowrank_begin,
 * wrong `n_values`, NaN or Inf in `p_sum`, misaligned pointer), ALCM_ERR_BUFFER_TOO_SMALL
 * (`dst_capacity` below the bound; checked before any work).
 * Memory: inputs are borrowed for the call; `dst` must not overlap them.
 * Threads: exclusive use of `lr`.
 */
alcm_status alcm_lowrank_after_p(struct alcm_lowrank *lr,
                                 const float *p_sum,
                                 size_t n_values,
                                 uint8_t *dst,
                                 size_t dst_capacity,
                                 size_t *dst_len);

/**
 * Last step: `q_sum` (`n_values` = the Q value count) is the sum, in rank order, of every
 * rank's decoded Q frame; writes `scale * P Q^T` to `out` (`out_len` = rows*cols; scale 1/N
 * for the mean over N ranks), updates the residual and keeps `q_sum` as the next warm start.
 *
 * Returns: ALCM_OK. On error nothing changes and `out` is not written.
 * Errors: ALCM_ERR_NULL_POINTER (`lr`; `q_sum`, `out` when their length is not 0),
 * ALCM_ERR_INVALID_HANDLE (`lr`), ALCM_ERR_INVALID_ARGUMENT (not after alcm_lowrank_after_p,
 * wrong `n_values` or `out_len`, `scale` or `q_sum` not finite, misaligned pointer).
 * Memory: inputs are borrowed for the call; `out` must not overlap them.
 * Threads: exclusive use of `lr`.
 */
alcm_status alcm_lowrank_finish(struct alcm_lowrank *lr,
                                const float *q_sum,
                                size_t n_values,
                                float scale,
                                float *out,
                                size_t out_len);

/**
 * Copies the warm-start Q (`cols x rank`, C order; `len` = the Q value count) to `out`, for
 * a checkpoint.
 *
 * Returns: ALCM_OK.
 * Errors: ALCM_ERR_NULL_POINTER (`lr`; `out` when `len` is not 0), ALCM_ERR_INVALID_HANDLE
 * (`lr`), ALCM_ERR_INVALID_ARGUMENT (`len` is not the Q value count, misaligned pointer).
 * Threads: `lr` is only read: other threads may use it at the same time in calls that take it
 * as `const`.
 */
alcm_status alcm_lowrank_get_q(const struct alcm_lowrank *lr, float *out, size_t len);

/**
 * Restores a warm-start Q saved with alcm_lowrank_get_q (cancels a step in progress).
 *
 * Returns: ALCM_OK. On error nothing changes.
 * Errors: ALCM_ERR_NULL_POINTER (`lr`; `q` when `len` is not 0), ALCM_ERR_INVALID_HANDLE
 * (`lr`), ALCM_ERR_INVALID_ARGUMENT (`len` is not the Q value count, NaN or Inf, misaligned
 * pointer).
 * Memory: `q` is borrowed for the call.
 * Threads: exclusive use of `lr`.
 */
alcm_status alcm_lowrank_set_q(struct alcm_lowrank *lr, const float *q, size_t len);

/**
 * Copies the residual (rows*cols values, C order; 0 values when the state has no error
 * feedback) to `out` (`len` values), for a checkpoint.
 *
 * Returns: ALCM_OK.
 * Errors: ALCM_ERR_NULL_POINTER (`lr`; `out` when `len` is not 0), ALCM_ERR_INVALID_HANDLE
 * (`lr`), ALCM_ERR_INVALID_ARGUMENT (`len` is not the residual's length, misaligned pointer).
 * Threads: `lr` is only read: other threads may use it at the same time in calls that take it
 * as `const`.
 */
alcm_status alcm_lowrank_get_residual(const struct alcm_lowrank *lr, float *out, size_t len);

/**
 * Restores a residual saved with alcm_lowrank_get_residual (cancels a step in progress).
 *
 * Returns: ALCM_OK. On error nothing changes.
 * Errors: ALCM_ERR_NULL_POINTER (`lr`; `residual` when `len` is not 0),
 * ALCM_ERR_INVALID_HANDLE (`lr`), ALCM_ERR_INVALID_ARGUMENT (`len` is not the residual's
 * length, NaN or Inf, misaligned pointer).
 * Memory: `residual` is borrowed for the call.
 * Threads: exclusive use of `lr`.
 */
alcm_status alcm_lowrank_set_residual(struct alcm_lowrank *lr, const float *residual, size_t len);

/**
 * Frees low-rank state. NULL is a no-op; a handle that is not live state is left alone.
 *
 * Memory: `lr` is NULL or a handle from alcm_lowrank_new, freed once and not used afterwards.
 * Threads: any thread, once no other call uses `lr`.
 */
void alcm_lowrank_free(struct alcm_lowrank *lr);

/**
 * --------------------------------------------------------------------------------------------
 * ARCHIVES
 *
 * Many named tensors in one file (docs/FORMAT.md, "Archive"): alcm_archive_open reads the
 * index, alcm_archive_count / _name / _info list it, alcm_archive_read and _read_rows decode
 * one tensor or a row range of it (reading only its blocks). alcm_archive_writer_new,
 * _add (one tensor at a time, each with its mode and bound) and _finish write one. Element
 * types are archive dtype ids: 1 float32, 2 bfloat16, 3 float16, 4 float64 (ALCM_DTYPE_*),
 * 16-19 int8..int64, 20-23 uint8..uint64, 24 bool, 32 float8 e5m2, 33 float8 e4m3.
 *
 * --------------------------------------------------------------------------------------------
 *
 * Opens the archive file at `path` and reads its index (nothing else); reads decode on up to
 * `threads` threads (1..ALCM_MAX_THREADS), the values do not depend on it.
 *
 * Returns: ALCM_OK; `*out` is written only on success.
 * Errors: ALCM_ERR_NULL_POINTER (`path`, `out`), ALCM_ERR_INVALID_UTF8 (`path`),
 * ALCM_ERR_INVALID_ARGUMENT (empty `path`, `threads` out of range), ALCM_ERR_IO (the file
 * cannot be opened or read), ALCM_ERR_TRUNCATED, ALCM_ERR_CORRUPT, ALCM_ERR_CHECKSUM,
 * ALCM_ERR_TOO_LARGE (a damaged or hostile index: bad magic or version, index CRC, counts,
 * duplicate names, overlapping blocks).
 * Memory: `path` is borrowed for the call. `*out` is owned by the caller: free it with
 * alcm_archive_free.
 * Threads: any thread.
 */
alcm_status alcm_archive_open(const char *path, uint32_t threads, struct alcm_archive **out);

/**
 * Frees an archive (closes its file). NULL is a no-op; a handle that is not a live archive is
 * left alone.
 *
 * Memory: `archive` is NULL or a handle from alcm_archive_open, freed once and not used
 * afterwards.
 * Threads: any thread, once no other call uses `archive`.
 */
void alcm_archive_free(struct alcm_archive *archive);

/**
 * The number of tensors in the archive.
 *
 * Returns: ALCM_OK; `*count` is written only on success.
 * Errors: ALCM_ERR_NULL_POINTER (`archive`, `count`), ALCM_ERR_INVALID_HANDLE.
 * Memory: nothing is allocated.
 * Threads: `archive` is only read: other threads may list the same archive at the same time.
 */
alcm_status alcm_archive_count(const struct alcm_archive *archive, size_t *count);

/**
 * The name of tensor `index` (0-based, in the order written) as UTF-8 bytes, without a NUL.
 * With `dst` NULL and `dst_capacity` 0, only the length is returned.
 *
 * Returns: ALCM_OK; `*name_len` is the name's length in bytes and, unless `dst` is NULL,
 * `dst[0..*name_len]` holds it (a NUL follows when `dst_capacity` > `*name_len`).
 * Errors: ALCM_ERR_NULL_POINTER (`archive`, `name_len`; `dst` with a non-zero capacity),
 * ALCM_ERR_INVALID_HANDLE, ALCM_ERR_INVALID_ARGUMENT (`index` >= the count),
 * ALCM_ERR_BUFFER_TOO_SMALL (`dst_capacity` below the length; nothing written).
 * Memory: nothing is allocated; `dst` is the caller's.
 * Threads: `archive` is only read: other threads may list the same archive at the same time.
 */
alcm_status alcm_archive_name(const struct alcm_archive *archive,
                              size_t index,
                              char *dst,
                              size_t dst_capacity,
                              size_t *name_len);

/**
 * The index entry of tensor `name` (a NUL-terminated UTF-8 string): its element type (archive
 * dtype id), mode (ALCM_MODE_RELATIVE_L2, _MAX_ABS or _LOSSLESS), rank and shape, the bound
 * it was written with (0 for lossless) and the error achieved at writing (relative L2 over
 * the tensor or max abs, as the index stores it: rounded up to 1/65535 of the bound).
 *
 * Returns: ALCM_OK; every output is written only on success; `shape` receives `*rank` values.
 * Errors: ALCM_ERR_NULL_POINTER (any pointer), ALCM_ERR_INVALID_HANDLE, ALCM_ERR_INVALID_UTF8
 * (`name`), ALCM_ERR_INVALID_ARGUMENT (no such tensor).
 * Memory: `shape` must hold ALCM_MAX_RANK values; every argument is borrowed for the call.
 * Threads: `archive` is only read: other threads may list the same archive at the same time.
 */
alcm_status alcm_archive_info(const struct alcm_archive *archive,
                              const char *name,
                              uint32_t *dtype,
                              uint32_t *mode,
                              size_t *rank,
                              size_t *shape,
                              double *bound,
                              double *achieved);

/**
 * Reads tensor `name` (a NUL-terminated UTF-8 string) of element type `dtype` (its archive
 * dtype id, see alcm_archive_info) into `dst`, C order, in the platform's byte order
 * (bfloat16 and float16 as their 16-bit patterns, bool as one byte). `dst_capacity` counts
 * values of that type. Reads only the tensor's blocks, each checked against its CRC.
 *
 * Returns: ALCM_OK; `dst[0..*n_values]` holds the values (lossy tensors their decoded values).
 * Errors: ALCM_ERR_NULL_POINTER, ALCM_ERR_INVALID_HANDLE, ALCM_ERR_INVALID_UTF8 (`name`),
 * ALCM_ERR_INVALID_ARGUMENT (no such tensor, `dtype` not the tensor's, `dst` misaligned),
 * ALCM_ERR_BUFFER_TOO_SMALL (checked before reading), ALCM_ERR_TOO_LARGE (more than 2^32
 * values), ALCM_ERR_IO, ALCM_ERR_CHECKSUM, ALCM_ERR_CORRUPT, ALCM_ERR_TRUNCATED (a damaged
 * block). Outputs are written only on success.
 * Memory: `name` is borrowed for the call; `dst` is the caller's; the tensor is decoded into
 * a temporary buffer first.
 * Threads: reads move the file position: one call at a time per archive.
 */
alcm_status alcm_archive_read(struct alcm_archive *archive,
                              const char *name,
                              uint32_t dtype,
                              void *dst,
                              size_t dst_capacity,
                              size_t *n_values);

/**
 * Reads rows `row_start..row_end` (first-axis slices) of tensor `name`, like
 * alcm_archive_read otherwise; only the blocks holding those rows are read and decoded.
 *
 * Returns: ALCM_OK; `dst[0..*n_values]` holds the rows' values, C order.
 * Errors: those of alcm_archive_read, and ALCM_ERR_INVALID_ARGUMENT for a scalar tensor or a
 * range that is reversed or passes the first axis.
 * Memory: as alcm_archive_read.
 * Threads: reads move the file position: one call at a time per archive.
 */
alcm_status alcm_archive_read_rows(struct alcm_archive *archive,
                                   const char *name,
                                   uint32_t dtype,
                                   size_t row_start,
                                   size_t row_end,
                                   void *dst,
                                   size_t dst_capacity,
                                   size_t *n_values);

/**
 * Starts the archive file `path`, written atomically: the tensors go to a temporary file
 * beside it (`.NAME.tmp.PID.THREAD` in the same directory), which alcm_archive_writer_finish
 * renames over `path` (replacing a file there), so readers see either the old file or the
 * complete archive. Tensors are split into independently readable blocks of about
 * `block_values` values (0: the default, 2^20); each block is compressed on up to `threads`
 * threads (1..ALCM_MAX_THREADS), the bytes do not depend on it. A writer freed without
 * alcm_archive_writer_finish removes its temporary file and leaves `path` untouched.
 *
 * Returns: ALCM_OK; `*out` is written only on success.
 * Errors: ALCM_ERR_NULL_POINTER (`path`, `out`), ALCM_ERR_INVALID_UTF8 (`path`),
 * ALCM_ERR_INVALID_ARGUMENT (empty `path`, `threads` out of range), ALCM_ERR_IO (the
 * temporary file cannot be created or written).
 * Memory: `path` is borrowed for the call. `*out` is owned by the caller: free it with
 * alcm_archive_writer_free.
 * Threads: any thread.
 */
alcm_status alcm_archive_writer_new(const char *path,
                                    uint32_t threads,
                                    size_t block_values,
                                    struct alcm_archive_writer **out);

/**
 * Compresses the tensor `(data, rank, shape)` of element type `dtype` (an archive dtype id;
 * values in the platform's byte order, bfloat16 and float16 as their 16-bit patterns) and
 * appends it as `name` (a NUL-terminated UTF-8 string, new in the archive) with `mode`
 * (ALCM_MODE_RELATIVE_L2, _MAX_ABS or _LOSSLESS) and `bound` (the target of a lossy mode,
 * ignored for lossless). The four float types are coded with the bound holding on the values
 * a reader gets back; other types are stored raw, losslessly, whatever the mode.
 *
 * Returns: ALCM_OK; the tensor is written.
 * Errors: ALCM_ERR_NULL_POINTER, ALCM_ERR_INVALID_HANDLE, ALCM_ERR_INVALID_UTF8 (`name`),
 * ALCM_ERR_INVALID_ARGUMENT (unknown `dtype`, unsupported `mode`, a name already written, a
 * writer already finished, `data` misaligned, rank above ALCM_MAX_RANK),
 * ALCM_ERR_INVALID_CONFIG (a bound that is not finite and positive, or ≥ 1 for relative L2),
 * ALCM_ERR_TOO_LARGE (shape overflow), ALCM_ERR_IO (writing failed). On error nothing of this
 * tensor is in the index (bytes of a failed write may be, and the writer should be dropped).
 * Memory: every input is borrowed for the call; only the tensor's compressed blocks are held.
 * Threads: one call at a time per writer.
 */
alcm_status alcm_archive_writer_add(struct alcm_archive_writer *writer,
                                    const char *name,
                                    uint32_t dtype,
                                    const void *data,
                                    size_t rank,
                                    const size_t *shape,
                                    uint32_t mode,
                                    double bound);

/**
 * Writes the index and footer, syncs the temporary file and renames it over the archive's
 * path; the writer accepts no more tensors (free it with alcm_archive_writer_free).
 *
 * Returns: ALCM_OK; the archive is complete.
 * Errors: ALCM_ERR_NULL_POINTER, ALCM_ERR_INVALID_HANDLE, ALCM_ERR_INVALID_ARGUMENT (already
 * finished), ALCM_ERR_IO (writing failed).
 * Memory: the writer's index is released.
 * Threads: one call at a time per writer.
 */
alcm_status alcm_archive_writer_finish(struct alcm_archive_writer *writer);

/**
 * Frees an archive writer (an unfinished archive's temporary file is removed, its path left
 * untouched). NULL is a no-op; a handle that is not a live writer is left alone.
 *
 * Memory: `writer` is NULL or a handle from alcm_archive_writer_new, freed once and not used
 * afterwards.
 * Threads: any thread, once no other call uses `writer`.
 */
void alcm_archive_writer_free(struct alcm_archive_writer *writer);

#ifdef __cplusplus
}  // extern "C"
#endif  // __cplusplus

#endif  /* ALCM_H */
