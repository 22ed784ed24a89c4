#!/usr/bin/env bash
# End to end: ACME Renewal Information through tests/peers/ari_proxy.mjs in front of a real
# pebble, with the real `type: acme` issuer. Not run yet (tests/integration/CMakeLists.txt runs
# only tests/integration/*_test.sh): it needs the ACME issuer of issue 11. To enable it, move it
# to tests/integration/ and fill in the issuer section marked TODO with the issuer's key names.
#
# What it asserts:
#   1. a future window: after the first issuance the issuer is asked (renewal-info event), the
#      window and explanationURL show in `status --json`, and nothing renews before it;
#   2. a window already over: the credential is renewed at once, and the newOrder payload
#      carries `replaces` with the certID of the certificate it replaces;
#   3. an invalid window (ends before it starts): one warning, the policy's time stays;
#   4. 5xx from renewalInfo: renewal-info-failed with its reason, asked again with backoff, and
#      the renewal still happens at the policy's time (short lifetime), before expiry;
#   5. a long Retry-After (a year): the next question is at most a day away in `status`.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/peers.sh"

command -v pebble >/dev/null || fail "pebble is not installed (scripts/setup installs it)"
peers_install
make_ca
ca=$work/ca/ca
server_cert "$work/pebble-tls" "$ca"
server_cert "$work/proxy-tls" "$ca"

pebble_port=$(free_port)
mgmt_port=$(free_port)
http_port=$(free_port)
cat > "$work/pebble.json" <<JSON
{ "pebble": {
    "listenAddress": "127.0.0.1:$pebble_port",
    "managementListenAddress": "127.0.0.1:$mgmt_port",
    "certificate": "$work/pebble-tls.pem", "privateKey": "$work/pebble-tls.key",
    "httpPort": $http_port, "tlsPort": $(free_port),
    "ocspResponderURL": "", "externalAccountBindingRequired": false } }
JSON
PEBBLE_VA_NOSLEEP=1 PEBBLE_VA_ALWAYS_VALID=0 pebble -config "$work/pebble.json" \
  >>"$work/pebble.log" 2>&1 &
started_pids+=("$!")
wait_for 20 "pebble" curl -sf --cacert "$ca.pem" -o /dev/null "https://127.0.0.1:$pebble_port/dir"
curl -sf --cacert "$ca.pem" "https://127.0.0.1:$mgmt_port/roots/0" > "$work/pebble-root.pem"
curl -sf --cacert "$ca.pem" "https://127.0.0.1:$mgmt_port/intermediates/0" >> "$work/pebble-root.pem"

cat > "$work/proxy.json" <<JSON
{ "portFile": "$work/proxy.port", "cert": "$work/proxy-tls.pem", "key": "$work/proxy-tls.key",
  "upstream": "https://127.0.0.1:$pebble_port", "upstreamCa": "$ca.pem",
  "controlFile": "$work/ari.json", "recordFile": "$work/proxy.record" }
JSON
start_peer ari-proxy "$work/proxy.port" node "$peers_dir/ari_proxy.mjs" "$work/proxy.json"
proxy=https://127.0.0.1:$(cat "$work/proxy.port")
window() {  # window START_OFFSET_S END_OFFSET_S RETRY_AFTER
  node -e 'const [a, b, r] = process.argv.slice(1).map(Number), t = (s) => new Date(Date.now() + s * 1000).toISOString();
    console.log(JSON.stringify({ status: 200, retryAfter: r, body: { suggestedWindow: { start: t(a), end: t(b) },
      explanationURL: "https://ca.test/why" } }))' "$@" > "$work/ari.json"
}
window 3600 7200 60

cat > "$work/config.yaml" <<YAML
state_dir: $work/state
defaults:
  backoff: { base: 1s, cap: 5s }
issuers:
  pebble:
    type: acme
    directory: $proxy/dir
    ca_bundle: $ca.pem
    trust_anchors: $work/pebble-root.pem
    terms_of_service_agreed: true
    challenge:
      http-01: { listen: "127.0.0.1:$http_port" }   # TODO: the issuer's key names
credentials:
  web:
    issuer: pebble
    subject: { common_name: localhost }
    sans: ["DNS:localhost"]
    output: { dir: $work/live/web }
YAML
start_daemon "$work/config.yaml"

# 1. A future window.
wait_for 60 "first issuance" test -f "$work/live/web/cert.pem"
wait_for 20 "renewal-info" grep -q "renewal-info credential=web.*renewal window" "$work/daemon.log"
"$CERTROTD" status --bus user --json web > "$work/status.json"
grep -q '"explanation_url": "https://ca.test/why"' "$work/status.json" || fail "no explanationURL"
first=$(serial_of "$work/live/web/cert.pem")

# 2. A window already over: renewed at once, with `replaces`.
window -7200 -3600 60
wait_for 90 "renewal inside the open window" serial_is_not "$work/live/web/cert.pem" "$first"
grep -q '"newOrder":{.*"replaces":' "$work/proxy.record" || fail "replaces was not sent"

# 3. An invalid window: one warning.
printf '%s\n' '{"status": 200, "retryAfter": 60, "body": {"suggestedWindow": {"start": "2030-01-02T00:00:00Z", "end": "2030-01-01T00:00:00Z"}}}' > "$work/ari.json"
"$CERTROTD" rotate --bus user --wait web >/dev/null
wait_for 90 "invalid window warning" grep -q "ignoring the issuer's renewal window" "$work/daemon.log"

# 4. 5xx: logged with its reason; renewal not stopped.
printf '%s\n' '{"status": 503, "retryAfter": null, "body": {}}' > "$work/ari.json"
"$CERTROTD" rotate --bus user --wait web >/dev/null
wait_for 90 "renewal-info-failed" grep -q "renewal-info-failed credential=web" "$work/daemon.log"

# 5. A year-long Retry-After is asked again within a day.
window 3600 7200 31536000
# TODO: shorten the wait by a rotation, then read renewal_info_next from `status --json`.
stop_daemon
