"""alcm.torch: the DDP communication hook, checked against references computed here.

Two CPU processes over gloo run every DDP scenario once (one spawn, a few seconds); each rank
saves what it saw (the gradients its plain, non-DDP replica computed on the same data, and the
gradients DDP left after the hook) and the tests below recompute the expected result with
alcm.compress / alcm.decompress and numpy, step by step, with their own residual bookkeeping.
"""

import copy
import os
import pickle

import numpy as np
import pytest

torch = pytest.importorskip("torch")
dist = pytest.importorskip("torch.distributed")
if not dist.is_available() or not dist.is_gloo_available():
    pytest.skip("torch.distributed with gloo is not available", allow_module_level=True)

import alcm  # noqa: E402
import alcm.torch as at  # noqa: E402
import alcm.collective  # noqa: E402

WORLD = 2
TARGET = 1e-2


# ---------------------------------------------------------------------------------------------
# The two worker processes.
def _mlp(sizes, dtype=torch.float32, seed=0):
    torch.manual_seed(seed)
    layers = []
    for a, b in zip(sizes[:-1], sizes[1:]):
        layers += [torch.nn.Linear(a, b), torch.nn.ReLU()]
    return torch.nn.Sequential(*layers[:-1]).to(dtype)


def _batch(step, rank, n_in, n_out, dtype):
    g = torch.Generator().manual_seed(1000 * step + rank)
    return (torch.randn(32, n_in, generator=g).to(dtype),
            torch.randn(32, n_out, generator=g).to(dtype))


def _grads(module):
    return {n: p.grad.detach().clone() for n, p in module.named_parameters()}


def _train(ddp, state, opt, steps, first_step, sizes, dtype, rank, log):
    """Runs DDP steps; logs raw local gradients (from a plain replica) and reduced ones."""
    for step in range(first_step, first_step + steps):
        x, y = _batch(step, rank, sizes[0], sizes[-1], dtype)
        replica = copy.deepcopy(ddp.module)
        ((replica(x) - y) ** 2).mean().backward()
        opt.zero_grad()
        ((ddp(x) - y) ** 2).mean().backward()
        log.append({"step": step, "raw": _grads(replica), "reduced": _grads(ddp.module),
                    "buckets": list(state._seen), "bytes_sent": state.bytes_sent})
        state._seen.clear()
        opt.step()


class _RecordingState(at.AlcmHookState):
    def __init__(self, *a, **k):
        super().__init__(*a, **k)
        self._seen = []


def _recording_hook(state, bucket):
    state._seen.append(tuple(state._names[id(p)] for p in bucket.parameters()))
    return at.alcm_hook(state, bucket)


def _setup(sizes, dtype, hook=_recording_hook, **kw):
    model = _mlp(sizes, dtype)
    state = _RecordingState(model, **kw)
    # A tiny bucket cap: several buckets, and DDP's rebuild after step 0 regroups them.
    ddp = torch.nn.parallel.DistributedDataParallel(model, bucket_cap_mb=0.0005)
    ddp.register_comm_hook(state, hook)   # DDP checks the hook's signature and annotations
    opt = torch.optim.SGD(ddp.parameters(), lr=0.1, momentum=0.9)
    return ddp, state, opt


