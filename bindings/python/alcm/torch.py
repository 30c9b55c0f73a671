"""A PyTorch DDP communication hook over alcm, with checkpointable error feedback.

::

    import alcm.torch as at
    state = at.AlcmHookState(model, mode="relative_l2", target=1e-2)   # on every rank
    ddp = torch.nn.parallel.DistributedDataParallel(model)
    ddp.register_comm_hook(state, at.alcm_hook)
    ...
    torch.save({"model": ddp.state_dict(), "hook": state.state_dict()}, path)
    state.load_state_dict(torch.load(path)["hook"])                      # resumes exactly

How a bucket is reduced: every gradient of the bucket (plus its residual, with error feedback)
is compressed by alcm as a tensor of its own shape; the frames of all ranks are exchanged by an
all-gather over the hook's process group; every rank decodes every frame and sums them in rank
order, so the replicas get bit-identical gradients. The residual ``x - decode(frame)`` of each
parameter is kept under the parameter's *name*, so DDP's bucket rebuild after the first
iteration (and any later change of bucketing) keeps it, and ``state_dict()`` carries it.

``mode="low_rank"``: PowerSGD (Vogels et al. 2019) on every 2-D gradient whose rank-``rank``
factors are at least 2x smaller than the matrix: ``P = M Q`` summed over ranks, orthonormalised,
``Q = M^T P`` summed, ``M ~ P Q^T / world``, ``Q`` kept as the next step's warm start and the
error ``M - P Q^T / world`` fed back. The factors are exchanged as alcm frames at relative L2
error ``factor_target`` instead of float32. Other tensors (biases, norms, conv kernels) use
``fallback_mode``/``target``. The arithmetic, the warm start and the low-rank residuals are the
library's (:class:`alcm.lowrank.LowRank`, ``alcm_lowrank_*`` in C); this module moves the bytes.

``exchange="reduce_scatter"`` (elementwise modes): the library's compressed reduce-scatter +
all-gather (:class:`alcm.collective.Exchange`, one per parameter). Rank ``r`` compresses shard
``j`` of each gradient for rank ``j`` (stage-1 residual per shard), every rank sums the ``N``
decoded frames of its shard in rank order (scaled by ``1/N``), compresses that mean shard
(stage-2 residual) and the shards are all-gathered and decoded: about ``2 x size / ratio``
bytes per rank whatever ``N`` is, instead of ``(N-1) x size / ratio`` received. gloo has no
all-to-all, so stage 1 travels by an all-gather too; ``bytes_sent`` counts what an all-to-all
would send (each frame to its rank, with an 8-byte length). Both stages' residuals live in the
library, keyed by parameter name; ``state_dict()`` carries them as residual-store files.

Gradients may be float32, bfloat16 or float16; the library codes float32, so they are cast
(exactly) to float32 and the averaged result is cast back to the bucket's dtype.

The work runs on one background thread per state (collectives must be issued in the same order
on every rank: one FIFO thread keeps the bucket order); the hook returns a
``torch.futures.Future`` at once. alcm's C calls release the GIL, so compression overlaps the
rest of the backward pass.

torch is imported by this module only; ``import alcm`` never needs it.
"""

import concurrent.futures
import math
import os
import struct
import tempfile
import threading
import zlib
from typing import Dict, Iterable, List, Optional, Tuple

import numpy as np
import torch
import torch.distributed as dist

from . import BACKENDS, MODES, Encoder, decompress
from . import lowrank as _lowrank
from .collective import Exchange, ResidualStore

__all__ = ["AlcmHookState", "alcm_hook", "LOW_RANK", "SUPPORTED_DTYPES", "EXCHANGES"]

LOW_RANK = "low_rank"
SUPPORTED_DTYPES = (torch.float32, torch.bfloat16, torch.float16)
EXCHANGES = ("allgather", "reduce_scatter")
_STATE_VERSION = 1
_LEN = struct.Struct("<Q")
_DEFAULT = object()   # target not given: relative_l2's default, no target for the others


