"""alcm -- error-bounded compression of float32 ML tensors (Python binding).

A thin ctypes layer over the C ABI of ``libalcm`` (``include/alcm.h``); nothing is
reimplemented here. Arrays go in and come out as numpy arrays.

Input conversion policy (every function that takes a tensor):

* ``float32``: used as is; non-contiguous, misaligned or byte-swapped arrays are copied to a
  C-contiguous native array (``np.ascontiguousarray``).
* ``float64`` and ``float16``: converted to float32 (a copy). float16 always fits; float64 is
  refused with ``ValueError`` when a finite value overflows float32 (it would become ±inf).
  Precision beyond float32 is lost, as with any cast to float32.
* ``bfloat16`` (``ml_dtypes.bfloat16``): compressed as bfloat16, decoded as bfloat16.
  ``compress(x, dtype="same")`` / ``Encoder.compress_typed`` keep float16 and float64 too
  (frames of those types; bounds hold on the given values; :func:`decompress` returns the
  frame's type). See ``alcm/dtypes.py``.
* integer and bool arrays: refused with ``TypeError`` (integers above 2^24 are not exactly
  representable in float32; cast explicitly with ``a.astype(np.float32)`` if that is intended).
* complex, object, string, structured dtypes: refused with ``TypeError``.
* NaN/±Inf: refused by the library (``AlcmError`` with name ``ALCM_ERR_NON_FINITE``, also a
  ``ValueError``) unless the encoder's policy is ``non_finite="keep"``.

Every non-OK status raises an :class:`AlcmError` (a subclass per status group) carrying
``.status`` (number), ``.name`` (e.g. ``"ALCM_ERR_CHECKSUM"``) and ``.message`` (from
``alcm_last_error_message``).

Thread safety: module functions are thread-safe. Handle classes lock internally (a
readers-writer lock): const operations (``Encoder.compress``, ``Predictor.predict``...) run
concurrently, mutating ones (setters, ``train``, ``update``, ``close``) run exclusively.
"""

from __future__ import annotations

import atexit
import collections
import ctypes
import os
import threading
import weakref
from dataclasses import dataclass
from typing import Optional, Sequence, Tuple, Union

import numpy as np

from . import _lib as _c
from . import dtypes as _dt
from ._lib import (
    ALCM_FORMAT_VERSION,
    ALCM_FRAME_HEADER_MAX,
    ALCM_MAX_RANK,
    ALCM_MAX_THREADS,
    LibraryNotFoundError,
    STATS_DTYPE,
    STATUS_NAMES,
)

__version__ = "0.1.0"

__all__ = [
    "AlcmError", "ArgumentError", "DataError", "EnvironmentError_", "InternalError",
    "LibraryNotFoundError", "Report", "FrameInfo", "Metrics", "Stats", "SchedulerInfo",
    "Encoder", "Predictor", "ErrorFeedback", "Scheduler",
    "compress", "decompress", "peek", "compress_bound", "compress_bound_typed", "stats",
    "channel_stats",
    "channel_count", "stats_features", "metrics", "caq", "variance_percent",
    "empirical_allocation", "empirical_channel_allocations", "guard_channel_allocations",
    "version", "version_number",
    "format_version", "status_string", "load_library",
    "MODES", "BACKENDS", "ALCM_MAX_RANK", "ALCM_FORMAT_VERSION", "ALCM_FRAME_HEADER_MAX",
    "ALCM_MAX_THREADS",
]

MODES = {"adaptive": _c.ALCM_MODE_ADAPTIVE, "relative_l2": _c.ALCM_MODE_RELATIVE_L2,
         "max_abs": _c.ALCM_MODE_MAX_ABS, "lossless": _c.ALCM_MODE_LOSSLESS}
MODE_NAMES = {v: k for k, v in MODES.items()}
# The backends an encoder can be set to; "rans" is the library's default.
BACKENDS = {"rans": _c.ALCM_BACKEND_RANS, "deflate": _c.ALCM_BACKEND_DEFLATE,
            "store": _c.ALCM_BACKEND_STORE}
# Every backend a frame may report (peek): the encoder writes "rans_model" in place of "rans"
# when the rank-1 model's payload is smaller, and "float" (the float-layout coder) for a lossless
# frame; neither can be selected.
BACKEND_NAMES = {**{v: k for k, v in BACKENDS.items()}, _c.ALCM_BACKEND_RANS_MODEL: "rans_model",
                 _c.ALCM_BACKEND_FLOAT: "float"}
NON_FINITE = {"refuse": _c.ALCM_NON_FINITE_REFUSE, "keep": _c.ALCM_NON_FINITE_KEEP}


def load_library(path=None):
    """Loads libalcm (see :func:`alcm._lib.load` for the search order) and returns the CDLL."""
    return _c.load(path)


def _L():
    return _c.load()


# ---------------------------------------------------------------------------------------------
# Errors.
class AlcmError(Exception):
    """A non-OK alcm_status. ``status`` is the number, ``name`` its ALCM_* name, ``message``
    the library's message for the failed call (alcm_last_error_message)."""

    def __init__(self, status: int, message: str = "", function: str = ""):
        self.status = int(status)
        self.name = STATUS_NAMES.get(self.status, f"ALCM_STATUS_{self.status}")
        self.message = message
        self.function = function
        # the library's message starts with the function name already
        super().__init__(f"{self.name} ({self.status}): {message}" if message
                         else f"{self.name} ({self.status}) in {function}")


