#!/usr/bin/env bash
# A certificate replaced by hand is adopted and scheduled from its own dates, not renewed again;
# `certrotd rollback` restores the previous version and the daemon adopts it too.
source "$(dirname "$0")/lib.sh"

make_ca
write_config "$work/config.yaml" 10m web
start_daemon "$work/config.yaml"
wait_for 15 "first issuance" test -f "$work/live/web/cert.pem"
dir=$work/live/web

# An operator issues a certificate by hand (openssl CLI, same CA) and copies it in place.
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$work/hand.key" 2>/dev/null
openssl req -new -key "$work/hand.key" -subj "/CN=web.test.internal" -out "$work/hand.csr"
printf 'subjectAltName=DNS:web.test.internal,IP:127.0.0.1\nextendedKeyUsage=serverAuth,clientAuth\n' > "$work/ext"
openssl x509 -req -in "$work/hand.csr" -CA "$work/ca/intermediate.pem" -CAkey "$work/ca/intermediate.key" \
  -CAcreateserial -days 2 -extfile "$work/ext" -out "$work/hand.pem" 2>/dev/null
hand=$(serial_of "$work/hand.pem")
cp "$work/hand.key" "$dir/key.pem"
cp "$work/hand.pem" "$dir/cert.pem"

wait_for 10 "adoption" grep -q "adopted credential=web" "$work/daemon.log"
sleep 3
[ "$(serial_of "$dir/cert.pem")" = "$hand" ] || fail "the hand-placed certificate was replaced"
"$CERTROTD" check --config "$work/config.yaml" > "$work/check.out"
grep -Eq '^web +valid .*next-renewal .*\(in (1d|2[0-9]h|3[0-9]h)' "$work/check.out" ||
  fail "next renewal not derived from the 2-day certificate: $(cat "$work/check.out")"

# A restart keeps the adopted certificate too.
stop_daemon
: > "$work/daemon.log"
start_daemon "$work/config.yaml"
wait_for 10 "restart" grep -q "running with" "$work/daemon.log"
sleep 2
[ "$(serial_of "$dir/cert.pem")" = "$hand" ] || fail "the adopted certificate was renewed after restart"

# Rotate, then roll back to the hand certificate.
kill -USR1 "$daemon_pid"
wait_for 10 "forced rotation" serial_is_not "$dir/cert.pem" "$hand"
rotated=$(serial_of "$dir/cert.pem")
stop_daemon
"$CERTROTD" rollback --config "$work/config.yaml" web > "$work/rollback.out" ||
  fail "rollback failed: $(cat "$work/rollback.out")"
[ "$(serial_of "$dir/cert.pem")" != "$rotated" ] || fail "rollback did not change the live certificate"
assert_credential_ok "$dir"
echo "adopt_rollback_test: ok"
