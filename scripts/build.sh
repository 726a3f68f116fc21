#!/usr/bin/env bash
# Configures and builds CallVault Relay with CMake + Ninja.
set -euo pipefail

usage() {
  cat <<'EOF'
Usage: scripts/build.sh [release|debug|asan|fuzz] [-- extra cmake -D options...]
  release  RelWithDebInfo, g++, into build/        (default; binaries in build/bin)
  debug    Debug, g++, into build-debug/            (binaries in build-debug/bin)
  asan     Debug with ASan+UBSan, g++, into build-asan/ (binaries in build-asan/bin)
  fuzz     clang, libFuzzer targets with ASan+UBSan, into build-fuzz/ (build-fuzz/bin/*_fuzz)
Extra arguments go to the CMake configure step, e.g. scripts/build.sh release -DCV_TESTS=OFF
Test binaries land in <dir>/tests. Uses all cores (nproc).
EOF
}

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

mode=release
if [[ $# -gt 0 ]]; then
  case "$1" in
    -h | --help) usage; exit 0 ;;
    release | debug | asan | fuzz) mode="$1"; shift ;;
    -*) ;;
    *) echo "build.sh: unknown mode: $1" >&2; usage >&2; exit 2 ;;
  esac
fi
if [[ ${1:-} == -- ]]; then shift; fi
extra=("$@")

cmake_args=(-G Ninja)
case "$mode" in
  release)
    dir=build
    cmake_args+=(-DCMAKE_BUILD_TYPE=RelWithDebInfo -DCV_SANITIZE=OFF -DCV_FUZZ=OFF)
    ;;
  debug)
    dir=build-debug
    cmake_args+=(-DCMAKE_BUILD_TYPE=Debug -DCV_SANITIZE=OFF -DCV_FUZZ=OFF)
    ;;
  asan)
    dir=build-asan
    cmake_args+=(-DCMAKE_BUILD_TYPE=Debug -DCV_SANITIZE=ON -DCV_FUZZ=OFF)
    ;;
  fuzz)
    dir=build-fuzz
    export CC=clang CXX=clang++
    # -O1 -g without NDEBUG: fast enough to fuzz, and debug asserts stay armed.
    cmake_args+=(-DCMAKE_CXX_COMPILER=clang++ -DCMAKE_BUILD_TYPE=RelWithDebInfo
      "-DCMAKE_CXX_FLAGS_RELWITHDEBINFO=-O1 -g" -DCV_FUZZ=ON -DCV_SANITIZE=ON)
    ;;
esac

for tool in cmake ninja; do
  if ! command -v "$tool" >/dev/null 2>&1; then
    echo "build.sh: '$tool' not found; run scripts/setup.sh first." >&2
    exit 1
  fi
done

# A build dir configured earlier with another generator cannot be switched to Ninja in place.
cache="$dir/CMakeCache.txt"
if [[ -f $cache ]] && ! grep -qx 'CMAKE_GENERATOR:INTERNAL=Ninja' "$cache"; then
  echo "build.sh: $dir/ was configured with another generator; reconfiguring it from scratch."
  rm -rf "$cache" "$dir/CMakeFiles"
fi

jobs="$(nproc 2>/dev/null || echo 2)"
start=$SECONDS
cmake -S . -B "$dir" "${cmake_args[@]}" "${extra[@]}"
cmake --build "$dir" -j "$jobs"

bin="$dir/bin"
echo
echo "build.sh: $mode build done in $((SECONDS - start))s"
if [[ -d $bin ]]; then
  echo "build.sh: binaries in $root/$bin/:"
  find "$bin" -maxdepth 1 -type f -perm -u+x -printf '  %f\n' | sort
else
  echo "build.sh: no binaries in $root/$bin/ yet"
fi
if [[ -d $dir/tests ]]; then
  echo "build.sh: test binaries in $root/$dir/tests/"
fi
