"""Round trip of every tensor of tests/data in every mode, error bounds checked in numpy."""
import numpy as np
import pytest

import alcm
from conftest import data_files

FILES = data_files()
IDS = [f"{p.parent.name}/{p.stem}" for p in FILES]


def _channels(x):
    return x.reshape(x.shape[0], -1) if x.ndim >= 2 else x.reshape(1, -1)


def _rel_l2(x, y):
    x64, y64 = x.astype(np.float64), y.astype(np.float64)
    nx = np.linalg.norm(x64)
    return np.linalg.norm(x64 - y64) / nx if nx else np.linalg.norm(y64)


@pytest.mark.parametrize("path", FILES, ids=IDS)
@pytest.mark.parametrize("backend", ["rans", "deflate", "store"])
def test_lossless_is_bit_exact(path, backend):
    x = np.load(path)
    frame = alcm.compress(x, mode="lossless", backend=backend)
    y = alcm.decompress(frame)
    assert y.dtype == np.float32 and y.shape == x.shape
    assert np.array_equal(x.view(np.uint32), y.view(np.uint32))
    info = alcm.peek(frame)
    assert info.mode == "lossless" and info.shape == x.shape and info.frame_len == len(frame)
    assert len(frame) <= alcm.compress_bound(x.size)


@pytest.mark.parametrize("path", FILES, ids=IDS)
@pytest.mark.parametrize("target", [1e-2, 1e-3])
def test_relative_l2_bound(path, target):
    x = np.load(path)
    frame = alcm.compress(x, mode="relative_l2", target=target)
    y = alcm.decompress(frame)
    assert y.shape == x.shape
    assert _rel_l2(x, y) <= target * (1 + 1e-9)
    m = alcm.metrics(x, y)
    assert m.rel_l2 == pytest.approx(_rel_l2(x, y), rel=1e-6, abs=1e-12)
    assert m.max_abs == pytest.approx(np.abs(x.astype(np.float64) - y).max(), rel=1e-6)
    info = alcm.peek(frame)
    assert info.mode in ("relative_l2", "lossless")
    if info.mode == "relative_l2":
        assert info.target == target


@pytest.mark.parametrize("path", FILES, ids=IDS)
@pytest.mark.parametrize("fraction", [1e-2, 1e-4])
def test_max_abs_bound(path, fraction):
    x = np.load(path)
    target = float(np.abs(x).max()) * fraction or 1e-6
    frame = alcm.compress(x, mode="max_abs", target=target)
    y = alcm.decompress(frame)
    err = np.abs(x.astype(np.float64) - y.astype(np.float64))
    assert err.max() <= target, (err.max(), target)


@pytest.mark.parametrize("path", FILES, ids=IDS)
def test_adaptive_bound(path):
    """Adaptive mode at full precision (8 bits) with the default pruning (threshold 0.01,
    max drop ratio 0.25): every value is within t + step_c/2, where t <= the 25th percentile of
    the non-zero magnitudes (the pruning cap) and step_c <= range(channel ∪ {0}) / 255."""
    x = np.load(path)
    frame, report = alcm.Encoder().compress(x)
    y = alcm.decompress(frame)
    assert y.shape == x.shape and np.isfinite(y).all()
    nz = np.abs(x[x != 0])
    t = np.percentile(nz, 25) if nz.size else 0.0
    xc, yc = _channels(x).astype(np.float64), _channels(y).astype(np.float64)
    hull = np.maximum(xc.max(axis=1), 0) - np.minimum(xc.min(axis=1), 0)
    bound = t + hull / 255 / 2 * (1 + 1e-5) + 1e-7 * np.abs(xc).max()
    assert (np.abs(xc - yc) <= bound[:, None]).all()
    assert report.output_bytes == len(frame)
    assert report.ratio == pytest.approx(x.nbytes / len(frame))
    assert 0 <= report.dropped_ratio <= 0.25


def test_conversions(grad):
    ref = alcm.compress(grad, mode="max_abs", target=1e-4)
    # float64 and strided / Fortran / byte-swapped views give the same frame
    assert alcm.compress(grad.astype(np.float64), mode="max_abs", target=1e-4) == ref
    assert alcm.compress(np.asfortranarray(grad), mode="max_abs", target=1e-4) == ref
    assert alcm.compress(grad.astype(">f4"), mode="max_abs", target=1e-4) == ref
    wide = np.zeros((grad.shape[0], grad.shape[1] * 2), np.float32)
    wide[:, ::2] = grad
    assert alcm.compress(wide[:, ::2], mode="max_abs", target=1e-4) == ref
    h = grad.astype(np.float16)
    assert np.array_equal(alcm.decompress(alcm.compress(h, mode="lossless")), h.astype(np.float32))
    # lists of floats work through np.asarray
    assert alcm.decompress(alcm.compress([[1.5, 2.5]], mode="lossless")).tolist() == [[1.5, 2.5]]


def test_shapes_scalar_empty_and_high_rank():
    for x in [np.array(3.25, np.float32), np.zeros(0, np.float32), np.zeros((3, 0, 2), np.float32),
              np.arange(2 * 3 * 1 * 2 * 1 * 2 * 1 * 2, dtype=np.float32).reshape(2, 3, 1, 2, 1, 2, 1, 2)]:
        y = alcm.decompress(alcm.compress(x, mode="lossless"))
        assert y.shape == x.shape and np.array_equal(x, y)
    assert alcm.peek(alcm.compress(np.zeros((4, 5), np.float32))).n_channels == 4


