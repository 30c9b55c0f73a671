#!/usr/bin/env python3
"""Independent expectations for alcm's tensor statistics (GUIDE §1), computed with numpy.

For every .npy under tests/data (and a few hand-made arrays) this writes
tests/data/fixtures/stats.tsv with the statistics of the whole tensor (channel -1) and of each
channel (a slice along axis 0 for rank >= 2; a rank-1 tensor is one channel, index 0).

Definitions, all in float64:
  mean; var = population variance (ddof=0), two-pass; std = sqrt(var), or 1e-8 when var == 0;
  z = (x - mean) / std; skew = mean(z**3); kurtosis = mean(z**4) (not excess);
  sparsity = fraction of values with |x| < 1e-6.
Note: for a constant tensor var is exactly 0 here (the mean of identical float64 values is that
value), so z = 0 and skew = kurtosis = 0, matching alcm.

Run from the repository root:  python3 tests/fixtures_gen/stats_fixtures.py
Columns: name  channel  numel  mean  var  std  skew  kurtosis  sparsity  (repr() precision).
`name` is the path relative to tests/data for files, or `case:<name>` for hand-made arrays
(whose values and shapes are listed in CASES below and repeated in tests/stats_numpy.rs).
"""
import os
import sys

import numpy as np

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "data")
OUT = os.path.join(ROOT, "fixtures", "stats.tsv")

CASES = {
    "constant": np.full(7, 0.25, dtype=np.float32),
    "zeros": np.zeros(5, dtype=np.float32),
    "one_two_three_four": np.array([1, 2, 3, 4], dtype=np.float32),
    "matrix_3x4_zero_row": np.array(
        [[1.0, -2.0, 3.5, 0.0], [0.0, 0.0, 0.0, 0.0], [0.5, 0.25, -8.0, 1e-7]], dtype=np.float32
    ),
}


def stats(x):
    x = np.asarray(x, dtype=np.float64).ravel()
    n = x.size
    if n == 0:
        return [0, 0.0, 0.0, 1e-8, 0.0, 0.0, 0.0]
    mean = float(np.mean(x))
    var = float(np.mean((x - mean) ** 2))
    std = float(np.sqrt(var)) if var > 0 else 1e-8
    z = (x - mean) / std
    skew = float(np.mean(z**3))
    kurt = float(np.mean(z**4))
    sparsity = float(np.mean(np.abs(x) < 1e-6))
    return [n, mean, var, std, skew, kurt, sparsity]


def rows(name, a):
    out = [[name, -1] + stats(a)]
    if a.ndim >= 2:
        for i in range(a.shape[0]):
            out.append([name, i] + stats(a[i]))
    else:
        out.append([name, 0] + stats(a))
    return out


def main():
    table = []
    for sub in ("gradients", "weights"):
        d = os.path.join(ROOT, sub)
        for f in sorted(os.listdir(d)):
            if f.endswith(".npy"):
                a = np.load(os.path.join(d, f), allow_pickle=False)
                assert a.dtype == np.dtype("<f4") and not np.isfortran(a), f
                table += rows(f"{sub}/{f}", a)
    for name, a in CASES.items():
        table += rows(f"case:{name}", a)
    os.makedirs(os.path.dirname(OUT), exist_ok=True)
    with open(OUT, "w") as fh:
        fh.write("name\tchannel\tnumel\tmean\tvar\tstd\tskew\tkurtosis\tsparsity\n")
        for r in table:
            fh.write("\t".join(repr(v) if isinstance(v, float) else str(v) for v in r) + "\n")
    print(f"wrote {len(table)} rows to {os.path.relpath(OUT)} (numpy {np.__version__})", file=sys.stderr)


if __name__ == "__main__":
    main()
