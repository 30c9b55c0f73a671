#!/usr/bin/env python3
"""alcm against its peers, side by side in one process (issue 4).

    cargo build --release            # builds target/release/libalcm.so
    pip install numpy pysz zfpy zstandard matplotlib
    python3 bench/compare.py [DIR] [--lib target/release/libalcm.so] [--out bench/results]
                             [--targets 1e-1,1e-2,1e-3] [--reps 3] [--synthetic]

DIR (default ../shared/data) is searched recursively for .npy files; the tensor kinds come from
DIR/MANIFEST.tsv when present (else from the file name). --synthetic adds the speed example's
two 1024 x 1024 tensors (examples/speed.rs: a rank-1-scaled "gradient" and an i.i.d. Gaussian
"weight"), written bit-identical by `cargo run --release -p alcm-tools --bin synthetic_npy` into
--synthetic-dir (default build/synthetic); they form their own group "synthetic", appear in the
issue-12 table, and stay out of the "all groups" and issue-12 medians (those remain over DIR).
Codecs:
  alcm        relative-L2 mode (the encoder itself finds the largest step meeting the target)
  sz3-nopred  SZ3 (pysz), no predictor, absolute bound tuned by bisection
  sz3         SZ3 (pysz) default predictor (interpolation + Lorenzo), tuned the same way
  zfp         ZFP (zfpy) fixed accuracy, tolerance tuned the same way
  zstd, deflate6: lossless baselines of the raw float32 bytes
Every error-bounded codec gets the largest setting whose reconstruction meets the relative L2
target (bisection on the log of the setting, 0.1 % resolution); alcm meets it by construction.
Timings are single-threaded, best of --reps repetitions, MB/s of float32 input.
Outputs: the table on stdout, DIR-independent CSV and PNG in --out.
"""
import argparse
import ctypes
import math
import os
import statistics
import subprocess
import sys
import time
import zlib
from pathlib import Path

import numpy as np

try:
    import pysz
except ImportError:  # reported in the table
    pysz = None
try:
    import zfpy
except ImportError:
    zfpy = None
try:
    import zstandard
except ImportError:
    zstandard = None

ROOT = Path(__file__).resolve().parent.parent
MODE_RELATIVE_L2 = 1
GROUPS = ["gradients", "optimizer state", "weights+embeddings"]  # of the data
SYNTHETIC = "synthetic"
# File name -> kind of the tensors tools/src/bin/synthetic_npy.rs writes.
SYNTHETIC_FILES = {
    "synthetic_rank1_gradient_1024x1024.npy": "synthetic_gradient",
    "synthetic_gaussian_weight_1024x1024.npy": "synthetic_weight",
}


def group_of(kind):
    if kind.startswith("synthetic"):
        return SYNTHETIC
    if kind in ("gradient", "bias_gradient"):
        return "gradients"
    if kind == "optimizer_state":
        return "optimizer state"
    return "weights+embeddings"


def rel_l2(x, y):
    x = x.astype(np.float64).ravel()
    d = x - y.astype(np.float64).ravel()
    den = float(np.dot(x, x))
    return math.sqrt(float(np.dot(d, d)) / den) if den > 0 else 0.0


CLOCK = time.perf_counter


def best_time(f, reps):
    best = float("inf")
    out = None
    for _ in range(reps):
        t = CLOCK()
        out = f()
        best = min(best, CLOCK() - t)
    return best, out


