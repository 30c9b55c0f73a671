"""PowerSGD-style low-rank compression in the library (``alcm_lowrank_*``): the factors ``P``
and ``Q`` of a ``rows x cols`` gradient travel as alcm frames at relative L2 error
``factor_target``, with warm start and error feedback kept by the library.

The transport is yours. One step on each of ``N`` ranks, for one matrix ``g``::

    lr = LowRank(g.shape, rank=2)                  # once per matrix; same arguments on every rank
    p_frame = lr.begin(g)                          # all-gather p_frame
    p_sum = sum_frames(gathered_p_frames)          # decoded and summed in rank order
    q_frame = lr.after_p(p_sum)                    # all-gather q_frame
    out = lr.finish(sum_frames(gathered_q_frames), scale=1 / N)   # the mean's approximation

For a checkpoint, save :meth:`LowRank.q` and :meth:`LowRank.residual`, restore them with
:meth:`LowRank.set_q` / :meth:`LowRank.set_residual`. :func:`pays` says which matrices go
low-rank; the others (biases, conv kernels, small matrices) belong to an ordinary mode.
"""

from __future__ import annotations

import ctypes
from typing import Iterable, Sequence

import numpy as np

from . import _as_f32, _call, _Handle, compress_bound, decompress

__all__ = ["LowRank", "pays", "sum_frames"]


def _shape2(shape: Sequence[int]):
    shp = tuple(int(d) for d in shape)
    if len(shp) != 2 or min(shp) < 0:
        return None
    return shp


def _check_rank(rank) -> int:
    if isinstance(rank, bool) or not isinstance(rank, (int, np.integer)) or rank < 1:
        raise ValueError(f"rank must be an int >= 1, got {rank!r}")
    return int(rank)


def pays(shape: Sequence[int], rank: int = 2, min_compression: float = 2.0) -> bool:
    """Whether ``shape`` goes low-rank: 2-D with ``rows*cols >= min_compression * rank *
    (rows + cols)``."""
    shp = _shape2(shape)
    if shp is None:
        return False
    out = ctypes.c_uint32()
    _call("alcm_lowrank_pays", shp[0], shp[1], _check_rank(rank), float(min_compression),
          ctypes.byref(out))
    return bool(out.value)


def sum_frames(frames: Iterable[bytes]) -> np.ndarray:
    """The sum of the decoded frames, flattened, added in the order given (rank order gives
    every rank the same bits)."""
    total = None
    for f in frames:
        y = np.asarray(decompress(f), dtype=np.float32).reshape(-1)
        total = y.copy() if total is None else total + y
    if total is None:
        raise ValueError("no frames to sum")
    return total


class LowRank(_Handle):
    """One rank's low-rank state for one matrix (``alcm_lowrank``). ``ValueError`` when low
    rank does not pay for ``shape`` (see :func:`pays`)."""

    _free_fn = "alcm_lowrank_free"
    _kind = "low-rank state"

    def __init__(self, shape: Sequence[int], rank: int = 2, factor_target: float = 0.02,
                 min_compression: float = 2.0, feedback: bool = True, seed: int = 0):
        shp = _shape2(shape)
        if shp is None:
            raise ValueError(f"low rank needs a 2-D shape, got {tuple(shape)!r}")
        if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) \
                or not 0 <= seed < 2 ** 64:
            raise ValueError(f"seed must be an int in [0, 2**64), got {seed!r}")
        out = ctypes.c_void_p()
        _call("alcm_lowrank_new", shp[0], shp[1], _check_rank(rank), float(factor_target),
              float(min_compression), int(bool(feedback)), int(seed), ctypes.byref(out))
        self._adopt(out)
        self.shape, self.rank, self.feedback = shp, int(rank), bool(feedback)
        p, q = ctypes.c_size_t(), ctypes.c_size_t()
        _call("alcm_lowrank_sizes", self._handle(), ctypes.byref(p), ctypes.byref(q))
        self.p_len, self.q_len = p.value, q.value

    def _frame(self, fn: str, x, n_values: int, what: str) -> bytes:
        a = _as_f32(x, what).reshape(-1)
        dst = np.empty(compress_bound(n_values), dtype=np.uint8)
        n = ctypes.c_size_t()
        with self._rw.write():
            _call(fn, self._handle(), a, a.size, dst, dst.size, ctypes.byref(n))
        return dst[: n.value].tobytes()

    def begin(self, gradient) -> bytes:
        """Round 1: the frame of ``P = (gradient + residual) Q``."""
        return self._frame("alcm_lowrank_begin", gradient, self.p_len, "gradient")

    def after_p(self, p_sum) -> bytes:
        """Round 2: ``p_sum`` is the rank-ordered sum of every rank's decoded P frame; the
        frame of this rank's Q factor."""
        return self._frame("alcm_lowrank_after_p", p_sum, self.q_len, "p_sum")

    def finish(self, q_sum, scale: float = 1.0) -> np.ndarray:
        """``scale * P Q^T`` (shape ``self.shape``, float32) from the rank-ordered sum of the
        decoded Q frames; updates the residual and the warm start."""
        q = _as_f32(q_sum, "q_sum").reshape(-1)
        out = np.empty(self.shape, dtype=np.float32)
        with self._rw.write():
            _call("alcm_lowrank_finish", self._handle(), q, q.size, float(scale), out, out.size)
        return out

    def q(self) -> np.ndarray:
        """A copy of the warm-start ``Q`` (``cols x rank``)."""
        out = np.empty((self.shape[1], self.rank), dtype=np.float32)
        with self._rw.read():
            _call("alcm_lowrank_get_q", self._handle(), out, out.size)
        return out

    def set_q(self, q) -> None:
        a = _as_f32(q, "q").reshape(-1)
        with self._rw.write():
            _call("alcm_lowrank_set_q", self._handle(), a, a.size)

    def residual(self) -> np.ndarray:
        """A copy of the residual (``self.shape``; empty without feedback)."""
        out = np.empty(self.shape if self.feedback else (0,), dtype=np.float32)
        with self._rw.read():
            _call("alcm_lowrank_get_residual", self._handle(), out, out.size)
        return out

    def set_residual(self, residual) -> None:
        a = _as_f32(residual, "residual").reshape(-1)
        with self._rw.write():
            _call("alcm_lowrank_set_residual", self._handle(), a, a.size)
