#!/usr/bin/env bash
# SIGKILL the daemon while it rotates credentials that have copies, then start it again: no
# temporary file of a copy or of a state file survives the restart (one can hold a whole private
# key), and files certrotd did not make, even similar-looking ones, stay where they are.
source "$(dirname "$0")/lib.sh"

make_ca
write_config "$work/base.yaml" 10m a b
# Two copies per credential, outside the output folders.
awk -v copies="$work/copies" '
  { print }
  /^      dir: / {
    n = split($2, parts, "/"); name = parts[n]
    print "      copies:"
    print "        - { path: " copies "/" name "/web.key, content: key }"
    print "        - { path: " copies "/" name "/web.crt, content: fullchain }"
  }' "$work/base.yaml" > "$work/config.yaml"

rounds=${CRASH_ROUNDS:-10}
for round in $(seq 1 "$rounds"); do
  start_daemon "$work/config.yaml"
  wait_for 15 "daemon up (round $round)" grep -q "running with" "$work/daemon.log"
  for _ in 1 2 3; do kill -USR1 "$daemon_pid" 2>/dev/null || true; sleep 0.0$((RANDOM % 10)); done
  sleep "0.$((RANDOM % 400))"
  kill -KILL "$daemon_pid"
  wait "$daemon_pid" 2>/dev/null || true
  : > "$work/daemon.log"
done

# What a kill between creating and renaming a temporary file leaves, made certain here, next to
# files certrotd must not touch.
mkdir -p "$work/copies/a" "$work/state/state"
cp "$work/ca/intermediate.key" "$work/copies/a/.certrotd-tmp.web.key.Ab12Cd"
echo '{"half": ' > "$work/state/state/.certrotd-tmp.a.json.Zz9Yy8"
keep=(
  "$work/copies/a/notes.txt"                       # someone else's file
  "$work/copies/a/.web.key.tmp-Ab12Cd"             # another tool's temp file
  "$work/copies/a/.certrotd-tmp.other.key.Ab12Cd"  # not a copy of this credential
  "$work/state/state/notes.txt"
)
for f in "${keep[@]}"; do echo "not certrotd's" > "$f"; done

start_daemon "$work/config.yaml"
wait_for 15 "daemon up after the kills" grep -q "running with" "$work/daemon.log"
for c in a b; do
  wait_for 15 "credential $c present" test -f "$work/live/$c/cert.pem"
  wait_for 15 "copies of $c present" test -f "$work/copies/$c/web.key" -a -f "$work/copies/$c/web.crt"
  assert_credential_ok "$work/live/$c"
done
sleep 1
left=$(find "$work/copies" "$work/state" -name '.certrotd-tmp.*' ! -name '.certrotd-tmp.other.key.*')
[ -z "$left" ] || fail "temporary files left after the restart: $left"
for f in "${keep[@]}"; do
  [ "$(cat "$f")" = "not certrotd's" ] || fail "$f was changed or removed"
done
stop_daemon
echo "leftovers_test: ok ($rounds kills)"
