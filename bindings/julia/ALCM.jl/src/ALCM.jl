"""
    ALCM

Julia binding of alcm (error-bounded compression of float32 ML tensors): `@ccall` wrappers over
every function of `include/alcm.h`, plus an idiomatic layer (`compress`, `decompress`, `peek`,
`Encoder`, `Predictor`, `ErrorFeedback`, `Scheduler`, `stats`, `metrics`, ...).

Library: `ENV["ALCM_LIBRARY"]` (a path to `libalcm.so`) when set at load time, else `"libalcm"`
through the system loader (`LD_LIBRARY_PATH`, ...).

Shapes (column-major vs row-major): alcm tensors are C-contiguous (row-major). A Julia array of
size `(d1, d2, ..., dk)` occupies memory exactly like a C tensor of shape `(dk, ..., d2, d1)`, so
this binding passes the **reversed** dimensions and never copies or permutes the data: a Julia
`Matrix` of size `(m, n)` is the C tensor `(n, m)`, and alcm's channels (the first C dimension)
are the Julia array's **last** dimension (the columns of a matrix). `decompress` reverses the
stored shape back, so `size(decompress(compress(x))) == size(x)` always. A frame written from
Python/C with shape `(out, in)` decodes in Julia as an `in × out` matrix (the transpose view of
the same memory); use `permutedims` if you need `out × in`.

Errors: every non-OK status throws `AlcmError(status, name, message)`.

Handles: `Encoder`, `Predictor`, `ErrorFeedback` and `Scheduler` are `mutable struct`s freed by
a finalizer (which only calls the C free function: it never prints or yields) or explicitly by
`close(h)`; `open`-style `do` blocks are available through `Encoder(f::Function, ...)`-style
helpers `with_handle(f, h)`. A closed handle throws `ArgumentError`.

Thread safety follows `alcm.h`: a `const` handle (an Encoder for `compress`, a Predictor for
prediction) may be shared by several threads; mutating calls (setters, `train!`, `update!`,
feedback compression) need exclusive access (use a lock of your own).
"""
module ALCM

export AlcmError, Encoder, Predictor, ErrorFeedback, Scheduler, Report, FrameInfo, Metrics,
       Stats, SchedulerInfo, compress, decompress, frame_info, compress_bound, tensor_stats,
       channel_stats, channel_count, metrics, caq, variance_percent, empirical_allocation,
       empirical_channel_allocations, guard_channel_allocations, set_threshold!, set_mode!, set_backend!, set_precision!,
       set_max_drop_ratio!, set_non_finite!, set_threads!, train!, predict, predict_channels, forward, save,
       load_predictor, load_feedback, update!, scheduler_stats, window, history, reset!,
       with_handle

# -------------------------------------------------------------------------------------------
# Library and constants (values from include/alcm.h).
# A non-constant global on purpose: @ccall evaluates it at run time (Julia >= 1.8), so the path
# is read from ENV when the module is loaded, not frozen into the precompiled image.
libalcm = "libalcm"   # replaced in __init__ by ENV["ALCM_LIBRARY"] when set

function __init__()
    global libalcm = get(ENV, "ALCM_LIBRARY", "libalcm")
    return nothing
end

const alcm_status = UInt32

# Copies of include/alcm.h's integer #defines; bindings/julia/check_coverage.py (run by the
# Python test suite) checks every one against the header, in both directions.
const ALCM_VERSION_MAJOR = 0
const ALCM_VERSION_MINOR = 1
const ALCM_VERSION_PATCH = 0
const ALCM_VERSION_NUMBER = 100
const ALCM_VERSION_STRING = "0.1.0"

const ALCM_MAX_RANK = 8
const ALCM_MAX_THREADS = 64
const ALCM_FRAME_HEADER_MAX = 132
const ALCM_MAX_ELEMENTS = 1099511627776
const ALCM_FORMAT_VERSION = 7

const ALCM_MODE_ADAPTIVE = UInt32(0)
const ALCM_MODE_RELATIVE_L2 = UInt32(1)
const ALCM_MODE_MAX_ABS = UInt32(2)
const ALCM_MODE_LOSSLESS = UInt32(3)
const ALCM_BACKEND_STORE = UInt32(0)
const ALCM_BACKEND_DEFLATE = UInt32(1)
const ALCM_BACKEND_RANS = UInt32(2)
const ALCM_BACKEND_RANS_MODEL = UInt32(3)   # in frames only (peek); cannot be selected
const ALCM_BACKEND_FLOAT = UInt32(4)   # in lossless frames only (peek); cannot be selected
const ALCM_DTYPE_F32 = UInt32(1)
const ALCM_DTYPE_BF16 = UInt32(2)
const ALCM_DTYPE_F16 = UInt32(3)
const ALCM_DTYPE_F64 = UInt32(4)
const ALCM_NON_FINITE_REFUSE = UInt32(0)
const ALCM_NON_FINITE_KEEP = UInt32(1)

const MODES = Dict(:adaptive => ALCM_MODE_ADAPTIVE, :relative_l2 => ALCM_MODE_RELATIVE_L2,
                   :max_abs => ALCM_MODE_MAX_ABS, :lossless => ALCM_MODE_LOSSLESS)
# The backends an encoder can be set to; :rans is the library's default.
const BACKENDS = Dict(:rans => ALCM_BACKEND_RANS, :deflate => ALCM_BACKEND_DEFLATE,
                      :store => ALCM_BACKEND_STORE)
const NON_FINITE = Dict(:refuse => ALCM_NON_FINITE_REFUSE, :keep => ALCM_NON_FINITE_KEEP)
const MODE_NAMES = Dict(v => k for (k, v) in MODES)
# Every backend a frame may report (peek): the encoder writes :rans_model in place of :rans when
# the rank-1 model's payload is smaller, and :float (the float-layout coder) for a lossless frame;
# neither can be selected.
const BACKEND_NAMES = merge(Dict(v => k for (k, v) in BACKENDS),
                            Dict(ALCM_BACKEND_RANS_MODEL => :rans_model,
                                 ALCM_BACKEND_FLOAT => :float))

const STATUS_NAMES = Dict{UInt32,String}(
    0 => "ALCM_OK", 1 => "ALCM_ERR_NULL_POINTER", 2 => "ALCM_ERR_INVALID_ARGUMENT",
    3 => "ALCM_ERR_INVALID_CONFIG", 4 => "ALCM_ERR_NON_FINITE", 5 => "ALCM_ERR_BUFFER_TOO_SMALL",
    6 => "ALCM_ERR_INVALID_HANDLE", 7 => "ALCM_ERR_INVALID_UTF8", 100 => "ALCM_ERR_TRUNCATED",
    101 => "ALCM_ERR_CORRUPT", 102 => "ALCM_ERR_CHECKSUM", 103 => "ALCM_ERR_BAD_MAGIC",
    104 => "ALCM_ERR_FORMAT_VERSION", 105 => "ALCM_ERR_TOO_LARGE", 200 => "ALCM_ERR_IO",
    201 => "ALCM_ERR_INVALID_MODEL", 202 => "ALCM_ERR_TIMEOUT", 900 => "ALCM_ERR_PANIC",
    901 => "ALCM_ERR_INTERNAL")

