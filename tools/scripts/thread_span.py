#!/usr/bin/env python3
"""Serial share of a threaded compress in instructions (deterministic, unlike timings on a
shared machine): callgrind with --separate-threads=yes runs `profile_once` with 1 and 3
compressions at 1 and 2 threads; the difference is the cost of two calls without the
once-per-process table builds. With 2 threads, the calling thread's instructions (serial work
plus its share) and the workers' (at most one runs beside it) give a lower bound on the span,
so `I(1 thread) / max(main, workers)` bounds the speed-up of two free cores.

python3 tools/scripts/thread_span.py [BINARY] [NPY] [EPS]
(BINARY default target/release/profile_once; NPY default the MiniLM word embeddings.)
"""
import glob, os, re, subprocess, sys, tempfile

binary = sys.argv[1] if len(sys.argv) > 1 else "target/release/profile_once"
npy = sys.argv[2] if len(sys.argv) > 2 else \
    "../shared/data/weights/minilm_embeddings.word_embeddings.weight_rows1000-7143.npy"
eps = sys.argv[3] if len(sys.argv) > 3 else "1e-2"


def per_thread(threads, reps):
    """Instructions per thread (main first) of one run."""
    with tempfile.TemporaryDirectory() as d:
        out = os.path.join(d, "cg.out")
        subprocess.run(["valgrind", "--tool=callgrind", "--separate-threads=yes",
                        f"--callgrind-out-file={out}", binary, npy, eps, str(threads), "c",
                        str(reps)], check=True, capture_output=True)
        counts = []
        for f in glob.glob(out + "*"):
            m = re.search(r"-(\d+)$", f)
            tid = int(m.group(1)) if m else 1
            for line in open(f):
                if line.startswith("totals:") or line.startswith("summary:"):
                    counts.append((tid, int(line.split()[1])))
                    break
        counts.sort()
        return counts[0][1], sum(c for _, c in counts[1:])


m1a, _ = per_thread(1, 1)
m1b, _ = per_thread(1, 3)
one = (m1b - m1a) / 2
m2a, w2a = per_thread(2, 1)
m2b, w2b = per_thread(2, 3)
main, workers = (m2b - m2a) / 2, (w2b - w2a) / 2
print(f"{npy.rsplit('/', 1)[-1]} eps {eps}: per call, 1 thread {one / 1e6:.1f} M instructions; "
      f"2 threads: calling thread {main / 1e6:.1f} M, workers {workers / 1e6:.1f} M "
      f"(total {(main + workers) / one:.3f}x); bound on the speed-up "
      f"{one / max(main, workers):.3f}")
