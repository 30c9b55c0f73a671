"""alcm.archive: tensors of every float type (bfloat16 as ml_dtypes.bfloat16), integers and
bools written and read back by name and by row range; bounds checked here in float64 numpy on
the decoded values, lossless bit-exact; bad files and arguments raise."""
import ml_dtypes
import os

import numpy as np
import pytest

import alcm
from conftest import data_files


def _real(k, dtype):
    """The k-th largest shipped tensor as `dtype`."""
    f = sorted(data_files(), key=lambda p: -p.stat().st_size)[k]
    return np.load(f).astype(np.float32).astype(dtype)


def _tensors():
    rng = np.random.default_rng(5)
    return {
        "w.f32": _real(3, np.float32),
        "w.bf16": _real(1, ml_dtypes.bfloat16),
        "g.f16": _real(2, np.float16),
        "g.f64": _real(5, np.float64) * (1 + 1e-9 * rng.standard_normal(_real(5, np.float64).shape)),
        "step": np.array(2000, np.int64),
        "mask": rng.integers(0, 2, (7, 3)).astype(bool),
        "ids": np.arange(-5, 5, dtype=np.int32).reshape(2, 5),
    }


def _check(x, y, mode, bound):
    assert y.dtype == x.dtype and y.shape == x.shape
    if mode == "lossless" or not np.issubdtype(x.dtype, np.floating) and x.dtype != ml_dtypes.bfloat16:
        assert x.tobytes() == y.tobytes()
        return
    a, b = x.astype(np.float64), y.astype(np.float64)
    if mode == "rel_l2":
        assert np.linalg.norm(a - b) <= bound * np.linalg.norm(a)
    else:
        assert np.max(np.abs(a - b)) <= bound


@pytest.mark.parametrize("mode,bound", [("lossless", 0.0), ("rel_l2", 1e-3), ("max_abs", 1e-4)])
def test_every_type_round_trips_in_every_mode(tmp_path, mode, bound):
    ts = _tensors()
    path = tmp_path / "m.alcm"
    with alcm.ArchiveWriter(path, block_values=1000) as w:
        for name, x in ts.items():
            kw = {} if mode == "lossless" else {mode: bound}
            w.add(name, x, **kw)
    raw = sum(x.nbytes for x in ts.values())
    assert path.stat().st_size < raw
    with alcm.ArchiveReader(path) as r:
        assert r.names() == list(ts) and len(r) == len(ts) and "w.bf16" in r
        for name, x in ts.items():
            e = r.info(name)
            assert e.dtype == x.dtype and e.shape == x.shape
            floating = x.dtype.kind == "f" or x.dtype == ml_dtypes.bfloat16
            assert e.mode == (mode if floating else "lossless")
            assert e.achieved <= e.bound or e.mode == "lossless"
            y = r.read(name)
            _check(x, y, mode, bound)
            if x.ndim >= 1 and x.shape[0] >= 3:
                assert r.read_rows(name, 1, x.shape[0] - 1).tobytes() == y[1:-1].tobytes()
    assert r.closed


def test_bfloat16_is_coded_not_stored(tmp_path):
    x = _real(0, ml_dtypes.bfloat16)
    assert x.size > 10000
    sizes = {}
    for mode in ["lossless", "rel_l2"]:
        p = tmp_path / f"{mode}.alcm"
        with alcm.ArchiveWriter(p) as w:
            w.add("x", x, **({} if mode == "lossless" else {"rel_l2": 1e-2}))
        sizes[mode] = p.stat().st_size
    assert sizes["rel_l2"] < sizes["lossless"] < x.nbytes


def test_errors(tmp_path):
    p = tmp_path / "e.alcm"
    w = alcm.ArchiveWriter(p)
    w.add("a", np.ones(10, np.float32))
    with pytest.raises(alcm.AlcmError):
        w.add("a", np.ones(10, np.float32))          # duplicate name
    with pytest.raises(ValueError):
        w.add("b", np.ones(10, np.float32), rel_l2=1e-3, max_abs=1e-3)
    with pytest.raises(TypeError):
        w.add("c", np.ones(3, np.complex64))
    w.finish()
    assert w.closed
    r = alcm.ArchiveReader(p)
    with pytest.raises(alcm.AlcmError):
        r.read("missing")
    with pytest.raises(alcm.AlcmError):
        r.read_rows("a", 5, 11)
    r.close()
    data = bytearray(p.read_bytes())
    data[-20] ^= 1
    bad = tmp_path / "bad.alcm"
    bad.write_bytes(bytes(data))
    with pytest.raises(alcm.AlcmError) as e:
        alcm.ArchiveReader(bad)
    assert e.value.name == "ALCM_ERR_CHECKSUM"
    with pytest.raises(alcm.AlcmError):
        alcm.ArchiveReader(tmp_path / "none.alcm")
    # An unfinished archive leaves nothing: the writer works on a temporary file that is
    # renamed over the path only by finish, and removed when the writer is closed without it.
    before = sorted(os.listdir(tmp_path))
    w = alcm.ArchiveWriter(tmp_path / "u.alcm")
    w.add("a", np.ones(10, np.float32))
    w.close()
    assert sorted(os.listdir(tmp_path)) == before
    with pytest.raises(alcm.AlcmError):
        alcm.ArchiveReader(tmp_path / "u.alcm")
