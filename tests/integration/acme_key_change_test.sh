#!/usr/bin/env bash
# `certrotd acme-key-change` against a real pebble (RFC 8555 §7.3.5 keyChange): the daemon rolls
# the account key over, the new key is kept with mode 0600 and signs the next rotation, and the
# server refuses the old one (the account is not made again with it). A key left in
# account.key.new by an interrupted change that the server never saw is dropped at the next start.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/peers.sh"
source "$(dirname "$0")/acme_lib.sh"

write_pebble_config
start_pebble
start_bus
write_acme_config "$work/config.yaml" "    terms_of_service_agreed: true"
acct=$work/state/acme/pebble
run_daemon
wait_for 45 "the first certificate" test -f "$work/live/web/cert.pem"
cp "$acct/account.key" "$work/old.key"
account_url=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["url"])' "$acct/account.json")

# 1. The rollover, then a rotation signed by the new key.
"$CERTROTD" acme-key-change --bus user pebble >"$work/change.out" 2>&1 ||
  fail "acme-key-change: $(cat "$work/change.out")"
grep -q "issuer pebble: the account key was changed; new key thumbprint " "$work/change.out" ||
  fail "unexpected answer: $(cat "$work/change.out")"
cmp -s "$acct/account.key" "$work/old.key" && fail "account.key is still the old key"
[ "$(stat -c %a "$acct/account.key")" = 600 ] || fail "the new account.key is not 0600"
[ ! -e "$acct/account.key.new" ] || fail "account.key.new was left behind"
first=$(serial_of "$work/live/web/cert.pem")
"$CERTROTD" rotate --wait --timeout 45s --bus user web >"$work/rotate.out" 2>&1 ||
  fail "rotate after the key change: $(cat "$work/rotate.out")"
[ "$(serial_of "$work/live/web/cert.pem")" != "$first" ] || fail "no renewal with the new key"
assert_credential_ok "$work/live/web"

# 2. Not for an issuer that is not there.
rc=0
"$CERTROTD" acme-key-change --bus user nosuch >"$work/nosuch.out" 2>&1 || rc=$?
[ "$rc" -eq 69 ] && grep -q "no credential of the running configuration uses an issuer named 'nosuch'" \
  "$work/nosuch.out" || fail "an unknown issuer: exit $rc: $(cat "$work/nosuch.out")"
stop_daemon

# 3. The old key put back: the server refuses it, and certrotd makes no new account with it.
cp "$acct/account.key" "$work/new.key"
cp "$work/old.key" "$acct/account.key"
: > "$work/daemon.log"
run_daemon
kept=$(serial_of "$work/live/web/cert.pem")
rc=0
"$CERTROTD" rotate --wait --timeout 30s --bus user web >"$work/rotate.out" 2>&1 || rc=$?
[ "$rc" -eq 1 ] || fail "rotate with the old key: exit $rc: $(cat "$work/rotate.out")"
grep -q "ACME newOrder: HTTP 400: malformed: JWS verification error" "$work/daemon.log" ||
  fail "the log does not show the old key refused"
[ "$(serial_of "$work/live/web/cert.pem")" = "$kept" ] || fail "the old certificate was not kept"
again_url=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["url"])' "$acct/account.json")
[ "$again_url" = "$account_url" ] || fail "a new account $again_url was made with the old key"
stop_daemon

# 4. As after a crash between writing account.key.new and pebble's answer (one it never got):
#    the next start asks pebble, which does not know that key, drops it and goes on with the key
#    it holds.
cp "$work/new.key" "$acct/account.key"
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$acct/account.key.new" 2>/dev/null
chmod 0600 "$acct/account.key.new"
run_daemon
"$CERTROTD" rotate --wait --timeout 45s --bus user web >"$work/rotate.out" 2>&1 ||
  fail "rotate after an interrupted key change: $(cat "$work/rotate.out")"
[ "$(serial_of "$work/live/web/cert.pem")" != "$kept" ] || fail "no renewal after recovery"
[ ! -e "$acct/account.key.new" ] || fail "the key the server never saw was kept"
cmp -s "$acct/account.key" "$work/new.key" || fail "account.key is not the key pebble holds"
assert_credential_ok "$work/live/web"
stop_daemon
echo "PASS"
