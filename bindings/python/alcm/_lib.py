"""Loading ``libalcm`` and declaring the C prototypes of ``include/alcm.h``.

Every function of the header is declared here with explicit ``argtypes`` and ``restype`` (an
unset ``restype`` would truncate pointers to ``int``). This module is private: the public API
is in :mod:`alcm`. ``PROTOTYPES`` is the single table of declarations; the test suite checks
it against the header.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import sys
import threading
from pathlib import Path

import numpy as np
from numpy.ctypeslib import ndpointer

# ---------------------------------------------------------------------------------------------
# Constants copied from include/alcm.h. tests/test_header.py checks both directions: every
# numeric #define ALCM_* of the header has a constant here with the same value, and every
# ALCM_* constant here is in the header.
ALCM_MAX_RANK = 8
ALCM_MAX_THREADS = 64
ALCM_FRAME_HEADER_MAX = 132
ALCM_MAX_ELEMENTS = 1099511627776
ALCM_FORMAT_VERSION = 7
ALCM_VERSION_MAJOR = 0
ALCM_VERSION_MINOR = 1
ALCM_VERSION_PATCH = 0
ALCM_VERSION_NUMBER = 100
ALCM_VERSION_STRING = "0.1.0"

ALCM_MODE_ADAPTIVE = 0
ALCM_MODE_RELATIVE_L2 = 1
ALCM_MODE_MAX_ABS = 2
ALCM_MODE_LOSSLESS = 3
ALCM_BACKEND_STORE = 0
ALCM_BACKEND_DEFLATE = 1
ALCM_BACKEND_RANS = 2
ALCM_BACKEND_RANS_MODEL = 3   # in frames only (peek); cannot be selected
ALCM_BACKEND_FLOAT = 4   # in lossless frames only (peek); cannot be selected
ALCM_DTYPE_F32 = 1
ALCM_DTYPE_BF16 = 2
ALCM_DTYPE_F16 = 3
ALCM_DTYPE_F64 = 4
ALCM_NON_FINITE_REFUSE = 0
ALCM_NON_FINITE_KEEP = 1

STATUS_NAMES = {
    0: "ALCM_OK",
    1: "ALCM_ERR_NULL_POINTER",
    2: "ALCM_ERR_INVALID_ARGUMENT",
    3: "ALCM_ERR_INVALID_CONFIG",
    4: "ALCM_ERR_NON_FINITE",
    5: "ALCM_ERR_BUFFER_TOO_SMALL",
    6: "ALCM_ERR_INVALID_HANDLE",
    7: "ALCM_ERR_INVALID_UTF8",
    100: "ALCM_ERR_TRUNCATED",
    101: "ALCM_ERR_CORRUPT",
    102: "ALCM_ERR_CHECKSUM",
    103: "ALCM_ERR_BAD_MAGIC",
    104: "ALCM_ERR_FORMAT_VERSION",
    105: "ALCM_ERR_TOO_LARGE",
    200: "ALCM_ERR_IO",
    201: "ALCM_ERR_INVALID_MODEL",
    202: "ALCM_ERR_TIMEOUT",
    900: "ALCM_ERR_PANIC",
    901: "ALCM_ERR_INTERNAL",
}


# ---------------------------------------------------------------------------------------------
# Structs (field order and types exactly as in alcm.h).
class Report(ctypes.Structure):
    _fields_ = [
        ("input_bytes", ctypes.c_uint64),
        ("output_bytes", ctypes.c_uint64),
        ("ratio", ctypes.c_double),
        ("bits_per_value", ctypes.c_double),
        ("dropped_ratio", ctypes.c_double),
        ("cpu_seconds", ctypes.c_double),
        ("caq", ctypes.c_double),
        ("step", ctypes.c_double),
        ("mode", ctypes.c_uint32),
        ("exceptions", ctypes.c_uint64),
    ]


class FrameInfo(ctypes.Structure):
    _fields_ = [
        ("format_version", ctypes.c_uint32),
        ("mode", ctypes.c_uint32),
        ("backend", ctypes.c_uint32),
        ("rank", ctypes.c_uint32),
        ("shape", ctypes.c_uint64 * 8),
        ("n_values", ctypes.c_uint64),
        ("n_channels", ctypes.c_uint64),
        ("target", ctypes.c_double),
        ("frame_len", ctypes.c_uint64),
        ("n_exceptions", ctypes.c_uint64),
    ]


class Metrics(ctypes.Structure):
    _fields_ = [(name, ctypes.c_double) for name in ("mse", "mae", "rel_l2", "max_abs", "psnr", "snr")]


class SchedulerInfo(ctypes.Structure):
    _fields_ = [
        ("step", ctypes.c_uint64),
        ("threshold", ctypes.c_double),
        ("mean_caq", ctypes.c_double),
        ("trend", ctypes.c_double),
        ("window_len", ctypes.c_uint64),
    ]


class Stats(ctypes.Structure):
    _fields_ = [
        ("mean", ctypes.c_double),
        ("var", ctypes.c_double),
        ("std", ctypes.c_double),
        ("skew", ctypes.c_double),
        ("kurtosis", ctypes.c_double),
        ("sparsity", ctypes.c_double),
        ("count", ctypes.c_uint64),
    ]


# numpy view of an array of alcm_stats (alcm_channel_stats writes straight into it).
STATS_DTYPE = np.dtype(
    [("mean", "<f8"), ("var", "<f8"), ("std", "<f8"), ("skew", "<f8"), ("kurtosis", "<f8"),
     ("sparsity", "<f8"), ("count", "<u8")],
    align=True,
)
assert STATS_DTYPE.itemsize == ctypes.sizeof(Stats)


# ---------------------------------------------------------------------------------------------
# Argument types.
class _Nullable:
    """An ndpointer that also accepts ``None`` (passed as NULL, for arrays of length 0)."""

    def __init__(self, base):
        self._base = base

    def from_param(self, obj):
        if obj is None:
            return None
        return self._base.from_param(obj)


c_size_t = ctypes.c_size_t
c_double = ctypes.c_double
c_uint32 = ctypes.c_uint32
c_uint64 = ctypes.c_uint64
c_handle = ctypes.c_void_p                       # opaque alcm_* pointers
c_handle_out = ctypes.POINTER(ctypes.c_void_p)   # alcm_x **out
c_str = ctypes.c_char_p                          # const char * (NUL-terminated UTF-8)
c_status = ctypes.c_uint32                       # alcm_status
f32_in = ndpointer(np.float32, flags="C_CONTIGUOUS,ALIGNED")
f32_out = ndpointer(np.float32, flags="C_CONTIGUOUS,ALIGNED,WRITEABLE")
f64_in = _Nullable(ndpointer(np.float64, flags="C_CONTIGUOUS,ALIGNED"))
f64_out = _Nullable(ndpointer(np.float64, flags="C_CONTIGUOUS,ALIGNED,WRITEABLE"))
u8_in = ndpointer(np.uint8, flags="C_CONTIGUOUS")
u8_out = ndpointer(np.uint8, flags="C_CONTIGUOUS,WRITEABLE")
shape_in = _Nullable(ndpointer(np.uintp, flags="C_CONTIGUOUS,ALIGNED"))   # const size_t *
stats_out = _Nullable(ndpointer(STATS_DTYPE, flags="C_CONTIGUOUS,ALIGNED,WRITEABLE"))
p_size_t = ctypes.POINTER(ctypes.c_size_t)
p_double = ctypes.POINTER(ctypes.c_double)
p_report = ctypes.POINTER(Report)

# name: (restype, [argtypes]) -- one entry per function of include/alcm.h, in header order.
PROTOTYPES = {
    "alcm_compress_bound": (c_size_t, [c_size_t]),
    "alcm_encoder_new": (c_status, [c_handle_out]),
    "alcm_encoder_from_yaml_file": (c_status, [c_str, c_handle_out]),
    "alcm_encoder_from_yaml_string": (c_status, [c_str, c_handle_out]),
    "alcm_encoder_free": (None, [c_handle]),
    "alcm_encoder_set_threshold": (c_status, [c_handle, c_double]),
    "alcm_encoder_set_mode": (c_status, [c_handle, c_uint32, c_double]),
    "alcm_encoder_set_backend": (c_status, [c_handle, c_uint32, c_uint32]),
    "alcm_encoder_set_precision": (c_status, [c_handle, c_uint32, c_uint32]),
    "alcm_encoder_set_max_drop_ratio": (c_status, [c_handle, c_double]),
    "alcm_encoder_set_non_finite": (c_status, [c_handle, c_uint32]),
    "alcm_encoder_set_threads": (c_status, [c_handle, c_uint32]),
    "alcm_encoder_compress": (c_status, [c_handle, f32_in, c_size_t, shape_in, f64_in, c_size_t,
                                         u8_out, c_size_t, p_size_t, p_report]),
    "alcm_peek": (c_status, [u8_in, c_size_t, ctypes.POINTER(FrameInfo)]),
    "alcm_decompress": (c_status, [u8_in, c_size_t, f32_out, c_size_t, p_size_t]),
    "alcm_decompress_with_threads": (c_status, [u8_in, c_size_t, f32_out, c_size_t, c_uint32,
                                                p_size_t]),
    "alcm_feedback_new": (c_status, [c_size_t, shape_in, c_handle_out]),
    "alcm_feedback_compress": (c_status, [c_handle, c_handle, f32_in, c_size_t, f64_in, c_size_t,
                                          u8_out, c_size_t, p_size_t, p_report]),
    "alcm_feedback_reset": (c_status, [c_handle]),
    "alcm_feedback_save": (c_status, [c_handle, c_str]),
    "alcm_feedback_load": (c_status, [c_str, c_handle_out]),
    "alcm_feedback_free": (None, [c_handle]),
    "alcm_last_error_message": (c_size_t, [ctypes.c_char_p, c_size_t]),
    "alcm_error_metrics": (c_status, [f32_in, f32_in, c_size_t, ctypes.POINTER(Metrics)]),
    "alcm_caq": (c_status, [c_double, c_double, p_double]),
    "alcm_variance_percent": (c_status, [f64_in, c_size_t, p_double]),
    "alcm_predictor_new": (c_status, [c_size_t, c_double, c_double, c_double, c_uint64, c_handle_out]),
    "alcm_predictor_from_yaml_file": (c_status, [c_str, c_handle_out]),
    "alcm_predictor_from_yaml_string": (c_status, [c_str, c_handle_out]),
    "alcm_predictor_train": (c_status, [c_handle, f64_in, f64_in, c_size_t, c_size_t, f64_out]),
    "alcm_predictor_forward": (c_status, [c_handle, f64_in, p_double]),
    "alcm_predictor_predict": (c_status, [c_handle, f32_in, c_size_t, shape_in, p_double]),
    "alcm_predictor_predict_channels": (c_status, [c_handle, f32_in, c_size_t, shape_in, f64_out,
                                                   c_size_t, p_size_t]),
    "alcm_predictor_save": (c_status, [c_handle, c_str]),
    "alcm_predictor_load": (c_status, [c_str, c_handle_out]),
    "alcm_predictor_free": (None, [c_handle]),
    "alcm_empirical_allocation": (c_status, [c_handle, f32_in, c_size_t, shape_in, c_double, p_double]),
    "alcm_empirical_channel_allocations": (c_status, [c_handle, f32_in, c_size_t, shape_in, c_double,
                                                      f64_out, c_size_t, p_size_t]),
    "alcm_guard_channel_allocations": (c_status, [c_handle, f32_in, c_size_t, shape_in, c_double,
                                                  f64_out, c_size_t]),
    "alcm_scheduler_new": (c_status, [c_double, c_double, c_size_t, c_double, c_double, c_handle_out]),
    "alcm_scheduler_update": (c_status, [c_handle, c_double, p_double]),
    "alcm_scheduler_stats": (c_status, [c_handle, ctypes.POINTER(SchedulerInfo)]),
    "alcm_scheduler_window": (c_status, [c_handle, f64_out, c_size_t, p_size_t]),
    "alcm_scheduler_history": (c_status, [c_handle, f64_out, c_size_t, p_size_t]),
    "alcm_scheduler_reset": (c_status, [c_handle]),
    "alcm_scheduler_free": (None, [c_handle]),
    "alcm_tensor_stats": (c_status, [f32_in, c_size_t, shape_in, ctypes.POINTER(Stats)]),
    "alcm_channel_count": (c_status, [c_size_t, shape_in, p_size_t]),
    "alcm_channel_stats": (c_status, [f32_in, c_size_t, shape_in, stats_out, c_size_t, p_size_t]),
    "alcm_status_string": (ctypes.c_char_p, [c_uint32]),
    "alcm_version_number": (c_uint32, []),
    "alcm_version_string": (ctypes.c_char_p, []),
    "alcm_format_version": (c_uint32, []),
}


# ---------------------------------------------------------------------------------------------
# Finding the library.
class LibraryNotFoundError(OSError):
    """libalcm could not be loaded; the message lists every place that was tried."""


_PLATFORM_NAMES = {"darwin": "libalcm.dylib", "win32": "alcm.dll"}
LIBRARY_FILENAME = _PLATFORM_NAMES.get(sys.platform, "libalcm.so")

_lock = threading.Lock()
_lib = None


def _candidates():
    """(description, path-or-name) in search order."""
    env = os.environ.get("ALCM_LIBRARY")
    if env:
        yield "ALCM_LIBRARY", env
    else:
        yield "ALCM_LIBRARY", None
    yield "next to the package", str(Path(__file__).resolve().parent / LIBRARY_FILENAME)
    found = ctypes.util.find_library("alcm")
    yield "ctypes.util.find_library('alcm')", found
    yield "system loader", LIBRARY_FILENAME


def _declare(lib):
    for name, (restype, argtypes) in PROTOTYPES.items():
        fn = getattr(lib, name)
        fn.restype = restype
        fn.argtypes = argtypes
    return lib


def load(path=None):
    """Loads (once) and returns the ``ctypes.CDLL`` with every prototype declared.

    Search order: ``path`` if given, else ``$ALCM_LIBRARY``, then ``libalcm.so`` next to this
    package (``alcm/libalcm.so``, how a wheel ships it), then ``ctypes.util.find_library``,
    then the system loader's search path (``LD_LIBRARY_PATH``, ldconfig).
    """
    global _lib
    if _lib is not None and path is None:
        return _lib
    with _lock:
        if _lib is not None and path is None:
            return _lib
        tried = []
        cands = [("explicit path", str(path))] if path is not None else list(_candidates())
        for where, target in cands:
            if target is None:
                tried.append(f"  {where}: not set / not found")
                continue
            if os.sep in target and not os.path.exists(target):
                tried.append(f"  {where}: {target}: no such file")
                if where == "ALCM_LIBRARY":
                    # An explicit setting that is wrong is an error, not a reason to fall back.
                    break
                continue
            try:
                lib = ctypes.CDLL(target)
            except OSError as e:
                tried.append(f"  {where}: {target}: {e}")
                if where == "ALCM_LIBRARY":
                    break
                continue
            try:
                lib = _declare(lib)
            except AttributeError as e:
                tried.append(f"  {where}: {target}: not a matching libalcm ({e})")
                continue
            if path is None:
                _lib = lib
            return lib
        raise LibraryNotFoundError(
            "cannot load the alcm shared library; tried, in order:\n" + "\n".join(tried)
            + "\nBuild it with `cargo build --release` and set ALCM_LIBRARY=<repo>/target/release/"
            + LIBRARY_FILENAME + ", or copy it next to the alcm package."
        )


def last_error_message(lib) -> str:
    """The calling thread's last error message (alcm_last_error_message, size query first)."""
    n = lib.alcm_last_error_message(None, 0)
    if n == 0:
        return ""
    buf = ctypes.create_string_buffer(n + 1)
    lib.alcm_last_error_message(buf, n + 1)
    return buf.value.decode("utf-8", errors="replace")


