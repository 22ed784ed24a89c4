#!/usr/bin/env bash
# `certrotd test-connection` against real servers, in TLS 1.2 and TLS 1.3: nginx with
# `ssl_verify_client on` and `optional`, and `openssl s_server -www` with `-verify`, `-Verify` and
# `-verify_return_error`, each trusting the CA that issued the credential or another one. The
# verdict on the client certificate must be what the server did (nginx completes the handshake
# and answers 400 "The SSL certificate error"; s_server without -verify_return_error accepts any
# certificate; with it, it sends an alert, after the handshake in TLS 1.3), the evidence must be
# printed, and the exit code must be 1 exactly when a check failed. A server that asks for no
# certificate, and one that never answers, are reported as such. A server certificate for
# another host name is reported as a host-name mismatch, not as an untrusted chain.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/peers.sh"

make_ca
"$CERTROTD" ca init --dir "$work/rogue" >/dev/null
right=$work/ca/ca.pem
wrong=$work/rogue/ca.pem
server_cert "$work/srv" "$work/ca/ca"
server_cert "$work/rogue-srv" "$work/rogue/ca"
issue_cert "$work/other" "$work/ca/ca" other.test.internal \
  "subjectAltName=DNS:other.test.internal\nextendedKeyUsage=serverAuth\nbasicConstraints=CA:FALSE"

# The credential: issued by certrotd from the local CA (leaf + intermediate, ca.pem the root).
write_config "$work/config.yaml" 1h tc
start_daemon "$work/config.yaml"
wait_for 30 "first issuance of tc" test -f "$work/live/tc/cert.pem"
stop_daemon
assert_credential_ok "$work/live/tc"

# One nginx, one server block per case: "name port protocol verify_client client_ca cert".
cases=()
for proto in TLSv1.2 TLSv1.3; do
  for verify in on optional; do
    cases+=("$verify-right-$proto $(free_port) $proto $verify $right srv")
    cases+=("$verify-wrong-$proto $(free_port) $proto $verify $wrong srv")
  done
done
cases+=("no-request $(free_port) TLSv1.3 off $right srv")
cases+=("other-name $(free_port) TLSv1.3 optional $right other")
cases+=("rogue-server $(free_port) TLSv1.3 optional $right rogue-srv")
mkdir -p "$work/nginx/tmp"
{
  nginx_preamble
  for c in "${cases[@]}"; do
    read -r _ port proto verify ca cert <<<"$c"
    cat <<NGINX
  server {
    listen 127.0.0.1:$port ssl;
    ssl_protocols $proto;
    ssl_certificate $work/$cert.pem;
    ssl_certificate_key $work/$cert.key;
    ssl_client_certificate $ca;
    ssl_verify_client $verify;
    ssl_verify_depth 3;
    location / { return 200 "ok\n"; }
  }
NGINX
  done
  echo "}"
} >"$work/nginx/nginx.conf"
/usr/sbin/nginx -e "$work/nginx/error.log" -c "$work/nginx/nginx.conf" >>"$work/nginx.log" 2>&1 &
started_pids+=("$!")
nginx_pid=$!
port_of() {  # port_of CASE_NAME
  local c
  for c in "${cases[@]}"; do
    read -r name port _ <<<"$c"
    [ "$name" = "$1" ] && { echo "$port"; return; }
  done
  fail "no case $1"
}
listening() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
for c in "${cases[@]}"; do
  read -r _ port _ <<<"$c"
  kill -0 "$nginx_pid" 2>/dev/null ||
    fail "nginx exited: $(cat "$work/nginx/error.log" "$work/nginx.log" 2>/dev/null)"
  wait_for 20 "nginx on port $port" listening "$port"
done

# expect WHAT PORT EXIT VERDICT EVIDENCE [SERVER_VERIFICATION]: runs test-connection to
# 127.0.0.1:PORT and checks its exit code, the verdict line and the evidence (an ERE).
expect() {
  local what=$1 port=$2 want_rc=$3 verdict=$4 evidence=$5 verification=${6:-ok} rc=0
  "$CERTROTD" test-connection --config "$work/config.yaml" tc "https://127.0.0.1:$port/" \
    >"$work/tc.out" 2>&1 || rc=$?
  local out
  out=$(cat "$work/tc.out")
  [ "$rc" = "$want_rc" ] || fail "$what: exit code $rc, expected $want_rc:"$'\n'"$out"
  grep -qx "client certificate:  $verdict" "$work/tc.out" ||
    fail "$what: expected verdict '$verdict':"$'\n'"$out"
  grep -Eq "^  evidence: +.*$evidence" "$work/tc.out" ||
    fail "$what: expected evidence /$evidence/:"$'\n'"$out"
  grep -Eq "^server verification: $verification" "$work/tc.out" ||
    fail "$what: expected server verification /$verification/:"$'\n'"$out"
}

