#!/usr/bin/env bash
# The `http` issuer against real servers: panva's oidc-provider as the OAuth2 token endpoint
# (RFC 8705 tls_client_auth with certificate-bound tokens, and a client_secret_basic bootstrap
# client) and a test issuance service (tests/peers/issuance.mjs) that accepts only the provider's
# tokens, checks their cnf against the TLS client certificate, and misbehaves on request.
#  - A missing credential is bootstrapped with the client secret, and that is logged loudly.
#  - Renewals authenticate with the certificate being replaced; the token is bound to it.
#  - A client certificate from another CA is refused by the token endpoint: clear error, old
#    credential kept.
#  - Every bad answer (500, hang, truncated, not JSON, wrong name, expired, unknown root, wrong
#    key) keeps the old credential, logs its reason and is retried; a good answer then rotates.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/peers.sh"

peers_install
make_ca
ca=$work/ca/ca
"$CERTROTD" ca init --dir "$work/rogue" >/dev/null
rogue=$work/rogue/ca
server_cert "$work/oidc-tls" "$ca"
server_cert "$work/iss-tls" "$ca"
client_cert "$work/rogue-client" "$rogue" api.test.internal
openssl ecparam -name prime256v1 -genkey -noout 2>/dev/null | openssl pkey -pubout > "$work/other.pub"
boot_secret='b00t s3cr$t=!|x'
# Handed over as systemd does with LoadCredential=: a file in $CREDENTIALS_DIRECTORY.
mkdir -m 0700 "$work/creds"
printf '%s\n' "$boot_secret" > "$work/creds/boot-secret"
echo good > "$work/mode"

cat > "$work/oidc.json" <<JSON
{ "portFile": "$work/oidc.port", "cert": "$work/oidc-tls.pem", "key": "$work/oidc-tls.key",
  "clientCa": "$ca.pem", "resource": "https://issuance.test",
  "clients": [
    { "client_id": "host-web", "token_endpoint_auth_method": "tls_client_auth",
      "tls_client_auth_san_dns": "web.test.internal", "tls_client_certificate_bound_access_tokens": true,
      "grant_types": ["client_credentials"], "response_types": [], "redirect_uris": [] },
    { "client_id": "host-api", "token_endpoint_auth_method": "tls_client_auth",
      "tls_client_auth_san_dns": "api.test.internal", "tls_client_certificate_bound_access_tokens": true,
      "grant_types": ["client_credentials"], "response_types": [], "redirect_uris": [] },
    { "client_id": "bootstrap", "client_secret": "$boot_secret",
      "token_endpoint_auth_method": "client_secret_basic",
      "grant_types": ["client_credentials"], "response_types": [], "redirect_uris": [] } ] }
JSON
start_peer oidc "$work/oidc.port" node "$peers_dir/oidc.mjs" "$work/oidc.json"
oidc_port=$(cat "$work/oidc.port")

cat > "$work/issuance.json" <<JSON
{ "portFile": "$work/iss.port", "cert": "$work/iss-tls.pem", "key": "$work/iss-tls.key",
  "clientCa": "$ca.pem", "caCert": "$ca.pem", "caKey": "$ca.key",
  "rogueCert": "$rogue.pem", "rogueKey": "$rogue.key", "otherPub": "$work/other.pub",
  "authIssuer": "https://127.0.0.1:$oidc_port", "authCa": "$ca.pem",
  "audience": "https://issuance.test",
  "modeFile": "$work/mode", "eventsFile": "$work/issuance.events", "workDir": "$work" }
JSON
start_peer issuance "$work/iss.port" node "$peers_dir/issuance.mjs" "$work/issuance.json"
iss_port=$(cat "$work/iss.port")

# api already has a certificate (from the right CA), but its issuer presents a client
# certificate from another CA: the token endpoint must refuse it and api must stay as it is.
mkdir -p "$work/live/api"
client_cert "$work/live/api/cert" "$ca" api.test.internal
mv "$work/live/api/cert.key" "$work/live/api/key.pem"
rm -f "$work/live/api/cert.csr" "$work/live/api/cert.ext"
api_serial=$(serial_of "$work/live/api/cert.pem")

cat > "$work/config.yaml" <<YAML
state_dir: $work/state
defaults:
  backoff: { base: 1s, cap: 2s }
issuers:
  corp-http:
    type: http
    url: https://127.0.0.1:$iss_port/v1/certificates
    ca_bundle: $ca.pem
    timeout: 3s
    token:
      url: https://127.0.0.1:$oidc_port/token
      client_id: host-web
      method: tls_client_auth
    auth: { mtls: self }
    bootstrap:
      token:
        url: https://127.0.0.1:$oidc_port/token
        client_id: bootstrap
        method: client_secret_basic
        client_secret_credential: boot-secret
    response: { certificate: /certificate, chain: /chain }
  corp-rogue:
    type: http
    url: https://127.0.0.1:$iss_port/v1/certificates
    ca_bundle: $ca.pem
    token: { url: "https://127.0.0.1:$oidc_port/token", client_id: host-api, method: tls_client_auth }
    auth: { mtls: { cert: $work/rogue-client.pem, key: $work/rogue-client.key } }
credentials:
  web:
    issuer: corp-http
    subject: { common_name: web.test.internal }
    sans: ["DNS:web.test.internal"]
    usage: [clientAuth]
    output: { dir: $work/live/web }
  api:
    issuer: corp-rogue
    subject: { common_name: api.test.internal }
    sans: ["DNS:api.test.internal"]
    usage: [clientAuth]
    output: { dir: $work/live/api }