def _named_parameters(model) -> List[Tuple[str, torch.Tensor]]:
    if isinstance(model, torch.nn.Module):
        items = list(model.named_parameters())
    else:
        try:
            items = list(model)
        except TypeError:
            raise TypeError("model must be a torch.nn.Module or an iterable of (name, parameter) "
                            f"pairs, got {type(model).__name__}") from None
    if not items:
        raise ValueError("the model has no parameters")
    seen = set()
    for item in items:
        if not (isinstance(item, tuple) and len(item) == 2 and isinstance(item[0], str)
                and isinstance(item[1], torch.Tensor)):
            raise TypeError("expected (name: str, parameter: torch.Tensor) pairs, got "
                            f"{item!r:.80}")
        if item[0] in seen:
            raise ValueError(f"parameter name {item[0]!r} appears twice")
        seen.add(item[0])
    return items


def _check_target(mode: str, target, what: str) -> Optional[float]:
    if target is _DEFAULT:
        target = 1e-2 if mode == "relative_l2" else None
    if mode in ("relative_l2", "max_abs"):
        if target is None:
            raise ValueError(f"{what} {mode!r} needs a target")
        if isinstance(target, bool) or not isinstance(target, (int, float)):
            raise TypeError(f"target must be a number, got {type(target).__name__}")
        t = float(target)
        if mode == "relative_l2" and not 0.0 < t < 1.0:
            raise ValueError(f"relative_l2 target must be in (0, 1), got {target!r}")
        if mode == "max_abs" and not (math.isfinite(t) and t > 0.0):
            raise ValueError(f"max_abs target must be finite and > 0, got {target!r}")
        return t
    if target is not None:
        raise ValueError(f"{what} {mode!r} takes no target (got {target!r})")
    return None


