#!/bin/bash
# Per-call compress instructions (callgrind) of small data tensors, for comparing builds:
#   bash tools/scripts/compress_calls.sh OLD_DECODE_AB NEW_DECODE_AB ...
# (copies of target/release/decode_ab). Each figure is (I(R2) - I(R1)) / (R2 - R1) for
# `decode_ab compress NPY R` (relative L2 1e-2): the once-per-process table builds cancel.
set -euo pipefail
D=${ALCM_DATA:-../shared/data}/gradients
for t in grad_step00100_fc2.bias:20:120 grad_step00100_fc3.weight:20:120 \
    grad_step00100_fc1.weight:4:12 grad_step00100_fc2.weight:2:6; do
    IFS=: read -r name r1 r2 <<<"$t"
    line="$name"
    for bin in "$@"; do
        count() {
            valgrind --tool=callgrind --callgrind-out-file=/dev/null "$bin" compress \
                "$D/$name.npy" "$1" 2>&1 | awk '/I +refs/ {gsub(",", "", $NF); print $NF}'
        }
        a=$(count "$r1")
        b=$(count "$r2")
        line="$line $(((b - a) / (r2 - r1)))"
    done
    echo "$line"
done
