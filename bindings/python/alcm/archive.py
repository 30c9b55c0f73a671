"""Archives: many named tensors in one file (``alcm_archive_*``; docs/FORMAT.md, "Archive").

    with alcm.ArchiveWriter("model.alcm") as w:            # finished on a clean exit
        w.add("fc.weight", weight, rel_l2=1e-3)            # float32, bfloat16, float16, float64
        w.add("fc.bias", bias)                             # lossless (the default)
        w.add("step", np.array(2000, np.int64))            # other types: stored raw, lossless
    with alcm.ArchiveReader("model.alcm") as r:
        r.names()                                          # in the order written
        r.info("fc.weight")                                # dtype, shape, mode, bound, achieved
        w = r.read("fc.weight")                            # numpy array of the stored type
        rows = r.read_rows("fc.weight", 10, 20)            # reads only the blocks of those rows

bfloat16 tensors are ``ml_dtypes.bfloat16`` arrays (as in ``alcm.dtypes``). The float types are
compressed with their mode's bound holding on the values read back; integer and bool tensors are
stored as they are whatever the mode.
"""

from __future__ import annotations

import ctypes
from dataclasses import dataclass
from typing import List, Optional, Tuple

import numpy as np

from . import _call, _Handle, _new_handle, _path, _text
from ._lib import ALCM_MAX_RANK

try:
    import ml_dtypes as _ml
except ImportError:  # pragma: no cover - ml_dtypes is installed by the test command
    _ml = None

__all__ = ["ArchiveReader", "ArchiveWriter", "ArchiveEntry"]

_MODES = {1: "rel_l2", 2: "max_abs", 3: "lossless"}


def _type_table():
    t = {1: np.dtype(np.float32), 3: np.dtype(np.float16), 4: np.dtype(np.float64),
         16: np.dtype(np.int8), 17: np.dtype(np.int16), 18: np.dtype(np.int32),
         19: np.dtype(np.int64), 20: np.dtype(np.uint8), 21: np.dtype(np.uint16),
         22: np.dtype(np.uint32), 23: np.dtype(np.uint64), 24: np.dtype(np.bool_)}
    if _ml is not None:
        t[2] = np.dtype(_ml.bfloat16)
        t[32] = np.dtype(_ml.float8_e5m2)
        t[33] = np.dtype(_ml.float8_e4m3fn)
    return t


_TYPES = _type_table()
_IDS = {v: k for k, v in _TYPES.items()}


def _numpy_type(dtype_id: int) -> np.dtype:
    if dtype_id not in _TYPES:
        raise TypeError(f"archive dtype id {dtype_id} has no numpy type here"
                        + (" (install ml_dtypes)" if _ml is None else ""))
    return _TYPES[dtype_id]


@dataclass(frozen=True)
class ArchiveEntry:
    """One tensor of an archive's index."""
    name: str
    dtype: np.dtype
    shape: Tuple[int, ...]
    mode: str          # "rel_l2", "max_abs" or "lossless"
    bound: float       # 0 for lossless
    achieved: float    # the error measured at writing (rel L2 over the tensor, or max abs)


