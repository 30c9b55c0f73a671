"""Every error path: Python-side refusals and each reachable C status."""
import ctypes
import os
import subprocess
import sys

import numpy as np
import pytest

import alcm
from alcm import _lib


def _raises(name, fn, *args, **kw):
    with pytest.raises(alcm.AlcmError) as ei:
        fn(*args, **kw)
    e = ei.value
    assert e.name == name, (e.name, e.message)
    assert e.status == {v: k for k, v in _lib.STATUS_NAMES.items()}[name]
    assert e.message and e.message in str(e)
    return e


def test_refused_dtypes():
    for bad in [np.zeros(4, np.complex64), np.array([1.0, "x"], dtype=object), np.array(["a"]),
                np.zeros(3, np.int32), np.zeros(3, bool), np.zeros(2, dtype=[("a", "f4")])]:
        with pytest.raises(TypeError):
            alcm.compress(bad)
    with pytest.raises(ValueError, match="overflows float32"):
        alcm.compress(np.array([1e300]))
    with pytest.raises(TypeError):
        alcm.decompress("not bytes")
    with pytest.raises(ValueError):
        alcm.compress(np.zeros([1] * 9, np.float32))


def test_python_argument_checks(grad):
    with pytest.raises(ValueError):
        alcm.compress(grad, mode="relative_l2")          # no target
    with pytest.raises(ValueError):
        alcm.compress(grad, mode="bogus")
    with pytest.raises(ValueError):
        alcm.compress(grad, target=0.1)                  # target without mode
    with pytest.raises(ValueError):
        alcm.compress(grad, mode="lossless", encoder=alcm.Encoder())
    with pytest.raises(ValueError):
        alcm.metrics(grad, grad[:1])
    with pytest.raises(ValueError):
        alcm.Predictor().train(np.zeros((3, 5)), np.zeros(3))
    with pytest.raises(ValueError):
        alcm.Predictor().forward([1.0, 2.0])


def test_non_finite_refused(grad):
    x = grad.copy()
    x[3, 7] = np.nan
    e = _raises("ALCM_ERR_NON_FINITE", alcm.compress, x, mode="max_abs", target=1e-3)
    assert isinstance(e, ValueError) and isinstance(e, alcm.ArgumentError)


def test_invalid_argument_and_config(grad):
    e = _raises("ALCM_ERR_INVALID_ARGUMENT", alcm.compress, grad, allocation=[0.5, 0.5, 0.5])
    assert "allocation" in e.message
    _raises("ALCM_ERR_INVALID_CONFIG", alcm.Encoder().set_threshold, 1.5)
    _raises("ALCM_ERR_INVALID_CONFIG", alcm.compress, grad, mode="relative_l2", target=2.0)
    _raises("ALCM_ERR_INVALID_CONFIG", alcm.Encoder().set_precision, 9, 4)
    _raises("ALCM_ERR_INVALID_CONFIG", alcm.Encoder().set_max_drop_ratio, 1.0)
    _raises("ALCM_ERR_INVALID_ARGUMENT", alcm.Encoder().set_backend, 7)
    _raises("ALCM_ERR_INVALID_ARGUMENT", alcm.Encoder().set_non_finite, 9)
    _raises("ALCM_ERR_INVALID_CONFIG", alcm.Encoder().set_threads, 0)
    _raises("ALCM_ERR_INVALID_CONFIG", alcm.Encoder().set_threads, alcm.ALCM_MAX_THREADS + 1)
    _raises("ALCM_ERR_INVALID_CONFIG", alcm.Encoder, threads=0)
    _raises("ALCM_ERR_INVALID_CONFIG", alcm.compress, grad, threads=65)
    frame = alcm.compress(grad, mode="relative_l2", target=1e-2)
    e = _raises("ALCM_ERR_INVALID_ARGUMENT", alcm.decompress, frame, threads=0)
    assert "threads" in e.message
    _raises("ALCM_ERR_INVALID_ARGUMENT", alcm.decompress, frame, threads=alcm.ALCM_MAX_THREADS + 1)
    with pytest.raises(ValueError):
        alcm.Encoder().set_threads(-1)                   # does not fit uint32 (Python check)
    with pytest.raises(ValueError):
        alcm.compress(grad, encoder=alcm.Encoder(), threads=2)
    _raises("ALCM_ERR_INVALID_CONFIG", alcm.Encoder.from_yaml_string, "quantization:\n  base_precision: 99\n")
    _raises("ALCM_ERR_INVALID_CONFIG", alcm.Scheduler, decay=1.5)
    _raises("ALCM_ERR_INVALID_ARGUMENT", alcm.Predictor, hidden_size=0)
    _raises("ALCM_ERR_INVALID_ARGUMENT", alcm.Scheduler().update, -1.0)
    _raises("ALCM_ERR_INVALID_ARGUMENT", alcm.caq, 0.0, 1.0)
    _raises("ALCM_ERR_INVALID_ARGUMENT", alcm.variance_percent, [])
    _raises("ALCM_ERR_INVALID_ARGUMENT", alcm.empirical_allocation, grad, 0.0)
    ones = np.full(grad.shape[0], 0.5)
    e = _raises("ALCM_ERR_INVALID_ARGUMENT", alcm.guard_channel_allocations, grad, ones[:-1], 0.02)
    assert "channels" in e.message
    _raises("ALCM_ERR_INVALID_ARGUMENT", alcm.guard_channel_allocations, grad, ones, 0.0)
    _raises("ALCM_ERR_INVALID_ARGUMENT", alcm.guard_channel_allocations, grad, ones * np.nan, 0.02)
    bad = grad.copy()
    bad[0, 0] = np.inf
    _raises("ALCM_ERR_NON_FINITE", alcm.guard_channel_allocations, bad, ones, 0.02)


