#!/usr/bin/env bash
# Builds and runs the C++ binding's consumer test against an installed alcm prefix.
#
#   bindings/cpp/run_test.sh <prefix>
#
# A prefix comes from:
#   cargo build --release
#   cmake -S cmake -B build/cmake -DALCM_LIB_DIR=$PWD/target/release
#   cmake --install build/cmake --prefix <prefix>
set -euo pipefail
prefix=$(cd "${1:?usage: run_test.sh <install prefix>}" && pwd)
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cmake -S "$here/test" -B "$work/build" -DCMAKE_PREFIX_PATH="$prefix" -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build "$work/build" -j 1 >/dev/null
"$work/build/alcm_cpp_test" "$repo/tests/data"
