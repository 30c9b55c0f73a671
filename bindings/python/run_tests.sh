#!/usr/bin/env bash
# Tests of the language bindings (called by the project's test command):
#   1. cargo build --release                     (target/release/libalcm.so, libalcm.a)
#   2. pip install numpy pytest, torch (pinned; skipped if that version is there, or with
#      ALCM_SKIP_TORCH=1: then the alcm.torch tests skip), then bindings/python
#   3. pytest bindings/python/tests              (Python binding + Julia coverage check)
#      with ALCM_LIBRARY=<repo>/target/release/libalcm.so
#   4. the C++ consumer test against a temporary installed prefix (skipped with
#      ALCM_SKIP_CPP=1, or when cmake / a C++ compiler is missing -- said so loudly)
# Extra arguments go to pytest.
set -euo pipefail
repo=$(cd "$(dirname "$0")/../.." && pwd)
cd "$repo"
py=${PYTHON:-python3}

cargo build --release --quiet
"$py" -m pip install --quiet --disable-pip-version-check numpy pytest
# bfloat16 arrays (numpy has none): ml_dtypes, pinned.
"$py" -m pip install --quiet --disable-pip-version-check "ml_dtypes==0.5.4"
# torch for alcm.torch's DDP hook tests: ~5 GB with its CUDA packages from PyPI (there is no
# CPU-only wheel there), about 2 minutes, so only when the pinned version is not installed.
torch_pin=2.15.0
if [ "${ALCM_SKIP_TORCH:-0}" = 1 ]; then
  echo "torch install skipped (ALCM_SKIP_TORCH=1): the alcm.torch tests will skip"
elif ! "$py" -c "import sys, torch; sys.exit(torch.__version__.split('+')[0] != '$torch_pin')" 2>/dev/null; then
  "$py" -m pip install --quiet --disable-pip-version-check "torch==$torch_pin"
fi
"$py" -m pip install --quiet --disable-pip-version-check "$repo/bindings/python"

export ALCM_LIBRARY="$repo/target/release/libalcm.so"
# Run from a directory where the source tree's `alcm/` cannot shadow the installed package.
(cd "$repo/bindings/python/tests" && "$py" -m pytest -q -p no:cacheprovider "$@" .)

if [ "${ALCM_SKIP_CPP:-0}" = 1 ]; then
  echo "C++ binding test skipped (ALCM_SKIP_CPP=1)"
elif ! command -v cmake >/dev/null || ! command -v "${CXX:-c++}" >/dev/null; then
  echo "WARNING: C++ binding test skipped: cmake or a C++ compiler is missing" >&2
else
  work=$(mktemp -d)
  trap 'rm -rf "$work"' EXIT
  cmake -S cmake -B "$work/cmake" -DALCM_LIB_DIR="$repo/target/release" >/dev/null
  cmake --install "$work/cmake" --prefix "$work/prefix" >/dev/null
  bindings/cpp/run_test.sh "$work/prefix"
fi
