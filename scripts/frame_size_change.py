#!/usr/bin/env python3
"""Size change of frames between two `frame_hashes` outputs (old, new).

Lines are joined on their first four fields (tensor, mode, backend, threads); the fifth is the
frame's length. Prints, per group of modes (relative L2 on rANS, relative L2 on the other
backends, everything else), how many frames changed bytes, and the median and largest size
ratio new/old, then the frames that changed most. The typed set (`ALCM_HASH_DTYPES`) has
other fields: pass `--typed` (key: tensor, dtype, mode, threads; length: fifth field too).

    python3 scripts/frame_size_change.py OLD.txt NEW.txt [--top N]
"""
import statistics
import sys


def read(path):
    out = {}
    with open(path) as f:
        for line in f:
            p = line.split()
            if len(p) < 6 or p[4] == "error":
                continue
            out[tuple(p[:4])] = (int(p[4]), p[5:])
    return out


def group(key):
    """The typed lines have no backend (all rANS): their relative-L2 lines count as rANS."""
    if not any(f.startswith("RelativeL2") for f in key):
        return "other modes"
    if "Deflate" in key or "Store" in key:
        return "RelativeL2, deflate and store"
    return "RelativeL2, rANS"


def main():
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    top = 10
    if "--top" in sys.argv:
        top = int(sys.argv[sys.argv.index("--top") + 1])
        args = [a for a in args if a != str(top)]
    old, new = read(args[0]), read(args[1])
    missing = sorted(set(old) ^ set(new))
    if missing:
        print(f"{len(missing)} lines in one file only, e.g. {missing[0]}")
    groups = {}
    for k in sorted(set(old) & set(new)):
        groups.setdefault(group(k), []).append(k)
    for g, keys in sorted(groups.items()):
        ratios = [new[k][0] / old[k][0] for k in keys]
        changed = [k for k in keys if new[k] != old[k]]
        print(
            f"{g}: {len(keys)} frames, {len(changed)} changed bytes; size ratio median "
            f"{statistics.median(ratios):.5f}, max {max(ratios):.5f}, min {min(ratios):.5f}, "
            f"mean {statistics.fmean(ratios):.5f}"
        )
        worst = sorted(keys, key=lambda k: -new[k][0] / old[k][0])[:top]
        for k in worst:
            if new[k][0] != old[k][0]:
                print(f"    {' '.join(k)}: {old[k][0]} -> {new[k][0]} ({new[k][0] / old[k][0]:.5f})")


if __name__ == "__main__":
    main()
