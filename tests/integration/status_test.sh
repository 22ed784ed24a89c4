#!/usr/bin/env bash
# `certrotd status` says who answered: the daemon on the bus (its PID and configuration file) or
# the files. With --config it refuses a daemon that runs another configuration (unless
# --any-daemon); `status NAME...` answers for the named credentials only, and an unknown name is
# the same error (exit 64) from the daemon and from the files. A private D-Bus daemon stands in
# for the user bus.
source "$(dirname "$0")/lib.sh"

start_bus

make_ca
write_config "$work/a.yaml" 1h alpha beta
mkdir -p "$work/b"
sed -e "s|$work/state|$work/b/state|" -e "s|$work/live|$work/b/live|" -e 's/alpha/gamma/g' -e 's/beta/delta/g' \
  "$work/a.yaml" >"$work/b.yaml"
"$CERTROTD" run --config "$work/a.yaml" --bus user --log-level debug >>"$work/daemon.log" 2>&1 &
daemon_pid=$!
started_pids+=("$daemon_pid")
wait_for 20 "both credentials issued" sh -c "[ \$(grep -c 'renewed credential=' '$work/daemon.log') -ge 2 ]"
wait_for 10 "the control interface" "$CERTROTD" status --bus user

# The daemon runs a.yaml: the header names it and its PID; the countdown is a live schedule.
"$CERTROTD" status --bus user --config "$work/a.yaml" >"$work/out" || fail "status of a.yaml failed: $(cat "$work/out")"
head -1 "$work/out" | grep -qx "certrotd PID $daemon_pid running $work/a.yaml" || fail "no daemon header: $(cat "$work/out")"
grep -Eq '^alpha +valid .*next-renewal .*\(in ' "$work/out" || fail "no alpha: $(cat "$work/out")"
# The same file named another way is the same configuration.
(cd "$work" && "$CERTROTD" status --bus user --config ./a.yaml >/dev/null) || fail "a relative --config was refused"

# b.yaml: refused, naming the daemon that answered.
rc=0
"$CERTROTD" status --bus user --config "$work/b.yaml" >"$work/out" 2>"$work/err" || rc=$?
[ "$rc" -eq 69 ] || fail "status of another configuration exited $rc: $(cat "$work/out" "$work/err")"
grep -q "PID $daemon_pid) runs $work/a.yaml, not $work/b.yaml" "$work/err" || fail "unclear refusal: $(cat "$work/err")"
! grep -q alpha "$work/out" || fail "the other daemon's credentials were printed"
"$CERTROTD" status --bus user --config "$work/b.yaml" --any-daemon >"$work/out" || fail "--any-daemon failed"
grep -q '^alpha ' "$work/out" || fail "--any-daemon did not show the daemon's credentials"

# status NAME: only those, in the order asked; JSON too.
"$CERTROTD" status --bus user beta >"$work/out" || fail "status beta failed"
[ "$(grep -c '^[a-z]' "$work/out")" -eq 2 ] && grep -q '^beta ' "$work/out" || fail "status beta: $(cat "$work/out")"
"$CERTROTD" status --bus user --json beta alpha | python3 -c '
import json, sys
names = [s["name"] for s in json.load(sys.stdin)]
assert names == ["beta", "alpha"], names' || fail "status --json beta alpha is wrong"
rc=0
"$CERTROTD" status --bus user alpha nope 2>"$work/err" >/dev/null || rc=$?
[ "$rc" -eq 64 ] && grep -q "no credential named 'nope' in $work/a.yaml" "$work/err" ||
  fail "unknown name from the daemon: exit $rc, $(cat "$work/err")"

# No daemon: figures from the files, no countdown, the same error for an unknown name.
stop_daemon
"$CERTROTD" status --bus user --config "$work/a.yaml" >"$work/out" || fail "offline status failed"
head -1 "$work/out" | grep -q "^no certrotd answers on the user bus: figures from the files of $work/a.yaml; nothing is scheduling renewals" ||
  fail "no offline header: $(cat "$work/out")"
grep -Eq '^alpha +valid .*next-renewal [0-9TZ:-]+ \(due, not scheduled\)' "$work/out" || fail "offline row: $(cat "$work/out")"
! grep -q "next-renewal .*(in " "$work/out" || fail "a countdown without a daemon: $(cat "$work/out")"
rc=0
"$CERTROTD" status --bus user --config "$work/a.yaml" alpha nope 2>"$work/err" >/dev/null || rc=$?
[ "$rc" -eq 64 ] && grep -q "no credential named 'nope' in $work/a.yaml" "$work/err" ||
  fail "unknown name from the files: exit $rc, $(cat "$work/err")"

# A daemon that holds the state directory but is not on this bus is named.
"$CERTROTD" run --config "$work/a.yaml" --bus system --log-level debug >>"$work/daemon.log" 2>&1 &
daemon_pid=$!
started_pids+=("$daemon_pid")
wait_for 10 "the daemon on the state directory" sh -c "grep -q '^$daemon_pid\$' '$work/state/certrotd.lock'"
"$CERTROTD" status --bus user --config "$work/a.yaml" >"$work/out" || fail "offline status failed"
head -1 "$work/out" | grep -q "^no certrotd answers on the user bus (PID $daemon_pid holds $work/state)" ||
  fail "the lock holder is not named: $(cat "$work/out")"
stop_daemon
echo "status_test: ok"
