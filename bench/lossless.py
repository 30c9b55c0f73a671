#!/usr/bin/env python3
"""alcm's lossless float coder against ZipNN, blosc2, zstd and deflate, side by side (issue 16).

    pip install numpy==2.4.6 matplotlib==3.11.2 zipnn==0.5.4 blosc2==4.15.0 zstandard==0.25.0
    cargo build --release -p alcm-tools --bin lossless_raw
    python3 bench/lossless.py [DIR] [--tool target/release/lossless_raw] [--out bench/results]
                              [--reps 5]

Every .npy under DIR (default ../shared/data; kinds from DIR/MANIFEST.tsv) is taken as float32
and cast to bfloat16 (round to nearest even, NaN kept) and float16 (numpy). Codecs, all on one
thread, each round trip checked bit-exact:
  alcm      codec/lossless.rs (the payload of ALCM_BACKEND_FLOAT), through the tools binary
            `lossless_raw` that this script drives (it reads the raw element bytes written under
            target/lossless_bench/; the element-type API is separate work), run tensor by
            tensor between the baselines (same load on all)
  zipnn     ZipNN (byte input, the matching bytearray_dtype, threads=1; it reorders its input
            buffer in place, so each run gets a fresh copy made outside the timing)
  blosc2    blosc2 byte shuffle + zstd (clevel 5, typesize = element width, nthreads=1)
  zstd3     zstd level 3 of the raw bytes;   deflate6: zlib level 6 of the raw bytes
Sizes: bits per value. For the baselines, the whole object each library returns, its header
included (zlib: 2 header bytes and the 4-byte Adler-32; zstd: its frame header and 3 bytes per
block, about 9-12 bytes here; blosc2: the 32-byte chunk header; ZipNN: its own header, 32 bytes
for an empty input). For alcm, the payload of backend 4 (the method byte and the body), without
the frame's header (16 + 8 x rank + 52 bytes: shape, element type, lengths) and CRC, which hold
what a .npy header would. alcm's payload does not know its own length (the frame does), so it
cannot stand alone as the baselines' objects can; the difference favours alcm by a few bytes on
the smallest tensors (its deflate fallback, a raw deflate stream behind one byte, is 5 bytes
below zlib's object by construction). Speed: MB/s of the
element bytes, best of --reps runs per tensor, totalled over all tensors of a type (alcm's time
is measured inside the Rust tool, the others' around the Python call: the Python call overhead,
a few microseconds, counts against them on the smallest tensors). By default alcm's time is the
payload coder's alone; --frame times the public API a user calls (Encoder::compress_bytes and
DecodeOptions::decompress_bytes_into: the frame header, the CRC-32 and the non-finite scan
added; the sizes are the payload's either way).
Outputs: tables on stdout, bench/results/lossless.csv (per tensor and type) and lossless.png.
"""
import argparse
import csv
import os
import statistics
import subprocess
import sys
import time
import zlib
from pathlib import Path

import numpy as np

import blosc2
import zstandard
from zipnn import ZipNN

ROOT = Path(__file__).resolve().parent.parent
CODECS = ["alcm", "zipnn", "blosc2", "zstd3", "deflate6"]
BASELINES = ["zipnn", "blosc2", "zstd3", "deflate6"]


def kinds(data_dir):
    m = {}
    man = data_dir / "MANIFEST.tsv"
    if man.exists():
        with open(man) as f:
            for r in csv.DictReader(f, delimiter="\t"):
                m[r["file"]] = r["kind"]
    return m


def to_bf16_bytes(a):
    """float32 → bfloat16 bits, round to nearest even; NaNs stay NaN (quiet bit set)."""
    u = a.view(np.uint32).astype(np.uint64)
    rounded = ((u + 0x7FFF + ((u >> 16) & 1)) >> 16).astype(np.uint16)
    nan = np.isnan(a)
    rounded[nan] = ((u[nan] >> 16) | 0x40).astype(np.uint16)
    return rounded.tobytes()


def best_time(f, reps):
    best, out = float("inf"), None
    for _ in range(reps):
        t = time.perf_counter()
        out = f()
        best = min(best, time.perf_counter() - t)
    return best, out


