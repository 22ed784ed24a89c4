#!/usr/bin/env bash
# link_tls_unique (RFC 7030 §3.5) against the EST test server in its tlsunique mode, which
# refuses a CSR whose challengePassword is not base64 of the tls-unique value of the TLS
# connection that carries it (and any TLS 1.3 connection):
#  - a credential of an issuer with link_tls_unique enrolls with the bootstrap certificate and
#    re-enrolls itself twice, each CSR linked to its own connection, over TLS 1.2;
#  - a credential of an issuer without it, enrolled while the server did not check, is refused
#    at its renewal: the old certificate stays and the log says why.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/peers.sh"
source "$(dirname "$0")/est_lib.sh"
est_start host42 unused
echo tlsunique > "$work/mode"
est_config "    link_tls_unique: true
"
start_daemon "$work/config.yaml"
wait_for 30 "first enrollment with link_tls_unique" test -f "$work/live/host/cert.pem"
assert_credential_ok "$work/live/host"
grep -q "op=simpleenroll tlsunique=match" "$work/est-events" ||
  fail "the enrollment's CSR was not linked to its connection"

for round in 1 2; do
  before=$(serial_of "$work/live/host/cert.pem")
  kill -USR1 "$daemon_pid"
  wait_for 30 "linked re-enrollment $round" serial_is_not "$work/live/host/cert.pem" "$before"
  assert_credential_ok "$work/live/host"
  grep -q "op=simplereenroll peer=$(as_certrotd_serial "$before") auth=cert mode=tlsunique" \
    "$work/est-events" || fail "re-enrollment $round was not made with the previous certificate"
done
[ "$(grep -c "op=simplereenroll tlsunique=match" "$work/est-events")" -eq 2 ] ||
  fail "not every re-enrollment was linked to its connection"
! grep -q "tlsunique=refused" "$work/est-events" || fail "the server refused a linked CSR"
stop_daemon

# The same server, and an issuer without link_tls_unique.
echo good > "$work/mode"
est_config "" "  plain:
    issuer: corp-est
    subject: { common_name: plain.test.internal }
    sans: [\"DNS:plain.test.internal\"]
    output: { dir: $work/live/plain }
"
start_daemon "$work/config.yaml"
wait_for 30 "first enrollment of plain" test -f "$work/live/plain/cert.pem"
before=$(serial_of "$work/live/plain/cert.pem")
echo tlsunique > "$work/mode"
mark=$(wc -l < "$work/est-events")
kill -USR1 "$daemon_pid"
refused() { tail -n "+$((mark + 1))" "$work/est-events" | grep -q "tlsunique=refused"; }
wait_for 30 "the server's refusal of an unlinked CSR" refused
wait_for 30 "the refusal in the log" \
  grep -q "credential=plain.*the CSR has no challengePassword" "$work/daemon.log"
[ "$(serial_of "$work/live/plain/cert.pem")" = "$before" ] || fail "the old certificate was replaced"
assert_credential_ok "$work/live/plain"
stop_daemon
echo PASS