class Alcm:
    def __init__(self, lib):
        self.lib = ctypes.CDLL(str(lib))
        L = self.lib
        L.alcm_compress_bound.restype = ctypes.c_size_t
        L.alcm_compress_bound.argtypes = [ctypes.c_size_t]
        L.alcm_encoder_new.argtypes = [ctypes.POINTER(ctypes.c_void_p)]
        L.alcm_encoder_set_mode.argtypes = [ctypes.c_void_p, ctypes.c_uint32, ctypes.c_double]
        L.alcm_encoder_free.argtypes = [ctypes.c_void_p]
        L.alcm_encoder_compress.argtypes = [
            ctypes.c_void_p, ctypes.c_void_p, ctypes.c_size_t, ctypes.POINTER(ctypes.c_size_t),
            ctypes.c_void_p, ctypes.c_size_t, ctypes.c_void_p, ctypes.c_size_t,
            ctypes.POINTER(ctypes.c_size_t), ctypes.c_void_p]
        L.alcm_decompress.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_void_p, ctypes.c_size_t,
                                      ctypes.POINTER(ctypes.c_size_t)]
        self.enc = ctypes.c_void_p()
        if L.alcm_encoder_new(ctypes.byref(self.enc)) != 0:
            raise RuntimeError("alcm_encoder_new failed")

    def compress(self, x, target):
        L = self.lib
        if L.alcm_encoder_set_mode(self.enc, MODE_RELATIVE_L2, target) != 0:
            raise RuntimeError("alcm_encoder_set_mode failed")
        x = np.ascontiguousarray(x, dtype=np.float32)
        shape = (ctypes.c_size_t * max(1, x.ndim))(*x.shape)
        cap = L.alcm_compress_bound(x.size)
        dst = np.empty(cap, dtype=np.uint8)
        n = ctypes.c_size_t()
        st = L.alcm_encoder_compress(self.enc, x.ctypes.data, x.ndim, shape, None, 0,
                                     dst.ctypes.data, cap, ctypes.byref(n), None)
        if st != 0:
            raise RuntimeError(f"alcm_encoder_compress: status {st}")
        return dst[: n.value].tobytes()

    def decompress(self, frame, size, shape):
        out = np.empty(size, dtype=np.float32)
        n = ctypes.c_size_t()
        buf = ctypes.create_string_buffer(frame, len(frame))
        st = self.lib.alcm_decompress(buf, len(frame), out.ctypes.data, size, ctypes.byref(n))
        if st != 0:
            raise RuntimeError(f"alcm_decompress: status {st}")
        return out.reshape(shape)


def sz3_codec(algo):
    def make(x, eb):
        conf = pysz.szConfig(x.shape if x.ndim > 0 else (1,))
        conf.errorBoundMode = pysz.szErrorBoundMode.ABS
        conf.absErrorBound = float(eb)
        conf.cmprAlgo = algo
        return conf

    def comp(x, eb):
        c, _ = pysz.sz.compress(np.ascontiguousarray(x), make(x, eb))
        return c

    def dec(c, x):
        y, _ = pysz.sz.decompress(c, np.float32, x.shape)
        return y

    return comp, dec


def zfp_codec():
    def comp(x, tol):
        return zfpy.compress_numpy(np.ascontiguousarray(x), tolerance=float(tol))

    def dec(c, x):
        return zfpy.decompress_numpy(c)

    return comp, dec


def tune(comp, dec, x, target):
    """Largest setting (absolute bound / tolerance) whose relative L2 error meets target."""
    rms = float(np.sqrt(np.mean(x.astype(np.float64) ** 2)))
    if rms == 0.0:
        rms = 1e-30
    s0 = target * rms  # a natural first guess
    cache = {}

    def ok(s):
        if s not in cache:
            c = comp(x, s)
            y = dec(c, x)
            cache[s] = (rel_l2(x, y) <= target, c, y)
        return cache[s][0]

    lo, hi = s0, s0
    # bracket
    for _ in range(40):
        if ok(lo):
            break
        hi, lo = lo, lo / 4
    else:
        return None
    if hi == lo:
        for _ in range(40):
            hi = lo * 4
            if not ok(hi):
                break
            lo = hi
        else:
            return lo, cache[lo]
    while hi / lo > 1.001:
        mid = math.sqrt(lo * hi)
        if ok(mid):
            lo = mid
        else:
            hi = mid
    return lo, cache[lo]