# -------------------------------------------------------------------------------------------
# Structs (isbits, same layout as the C structs).
struct Report
    input_bytes::UInt64
    output_bytes::UInt64
    ratio::Cdouble
    bits_per_value::Cdouble
    dropped_ratio::Cdouble
    cpu_seconds::Cdouble
    caq::Cdouble
    step::Cdouble
    mode::UInt32
    exceptions::UInt64
end

struct FrameInfo
    format_version::UInt32
    mode::UInt32
    backend::UInt32
    rank::UInt32
    shape::NTuple{8,UInt64}
    n_values::UInt64
    n_channels::UInt64
    target::Cdouble
    frame_len::UInt64
    n_exceptions::UInt64
end

struct Metrics
    mse::Cdouble
    mae::Cdouble
    rel_l2::Cdouble
    max_abs::Cdouble
    psnr::Cdouble
    snr::Cdouble
end

struct SchedulerInfo
    step::UInt64
    threshold::Cdouble
    mean_caq::Cdouble
    trend::Cdouble
    window_len::UInt64
end

struct Stats
    mean::Cdouble
    var::Cdouble
    std::Cdouble
    skew::Cdouble
    kurtosis::Cdouble
    sparsity::Cdouble
    count::UInt64
end

# -------------------------------------------------------------------------------------------
# Errors.
"""
    AlcmError(status, name, message)

A non-OK `alcm_status`: `status` the number, `name` e.g. `"ALCM_ERR_CHECKSUM"`, `message` the
library's message for the failed call (`alcm_last_error_message`).
"""
struct AlcmError <: Exception
    status::UInt32
    name::String
    message::String
end

Base.showerror(io::IO, e::AlcmError) = print(io, "AlcmError: ", e.name, " (", e.status, "): ", e.message)

status_name(st::Integer) = get(STATUS_NAMES, UInt32(st), "ALCM_STATUS_$(st)")

# The raw message of the calling thread (size query, then copy).
function last_error_message()::String
    n = alcm_last_error_message(Ptr{UInt8}(C_NULL), 0)
    n == 0 && return ""
    buf = Vector{UInt8}(undef, n + 1)
    GC.@preserve buf alcm_last_error_message(pointer(buf), length(buf))
    return String(buf[1:n])
end

# Runs one fallible call and throws on error. Finalizers are disabled on this task between the
# call and the message read: libalcm's *_free functions clear the thread's last error message,
# and a finalizer freeing some other handle could otherwise run (at an allocation) in between.
@inline function checked(f::F) where {F}
    GC.enable_finalizers(false)
    st = UInt32(0)
    msg = ""
    try
        st = f()::UInt32
        if st != 0
            msg = last_error_message()
        end
    finally
        GC.enable_finalizers(true)
    end
    st == 0 || throw(AlcmError(st, status_name(st), msg))
    return nothing
end

# -------------------------------------------------------------------------------------------
# Raw wrappers: one per function of alcm.h, same name, same arguments (checked by
# bindings/julia/check_coverage.py). Fallible ones return the status; use `checked`.
alcm_compress_bound(n) = @ccall libalcm.alcm_compress_bound(n::Csize_t)::Csize_t
alcm_encoder_new(out) = @ccall libalcm.alcm_encoder_new(out::Ref{Ptr{Cvoid}})::alcm_status
alcm_encoder_from_yaml_file(path, out) =
    @ccall libalcm.alcm_encoder_from_yaml_file(path::Cstring, out::Ref{Ptr{Cvoid}})::alcm_status
alcm_encoder_from_yaml_string(yaml, out) =
    @ccall libalcm.alcm_encoder_from_yaml_string(yaml::Cstring, out::Ref{Ptr{Cvoid}})::alcm_status
alcm_encoder_free(enc) = @ccall libalcm.alcm_encoder_free(enc::Ptr{Cvoid})::Cvoid
alcm_encoder_set_threshold(enc, t) =
    @ccall libalcm.alcm_encoder_set_threshold(enc::Ptr{Cvoid}, t::Cdouble)::alcm_status
alcm_encoder_set_mode(enc, mode, target) =
    @ccall libalcm.alcm_encoder_set_mode(enc::Ptr{Cvoid}, mode::UInt32, target::Cdouble)::alcm_status
alcm_encoder_set_backend(enc, backend, level) =
    @ccall libalcm.alcm_encoder_set_backend(enc::Ptr{Cvoid}, backend::UInt32, level::UInt32)::alcm_status
alcm_encoder_set_precision(enc, minp, basep) =
    @ccall libalcm.alcm_encoder_set_precision(enc::Ptr{Cvoid}, minp::UInt32, basep::UInt32)::alcm_status
alcm_encoder_set_max_drop_ratio(enc, r) =
    @ccall libalcm.alcm_encoder_set_max_drop_ratio(enc::Ptr{Cvoid}, r::Cdouble)::alcm_status
alcm_encoder_set_non_finite(enc, policy) =
    @ccall libalcm.alcm_encoder_set_non_finite(enc::Ptr{Cvoid}, policy::UInt32)::alcm_status
alcm_encoder_set_threads(enc, threads) =
    @ccall libalcm.alcm_encoder_set_threads(enc::Ptr{Cvoid}, threads::UInt32)::alcm_status
alcm_encoder_compress(enc, data, rank, shape, alloc, alloc_len, dst, cap, dst_len, report) =
    @ccall libalcm.alcm_encoder_compress(enc::Ptr{Cvoid}, data::Ptr{Cfloat}, rank::Csize_t,
        shape::Ptr{Csize_t}, alloc::Ptr{Cdouble}, alloc_len::Csize_t, dst::Ptr{UInt8},
        cap::Csize_t, dst_len::Ref{Csize_t}, report::Ref{Report})::alcm_status
alcm_peek(src, len, info) =
    @ccall libalcm.alcm_peek(src::Ptr{UInt8}, len::Csize_t, info::Ref{FrameInfo})::alcm_status
alcm_decompress(src, len, dst, cap, n) =
    @ccall libalcm.alcm_decompress(src::Ptr{UInt8}, len::Csize_t, dst::Ptr{Cfloat}, cap::Csize_t,
        n::Ref{Csize_t})::alcm_status
alcm_decompress_with_threads(src, len, dst, cap, threads, n) =
    @ccall libalcm.alcm_decompress_with_threads(src::Ptr{UInt8}, len::Csize_t, dst::Ptr{Cfloat},
        cap::Csize_t, threads::UInt32, n::Ref{Csize_t})::alcm_status
