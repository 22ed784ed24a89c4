#!/usr/bin/env bash
# End to end: ACME Renewal Information through tests/peers/ari_proxy.mjs in front of a real
# pebble (2.4 has no ARI of its own), with the real `type: acme` issuer.
#
# What it asserts:
#   1. a future window: after the first issuance the window and explanationURL show in
#      `status --json`, and nothing renews before it;
#   2. a renewal (asked for by `rotate`) sends `replaces` with the replaced certificate's
#      certID in its newOrder payload;
#   3. 5xx from renewalInfo: renewal-info-failed with its reason, and renewal goes on;
#   4. a window that opens a few seconds after an issuance (the policy's renew_at is years
#      away): the renewal starts by itself inside it, and its newOrder replaces exactly the
#      certificate the window was given for;
#   5. profiles (the proxy lists `shortlived` in meta.profiles): every newOrder carried the
#      issuer's `profile: shortlived`; after a reload to a profile the directory does not list,
#      a rotation fails with a clear error in the log and `status`, and the old credential stays.
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
  "profiles": { "shortlived": "6-day certificates" },
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

write_acme_config "$work/config.yaml" "    terms_of_service_agreed: true
    profile: shortlived"
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

# 4. A window from 6 to 12 s after the next issuance's question (the proxy makes it relative).
printf '%s\n' '{"status": 200, "retryAfter": null, "body": {"suggestedWindow": {"startIn": 6, "endIn": 12}}}' \
  > "$work/ari.json"
third=$(serial_of "$work/live/web/cert.pem")
mark=$(wc -l < "$work/proxy.record")
"$CERTROTD" rotate --bus user --wait web >/dev/null || true
wait_for 90 "a renewal that gets the short window" serial_is_not "$work/live/web/cert.pem" "$third"
fourth=$(serial_of "$work/live/web/cert.pem")
asked_about() {  # asked_about LINE SERIAL: after line LINE, a window was served for SERIAL
  tail -n "+$(($1 + 1))" "$work/proxy.record" | node -e '
    const hex = (s) => s.toLowerCase().replace(/^0+/, "");
    const lines = require("fs").readFileSync(0, "utf8").trim().split("\n").filter(Boolean).map(JSON.parse);
    process.exit(lines.some((l) => l.renewalInfo && l.window && l.window.start &&
      hex(Buffer.from(l.renewalInfo.split(".")[1], "base64url").toString("hex")) === hex(process.argv[1])) ? 0 : 1);
  ' "$2"
}
# The question about the fourth certificate may come after it is written: the short window
# must be its answer before the next one changes.
wait_for 30 "the question about the fourth certificate" asked_about "$mark" "$fourth"
# Questions from now on get a window a day ahead: only the short window's renewal follows.
window 86400 172800 null
wait_for 40 "the renewal inside the short window" serial_is_not "$work/live/web/cert.pem" "$fourth"
node -e '
  const [recordFile, serial] = process.argv.slice(1);
  const lines = require("fs").readFileSync(recordFile, "utf8").trim().split("\n").map(JSON.parse);
  const hex = (s) => s.toLowerCase().replace(/^0+/, "");
  // The question about the fourth certificate (its certID ends in its serial, RFC 9773 4.1).
  const asked = lines.find((l) => l.renewalInfo && l.window && l.window.start &&
    hex(Buffer.from(l.renewalInfo.split(".")[1], "base64url").toString("hex")) === hex(serial));
  if (!asked) throw new Error("no window was served for serial " + serial);
  const [start, end] = [Date.parse(asked.window.start), Date.parse(asked.window.end)];
  if (!(start > Date.parse(asked.at))) throw new Error("the window was open already: " + JSON.stringify(asked));
  const order = lines.find((l) => l.newOrder && l.newOrder.replaces === asked.renewalInfo);
  if (!order) throw new Error("no newOrder replaces " + asked.renewalInfo);
  const at = Date.parse(order.at);
  // The newOrder follows the timer by one request or two (a nonce): 1 s of slack at the end.
  if (at < start || at > end + 1000) {
    throw new Error("renewed at " + order.at + ", outside " + asked.window.start + " .. " + asked.window.end);
  }
' "$work/proxy.record" "$fourth" || fail "the renewal was not inside the window: $(tail -n 6 "$work/proxy.record")"

# 5. Profiles: each newOrder asked for the listed one; one the directory does not list is refused.
node -e '
  const lines = require("fs").readFileSync(process.argv[1], "utf8").trim().split("\n").map(JSON.parse);
  const orders = lines.filter((l) => l.newOrder);
  if (orders.length < 4 || orders.some((l) => l.newOrder.profile !== "shortlived")) {
    throw new Error("not every newOrder asked for shortlived");
  }' "$work/proxy.record" || fail "profile not sent: $(grep newOrder "$work/proxy.record")"
sed -i 's/    profile: shortlived/    profile: classic/' "$work/config.yaml"
"$CERTROTD" reload --bus user >/dev/null || fail "reload refused"
live=$(serial_of "$work/live/web/cert.pem")
orders_before=$(grep -c newOrder "$work/proxy.record")
"$CERTROTD" rotate --bus user --wait web >/dev/null 2>&1 || true
wait_for 30 "the refusal in status" sh -c "\"$CERTROTD\" status --bus user --json web | grep -q \"profile 'classic' is not offered by the ACME server (it offers shortlived)\""
grep -q "profile 'classic' is not offered" "$work/daemon.log" || fail "the refusal is not in the log"
[ "$(serial_of "$work/live/web/cert.pem")" = "$live" ] || fail "the live credential changed"
[ "$(grep -c newOrder "$work/proxy.record")" = "$orders_before" ] || fail "an order was sent anyway"
echo "acme_ari_test: ok"
