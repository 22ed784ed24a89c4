#!/usr/bin/env bash
# SIGKILL the daemon at random points while it rotates; every restart finds each credential
# complete (key matches certificate, chain verifies) and no leftovers of an unfinished swap.
source "$(dirname "$0")/lib.sh"

make_ca
write_config "$work/config.yaml" 10m a b c d
rounds=${CRASH_ROUNDS:-20}

for round in $(seq 1 "$rounds"); do
  start_daemon "$work/config.yaml"
  wait_for 15 "daemon up (round $round)" grep -q "running with" "$work/daemon.log"
  # Force rotations, then kill after a random 0-400 ms: somewhere inside key generation,
  # signing, file writes, fsyncs or the symlink switch.
  for _ in 1 2 3; do kill -USR1 "$daemon_pid" 2>/dev/null || true; sleep 0.0$((RANDOM % 10)); done
  sleep "0.$((RANDOM % 400))"
  kill -KILL "$daemon_pid"
  wait "$daemon_pid" 2>/dev/null || true
  : > "$work/daemon.log"

  for c in a b c d; do
    dir=$work/live/$c
    # Before the very first swap there is nothing yet; after it, always a complete version.
    if [ -L "$dir/..data" ]; then
      assert_credential_ok "$dir"
    fi
  done
done

# A restart cleans up and leaves only complete versions.
start_daemon "$work/config.yaml"
wait_for 15 "daemon up after crashes" grep -q "running with" "$work/daemon.log"
for c in a b c d; do
  wait_for 15 "credential $c present" test -f "$work/live/$c/cert.pem"
  assert_credential_ok "$work/live/$c"
done
sleep 1
leftovers=$(find "$work/live" -maxdepth 2 \( -name '..tmp-*' -o -name '..data.tmp*' \) | wc -l)
[ "$leftovers" -eq 0 ] || fail "$leftovers leftovers of unfinished swaps after restart"
stop_daemon
echo "crash_test: ok ($rounds kills)"
