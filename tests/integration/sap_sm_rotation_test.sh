#!/usr/bin/env bash
# type: sap-service-manager against the Service Manager simulator (tests/peers/sm_sim.mjs) with
# panva's oidc-provider as XSUAA (tls_client_auth for the Service Manager binding's certificate,
# client_secret_post for its bootstrap secret); the simulator accepts only the provider's tokens.
#  - From the client secret to x509: the Service Manager credential `sm` gets its first binding
#    with the bootstrap secret (logged loudly); its next one is created over mTLS with its own
#    certificate.
#  - Three rotations of an Event-Mesh-like credential (wrap: xsuaa, asynchronous creation polled
#    with Retry-After in both forms): each binding labelled, old ones deleted after retire_after,
#    the live one never.
#  - Each error class (403, 409, 422, 429, 500, an operation that fails, a binding without a
#    certificate) keeps the old credential with its reason in the log.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/peers.sh"

source "$(dirname "$0")/sap_lib.sh"

secret='sm s3cr$t=!|x'
sap_secret "$secret"
sap_start_oidc '{ "client_id": "sb-sm-x509", "token_endpoint_auth_method": "tls_client_auth",
      "tls_client_auth_san_dns": "sm.test.internal", "tls_client_certificate_bound_access_tokens": true,
      "grant_types": ["client_credentials"], "response_types": [], "redirect_uris": [] },
    '"$(sap_secret_client sb-sm-secret "$secret")"

sap_start_sm '{ "id": "i-sm", "name": "sm-admin", "clientid": "sb-sm-x509", "dns": "sm.test.internal" },
    { "id": "i-em", "name": "my-event-mesh", "clientid": "sb-em!b2", "dns": "em.test.internal" }' \
  '"limit": 1000, "pageSize": 2,'

sap_config it-host
cat >> "$work/config.yaml" <<YAML
    token: { url: "https://127.0.0.1:$oidc_port/token", client_id: sb-sm-x509, method: tls_client_auth }
    auth: { mtls: credential:sm }
    bootstrap: { token: { url: "https://127.0.0.1:$oidc_port/token", client_id: sb-sm-secret,
                          method: client_secret_post, client_secret_file: $work/sm-secret } }
credentials:
  sm:
    issuer: btp
    sap: { service_instance_name: sm-admin }
    output: { dir: $work/live/sm }
  eventmesh:
    issuer: btp
    sap: { service_instance_id: i-em, wrap: xsuaa, retire_after: 1s,
           x509: { key-length: 2048, validity: 7, validity-type: DAYS } }
    output: { dir: $work/live/eventmesh }
YAML
"$CERTROTD" check --config "$work/config.yaml" >/dev/null || fail "certrotd check rejects the config"
start_daemon "$work/config.yaml"

# 1. Bootstrap: no certificate yet, so the client secret gets the first bindings — loudly.
wait_for 30 "first binding of sm" test -f "$work/live/sm/cert.pem"
wait_for 30 "first binding of eventmesh" test -f "$work/live/eventmesh/cert.pem"
assert_credential_ok "$work/live/sm"
assert_credential_ok "$work/live/eventmesh"
grep -q "credential=sm.*BOOTSTRAP client secret" "$work/daemon.log" || fail "bootstrap was not logged"
grep -q '"managed_by":\["certrotd"\]' "$work/sm.events" || fail "bindings are not labelled"
grep -q 'created .* certrotd-it-host-[0-9]\{8\}T[0-9]\{6\}Z {.*"credential":\["eventmesh"\]' "$work/sm.events" ||
  fail "binding name or labels wrong: $(cat "$work/sm.events")"

# 2. Rotations: from now on every Service Manager call is authenticated by sm's certificate.
boots=$(grep -c 'BOOTSTRAP' "$work/daemon.log")
for round in 1 2 3; do
  sm_serial=$(serial_of "$work/live/sm/cert.pem")
  em_serial=$(serial_of "$work/live/eventmesh/cert.pem")
  sleep 1.2  # a new UTC second: a new binding name
  kill -USR1 "$daemon_pid"
  wait_for 30 "rotation $round of eventmesh" serial_is_not "$work/live/eventmesh/cert.pem" "$em_serial"
  wait_for 30 "rotation $round of sm" serial_is_not "$work/live/sm/cert.pem" "$sm_serial"
  assert_credential_ok "$work/live/sm"
  assert_credential_ok "$work/live/eventmesh"
done
[ "$(grep -c 'BOOTSTRAP' "$work/daemon.log")" -eq "$boots" ] || fail "bootstrap used after sm had a certificate"
# Each version carries binding.json: the binding's fields without its key (and no service key
# unless asked for).
for c in sm eventmesh; do
  [ "$(jq -r .certurl "$work/live/$c/binding.json")" = "https://sub.authentication.cert.test" ] ||
    fail "$c/binding.json: $(cat "$work/live/$c/binding.json")"
  ! grep -q "PRIVATE KEY" "$work/live/$c/binding.json" || fail "$c/binding.json holds a key"
  [ ! -e "$work/live/$c/service-key.json" ] || fail "$c has a service key it did not ask for"
done
[ "$(jq -r .clientid "$work/live/eventmesh/binding.json")" = "sb-em!b2" ] || fail "eventmesh/binding.json clientid"
# Old bindings are deleted once their grace period is over; the live ones never.
deleted=$(grep -c '^deleted ' "$work/sm.events" || true)
[ "$deleted" -ge 2 ] || fail "expected replaced bindings to be deleted: $(cat "$work/sm.events")"

# 3. Every error class keeps the old credential and says why.
expect_failure() {  # expect_failure MODE REASON_REGEX
  local start serial
  start=$(wc -l < "$work/daemon.log")
  serial=$(serial_of "$work/live/eventmesh/cert.pem")
  echo "$1" > "$work/mode"
  kill -USR1 "$daemon_pid"
  wait_for 30 "eventmesh failing with '$2' ($1)" sh -c \
    "tail -n +$((start + 1)) '$work/daemon.log' | grep -Eq 'renew-failed credential=eventmesh .*($2).*old credential kept'"
  [ "$(serial_of "$work/live/eventmesh/cert.pem")" = "$serial" ] || fail "eventmesh changed on $1"
  assert_credential_ok "$work/live/eventmesh"
}
expect_failure 403 "subaccount.service_binding.manage"
expect_failure 409 "name is taken"
expect_failure 422 "another operation runs"
expect_failure 429 "rate limit"
expect_failure 500 "Service Manager failed \\(500\\)"
expect_failure failed "creation failed: validity exceeds"
expect_failure nocert "no certificate and key \\(credential-type binding-secret\\)"
echo good > "$work/mode"
serial=$(serial_of "$work/live/eventmesh/cert.pem")
kill -USR1 "$daemon_pid"
wait_for 30 "recovery of eventmesh" serial_is_not "$work/live/eventmesh/cert.pem" "$serial"
assert_credential_ok "$work/live/eventmesh"

stop_daemon
! grep -qF "$secret" "$work/daemon.log" || fail "the client secret was logged"
! grep -q "eyJ" "$work/daemon.log" || fail "a token was logged"
! grep -q "PRIVATE KEY" "$work/daemon.log" || fail "a key was logged"
echo "PASS"
