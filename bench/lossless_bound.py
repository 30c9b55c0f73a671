#!/usr/bin/env python3
"""How far below blosc2 can a lossless float32 coder get on this data? (issue 16's size target)

    pip install numpy zipnn blosc2 zstandard [brotli]
    cargo build --release -p alcm-tools --bin lossless_raw
    python3 bench/lossless_bound.py [DIR] [--tool target/release/lossless_raw] [--quick]
                                    [--selfcheck] [--zpaq]

Issue 16 asks for a float32 lossless median per kind <= 0.95x blosc2's bits. README's argument
that this is out of reach used in-sample empirical entropies, which are not code lengths (they
ignore the cost of learning the statistics, and understate more the larger the context). This
script measures instead, on every float32 tensor of DIR/weights and DIR/gradients (default
../shared/data) with >= 4096 values:

  blosc2     as bench/lossless.py configures it (byte shuffle + zstd clevel 5, one thread);
             the target is 0.95x this
  zipnn      ZipNN (byte input, float32, one thread)
  alcm       the lossless payload (codec/lossless.rs) through the tools binary `lossless_raw`,
             as bench/lossless.py drives it
  general    strong general-purpose coders on the raw bytes and on the byte-shuffled bytes
             (the four byte planes one after the other): xz (preset 9|EXTREME; and LZMA2 with
             lc=0 lp=2 pb=2, the float-aligned literal setting), bz2 -9, zstd 22 (window 2^27,
             long-distance matching), brotli q11 (window 2^24) when the module imports, blosc2
             clevel 9 with byte shuffle and with bit shuffle; with --zpaq, zpaq -m5 (context
             mixing; Debian package zpaq; its ~1 kB archive overhead taken off)
  adaptive   code lengths of sequential adaptive context models: every value is cut into its
             fields (sign 1 bit, exponent 8, mantissa bytes m2 = bits 22..16 (7 bits), m1 =
             bits 15..8, m0 = bits 7..0), each field coded in raster order by an adaptive
             frequency model per context (Dirichlet / add-alpha counts: p(x | c) = (n_cx +
             alpha) / (n_c + K alpha), counts updated after each symbol; alpha in {1/16, 1/2
             (KT), 1}). Contexts: only values coded before (left, above, upper-left neighbours;
             running means of the row's and the column's earlier exponents; the same value's
             exponent and higher fields), so every model is a real sequential
             coder; an arithmetic coder reaches its code length within 2 bits a stream. Bitwise
             variants code a field bit by bit, each bit given the context and the bits above it
             (binary adaptive counts, a tree per context). The best model of every field is
             taken (its choice costs a few bits a tensor, ignored), and the fields' best sum is
             the "best adaptive" column.

The adaptive models' code length does not depend on the order of the symbols within a context
(the add-alpha sequential probability is exchangeable): it is computed in closed form from the
final counts, sum over contexts of log2 G(n_c + K alpha)/G(K alpha) - sum over symbols of
log2 G(n_cx + alpha)/G(alpha), so no Python loop and no subsample are needed.
`--selfcheck` codes a few models symbol by symbol in a Python loop on one small tensor (the
neighbour context recomputed there from the symbols already coded) and asserts the two agree.

Dependence between values beyond the neighbours' fields (`dependence`): optimistic gains,
in-sample with the model's parameters free, of a per-row x per-column scale, of a linear
prediction from six causal neighbours and of predicting each row (or column) from its most
correlated earlier one; "optimistic" = best adaptive minus all positive gains (they overlap, so
this is below what their combination would code: a floor for these model families, not for
every model). `--selfcheck` also runs them on iid Gaussian data of the same shape (all ~0).

Reference only (not a code length): "emp H", README's in-sample estimate, the order-0
empirical entropies of sign, exponent, m1, m0 plus that of m2 given the exponent.
"""
import argparse
import bz2
import csv
import lzma
import math
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

import blosc2
import zstandard
from zipnn import ZipNN

from lossless import kinds  # bench/lossless.py: the kinds of MANIFEST.tsv

try:
    import brotli
except ImportError:  # optional: the table says when it is missing
    brotli = None

ROOT = Path(__file__).resolve().parent.parent
ALPHAS = (1 / 16, 1 / 2, 1.0)
MIN_VALUES = 4096
NONE = 256  # the context value of a neighbour outside the tensor


# ---------------------------------------------------------------- general-purpose coders


