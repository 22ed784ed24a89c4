#!/usr/bin/env bash
# on_rotate actions that fail: a unit that does not exist, a reload job that fails, a hook that
# times out, a stale pidfile. Each is reported (log and `certrotd status`), retried with
# backoff, and none undoes the swap: the new credential is live and valid.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/systemd_lib.sh"

start_systemd_peers
make_ca

# A running unit whose reload always fails.
cat >"$unit_dir/reload-fails-it.service" <<UNIT
[Service]
ExecStart=/bin/sleep infinity
ExecReload=/bin/false
UNIT
systemctl --user daemon-reload
systemctl --user start reload-fails-it.service

# A pidfile whose process is gone.
sh -c 'echo $$ > "$0"' "$work/stale.pid"

# One good action after the failing ones shows that a failure does not stop the list.
write_config "$work/config.yaml" 1h web
sed -i 's/backoff: { base: 1s, cap: 5s }/backoff: { base: 200ms, cap: 400ms }/' "$work/config.yaml"
cat >>"$work/config.yaml" <<YAML
    on_rotate:
      - systemd: { unit: missing-it.service, action: reload, bus: user, timeout: 10s }
      - systemd: { unit: reload-fails-it.service, action: reload, bus: user, timeout: 10s }
      - exec: { command: ["/bin/sleep", "30"], timeout: 1s }
      - signal: { pidfile: $work/stale.pid, signal: HUP }
      - exec: { command: ["/usr/bin/touch", "$work/last-action-ran"] }
YAML
"$CERTROTD" check --config "$work/config.yaml" >/dev/null || fail "config does not load"

"$CERTROTD" run --config "$work/config.yaml" --bus user --log-target stderr >>"$work/daemon.log" 2>&1 &
daemon_pid=$!
started_pids+=("$daemon_pid")

wait_for 30 "the last action" test -f "$work/last-action-ran"
wait_for 10 "renewed" grep -q "renewed credential=web" "$work/daemon.log"
assert_credential_ok "$work/live/web"

expect_failure() {  # PATTERN DESCRIPTION
  grep "dependent-failed credential=web" "$work/daemon.log" | grep -q -- "$1" ||
    fail "no dependent-failed report for $2"
}
expect_failure "missing-it.service.*not found.*after 3 attempts" "a missing unit"
expect_failure "reload-fails-it.service.*result 'failed'.*after 3 attempts" "a failing reload job"
expect_failure "exec /bin/sleep 30.*did not finish within 1s.*after 3 attempts" "a hook timeout"
expect_failure "stale pidfile: no process.*after 3 attempts" "a stale pidfile"
[ "$(grep -c 'attempt [12] failed' "$work/daemon.log")" -eq 8 ] ||
  fail "expected 2 retries of each of the 4 failing actions"
grep -q "dependent-reloaded credential=web.*touch" "$work/daemon.log" || fail "last action not reported"

# A failed dependent is exit 2 (README, exit status), for the table and for JSON.
rc=0
"$CERTROTD" status --bus user --json >"$work/status.json" || rc=$?
[ "$rc" -eq 2 ] || fail "certrotd status exited $rc, expected 2 (a dependent failed)"
python3 - "$work/status.json" <<'PY' || fail "status does not show the failures: $(cat "$work/status.json")"
import json, sys
s = json.load(open(sys.argv[1]))[0]
assert s["state"] == "valid", s
assert [d["ok"] for d in s["dependents"]] == [False, False, False, False, True], s
assert all(d["attempts"] == 3 for d in s["dependents"][:4]), s
PY
rc=0
"$CERTROTD" status --bus user >"$work/status.txt" || rc=$?
[ "$rc" -eq 2 ] && grep -q "FAILED systemd reload missing-it.service" "$work/status.txt" ||
  fail "status table does not show the failure (exit $rc): $(cat "$work/status.txt")"

stop_daemon
echo "PASS"