# Element types (ALCM_DTYPE_*): tensors pass as untyped pointers.
alcm_compress_bound_typed(n, dtype) =
    @ccall libalcm.alcm_compress_bound_typed(n::Csize_t, dtype::UInt32)::Csize_t
alcm_encoder_compress_typed(enc, data, dtype, rank, shape, alloc, alloc_len, dst, cap, dst_len, report) =
    @ccall libalcm.alcm_encoder_compress_typed(enc::Ptr{Cvoid}, data::Ptr{Cvoid}, dtype::UInt32,
        rank::Csize_t, shape::Ptr{Csize_t}, alloc::Ptr{Cdouble}, alloc_len::Csize_t,
        dst::Ptr{UInt8}, cap::Csize_t, dst_len::Ref{Csize_t}, report::Ref{Report})::alcm_status
alcm_peek_dtype(src, len, dtype) =
    @ccall libalcm.alcm_peek_dtype(src::Ptr{UInt8}, len::Csize_t, dtype::Ref{UInt32})::alcm_status
alcm_decompress_typed(src, len, dtype, dst, cap, threads, n) =
    @ccall libalcm.alcm_decompress_typed(src::Ptr{UInt8}, len::Csize_t, dtype::UInt32,
        dst::Ptr{Cvoid}, cap::Csize_t, threads::UInt32, n::Ref{Csize_t})::alcm_status
alcm_feedback_new(rank, shape, out) =
    @ccall libalcm.alcm_feedback_new(rank::Csize_t, shape::Ptr{Csize_t}, out::Ref{Ptr{Cvoid}})::alcm_status
alcm_feedback_compress(fb, enc, grad, n, alloc, alloc_len, dst, cap, dst_len, report) =
    @ccall libalcm.alcm_feedback_compress(fb::Ptr{Cvoid}, enc::Ptr{Cvoid}, grad::Ptr{Cfloat},
        n::Csize_t, alloc::Ptr{Cdouble}, alloc_len::Csize_t, dst::Ptr{UInt8}, cap::Csize_t,
        dst_len::Ref{Csize_t}, report::Ref{Report})::alcm_status
alcm_feedback_reset(fb) = @ccall libalcm.alcm_feedback_reset(fb::Ptr{Cvoid})::alcm_status
alcm_feedback_save(fb, path) = @ccall libalcm.alcm_feedback_save(fb::Ptr{Cvoid}, path::Cstring)::alcm_status
alcm_feedback_load(path, out) =
    @ccall libalcm.alcm_feedback_load(path::Cstring, out::Ref{Ptr{Cvoid}})::alcm_status
alcm_feedback_free(fb) = @ccall libalcm.alcm_feedback_free(fb::Ptr{Cvoid})::Cvoid
# Compressed collectives (reduce-scatter + all-gather, residual store): raw calls only.
alcm_exchange_new(rank, shape, ranks, this_rank, min_shard_values, first_rank, out) =
    @ccall libalcm.alcm_exchange_new(rank::Csize_t, shape::Ptr{Csize_t}, ranks::Csize_t,
        this_rank::Csize_t, min_shard_values::Csize_t, first_rank::Csize_t,
        out::Ref{Ptr{Cvoid}})::alcm_status
alcm_exchange_shard(ex, j, offset, count) =
    @ccall libalcm.alcm_exchange_shard(ex::Ptr{Cvoid}, j::Csize_t, offset::Ref{Csize_t},
        count::Ref{Csize_t})::alcm_status
alcm_exchange_compress_shard(ex, enc, grad, n, j, dst, cap, dst_len, report) =
    @ccall libalcm.alcm_exchange_compress_shard(ex::Ptr{Cvoid}, enc::Ptr{Cvoid}, grad::Ptr{Cfloat},
        n::Csize_t, j::Csize_t, dst::Ptr{UInt8}, cap::Csize_t, dst_len::Ref{Csize_t},
        report::Ref{Report})::alcm_status
alcm_exchange_accumulate(ex, frame, len, scale, out, out_len) =
    @ccall libalcm.alcm_exchange_accumulate(ex::Ptr{Cvoid}, frame::Ptr{UInt8}, len::Csize_t,
        scale::Cfloat, out::Ptr{Cfloat}, out_len::Csize_t)::alcm_status
alcm_exchange_compress_reduced(ex, enc, x, n, dst, cap, dst_len, report) =
    @ccall libalcm.alcm_exchange_compress_reduced(ex::Ptr{Cvoid}, enc::Ptr{Cvoid}, x::Ptr{Cfloat},
        n::Csize_t, dst::Ptr{UInt8}, cap::Csize_t, dst_len::Ref{Csize_t},
        report::Ref{Report})::alcm_status
alcm_exchange_decode_shard(ex, frame, len, j, out, out_len) =
    @ccall libalcm.alcm_exchange_decode_shard(ex::Ptr{Cvoid}, frame::Ptr{UInt8}, len::Csize_t,
        j::Csize_t, out::Ptr{Cfloat}, out_len::Csize_t)::alcm_status
alcm_exchange_compress_shard_allocated(ex, enc, grad, n, j, alloc, alloc_len, dst, cap, dst_len, report) =
    @ccall libalcm.alcm_exchange_compress_shard_allocated(ex::Ptr{Cvoid}, enc::Ptr{Cvoid},
        grad::Ptr{Cfloat}, n::Csize_t, j::Csize_t, alloc::Ptr{Cdouble}, alloc_len::Csize_t,
        dst::Ptr{UInt8}, cap::Csize_t, dst_len::Ref{Csize_t}, report::Ref{Report})::alcm_status
alcm_exchange_compress_reduced_allocated(ex, enc, x, n, alloc, alloc_len, dst, cap, dst_len, report) =
    @ccall libalcm.alcm_exchange_compress_reduced_allocated(ex::Ptr{Cvoid}, enc::Ptr{Cvoid},
        x::Ptr{Cfloat}, n::Csize_t, alloc::Ptr{Cdouble}, alloc_len::Csize_t, dst::Ptr{UInt8},
        cap::Csize_t, dst_len::Ref{Csize_t}, report::Ref{Report})::alcm_status
alcm_exchange_message_len(bytes, len, message_len) =
    @ccall libalcm.alcm_exchange_message_len(bytes::Ptr{UInt8}, len::Csize_t,
        message_len::Ref{Csize_t})::alcm_status
alcm_exchange_save_residuals(ex, name, store) =
    @ccall libalcm.alcm_exchange_save_residuals(ex::Ptr{Cvoid}, name::Cstring,
        store::Ptr{Cvoid})::alcm_status
alcm_exchange_load_residuals(ex, name, store) =
    @ccall libalcm.alcm_exchange_load_residuals(ex::Ptr{Cvoid}, name::Cstring,
        store::Ptr{Cvoid})::alcm_status
