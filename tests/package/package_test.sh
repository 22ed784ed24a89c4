#!/usr/bin/env bash
# The Debian package as an operator meets it: scripts/package builds it from a copy of the tree,
# lintian reports no error and no warning, `apt-get install ./certrotd_*.deb` creates the user and
# folders, the installed unit passes `systemd-analyze verify` and is not enabled, the man pages
# are found, the shipped configuration passes `certrotd check`, and a purge removes the package,
# its folders and (when this test created it) the user again.
#
# Installs into the running system, so it needs root and is run by scripts/test, not by ctest.
# It refuses to run when certrotd is already installed rather than purge someone's daemon.
set -euo pipefail
src=$(cd "$(dirname "$0")/../.." && pwd)
workdir=${CERTROTD_PACKAGE_WORKDIR:-${TMPDIR:-/tmp}/certrotd-package}

fail() { echo "FAIL: $*" >&2; exit 1; }

[ "$(id -u)" -eq 0 ] || fail "needs root: it installs and purges the package"
if dpkg-query -W -f='${Status}' certrotd 2>/dev/null | grep -q 'ok installed'; then
  fail "certrotd is already installed; purge it first (apt-get purge certrotd)"
fi
had_user=no
getent passwd certrotd >/dev/null && had_user=yes

installed=no
cleanup() {
  if [ $installed = yes ]; then
    apt-get -o DPkg::Lock::Timeout=120 purge -y -qq certrotd >/dev/null 2>&1 || true
  fi
  if [ $had_user = no ] && getent passwd certrotd >/dev/null; then
    userdel certrotd || true
  fi
}
trap cleanup EXIT

echo "== scripts/package"
start=$SECONDS
"$src/scripts/package" --workdir "$workdir" >"$workdir.log" 2>&1 ||
  { tail -n 40 "$workdir.log" >&2; fail "scripts/package failed (log: $workdir.log)"; }
deb=$(tail -n 1 "$workdir.log")
version=$(dpkg-parsechangelog -l "$src/debian/changelog" -S Version)
[ "$(basename "$deb")" = "certrotd_${version}_$(dpkg-architecture -q DEB_HOST_ARCH).deb" ] ||
  fail "unexpected package name: $deb"
grep -q "^project(certrotd VERSION ${version}[ )]" "$src/CMakeLists.txt" ||
  fail "debian/changelog version $version is not the project version in CMakeLists.txt"
echo "built $deb in $((SECONDS - start))s"

echo "== lintian"
# Exit 1 for an error or warning tag, 2 when lintian itself fails; both fail the test. (It also
# notes on stderr that it runs as root.)
lintian_rc=0
tags=$(lintian --fail-on error,warning "${deb%.deb}.changes" 2>"$workdir.lintian.err") ||
  lintian_rc=$?
echo "${tags:-(no tags)}"
[ $lintian_rc -eq 0 ] || { cat "$workdir.lintian.err" >&2; fail "lintian exited $lintian_rc"; }

echo "== install"
installed=yes
DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=120 install -y -qq \
  --no-install-recommends "$deb" >/dev/null ||
  fail "apt-get install $deb failed"
[ "$(certrotd --version)" = "certrotd $version" ] || fail "certrotd --version: $(certrotd --version)"
unit=$(dpkg -L certrotd | grep '/systemd/system/certrotd.service$') || fail "no unit installed"
systemd-analyze verify "$unit" || fail "systemd-analyze verify $unit"
grep -q '^ExecStart=/usr/bin/certrotd run ' "$unit" || fail "unit does not start /usr/bin/certrotd"
[ "$(systemctl is-enabled certrotd.service 2>/dev/null)" = disabled ] ||
  fail "the unit must be installed disabled, is: $(systemctl is-enabled certrotd.service 2>&1)"
man -w certrotd certrotd.yaml >/dev/null || fail "man -w does not find certrotd(8) and certrotd.yaml(5)"
getent passwd certrotd >/dev/null || fail "no certrotd user after install"
[ "$(stat -c '%U:%G %a' /var/lib/certrotd)" = "certrotd:certrotd 711" ] ||
  fail "/var/lib/certrotd is $(stat -c '%U:%G %a' /var/lib/certrotd)"
[ "$(stat -c '%U:%G %a' /etc/certrotd)" = "root:certrotd 750" ] ||
  fail "/etc/certrotd is $(stat -c '%U:%G %a' /etc/certrotd)"
dpkg-query -W -f='${Conffiles}' certrotd | grep -q ' /etc/certrotd/config.yaml ' ||
  fail "/etc/certrotd/config.yaml is not a conffile"
certrotd check --config /etc/certrotd/config.yaml || fail "the shipped configuration fails check"
for f in /usr/share/dbus-1/system.d/org.certrotd.Daemon.conf \
         /usr/share/polkit-1/rules.d/50-certrotd.rules \
         /usr/share/bash-completion/completions/certrotd \
         /usr/share/doc/certrotd/certrotd.example.yaml \
         /usr/share/doc/certrotd/certrotd.schema.json; do
  [ -f "$f" ] || fail "$f is not installed"
done

echo "== purge"
apt-get -o DPkg::Lock::Timeout=120 purge -y -qq certrotd >/dev/null ||
  fail "apt-get purge certrotd failed"
installed=no
for p in /usr/bin/certrotd "$unit" /etc/certrotd /var/lib/certrotd; do
  [ ! -e "$p" ] || fail "$p is still there after purge"
done
echo "PASS (package test took ${SECONDS}s)"