def baselines(raw, dtype, width, reps):
    """{codec: (bytes, enc_s, dec_s)} for the Python-side codecs."""
    res = {}
    z = ZipNN(input_format="byte", bytearray_dtype=dtype, threads=1)
    # ZipNN reorders its input buffer in place (even a `bytes` object): every run gets a fresh
    # copy, made outside the timed call.
    copies = [bytearray(raw) for _ in range(reps)]
    te, c = best_time(lambda: z.compress(copies.pop()), reps)
    td, d = best_time(lambda: z.decompress(c), reps)
    assert bytes(d) == raw, "zipnn round trip"
    res["zipnn"] = (len(c), te, td)
    blosc2.set_nthreads(1)
    te, c = best_time(
        lambda: blosc2.compress(raw, typesize=width, clevel=5,
                                filter=blosc2.Filter.SHUFFLE, codec=blosc2.Codec.ZSTD), reps)
    td, d = best_time(lambda: blosc2.decompress(c), reps)
    assert bytes(d) == raw, "blosc2 round trip"
    res["blosc2"] = (len(c), te, td)
    cz, dz = zstandard.ZstdCompressor(level=3), zstandard.ZstdDecompressor()
    te, c = best_time(lambda: cz.compress(raw), reps)
    td, d = best_time(lambda: dz.decompress(c), reps)
    assert d == raw, "zstd round trip"
    res["zstd3"] = (len(c), te, td)
    te, c = best_time(lambda: zlib.compress(raw, 6), reps)
    td, d = best_time(lambda: zlib.decompress(c), reps)
    assert d == raw, "deflate round trip"
    res["deflate6"] = (len(c), te, td)
    return res


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("dir", nargs="?", default=str(ROOT.parent / "shared" / "data"))
    ap.add_argument("--tool", default=str(ROOT / "target" / "release" / "lossless_raw"))
    ap.add_argument("--out", default=str(ROOT / "bench" / "results"))
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--frame", action="store_true",
                    help="time alcm's public API (Encoder::compress_bytes and "
                         "decompress_bytes_into: frame header, CRC and non-finite scan "
                         "included) instead of the payload coder alone")
    args = ap.parse_args()
    data_dir = Path(args.dir)
    kind_of = kinds(data_dir)
    work = ROOT / "target" / "lossless_bench"
    work.mkdir(parents=True, exist_ok=True)
    tensors = []
    for i, p in enumerate(sorted(data_dir.rglob("*.npy"))):
        rel = str(p.relative_to(data_dir))
        full = np.load(p).astype(np.float32)
        a = np.ascontiguousarray(full.ravel())
        if a.size == 0:
            continue
        kind = kind_of.get(rel, "other")
        for dtype, width, raw in [
            ("float32", 4, a.tobytes()),
            ("bfloat16", 2, to_bf16_bytes(a)),
            ("float16", 2, a.astype(np.float16).tobytes()),
        ]:
            path = work / f"{i:04d}.{dtype}"
            path.write_bytes(raw)
            tensors.append(dict(file=rel, kind=kind, dtype=dtype, width=width, n=a.size,
                                raw=raw, path=str(path), shape=full.shape))
    tool = subprocess.Popen([args.tool, str(args.reps)] + (["--frame"] if args.frame else []),
                            stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, text=True, bufsize=1)

    def alcm_run(t):
        """alcm on one tensor, through the tool (timed inside it), interleaved with the
        baselines tensor by tensor so that the shared machine's load hits all codecs alike."""
        tool.stdin.write(f"{t['width']} {t['path']} {' '.join(map(str, t['shape']))}\n")
        tool.stdin.flush()
        path, w, rawb, pay, method, te, td = tool.stdout.readline().strip().split(",")
        return int(pay), float(te), float(td), int(method)

    rows = []
    for t in tensors:
        pay, te, td, method = alcm_run(t)
        r = baselines(t["raw"], t["dtype"], t["width"], args.reps)
        r["alcm"] = (pay, te, td)
        row = dict(file=t["file"], kind=t["kind"], dtype=t["dtype"], n=t["n"],
                   alcm_method=method)
        for c in CODECS:
            b, te, td = r[c]
            row[f"{c}_bits"] = 8 * b / t["n"]
            row[f"{c}_enc_s"] = te
            row[f"{c}_dec_s"] = td
        row["raw_bytes"] = len(t["raw"])
        best = min(row[f"{c}_bits"] for c in BASELINES)
        row["alcm_over_best"] = row["alcm_bits"] / best
        rows.append(row)
    tool.stdin.close()
    tool.wait()

    out_dir = Path(args.out)
    out_dir.mkdir(parents=True, exist_ok=True)
    with open(out_dir / "lossless.csv", "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0].keys()))
        w.writeheader()
        for row in rows:
            w.writerow({k: (f"{v:.6g}" if isinstance(v, float) else v) for k, v in row.items()})

    verdicts = []
    for dtype in ["float32", "bfloat16", "float16"]:
        sub = [r for r in rows if r["dtype"] == dtype]
        print(f"\n== {dtype}: median bits/value per kind ({len(sub)} tensors)")
        print(f"{'kind':16s} {'n':>3s} " + " ".join(f"{c:>9s}" for c in CODECS)
              + "  alcm/blosc2 alcm/zipnn")
        for kind in sorted({r["kind"] for r in sub}):
            ks = [r for r in sub if r["kind"] == kind]
            med = {c: statistics.median(r[f"{c}_bits"] for r in ks) for c in CODECS}
            rb, rz = med["alcm"] / med["blosc2"], med["alcm"] / med["zipnn"]
            print(f"{kind:16s} {len(ks):3d} " + " ".join(f"{med[c]:9.3f}" for c in CODECS)
                  + f"  {rb:11.3f} {rz:10.3f}")
            if dtype == "float32":
                verdicts.append((f"float32 {kind}: median <= 0.95x blosc2", rb <= 0.95))
                verdicts.append((f"float32 {kind}: median <= zipnn", rz <= 1.0))
            else:
                verdicts.append((f"{dtype} {kind}: median <= zipnn", rz <= 1.0))
        worst = max(sub, key=lambda r: r["alcm_over_best"])
        print(f"worst tensor against the best baseline: {worst['alcm_over_best']:.4f}x "
              f"({worst['file']})")
        verdicts.append((f"{dtype}: no tensor above 1.005x the best baseline",
                         worst["alcm_over_best"] <= 1.005))
        tot = sum(r["raw_bytes"] for r in sub) / 1e6
        print("MB/s (all tensors, one thread)  " + "  ".join(
            f"{c}: {tot / sum(r[f'{c}_enc_s'] for r in sub):.0f} / "
            f"{tot / sum(r[f'{c}_dec_s'] for r in sub):.0f}" for c in CODECS)
            + "   (compress / decompress)")
        for d in ["enc", "dec"]:
            a = tot / sum(r[f"alcm_{d}_s"] for r in sub)
            z = tot / sum(r[f"zipnn_{d}_s"] for r in sub)
            verdicts.append((f"{dtype}: {'compress' if d == 'enc' else 'decompress'} MB/s "
                             f">= zipnn ({a:.0f} vs {z:.0f})", a >= z))
    print("\n== targets")
    for name, ok in verdicts:
        print(f"{'met    ' if ok else 'NOT met'}  {name}")

    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        dtypes = ["float32", "bfloat16", "float16"]
        fig, axes = plt.subplots(1, 3, figsize=(16, 4.5))
        for ax, dtype in zip(axes, dtypes):
            sub = [r for r in rows if r["dtype"] == dtype]
            ks = sorted({r["kind"] for r in sub})
            x = np.arange(len(ks))
            for j, c in enumerate(CODECS):
                med = [statistics.median(r[f"{c}_bits"] for r in sub if r["kind"] == k)
                       for k in ks]
                ax.bar(x + (j - 2) * 0.16, med, 0.16, label=c)
            ax.set_xticks(x, ks, rotation=30, ha="right", fontsize=8)
            ax.set_title(f"{dtype}: median bits/value per kind (lower is better)")
        axes[0].legend(fontsize=8)
        fig.tight_layout()
        fig.savefig(out_dir / "lossless.png", dpi=110)
    except ImportError:
        print("matplotlib missing: no plot", file=sys.stderr)


if __name__ == "__main__":
    main()