# ---------------------------------------------------------------------------------------------
# Element types (alcm/dtypes.py): typed entry points; tensors pass as `void *`.
PROTOTYPES.update({
    "alcm_compress_bound_typed": (c_size_t, [c_size_t, c_uint32]),
    "alcm_encoder_compress_typed": (c_status, [c_handle, ctypes.c_void_p, c_uint32, c_size_t,
                                               shape_in, f64_in, c_size_t, u8_out, c_size_t,
                                               p_size_t, p_report]),
    "alcm_peek_dtype": (c_status, [u8_in, c_size_t, ctypes.POINTER(c_uint32)]),
    "alcm_decompress_typed": (c_status, [u8_in, c_size_t, c_uint32, ctypes.c_void_p, c_size_t,
                                         c_uint32, p_size_t]),
})


# ---------------------------------------------------------------------------------------------
# Compressed collectives (alcm_exchange, alcm_residual_store); the API is alcm.collective.
PROTOTYPES.update({
    "alcm_exchange_new": (c_status, [c_size_t, shape_in, c_size_t, c_size_t, c_size_t, c_size_t,
                                     c_handle_out]),
    "alcm_exchange_shard": (c_status, [c_handle, c_size_t, p_size_t, p_size_t]),
    "alcm_exchange_compress_shard": (c_status, [c_handle, c_handle, f32_in, c_size_t, c_size_t,
                                                u8_out, c_size_t, p_size_t, p_report]),
    "alcm_exchange_accumulate": (c_status, [c_handle, u8_in, c_size_t, ctypes.c_float, f32_out,
                                            c_size_t]),
    "alcm_exchange_compress_reduced": (c_status, [c_handle, c_handle, f32_in, c_size_t, u8_out,
                                                  c_size_t, p_size_t, p_report]),
    "alcm_exchange_decode_shard": (c_status, [c_handle, u8_in, c_size_t, c_size_t, f32_out,
                                              c_size_t]),
    "alcm_exchange_message_len": (c_status, [u8_in, c_size_t, p_size_t]),
    "alcm_exchange_compress_shard_allocated": (c_status, [c_handle, c_handle, f32_in, c_size_t,
                                                          c_size_t, f64_in, c_size_t, u8_out,
                                                          c_size_t, p_size_t, p_report]),
    "alcm_exchange_compress_reduced_allocated": (c_status, [c_handle, c_handle, f32_in, c_size_t,
                                                            f64_in, c_size_t, u8_out, c_size_t,
                                                            p_size_t, p_report]),
    "alcm_exchange_save_residuals": (c_status, [c_handle, c_str, c_handle]),
    "alcm_exchange_load_residuals": (c_status, [c_handle, c_str, c_handle]),
    "alcm_exchange_free": (None, [c_handle]),
    "alcm_residual_store_new": (c_status, [c_handle_out]),
    "alcm_residual_store_len": (c_status, [c_handle, p_size_t]),
    "alcm_residual_store_save": (c_status, [c_handle, c_str]),
    "alcm_residual_store_load": (c_status, [c_str, c_handle_out]),
    "alcm_residual_store_put": (c_status, [c_handle, c_str, c_handle]),
    "alcm_residual_store_get": (c_status, [c_handle, c_str, c_handle_out]),
    "alcm_residual_store_free": (None, [c_handle]),
})