class ArgumentError(AlcmError, ValueError):
    """Statuses 1-99: the call was wrong (bad argument, config, NaN refused, bad handle...)."""


class DataError(AlcmError, ValueError):
    """Statuses 100-199: the bytes are bad (truncated, corrupt, checksum, magic, version)."""


class EnvironmentError_(AlcmError):
    """Statuses 200-299: files, models, time budget."""


class InternalError(AlcmError):
    """Statuses 900-999: a bug in alcm (please report)."""


def _error_class(status: int):
    if 1 <= status < 100:
        return ArgumentError
    if 100 <= status < 200:
        return DataError
    if 200 <= status < 300:
        return EnvironmentError_
    if status >= 900:
        return InternalError
    return AlcmError


def _check(status: int, function: str) -> None:
    """Raises the exception for a non-OK status; the message is read on the calling thread,
    right after the call (it is thread-local in the library)."""
    if status != 0:
        msg = _c.last_error_message(_L())
        raise _error_class(status)(status, msg, function)


def _call(name: str, *args) -> None:
    if _pending_frees:
        _drain_frees()
    _check(getattr(_L(), name)(*args), name)


# ---------------------------------------------------------------------------------------------
# Result records.
@dataclass(frozen=True)
class Report:
    input_bytes: int
    output_bytes: int
    ratio: float
    bits_per_value: float
    dropped_ratio: float
    cpu_seconds: float
    caq: float
    step: float
    mode: str
    exceptions: int

    @classmethod
    def _from_c(cls, r: _c.Report) -> "Report":
        return cls(r.input_bytes, r.output_bytes, r.ratio, r.bits_per_value, r.dropped_ratio,
                   r.cpu_seconds, r.caq, r.step, MODE_NAMES.get(r.mode, str(r.mode)), r.exceptions)


@dataclass(frozen=True)
class FrameInfo:
    format_version: int
    mode: str
    backend: str
    shape: Tuple[int, ...]
    n_values: int
    n_channels: int
    target: float
    frame_len: int
    n_exceptions: int
    dtype: str = "float32"   # the frame's element type (alcm_peek_dtype)

    def __getitem__(self, key):  # dict-style access too: info["shape"]
        return getattr(self, key)


@dataclass(frozen=True)
class Metrics:
    mse: float
    mae: float
    rel_l2: float
    max_abs: float
    psnr: float
    snr: float


@dataclass(frozen=True)
class Stats:
    mean: float
    var: float
    std: float
    skew: float
    kurtosis: float
    sparsity: float
    count: int

    def features(self) -> np.ndarray:
        """The predictor's six features [mean, var, std, skew, kurtosis, sparsity]."""
        return np.array([self.mean, self.var, self.std, self.skew, self.kurtosis, self.sparsity])


@dataclass(frozen=True)
class SchedulerInfo:
    step: int
    threshold: float
    mean_caq: float
    trend: float
    window_len: int


# ---------------------------------------------------------------------------------------------
# Input conversion.
def _as_f32(array, what: str = "array") -> np.ndarray:
    """C-contiguous, aligned, native-endian float32 view or copy (see the module docstring)."""
    a = np.asarray(array)
    dt = a.dtype
    if dt.kind == "f":
        if dt.itemsize == 8:
            with np.errstate(over="ignore", invalid="ignore"):
                out = a.astype(np.float32)
            bad = np.isinf(out) & np.isfinite(a)
            if bad.any():
                i = np.unravel_index(int(np.argmax(bad)), a.shape) if a.ndim else ()
                raise ValueError(f"{what}: float64 value {a[i]!r} at index {i} overflows float32")
            a = out
        elif dt.itemsize in (2, 4):
            a = a.astype(np.float32, copy=False)
        else:
            raise TypeError(f"{what}: dtype {dt} (extended precision) is not supported; "
                            "convert to float32 or float64 first")
        return np.require(a, np.float32, ["C_CONTIGUOUS", "ALIGNED"])
    if dt.kind in "iub":
        raise TypeError(f"{what}: integer/bool dtype {dt} is refused (values above 2^24 are not "
                        "exact in float32); cast explicitly with .astype(np.float32)")
    raise TypeError(f"{what}: dtype {dt} cannot be compressed as float32 (complex, object, "
                    "string and structured arrays are refused)")


def _shape(a: np.ndarray):
    """(rank, shape pointer argument) for a numpy array; a 0-d array is rank 0 with NULL."""
    if a.ndim > ALCM_MAX_RANK:
        raise ValueError(f"rank {a.ndim} exceeds ALCM_MAX_RANK ({ALCM_MAX_RANK})")
    if a.ndim == 0:
        return 0, None
    return a.ndim, np.asarray(a.shape, dtype=np.uintp)


