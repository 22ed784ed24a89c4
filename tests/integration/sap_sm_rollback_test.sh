#!/usr/bin/env bash
# type: sap-service-manager, what a version holds besides its PEM files and what a rollback may
# bring back (the Service Manager simulator, oidc-provider as XSUAA with a binding-secret):
#  - binding.json (no key, no secret) and, with service_key: true, service-key.json (mode 0600,
#    the key that fits cert.pem) belong to each version and are swapped with it;
#  - after the replaced binding's grace period it is deleted, and `rollback --to` its version is
#    refused through the daemon (exit 69, live version unchanged); the version whose binding is
#    still kept can be rolled back to, and its binding.json comes back with it.
# The provider hands out opaque tokens here, so the simulator can only check them by asking the
# provider's introspection endpoint (RFC 7662) as a client of its own.
# A private D-Bus daemon stands in for the user bus.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/peers.sh"

start_bus

source "$(dirname "$0")/sap_lib.sh"

sap_secret rollback-secret
sap_start_oidc "$(sap_secret_client sb-sm-secret rollback-secret),"'
    { "client_id": "sm-introspection", "client_secret": "intro s3cr=t",
      "token_endpoint_auth_method": "client_secret_basic",
      "grant_types": [], "response_types": [], "redirect_uris": [] }' \
  '"accessTokenFormat": "opaque",'
sap_start_sm '{ "id": "i-xs", "name": "my-xsuaa", "clientid": "sb-app!t7", "dns": "app.test.internal" }' \
  '"introspection": { "client_id": "sm-introspection", "client_secret": "intro s3cr=t" },'

sap_config rollback-host
sap_secret_token
cat >> "$work/config.yaml" <<YAML
credentials:
  app:
    issuer: btp
    sap: { service_instance_name: my-xsuaa, retire_after: 1s, service_key: true }
    output: { dir: $work/live/app }
YAML
"$CERTROTD" check --config "$work/config.yaml" >/dev/null || fail "certrotd check rejects the config"
dir=$work/live/app
"$CERTROTD" run --config "$work/config.yaml" --bus user --log-level debug >>"$work/daemon.log" 2>&1 &
daemon_pid=$!
started_pids+=("$daemon_pid")
wait_for 30 "the first binding" test -f "$dir/cert.pem"
wait_for 10 "the control interface" "$CERTROTD" status --bus user app
assert_credential_ok "$dir"
grep -q '^introspected sb-sm-secret$' "$work/sm.events" || fail "the token was not introspected"
code=$(curl -s -o /dev/null -w '%{http_code}' --cacert "$ca.pem" -H "Authorization: Bearer not-issued" \
  "https://127.0.0.1:$sm_port/v1/service_instances")
[ "$code" = 401 ] || fail "a token the provider never issued got $code"

# 1. binding.json and service-key.json, reached through ..data like the PEM files.
[ "$(readlink "$dir/binding.json")" = "..data/binding.json" ] || fail "binding.json is not a stable link"
[ "$(jq -r .clientid "$dir/binding.json")" = "sb-app!t7" ] || fail "binding.json: $(cat "$dir/binding.json")"
[ "$(jq -r .xsappname "$dir/binding.json")" = "my-xsuaa!t1" ] || fail "binding.json lacks xsappname"
[ "$(jq -r 'has("key") or has("certificate")' "$dir/binding.json")" = false ] ||
  fail "binding.json holds the key or certificate"
! grep -q "PRIVATE KEY" "$dir/binding.json" || fail "binding.json holds a key"
[ "$(stat -L -c %a "$dir/binding.json")" = 644 ] || fail "binding.json mode $(stat -L -c %a "$dir/binding.json")"
[ "$(stat -L -c %a "$dir/service-key.json")" = 600 ] || fail "service-key.json mode $(stat -L -c %a "$dir/service-key.json")"
jq -r .key "$dir/service-key.json" > "$work/sk.key"
[ "$(key_pubkey "$work/sk.key")" = "$(cert_pubkey "$dir/cert.pem")" ] ||
  fail "the key of service-key.json does not fit cert.pem"
[ "$(jq -r .clientid "$dir/service-key.json")" = "sb-app!t7" ] || fail "service-key.json lacks clientid"

# 2. Two rotations. The first binding's grace (1s) runs out after the first one, so it is
# deleted; then retire_after becomes 1h, so the second binding, replaced by the second rotation,
# is kept for step 4 however slow this machine is.
first=$(serial_of "$dir/cert.pem")
first_binding=$(sed -n 's/^created \([^ ]*\) .*/\1/p' "$work/sm.events" | head -1)
rotate_once() {
  sleep 1.2  # a new UTC second: a new binding name
  local before
  before=$(serial_of "$dir/cert.pem")
  "$CERTROTD" rotate --bus user app > "$work/rotate.out" || fail "rotate $1: $(cat "$work/rotate.out")"
  # The creation is asynchronous (202, polled): wait for the swap, not for the first answer.
  wait_for 30 "rotation $1" serial_is_not "$dir/cert.pem" "$before"
}
rotate_once 1
wait_for 30 "the first binding's deletion after its grace" \
  grep -q "^deleted $first_binding " "$work/sm.events"
sed -i 's/retire_after: 1s/retire_after: 1h/' "$work/config.yaml"
"$CERTROTD" reload --bus user >/dev/null || fail "reload refused"
rotate_once 2
assert_credential_ok "$dir"
third=$(serial_of "$dir/cert.pem")
jq -r .key "$dir/service-key.json" > "$work/sk.key"
[ "$(key_pubkey "$work/sk.key")" = "$(cert_pubkey "$dir/cert.pem")" ] ||
  fail "service-key.json did not follow the rotation"

# 3. Its version is still kept, but a rollback to it would present a dead certificate.
rc=0
"$CERTROTD" rollback --bus user --to "$first" app > "$work/rollback.out" 2>&1 || rc=$?
[ "$rc" -eq 69 ] || fail "rollback to a deleted binding: exit $rc: $(cat "$work/rollback.out")"
grep -q "was deleted at .*XSUAA no longer accepts its certificate" "$work/rollback.out" ||
  fail "message: $(cat "$work/rollback.out")"
grep -q "$first_binding" "$work/rollback.out" || fail "the message does not name the binding"
[ "$(serial_of "$dir/cert.pem")" = "$third" ] || fail "a refused rollback changed the live version"
rc=0
"$CERTROTD" rollback --bus user --to "$first" --force app > "$work/rollback.out" 2>&1 || rc=$?
[ "$rc" -eq 69 ] || fail "--force restored a version whose binding was deleted"

# 4. The previous version's binding is within its grace (1h now): that rollback works, files
# and all.
"$CERTROTD" rollback --bus user app > "$work/rollback.out" 2>&1 ||
  fail "rollback to the previous version: $(cat "$work/rollback.out")"
second=$(serial_of "$dir/cert.pem")
[ "$second" != "$third" ] && [ "$second" != "$first" ] || fail "rolled back to $second"
live=$(readlink "$dir/..data")
cmp -s "$dir/binding.json" "$dir/$live/binding.json" || fail "binding.json is not the live version's"
jq -r .key "$dir/service-key.json" > "$work/sk.key"
[ "$(key_pubkey "$work/sk.key")" = "$(cert_pubkey "$dir/cert.pem")" ] ||
  fail "service-key.json was not rolled back with cert.pem"

kill -TERM "$daemon_pid"
wait "$daemon_pid" || fail "daemon exited with $?"
! grep -q "PRIVATE KEY" "$work/daemon.log" || fail "a key was logged"
echo "PASS"