def _worker(rank, store, outdir):
    dist.init_process_group("gloo", init_method=f"file://{store}", rank=rank, world_size=WORLD)
    out = {}
    sizes = [8, 16, 16, 4]

    # float32: 3 steps; a checkpoint after step 1; then a fresh process state resumes step 2.
    ddp, state, opt = _setup(sizes, torch.float32, mode="relative_l2", target=TARGET)
    log = []
    _train(ddp, state, opt, 2, 0, sizes, torch.float32, rank, log)
    ckpt = pickle.dumps({"model": ddp.module.state_dict(), "opt": opt.state_dict(),
                         "hook": state.state_dict()})
    _train(ddp, state, opt, 1, 2, sizes, torch.float32, rank, log)
    out["fp32"] = log
    out["fp32_residual_names"] = sorted(state.residuals)
    state.close()
    ck = pickle.loads(ckpt)
    ddp2, state2, opt2 = _setup(sizes, torch.float32, mode="relative_l2", target=TARGET)
    ddp2.module.load_state_dict(ck["model"])
    opt2.load_state_dict(ck["opt"])
    state2.load_state_dict(ck["hook"])
    resumed = []
    _train(ddp2, state2, opt2, 1, 2, sizes, torch.float32, rank, resumed)
    out["fp32_resumed"] = resumed
    state2.close()

    # exchange="reduce_scatter": the same 3 steps, checkpoint after step 1, a fresh state resumes.
    rs = dict(mode="relative_l2", target=TARGET, exchange="reduce_scatter")
    ddp, state, opt = _setup(sizes, torch.float32, **rs)
    log = []
    _train(ddp, state, opt, 2, 0, sizes, torch.float32, rank, log)
    ckpt = pickle.dumps({"model": ddp.module.state_dict(), "opt": opt.state_dict(),
                         "hook": state.state_dict()})
    _train(ddp, state, opt, 1, 2, sizes, torch.float32, rank, log)
    out["rs"] = log
    out["rs_residual_names"] = sorted(pickle.loads(ckpt)["hook"]["exchange_residuals"])
    state.close()
    ck = pickle.loads(ckpt)
    ddp2, state2, opt2 = _setup(sizes, torch.float32, **rs)
    ddp2.module.load_state_dict(ck["model"])
    opt2.load_state_dict(ck["opt"])
    state2.load_state_dict(ck["hook"])
    resumed = []
    _train(ddp2, state2, opt2, 1, 2, sizes, torch.float32, rank, resumed)
    out["rs_resumed"] = resumed
    state2.close()

    for name, dtype in (("bf16", torch.bfloat16), ("fp16", torch.float16)):
        ddp, state, opt = _setup(sizes, dtype, mode="relative_l2", target=TARGET)
        log = []
        _train(ddp, state, opt, 2, 0, sizes, dtype, rank, log)
        out[name] = log
        state.close()

    lr_sizes = [32, 64, 10]
    ddp, state, opt = _setup(lr_sizes, torch.float32, at.alcm_hook, mode="low_rank", rank=2,
                             factor_target=0.05, target=TARGET)
    log = []
    _train(ddp, state, opt, 3, 0, lr_sizes, torch.float32, rank, log)
    out["low_rank"] = log
    out["low_rank_residuals"] = {k: v.clone() for k, v in state.residuals.items()}
    out["low_rank_q"] = sorted(state.q_factors)
    state.close()

    # Low rank on an exactly rank-1 average: u v_r^T with u shared, v_r per rank.
    u = torch.Generator().manual_seed(7)
    uu = torch.randn(48, 1, generator=u)
    v = torch.randn(1, 40, generator=torch.Generator().manual_seed(100 + rank))
    w = torch.nn.Parameter(torch.zeros(48, 40))
    st = at.AlcmHookState([("w", w)], mode="low_rank", rank=1, factor_target=1e-4,
                          feedback=False, target=TARGET)
    buf = (uu @ v).reshape(-1).clone()
    out["rank1_in"] = buf.clone()
    out["rank1_out"] = st._reduce_bucket(buf, [("w", 0, (48, 40))]).clone()
    st.close()

    with open(os.path.join(outdir, f"rank{rank}.pkl"), "wb") as f:
        pickle.dump(out, f)
    dist.destroy_process_group()


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    import torch.multiprocessing as mp
    d = tmp_path_factory.mktemp("ddp")
    mp.spawn(_worker, args=(str(d / "store"), str(d)), nprocs=WORLD, join=True)
    res = []
    for r in range(WORLD):
        with open(d / f"rank{r}.pkl", "rb") as f:
            res.append(pickle.load(f))
    return res