class AlcmHookState:
    """State of :func:`alcm_hook`: configuration, residuals, low-rank warm starts, counters.

    Arguments (keywords after ``model``):

    * ``model``: the module being trained (before or after wrapping in DDP; names are taken
      with DDP's ``module.`` prefix removed) or an iterable of ``(name, parameter)``.
    * ``mode``: an alcm mode (``"relative_l2"``, ``"max_abs"``, ``"adaptive"``,
      ``"lossless"``) or ``"low_rank"``; ``target``: the mode's error target (relative_l2:
      default 1e-2; max_abs: required; none for the others). In ``"low_rank"`` mode ``target`` belongs to
      ``fallback_mode`` (default ``"relative_l2"``), used for tensors that are not low-rank.
    * ``feedback``: keep each parameter's compression error and add it to its next gradient.
    * ``rank``, ``factor_target``, ``min_compression``, ``seed``: low-rank settings (rank of
      ``P``/``Q``; relative L2 error of the coded factors; a 2-D gradient ``n x m`` goes
      low-rank only when ``n*m >= min_compression * rank * (n+m)``; seed of the initial ``Q``).
    * ``backend``: alcm entropy backend (default the library's, ``"rans"``) of the tensors coded
      elementwise; the low-rank factors use the library's default.
    * ``process_group``: default the world group.
    * ``exchange``: ``"allgather"`` (default: every rank's frames of whole gradients) or
      ``"reduce_scatter"`` (the library's compressed reduce-scatter + all-gather with two-stage
      error feedback; not with ``"low_rank"``).
    """

    def __init__(self, model, *, mode: str = "relative_l2", target=_DEFAULT,
                 feedback: bool = True, rank: int = 2, factor_target: float = 0.02,
                 fallback_mode: str = "relative_l2", min_compression: float = 2.0,
                 seed: int = 0, backend: Optional[str] = None, process_group=None,
                 exchange: str = "allgather"):
        if not isinstance(mode, str) or (mode not in MODES and mode != LOW_RANK):
            raise ValueError(f"unknown mode {mode!r}; expected one of "
                             f"{sorted(MODES) + [LOW_RANK]}")
        if not isinstance(exchange, str) or exchange not in EXCHANGES:
            raise ValueError(f"unknown exchange {exchange!r}; expected one of {list(EXCHANGES)}")
        if exchange == "reduce_scatter" and mode == LOW_RANK:
            raise ValueError("exchange='reduce_scatter' is for the elementwise modes; low_rank "
                             "exchanges its factors by all-gather")
        self.exchange = exchange
        if not isinstance(feedback, bool):
            raise TypeError(f"feedback must be a bool, got {type(feedback).__name__}")
        if backend is not None and backend not in BACKENDS:
            raise ValueError(f"unknown backend {backend!r}; expected one of {sorted(BACKENDS)}")
        if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
            raise ValueError(f"seed must be an int >= 0, got {seed!r}")
        self.mode = mode
        self.feedback = feedback
        self.backend = backend
        self.seed = seed
        if mode == LOW_RANK:
            if isinstance(rank, bool) or not isinstance(rank, int) or rank < 1:
                raise ValueError(f"rank must be an int >= 1, got {rank!r}")
            _check_target("relative_l2", factor_target, "factor_target")
            if isinstance(min_compression, bool) or not isinstance(min_compression, (int, float)) \
                    or not (math.isfinite(min_compression) and min_compression >= 1.0):
                raise ValueError(f"min_compression must be a number >= 1, got {min_compression!r}")
            if fallback_mode not in MODES:
                raise ValueError(f"unknown fallback_mode {fallback_mode!r}; expected one of "
                                 f"{sorted(MODES)}")
            self.fallback_mode = fallback_mode
            self.target = _check_target(fallback_mode, target, "fallback_mode")
            self.rank = rank
            self.factor_target = float(factor_target)
            self.min_compression = float(min_compression)
        else:
            self.fallback_mode = mode
            self.target = _check_target(mode, target, "mode")
            self.rank = None
            self.factor_target = None
            self.min_compression = None
        self.process_group = process_group
        self._names: Dict[int, str] = {}
        self._shapes: Dict[str, Tuple[int, ...]] = {}
        for name, p in _named_parameters(model):
            name = name[len("module."):] if name.startswith("module.") else name
            self._names[id(p)] = name
            self._shapes[name] = tuple(p.shape)
        self.residuals: Dict[str, torch.Tensor] = {}
        self.q_factors: Dict[str, torch.Tensor] = {}
        # The library's low-rank state per parameter, made on first use from the two dicts
        # above (which mirror it after every step, for state_dict and inspection).
        self._lowrank: Dict[str, _lowrank.LowRank] = {}
        # reduce_scatter: the library's exchange state per parameter (both stages' residuals),
        # and residuals loaded from a checkpoint, waiting for their parameter's first bucket.
        self._exchanges: Dict[str, Exchange] = {}
        self._loaded_stores: Dict[str, ResidualStore] = {}
        self.bytes_sent = 0          # bytes this rank put on the wire, padding included
        self.raw_bytes = 0           # bytes of the gradients it reduced, in their own dtype
        self.buckets = 0
        self._encoder = self._make_encoder(self.fallback_mode, self.target)
        self._pool = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="alcm-hook")
        self._lock = threading.Lock()

    def _make_encoder(self, mode, target):
        return Encoder(mode, target, backend=self.backend)

    # -- checkpointing --------------------------------------------------------------------
    def state_dict(self) -> dict:
        """Residuals and low-rank warm starts (copies, float32, by parameter name), counters
        and the configuration, so that :meth:`load_state_dict` resumes a run exactly. Call it
        between steps (no bucket in flight)."""
        with self._lock:
            return {
                "version": _STATE_VERSION,
                "config": self._config(),
                "residuals": {k: v.clone() for k, v in self.residuals.items()},
                "q_factors": {k: v.clone() for k, v in self.q_factors.items()},
                "exchange_residuals": self._exchange_residual_files(),
                "bytes_sent": self.bytes_sent,
                "raw_bytes": self.raw_bytes,
                "buckets": self.buckets,
            }

    def _config(self) -> dict:
        return {"mode": self.mode, "target": self.target, "feedback": self.feedback,
                "rank": self.rank, "factor_target": self.factor_target,
                "fallback_mode": self.fallback_mode, "min_compression": self.min_compression,
                "seed": self.seed, "backend": self.backend, "exchange": self.exchange}

    def _exchange_residual_files(self) -> Dict[str, bytes]:
        """Per parameter, a residual-store file (``alcm.collective.ResidualStore``) holding
        both stages' residuals of its exchange."""
        out = {}
        with tempfile.TemporaryDirectory(prefix="alcm-hook-") as d:
            path = os.path.join(d, "r.bin")
            for name in sorted(set(self._exchanges) | set(self._loaded_stores)):
                ex = self._exchanges.get(name)
                if ex is None:
                    store = self._loaded_stores[name]
                else:
                    store = ResidualStore()
                    ex.save_residuals(name, store)
                store.save(path)
                with open(path, "rb") as f:
                    out[name] = f.read()
                if ex is not None:
                    store.close()
        return out

    def _load_exchange_residual_files(self, d) -> Dict[str, ResidualStore]:
        if not isinstance(d, dict):
            raise TypeError(f"state_dict['exchange_residuals'] must be a dict, got "
                            f"{type(d).__name__}")
        if d and self.exchange != "reduce_scatter":
            raise ValueError("state_dict['exchange_residuals'] is only for "
                             "exchange='reduce_scatter'")
        out = {}
        with tempfile.TemporaryDirectory(prefix="alcm-hook-") as tmp:
            path = os.path.join(tmp, "r.bin")
            for name, blob in d.items():
                if name not in self._shapes:
                    raise KeyError(f"state_dict['exchange_residuals'] names {name!r}, not a "
                                   "parameter of the model")
                if not isinstance(blob, (bytes, bytearray)):
                    raise TypeError(f"state_dict['exchange_residuals'][{name!r}] must be bytes")
                with open(path, "wb") as f:
                    f.write(blob)
                out[name] = ResidualStore.load(path)   # checksummed: a damaged file raises
                # Saved for this name? (The shard count and shapes are checked at first use,
                # when the world size is known.)
                out[name].get(f"{name}/gather").close()
        return out

    def load_state_dict(self, sd: dict) -> None:
        """Restores what :meth:`state_dict` returned. The configuration must match this
        state's, every name must be a parameter of the model with a matching shape."""
        if not isinstance(sd, dict):
            raise TypeError(f"state_dict must be a dict, got {type(sd).__name__}")
        missing = {"version", "config", "residuals", "q_factors"} - set(sd)
        if missing:
            raise KeyError(f"state_dict lacks {sorted(missing)}")
        if sd["version"] != _STATE_VERSION:
            raise ValueError(f"state_dict version {sd['version']!r}, expected {_STATE_VERSION}")
        config = sd["config"]
        if isinstance(config, dict) and "exchange" not in config:
            config = {**config, "exchange": "allgather"}   # saved before the option existed
        if config != self._config():
            raise ValueError(f"state_dict was saved with {sd['config']}, this state is "
                             f"{self._config()}")
        residuals = self._checked_tensors(sd["residuals"], "residuals", exact_shape=True)
        q_factors = self._checked_tensors(sd["q_factors"], "q_factors", exact_shape=False)
        for name, q in q_factors.items():
            m = math.prod(self._shapes[name][1:])
            if q.dim() != 2 or q.shape != (m, self.rank or 0):
                raise ValueError(f"q_factors[{name!r}] has shape {tuple(q.shape)}, expected "
                                 f"({m}, {self.rank})")
        counters = {}
        for key in ("bytes_sent", "raw_bytes", "buckets"):
            v = sd.get(key, 0)
            if isinstance(v, bool) or not isinstance(v, int) or v < 0:
                raise ValueError(f"state_dict[{key!r}] must be an int >= 0, got {v!r}")
            counters[key] = v
        stores = self._load_exchange_residual_files(sd.get("exchange_residuals", {}))
        with self._lock:
            for obj in list(self._exchanges.values()) + list(self._loaded_stores.values()):
                obj.close()
            self._exchanges = {}
            self._loaded_stores = stores
            self.residuals = residuals
            self.q_factors = q_factors
            for lr in self._lowrank.values():
                lr.close()
            self._lowrank = {}
            for key, v in counters.items():
                setattr(self, key, v)

    def _checked_tensors(self, d, what, exact_shape):
        if not isinstance(d, dict):
            raise TypeError(f"state_dict[{what!r}] must be a dict, got {type(d).__name__}")
        out = {}
        for name, t in d.items():
            if name not in self._shapes:
                raise KeyError(f"state_dict[{what!r}] names {name!r}, not a parameter of the model")
            if not isinstance(t, torch.Tensor) or t.dtype != torch.float32:
                raise TypeError(f"state_dict[{what!r}][{name!r}] must be a float32 tensor")
            if exact_shape and tuple(t.shape) != self._shapes[name]:
                raise ValueError(f"state_dict[{what!r}][{name!r}] has shape {tuple(t.shape)}, "
                                 f"the parameter {self._shapes[name]}")
            if not bool(torch.isfinite(t).all()):
                raise ValueError(f"state_dict[{what!r}][{name!r}] holds NaN or Inf")
            out[name] = t.detach().to("cpu", copy=True).contiguous()
        return out

    def close(self) -> None:
        """Stops the worker thread (waits for buckets in flight) and frees the library's
        low-rank states."""
        self._pool.shutdown(wait=True)
        for lr in self._lowrank.values():
            lr.close()
        self._lowrank = {}
        for obj in list(self._exchanges.values()) + list(self._loaded_stores.values()):
            obj.close()
        self._exchanges, self._loaded_stores = {}, {}

    # -- the work of one bucket -----------------------------------------------------------
    def _low_rank_shape(self, shape) -> Optional[Tuple[int, int]]:
        if self.mode != LOW_RANK or not _lowrank.pays(shape, self.rank, self.min_compression):
            return None
        return tuple(shape)

    def _low_rank_state(self, name: str, shape) -> "_lowrank.LowRank":
        lr = self._lowrank.get(name)
        if lr is None:
            # The first Q is seeded by the name, the same on every rank: no broadcast needed.
            seed = ((self.seed << 32) | zlib.crc32(name.encode())) & (2 ** 64 - 1)
            lr = _lowrank.LowRank(shape, rank=self.rank, factor_target=self.factor_target,
                                  min_compression=self.min_compression,
                                  feedback=self.feedback, seed=seed)
            if name in self.q_factors:
                lr.set_q(self.q_factors[name].numpy())
            if self.feedback and name in self.residuals:
                lr.set_residual(self.residuals[name].numpy())
            self._lowrank[name] = lr
        return lr

    def _exchange(self, frames: List[bytes], count: bool = True) -> List[List[bytes]]:
        """All-gathers this rank's frames; returns every rank's, in rank order. ``count``:
        add the all-gather's bytes to ``bytes_sent``."""
        pg = self.process_group
        world = dist.get_world_size(pg)
        blob = b"".join(_LEN.pack(len(f)) + f for f in frames)
        sizes = [torch.zeros(1, dtype=torch.int64) for _ in range(world)]
        dist.all_gather(sizes, torch.tensor([len(blob)], dtype=torch.int64), group=pg)
        longest = max(int(s) for s in sizes)
        mine = torch.zeros(longest, dtype=torch.uint8)
        if blob:
            mine[: len(blob)] = torch.frombuffer(bytearray(blob), dtype=torch.uint8)
        gathered = [torch.empty(longest, dtype=torch.uint8) for _ in range(world)]
        dist.all_gather(gathered, mine, group=pg)
        if count:
            self.bytes_sent += 8 + longest
        out = []
        for r, t in enumerate(gathered):
            data = t.numpy().tobytes()[: int(sizes[r])]
            pos, mine_r = 0, []
            for _ in frames:
                if pos + 8 > len(data):
                    raise RuntimeError(f"rank {r} sent fewer frames than this rank: the ranks "
                                       "disagree on the bucket's parameters")
                (n,) = _LEN.unpack_from(data, pos)
                mine_r.append(data[pos + 8: pos + 8 + n])
                pos += 8 + n
            if pos != len(data):
                raise RuntimeError(f"rank {r} sent more data than this rank's frames describe")
            out.append(mine_r)
        return out

    def _sum_decoded(self, gathered, i) -> Tuple[np.ndarray, np.ndarray]:
        """(sum over ranks of frame i decoded, in rank order; this rank's own decoded)."""
        me = dist.get_rank(self.process_group)
        total, own = None, None
        for r, frames in enumerate(gathered):
            y = decompress(frames[i])
            if r == me:
                own = y
            if total is None:
                total = y.copy()
            else:
                total += y
        return total, own

    def _exchange_state(self, name: str, shape, world: int, me: int) -> Exchange:
        ex = self._exchanges.get(name)
        if ex is None or ex.ranks != world or ex.rank != me:
            ex = Exchange(shape, world, me)
            store = self._loaded_stores.pop(name, None)
            if store is not None:
                try:
                    ex.load_residuals(name, store)   # a wrong world size or shape raises
                finally:
                    store.close()
            if self.feedback:
                self._exchanges[name] = ex
        return ex

    def _reduce_scatter_bucket(self, buffer: torch.Tensor, layout) -> torch.Tensor:
        pg = self.process_group
        world, me = dist.get_world_size(pg), dist.get_rank(pg)
        flat = buffer.detach().reshape(-1)
        # Without feedback every bucket starts from a fresh exchange (zero residuals).
        exs = [self._exchange_state(name, shape, world, me) for name, _, shape in layout]
        inputs = [flat[off: off + math.prod(shape)].to(torch.float32).numpy().copy()
                  for _, off, shape in layout]
        # Stage 1: shard j of every gradient for rank j (an all-to-all carried by all-gather).
        to = [[ex.compress_shard(x, j, self._encoder) for ex, x in zip(exs, inputs)]
              for j in range(world)]
        self.bytes_sent += sum(8 + len(f) for j in range(world) if j != me for f in to[j])
        gathered = self._exchange([f for j in range(world) for f in to[j]], count=False)
        k = len(layout)
        reduced = []
        for i, ex in enumerate(exs):
            s = ex.shard(me)
            acc = np.zeros(s.stop - s.start, np.float32)
            if acc.size:
                for r in range(world):   # rank order: the same sum on every rank
                    ex.accumulate(gathered[r][me * k + i], acc, scale=1.0 / world)
            reduced.append(ex.compress_reduced(acc, self._encoder) if acc.size else b"")
        # Stage 2: the mean shards, all-gathered and decoded in place.
        gathered = self._exchange(reduced)
        for i, (ex, (_, off, shape)) in enumerate(zip(exs, layout)):
            out = np.zeros(math.prod(shape), np.float32)
            for j in range(world):
                s = ex.shard(j)
                if s.stop > s.start:
                    ex.decode_shard(gathered[j][i], j, out)
            flat[off: off + out.size].copy_(torch.from_numpy(out))
        if not self.feedback:
            for ex in exs:
                ex.close()
        self.raw_bytes += flat.numel() * flat.element_size()
        self.buckets += 1
        return buffer

    def _reduce_bucket(self, buffer: torch.Tensor, layout) -> torch.Tensor:
        if self.exchange == "reduce_scatter":
            return self._reduce_scatter_bucket(buffer, layout)
        world = dist.get_world_size(self.process_group)
        flat = buffer.detach().reshape(-1)
        inputs = {}
        for name, off, shape in layout:
            n = math.prod(shape)
            x = flat[off: off + n].to(torch.float32).reshape(shape).numpy().copy()
            # Low-rank tensors: the library adds its own residual.
            if self.feedback and name in self.residuals and self._low_rank_shape(shape) is None:
                x += self.residuals[name].numpy()
            inputs[name] = x
        # Round 1: frames of the fallback tensors and the P factors of the low-rank ones.
        frames, kinds = [], []
        for name, _, shape in layout:
            x = inputs[name]
            lr = self._low_rank_shape(shape)
            if lr is None:
                frames.append(self._encoder.compress(x)[0])
                kinds.append((name, None))
            else:
                state = self._low_rank_state(name, lr)
                frames.append(state.begin(x))
                kinds.append((name, state))
        gathered = self._exchange(frames)
        results, second, states = {}, [], {}
        for i, (name, state) in enumerate(kinds):
            total, own = self._sum_decoded(gathered, i)
            if state is None:
                results[name] = total / np.float32(world)
                if self.feedback:
                    self.residuals[name] = torch.from_numpy(inputs[name] - own)
            else:
                states[name] = state
                second.append(state.after_p(total))
        if second:
            # Round 2: the Q factors, computed against the orthonormalised sum of the P's.
            gathered = self._exchange(second)
            for i, (name, state) in enumerate(states.items()):
                q_sum, _ = self._sum_decoded(gathered, i)
                results[name] = state.finish(q_sum, scale=1.0 / world)
                self.q_factors[name] = torch.from_numpy(state.q())
                if self.feedback:
                    self.residuals[name] = torch.from_numpy(state.residual())
        for name, off, shape in layout:
            n = math.prod(shape)
            flat[off: off + n].copy_(torch.from_numpy(results[name]).reshape(-1))
        self.raw_bytes += flat.numel() * flat.element_size()
        self.buckets += 1
        return buffer

    def _run(self, fut, buffer, layout):
        try:
            with self._lock:
                out = self._reduce_bucket(buffer, layout)
        except BaseException as e:  # handed to DDP through the future
            fut.set_exception(e)
        else:
            fut.set_result(out)


