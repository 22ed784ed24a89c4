#!/usr/bin/env bash
# type: sap-service-manager after a crash between creating a binding and installing it: certrotd
# is killed (SIGKILL) while the binding it asked for is still being created, and the state that
# named it is lost. At the next start the binding, labelled for this host and credential but
# never installed, is deleted before a new one is created; the live binding is kept.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/peers.sh"

source "$(dirname "$0")/sap_lib.sh"

sap_secret crash-secret
sap_start_oidc "$(sap_secret_client sb-sm-secret crash-secret)"
sap_start_sm '{ "id": "i-em", "name": "my-event-mesh", "clientid": "sb-em!b2", "dns": "em.test.internal" }'

# A binding-secret Service Manager binding only (no mtls), as a host starts out.
sap_config crash-host
sap_secret_token
cat >> "$work/config.yaml" <<YAML
credentials:
  eventmesh:
    issuer: btp
    sap: { service_instance_name: my-event-mesh, wrap: xsuaa }
    output: { dir: $work/live/eventmesh }
YAML
start_daemon "$work/config.yaml"
wait_for 30 "first binding" test -f "$work/live/eventmesh/cert.pem"
assert_credential_ok "$work/live/eventmesh"
live=$(sed -n 's/^created \([^ ]*\) .*/\1/p' "$work/sm.events" | head -1)
serial=$(serial_of "$work/live/eventmesh/cert.pem")

# The next binding is created but its operation does not end; certrotd dies meanwhile.
echo slow > "$work/mode"
sleep 1.2
kill -USR1 "$daemon_pid"
wait_for 20 "the second binding being created" sh -c "[ \$(grep -c '^created ' '$work/sm.events') -eq 2 ]"
orphan=$(sed -n 's/^created \([^ ]*\) .*/\1/p' "$work/sm.events" | tail -1)
wait_for 20 "the pending creation" grep -q "issue-pending credential=eventmesh" "$work/daemon.log"
kill -KILL "$daemon_pid"
wait "$daemon_pid" 2>/dev/null || true
# ... and what it kept about that binding is lost with it.
state=$(grep -rl issuer_state "$work/state" | head -1)
[ -n "$state" ] || fail "no issuer state was kept"
python3 - "$state" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
def drop(node):
    if isinstance(node, dict):
        node.pop("issuer_state", None)
        for v in node.values(): drop(v)
    elif isinstance(node, list):
        for v in node: drop(v)
drop(d)
json.dump(d, open(sys.argv[1], "w"))
PY
! grep -rq issuer_state "$work/state" || fail "the issuer state is still there"

echo good > "$work/mode"
start_daemon "$work/config.yaml"
sleep 1.2
kill -USR1 "$daemon_pid"
wait_for 30 "rotation after the restart" serial_is_not "$work/live/eventmesh/cert.pem" "$serial"
assert_credential_ok "$work/live/eventmesh"
grep -q "^deleted $orphan " "$work/sm.events" || fail "the orphan $orphan was not deleted: $(cat "$work/sm.events")"
! grep -q "^deleted $live " "$work/sm.events" || fail "the binding that was live at the restart was deleted first"
[ "$(grep -c '^created ' "$work/sm.events")" -eq 3 ] || fail "expected three bindings: $(cat "$work/sm.events")"
stop_daemon
echo "PASS"
