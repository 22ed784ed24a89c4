#!/usr/bin/env bash
# The real daemon issues missing credentials at once, renews them on schedule, rotates all on
# SIGUSR1, keeps the old config when SIGHUP brings a broken one, and stops cleanly on SIGTERM.
source "$(dirname "$0")/lib.sh"

make_ca
write_config "$work/config.yaml" 1m web api
start_daemon "$work/config.yaml"

wait_for 15 "first issuance of web" test -f "$work/live/web/cert.pem"
wait_for 15 "first issuance of api" test -f "$work/live/api/cert.pem"
for c in web api; do assert_credential_ok "$work/live/$c"; done

# Key material is never group- or world-readable by default; public files are.
[ "$(stat -Lc %a "$work/live/web/key.pem")" = 600 ] || fail "key.pem mode is not 0600"
[ "$(stat -Lc %a "$work/live/web/bundle.pem")" = 600 ] || fail "bundle.pem mode is not 0600"
[ "$(stat -Lc %a "$work/live/web/cert.pem")" = 644 ] || fail "cert.pem mode is not 0644"

# The certificate carries what was asked for (cross-checked with the openssl CLI).
text=$(openssl x509 -noout -text -in "$work/live/web/cert.pem")
grep -q "DNS:web.test.internal" <<<"$text" || fail "SAN DNS missing"
grep -q "IP Address:127.0.0.1" <<<"$text" || fail "SAN IP missing"
grep -q "TLS Web Server Authentication, TLS Web Client Authentication" <<<"$text" ||
  fail "EKU missing"

# Scheduled renewal: a 1-minute certificate is replaced at about 2/3 of its life, twice.
first=$(serial_of "$work/live/web/cert.pem")
wait_for 60 "scheduled renewal of web" serial_is_not "$work/live/web/cert.pem" "$first"
assert_credential_ok "$work/live/web"
second=$(serial_of "$work/live/web/cert.pem")
wait_for 60 "second renewal of web" serial_is_not "$work/live/web/cert.pem" "$second"
assert_credential_ok "$work/live/web"

# No renewal storm: about one renewal per 40 s, not one per wake-up.
renewed=$(grep -c "renewed credential=web" "$work/daemon.log")
[ "$renewed" -le 4 ] || fail "web was renewed $renewed times in about 90 s"

# SIGUSR1 rotates everything now.
web_before=$(serial_of "$work/live/web/cert.pem")
api_before=$(serial_of "$work/live/api/cert.pem")
kill -USR1 "$daemon_pid"
wait_for 10 "forced rotation of web" serial_is_not "$work/live/web/cert.pem" "$web_before"
wait_for 10 "forced rotation of api" serial_is_not "$work/live/api/cert.pem" "$api_before"

# History is bounded: the default keeps 3 versions.
versions=$(find "$work/live/web" -maxdepth 1 -name '..v-*' | wc -l)
[ "$versions" -le 3 ] && [ "$versions" -ge 2 ] || fail "web keeps $versions versions, expected 2-3"

# SIGHUP with a broken config: reported, old config kept, daemon still rotating.
cp "$work/config.yaml" "$work/config.good"
printf 'credentials:\n  web:\n    isuer: ca\n' > "$work/config.yaml"
kill -HUP "$daemon_pid"
wait_for 10 "rejected reload" grep -q "new configuration rejected" "$work/daemon.log"
kill -0 "$daemon_pid" || fail "daemon died on a bad reload"
web_before=$(serial_of "$work/live/web/cert.pem")
kill -USR1 "$daemon_pid"
wait_for 10 "rotation after a rejected reload" serial_is_not "$work/live/web/cert.pem" "$web_before"

# SIGHUP with a good config that adds a credential: it is issued.
write_config "$work/config.yaml" 1m web api extra
kill -HUP "$daemon_pid"
wait_for 15 "credential added by reload" test -f "$work/live/extra/cert.pem"
assert_credential_ok "$work/live/extra"

# `check` reads state without the daemon's help.
"$CERTROTD" check --config "$work/config.yaml" > "$work/check.out"
grep -Eq '^web +(valid|due|renewing) ' "$work/check.out" || fail "check does not list web: $(cat "$work/check.out")"
grep -q 'not-after 20' "$work/check.out" || fail "check shows no not-after"

stop_daemon
grep -q "stopped" "$work/daemon.log" || fail "no clean stop logged"
echo "rotation_test: ok"
