#!/usr/bin/env bash
# SIGUSR1 (or SIGHUP) sent while `certrotd run` is still starting waits for the event loop
# instead of killing the daemon, and exec hooks run with no signal blocked.
source "$(dirname "$0")/lib.sh"

make_ca
write_config "$work/config.yaml" 1h web
cat >>"$work/config.yaml" <<YAML
    on_rotate:
      - exec: { command: ["/bin/sh", "-c", "grep '^SigBlk:' /proc/self/status >> $work/hook-mask"] }
YAML
# Comments make the file slow enough to read (a few ms) that a signal sent as soon as the file is
# opened arrives while it is still being parsed.
for _ in $(seq 20000); do echo "# padding: what a large configuration costs to read"; done >>"$work/config.yaml"
"$CERTROTD" check --config "$work/config.yaml" >/dev/null || fail "config does not load"

# Each round: start the daemon, wait until it opens its configuration (inotify IN_OPEN, so the
# signal cannot arrive before main() has run), send SIGUSR1 at once, and expect the daemon to be
# up and to have rotated because of it.
python3 - "$CERTROTD" "$work" "${ROUNDS:-50}" <<'PY' || fail "the daemon died of an early signal"
import ctypes, os, select, signal, subprocess, sys, time

binary, work, rounds = sys.argv[1], sys.argv[2], int(sys.argv[3])
config = os.path.join(work, "config.yaml")
libc = ctypes.CDLL(None, use_errno=True)
IN_OPEN = 0x20
watch = libc.inotify_init1(os.O_CLOEXEC | os.O_NONBLOCK)
assert watch >= 0 and libc.inotify_add_watch(watch, config.encode(), IN_OPEN) >= 0

def drain():
    try:
        while os.read(watch, 4096):
            pass
    except BlockingIOError:
        pass

def wait_for_log(path, text, proc, limit=20):
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        with open(path) as f:
            if text in f.read():
                return True
        if proc.poll() is not None:
            return False
        time.sleep(0.02)
    return False

for i in range(rounds):
    log = os.path.join(work, "daemon.log")
    drain()
    with open(log, "w") as out:
        proc = subprocess.Popen([binary, "run", "--config", config, "--log-target", "stderr"],
                                stdout=out, stderr=out)
    try:
        ready, _, _ = select.select([watch], [], [], 20)
        if not ready:
            sys.exit(f"round {i}: the daemon never opened {config}")
        os.kill(proc.pid, signal.SIGUSR1 if i % 2 == 0 else signal.SIGHUP)
        expected = "rotating every credential now" if i % 2 == 0 else "reloading configuration"
        if not wait_for_log(log, expected, proc):
            status = proc.poll()
            sys.exit(f"round {i}: no '{expected}' in the log; exit status {status}: "
                     + open(log).read()[-2000:])
        if not wait_for_log(log, "running with", proc):
            sys.exit(f"round {i}: the daemon did not come up: " + open(log).read()[-2000:])
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=30)
    if proc.returncode != 0:
        sys.exit(f"round {i}: exit status {proc.returncode} after SIGTERM")
PY

# The hook ran (the first round issued, SIGUSR1 rounds rotated) with an empty signal mask.
[ -s "$work/hook-mask" ] || fail "the exec hook never ran"
if grep -v '^SigBlk:[[:space:]]*0*$' "$work/hook-mask"; then
  fail "an exec hook inherited blocked signals"
fi
echo "early_signal_test: ok"
