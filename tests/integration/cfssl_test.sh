#!/usr/bin/env bash
# The `cfssl` issuer against a real CFSSL server (Debian's golang-cfssl, `cfssl serve` with
# -mutual-tls-ca): the first certificate comes with a bootstrap client certificate, then the
# credential renews itself three times in a row, each renewal authenticated over mTLS by the very
# certificate it replaces, each new certificate chaining to the CA.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/peers.sh"

command -v cfssl >/dev/null || fail "cfssl is not installed (scripts/setup installs golang-cfssl)"
make_ca
ca=$work/ca/ca
server_cert "$work/cfssl-tls" "$ca"
client_cert "$work/bootstrap" "$ca" bootstrap.test.internal

cat > "$work/cfssl.json" <<JSON
{ "signing": {
    "default": { "expiry": "1h", "usages": ["digital signature", "key encipherment", "client auth"] },
    "profiles": {
      "client": { "expiry": "2h", "usages": ["digital signature", "key encipherment", "client auth"] } } } }
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
    profile: client
    auth: { mtls: self }
    bootstrap: { mtls: { cert: $work/bootstrap.pem, key: $work/bootstrap.key } }
credentials:
  host:
    issuer: corp-cfssl
    subject: { common_name: host.test.internal }
    sans: ["DNS:host.test.internal"]
    usage: [clientAuth]
    output: { dir: $work/live/host }
YAML
start_daemon "$work/config.yaml"

wait_for 30 "first issuance (bootstrap)" test -f "$work/live/host/cert.pem"
assert_credential_ok "$work/live/host"
grep -q "credential=host.*BOOTSTRAP certificate" "$work/daemon.log" || fail "bootstrap was not logged"

for round in 1 2 3; do
  before=$(serial_of "$work/live/host/cert.pem")
  kill -USR1 "$daemon_pid"
  wait_for 30 "self-authenticated renewal $round" serial_is_not "$work/live/host/cert.pem" "$before"
  assert_credential_ok "$work/live/host"
  openssl verify -CAfile "$ca.pem" "$work/live/host/cert.pem" >/dev/null ||
    fail "renewal $round does not chain to the CA"
done
[ "$(grep -c 'BOOTSTRAP' "$work/daemon.log")" -eq 1 ] || fail "bootstrap used after the first issuance"
[ "$(grep -c 'renewed credential=host' "$work/daemon.log")" -eq 4 ] || fail "expected 4 issuances"

# A client certificate from another CA: cfssl refuses the TLS handshake, and the log says so.
stop_daemon
sed -i 's|bootstrap: { mtls: .*|bootstrap: { mtls: { cert: '"$work/live/host/cert.pem"', key: '"$work/live/host/key.pem"' } }|' "$work/config.yaml"
"$CERTROTD" ca init --dir "$work/rogue" >/dev/null
client_cert "$work/rogue-client" "$work/rogue/ca" host.test.internal
sed -i 's|auth: { mtls: self }|auth: { mtls: { cert: '"$work/rogue-client.pem"', key: '"$work/rogue-client.key"' } }|' "$work/config.yaml"
before=$(serial_of "$work/live/host/cert.pem")
start_daemon "$work/config.yaml"
wait_for 10 "restart" bash -c "[ \$(grep -c 'running with' '$work/daemon.log') -eq 2 ]"
kill -USR1 "$daemon_pid"
wait_for 20 "refused client certificate" grep -Eq "renew-failed credential=host .*TLS: client certificate rejected" "$work/daemon.log"
[ "$(serial_of "$work/live/host/cert.pem")" = "$before" ] || fail "host changed after a refusal"
stop_daemon

# A ca_bundle that does not vouch for the server: the handshake is refused on our side.
sed -i 's|ca_bundle: .*|ca_bundle: '"$work/rogue/ca.pem"'|' "$work/config.yaml"
start_daemon "$work/config.yaml"
wait_for 10 "second restart" bash -c "[ \$(grep -c 'running with' '$work/daemon.log') -eq 3 ]"
kill -USR1 "$daemon_pid"
wait_for 20 "untrusted server" grep -Eq "renew-failed credential=host .*TLS: server certificate not trusted" "$work/daemon.log"
[ "$(serial_of "$work/live/host/cert.pem")" = "$before" ] || fail "host changed with an untrusted server"
stop_daemon
! grep -q "PRIVATE KEY" "$work/daemon.log" || fail "a key was logged"
echo PASS
