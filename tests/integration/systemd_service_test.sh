#!/usr/bin/env bash
# certrotd as a real Type=notify user unit under a real `systemd --user` manager, with a real
# journald and nginx (a user unit) serving HTTPS from the credential's files. The daemon rotates,
# reloads nginx over D-Bus, and `openssl s_client` sees the new serial; the journal holds the
# structured events and no key material; `systemctl --user kill -s USR1` and `certrotd rotate`
# force rotations; `systemctl --user reload` reloads the configuration.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/systemd_lib.sh"

start_systemd_peers
make_ca
port=$(free_port)
cred=web$$x$RANDOM   # unique in the journal across runs

write_config "$work/config.yaml" 1h "$cred"
cat >>"$work/config.yaml" <<YAML
    on_rotate:
      - systemd: { unit: nginx-it.service, action: reload-or-restart, bus: user, timeout: 20s }
      - exec: { command: ["/bin/sh", "-c", "env | grep ^CERTROT_ > $work/hook.tmp && mv $work/hook.tmp $work/hook.env"], timeout: 10s }
YAML
"$CERTROTD" check --config "$work/config.yaml" >/dev/null || fail "config does not load"

mkdir -p "$work/nginx/tmp"
{
  nginx_preamble
  cat <<NGINX
  server {
    listen 127.0.0.1:$port ssl;
    ssl_certificate $work/live/$cred/fullchain.pem;
    ssl_certificate_key $work/live/$cred/key.pem;
    ssl_client_certificate $work/live/$cred/ca.pem;
    ssl_verify_client optional;
    ssl_verify_depth 3;
    location / { return 200 "ok\n"; }
  }
}
NGINX
} >"$work/nginx/nginx.conf"
cat >"$unit_dir/nginx-it.service" <<UNIT
[Service]
ExecStart=/usr/sbin/nginx -e $work/nginx/error.log -c $work/nginx/nginx.conf
ExecReload=/bin/kill -HUP \$MAINPID
UNIT
cat >"$unit_dir/certrotd-it.service" <<UNIT
[Service]
Type=notify
ExecStart=$CERTROTD run --config $work/config.yaml --bus user --log-level debug
ExecReload=$CERTROTD reload --bus user
WatchdogSec=30s
UNIT
systemctl --user daemon-reload

systemctl --user start certrotd-it.service || fail "certrotd-it did not start: $(systemctl --user status certrotd-it.service --no-pager 2>&1 | tail -20)"
[ "$(unit_prop certrotd-it.service ActiveState)/$(unit_prop certrotd-it.service SubState)" = active/running ] ||
  fail "certrotd-it is not active (running)"
daemon_pid=$(unit_prop certrotd-it.service MainPID)
wait_for 20 "STATUS= text" sh -c "systemctl --user show -p StatusText --value certrotd-it.service | grep -q '1 credentials, next renewal $cred in'"

# The first issuance starts nginx through reload-or-restart.
wait_for 30 "the first credential" test -f "$work/live/$cred/cert.pem"
wait_for 30 "nginx running" sh -c "systemctl --user is-active nginx-it.service"
served_serial() {
  openssl s_client -connect "127.0.0.1:$port" -servername "$cred.test.internal" </dev/null 2>/dev/null |
    openssl x509 -noout -serial 2>/dev/null | cut -d= -f2
}
serial1=$(serial_of "$work/live/$cred/cert.pem")
wait_for 20 "nginx serving serial $serial1" sh -c "[ \"\$(openssl s_client -connect 127.0.0.1:$port </dev/null 2>/dev/null | openssl x509 -noout -serial | cut -d= -f2)\" = $serial1 ]"
nginx_pid=$(unit_prop nginx-it.service MainPID)

# SIGUSR1 through the manager: rotate, reload nginx (same main process), new serial served.
systemctl --user kill -s USR1 certrotd-it.service
wait_for 30 "a rotation after USR1" sh -c "[ \"\$(openssl x509 -noout -serial -in $work/live/$cred/cert.pem | cut -d= -f2)\" != $serial1 ]"
serial2=$(serial_of "$work/live/$cred/cert.pem")
wait_for 20 "nginx serving serial $serial2" sh -c "[ \"\$(openssl s_client -connect 127.0.0.1:$port </dev/null 2>/dev/null | openssl x509 -noout -serial | cut -d= -f2)\" = $serial2 ]"
[ "$(unit_prop nginx-it.service MainPID)" = "$nginx_pid" ] || fail "nginx was restarted, not reloaded"
wait_for 20 "the hook's environment" grep -q "^CERTROT_NEW_SERIAL=$(as_certrotd_serial "$serial2")\$" "$work/hook.env"
grep -q "^CERTROT_OLD_SERIAL=$(as_certrotd_serial "$serial1")\$" "$work/hook.env" || fail "hook did not get the old serial"
grep -q "^CERTROT_KEY=$work/live/$cred/key.pem" "$work/hook.env" || fail "hook did not get the key path"

