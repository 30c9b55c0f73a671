"""Compressed reduce-scatter + all-gather with two-stage error feedback (``alcm_exchange_*``),
and the named residual store that makes a compressed run resumable (``alcm_residual_store_*``).

The transport is yours (``torch.distributed``, mpi4py, gloo). One step of rank ``r`` of ``N``
for one tensor ``g``::

    ex = Exchange(g.shape, N, r)                     # once; keeps both stages' residuals
    frames = [ex.compress_shard(g, j, enc) for j in range(N)]   # send frames[j] to rank j
    acc = np.zeros(ex.shard(r).stop - ex.shard(r).start, np.float32)
    for f in received:                               # the N frames sent to this rank
        ex.accumulate(f, acc, scale=1 / N)           # acc += decode(f) / N
    mine = ex.compress_reduced(acc, enc)             # all-gather `mine`
    out = np.empty(g.size, np.float32)
    for j, f in enumerate(gathered):
        ex.decode_shard(f, j, out)                   # the mean gradient, same bits everywhere

The frames are exchange messages: codec frames without the shape and lengths every rank's
state knows (docs/FORMAT.md, "Exchange messages"); ``alcm.decompress`` refuses them, decode
them with the exchange. Bytes sent per rank are about ``2 x size / ratio`` whatever ``N`` is. For a checkpoint, put
every tensor's residuals into a :class:`ResidualStore` (``save_residuals``) and save it.
"""

from __future__ import annotations

import ctypes
from typing import Sequence

import numpy as np

from . import Encoder, _as_f32, _call, _Handle, _new_handle, _path, _text, compress_bound

__all__ = ["Exchange", "ResidualStore", "message_len"]


def _inout_f32(a, what: str) -> np.ndarray:
    if not (isinstance(a, np.ndarray) and a.dtype == np.float32 and a.flags.c_contiguous
            and a.flags.aligned and a.flags.writeable):
        raise TypeError(f"{what} must be a writeable C-contiguous float32 numpy array "
                        "(it is updated in place)")
    return a


class ResidualStore(_Handle):
    """Error-feedback residuals keyed by name (``alcm_residual_store``), saved to one
    checksummed file (atomically) and loaded back."""

    _free_fn = "alcm_residual_store_free"
    _kind = "residual store"

    def __init__(self):
        out = ctypes.c_void_p()
        _call("alcm_residual_store_new", ctypes.byref(out))
        self._adopt(out)

    @classmethod
    def load(cls, path) -> "ResidualStore":
        return _new_handle(cls, "alcm_residual_store_load", _path(path))

    def save(self, path) -> None:
        with self._rw.read():
            _call("alcm_residual_store_save", self._handle(), _path(path))

    def put(self, name: str, feedback) -> None:
        """Stores a copy of an :class:`alcm.ErrorFeedback`'s residual under ``name``."""
        with self._rw.write(), feedback._rw.read():
            _call("alcm_residual_store_put", self._handle(), _text(name), feedback._handle())

    def get(self, name: str):
        """A new :class:`alcm.ErrorFeedback` holding the entry ``name`` (raises if missing)."""
        from . import ErrorFeedback
        with self._rw.read():
            fb = _new_handle(ErrorFeedback, "alcm_residual_store_get", self._handle(), _text(name))
        fb.shape = None  # the C API does not report the stored shape
        return fb

    def __len__(self) -> int:
        n = ctypes.c_size_t()
        with self._rw.read():
            _call("alcm_residual_store_len", self._handle(), ctypes.byref(n))
        return n.value


def message_len(buf) -> int:
    """The length of the exchange message at the start of ``buf`` (bytes that may hold more
    messages after it): splits a buffer of concatenated messages."""
    b = bytes(buf)
    f = np.frombuffer(b or b"\0", dtype=np.uint8)[: len(b)]
    n = ctypes.c_size_t()
    _call("alcm_exchange_message_len", f, f.size, ctypes.byref(n))
    return n.value