def _as_f64(values, what: str) -> np.ndarray:
    a = np.asarray(values)
    if a.dtype.kind not in "fiu" or a.dtype.itemsize > 8:
        raise TypeError(f"{what}: expected real numbers, got dtype {a.dtype}")
    return np.ascontiguousarray(a, dtype=np.float64)


def _allocation(allocation) -> Tuple[Optional[np.ndarray], int]:
    if allocation is None:
        return None, 0
    a = _as_f64(allocation, "allocation").ravel()
    return (a if a.size else None), a.size


def _path(path) -> bytes:
    # Paths go to the library as UTF-8; os.fsencode keeps undecodable names byte-exact (the
    # library then reports ALCM_ERR_INVALID_UTF8).
    p = os.fsencode(os.fspath(path))
    if b"\0" in p:
        raise ValueError("path contains a NUL byte")
    return p


def _text(s: str) -> bytes:
    b = s.encode("utf-8", errors="surrogateescape") if isinstance(s, str) else bytes(s)
    if b"\0" in b:
        raise ValueError("string contains a NUL byte")
    return b


def _src_bytes(data) -> np.ndarray:
    """bytes/bytearray/memoryview/uint8 array -> a contiguous uint8 array without copying."""
    if isinstance(data, np.ndarray):
        if data.dtype != np.uint8:
            raise TypeError(f"compressed data must be bytes or a uint8 array, got {data.dtype}")
        return np.ascontiguousarray(data.ravel())
    try:
        mv = memoryview(data)
    except TypeError:
        raise TypeError(f"compressed data must be bytes-like, got {type(data).__name__}") from None
    return np.frombuffer(mv.cast("B") if mv.contiguous else mv.tobytes(), dtype=np.uint8)


# ---------------------------------------------------------------------------------------------
# Handles: ownership, finalizers, locking.
class _RWLock:
    """Many readers (const C calls) or one writer (mutating calls and close)."""

    def __init__(self):
        self._cond = threading.Condition(threading.Lock())
        self._readers = 0
        self._writer = False

    def read(self):
        return _Guard(self, False)

    def write(self):
        return _Guard(self, True)


class _Guard:
    __slots__ = ("l", "w")

    def __init__(self, lock, write):
        self.l, self.w = lock, write

    def __enter__(self):
        l = self.l
        with l._cond:
            if self.w:
                while l._writer or l._readers:
                    l._cond.wait()
                l._writer = True
            else:
                while l._writer:
                    l._cond.wait()
                l._readers += 1

    def __exit__(self, *exc):
        l = self.l
        with l._cond:
            if self.w:
                l._writer = False
            else:
                l._readers -= 1
            l._cond.notify_all()


# Finalizers never call alcm_*_free directly: libalcm's free functions clear the calling
# thread's last error message, and Python's garbage collector can run a finalizer on this thread
# between a failing call and the alcm_last_error_message that reads its message (seen in
# practice: the message came back empty). So finalizers queue the handle, and the queue is
# drained right before the next fallible call (which clears the message anyway) or by close().
_pending_frees: "collections.deque" = collections.deque()


def _free(free_name: str, ptr: int) -> None:
    _pending_frees.append((free_name, ptr))


def _drain_frees() -> None:
    lib = _c._lib
    while _pending_frees:
        try:
            name, ptr = _pending_frees.popleft()
        except IndexError:  # another thread emptied it
            return
        if lib is not None:
            getattr(lib, name)(ptr)


atexit.register(_drain_frees)


class _Handle:
    """Owns one alcm handle: freed by close(), the context manager, or the finalizer."""

    _free_fn = ""
    _kind = ""

    def _adopt(self, ptr: ctypes.c_void_p) -> None:
        self._ptr = ptr.value
        self._rw = _RWLock()
        self._finalizer = weakref.finalize(self, _free, self._free_fn, self._ptr)

    def _handle(self) -> int:
        p = getattr(self, "_ptr", None)
        if p is None:
            raise ValueError(f"this {self._kind} is closed")
        return p

    def close(self) -> None:
        """Frees the handle now (idempotent). Waits for calls in progress on other threads."""
        if getattr(self, "_ptr", None) is None:
            return
        with self._rw.write():
            if self._ptr is not None:
                self._ptr = None
                self._finalizer()   # queues the free (and disarms the finalizer)
                _drain_frees()      # then frees it now

    @property
    def closed(self) -> bool:
        return getattr(self, "_ptr", None) is None

    def __enter__(self):
        self._handle()
        return self

    def __exit__(self, *exc):
        self.close()

    def __repr__(self):
        state = "closed" if self.closed else hex(self._ptr)
        return f"<alcm.{type(self).__name__} {state}>"


def _new_handle(cls, fn: str, *args):
    out = ctypes.c_void_p()
    _call(fn, *args, ctypes.byref(out))
    obj = cls.__new__(cls)
    obj._adopt(out)
    return obj


