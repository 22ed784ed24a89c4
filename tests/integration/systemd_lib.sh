# Helpers for tests that need a real service manager and journal: a `systemd --user` manager (with
# the D-Bus user bus it starts from dbus.socket) and systemd-journald, both started here under
# setsid and stopped by PID on exit. systemd is not PID 1 on test machines, so /run/systemd/system
# is created for the manager (and removed afterwards if we created it: apt misbehaves while it
# exists). Tests that use this take a lock, because there is only one journald socket.
# Source after lib.sh.

mkdir -p /run/lock
exec 9>/run/lock/certrotd-systemd-test.lock
flock 9

created_run_systemd=0
journald_pid=
manager_pid=

stop_systemd_peers() {
  if [ -n "$manager_pid" ]; then
    XDG_RUNTIME_DIR=$work/runtime systemctl --user exit >/dev/null 2>&1 || kill -TERM "$manager_pid" 2>/dev/null || true
    local i
    for i in $(seq 50); do kill -0 "$manager_pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$manager_pid" 2>/dev/null || true
  fi
  if [ -n "$journald_pid" ]; then
    kill -TERM "$journald_pid" 2>/dev/null || true
    for i in $(seq 50); do kill -0 "$journald_pid" 2>/dev/null || break; sleep 0.1; done
  fi
  if [ "$created_run_systemd" = 1 ]; then rmdir /run/systemd/system 2>/dev/null || true; fi
}

cleanup_systemd() {
  stop_systemd_peers
  cleanup
}
trap cleanup_systemd EXIT

journald_listening() {
  python3 -c 'import socket; s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM); s.connect("/run/systemd/journal/socket")' 2>/dev/null
}

# Starts journald (unless one already listens) and a user manager; exports XDG_RUNTIME_DIR so that
# systemctl --user, busctl --user and certrotd --bus user reach them.
start_systemd_peers() {
  if [ ! -d /run/systemd/system ]; then
    mkdir -p /run/systemd/system
    created_run_systemd=1
  fi
  mkdir -p /run/systemd/journal
  if ! journald_listening; then
    setsid /lib/systemd/systemd-journald >"$work/journald.log" 2>&1 9>&- &
    journald_pid=$!
    wait_for 10 "journald" journald_listening
  fi
  export XDG_RUNTIME_DIR=$work/runtime
  mkdir -m 0700 -p "$XDG_RUNTIME_DIR"
  setsid /usr/lib/systemd/systemd --user >"$work/manager.log" 2>&1 9>&- &
  manager_pid=$!
  wait_for 20 "the user manager" systemctl --user is-system-running
  wait_for 20 "systemd on the user bus" sh -c 'busctl --user list | grep -q org.freedesktop.systemd1'
  unit_dir=$XDG_RUNTIME_DIR/systemd/user.control
  mkdir -p "$unit_dir"
}

# A journal cursor: later reads see only what this test wrote.
journal_cursor() { journalctl -n 0 --show-cursor -q 2>/dev/null | sed -n 's/^-- cursor: //p'; }

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

unit_prop() { systemctl --user show -p "$2" --value "$1"; }