alcm_exchange_free(ex) = @ccall libalcm.alcm_exchange_free(ex::Ptr{Cvoid})::Cvoid
alcm_residual_store_new(out) =
    @ccall libalcm.alcm_residual_store_new(out::Ref{Ptr{Cvoid}})::alcm_status
alcm_residual_store_len(store, count) =
    @ccall libalcm.alcm_residual_store_len(store::Ptr{Cvoid}, count::Ref{Csize_t})::alcm_status
alcm_residual_store_save(store, path) =
    @ccall libalcm.alcm_residual_store_save(store::Ptr{Cvoid}, path::Cstring)::alcm_status
alcm_residual_store_load(path, out) =
    @ccall libalcm.alcm_residual_store_load(path::Cstring, out::Ref{Ptr{Cvoid}})::alcm_status
alcm_residual_store_put(store, name, fb) =
    @ccall libalcm.alcm_residual_store_put(store::Ptr{Cvoid}, name::Cstring, fb::Ptr{Cvoid})::alcm_status
alcm_residual_store_get(store, name, out) =
    @ccall libalcm.alcm_residual_store_get(store::Ptr{Cvoid}, name::Cstring,
        out::Ref{Ptr{Cvoid}})::alcm_status
alcm_residual_store_free(store) = @ccall libalcm.alcm_residual_store_free(store::Ptr{Cvoid})::Cvoid
# Low-rank compression (PowerSGD-style, coded factors): raw calls only.
alcm_lowrank_pays(rows, cols, rank, min_compression, out) =
    @ccall libalcm.alcm_lowrank_pays(rows::Csize_t, cols::Csize_t, rank::Csize_t,
        min_compression::Cdouble, out::Ref{UInt32})::alcm_status
alcm_lowrank_new(rows, cols, rank, factor_target, min_compression, feedback, seed, out) =
    @ccall libalcm.alcm_lowrank_new(rows::Csize_t, cols::Csize_t, rank::Csize_t,
        factor_target::Cdouble, min_compression::Cdouble, feedback::UInt32, seed::UInt64,
        out::Ref{Ptr{Cvoid}})::alcm_status
alcm_lowrank_sizes(lr, p_len, q_len) =
    @ccall libalcm.alcm_lowrank_sizes(lr::Ptr{Cvoid}, p_len::Ref{Csize_t},
        q_len::Ref{Csize_t})::alcm_status
alcm_lowrank_begin(lr, grad, n, dst, cap, dst_len) =
    @ccall libalcm.alcm_lowrank_begin(lr::Ptr{Cvoid}, grad::Ptr{Cfloat}, n::Csize_t,
        dst::Ptr{UInt8}, cap::Csize_t, dst_len::Ref{Csize_t})::alcm_status
alcm_lowrank_after_p(lr, p_sum, n, dst, cap, dst_len) =
    @ccall libalcm.alcm_lowrank_after_p(lr::Ptr{Cvoid}, p_sum::Ptr{Cfloat}, n::Csize_t,
        dst::Ptr{UInt8}, cap::Csize_t, dst_len::Ref{Csize_t})::alcm_status
alcm_lowrank_finish(lr, q_sum, n, scale, out, out_len) =
    @ccall libalcm.alcm_lowrank_finish(lr::Ptr{Cvoid}, q_sum::Ptr{Cfloat}, n::Csize_t,
        scale::Cfloat, out::Ptr{Cfloat}, out_len::Csize_t)::alcm_status
alcm_lowrank_get_q(lr, out, len) =
    @ccall libalcm.alcm_lowrank_get_q(lr::Ptr{Cvoid}, out::Ptr{Cfloat}, len::Csize_t)::alcm_status
alcm_lowrank_set_q(lr, q, len) =
    @ccall libalcm.alcm_lowrank_set_q(lr::Ptr{Cvoid}, q::Ptr{Cfloat}, len::Csize_t)::alcm_status
alcm_lowrank_get_residual(lr, out, len) =
    @ccall libalcm.alcm_lowrank_get_residual(lr::Ptr{Cvoid}, out::Ptr{Cfloat},
        len::Csize_t)::alcm_status
alcm_lowrank_set_residual(lr, r, len) =
    @ccall libalcm.alcm_lowrank_set_residual(lr::Ptr{Cvoid}, r::Ptr{Cfloat},
        len::Csize_t)::alcm_status
alcm_lowrank_free(lr) = @ccall libalcm.alcm_lowrank_free(lr::Ptr{Cvoid})::Cvoid
alcm_last_error_message(buf, len) =
    @ccall libalcm.alcm_last_error_message(buf::Ptr{UInt8}, len::Csize_t)::Csize_t
alcm_error_metrics(a, b, n, out) =
    @ccall libalcm.alcm_error_metrics(a::Ptr{Cfloat}, b::Ptr{Cfloat}, n::Csize_t, out::Ref{Metrics})::alcm_status
alcm_caq(ratio, cpu, out) = @ccall libalcm.alcm_caq(ratio::Cdouble, cpu::Cdouble, out::Ref{Cdouble})::alcm_status
alcm_variance_percent(v, n, out) =
    @ccall libalcm.alcm_variance_percent(v::Ptr{Cdouble}, n::Csize_t, out::Ref{Cdouble})::alcm_status
alcm_predictor_new(h, minb, maxb, lr, seed, out) =
    @ccall libalcm.alcm_predictor_new(h::Csize_t, minb::Cdouble, maxb::Cdouble, lr::Cdouble,
        seed::UInt64, out::Ref{Ptr{Cvoid}})::alcm_status
alcm_predictor_from_yaml_file(path, out) =
    @ccall libalcm.alcm_predictor_from_yaml_file(path::Cstring, out::Ref{Ptr{Cvoid}})::alcm_status
alcm_predictor_from_yaml_string(yaml, out) =
    @ccall libalcm.alcm_predictor_from_yaml_string(yaml::Cstring, out::Ref{Ptr{Cvoid}})::alcm_status
alcm_predictor_train(p, feats, targets, n, epochs, loss) =
    @ccall libalcm.alcm_predictor_train(p::Ptr{Cvoid}, feats::Ptr{Cdouble}, targets::Ptr{Cdouble},
        n::Csize_t, epochs::Csize_t, loss::Ptr{Cdouble})::alcm_status
alcm_predictor_forward(p, feats, out) =
    @ccall libalcm.alcm_predictor_forward(p::Ptr{Cvoid}, feats::Ptr{Cdouble}, out::Ref{Cdouble})::alcm_status
alcm_predictor_predict(p, data, rank, shape, out) =
    @ccall libalcm.alcm_predictor_predict(p::Ptr{Cvoid}, data::Ptr{Cfloat}, rank::Csize_t,
        shape::Ptr{Csize_t}, out::Ref{Cdouble})::alcm_status
alcm_predictor_predict_channels(p, data, rank, shape, out, out_len, n) =
    @ccall libalcm.alcm_predictor_predict_channels(p::Ptr{Cvoid}, data::Ptr{Cfloat}, rank::Csize_t,
        shape::Ptr{Csize_t}, out::Ptr{Cdouble}, out_len::Csize_t, n::Ref{Csize_t})::alcm_status