# ---------------------------------------------------------------------------------------------
# Low-rank compression (alcm_lowrank); the API is alcm.lowrank.
PROTOTYPES.update({
    "alcm_lowrank_pays": (c_status, [c_size_t, c_size_t, c_size_t, c_double,
                                     ctypes.POINTER(c_uint32)]),
    "alcm_lowrank_new": (c_status, [c_size_t, c_size_t, c_size_t, c_double, c_double, c_uint32,
                                    c_uint64, c_handle_out]),
    "alcm_lowrank_sizes": (c_status, [c_handle, p_size_t, p_size_t]),
    "alcm_lowrank_begin": (c_status, [c_handle, f32_in, c_size_t, u8_out, c_size_t, p_size_t]),
    "alcm_lowrank_after_p": (c_status, [c_handle, f32_in, c_size_t, u8_out, c_size_t, p_size_t]),
    "alcm_lowrank_finish": (c_status, [c_handle, f32_in, c_size_t, ctypes.c_float, f32_out,
                                       c_size_t]),
    "alcm_lowrank_get_q": (c_status, [c_handle, f32_out, c_size_t]),
    "alcm_lowrank_set_q": (c_status, [c_handle, f32_in, c_size_t]),
    "alcm_lowrank_get_residual": (c_status, [c_handle, f32_out, c_size_t]),
    "alcm_lowrank_set_residual": (c_status, [c_handle, f32_in, c_size_t]),
    "alcm_lowrank_free": (None, [c_handle]),
})


