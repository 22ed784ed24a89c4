#!/usr/bin/env bash
# dns-01 validated for real: BIND 9 is authoritative for test.example and takes TSIG-signed
# RFC 2136 updates; pebble (PEBBLE_VA_ALWAYS_VALID=0) resolves through it, so its validation
# authority reads the _acme-challenge TXT record certrotd's solver published. The certificate is
# issued and installed and the record is gone afterwards. Then a key named does not accept, a
# zone it does not serve and a zone that does not hold the name: the old credential kept, the
# reason in the log and in `status`, no record left behind; the right settings again: recovery.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/peers.sh"
source "$(dirname "$0")/bind_lib.sh"
source "$(dirname "$0")/acme_lib.sh"

start_named
write_pebble_config
PEBBLE_AUTHZREUSE=0 PEBBLE_DNSSERVER=$named_server start_pebble  # every order is validated
start_bus
record=_acme-challenge.www.test.example

# write_dns01_config ZONE KEY_FILE
write_dns01_config() {
  {
    acme_issuer_yaml
    cat <<YAML
    terms_of_service_agreed: true
    challenge:
      dns-01: { nameserver: "$named_server", zone: $1, tsig_key_file: $2, propagation_timeout: 10s }
credentials:
  web:
    issuer: pebble
    subject: { common_name: www.test.example }
    sans: ["DNS:www.test.example"]
    output: { dir: $work/live/web }
YAML
  } > "$work/config.yaml"
}

# 1. Issued through the record: named logs the update, pebble's VA looked the name up, and
#    nothing is left in the zone.
write_dns01_config test.example "$work/certrotd.key"
run_daemon
wait_for 45 "the certificate" test -f "$work/live/web/cert.pem"
assert_credential_ok "$work/live/web"
openssl x509 -noout -ext subjectAltName -in "$work/live/web/cert.pem" | grep -q "DNS:www.test.example" ||
  fail "the certificate does not name www.test.example"
grep -Eq "adding an RR at '?$record'? TXT" "$work/named.log" ||
  fail "named saw no update of $record: $(tail -n 20 "$work/named.log")"
grep -Eq "deleting an RR at '?$record'? TXT" "$work/named.log" ||
  fail "named saw no deletion of $record: $(tail -n 20 "$work/named.log")"
[ -z "$(txt_at "$record")" ] || fail "records left after the issuance: $(txt_at "$record")"
stop_daemon

# expect_kept WHAT PATTERN: a rotation fails as assert_rotation_refused says, and no record is
# left.
expect_kept() {
  : > "$work/daemon.log"
  run_daemon
  assert_rotation_refused "$1" "$2"
  [ -z "$(txt_at "$record")" ] || fail "$1: records left: $(txt_at "$record")"
  stop_daemon
}

# 2. A key of the right name with another secret: named refuses the signature.
tsig-keygen -a hmac-sha256 certrotd > "$work/forged.key"
chmod 0600 "$work/forged.key"
write_dns01_config test.example "$work/forged.key"
expect_kept "a forged TSIG key" "BADSIG"
grep -qF "$(sed -n 's/.*secret "\(.*\)".*/\1/p' "$work/forged.key")" "$work/daemon.log" &&
  fail "the TSIG secret is in the log"

# 3. A zone named does not serve (the name is in it, the server is not its primary).
write_dns01_config other.example "$work/certrotd.key"
sed -i 's/www.test.example/www.other.example/g' "$work/config.yaml"
record=_acme-challenge.www.other.example
expect_kept "a zone the server does not serve" "not authoritative for zone 'other.example.'"

# 4. A zone that does not hold the name: no solver can answer, and the error says why.
record=_acme-challenge.www.test.example
write_dns01_config other.example "$work/certrotd.key"
expect_kept "a name outside the zone" "'www.test.example' is not in zone 'other.example.'"

# 5. The right settings again: the next rotation gets through.
write_dns01_config test.example "$work/certrotd.key"
kept=$(serial_of "$work/live/web/cert.pem")
run_daemon
"$CERTROTD" rotate --wait --timeout 40s --bus user web >"$work/rotate.out" 2>&1 ||
  fail "rotate with the right key: $(cat "$work/rotate.out")"
[ "$(serial_of "$work/live/web/cert.pem")" != "$kept" ] || fail "no recovery"
assert_credential_ok "$work/live/web"
[ -z "$(txt_at "$record")" ] || fail "records left after recovery: $(txt_at "$record")"
stop_daemon
echo "PASS"
