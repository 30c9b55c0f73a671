#!/bin/sh
# Runs every fuzz target in turn for the given number of seconds each (default 60), one at a
# time with a single job, over the committed seed corpora (new inputs go to fuzz/corpus-new/,
# not committed). Findings land in fuzz/artifacts/<target>/ and stop the run of that target.
#
#   fuzz/run.sh 240                 # ~4 min per target
#   fuzz/run.sh 30 decompress peek  # only some targets
#
# Needs cargo-fuzz (cargo install cargo-fuzz); RUSTC_BOOTSTRAP=1 lets it use a stable toolchain.
set -u
secs=${1:-60}
shift 2>/dev/null || true
cd "$(dirname "$0")"
targets=${*:-"decompress peek yaml_config predictor_model feedback_state npy roundtrip"}
export RUSTC_BOOTSTRAP=1
status=0
for t in $targets; do
    mkdir -p "corpus-new/$t" "artifacts/$t"
    echo "=== $t: ${secs}s"
    cargo fuzz run "$t" "corpus-new/$t" "corpus/$t" -- \
        -max_total_time="$secs" -jobs=1 -workers=1 -rss_limit_mb=2048 -max_len=65536 \
        -print_final_stats=1 2>&1 | tee "artifacts/$t/last-run.log" | grep -E "^(#[0-9]+.*(DONE|INITED)|stat::number_of_executed_units|==[0-9]+==|SUMMARY|thread .* panicked|Done )" 
    grep -q "stat::number_of_executed_units" "artifacts/$t/last-run.log" || status=1
done
exit $status
