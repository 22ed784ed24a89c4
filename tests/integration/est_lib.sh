# Shared by the est_*_test.sh tests (sourced after lib.sh and peers.sh): a test CA ($ca), the
# EST test server's TLS certificate, a bootstrap client certificate, a rogue CA and another
# public key for the server's failure modes, and `est_start USER PASSWORD`, which starts
# tests/peers/est_server.mjs and sets $est_port. The server's mode is the first line of
# $work/mode ("good" to begin with); it records what it saw in $work/est-events.
peers_install
make_ca
ca=$work/ca/ca
server_cert "$work/est-tls" "$ca"
client_cert "$work/bootstrap" "$ca" bootstrap.test.internal
"$CERTROTD" ca init --dir "$work/rogue" >/dev/null
openssl ecparam -name prime256v1 -genkey -noout 2>/dev/null | openssl pkey -pubout > "$work/other.pub"
mkdir -p "$work/est-tmp"
echo good > "$work/mode"

# est_start USER PASSWORD: the server, with HTTP Basic for USER:PASSWORD. For the rollover mode
# the test writes $work/newroot.pem and $work/newwithold.pem first (and $work/newroot.key for
# the newroot mode).
est_start() {
  cat > "$work/est.json" <<JSON
{ "portFile": "$work/est.port", "cert": "$work/est-tls.pem", "key": "$work/est-tls.key",
  "clientCa": "$ca.pem", "caCert": "$ca.pem", "caKey": "$ca.key",
  "rogueCert": "$work/rogue/ca.pem", "rogueKey": "$work/rogue/ca.key", "otherPub": "$work/other.pub",
  "newRoot": "$work/newroot.pem", "newWithOld": "$work/newwithold.pem", "newRootKey": "$work/newroot.key",
  "user": "$1", "password": "$2", "modeFile": "$work/mode",
  "eventsFile": "$work/est-events", "workDir": "$work/est-tmp" }
JSON
  start_peer est "$work/est.port" node "$peers_dir/est_server.mjs" "$work/est.json"
  est_port=$(cat "$work/est.port")
}

# est_rollover_certs: for the CA rollover modes, the new root ($work/newroot.pem and .key) and
# NewWithOld ($work/newwithold.pem: its subject and key, signed by the old root), a client
# certificate of each root ($work/old-client and $work/new-client) and nginx's TLS certificate
# ($work/nginx-tls).
est_rollover_certs() {
  server_cert "$work/nginx-tls" "$ca"
  openssl req -x509 -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/CN=EST new root" \
    -days 30 -keyout "$work/newroot.key" -out "$work/newroot.pem" \
    -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" 2>/dev/null
  openssl req -new -key "$work/newroot.key" -subj "/CN=EST new root" -out "$work/newroot.csr"
  printf 'basicConstraints=critical,CA:TRUE\nkeyUsage=critical,keyCertSign,cRLSign\n' > "$work/ca.ext"
  openssl x509 -req -in "$work/newroot.csr" -CA "$ca.pem" -CAkey "$ca.key" -set_serial 77 -days 30 \
    -extfile "$work/ca.ext" -out "$work/newwithold.pem" 2>/dev/null
  client_cert "$work/new-client" "$work/newroot" new-client.test.internal
  client_cert "$work/old-client" "$ca" old-client.test.internal
}

# est_start_nginx: nginx (with the certificate est_rollover_certs made) on a free port, which
# it sets in $nginx_port, asking for client certificates that chain to $work/live/host/ca.pem.
est_start_nginx() {
  nginx_port=$(free_port)
  mkdir -p "$work/nginx/tmp"
  {
    nginx_preamble
    cat <<NGINX
  server {
    listen 127.0.0.1:$nginx_port ssl;
    ssl_certificate $work/nginx-tls.pem;
    ssl_certificate_key $work/nginx-tls.key;
    ssl_client_certificate $work/live/host/ca.pem;
    ssl_verify_client on;
    location / { return 200 "ok\n"; }
  }
}
NGINX
  } >"$work/nginx/nginx.conf"
  /usr/sbin/nginx -e "$work/nginx/error.log" -c "$work/nginx/nginx.conf" >>"$work/nginx.log" 2>&1 &
  started_pids+=("$!")
  wait_for 20 "nginx on port $nginx_port" est_listening "$nginx_port"
}
est_listening() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# est_config ISSUER_YAML [CREDENTIAL_YAML]: $work/config.yaml with the issuer corp-est (this EST
# server, mTLS with the bootstrap certificate first and then its own) and the credential host;
# ISSUER_YAML (lines, each ending in a newline) goes after the issuer's ca_bundle,
# CREDENTIAL_YAML after the credential's output.
est_config() {
  {
    cat <<YAML
state_dir: $work/state
defaults:
  backoff: { base: 1s, cap: 2s }
issuers:
  corp-est:
    type: est
    url: https://127.0.0.1:$est_port/.well-known/est
    ca_bundle: $ca.pem
YAML
    printf '%s' "$1"
    cat <<YAML
    auth: { mtls: self }
    bootstrap: { mtls: { cert: $work/bootstrap.pem, key: $work/bootstrap.key } }
credentials:
  host:
    issuer: corp-est
    subject: { common_name: host.test.internal }
    sans: ["DNS:host.test.internal"]
    output: { dir: $work/live/host }
YAML
    printf '%s' "${2:-}"
  } > "$work/config.yaml"
}

# roots_in BUNDLE: how many certificates BUNDLE holds.
roots_in() { grep -c "BEGIN CERTIFICATE" "$1"; }

# has_root BUNDLE ROOT_PEM: ROOT_PEM is one of the certificates of BUNDLE.
has_root() {
  local want f found=1
  want=$(openssl x509 -outform DER -in "$2" | sha256sum)
  rm -f "$work"/split-*.pem
  awk '/BEGIN CERTIFICATE/{n++} {print > "'"$work"'/split-" n ".pem"}' "$1"
  for f in "$work"/split-*.pem; do
    [ "$(openssl x509 -outform DER -in "$f" | sha256sum)" = "$want" ] && { found=0; break; }
  done
  rm -f "$work"/split-*.pem
  return $found
}