# ---------------------------------------------------------------------------------------------
# Encoder.
class Encoder(_Handle):
    """A configured encoder (alcm_encoder). Defaults: adaptive mode, precision 4..8 bits,
    pruning threshold 0.01, max drop ratio 0.25, the ``"rans"`` backend (``level``, default 6,
    applies to ``"deflate"`` only), non-finite values refused.

    ``Encoder(mode=..., target=..., backend=..., level=..., threshold=..., precision=(min, base),
    max_drop_ratio=..., non_finite=..., threads=...)`` applies the setters to the defaults."""

    _free_fn = "alcm_encoder_free"
    _kind = "encoder"

    def __init__(self, mode=None, target=None, *, backend=None, level=6, threshold=None,
                 precision=None, max_drop_ratio=None, non_finite=None, threads=None):
        out = ctypes.c_void_p()
        _call("alcm_encoder_new", ctypes.byref(out))
        self._adopt(out)
        try:
            self._configure(mode, target, backend, level, threshold, precision, max_drop_ratio,
                            non_finite, threads)
        except BaseException:
            self.close()
            raise

    def _configure(self, mode, target, backend, level, threshold, precision, max_drop_ratio,
                   non_finite, threads=None):
        if mode is not None:
            self.set_mode(mode, target)
        elif target is not None:
            raise ValueError("target given without a mode")
        if backend is not None:
            self.set_backend(backend, level)
        if threshold is not None:
            self.set_threshold(threshold)
        if precision is not None:
            self.set_precision(*precision)
        if max_drop_ratio is not None:
            self.set_max_drop_ratio(max_drop_ratio)
        if non_finite is not None:
            self.set_non_finite(non_finite)
        if threads is not None:
            self.set_threads(threads)

    @classmethod
    def from_yaml_file(cls, path) -> "Encoder":
        """An encoder from a YAML file in the encoder_config.yaml schema."""
        return _new_handle(cls, "alcm_encoder_from_yaml_file", _path(path))

    @classmethod
    def from_yaml_string(cls, yaml: str) -> "Encoder":
        return _new_handle(cls, "alcm_encoder_from_yaml_string", _text(yaml))

    def _set(self, fn, *args):
        with self._rw.write():
            _call(fn, self._handle(), *args)
        return self

    def set_threshold(self, threshold: float) -> "Encoder":
        return self._set("alcm_encoder_set_threshold", float(threshold))

    def set_mode(self, mode: Union[str, int], target: Optional[float] = None) -> "Encoder":
        m = _enum(mode, MODES, "mode")
        if m in (1, 2) and target is None:
            raise ValueError(f"mode {MODE_NAMES[m]!r} needs a target")
        return self._set("alcm_encoder_set_mode", m, float(target or 0.0))

    def set_backend(self, backend: Union[str, int], level: int = 6) -> "Encoder":
        return self._set("alcm_encoder_set_backend", _enum(backend, BACKENDS, "backend"),
                         _u32(level, "level"))

    def set_precision(self, min_precision: int, base_precision: int) -> "Encoder":
        return self._set("alcm_encoder_set_precision", _u32(min_precision, "min_precision"),
                         _u32(base_precision, "base_precision"))

    def set_max_drop_ratio(self, max_drop_ratio: float) -> "Encoder":
        return self._set("alcm_encoder_set_max_drop_ratio", float(max_drop_ratio))

    def set_non_finite(self, policy: Union[str, int]) -> "Encoder":
        return self._set("alcm_encoder_set_non_finite", _enum(policy, NON_FINITE, "non_finite"))

    def set_threads(self, threads: int) -> "Encoder":
        """Threads one compression may use, 1..ALCM_MAX_THREADS (default 1); the frame bytes
        do not depend on it."""
        return self._set("alcm_encoder_set_threads", _u32(threads, "threads"))

    def compress(self, array, allocation=None) -> Tuple[bytes, Report]:
        """Compresses a tensor; returns (frame bytes, report). ``allocation`` (adaptive mode):
        None (full precision), one value, or one per channel (the predictor's output). A
        bfloat16 array gives a bfloat16 frame; other types follow the float32 policy of the
        module docstring (:meth:`compress_typed` keeps float16 / float64)."""
        if _dt.BFLOAT16 is not None and getattr(array, "dtype", None) == _dt.BFLOAT16:
            return self.compress_typed(array, allocation)
        a = _as_f32(array)
        rank, shape = _shape(a)
        alloc, alloc_len = _allocation(allocation)
        dst = np.empty(compress_bound(a.size), dtype=np.uint8)
        n = ctypes.c_size_t()
        rep = _c.Report()
        with self._rw.read():
            _call("alcm_encoder_compress", self._handle(), a, rank, shape, alloc, alloc_len, dst,
                  dst.size, ctypes.byref(n), ctypes.byref(rep))
        return dst[: n.value].tobytes(), Report._from_c(rep)

    def compress_typed(self, array, allocation=None, dtype=None) -> Tuple[bytes, Report]:
        """Compresses a float32, bfloat16 (``ml_dtypes.bfloat16``), float16 or float64 tensor
        into a frame of its own type (``dtype``: a type name or numpy dtype to cast to first);
        the error bound holds on its values and on what :func:`decompress` returns (an array
        of that type). Returns (frame bytes, report)."""
        a, tid = _dt.as_typed(array, dtype)
        rank, shape = _shape(a)
        alloc, alloc_len = _allocation(allocation)
        with self._rw.read():
            return _dt.compress_typed(_call, self._handle(), a, rank, shape, alloc, alloc_len,
                                      tid, Report)

    def empirical_allocation(self, array, target_rel_error: float) -> float:
        """The smallest single allocation meeting ``target_rel_error`` (alcm_empirical_allocation)."""
        a = _as_f32(array)
        rank, shape = _shape(a)
        out = ctypes.c_double()
        with self._rw.read():
            _call("alcm_empirical_allocation", self._handle(), a, rank, shape,
                  float(target_rel_error), ctypes.byref(out))
        return out.value

    def empirical_channel_allocations(self, array, target_rel_error: float) -> np.ndarray:
        a = _as_f32(array)
        rank, shape = _shape(a)
        out = np.empty(max(channel_count(a.shape), 1), dtype=np.float64)
        n = ctypes.c_size_t()
        with self._rw.read():
            _call("alcm_empirical_channel_allocations", self._handle(), a, rank, shape,
                  float(target_rel_error), out, out.size, ctypes.byref(n))
        return out[: n.value].copy()

    def guard_channel_allocations(self, array, allocation, target_rel_error: float) -> np.ndarray:
        """A copy of ``allocation`` (one value per channel, e.g. ``Predictor.predict_channels``)
        with each value raised to at least what the closed-form error model needs for
        ``target_rel_error`` with this encoder's settings (alcm_guard_channel_allocations)."""
        a = _as_f32(array)
        rank, shape = _shape(a)
        out = _as_f64(allocation, "allocation").ravel().copy()
        with self._rw.read():
            _call("alcm_guard_channel_allocations", self._handle(), a, rank, shape,
                  float(target_rel_error), out if out.size else None, out.size)
        return out


