#!/usr/bin/env bash
# Replacing a credential by hand keeps the file set whole: `cp` of a key and certificate
# through the stable links becomes a complete new version (fullchain, bundle, copies) and the
# on_rotate hook runs; a key that does not fit is refused and the previous set restored;
# `certrotd import` installs a pair as a new version, with the daemon running and without.
source "$(dirname "$0")/lib.sh"

make_ca
write_config "$work/config.yaml" 10m web
cat >>"$work/config.yaml" <<YAML
      copies:
        - { path: $work/copies/web.crt, content: fullchain }
    on_rotate:
      - exec: { command: ["/bin/sh", "-c", "echo \$CERTROT_NEW_SERIAL >> $work/hook.log"] }
YAML
start_daemon "$work/config.yaml"
dir=$work/live/web
wait_for 15 "first issuance" test -s "$work/hook.log"

# hand_cert NAME DAYS: a key and certificate for web from the same CA, made with openssl.
hand_cert() {
  openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$work/$1.key" 2>/dev/null
  openssl req -new -key "$work/$1.key" -subj "/CN=web.test.internal" -out "$work/$1.csr"
  printf 'subjectAltName=DNS:web.test.internal,IP:127.0.0.1\nextendedKeyUsage=serverAuth,clientAuth\n' >"$work/ext"
  openssl x509 -req -in "$work/$1.csr" -CA "$work/ca/intermediate.pem" -CAkey "$work/ca/intermediate.key" \
    -CAcreateserial -days "$2" -extfile "$work/ext" -out "$work/$1.pem" 2>/dev/null
}
# The set is one credential: every file and the copy carry serial $2.
assert_set() {
  local want=$1
  assert_credential_ok "$dir"
  [ "$(serial_of "$dir/cert.pem")" = "$want" ] || fail "cert.pem is not $want"
  [ "$(serial_of "$dir/fullchain.pem")" = "$want" ] || fail "fullchain.pem is not $want"
  [ "$(cert_pubkey "$dir/fullchain.pem")" = "$(key_pubkey "$dir/key.pem")" ] ||
    fail "key.pem does not match fullchain.pem"
  openssl x509 -in "$dir/bundle.pem" -noout 2>/dev/null || fail "bundle.pem has no certificate"
  [ "$(serial_of "$dir/bundle.pem")" = "$want" ] || fail "bundle.pem is not $want"
  [ "$(key_pubkey "$dir/bundle.pem")" = "$(key_pubkey "$dir/key.pem")" ] || fail "bundle.pem has another key"
  cmp -s "$work/copies/web.crt" "$dir/fullchain.pem" || fail "the copy is not the live fullchain"
}
hook_saw() { grep -qx "$(as_certrotd_serial "$1")" "$work/hook.log"; }

# 1. The obvious way: cp through the links, key first.
hand_cert hand 2
hand=$(serial_of "$work/hand.pem")
cp "$work/hand.key" "$dir/key.pem"
cp "$work/hand.pem" "$dir/cert.pem"
wait_for 15 "adoption" grep -q "adopted credential=web" "$work/daemon.log"
assert_set "$hand"
wait_for 10 "the hook for the hand certificate" hook_saw "$hand"

# 2. A key that does not belong to the certificate: refused, the previous set comes back.
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$work/stranger.key" 2>/dev/null
cp "$work/stranger.key" "$dir/key.pem"
wait_for 20 "refusal" grep -q "adopt-refused credential=web" "$work/daemon.log"
grep "adopt-refused credential=web" "$work/daemon.log" | grep -q "certrotd import web --cert" ||
  fail "the refusal does not say how to replace safely"
assert_set "$hand"
[ "$(key_pubkey "$dir/key.pem")" = "$(key_pubkey "$work/hand.key")" ] || fail "the previous key is not back"

# 3. import with the daemon running: a new version, the daemon tells the dependents.
hand_cert imported 3
imported=$(serial_of "$work/imported.pem")
"$CERTROTD" import --config "$work/config.yaml" web --cert "$work/imported.pem" --key "$work/imported.key" \
  >"$work/import.out" 2>&1 || fail "import failed: $(cat "$work/import.out")"
assert_set "$imported"
wait_for 15 "the hook for the imported certificate" hook_saw "$imported"

# A mismatched pair is refused and changes nothing.
rc=0
"$CERTROTD" import --config "$work/config.yaml" web --cert "$work/hand.pem" --key "$work/stranger.key" \
  >"$work/import.out" 2>&1 || rc=$?
[ "$rc" -eq 65 ] || fail "a mismatched import exited $rc: $(cat "$work/import.out")"
grep -q "does not match" "$work/import.out" || fail "the refusal does not say why: $(cat "$work/import.out")"
assert_set "$imported"

# 4. import without a daemon, then a start keeps the imported certificate.
stop_daemon
hand_cert offline 3
offline=$(serial_of "$work/offline.pem")
"$CERTROTD" import --config "$work/config.yaml" web --cert "$work/offline.pem" --key "$work/offline.key" \
  >"$work/import.out" 2>&1 || fail "offline import failed: $(cat "$work/import.out")"
grep -q "on_rotate actions did not run" "$work/import.out" || fail "no note about the dependents"
assert_set "$offline"
: >"$work/daemon.log"
start_daemon "$work/config.yaml"
wait_for 10 "restart" grep -q "running with" "$work/daemon.log"
sleep 2
[ "$(serial_of "$dir/cert.pem")" = "$offline" ] || fail "the imported certificate was replaced at start"
stop_daemon
echo "hand_replace_test: ok"
