"""Handles used from several Python threads give the same results as serial use."""
from concurrent.futures import ThreadPoolExecutor

import numpy as np

import alcm
from conftest import data_files

TENSORS = [np.load(p) for p in data_files()]


def test_shared_encoder_and_predictor_across_threads():
    enc = alcm.Encoder("relative_l2", 1e-3)
    pred = alcm.Predictor(hidden_size=8, seed=3)
    serial = [(enc.compress(x)[0], pred.predict_channels(x).tolist()) for x in TENSORS]

    def work(i):
        x = TENSORS[i % len(TENSORS)]
        frame = enc.compress(x)[0]
        return i % len(TENSORS), frame, pred.predict_channels(x).tolist(), alcm.decompress(frame)

    with ThreadPoolExecutor(max_workers=8) as ex:
        for i, frame, alloc, y in ex.map(work, range(4 * len(TENSORS))):
            assert frame == serial[i][0] and alloc == serial[i][1]
            assert y.shape == TENSORS[i].shape
    enc.close()
    pred.close()


def test_per_thread_schedulers_and_feedback():
    caqs = [1.0, 2.0, 3.0, 2.5, 1.0, 1.0, 5.0]

    def run(_):
        with alcm.Scheduler(decay=0.5, window=3) as s, alcm.Encoder("max_abs", 1e-4) as e, \
                alcm.ErrorFeedback(TENSORS[0].shape) as fb:
            frames = [fb.compress(TENSORS[0], e)[0] for _ in range(3)]
            return [s.update(c) for c in caqs], frames

    with ThreadPoolExecutor(max_workers=6) as ex:
        results = list(ex.map(run, range(12)))
    assert all(r == results[0] for r in results)


def test_error_messages_are_thread_local():
    def fail(i):
        try:
            if i % 2:
                alcm.Scheduler(window=1)
            else:
                alcm.caq(-1.0, 0.0)
        except alcm.AlcmError as e:
            return i % 2, e.message
        return None

    with ThreadPoolExecutor(max_workers=8) as ex:
        for odd, msg in ex.map(fail, range(200)):
            assert ("window" in msg) if odd else ("compression_ratio" in msg)


def test_setters_and_compress_concurrently_do_not_race():
    enc = alcm.Encoder("max_abs", 1e-3)
    x = TENSORS[0]

    def work(i):
        if i % 4 == 0:
            enc.set_mode("max_abs", 1e-3)   # same setting: results stay identical
            return None
        return enc.compress(x)[0]

    ref = enc.compress(x)[0]
    with ThreadPoolExecutor(max_workers=8) as ex:
        assert all(f in (None, ref) for f in ex.map(work, range(200)))
    enc.close()


def _synthetic(rows=1024, cols=512, seed=5):
    # 2^19 values: large enough for the block-split payload that threads work on.
    rng = np.random.default_rng(seed)
    scale = np.outer(np.exp(rng.normal(0, 1.5, rows)), np.exp(rng.normal(0, 1, cols)))
    return (rng.standard_normal((rows, cols)) * scale * 1e-3).astype(np.float32)


def test_thread_count_does_not_change_bytes_or_values():
    x = _synthetic()
    for mode, target in [("relative_l2", 1e-2), ("max_abs", 1e-5), ("adaptive", None)]:
        ref = alcm.compress(x, mode, target)
        y_ref = alcm.decompress(ref)
        for t in [2, 3, alcm.ALCM_MAX_THREADS]:
            with alcm.Encoder(mode, target, threads=t) as enc:
                assert enc.compress(x)[0] == ref
            assert alcm.compress(x, mode, target, threads=t) == ref
            y = alcm.decompress(ref, threads=t)
            assert y.dtype == np.float32 and y.shape == x.shape
            assert y.tobytes() == y_ref.tobytes()
        if mode == "relative_l2":
            err = np.linalg.norm(x.astype(np.float64) - y_ref) / np.linalg.norm(x.astype(np.float64))
            assert err <= target
    # set_threads chains and a failed set keeps the encoder usable and unchanged.
    enc = alcm.Encoder("relative_l2", 1e-2).set_threads(2)
    frame = enc.compress(x)[0]
    try:
        enc.set_threads(0)
    except alcm.AlcmError as e:
        assert e.name == "ALCM_ERR_INVALID_CONFIG" and "threads" in e.message
    else:
        raise AssertionError("threads = 0 accepted")
    assert enc.compress(x)[0] == frame
    enc.close()