def _enum(value, table, what) -> int:
    if isinstance(value, str):
        try:
            return table[value.lower()]
        except KeyError:
            raise ValueError(f"unknown {what} {value!r}; expected one of {sorted(table)}") from None
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{what} must be a name or an int, got {type(value).__name__}")
    return _u32(value, what)


def _u32(value, what) -> int:
    v = int(value)
    if not 0 <= v <= 0xFFFFFFFF:
        raise ValueError(f"{what} = {v} does not fit uint32")
    return v


# ---------------------------------------------------------------------------------------------
# Frames.
def compress_bound(n_values: int) -> int:
    """Worst-case frame size in bytes for ``n_values`` floats (alcm_compress_bound)."""
    n = int(n_values)
    if n < 0:
        raise ValueError("n_values must be >= 0")
    return int(_L().alcm_compress_bound(n))


def compress(array, mode: Union[str, int, None] = None, target: Optional[float] = None,
             backend: Union[str, int, None] = None, allocation=None,
             encoder: Optional[Encoder] = None, *, level: int = 6, non_finite=None,
             threads: Optional[int] = None, dtype=None) -> bytes:
    """Compresses a tensor to an alcm frame (bytes).

    ``dtype``: ``None`` (float32 frames, bfloat16 arrays excepted: see the module docstring),
    ``"same"`` (a frame of the array's own type: float32, bfloat16, float16 or float64), or a
    type name to cast to (``"bfloat16"``, ``"float16"``, ``"float32"``, ``"float64"``).

    Either pass ``encoder`` (a configured :class:`Encoder`) or the settings: ``mode`` one of
    ``"adaptive"`` (default), ``"relative_l2"`` (``target`` in (0, 1): ||x-x'||_2 <= target
    ||x||_2), ``"max_abs"`` (``target`` > 0: |x_i-x'_i| <= target), ``"lossless"``; ``backend``
    ``"rans"`` (default), ``"deflate"`` (``level`` 0..10) or ``"store"``; ``non_finite`` ``"refuse"``
    (default) or ``"keep"``; ``threads`` 1..ALCM_MAX_THREADS (the bytes do not depend on it).
    ``allocation`` is the adaptive mode's bit allocation.
    """
    if encoder is not None:
        if (mode is not None or target is not None or backend is not None or non_finite is not None
                or threads is not None):
            raise ValueError("give either encoder= or mode/target/backend/non_finite/threads, "
                             "not both")
        enc_ = encoder
    else:
        enc_ = Encoder(mode, target, backend=backend, level=level, non_finite=non_finite,
                       threads=threads)
    try:
        if dtype is None:
            return enc_.compress(array, allocation)[0]
        return enc_.compress_typed(array, allocation, None if dtype == "same" else dtype)[0]
    finally:
        if encoder is None:
            enc_.close()


def peek(data) -> FrameInfo:
    """Reads a frame header without decoding the payload (alcm_peek)."""
    src = _src_bytes(data)
    info = _c.FrameInfo()
    _call("alcm_peek", src, src.size, ctypes.byref(info))
    return FrameInfo(
        format_version=info.format_version,
        mode=MODE_NAMES.get(info.mode, str(info.mode)),
        backend=BACKEND_NAMES.get(info.backend, str(info.backend)),
        shape=tuple(int(info.shape[i]) for i in range(info.rank)),
        n_values=info.n_values,
        n_channels=info.n_channels,
        target=info.target,
        frame_len=info.frame_len,
        n_exceptions=info.n_exceptions,
        dtype=_dt.DTYPE_NAMES.get(_dt.peek_dtype(_call, src), "unknown"),
    )


