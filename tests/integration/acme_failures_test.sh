#!/usr/bin/env bash
# The acme issuer when things go wrong, against a real pebble: a bad configuration exits 78 with
# file:line:col and what to write; the http-01 port taken by someone else fails the rotation with
# that reason in the log and in `status`, retried with backoff, and heals once the port is free;
# SIGKILL in the middle of an order leaves a state the next start recovers from; through the proxy
# of tests/peers/ari_proxy.mjs, a rateLimited newOrder with Retry-After and a badCSR finalize keep
# the old certificate, are shown, retried (not before Retry-After) and recovered from; SIGKILL
# while pebble's answer to newAccount is on its way leaves a key the next start finds the account
# with again.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/peers.sh"
source "$(dirname "$0")/acme_lib.sh"

expect_config_error() {  # WHAT PATTERN EXTRA_ISSUER_YAML
  write_acme_config "$work/bad.yaml" "$3"
  local rc=0
  "$CERTROTD" check --config-only --config "$work/bad.yaml" >"$work/check.out" 2>&1 || rc=$?
  [ "$rc" -eq 78 ] || fail "$1: exit $rc, expected 78: $(cat "$work/check.out")"
  grep -q "bad.yaml:[0-9]*:[0-9]*" "$work/check.out" || fail "$1: no file:line:col: $(cat "$work/check.out")"
  grep -q "$2" "$work/check.out" || fail "$1: no '$2' in: $(cat "$work/check.out")"
}
expect_config_error "an unknown account key type" "account_key must be ES256" "    account_key: ES384"
expect_config_error "a contact that is no mailto" "mailto" '    contact: ["ops@example.com"]'
expect_config_error "eab without a key file" "needs both kid and hmac_key_file" "    eab: { kid: k }"
expect_config_error "an unknown challenge type" "challenge" "    challenge: { tls-alpn-02: {} }"
sed -i '/trust_anchors:/d' "$work/bad.yaml"
sed -i 's/challenge: { tls-alpn-02: {} }//' "$work/bad.yaml"
rc=0
"$CERTROTD" check --config-only --config "$work/bad.yaml" >"$work/check.out" 2>&1 || rc=$?
[ "$rc" -eq 78 ] && grep -q "needs trust_anchors" "$work/check.out" ||
  fail "no trust_anchors: exit $rc: $(cat "$work/check.out")"

write_pebble_config
PEBBLE_AUTHZREUSE=0 start_pebble  # every order needs its challenge answered
start_bus

