#!/usr/bin/env bash
# type: sap-service-manager with self-managed certificates (sap: { self_managed: { issuer: ca } })
# against the Service Manager simulator, which trusts the local CA `ca` (trustedCaFiles) and
# refuses certificates that do not parse, are expired, do not chain to a CA it trusts, were used
# before on the instance, or come with a private key:
#  - the first binding of `app` (an XSUAA instance) and of `em` (wrap: xsuaa) is created
#    synchronously with the certificate `ca` signed for the key made on this host: the serial
#    the simulator saw is cert.pem's, key.pem fits it, no creation carried a private key, and
#    binding.json is written;
#  - two rotations of `app`, each a new binding with the new certificate; the binding replaced
#    is deleted after retire_after, the live one never;
#  - while the simulator trusts no CA (mode `untrusted`), a rotation is refused: the old
#    credential stays, with SAP's description in the log and in `certrotd status`; once the mode
#    is reset, the next rotation gets a new binding;
#  - the simulator's own checks, asked directly: a key sent along, an expired certificate, one
#    from a CA it does not trust, one already used by a binding of the instance and one that does
#    not parse are refused; a good one is bound with and without async=false.
# A private D-Bus daemon stands in for the user bus.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/peers.sh"

start_bus

source "$(dirname "$0")/sap_lib.sh"

# The host's own CA (root + intermediate): issuer `ca` signs with the intermediate, the
# simulator trusts the root.
"$CERTROTD" ca init --dir "$work/hostca" --intermediate >/dev/null
hostca=$work/hostca

secret='self s3cr=t'
sap_secret "$secret"
sap_start_oidc "$(sap_secret_client sb-sm-secret "$secret")"
sap_start_sm '{ "id": "i-xs", "name": "my-xsuaa", "clientid": "sb-app!t7", "dns": "app.test.internal" },
    { "id": "i-em", "name": "my-event-mesh", "clientid": "sb-em!b2", "dns": "em.test.internal" }' \
  '"trustedCaFiles": ["'"$hostca/ca.pem"'"], "bodiesFile": "'"$work/sm.bodies"'",'

sap_config self-host
# The chains of self-managed bindings verify to the host CA's root.
sed -i "s|^    trust_anchors: .*|    trust_anchors: $hostca/ca.pem|" "$work/config.yaml"
sap_secret_token
cat >> "$work/config.yaml" <<YAML
  ca:
    type: local
    ca_cert: $hostca/intermediate.pem
    ca_key: $hostca/intermediate.key
    roots: $hostca/ca.pem
    lifetime: 1h
    backdate: 5s
credentials:
  app:
    issuer: btp
    subject: { common_name: app.test.internal }
    sans: ["DNS:app.test.internal"]
    usage: [clientAuth]
    sap: { service_instance_name: my-xsuaa, retire_after: 1s, self_managed: { issuer: ca } }
    output: { dir: $work/live/app }
  em:
    issuer: btp
    subject: { common_name: em.test.internal }
    sans: ["DNS:em.test.internal"]
    usage: [clientAuth]
    sap: { service_instance_id: i-em, wrap: xsuaa, retire_after: 1s, self_managed: { issuer: ca } }
    output: { dir: $work/live/em }
YAML
"$CERTROTD" check --config "$work/config.yaml" >/dev/null || fail "certrotd check rejects the config"
dir=$work/live/app

# created_of CRED: the simulator's creation lines for CRED
# ("created <id> self-managed <serial> <name> <labels>"); field N of the last with last_of.
created_of() { grep "^created .*\"credential\":\[\"$1\"\]" "$work/sm.events" || true; }
last_of() { created_of "$1" | tail -1 | cut -d' ' -f"$2"; }
count_of() { created_of "$1" | wc -l; }
same_serial() { [ "$(as_certrotd_serial "$1")" = "$(as_certrotd_serial "$2")" ]; }
# body_of CRED NAME FILTER: FILTER (jq) applied to the body the simulator recorded for CRED's
# creation of binding NAME (the last one of that name: a refused request may have had it before).
body_of() {
  jq -rs --arg c "$1" --arg n "$2" \
    "[.[] | select(.body.name == \$n and .body.labels.credential[0] == \$c)] | last | $3" "$work/sm.bodies"
}

