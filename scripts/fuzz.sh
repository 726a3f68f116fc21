#!/usr/bin/env bash
# Runs every libFuzzer target of the fuzz build for a bounded time, on a copy of its corpus.
set -euo pipefail

usage() {
  cat <<'EOF'
Usage: scripts/fuzz.sh [-t SECONDS] [--no-build] [TARGET...]
Builds the fuzz build (scripts/build.sh fuzz) unless --no-build, then runs each libFuzzer
target build-fuzz/bin/*_fuzz (or only the TARGETs named) for SECONDS each (default 30).
Seed corpus: tests/fuzz/corpus/<name>/, where <name> is the target's name without "_fuzz",
up to its first "_" (stun_codec_fuzz -> tests/fuzz/corpus/stun). The corpus is copied to a
temp dir, so the repo is never modified. A crash fails the run; its reproducer is kept in
build-fuzz/artifacts/<target>/ and printed.
EOF
}

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

seconds=30
build=1
targets=()
while [[ $# -gt 0 ]]; do
  case "$1" in
    -t | --time)
      [[ $# -ge 2 && $2 =~ ^[0-9]+$ && $2 -gt 0 ]] ||
        { echo "fuzz.sh: $1 needs a positive number of seconds" >&2; exit 2; }
      seconds="$2"; shift ;;
    --no-build) build=0 ;;
    -h | --help) usage; exit 0 ;;
    -*) echo "fuzz.sh: unknown option: $1" >&2; usage >&2; exit 2 ;;
    *) targets+=("$1") ;;
  esac
  shift
done

bin_dir="build-fuzz/bin"
if [[ $build -eq 1 ]]; then
  bash scripts/build.sh fuzz
fi

if [[ ${#targets[@]} -eq 0 ]]; then
  shopt -s nullglob
  for f in "$bin_dir"/*_fuzz; do
    if [[ -f $f && -x $f ]]; then targets+=("$(basename "$f")"); fi
  done
  shopt -u nullglob
  if [[ ${#targets[@]} -eq 0 ]]; then
    echo "fuzz: no fuzz targets (*_fuzz) in $root/$bin_dir; nothing to run"
    exit 0
  fi
fi

work="$(mktemp -d "${TMPDIR:-/tmp}/cvfuzz.XXXXXX")"
trap 'rm -rf "$work"' EXIT

failed=()
for target in "${targets[@]}"; do
  exe="$bin_dir/$target"
  if [[ ! -x $exe ]]; then
    echo "fuzz: no such fuzz target: $exe" >&2
    failed+=("$target")
    continue
  fi
  name="${target%_fuzz}"
  name="${name%%_*}"
  seed="tests/fuzz/corpus/$name"
  corpus="$work/$target/corpus"
  artifacts="build-fuzz/artifacts/$target"
  log="$work/$target/fuzz.log"
  mkdir -p "$corpus" "$artifacts"
  seeds=0
  if [[ -d $seed ]]; then
    cp -R "$seed/." "$corpus/"
    seeds="$(find "$corpus" -type f | wc -l)"
  fi
  echo "fuzz: $target for ${seconds}s (seed corpus: $seed, $seeds files)"
  start=$SECONDS
  run_started="$(date +%s)"
  if "$exe" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
    -artifact_prefix="$artifacts/" "$corpus" >"$log" 2>&1; then
    # One line: runs, speed, corpus size at the end.
    stats="$(grep -E '^stat::(number_of_executed_units|average_exec_per_sec|new_units_added)' \
      "$log" | sed 's/^stat:://' | tr -s ' ' | paste -sd ' ' || true)"
    echo "fuzz: $target OK in $((SECONDS - start))s: ${stats:-no stats}"
  else
    rc=$?
    echo "fuzz: $target FAILED (exit $rc) after $((SECONDS - start))s; last lines of its output:" >&2
    tail -n 60 "$log" >&2
    reproducer="$(find "$artifacts" -maxdepth 1 -type f -newermt "@$run_started" \
      -printf '%T@ %p\n' | sort -rn | head -n 1 | cut -d' ' -f2- || true)"
    if [[ -n $reproducer ]]; then
      echo "fuzz: reproducer: $root/$reproducer" >&2
      echo "fuzz: reproduce with: $root/$exe $root/$reproducer" >&2
    fi
    failed+=("$target")
  fi
done

if [[ ${#failed[@]} -gt 0 ]]; then
  echo "fuzz: ${#failed[@]} of ${#targets[@]} targets failed: ${failed[*]}" >&2
  exit 1
fi
echo "fuzz: all ${#targets[@]} targets ran ${seconds}s each without a crash"