def alcm_hook(state: AlcmHookState, bucket: dist.GradBucket) -> torch.futures.Future[torch.Tensor]:
    # The annotations are DDP's: register_comm_hook refuses any others (so no
    # `from __future__ import annotations` in this module).
    """DDP communication hook: ``ddp.register_comm_hook(state, alcm_hook)``. Returns a future
    of the bucket's averaged gradients (its ``buffer()``, same dtype), filled in by the state's
    worker thread."""
    if not isinstance(state, AlcmHookState):
        raise TypeError(f"state must be an AlcmHookState, got {type(state).__name__}")
    buffer = bucket.buffer()
    if buffer.dtype not in SUPPORTED_DTYPES:
        raise TypeError(f"alcm_hook reduces float32, bfloat16 and float16 gradients, got "
                        f"{buffer.dtype}")
    if buffer.device.type != "cpu":
        raise ValueError(f"alcm_hook runs on CPU tensors (gloo); the bucket is on {buffer.device}")
    layout, off = [], 0
    for p in bucket.parameters():
        name = state._names.get(id(p))
        if name is None:
            raise KeyError("a parameter of the bucket is not among the model's named parameters "
                           "given to AlcmHookState (build the state from the model DDP wraps)")
        layout.append((name, off, tuple(p.shape)))
        off += p.numel()
    if off != buffer.numel():
        raise RuntimeError(f"bucket of {buffer.numel()} values but its parameters hold {off}")
    fut = torch.futures.Future()
    state._pool.submit(state._run, fut, buffer, layout)
    return fut
