"""Predictor trained from Python, scheduler on a hand-worked sequence, error feedback."""
import numpy as np
import pytest

import alcm
from conftest import DATA, data_files


def _training_set():
    enc = alcm.Encoder()
    feats, targets = [], []
    for p in data_files():
        x = np.load(p)
        if x.ndim < 2:
            continue
        feats.append(alcm.stats_features(alcm.channel_stats(x)))
        targets.append(enc.empirical_channel_allocations(x, 1e-2))
    enc.close()
    return np.concatenate(feats), np.concatenate(targets)


def test_predictor_trained_from_python(tmp_path, grad):
    f, t = _training_set()
    assert f.shape[1] == 6 and f.shape[0] == t.size > 100
    assert ((t >= 0.2 - 1e-12) & (t <= 0.9 + 1e-12)).all()
    with alcm.Predictor(hidden_size=16, learning_rate=1e-2, seed=7) as p:
        before = np.mean([(p.forward(fi) - ti) ** 2 for fi, ti in zip(f, t)])
        loss = p.train(f, t, epochs=5)
        assert loss.shape == (5,) and np.isfinite(loss).all()
        assert loss[-1] <= loss[0]
        after = np.mean([(p.forward(fi) - ti) ** 2 for fi, ti in zip(f, t)])
        assert after < before
        alloc = p.predict_channels(grad)
        assert alloc.shape == (grad.shape[0],) and ((alloc >= 0.2) & (alloc <= 0.9)).all()
        whole = p.predict(grad)
        assert 0.2 <= whole <= 0.9
        # its output drives the encoder
        frame, rep = alcm.Encoder().compress(grad, allocation=alloc)
        assert alcm.decompress(frame).shape == grad.shape and rep.ratio > 1
        path = tmp_path / "model.npz"
        p.save(path)
        z = np.load(path)
        assert {"W1", "b1", "W2", "b2"} <= set(z.files)
        with alcm.Predictor.load(path) as q:
            assert np.array_equal(q.predict_channels(grad), alloc)
            assert q.forward(f[0]) == p.forward(f[0])


def test_guarded_predictor_meets_the_target(grad):
    # An untrained predictor's allocations, guarded for 2e-2: the error measured here with
    # numpy on the decoded values is within 1.25x the target; the input array is not modified.
    target = 2e-2
    with alcm.Predictor(seed=3) as p, alcm.Encoder() as enc:
        alloc = np.full(grad.shape[0], 0.2)
        x64 = grad.astype(np.float64)
        unguarded = alcm.decompress(enc.compress(grad, allocation=alloc)[0])
        assert np.linalg.norm(x64 - unguarded) / np.linalg.norm(x64) > 1.25 * target
        guarded = enc.guard_channel_allocations(grad, alloc, target)
        assert (alloc == 0.2).all() and guarded.shape == alloc.shape
        assert ((guarded >= 0.2) & (guarded <= 0.9)).all() and (guarded > 0.2).any()
        y = alcm.decompress(enc.compress(grad, allocation=guarded)[0])
        assert np.linalg.norm(x64 - y) / np.linalg.norm(x64) <= 1.25 * target
        pred = p.predict_channels(grad)
        g2 = alcm.guard_channel_allocations(grad, pred, target)
        assert (g2 >= pred).all() and (g2 >= guarded - 1e-15).all()
        assert np.array_equal(alcm.guard_channel_allocations(grad, np.full(grad.shape[0], 0.9), target),
                              np.full(grad.shape[0], 0.9))


def test_predictor_is_deterministic_per_seed(grad):
    a, b, c = alcm.Predictor(seed=1), alcm.Predictor.new(seed=1), alcm.Predictor(seed=2)
    assert a.predict(grad) == b.predict(grad) != c.predict(grad)


def test_predictor_from_yaml(repo, grad):
    p = alcm.Predictor.from_yaml(repo / "configs" / "entropy_config.yaml")
    assert 0.2 <= p.predict(grad) <= 0.9
    q = alcm.Predictor.from_yaml_string("model:\n  hidden_size: 8\nscheduler:\n  min_bits: 0.1\n  max_bits: 0.5\n")
    assert 0.1 <= q.predict(grad) <= 0.5


def test_scheduler_hand_worked_sequence():
    # window 3, decay 0.5: trend = newest - oldest of the window; > 0 -> *0.5, else /0.5
    s = alcm.Scheduler(initial_threshold=0.01, decay=0.5, window=3, min_threshold=0.001, max_threshold=0.1)
    caqs = [1.0, 2.0, 3.0, 2.5, 1.0, 1.0, 1.0, 5.0, 5.0, 5.0]
    expected = [0.01,    # window [1]: fewer than 2 scores, unchanged
                0.005,   # [1, 2] trend +1
                0.0025,  # [1, 2, 3] +2
                0.00125,  # [2, 3, 2.5] +0.5
                0.0025,  # [3, 2.5, 1] -2
                0.005,   # [2.5, 1, 1] -1.5
                0.01,    # [1, 1, 1] 0 is not rising
                0.005,   # [1, 1, 5] +4
                0.0025,  # [1, 5, 5] +4
                0.005]   # [5, 5, 5] 0
    got = [s.update(c) for c in caqs]
    assert got == pytest.approx(expected, rel=1e-15)
    assert s.history() == pytest.approx(expected, rel=1e-15)
    assert s.window().tolist() == [5.0, 5.0, 5.0]
    st = s.stats()
    assert (st.step, st.window_len, st.mean_caq, st.trend) == (10, 3, 5.0, 0.0)
    assert st.threshold == pytest.approx(0.005) == s.threshold
    # clipping at both ends
    for _ in range(10):
        s.update(1.0)
    assert s.threshold == 0.1
    for c in range(10):
        s.update(10.0 + c)
    assert s.threshold == 0.001
    s.reset()
    st = s.stats()
    assert (st.step, st.threshold, st.window_len, st.mean_caq) == (0, 0.01, 0, 0.0)
    assert s.history().size == 0 and s.window().size == 0
    s.close()
    assert s.closed


def test_scheduler_defaults():
    with alcm.Scheduler() as s:
        assert s.update(1.0) == 0.01
        assert s.update(2.0) == pytest.approx(0.0095)


def test_error_feedback(grad, tmp_path):
    enc = alcm.Encoder("max_abs", 1e-4)
    with alcm.ErrorFeedback(grad.shape) as fb:
        f1, r1 = fb.compress(grad, enc)
        y1 = alcm.decompress(f1)
        # the residual g - y1 is carried into the next step
        f2, _ = fb.compress(grad, enc)
        y2 = alcm.decompress(f2)
        assert np.abs((2 * grad.astype(np.float64) - y1) - y2).max() <= 1e-4 * 1.0001
        fb.save(tmp_path / "fb.bin")
        with alcm.ErrorFeedback.load(tmp_path / "fb.bin") as fb2:
            assert fb2.compress(grad, enc)[0] == fb.compress(grad, enc)[0]
        fb.reset()
        assert fb.compress(grad, enc)[0] == f1
        with pytest.raises(ValueError):
            fb.compress(grad[:10], enc)
