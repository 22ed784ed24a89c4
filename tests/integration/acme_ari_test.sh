#!/usr/bin/env bash
# End to end: ACME Renewal Information through tests/peers/ari_proxy.mjs in front of a real
# pebble (2.4 has no ARI of its own), with the real `type: acme` issuer.
#
# What it asserts:
#   1. a future window: after the first issuance the window and explanationURL show in
#      `status --json`, and nothing renews before it;
#   2. a renewal (asked for by `rotate`) sends `replaces` with the replaced certificate's
#      certID in its newOrder payload;
#   3. 5xx from renewalInfo: renewal-info-failed with its reason, and renewal goes on.
# Invalid windows and the clamp of a long Retry-After are unit tests (AcmeIssuerTest,
# RenewalInfoTest).
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/peers.sh"
source "$(dirname "$0")/acme_lib.sh"

peers_install
write_pebble_config
start_pebble
start_bus
server_cert "$work/proxy-tls" "$work/ca/ca"

cat > "$work/proxy.json" <<JSON
{ "portFile": "$work/proxy.port", "cert": "$work/proxy-tls.pem", "key": "$work/proxy-tls.key",
  "upstream": "https://127.0.0.1:$acme_port", "upstreamCa": "$work/ca/ca.pem",
  "controlFile": "$work/ari.json", "recordFile": "$work/proxy.record" }
JSON
start_peer ari-proxy "$work/proxy.port" node "$peers_dir/ari_proxy.mjs" "$work/proxy.json"
proxy=https://127.0.0.1:$(cat "$work/proxy.port")
window() {  # window START_OFFSET_S END_OFFSET_S RETRY_AFTER
  node -e 'const [a, b, r] = process.argv.slice(1).map(Number), t = (s) => new Date(Date.now() + s * 1000).toISOString();
    console.log(JSON.stringify({ status: 200, retryAfter: r, body: { suggestedWindow: { start: t(a), end: t(b) },
      explanationURL: "https://ca.test/why" } }))' -- "$@" > "$work/ari.json"
}
window 3600 7200 60

write_acme_config "$work/config.yaml" "    terms_of_service_agreed: true"
sed -i "s|directory: https://127.0.0.1:$acme_port/dir|directory: $proxy/dir|" "$work/config.yaml"
grep -q "directory: $proxy/dir" "$work/config.yaml" || fail "the directory was not pointed at the proxy"
run_daemon

# 1. A future window.
wait_for 60 "first issuance" test -f "$work/live/web/cert.pem"
wait_for 20 "the window in status" sh -c "\"$CERTROTD\" status --bus user --json web | grep -q 'https://ca.test/why'"
first=$(serial_of "$work/live/web/cert.pem")
sleep 2
[ "$(serial_of "$work/live/web/cert.pem")" = "$first" ] || fail "renewed before the window"

# 2. A renewal sends `replaces`.
window -7200 -3600 60
"$CERTROTD" rotate --bus user --wait web >/dev/null || true
wait_for 90 "a renewal" serial_is_not "$work/live/web/cert.pem" "$first"
grep -q '"replaces"' "$work/proxy.record" || fail "replaces was not sent"

# 3. 5xx: logged with its reason; renewal not stopped.
printf '%s\n' '{"status": 503, "retryAfter": null, "body": {}}' > "$work/ari.json"
second=$(serial_of "$work/live/web/cert.pem")
"$CERTROTD" rotate --bus user --wait web >/dev/null || true
wait_for 90 "a renewal despite the 5xx" serial_is_not "$work/live/web/cert.pem" "$second"
echo "acme_ari_test: ok"
