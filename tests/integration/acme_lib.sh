# Helpers for the ACME tests (sourced after lib.sh and peers.sh): a real pebble on 127.0.0.1 whose
# TLS certificate is made with the openssl CLI, whose validation authority really fetches http-01
# answers from certrotd's responder (PEBBLE_VA_ALWAYS_VALID=0, httpPort = $http_port), and a
# private D-Bus for `certrotd rotate`.
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
listen_port=$http_port  # where certrotd's responder listens (a test may put a proxy between)

# write_pebble_config [EXTRA_JSON]: EXTRA_JSON goes into the "pebble" object (EAB settings).
write_pebble_config() {
  cat > "$work/pebble.json" <<JSON
{ "pebble": {
    "listenAddress": "127.0.0.1:$acme_port",
    "managementListenAddress": "127.0.0.1:$mgmt_port",
    "certificate": "$work/pebble-tls.pem",
    "privateKey": "$work/pebble-tls.key",
    "httpPort": $http_port,
    "tlsPort": $tls_port,
    "ocspResponderURL": ""${1:+,
    $1} } }
JSON
}

# start_pebble: starts it (nonce rejections raised to 30 % unless $PEBBLE_WFE_NONCEREJECT says,
# valid authorizations reused as often as $PEBBLE_AUTHZREUSE says, 50 % by default; names
# resolved through $PEBBLE_DNSSERVER, nowhere by default) and writes its new root to
# $work/pebble-roots.pem, which the issuer's trust_anchors names.
start_pebble() {
  PEBBLE_VA_ALWAYS_VALID=0 PEBBLE_VA_NOSLEEP=1 PEBBLE_WFE_NONCEREJECT=${PEBBLE_WFE_NONCEREJECT:-30} \
    PEBBLE_AUTHZREUSE=${PEBBLE_AUTHZREUSE:-50} \
    pebble -config "$work/pebble.json" -dnsserver "${PEBBLE_DNSSERVER:-127.0.0.1:1}" >>"$work/pebble.log" 2>&1 &
  pebble_pid=$!
  started_pids+=("$pebble_pid")
  wait_for 20 "pebble on port $acme_port" \
    curl -sf --cacert "$work/ca/ca.pem" "https://127.0.0.1:$acme_port/dir"
  curl -sf --cacert "$work/ca/ca.pem" "https://127.0.0.1:$mgmt_port/roots/0" \
    > "$work/pebble-roots.pem" || fail "cannot fetch pebble's root"
}

# acme_issuer_yaml: the start of a configuration with the acme issuer `pebble` for this pebble,
# up to its trust_anchors; the test goes on with the issuer's other settings and the credentials.
acme_issuer_yaml() {
  cat <<YAML
state_dir: $work/state
defaults:
  backoff: { base: 1s, cap: 3s }
issuers:
  pebble:
    type: acme
    directory: https://127.0.0.1:$acme_port/dir
    ca_bundle: $work/ca/ca.pem
    trust_anchors: $work/pebble-roots.pem
YAML
}

# write_acme_config FILE [EXTRA_ISSUER_YAML]: one acme issuer `pebble`, one credential `web`
# for IP:127.0.0.1 (validated over http-01 without DNS).
write_acme_config() {
  {
    acme_issuer_yaml
    cat <<YAML
    challenge:
      http-01: { listen: "127.0.0.1:$listen_port" }
${2:-}
credentials:
  web:
    issuer: pebble
    subject: { common_name: 127.0.0.1 }
    sans: ["IP:127.0.0.1"]
    output: { dir: $work/live/web }
YAML
  } > "$1"
}

# Whether the daemon owns its name on the private bus (`status` would fall back to the state
# files without one, so its exit code does not tell).
daemon_on_bus() {
  dbus-send --session --print-reply --dest=org.freedesktop.DBus /org/freedesktop/DBus \
    org.freedesktop.DBus.NameHasOwner string:org.certrotd.Daemon 2>/dev/null | grep -q "boolean true"
}

run_daemon() {
  "$CERTROTD" run --config "$work/config.yaml" --bus user --log-level debug >>"$work/daemon.log" 2>&1 &
  daemon_pid=$!
  started_pids+=("$daemon_pid")
  wait_for 20 "the daemon on the bus" daemon_on_bus
}

# start_acme_proxy: tests/peers/ari_proxy.mjs in front of pebble (needs peers.sh), controlled by
# $work/proxy-control.json and recording to $work/proxy.record; its directory URL in acme_proxy.
start_acme_proxy() {
  peers_install
  server_cert "$work/proxy-tls" "$work/ca/ca"
  cat > "$work/proxy.json" <<JSON
{ "portFile": "$work/proxy.port", "cert": "$work/proxy-tls.pem", "key": "$work/proxy-tls.key",
  "upstream": "https://127.0.0.1:$acme_port", "upstreamCa": "$work/ca/ca.pem",
  "controlFile": "$work/proxy-control.json", "recordFile": "$work/proxy.record" }
JSON
  start_peer acme-proxy "$work/proxy.port" node "$peers_dir/ari_proxy.mjs" "$work/proxy.json"
  acme_proxy=https://127.0.0.1:$(cat "$work/proxy.port")/dir
}

# assert_rotation_refused WHAT PATTERN: `certrotd rotate --wait web` fails, PATTERN is in the
# daemon's log and in `status`, and the old certificate stays live and whole.
assert_rotation_refused() {
  local kept rc=0
  kept=$(serial_of "$work/live/web/cert.pem")
  "$CERTROTD" rotate --wait --timeout 40s --bus user web >"$work/rotate.out" 2>&1 || rc=$?
  [ "$rc" -eq 1 ] || fail "$1: rotate exit $rc: $(cat "$work/rotate.out")"
  grep -q "$2" "$work/daemon.log" || fail "$1: the log does not say '$2'"
  "$CERTROTD" status --bus user web >"$work/status.out" 2>&1 || true
  grep -q "$2" "$work/status.out" || fail "$1: status does not say '$2': $(cat "$work/status.out")"
  [ "$(serial_of "$work/live/web/cert.pem")" = "$kept" ] || fail "$1: the old certificate was not kept"
  assert_credential_ok "$work/live/web"
}
