#!/usr/bin/env bash
# The shipped unit stays hardened: systemd's own offline analysis rates its exposure at 2.0 or
# lower (README reports the figure), and the packaging snippets are where the unit expects them.
source "$(dirname "$0")/lib.sh"
src=${CERTROTD_SOURCE_DIR:?}
unit=${CERTROTD_UNIT:?}  # the unit as CMake configured it from systemd/certrotd.service.in

out=$(systemd-analyze security --offline=true "$unit" 2>&1) ||
  fail "systemd-analyze failed: $out"
level=$(sed -n 's/.*Overall exposure level for certrotd.service: \([0-9.]*\).*/\1/p' <<<"$out")
[ -n "$level" ] || fail "no exposure level in: $out"
awk -v l="$level" 'BEGIN { exit !(l <= 2.0) }' || fail "exposure level $level is above 2.0"
grep -q "Overall exposure level for certrotd.service: $level" "$src/README.md" ||
  fail "README does not report the current exposure level $level"

grep -q '^u certrotd ' "$src/packaging/sysusers.d/certrotd.conf" || fail "no sysusers entry"
grep -q 'User=certrotd' "$unit" || fail "unit does not run as certrotd"
grep -q 'own="org.certrotd.Daemon"' "$src/packaging/dbus/org.certrotd.Daemon.conf" ||
  fail "D-Bus policy does not let the daemon own its name"
echo "PASS (exposure $level)"
