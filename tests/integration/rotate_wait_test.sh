#!/usr/bin/env bash
# `certrotd rotate --wait [NAME...]` returns once those rotations ended, one line per credential:
# exit 0 when all were renewed, 1 when one failed, 75 when --timeout passed first, 69 with no
# daemon. A private D-Bus daemon stands in for the user bus.
source "$(dirname "$0")/lib.sh"

start_bus

expect_rc() {  # EXPECTED DESCRIPTION COMMAND...
  local expected=$1 what=$2 rc=0; shift 2
  "$@" >"$work/out" 2>&1 || rc=$?
  [ "$rc" -eq "$expected" ] || fail "$what: exit $rc, expected $expected: $(cat "$work/out")"
}

expect_rc 69 "rotate --wait with no daemon" "$CERTROTD" rotate --wait --bus user

make_ca
# web: fine. broken: its output folder cannot be created, so every rotation fails. slow: its
# on_rotate hook (part of the rotation) takes 20 s.
touch "$work/not-a-dir"
write_config "$work/config.yaml" 1h web broken slow
sed -i "s|dir: $work/live/broken|dir: $work/not-a-dir/broken|" "$work/config.yaml"
cat >>"$work/config.yaml" <<YAML
    on_rotate:
      - exec: { command: ["/bin/sh", "-c", "[ -e $work/slow-now ] && exec sleep 20 || true"], timeout: 30s }
YAML
"$CERTROTD" run --config "$work/config.yaml" --bus user --log-level debug >>"$work/daemon.log" 2>&1 &
daemon_pid=$!
started_pids+=("$daemon_pid")
wait_for 20 "web and slow issued" sh -c "[ \$(grep -c -e 'renewed credential=web' -e 'renewed credential=slow' '$work/daemon.log') -ge 2 ]"
wait_for 10 "the control interface" "$CERTROTD" status --bus user web

# One credential: renewed, and the serial printed is the one now live.
before=$(serial_of "$work/live/web/cert.pem")
expect_rc 0 "rotate --wait web" "$CERTROTD" rotate --wait --bus user web
after=$(serial_of "$work/live/web/cert.pem")
[ "$after" != "$before" ] || fail "rotate --wait returned before web was renewed"
grep -qx "web: renewed, serial $(as_certrotd_serial "$after")" "$work/out" || fail "web line: $(cat "$work/out")"

# Several, one of which fails: a line each, in the order asked, exit 1.
expect_rc 1 "rotate --wait broken web" "$CERTROTD" rotate --wait --bus user broken web web
[ "$(wc -l <"$work/out")" -eq 2 ] || fail "not one line per credential: $(cat "$work/out")"
head -1 "$work/out" | grep -q "^broken: FAILED: .*not-a-dir/broken" || fail "broken line: $(cat "$work/out")"
sed -n 2p "$work/out" | grep -q "^web: renewed, serial " || fail "web line: $(cat "$work/out")"
serial_is_not "$work/live/web/cert.pem" "$after" || fail "web was not rotated again"

# All (no names): every credential gets its line.
expect_rc 1 "rotate --wait (all)" "$CERTROTD" rotate --wait --bus user
for name in web broken slow; do grep -q "^$name: " "$work/out" || fail "no $name line: $(cat "$work/out")"; done

# A rotation that outlasts --timeout: 75, promptly, and the daemon still finishes it.
touch "$work/slow-now"
start=$SECONDS
expect_rc 75 "rotate --wait --timeout 1s slow" "$CERTROTD" rotate --wait --timeout 1s --bus user slow
[ $((SECONDS - start)) -lt 10 ] || fail "--timeout 1s took $((SECONDS - start)) s"
grep -q "did not all end within the timeout" "$work/out" || fail "timeout message: $(cat "$work/out")"
kill -0 "$daemon_pid" || fail "the daemon died"
rm "$work/slow-now"
expect_rc 0 "rotate --wait web after a timed-out wait" "$CERTROTD" rotate --wait --bus user web
stop_daemon
echo "rotate_wait_test: ok"
