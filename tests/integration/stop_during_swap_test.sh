#!/usr/bin/env bash
# SIGTERM lets a running rotation finish: a renewal from a real CFSSL server is held in flight by a
# TCP relay when SIGTERM arrives; the daemon completes it (new certificate live, a complete set,
# no temporary folder or file left), then exits 0.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/peers.sh"

command -v cfssl >/dev/null || fail "cfssl is not installed (scripts/setup installs golang-cfssl)"
command -v python3 >/dev/null || fail "python3 is not installed"
make_ca
ca=$work/ca/ca
server_cert "$work/cfssl-tls" "$ca"
client_cert "$work/bootstrap" "$ca" bootstrap.test.internal

cat > "$work/cfssl.json" <<JSON
{ "signing": { "default": { "expiry": "1h", "usages": ["digital signature", "client auth"] } } }
JSON
cfssl_port=$(free_port)
cfssl serve -address 127.0.0.1 -port "$cfssl_port" -ca "$ca.pem" -ca-key "$ca.key" \
  -config "$work/cfssl.json" -tls-cert "$work/cfssl-tls.pem" -tls-key "$work/cfssl-tls.key" \
  -mutual-tls-ca "$ca.pem" >>"$work/cfssl.log" 2>&1 &
started_pids+=("$!")
wait_for 20 "cfssl serve on port $cfssl_port" \
  bash -c "openssl s_client -connect 127.0.0.1:$cfssl_port -CAfile '$ca.pem' </dev/null 2>/dev/null | grep -q 'BEGIN CERTIFICATE'"

# A relay to cfssl on 127.0.0.1:0. While $work/hold exists, a new connection is accepted, reported
# in $work/held and only relayed once $work/hold is gone, so the rotation using it stays in flight.
cat > "$work/relay.py" <<'PY'
import os, socket, sys, threading, time
upstream, work = int(sys.argv[1]), sys.argv[2]
listener = socket.create_server(("127.0.0.1", 0))
def pump(src, dst):
    try:
        while data := src.recv(65536):
            dst.sendall(data)
    except OSError:
        pass
    finally:
        for s in (src, dst):
            try: s.shutdown(socket.SHUT_RDWR)
            except OSError: pass
def serve(client):
    if os.path.exists(f"{work}/hold"):
        open(f"{work}/held", "a").write("held\n")
        while os.path.exists(f"{work}/hold"):
            time.sleep(0.05)
    server = socket.create_connection(("127.0.0.1", upstream))
    threading.Thread(target=pump, args=(client, server), daemon=True).start()
    pump(server, client)
with open(f"{work}/relay.port.tmp", "w") as f:
    f.write(str(listener.getsockname()[1]))
os.rename(f"{work}/relay.port.tmp", f"{work}/relay.port")
while True:
    conn, _ = listener.accept()
    threading.Thread(target=serve, args=(conn,), daemon=True).start()
PY
start_peer relay "$work/relay.port" python3 "$work/relay.py" "$cfssl_port" "$work"

cat > "$work/config.yaml" <<YAML
state_dir: $work/state
defaults:
  backoff: { base: 1s, cap: 2s }
issuers:
  corp-cfssl:
    type: cfssl
    url: https://127.0.0.1:$(cat "$work/relay.port")
    ca_bundle: $ca.pem
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
wait_for 30 "first issuance" test -f "$work/live/host/cert.pem"
assert_credential_ok "$work/live/host"
before=$(serial_of "$work/live/host/cert.pem")

touch "$work/hold"
kill -USR1 "$daemon_pid"
wait_for 30 "the renewal to reach the relay" test -s "$work/held"
kill -TERM "$daemon_pid"
# The daemon must still be there, waiting for the rotation it runs; then it may finish it.
sleep 1
kill -0 "$daemon_pid" 2>/dev/null || fail "the daemon exited with a rotation in flight"
[ "$(serial_of "$work/live/host/cert.pem")" = "$before" ] || fail "the held renewal finished early"
rm "$work/hold"
rc=0
wait "$daemon_pid" || rc=$?
[ "$rc" -eq 0 ] || fail "daemon exited with $rc after SIGTERM"

[ "$(serial_of "$work/live/host/cert.pem")" != "$before" ] || fail "the running renewal was not finished"
assert_credential_ok "$work/live/host"
[ "$(grep -c 'renewed credential=host' "$work/daemon.log")" -eq 2 ] || fail "expected 2 issuances"
leftovers=$(find "$work/live" "$work/state" -name '..tmp-*' -o -name '..data.tmp*' -o -name '.certrotd-tmp*')
[ -z "$leftovers" ] || fail "half-written files left: $leftovers"
