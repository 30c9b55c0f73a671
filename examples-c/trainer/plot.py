#!/usr/bin/env python3
"""Plots test accuracy against cumulative gradient bytes sent (per worker), one line per mode,
from the trainer's CSV (--csv). Several seeds are averaged per (mode, epoch).

    pip install matplotlib        # not needed by run_ci.sh
    python3 plot.py results.csv accuracy_vs_bytes.png
"""
import csv
import sys
from collections import defaultdict

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def main(src, dst):
    acc = defaultdict(list)
    cum = defaultdict(list)
    order = []
    with open(src, newline="") as f:
        for row in csv.DictReader(f):
            key = (row["mode"], int(row["epoch"]))
            if row["mode"] not in order:
                order.append(row["mode"])
            acc[key].append(float(row["test_acc"]))
            cum[key].append(float(row["cum_bytes"]))
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for mode in order:
        epochs = sorted(e for (m, e) in acc if m == mode)
        xs = [sum(cum[(mode, e)]) / len(cum[(mode, e)]) / 1e6 for e in epochs]
        ys = [sum(acc[(mode, e)]) / len(acc[(mode, e)]) for e in epochs]
        ax.plot(xs, ys, marker="o", markersize=3, label=mode)
    ax.set_xscale("log")
    ax.set_xlabel("cumulative gradient bytes sent per worker (MB, log scale)")
    ax.set_ylabel("test accuracy (%)")
    ax.set_title("digits MLP 64-256-128-10, data-parallel, alcm-compressed gradients")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(dst, dpi=120)
    print(f"wrote {dst}")


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit("usage: plot.py results.csv out.png")
    main(sys.argv[1], sys.argv[2])
