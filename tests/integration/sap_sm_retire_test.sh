#!/usr/bin/env bash
# type: sap-service-manager: replaced bindings are deleted on their own timer, not at the next
# rotation. With retire_after: 3s the binding a rotation replaced is deleted about 3 s after the
# swap with no further rotation; when the daemon is stopped and started again within the grace
# period, the new process deletes it when the time is up, and the live binding never. The state
# keeps which bindings were deleted.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/peers.sh"

source "$(dirname "$0")/sap_lib.sh"

sap_secret retire-secret
sap_start_oidc "$(sap_secret_client sb-sm-secret retire-secret)"
sap_start_sm '{ "id": "i-em", "name": "my-event-mesh", "clientid": "sb-em!b2", "dns": "em.test.internal" }'

sap_config retire-host
sap_secret_token
cat >> "$work/config.yaml" <<YAML
credentials:
  eventmesh:
    issuer: btp
    sap: { service_instance_name: my-event-mesh, wrap: xsuaa, retire_after: 3s }
    output: { dir: $work/live/eventmesh }
YAML
created() { grep -c '^created ' "$work/sm.events" || true; }
binding() { sed -n 's/^created \([^ ]*\) .*/\1/p' "$work/sm.events" | sed -n "${1}p"; }
rotate_once() {
  local serial
  serial=$(serial_of "$work/live/eventmesh/cert.pem")
  sleep 1.2  # a new UTC second: a new binding name
  kill -USR1 "$daemon_pid"
  wait_for 30 "a rotation" serial_is_not "$work/live/eventmesh/cert.pem" "$serial"
  assert_credential_ok "$work/live/eventmesh"
}

start_daemon "$work/config.yaml"
wait_for 30 "first binding" test -f "$work/live/eventmesh/cert.pem"
first=$(binding 1)

# 1. Deleted after retire_after, with no rotation after the one that replaced it.
rotate_once
second=$(binding 2)
! grep -q "^deleted $first " "$work/sm.events" || fail "the replaced binding was deleted at once"
wait_for 15 "the replaced binding deleted" grep -q "^deleted $first " "$work/sm.events"
[ "$(created)" -eq 2 ] || fail "a rotation ran meanwhile: $(cat "$work/sm.events")"
grep -q "upkeep credential=eventmesh .*deleted Service Manager bindings $first" "$work/daemon.log" ||
  fail "the deletion was not reported as upkeep"
state_file=$(grep -rl issuer_state "$work/state" | head -1)
python3 - "$state_file" "$first" <<'PY' || fail "the state does not record the deleted binding"
import json, sys
state = json.loads(bytes.fromhex(json.load(open(sys.argv[1]))["issuer_state"]))
assert sys.argv[2] in [d["id"] for d in state.get("retired", [])], state
PY

# 2. A restart within the grace period: the new process deletes it when the time is up.
rotate_once
third=$(binding 3)
stop_daemon
! grep -q "^deleted $second " "$work/sm.events" || fail "deleted before the restart"
mark=$(wc -l < "$work/daemon.log")
start_daemon "$work/config.yaml"
wait_for 15 "the binding replaced before the restart deleted" grep -q "^deleted $second " "$work/sm.events"
tail -n +$((mark + 1)) "$work/daemon.log" | grep -q "deleted Service Manager binding $second" ||
  fail "the deletion did not come from the restarted daemon"
sleep 4  # past another grace period: the live binding stays
! grep -q "^deleted $third " "$work/sm.events" || fail "the live binding was deleted"
[ "$(created)" -eq 3 ] || fail "a rotation ran meanwhile: $(cat "$work/sm.events")"
assert_credential_ok "$work/live/eventmesh"
stop_daemon
echo "PASS"
