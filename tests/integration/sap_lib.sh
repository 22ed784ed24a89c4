# Shared by the sap_sm_*_test.sh tests (sourced after lib.sh and peers.sh): a test CA ($ca) for
# the TLS servers, the Service Manager's own CA ($sapca, which signs the bindings' certificates
# and the clients the token endpoint accepts), TLS certificates for oidc-provider (XSUAA) and the
# Service Manager simulator, and the functions below. The simulator's mode is the first line of
# $work/mode ("good" to begin with); it records what it did in $work/sm.events.
peers_install
make_ca
ca=$work/ca/ca
"$CERTROTD" ca init --dir "$work/sapca" >/dev/null
sapca=$work/sapca/ca
server_cert "$work/oidc-tls" "$ca"
server_cert "$work/sm-tls" "$ca"
echo good > "$work/mode"

# sap_secret SECRET: the bootstrap client secret, in $work/sm-secret (mode 0600).
sap_secret() {
  printf '%s\n' "$1" > "$work/sm-secret"
  chmod 600 "$work/sm-secret"
}

# sap_secret_client ID SECRET: the JSON of an oidc-provider client that gets tokens with
# client_secret_post, for sap_start_oidc.
sap_secret_client() {
  cat <<JSON
{ "client_id": "$1", "client_secret": "$2",
      "token_endpoint_auth_method": "client_secret_post",
      "grant_types": ["client_credentials"], "response_types": [], "redirect_uris": [] }
JSON
}

# sap_start_oidc CLIENTS [FIELDS]: oidc-provider with the clients CLIENTS (a JSON list's inside)
# and FIELDS (more members of its configuration, each followed by a comma); sets $oidc_port.
sap_start_oidc() {
  cat > "$work/oidc.json" <<JSON
{ "portFile": "$work/oidc.port", "cert": "$work/oidc-tls.pem", "key": "$work/oidc-tls.key",
  "clientCa": "$sapca.pem", "resource": "https://sm.test", ${2:-}
  "clients": [ $1 ] }
JSON
  start_peer oidc "$work/oidc.port" node "$peers_dir/oidc.mjs" "$work/oidc.json"
  oidc_port=$(cat "$work/oidc.port")
}

# sap_start_sm INSTANCES [FIELDS]: the Service Manager simulator with the service instances
# INSTANCES (a JSON list's inside) and FIELDS (more members of its configuration, each followed
# by a comma), trusting tokens from the oidc-provider sap_start_oidc started; sets $sm_port.
sap_start_sm() {
  cat > "$work/sm.json" <<JSON
{ "portFile": "$work/sm.port", "cert": "$work/sm-tls.pem", "key": "$work/sm-tls.key",
  "caCert": "$sapca.pem", "caKey": "$sapca.key",
  "authIssuer": "https://127.0.0.1:$oidc_port", "authCa": "$ca.pem", "audience": "https://sm.test",
  "instances": [ $1 ], ${2:-}
  "modeFile": "$work/mode", "eventsFile": "$work/sm.events", "workDir": "$work" }
JSON
  start_peer sm "$work/sm.port" node "$peers_dir/sm_sim.mjs" "$work/sm.json"
  sm_port=$(cat "$work/sm.port")
}

# sap_config HOST: the start of $work/config.yaml, up to the issuer btp's host: HOST; the test
# appends the rest (the issuer's token and auth, and the credentials).
sap_config() {
  cat > "$work/config.yaml" <<YAML
state_dir: $work/state
defaults:
  backoff: { base: 1s, cap: 2s }
issuers:
  btp:
    type: sap-service-manager
    sm_url: https://127.0.0.1:$sm_port
    ca_bundle: $ca.pem
    trust_anchors: $sapca.pem
    host: $1
YAML
}

# sap_secret_token: appends to $work/config.yaml the issuer's token settings for the bootstrap
# secret in $work/sm-secret (client sb-sm-secret, client_secret_post).
sap_secret_token() {
  cat >> "$work/config.yaml" <<YAML
    token: { url: "https://127.0.0.1:$oidc_port/token", client_id: sb-sm-secret,
             method: client_secret_post, client_secret_file: $work/sm-secret }
YAML
}
