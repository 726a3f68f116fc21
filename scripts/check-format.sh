#!/usr/bin/env bash
# Checks (or with --fix, applies) clang-format on the project's C++ sources.
set -euo pipefail

usage() {
  cat <<'EOF'
Usage: scripts/check-format.sh [--fix] [-h]
Runs clang-format (style: .clang-format at the repo root) over every *.h and *.cc under
relay/ auth-plugin/ admin/ tests/ that git tracks or would track (not ignored).
Lists offending files with their diff and exits 1; --fix rewrites them in place.
Set CLANG_FORMAT to use another clang-format binary.
EOF
}

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

fix=0
while [[ $# -gt 0 ]]; do
  case "$1" in
    --fix) fix=1 ;;
    -h | --help) usage; exit 0 ;;
    *) echo "check-format.sh: unknown argument: $1" >&2; usage >&2; exit 2 ;;
  esac
  shift
done

dirs=(relay auth-plugin admin tests)
clang_format="${CLANG_FORMAT:-clang-format}"
if ! command -v "$clang_format" >/dev/null 2>&1; then
  echo "check-format.sh: '$clang_format' not found; run scripts/setup.sh first." >&2
  exit 1
fi
if [[ ! -f .clang-format ]]; then
  echo "check-format.sh: no .clang-format at $root" >&2
  exit 1
fi

files=()
if git rev-parse --is-inside-work-tree >/dev/null 2>&1; then
  while IFS= read -r -d '' f; do
    # -c also lists tracked files deleted from the work tree; skip those.
    if [[ $f =~ \.(h|cc)$ && -f $f ]]; then files+=("$f"); fi
  done < <(git ls-files -z -co --exclude-standard -- "${dirs[@]}" | sort -zu)
else
  # Not a git checkout (e.g. an exported tree): every file under the folders.
  while IFS= read -r -d '' f; do files+=("$f"); done < <(
    find "${dirs[@]}" -type f \( -name '*.h' -o -name '*.cc' \) -print0 2>/dev/null | sort -z)
fi

if [[ ${#files[@]} -eq 0 ]]; then
  echo "check-format: no *.h/*.cc files under ${dirs[*]}"
  exit 0
fi

bad=()
for f in "${files[@]}"; do
  if ! "$clang_format" --style=file --dry-run -Werror "$f" >/dev/null 2>&1; then bad+=("$f"); fi
done

if [[ ${#bad[@]} -eq 0 ]]; then
  echo "check-format: ${#files[@]} files OK"
  exit 0
fi

if [[ $fix -eq 1 ]]; then
  "$clang_format" --style=file -i "${bad[@]}"
  printf 'check-format: reformatted %s\n' "${bad[@]}"
  exit 0
fi

for f in "${bad[@]}"; do
  echo "--- $f (needs clang-format):"
  "$clang_format" --style=file "$f" | diff -u --label "$f" --label "$f (formatted)" "$f" - |
    head -n 40 || true
done
echo
echo "check-format: ${#bad[@]} of ${#files[@]} files are not clang-formatted:"
printf '  %s\n' "${bad[@]}"
echo "check-format: fix with: scripts/check-format.sh --fix"
exit 1
