#!/usr/bin/env bash
# `certrotd revoke NAME [--reason R]` through the real daemon's D-Bus interface: exit 69 with no
# daemon; a bad --reason is a usage error; an issuer type that cannot revoke (`local`) is
# refused with exit 69 and the certificate stays live and unchanged; an unknown name is 64.
# (A revoking issuer, ACME, is tested with pebble once it exists.) A private D-Bus daemon
# stands in for the user bus.
source "$(dirname "$0")/lib.sh"

start_bus

expect_rc() {  # EXPECTED DESCRIPTION COMMAND...
  local expected=$1 what=$2 rc=0; shift 2
  "$@" >"$work/out" 2>&1 || rc=$?
  [ "$rc" -eq "$expected" ] || fail "$what: exit $rc, expected $expected: $(cat "$work/out")"
}

expect_rc 69 "revoke with no daemon" "$CERTROTD" revoke --bus user web
grep -q "revoking needs the running daemon" "$work/out" || fail "no daemon: $(cat "$work/out")"
expect_rc 64 "revoke --reason bogus" "$CERTROTD" revoke --bus user --reason bogus web

make_ca
write_config "$work/config.yaml" 1h web
"$CERTROTD" run --config "$work/config.yaml" --bus user --log-level debug >>"$work/daemon.log" 2>&1 &
daemon_pid=$!
started_pids+=("$daemon_pid")
wait_for 20 "web issued" grep -q 'renewed credential=web' "$work/daemon.log"
wait_for 10 "the control interface" "$CERTROTD" status --bus user web
before=$(serial_of "$work/live/web/cert.pem")

expect_rc 69 "revoke through an issuer that cannot" \
  "$CERTROTD" revoke --bus user --reason keyCompromise web
grep -q "certrotd revoke: issuer 'ca' (type local) cannot revoke certificates" "$work/out" ||
  fail "refusal not clear: $(cat "$work/out")"
expect_rc 64 "revoke of an unknown name" "$CERTROTD" revoke --bus user nope
[ "$(serial_of "$work/live/web/cert.pem")" = "$before" ] || fail "web changed after a refusal"
grep -q "revoked credential=web\|revoke-failed credential=web" "$work/daemon.log" &&
  fail "a refused revocation reached the issuer"
stop_daemon
echo ok