def compress_bound_typed(n_values: int, dtype: str) -> int:
    """Worst-case frame size in bytes for ``n_values`` values of the element type ``dtype``
    (a name: float32, bfloat16, float16, float64; alcm_compress_bound_typed)."""
    n = int(n_values)
    if n < 0:
        raise ValueError("n_values must be >= 0")
    return int(_L().alcm_compress_bound_typed(n, _dt.DTYPES[dtype]))


def decompress(data, threads: Optional[int] = None) -> np.ndarray:
    """Decodes a complete frame into a new array of the stored shape and element type
    (float32; or bfloat16 as ``ml_dtypes.bfloat16``, float16, float64 for frames of those). ``threads``
    (1..ALCM_MAX_THREADS) decodes a large frame's independent blocks in parallel
    (alcm_decompress_with_threads); the values do not depend on it."""
    src = _src_bytes(data)
    info = peek(src)
    if info.dtype != "float32":
        # A frame of another element type: an array of that type.
        return _dt.decompress_typed(_call, src, info.shape, _dt.DTYPES[info.dtype],
                                    1 if threads is None else _u32(threads, "threads"))
    out = np.empty(info.shape, dtype=np.float32)
    n = ctypes.c_size_t()
    if threads is None:
        _call("alcm_decompress", src, src.size, out.reshape(-1), out.size, ctypes.byref(n))
    else:
        _call("alcm_decompress_with_threads", src, src.size, out.reshape(-1), out.size,
              _u32(threads, "threads"), ctypes.byref(n))
    if n.value != out.size:  # pragma: no cover - would be a library bug
        raise InternalError(901, f"decoded {n.value} values, header says {out.size}",
                            "alcm_decompress")
    return out


# ---------------------------------------------------------------------------------------------
# Error feedback.
class ErrorFeedback(_Handle):
    """Error-feedback state for gradients of one shape (alcm_feedback): each compress encodes
    ``gradient + residual`` and keeps the new residual."""

    _free_fn = "alcm_feedback_free"
    _kind = "feedback state"

    def __init__(self, shape: Sequence[int]):
        shp = tuple(int(d) for d in (shape if isinstance(shape, (tuple, list)) else
                                     np.atleast_1d(shape)))
        if any(d < 0 for d in shp):
            raise ValueError(f"negative dimension in shape {shp}")
        arr = np.asarray(shp, dtype=np.uintp) if shp else None
        out = ctypes.c_void_p()
        _call("alcm_feedback_new", len(shp), arr, ctypes.byref(out))
        self._adopt(out)
        self.shape = shp

    @classmethod
    def load(cls, path) -> "ErrorFeedback":
        obj = _new_handle(cls, "alcm_feedback_load", _path(path))
        obj.shape = None  # the C API does not report the stored shape
        return obj

    def compress(self, gradient, encoder: Encoder, allocation=None) -> Tuple[bytes, Report]:
        g = _as_f32(gradient, "gradient")
        if self.shape is not None and g.shape != self.shape:
            raise ValueError(f"gradient shape {g.shape} != feedback shape {self.shape}")
        alloc, alloc_len = _allocation(allocation)
        dst = np.empty(compress_bound(g.size), dtype=np.uint8)
        n = ctypes.c_size_t()
        rep = _c.Report()
        with self._rw.write(), encoder._rw.read():
            _call("alcm_feedback_compress", self._handle(), encoder._handle(), g, g.size, alloc,
                  alloc_len, dst, dst.size, ctypes.byref(n), ctypes.byref(rep))
        return dst[: n.value].tobytes(), Report._from_c(rep)

    def reset(self) -> None:
        with self._rw.write():
            _call("alcm_feedback_reset", self._handle())

    def save(self, path) -> None:
        with self._rw.read():
            _call("alcm_feedback_save", self._handle(), _path(path))


