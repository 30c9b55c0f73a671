#!/usr/bin/env bash
# Builds and runs the consumer against an installed alcm prefix, with CMake and pkg-config.
#
#   tests/cmake_consumer/run.sh <prefix>
#
# To produce a prefix from a debug build (no release build needed):
#   cargo test --test c_api            # or cargo build
#   cmake -S cmake -B build/cmake -DALCM_LIB_DIR=$PWD/target/debug -DCMAKE_INSTALL_PREFIX=<prefix>
#   cmake --install build/cmake
# (target/debug/deps also holds the libraries after `cargo test`.)
set -euo pipefail
prefix=$(cd "${1:?usage: run.sh <install prefix>}" && pwd)
here=$(cd "$(dirname "$0")" && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# The package must be relocatable: use a copy of the prefix at another path.
cp -a "$prefix" "$work/moved"
original_prefix=$prefix
prefix="$work/moved"
repo=$(dirname "$(dirname "$here")")
if grep -rqF -e "$repo" -e "$original_prefix" "$prefix/lib/cmake" "$prefix/lib/pkgconfig"; then
  echo "FAIL: absolute build paths baked into the package" >&2
  exit 1
fi

echo "== CMake consumer"
cmake -S "$here" -B "$work/build" -DCMAKE_PREFIX_PATH="$prefix" -DCMAKE_BUILD_TYPE=Debug >/dev/null
cmake --build "$work/build" >/dev/null
"$work/build/consumer_static"
LD_LIBRARY_PATH="$prefix/lib" "$work/build/consumer_shared"
"$work/build/consumer_default"
if readelf -d "$work/build/consumer_static" | grep -q 'libalcm'; then
  echo "FAIL: consumer_static depends on libalcm.so" >&2
  exit 1
fi
readelf -d "$work/build/consumer_shared" | grep -q 'NEEDED.*\[libalcm.so\]' \
  || { echo "FAIL: consumer_shared does not need libalcm.so by name" >&2; exit 1; }

echo "== CMake consumer with ALCM_USE_STATIC=OFF"
cmake -S "$here" -B "$work/build-shared" -DCMAKE_PREFIX_PATH="$prefix" -DALCM_USE_STATIC=OFF >/dev/null
cmake --build "$work/build-shared" --target consumer_default >/dev/null
readelf -d "$work/build-shared/consumer_default" | grep -q 'NEEDED.*\[libalcm.so\]' \
  || { echo "FAIL: ALCM_USE_STATIC=OFF did not select the shared library" >&2; exit 1; }
LD_LIBRARY_PATH="$prefix/lib" "$work/build-shared/consumer_default"

echo "== pkg-config"
export PKG_CONFIG_PATH="$prefix/lib/pkgconfig"
pkg-config --exists --print-errors alcm
echo "alcm.pc version $(pkg-config --modversion alcm)"
cc=${CC:-gcc}
# Static: link the archive itself plus the Libs.private system libraries.
# shellcheck disable=SC2046
"$cc" -std=c99 -Wall -Wextra -Werror "$here/main.c" -o "$work/pc_static" \
  $(pkg-config --cflags alcm) "$(pkg-config --variable=libdir alcm)/libalcm.a" \
  $(pkg-config --static --libs-only-l alcm | sed 's/-lalcm\b//') -lm
"$work/pc_static"
# Shared.
# shellcheck disable=SC2046
"$cc" -std=c99 -Wall -Wextra -Werror "$here/main.c" -o "$work/pc_shared" \
  $(pkg-config --cflags --libs alcm) -lm
LD_LIBRARY_PATH="$prefix/lib" "$work/pc_shared"
echo "cmake_consumer: all passed"