# nginx verifies the certificate after the handshake, for on and optional alike, and answers
# its own 400 page when it did not verify.
for proto in TLSv1.2 TLSv1.3; do
  for verify in on optional; do
    expect "nginx $verify, issuing CA, $proto" "$(port_of "$verify-right-$proto")" 0 accepted \
      "answered HTTP/1.1 200 OK"
    expect "nginx $verify, other CA, $proto" "$(port_of "$verify-wrong-$proto")" 1 rejected \
      "answered HTTP/1.1 400 Bad Request with the page 'The SSL certificate error'"
  done
done
grep -q "protocol:            TLSv1.3" "$work/tc.out" || fail "the last case did not use TLS 1.3"

# A server that does not ask for a certificate has nothing to refuse.
expect "nginx without ssl_verify_client" "$(port_of no-request)" 0 "not requested by the server" \
  "no CertificateRequest"

# The server's certificate: for another name, or from a CA the credential does not trust.
expect "server certificate for another name" "$(port_of other-name)" 1 accepted "200 OK" \
  "host name mismatch: the certificate is for DNS:other.test.internal, not 127.0.0.1"
expect "server certificate from another CA" "$(port_of rogue-server)" 1 accepted "200 OK" \
  "unable to get local issuer certificate"
if grep -q "host name" "$work/tc.out"; then fail "an untrusted chain was called a name mismatch"; fi

# openssl s_server -www: -verify asks for a certificate, -Verify requires one; neither refuses a
# certificate that does not verify unless -verify_return_error is given.
s_count=0
# start_s_server ARGS...: openssl s_server on a free port, input from $s_stdin; sets s_port
start_s_server() {
  s_count=$((s_count + 1))
  local name=s_server-$s_count  # a new log each time: the background redirect truncates late
  openssl s_server -accept 127.0.0.1:0 -cert "$work/srv.pem" -key "$work/srv.key" "$@" \
    <"${s_stdin:-/dev/null}" >"$work/$name.log" 2>&1 &
  started_pids+=("$!")
  s_pid=$!
  local deadline=$((SECONDS + 20))
  until grep -qs '^ACCEPT' "$work/$name.log"; do
    kill -0 "$s_pid" 2>/dev/null || fail "s_server $name did not start: $(cat "$work/$name.log")"
    [ $SECONDS -lt $deadline ] || fail "s_server $name did not report its port"
    sleep 0.1
  done
  s_port=$(sed -n 's/^ACCEPT 127\.0\.0\.1://p' "$work/$name.log")
}
stop_s_server() {  # stops the last s_server and forgets its PID, so that cleanup cannot hit a reuse
  kill -TERM "$s_pid"
  wait "$s_pid" 2>/dev/null || true
  local pid kept=()
  for pid in "${started_pids[@]}"; do [ "$pid" = "$s_pid" ] || kept+=("$pid"); done
  started_pids=("${kept[@]}")
}

for proto in tls1_2 tls1_3; do
  if [ $proto = tls1_3 ]; then when="after the handshake"; else when="during the handshake"; fi
  for mode in "-verify 3" "-Verify 3" "-verify 3 -verify_return_error" \
              "-Verify 3 -verify_return_error"; do
    for ca in right wrong; do
      ca_file=$right; [ $ca = wrong ] && ca_file=$wrong
      # shellcheck disable=SC2086 # $mode is a list of options
      start_s_server -www -"$proto" -CAfile "$ca_file" $mode
      what="s_server $mode, $ca CA, $proto"
      if [ $ca = wrong ] && [[ $mode == *-verify_return_error* ]]; then
        expect "$what" "$s_port" 1 rejected "the TLS alert '[^']+' \([0-9]+\) $when"
      else
        expect "$what" "$s_port" 0 accepted "answered HTTP/1.0 200 ok"
      fi
      stop_s_server
    done
  done
done

# A TLS server that is not an HTTP server (s_server without -www) never answers the request:
# neither accepted nor rejected can be said, and that is a failure.
# Without -www it quits at the end of its input, so it gets one that never ends.
mkfifo "$work/silence"
exec 7<>"$work/silence"
s_stdin=$work/silence start_s_server -tls1_3 -CAfile "$right" -verify 3
expect "s_server without -www" "$s_port" 1 undetermined "no answer and no alert from the server \(.+\)"
stop_s_server

echo "PASS"
