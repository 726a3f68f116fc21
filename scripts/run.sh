#!/usr/bin/env bash
# The project's run command (README): installs what is missing, builds, and runs the relay in
# the foreground on defaults, with a REST-API shared secret and a demo credential printed.
set -euo pipefail

usage() {
  cat <<'EOF'
Usage: scripts/run.sh [--no-setup] [--no-build] [--] [cvrelay options...]
Builds (release) and runs build/bin/cvrelay with TURN REST-API auth and, beside it,
build/bin/cvadmin (call session tokens, TURN credentials for entitled plans, admin API) on the
embedded SQLite store. Prints a 24-hour demo credential, the browser iceServers entry, and how
to try cvadmin with curl. Ctrl-C or SIGTERM stops both.
Options after the script's own (or after --) are passed to cvrelay.
Environment:
  CVRELAY_REALM      realm (default callvault.local)
  CVRELAY_PORT       listening port (default 3478)
  CVADMIN_PORT       cvadmin's client API port (default 9650; its admin API: 9651)
  CVRELAY_STATE_DIR  where the secrets, tokens, the usage ledger and cvadmin's store are kept
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
admin="$root/build/bin/cvadmin"
admin_port="${CVADMIN_PORT:-9650}"
cvctl="$root/build/bin/cvctl"
token_file="$state_dir/admin-token"
cvadmin_token_file="$state_dir/cvadmin-admin-token"
service_key_file="$state_dir/cvadmin-service-key"

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

# Bearer tokens, made once and kept private: cvrelay's control endpoint, cvadmin's admin API,
# and the service API key with which the app's backend (or you, with curl) acts for a user.
make_private_token() {
  if [[ ! -s $1 ]]; then (umask 077 && openssl rand -hex "$2" >"$1.tmp" && mv "$1.tmp" "$1"); fi
  chmod 600 "$1"
}
make_private_token "$token_file" 24
make_private_token "$cvadmin_token_file" 24
make_private_token "$service_key_file" 32

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

cvadmin (docs/cvadmin.md): client API http://127.0.0.1:$admin_port, admin API http://127.0.0.1:$((admin_port + 1))
  create two users (the admin API; apps register an Ed25519 "public_key" too):
    for u in alice bob; do curl -s -H "Authorization: Bearer \$(cat $cvadmin_token_file)" \\
      -d "{\"id\":\"\$u\",\"tier\":\"pro\"}" http://127.0.0.1:$((admin_port + 1))/admin/users; echo; done
  start a call as alice (service mode: the app backend's API key acts for a user):
    curl -s -H "Authorization: Bearer \$(cat $service_key_file)" -H "X-CV-User: alice" \\
      -d '{"call_id":"home","kind":"direct","callee":"bob"}' http://127.0.0.1:$admin_port/v1/call-sessions
  then TURN credentials with the returned token ("token"):
    curl -s -H "Authorization: Bearer \$(cat $service_key_file)" -H "X-CV-User: alice" \\
      -d '{"token":"<token>"}' http://127.0.0.1:$admin_port/v1/turn-credentials
  (a free user gets 403 TURN_NOT_ENTITLED there: Free never relays)
  operate it with cvctl (docs/cvctl.md): users, tiers, grants, revocations, reports
    build/bin/cvctl --url http://127.0.0.1:$((admin_port + 1)) --token-file $cvadmin_token_file users list
    build/bin/cvctl --url http://127.0.0.1:$((admin_port + 1)) --token-file $cvadmin_token_file reports call-quality

EOF

# --- Services ------------------------------------------------------------------------------------
# Both run in the background of this script, which forwards INT and TERM to them and exits when
# either stops (the other is then stopped too). Secrets go through private config files, not argv,
# so `ps` does not show them.
write_private() { (umask 077 && cat >"$1.tmp" && mv "$1.tmp" "$1"); }

start_relay() {
  write_private "$state_dir/cvrelay.conf" <<CONF
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
  echo "Starting $relay -c $state_dir/cvrelay.conf"
  "$relay" -c "$state_dir/cvrelay.conf" "$@" &
  relay_pid=$!
}

start_admin() {
  write_private "$state_dir/cvadmin.conf" <<CONF
# Written by scripts/run.sh; regenerated at every start.
listening-port = $admin_port
admin-port = $((admin_port + 1))
admin-token-file = $cvadmin_token_file
service-api-key-file = $service_key_file
db = $state_dir/cvadmin.db
token-key-file = $state_dir/cvadmin-token-key.pem
plans-file = $root/config/plans.json
static-auth-secret = $secret
stun-url = stun:$host:$port
turn-url = turn:$host:$port?transport=udp
relay = local=http://127.0.0.1:9641
relay-token-file = $token_file
usage-db = $state_dir/usage.db
web-root = $root/clients/web
CONF
  echo "Starting $admin -c $state_dir/cvadmin.conf"
  "$admin" -c "$state_dir/cvadmin.conf" &
  admin_pid=$!
}

stop_all() {
  kill -TERM "$relay_pid" "$admin_pid" 2>/dev/null || true
}
stopping=0
trap 'stopping=1; stop_all' INT TERM
start_admin
start_relay "$@"
echo "(Ctrl-C to stop both)"
status=0
wait -n "$relay_pid" "$admin_pid" || status=$?
stop_all
wait "$relay_pid" "$admin_pid" 2>/dev/null || true
if [[ $stopping -eq 1 ]]; then status=0; fi  # asked to stop: a clean exit
exit "$status"
