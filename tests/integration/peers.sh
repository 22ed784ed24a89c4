# Helpers for the integration tests that talk to real TLS servers (sourced after lib.sh).
# Every server listens on 127.0.0.1 only; TLS material is generated here with the openssl CLI.

# The peers run from a copy in the build folder (or the test's work folder without one), next to
# their node_modules: ES modules find packages only beside or above their own file, and nothing is
# ever written into the source tree. The copy in the build folder is kept, so reruns are fast.
peers_src="${CERTROTD_SOURCE_DIR:?}/tests/peers"
peers_dir="${CERTROTD_BUILD_DIR:-$work}/test-peers"

# Installs the node dependencies pinned in tests/peers/package-lock.json into $peers_dir, once.
peers_install() {
  command -v node >/dev/null || fail "node is not installed (scripts/setup installs it)"
  mkdir -p "$peers_dir" || fail "cannot create $peers_dir"
  (
    flock 9
    cp -p "$peers_src"/package.json "$peers_src"/package-lock.json "$peers_src"/*.mjs "$peers_dir"/
    if [ ! -f "$peers_dir/node_modules/.package-lock.json" ] ||
       [ "$peers_dir/package-lock.json" -nt "$peers_dir/node_modules/.package-lock.json" ]; then
      cd "$peers_dir" && npm ci --no-audit --no-fund --loglevel=error >&2
    fi
  ) 9>"$peers_dir/.install.lock" || fail "npm ci in $peers_dir failed"
}

# issue_cert OUT_PREFIX CA_PREFIX SUBJECT_CN EXT: a P-256 key and a one-day certificate signed by
# CA_PREFIX.{pem,key}, with the extensions in EXT (openssl -extfile syntax, one per line).
issue_cert() {
  local out=$1 ca=$2 cn=$3 ext=$4
  openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/CN=$cn" \
    -keyout "$out.key" -out "$out.csr" 2>/dev/null || fail "cannot make a CSR for $cn"
  printf '%b\n' "$ext" > "$out.ext"
  openssl x509 -req -in "$out.csr" -CA "$ca.pem" -CAkey "$ca.key" -set_serial "0x$(openssl rand -hex 8)" \
    -days 1 -extfile "$out.ext" -out "$out.pem" 2>/dev/null || fail "cannot sign a certificate for $cn"
  chmod 600 "$out.key"
}

server_cert() {  # server_cert OUT_PREFIX CA_PREFIX
  issue_cert "$1" "$2" 127.0.0.1 \
    "subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\nbasicConstraints=CA:FALSE"
}

client_cert() {  # client_cert OUT_PREFIX CA_PREFIX DNS_NAME
  issue_cert "$1" "$2" "$3" \
    "subjectAltName=DNS:$3\nextendedKeyUsage=clientAuth\nbasicConstraints=CA:FALSE"
}

# A free port on 127.0.0.1 for servers that cannot report the one they got (cfssl).
free_port() {
  node -e 'const s=require("net").createServer();s.listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})'
}

# start_peer NAME PORT_FILE COMMAND...: runs a server in the background, waits for its port file.
start_peer() {
  local name=$1 port_file=$2; shift 2
  "$@" >>"$work/$name.log" 2>&1 &
  started_pids+=("$!")
  local pid=$!
  local deadline=$((SECONDS + 30))
  until [ -s "$port_file" ]; do
    kill -0 "$pid" 2>/dev/null || { cat "$work/$name.log" >&2; fail "$name did not start"; }
    [ $SECONDS -lt $deadline ] || fail "$name did not report its port"
    sleep 0.1
  done
}

# x5t#S256 of a PEM certificate (RFC 8705 §3.1): base64url(SHA-256(DER)), no padding.
x5t_of() {
  openssl x509 -in "$1" -outform DER | openssl dgst -sha256 -binary | base64 | tr '+/' '-_' | tr -d '=\n'
}

