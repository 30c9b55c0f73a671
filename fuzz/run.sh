#!/bin/sh
# Runs every fuzz target in turn for the given number of seconds each (default 60), one at a
# time with a single job, over the committed seed corpora (new inputs go to fuzz/corpus-new/,
# not committed). Findings land in fuzz/artifacts/<target>/crash-* and end that target's run.
#
#   fuzz/run.sh 240                 # ~4 min per target
#   fuzz/run.sh 30 decompress peek  # only some targets
#
# Needs cargo-fuzz (cargo install cargo-fuzz); RUSTC_BOOTSTRAP=1 lets it use a stable toolchain.
# Each target's libFuzzer log is kept in fuzz/artifacts/<target>/last-run.log; the summary
# line printed here gives the executions and whether it crashed.
set -u
secs=${1:-60}
shift 2>/dev/null || true
cd "$(dirname "$0")"
targets=${*:-"decompress peek yaml_config predictor_model feedback_state npy roundtrip file_loaders dtype residual_store archive lossless_float exchange_message"}
export RUSTC_BOOTSTRAP=1
status=0
for t in $targets; do
    mkdir -p "corpus-new/$t" "artifacts/$t"
    rm -f fuzz-0.log
    start=$(date +%s)
    # -jobs=1: libFuzzer runs one worker process whose log goes to fuzz-0.log.
    cargo fuzz run "$t" "corpus-new/$t" "corpus/$t" -- \
        -max_total_time="$secs" -jobs=1 -rss_limit_mb=2048 -malloc_limit_mb=512 -max_len=65536 \
        -print_final_stats=1 >"artifacts/$t/driver.log" 2>&1
    cat fuzz-0.log >"artifacts/$t/last-run.log" 2>/dev/null || cp "artifacts/$t/driver.log" "artifacts/$t/last-run.log"
    execs=$(grep -o 'stat::number_of_executed_units: [0-9]*' "artifacts/$t/last-run.log" | tail -1 | grep -o '[0-9]*$')
    crash=$(grep -E 'panicked at|ERROR: libFuzzer|SUMMARY' "artifacts/$t/last-run.log" | head -2 | tr '\n' ' ')
    echo "$t: $(( $(date +%s) - start ))s, ${execs:-?} executions ${crash:+FINDING: $crash}"
    [ -n "$crash" ] && status=1
done
rm -f fuzz-0.log
exit $status