class ArchiveReader(_Handle):
    """An open archive (``alcm_archive``): its index is read at open, tensors on demand."""

    _free_fn = "alcm_archive_free"
    _kind = "archive"

    def __init__(self, path, threads: int = 1):
        out = ctypes.c_void_p()
        _call("alcm_archive_open", _path(path), int(threads), ctypes.byref(out))
        self._adopt(out)

    def __len__(self) -> int:
        n = ctypes.c_size_t()
        with self._rw.read():
            _call("alcm_archive_count", self._handle(), ctypes.byref(n))
        return n.value

    def names(self) -> List[str]:
        """Every tensor's name, in the order written."""
        out = []
        with self._rw.read():
            h = self._handle()
            n = ctypes.c_size_t()
            _call("alcm_archive_count", h, ctypes.byref(n))
            for i in range(n.value):
                length = ctypes.c_size_t()
                _call("alcm_archive_name", h, i, None, 0, ctypes.byref(length))
                buf = ctypes.create_string_buffer(length.value + 1)
                _call("alcm_archive_name", h, i, buf, length.value + 1, ctypes.byref(length))
                out.append(buf.raw[:length.value].decode("utf-8", errors="surrogateescape"))
        return out

    def __contains__(self, name: str) -> bool:
        return name in self.names()

    def info(self, name: str) -> ArchiveEntry:
        """The index entry of tensor ``name`` (``AlcmError``, a ``ValueError``, if absent)."""
        dt, mode = ctypes.c_uint32(), ctypes.c_uint32()
        rank = ctypes.c_size_t()
        shape = (ctypes.c_size_t * ALCM_MAX_RANK)()
        bound, achieved = ctypes.c_double(), ctypes.c_double()
        with self._rw.read():
            _call("alcm_archive_info", self._handle(), _text(name), ctypes.byref(dt),
                  ctypes.byref(mode), ctypes.byref(rank), shape, ctypes.byref(bound),
                  ctypes.byref(achieved))
        return ArchiveEntry(name, _numpy_type(dt.value), tuple(shape[:rank.value]),
                            _MODES[mode.value], bound.value, achieved.value)

    def entries(self) -> List[ArchiveEntry]:
        return [self.info(n) for n in self.names()]

    def _read(self, name: str, rows: Optional[Tuple[int, int]]) -> np.ndarray:
        e = self.info(name)
        dtype_id = _IDS[e.dtype]
        shape = e.shape if rows is None else (max(rows[1] - rows[0], 0),) + e.shape[1:]
        out = np.empty(shape, e.dtype)
        n = ctypes.c_size_t()
        dst = out.ctypes.data_as(ctypes.c_void_p) if out.size else None
        with self._rw.write():   # a read moves the file position
            if rows is None:
                _call("alcm_archive_read", self._handle(), _text(name), dtype_id, dst, out.size,
                      ctypes.byref(n))
            else:
                _call("alcm_archive_read_rows", self._handle(), _text(name), dtype_id,
                      int(rows[0]), int(rows[1]), dst, out.size, ctypes.byref(n))
        assert n.value == out.size
        return out

    def read(self, name: str) -> np.ndarray:
        """Tensor ``name`` as a numpy array of its stored type and shape (lossy tensors: the
        decoded values)."""
        return self._read(name, None)

    def read_rows(self, name: str, start: int, stop: int) -> np.ndarray:
        """Rows ``start:stop`` of tensor ``name``'s first axis; reads only their blocks."""
        if start < 0 or stop < 0:
            raise ValueError("row indices must be >= 0")
        return self._read(name, (start, stop))


class ArchiveWriter(_Handle):
    """Writes an archive file tensor by tensor (``alcm_archive_writer``), atomically: the
    tensors go to a temporary file beside ``path``, renamed over it by :meth:`finish` (or by
    leaving a ``with`` block without an exception); closed unfinished, nothing is left behind.
    ``block_values``: values per independently readable block (0: the library's default)."""

    _free_fn = "alcm_archive_writer_free"
    _kind = "archive writer"

    def __init__(self, path, threads: int = 1, block_values: int = 0):
        out = ctypes.c_void_p()
        _call("alcm_archive_writer_new", _path(path), int(threads), int(block_values),
              ctypes.byref(out))
        self._adopt(out)

    def add(self, name: str, array, *, rel_l2: Optional[float] = None,
            max_abs: Optional[float] = None) -> None:
        """Adds ``array`` as ``name``: lossless by default, or with a relative-L2 or max-abs
        bound (float32, bfloat16, float16 and float64 only; other types are stored raw)."""
        if rel_l2 is not None and max_abs is not None:
            raise ValueError("give at most one of rel_l2 and max_abs")
        mode, bound = (1, rel_l2) if rel_l2 is not None else \
            (2, max_abs) if max_abs is not None else (3, 0.0)
        a = np.asarray(array)
        if a.dtype not in _IDS:
            raise TypeError(f"{a.dtype} cannot be archived (float, int, uint or bool)")
        if a.ndim > ALCM_MAX_RANK:
            raise ValueError(f"rank {a.ndim} exceeds {ALCM_MAX_RANK}")
        # (ascontiguousarray would make a 0-d array 1-d: reshape keeps a scalar a scalar.)
        a = np.ascontiguousarray(a.astype(a.dtype.newbyteorder("="), copy=False)).reshape(a.shape)
        shape = np.array(a.shape, dtype=np.uintp)
        data = a.ctypes.data_as(ctypes.c_void_p) if a.size else None
        with self._rw.write():
            _call("alcm_archive_writer_add", self._handle(), _text(name), _IDS[a.dtype], data,
                  a.ndim, shape if a.ndim else None, mode, float(bound))

    def finish(self) -> None:
        """Writes the index and closes the file."""
        with self._rw.write():
            _call("alcm_archive_writer_finish", self._handle())
        self.close()

    def __exit__(self, exc_type, *exc):
        if exc_type is None and not self.closed:
            self.finish()
        self.close()
