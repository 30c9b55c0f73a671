#!/usr/bin/env python3
"""An independent implementation of examples/common/mod.rs::synthetic (the speed example's
1024 x 1024 tensors: 64-bit LCG, Box-Muller, log-normal row/column scales for the gradient),
for the CRC-32 constants of tools/tests/synthetic_npy.rs. Pure Python, about a minute.

    python3 tools/scripts/synthetic_reference.py [DIR]

Prints each tensor's CRC-32 of its <f4 bytes; with DIR (synthetic_npy's output) also whether
the written .npy holds the same bits.
"""
import math
import sys
import zlib
from pathlib import Path

import numpy as np

MASK = (1 << 64) - 1
TENSORS = [("synthetic_rank1_gradient_1024x1024.npy", 1, True),
           ("synthetic_gaussian_weight_1024x1024.npy", 2, False)]


def synthetic(seed, rank1, rows=1024, cols=1024):
    s = seed

    def rnd():
        nonlocal s
        s = (s * 6364136223846793005 + 1442695040888963407) & MASK
        return ((s >> 11) + 0.5) / float(1 << 53)

    def gauss():
        u, v = rnd(), rnd()
        return math.sqrt(-2.0 * math.log(u)) * math.cos(2.0 * math.pi * v)

    rs = [math.exp(gauss() * 1.5) if rank1 else 1.0 for _ in range(rows)]
    cs = [math.exp(gauss() * 1.0) if rank1 else 1.0 for _ in range(cols)]
    out = np.array([gauss() * ri * cj * 1e-3 for ri in rs for cj in cs], dtype=np.float64)
    return out.astype("<f4")


def main():
    d = Path(sys.argv[1]) if len(sys.argv) > 1 else None
    for name, seed, rank1 in TENSORS:
        x = synthetic(seed, rank1)
        line = f"{name} crc32 0x{zlib.crc32(x.tobytes()):08x}"
        if d is not None:
            y = np.load(d / name)
            line += f" file equal: {y.shape == (1024, 1024) and y.astype('<f4').tobytes() == x.tobytes()}"
        print(line)


if __name__ == "__main__":
    main()
