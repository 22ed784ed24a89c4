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
