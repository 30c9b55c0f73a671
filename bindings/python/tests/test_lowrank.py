"""alcm.lowrank (the library's PowerSGD-style compressor) against numpy float64 references."""
import numpy as np
import pytest

import alcm
from alcm.lowrank import LowRank, pays, sum_frames


def _step(states, grads):
    p_sum = sum_frames([s.begin(g) for s, g in zip(states, grads)])
    q_sum = sum_frames([s.after_p(p_sum) for s in states])
    return [s.finish(q_sum, scale=1 / len(states)) for s in states], p_sum


def test_pays_matches_the_rule():
    assert pays((4, 4), rank=1) and not pays((3, 4), rank=1)
    assert pays((16, 16), rank=4) and not pays((16, 16), rank=5)
    assert not pays((64,), 1) and not pays((8, 8, 3, 3), 1)


def test_two_ranks_match_numpy_projection():
    # The mean gradient projected on span(sum_r M_r Q): numpy's QR of the P sum gives the basis.
    rng = np.random.default_rng(0)
    grads = [rng.standard_normal((30, 20)).astype(np.float32) for _ in range(2)]
    states = [LowRank((30, 20), rank=2, factor_target=1e-5) for _ in range(2)]
    outs, p_sum = _step(states, grads)
    assert np.array_equal(outs[0], outs[1])
    basis = np.linalg.qr(p_sum.reshape(30, 2).astype(np.float64))[0]
    mean = (grads[0].astype(np.float64) + grads[1]) / 2
    ref = basis @ (basis.T @ mean)
    assert np.linalg.norm(outs[0] - ref) / np.linalg.norm(ref) < 1e-4


@pytest.mark.parametrize("target", [1e-3, 2e-2])
def test_rank_one_recovered_within_factor_bound(target):
    u = np.sin(np.arange(48) * 0.37) + 0.2
    v = np.cos(np.arange(40) * 0.11) * 3
    g = np.outer(u, v)
    (out,), _ = _step([LowRank(g.shape, rank=1, factor_target=target)], [g.astype(np.float32)])
    assert np.linalg.norm(out - g) / np.linalg.norm(g) <= 2 * target + 1e-6


def test_residual_carry_and_checkpoint():
    rng = np.random.default_rng(1)
    g1, g2 = (rng.standard_normal((24, 16)).astype(np.float32) for _ in range(2))
    a = LowRank(g1.shape, rank=1)
    (o1,), _ = _step([a], [g1])
    np.testing.assert_array_equal(a.residual(), g1 - o1)
    b = LowRank(g1.shape, rank=1)
    b.set_q(a.q())
    b.set_residual(a.residual())
    assert a.begin(g2) == b.begin(g2)
    nf = LowRank(g1.shape, rank=1, feedback=False)
    _step([nf], [g1])
    assert nf.residual().size == 0


def test_bad_arguments_raise():
    with pytest.raises(ValueError, match="does not pay"):
        LowRank((3, 4), rank=1)
    with pytest.raises(ValueError, match="2-D"):
        LowRank((64,))
    with pytest.raises(ValueError, match="rank must be"):
        LowRank((64, 64), rank=0)
    with pytest.raises(alcm.AlcmError, match="factor_target"):
        LowRank((64, 64), factor_target=1.5)
    lr = LowRank((16, 16), rank=1)
    with pytest.raises(alcm.AlcmError, match="out of turn"):
        lr.after_p(np.zeros(16, np.float32))
    with pytest.raises(alcm.AlcmError, match="expected 256"):
        lr.begin(np.zeros(255, np.float32))
    bad = np.ones((16, 16), np.float32)
    bad[2, 3] = np.nan
    with pytest.raises(alcm.AlcmError):
        lr.begin(bad)
    with pytest.raises(alcm.AlcmError, match="NaN or Inf"):
        lr.set_q(np.full(16, np.inf, np.float32))
