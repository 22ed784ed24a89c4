#!/usr/bin/env bash
# Expiry thresholds on their own deadline, with the real daemon and journald: a short-lived
# certificate whose issuer keeps failing is reported once `expiring` (warning), once
# `expiring-critical` (err) and once `expired`, a restart in between repeats nothing, and the
# credential's notify: hook runs once per threshold with the facts in its environment.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/systemd_lib.sh"

start_systemd_peers
make_ca
cred=expiry$$x$RANDOM   # unique in the journal across runs

# A 60-second certificate from the working CA first.
write_config "$work/good.yaml" 60s "$cred"
start_daemon "$work/good.yaml"
wait_for 30 "the first certificate" test -f "$work/live/$cred/cert.pem"
stop_daemon
serial=$(as_certrotd_serial "$(serial_of "$work/live/$cred/cert.pem")")

# Then an issuer that cannot succeed: everything it signs expires sooner than certrotd accepts
# (min_remaining_validity), so every renewal is refused and the old certificate stays live.
{ echo "min_remaining_validity: 10m"; cat "$work/good.yaml"; } >"$work/config.yaml"
cat >>"$work/config.yaml" <<YAML
    expiring_at: 20s
    critical_at: 10s
    notify:
      - exec: { command: ["/bin/sh", "-c", "echo \"\$CERTROT_THRESHOLD \$CERTROT_CREDENTIAL \$CERTROT_SERIAL\" >> $work/notify.log"] }
YAML
cat >"$unit_dir/certrotd-expiry-it.service" <<UNIT
[Service]
Type=notify
ExecStart=$CERTROTD run --config $work/config.yaml --bus user --log-level debug
UNIT
systemctl --user daemon-reload
systemctl --user start certrotd-expiry-it.service || fail "the unit did not start"

count() { journalctl --no-pager -q -o cat CERTROT_CREDENTIAL="$cred" CERTROT_EVENT="$1" | grep -c . || true; }
wait_for 60 "expiring in the journal" sh -c "[ \"\$(journalctl -q -o cat CERTROT_CREDENTIAL=$cred CERTROT_EVENT=expiring | grep -c .)\" -ge 1 ]"
journalctl --no-pager -q CERTROT_CREDENTIAL="$cred" CERTROT_EVENT=expiring -o verbose >"$work/expiring.txt"
grep -q "^ *PRIORITY=4\$" "$work/expiring.txt" || fail "expiring is not a warning: $(cat "$work/expiring.txt")"
grep -q "MESSAGE_ID=3dfcc1b8c542481d8e0a96cc193122c1" "$work/expiring.txt" || fail "no expiring MESSAGE_ID"

# A restart before the critical threshold does not report expiring again.
systemctl --user restart certrotd-expiry-it.service || fail "the unit did not restart"
wait_for 40 "expiring-critical in the journal" sh -c "journalctl -q -o cat CERTROT_CREDENTIAL=$cred CERTROT_EVENT=expiring-critical | grep -q ."
journalctl --no-pager -q CERTROT_CREDENTIAL="$cred" CERTROT_EVENT=expiring-critical -o verbose >"$work/critical.txt"
grep -q "^ *PRIORITY=3\$" "$work/critical.txt" || fail "expiring-critical is not an error: $(cat "$work/critical.txt")"
grep -q "MESSAGE_ID=c3a5f0e27d1b4c6e9b84d2f61a07e5b9" "$work/critical.txt" || fail "no expiring-critical MESSAGE_ID"
wait_for 40 "expired in the journal" sh -c "journalctl -q -o cat CERTROT_CREDENTIAL=$cred CERTROT_EVENT=expired | grep -q ."
sleep 3   # failures go on: none of them may repeat a report
systemctl --user stop certrotd-expiry-it.service

[ "$(count renew-failed)" -ge 2 ] || fail "renewal was expected to keep failing"
[ "$(count expiring)" -eq 1 ] || fail "expiring reported $(count expiring) times, expected once"
[ "$(count expiring-critical)" -eq 1 ] || fail "expiring-critical reported $(count expiring-critical) times"
[ "$(count expired)" -eq 1 ] || fail "expired reported $(count expired) times"
[ "$(as_certrotd_serial "$(serial_of "$work/live/$cred/cert.pem")")" = "$serial" ] ||
  fail "the certificate was replaced; the issuer was meant to fail"
printf 'expiring %s %s\ncritical %s %s\nexpired %s %s\n' "$cred" "$serial" "$cred" "$serial" \
  "$cred" "$serial" >"$work/expected.log"
diff -u "$work/expected.log" "$work/notify.log" >&2 || fail "the notify hook did not run once per threshold"
echo "PASS"
