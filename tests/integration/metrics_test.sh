#!/usr/bin/env bash
# Prometheus metrics from the real daemon: the HTTP endpoint scraped with curl and checked by
# promtool (Debian's prometheus package), the textfile read by a real prometheus-node-exporter,
# a rejected reload shown in the gauge, a non-loopback address refused at config load, and the
# shipped alerting rules checked and unit-tested with promtool.
source "$(dirname "$0")/lib.sh"

for tool in promtool prometheus-node-exporter curl; do
  command -v "$tool" >/dev/null || fail "$tool is missing (scripts/setup installs it)"
done
free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

make_ca
port=$(free_port)
mkdir -p "$work/textfile"
write_config "$work/config.yaml" 1h alpha beta
cat >>"$work/config.yaml" <<YAML
metrics:
  listen: "127.0.0.1:$port"
  textfile: $work/textfile/certrotd.prom
YAML
start_daemon "$work/config.yaml"
wait_for 20 "both credentials issued" sh -c "[ \$(grep -c 'renewed credential=' '$work/daemon.log') -ge 2 ]"

url="http://127.0.0.1:$port/metrics"
scrape() { curl -fsS "$url" >"$work/scrape"; }
wait_for 10 "the metrics endpoint" scrape
has() { grep -qxF "$1" "$2"; }
scrape_has() { curl -fsS "$url" | grep -qxF "$1"; }  # a new scrape at each call, for wait_for
wait_for 10 "rotations counted" scrape_has 'certrotd_rotations_total{credential="alpha"} 1'
scrape
promtool check metrics <"$work/scrape" >"$work/promtool.out" 2>&1 ||
  fail "promtool check metrics: $(cat "$work/promtool.out")"
for series in 'certrotd_build_info{version="' \
              'certrotd_certificate_not_after_timestamp_seconds{credential="alpha"} ' \
              'certrotd_certificate_not_before_timestamp_seconds{credential="beta"} ' \
              'certrotd_next_renewal_timestamp_seconds{credential="alpha"} ' \
              'certrotd_credential_state{credential="alpha",state="valid"} 1' \
              'certrotd_issuer_requests_total{issuer="ca",outcome="success"} 2' \
              'certrotd_rotation_duration_seconds_count{issuer="ca"} 2' \
              'certrotd_config_last_reload_successful 1'; do
  grep -qF "$series" "$work/scrape" || fail "no $series in the scrape: $(head -40 "$work/scrape")"
done
# The notAfter gauge is the certificate's own date.
not_after=$(date -d "$(openssl x509 -noout -enddate -in "$work/live/alpha/cert.pem" | cut -d= -f2)" +%s)
has "certrotd_certificate_not_after_timestamp_seconds{credential=\"alpha\"} $not_after" "$work/scrape" ||
  fail "notAfter gauge is not $not_after: $(grep not_after "$work/scrape")"

# /metrics only, GET and HEAD only; the exposition's content type.
curl -fsS -I "$url" >"$work/head" || fail "HEAD /metrics failed"
grep -qi '^content-type: text/plain; version=0.0.4' "$work/head" || fail "content type: $(cat "$work/head")"
[ "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$port/")" = 404 ] || fail "/ was not 404"
[ "$(curl -s -o /dev/null -w '%{http_code}' -X POST "$url")" = 405 ] || fail "POST was not 405"

# The textfile: written atomically (no temporary left behind), valid, read by node_exporter.
wait_for 10 "the textfile" has 'certrotd_rotations_total{credential="beta"} 1' "$work/textfile/certrotd.prom"
promtool check metrics <"$work/textfile/certrotd.prom" >"$work/promtool.out" 2>&1 ||
  fail "promtool check metrics on the textfile: $(cat "$work/promtool.out")"
[ "$(ls -A "$work/textfile")" = certrotd.prom ] || fail "stray files: $(ls -A "$work/textfile")"
ne_port=$(free_port)
prometheus-node-exporter --web.listen-address="127.0.0.1:$ne_port" \
  --collector.disable-defaults --collector.textfile \
  --collector.textfile.directory="$work/textfile" >"$work/node-exporter.log" 2>&1 &
started_pids+=($!)
wait_for 20 "node_exporter" sh -c "curl -fsS 'http://127.0.0.1:$ne_port/metrics' >'$work/ne'"
grep -qF 'certrotd_certificate_not_after_timestamp_seconds{credential="alpha"}' "$work/ne" ||
  fail "node_exporter does not export certrotd's series: $(grep -i textfile "$work/ne" | head)"
grep -qF 'node_textfile_scrape_error 0' "$work/ne" || fail "node_exporter could not read the textfile"

# A rejected reload: the gauge drops to 0, in both places.
cp "$work/config.yaml" "$work/good.yaml"
printf 'bogus_key: 1\n' >>"$work/config.yaml"
kill -HUP "$daemon_pid"
wait_for 10 "the rejected reload in the scrape" scrape_has 'certrotd_config_last_reload_successful 0'
wait_for 10 "the rejected reload in the textfile" has 'certrotd_config_last_reload_successful 0' "$work/textfile/certrotd.prom"
cp "$work/good.yaml" "$work/config.yaml"
kill -HUP "$daemon_pid"
wait_for 10 "the accepted reload" scrape_has 'certrotd_config_last_reload_successful 1'
stop_daemon

# A port taken by another program: the daemon does not start without the endpoint it was asked
# for (exit 69, EX_UNAVAILABLE), and says which address.
python3 -c 'import socket, sys, time
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1); s.bind(("127.0.0.1", int(sys.argv[1]))); s.listen(); open(sys.argv[2], "w").close()
time.sleep(60)' "$port" "$work/taken" &
started_pids+=($!)
wait_for 10 "the port taken" test -e "$work/taken"
rc=0
"$CERTROTD" run --config "$work/config.yaml" >"$work/out" 2>&1 || rc=$?
[ "$rc" -eq 69 ] && grep -q "cannot listen for metrics on 127.0.0.1:$port" "$work/out" ||
  fail "a taken port: exit $rc, $(cat "$work/out")"

# Other hosts could reach 0.0.0.0: refused at load (exit 78) unless allow_remote: true.
sed -i "s|listen: \"127.0.0.1:$port\"|listen: \"0.0.0.0:$port\"|" "$work/config.yaml"
rc=0
"$CERTROTD" check --config "$work/config.yaml" >"$work/out" 2>&1 || rc=$?
[ "$rc" -eq 78 ] && grep -q "config.yaml:[0-9]*:[0-9]*: metrics.listen '0.0.0.0:$port' is reachable from other hosts" "$work/out" ||
  fail "0.0.0.0 was not refused: exit $rc, $(cat "$work/out")"

# The shipped alerting rules load.
promtool check rules "$CERTROTD_SOURCE_DIR/packaging/prometheus/certrotd-alerts.yml" >"$work/rules.out" 2>&1 ||
  fail "promtool check rules: $(cat "$work/rules.out")"
# ... and fire on the series above (tests/integration/prometheus/certrotd-alerts_test.yml).
promtool test rules "$(dirname "$0")/prometheus/certrotd-alerts_test.yml" >"$work/rules.out" 2>&1 ||
  fail "promtool test rules: $(cat "$work/rules.out")"
echo "ok"
