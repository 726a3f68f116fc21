#!/usr/bin/env bash
# cvrelay against coturn on this machine, measured the same way by cvbench (docs/benchmarks.md).
# Installs what is missing, builds release, then runs every phase on both servers, alternating
# them (coturn, cvrelay, coturn, cvrelay, ...) for --pairs pairs, each server pinned to one core
# and cvbench to the other, a fresh server process for every run. Prints one table: for each
# figure the coturn median, the cvrelay median, the median of the per-pair ratios and their
# min-max, against the target of ../shared/BENCHMARKS.md. It is a measurement, never a test: it
# fails only when a server or cvbench cannot run.
set -euo pipefail

usage() {
  cat <<'EOF'
Usage: scripts/bench-vs-coturn.sh [--pairs N] [--phases LIST] [--quick] [--out DIR]
                                  [--no-setup] [--no-build] [-h]
  --pairs N      alternating coturn/cvrelay pairs per phase (default 5, at least 1)
  --phases LIST  comma-separated subset of: efficiency,capacity,latency,bursts,churn,idle,binding
                 (default: all; latency runs at fractions of coturn's capacity, so it needs
                 capacity in the same run)
  --quick        short phases for a try-out (figures are noisier; not for publishing)
  --out DIR      where results go (default build/bench/<UTC time>); the table is DIR/table.md,
                 every cvbench run is DIR/<phase>-<pair>-<server>.json, server logs beside them
  --no-setup     skip scripts/setup.sh (packages already installed)
  --no-build     use the binaries already in build/bin (else: release build of cvrelay
                 and cvbench into build/, as scripts/build.sh release makes them)
Needs root (it stops a packaged coturn service) and an open-file limit of at least 12000.
EOF
}

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

pairs=5
phases="efficiency,capacity,latency,bursts,churn,idle,binding"
quick=0
out=""
setup=1
build=1
while [[ $# -gt 0 ]]; do
  case "$1" in
    --pairs)
      [[ $# -ge 2 && $2 =~ ^[0-9]+$ && $2 -ge 1 ]] ||
        { echo "bench-vs-coturn: --pairs needs a number >= 1" >&2; exit 2; }
      pairs="$2"; shift ;;
    --phases)
      [[ $# -ge 2 ]] || { echo "bench-vs-coturn: --phases needs a list" >&2; exit 2; }
      phases="$2"; shift ;;
    --quick) quick=1 ;;
    --out)
      [[ $# -ge 2 ]] || { echo "bench-vs-coturn: --out needs a directory" >&2; exit 2; }
      out="$2"; shift ;;
    --no-setup) setup=0 ;;
    --no-build) build=0 ;;
    -h | --help) usage; exit 0 ;;
    *) echo "bench-vs-coturn: unknown argument: $1" >&2; usage >&2; exit 2 ;;
  esac
  shift
done

all_phases=(efficiency capacity latency bursts churn idle binding)
IFS=, read -r -a wanted <<<"$phases"
for p in "${wanted[@]}"; do
  [[ " ${all_phases[*]} " == *" $p "* ]] ||
    { echo "bench-vs-coturn: unknown phase '$p' (known: ${all_phases[*]})" >&2; exit 2; }
done
has_phase() { [[ ",$phases," == *",$1,"* ]]; }
if has_phase latency && ! has_phase capacity; then
  echo "bench-vs-coturn: latency runs at fractions of coturn's capacity; add capacity" >&2
  exit 2
fi
if [[ $(id -u) -ne 0 ]]; then
  echo "bench-vs-coturn: run as root (open-file limit for 10,000 allocations, coturn service)" >&2
  exit 2
fi

if [[ $setup -eq 1 ]]; then bash scripts/setup.sh --quiet; fi
if [[ $build -eq 1 ]]; then
  # The release build of scripts/build.sh, limited to the two programs measured here.
  cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCV_SANITIZE=OFF -DCV_FUZZ=OFF \
    >/dev/null
  cmake --build build --target cvrelay cvbench -j "$(nproc)" >/dev/null
fi
for bin in build/bin/cvrelay build/bin/cvbench /usr/bin/turnserver; do
  [[ -x $bin ]] || { echo "bench-vs-coturn: $bin is missing" >&2; exit 1; }
done