# binding_ok CRED PARAMS CLIENTID: the last binding of CRED holds cert.pem's certificate.
binding_ok() {
  local c=$1 d=$work/live/$1 serial
  assert_credential_ok "$d"
  serial=$(serial_of "$d/cert.pem")
  [ "$(last_of "$c" 3)" = self-managed ] || fail "$c: not created self-managed: $(created_of "$c")"
  same_serial "$(last_of "$c" 4)" "$serial" ||
    fail "$c: the simulator saw serial $(last_of "$c" 4), cert.pem has $serial"
  # Signed by the host CA's intermediate, for the key on this host.
  openssl verify -CAfile "$hostca/ca.pem" -untrusted "$hostca/intermediate.pem" "$d/cert.pem" >/dev/null ||
    fail "$c: cert.pem is not the host CA's"
  [ "$(openssl x509 -noout -subject -nameopt RFC2253 -in "$d/cert.pem")" = "subject=CN=$c.test.internal" ] ||
    fail "$c: subject $(openssl x509 -noout -subject -in "$d/cert.pem")"
  [ "$(jq -r .clientid "$d/binding.json")" = "$3" ] || fail "$c/binding.json: $(cat "$d/binding.json")"
  [ "$(jq -r '."certificate-pinning"' "$d/binding.json")" = true ] || fail "$c/binding.json lacks the pinning"
  [ "$(jq -r 'has("key") or has("certificate")' "$d/binding.json")" = false ] ||
    fail "$c/binding.json holds a key or certificate"
  # The request: synchronous, pinned, the certificate and nothing secret.
  local name
  name=$(last_of "$c" 5)
  [ "$(body_of "$c" "$name" .url)" = "/v1/service_bindings?async=false" ] || fail "$c: not created with async=false"
  [ "$(body_of "$c" "$name" "$2.x509.\"certificate-pinning\"")" = true ] || fail "$c: certificate-pinning not sent"
  body_of "$c" "$name" "$2.x509.certificate" > "$work/body.pem"
  same_serial "$(serial_of "$work/body.pem")" "$serial" || fail "$c: the request did not carry cert.pem"
}

no_key_sent() {
  [ -s "$work/sm.bodies" ] || fail "the simulator recorded no creation"
  ! grep -q "PRIVATE KEY" "$work/sm.bodies" || fail "a creation carried a private key"
  [ "$(jq -s '[.[].body | .. | objects | has("key")] | any' "$work/sm.bodies")" = false ] ||
    fail "a creation had a member named key"
  ! grep -q "^refused .*private key" "$work/sm.events" || fail "the simulator refused a key"
}

"$CERTROTD" run --config "$work/config.yaml" --bus user --log-level debug >>"$work/daemon.log" 2>&1 &
daemon_pid=$!
started_pids+=("$daemon_pid")

# 1. The first bindings.
wait_for 30 "the first binding of app" test -f "$dir/cert.pem"
wait_for 30 "the first binding of em" test -f "$work/live/em/cert.pem"
wait_for 10 "the control interface" "$CERTROTD" status --bus user app
binding_ok app .body.parameters 'sb-app!t7'
binding_ok em .body.parameters.xsuaa 'sb-em!b2'
[ "$(readlink "$dir/binding.json")" = "..data/binding.json" ] || fail "binding.json is not a stable link"
no_key_sent

# 2. Two rotations of app: a new binding each, the replaced one deleted after its grace.
for round in 1 2; do
  before=$(serial_of "$dir/cert.pem")
  old=$(last_of app 2)
  n=$(count_of app)
  sleep 1.2  # a new UTC second: a new binding name
  "$CERTROTD" rotate --bus user app > "$work/rotate.out" || fail "rotate $round: $(cat "$work/rotate.out")"
  wait_for 30 "rotation $round" serial_is_not "$dir/cert.pem" "$before"
  [ "$(count_of app)" -eq $((n + 1)) ] || fail "rotation $round: $(created_of app)"
  new=$(last_of app 2)
  [ "$new" != "$old" ] || fail "rotation $round reused binding $old"
  binding_ok app .body.parameters 'sb-app!t7'
  wait_for 30 "binding $old deleted after its grace" grep -q "^deleted $old " "$work/sm.events"
  ! grep -q "^deleted $new " "$work/sm.events" || fail "the live binding $new was deleted"
