#!/usr/bin/env bash
# Runs every C test (tests/c/test_*.c)
#   1. built with -fsanitize=address,undefined against the static library, and
#   2. under valgrind --error-exitcode=1 --leak-check=full against the shared library (every
#      leak kind but "still reachable" is an error; tests/c/valgrind.supp documents the one
#      suppression, Rust std's per-thread handle of C's main thread).
#
#   tests/c/run_sanitizers.sh [lib dir]
#
# The lib dir holds libalcm.a and libalcm.so; default: target/debug/deps (where `cargo test`
# leaves them), else target/debug. Build them first, e.g. `cargo test --test c_api` (add
# `--features test-panic` to cover the panic path too; this script passes -DALCM_TEST_PANIC
# when the library exports alcm_debug_trigger_panic).
set -euo pipefail
repo=$(cd "$(dirname "$0")/../.." && pwd)
libdir=${1:-}
if [[ -z "$libdir" ]]; then
  for d in "$repo/target/debug/deps" "$repo/target/debug"; do
    if [[ -f "$d/libalcm.a" && -f "$d/libalcm.so" ]]; then libdir=$d; break; fi
  done
fi
[[ -n "$libdir" && -f "$libdir/libalcm.a" && -f "$libdir/libalcm.so" ]] \
  || { echo "libalcm.a/libalcm.so not found; run cargo test --test c_api first" >&2; exit 2; }
cc=${CC:-gcc}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

defs=()
if nm -D --defined-only "$libdir/libalcm.so" | grep -q ' alcm_debug_trigger_panic$'; then
  defs+=(-DALCM_TEST_PANIC)
fi
cflags=(-std=c11 -D_POSIX_C_SOURCE=200809L -Wall -Wextra -Werror -g -O1
        -I"$repo/include" -I"$repo/tests/c" "${defs[@]}")
syslibs=(-lpthread -ldl -lm)

# Leaks inside the Rust runtime are not expected, so leak detection stays on. A caught panic
# (test-panic) prints its message on stderr; that is expected.
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1:strict_string_checks=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
export RUST_BACKTRACE=0
# The C tests read tests/data and configs/ from the repository root.
export ALCM_TEST_DATA_DIR=$repo

status=0
for src in "$repo"/tests/c/test_*.c; do
  name=$(basename "$src" .c)
  echo "== $name: ASan+UBSan (static)"
  "$cc" "${cflags[@]}" -fsanitize=address,undefined -fno-omit-frame-pointer \
    "$src" "$libdir/libalcm.a" "${syslibs[@]}" -o "$work/$name-asan"
  "$work/$name-asan" 2>"$work/$name-asan.err" || { cat "$work/$name-asan.err"; status=1; }
  grep -i -e "runtime error" -e "AddressSanitizer" "$work/$name-asan.err" && status=1

  echo "== $name: valgrind (shared)"
  "$cc" "${cflags[@]}" "$src" -L"$libdir" -lalcm -Wl,-rpath,"$libdir" "${syslibs[@]}" \
    -o "$work/$name-shared"
  valgrind -q --error-exitcode=1 --leak-check=full \
    --errors-for-leak-kinds=definite,indirect,possible \
    --suppressions="$repo/tests/c/valgrind.supp" \
    "$work/$name-shared" 2>"$work/$name-vg.err" || { cat "$work/$name-vg.err"; status=1; }
  grep -v -e '^ok  ' -e 'panicked at' -e 'alcm_debug_trigger_panic was called' \
    -e 'RUST_BACKTRACE' "$work/$name-vg.err" || true
done
if [[ $status -eq 0 ]]; then echo "sanitizers: all passed"; else echo "sanitizers: FAILED"; fi
exit $status
