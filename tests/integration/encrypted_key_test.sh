#!/usr/bin/env bash
# `key_passphrase_file` with a real CFSSL server that takes only mTLS: key.pem is written as
# encrypted PKCS#8 (the openssl CLI opens it with the passphrase and only with it), and the
# renewals after the first issuance authenticate with that encrypted key, read back from the
# live folder: the bootstrap certificate is used once, never again.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/peers.sh"

command -v cfssl >/dev/null || fail "cfssl is not installed (scripts/setup installs golang-cfssl)"
make_ca
ca=$work/ca/ca
server_cert "$work/cfssl-tls" "$ca"
client_cert "$work/bootstrap" "$ca" bootstrap.test.internal
printf 'c0rrect horse battery\n' > "$work/key.pass"
printf 'wrong\n' > "$work/wrong.pass"
chmod 600 "$work/key.pass" "$work/wrong.pass"

cat > "$work/cfssl.json" <<JSON
{ "signing": { "default": { "expiry": "1h", "usages": ["digital signature", "client auth"] } } }
JSON
port=$(free_port)
cfssl serve -address 127.0.0.1 -port "$port" -ca "$ca.pem" -ca-key "$ca.key" \
  -config "$work/cfssl.json" -tls-cert "$work/cfssl-tls.pem" -tls-key "$work/cfssl-tls.key" \
  -mutual-tls-ca "$ca.pem" >>"$work/cfssl.log" 2>&1 &
started_pids+=("$!")
wait_for 20 "cfssl serve on port $port" \
  bash -c "openssl s_client -connect 127.0.0.1:$port -CAfile '$ca.pem' </dev/null 2>/dev/null | grep -q 'BEGIN CERTIFICATE'"

cat > "$work/config.yaml" <<YAML
state_dir: $work/state
defaults:
  backoff: { base: 1s, cap: 2s }
issuers:
  corp-cfssl:
    type: cfssl
    url: https://127.0.0.1:$port
    ca_bundle: $ca.pem
    auth: { mtls: self }
    bootstrap: { mtls: { cert: $work/bootstrap.pem, key: $work/bootstrap.key } }
credentials:
  host:
    issuer: corp-cfssl
    subject: { common_name: host.test.internal }
    sans: ["DNS:host.test.internal"]
    usage: [clientAuth]
    key_passphrase_file: $work/key.pass
    output: { dir: $work/live/host }
YAML

# key.pem is encrypted, opens with the passphrase file (and not with another) and fits cert.pem.
assert_encrypted_key() {
  local dir=$work/live/host
  head -n 1 "$dir/key.pem" | grep -qx -- '-----BEGIN ENCRYPTED PRIVATE KEY-----' ||
    fail "$1: key.pem is not encrypted PKCS#8: $(head -n 1 "$dir/key.pem")"
  local key_pub
  key_pub=$(openssl pkey -in "$dir/key.pem" -passin "file:$work/key.pass" -pubout -outform DER | sha256sum) ||
    fail "$1: openssl cannot open key.pem with the passphrase"
  [ "$key_pub" = "$(cert_pubkey "$dir/cert.pem")" ] || fail "$1: key.pem does not match cert.pem"
  if openssl pkey -in "$dir/key.pem" -passin "file:$work/wrong.pass" -noout 2>/dev/null; then
    fail "$1: key.pem opens with a wrong passphrase"
  fi
  openssl verify -CAfile "$ca.pem" "$dir/cert.pem" >/dev/null || fail "$1: does not chain to the CA"
}

start_daemon "$work/config.yaml"
wait_for 30 "first issuance (bootstrap)" test -f "$work/live/host/cert.pem"
assert_encrypted_key "first issuance"

for round in 1 2; do
  before=$(serial_of "$work/live/host/cert.pem")
  kill -USR1 "$daemon_pid"
  wait_for 30 "renewal $round with the encrypted key" serial_is_not "$work/live/host/cert.pem" "$before"
  assert_encrypted_key "renewal $round"
done
[ "$(grep -c 'BOOTSTRAP' "$work/daemon.log")" -eq 1 ] ||
  fail "the renewals did not authenticate with the encrypted live key (bootstrap used again)"
[ "$(grep -c 'renewed credential=host' "$work/daemon.log")" -eq 3 ] || fail "expected 3 issuances"
stop_daemon