# 1. SIGKILL in the middle of an order: pebble's validation reaches certrotd's responder through
#    a proxy that holds the first request until certrotd has been killed (the challenge is
#    presented, the order open); the next start makes a new order and gets the certificate.
listen_port=$(free_port)
write_acme_config "$work/config.yaml" "    terms_of_service_agreed: true"
python3 - "$http_port" "$listen_port" "$work" >"$work/proxy.log" 2>&1 <<'PY' &
import http.server, os, sys, time, urllib.request
port, target, work = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
class Proxy(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        open(os.path.join(work, "challenge-seen"), "a").close()
        while not os.path.exists(os.path.join(work, "go-on")):
            time.sleep(0.1)
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{target}{self.path}", timeout=5) as r:
                body, status = r.read(), r.status
        except Exception:
            body, status = b"", 502
        self.send_response(status)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
http.server.ThreadingHTTPServer(("127.0.0.1", port), Proxy).serve_forever()
PY
started_pids+=("$!")
"$CERTROTD" run --config "$work/config.yaml" --bus user --log-level debug >>"$work/daemon.log" 2>&1 &
killed=$!
started_pids+=("$killed")
wait_for 30 "pebble's validation request" test -e "$work/challenge-seen"
kill -KILL "$killed"
wait "$killed" 2>/dev/null || true
[ ! -e "$work/live/web/cert.pem" ] || fail "the certificate came before the kill"
touch "$work/go-on"
run_daemon
wait_for 45 "a certificate after the crash" test -f "$work/live/web/cert.pem"
assert_credential_ok "$work/live/web"
stop_daemon

# 2. The responder's port taken: the old certificate stays, the reason is logged and shown.
kept=$(serial_of "$work/live/web/cert.pem")
# SO_REUSEADDR: the port may still have TIME_WAIT connections of the last responder.
python3 -c 'import socket,sys,time
s=socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", int(sys.argv[1]))); s.listen(); time.sleep(600)' "$listen_port" &
holder=$!
started_pids+=("$holder")
wait_for 10 "the port to be taken" bash -c "ss -Hltn 'sport = :$listen_port' | grep -q LISTEN"
run_daemon
rc=0
"$CERTROTD" rotate --wait --timeout 30s --bus user web >"$work/rotate.out" 2>&1 || rc=$?
[ "$rc" -eq 1 ] || fail "rotate with the port taken: exit $rc: $(cat "$work/rotate.out")"
grep -q "cannot listen on 127.0.0.1:$listen_port" "$work/daemon.log" ||
  fail "the log does not say the port is taken"
"$CERTROTD" status --bus user web >"$work/status.out" 2>&1 || true
grep -q "cannot listen" "$work/status.out" || fail "status does not say why: $(cat "$work/status.out")"
[ "$(serial_of "$work/live/web/cert.pem")" = "$kept" ] || fail "the old certificate was not kept"
assert_credential_ok "$work/live/web"
# The port free again: the retries (backoff cap 3 s) get through on their own.
kill -TERM "$holder"
wait "$holder" 2>/dev/null || true
wait_for 45 "recovery once the port is free" serial_is_not "$work/live/web/cert.pem" "$kept"
assert_credential_ok "$work/live/web"
stop_daemon

# 3. The CA refuses: rateLimited on newOrder (Retry-After 6 s, longer than the 3 s backoff cap),
#    then badCSR on finalize. Each time the old certificate stays, the reason is logged and
#    shown; the right answer again: recovery.
start_acme_proxy
printf '%s\n' '{"newOrder": {"status": 429, "type": "rateLimited", "detail": "too many new orders", "retryAfter": 6}}' \
  > "$work/proxy-control.json"
sed -i "s|directory: https://127.0.0.1:$acme_port/dir|directory: $acme_proxy|" "$work/config.yaml"
grep -q "directory: $acme_proxy" "$work/config.yaml" || fail "the directory was not pointed at the proxy"
run_daemon
assert_rotation_refused "rateLimited" "ACME newOrder: HTTP 429: rateLimited: too many new orders"
refused_twice() { [ "$(grep -c '"refused":"newOrder"' "$work/proxy.record")" -ge 2 ]; }
wait_for 20 "a second refused newOrder" refused_twice
gap=$(python3 -c 'import json,sys
at = [json.loads(l)["at"] for l in open(sys.argv[1]) if "refused" in l]
print(at[1] - at[0])' "$work/proxy.record")
[ "$gap" -ge 5500 ] || fail "retried ${gap} ms after a rateLimited with Retry-After: 6"
printf '%s\n' '{"finalize": {"status": 400, "type": "badCSR", "detail": "the key is too weak"}}' \
  > "$work/proxy-control.json"
wait_for 30 "a refused finalize" grep -q '"refused":"finalize"' "$work/proxy.record"
assert_rotation_refused "badCSR" "badCSR: the key is too weak"
kept=$(serial_of "$work/live/web/cert.pem")
printf '{}\n' > "$work/proxy-control.json"
wait_for 45 "recovery once the CA accepts again" serial_is_not "$work/live/web/cert.pem" "$kept"
assert_credential_ok "$work/live/web"
stop_daemon

# 4. SIGKILL between newAccount and the account file: with a new account key, the proxy lets
#    pebble make the account but holds its answer until certrotd is killed; the next start finds
#    that account (onlyReturnExisting) instead of making another.
rm -r "$work/state/acme/pebble"
printf '%s\n' '{"holdNewAccount": true}' > "$work/proxy-control.json"
"$CERTROTD" run --config "$work/config.yaml" --bus user --log-level debug >>"$work/daemon.log" 2>&1 &
killed=$!
started_pids+=("$killed")
wait_for 20 "the daemon on the bus" daemon_on_bus
"$CERTROTD" rotate --bus user web >/dev/null || fail "rotate was refused"
wait_for 30 "pebble's account behind the held answer" grep -q '"newAccount":"http' "$work/proxy.record"
kill -KILL "$killed"
wait "$killed" 2>/dev/null || true
[ -f "$work/state/acme/pebble/account.key" ] || fail "no account key before newAccount"
[ ! -e "$work/state/acme/pebble/account.json" ] || fail "the account file came before the answer"
made=$(python3 -c 'import json,sys
print([json.loads(l)["newAccount"] for l in open(sys.argv[1]) if "newAccount" in l][0])' "$work/proxy.record")
printf '{}\n' > "$work/proxy-control.json"
kept=$(serial_of "$work/live/web/cert.pem")
run_daemon
"$CERTROTD" rotate --wait --timeout 45s --bus user web >"$work/rotate.out" 2>&1 ||
  fail "rotate after the kill: $(cat "$work/rotate.out")"
[ "$(serial_of "$work/live/web/cert.pem")" != "$kept" ] || fail "no renewal after the kill"
found=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["url"])' \
  "$work/state/acme/pebble/account.json")
[ "$found" = "$made" ] || fail "account $found instead of the one made before the kill, $made"
stop_daemon
echo "PASS"
