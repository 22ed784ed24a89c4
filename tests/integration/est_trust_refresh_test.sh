#!/usr/bin/env bash
# The CA bundle refreshed on a timer of its own (`trust: { from_issuer: true, refresh: 2s }`):
#  - A CA rollover is noticed by the refresh alone (no renewal due, none made): ca.pem gains the
#    new root, the on_rotate action reloads nginx, and nginx trusting that ca.pem accepts clients
#    of both roots during the overlap.
#  - Once the server and trust_anchors dropped the old root, it stays in ca.pem while the live
#    certificate still chains to it; it goes with the renewal that moves the live certificate to
#    the new root (and nginx, reloaded, then refuses clients of the old root).
#  - A refresh that cannot reach /cacerts keeps ca.pem as it is and is tried again.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/peers.sh"
source "$(dirname "$0")/est_lib.sh"
est_rollover_certs
cp "$ca.pem" "$work/anchors.pem"
est_start u p

est_config "    trust_anchors: $work/anchors.pem
    trust: { from_issuer: true, refresh: 2s }
" "    on_rotate:
      - exec: { command: [\"/bin/sh\", \"-c\", \"[ ! -s $work/nginx/nginx.pid ] || /usr/sbin/nginx -e $work/nginx/error.log -c $work/nginx/nginx.conf -s reload; echo reload >> $work/reloads\"] }
"
"$CERTROTD" check --config "$work/config.yaml" >/dev/null || fail "certrotd check refuses trust.refresh"
accepts() {  # accepts CLIENT: nginx lets the client in
  curl -fsS --cacert "$ca.pem" --cert "$work/$1.pem" --key "$work/$1.key" \
    "https://127.0.0.1:$nginx_port/" >/dev/null 2>&1
}
enrollments() { grep -c "op=simple" "$work/est-events" || true; }
# The steps look only at what came after a mark (a line count) taken before them, so an earlier
# step's event cannot stand in for a later one's.
events_mark() { wc -l < "$work/est-events"; }
log_mark() { wc -l < "$work/daemon.log"; }
logged_since() {  # logged_since LINE REGEX: REGEX appears in the daemon log after line LINE
  tail -n "+$(($1 + 1))" "$work/daemon.log" | grep -Eq "$2"
}
cacerts_since() {  # cacerts_since LINE MODE: /cacerts requests in MODE ("": any) after line LINE
  tail -n "+$(($1 + 1))" "$work/est-events" | grep -c "op=cacerts mode=$2" || true
}
cacerts_at_least() { [ "$(cacerts_since "$1" "$2")" -ge "$3" ]; }  # cacerts_at_least LINE MODE N

start_daemon "$work/config.yaml"
wait_for 30 "first enrollment" test -f "$work/live/host/cert.pem"
assert_credential_ok "$work/live/host"
serial=$(serial_of "$work/live/host/cert.pem")
[ "$(roots_in "$work/live/host/ca.pem")" -eq 1 ] || fail "ca.pem should hold the one root"

est_start_nginx
wait_for 10 "nginx's pid file" test -s "$work/nginx/nginx.pid"
accepts old-client || fail "nginx refused a client of the old root"
! accepts new-client || fail "nginx accepted a client of the new root before the rollover"

# 1. The rollover, noticed by the refresh timer alone.
enrolled=$(enrollments)
mark=$(log_mark)
echo rollover > "$work/mode"
wait_for 20 "the new root in ca.pem" has_root "$work/live/host/ca.pem" "$work/newroot.pem"
has_root "$work/live/host/ca.pem" "$ca.pem" || fail "the old root left ca.pem during the overlap"
! has_root "$work/live/host/ca.pem" "$work/newwithold.pem" || fail "the cross certificate is in ca.pem"
[ "$(serial_of "$work/live/host/cert.pem")" = "$serial" ] || fail "the refresh renewed the certificate"
[ "$(enrollments)" -eq "$enrolled" ] || fail "the refresh enrolled: $(cat "$work/est-events")"
wait_for 20 "on_rotate after the refresh" logged_since "$mark" "upkeep credential=host .*CA bundle refreshed"
wait_for 20 "nginx reloaded by on_rotate" accepts new-client
accepts old-client || fail "nginx refused a client of the old root during the overlap"
# The first enrollment reported its own reload; this one is the refresh's.
wait_for 20 "the refresh's reload reported" logged_since "$mark" "dependent-reloaded credential=host"

# 2. The server and trust_anchors drop the old root; the live certificate still chains to it.
cp "$work/newroot.pem" "$work/anchors.pem"
mark=$(events_mark)
echo newroot > "$work/mode"
# Two answers after the switch: at least one refresh read the new /cacerts through to the end.
wait_for 20 "two refreshes with the new root only" cacerts_at_least "$mark" newroot 2
has_root "$work/live/host/ca.pem" "$ca.pem" || fail "the old root left ca.pem while the live certificate needs it"
has_root "$work/live/host/ca.pem" "$work/newroot.pem" || fail "the new root left ca.pem"
[ "$(serial_of "$work/live/host/cert.pem")" = "$serial" ] || fail "the refresh renewed the certificate"

# 3. The renewal moves the live certificate to the new root: the old root goes.
reloads=$(wc -l < "$work/reloads")
kill -USR1 "$daemon_pid"
wait_for 30 "renewal under the new root" serial_is_not "$work/live/host/cert.pem" "$serial"
assert_credential_ok "$work/live/host"
openssl verify -CAfile "$work/newroot.pem" "$work/live/host/cert.pem" >/dev/null ||
  fail "the renewed certificate does not chain to the new root"
! has_root "$work/live/host/ca.pem" "$ca.pem" || fail "the old root stayed after no live certificate needs it"
has_root "$work/live/host/ca.pem" "$work/newroot.pem" || fail "the new root is not in ca.pem"
wait_for 20 "nginx reloaded after the renewal" sh -c "[ \$(wc -l < '$work/reloads') -gt $reloads ]"
wait_for 20 "nginx refusing the old root" sh -c "! curl -fsS --cacert '$ca.pem' --cert '$work/old-client.pem' --key '$work/old-client.key' https://127.0.0.1:$nginx_port/ >/dev/null 2>&1"
accepts new-client || fail "nginx refused a client of the new root"
mark=$(events_mark)
wait_for 20 "a refresh after the renewal" cacerts_at_least "$mark" "" 2
! has_root "$work/live/host/ca.pem" "$ca.pem" || fail "a refresh brought the old root back"

# 4. /cacerts failing: the refresh is retried, ca.pem stays.
cp "$work/live/host/ca.pem" "$work/ca-before.pem"
mark=$(log_mark)
events=$(events_mark)
echo 500 > "$work/mode"
wait_for 20 "a failed refresh" logged_since "$mark" "upkeep-failed credential=host"
wait_for 20 "the failed refresh retried" cacerts_at_least "$events" 500 2
cmp -s "$work/live/host/ca.pem" "$work/ca-before.pem" || fail "a failed refresh changed ca.pem"
stop_daemon

# 5. A refresh without from_issuer is a configuration error (exit 78, file:line:col).
sed -i "s|trust: { from_issuer: true, refresh: 2s }|trust: { refresh: 2s }|" "$work/config.yaml"
set +e
"$CERTROTD" check --config "$work/config.yaml" > "$work/check.out" 2>&1
rc=$?
set -e
[ "$rc" -eq 78 ] || fail "trust.refresh without from_issuer: exit $rc, not 78"
grep -q "config.yaml:[0-9]*:[0-9]*.*from_issuer" "$work/check.out" || fail "no position or hint: $(cat "$work/check.out")"
echo PASS