# A packaged coturn (started by its Debian service) would hold the port and share the cores.
if pgrep -u turnserver -x turnserver >/dev/null 2>&1; then
  echo "bench-vs-coturn: stopping the packaged coturn service"
  pkill -u turnserver -x turnserver || true
fi

# 10,000 allocations need 10,000 client sockets in cvbench and as many relay sockets in each
# server, plus listeners and logs: the soft open-file limit goes up to the hard one (a container
# may not let even root raise the hard limit).
ulimit -n 200000 2>/dev/null || ulimit -n "$(ulimit -Hn)"
if [[ $(ulimit -n) != unlimited && $(ulimit -n) -lt 12000 ]]; then
  echo "bench-vs-coturn: the open-file limit is $(ulimit -n); the idle phase needs 12000" >&2
  exit 1
fi

if [[ -z $out ]]; then out="build/bench/$(date -u +%Y%m%dT%H%M%SZ)"; fi
mkdir -p "$out"
out="$(cd "$out" && pwd)"
work="$(mktemp -d "${TMPDIR:-/tmp}/cvbench.XXXXXX")"
server_pid=""
cleanup() {
  if [[ -n $server_pid ]]; then kill -TERM "$server_pid" 2>/dev/null || true; fi
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# --- Same conditions for both servers ----------------------------------------------------------
cores="$(nproc)"
server_cpu=0
bench_cpu=$((cores > 1 ? 1 : 0))
secret="$(head -c 24 /dev/urandom | base64 | tr -d '/+=')"
realm="bench.cvrelay.test"
port=34780
min_port=20000
max_port=59999

common_flags=(
  --listening-ip=127.0.0.1 --listening-port="$port" --relay-ip=127.0.0.1
  --min-port="$min_port" --max-port="$max_port"
  --use-auth-secret --static-auth-secret="$secret" --realm="$realm"
  --allow-loopback-peers --no-tcp --no-tls --no-dtls --no-tcp-relay
  --relay-threads=1 --no-stdout-log
)
# What coturn does not have is lifted in cvrelay, so both do the same work: the per-source and
# per-user rate limits (a production safety net that would throttle one load generator on one
# address) and the plan's per-allocation bandwidth cap (claimless REST credentials get the Pro
# plan, whose 4 Mbit/s per allocation would cap the capacity phase). coturn has no such limits.
echo '{"version": 1, "plans": {"pro": {"relay": {"bandwidth_kbps":
  {"audio": 0, "video": 0, "large_group": 0}}}}}' >"$work/plans.json"
cvrelay_flags=(
  -n "${common_flags[@]}" --allowed-peer-ip=127.0.0.1 --plans-file="$work/plans.json"
  --unauth-rate=0 --allocate-rate=0 --user-allocate-rate=0
  --auth-failure-limit=0 --user-auth-failure-limit=0
)
coturn_flags=(-n "${common_flags[@]}" --no-cli --simple-log --pidfile="$work/coturn.pid")

# Starts server $1 ("coturn" or "cvrelay") pinned to the server core; sets server_pid.
start_server() {
  local name="$1" log="$2"
  case "$name" in
    coturn) taskset -c "$server_cpu" /usr/bin/turnserver "${coturn_flags[@]}" --log-file="$log" \
      >/dev/null 2>&1 &
      ;;
    # The usage ledger stays on, as in production: metering is part of what is measured.
    cvrelay) rm -f "$work/usage.db"*
      taskset -c "$server_cpu" build/bin/cvrelay "${cvrelay_flags[@]}" --log-file="$log" \
        --usage-db="$work/usage.db" >/dev/null 2>&1 &
      ;;
  esac
  server_pid=$!
  # Ready when it answers a STUN Binding request.
  local i
  for i in $(seq 1 100); do
    if taskset -c "$bench_cpu" build/bin/cvbench --server "127.0.0.1:$port" --secret "$secret" \
      --realm "$realm" --phase binding --binding-sockets 1 --binding-window 1 \
      --binding-seconds 0.1 --quiet >/dev/null 2>&1; then
      return 0
    fi
    if ! kill -0 "$server_pid" 2>/dev/null; then
      echo "bench-vs-coturn: $name exited at start; its log: $log" >&2
      exit 1
    fi
    sleep 0.1
  done
  echo "bench-vs-coturn: $name did not answer STUN on 127.0.0.1:$port within 10 s" >&2
  exit 1
}