def speed_targets(big, targets):
    """Issue 12 targets 1 and 6: alcm / SZ3-nopred MB/s per tensor of >= 1 M values (synthetic
    ones included) and the median over the selected tensors of DIR, one thread, at 1e-2 (or
    the first target); each alcm figure also as a fraction of the same tensor's memcpy."""
    t = 1e-2 if 1e-2 in targets else targets[0]
    ref = {r["file"]: r for r in select(big, "sz3-nopred", t, ALL)}
    cpy = {r["file"]: r for r in big if r["codec"] == "memcpy"}
    mine = [r for r in select(big, "alcm", t, ALL) if r["file"] in ref and r["file"] in cpy]
    if not mine:
        return
    print(f"\n## Issue 12 speed targets at {t:g}, one thread: alcm / SZ3-nopred MB/s "
          "(target >= 3 on >= 1 M values, median >= 1.5) and alcm / memcpy")
    print("| tensor | values | comp ratio | dec ratio | alcm comp / memcpy | alcm dec / memcpy | memcpy MB/s |")
    print("|---|---|---|---|---|---|---|")
    cr, dr = [], []
    for r in sorted(mine, key=lambda r: -r["values"]):
        c = r["comp_mbs"] / ref[r["file"]]["comp_mbs"]
        dd = r["dec_mbs"] / ref[r["file"]]["dec_mbs"]
        if r["group"] != SYNTHETIC:
            cr.append(c)
            dr.append(dd)
        if r["values"] >= 1_000_000:
            m = cpy[r["file"]]["comp_mbs"]
            print(f"| {r['file']} | {r['values']} | {c:.2f} | {dd:.2f} | {r['comp_mbs'] / m:.3f} | "
                  f"{r['dec_mbs'] / m:.3f} | {m:.0f} |")
    if cr:
        print(f"| median of {len(cr)} tensors | | {statistics.median(cr):.2f} | {statistics.median(dr):.2f} | | | |")


def kinds_of(d):
    m = {}
    p = d / "MANIFEST.tsv"
    if p.exists():
        for line in p.read_text().splitlines()[1:]:
            f = line.split("\t")
            if len(f) >= 2:
                m[Path(f[0]).name] = f[1]
    return m


def parse_args(argv=None):
    ap = argparse.ArgumentParser()
    ap.add_argument("dir", nargs="?", default=str(ROOT.parent / "shared" / "data"))
    ap.add_argument("--lib", default=str(ROOT / "target" / "release" / "libalcm.so"))
    ap.add_argument("--out", default=str(ROOT / "bench" / "results"))
    ap.add_argument("--targets", default="1e-1,1e-2,1e-3")
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--min-values", type=int, default=4096, help="tensors in the medians")
    ap.add_argument("--all", action="store_true", help="also files not listed in MANIFEST.tsv")
    ap.add_argument("--cpu-time", action="store_true",
                    help="time by process CPU time instead of wall clock (steadier on a shared "
                         "machine; every codec here runs on one thread)")
    ap.add_argument("--synthetic", action="store_true",
                    help="also the speed example's two synthetic 1024 x 1024 tensors (group "
                         "'synthetic', not in the medians over DIR); builds and runs the "
                         "synthetic_npy tool with cargo")
    ap.add_argument("--synthetic-dir", default=str(ROOT / "build" / "synthetic"),
                    help="where --synthetic writes them")
    return ap.parse_args(argv)


def data_inputs(d, kinds, every):
    """[(path, kind)] of the tensors of DIR: those MANIFEST.tsv lists (all with `every` or no
    manifest), never the synthetic ones, which could sit below DIR (e.g. --synthetic-dir inside
    it) and would then be counted twice and in the data's medians."""
    files = sorted(p for p in d.rglob("*.npy"))
    if kinds and not every:
        # The tensor set: the ones the manifest describes (not e.g. the digits inputs).
        files = [p for p in files if p.name in kinds]
    return [(p, kinds.get(p.name, "gradient" if p.name.startswith("grad") else "weight"))
            for p in files if p.name not in SYNTHETIC_FILES]


ALL = object()  # select()'s group: every row, synthetic ones included


def select(rows, codec, t, g=None):
    """Rows of one codec and target: of group g, of every tensor of DIR (g None: the medians
    over the data), or of every tensor (g ALL)."""
    return [r for r in rows if r["codec"] == codec and r["target"] == t and
            (g is ALL or (r["group"] == g if g is not None else r["group"] != SYNTHETIC))]


def write_synthetic(out_dir):
    """The speed example's synthetic tensors as .npy files in out_dir (written by the Rust tool,
    so they are bit-identical to what examples/speed.rs compresses): [(path, kind)]."""
    out_dir = Path(out_dir).resolve()  # cargo runs in ROOT, not in the caller's directory
    cmd = ["cargo", "run", "--release", "--quiet", "-p", "alcm-tools", "--bin", "synthetic_npy",
           "--", str(out_dir)]
    subprocess.run(cmd, cwd=ROOT, check=True, stdout=subprocess.DEVNULL)
    return [(out_dir / name, kind) for name, kind in SYNTHETIC_FILES.items()]


