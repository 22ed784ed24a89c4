#!/usr/bin/env bash
# The exit codes README.md lists, from the real binary:
# - `check` refuses (78) what `run` refuses before it starts: a missing ca_cert, a CA key that
#   does not belong to the CA certificate, missing trust anchors; `--log-level bogus` is 64.
# - usage errors are 64, not CLI11's 105-114; --help and --version are 0.
# - a credential name nobody knows is 64 for every subcommand, from the daemon and from the files.
# - `status` and `check` exit 1 when a credential's last renewal failed or it expired, with a
#   daemon and without; `check --config-only` (the unit's ExecStartPre=) does not.
# A private D-Bus daemon stands in for the user bus.
source "$(dirname "$0")/lib.sh"

expect_rc() {  # EXPECTED DESCRIPTION COMMAND...
  local expected=$1 what=$2 rc=0; shift 2
  "$@" >"$work/out" 2>&1 || rc=$?
  [ "$rc" -eq "$expected" ] || fail "$what: exit $rc, expected $expected: $(cat "$work/out")"
}

make_ca
"$CERTROTD" ca init --dir "$work/other-ca" >/dev/null
write_config "$work/good.yaml" 1h web
expect_rc 0 "check of a good config" "$CERTROTD" check --config "$work/good.yaml"
# Folders outside the shipped unit's ReadWritePaths= (compiled in from systemd/certrotd.service.in)
# are warnings naming the drop-in; one under /var/lib/certrotd is not.
grep -q "^warning: credential 'web': output folder: $work/live/web lies outside the unit's ReadWritePaths=" "$work/out" &&
  grep -q "systemctl edit certrotd" "$work/out" && grep -qx "    ReadWritePaths=$work/live/web" "$work/out" ||
  fail "no ReadWritePaths= warning: $(cat "$work/out")"
sed "s|dir: $work/live/web|dir: /var/lib/certrotd/live/web|" "$work/good.yaml" >"$work/in-unit.yaml"
expect_rc 0 "check of a config inside the unit's paths" "$CERTROTD" check --config-only --config "$work/in-unit.yaml"
! grep -q "output folder" "$work/out" || fail "a folder under /var/lib/certrotd was warned about: $(cat "$work/out")"

# What `run` refuses, `check` refuses too, with the same message.
sed "s|$work/ca/intermediate.pem|$work/ca/missing.pem|" "$work/good.yaml" >"$work/no-ca.yaml"
sed "s|$work/ca/intermediate.key|$work/other-ca/ca.key|" "$work/good.yaml" >"$work/bad-key.yaml"
for bad in no-ca bad-key; do
  for cmd in check run; do
    expect_rc 78 "$cmd of $bad.yaml" timeout 30 "$CERTROTD" "$cmd" --config "$work/$bad.yaml"
    cp "$work/out" "$work/$cmd.out"
  done
  grep -q "issuer 'ca'" "$work/check.out" || fail "check of $bad.yaml: $(cat "$work/check.out")"
  diff "$work/check.out" "$work/run.out" >/dev/null ||
    fail "check and run disagree on $bad.yaml: $(cat "$work/check.out" "$work/run.out")"
done
grep -q "the CA key does not belong to the CA certificate" "$work/check.out" ||
  fail "no key mismatch: $(cat "$work/check.out")"
# Trust anchors of a network issuer are loaded by `run` before it starts; so by `check`.
cat >"$work/anchors.yaml" <<YAML
state_dir: $work/anchors-state
issuers:
  corp:
    type: cfssl
    url: https://127.0.0.1:1
    ca_bundle: $work/no-such-bundle.pem
    profile: client
    auth: { mtls: { cert: $work/ca/ca.pem, key: $work/ca/ca.key } }
credentials:
  host:
    issuer: corp
    subject: { common_name: host.test.internal }
    output: { dir: $work/live/host }
YAML
expect_rc 78 "check of missing trust anchors" "$CERTROTD" check --config "$work/anchors.yaml"
grep -q "no-such-bundle.pem" "$work/out" || fail "anchors not named: $(cat "$work/out")"
[ ! -e "$work/live/host" ] && [ ! -e "$work/anchors-state" ] || fail "check created folders"