alcm_predictor_save(p, path) = @ccall libalcm.alcm_predictor_save(p::Ptr{Cvoid}, path::Cstring)::alcm_status
alcm_predictor_load(path, out) =
    @ccall libalcm.alcm_predictor_load(path::Cstring, out::Ref{Ptr{Cvoid}})::alcm_status
alcm_predictor_free(p) = @ccall libalcm.alcm_predictor_free(p::Ptr{Cvoid})::Cvoid
alcm_empirical_allocation(enc, data, rank, shape, target, out) =
    @ccall libalcm.alcm_empirical_allocation(enc::Ptr{Cvoid}, data::Ptr{Cfloat}, rank::Csize_t,
        shape::Ptr{Csize_t}, target::Cdouble, out::Ref{Cdouble})::alcm_status
alcm_empirical_channel_allocations(enc, data, rank, shape, target, out, out_len, n) =
    @ccall libalcm.alcm_empirical_channel_allocations(enc::Ptr{Cvoid}, data::Ptr{Cfloat},
        rank::Csize_t, shape::Ptr{Csize_t}, target::Cdouble, out::Ptr{Cdouble}, out_len::Csize_t,
        n::Ref{Csize_t})::alcm_status
alcm_guard_channel_allocations(enc, data, rank, shape, target, alloc, alloc_len) =
    @ccall libalcm.alcm_guard_channel_allocations(enc::Ptr{Cvoid}, data::Ptr{Cfloat},
        rank::Csize_t, shape::Ptr{Csize_t}, target::Cdouble, alloc::Ptr{Cdouble},
        alloc_len::Csize_t)::alcm_status
alcm_scheduler_new(init, decay, win, mint, maxt, out) =
    @ccall libalcm.alcm_scheduler_new(init::Cdouble, decay::Cdouble, win::Csize_t, mint::Cdouble,
        maxt::Cdouble, out::Ref{Ptr{Cvoid}})::alcm_status
alcm_scheduler_update(s, caq, thr) =
    @ccall libalcm.alcm_scheduler_update(s::Ptr{Cvoid}, caq::Cdouble, thr::Ref{Cdouble})::alcm_status
alcm_scheduler_stats(s, out) =
    @ccall libalcm.alcm_scheduler_stats(s::Ptr{Cvoid}, out::Ref{SchedulerInfo})::alcm_status
alcm_scheduler_window(s, out, out_len, n) =
    @ccall libalcm.alcm_scheduler_window(s::Ptr{Cvoid}, out::Ptr{Cdouble}, out_len::Csize_t,
        n::Ref{Csize_t})::alcm_status
alcm_scheduler_history(s, out, out_len, n) =
    @ccall libalcm.alcm_scheduler_history(s::Ptr{Cvoid}, out::Ptr{Cdouble}, out_len::Csize_t,
        n::Ref{Csize_t})::alcm_status
alcm_scheduler_reset(s) = @ccall libalcm.alcm_scheduler_reset(s::Ptr{Cvoid})::alcm_status
alcm_scheduler_free(s) = @ccall libalcm.alcm_scheduler_free(s::Ptr{Cvoid})::Cvoid
alcm_tensor_stats(data, rank, shape, out) =
    @ccall libalcm.alcm_tensor_stats(data::Ptr{Cfloat}, rank::Csize_t, shape::Ptr{Csize_t},
        out::Ref{Stats})::alcm_status
alcm_channel_count(rank, shape, out) =
    @ccall libalcm.alcm_channel_count(rank::Csize_t, shape::Ptr{Csize_t}, out::Ref{Csize_t})::alcm_status
alcm_channel_stats(data, rank, shape, out, out_len, n) =
    @ccall libalcm.alcm_channel_stats(data::Ptr{Cfloat}, rank::Csize_t, shape::Ptr{Csize_t},
        out::Ptr{Stats}, out_len::Csize_t, n::Ref{Csize_t})::alcm_status
alcm_status_string(st) = @ccall libalcm.alcm_status_string(st::UInt32)::Cstring
alcm_version_number() = @ccall libalcm.alcm_version_number()::UInt32
alcm_version_string() = @ccall libalcm.alcm_version_string()::Cstring
alcm_format_version() = @ccall libalcm.alcm_format_version()::UInt32

# Archives (many named tensors in one file): raw @ccall wrappers; dtype ids as in alcm.h.
alcm_archive_open(path, threads, out) =
    @ccall libalcm.alcm_archive_open(path::Cstring, threads::UInt32, out::Ref{Ptr{Cvoid}})::alcm_status
alcm_archive_free(a) = @ccall libalcm.alcm_archive_free(a::Ptr{Cvoid})::Cvoid
alcm_archive_count(a, count) =
    @ccall libalcm.alcm_archive_count(a::Ptr{Cvoid}, count::Ref{Csize_t})::alcm_status
alcm_archive_name(a, index, dst, cap, len) =
    @ccall libalcm.alcm_archive_name(a::Ptr{Cvoid}, index::Csize_t, dst::Ptr{UInt8}, cap::Csize_t,
        len::Ref{Csize_t})::alcm_status
alcm_archive_info(a, name, dtype, mode, rank, shape, bound, achieved) =
    @ccall libalcm.alcm_archive_info(a::Ptr{Cvoid}, name::Cstring, dtype::Ref{UInt32},
        mode::Ref{UInt32}, rank::Ref{Csize_t}, shape::Ptr{Csize_t}, bound::Ref{Cdouble},
        achieved::Ref{Cdouble})::alcm_status
alcm_archive_read(a, name, dtype, dst, cap, n) =
    @ccall libalcm.alcm_archive_read(a::Ptr{Cvoid}, name::Cstring, dtype::UInt32, dst::Ptr{Cvoid},
        cap::Csize_t, n::Ref{Csize_t})::alcm_status
alcm_archive_read_rows(a, name, dtype, row_start, row_end, dst, cap, n) =
    @ccall libalcm.alcm_archive_read_rows(a::Ptr{Cvoid}, name::Cstring, dtype::UInt32,
        row_start::Csize_t, row_end::Csize_t, dst::Ptr{Cvoid}, cap::Csize_t,
        n::Ref{Csize_t})::alcm_status
alcm_archive_writer_new(path, threads, block_values, out) =
    @ccall libalcm.alcm_archive_writer_new(path::Cstring, threads::UInt32, block_values::Csize_t,
        out::Ref{Ptr{Cvoid}})::alcm_status
alcm_archive_writer_add(w, name, dtype, data, rank, shape, mode, bound) =
    @ccall libalcm.alcm_archive_writer_add(w::Ptr{Cvoid}, name::Cstring, dtype::UInt32,
        data::Ptr{Cvoid}, rank::Csize_t, shape::Ptr{Csize_t}, mode::UInt32,
        bound::Cdouble)::alcm_status