# ---------------------------------------------------------------------------------------------
# Predictor.
class Predictor(_Handle):
    """The neural entropy predictor (6 statistics -> H ReLU -> 1 sigmoid)."""

    _free_fn = "alcm_predictor_free"
    _kind = "predictor"

    def __init__(self, hidden_size: int = 64, min_bits: float = 0.2, max_bits: float = 0.9,
                 learning_rate: float = 1e-3, seed: int = 0):
        if int(hidden_size) < 0 or int(seed) < 0:
            raise ValueError("hidden_size and seed must be >= 0")
        out = ctypes.c_void_p()
        _call("alcm_predictor_new", int(hidden_size), float(min_bits), float(max_bits),
              float(learning_rate), int(seed), ctypes.byref(out))
        self._adopt(out)

    @classmethod
    def new(cls, *args, **kwargs) -> "Predictor":
        return cls(*args, **kwargs)

    @classmethod
    def from_yaml(cls, path) -> "Predictor":
        """From an entropy_config.yaml file."""
        return _new_handle(cls, "alcm_predictor_from_yaml_file", _path(path))

    from_yaml_file = from_yaml

    @classmethod
    def from_yaml_string(cls, yaml: str) -> "Predictor":
        return _new_handle(cls, "alcm_predictor_from_yaml_string", _text(yaml))

    @classmethod
    def load(cls, path) -> "Predictor":
        """Loads a .npz model (alcm's or the original prototype's)."""
        return _new_handle(cls, "alcm_predictor_load", _path(path))

    def save(self, path) -> None:
        with self._rw.read():
            _call("alcm_predictor_save", self._handle(), _path(path))

    def train(self, features, targets, epochs: int = 10) -> np.ndarray:
        """Per-sample SGD; ``features`` is (n, 6) ([mean, var, std, skew, kurtosis, sparsity]),
        ``targets`` (n,). Returns the mean loss of each epoch."""
        f = _as_f64(features, "features")
        t = _as_f64(targets, "targets").ravel()
        if f.ndim != 2 or f.shape[1] != 6:
            raise ValueError(f"features must have shape (n, 6), got {f.shape}")
        if f.shape[0] != t.size:
            raise ValueError(f"{f.shape[0]} feature rows but {t.size} targets")
        epochs = int(epochs)
        if epochs < 0:
            raise ValueError("epochs must be >= 0")
        loss = np.empty(epochs, dtype=np.float64)
        with self._rw.write():
            _call("alcm_predictor_train", self._handle(), f, t, t.size, epochs,
                  loss if epochs else None)
        return loss

    def forward(self, features) -> float:
        f = _as_f64(features, "features").ravel()
        if f.size != 6:
            raise ValueError(f"forward takes 6 features, got {f.size}")
        out = ctypes.c_double()
        with self._rw.read():
            _call("alcm_predictor_forward", self._handle(), f, ctypes.byref(out))
        return out.value

    def predict(self, array) -> float:
        """One allocation for the whole tensor."""
        a = _as_f32(array)
        rank, shape = _shape(a)
        out = ctypes.c_double()
        with self._rw.read():
            _call("alcm_predictor_predict", self._handle(), a, rank, shape, ctypes.byref(out))
        return out.value

    def predict_channels(self, array) -> np.ndarray:
        """One allocation per channel (the entropy map)."""
        a = _as_f32(array)
        rank, shape = _shape(a)
        out = np.empty(max(channel_count(a.shape), 1), dtype=np.float64)
        n = ctypes.c_size_t()
        with self._rw.read():
            _call("alcm_predictor_predict_channels", self._handle(), a, rank, shape, out,
                  out.size, ctypes.byref(n))
        return out[: n.value].copy()


# ---------------------------------------------------------------------------------------------
# Scheduler.
class Scheduler(_Handle):
    """The CAQ-driven pruning-threshold scheduler (alcm_scheduler)."""

    _free_fn = "alcm_scheduler_free"
    _kind = "scheduler"

    def __init__(self, initial_threshold: float = 0.01, decay: float = 0.95, window: int = 5,
                 min_threshold: float = 0.001, max_threshold: float = 0.1):
        if int(window) < 0:
            raise ValueError("window must be >= 0")
        out = ctypes.c_void_p()
        _call("alcm_scheduler_new", float(initial_threshold), float(decay), int(window),
              float(min_threshold), float(max_threshold), ctypes.byref(out))
        self._adopt(out)

    def update(self, caq: float) -> float:
        """Feeds one CAQ score; returns the new threshold."""
        out = ctypes.c_double()
        with self._rw.write():
            _call("alcm_scheduler_update", self._handle(), float(caq), ctypes.byref(out))
        return out.value

    def stats(self) -> SchedulerInfo:
        info = _c.SchedulerInfo()
        with self._rw.read():
            _call("alcm_scheduler_stats", self._handle(), ctypes.byref(info))
        return SchedulerInfo(info.step, info.threshold, info.mean_caq, info.trend, info.window_len)

    def _series(self, fn: str, length_field: str) -> np.ndarray:
        with self._rw.read():
            info = _c.SchedulerInfo()
            _call("alcm_scheduler_stats", self._handle(), ctypes.byref(info))
            out = np.empty(max(getattr(info, length_field), 1), dtype=np.float64)
            n = ctypes.c_size_t()
            _call(fn, self._handle(), out, out.size, ctypes.byref(n))
        return out[: n.value].copy()

    def window(self) -> np.ndarray:
        """The window's CAQ scores, oldest first."""
        return self._series("alcm_scheduler_window", "window_len")

    def history(self) -> np.ndarray:
        """The threshold after each update, oldest first."""
        return self._series("alcm_scheduler_history", "step")

    def reset(self) -> None:
        with self._rw.write():
            _call("alcm_scheduler_reset", self._handle())

    @property
    def threshold(self) -> float:
        return self.stats().threshold


# ---------------------------------------------------------------------------------------------
# Statistics, metrics, allocations.
def stats(array) -> Stats:
    """Statistics of the whole tensor (alcm_tensor_stats)."""
    a = _as_f32(array)
    rank, shape = _shape(a)
    s = _c.Stats()
    _call("alcm_tensor_stats", a, rank, shape, ctypes.byref(s))
    return Stats(s.mean, s.var, s.std, s.skew, s.kurtosis, s.sparsity, s.count)


