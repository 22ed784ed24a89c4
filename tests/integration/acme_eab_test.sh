#!/usr/bin/env bash
# External Account Binding (RFC 8555 §7.3.4) against a pebble with
# externalAccountBindingRequired: a wrong HMAC key is refused with a clear error (and never
# logged), no account key is bound; the right one makes the account and the certificate.
# Without `eab:` certrotd says what to write before it asks the server.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/peers.sh"
source "$(dirname "$0")/acme_lib.sh"

good=zWNDZM6eQGHWpSRTPal5eIUYFTu7EajVIoguysqZ9wG44nMEtx3MUAsUDkMTQ12W
wrong=b10lLJs8l1GPIzsLP0s6pMt8O0XVGnfTaCeROxQM0BIt2XrJMDHJZBM5NuQmQJQH
write_pebble_config '"externalAccountBindingRequired": true,
    "externalAccountMACKeys": { "kid-1": "'$good'" }'
start_pebble
start_bus
umask 077
printf '%s\n' "$wrong" > "$work/eab.key"

# 1. No eab: refused before newAccount, with what to write.
write_acme_config "$work/config.yaml"
run_daemon
rc=0
"$CERTROTD" rotate --wait --timeout 20s --bus user web >"$work/rotate.out" 2>&1 || rc=$?
[ "$rc" -eq 1 ] || fail "rotate without eab: exit $rc"
grep -q "requires an external account binding" "$work/daemon.log" ||
  fail "no clear error without eab"
stop_daemon

# 2. The wrong HMAC key: pebble refuses the binding; the log says so, the key is not in it.
write_acme_config "$work/config.yaml" "    terms_of_service_agreed: true
    eab: { kid: kid-1, hmac_key_file: \"$work/eab.key\" }"
run_daemon
rc=0
"$CERTROTD" rotate --wait --timeout 20s --bus user web >"$work/rotate.out" 2>&1 || rc=$?
[ "$rc" -eq 1 ] || fail "rotate with a wrong EAB key: exit $rc"
grep -q "ACME newAccount: HTTP [0-9]*: [a-zA-Z]*" "$work/daemon.log" ||
  fail "the refusal of newAccount is not in the log"
grep -qF "$wrong" "$work/daemon.log" && fail "the HMAC key was logged"
[ ! -e "$work/live/web/cert.pem" ] || fail "a certificate without a valid binding"
[ ! -e "$work/state/acme/pebble/account.json" ] || fail "an account URL kept after a refusal"
"$CERTROTD" status --bus user web >"$work/status.out" 2>&1 || true
grep -q "newAccount" "$work/status.out" || fail "status does not show the reason: $(cat "$work/status.out")"
stop_daemon

# 3. The right key: account and certificate.
printf '%s\n' "$good" > "$work/eab.key"
run_daemon
"$CERTROTD" rotate --wait --timeout 30s --bus user web >"$work/rotate.out" 2>&1 ||
  fail "rotate with the right EAB key: $(cat "$work/rotate.out")"
assert_credential_ok "$work/live/web"
grep -q '"url"' "$work/state/acme/pebble/account.json" || fail "no account URL kept"
grep -qF "$good" "$work/daemon.log" && fail "the HMAC key was logged"
stop_daemon
echo "PASS"
