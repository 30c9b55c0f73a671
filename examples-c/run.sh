#!/usr/bin/env bash
# Builds the C and C++ examples against an installed alcm prefix with CMake, runs them and
# checks their output.
#
#   examples-c/run.sh <prefix>
#
# The prefix comes from:
#   cargo build --release
#   cmake -S cmake -B build/cmake -DCMAKE_INSTALL_PREFIX=<prefix> && cmake --install build/cmake
set -euo pipefail
prefix=$(cd "${1:?usage: examples-c/run.sh <install prefix>}" && pwd)
here=$(cd "$(dirname "$0")" && pwd)
repo=$(dirname "$here")
command -v cmake >/dev/null || { echo "cmake not found (apt-get install -y cmake)" >&2; exit 2; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }

echo "== configure and build examples-c against $prefix"
cmake -S "$here" -B "$work/build" -DCMAKE_PREFIX_PATH="$prefix" -DCMAKE_BUILD_TYPE=Release >"$work/configure.log" \
  || { cat "$work/configure.log"; fail "cmake configure"; }
cmake --build "$work/build" >"$work/build.log" 2>&1 || { cat "$work/build.log"; fail "cmake build"; }
# train_schedule links the static library: it must not need libalcm.so at run time.
if readelf -d "$work/build/train_schedule" | grep -q 'libalcm'; then
  fail "train_schedule depends on libalcm.so (expected alcm::alcm_static)"
fi

echo "== compress_npy (default tensor)"
"$work/build/compress_npy" | tee "$work/compress.out"
grep -q "grad_step00100_fc1.weight.npy, shape 256x64, 16384 values" "$work/compress.out" \
  || fail "compress_npy did not load the default tensor"
grep -q "BOUND FAILED" "$work/compress.out" && fail "compress_npy: a bound was missed"
[[ $(grep -c "bound ok" "$work/compress.out") -eq 4 ]] || fail "compress_npy: expected 4 bounded modes"
grep -q "^lossless .*bound ok (bit-exact)" "$work/compress.out" || fail "lossless is not bit-exact"
# Check the printed errors against the targets independently of the program's verdict.
awk '$1 == "relative_l2" { if ($9 + 0 > $3 + 0) bad = 1 }
     $1 == "max_abs"     { if ($12 + 0 > $3 + 0) bad = 1 }
     $1 ~ /^(lossless|relative_l2|max_abs|adaptive)$/ { modes++; if ($5 + 0 <= 1) bad = 1 }
     END { exit (bad || modes != 5) }' "$work/compress.out" \
  || fail "compress_npy: an error exceeds its target, a ratio is <= 1, or a mode is missing"

echo "== compress_npy (another tensor, given on the command line)"
"$work/build/compress_npy" "$repo/tests/data/weights/minilm_embeddings.LayerNorm.weight.npy" \
  | tee "$work/compress2.out"
grep -q "BOUND FAILED" "$work/compress2.out" && fail "compress_npy: a bound was missed"
if "$work/build/compress_npy" "$repo/tests/data/fixtures/f8_5.npy" >/dev/null 2>&1; then
  fail "compress_npy accepted a float64 file"
fi

echo "== train_schedule (C++17, static library)"
"$work/build/train_schedule" | tee "$work/train.out"
grep -Eq '^trained predictor on [0-9]+ channels: loss [0-9.]+ -> [0-9.]+' "$work/train.out" \
  || fail "train_schedule: no training line"
[[ $(grep -c '^step [0-9]' "$work/train.out") -eq 8 ]] || fail "train_schedule: expected 8 steps"
awk '/^step / { for (i = 1; i <= NF; i++) if ($i == "CAQ") { if ($(i + 1) + 0 <= 0) bad = 1; n++ } }
     END { exit (bad || n != 8) }' "$work/train.out" || fail "train_schedule: a CAQ is not > 0"
grep -Eq '^scheduler: 8 steps, mean CAQ [0-9.]+' "$work/train.out" || fail "train_schedule: no scheduler summary"
echo "examples-c: all passed"