alcm_archive_writer_finish(w) = @ccall libalcm.alcm_archive_writer_finish(w::Ptr{Cvoid})::alcm_status
alcm_archive_writer_free(w) = @ccall libalcm.alcm_archive_writer_free(w::Ptr{Cvoid})::Cvoid

# -------------------------------------------------------------------------------------------
# Conversions.

# A dense Float32 Array (no copy for Array{Float32}); Float16/Float64 converted (Float64 values
# that overflow Float32 are refused); anything else is an ArgumentError.
f32(x::Array{Float32}) = x
f32(x::AbstractArray{Float32}) = Array{Float32}(x)             # views, ranges, ... -> dense copy
function f32(x::AbstractArray{Float64})
    y = Array{Float32}(x)
    for i in eachindex(x, y)
        if isinf(y[i]) && isfinite(x[i])
            throw(ArgumentError("value $(x[i]) at index $i overflows Float32"))
        end
    end
    return y
end
f32(x::AbstractArray{Float16}) = Array{Float32}(x)
f32(x::AbstractArray{T}) where {T} =
    throw(ArgumentError("alcm compresses Float32 arrays (Float16/Float64 are converted); got eltype $T"))
f32(x::Real) = fill(Float32(x))                                 # a scalar: 0-dimensional array

# C shape of a Julia array: the reversed dimensions (see the module docstring).
cshape(x::AbstractArray) = Csize_t[reverse(size(x))...]
function check_rank(x::AbstractArray)
    ndims(x) <= ALCM_MAX_RANK || throw(ArgumentError("rank $(ndims(x)) exceeds ALCM_MAX_RANK"))
    return nothing
end
shape_ptr(s::Vector{Csize_t}) = isempty(s) ? Ptr{Csize_t}(C_NULL) : pointer(s)

f64vec(v) = v === nothing ? Float64[] : Float64[Float64(a) for a in v]
dptr(v::Vector{Float64}) = isempty(v) ? Ptr{Cdouble}(C_NULL) : pointer(v)

enumval(x::Symbol, table, what) = haskey(table, x) ? table[x] :
    throw(ArgumentError("unknown $what :$x; expected one of $(sort(collect(keys(table))))"))
enumval(x::Integer, table, what) = UInt32(x)
# A uint32_t argument: out of range is an ArgumentError here, not an InexactError in @ccall.
function u32(v::Integer, what)
    0 <= v <= typemax(UInt32) || throw(ArgumentError("$what = $v does not fit UInt32"))
    return UInt32(v)
end

# -------------------------------------------------------------------------------------------
# Handles.
abstract type Handle end

Base.isopen(h::Handle) = h.ptr != C_NULL
function handle(h::Handle)
    h.ptr == C_NULL && throw(ArgumentError("this $(typeof(h)) is closed"))
    return h.ptr
end

"""
    with_handle(f, h)

Calls `f(h)` and closes `h` afterwards (the `do`-block form of explicit `close`).
"""
function with_handle(f, h::Handle)
    try
        return f(h)
    finally
        close(h)
    end
end

# Finalizers call only the C free function: no printing, no locks, no task switches.
for (T, freefn) in ((:Encoder, :alcm_encoder_free), (:Predictor, :alcm_predictor_free),
                    (:ErrorFeedback, :alcm_feedback_free), (:Scheduler, :alcm_scheduler_free))
    @eval begin
        mutable struct $T <: Handle
            ptr::Ptr{Cvoid}
            function $T(p::Ptr{Cvoid}, ::Val{:adopt})
                h = new(p)
                finalizer(h) do x
                    if x.ptr != C_NULL
                        $freefn(x.ptr)
                        x.ptr = C_NULL
                    end
                end
                return h
            end
        end
        function Base.close(h::$T)
            if h.ptr != C_NULL
                p = h.ptr
                h.ptr = C_NULL
                $freefn(p)
            end
            return nothing
        end
    end
end

function adopt(::Type{T}, f) where {T<:Handle}
    out = Ref{Ptr{Cvoid}}(C_NULL)
    checked(() -> f(out))
    return T(out[], Val(:adopt))
end

# ---- Encoder ------------------------------------------------------------------------------
"""
    Encoder(; mode=nothing, target=nothing, backend=nothing, level=6, threshold=nothing,
            precision=nothing, max_drop_ratio=nothing, non_finite=nothing, threads=nothing)

An encoder with alcm's defaults (adaptive mode, 4..8 bits, threshold 0.01, max drop 0.25,
the `:rans` backend, non-finite refused), then the given settings. `mode` is one of
`:adaptive`, `:relative_l2`, `:max_abs`, `:lossless`; `backend` `:rans` (the default),
`:deflate` (with `level` 0..10, default 6) or `:store`; `non_finite`
`:refuse` or `:keep`; `precision` a `(min, base)` tuple; `threads` 1..ALCM_MAX_THREADS per
compression (the bytes do not depend on it).
"""
function Encoder(; mode=nothing, target=nothing, backend=nothing, level=6, threshold=nothing,
                 precision=nothing, max_drop_ratio=nothing, non_finite=nothing, threads=nothing)
    enc = adopt(Encoder, out -> alcm_encoder_new(out))
    try
        mode === nothing || set_mode!(enc, mode, target)
        backend === nothing || set_backend!(enc, backend, level)
        threshold === nothing || set_threshold!(enc, threshold)
        precision === nothing || set_precision!(enc, precision[1], precision[2])
        max_drop_ratio === nothing || set_max_drop_ratio!(enc, max_drop_ratio)
        non_finite === nothing || set_non_finite!(enc, non_finite)
        threads === nothing || set_threads!(enc, threads)
    catch
        close(enc)
        rethrow()
    end
    return enc
end

"""    Encoder(path::AbstractString) -- from a YAML file (encoder_config.yaml schema)."""
Encoder(path::AbstractString) = adopt(Encoder, out -> alcm_encoder_from_yaml_file(path, out))
encoder_from_yaml_string(yaml::AbstractString) =
    adopt(Encoder, out -> alcm_encoder_from_yaml_string(yaml, out))

set_threshold!(e::Encoder, t) = (checked(() -> alcm_encoder_set_threshold(handle(e), t)); e)
function set_mode!(e::Encoder, mode, target=nothing)
    m = enumval(mode, MODES, "mode")
    if (m == ALCM_MODE_RELATIVE_L2 || m == ALCM_MODE_MAX_ABS) && target === nothing
        throw(ArgumentError("mode $mode needs a target"))
    end
    checked(() -> alcm_encoder_set_mode(handle(e), m, target === nothing ? 0.0 : Float64(target)))
    return e
end
set_backend!(e::Encoder, backend, level=6) =
    (checked(() -> alcm_encoder_set_backend(handle(e), enumval(backend, BACKENDS, "backend"), level)); e)
