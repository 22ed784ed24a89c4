#!/usr/bin/env bash
# The shipped D-Bus policy on a real system bus: a private dbus-daemon started with Debian's own
# /usr/share/dbus-1/system.conf (its default-deny policy), listening in the work folder instead
# of /run/dbus, with packaging/dbus/org.certrotd.Daemon.conf as its only policy file. A root
# daemon owns the name; an unprivileged user may call Status and StatusOf but not Rotate,
# Rollback or Reload; root may.
source "$(dirname "$0")/lib.sh"
src=${CERTROTD_SOURCE_DIR:?}

[ "$(id -u)" -eq 0 ] || { echo "system_bus_policy_test: needs root to create a user; skipped"; exit 0; }
command -v setpriv >/dev/null || fail "setpriv (util-linux) is missing"
[ -f /usr/share/dbus-1/system.conf ] || fail "no /usr/share/dbus-1/system.conf (package dbus-daemon)"

user=crtbus$$
trap 'userdel "$user" 2>/dev/null || true; cleanup' EXIT
useradd --no-create-home --shell /usr/sbin/nologin "$user"

# The socket's folder must be reachable by the user: $work may be passed through, not listed.
chmod 0711 "$work"
bus_dir=$work/sysbus
mkdir -m 0755 "$bus_dir"
python3 - /usr/share/dbus-1/system.conf "$bus_dir" "$src/packaging/dbus/org.certrotd.Daemon.conf" \
  >"$bus_dir/bus.conf" <<'PY'
import sys
import xml.etree.ElementTree as ET

system_conf, bus_dir, policy = sys.argv[1:]
tree = ET.parse(system_conf)
root = tree.getroot()
# Keep the default policy; drop what ties the bus to the host (its socket, user, pidfile,
# service activation and the host's policy folders).
for tag in ("user", "fork", "pidfile", "listen", "includedir", "servicehelper",
            "standard_system_servicedirs", "syslog", "include"):
    for element in root.findall(tag):
        root.remove(element)
ET.SubElement(root, "listen").text = f"unix:path={bus_dir}/socket"
ET.SubElement(root, "include").text = policy
sys.stdout.write('<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-BUS Bus Configuration 1.0//EN"\n'
                 ' "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">\n')
sys.stdout.write(ET.tostring(root, encoding="unicode"))
PY
grep -q "<deny send_type=\"method_call\"" "$bus_dir/bus.conf" ||
  fail "the bus configuration lost the default deny: $(cat "$bus_dir/bus.conf")"
dbus-daemon --config-file="$bus_dir/bus.conf" --nofork --nosyslog >"$work/bus.log" 2>&1 &
started_pids+=($!)
wait_for 10 "the private system bus" test -S "$bus_dir/socket"
export DBUS_SYSTEM_BUS_ADDRESS=unix:path=$bus_dir/socket
address=$DBUS_SYSTEM_BUS_ADDRESS

make_ca
write_config "$work/config.yaml" 1h web
"$CERTROTD" run --config "$work/config.yaml" --bus system --log-level debug >>"$work/daemon.log" 2>&1 &
daemon_pid=$!
started_pids+=("$daemon_pid")
wait_for 20 "first issuance" test -f "$work/live/web/bundle.pem"
wait_for 10 "the daemon on the system bus" "$CERTROTD" status --bus system

as_user() { setpriv --reuid "$user" --regid "$(id -g "$user")" --clear-groups --inh-caps=-all "$@"; }
call() {  # call WHO METHOD SIGNATURE ARGS...: busctl's output and exit code
  local who=$1; shift
  local run=()
  [ "$who" = user ] && run=(as_user)
  "${run[@]}" busctl --address="$address" call org.certrotd.Daemon /org/certrotd/Daemon \
    org.certrotd.Daemon1 "$@" 2>&1
}
expect_allowed() {
  local out
  out=$(call "$@") || fail "$1 may not call $2: $out"
}
# The bus itself must refuse (dbus-daemon's "Rejected send message"), not only the daemon: sd-bus
# also refuses unprivileged callers of a method, but the policy is what this test is about.
expect_denied() {  # expect_denied METHOD DBUS-SEND-ARGS...: as the user
  local method=$1; shift
  local out rc=0
  out=$(as_user dbus-send --bus="$address" --print-reply --dest=org.certrotd.Daemon \
    /org/certrotd/Daemon "org.certrotd.Daemon1.$method" "$@" 2>&1) || rc=$?
  [ "$rc" -ne 0 ] || fail "the user could call $method: $out"
  grep -q "Rejected send message" <<<"$out" || fail "the bus did not refuse $method: $out"
}

# Status and StatusOf: anyone.
expect_allowed user Status
expect_allowed user StatusOf as 1 web
# The user's own `certrotd status` (StatusOf) is answered by the daemon, not from the files.
install -m 0755 "$CERTROTD" "$bus_dir/certrotd"
as_user env DBUS_SYSTEM_BUS_ADDRESS="$address" "$bus_dir/certrotd" status --bus system web \
  >"$work/status.txt" 2>&1 || fail "the user's status failed: $(cat "$work/status.txt")"
head -1 "$work/status.txt" | grep -q "^certrotd PID $daemon_pid running " ||
  fail "the user's status was not answered by the daemon: $(cat "$work/status.txt")"
# Rotate, Rollback and Reload: not for the user, and nothing happens.
before=$(serial_of "$work/live/web/cert.pem")
expect_denied Rotate array:string:web
expect_denied Rollback string:web
expect_denied Reload
sleep 1
[ "$(serial_of "$work/live/web/cert.pem")" = "$before" ] || fail "a refused Rotate rotated"

# Root may: a Rotate renews the credential, and the daemon stays.
expect_allowed root Rotate as 1 web
wait_for 20 "the rotation root asked for" serial_is_not "$work/live/web/cert.pem" "$before"
expect_allowed root Reload
kill -0 "$daemon_pid" || fail "the daemon died"
assert_credential_ok "$work/live/web"
stop_daemon
echo "system_bus_policy_test: ok"
