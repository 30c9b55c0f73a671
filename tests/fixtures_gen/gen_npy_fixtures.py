#!/usr/bin/env python3
"""Generates the .npy fixtures under tests/data/fixtures/ with real numpy.

Run from the crate root:  python3 tests/fixtures_gen/gen_npy_fixtures.py
The Rust tests read the committed outputs; they never run Python.
"""
import os
import shutil

import numpy as np

OUT = os.path.join(os.path.dirname(__file__), "..", "data", "fixtures")
os.makedirs(OUT, exist_ok=True)


def p(name):
    return os.path.join(OUT, name)


# Values are simple formulas so the Rust tests can recompute them independently.
np.save(p("f4_3x4.npy"), (np.arange(12, dtype=np.float32) * np.float32(0.5) - np.float32(3)).reshape(3, 4))
np.save(p("f8_5.npy"), np.array([1.0, -2.5, 1e-300, 3.141592653589793, -0.0], dtype=np.float64))
np.save(p("i8_2x3.npy"), np.array([[0, -1, 2], [9007199254740993, -9223372036854775808, 9223372036854775807]], dtype=np.int64))
np.save(p("i4_4.npy"), np.array([1, -2, 2147483647, -2147483648], dtype=np.int32))
np.save(p("u1_3.npy"), np.array([0, 7, 255], dtype=np.uint8))
np.save(p("b1_4.npy"), np.array([True, False, False, True]))
np.save(p("f8_0d.npy"), np.array(0.75, dtype=np.float64))
np.save(p("i8_0d.npy"), np.array(64, dtype=np.int64))
np.save(p("f4_big_endian_3.npy"), np.array([1.0, -2.0, 0.25], dtype=">f4"))
np.save(p("f4_fortran_2x3.npy"), np.asfortranarray(np.arange(6, dtype=np.float32).reshape(2, 3)))
np.save(p("f4_empty_0x5.npy"), np.zeros((0, 5), dtype=np.float32))
with open(p("f4_v2_2x2.npy"), "wb") as f:
    np.lib.format.write_array(f, np.array([[1, 2], [3, 4]], dtype=np.float32), version=(2, 0))
with open(p("f4_v3_2x2.npy"), "wb") as f:
    np.lib.format.write_array(f, np.array([[1, 2], [3, 4]], dtype=np.float32), version=(3, 0))
shutil.copy("/work/shared/data/gradients/grad_step00001_fc3.bias.npy", p("grad_step00001_fc3.bias.npy"))
# Its values as text (numpy repr, float32 -> shortest decimal), for an independent check.
a = np.load(p("grad_step00001_fc3.bias.npy"))
with open(p("grad_step00001_fc3.bias.txt"), "w") as f:
    f.write(" ".join(repr(float(x)) for x in a.ravel()) + "\n")
print("numpy", np.__version__, "fixtures written to", os.path.abspath(OUT))

# .npz archives: numpy.savez (stored, entries written with force_zip64=True) and
# numpy.savez_compressed (deflate).
members = dict(
    weights=(np.arange(12, dtype=np.float32) * np.float32(0.5) - np.float32(3)).reshape(3, 4),
    count=np.array(64, dtype=np.int64),
    scale=np.array([0.2, 0.9], dtype=np.float64),
)
np.savez(p("savez_stored.npz"), **members)
np.savez_compressed(p("savez_compressed.npz"), **members)