def test_non_finite_keep_policy():
    x = np.array([[1.0, np.nan, -np.inf], [0.5, np.inf, 2.0]], np.float32)
    frame = alcm.compress(x, mode="max_abs", target=1e-3, non_finite="keep")
    y = alcm.decompress(frame)
    assert np.array_equal(np.isnan(x), np.isnan(y))
    fin = np.isfinite(x)
    assert np.array_equal(x[~fin & ~np.isnan(x)], y[~fin & ~np.isnan(x)])
    assert np.abs(x[fin] - y[fin]).max() <= 1e-3
    assert alcm.peek(frame).n_exceptions >= 3


def test_default_backend_is_rans_and_peek_names_every_backend(grad):
    # The library's default backend is rANS: an encoder left at its default writes the same
    # bytes as one set to "rans" explicitly, and different ones from deflate.
    lossy = alcm.compress(grad, mode="relative_l2", target=1e-2)
    assert lossy == alcm.compress(grad, mode="relative_l2", target=1e-2, backend="rans")
    assert lossy != alcm.compress(grad, mode="relative_l2", target=1e-2, backend="deflate")
    # On this rank-2 gradient the rank-1 model (backend 3) is smaller than plain rANS, so the
    # frame reports it by name (not as the number "3"), and it decodes within the bound.
    assert alcm.peek(lossy).backend == "rans_model"
    back = alcm.decompress(lossy)
    assert np.linalg.norm(back - grad) <= 1e-2 * np.linalg.norm(grad)
    # A vector cannot use the rank-1 model: plain rANS.
    assert alcm.peek(alcm.compress(grad.reshape(-1), mode="relative_l2", target=1e-2)).backend \
        == "rans"
    assert alcm.peek(alcm.compress(grad, mode="lossless", backend="deflate")).backend == "deflate"
    # Backend 3 cannot be selected.
    with pytest.raises(alcm.AlcmError) as e:
        alcm.Encoder().set_backend(alcm._lib.ALCM_BACKEND_RANS_MODEL)
    assert e.value.name == "ALCM_ERR_INVALID_ARGUMENT"


def test_buffers_accepted_by_decompress(grad):
    frame = alcm.compress(grad, mode="relative_l2", target=1e-3)
    for src in [frame, bytearray(frame), memoryview(frame), np.frombuffer(frame, np.uint8)]:
        assert np.array_equal(alcm.decompress(src), alcm.decompress(frame))
    assert alcm.peek(frame[: alcm.ALCM_FRAME_HEADER_MAX]).n_values == grad.size


def test_encoder_settings_and_report(grad, tmp_path, repo):
    with alcm.Encoder("relative_l2", 1e-3, backend="store") as enc:
        frame, rep = enc.compress(grad)
        assert alcm.peek(frame).backend in ("store",)
        assert rep.mode == "relative_l2" and rep.step > 0 and rep.input_bytes == grad.nbytes
        assert rep.caq == pytest.approx(rep.ratio / (rep.cpu_seconds + 1))
        assert rep.bits_per_value == pytest.approx(8 * len(frame) / grad.size)
    enc = alcm.Encoder.from_yaml_file(repo / "configs" / "encoder_config.yaml")
    enc.set_precision(2, 6).set_max_drop_ratio(0.1).set_threshold(0.05).set_backend("deflate", 9)
    _, rep = enc.compress(grad, allocation=0.5)
    assert rep.mode == "adaptive" and rep.dropped_ratio <= 0.1
    per_channel = np.full(grad.shape[0], 0.9)
    f2, _ = enc.compress(grad, allocation=per_channel)
    assert alcm.decompress(f2).shape == grad.shape
    enc.close()
    enc2 = alcm.Encoder.from_yaml_string("quantization:\n  base_precision: 10\nbackend: store\n")
    assert alcm.peek(enc2.compress(grad)[0]).backend == "store"
    del enc2  # the finalizer frees it


def test_stats_and_metrics_match_numpy(grad):
    s = alcm.stats(grad)
    x = grad.astype(np.float64)
    assert s.count == grad.size
    assert s.mean == pytest.approx(x.mean(), rel=1e-9, abs=1e-15)
    assert s.var == pytest.approx(x.var(), rel=1e-9)
    assert s.sparsity == pytest.approx(np.mean(np.abs(x) < 1e-6))
    cs = alcm.channel_stats(grad)
    assert cs.shape == (grad.shape[0],) and (cs["count"] == grad.shape[1]).all()
    np.testing.assert_allclose(cs["mean"], x.mean(axis=1), rtol=1e-9, atol=1e-15)
    np.testing.assert_allclose(cs["var"], x.var(axis=1), rtol=1e-9, atol=1e-18)
    assert alcm.stats_features(cs).shape == (grad.shape[0], 6)
    assert alcm.channel_count(grad.shape) == 256 and alcm.channel_count((7,)) == 1
    assert alcm.channel_count(()) == 1 and alcm.channel_count((0, 3)) == 0
    y = grad + np.float32(1e-4)
    m = alcm.metrics(grad, y)
    assert m.max_abs == pytest.approx(1e-4, rel=1e-3)
    assert m.mse == pytest.approx(np.mean((x - y.astype(np.float64)) ** 2), rel=1e-6)
    assert alcm.caq(4.0, 1.0) == 2.0
    assert alcm.variance_percent([1.0, 1.1, 0.9]) == pytest.approx(20.0)
    assert alcm.compress_bound(0) == 136 and alcm.compress_bound(10) == 176