def channel_count(shape: Sequence[int]) -> int:
    """Channels for a shape: the first dimension other than 1 when two or more dimensions are
    other than 1, else 1 (scalars, vectors, (N, 1), (1, N)); 0 when empty."""
    shp = tuple(int(d) for d in shape)
    if len(shp) > ALCM_MAX_RANK:
        raise ValueError(f"rank {len(shp)} exceeds ALCM_MAX_RANK ({ALCM_MAX_RANK})")
    if any(d < 0 for d in shp):
        raise ValueError(f"negative dimension in shape {shp}")
    arr = np.asarray(shp, dtype=np.uintp) if shp else None
    n = ctypes.c_size_t()
    _call("alcm_channel_count", len(shp), arr, ctypes.byref(n))
    return n.value


def channel_stats(array) -> np.ndarray:
    """Per-channel statistics as a numpy structured array with fields mean, var, std, skew,
    kurtosis, sparsity, count (alcm_channel_stats writes into it directly)."""
    a = _as_f32(array)
    rank, shape = _shape(a)
    n = ctypes.c_size_t()
    count = channel_count(a.shape)
    out = np.zeros(max(count, 1), dtype=STATS_DTYPE)
    _call("alcm_channel_stats", a, rank, shape, out, out.size, ctypes.byref(n))
    return out[: n.value].copy()


def stats_features(s) -> np.ndarray:
    """(n, 6) float64 predictor features from :func:`channel_stats` output (or one Stats)."""
    if isinstance(s, Stats):
        return s.features()[None, :]
    names = ["mean", "var", "std", "skew", "kurtosis", "sparsity"]
    return np.stack([np.asarray(s[k], dtype=np.float64) for k in names], axis=-1)


def metrics(original, reconstructed) -> Metrics:
    """Reconstruction error of ``reconstructed`` against ``original`` (same shape)."""
    a = _as_f32(original, "original")
    b = _as_f32(reconstructed, "reconstructed")
    if a.shape != b.shape:
        raise ValueError(f"shapes differ: {a.shape} vs {b.shape}")
    m = _c.Metrics()
    _call("alcm_error_metrics", a.reshape(-1), b.reshape(-1), a.size, ctypes.byref(m))
    return Metrics(m.mse, m.mae, m.rel_l2, m.max_abs, m.psnr, m.snr)


def caq(compression_ratio: float, cpu_seconds: float) -> float:
    """Compression-Accuracy Quotient: ratio / (cpu_seconds + 1)."""
    out = ctypes.c_double()
    _call("alcm_caq", float(compression_ratio), float(cpu_seconds), ctypes.byref(out))
    return out.value


def variance_percent(values) -> float:
    """(max - min) / mean * 100 of run-to-run measurements."""
    v = _as_f64(values, "values").ravel()
    out = ctypes.c_double()
    _call("alcm_variance_percent", v if v.size else None, v.size, ctypes.byref(out))
    return out.value


def empirical_allocation(array, target_rel_error: float, encoder: Optional[Encoder] = None) -> float:
    """The measured allocation of a tensor (see :meth:`Encoder.empirical_allocation`)."""
    if encoder is not None:
        return encoder.empirical_allocation(array, target_rel_error)
    with Encoder() as enc:
        return enc.empirical_allocation(array, target_rel_error)


def empirical_channel_allocations(array, target_rel_error: float,
                                  encoder: Optional[Encoder] = None) -> np.ndarray:
    if encoder is not None:
        return encoder.empirical_channel_allocations(array, target_rel_error)
    with Encoder() as enc:
        return enc.empirical_channel_allocations(array, target_rel_error)


def guard_channel_allocations(array, allocation, target_rel_error: float,
                              encoder: Optional[Encoder] = None) -> np.ndarray:
    if encoder is not None:
        return encoder.guard_channel_allocations(array, allocation, target_rel_error)
    with Encoder() as enc:
        return enc.guard_channel_allocations(array, allocation, target_rel_error)


# ---------------------------------------------------------------------------------------------
# Versions.
def version() -> str:
    """The library's version string (alcm_version_string)."""
    return _L().alcm_version_string().decode("ascii")


def version_number() -> int:
    return int(_L().alcm_version_number())


def format_version() -> int:
    return int(_L().alcm_format_version())


def status_string(status: int) -> str:
    """The library's description of a status code."""
    return _L().alcm_status_string(_u32(status, "status")).decode("utf-8")

# Compressed collectives (reduce-scatter + all-gather, residual store): alcm.collective.
from . import collective  # noqa: E402
from .collective import Exchange, ResidualStore  # noqa: E402

__all__ += ["collective", "Exchange", "ResidualStore"]

# Low-rank (PowerSGD-style) compression with coded factors: alcm.lowrank.
from . import lowrank  # noqa: E402
from .lowrank import LowRank  # noqa: E402

__all__ += ["lowrank", "LowRank"]

# Archives (many named tensors in one file): alcm.archive.
from . import archive  # noqa: E402
from .archive import ArchiveEntry, ArchiveReader, ArchiveWriter  # noqa: E402

__all__ += ["archive", "ArchiveEntry", "ArchiveReader", "ArchiveWriter"]