# The control interface: status and rotate through the daemon.
"$CERTROTD" status --bus user --json >"$work/status.json" || fail "certrotd status failed"
python3 - "$work/status.json" "$serial2" <<'PY' || fail "status --json is wrong: $(cat "$work/status.json")"
import json, sys
s = json.load(open(sys.argv[1]))[0]
assert s["serial"].lower().lstrip("0") == sys.argv[2].lower().lstrip("0"), s
assert s["state"] == "valid", s
assert [d["ok"] for d in s["dependents"]] == [True, True], s
PY
"$CERTROTD" rotate --bus user "$cred" >/dev/null || fail "certrotd rotate failed"
wait_for 30 "a rotation after certrotd rotate" sh -c "[ \"\$(openssl x509 -noout -serial -in $work/live/$cred/cert.pem | cut -d= -f2)\" != $serial2 ]"
serial3=$(serial_of "$work/live/$cred/cert.pem")
wait_for 20 "nginx serving serial $serial3" sh -c "[ \"\$(openssl s_client -connect 127.0.0.1:$port </dev/null 2>/dev/null | openssl x509 -noout -serial | cut -d= -f2)\" = $serial3 ]"
# test-connection: nginx verifies our client certificate, we verify its chain and IP SAN.
"$CERTROTD" test-connection --config "$work/config.yaml" "$cred" "https://127.0.0.1:$port/" >"$work/tc" ||
  fail "test-connection failed: $(cat "$work/tc")"
grep -q "^server verification: ok" "$work/tc" && grep -q "^client certificate:  accepted" "$work/tc" &&
  grep -q "CN=$cred.test.internal" "$work/tc" || fail "test-connection output: $(cat "$work/tc")"
"$CERTROTD" rotate --bus user nope 2>/dev/null && fail "rotate of an unknown credential succeeded"
"$CERTROTD" where-used --config "$work/config.yaml" "$cred" >"$work/where" || fail "where-used failed"
grep -q "unit    nginx-it.service" "$work/where" && grep -q "^hook    exec /bin/sh" "$work/where" &&
  grep -q "^output  $work/live/$cred" "$work/where" || fail "where-used is incomplete: $(cat "$work/where")"

# Rollback through the daemon: the previous version is live again and the daemon knows it.
"$CERTROTD" rollback --bus user "$cred" | grep -q "rolled back to version" || fail "rollback failed"
[ "$(serial_of "$work/live/$cred/cert.pem")" = "$serial2" ] || fail "rollback did not restore $serial2"
wait_for 10 "status after rollback" sh -c "'$CERTROTD' status --bus user --json | grep -q '\"serial\": \"$(as_certrotd_serial "$serial2")\"'"
# ...and its dependents are told, as after a swap: nginx serves the restored certificate.
wait_for 20 "nginx serving the restored serial $serial2" sh -c "[ \"\$(openssl s_client -connect 127.0.0.1:$port </dev/null 2>/dev/null | openssl x509 -noout -serial | cut -d= -f2)\" = $serial2 ]"
wait_for 20 "the hook told of the rollback" grep -q "^CERTROT_OLD_SERIAL=$(as_certrotd_serial "$serial3")\$" "$work/hook.env"
grep -q "^CERTROT_NEW_SERIAL=$(as_certrotd_serial "$serial2")\$" "$work/hook.env" || fail "hook did not get the restored serial"
"$CERTROTD" rollback --bus user nope 2>/dev/null && fail "rollback of an unknown credential succeeded"

# systemctl reload: `certrotd reload` over D-Bus, the unit stays active.
systemctl --user reload certrotd-it.service || fail "systemctl reload failed"
wait_for 10 "reloaded" sh -c "journalctl -q -o cat _PID=$daemon_pid | grep -q 'configuration reloaded'"
[ "$(unit_prop certrotd-it.service ActiveState)" = active ] || fail "certrotd-it not active after reload"