YAML
# check needs what run needs: the secret named by client_secret_credential (ExecStartPre= gets
# the unit's LoadCredential= too).
CREDENTIALS_DIRECTORY=$work/creds "$CERTROTD" check --config "$work/config.yaml" >/dev/null ||
  fail "certrotd check rejects the config"
rc=0
env -u CREDENTIALS_DIRECTORY "$CERTROTD" check --config "$work/config.yaml" >"$work/check.out" 2>&1 || rc=$?
[ "$rc" -eq 78 ] && grep -q "needs \$CREDENTIALS_DIRECTORY" "$work/check.out" ||
  fail "check without \$CREDENTIALS_DIRECTORY: exit $rc: $(cat "$work/check.out")"
CREDENTIALS_DIRECTORY=$work/creds start_daemon "$work/config.yaml"

# 1. Bootstrap: web has no certificate, so the client secret gets the first one — loudly.
wait_for 30 "first issuance of web" test -f "$work/live/web/cert.pem"
assert_credential_ok "$work/live/web"
grep -q "credential=web.*BOOTSTRAP client secret" "$work/daemon.log" || fail "bootstrap was not logged"
grep -q "client=bootstrap cnf=-" "$work/issuance.events" || fail "bootstrap token not seen by the service"

# 2. Renewal authenticated by the certificate being replaced, with a token bound to it; and api's
#    certificate from another CA is refused by the token endpoint.
first=$(serial_of "$work/live/web/cert.pem")
first_x5t=$(x5t_of "$work/live/web/cert.pem")
kill -USR1 "$daemon_pid"
wait_for 20 "mTLS renewal of web" serial_is_not "$work/live/web/cert.pem" "$first"
assert_credential_ok "$work/live/web"
grep -q "client=host-web cnf=$first_x5t peer=$first_x5t" "$work/issuance.events" ||
  fail "the renewal's token was not bound to the old certificate ($first_x5t)"
wait_for 20 "api refused" grep -q "renew-failed credential=api.*invalid_client" "$work/daemon.log"
# The refusal names the certificate that was presented.
rogue_serial=$(as_certrotd_serial "$(serial_of "$work/rogue-client.pem")")
grep "renew-failed credential=api.*invalid_client" "$work/daemon.log" | grep -qF \
  "presented the client certificate $work/rogue-client.pem (subject CN=api.test.internal, issuer CN=certrotd development root CA, serial $rogue_serial)" ||
  fail "the refused client certificate is not named: $(grep 'renew-failed credential=api' "$work/daemon.log" | head -1)"
[ "$(serial_of "$work/live/api/cert.pem")" = "$api_serial" ] || fail "api changed after a refusal"
if [ "$(grep -c 'BOOTSTRAP' "$work/daemon.log")" -ne 1 ]; then fail "bootstrap used more than once"; fi

# 3. Misbehaviour: each bad answer keeps the old credential, logs a clear reason, is retried.
serial=$(serial_of "$work/live/web/cert.pem")
logged_since() {  # logged_since LINE REGEX: REGEX appears in the daemon log after line LINE
  tail -n "+$(($1 + 1))" "$work/daemon.log" | grep -Eq "$2"
}
expect_failure() {  # expect_failure MODE REASON_REGEX
  local start
  start=$(wc -l < "$work/daemon.log")
  echo "$1" > "$work/mode"
  wait_for 30 "web failing with '$2' ($1)" \
    logged_since "$start" "renew-failed credential=web .*($2).*old credential kept"
  [ "$(serial_of "$work/live/web/cert.pem")" = "$serial" ] || fail "web changed on a bad answer ($1)"
  assert_credential_ok "$work/live/web"
}
echo 500 > "$work/mode"
kill -USR1 "$daemon_pid"
expect_failure 500 "status 500: server_error: induced failure"
expect_failure hang "timeout"
expect_failure truncated "transfer closed|transport error"
expect_failure nonjson "not JSON"
expect_failure othername "lacks requested SAN DNS:web.test.internal"
expect_failure expired "certificate has expired"
expect_failure unknownroot "chain does not verify: .*unable to get local issuer"
expect_failure otherkey "does not match the private key"
retries=$(grep -c "renew-failed credential=web" "$work/daemon.log")
[ "$retries" -ge 8 ] || fail "expected at least 8 failed attempts, saw $retries"

# 4. A good answer again: the next retry rotates (SAP-style one-line PEM in JSON), then a
#    application/pem-certificate-chain answer rotates too.
echo good > "$work/mode"
wait_for 30 "recovery of web" serial_is_not "$work/live/web/cert.pem" "$serial"
assert_credential_ok "$work/live/web"
serial=$(serial_of "$work/live/web/cert.pem")
echo pem > "$work/mode"
kill -USR1 "$daemon_pid"
wait_for 20 "PEM-chain answer" serial_is_not "$work/live/web/cert.pem" "$serial"
assert_credential_ok "$work/live/web"

stop_daemon
# Nothing secret reaches the log: no client secret, no token, no key.
! grep -qF "$boot_secret" "$work/daemon.log" || fail "the client secret was logged"
! grep -q "eyJ" "$work/daemon.log" || fail "a token was logged"
! grep -q "PRIVATE KEY" "$work/daemon.log" || fail "a key was logged"
echo "PASS"
