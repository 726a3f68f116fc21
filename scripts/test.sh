#!/usr/bin/env bash
# The project's test command (README; CI runs it through .ci/run): installs what is missing,
# checks formatting, builds, and runs every test suite. Stops at the first failing step.
set -euo pipefail

usage() {
  cat <<'EOF'
Usage: scripts/test.sh [--quick] [--no-setup] [--fuzz-seconds N] [-h]
Full run (CI): setup, format check, release build, the integration and e2e tests' npm packages
(npm ci), all tests (ctest, every label),
ASan+UBSan build + unit tests, clang fuzz build + a short fuzz pass of every target.
  --quick           setup, format check, release build, unit tests only (for developers)
  --no-setup        skip scripts/setup.sh (packages already installed)
  --fuzz-seconds N  seconds per fuzz target (default 30)
Exit code is non-zero when any step fails.
EOF
}

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

quick=0
setup=1
fuzz_seconds=30
while [[ $# -gt 0 ]]; do
  case "$1" in
    --quick) quick=1 ;;
    --no-setup) setup=0 ;;
    --fuzz-seconds)
      [[ $# -ge 2 && $2 =~ ^[0-9]+$ && $2 -gt 0 ]] ||
        { echo "test.sh: --fuzz-seconds needs a positive number" >&2; exit 2; }
      fuzz_seconds="$2"; shift ;;
    -h | --help) usage; exit 0 ;;
    *) echo "test.sh: unknown argument: $1" >&2; usage >&2; exit 2 ;;
  esac
  shift
done

jobs=2
# Tests without their own TIMEOUT property get this one (seconds).
ctest_common=(--output-on-failure -j "$jobs" --no-tests=error --timeout 300)
main_log="$(mktemp "${TMPDIR:-/tmp}/cvtest.XXXXXX")"
trap 'rm -f "$main_log"' EXIT

# --- Steps -------------------------------------------------------------------------------------
do_setup() { bash scripts/setup.sh --quiet; }
do_format() { bash scripts/check-format.sh; }
do_build_release() { bash scripts/build.sh release; }
# The main suite's output is kept so its summary can close this script's output.
# Node packages the integration tests use (jose), exactly as package-lock.json pins them.
do_js_deps() { npm ci --prefix tests/integration/js --no-audit --no-fund --loglevel=error; }
# And the web client's end-to-end tests (playwright-core; the browser is Debian's chromium).
do_e2e_deps() { npm ci --prefix tests/e2e --no-audit --no-fund --loglevel=error; }
do_ctest_all() { ctest --test-dir build "${ctest_common[@]}" 2>&1 | tee "$main_log"; }
do_ctest_unit() { ctest --test-dir build -L unit "${ctest_common[@]}" 2>&1 | tee "$main_log"; }
do_build_asan() { bash scripts/build.sh asan; }
do_ctest_asan() {
  ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1:strict_string_checks=1}" \
    UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}" \
    ctest --test-dir build-asan -L unit "${ctest_common[@]}"
}
do_build_fuzz() { bash scripts/build.sh fuzz; }
do_fuzz() { bash scripts/fuzz.sh --no-build -t "$fuzz_seconds"; }

steps=()
if [[ $setup -eq 1 ]]; then steps+=("setup:do_setup"); fi
steps+=("format check:do_format" "release build:do_build_release")
if [[ $quick -eq 1 ]]; then
  steps+=("unit tests:do_ctest_unit")
else
  steps+=(
    "js test deps:do_js_deps"
    "e2e test deps:do_e2e_deps"
    "all tests:do_ctest_all"
    "asan build:do_build_asan"
    "asan unit tests:do_ctest_asan"
    "fuzz build:do_build_fuzz"
    "fuzz ${fuzz_seconds}s/target:do_fuzz"
  )
fi

# --- Runner ------------------------------------------------------------------------------------
banner() { printf '\n==================== %s\n' "$*"; }

total_start=$SECONDS
timings=()
n=0
for step in "${steps[@]}"; do
  title="${step%%:*}"
  fn="${step#*:}"
  n=$((n + 1))
  banner "[$n/${#steps[@]}] $title"
  start=$SECONDS
  rc=0
  "$fn" || rc=$?
  took=$((SECONDS - start))
  if [[ $rc -ne 0 ]]; then
    banner "[$n/${#steps[@]}] $title: FAILED (exit $rc) after ${took}s"
    echo "test.sh: FAILED at step '$title' after $((SECONDS - total_start))s total"
    exit "$rc"
  fi
  timings+=("$title ${took}s")
  banner "[$n/${#steps[@]}] $title: OK (${took}s)"
done

banner "SUMMARY"
summary="$(printf '%s, ' "${timings[@]}")"
echo "test.sh: all ${#steps[@]} steps passed in $((SECONDS - total_start))s (${summary%, })"
# Close with ctest's own summary of the main suite, as ctest printed it.
if grep -q 'tests passed, .* tests failed out of' "$main_log"; then
  echo "Main suite (ctest --test-dir build$([[ $quick -eq 1 ]] && echo ' -L unit')):"
  sed -n '/tests passed, .* tests failed out of/,$p' "$main_log"
fi
