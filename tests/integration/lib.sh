# Shared helpers for the integration tests. Each test sources this file, then uses `$work` as its
# scratch folder. Every process a test starts is recorded and stopped (only those) on exit.
set -euo pipefail

: "${CERTROTD:?CERTROTD must name the certrotd binary}"
work=$(mktemp -d "${TMPDIR:-/tmp}/certrotd-it-XXXXXX")
started_pids=()

cleanup() {
  local pid
  for pid in "${started_pids[@]}"; do
    kill -TERM "$pid" 2>/dev/null || true
  done
  for pid in "${started_pids[@]}"; do
    wait "$pid" 2>/dev/null || true
  done
  rm -rf "$work"
}
trap cleanup EXIT

fail() {
  echo "FAIL: $*" >&2
  if [ -f "$work/daemon.log" ]; then
    echo "--- daemon log (last 40 lines)" >&2
    tail -n 40 "$work/daemon.log" >&2
  fi
  exit 1
}

# wait_for SECONDS DESCRIPTION COMMAND...: polls COMMAND every 0.2 s until it succeeds.
wait_for() {
  local limit=$1 what=$2; shift 2
  local deadline=$((SECONDS + limit))
  until "$@" >/dev/null 2>&1; do
    [ $SECONDS -lt $deadline ] || fail "timed out after ${limit}s waiting for: $what"
    sleep 0.2
  done
}

# start_bus: a private D-Bus daemon standing in for the user bus (`--bus user`), so the control
# interface this test's daemon offers is reached by this test only. Stopped with started_pids.
start_bus() {
  dbus-daemon --session --nofork --address="unix:path=$work/bus" >"$work/bus.log" 2>&1 &
  started_pids+=($!)
  export DBUS_SESSION_BUS_ADDRESS=unix:path=$work/bus
  wait_for 10 "the private bus" test -S "$work/bus"
}

serial_of() { openssl x509 -noout -serial -in "$1" 2>/dev/null | cut -d= -f2; }
# A serial as certrotd writes it (logs, hook environment, status): lower-case hex without the
# leading zeros openssl prints for a first byte below 0x10.
as_certrotd_serial() { printf '%s' "$1" | tr 'A-F' 'a-f' | sed 's/^0*//'; }
serial_is_not() { [ "$(serial_of "$1")" != "$2" ]; }  # serial_is_not FILE SERIAL, for wait_for

# The public key of a certificate and of a private key, for "does this key match" checks.
cert_pubkey() { openssl x509 -noout -pubkey -in "$1" | openssl pkey -pubin -outform DER | sha256sum; }
key_pubkey() { openssl pkey -in "$1" -pubout -outform DER | sha256sum; }

make_ca() { "$CERTROTD" ca init --dir "$work/ca" --intermediate >/dev/null; }

# write_config FILE LIFETIME CREDENTIAL...: a local-CA config with one credential per name.
write_config() {
  local file=$1 lifetime=$2; shift 2
  {
    cat <<YAML
state_dir: $work/state
defaults:
  renew_at: 66%
  jitter: 5%
  backoff: { base: 1s, cap: 5s }
issuers:
  ca:
    type: local
    ca_cert: $work/ca/intermediate.pem
    ca_key: $work/ca/intermediate.key
    roots: $work/ca/ca.pem
    lifetime: $lifetime
    backdate: 5s
credentials:
YAML
    local name
    for name in "$@"; do
      cat <<YAML
  $name:
    issuer: ca
    subject: { common_name: $name.test.internal }
    sans: ["DNS:$name.test.internal", "IP:127.0.0.1"]
    usage: [serverAuth, clientAuth]
    output:
      dir: $work/live/$name
YAML
    done
  } > "$file"
}

# start_daemon CONFIG: runs certrotd in the background, logging to $work/daemon.log.
start_daemon() {
  "$CERTROTD" run --config "$1" --log-level debug >>"$work/daemon.log" 2>&1 &
  daemon_pid=$!
  started_pids+=("$daemon_pid")
}

stop_daemon() {
  kill -TERM "$daemon_pid"
  local rc=0
  wait "$daemon_pid" || rc=$?
  [ "$rc" -eq 0 ] || fail "daemon exited with $rc after SIGTERM"
}

# The credential's files are complete and consistent and its chain verifies to the root.
assert_credential_ok() {
  local dir=$1
  [ -f "$dir/cert.pem" ] && [ -f "$dir/key.pem" ] && [ -f "$dir/bundle.pem" ] ||
    fail "$dir is incomplete"
  [ "$(cert_pubkey "$dir/cert.pem")" = "$(key_pubkey "$dir/key.pem")" ] ||
    fail "$dir: key.pem does not match cert.pem"
  # chain.pem is empty when the issuer signs with its root directly.
  local untrusted=()
  [ -s "$dir/chain.pem" ] && untrusted=(-untrusted "$dir/chain.pem")
  openssl verify -CAfile "$dir/ca.pem" "${untrusted[@]}" "$dir/cert.pem" >/dev/null ||
    fail "$dir: chain does not verify"
}

# nginx_preamble: the start of an nginx.conf for a test nginx run as root in the foreground, all
# of its files under $work/nginx (make $work/nginx/tmp first); the caller writes its server
# blocks and the closing brace.
nginx_preamble() {
  cat <<NGINX
daemon off;
pid $work/nginx/nginx.pid;
error_log $work/nginx/error.log;
events {}
http {
  access_log off;
  client_body_temp_path $work/nginx/tmp/body;
  proxy_temp_path $work/nginx/tmp/proxy;
  fastcgi_temp_path $work/nginx/tmp/fastcgi;
  uwsgi_temp_path $work/nginx/tmp/uwsgi;
  scgi_temp_path $work/nginx/tmp/scgi;
NGINX
}
