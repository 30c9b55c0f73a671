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
"$work/build/consumer_shared"   # CMake's build-tree rpath finds libalcm.so
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
pkg-config --exists --print-errors alcm alcm-static
echo "alcm.pc version $(pkg-config --modversion alcm), alcm-static.pc $(pkg-config --modversion alcm-static)"
cc=${CC:-gcc}
needs_so() { readelf -d "$1" | grep -q 'NEEDED.*\[libalcm.so\]'; }
# No LD_LIBRARY_PATH from here on: the programs must start as built.
unset LD_LIBRARY_PATH
# Shared (alcm.pc): the run path in Libs finds the library.
# shellcheck disable=SC2046
"$cc" -std=c99 -Wall -Wextra -Werror "$here/main.c" -o "$work/pc_shared" \
  $(pkg-config --cflags --libs alcm) -lm
needs_so "$work/pc_shared" || { echo "FAIL: alcm.pc did not link libalcm.so" >&2; exit 1; }
"$work/pc_shared"
# Static (alcm-static.pc): the archive, no libalcm.so.
# shellcheck disable=SC2046
"$cc" -std=c99 -Wall -Wextra -Werror "$here/main.c" -o "$work/pc_static" \
  $(pkg-config --cflags --libs alcm-static) -lm
! needs_so "$work/pc_static" || { echo "FAIL: alcm-static.pc linked libalcm.so" >&2; exit 1; }
"$work/pc_static"
# Fully static (`cc -static` with `pkg-config --static --libs alcm`): libalcm.a and libc.a.
if [[ -e "$("$cc" -print-file-name=libc.a)" && "$("$cc" -print-file-name=libc.a)" == /* ]]; then
  # shellcheck disable=SC2046
  "$cc" -static -std=c99 -Wall -Wextra -Werror "$here/main.c" -o "$work/pc_full_static" \
    $(pkg-config --cflags --static --libs alcm) -lm 2>"$work/static.log" \
    || { cat "$work/static.log"; exit 1; }
  ! readelf -d "$work/pc_full_static" 2>/dev/null | grep -q NEEDED \
    || { echo "FAIL: cc -static with alcm --static is not static" >&2; exit 1; }
  "$work/pc_full_static"
else
  echo "(no libc.a: fully static link not tried)"
fi

echo "== the README's C example, compiled as C with the README's commands"
readme="$repo/README.md"
# The first ```c block of the README.
awk '/^```c$/ {on=1; next} on && /^```$/ {exit} on {print}' "$readme" > "$work/app.c"
grep -q 'alcm_encoder_compress' "$work/app.c" || { echo "FAIL: no C example in $readme" >&2; exit 1; }
(
  cd "$work"
  # shellcheck disable=SC2046
  "$cc" -std=c99 -Wall -Wextra -Werror app.c $(pkg-config --cflags --libs alcm) -o app_shared
  # shellcheck disable=SC2046
  "$cc" -std=c99 -Wall -Wextra -Werror app.c $(pkg-config --cflags --libs alcm-static) -o app_static
  "$cc" -std=c99 -Wall -Wextra -Werror app.c -I"$prefix/include" "$prefix/lib/libalcm.a" \
    -lpthread -ldl -lm -o app_by_hand
  for p in app_shared app_static app_by_hand; do
    out=$("./$p")
    echo "$p: $out"
    # Success, and y[4] (x[1][1] = 2.5) back within the max-abs bound 1e-3.
    [[ $out == "ALCM_OK: "* ]] && awk -v s="${out##*= }" 'BEGIN {d = s - 2.5; exit !(d <= 1e-3 && d >= -1e-3)}' \
      || { echo "FAIL: $p printed '$out'" >&2; exit 1; }
  done
)
echo "cmake_consumer: all passed"
