#!/usr/bin/env bash
# The dns-01 solver against a real BIND 9: named, started here as the primary of a test zone that
# grants TSIG-signed updates of TXT records (key made with tsig-keygen now), on 127.0.0.1 and a
# free port. present makes the record visible to dig, cleanup removes exactly it; a key the
# server does not know, a key it knows but does not grant, a zone it does not serve, and a server
# that does not answer each fail with an error that says so.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/bind_lib.sh"

probe=${CERTROTD_BUILD_DIR:?}/tests/integration/dns01_probe
[ -x "$probe" ] || fail "$probe is not built"

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# Besides certrotd.key (start_named makes it): a key named knows but does not grant, and one of
# the same name as certrotd with another secret.
tsig-keygen -a hmac-sha512 other > "$work/other.key"
tsig-keygen -a hmac-sha256 certrotd > "$work/forged.key"
chmod 0600 "$work/other.key" "$work/forged.key"
start_named "$work/other.key"
port=$named_port
server=$named_server
record=_acme-challenge.www.test.example
txt_of() { txt_at "$record"; }

# present: the record is there when the solver returns (it waited for it), next to a value
# someone else put there, which cleanup leaves alone.
nsupdate -k "$work/certrotd.key" <<UPDATE
server 127.0.0.1 $port
update add $record. 60 TXT "someone-else"
send
UPDATE
"$probe" present "$server" test.example "$work/certrotd.key" www.test.example value-1 20s \
  >"$work/present.out" 2>&1 || fail "present failed: $(cat "$work/present.out")"
txt_of | grep -qx '"value-1"' || fail "dig does not see the TXT record after present: $(txt_of)"

# A wildcard's record is its base name's; a second value of one name is added, not replaced.
"$probe" present "$server" test.example "$work/certrotd.key" www.test.example value-2 20s \
  >"$work/present2.out" 2>&1 || fail "second present failed: $(cat "$work/present2.out")"
[ "$(txt_of | sort | tr '\n' ' ')" = '"someone-else" "value-1" "value-2" ' ] ||
  fail "expected three values, got: $(txt_of)"

# cleanup removes exactly its own value.
"$probe" cleanup "$server" test.example "$work/certrotd.key" www.test.example value-1 \
  >"$work/cleanup.out" 2>&1 || fail "cleanup failed: $(cat "$work/cleanup.out")"
[ "$(txt_of | sort | tr '\n' ' ')" = '"someone-else" "value-2" ' ] ||
  fail "cleanup removed the wrong records: $(txt_of)"
"$probe" cleanup "$server" test.example "$work/certrotd.key" www.test.example value-2 \
  >>"$work/cleanup.out" 2>&1 || fail "second cleanup failed: $(cat "$work/cleanup.out")"
# Cleaning up what is already gone (after a failed present) is no error.
"$probe" cleanup "$server" test.example "$work/certrotd.key" www.test.example value-2 \
  >>"$work/cleanup.out" 2>&1 || fail "a repeated cleanup failed: $(cat "$work/cleanup.out")"
[ "$(txt_of)" = '"someone-else"' ] || fail "records left after cleanup: $(txt_of)"

# expect_failure NAME EXIT PATTERN ARGS...: the probe fails with EXIT and says PATTERN.
expect_failure() {
  local name=$1 code=$2 pattern=$3; shift 3
  local rc=0
  "$probe" "$@" >"$work/$name.out" 2>&1 || rc=$?
  [ "$rc" -eq "$code" ] || fail "$name: exit $rc, expected $code: $(cat "$work/$name.out")"
  grep -q -- "$pattern" "$work/$name.out" || fail "$name: no '$pattern' in: $(cat "$work/$name.out")"
  if grep -qF "$(sed -n 's/.*secret "\(.*\)".*/\1/p' "$work/certrotd.key")" "$work/$name.out"; then
    fail "$name: the secret is in the error"
  fi
}

# A key of the right name with another secret: named answers BADSIG.
expect_failure forged 1 "refused TSIG key 'certrotd.': BADSIG" \
  present "$server" test.example "$work/forged.key" www.test.example v 5s
# A key named knows but does not grant: REFUSED.
expect_failure refused 1 "refused the update of zone 'test.example.' (REFUSED)" \
  present "$server" test.example "$work/other.key" www.test.example v 5s
# A zone it does not serve.
expect_failure notauth 1 "not authoritative for zone 'other.example.'" \
  present "$server" other.example "$work/certrotd.key" www.other.example v 5s
# A name outside the configured zone is refused before anything is sent.
expect_failure outside 1 "'www.other.example' is not in zone 'test.example.'" \
  present "$server" test.example "$work/certrotd.key" www.other.example v 5s
# A key file that is not one: the load fails (exit 78) at its position.
echo "not a key" > "$work/bad.key"
expect_failure badkey 78 "probe.yaml:1:.*not a BIND key file" \
  present "$server" test.example "$work/bad.key" www.test.example v 5s
[ "$(txt_of)" = '"someone-else"' ] || fail "a failed attempt left records: $(txt_of)"

# A server that takes the datagram and never answers: the exchange times out.
silent_port=$(free_port)
python3 -c "import socket,time; s=socket.socket(socket.AF_INET, socket.SOCK_DGRAM); \
s.bind(('127.0.0.1', $silent_port)); open('$work/silent.ready', 'w').close(); time.sleep(120)" &
started_pids+=("$!")
wait_for 10 "the silent server" test -e "$work/silent.ready"
start=$SECONDS
expect_failure silent 1 "DNS server 127.0.0.1:$silent_port: cannot add TXT .*: no answer in time" \
  present "127.0.0.1:$silent_port" test.example "$work/certrotd.key" www.test.example v 5s 2s
[ $((SECONDS - start)) -lt 20 ] || fail "the timeout took $((SECONDS - start)) s"

echo "PASS dns_update_test"
