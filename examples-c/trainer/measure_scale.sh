#!/usr/bin/env bash
# Issue 14 measurements (the trainer README's "Scale-out" tables), with mpirun --oversubscribe:
#   1. bytes per rank per step at N = 2, 4, 8, 16 ranks, every exchange and mode (1 epoch:
#      bytes of the last, i.e. the only, epoch);
#   2. test accuracy over seeds 1, 2, 3 at N = 2 and 4 (EPOCHS, default 5) for none,
#      aggressive over allgather and aggressive over alltoall;
#   3. the step-time model's timing inputs: compute / encode / decode ms per worker and step,
#      2 workers simulated in one process (no MPI waits in the figures), 2 epochs, last epoch;
#      3 repeats (step_model.py takes the fastest of each figure: the machine is shared).
# Writes $OUT/bytes.csv, $OUT/accuracy-<EPOCHS>ep.csv, $OUT/timing.csv and the raw logs ($OUT defaults to
# build/scale). STAGES (default "bytes accuracy timing") picks the parts to run.
#
#   examples-c/trainer/measure_scale.sh build/trainer/trainer
set -euo pipefail
trainer=${1:?usage: measure_scale.sh <trainer binary>}
here=$(cd "$(dirname "$0")" && pwd)
out=${OUT:-build/scale}
epochs=${EPOCHS:-5}
mkdir -p "$out"
mpi() { local n=$1; shift; mpirun --allow-run-as-root --oversubscribe -np "$n" "$trainer" --data "$here/data" --workers "$n" --no-checkpoint "$@"; }
# summary lines -> CSV rows: mode,exchange,ranks,test_acc,sent,raw (+ the codec line's times)
to_csv() {
  awk -v extra="$1" '
    /^codec: / { m = $2; sub("mode=", "", m); x = $3; sub("exchange=", "", x);
                 match($0, /step [0-9.]+, compute [0-9.]+, encode [0-9.]+, decode [0-9.]+/);
                 t = substr($0, RSTART, RLENGTH); gsub(/[a-z]+ /, "", t); gsub(/ /, "", t); times[m "," x] = t }
    /^summary: / { row = ""; for (i = 2; i <= NF; ++i) { split($i, kv, "="); row = row (i > 2 ? "," : "") kv[2] }
                   split(row, f, ","); print extra row "," times[f[1] "," f[2]] }'
}
stages=${STAGES:-bytes accuracy timing}
header="seed,mode,exchange,ranks,test_acc,sent_bytes_per_rank_step,raw_allreduce_bytes_per_rank_step,step_ms,compute_ms,encode_ms,decode_ms"
if [[ $stages == *bytes* ]]; then
echo "seeds,mode,exchange,ranks,test_acc,sent_bytes_per_rank_step,raw_allreduce_bytes_per_rank_step,step_ms,compute_ms,encode_ms,decode_ms" >"$out/bytes.csv"
for n in 2 4 8 16; do
  mpi "$n" --epochs 1 --seeds 1 --modes none,original,aggressive,aggressive-nofb --exchange allgather \
    | tee "$out/bytes-allgather-$n.log" | to_csv "1," >>"$out/bytes.csv"
  mpi "$n" --epochs 1 --seeds 1 --modes aggressive,original --exchange alltoall \
    | tee "$out/bytes-alltoall-$n.log" | to_csv "1," >>"$out/bytes.csv"
done
fi
if [[ $stages == *accuracy* ]]; then
echo "$header" >"$out/accuracy-${epochs}ep.csv"
for n in 2 4; do
  for seed in 1 2 3; do
    mpi "$n" --epochs "$epochs" --seeds "$seed" --modes none,aggressive --exchange allgather \
      | tee "$out/acc$epochs-allgather-$n-$seed.log" | to_csv "$seed," >>"$out/accuracy-${epochs}ep.csv"
    mpi "$n" --epochs "$epochs" --seeds "$seed" --modes aggressive --exchange alltoall \
      | tee "$out/acc$epochs-alltoall-$n-$seed.log" | to_csv "$seed," >>"$out/accuracy-${epochs}ep.csv"
  done
done
fi
if [[ $stages == *timing* ]]; then
  echo "$header" >"$out/timing.csv"
  sim() { "$trainer" --data "$here/data" --workers 2 --no-checkpoint --epochs 2 --seeds 1 "$@"; }
  for rep in 1 2 3; do
    sim --modes none,aggressive --exchange allgather | tee "$out/timing-allgather-$rep.log" | to_csv "1," >>"$out/timing.csv"
    sim --modes aggressive --exchange alltoall | tee "$out/timing-alltoall-$rep.log" | to_csv "1," >>"$out/timing.csv"
  done
fi
cat "$out"/*.csv
