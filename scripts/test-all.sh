#!/usr/bin/env bash
# Runs every test of alcm from a fresh machine: installs what it needs (apt-get, pip), then
# the Rust suite, clippy, the C tests under sanitizers and valgrind, the CMake/pkg-config
# package, and the examples. This is the command README.md names and .ci/run calls.
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
cd "$repo"
step() { printf '\n===== %s\n' "$*"; }

step "system packages"
need=()
command -v cmake >/dev/null || need+=(cmake)
command -v valgrind >/dev/null || need+=(valgrind)
command -v pkg-config >/dev/null || need+=(pkg-config)
command -v g++ >/dev/null || need+=(g++)
command -v mpirun >/dev/null && command -v mpicxx >/dev/null || need+=(openmpi-bin libopenmpi-dev)
if [ ${#need[@]} -gt 0 ]; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq "${need[@]}" >/dev/null
fi
echo "cmake $(cmake --version | head -1 | awk '{print $3}'), valgrind $(valgrind --version)"

step "cargo test (Rust suite, header freshness, C tests linked static and shared)"
# cargo's own exit status decides; the log is kept and its summary lines printed.
mkdir -p target
rc=0
cargo test --features test-panic > target/test-all-cargo.log 2>&1 || rc=$?
grep -E '^(test result|running|error)|FAILED|panicked' target/test-all-cargo.log || true
if [ "$rc" -ne 0 ] || grep -qE '^error|FAILED|test result: FAILED' target/test-all-cargo.log; then
  echo "cargo test failed with status $rc (full log: target/test-all-cargo.log)"; exit 1
fi

step "clippy, rustfmt, rustdoc (every public item documented, no broken links)"
cargo clippy --workspace --all-targets --features alcm/test-panic -- -D warnings
cargo fmt --check
RUSTDOCFLAGS="-D warnings" cargo doc --no-deps --quiet

step "C tests under ASan/UBSan and valgrind"
bash tests/c/run_sanitizers.sh

step "release build, CMake install, find_package and pkg-config consumers"
cargo build --release
prefix=$(mktemp -d)
trap 'rm -rf "$prefix"' EXIT
cmake -S cmake -B target/cmake-build -DALCM_LIB_DIR="$repo/target/release" -DCMAKE_INSTALL_PREFIX="$prefix" >/dev/null
cmake --install target/cmake-build >/dev/null
bash tests/cmake_consumer/run.sh "$prefix"

step "C and C++ examples (examples-c: compress a real tensor; train + schedule)"
bash examples-c/run.sh "$prefix"

step "C++ RAII binding (find_package consumer)"
bash bindings/cpp/run_test.sh "$prefix"

step "Python binding (pip install bindings/python; pytest incl. the Julia wrapper coverage check)"
ALCM_SKIP_CPP=1 bash bindings/python/run_tests.sh

step "bench/compare.py (its commands' arguments; --synthetic end to end on tests/data at 1e-1)"
ALCM_LIBRARY="$repo/target/release/libalcm.so" python3 -m pytest -q -p no:cacheprovider bench/test_compare.py

step "C++ data-parallel trainer over MPI (2 ranks, short run; accuracy gap and bit-identical ranks checked)"
bash examples-c/trainer/run_ci.sh "$prefix"

step "main job (demo) and benchmark smoke run"
cargo run --release --example adaptive_train -- --out target/demo-results.json
cargo run --release --example bench -- tests/data > target/bench-smoke.txt && tail -18 target/bench-smoke.txt

step "soak, short (8 threads compress, decompress and run error feedback for 15 s; fails if RSS grows > 16 MiB after warm-up or the heap keeps > 4 KiB after the threads end)"
cargo run --release --example soak -- tests/data --seconds 15

step "alcm command-line tool (cli/: a safetensors model of tests/data through the binary and its library, every mode)"
rc=0
cargo test -p alcm-cli > target/test-all-cli.log 2>&1 || rc=$?
grep -E '^(test result|error)|FAILED|panicked' target/test-all-cli.log || true
[ "$rc" -eq 0 ] || { echo "cargo test -p alcm-cli failed (full log: target/test-all-cli.log)"; exit 1; }

echo
echo "all test stages passed"