def shuffled(raw):
    return np.frombuffer(raw, np.uint8).reshape(-1, 4).T.tobytes()


def zpaq_archive_bytes(data):
    with tempfile.TemporaryDirectory() as d:
        src, arc, back = Path(d) / "x", Path(d) / "x.zpaq", Path(d) / "out"
        src.write_bytes(data)
        subprocess.run(["zpaq", "a", str(arc), "x", "-m5", "-t1"], cwd=d, check=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        subprocess.run(["zpaq", "x", str(arc), "-to", str(back)], cwd=d, check=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        assert (back / "x").read_bytes() == data
        return arc.stat().st_size


def zpaq_bytes(data):
    """Size of a `zpaq -m5` (context mixing) archive of `data`, round trip checked, less what
    the archive of a one-byte file takes beyond its byte (the model's description, the index
    and the file name: about 1 kB, 0.055 bits a value of a 147 456-value tensor)."""
    global ZPAQ_OVERHEAD
    if ZPAQ_OVERHEAD is None:
        ZPAQ_OVERHEAD = zpaq_archive_bytes(b"\0") - 1
    return zpaq_archive_bytes(data) - ZPAQ_OVERHEAD


ZPAQ_OVERHEAD = None


def general_coders(raw, zpaq):
    """{name: bytes} of the strong general-purpose coders, each round trip checked."""
    out = {}
    sh = shuffled(raw)
    xz_f32 = [{"id": lzma.FILTER_LZMA2, "preset": 9 | lzma.PRESET_EXTREME,
               "lc": 0, "lp": 2, "pb": 2}]
    zc = zstandard.ZstdCompressor(compression_params=zstandard.ZstdCompressionParameters.
                                  from_level(22, window_log=27, enable_ldm=True))
    zd = zstandard.ZstdDecompressor(max_window_size=1 << 27)
    for tag, data in [("raw", raw), ("shuf", sh)]:
        c = lzma.compress(data, preset=9 | lzma.PRESET_EXTREME)
        assert lzma.decompress(c) == data
        out[f"xz9e/{tag}"] = len(c)
        c = lzma.compress(data, format=lzma.FORMAT_XZ, filters=xz_f32)
        assert lzma.decompress(c) == data
        out[f"xz-lp2/{tag}"] = len(c)
        c = bz2.compress(data, 9)
        assert bz2.decompress(c) == data
        out[f"bz2-9/{tag}"] = len(c)
        c = zc.compress(data)
        assert zd.decompress(c) == data
        out[f"zstd22/{tag}"] = len(c)
        if brotli is not None:
            c = brotli.compress(data, quality=11, lgwin=24)
            assert brotli.decompress(c) == data
            out[f"brotli11/{tag}"] = len(c)
        if zpaq:
            out[f"zpaq-m5/{tag}"] = zpaq_bytes(data)
    for name, filt in [("blosc2-9/shuf", blosc2.Filter.SHUFFLE),
                       ("blosc2-9/bitshuf", blosc2.Filter.BITSHUFFLE)]:
        c = blosc2.compress(raw, typesize=4, clevel=9, filter=filt, codec=blosc2.Codec.ZSTD)
        assert bytes(blosc2.decompress(c)) == raw
        out[name] = len(c)
    return out


def baselines(raw):
    blosc2.set_nthreads(1)
    c = blosc2.compress(raw, typesize=4, clevel=5, filter=blosc2.Filter.SHUFFLE,
                        codec=blosc2.Codec.ZSTD)
    assert bytes(blosc2.decompress(c)) == raw
    b = len(c)
    z = ZipNN(input_format="byte", bytearray_dtype="float32", threads=1)
    c = z.compress(bytearray(raw))  # ZipNN reorders its input in place: give it a copy
    assert bytes(z.decompress(c)) == raw
    return b, len(c)


# ---------------------------------------------------------------- adaptive context models


class LogGammaTables:
    """T_a[n] = log2(G(n + a) / G(a)) = sum_{k<n} log2(k + a), for the alphas in use."""

    def __init__(self, n_max):
        self.n_max = n_max
        self.cache = {}

    def __call__(self, a):
        t = self.cache.get(a)
        if t is None:
            t = np.zeros(self.n_max + 1)
            np.cumsum(np.log2(np.arange(self.n_max) + a), out=t[1:])
            self.cache[a] = t
        return t


def counts(keys):
    keys = np.asarray(keys, np.int64)
    top = int(keys.max()) + 1 if keys.size else 1
    if top <= 1 << 24:
        c = np.bincount(keys, minlength=top)
        return c[c > 0]
    return np.unique(keys, return_counts=True)[1]


def adaptive_bits(sym, ctx, k, alpha, lg):
    """Total code length (bits) of the symbols `sym` (in [0, k)) under add-alpha adaptive
    frequencies per context `ctx` (non-negative ints), in closed form from the counts."""
    sym = np.asarray(sym, np.int64)
    ctx = np.asarray(ctx, np.int64)
    pair = counts(ctx * k + sym)
    per_ctx = counts(ctx)
    return lg(k * alpha)[per_ctx].sum() - lg(alpha)[pair].sum()


def bitwise_bits(val, nbits, ctx, alpha, lg):
    """The field `val` (nbits bits) bit by bit from the top, each bit given `ctx` and the
    bits above it (a binary tree of adaptive counts per context)."""
    val = np.asarray(val, np.int64)
    ctx = np.asarray(ctx, np.int64)
    syms, ctxs = [], []
    for j in range(nbits - 1, -1, -1):
        node = (1 << (nbits - 1 - j)) | (val >> (j + 1))  # in [1, 2^nbits): unique per prefix
        syms.append((val >> j) & 1)
        ctxs.append(ctx * (1 << nbits) + node)
    return adaptive_bits(np.concatenate(syms), np.concatenate(ctxs), 2, alpha, lg)


def best_alpha(f):
    return min((f(a), a) for a in ALPHAS)


def fields(a2d):
    u = np.ascontiguousarray(a2d).view(np.uint32).astype(np.int64)
    return dict(sign=u >> 31, exp=(u >> 23) & 0xFF, m2=(u >> 16) & 0x7F, m1=(u >> 8) & 0xFF,
                m0=u & 0xFF)


def left_of(x):
    out = np.full_like(x, NONE)
    out[:, 1:] = x[:, :-1]
    return out


def above_of(x):
    out = np.full_like(x, NONE)
    out[1:, :] = x[:-1, :]
    return out


def running_mean_q(x, axis):
    """2 x the mean of the preceding values along `axis` (row so far / column so far),
    rounded; NONE-ish (0) where there is none. A scale context that sees more than one
    neighbour."""
    c = np.cumsum(x, axis=axis, dtype=np.float64)
    n = np.cumsum(np.ones_like(x, dtype=np.float64), axis=axis)
    prev = np.zeros_like(c)
    cnt = np.zeros_like(n)
    if axis == 1:
        prev[:, 1:], cnt[:, 1:] = c[:, :-1], n[:, :-1]
    else:
        prev[1:, :], cnt[1:, :] = c[:-1, :], n[:-1, :]
    q = np.where(cnt > 0, np.rint(2 * prev / np.maximum(cnt, 1)) + 1, 0)
    return q.astype(np.int64)


def med(a, b, c):
    """The median edge detector's prediction (LOCO-I) of a value from left a, above b and
    upper-left c."""
    return np.where(c >= np.maximum(a, b), np.minimum(a, b),
                    np.where(c <= np.minimum(a, b), np.maximum(a, b), a + b - c))


def model_table(a2d, lg):
    """{field: {model name: bits}}: every context tried for every field (best alpha each)."""
    f = fields(a2d)
    s, e, m2, m1, m0 = (f[k].ravel() for k in ("sign", "exp", "m2", "m1", "m0"))
    n = s.size
    el, ea = left_of(f["exp"]), above_of(f["exp"])
    eal = above_of(left_of(f["exp"]))
    sl, sa = left_of(f["sign"]).ravel(), above_of(f["sign"]).ravel()
    rowq, colq = running_mean_q(f["exp"], 1).ravel(), running_mean_q(f["exp"], 0).ravel()
    el, ea, eal = el.ravel(), ea.ravel(), eal.ravel()
    zero = np.zeros(n, np.int64)
    res = {"sign": {}, "exp": {}, "m2": {}, "m1": {}, "m0": {}}

    def add(field, name, fn):
        bits, a = best_alpha(fn)
        res[field][f"{name} (a={a:g})"] = bits

    res["sign"]["raw"] = float(n)
    add("sign", "o0", lambda a: adaptive_bits(s, zero, 2, a, lg))
    add("sign", "|left sign", lambda a: adaptive_bits(s, sl, 2, a, lg))
    add("sign", "|left,above sign", lambda a: adaptive_bits(s, sl * 3 + sa, 2, a, lg))
    add("sign", "|exp", lambda a: adaptive_bits(s, e, 2, a, lg))

    res["exp"]["raw"] = 8.0 * n
    add("exp", "o0", lambda a: adaptive_bits(e, zero, 256, a, lg))
    add("exp", "|left", lambda a: adaptive_bits(e, el, 256, a, lg))
    add("exp", "|above", lambda a: adaptive_bits(e, ea, 256, a, lg))
    add("exp", "|left,above", lambda a: adaptive_bits(e, el * 257 + ea, 256, a, lg))
    add("exp", "|left,above,upleft",
        lambda a: adaptive_bits(e, (el * 257 + ea) * 257 + eal, 256, a, lg))
    add("exp", "|row mean,col mean", lambda a: adaptive_bits(e, rowq * 600 + colq, 256, a, lg))
    add("exp", "|left,col mean", lambda a: adaptive_bits(e, el * 600 + colq, 256, a, lg))
    add("exp", "|left,row mean,col mean",
        lambda a: adaptive_bits(e, (el * 600 + rowq) * 600 + colq, 256, a, lg))
    # Residual of the median edge detector (alcm's method 6), mod 256, order 0 and given left.
    known = (el < NONE) & (ea < NONE) & (eal < NONE)
    pred = np.where(known, med(el, ea, eal), np.where(el < NONE, el, np.where(ea < NONE, ea, 0)))
    resid = (e - pred) & 0xFF
    add("exp", "MED resid o0", lambda a: adaptive_bits(resid, zero, 256, a, lg))
    add("exp", "MED resid |pred", lambda a: adaptive_bits(resid, pred, 256, a, lg))
    add("exp", "bitwise |left,above",
        lambda a: bitwise_bits(e, 8, el * 257 + ea, a, lg))
    add("exp", "bitwise |left,above,upleft",
        lambda a: bitwise_bits(e, 8, (el * 257 + ea) * 257 + eal, a, lg))
    add("exp", "bitwise |left,col mean", lambda a: bitwise_bits(e, 8, el * 600 + colq, a, lg))

    res["m2"]["raw"] = 7.0 * n
    add("m2", "o0", lambda a: adaptive_bits(m2, zero, 128, a, lg))
    add("m2", "|exp", lambda a: adaptive_bits(m2, e, 128, a, lg))
    add("m2", "|exp,sign", lambda a: adaptive_bits(m2, e * 2 + s, 128, a, lg))
    add("m2", "|exp,left exp", lambda a: adaptive_bits(m2, e * 257 + el, 128, a, lg))
    add("m2", "bitwise |exp", lambda a: bitwise_bits(m2, 7, e, a, lg))
    add("m2", "bitwise |exp,left exp", lambda a: bitwise_bits(m2, 7, e * 257 + el, a, lg))
    for name, v, hi, hb in [("m1", m1, m2, 128), ("m0", m0, m1, 256)]:
        higher = "m2" if name == "m1" else "m1"
        res[name]["raw"] = 8.0 * n
        add(name, "o0", lambda a, v=v: adaptive_bits(v, zero, 256, a, lg))
        add(name, "|exp", lambda a, v=v: adaptive_bits(v, e, 256, a, lg))
        add(name, f"|exp,{higher}",
            lambda a, v=v, hi=hi, hb=hb: adaptive_bits(v, e * hb + hi, 256, a, lg))
        add(name, "bitwise |exp", lambda a, v=v: bitwise_bits(v, 8, e, a, lg))
        add(name, f"bitwise |exp,{higher}",
            lambda a, v=v, hi=hi, hb=hb: bitwise_bits(v, 8, e * hb + hi, a, lg))
    return res


def empirical_h(v, ctx=None):
    """In-sample empirical (conditional) entropy in bits (total) - a reference, not a code."""
    v = np.asarray(v, np.int64).ravel()
    if ctx is None:
        c = counts(v)
        return float(-(c * np.log2(c / v.size)).sum())
    ctx = np.asarray(ctx, np.int64).ravel()
    pc = counts(ctx * 256 + v)
    cc = counts(ctx)
    return float(-(pc * np.log2(pc)).sum() + (cc * np.log2(cc)).sum())


# ---------------------------------------------------------------- dependence between values


def h_hat(v, width=0.01):
    """Differential entropy (bits) of the samples v from a histogram of bins `width` wide
    (in-sample: optimistic by the cost of its counts)."""
    b = np.floor((v - v.min()) / width).astype(np.int64)
    c = counts(b)
    p = c / c.sum()
    return float(-(p * np.log2(p / width)).sum())


def best_match_gain(x):
    """Bits a value saved by predicting every row as a multiple of the most correlated earlier
    row (the Gaussian gain 0.5 log2 1/(1 - rho^2) a value; the row's index and a 16-bit
    coefficient paid; rows where it does not pay coded without): an approximate-repeat model
    the LZ coders would only see as exact repeats."""
    r, c = x.shape
    xn = x - x.mean(axis=1, keepdims=True)
    nrm = np.linalg.norm(xn, axis=1, keepdims=True)
    xn = (xn / np.where(nrm > 0, nrm, 1)).astype(np.float32)
    best = np.zeros(r)
    for i0 in range(1, r, 1024):
        g = np.abs(xn[i0:i0 + 1024] @ xn[:i0 + 1024].T)
        idx = np.arange(i0, min(i0 + 1024, r))
        g[np.arange(g.shape[1])[None, :] >= idx[:, None]] = 0  # earlier rows only
        best[idx] = g.max(axis=1)
    rho2 = np.minimum(best.astype(np.float64) ** 2, 1 - 1e-12)
    saved = 0.5 * c * np.log2(1 / (1 - rho2)) - (np.log2(np.arange(r) + 1) + 16)
    return float(np.maximum(saved, 0).sum() / x.size)


def dependence(a2d):
    """Optimistic (in-sample, model parameters free) gains, bits a value, of three kinds of
    dependence between values that the field models above cannot see:
    scale   every value with its own scale s_ij = r_i c_j (per-row times per-column RMS,
            alternating fit): h(x / sigma) + log2 sigma - h(x / s) - mean log2 s
    linear  least squares prediction from six causal neighbours (2 left, 2 above, upper-left,
            upper-right): h(x) - h(residual), interior values
    match   best_match_gain over rows and over columns, the larger."""
    x = a2d.astype(np.float64)
    if not np.isfinite(x).all() or x.shape[0] < 4 or x.shape[1] < 4:
        return dict(scale=0.0, linear=0.0, match=0.0)
    sd = x.std()
    r, c = np.ones(x.shape[0]), np.ones(x.shape[1])
    for _ in range(5):
        r = np.sqrt(np.mean(x ** 2 / c[None, :] ** 2, axis=1))
        r = np.where(r > 0, r, 1)
        c = np.sqrt(np.mean(x ** 2 / r[:, None] ** 2, axis=0))
        c = np.where(c > 0, c, 1)
    s = r[:, None] * c[None, :]
    live = x != 0  # exact zeros (dead units of a gradient) are outside any density
    scale = (h_hat(x[live] / sd) + np.log2(sd)) - (h_hat((x / s)[live])
                                                   + np.mean(np.log2(s[live])))
    y = x[2:, 2:-1].ravel()
    feats = np.stack([x[2:, 1:-2], x[2:, :-3], x[1:-1, 2:-1], x[:-2, 2:-1], x[1:-1, 1:-2],
                      x[1:-1, 3:]], axis=-1).reshape(-1, 6)
    coef, *_ = np.linalg.lstsq(feats, y, rcond=None)
    resid = y - feats @ coef
    linear = h_hat(y / sd) - h_hat(resid / sd)
    match = max(best_match_gain(x), best_match_gain(np.ascontiguousarray(x.T)))
    return dict(scale=scale, linear=linear, match=match)


# ---------------------------------------------------------------- self check


def sequential_bits(sym, ctx, k, alpha):
    """The same code length symbol by symbol (the definition the closed form must match);
    `ctx` a list, or a function of the symbols before and the index (a context computed from
    what the decoder has: a check that the vectorised contexts are causal)."""
    cnt, tot, bits = {}, {}, 0.0
    sym = sym.tolist()
    ctxs = ctx.tolist() if not callable(ctx) else [ctx(sym[:i], i) for i in range(len(sym))]
    for x, c in zip(sym, ctxs):
        p = (cnt.get((c, x), 0) + alpha) / (tot.get(c, 0) + k * alpha)
        bits -= math.log2(p)
        cnt[(c, x)] = cnt.get((c, x), 0) + 1
        tot[c] = tot.get(c, 0) + 1
    return bits


def selfcheck(a2d):
    f = fields(a2d)
    e, m2, s = f["exp"].ravel(), f["m2"].ravel(), f["sign"].ravel()
    el = left_of(f["exp"]).ravel()
    ea = above_of(f["exp"]).ravel()
    cols = a2d.shape[1]
    lg = LogGammaTables(e.size * 8)

    def left_above(before, i):  # from the decoded exponents only
        left = before[i - 1] if i % cols else NONE
        above = before[i - cols] if i >= cols else NONE
        return left * 257 + above

    for name, sym, ctx, slow_ctx, k in [
            ("exp|left,above", e, el * 257 + ea, left_above, 256),
            ("m2|exp", m2, e, e, 128), ("sign o0", s, np.zeros_like(s), np.zeros_like(s), 2)]:
        for a in ALPHAS:
            fast = adaptive_bits(sym, ctx, k, a, lg)
            slow = sequential_bits(sym, slow_ctx, k, a)
            assert abs(fast - slow) < 1e-6 * slow + 1e-6, (name, a, fast, slow)
            print(f"selfcheck {name:16s} alpha={a:<6g} closed form {fast:12.3f}  "
                  f"sequential {slow:12.3f} bits")
    # Bitwise: the same tree coded bit by bit, sequentially.
    a = 0.5
    fast = bitwise_bits(m2, 7, e, a, lg)
    cnt, bits = {}, 0.0
    for v, c in zip(m2.tolist(), e.tolist()):
        for j in range(6, -1, -1):
            node = (c, (1 << (6 - j)) | (v >> (j + 1)))
            n0, n1 = cnt.get(node, (0, 0))
            b = (v >> j) & 1
            bits -= math.log2(((n1 if b else n0) + a) / (n0 + n1 + 2 * a))
            cnt[node] = (n0 + (b == 0), n1 + (b == 1))
    assert abs(fast - bits) < 1e-6 * bits, (fast, bits)
    print(f"selfcheck m2 bitwise|exp     alpha=0.5    closed form {fast:12.3f}  "
          f"sequential {bits:12.3f} bits")
    null = np.random.default_rng(20).standard_normal(a2d.shape).astype(np.float32)
    d = dependence(null)
    assert all(abs(v) < 0.02 for v in d.values()), d
    print("selfcheck dependence gains on iid Gaussian data "
          + ", ".join(f"{k} {v:.4f}" for k, v in d.items()) + " bits a value")


# ---------------------------------------------------------------- driver


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("dir", nargs="?", default=str(ROOT.parent / "shared" / "data"))
    ap.add_argument("--tool", default=str(ROOT / "target" / "release" / "lossless_raw"))
    ap.add_argument("--quick", action="store_true", help="skip the general-purpose coders")
    ap.add_argument("--zpaq", action="store_true",
                    help="also zpaq -m5 (context mixing; apt-get install zpaq; slow: about "
                         "30 s a million values)")
    ap.add_argument("--selfcheck", action="store_true",
                    help="check the closed-form code lengths against a sequential loop")
    ap.add_argument("--csv", default=str(ROOT / "bench" / "results" / "lossless_bound.csv"))
    args = ap.parse_args()
    data_dir = Path(args.dir)
    kind_of = kinds(data_dir)
    work = ROOT / "target" / "lossless_bound"
    work.mkdir(parents=True, exist_ok=True)

    tensors = []
    for group in ["weights", "gradients"]:
        for p in sorted((data_dir / group).glob("*.npy")):
            a = np.load(p)
            if a.dtype != np.float32 or a.size < MIN_VALUES:
                continue
            a2d = a.reshape(-1, a.shape[-1]) if a.ndim >= 2 else a.reshape(1, -1)
            rel = str(p.relative_to(data_dir))
            tensors.append(dict(group=group, file=rel, kind=kind_of.get(rel, "other"),
                                a=np.ascontiguousarray(a2d), shape=a.shape))
    if args.selfcheck:
        small = min(tensors, key=lambda t: t["a"].size)
        print(f"selfcheck on {small['file']} {small['a'].shape}")
        selfcheck(small["a"])

    tool = subprocess.Popen([args.tool, "1"], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            text=True, bufsize=1)
    lg = LogGammaTables(max(t["a"].size for t in tensors) * 8)
    rows, field_rows = [], []
    for i, t in enumerate(tensors):
        a = t["a"]
        n = a.size
        raw = a.tobytes()
        path = work / f"{i:04d}.float32"
        path.write_bytes(raw)
        tool.stdin.write(f"4 {path} {' '.join(map(str, t['shape']))}\n")
        tool.stdin.flush()
        alcm_bytes = int(tool.stdout.readline().strip().split(",")[3])
        b, z = baselines(raw)
        gen = {} if args.quick else general_coders(raw, args.zpaq)
        models = model_table(a, lg)
        best_f = {fld: min(m.items(), key=lambda kv: kv[1]) for fld, m in models.items()}
        best_adapt = sum(v for _, v in best_f.values()) / n
        f = fields(a)
        emp = (empirical_h(f["sign"]) + empirical_h(f["exp"]) + empirical_h(f["m2"], f["exp"])
               + empirical_h(f["m1"]) + empirical_h(f["m0"])) / n
        # The weights only: a gradient's zeros and decades-wide tails make a histogram on a
        # linear grid no estimate of a float code length (and its targets are met anyway).
        dep = dependence(a) if t["group"] == "weights" else dict(scale=math.nan,
                                                                 linear=math.nan,
                                                                 match=math.nan)
        optimistic = best_adapt - sum(max(v, 0.0) for v in dep.values())
        row = dict(group=t["group"], file=t["file"], kind=t["kind"], n=n,
                   blosc2=8 * b / n, target=0.95 * 8 * b / n, zipnn=8 * z / n,
                   alcm=8 * alcm_bytes / n, adaptive=best_adapt, emp_h=emp,
                   dep_scale=dep["scale"], dep_linear=dep["linear"], dep_match=dep["match"],
                   optimistic=optimistic)
        if gen:
            gname, gbytes = min(gen.items(), key=lambda kv: kv[1])
            row["general"], row["general_name"] = 8 * gbytes / n, gname
            for k, v in gen.items():
                row[f"gen:{k}"] = 8 * v / n
        for fld, (mname, bits) in best_f.items():
            row[f"best:{fld}"] = bits / n
            row[f"model:{fld}"] = mname
        rows.append(row)
        for fld, m in models.items():
            for mname, bits in m.items():
                field_rows.append(dict(file=t["file"], kind=t["kind"], field=fld,
                                       model=mname.split(" (a=")[0], bits=bits / n))
        print(f"[{i + 1}/{len(tensors)}] {t['file']} done", file=sys.stderr, flush=True)
    tool.stdin.close()
    tool.wait()
    report(rows, field_rows, args)


def short(name):
    return (name.replace("minilm_encoder.layer.", "L").replace("minilm_embeddings.", "emb.")
            .replace("weights/", "").replace("gradients/", "").replace(".npy", "")
            .replace("attention.", "att.").replace(".weight", ".w"))


def dependence_table(sub):
    print("\ndependence between values: optimistic gains (in-sample, parameters free), bits "
          "per value; optimistic = adaptive - the positive gains (they overlap: a floor)")
    dcols = ["dep_scale", "dep_linear", "dep_match", "adaptive", "optimistic", "target"]
    print(f"{'tensor':34s} " + " ".join(f"{c:>10s}" for c in dcols) + "  optim/blosc2")
    for r in sub:
        print(f"{short(r['file']):34s} " + " ".join(f"{r[c]:10.3f}" for c in dcols)
              + f"  {r['optimistic'] / r['blosc2']:12.4f}")
    for kind in sorted({r["kind"] for r in sub}):
        ks = [r for r in sub if r["kind"] == kind]
        med = {c: statistics.median(r[c] for r in ks) for c in dcols + ["blosc2"]}
        print(f"{'  median ' + kind:34s} " + " ".join(f"{med[c]:10.3f}" for c in dcols)
              + f"  {med['optimistic'] / med['blosc2']:12.4f}")


def report(rows, field_rows, args):
    cols = ["blosc2", "target", "zipnn", "alcm"] + (["general"] if "general" in rows[0] else [])
    cols += ["adaptive", "emp_h"]
    for group in ["weights", "gradients"]:
        sub = [r for r in rows if r["group"] == group]
        print(f"\n== float32 {group}: bits per value ({len(sub)} tensors of >= {MIN_VALUES} "
              f"values); target = 0.95 x blosc2; adaptive = best adaptive context model; "
              f"emp_h = README's in-sample estimate (not a code)")
        print(f"{'tensor':34s} {'kind':15s} {'n':>8s} " + " ".join(f"{c:>8s}" for c in cols)
              + "  adapt/blosc2  best general coder")
        for r in sub:
            print(f"{short(r['file']):34s} {r['kind']:15s} {r['n']:8d} "
                  + " ".join(f"{r[c]:8.3f}" for c in cols)
                  + f"  {r['adaptive'] / r['blosc2']:12.4f}  {r.get('general_name', '')}")
        print(f"{'median per kind':34s}")
        for kind in sorted({r["kind"] for r in sub}):
            ks = [r for r in sub if r["kind"] == kind]
            med_ = {c: statistics.median(r[c] for r in ks) for c in cols}
            print(f"{'  ' + kind:34s} {kind:15s} {len(ks):8d} "
                  + " ".join(f"{med_[c]:8.3f}" for c in cols)
                  + f"  {med_['adaptive'] / med_['blosc2']:12.4f}")
        sub_d = [r for r in sub if not math.isnan(r["optimistic"])]
        if sub_d:
            dependence_table(sub_d)
        else:
            print("\n(dependence estimates: computed on the weights only)")
        print("\nbest model per field, bits per value (and the model best most often)")
        flds = ["sign", "exp", "m2", "m1", "m0"]
        print(f"{'tensor':34s} " + " ".join(f"{f:>7s}" for f in flds))
        for r in sub:
            print(f"{short(r['file']):34s} " + " ".join(f"{r['best:' + f]:7.3f}" for f in flds))
        for f in flds:
            names = [r[f"model:{f}"].split(" (a=")[0] for r in sub]
            top = max(sorted(set(names)), key=names.count)
            print(f"  {f}: {top} best on {names.count(top)}/{len(sub)}")
        print("\nmedian per kind of every model, bits per value (field, model: kinds)")
        kinds_ = sorted({r["kind"] for r in sub})
        files = {r["file"] for r in sub}
        seen = []
        for fr in field_rows:
            if (fr["field"], fr["model"]) not in seen:
                seen.append((fr["field"], fr["model"]))
        print(f"{'field':5s} {'model':28s} " + " ".join(f"{k:>15s}" for k in kinds_))
        for fld, mname in seen:
            vals = []
            for k in kinds_:
                v = [fr["bits"] for fr in field_rows if fr["field"] == fld
                     and fr["model"] == mname and fr["kind"] == k and fr["file"] in files]
                vals.append(statistics.median(v))
            print(f"{fld:5s} {mname:28s} " + " ".join(f"{v:15.4f}" for v in vals))
    if "general" in rows[0]:
        print("\ngeneral-purpose coders, median bits per value per kind (all tensors above)")
        gk = [k for k in rows[0] if k.startswith("gen:")]
        for kind in sorted({r["kind"] for r in rows}):
            ks = [r for r in rows if r["kind"] == kind]
            print(f"  {kind:15s} " + "  ".join(
                f"{k[4:]} {statistics.median(r[k] for r in ks):.3f}" for k in gk))
    if brotli is None:
        print("(brotli not importable: its column is missing)")
    print("\n== conclusion (median per kind)")
    for kind in sorted({r["kind"] for r in rows}):
        ks = [r for r in rows if r["kind"] == kind]
        tgt = statistics.median(r["target"] for r in ks)
        best = {c: statistics.median(r[c] for r in ks)
                for c in ["alcm", "adaptive"] + (["general"] if "general" in rows[0] else [])}
        opt = statistics.median(r["optimistic"] for r in ks)
        name, v = min(best.items(), key=lambda kv: kv[1])
        verdict = "BELOW" if v <= tgt else "misses"
        print(f"  {kind:15s} target {tgt:7.3f}; best {name} {v:7.3f}: {verdict} "
              f"by {abs(v - tgt):.3f} bits/value ({v / (tgt / 0.95):.4f}x blosc2)"
              + ("" if math.isnan(opt) else
                 f"; optimistic floor {opt:.3f} ({opt / (tgt / 0.95):.4f}x): "
                 + ("below" if opt <= tgt else f"misses by {opt - tgt:.3f}")))
    Path(args.csv).parent.mkdir(parents=True, exist_ok=True)
    keys = []
    for r in rows:
        keys += [k for k in r if k not in keys and k != "a"]
    with open(args.csv, "w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=keys)
        w.writeheader()
        for r in rows:
            w.writerow({k: (f"{v:.8g}" if isinstance(v, float) else v) for k, v in r.items()})


if __name__ == "__main__":
    main()