# A broken file: `systemctl reload` fails with the error, the old configuration stays, the journal
# has a reload-rejected event and STATUS= says so until a good reload.
cp "$work/config.yaml" "$work/config.good"
printf 'credentials:\n  %s:\n    isuer: ca\n' "$cred" >"$work/config.yaml"
cursor=$(journal_cursor)
systemctl --user reload certrotd-it.service 2>"$work/reload.err" && fail "reload of a broken file succeeded"
[ "$(unit_prop certrotd-it.service ActiveState)" = active ] || fail "certrotd-it not active after a rejected reload"
[ "$(unit_prop certrotd-it.service MainPID)" = "$daemon_pid" ] || fail "certrotd-it restarted on a rejected reload"
wait_for 10 "the reload command's error in the journal" sh -c \
  "journalctl -q -o cat --after-cursor '$cursor' | grep -q 'certrotd reload: $work/config.yaml:[0-9]*:[0-9]*: '"
wait_for 10 "a reload-rejected event" sh -c \
  "journalctl -q -o cat _PID=$daemon_pid CERTROT_EVENT=reload-rejected | grep -q '$work/config.yaml'"
journalctl --no-pager -q _PID="$daemon_pid" CERTROT_EVENT=reload-rejected -o verbose >"$work/rejected.txt"
grep -q "MESSAGE_ID=3d6b013362594cf5a423a7d21e768039" "$work/rejected.txt" || fail "no reload-rejected event with its MESSAGE_ID: $(cat "$work/rejected.txt")"
grep -q "PRIORITY=3" "$work/rejected.txt" || fail "reload-rejected is not priority error"
grep -q "MESSAGE=reload-rejected: .*$work/config.yaml:[0-9]*:[0-9]*: " "$work/rejected.txt" || fail "reload-rejected does not say file:line"
unit_prop certrotd-it.service StatusText | grep -q "^config reload rejected at 20[0-9T:-]*Z: $work/config.yaml:[0-9]*:[0-9]*: .*; 1 credentials" ||
  fail "STATUS= does not show the rejected reload: $(unit_prop certrotd-it.service StatusText)"
"$CERTROTD" status --bus user "$cred" >/dev/null || fail "the daemon lost its credential on a rejected reload"
cp "$work/config.good" "$work/config.yaml"
systemctl --user reload certrotd-it.service || fail "reload of the good file again failed"
unit_prop certrotd-it.service StatusText | grep -q "^1 credentials" ||
  fail "STATUS= still shows the rejected reload: $(unit_prop certrotd-it.service StatusText)"

# The journal: structured fields on every event, and no key material anywhere.
journal() { journalctl --no-pager -q "$@"; }
journal CERTROT_CREDENTIAL="$cred" CERTROT_EVENT=rolled-back -o cat | grep -q . || fail "no rolled-back event"
wait_for 20 "3 renewed events in the journal" sh -c "[ \$(journalctl -q -o cat CERTROT_CREDENTIAL=$cred CERTROT_EVENT=renewed | wc -l) -ge 3 ]"
journal CERTROT_CREDENTIAL="$cred" CERTROT_EVENT=swapped -o verbose >"$work/swapped.txt"
grep -q "^ *CERTROT_SERIAL=$(as_certrotd_serial "$serial2")\$" "$work/swapped.txt" || fail "no swapped event with CERTROT_SERIAL=$serial2"
grep -q "CERTROT_NOT_AFTER=20" "$work/swapped.txt" || fail "no CERTROT_NOT_AFTER"
grep -q "CERTROT_ISSUER=ca" "$work/swapped.txt" || fail "no CERTROT_ISSUER"
grep -q "MESSAGE_ID=3a98a9854bce4c1f9d15760d848717c8" "$work/swapped.txt" || fail "no MESSAGE_ID"
journal CERTROT_CREDENTIAL="$cred" CERTROT_EVENT=dependent-reloaded -o cat | grep -q "nginx-it.service" ||
  fail "no dependent-reloaded event for nginx"
{ journal _PID="$daemon_pid" -o export; journal CERTROT_CREDENTIAL="$cred" -o export; } >"$work/journal.export"
[ -s "$work/journal.export" ] || fail "nothing from the daemon in the journal"
! grep -q "PRIVATE KEY" "$work/journal.export" || fail "the journal holds PEM key material"
for key in "$work"/live/"$cred"/..v-*/key.pem "$work/ca/ca.key" "$work/ca/intermediate.key"; do
  [ -f "$key" ] || continue
  grep -v -- '-----' "$key" | while read -r line; do
    ! grep -qF -- "$line" "$work/journal.export" || fail "the journal holds a line of $key"
  done
done

systemctl --user stop certrotd-it.service nginx-it.service
echo "PASS"
