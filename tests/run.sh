#!/usr/bin/env bash
# The one test command: install dependencies, build with warnings as errors, run the whole ctest
# suite, then again under AddressSanitizer + UBSan, then the fuzz targets for a bounded time.
# Exit non-zero on any failure.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
JOBS=$(nproc 2>/dev/null || echo 2)

bash deploy/install-deps.sh

# Formatting is part of the build: .clang-format with the clang-format it names (14, Debian 12's).
echo "=== format: clang-format-14 --dry-run over every committed .c and .h"
if ! git ls-files -z '*.c' '*.h' | xargs -0 clang-format-14 --dry-run --Werror; then
  echo "tests/run.sh: files above are not formatted; run:" \
    "git ls-files -z '*.c' '*.h' | xargs -0 clang-format-14 -i" >&2
  exit 1
fi

PASSED=0
FAILED=0
run_suite() { # name, build dir, extra cmake args...
  local name=$1 dir=$2 log
  shift 2
  echo "=== $name: configure and build ($dir)"
  cmake -S "$ROOT" -B "$dir" -DREFBUS_WERROR=ON "$@" >/dev/null
  cmake --build "$dir" -j "$JOBS"
  echo "=== $name: ctest"
  log=$(mktemp)
  (cd "$dir" && ctest --output-on-failure -j "$JOBS") 2>&1 | tee "$log"
  # "100% tests passed, 0 tests failed out of 34" -> count both
  local total failed
  total=$(sed -n 's/.*tests failed out of \([0-9]*\).*/\1/p' "$log" | tail -n 1)
  failed=$(sed -n 's/.* \([0-9]*\) tests failed out of.*/\1/p' "$log" | tail -n 1)
  rm -f "$log"
  PASSED=$((PASSED + ${total:-0} - ${failed:-0}))
  FAILED=$((FAILED + ${failed:-0}))
}

run_suite "release" build -DCMAKE_BUILD_TYPE=RelWithDebInfo

export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1:strict_string_checks=1
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
run_suite "asan+ubsan" build-asan -DCMAKE_BUILD_TYPE=Debug -DREFBUS_SANITIZE=ON

if command -v clang >/dev/null 2>&1; then
  echo "=== fuzz: build (clang, libFuzzer)"
  CC=clang cmake -S "$ROOT" -B build-fuzz -DREFBUS_FUZZ=ON -DREFBUS_WERROR=ON \
    -DCMAKE_BUILD_TYPE=Debug >/dev/null
  cmake --build build-fuzz -j "$JOBS" --target refbus_fuzz_targets
  # Time: REFBUS_FUZZ_SECONDS per target when set; otherwise a total budget
  # (REFBUS_FUZZ_TOTAL_SECONDS, default 360) shared by the targets, 15..30 s each.
  targets=(build-fuzz/fuzz/fuzz_*)
  per=${REFBUS_FUZZ_SECONDS:-}
  if [ -z "$per" ]; then
    per=$((${REFBUS_FUZZ_TOTAL_SECONDS:-360} / ${#targets[@]}))
    [ "$per" -gt 30 ] && per=30
    [ "$per" -lt 15 ] && per=15
  fi
  mkdir -p build-fuzz/artifacts
  for f in "${targets[@]}"; do
    [ -x "$f" ] || continue
    name=$(basename "$f")
    corpus="tests/fuzz/corpus/${name#fuzz_}"
    work=$(mktemp -d)
    [ -d "$corpus" ] && cp -r "$corpus"/. "$work"/
    echo "=== fuzz: $name (${per}s; a crash input lands in build-fuzz/artifacts/)"
    "$f" -max_total_time="$per" -max_len=65536 -print_final_stats=1 \
      -artifact_prefix=build-fuzz/artifacts/"$name"- "$work" 2>&1 | tail -n 4
    rm -rf "$work"
  done
else
  echo "=== fuzz: skipped (clang not installed)"
fi
echo "tests/run.sh: all suites passed (release, asan+ubsan, fuzz)"
echo "refbus: $PASSED passed, $FAILED failed"
