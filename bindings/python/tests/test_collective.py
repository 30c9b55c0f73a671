"""alcm.collective: the compressed reduce-scatter + all-gather against a float64 numpy
reference, per-stage error bounds, and the residual store."""
import numpy as np
import pytest

import alcm
from alcm.collective import Exchange, ResidualStore
from conftest import DATA


def _grads(ranks):
    a = np.load(DATA / "gradients" / "grad_step00100_fc1.weight.npy")
    b = np.load(DATA / "gradients" / "grad_step01000_fc1.weight.npy")
    return [((r + 1) / ranks * a + (1 - (r + 1) / ranks) * b).astype(np.float32)
            for r in range(ranks)]


def _step(ex, grads, enc):
    n = len(ex)
    sent = [[ex[r].compress_shard(grads[r], j, enc) for j in range(n)] for r in range(n)]
    reduced, gathered = [], []
    for j in range(n):
        s = ex[j].shard(j)
        acc = np.zeros(s.stop - s.start, np.float32)
        for r in range(n):
            ex[j].accumulate(sent[r][j], acc, scale=1.0 / n)
        reduced.append(acc)
        gathered.append(ex[j].compress_reduced(acc, enc))
    outs = []
    for r in range(n):
        out = np.full(grads[0].size, np.nan, np.float32)
        for j, f in enumerate(gathered):
            ex[r].decode_shard(f, j, out)
        outs.append(out)
    return sent, reduced, gathered, outs


def test_mean_matches_float64_reference_within_both_stage_bounds():
    ranks, eps = 3, 0.05
    grads = _grads(ranks)
    enc = alcm.Encoder(mode="relative_l2", target=eps)
    ex = [Exchange(grads[0].shape, ranks, r) for r in range(ranks)]
    sent, reduced, gathered, outs = _step(ex, grads, enc)
    mean = np.mean([g.astype(np.float64) for g in grads], axis=0).ravel()
    for j in range(ranks):
        s = ex[0].shard(j)
        # stage 1: mean of per-rank errors, each <= eps * ||shard||
        b1 = sum(eps * np.linalg.norm(g.ravel()[s].astype(np.float64)) for g in grads) / ranks
        assert np.linalg.norm(reduced[j] - mean[s]) <= b1 * 1.001
        # stage 2: the decoded reduced shard within eps of what was summed
        # (exchange messages are not alcm frames: alcm.decompress refuses them)
        with pytest.raises(alcm.AlcmError):
            alcm.decompress(gathered[j])
        full = np.zeros(grads[0].size, np.float32)
        ex[1].decode_shard(gathered[j], j, full)
        d = full[s]
        assert np.linalg.norm(d - reduced[j]) <= eps * np.linalg.norm(reduced[j]) * 1.0001
    for o in outs:
        assert np.array_equal(o, outs[0])
    assert not np.isnan(outs[0]).any()
    # Messages concatenate and split again; a cut one is an error.
    buf = b"".join(gathered)
    lens = []
    while buf:
        lens.append(alcm.collective.message_len(buf))
        buf = buf[lens[-1]:]
    assert lens == [len(m) for m in gathered if m]
    with pytest.raises(alcm.AlcmError):
        alcm.collective.message_len(gathered[0][:-1])


def test_residual_store_round_trip_and_missing_key(tmp_path):
    grads = _grads(2)
    enc = alcm.Encoder(mode="relative_l2", target=0.3)
    ex = [Exchange(grads[0].shape, 2, r) for r in range(2)]
    _step(ex, grads, enc)
    store = ResidualStore()
    ex[0].save_residuals("fc1.weight", store)
    assert len(store) == 3
    store.save(tmp_path / "res.bin")
    back = ResidualStore.load(tmp_path / "res.bin")
    # A fresh exchange restored from the file continues exactly like the original.
    fresh = Exchange(grads[0].shape, 2, 0)
    fresh.load_residuals("fc1.weight", back)
    assert ex[0].compress_shard(grads[0], 1, enc) == fresh.compress_shard(grads[0], 1, enc)
    with pytest.raises(alcm.ArgumentError, match="renamed/scatter/0"):
        fresh.load_residuals("renamed", back)
    raw = (tmp_path / "res.bin").read_bytes()
    (tmp_path / "bad.bin").write_bytes(raw[:-9] + bytes([raw[-9] ^ 1]) + raw[-8:])
    with pytest.raises(alcm.DataError):
        ResidualStore.load(tmp_path / "bad.bin")


def test_accumulate_refuses_wrong_buffers():
    ex = Exchange((4, 2), 2, 0)
    enc = alcm.Encoder(mode="lossless")
    f = ex.compress_shard(np.arange(8, dtype=np.float32), 0, enc)
    acc = np.ones(4, np.float32)
    ex.accumulate(f, acc, scale=2.0)
    assert acc.tolist() == [1.0, 3.0, 5.0, 7.0]
    with pytest.raises(TypeError):
        ex.accumulate(f, acc.astype(np.float64))
    with pytest.raises(alcm.AlcmError):
        ex.accumulate(f, np.zeros(3, np.float32))
    with pytest.raises(alcm.AlcmError):
        Exchange((4, 2), 2, 2)


def test_store_keeps_plain_error_feedback(tmp_path, grad):
    enc = alcm.Encoder(mode="relative_l2", target=0.3)
    fb = alcm.ErrorFeedback(grad.shape)
    fb.compress(grad, enc)
    store = ResidualStore()
    store.put("fc1.weight", fb)
    store.save(tmp_path / "s.bin")
    back = ResidualStore.load(tmp_path / "s.bin").get("fc1.weight")
    # The restored residual continues exactly: the next frames are byte-identical.
    assert fb.compress(grad, enc)[0] == back.compress(grad, enc)[0]
    with pytest.raises(alcm.ArgumentError, match="fc2.weight"):
        store.get("fc2.weight")


def test_adaptive_shards_take_an_allocation_per_channel():
    g = _grads(2)[0]
    enc = alcm.Encoder()  # adaptive (the original's scheme)
    sizes = {}
    for a in (0.2, 0.9):
        ex = Exchange(g.shape, 2, 0)
        s = ex.shard(1)
        rows = (s.stop - s.start) // int(np.prod(g.shape[1:]))
        sizes[a] = len(ex.compress_shard(g, 1, enc, allocation=np.full(rows, a)))
    assert sizes[0.2] < sizes[0.9]
    with pytest.raises(alcm.AlcmError):
        Exchange(g.shape, 2, 0).compress_shard(g, 1, enc, allocation=[0.5, 0.5, 0.5])
