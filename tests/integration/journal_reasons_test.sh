#!/usr/bin/env bash
# Failures in the journal carry their reason class: a copy that cannot be written is a
# `copy-failed` entry with CERTROT_REASON=io at priority warning, `certrotd status` through the
# daemon shows it until the copy is written, and then `copies-written` follows.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/systemd_lib.sh"

start_systemd_peers
make_ca
cred=copy$$x$RANDOM   # unique in the journal across runs

# A regular file where the copy's folder should be: no copy can be written below it.
echo "not a folder" >"$work/blocker"
write_config "$work/config.yaml" 1h "$cred"
cat >>"$work/config.yaml" <<YAML
      copies:
        - { path: $work/blocker/$cred.crt, content: fullchain }
YAML
cat >"$unit_dir/certrotd-reasons-it.service" <<UNIT
[Service]
Type=notify
ExecStart=$CERTROTD run --config $work/config.yaml --bus user --log-level debug
UNIT
systemctl --user daemon-reload
systemctl --user start certrotd-reasons-it.service || fail "the unit did not start"

journal() { journalctl --no-pager -q CERTROT_CREDENTIAL="$cred" "$@"; }
wait_for 30 "copy-failed in the journal" sh -c "journalctl -q -o cat CERTROT_CREDENTIAL=$cred CERTROT_EVENT=copy-failed | grep -q ."
journal CERTROT_EVENT=copy-failed -o verbose >"$work/failed.txt"
grep -q "^ *CERTROT_REASON=io\$" "$work/failed.txt" || fail "no CERTROT_REASON=io: $(cat "$work/failed.txt")"
grep -q "^ *PRIORITY=4\$" "$work/failed.txt" || fail "copy-failed is not a warning"
grep -q "MESSAGE_ID=6c1909146f85407f919a254ecc2d59a1" "$work/failed.txt" || fail "no MESSAGE_ID"
grep -q "is live but a copy is missing" "$work/failed.txt" || fail "the message does not say what is true"
journal CERTROT_EVENT=renewed -o cat | grep -q . || fail "the new version was not reported live"
journal CERTROT_EVENT=renewed -o verbose | grep -q "CERTROT_REASON" && fail "a success carries a reason"

# A missing copy is a failure: exit 1.
rc=0
"$CERTROTD" status --bus user --json >"$work/status.json" || rc=$?
[ "$rc" -eq 1 ] || fail "certrotd status exited $rc, expected 1 (a copy is missing)"
python3 - "$work/status.json" <<'PY' || fail "status does not show the missing copy: $(cat "$work/status.json")"
import json, sys
s = json.load(open(sys.argv[1]))[0]
assert s["failures"] >= 1 and s["reason"] == "io", s
assert "copy is missing" in s["last_error"], s
assert s["state"] == "backing-off", s
PY

rm "$work/blocker"
wait_for 30 "the copy" test -f "$work/blocker/$cred.crt"
wait_for 10 "copies-written in the journal" sh -c "journalctl -q -o cat CERTROT_CREDENTIAL=$cred CERTROT_EVENT=copies-written | grep -q ."
wait_for 10 "status clear" sh -c "'$CERTROTD' status --bus user --json | grep -q '\"failures\": 0'"
systemctl --user stop certrotd-reasons-it.service
echo "PASS"
