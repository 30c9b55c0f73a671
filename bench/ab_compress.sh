#!/bin/bash
# CPU time of one compress (relative-L2 1e-2, one thread) of two builds of `profile_once`,
# interleaved: per round, each binary's task-clock of REPS+1 compresses minus that of one
# (the once-per-process table builds cancel), divided by REPS; best of ROUNDS per build.
#
#   bash bench/ab_compress.sh OLD_PROFILE_ONCE NEW_PROFILE_ONCE NPY|synthetic-gradient REPS ROUNDS
#
# Needs `perf` (task-clock only: cycle counters are not exposed on every VM).
set -euo pipefail
OLD=$1; NEW=$2; IN=$3; R=$4; N=$5
tc() { perf stat -x, -e task-clock "$@" 2>&1 >/dev/null | grep task-clock | cut -d, -f1; }
bo=inf; bn=inf
for _ in $(seq "$N"); do
  for B in "$OLD" "$NEW"; do
    t1=$(tc "$B" "$IN" 1e-2 1 c 1)
    t2=$(tc "$B" "$IN" 1e-2 1 c $((R + 1)))
    ms=$(python3 -c "print(($t2 - $t1) / $R)")
    if [ "$B" = "$OLD" ]; then
      bo=$(python3 -c "print(min(float('$bo'), $ms))")
    else
      bn=$(python3 -c "print(min(float('$bn'), $ms))")
    fi
  done
done
python3 -c "print(f'old {$bo:.2f} ms  new {$bn:.2f} ms  old/new {$bo / $bn:.3f}')"
