#!/usr/bin/env bash
# The `acme` issuer against a real pebble (RFC 8555 test CA) that really validates http-01
# (PEBBLE_VA_ALWAYS_VALID=0): pebble's validation authority fetches the key authorization from
# certrotd's own responder. pebble refuses a share of nonces on purpose (raised here) and reuses
# authorizations; both must be survived. Then: a renewal through `certrotd rotate`, the account
# found again after its file is lost (as after a crash between newAccount and writing it), and
# an unreachable directory (the old credential kept, the reason in the log, recovery).
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/peers.sh"

command -v pebble >/dev/null || fail "pebble is not installed (scripts/setup installs it)"
command -v dbus-daemon >/dev/null || fail "dbus-daemon is not installed"
free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

make_ca
server_cert "$work/pebble-tls" "$work/ca/ca"
acme_port=$(free_port)
mgmt_port=$(free_port)
http_port=$(free_port)
tls_port=$(free_port)
cat > "$work/pebble.json" <<JSON
{ "pebble": {
    "listenAddress": "127.0.0.1:$acme_port",
    "managementListenAddress": "127.0.0.1:$mgmt_port",
    "certificate": "$work/pebble-tls.pem",
    "privateKey": "$work/pebble-tls.key",
    "httpPort": $http_port,
    "tlsPort": $tls_port,
    "ocspResponderURL": "",
    "externalAccountBindingRequired": false } }
JSON

start_pebble() {
  PEBBLE_VA_ALWAYS_VALID=0 PEBBLE_VA_NOSLEEP=1 PEBBLE_WFE_NONCEREJECT=30 \
    pebble -config "$work/pebble.json" -dnsserver 127.0.0.1:1 >>"$work/pebble.log" 2>&1 &
  pebble_pid=$!
  started_pids+=("$pebble_pid")
  wait_for 20 "pebble on port $acme_port" \
    curl -sf --cacert "$work/ca/ca.pem" "https://127.0.0.1:$acme_port/dir"
  # A new root on every start: the issued chain must verify to this one.
  curl -sf --cacert "$work/ca/ca.pem" "https://127.0.0.1:$mgmt_port/roots/0" \
    > "$work/pebble-roots.pem" || fail "cannot fetch pebble's root"
}
start_pebble

dbus-daemon --session --nofork --address="unix:path=$work/bus" >"$work/bus.log" 2>&1 &
started_pids+=($!)
export DBUS_SESSION_BUS_ADDRESS=unix:path=$work/bus
wait_for 10 "the private bus" test -S "$work/bus"

cat > "$work/config.yaml" <<YAML
state_dir: $work/state
defaults:
  backoff: { base: 1s, cap: 3s }
issuers:
  pebble:
    type: acme
    directory: https://127.0.0.1:$acme_port/dir
    ca_bundle: $work/ca/ca.pem
    trust_anchors: $work/pebble-roots.pem
    contact: ["mailto:ops@example.com"]
    terms_of_service_agreed: true
    challenge:
      http-01: { listen: "127.0.0.1:$http_port" }
credentials:
  web:
    issuer: pebble
    subject: { common_name: 127.0.0.1 }
    sans: ["IP:127.0.0.1"]
    output: { dir: $work/live/web }
YAML

"$CERTROTD" check --config-only --config "$work/config.yaml" >"$work/check.out" 2>&1 ||
  fail "check refused the configuration: $(cat "$work/check.out")"

run_daemon() {
  "$CERTROTD" run --config "$work/config.yaml" --bus user --log-level debug >>"$work/daemon.log" 2>&1 &
  daemon_pid=$!
  started_pids+=("$daemon_pid")
  wait_for 20 "the daemon on the bus" "$CERTROTD" status --bus user
}

# 1. First issuance, validated for real.
run_daemon
wait_for 45 "the first certificate" test -f "$work/live/web/cert.pem"
assert_credential_ok "$work/live/web"
openssl verify -CAfile "$work/pebble-roots.pem" -untrusted "$work/live/web/chain.pem" \
  "$work/live/web/cert.pem" >/dev/null || fail "the chain does not verify to pebble's root"
key_mode=$(stat -c %a "$work/state/acme/pebble/account.key")
[ "$key_mode" = 600 ] || fail "account.key has mode $key_mode"
grep -q '"url"' "$work/state/acme/pebble/account.json" || fail "no account URL kept"

# 2. A renewal on request.
first=$(serial_of "$work/live/web/cert.pem")
"$CERTROTD" rotate --wait --timeout 45s --bus user web >"$work/rotate.out" 2>&1 ||
  fail "rotate --wait: $(cat "$work/rotate.out")"
[ "$(serial_of "$work/live/web/cert.pem")" != "$first" ] || fail "the renewal kept the serial"
assert_credential_ok "$work/live/web"
stop_daemon

# 3. The account URL lost (a crash between newAccount and the file): found again, no new account.
account_url=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["url"])' \
  "$work/state/acme/pebble/account.json")
rm "$work/state/acme/pebble/account.json"
run_daemon
second=$(serial_of "$work/live/web/cert.pem")
"$CERTROTD" rotate --wait --timeout 45s --bus user web >"$work/rotate.out" 2>&1 ||
  fail "rotate after losing the account file: $(cat "$work/rotate.out")"
again_url=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["url"])' \
  "$work/state/acme/pebble/account.json")
[ "$again_url" = "$account_url" ] || fail "a new account $again_url instead of $account_url"
[ "$(serial_of "$work/live/web/cert.pem")" != "$second" ] || fail "no renewal after recovery"

# 4. The directory unreachable: the old credential stays and the reason is logged; the right
#    directory again: recovery.
stop_daemon
kept=$(serial_of "$work/live/web/cert.pem")
dead_port=$(free_port)
cp "$work/config.yaml" "$work/config.good"
sed -i "s|127.0.0.1:$acme_port/dir|127.0.0.1:$dead_port/dir|" "$work/config.yaml"
run_daemon
rc=0
"$CERTROTD" rotate --wait --timeout 30s --bus user web >"$work/rotate.out" 2>&1 || rc=$?
[ "$rc" -eq 1 ] || fail "rotate against an unreachable directory: exit $rc: $(cat "$work/rotate.out")"
grep -q "ACME directory" "$work/daemon.log" || fail "the log does not name the unreachable directory"
[ "$(serial_of "$work/live/web/cert.pem")" = "$kept" ] || fail "the old certificate was not kept"
assert_credential_ok "$work/live/web"
stop_daemon
cp "$work/config.good" "$work/config.yaml"
run_daemon
"$CERTROTD" rotate --wait --timeout 45s --bus user web >"$work/rotate.out" 2>&1 ||
  fail "rotate after the directory came back: $(cat "$work/rotate.out")"
[ "$(serial_of "$work/live/web/cert.pem")" != "$kept" ] || fail "no recovery"
assert_credential_ok "$work/live/web"
stop_daemon
echo "PASS"