class Exchange(_Handle):
    """Rank ``rank`` of ``ranks``'s state for one tensor of ``shape`` (``alcm_exchange``): the
    first axis split into at most ``ranks`` row-aligned shards of at least ``min_shard_values``
    values, the non-empty ones on ranks ``first_rank, first_rank + 1, ...`` (mod ``ranks``); one
    stage-1 residual per shard and one stage-2 residual for this rank's reduced shard. An empty
    shard's frame is ``b""`` (send nothing). Every rank passes the same arguments but ``rank``."""

    _free_fn = "alcm_exchange_free"
    _kind = "exchange"

    def __init__(self, shape: Sequence[int], ranks: int, rank: int, min_shard_values: int = 0,
                 first_rank: int = 0):
        shp = tuple(int(d) for d in shape)
        if min(shp + (int(ranks), int(rank), int(min_shard_values), int(first_rank))) < 0:
            raise ValueError("shape, ranks, rank, min_shard_values, first_rank must be >= 0")
        arr = np.asarray(shp, dtype=np.uintp) if shp else None
        out = ctypes.c_void_p()
        _call("alcm_exchange_new", len(shp), arr, int(ranks), int(rank), int(min_shard_values),
              int(first_rank), ctypes.byref(out))
        self._adopt(out)
        self.shape, self.ranks, self.rank = shp, int(ranks), int(rank)
        self.size = int(np.prod(shp, dtype=np.int64)) if shp else 1

    def shard(self, j: int) -> slice:
        """The values of shard ``j`` in the flattened tensor."""
        off, cnt = ctypes.c_size_t(), ctypes.c_size_t()
        with self._rw.read():
            _call("alcm_exchange_shard", self._handle(), int(j), ctypes.byref(off),
                  ctypes.byref(cnt))
        return slice(off.value, off.value + cnt.value)

    def compress_shard(self, gradient, j: int, encoder: Encoder, allocation=None) -> bytes:
        """Stage 1: the message of shard ``j`` of ``gradient`` (+ its residual), for rank ``j``;
        ``b""`` for an empty shard. ``allocation`` (adaptive mode): one value per channel of
        the shard."""
        g = _as_f32(gradient, "gradient").reshape(-1)
        s = self.shard(j)
        dst = np.empty(compress_bound(s.stop - s.start), dtype=np.uint8)
        n = ctypes.c_size_t()
        with self._rw.write(), encoder._rw.read():
            if allocation is None:
                _call("alcm_exchange_compress_shard", self._handle(), encoder._handle(), g,
                      g.size, int(j), dst, dst.size, ctypes.byref(n), None)
            else:
                a = np.ascontiguousarray(allocation, dtype=np.float64).reshape(-1)
                _call("alcm_exchange_compress_shard_allocated", self._handle(), encoder._handle(),
                      g, g.size, int(j), a, a.size, dst, dst.size, ctypes.byref(n), None)
        return dst[: n.value].tobytes()

    def accumulate(self, frame: bytes, out: np.ndarray, scale: float = 1.0) -> None:
        """Stage 1, receiving: ``out += scale * decode(frame)``; ``out`` is this rank's shard
        (a float32 array, updated in place; unchanged on error, but for a crafted frame that
        passes its checksum: then it may be partly summed)."""
        o = _inout_f32(out, "out")
        f = np.frombuffer(bytes(frame) or b"\0", dtype=np.uint8)[: len(frame)]
        with self._rw.write():
            _call("alcm_exchange_accumulate", self._handle(), f, f.size, float(scale), o, o.size)

    def compress_reduced(self, reduced, encoder: Encoder, allocation=None) -> bytes:
        """Stage 2: the message of this rank's reduced shard (+ the second residual); ``b""``
        when this rank's shard is empty. ``allocation`` (adaptive mode): one value per channel
        of this rank's shard."""
        x = _as_f32(reduced, "reduced").reshape(-1)
        dst = np.empty(compress_bound(x.size), dtype=np.uint8)
        n = ctypes.c_size_t()
        with self._rw.write(), encoder._rw.read():
            if allocation is None:
                _call("alcm_exchange_compress_reduced", self._handle(), encoder._handle(), x,
                      x.size, dst, dst.size, ctypes.byref(n), None)
            else:
                a = np.ascontiguousarray(allocation, dtype=np.float64).reshape(-1)
                _call("alcm_exchange_compress_reduced_allocated", self._handle(),
                      encoder._handle(), x, x.size, a, a.size, dst, dst.size, ctypes.byref(n),
                      None)
        return dst[: n.value].tobytes()

    def decode_shard(self, frame: bytes, j: int, out: np.ndarray) -> None:
        """Stage 2, receiving: decodes rank ``j``'s reduced shard into its place in ``out``
        (the full tensor, float32, updated in place)."""
        o = _inout_f32(out, "out")
        f = np.frombuffer(bytes(frame) or b"\0", dtype=np.uint8)[: len(frame)]
        with self._rw.read():
            _call("alcm_exchange_decode_shard", self._handle(), f, f.size, int(j), o, o.size)

    def save_residuals(self, name: str, store: ResidualStore) -> None:
        """Puts both stages' residuals into ``store`` under ``name/scatter/<j>`` and
        ``name/gather``."""
        with self._rw.read(), store._rw.write():
            _call("alcm_exchange_save_residuals", self._handle(), _text(name), store._handle())

    def load_residuals(self, name: str, store: ResidualStore) -> None:
        """Restores the residuals saved under ``name``; a missing entry or a wrong shape raises
        (nothing is reset)."""
        with self._rw.write(), store._rw.read():
            _call("alcm_exchange_load_residuals", self._handle(), _text(name), store._handle())
