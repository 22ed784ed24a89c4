#!/usr/bin/env bash
# The CA bundle from the EST server (`trust: { from_issuer: true }`, RFC 7030 §4.1.3): /cacerts
# is fetched with each enrollment and ca.pem holds the configured trust anchors plus the roots
# they vouch for.
#  - A CA rollover (/cacerts names the old root, the new one and NewWithOld): ca.pem holds both
#    roots, and nginx trusting that ca.pem accepts clients of the old and of the new root.
#  - An unrelated root in /cacerts is refused with a warning and never written to ca.pem.
#  - A root pinned by bootstrap_fingerprints is taken without a cross-signature.
#  - `status` lists the roots of ca.pem with their notAfter.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/peers.sh"
source "$(dirname "$0")/est_lib.sh"
est_rollover_certs
est_start u p

est_config "    trust_anchors: $ca.pem
    trust: { from_issuer: true }
"
fingerprint() { openssl x509 -noout -fingerprint -sha256 -in "$1" | cut -d= -f2 | tr 'A-F' 'a-f'; }

start_daemon "$work/config.yaml"
wait_for 30 "first enrollment" test -f "$work/live/host/cert.pem"
assert_credential_ok "$work/live/host"
[ "$(roots_in "$work/live/host/ca.pem")" -eq 1 ] || fail "ca.pem should hold the one root"
grep -q "op=cacerts" "$work/est-events" || fail "/cacerts was not fetched"

# 1. Rollover: both roots in ca.pem after the next renewal.
echo rollover > "$work/mode"
before=$(serial_of "$work/live/host/cert.pem")
kill -USR1 "$daemon_pid"
wait_for 30 "renewal during the rollover" serial_is_not "$work/live/host/cert.pem" "$before"
assert_credential_ok "$work/live/host"
[ "$(roots_in "$work/live/host/ca.pem")" -eq 2 ] || fail "ca.pem should hold the old and the new root"
has_root "$work/live/host/ca.pem" "$ca.pem" || fail "the old root left ca.pem"
has_root "$work/live/host/ca.pem" "$work/newroot.pem" || fail "the new root is not in ca.pem"
! has_root "$work/live/host/ca.pem" "$work/newwithold.pem" || fail "the cross certificate is in ca.pem"
"$CERTROTD" status --config "$work/config.yaml" > "$work/status" 2>&1 || true
grep -q "ca root: CN=EST new root, not-after " "$work/status" &&
  [ "$(grep -c "ca root: " "$work/status")" -eq 2 ] ||
  fail "status does not list the two roots of ca.pem: $(cat "$work/status")"

# nginx trusting that ca.pem accepts clients of both roots, and refuses others.
est_start_nginx
for who in old-client new-client; do
  curl -fsS --cacert "$ca.pem" --cert "$work/$who.pem" --key "$work/$who.key" \
    "https://127.0.0.1:$nginx_port/" >/dev/null || fail "nginx refused the $who during the overlap"
done
client_cert "$work/rogue-client" "$work/rogue/ca" rogue.test.internal
! curl -fsS --cacert "$ca.pem" --cert "$work/rogue-client.pem" --key "$work/rogue-client.key" \
  "https://127.0.0.1:$nginx_port/" >/dev/null 2>&1 || fail "nginx accepted a client of another root"

# 2. An unrelated root: refused, logged, not in ca.pem; the configured root stays.
echo unrelated > "$work/mode"
before=$(serial_of "$work/live/host/cert.pem")
kill -USR1 "$daemon_pid"
wait_for 30 "renewal with an unrelated root offered" serial_is_not "$work/live/host/cert.pem" "$before"
assert_credential_ok "$work/live/host"
grep -q "credential=host.*/cacerts offers the root .*no trust anchor cross-signed.*not trusted" \
  "$work/daemon.log" || fail "the unrelated root was not reported"
! has_root "$work/live/host/ca.pem" "$work/rogue/ca.pem" || fail "the unrelated root is in ca.pem"
has_root "$work/live/host/ca.pem" "$ca.pem" || fail "the configured root left ca.pem"
stop_daemon

# 3. The same root pinned by its SHA-256: taken.
sed -i "s|trust: { from_issuer: true }|trust: { from_issuer: true }\n    bootstrap_fingerprints: [\"$(fingerprint "$work/rogue/ca.pem")\"]|" \
  "$work/config.yaml"
start_daemon "$work/config.yaml"
wait_for 10 "restart" bash -c "[ \$(grep -c 'running with' '$work/daemon.log') -eq 2 ]"
before=$(serial_of "$work/live/host/cert.pem")
kill -USR1 "$daemon_pid"
wait_for 30 "renewal with a pinned root" serial_is_not "$work/live/host/cert.pem" "$before"
has_root "$work/live/host/ca.pem" "$work/rogue/ca.pem" || fail "the pinned root is not in ca.pem"
stop_daemon
echo PASS
