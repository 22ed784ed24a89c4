#!/usr/bin/env bash
# `certrotd test-connection` when no TLS connection can be made at all: nothing listens on the
# port, or the peer speaks no TLS and hangs up. README: exit 69 (EX_UNAVAILABLE), with the reason,
# and never 0 or 1, which would claim a verdict on the certificate.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/peers.sh"

make_ca
write_config "$work/config.yaml" 1h tc
start_daemon "$work/config.yaml"
wait_for 30 "first issuance of tc" test -f "$work/live/tc/cert.pem"
stop_daemon

# expect_unavailable WHAT URL
expect_unavailable() {
  local rc=0
  "$CERTROTD" test-connection --config "$work/config.yaml" tc "$2" >"$work/tc.out" 2>&1 || rc=$?
  [ "$rc" -eq 69 ] || fail "$1: exit code $rc, expected 69:"$'\n'"$(cat "$work/tc.out")"
  [ -s "$work/tc.out" ] || fail "$1: no reason printed"
  ! grep -q "^client certificate:  accepted" "$work/tc.out" || fail "$1: claims an acceptance"
}

# A port picked free on 127.0.0.1 that nobody listens on: the connection is refused.
expect_unavailable "nothing listening" "https://127.0.0.1:$(free_port)/"

# A peer that accepts and closes at once, before any TLS.
cat > "$work/hangup.py" <<'PY'
import os, socket, sys
listener = socket.create_server(("127.0.0.1", 0))
with open(sys.argv[1] + ".tmp", "w") as f:
    f.write(str(listener.getsockname()[1]))
os.rename(sys.argv[1] + ".tmp", sys.argv[1])
while True:
    conn, _ = listener.accept()
    conn.close()
PY
start_peer hangup "$work/hangup.port" python3 "$work/hangup.py" "$work/hangup.port"
expect_unavailable "a peer that hangs up" "https://127.0.0.1:$(cat "$work/hangup.port")/"
