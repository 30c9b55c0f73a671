"""Writes the hostile model files of issue 13 (used by tests/c/test_hostile.c and
tests/hostile_inputs.rs). Standard library only; deterministic output.

    python3 tests/data/hostile/make_fixtures.py
"""
import os
import struct
import zipfile

HERE = os.path.dirname(os.path.abspath(__file__))


def npy(shape, values=None, nbytes=None, dtype="<f8"):
    """A version 1.0 .npy: header for `shape`, then `values` (float64) or `nbytes` zeros."""
    dims = "".join(f"{d}," if len(shape) == 1 else f"{d}, " for d in shape).rstrip(" ")
    if len(shape) > 1:
        dims = dims.rstrip(",")
    header = f"{{'descr': '{dtype}', 'fortran_order': False, 'shape': ({dims}), }}"
    header += " " * (64 - (10 + len(header) + 1) % 64) + "\n"
    head = b"\x93NUMPY\x01\x00" + struct.pack("<H", len(header)) + header.encode()
    if values is not None:
        return head + struct.pack(f"<{len(values)}d", *values)
    return head + bytes(nbytes)


def write(name, members, method=zipfile.ZIP_DEFLATED):
    path = os.path.join(HERE, name)
    with zipfile.ZipFile(path, "w", compression=method, compresslevel=9) as z:
        for key, data in members:
            info = zipfile.ZipInfo(key + ".npy", date_time=(1980, 1, 1, 0, 0, 0))
            info.compress_type = method
            z.writestr(info, data)
    print(path, os.path.getsize(path))


def model(h=2, min_bits=0.2, max_bits=0.9):
    """A prototype-format model (the original's seven keys) with hidden size h."""
    return [
        ("W1", npy((6, h), [0.01 * (i + 1) for i in range(6 * h)])),
        ("b1", npy((h,), [0.0] * h)),
        ("W2", npy((h, 1), [0.5] * h)),
        ("b2", npy((1,), [0.0])),
        ("hidden_size", npy((), nbytes=0, dtype="<i8") + struct.pack("<q", h)),
        ("min_bits", npy((), [min_bits])),
        ("max_bits", npy((), [max_bits])),
    ]


# W1's npy header declares (6, 64) float64 (3 KiB), the member holds 3 MiB more zeros: the
# archive's own sizes and CRC are right, so only the npy header tells the lie.
write("model_w1_inflates_past_header.npz", [("W1", npy((6, 64), nbytes=3 << 20))])
# W1 honestly declares (6, 1 << 20) float64 = 48 MiB: more than any model member may hold.
write("model_w1_48mib.npz", [("W1", npy((6, 1 << 20), nbytes=48 << 20))])
# Allocation ranges outside [0, 1] (issue 13, finding 8).
write("model_min_bits_negative.npz", model(min_bits=-1.0), zipfile.ZIP_STORED)
write("model_max_bits_1e308.npz", model(max_bits=1e308), zipfile.ZIP_STORED)