def test_bad_frames(grad):
    frame = alcm.compress(grad, mode="relative_l2", target=1e-3)
    _raises("ALCM_ERR_BAD_MAGIC", alcm.decompress, b"XXXX" + frame[4:])
    _raises("ALCM_ERR_TRUNCATED", alcm.decompress, frame[:-7])
    _raises("ALCM_ERR_TRUNCATED", alcm.peek, frame[:10])
    flipped = bytearray(frame)
    flipped[len(frame) // 2] ^= 0x40
    e = _raises("ALCM_ERR_CHECKSUM", alcm.decompress, bytes(flipped))
    assert isinstance(e, alcm.DataError) and isinstance(e, ValueError)
    _raises("ALCM_ERR_CHECKSUM", alcm.decompress, bytes(flipped), threads=2)
    _raises("ALCM_ERR_TRUNCATED", alcm.decompress, frame[:-7], threads=2)
    newer = bytearray(frame)
    newer[4] = 99
    _raises("ALCM_ERR_FORMAT_VERSION", alcm.peek, bytes(newer))
    with pytest.raises(alcm.DataError):
        alcm.decompress(frame + b"\0")                     # trailing garbage


def test_corrupt_header_fields(grad):
    frame = bytearray(alcm.compress(grad, mode="lossless"))
    frame[5] = 250  # mode byte
    with pytest.raises(alcm.DataError) as ei:
        alcm.peek(bytes(frame))
    assert ei.value.name in ("ALCM_ERR_CORRUPT", "ALCM_ERR_CHECKSUM")


def test_files(tmp_path, grad):
    missing = tmp_path / "nope.npz"
    e = _raises("ALCM_ERR_IO", alcm.Predictor.load, missing)
    assert isinstance(e, alcm.EnvironmentError_)
    _raises("ALCM_ERR_IO", alcm.Encoder.from_yaml_file, missing)
    _raises("ALCM_ERR_IO", alcm.ErrorFeedback.load, missing)
    junk = tmp_path / "junk.npz"
    junk.write_bytes(b"PK\x03\x04 definitely not a model")
    _raises("ALCM_ERR_INVALID_MODEL", alcm.Predictor.load, junk)
    _raises("ALCM_ERR_INVALID_MODEL", alcm.ErrorFeedback.load, junk)
    _raises("ALCM_ERR_IO", alcm.Predictor().save, tmp_path / "no" / "such" / "dir" / "m.npz")


def test_invalid_utf8_path(tmp_path):
    bad = os.fsdecode(bytes(tmp_path) if isinstance(tmp_path, bytes) else os.fsencode(tmp_path) + b"/\xff.npz")
    _raises("ALCM_ERR_INVALID_UTF8", alcm.Predictor.load, bad)


def test_raw_c_statuses():
    """Statuses the Python API never produces itself, provoked through the raw prototypes."""
    lib = alcm.load_library()
    out = ctypes.c_double()
    assert lib.alcm_caq(1.0, 0.0, None) == 1                          # NULL_POINTER
    assert "out" in _lib.last_error_message(lib)
    assert lib.alcm_caq(2.0, 0.0, ctypes.byref(out)) == 0 and out.value == 2.0
    assert _lib.last_error_message(lib) == ""                          # cleared on success
    s = alcm.Scheduler()
    enc = alcm.Encoder()
    assert lib.alcm_scheduler_update(enc._handle(), 1.0, ctypes.byref(out)) == 6  # INVALID_HANDLE
    assert lib.alcm_encoder_from_yaml_string(b"\xff\xfe", ctypes.byref(ctypes.c_void_p())) == 7
    x = np.zeros((4, 3), np.float32)
    shape = np.array([4, 3], np.uintp)
    dst = np.empty(8, np.uint8)
    n = ctypes.c_size_t()
    assert lib.alcm_encoder_compress(enc._handle(), x, 2, shape, None, 0, dst, 8, ctypes.byref(n), None) == 5
    huge = np.array([2**62, 2**62], np.uintp)
    assert lib.alcm_tensor_stats(x, 2, huge, ctypes.byref(_lib.Stats())) == 105      # TOO_LARGE
    # the channel_stats size query: BUFFER_TOO_SMALL with the count written
    assert lib.alcm_channel_stats(x, 2, shape, None, 0, ctypes.byref(n)) == 5 and n.value == 4
    win = np.empty(1, np.float64)
    for c in (1.0, 2.0):
        s.update(c)
    assert lib.alcm_scheduler_window(s._handle(), win, 1, ctypes.byref(n)) == 5
    enc.close()
    s.close()


def test_closed_handles(grad):
    enc = alcm.Encoder()
    enc.close()
    enc.close()  # idempotent
    with pytest.raises(ValueError, match="closed"):
        enc.compress(grad)
    with alcm.Predictor() as p:
        pass
    with pytest.raises(ValueError, match="closed"):
        p.predict(grad)
    with pytest.raises(ValueError, match="closed"):
        with p:
            pass
    assert "closed" in repr(p)


def test_error_message_survives_a_finalizer():
    """Regression: libalcm's *_free functions clear the thread's last error message, and a
    finalizer can run between a failing call and the message read. The binding defers
    finalizer frees, so the message survives."""
    lib = alcm.load_library()
    enc = alcm.Encoder()
    d = ctypes.c_double()
    assert lib.alcm_caq(-1.0, 0.0, ctypes.byref(d)) == 2
    del enc                              # refcount 0: the finalizer runs right here
    assert "compression_ratio" in _lib.last_error_message(lib)
    # and the handle is really freed by the next call
    assert alcm._pending_frees
    alcm.caq(1.0, 0.0)
    assert not alcm._pending_frees


def test_error_messages_are_per_call():
    with pytest.raises(alcm.AlcmError) as a:
        alcm.caq(-1.0, 0.0)
    with pytest.raises(alcm.AlcmError) as b:
        alcm.Scheduler(window=1)
    assert a.value.message != b.value.message and "window" in b.value.message


_LOADER = """
import alcm, numpy as np
print(alcm.version(), alcm._lib.load()._name)
"""


def test_loader_search_order(tmp_path, repo):
    lib_path = os.environ.get("ALCM_LIBRARY") or str(repo / "target" / "release" / "libalcm.so")
    pkg_src = os.path.dirname(alcm.__file__)
    env = {k: v for k, v in os.environ.items() if k not in ("ALCM_LIBRARY", "LD_LIBRARY_PATH")}
    # 1. a wrong ALCM_LIBRARY is an error that says where it looked
    r = subprocess.run([sys.executable, "-c", _LOADER],
                       env={**env, "ALCM_LIBRARY": str(tmp_path / "x.so"), "PYTHONPATH": os.path.dirname(pkg_src)},
                       capture_output=True, text=True, cwd=tmp_path)
    assert r.returncode != 0
    assert "LibraryNotFoundError" in r.stderr and "ALCM_LIBRARY" in r.stderr and "x.so" in r.stderr
    # 2. next to the package (how a wheel ships it)
    import shutil
    pkg = tmp_path / "site" / "alcm"
    shutil.copytree(pkg_src, pkg, ignore=shutil.ignore_patterns("__pycache__", "libalcm.so"))
    shutil.copy(lib_path, pkg / "libalcm.so")
    r = subprocess.run([sys.executable, "-c", _LOADER], env={**env, "PYTHONPATH": str(pkg.parent)},
                       capture_output=True, text=True, cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert str(pkg / "libalcm.so") in r.stdout
    # 3. the system loader (LD_LIBRARY_PATH) when neither is there
    (pkg / "libalcm.so").unlink()
    r = subprocess.run([sys.executable, "-c", _LOADER],
                       env={**env, "PYTHONPATH": str(pkg.parent), "LD_LIBRARY_PATH": os.path.dirname(lib_path)},
                       capture_output=True, text=True, cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert r.stdout.split()[0] == "0.1.0"
    # 4. nowhere: the error lists every place
    r = subprocess.run([sys.executable, "-c", _LOADER], env={**env, "PYTHONPATH": str(pkg.parent)},
                       capture_output=True, text=True, cwd=tmp_path)
    if r.returncode != 0:  # (a system-wide libalcm would make this succeed)
        for where in ("ALCM_LIBRARY", "next to the package", "find_library", "system loader"):
            assert where in r.stderr