# ---------------------------------------------------------------------------------------------
# Archives (alcm_archive_*, src/ffi/archive.rs); used by alcm/archive.py.
_u32_out = ctypes.POINTER(ctypes.c_uint32)
PROTOTYPES.update({
    "alcm_archive_open": (c_status, [c_str, c_uint32, c_handle_out]),
    "alcm_archive_free": (None, [c_handle]),
    "alcm_archive_count": (c_status, [c_handle, p_size_t]),
    "alcm_archive_name": (c_status, [c_handle, c_size_t, ctypes.c_char_p, c_size_t, p_size_t]),
    "alcm_archive_info": (c_status, [c_handle, c_str, _u32_out, _u32_out, p_size_t, p_size_t,
                                     p_double, p_double]),
    "alcm_archive_read": (c_status, [c_handle, c_str, c_uint32, ctypes.c_void_p, c_size_t,
                                     p_size_t]),
    "alcm_archive_read_rows": (c_status, [c_handle, c_str, c_uint32, c_size_t, c_size_t,
                                          ctypes.c_void_p, c_size_t, p_size_t]),
    "alcm_archive_writer_new": (c_status, [c_str, c_uint32, c_size_t, c_handle_out]),
    "alcm_archive_writer_add": (c_status, [c_handle, c_str, c_uint32, ctypes.c_void_p, c_size_t,
                                           shape_in, c_uint32, c_double]),
    "alcm_archive_writer_finish": (c_status, [c_handle]),
    "alcm_archive_writer_free": (None, [c_handle]),
})
