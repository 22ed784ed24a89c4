#!/usr/bin/env bash
# `cmake --install` gives a layout whose unit starts the binary it installed, with the default
# prefix and with --prefix /usr given only at install time; the /usr layout puts the D-Bus
# policy and the polkit rule where dbus-daemon and polkitd read them and the commented default
# configuration in /etc/certrotd, and never replaces a configuration that is already there.
source "$(dirname "$0")/lib.sh"
build=${CERTROTD_BUILD_DIR:?}
prefix=$(sed -n 's/^CMAKE_INSTALL_PREFIX:PATH=//p' "$build/CMakeCache.txt")

install_into() {  # DESTDIR [cmake --install options]
  local root=$1; shift
  DESTDIR=$root cmake --install "$build" "$@" >"$work/install.log" 2>&1 ||
    { cat "$work/install.log" >&2; fail "cmake --install $* failed"; }
}

check_layout() {  # ROOT PREFIX
  local root=$1 p=$2 unit exec
  unit=$root$p/lib/systemd/system/certrotd.service
  [ -f "$unit" ] || fail "no unit at $unit"
  for key in ExecStart ExecStartPre; do
    exec=$(sed -n "s/^$key=\([^ ]*\).*/\1/p" "$unit")
    [ "$exec" = "$p/bin/certrotd" ] || fail "$key= of the $p unit is '$exec', not $p/bin/certrotd"
    [ -x "$root$exec" ] || fail "$key= names $exec, which was not installed"
  done
  grep -q "^Documentation=.*file://$p/share/doc/certrotd/README.md" "$unit" ||
    fail "Documentation= of the $p unit does not name the installed README"
  for f in lib/sysusers.d/certrotd.conf lib/tmpfiles.d/certrotd.conf \
           share/dbus-1/system.d/org.certrotd.Daemon.conf share/polkit-1/rules.d/50-certrotd.rules \
           share/man/man8/certrotd.8 share/man/man5/certrotd.yaml.5 \
           share/bash-completion/completions/certrotd share/doc/certrotd/certrotd.schema.json; do
    [ -f "$root$p/$f" ] || fail "$p/$f was not installed"
  done
}

install_into "$work/default"
check_layout "$work/default" "$prefix"
[ "$prefix" = /usr ] || [ ! -e "$work/default/etc/certrotd/config.yaml" ] ||
  fail "a $prefix install wrote /etc/certrotd/config.yaml"

install_into "$work/usr" --prefix /usr
check_layout "$work/usr" /usr
conf=$work/usr/etc/certrotd/config.yaml
[ -f "$conf" ] || fail "the /usr install has no /etc/certrotd/config.yaml"
"$CERTROTD" check --config "$conf" >/dev/null || fail "the installed default configuration fails check"
echo "state_dir: $work/mine" >"$conf"
install_into "$work/usr" --prefix /usr
[ "$(cat "$conf")" = "state_dir: $work/mine" ] || fail "a second install replaced the configuration"
echo PASS