# ---------------------------------------------------------------------------------------------
# The reference: the hook's algorithm written out with alcm's compress/decompress.
def _reference(logs, dtype, steps):
    """Expected reduced gradients per step (dict name -> float32 array), and residuals."""
    residual = [dict() for _ in range(WORLD)]
    expected = []
    for s in range(steps):
        out = {}
        for name in logs[0][s]["raw"]:
            total = None
            for r in range(WORLD):
                x = logs[r][s]["raw"][name].to(torch.float32).numpy().copy()
                if name in residual[r]:
                    x += residual[r][name]
                y = alcm.decompress(alcm.compress(x, mode="relative_l2", target=TARGET))
                residual[r][name] = x - y
                total = y.copy() if total is None else total + y
            out[name] = torch.from_numpy(total / np.float32(WORLD)).to(dtype)
        expected.append(out)
    return expected, residual


_BITS = {2: torch.int16, 4: torch.int32, 8: torch.int64}


def _same(a, b):
    """Bit-identical (NaN payloads and signed zeros included)."""
    if a.dtype != b.dtype or a.shape != b.shape:
        return False
    bits = _BITS[a.element_size()]
    return torch.equal(a.contiguous().view(bits), b.contiguous().view(bits))


def test_buckets_are_rebuilt_after_the_first_step(runs):
    # Otherwise the residual-across-rebuild test below would prove nothing.
    first, second = runs[0]["fp32"][0]["buckets"], runs[0]["fp32"][1]["buckets"]
    assert set(first) != set(second), (first, second)


@pytest.mark.parametrize("key,dtype", [("fp32", torch.float32), ("bf16", torch.bfloat16),
                                       ("fp16", torch.float16)])
def test_matches_reference_with_residual_carried_across_steps_and_rebuild(runs, key, dtype):
    logs = [runs[r][key] for r in range(WORLD)]
    expected, _ = _reference(logs, dtype, len(logs[0]))
    for s, exp in enumerate(expected):
        for r in range(WORLD):
            got = logs[r][s]["reduced"]
            for name, e in exp.items():
                assert got[name].dtype == dtype
                assert _same(got[name], e), (key, s, r, name)
    # A residual reset at the rebuild (step 1) would change step 1's and 2's results; so would
    # ignoring it: the reference with feedback differs from one without from step 1 on.
    assert any(not torch.equal(logs[0][1]["raw"][n].to(dtype), logs[0][1]["reduced"][n])
               for n in expected[1])


def test_replicas_bit_identical(runs):
    for key in ("fp32", "bf16", "fp16", "low_rank", "fp32_resumed"):
        for s in range(len(runs[0][key])):
            a, b = runs[0][key][s]["reduced"], runs[1][key][s]["reduced"]
            assert a.keys() == b.keys()
            for n in a:
                assert _same(a[n], b[n]), (key, s, n)


def _reference_reduce_scatter(logs, steps, feedback=True):
    """The compressed reduce-scatter + all-gather written out with alcm.collective: one
    Exchange per rank and parameter, stage 1 summed in rank order, stage 2 decoded."""
    from alcm.collective import Exchange
    enc = alcm.Encoder(mode="relative_l2", target=TARGET)
    names = list(logs[0][0]["raw"])
    ex = {n: [Exchange(tuple(logs[0][0]["raw"][n].shape), WORLD, r) for r in range(WORLD)]
          for n in names}
    expected = []
    for s in range(steps):
        out = {}
        for n in names:
            e = ex[n] if feedback else [Exchange(tuple(logs[0][0]["raw"][n].shape), WORLD, r)
                                        for r in range(WORLD)]
            g = [logs[r][s]["raw"][n].numpy().astype(np.float32) for r in range(WORLD)]
            sent = [[e[r].compress_shard(g[r], j, enc) for j in range(WORLD)]
                    for r in range(WORLD)]
            reduced = []
            for j in range(WORLD):
                sh = e[j].shard(j)
                acc = np.zeros(sh.stop - sh.start, np.float32)
                if acc.size:
                    for r in range(WORLD):
                        e[j].accumulate(sent[r][j], acc, scale=1.0 / WORLD)
                    reduced.append(e[j].compress_reduced(acc, enc))
                else:
                    reduced.append(b"")
            y = np.full(g[0].size, np.nan, np.float32)
            for j in range(WORLD):
                sh = e[0].shard(j)
                if sh.stop > sh.start:
                    e[0].decode_shard(reduced[j], j, y)
            out[n] = torch.from_numpy(y.reshape(g[0].shape))
        expected.append(out)
    return expected


