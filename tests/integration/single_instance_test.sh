#!/usr/bin/env bash
# One certrotd per state directory: a second `run` on the same configuration refuses to start
# (exit 75, naming the PID of the first) and an offline `rollback` refuses while the daemon holds
# the lock; once it has stopped, both work again.
source "$(dirname "$0")/lib.sh"

make_ca
write_config "$work/config.yaml" 10m web
start_daemon "$work/config.yaml"
first=$daemon_pid
wait_for 15 "first issuance" grep -q "renewed credential=web" "$work/daemon.log"
serial1=$(serial_of "$work/live/web/cert.pem")
kill -USR1 "$first"
wait_for 15 "a second version" serial_is_not "$work/live/web/cert.pem" "$serial1"
serial2=$(serial_of "$work/live/web/cert.pem")
sleep 1

# The second instance: refused at once, the first one named, nothing touched.
rc=0
timeout 20 "$CERTROTD" run --config "$work/config.yaml" >"$work/second.log" 2>&1 || rc=$?
[ "$rc" -eq 75 ] || fail "second instance exited with $rc, not 75: $(cat "$work/second.log")"
grep -q "another certrotd (PID $first) is running" "$work/second.log" ||
  fail "the refusal does not name PID $first: $(cat "$work/second.log")"
grep -q "$work/state/certrotd.lock" "$work/second.log" || fail "the refusal does not name the lock file"
kill -0 "$first" || fail "the first daemon died"
[ "$(stat -c %a "$work/state/certrotd.lock")" = 600 ] || fail "the lock file is not mode 0600"

# Offline rollback (no daemon answers on the bus here) refuses while the daemon holds the lock.
rc=0
"$CERTROTD" rollback --config "$work/config.yaml" web >"$work/rollback.log" 2>&1 || rc=$?
[ "$rc" -eq 75 ] || fail "rollback under a running daemon exited with $rc: $(cat "$work/rollback.log")"
grep -q "PID $first" "$work/rollback.log" || fail "rollback does not name the daemon: $(cat "$work/rollback.log")"
[ "$(serial_of "$work/live/web/cert.pem")" = "$serial2" ] || fail "rollback swapped under the daemon"

# Once it has stopped (the kernel drops the lock with its descriptor), both work again.
stop_daemon
"$CERTROTD" rollback --config "$work/config.yaml" web >"$work/rollback.log" 2>&1 ||
  fail "rollback after the daemon stopped failed: $(cat "$work/rollback.log")"
[ "$(serial_of "$work/live/web/cert.pem")" = "$serial1" ] || fail "rollback did not restore $serial1"
: > "$work/daemon.log"
start_daemon "$work/config.yaml"
wait_for 15 "the restarted daemon" grep -q "running with" "$work/daemon.log"
stop_daemon
echo "single_instance_test: ok"
