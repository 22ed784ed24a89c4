#!/usr/bin/env bash
# The `est` issuer when the EST server (tests/peers/est_server.mjs) is slow or hostile:
#  - 202 Accepted with Retry-After, twice: the credential is pending (status says so, also with
#    the daemon stopped), the wait survives a restart, and the request is then issued; the
#    server approves only the request it first saw, so the same key and CSR must go each time
#    (kept 0600 under the state folder, removed after the issuance);
#  - every bad answer (5xx, a hang, a cut body, a chain to another root, a certificate for
#    another key) keeps the old credential with a clear reason and is retried; a good answer
#    then renews;
#  - a configured SAN the live certificate lacks is enrolled at /simpleenroll with the bootstrap
#    certificate (the server refuses such a /simplereenroll), and the log says why.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/peers.sh"
source "$(dirname "$0")/est_lib.sh"
echo pending-first > "$work/mode"
est_start u p

est_config "    timeout: 3s
"

# 1. Pending: the first 202 is seen, the daemon stops, status shows the pending request.
start_daemon "$work/config.yaml"
wait_for 20 "the first 202" grep -q "status=202" "$work/est-events"
wait_for 10 "the pending event" grep -q "issue-pending credential=host" "$work/daemon.log"
stop_daemon
[ ! -f "$work/live/host/cert.pem" ] || fail "a certificate was installed while pending"
[ "$(stat -c %a "$work/state/pending/host.pem")" = 600 ] || fail "the pending key is not 0600"
"$CERTROTD" status --config "$work/config.yaml" > "$work/status" 2>&1 || true
grep -q "pending: the issuer holds the request" "$work/status" ||
  fail "status does not show the pending enrollment: $(cat "$work/status")"
start_daemon "$work/config.yaml"
wait_for 30 "issuance after the approval" test -f "$work/live/host/cert.pem"
assert_credential_ok "$work/live/host"
[ "$(grep -c "status=202" "$work/est-events")" -eq 2 ] || fail "expected two 202 answers"
[ "$(grep -c "op=simpleenroll .*auth=cert" "$work/est-events")" -ge 3 ] ||
  fail "the pending request was not sent again to /simpleenroll"
! grep -q "newkey" "$work/est-events" || fail "a new key was sent while the request was pending"
[ "$(grep -oE "csr=[0-9a-f]+" "$work/est-events" | sort -u | wc -l)" -eq 1 ] ||
  fail "the CSR changed while the request was pending: $(grep csr= "$work/est-events")"
[ ! -e "$work/state/pending/host.pem" ] || fail "the pending request was kept after the issuance"
"$CERTROTD" status --config "$work/config.yaml" > "$work/status" 2>&1 || true
! grep -q "pending:" "$work/status" || fail "status still shows pending after issuance"

# 2. Hostile answers keep the old credential, with the reason, and are retried.
serial=$(serial_of "$work/live/host/cert.pem")
logged_since() {  # logged_since LINE REGEX: REGEX appears in the daemon log after line LINE
  tail -n "+$(($1 + 1))" "$work/daemon.log" | grep -Eq "$2"
}
expect_failure() {  # expect_failure MODE REASON_REGEX
  local start
  start=$(wc -l < "$work/daemon.log")
  echo "$1" > "$work/mode"
  kill -USR1 "$daemon_pid"
  wait_for 30 "host failing with '$2' ($1)" \
    logged_since "$start" "renew-failed credential=host .*($2).*old credential kept"
  [ "$(serial_of "$work/live/host/cert.pem")" = "$serial" ] || fail "host changed on a bad answer ($1)"
  assert_credential_ok "$work/live/host"
}
expect_failure 500 "status 500: induced failure: the CA is unavailable"
expect_failure hang "timeout"
expect_failure truncated "transfer closed|transport error|partial"
expect_failure otherroot "chain does not verify"
expect_failure otherkey "certificate for another key"
echo good > "$work/mode"
wait_for 30 "renewal after the failures" serial_is_not "$work/live/host/cert.pem" "$serial"
assert_credential_ok "$work/live/host"

# 3. A SAN added in the configuration: /simpleenroll with the bootstrap, and the log says why.
stop_daemon
sed -i 's|sans: \["DNS:host.test.internal"\]|sans: ["DNS:host.test.internal", "DNS:alias.test.internal"]|' \
  "$work/config.yaml"
start_daemon "$work/config.yaml"
wait_for 10 "restart" bash -c "[ \$(grep -c 'running with' '$work/daemon.log') -eq 3 ]"
kill -USR1 "$daemon_pid"
wait_for 30 "the new SAN" bash -c "openssl x509 -in '$work/live/host/cert.pem' -noout -ext subjectAltName | grep -q alias.test.internal"
grep -q "credential=host.*SANs differ from the live certificate's.*/simpleenroll with the bootstrap" \
  "$work/daemon.log" || fail "the log does not say why /simpleenroll was used"
! grep -q "re-enrollment must keep subject" "$work/daemon.log" || fail "a changed name went to /simplereenroll"
stop_daemon
! grep -q "PRIVATE KEY" "$work/daemon.log" || fail "a key was logged"
echo PASS
