#!/usr/bin/env bash
# Watching many output folders must not cost a file descriptor each: with a limit of 64 open
# files, a daemon with 100 credentials still starts, adopts a hand change, and stops on SIGTERM.
source "$(dirname "$0")/lib.sh"

make_ca
names=()
for i in $(seq 1 100); do names+=("c$i"); done
write_config "$work/config.yaml" 1h "${names[@]}"

( ulimit -n 64; exec "$CERTROTD" run --config "$work/config.yaml" >>"$work/daemon.log" 2>&1 ) &
daemon_pid=$!
started_pids+=("$daemon_pid")
all_issued() { [ "$(find "$work/live" -maxdepth 2 -name '..data' | wc -l)" -eq 100 ]; }
wait_for 60 "100 credentials issued" all_issued
assert_credential_ok "$work/live/c77"

# The watch on the last folder works: a certificate placed there by hand is adopted.
: > "$work/daemon.log"
cp "$work/live/c99/key.pem" "$work/live/c100/key.pem"
cp "$work/live/c99/cert.pem" "$work/live/c100/cert.pem"
wait_for 10 "adoption in the 100th folder" grep -q "adopted credential=c100" "$work/daemon.log"

kill -TERM "$daemon_pid"
for _ in $(seq 1 50); do kill -0 "$daemon_pid" 2>/dev/null || break; sleep 0.2; done
kill -0 "$daemon_pid" 2>/dev/null && fail "daemon ignored SIGTERM with 100 watched folders"
wait "$daemon_pid" || fail "daemon exited non-zero"
echo "many_watches_test: ok"
