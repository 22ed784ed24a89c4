#!/usr/bin/env bash
# The `acme` issuer against a real pebble (RFC 8555 test CA) that really validates http-01
# (PEBBLE_VA_ALWAYS_VALID=0): pebble's validation authority fetches the key authorization from
# certrotd's own responder. pebble refuses a share of nonces on purpose (raised here) and reuses
# authorizations; both must be survived. Then: a renewal through `certrotd rotate`, the account
# found again after its file is lost (as after a crash between newAccount and writing it), and
# an unreachable directory (the old credential kept, the reason in the log, recovery).
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/peers.sh"

source "$(dirname "$0")/acme_lib.sh"

write_pebble_config
start_pebble
start_bus
write_acme_config "$work/config.yaml" '    contact: ["mailto:ops@example.com"]
    terms_of_service_agreed: true'
"$CERTROTD" check --config-only --config "$work/config.yaml" >"$work/check.out" 2>&1 ||
  fail "check refused the configuration: $(cat "$work/check.out")"

# 1. First issuance, validated for real.
run_daemon
wait_for 45 "the first certificate" test -f "$work/live/web/cert.pem"
assert_credential_ok "$work/live/web"
openssl verify -CAfile "$work/pebble-roots.pem" -untrusted "$work/live/web/chain.pem" \
  "$work/live/web/cert.pem" >/dev/null || fail "the chain does not verify to pebble's root"
key_mode=$(stat -c %a "$work/state/acme/pebble/account.key")
[ "$key_mode" = 600 ] || fail "account.key has mode $key_mode"
grep -q '"url"' "$work/state/acme/pebble/account.json" || fail "no account URL kept"

# 2. A renewal on request.
first=$(serial_of "$work/live/web/cert.pem")
"$CERTROTD" rotate --wait --timeout 45s --bus user web >"$work/rotate.out" 2>&1 ||
  fail "rotate --wait: $(cat "$work/rotate.out")"
[ "$(serial_of "$work/live/web/cert.pem")" != "$first" ] || fail "the renewal kept the serial"
assert_credential_ok "$work/live/web"
stop_daemon

# 3. The account URL lost (a crash between newAccount and the file): found again, no new account.
account_url=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["url"])' \
  "$work/state/acme/pebble/account.json")
rm "$work/state/acme/pebble/account.json"
run_daemon
second=$(serial_of "$work/live/web/cert.pem")
"$CERTROTD" rotate --wait --timeout 45s --bus user web >"$work/rotate.out" 2>&1 ||
  fail "rotate after losing the account file: $(cat "$work/rotate.out")"
again_url=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["url"])' \
  "$work/state/acme/pebble/account.json")
[ "$again_url" = "$account_url" ] || fail "a new account $again_url instead of $account_url"
[ "$(serial_of "$work/live/web/cert.pem")" != "$second" ] || fail "no renewal after recovery"

# 4. The directory unreachable: the old credential stays and the reason is logged; the right
#    directory again: recovery.
stop_daemon
kept=$(serial_of "$work/live/web/cert.pem")
dead_port=$(free_port)
cp "$work/config.yaml" "$work/config.good"
sed -i "s|127.0.0.1:$acme_port/dir|127.0.0.1:$dead_port/dir|" "$work/config.yaml"
run_daemon
rc=0
"$CERTROTD" rotate --wait --timeout 30s --bus user web >"$work/rotate.out" 2>&1 || rc=$?
[ "$rc" -eq 1 ] || fail "rotate against an unreachable directory: exit $rc: $(cat "$work/rotate.out")"
grep -q "ACME directory" "$work/daemon.log" || fail "the log does not name the unreachable directory"
[ "$(serial_of "$work/live/web/cert.pem")" = "$kept" ] || fail "the old certificate was not kept"
assert_credential_ok "$work/live/web"
stop_daemon
cp "$work/config.good" "$work/config.yaml"
run_daemon
"$CERTROTD" rotate --wait --timeout 45s --bus user web >"$work/rotate.out" 2>&1 ||
  fail "rotate after the directory came back: $(cat "$work/rotate.out")"
[ "$(serial_of "$work/live/web/cert.pem")" != "$kept" ] || fail "no recovery"
assert_credential_ok "$work/live/web"
stop_daemon
echo "PASS"