def test_reduce_scatter_matches_collective_reference_and_true_mean(runs):
    logs = [runs[r]["rs"] for r in range(WORLD)]
    expected = _reference_reduce_scatter(logs, len(logs[0]))
    for s, exp in enumerate(expected):
        for r in range(WORLD):
            for name, e in exp.items():
                assert _same(logs[r][s]["reduced"][name], e), (s, r, name)
    # Independent of the library: step 0 (no residual yet) is within both stages' bounds of
    # the float64 mean: stage 1 adds at most TARGET * mean of the ranks' norms, stage 2
    # TARGET * the norm of what it coded.
    for name in expected[0]:
        g = [logs[r][0]["raw"][name].double() for r in range(WORLD)]
        mean = sum(g) / WORLD
        b1 = TARGET * sum(float(x.norm()) for x in g) / WORLD
        b2 = TARGET * (float(mean.norm()) + b1)
        err = float((logs[0][0]["reduced"][name].double() - mean).norm())
        assert err <= (b1 + b2) * 1.001, (name, err, b1, b2)
    # The residuals matter (and were carried across the bucket rebuild after step 0): without
    # them the reference differs from step 1 on.
    plain = _reference_reduce_scatter(logs, len(logs[0]), feedback=False)
    assert runs[0]["rs"][0]["buckets"] != runs[0]["rs"][1]["buckets"]
    assert any(not torch.equal(plain[1][n], expected[1][n]) for n in expected[1])
    assert runs[0]["rs_residual_names"] == sorted(runs[0]["rs"][0]["raw"])


def test_reduce_scatter_replicas_and_resume_bit_identical(runs):
    for key in ("rs", "rs_resumed"):
        for s in range(len(runs[0][key])):
            a, b = runs[0][key][s]["reduced"], runs[1][key][s]["reduced"]
            for n in a:
                assert _same(a[n], b[n]), (key, s, n)
    for r in range(WORLD):
        orig, resumed = runs[r]["rs"][2], runs[r]["rs_resumed"][0]
        for n in orig["raw"]:
            assert _same(orig["raw"][n], resumed["raw"][n]), n
            assert _same(orig["reduced"][n], resumed["reduced"][n]), n


def test_residuals_keyed_by_parameter_name(runs):
    assert runs[0]["fp32_residual_names"] == sorted(
        ["0.weight", "0.bias", "2.weight", "2.bias", "4.weight", "4.bias"])


def test_state_dict_round_trip_resumes_bit_identically(runs):
    for r in range(WORLD):
        orig, resumed = runs[r]["fp32"][2], runs[r]["fp32_resumed"][0]
        for n in orig["raw"]:
            assert _same(orig["raw"][n], resumed["raw"][n]), n   # same weights after resume
            assert _same(orig["reduced"][n], resumed["reduced"][n]), n


