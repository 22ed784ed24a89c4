#!/usr/bin/env bash
# The README's example (`group: <consumer>`, `mode: "0640"`) works in the shipped layout: a real
# non-root user outside the daemon's group, but in the consumer group, reads key.pem through
# the folders packaging/tmpfiles.d and the unit's StateDirectoryMode= create; a user outside the
# consumer group reads neither the key nor the state files. The users and the group are
# created by this test and removed again.
source "$(dirname "$0")/lib.sh"
src=${CERTROTD_SOURCE_DIR:?}

[ "$(id -u)" -eq 0 ] || { echo "group_reader_test: needs root to create users; skipped"; exit 0; }
command -v setpriv >/dev/null || fail "setpriv (util-linux) is missing"

tag=crt$$
group=${tag}g
reader=${tag}r
stranger=${tag}s
remove_accounts() {
  userdel "$reader" 2>/dev/null || true
  userdel "$stranger" 2>/dev/null || true
  groupdel "$group" 2>/dev/null || true
}
trap 'remove_accounts; cleanup' EXIT
groupadd "$group"
useradd --no-create-home --shell /usr/sbin/nologin -G "$group" "$reader"
useradd --no-create-home --shell /usr/sbin/nologin "$stranger"

# The state directory and live/ with the modes the package gives them; the unit's
# StateDirectoryMode= must say the same, since systemd applies it at every start.
lib_mode=$(awk '$1 == "d" && $2 == "/var/lib/certrotd" {print $3}' "$src/packaging/tmpfiles.d/certrotd.conf")
live_mode=$(awk '$1 == "d" && $2 == "/var/lib/certrotd/live" {print $3}' "$src/packaging/tmpfiles.d/certrotd.conf")
unit_mode=$(sed -n 's/^StateDirectoryMode=//p' "$src/systemd/certrotd.service.in")
[ -n "$lib_mode" ] && [ -n "$live_mode" ] || fail "tmpfiles.d does not create /var/lib/certrotd and live/"
[ "$lib_mode" = "$unit_mode" ] || fail "tmpfiles.d says $lib_mode, StateDirectoryMode=$unit_mode"
chmod 0755 "$work"
install -d -m "$lib_mode" "$work/state"
install -d -m "$live_mode" "$work/state/live"

make_ca
write_config "$work/config.yaml" 1h web
sed -i -e "s|dir: $work/live/web|dir: $work/state/live/web\n      group: $group\n      mode: \"0640\"|" \
  "$work/config.yaml"
start_daemon "$work/config.yaml"
wait_for 20 "web issued" test -f "$work/state/live/web/key.pem"
wait_for 10 "web's state file" sh -c "ls '$work/state' | grep -qv '^live$'"

as() {  # USER COMMAND...: the command with that user's uid, gid and groups, and nothing else
  local user=$1; shift
  setpriv --reuid "$user" --regid "$(id -g "$user")" --init-groups --inh-caps=-all "$@"
}
as "$reader" cat "$work/state/live/web/key.pem" >"$work/read.pem" 2>"$work/err" ||
  fail "$reader (group $group) cannot read key.pem: $(cat "$work/err"); $(ls -ld "$work/state" "$work/state/live" "$work/state/live/web")"
[ "$(key_pubkey "$work/read.pem")" = "$(cert_pubkey "$work/state/live/web/cert.pem")" ] ||
  fail "the key read does not match the certificate"
as "$reader" cat "$work/state/live/web/bundle.pem" >/dev/null || fail "$reader cannot read bundle.pem"
! as "$stranger" cat "$work/state/live/web/key.pem" >/dev/null 2>&1 || fail "$stranger read key.pem"
! as "$stranger" ls "$work/state" >/dev/null 2>&1 || fail "$stranger lists the state directory"
for f in "$work/state"/*; do
  [ -f "$f" ] || continue
  ! as "$stranger" cat "$f" >/dev/null 2>&1 || fail "$stranger reads the state file $f"
done
stop_daemon
echo "group_reader_test: ok"