done
no_key_sent

# 3. A certificate the simulator refuses keeps the old credential, and says why.
echo untrusted > "$work/mode"
start=$(wc -l < "$work/daemon.log")
serial=$(serial_of "$dir/cert.pem")
live=$(last_of app 2)
n=$(count_of app)
sleep 1.2
"$CERTROTD" rotate --bus user app > "$work/rotate.out" 2>&1 || true
wait_for 30 "app refused by the simulator" sh -c "tail -n +$((start + 1)) '$work/daemon.log' |
  grep -Eq 'renew-failed credential=app .*refused it \\(400\\).*not issued by a trusted certificate authority.*old credential kept'"
grep -q "^refused certrotd-self-host-.* not issued by a trusted certificate authority" "$work/sm.events" ||
  fail "the simulator did not refuse it: $(cat "$work/sm.events")"
[ "$(serial_of "$dir/cert.pem")" = "$serial" ] || fail "app changed although its certificate was refused"
[ "$(count_of app)" -eq "$n" ] || fail "a binding was created for a refused certificate"
assert_credential_ok "$dir"
"$CERTROTD" status --bus user app > "$work/status.out" 2>&1 || true
grep -q "not issued by a trusted certificate authority" "$work/status.out" ||
  fail "status does not say why: $(cat "$work/status.out")"
! grep -q "^deleted $live " "$work/sm.events" || fail "the live binding was deleted after a refusal"

# The daemon tries again by itself (backoff cap 2s): once the CA is trusted again, it succeeds.
echo good > "$work/mode"
wait_for 30 "recovery of app" serial_is_not "$dir/cert.pem" "$serial"
binding_ok app .body.parameters 'sb-app!t7'
wait_for 30 "binding $live deleted after its grace" grep -q "^deleted $live " "$work/sm.events"
no_key_sent

# 4. The simulator's checks, asked directly with a token of the bootstrap client.
token=$(curl -sf --cacert "$ca.pem" -d grant_type=client_credentials -d client_id=sb-sm-secret \
  --data-urlencode "client_secret=$secret" "https://127.0.0.1:$oidc_port/token" | jq -r .access_token)
[ -n "$token" ] && [ "$token" != null ] || fail "no token for the direct checks"
# sm_create X509_JSON: creates a binding of i-xs with those x509 parameters; prints the status and
# the description.
sm_create() {
  jq -n --argjson x "$1" --arg name "direct-$RANDOM$RANDOM" \
    '{name: $name, service_instance_id: "i-xs", parameters: {"credential-type": "x509", x509: $x}}' |
    curl -s --cacert "$ca.pem" -H "Authorization: Bearer $token" -H 'Content-Type: application/json' \
      -o "$work/direct.out" -w '%{http_code}' --data-binary @- \
      "https://127.0.0.1:$sm_port/v1/service_bindings?async=false"
  printf ' %s\n' "$(jq -r '.description // .id' "$work/direct.out")"
}
pem_json() { jq -Rs . "$1"; }
# Same certificate as the live binding: used already (pinning is by hash).
cat "$dir/cert.pem" "$dir/chain.pem" > "$work/live-chain.pem"
out=$(sm_create "{\"certificate\": $(pem_json "$work/live-chain.pem")}")
case $out in "400 the certificate is already used by binding"*) ;; *) fail "reused certificate: $out" ;; esac
# A fresh certificate of the host CA's intermediate: accepted; with its key: refused.
openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj /CN=direct.test.internal \
  -keyout "$work/d.key" -out "$work/d.csr" 2>/dev/null || fail "cannot make a CSR"
