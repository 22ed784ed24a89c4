#!/usr/bin/env bash
# The `est` issuer against the EST test server (tests/peers/est_server.mjs, RFC 7030):
#  - the first certificate comes from /simpleenroll with a bootstrap client certificate (logged
#    with BOOTSTRAP), then the credential re-enrolls itself at /simplereenroll three times in a
#    row, and the server saw the certificate being replaced in each handshake;
#  - answers in base64 with line breaks, without Content-Transfer-Encoding and as raw DER are read;
#  - a second credential enrolls with HTTP Basic after the server's 401 (the password is never
#    logged), under a path label;
#  - /serverkeygen gives an EC and an RSA (PKCS#1 under the PKCS#8 label) key.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/peers.sh"
source "$(dirname "$0")/est_lib.sh"
password='est p4ss:w0rd'
printf '%s\n' "$password" > "$work/est-pass"
chmod 600 "$work/est-pass"
est_start host42 "$password"
port=$est_port

cat > "$work/config.yaml" <<YAML
state_dir: $work/state
defaults:
  backoff: { base: 1s, cap: 2s }
issuers:
  corp-est:
    type: est
    url: https://127.0.0.1:$port/.well-known/est
    ca_bundle: $ca.pem
    auth: { mtls: self }
    bootstrap: { mtls: { cert: $work/bootstrap.pem, key: $work/bootstrap.key } }
  est-basic:
    type: est
    url: https://127.0.0.1:$port/.well-known/est/devices
    ca_bundle: $ca.pem
    auth: { mtls: self }
    bootstrap: { basic: { username: host42, password_file: $work/est-pass } }
  est-keygen:
    type: est
    url: https://127.0.0.1:$port/.well-known/est
    ca_bundle: $ca.pem
    auth: { mtls: self }
    bootstrap: { mtls: { cert: $work/bootstrap.pem, key: $work/bootstrap.key } }
    server_generated_key: true
credentials:
  host:
    issuer: corp-est
    subject: { common_name: host.test.internal }
    sans: ["DNS:host.test.internal"]
    usage: [clientAuth]
    output: { dir: $work/live/host }
  device:
    issuer: est-basic
    subject: { common_name: device.test.internal }
    sans: ["DNS:device.test.internal"]
    output: { dir: $work/live/device }
  keygen-ec:
    issuer: est-keygen
    subject: { common_name: ec.test.internal }
    sans: ["DNS:ec.test.internal"]
    output: { dir: $work/live/keygen-ec }
  keygen-rsa:
    issuer: est-keygen
    subject: { common_name: rsa.test.internal }
    sans: ["DNS:rsa.test.internal"]
    key: { type: rsa, bits: 2048 }
    output: { dir: $work/live/keygen-rsa }
YAML
echo pkcs1 > "$work/mode"
start_daemon "$work/config.yaml"

for name in host device keygen-ec keygen-rsa; do
  wait_for 30 "first enrollment of $name" test -f "$work/live/$name/cert.pem"
  assert_credential_ok "$work/live/$name"
done
grep -q "credential=host.*BOOTSTRAP certificate" "$work/daemon.log" || fail "bootstrap was not logged"
grep -q "credential=device.*BOOTSTRAP password of user 'host42'" "$work/daemon.log" ||
  fail "the Basic bootstrap was not logged"
grep -q "op=simpleenroll peer=- auth=basic" "$work/est-events" || fail "the server saw no Basic auth"
grep -q "op=simpleenroll peer=- auth=none status=401" "$work/est-events" ||
  fail "Basic was sent before the server asked for it"
openssl pkey -in "$work/live/keygen-rsa/key.pem" -noout -text | grep -q "Private-Key: (2048 bit" ||
  fail "serverkeygen did not give an RSA key"
openssl pkey -in "$work/live/keygen-ec/key.pem" -noout -text | grep -q "prime256v1\|P-256" ||
  fail "serverkeygen did not give an EC key"
[ "$(grep -c 'op=serverkeygen' "$work/est-events")" -ge 2 ] || fail "serverkeygen was not used"

# Three self-authenticated re-enrollments, each in a differently encoded answer; the server
# saw the certificate being replaced in each handshake.
round=0
for encoding in lines nocte der; do
  round=$((round + 1))
  echo "$encoding" > "$work/mode"
  before=$(serial_of "$work/live/host/cert.pem")
  kill -USR1 "$daemon_pid"
  wait_for 30 "self-authenticated re-enrollment $round ($encoding)" \
    serial_is_not "$work/live/host/cert.pem" "$before"
  assert_credential_ok "$work/live/host"
  grep -q "op=simplereenroll peer=$(as_certrotd_serial "$before") auth=cert mode=$encoding" \
    "$work/est-events" || fail "re-enrollment $round was not made with the previous certificate"
done
[ "$(grep -c 'credential=host.*BOOTSTRAP' "$work/daemon.log")" -eq 1 ] ||
  fail "bootstrap used after the first enrollment"
stop_daemon
! grep -q "PRIVATE KEY" "$work/daemon.log" || fail "a key was logged"
! grep -qF "$password" "$work/daemon.log" || fail "the password was logged"
echo PASS
