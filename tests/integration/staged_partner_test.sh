#!/usr/bin/env bash
# Staged activation for a partner that must know a client certificate before it is used: nginx
# accepts a client certificate only when its fingerprint is in a partner trust store (an
# allow-list map, reloaded on SIGHUP) that certrotd's hooks update. With `mode: staged` the
# on_staged hook teaches the partner the new certificate before it goes live, and no request
# is refused across the rotation; with `mode: immediate` and a partner that learns the new
# certificate only after the swap (on_rotate), requests with the new certificate are refused in
# between. Clients read bundle.pem (key and chain in one file) for every request.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/peers.sh"

command -v curl >/dev/null || fail "curl is not installed"
make_ca
server_cert "$work/srv" "$work/ca/ca"
mkdir -p "$work/nginx/tmp" "$work/partner"
: > "$work/partner/allow.map"
port=$(free_port)
{
  nginx_preamble
  cat <<NGINX
  map \$ssl_client_fingerprint \$known {
    default 0;
    include $work/partner/allow.map;
  }
  server {
    listen 127.0.0.1:$port ssl;
    ssl_certificate $work/srv.pem;
    ssl_certificate_key $work/srv.key;
    ssl_verify_client optional_no_ca;
    location / {
      if (\$known = 0) { return 403 "unknown certificate\n"; }
      return 200 "ok\n";
    }
  }
}
NGINX
} >"$work/nginx/nginx.conf"
/usr/sbin/nginx -e "$work/nginx/error.log" -c "$work/nginx/nginx.conf" >>"$work/nginx.log" 2>&1 &
started_pids+=("$!")
wait_for 20 "nginx on port $port" test -s "$work/nginx/nginx.pid"

# The partner's import: the certificate's fingerprint into the allow-list, then a reload.
# `learn.sh CERT [DELAY]`: DELAY seconds first, as a partner that is told only after the swap.
cat >"$work/learn.sh" <<SH
sleep "\${2:-0}"
fp=\$(openssl x509 -in "\$1" -noout -fingerprint -sha1 | cut -d= -f2 | tr -d : | tr A-F a-f)
grep -q "^\$fp " $work/partner/allow.map || echo "\$fp 1;" >> $work/partner/allow.map
kill -HUP "\$(cat $work/nginx/nginx.pid)"
sleep 1
SH

cat >"$work/config.yaml" <<YAML
state_dir: $work/state
defaults:
  backoff: { base: 1s, cap: 5s }
issuers:
  ca:
    type: local
    ca_cert: $work/ca/intermediate.pem
    ca_key: $work/ca/intermediate.key
    roots: $work/ca/ca.pem
    lifetime: 1h
    backdate: 5s
credentials:
  staged:
    issuer: ca
    subject: { common_name: staged.test.internal }
    usage: [clientAuth]
    output: { dir: $work/live/staged }
    activation: { mode: staged, activate_after: 6s, activate_before_expiry: 5m }
    on_staged:
      - exec: { command: ["/bin/sh", "-c", "/bin/sh $work/learn.sh \"\$CERTROT_CERT\""] }
  immediate:
    issuer: ca
    subject: { common_name: immediate.test.internal }
    usage: [clientAuth]
    output: { dir: $work/live/immediate }
    on_rotate:
      - exec: { command: ["/bin/sh", "-c", "/bin/sh $work/learn.sh \"\$CERTROT_CERT\" 2"] }
YAML
start_daemon "$work/config.yaml"
for c in staged immediate; do
  wait_for 30 "first issuance of $c" test -f "$work/live/$c/bundle.pem"
  assert_credential_ok "$work/live/$c"
  wait_for 30 "first rotation of $c finished" grep -q "renewed credential=$c" "$work/daemon.log"
  # The partner was given the first certificates beforehand, by hand.
  sh "$work/learn.sh" "$work/live/$c/cert.pem"
done

request() {  # request CREDENTIAL: "CODE SERIAL" of one request with the credential's bundle
  local copy=$work/$1.request.pem code
  cp "$work/live/$1/bundle.pem" "$copy"
  code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 5 --cacert "$work/ca/ca.pem" \
    --cert "$copy" "https://127.0.0.1:$port/") || code=failed
  echo "$code $(serial_of "$copy")"
}
for c in staged immediate; do
  wait_for 10 "the partner accepts $c" bash -c "[ \"\$(curl -s -o /dev/null -w '%{http_code}' \
    --cacert '$work/ca/ca.pem' --cert '$work/live/$c/bundle.pem' https://127.0.0.1:$port/)\" = 200 ]"
done
for c in staged immediate; do
  (while [ ! -e "$work/stop" ]; do request "$c" >> "$work/$c.requests"; sleep 0.1; done) &
  started_pids+=("$!")
done
old_staged=$(serial_of "$work/live/staged/cert.pem")
old_immediate=$(serial_of "$work/live/immediate/cert.pem")

kill -USR1 "$daemon_pid"  # renew both now
wait_for 20 "a version staged" test -f "$work/live/staged/next/cert.pem"
new_staged=$(serial_of "$work/live/staged/next/cert.pem")
[ "$(serial_of "$work/live/staged/cert.pem")" = "$old_staged" ] || fail "staging changed the live certificate"
wait_for 30 "the staged version activated" serial_is_not "$work/live/staged/cert.pem" "$old_staged"
[ "$(serial_of "$work/live/staged/cert.pem")" = "$new_staged" ] || fail "another version went live"
wait_for 5 "next/ removed" bash -c "! test -e '$work/live/staged/next'"
assert_credential_ok "$work/live/staged"
new_immediate=$(serial_of "$work/live/immediate/cert.pem")
[ "$new_immediate" != "$old_immediate" ] || fail "immediate credential not renewed"
wait_for 20 "the partner learned the immediate credential" \
  grep -q "^200 $new_immediate" "$work/immediate.requests"
sleep 2
touch "$work/stop"
sleep 0.5

# Staged: every request succeeded, including the ones with the new certificate.
grep -v '^200 ' "$work/staged.requests" && fail "requests refused across a staged rotation"
n_new=$(grep -c "^200 $new_staged" "$work/staged.requests" || true)
[ "$n_new" -ge 5 ] || fail "only $n_new requests with the new staged certificate"
# Immediate: requests with the new certificate were refused until the partner learned it.
n_refused=$(grep -c "^403 $new_immediate" "$work/immediate.requests" || true)
[ "$n_refused" -ge 1 ] || fail "no refused request between the swap and the partner's import"
grep -q "staged credential=staged .*serial=$(as_certrotd_serial "$new_staged")" "$work/daemon.log" ||
  fail "no staged event"
grep -q "activated credential=staged .*serial=$(as_certrotd_serial "$new_staged")" \
  "$work/daemon.log" || fail "no activated event"
stop_daemon
echo "PASS (staged: $n_new requests with the new certificate, none refused; immediate: $n_refused refused)"