sign() {  # sign OUT DAYS: a client certificate of the host CA's intermediate, and its chain
  printf 'extendedKeyUsage=clientAuth\nbasicConstraints=CA:FALSE\n' > "$work/d.ext"
  openssl x509 -req -in "$work/d.csr" -CA "$hostca/intermediate.pem" -CAkey "$hostca/intermediate.key" \
    -set_serial "0x$(openssl rand -hex 8)" -days "$2" -extfile "$work/d.ext" -out "$1" 2>/dev/null ||
    fail "cannot sign $1"
  cat "$hostca/intermediate.pem" >> "$1"
}
sign "$work/d.pem" 1
out=$(sm_create "{\"certificate\": $(pem_json "$work/d.pem"), \"key\": $(pem_json "$work/d.key")}")
case $out in "400 a self-managed certificate must come without its private key"*) ;; *) fail "key sent: $out" ;; esac
out=$(sm_create "{\"certificate\": $(pem_json "$work/d.pem")}")
case $out in 201\ *) ;; *) fail "a good certificate was refused: $out" ;; esac
id=${out#201 }
curl -sf --cacert "$ca.pem" -H "Authorization: Bearer $token" \
  "https://127.0.0.1:$sm_port/v1/service_bindings/$id" > "$work/direct.json" || fail "cannot read binding $id"
[ "$(jq -r '.credentials | has("key")' "$work/direct.json")" = false ] || fail "the binding has a key"
jq -r .credentials.certificate "$work/direct.json" > "$work/direct.pem"
[ "$(serial_of "$work/direct.pem")" = "$(serial_of "$work/d.pem")" ] || fail "the binding does not hold the certificate"
# Asynchronously: 202 and an operation; the binding, once created, holds the certificate.
sign "$work/d2.pem" 1
jq -n --arg c "$(cat "$work/d2.pem")" \
  '{name: "direct-async", service_instance_id: "i-xs", parameters: {x509: {certificate: $c}}}' > "$work/async.json"
code=$(curl -s --cacert "$ca.pem" -H "Authorization: Bearer $token" -H 'Content-Type: application/json' \
  -D "$work/async.headers" -o /dev/null -w '%{http_code}' --data-binary @"$work/async.json" \
  "https://127.0.0.1:$sm_port/v1/service_bindings?async=true")
[ "$code" = 202 ] || fail "an asynchronous self-managed creation got $code"
id=$(sed -n 's|^location: /v1/service_bindings/\([^/]*\)/operations/.*|\1|ip' "$work/async.headers" | tr -d '\r')
[ -n "$id" ] || fail "no Location: $(cat "$work/async.headers")"
wait_for 10 "binding $id created" curl -sf --cacert "$ca.pem" -H "Authorization: Bearer $token" \
  -o "$work/direct.json" "https://127.0.0.1:$sm_port/v1/service_bindings/$id"
jq -r .credentials.certificate "$work/direct.json" > "$work/direct.pem"
[ "$(serial_of "$work/direct.pem")" = "$(serial_of "$work/d2.pem")" ] ||
  fail "the asynchronous binding does not hold its certificate"
seen=$(awk -v id="$id" '$1 == "created" && $2 == id && $3 == "self-managed" { print $4 }' "$work/sm.events")
same_serial "$seen" "$(serial_of "$work/d2.pem")" || fail "the asynchronous creation was recorded as '$seen'"
# Expired (notAfter a day ago), and from a CA the simulator does not trust.
sign "$work/old.pem" -1
out=$(sm_create "{\"certificate\": $(pem_json "$work/old.pem")}")
case $out in "400 certificate"*"is expired or not yet valid"*) ;; *) fail "expired certificate: $out" ;; esac
openssl x509 -req -in "$work/d.csr" -CA "$sapca.pem" -CAkey "$sapca.key" -set_serial 7 -days 1 \
  -extfile "$work/d.ext" -out "$work/other.pem" 2>/dev/null || fail "cannot sign with the other CA"
out=$(sm_create "{\"certificate\": $(pem_json "$work/other.pem")}")
case $out in "400 the certificate is not issued by a trusted certificate authority"*) ;; *) fail "other CA: $out" ;; esac
out=$(sm_create '{"certificate": "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----"}')
case $out in "400 the certificate cannot be parsed"*) ;; *) fail "garbage certificate: $out" ;; esac

kill -TERM "$daemon_pid"
wait "$daemon_pid" || fail "daemon exited with $?"
! grep -qF "$secret" "$work/daemon.log" || fail "the client secret was logged"
! grep -q "eyJ" "$work/daemon.log" || fail "a token was logged"
! grep -q "PRIVATE KEY" "$work/daemon.log" || fail "a key was logged"
echo "PASS"