def test_low_rank_error_feedback_invariant_and_fallback(runs):
    # sum_t reduced_t == mean over ranks of (sum_t raw_t - residual_T): what was not sent is in
    # the residuals (for low-rank tensors it holds per rank too: the approximation is shared).
    log = [runs[r]["low_rank"] for r in range(WORLD)]
    for n in log[0][0]["raw"]:
        sent = sum(step["reduced"][n].double() for step in log[0])
        kept = sum(sum(step["raw"][n].double() for step in log[r])
                   - runs[r]["low_rank_residuals"][n].double() for r in range(WORLD)) / WORLD
        err = float((sent - kept).norm() / sent.norm())
        assert err < 1e-5, (n, err)
        if n.endswith("weight"):
            for r in range(WORLD):
                raw = sum(step["raw"][n].double() for step in log[r])
                own = raw - runs[r]["low_rank_residuals"][n].double()
                assert float((own - sent).norm() / sent.norm()) < 1e-5, (n, r)
    # Only the two weight matrices go low rank; the biases fall back to relative_l2.
    assert runs[0]["low_rank_q"] == ["0.weight", "2.weight"]
    # The low-rank output of a matrix has rank <= 2 (up to float32 rounding of P Q^T).
    for step in runs[0]["low_rank"]:
        sv = torch.linalg.svdvals(step["reduced"]["0.weight"].double())
        assert float(sv[2] / sv[0]) < 1e-5, sv[:4]


def test_low_rank_recovers_a_rank_one_average(runs):
    ins = [runs[r]["rank1_in"].double() for r in range(WORLD)]
    avg = sum(ins) / WORLD
    for r in range(WORLD):
        out = runs[r]["rank1_out"].double()
        assert float((out - avg).norm() / avg.norm()) < 1e-3
    assert _same(runs[0]["rank1_out"], runs[1]["rank1_out"])


def test_low_rank_sends_fewer_bytes_than_elementwise(runs):
    lr = runs[0]["low_rank"][-1]["bytes_sent"] / len(runs[0]["low_rank"])
    n_values = sum(t.numel() for t in runs[0]["low_rank"][0]["raw"].values())
    rank2_f32 = 4 * 2 * (32 + 64 + 64 + 10)   # PowerSGD's float32 P and Q at rank 2
    assert lr < 4 * n_values / 10
    assert lr < rank2_f32


# ---------------------------------------------------------------------------------------------
# Bad arguments, in this process (a one-rank gloo group for the hook's future).
@pytest.fixture(scope="module")
def one_rank(tmp_path_factory):
    store = tmp_path_factory.mktemp("one") / "store"
    dist.init_process_group("gloo", init_method=f"file://{store}", rank=0, world_size=1)
    yield
    dist.destroy_process_group()


def _model():
    return _mlp([4, 3, 2])


@pytest.mark.parametrize("kwargs,exc,match", [
    ({"mode": "bogus"}, ValueError, "unknown mode"),
    ({"mode": 3}, ValueError, "unknown mode"),
    ({"mode": "relative_l2", "target": None}, ValueError, "needs a target"),
    ({"mode": "relative_l2", "target": 1.5}, ValueError, r"in \(0, 1\)"),
    ({"mode": "relative_l2", "target": float("nan")}, ValueError, r"in \(0, 1\)"),
    ({"mode": "relative_l2", "target": "0.1"}, TypeError, "must be a number"),
    ({"mode": "max_abs", "target": -1.0}, ValueError, "finite and > 0"),
    ({"mode": "max_abs", "target": float("inf")}, ValueError, "finite and > 0"),
    ({"mode": "lossless", "target": 0.1}, ValueError, "takes no target"),
    ({"mode": "adaptive", "target": 0.1}, ValueError, "takes no target"),
    ({"mode": "max_abs"}, ValueError, "needs a target"),
    ({"feedback": "yes"}, TypeError, "feedback must be a bool"),
    ({"backend": "zip"}, ValueError, "unknown backend"),
    ({"seed": -1}, ValueError, "seed"),
    ({"mode": "low_rank", "rank": 0}, ValueError, "rank must be"),
    ({"mode": "low_rank", "rank": 1.5}, ValueError, "rank must be"),
    ({"mode": "low_rank", "rank": True}, ValueError, "rank must be"),
    ({"mode": "low_rank", "factor_target": 2.0}, ValueError, r"in \(0, 1\)"),
    ({"mode": "low_rank", "min_compression": 0.5}, ValueError, "min_compression"),
    ({"mode": "low_rank", "fallback_mode": "nope"}, ValueError, "unknown fallback_mode"),
    ({"mode": "low_rank", "fallback_mode": "lossless", "target": 0.1}, ValueError, "takes no target"),
    ({"exchange": "alltoall"}, ValueError, "unknown exchange"),
    ({"exchange": None}, ValueError, "unknown exchange"),
    ({"mode": "low_rank", "exchange": "reduce_scatter"}, ValueError, "elementwise modes"),
])
def test_bad_state_arguments(kwargs, exc, match):
    with pytest.raises(exc, match=match):
        at.AlcmHookState(_model(), **kwargs)