# Usage errors.
expect_rc 64 "--log-level bogus" "$CERTROTD" run --config "$work/good.yaml" --log-level bogus
grep -q "bogus" "$work/out" || fail "no word about the level: $(cat "$work/out")"
expect_rc 64 "an unknown option" "$CERTROTD" check --bogus
grep -q "was not expected: --bogus" "$work/out" || fail "CLI11's message lost: $(cat "$work/out")"
expect_rc 64 "no subcommand" "$CERTROTD"
expect_rc 64 "a missing argument" "$CERTROTD" where-used --config "$work/good.yaml"
expect_rc 64 "a bad --timeout" "$CERTROTD" rotate --wait --timeout soon --bus user
expect_rc 0 "--help" "$CERTROTD" --help
expect_rc 0 "rotate --help" "$CERTROTD" rotate --help
grep -q -- "--wait" "$work/out" || fail "rotate --help lacks --wait"
expect_rc 0 "--version" "$CERTROTD" --version

# A credential whose output folder cannot be created: its renewal fails at start-up.
touch "$work/not-a-dir"
write_config "$work/config.yaml" 1h web broken
sed -i "s|dir: $work/live/broken|dir: $work/not-a-dir/broken|" "$work/config.yaml"

# Without a daemon: every subcommand that takes a name says 64 for an unknown one.
export DBUS_SESSION_BUS_ADDRESS=unix:path=$work/bus
c=(--config "$work/config.yaml")
expect_rc 64 "offline status nope" "$CERTROTD" status --bus user "${c[@]}" nope
expect_rc 64 "offline rollback nope" "$CERTROTD" rollback --bus user "${c[@]}" nope
expect_rc 64 "offline where-used nope" "$CERTROTD" where-used "${c[@]}" nope
expect_rc 64 "offline test-connection nope" "$CERTROTD" test-connection "${c[@]}" nope https://127.0.0.1:1
expect_rc 64 "offline import nope" "$CERTROTD" import "${c[@]}" nope --cert "$work/ca/ca.pem" --key "$work/ca/ca.key"

dbus-daemon --session --nofork --address="unix:path=$work/bus" >"$work/bus.log" 2>&1 &
started_pids+=($!)
wait_for 10 "the private bus" test -S "$work/bus"
"$CERTROTD" run "${c[@]}" --bus user --log-level debug >>"$work/daemon.log" 2>&1 &
daemon_pid=$!
started_pids+=("$daemon_pid")
wait_for 20 "web issued" grep -q "renewed credential=web" "$work/daemon.log"
wait_for 10 "the control interface" "$CERTROTD" status --bus user web

# With the daemon: the same 64.
expect_rc 64 "online status nope" "$CERTROTD" status --bus user nope
expect_rc 64 "online rotate nope" "$CERTROTD" rotate --bus user web nope
grep -q "no credential named 'nope'" "$work/out" || fail "rotate nope: $(cat "$work/out")"
expect_rc 64 "online rotate --wait nope" "$CERTROTD" rotate --wait --bus user nope
expect_rc 64 "online rollback nope" "$CERTROTD" rollback --bus user nope

# A failed renewal: 1 from status (daemon) and check; a healthy credential alone: 0.
expect_rc 1 "status with a failing credential" "$CERTROTD" status --bus user
expect_rc 1 "status --json with a failing credential" "$CERTROTD" status --bus user --json
expect_rc 0 "status of the healthy one" "$CERTROTD" status --bus user web
expect_rc 1 "check with a failing credential" "$CERTROTD" check "${c[@]}"
stop_daemon
expect_rc 1 "offline status with a failing credential" "$CERTROTD" status --bus user "${c[@]}"
expect_rc 0 "offline status of the healthy one" "$CERTROTD" status --bus user "${c[@]}" web
expect_rc 1 "offline check with a failing credential" "$CERTROTD" check "${c[@]}"
expect_rc 0 "check --config-only" "$CERTROTD" check --config-only "${c[@]}"

# Expired: a certificate from a short-lived configuration, read after its end.
write_config "$work/short.yaml" 20s short
sed -i -e "s|^state_dir: $work/state|state_dir: $work/short-state\\nmin_remaining_validity: 1s|" \
  -e 's/backdate: 5s/backdate: 0s/' "$work/short.yaml"
start_daemon "$work/short.yaml"
wait_for 20 "short issued" grep -q "renewed credential=short" "$work/daemon.log"
stop_daemon
expect_rc 0 "check while it is valid" "$CERTROTD" check --config "$work/short.yaml"
not_after=$(date -d "$(openssl x509 -noout -enddate -in "$work/live/short/cert.pem" | cut -d= -f2)" +%s)
while [ "$(date +%s)" -le "$not_after" ]; do sleep 1; done
expect_rc 1 "check of an expired credential" "$CERTROTD" check --config "$work/short.yaml"
grep -q "^short  *expired" "$work/out" || fail "not shown as expired: $(cat "$work/out")"
expect_rc 1 "offline status of an expired credential" "$CERTROTD" status --bus user --config "$work/short.yaml"
echo "exit_codes_test: ok"
