#!/usr/bin/env bash
# Installs every Debian package CallVault Relay needs to build, test and run.
# Idempotent: asks dpkg what is missing and only then runs apt-get (update once, then install).
set -euo pipefail

usage() {
  cat <<'EOF'
Usage: scripts/setup.sh [--quiet] [-h]
Installs the Debian (bookworm) packages needed to build, test and run CallVault Relay.
Does nothing when everything is installed already. Needs root, or sudo.
  --quiet   print only what gets installed (and errors)
EOF
}

# One package per line; add a package by adding a line.
PACKAGES=(
  # Toolchain
  build-essential
  cmake
  ninja-build
  g++
  clang                 # clang 14 on bookworm: fuzz build, second compiler
  clang-format
  libclang-rt-14-dev    # ASan/UBSan/libFuzzer runtimes for clang
  pkg-config
  # Libraries
  libssl-dev
  libevent-dev
  libsqlite3-dev
  libhiredis-dev
  prometheus-cpp-dev
  nlohmann-json3-dev
  libcli11-dev
  libgtest-dev
  libgmock-dev
  googletest
  libbenchmark-dev
  # Tools used by the relay, its scripts and its tests
  sqlite3
  redis-server
  coturn                # only for its test clients (turnutils_*); its service is kept stopped
  prometheus            # only for the integration test that scrapes cvrelay; service kept stopped
  iproute2
  openssl
  procps
  python3
  curl                  # cvadmin's TLS test, and the README's examples
  nodejs                # jose (npm) checks cvadmin's tokens in an integration test
  # The web client's end-to-end tests (tests/e2e): headless Chromium driven by playwright-core
  # (npm), on network namespaces the tests build with ip (iproute2) and nftables
  chromium
  fonts-dejavu-core     # the text in the demo page's screenshots
  nftables
  util-linux            # setpriv: test processes die with the test that started them
)
# npm comes with NodeSource's nodejs; Debian's nodejs needs Debian's npm beside it.
if ! command -v npm >/dev/null 2>&1; then PACKAGES+=(npm); fi

# Packages whose Debian install may start a system service we do not want running:
# "package:service:process:user" (user = the account the packaged service runs as).
# Acted on only right after this script freshly installed the package, so processes our
# tests started (as another user) are never touched.
NO_SERVICE=(
  coturn:coturn:turnserver:turnserver
  redis-server:redis-server:redis-server:redis
  prometheus:prometheus:prometheus:prometheus
)

quiet=0
while [[ $# -gt 0 ]]; do
  case "$1" in
    --quiet | -q) quiet=1 ;;
    -h | --help) usage; exit 0 ;;
    *) echo "setup.sh: unknown argument: $1" >&2; usage >&2; exit 2 ;;
  esac
  shift
done

say() { if [[ $quiet -eq 0 ]]; then echo "setup: $*"; fi; }

# Packages from PACKAGES that dpkg does not report as installed.
missing_packages() {
  local -A installed=()
  local name status
  # dpkg-query exits non-zero when some name is unknown to it; those simply count as missing.
  while read -r name status; do
    # Status-Abbrev: desired, current, error flag; current 'i' means installed.
    if [[ ${status:1:1} == i ]]; then installed[$name]=1; fi
  done < <(dpkg-query -W -f='${Package} ${db:Status-Abbrev}\n' "${PACKAGES[@]}" 2>/dev/null || true)
  local p
  for p in "${PACKAGES[@]}"; do
    if [[ -z ${installed[$p]:-} ]]; then echo "$p"; fi
  done
}

if ! command -v dpkg-query >/dev/null 2>&1 || ! command -v apt-get >/dev/null 2>&1; then
  echo "setup.sh: this script needs a Debian (bookworm) system with dpkg and apt-get." >&2
  exit 1
fi

mapfile -t missing < <(missing_packages)
if [[ ${#missing[@]} -eq 0 ]]; then
  say "all ${#PACKAGES[@]} packages are installed"
  exit 0
fi

as_root=()
if [[ $EUID -ne 0 ]]; then
  if command -v sudo >/dev/null 2>&1; then
    as_root=(sudo)
  else
    echo "setup.sh: these packages are missing: ${missing[*]}" >&2
    echo "setup.sh: installing them needs root; run this script as root, or install sudo." >&2
    exit 1
  fi
fi

echo "setup: installing ${missing[*]}"
apt_quiet=()
if [[ $quiet -eq 1 ]]; then apt_quiet=(-qq); fi
"${as_root[@]}" env DEBIAN_FRONTEND=noninteractive apt-get "${apt_quiet[@]}" update
"${as_root[@]}" env DEBIAN_FRONTEND=noninteractive apt-get "${apt_quiet[@]}" install -y \
  --no-install-recommends -o Dpkg::Use-Pty=0 "${missing[@]}" </dev/null

mapfile -t still_missing < <(missing_packages)
if [[ ${#still_missing[@]} -gt 0 ]]; then
  echo "setup.sh: still missing after apt-get install: ${still_missing[*]}" >&2
  exit 1
fi

# Stop (and on systemd, disable) the services that fresh installs may have started.
systemd_running() { [[ -d /run/systemd/system ]] && command -v systemctl >/dev/null 2>&1; }
for entry in "${NO_SERVICE[@]}"; do
  IFS=: read -r pkg service process user <<<"$entry"
  [[ " ${missing[*]} " == *" $pkg "* ]] || continue
  if systemd_running; then
    "${as_root[@]}" systemctl disable --now "$service" >/dev/null 2>&1 || true
  fi
  # Without systemd, `service X stop` is not used: coturn's init script stops every
  # turnserver on the machine. The packaged daemon runs as its own user; stop only that.
  if pgrep -u "$user" -x "$process" >/dev/null 2>&1; then
    "${as_root[@]}" pkill -TERM -u "$user" -x "$process" || true
    for _ in 1 2 3 4 5 6 7 8 9 10; do
      pgrep -u "$user" -x "$process" >/dev/null 2>&1 || break
      sleep 0.5
    done
    "${as_root[@]}" pkill -KILL -u "$user" -x "$process" 2>/dev/null || true
  fi
  say "made sure the $service service installed with $pkg is not running"
done

say "installed ${#missing[@]} package(s)"
