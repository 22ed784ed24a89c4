#!/usr/bin/env bash
# SIGKILL during staged activation: while a version is being staged (its on_staged hook still
# running) and at random points around staging and activation. After every kill the live
# credential is complete, and next/ is either absent or a complete version that is not the live
# one; a restart removes a next/ whose staging never completed (and says so), activates a
# recorded one when it is due, and leaves no leftovers.
source "$(dirname "$0")/lib.sh"

make_ca
cat >"$work/config.yaml" <<YAML
state_dir: $work/state
defaults:
  backoff: { base: 1s, cap: 5s }
issuers:
  ca:
    type: local
    ca_cert: $work/ca/intermediate.pem
    ca_key: $work/ca/intermediate.key
    roots: $work/ca/ca.pem
    lifetime: 1h
    backdate: 5s
credentials:
  p:
    issuer: ca
    subject: { common_name: p.test.internal }
    usage: [clientAuth]
    output: { dir: $work/live/p }
    activation: { mode: staged, activate_after: 2s, activate_before_expiry: 5m }
    on_staged:
      - exec: { command: ["/bin/sleep", "2"] }
YAML
live=$work/live/p

# next/ is absent, or a complete version other than the live one.
assert_next_ok() {
  [ -e "$live/next" ] || return 0
  [ -L "$live/next" ] || fail "next is not a link"
  for f in cert chain fullchain key bundle ca; do
    [ -f "$live/next/$f.pem" ] || fail "next/$f.pem missing: a partial next/"
  done
  assert_credential_ok "$live/next"
  [ "$(serial_of "$live/next/cert.pem")" != "$(serial_of "$live/cert.pem")" ] ||
    fail "next/ names the live version"
}

kill_daemon() {
  kill -KILL "$daemon_pid"
  wait "$daemon_pid" 2>/dev/null || true
  assert_credential_ok "$live"
  assert_next_ok
}

start_daemon "$work/config.yaml"
wait_for 20 "first issuance" grep -q "renewed credential=p" "$work/daemon.log"
first=$(serial_of "$live/cert.pem")

# 1. Killed while on_staged runs: next/ is complete, but the state file does not know it.
kill -USR1 "$daemon_pid"
wait_for 10 "next/ made" test -f "$live/next/cert.pem"
kill_daemon
[ "$(serial_of "$live/cert.pem")" = "$first" ] || fail "staging changed the live version"
: > "$work/daemon.log"
start_daemon "$work/config.yaml"
wait_for 10 "the interrupted staging removed" grep -q "staging was interrupted" "$work/daemon.log"
[ ! -e "$live/next" ] || fail "next/ of an interrupted staging is still there"
[ "$(serial_of "$live/cert.pem")" = "$first" ] || fail "recovery changed the live version"
# Staging again works, and the version goes live on time.
kill -USR1 "$daemon_pid"
wait_for 20 "staged and activated after the restart" serial_is_not "$live/cert.pem" "$first"
wait_for 5 "next/ removed after activation" bash -c "! test -e '$live/next'"
kill_daemon

# 2. Killed at random points of staging (key, signing, writes, the link, on_staged) and of the
# activation that follows 2 s after it.
for round in 1 2 3 4 5 6; do
  : > "$work/daemon.log"
  start_daemon "$work/config.yaml"
  wait_for 15 "daemon up (round $round)" grep -q "running with" "$work/daemon.log"
  kill -USR1 "$daemon_pid"
  sleep "$((RANDOM % 5)).$((RANDOM % 10))"
  kill_daemon
done

# A last start settles whatever the kills left: a recorded staged version goes live (its time
# has passed), an unrecorded one is removed.
: > "$work/daemon.log"
start_daemon "$work/config.yaml"
wait_for 15 "daemon up" grep -q "running with" "$work/daemon.log"
wait_for 10 "nothing left staged" bash -c "! test -e '$live/next'"
assert_credential_ok "$live"
leftovers=$(find "$live" -maxdepth 1 \( -name '..tmp-*' -o -name '..data.tmp*' \) | wc -l)
[ "$leftovers" -eq 0 ] || fail "$leftovers leftovers after restart"
stop_daemon
echo PASS
