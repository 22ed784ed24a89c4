#!/usr/bin/env bash
# The `est` issuer honours /csrattrs (RFC 7030 §4.5) of the EST test server
# (tests/peers/est_server.mjs, mode csrattrs): the server asks for an EC P-384 key, for
# subjectAltName and macAddress (1.3.6.1.1.1.1.22) and for a challengePassword. The credential
# configures the default EC P-256 key:
#  - the installed key and certificate are P-384, and the server got a P-384 CSR each time;
#  - the log says why the key is P-384, and names what certrotd does not put in the CSR
#    (macAddress, the challengePassword) in one warning, said once over three enrollments;
#  - one GET /csrattrs per enrollment;
#  - when the server asks for nothing again (204), the next key is the configured P-256.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/peers.sh"
source "$(dirname "$0")/est_lib.sh"
echo csrattrs > "$work/mode"
est_start u p
est_config ""

curve_of_key() { openssl pkey -in "$1" -noout -text | sed -n 's/^NIST CURVE: //p'; }
curve_of_cert() { openssl x509 -in "$1" -noout -text | sed -n 's/^ *NIST CURVE: //p'; }
said() { grep -c "$1" "$work/daemon.log" || true; }

start_daemon "$work/config.yaml"
wait_for 30 "the first enrollment" test -f "$work/live/host/cert.pem"
assert_credential_ok "$work/live/host"
for round in 2 3; do
  before=$(serial_of "$work/live/host/cert.pem")
  kill -USR1 "$daemon_pid"
  wait_for 30 "enrollment $round" serial_is_not "$work/live/host/cert.pem" "$before"
  assert_credential_ok "$work/live/host"
  [ "$(curve_of_key "$work/live/host/key.pem")" = P-384 ] ||
    fail "enrollment $round: the key is not P-384: $(curve_of_key "$work/live/host/key.pem")"
  [ "$(curve_of_cert "$work/live/host/cert.pem")" = P-384 ] || fail "the certificate is not P-384"
done
enrollments=$(grep -c "op=simple" "$work/est-events")
[ "$enrollments" -eq 3 ] || fail "expected 3 enrollments: $(cat "$work/est-events")"
[ "$(grep -c "op=simple.* key=ec-P-384" "$work/est-events")" -eq 3 ] ||
  fail "the server did not get P-384 CSRs: $(cat "$work/est-events")"
[ "$(grep -c "op=csrattrs mode=csrattrs" "$work/est-events")" -eq 3 ] ||
  fail "expected one /csrattrs per enrollment: $(cat "$work/est-events")"
[ "$(said "credential=host.*the EST server (/csrattrs) asks for an ec P-384 key; key: says ec P-256")" \
  -eq 3 ] || fail "the reason for the P-384 key was not logged with each new key"
[ "$(said "credential=host.*/csrattrs) for what certrotd does not put in the CSR")" -eq 1 ] ||
  fail "the ignored attributes were not named exactly once"
warning=$(grep "for what certrotd does not put in the CSR" "$work/daemon.log")
for what in "the extension 1.3.6.1.1.1.1.22" \
  "challengePassword (certrotd sends one only with link_tls_unique)"; do
  grep -qF "$what" <<<"$warning" || fail "the warning does not name '$what': $warning"
done
! grep -qF "2.5.29.17" <<<"$warning" || fail "subjectAltName is in the CSR, yet named: $warning"

# The server asks for nothing again: the configured key type comes back.
echo good > "$work/mode"
before=$(serial_of "$work/live/host/cert.pem")
kill -USR1 "$daemon_pid"
wait_for 30 "the enrollment without attributes" serial_is_not "$work/live/host/cert.pem" "$before"
assert_credential_ok "$work/live/host"
[ "$(curve_of_key "$work/live/host/key.pem")" = P-256 ] || fail "the key is not the configured P-256"
grep -q "op=simplereenroll .*mode=good key=ec-P-256" "$work/est-events" ||
  fail "the server did not get a P-256 CSR: $(cat "$work/est-events")"
stop_daemon
! grep -q "PRIVATE KEY" "$work/daemon.log" || fail "a key was logged"
echo PASS
