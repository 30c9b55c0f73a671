#!/usr/bin/env python3
"""Lossy bfloat16 (and float16) against SZ3 at the same relative L2 error, one process.

For every tensor of the data set (MANIFEST.tsv, as bench/compare.py), the values are cast to
bfloat16 (round to nearest even); alcm compresses that bfloat16 array as bfloat16
(``alcm.compress(x, mode="relative_l2", target=t, dtype="same")``: the bound holds on the
bfloat16 values and the bfloat16 values decoded), SZ3 (pysz; it has no 16-bit input)
compresses the float32 cast of the same values, tuned by bisection to the largest absolute
bound whose relative L2 error meets t (bench/compare.py's ``tune``), without predictor
(sz3-nopred) and with its default interpolation + Lorenzo predictor (sz3). Every error is
measured here with numpy in float64. Prints per-kind medians of bits/value and of the
per-tensor ratio alcm / SZ3, writes a CSV under bench/results/.

    cargo build --release
    ALCM_LIBRARY=target/release/libalcm.so python3 bench/lossy_bf16.py [DATA_DIR] [--target 1e-2]
"""
import argparse
import csv
import statistics
import sys
from pathlib import Path

import ml_dtypes
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import compare  # noqa: E402  (tune, sz3_codec, rel_l2, kinds_of, group_of)

import alcm  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
TYPES = {"bfloat16": np.dtype(ml_dtypes.bfloat16), "float16": np.dtype(np.float16)}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("dir", nargs="?", default=str(ROOT.parent / "shared" / "data"))
    ap.add_argument("--target", type=float, default=1e-2)
    ap.add_argument("--types", default="bfloat16", help="comma list: bfloat16,float16")
    ap.add_argument("--min-values", type=int, default=4096, help="tensors in the medians")
    ap.add_argument("--out", default=str(ROOT / "bench" / "results"))
    a = ap.parse_args()
    d = Path(a.dir)
    kinds = compare.kinds_of(d)
    files = sorted(p for p in d.rglob("*.npy") if p.name in kinds)
    if compare.pysz is None:
        sys.exit("pysz is not installed")
    codecs = {"sz3-nopred": compare.sz3_codec(compare.pysz.szAlgorithm.NOPRED),
              "sz3": compare.sz3_codec(compare.pysz.szAlgorithm.INTERP_LORENZO)}
    t = a.target
    rows = []
    for path in files:
        x = np.load(path)
        if x.dtype.kind != "f" or x.size == 0 or not np.all(np.isfinite(x)):
            continue
        kind = kinds[path.name]
        for tname in a.types.split(","):
            xt = np.ascontiguousarray(x.astype(np.float32).astype(TYPES[tname]))
            x32 = xt.astype(np.float32)  # the same values as float32
            if not np.all(np.isfinite(x32)):
                continue  # float16 overflow of this tensor
            row = dict(file=path.name, kind=kind, group=compare.group_of(kind), values=x.size,
                       dtype=tname, target=t)
            frame = alcm.compress(xt, mode="relative_l2", target=t, dtype="same")
            y = alcm.decompress(frame)
            assert y.dtype == xt.dtype
            row["alcm_bits"] = 8 * len(frame) / x.size
            row["alcm_rel"] = compare.rel_l2(xt.astype(np.float64), y.astype(np.float64))
            assert row["alcm_rel"] <= t, (path.name, row["alcm_rel"])
            # alcm on the float32 cast of the same values, for reference.
            f32 = alcm.compress(x32, mode="relative_l2", target=t)
            row["alcm_f32_bits"] = 8 * len(f32) / x.size
            for cname, (comp, dec) in codecs.items():
                r = compare.tune(comp, dec, x32, t)
                if r is None:
                    row[f"{cname}_bits"], row[f"{cname}_rel"] = float("nan"), float("nan")
                    continue
                _, (_, c, ys) = r
                row[f"{cname}_bits"] = 8 * len(c) / x.size
                row[f"{cname}_rel"] = compare.rel_l2(x32, ys)
            rows.append(row)
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    csv_path = out / f"lossy_16bit_{t:g}.csv"
    with open(csv_path, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0].keys()))
        w.writeheader()
        w.writerows(rows)
    med = statistics.median
    print(f"# Lossy 16-bit input at relative L2 {t:g}: alcm on the 16-bit values vs SZ3 on their "
          f"float32 cast; tensors >= {a.min_values} values (all tensors in brackets)")
    print("| type | kind | tensors | alcm bits | alcm on f32 cast | SZ3-nopred bits | SZ3 bits | "
          "alcm / SZ3-nopred median [max] | alcm / SZ3 median [max] |")
    print("|---|---|---|---|---|---|---|---|---|")
    for tname in a.types.split(","):
        for g in compare.GROUPS + ["all"]:
            sel_all = [r for r in rows if r["dtype"] == tname and (g == "all" or r["group"] == g)]
            sel = [r for r in sel_all if r["values"] >= a.min_values]
            if not sel:
                continue

            def ratio(rs, c):
                v = [r["alcm_bits"] / r[f"{c}_bits"] for r in rs if r[f"{c}_bits"] > 0]
                return f"{med(v):.3f} [{max(v):.3f}]" if v else "-"

            print(f"| {tname} | {g} | {len(sel)} ({len(sel_all)}) | {med([r['alcm_bits'] for r in sel]):.3f} | "
                  f"{med([r['alcm_f32_bits'] for r in sel]):.3f} | "
                  f"{med([r['sz3-nopred_bits'] for r in sel]):.3f} | {med([r['sz3_bits'] for r in sel]):.3f} | "
                  f"{ratio(sel, 'sz3-nopred')} ({ratio(sel_all, 'sz3-nopred')}) | "
                  f"{ratio(sel, 'sz3')} ({ratio(sel_all, 'sz3')}) |")
    print(f"\nwrote {csv_path}")


if __name__ == "__main__":
    main()