def main(argv=None):
    a = parse_args(argv)
    if a.cpu_time:
        global CLOCK
        CLOCK = time.process_time
    d = Path(a.dir)
    if not d.is_dir():
        d = ROOT / "tests" / "data"
    targets = [float(t) for t in a.targets.split(",")]
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    kinds = kinds_of(d)
    alcm = Alcm(a.lib)
    missing = [n for n, m in (("pysz", pysz), ("zfpy", zfpy), ("zstandard", zstandard)) if m is None]
    if missing:
        print(f"note: not installed, skipped: {', '.join(missing)}")

    codecs = {"alcm": None}
    if pysz is not None:
        codecs["sz3-nopred"] = sz3_codec(pysz.szAlgorithm.NOPRED)
        codecs["sz3"] = sz3_codec(pysz.szAlgorithm.INTERP_LORENZO)
    if zfpy is not None:
        codecs["zfp"] = zfp_codec()

    rows = []  # dicts
    inputs = data_inputs(d, kinds, a.all)
    n_data = len(inputs)
    if a.synthetic:
        inputs += write_synthetic(a.synthetic_dir)
    for path, kind in inputs:
        try:
            x = np.load(path)
        except Exception as e:  # noqa: BLE001
            print(f"skip {path}: {e}", file=sys.stderr)
            continue
        if x.dtype.kind != "f" or x.size == 0 or not np.all(np.isfinite(x)):
            continue
        x = np.ascontiguousarray(x.astype(np.float32))
        name = path.name
        g = group_of(kind)
        nbytes = x.size * 4
        base = dict(file=name, kind=kind, group=g, values=x.size)
        raw = x.tobytes()
        lossless = [("deflate6", lambda: zlib.compress(raw, 6), lambda c: zlib.decompress(c))]
        if zstandard is not None:
            zc, zd = zstandard.ZstdCompressor(level=3), zstandard.ZstdDecompressor()
            lossless.append(("zstd", lambda: zc.compress(raw), lambda c: zd.decompress(c)))
        # A single-thread memcpy of the same tensor in the same run (issue 12 target 6):
        # the machine's limit for any pass over the data.
        dst = np.empty_like(x)
        tm, _ = best_time(lambda: np.copyto(dst, x), a.reps)
        rows.append(dict(base, codec="memcpy", target=0.0, setting=0.0, bits=32.0, rel=0.0,
                         comp_mbs=nbytes / tm / 1e6, dec_mbs=nbytes / tm / 1e6))
        for cname, cf, df in lossless:
            tc, c = best_time(cf, a.reps)
            td, _ = best_time(lambda: df(c), a.reps)
            rows.append(dict(base, codec=cname, target=0.0, setting=0.0, bits=8 * len(c) / x.size,
                             rel=0.0, comp_mbs=nbytes / tc / 1e6, dec_mbs=nbytes / td / 1e6))
        for t in targets:
            for cname, cd in codecs.items():
                if cname == "alcm":
                    tc, frame = best_time(lambda: alcm.compress(x, t), a.reps)
                    td, y = best_time(lambda: alcm.decompress(frame, x.size, x.shape), a.reps)
                    size, setting = len(frame), t
                else:
                    comp, dec = cd
                    r = tune(comp, dec, x, t)
                    if r is None:
                        continue
                    setting, (_, c, y) = r
                    tc, c = best_time(lambda: comp(x, setting), a.reps)
                    td, y = best_time(lambda: dec(c, x), a.reps)
                    size = len(c.tobytes()) if hasattr(c, "tobytes") else len(c)
                rows.append(dict(base, codec=cname, target=t, setting=setting, bits=8 * size / x.size,
                                 rel=rel_l2(x, y), comp_mbs=nbytes / tc / 1e6, dec_mbs=nbytes / td / 1e6))
        print(f"done {name} ({x.size} values)", file=sys.stderr)

    csv = out / "compare.csv"
    with open(csv, "w") as f:
        keys = ["file", "kind", "group", "values", "codec", "target", "setting", "bits", "rel", "comp_mbs", "dec_mbs"]
        f.write(",".join(keys) + "\n")
        for r in rows:
            f.write(",".join(str(r[k]) for k in keys) + "\n")

    big = [r for r in rows if r["values"] >= a.min_values]
    med = lambda v: statistics.median(v) if v else float("nan")  # noqa: E731

    def sel(codec, t, g=None):
        return select(big, codec, t, g)

    shown = GROUPS + [SYNTHETIC] if a.synthetic else GROUPS
    extra = f" + {len(inputs) - n_data} synthetic in their own group" if len(inputs) > n_data else ""
    print(f"\nalcm vs peers on {d} ({n_data} files{extra}; medians over tensors with >= {a.min_values} values)")
    for g in [None] + shown:
        gname = g or "all groups"
        print(f"\n## {gname}")
        print("| target | codec | bits/value | rel L2 (median) | compress MB/s | decompress MB/s |")
        print("|---|---|---|---|---|---|")
        for t in targets:
            for cname in codecs:
                s = sel(cname, t, g)
                if s:
                    print(f"| {t:g} | {cname} | {med([r['bits'] for r in s]):.3f} | {med([r['rel'] for r in s]):.3e} | "
                          f"{med([r['comp_mbs'] for r in s]):.0f} | {med([r['dec_mbs'] for r in s]):.0f} |")
        for cname in ("zstd", "deflate6"):
            s = sel(cname, 0.0, g)
            if s:
                print(f"| lossless | {cname} | {med([r['bits'] for r in s]):.3f} | 0 | "
                      f"{med([r['comp_mbs'] for r in s]):.0f} | {med([r['dec_mbs'] for r in s]):.0f} |")
    if "sz3-nopred" in codecs:
        print("\n## alcm / SZ3 (no predictor): median [max] of per-tensor ratios")
        print("| group | " + " | ".join(f"bits @ {t:g}" for t in targets) + " | " +
              " | ".join(f"comp/dec speed @ {t:g}" for t in targets) + " |")
        print("|---|" + "---|" * (2 * len(targets)))
        for g in [None] + shown:
            cells, speed = [], []
            for t in targets:
                ref = {r["file"]: r for r in sel("sz3-nopred", t, g)}
                mine = [r for r in sel("alcm", t, g) if r["file"] in ref]
                br = [r["bits"] / ref[r["file"]]["bits"] for r in mine]
                cr = [r["comp_mbs"] / ref[r["file"]]["comp_mbs"] for r in mine]
                dr = [r["dec_mbs"] / ref[r["file"]]["dec_mbs"] for r in mine]
                cells.append(f"{med(br):.3f} [{max(br) if br else float('nan'):.3f}]")
                speed.append(f"{med(cr):.2f} / {med(dr):.2f}")
            print(f"| {g or 'all groups'} | " + " | ".join(cells) + " | " + " | ".join(speed) + " |")
        speed_targets(big, targets)
        met = [r for r in select(big, "alcm", targets[0], ALL) if r["rel"] <= r["target"]]
        ok = all(r["rel"] <= r["target"] * (1 + 1e-9) for r in big if r["codec"] != "deflate6" and r["target"] > 0)
        print(f"\nevery tensor meets its target: {ok} ({len(met)} alcm tensors at {targets[0]:g})")
    print(f"wrote {csv}")

    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("matplotlib not installed: no plot")
        return
    fig, axes = plt.subplots(1, len(GROUPS), figsize=(5 * len(GROUPS), 4), sharey=True)
    for ax, g in zip(axes, GROUPS):
        for cname in codecs:
            pts = [(med([r["rel"] for r in sel(cname, t, g)]), med([r["bits"] for r in sel(cname, t, g)]))
                   for t in targets if sel(cname, t, g)]
            if pts:
                ax.plot([p[0] for p in pts], [p[1] for p in pts], marker="o", label=cname)
        for cname, style in (("zstd", ":"), ("deflate6", "--")):
            s = sel(cname, 0.0, g)
            if s:
                ax.axhline(med([r["bits"] for r in s]), linestyle=style, color="grey", label=f"{cname} (lossless)")
        ax.set_xscale("log")
        ax.set_xlabel("relative L2 error (median)")
        ax.set_title(g)
        ax.grid(True, which="both", alpha=0.3)
    axes[0].set_ylabel("bits per value (median)")
    axes[-1].legend(fontsize=8)
    fig.tight_layout()
    png = out / "rate_distortion.png"
    fig.savefig(png, dpi=110)
    print(f"wrote {png}")


if __name__ == "__main__":
    main()
