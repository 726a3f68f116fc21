#!/usr/bin/env bash
# The project's run command (README): installs what is missing, builds, and runs the relay in
# the foreground on defaults, with a REST-API shared secret and a demo credential printed.
set -euo pipefail

usage() {
  cat <<'EOF'
Usage: scripts/run.sh [--no-setup] [--no-build] [--] [cvrelay options...]
Builds (release) and runs build/bin/cvrelay in the foreground with TURN REST-API auth.
Prints the realm, the secret file, a 24-hour demo credential and the browser iceServers entry.
Options after the script's own (or after --) are passed to cvrelay.
Environment:
  CVRELAY_REALM      realm (default callvault.local)
  CVRELAY_PORT       listening port (default 3478)
  CVRELAY_STATE_DIR  where the secret, the control token and the usage ledger are kept
                     (default ~/.local/state/cvrelay)
EOF
}

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

setup=1
build=1
while [[ $# -gt 0 ]]; do
  case "$1" in
    --no-setup) setup=0 ;;
    --no-build) build=0 ;;
    -h | --help) usage; exit 0 ;;
    --) shift; break ;;
    *) break ;;  # the rest belongs to cvrelay
  esac
  shift
done

realm="${CVRELAY_REALM:-callvault.local}"
port="${CVRELAY_PORT:-3478}"
state_dir="${CVRELAY_STATE_DIR:-${HOME:?HOME is not set; set CVRELAY_STATE_DIR}/.local/state/cvrelay}"
secret_file="$state_dir/secret"
relay="$root/build/bin/cvrelay"
cvctl="$root/build/bin/cvctl"
token_file="$state_dir/admin-token"

# --- Install and build -------------------------------------------------------------------------
if [[ $setup -eq 1 ]]; then bash scripts/setup.sh --quiet; fi
if [[ $build -eq 1 ]]; then bash scripts/build.sh release; fi
if [[ ! -x $relay ]]; then
  echo "run.sh: $relay was not built." >&2
  if [[ $build -eq 1 ]]; then
    echo "run.sh: the build has no cvrelay target yet; see the build output above." >&2
  else
    echo "run.sh: build it with scripts/build.sh, or run this script without --no-build." >&2
  fi
  exit 1
fi

# --- Secret and a demo credential ----------------------------------------------------------------
# The REST-API shared secret (draft-uberti-behave-turn-rest): made once, kept private.
if [[ ! -s $secret_file ]]; then
  mkdir -p "$state_dir"
  chmod 700 "$state_dir"
  (umask 077 && openssl rand -hex 32 >"$secret_file.tmp" && mv "$secret_file.tmp" "$secret_file")
fi
chmod 600 "$secret_file"
secret="$(tr -d '[:space:]' <"$secret_file")"

# The control endpoint's bearer token: made once, kept private.
if [[ ! -s $token_file ]]; then
  (umask 077 && openssl rand -hex 24 >"$token_file.tmp" && mv "$token_file.tmp" "$token_file")
fi
chmod 600 "$token_file"

# A demo credential with CallVault claims (docs/auth.md), minted offline by cvctl:
# username = expiry ":" claims; password = base64(HMAC-SHA1(secret, username)).
minted="$("$cvctl" mint --secret-file "$secret_file" --user demo --plan trial --video --ttl 86400)"
username="$(sed -n 's/.*"username": "\(.*\)".*/\1/p' <<<"$minted")"
password="$(sed -n 's/.*"credential": "\(.*\)".*/\1/p' <<<"$minted")"

host=127.0.0.1
for ip in $(hostname -I 2>/dev/null || true); do
  if [[ $ip =~ ^[0-9]+\.[0-9]+\.[0-9]+\.[0-9]+$ && $ip != 127.* ]]; then host="$ip"; break; fi
done

cat <<EOF
CallVault Relay
  realm:        $realm
  port:         $port (udp)
  secret file:  $secret_file
  demo credential, valid 24 h:
    username:   $username
    password:   $password
  iceServers entry for a browser:
    {"urls":["stun:$host:$port","turn:$host:$port?transport=udp"],"username":"$username","credential":"$password"}
  control endpoint (docs/control-api.md):
    curl -H "Authorization: Bearer \$(cat $token_file)" http://127.0.0.1:9641/v1/allocations
  usage ledger (docs/usage.md): $state_dir/usage.db
    curl -H "Authorization: Bearer \$(cat $token_file)" http://127.0.0.1:9641/v1/usage/users/demo
  Prometheus metrics (docs/metrics.md):
    curl -H "Authorization: Bearer \$(cat $token_file)" http://127.0.0.1:9641/metrics

EOF

# --- Services ------------------------------------------------------------------------------------
# Companion services (none yet) start here, in the background, before the relay. The relay is
# exec'd so that Ctrl-C and SIGTERM reach it directly. Once a companion exists, start it with `&`
# and either keep the exec (Ctrl-C reaches the whole foreground process group, but a SIGTERM
# sent to this PID reaches only the relay) or replace the exec by: run the relay with `&`,
# trap INT/TERM to forward them to both PIDs, and `wait`.
start_companions() { :; }

start_relay() {
  # The secret goes through a private config file, not argv, so `ps` does not show it.
  local conf="$state_dir/cvrelay.conf"
  (umask 077 && cat >"$conf.tmp" <<CONF && mv "$conf.tmp" "$conf")
# Written by scripts/run.sh; regenerated at every start.
realm=$realm
listening-port=$port
use-auth-secret
static-auth-secret=$secret
admin-token-file=$token_file
plans-file=$root/config/plans.json
usage-db=$state_dir/usage.db
prometheus
CONF
  echo "Starting $relay -c $conf (Ctrl-C to stop)"
  exec "$relay" -c "$conf" "$@"
}

start_companions
start_relay "$@"