set_precision!(e::Encoder, minp, basep) =
    (checked(() -> alcm_encoder_set_precision(handle(e), minp, basep)); e)
set_max_drop_ratio!(e::Encoder, r) = (checked(() -> alcm_encoder_set_max_drop_ratio(handle(e), r)); e)
set_non_finite!(e::Encoder, p) =
    (checked(() -> alcm_encoder_set_non_finite(handle(e), enumval(p, NON_FINITE, "non_finite"))); e)
"""    set_threads!(enc, threads) -- threads one compression may use, 1..ALCM_MAX_THREADS."""
set_threads!(e::Encoder, t::Integer) =
    (checked(() -> alcm_encoder_set_threads(handle(e), u32(t, "threads"))); e)

"""
    compress(enc::Encoder, x; allocation=nothing) -> (Vector{UInt8}, Report)

Compresses `x` (see the module docstring for the shape convention). `allocation` (adaptive
mode): `nothing`, one value, or one per channel (= per slice along the last Julia dimension).
"""
function compress(enc::Encoder, x; allocation=nothing)
    a = f32(x)
    check_rank(a)
    shape = cshape(a)
    alloc = f64vec(allocation)
    dst = Vector{UInt8}(undef, compress_bound(length(a)))
    n = Ref{Csize_t}(0)
    rep = Ref{Report}()
    GC.@preserve a shape alloc dst begin
        checked(() -> alcm_encoder_compress(handle(enc), pointer(a), length(shape), shape_ptr(shape),
                                            dptr(alloc), length(alloc), pointer(dst), length(dst), n, rep))
    end
    resize!(dst, n[])
    return dst, rep[]
end

"""
    compress(x; mode=:adaptive, target=nothing, backend=:rans, level=6, allocation=nothing,
             non_finite=:refuse, threads=1) -> Vector{UInt8}

Compresses with a fresh `Encoder` (see its settings; `level` applies to `:deflate` only).
"""
function compress(x; mode=nothing, target=nothing, backend=nothing, level=6, allocation=nothing,
                  non_finite=nothing, threads=nothing)
    enc = Encoder(; mode=mode, target=target, backend=backend, level=level, non_finite=non_finite,
                  threads=threads)
    try
        return compress(enc, x; allocation=allocation)[1]
    finally
        close(enc)
    end
end

compress_bound(n::Integer) = Int(alcm_compress_bound(n))

"""
    ALCM.peek(frame) -> FrameInfo   (also exported as `frame_info`)

Reads a frame header (alcm_peek): the raw C struct, `shape` in C order (`julia_size(info)`
gives the Julia size). Not exported under this name because `Base.peek` exists.
"""
function peek(frame::AbstractVector{UInt8})
    src = frame isa Vector{UInt8} ? frame : Vector{UInt8}(frame)
    info = Ref{FrameInfo}()
    GC.@preserve src checked(() -> alcm_peek(pointer(src), length(src), info))
    return info[]
end

const frame_info = peek

"""The Julia size of a frame's tensor (the reversed C shape)."""
julia_size(info::FrameInfo) = Tuple(Int(info.shape[i]) for i in Int(info.rank):-1:1)

"""
    decompress(frame; threads=nothing) -> Array{Float32}

Decodes a complete frame into a new array of the stored shape (reversed, see the module doc).
`threads` (1..ALCM_MAX_THREADS) decodes a large frame's independent blocks in parallel
(alcm_decompress_with_threads); the values do not depend on it.
"""
function decompress(frame::AbstractVector{UInt8}; threads=nothing)
    src = frame isa Vector{UInt8} ? frame : Vector{UInt8}(frame)
    info = peek(src)
    out = Array{Float32}(undef, julia_size(info)...)
    n = Ref{Csize_t}(0)
    if threads === nothing
        GC.@preserve src out checked(() -> alcm_decompress(pointer(src), length(src), pointer(out), length(out), n))
    else
        t = u32(threads, "threads")
        GC.@preserve src out checked(() -> alcm_decompress_with_threads(pointer(src), length(src),
                                                                       pointer(out), length(out), t, n))
    end
    return out
end

function empirical_allocation(enc::Encoder, x, target_rel_error)
    a = f32(x); check_rank(a); shape = cshape(a)
    out = Ref{Cdouble}(0)
    GC.@preserve a shape checked(() -> alcm_empirical_allocation(handle(enc), pointer(a), length(shape),
                                                                 shape_ptr(shape), target_rel_error, out))
    return out[]
end

function empirical_channel_allocations(enc::Encoder, x, target_rel_error)
    a = f32(x); check_rank(a); shape = cshape(a)
    out = Vector{Float64}(undef, max(channel_count(a), 1))
    n = Ref{Csize_t}(0)
    GC.@preserve a shape out checked(() -> alcm_empirical_channel_allocations(handle(enc), pointer(a),
        length(shape), shape_ptr(shape), target_rel_error, pointer(out), length(out), n))
    return out[1:n[]]
end

"""
    guard_channel_allocations(enc, x, allocation, target_rel_error) -> Vector{Float64}

A copy of `allocation` (one value per channel, e.g. `predict_channels`) with each value raised
to at least what the closed-form error model needs for `target_rel_error` under `enc`'s
settings (alcm_guard_channel_allocations).
"""
function guard_channel_allocations(enc::Encoder, x, allocation, target_rel_error)
    a = f32(x); check_rank(a); shape = cshape(a)
    out = Float64[Float64(v) for v in allocation]
    GC.@preserve a shape out checked(() -> alcm_guard_channel_allocations(handle(enc), pointer(a),
        length(shape), shape_ptr(shape), target_rel_error, dptr(out), length(out)))
    return out
end

# ---- Error feedback -----------------------------------------------------------------------
"""    ErrorFeedback(dims...) -- error-feedback state for gradients of Julia size `dims`."""
function ErrorFeedback(dims::Integer...)
    shape = Csize_t[reverse(dims)...]
    GC.@preserve shape adopt(ErrorFeedback, out -> alcm_feedback_new(length(shape), shape_ptr(shape), out))
end
load_feedback(path::AbstractString) = adopt(ErrorFeedback, out -> alcm_feedback_load(path, out))

function compress(fb::ErrorFeedback, enc::Encoder, gradient; allocation=nothing)
    g = f32(gradient)
    alloc = f64vec(allocation)
    dst = Vector{UInt8}(undef, compress_bound(length(g)))
    n = Ref{Csize_t}(0)
    rep = Ref{Report}()
    GC.@preserve g alloc dst begin
        checked(() -> alcm_feedback_compress(handle(fb), handle(enc), pointer(g), length(g), dptr(alloc),
                                             length(alloc), pointer(dst), length(dst), n, rep))
    end
    resize!(dst, n[])
    return dst, rep[]
end
reset!(fb::ErrorFeedback) = checked(() -> alcm_feedback_reset(handle(fb)))
save(fb::ErrorFeedback, path::AbstractString) = checked(() -> alcm_feedback_save(handle(fb), path))