stop_server() {
  [[ -n $server_pid ]] || return 0
  kill -TERM "$server_pid" 2>/dev/null || true
  local i
  for i in $(seq 1 50); do
    kill -0 "$server_pid" 2>/dev/null || break
    sleep 0.1
  done
  kill -KILL "$server_pid" 2>/dev/null || true
  wait "$server_pid" 2>/dev/null || true
  server_pid=""
}

# Phase options: the method's defaults, or short ones with --quick.
phase_options() {
  local phase="$1"
  if [[ $quick -eq 1 ]]; then
    case "$phase" in
      efficiency) echo "--allocations 300 --duration 3 --warmup 1" ;;
      capacity) echo "--capacity-step-seconds 1.5" ;;
      latency) echo "--latency-seconds 2" ;;
      bursts) echo "--burst-seconds 4" ;;
      churn) echo "--churn-seconds 3" ;;
      idle) echo "--idle-allocations 2000 --idle-seconds 3" ;;
      binding) echo "--binding-seconds 2" ;;
    esac
  fi
}

# Runs one phase on one server; the JSON lands in $out.
run_one() {
  local phase="$1" pair="$2" name="$3" extra="$4"
  local json="$out/$phase-$pair-$name.json" log="$out/$phase-$pair-$name.log"
  start_server "$name" "$log"
  # shellcheck disable=SC2046,SC2086
  if ! taskset -c "$bench_cpu" build/bin/cvbench --server "127.0.0.1:$port" --secret "$secret" \
    --realm "$realm" --peer-ip 127.0.0.1 --server-pid "$server_pid" --label "$name" \
    --phase "$phase" --json "$json" --quiet $(phase_options "$phase") $extra \
    >"$out/$phase-$pair-$name.txt" 2>&1; then
    echo "bench-vs-coturn: cvbench failed on $name ($phase, pair $pair):" >&2
    tail -n 20 "$out/$phase-$pair-$name.txt" >&2
    stop_server
    exit 1
  fi
  stop_server
}

run_phase() {
  local phase="$1" extra="${2:-}" pair
  for pair in $(seq 1 "$pairs"); do
    printf 'bench-vs-coturn: %-10s pair %d/%d\n' "$phase" "$pair" "$pairs"
    # A B A B ...: coturn first in odd pairs, cvrelay first in even ones, so neither server
    # always runs on a machine the other has just warmed.
    if ((pair % 2 == 1)); then
      run_one "$phase" "$pair" coturn "$extra"
      run_one "$phase" "$pair" cvrelay "$extra"
    else
      run_one "$phase" "$pair" cvrelay "$extra"
      run_one "$phase" "$pair" coturn "$extra"
    fi
  done
}

{
  echo "machine: $(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo)," \
    "$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//')"
  echo "kernel: $(uname -r)"
  echo "coturn: $(dpkg-query -W -f='${Version}' coturn 2>/dev/null || echo unknown)"
  echo "cvrelay: $(git rev-parse --short HEAD 2>/dev/null || echo unknown)"
  echo "pinning: servers on cpu $server_cpu, cvbench on cpu $bench_cpu; $pairs pairs;" \
    "quick=$quick"
} >"$out/machine.txt"
cat "$out/machine.txt"

# Warm-up, not recorded: page cache, CPU frequency, first-start costs of both binaries.
for name in coturn cvrelay; do
  start_server "$name" "$work/warmup-$name.log"
  taskset -c "$bench_cpu" build/bin/cvbench --server "127.0.0.1:$port" --secret "$secret" \
    --realm "$realm" --peer-ip 127.0.0.1 --phase efficiency --allocations 100 --duration 1 \
    --warmup 0.5 --quiet >/dev/null 2>&1 || true
  stop_server
done

for phase in "${all_phases[@]}"; do
  has_phase "$phase" || continue
  if [[ $phase == latency ]]; then
    # Added latency at 20%, 50% and 80% of coturn's capacity measured above.
    rates="$(python3 scripts/bench_summary.py latency-rates "$out" 0.2,0.5,0.8)"
    run_phase latency "--latency-rates $rates"
  else
    run_phase "$phase"
  fi
done

python3 scripts/bench_summary.py table "$out" | tee "$out/table.md"
echo "bench-vs-coturn: results in $out"