def test_bad_models():
    with pytest.raises(TypeError, match="torch.nn.Module or an iterable"):
        at.AlcmHookState(42)
    with pytest.raises(ValueError, match="no parameters"):
        at.AlcmHookState(torch.nn.ReLU())
    p = torch.nn.Parameter(torch.zeros(2))
    with pytest.raises(ValueError, match="appears twice"):
        at.AlcmHookState([("a", p), ("a", p)])
    with pytest.raises(TypeError, match=r"\(name: str, parameter"):
        at.AlcmHookState([("a", 3)])


def test_every_mode_is_accepted():
    for mode, target in (("relative_l2", 1e-2), ("max_abs", 1e-3), ("adaptive", None),
                         ("lossless", None), ("low_rank", 1e-2)):
        at.AlcmHookState(_model(), mode=mode, target=target).close()


class _FakeBucket:
    def __init__(self, buffer, params):
        self._b, self._p = buffer, params

    def buffer(self):
        return self._b

    def parameters(self):
        return self._p


def test_bad_hook_calls(one_rank):
    m = _model()
    state = at.AlcmHookState(m)
    params = list(m.parameters())
    n = sum(p.numel() for p in params)
    with pytest.raises(TypeError, match="AlcmHookState"):
        at.alcm_hook(object(), _FakeBucket(torch.zeros(n), params))
    with pytest.raises(TypeError, match="float32, bfloat16 and float16"):
        at.alcm_hook(state, _FakeBucket(torch.zeros(n, dtype=torch.float64), params))
    with pytest.raises(KeyError, match="not among the model's named parameters"):
        at.alcm_hook(state, _FakeBucket(torch.zeros(3), [torch.nn.Parameter(torch.zeros(3))]))
    with pytest.raises(RuntimeError, match="bucket of 5 values"):
        at.alcm_hook(state, _FakeBucket(torch.zeros(5), params))
    # A NaN gradient: the library refuses it and the error arrives through the future.
    buf = torch.zeros(n)
    buf[3] = float("nan")
    fut = at.alcm_hook(state, _FakeBucket(buf, params))
    with pytest.raises(Exception, match="ALCM_ERR_NON_FINITE"):
        fut.wait()
    # The state still works afterwards; with one rank the result is the decoded gradient.
    g = torch.arange(n, dtype=torch.float32) / n
    out = at.alcm_hook(state, _FakeBucket(g.clone(), params)).wait()
    assert float((out - g).norm() / g.norm()) <= 1e-2 * 1.0001
    state.close()