# ---- Predictor ----------------------------------------------------------------------------
"""    Predictor(; hidden_size=64, min_bits=0.2, max_bits=0.9, learning_rate=1e-3, seed=0)"""
Predictor(; hidden_size=64, min_bits=0.2, max_bits=0.9, learning_rate=1e-3, seed=0) =
    adopt(Predictor, out -> alcm_predictor_new(hidden_size, min_bits, max_bits, learning_rate, seed, out))
"""    Predictor(path) -- from an entropy_config.yaml file."""
Predictor(path::AbstractString) = adopt(Predictor, out -> alcm_predictor_from_yaml_file(path, out))
predictor_from_yaml_string(yaml::AbstractString) =
    adopt(Predictor, out -> alcm_predictor_from_yaml_string(yaml, out))
load_predictor(path::AbstractString) = adopt(Predictor, out -> alcm_predictor_load(path, out))
save(p::Predictor, path::AbstractString) = checked(() -> alcm_predictor_save(handle(p), path))

"""
    train!(p, features, targets; epochs=10) -> loss per epoch

`features` is an `n × 6` matrix (rows [mean, var, std, skew, kurtosis, sparsity]).
"""
function train!(p::Predictor, features::AbstractMatrix, targets::AbstractVector; epochs::Integer=10)
    size(features, 2) == 6 || throw(ArgumentError("features must be n × 6"))
    size(features, 1) == length(targets) || throw(ArgumentError("rows of features != length(targets)"))
    f = Vector{Float64}(vec(permutedims(Float64.(features))))   # row-major n × 6 for C
    t = Vector{Float64}(Float64.(targets))
    loss = Vector{Float64}(undef, epochs)
    GC.@preserve f t loss checked(() -> alcm_predictor_train(handle(p), dptr(f), dptr(t), length(t),
                                                             epochs, dptr(loss)))
    return loss
end

function forward(p::Predictor, features::AbstractVector)
    length(features) == 6 || throw(ArgumentError("forward takes 6 features"))
    f = Vector{Float64}(Float64.(features))
    out = Ref{Cdouble}(0)
    GC.@preserve f checked(() -> alcm_predictor_forward(handle(p), pointer(f), out))
    return out[]
end

function predict(p::Predictor, x)
    a = f32(x); check_rank(a); shape = cshape(a)
    out = Ref{Cdouble}(0)
    GC.@preserve a shape checked(() -> alcm_predictor_predict(handle(p), pointer(a), length(shape),
                                                              shape_ptr(shape), out))
    return out[]
end

function predict_channels(p::Predictor, x)
    a = f32(x); check_rank(a); shape = cshape(a)
    out = Vector{Float64}(undef, max(channel_count(a), 1))
    n = Ref{Csize_t}(0)
    GC.@preserve a shape out checked(() -> alcm_predictor_predict_channels(handle(p), pointer(a),
        length(shape), shape_ptr(shape), pointer(out), length(out), n))
    return out[1:n[]]
end

# ---- Scheduler ----------------------------------------------------------------------------
"""    Scheduler(; initial_threshold=0.01, decay=0.95, window=5, min_threshold=0.001, max_threshold=0.1)"""
Scheduler(; initial_threshold=0.01, decay=0.95, window=5, min_threshold=0.001, max_threshold=0.1) =
    adopt(Scheduler, out -> alcm_scheduler_new(initial_threshold, decay, window, min_threshold,
                                               max_threshold, out))

function update!(s::Scheduler, caq_score)
    out = Ref{Cdouble}(0)
    checked(() -> alcm_scheduler_update(handle(s), caq_score, out))
    return out[]
end

function scheduler_stats(s::Scheduler)
    out = Ref{SchedulerInfo}()
    checked(() -> alcm_scheduler_stats(handle(s), out))
    return out[]
end

function window(s::Scheduler)
    out = Vector{Float64}(undef, max(Int(scheduler_stats(s).window_len), 1))
    n = Ref{Csize_t}(0)
    GC.@preserve out checked(() -> alcm_scheduler_window(handle(s), pointer(out), length(out), n))
    return out[1:n[]]
end

function history(s::Scheduler)
    out = Vector{Float64}(undef, max(Int(scheduler_stats(s).step), 1))
    n = Ref{Csize_t}(0)
    GC.@preserve out checked(() -> alcm_scheduler_history(handle(s), pointer(out), length(out), n))
    return out[1:n[]]
end

reset!(s::Scheduler) = checked(() -> alcm_scheduler_reset(handle(s)))

# -------------------------------------------------------------------------------------------
# Statistics and metrics.
function channel_count(x::AbstractArray)
    shape = cshape(x)
    out = Ref{Csize_t}(0)
    GC.@preserve shape checked(() -> alcm_channel_count(length(shape), shape_ptr(shape), out))
    return Int(out[])
end

function tensor_stats(x)
    a = f32(x); check_rank(a); shape = cshape(a)
    out = Ref{Stats}()
    GC.@preserve a shape checked(() -> alcm_tensor_stats(pointer(a), length(shape), shape_ptr(shape), out))
    return out[]
end

"""Per-channel statistics (channels = slices along the last Julia dimension)."""
function channel_stats(x)
    a = f32(x); check_rank(a); shape = cshape(a)
    out = Vector{Stats}(undef, max(channel_count(a), 1))
    n = Ref{Csize_t}(0)
    GC.@preserve a shape out checked(() -> alcm_channel_stats(pointer(a), length(shape), shape_ptr(shape),
                                                              pointer(out), length(out), n))
    return out[1:n[]]
end

"""The predictor's features of each channel as an `n × 6` matrix."""
features(s::AbstractVector{Stats}) =
    [getfield(st, k) for st in s, k in (:mean, :var, :std, :skew, :kurtosis, :sparsity)]

function metrics(original, reconstructed)
    a = f32(original); b = f32(reconstructed)
    size(a) == size(b) || throw(DimensionMismatch("sizes $(size(a)) and $(size(b)) differ"))
    out = Ref{Metrics}()
    GC.@preserve a b checked(() -> alcm_error_metrics(pointer(a), pointer(b), length(a), out))
    return out[]
end

function caq(ratio, cpu_seconds)
    out = Ref{Cdouble}(0)
    checked(() -> alcm_caq(ratio, cpu_seconds, out))
    return out[]
end

function variance_percent(values)
    v = f64vec(values)
    out = Ref{Cdouble}(0)
    GC.@preserve v checked(() -> alcm_variance_percent(dptr(v), length(v), out))
    return out[]
end

# -------------------------------------------------------------------------------------------
# Versions.
version() = VersionNumber(unsafe_string(alcm_version_string()))
version_number() = Int(alcm_version_number())
format_version() = Int(alcm_format_version())
status_string(st::Integer) = unsafe_string(alcm_status_string(st))

end # module
