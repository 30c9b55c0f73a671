"""Element types: bfloat16 (``ml_dtypes.bfloat16``), float16, float32 and float64 tensors in
and out (alcm_encoder_compress_typed / alcm_decompress_typed).

``compress(x, dtype="same")`` (or ``Encoder.compress_typed``) writes a frame of the array's own
type; the mode's error bound holds on the array's values and on what :func:`decompress` returns,
which is an array of the frame's type; lossless frames give back every bit. A ``bfloat16``
array is always compressed as bfloat16 (float32 was never an option for it).
"""

from __future__ import annotations

import ctypes
from typing import Tuple

import numpy as np

from . import _lib as _c

try:  # bfloat16 arrays: numpy has no bfloat16, ml_dtypes (JAX's, TensorFlow's) provides it.
    import ml_dtypes as _ml

    BFLOAT16 = np.dtype(_ml.bfloat16)
except ImportError:  # pragma: no cover - bfloat16 frames then decode to raw uint16 patterns
    _ml = None
    BFLOAT16 = None

# name -> ALCM_DTYPE_* id
DTYPES = {"float32": _c.ALCM_DTYPE_F32, "bfloat16": _c.ALCM_DTYPE_BF16,
          "float16": _c.ALCM_DTYPE_F16, "float64": _c.ALCM_DTYPE_F64}
DTYPE_NAMES = {v: k for k, v in DTYPES.items()}


def numpy_dtype(dtype_id: int) -> np.dtype:
    """The numpy dtype of a frame's element type (bfloat16 needs ml_dtypes)."""
    name = DTYPE_NAMES[dtype_id]
    if name == "bfloat16":
        if BFLOAT16 is None:
            raise ImportError("decoding a bfloat16 frame needs the ml_dtypes package "
                              "(pip install ml_dtypes)")
        return BFLOAT16
    return np.dtype(name)


def dtype_id(array: np.ndarray) -> int:
    """The ALCM_DTYPE_* id of a floating array's dtype; TypeError for any other dtype."""
    dt = array.dtype
    if BFLOAT16 is not None and dt == BFLOAT16:
        return _c.ALCM_DTYPE_BF16
    if dt.kind == "f" and dt.itemsize in (2, 4, 8):
        return DTYPES[{2: "float16", 4: "float32", 8: "float64"}[dt.itemsize]]
    raise TypeError(f"dtype {dt} is not an element type of alcm "
                    "(float32, bfloat16, float16, float64)")


def as_typed(array, dtype=None) -> Tuple[np.ndarray, int]:
    """A C-contiguous, aligned, native-order copy or view of ``array`` and its type id;
    ``dtype`` (a name or numpy dtype) casts first."""
    a = np.asarray(array)
    if dtype is not None:
        target = numpy_dtype(DTYPES[dtype]) if isinstance(dtype, str) and dtype in DTYPES \
            else np.dtype(dtype)
        a = a.astype(target, copy=False)
    tid = dtype_id(a)
    a = np.require(a, a.dtype.newbyteorder("="), ["C_CONTIGUOUS", "ALIGNED"])
    return a, tid


def compress_typed(lib_call, handle, array, rank, shape, alloc, alloc_len, tid, report_cls):
    """Runs alcm_encoder_compress_typed (the caller holds the encoder's read lock)."""
    n_values = int(np.prod(array.shape, dtype=np.int64)) if array.ndim else 1
    dst = np.empty(int(_c.load().alcm_compress_bound_typed(n_values, tid)), dtype=np.uint8)
    n = ctypes.c_size_t()
    rep = _c.Report()
    lib_call("alcm_encoder_compress_typed", handle, array.ctypes.data_as(ctypes.c_void_p), tid,
             rank, shape, alloc, alloc_len, dst, dst.size, ctypes.byref(n), ctypes.byref(rep))
    return dst[: n.value].tobytes(), report_cls._from_c(rep)


def peek_dtype(lib_call, src: np.ndarray) -> int:
    out = ctypes.c_uint32()
    lib_call("alcm_peek_dtype", src, src.size, ctypes.byref(out))
    return out.value


def decompress_typed(lib_call, src: np.ndarray, shape, tid: int, threads: int) -> np.ndarray:
    out = np.empty(shape, dtype=numpy_dtype(tid))
    n = ctypes.c_size_t()
    lib_call("alcm_decompress_typed", src, src.size, tid, out.ctypes.data_as(ctypes.c_void_p),
             out.size, threads, ctypes.byref(n))
    return out
