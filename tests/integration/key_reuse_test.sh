#!/usr/bin/env bash
# `key: { reuse: true }` with the local CA: two forced renewals of an RSA-2048 credential keep
# the public key (SPKI, as `openssl x509 -pubkey` and `openssl pkey -pubout` read it) and the
# mode of key.pem, and status counts the renewals; the credential next to it, without reuse, gets
# a new public key at each renewal.
source "$(dirname "$0")/lib.sh"

make_ca
cat > "$work/config.yaml" <<YAML
state_dir: $work/state
defaults:
  backoff: { base: 1s, cap: 5s }
issuers:
  ca:
    type: local
    ca_cert: $work/ca/intermediate.pem
    ca_key: $work/ca/intermediate.key
    roots: $work/ca/ca.pem
    lifetime: 1h
credentials:
  pinned:
    issuer: ca
    sans: ["DNS:pinned.test.internal"]
    key: { type: rsa, bits: 2048, reuse: true }
    output: { dir: $work/live/pinned, mode: "0640" }
  fresh:
    issuer: ca
    sans: ["DNS:fresh.test.internal"]
    key: { type: rsa, bits: 2048 }
    output: { dir: $work/live/fresh, mode: "0640" }
YAML

spki_of_cert() { openssl x509 -noout -pubkey -in "$work/live/$1/cert.pem" | openssl pkey -pubin -outform DER | sha256sum; }
spki_of_key() { openssl pkey -in "$work/live/$1/key.pem" -pubout -outform DER | sha256sum; }
key_mode() { stat -L -c %a "$work/live/$1/key.pem"; }

start_daemon "$work/config.yaml"
wait_for 60 "first issuance" test -f "$work/live/pinned/cert.pem" -a -f "$work/live/fresh/cert.pem"
pinned_spki=$(spki_of_cert pinned)
fresh_spki=$(spki_of_cert fresh)
[ "$(spki_of_key pinned)" = "$pinned_spki" ] || fail "first issuance: key.pem does not fit cert.pem"
[ "$(key_mode pinned)" = 640 ] || fail "key.pem has mode $(key_mode pinned), configured 0640"
grep -q 'key-generated.*credential=pinned' "$work/daemon.log" ||
  fail "the first issuance of a reuse credential did not say that it generated a key"

for round in 1 2; do
  pinned_before=$(serial_of "$work/live/pinned/cert.pem")
  fresh_before=$(serial_of "$work/live/fresh/cert.pem")
  kill -USR1 "$daemon_pid"
  wait_for 60 "renewal $round of pinned" serial_is_not "$work/live/pinned/cert.pem" "$pinned_before"
  wait_for 60 "renewal $round of fresh" serial_is_not "$work/live/fresh/cert.pem" "$fresh_before"
  assert_credential_ok "$work/live/pinned"
  [ "$(spki_of_cert pinned)" = "$pinned_spki" ] || fail "renewal $round: pinned's public key changed"
  [ "$(spki_of_key pinned)" = "$pinned_spki" ] || fail "renewal $round: pinned's key.pem changed"
  [ "$(key_mode pinned)" = 640 ] || fail "renewal $round: key.pem mode is now $(key_mode pinned)"
  new_fresh=$(spki_of_cert fresh)
  [ "$new_fresh" != "$fresh_spki" ] || fail "renewal $round: without reuse the key was kept"
  fresh_spki=$new_fresh
done
[ "$(grep -c 'key-generated.*credential=pinned' "$work/daemon.log")" -eq 1 ] ||
  fail "a key was generated for pinned after the first issuance"
stop_daemon

status=$("$CERTROTD" status --config "$work/config.yaml" --json || true)
printf '%s' "$status" | python3 -c '
import json, sys
by_name = {s["name"]: s for s in json.load(sys.stdin)}
assert by_name["pinned"]["key_reuse"] is True, by_name["pinned"]
assert by_name["pinned"]["key_renewals"] == 2, by_name["pinned"]
assert by_name["fresh"]["key_renewals"] == 0, by_name["fresh"]
' || fail "status --json does not count pinned's renewals: $status"
"$CERTROTD" status --config "$work/config.yaml" 2>&1 | grep -q 'key: reused, renewed 2 times' ||
  fail "the status table does not show pinned's renewals"
echo "ok"