def test_bad_state_dicts(tmp_path):
    m = _model()
    state = at.AlcmHookState(m)
    good = state.state_dict()
    names = [n for n, _ in m.named_parameters()]
    with pytest.raises(TypeError, match="must be a dict"):
        state.load_state_dict([1])
    with pytest.raises(KeyError, match="lacks"):
        state.load_state_dict({"version": 1})
    with pytest.raises(ValueError, match="version"):
        state.load_state_dict({**good, "version": 99})
    with pytest.raises(ValueError, match="saved with"):
        state.load_state_dict({**good, "config": {**good["config"], "target": 0.5}})
    cases = [
        ({"nope": torch.zeros(3)}, KeyError, "not a parameter"),
        ({names[0]: torch.zeros(7)}, ValueError, "has shape"),
        ({names[0]: torch.zeros(3, 4, dtype=torch.float64)}, TypeError, "float32 tensor"),
        ({names[0]: torch.full((3, 4), float("nan"))}, ValueError, "NaN or Inf"),
        ({names[0]: [0.0]}, TypeError, "float32 tensor"),
    ]
    for residuals, exc, match in cases:
        with pytest.raises(exc, match=match):
            state.load_state_dict({**good, "residuals": residuals})
    with pytest.raises(ValueError, match="bytes_sent"):
        state.load_state_dict({**good, "bytes_sent": -1})
    lr = at.AlcmHookState(m, mode="low_rank", rank=2)
    with pytest.raises(ValueError, match="q_factors"):
        lr.load_state_dict({**lr.state_dict(), "q_factors": {names[0]: torch.zeros(4, 3)}})
    # The reduce-scatter residuals (residual-store files per parameter).
    rs = at.AlcmHookState(m, exchange="reduce_scatter")
    rs_good = rs.state_dict()
    assert rs_good["exchange_residuals"] == {}
    with pytest.raises(ValueError, match="only for"):
        state.load_state_dict({**good, "exchange_residuals": {names[0]: b"x"}})
    with pytest.raises(KeyError, match="not a parameter"):
        rs.load_state_dict({**rs_good, "exchange_residuals": {"nope": b""}})
    with pytest.raises(TypeError, match="must be bytes"):
        rs.load_state_dict({**rs_good, "exchange_residuals": {names[0]: 3}})
    with pytest.raises(alcm.AlcmError):
        rs.load_state_dict({**rs_good, "exchange_residuals": {names[0]: b"not a store"}})
    with pytest.raises(ValueError, match="saved with"):
        rs.load_state_dict(good)
    # A store saved for another name is refused when loaded, not at the first step.
    other = alcm.collective.ResidualStore()
    alcm.collective.Exchange((3, 4), 1, 0).save_residuals("elsewhere", other)
    other.save(tmp_path / "other.bin")
    blob = (tmp_path / "other.bin").read_bytes()
    with pytest.raises(alcm.ArgumentError, match=f"{names[0]}/gather"):
        rs.load_state_dict({**rs_good, "exchange_residuals": {names[0]: blob}})
    rs.close()
    # A state_dict saved before the `exchange` option existed still loads (all-gather).
    old = {**good, "config": {k: v for k, v in good["config"].items() if k != "exchange"}}
    state.load_state_dict(old)
    # A good one loads, and the residual given is the one kept.
    r = torch.full((3, 4), 0.25)
    state.load_state_dict({**good, "residuals": {names[0]: r}})
    assert torch.equal(state.state_dict()["residuals"][names[0]], r)
    state.close()
    lr.close()


def test_import_alcm_does_not_import_torch():
    import subprocess
    import sys
    code = "import sys, alcm; assert 'torch' not in sys.modules; print('ok')"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=120)
    assert out.returncode == 0 and "ok" in out.stdout, out.stderr


def test_low_rank_checkpoint_resumes_bit_identically(one_rank):
    # The low-rank residual and warm start live in the library; state_dict carries them.
    w = torch.nn.Parameter(torch.zeros(24, 16))
    g = [torch.randn(24 * 16, generator=torch.Generator().manual_seed(s)) for s in (1, 2)]
    layout = [("w", 0, (24, 16))]
    kw = dict(mode="low_rank", rank=1, factor_target=0.05)
    a = at.AlcmHookState([("w", w)], **kw)
    a._reduce_bucket(g[0].clone(), layout)
    ck = a.state_dict()
    assert set(ck["residuals"]) == {"w"} and ck["q_factors"]["w"].shape == (16, 1)
    want = a._reduce_bucket(g[1].clone(), layout)
    b = at.AlcmHookState([("w", w)], **kw)
    b.load_state_dict(ck)
    got = b._reduce_bucket(g[1].clone(), layout)
    assert torch.equal(want, got)
    # Without the checkpoint the second step differs (the residual and Q matter).
    c = at.AlcmHookState([("w", w)], **kw)
    assert not torch.equal(want, c._reduce_bucket(g[1].clone(), layout))
    for s in (a, b, c):
        s.close()
