#!/usr/bin/env bash
# An unprivileged local user, made for this test, attacks the paths root's certrotd writes keys
# through:
#   1. a symlink or a folder of theirs at each component of an output, copy or state path, and an
#      exec program they own or can write: refused at load (`check` and `run`, exit 78) with
#      file:line:col, the component and its owner;
#   2. folders handed to them after start-up, swapped for symlinks to a root-only folder while
#      rotations are forced: certrotd refuses the write instead of following;
#   3. `owner:` set to them, with an inotify-driven swap of the folders certrotd writes into.
# Each time a root-only canary folder stays exactly as it was and the credential on disk stays
# whole (key matches certificate, chain verifies).
source "$(dirname "$0")/lib.sh"

[ "$(id -u)" -eq 0 ] || fail "hostile_paths_test needs root: it creates a user and runs certrotd as root"
command -v inotifywait >/dev/null || fail "inotifywait missing (scripts/setup installs inotify-tools)"

attacker="crt-it-$$-$RANDOM"
useradd --system --no-create-home --user-group --shell /usr/sbin/nologin "$attacker"
remove_attacker() {
  cleanup
  userdel "$attacker" 2>/dev/null || true
  groupdel "$attacker" 2>/dev/null || true
}
trap remove_attacker EXIT
as_attacker() { setpriv --reuid="$attacker" --regid="$attacker" --clear-groups -- "$@"; }
chmod 0755 "$work"  # let the attacker reach the folders the tests give them

# The canary: root-only files an attacker would love certrotd to overwrite.
vault=$work/vault
mkdir -m 0700 "$vault" "$vault/state"
for f in cert.pem key.pem bundle.pem web.key state/web.json; do
  echo "root's own $f" > "$vault/$f"
done
snapshot() {
  (cd "$vault" && find . -printf '%p %y %m %U %G %s %l\n' | sort &&
    find . -type f -exec sha256sum {} + | sort)
}
snapshot > "$work/vault.before"
assert_vault_unchanged() {
  snapshot > "$work/vault.after"
  diff -u "$work/vault.before" "$work/vault.after" >&2 || fail "the root-only folder changed ($1)"
}

make_ca

# write_hostile_config FILE STATE_DIR OUT_DIR COPY_PATH [HOOK] [OWNER]
write_hostile_config() {
  local file=$1 state=$2 out=$3 copy=$4 hook=${5:-} owner=${6:-}
  {
    cat <<YAML
state_dir: $state
defaults:
  backoff: { base: 1s, cap: 2s }
issuers:
  ca:
    type: local
    ca_cert: $work/ca/intermediate.pem
    ca_key: $work/ca/intermediate.key
    roots: $work/ca/ca.pem
    lifetime: 10m
    backdate: 5s
credentials:
  web:
    issuer: ca
    subject: { common_name: web.test.internal }
    sans: ["DNS:web.test.internal"]
YAML
    if [ -n "$hook" ]; then
      printf '    on_rotate:\n      - exec: { command: [%s] }\n' "$hook"
    fi
    printf '    output:\n      dir: %s\n' "$out"
    [ -z "$owner" ] || printf '      owner: %s\n' "$owner"
    printf '      copies:\n        - { path: %s, content: key }\n' "$copy"
  } > "$file"
}

# expect_refused CONFIG KEY_PATTERN WHAT COMPONENT OWNER_PATTERN: check exits 78 and names the
# key's position, the setting, the component and who owns or may write it.
expect_refused() {
  local config=$1 key=$2 what=$3 component=$4 owner=$5 rc=0
  "$CERTROTD" check --config "$config" > "$work/out" 2>&1 || rc=$?
  [ "$rc" -eq 78 ] || fail "check exited $rc, expected 78 ($what via $component): $(cat "$work/out")"
  local line
  line=$(grep -n -E "$key" "$config" | head -n 1 | cut -d: -f1)
  grep -Eq "$(basename "$config"):$line:[0-9]+: $what .* cannot be trusted: .*$component $owner" \
    "$work/out" || fail "expected $what at line $line naming $component $owner in: $(cat "$work/out")"
}

# ---- 1. Static attacks, refused at load -----------------------------------------------------
mkdir -p "$work/good/copies"
good_state=$work/good/state good_out=$work/good/out good_copy=$work/good/copies/web.key
case_no=0
for kind in output copy state; do
  for pos in 1 2 3; do
    for variant in their-folder their-link; do
      case_no=$((case_no + 1))
      base=$work/static-$case_no
      mkdir -p "$base/a/b/c"
      component=$base/$(echo a/b/c | cut -d/ -f1-$pos)
      parent=$(dirname "$component")
      rm -rf "$component"
      if [ "$variant" = their-folder ]; then
        # The attacker owns the folder holding the component and puts a link there.
        chown "$attacker" "$parent"
        as_attacker ln -s "$vault" "$component"
        reported=$parent owner="is owned by user $attacker"
      else
        # A link of theirs in a root folder (as left by a package or an old sticky folder).
        ln -s "$vault" "$component"
        chown -h "$attacker" "$component"
        reported=$component owner="is owned by user $attacker"
      fi
      state=$good_state out=$good_out copy=$good_copy
      case $kind in
        output) out=$base/a/b/c; key='^      dir:'; what='output dir' ;;
        copy) copy=$base/a/b/c/web.key; key='path:'; what='copy folder' ;;
        state) state=$base/a/b/c; key='^state_dir:'; what='state_dir' ;;
      esac
      write_hostile_config "$work/static.yaml" "$state" "$out" "$copy"
      expect_refused "$work/static.yaml" "$key" "$what" "$reported" "$owner"
    done
  done
done
# A folder anyone may write (not sticky), and a group's that is not root's.
mkdir -p "$work/open/out" "$work/grouped/out"
chmod 0777 "$work/open"
write_hostile_config "$work/static.yaml" "$good_state" "$work/open/out" "$good_copy"
expect_refused "$work/static.yaml" '^      dir:' 'output dir' "$work/open" "is writable by everyone"
chgrp "$attacker" "$work/grouped"
chmod 0775 "$work/grouped"
write_hostile_config "$work/static.yaml" "$good_state" "$good_out" "$work/grouped/out/web.key"
expect_refused "$work/static.yaml" 'path:' 'copy folder' "$work/grouped" "is writable by group $attacker"

# `run` refuses the same way, before writing anything.
rc=0
"$CERTROTD" run --config "$work/static.yaml" > "$work/out" 2>&1 || rc=$?
[ "$rc" -eq 78 ] || fail "run exited $rc on an untrusted path: $(cat "$work/out")"
[ ! -e "$good_out" ] || fail "run created the output folder despite refusing the config"

# Exec programs: owned by the attacker, writable by everyone, or in the attacker's folder.
mkdir -p "$work/hooks" "$work/their-hooks"
make_hook() { printf '#!/bin/sh\ntouch "%s"\n' "$work/hook-ran" > "$1"; chmod 0755 "$1"; }
make_hook "$work/hooks/theirs"
chown "$attacker" "$work/hooks/theirs"
make_hook "$work/hooks/writable"
chmod 0757 "$work/hooks/writable"
make_hook "$work/their-hooks/hook"
chown "$attacker" "$work/their-hooks"
for hook in "$work/hooks/theirs:file $work/hooks/theirs:is owned by user $attacker" \
            "$work/hooks/writable:file $work/hooks/writable:is writable by everyone" \
            "$work/their-hooks/hook:folder $work/their-hooks:is owned by user $attacker"; do
  IFS=: read -r program reported owner <<< "$hook"
  write_hostile_config "$work/static.yaml" "$good_state" "$good_out" "$good_copy" "$program"
  expect_refused "$work/static.yaml" 'exec:' 'exec program' "$reported" "$owner"
done
assert_vault_unchanged "static attacks"

# ---- 2. Folders handed to the attacker after start-up, swapped during forced rotations --------
race=$work/race
mkdir -p "$race/copies" "$work/hooks"
make_hook "$work/hooks/good"
write_hostile_config "$work/race.yaml" "$race/state" "$race/out" "$race/copies/web.key" \
  "$work/hooks/good"
"$CERTROTD" check --config "$work/race.yaml" > "$work/out" 2>&1 ||
  fail "trusted paths refused: $(cat "$work/out")"
start_daemon "$work/race.yaml"
wait_for 20 "first install" test -f "$race/out/cert.pem"
wait_for 20 "copy and hook" test -f "$race/copies/web.key" -a -f "$work/hook-ran"
assert_credential_ok "$race/out"

# The hook becomes the attacker's: it is judged again before it runs, and refused.
rm -f "$work/hook-ran"
chown "$attacker" "$work/hooks/good"
kill -USR1 "$daemon_pid"
wait_for 20 "hook refused at exec time" grep -q "refusing to run $work/hooks/good" "$work/daemon.log"
[ ! -e "$work/hook-ran" ] || fail "a hook owned by another user ran as root"
chown root "$work/hooks/good"

# Now the attacker owns the folder above every configured path and swaps each for a link to the
# vault, over and over, while rotations are forced.
chown "$attacker" "$race"
cat > "$work/swapper.sh" <<'SH'
#!/bin/sh
# swapper.sh RACE VAULT SECONDS: replaces out, copies and state with links to VAULT and back.
race=$1 vault=$2 end=$(( $(date +%s) + $3 ))
while [ "$(date +%s)" -lt "$end" ]; do
  for d in out copies state; do
    mv "$race/$d" "$race/$d.real" 2>/dev/null && ln -s "$vault" "$race/$d" 2>/dev/null
  done
  sleep 0.05
  for d in out copies state; do
    [ -L "$race/$d" ] && rm -f "$race/$d" && mv "$race/$d.real" "$race/$d"
  done
done
SH
chmod 0755 "$work/swapper.sh"
as_attacker "$work/swapper.sh" "$race" "$vault" 8 &
swapper=$!
started_pids+=("$swapper")
for _ in $(seq 1 12); do
  kill -USR1 "$daemon_pid"
  sleep 0.5
done
wait "$swapper" || true
for d in out copies state; do
  if [ -L "$race/$d" ]; then rm -f "$race/$d"; mv "$race/$d.real" "$race/$d"; fi
done
assert_vault_unchanged "swaps after start-up"
kill -0 "$daemon_pid" || fail "the daemon died during the swaps"
assert_credential_ok "$race/out"
openssl pkey -in "$race/copies/web.key" -noout || fail "the copy is not a whole key"
grep -q "is owned by user $attacker" "$work/daemon.log" ||
  fail "no refusal naming the attacker in the log"

# Given back to root, the next forced rotation goes through again.
chown root "$race"
before=$(serial_of "$race/out/cert.pem")
kill -USR1 "$daemon_pid"
wait_for 20 "rotation after the folder is root's again" serial_is_not "$race/out/cert.pem" "$before"
assert_credential_ok "$race/out"
stop_daemon

# ---- 3. owner: the attacker, who then races the writes inside the output folder --------------
own=$work/own
mkdir -p "$own/copies"
: > "$work/daemon.log"
write_hostile_config "$work/own.yaml" "$own/state" "$own/out" "$own/copies/web.key" "" "$attacker"
start_daemon "$work/own.yaml"
wait_for 20 "first install with owner" test -f "$own/out/cert.pem"
assert_credential_ok "$own/out"
# The consumer gets the files, never the folders certrotd writes into.
[ "$(stat -c %U "$own/out/..data/key.pem")" = "$attacker" ] || fail "key.pem is not the owner's"
[ "$(stat -c %U "$own/out/..data/cert.pem")" = "$attacker" ] || fail "cert.pem is not the owner's"
theirs=$(find "$own/out" -type d -user "$attacker")
[ -z "$theirs" ] || fail "folders handed to the owner: $theirs"

# Whenever a temporary version folder appears, try to swap it (and the folder) for the vault.
cat > "$work/inotify-swapper.sh" <<'SH'
#!/bin/sh
# inotify-swapper.sh OUT VAULT SECONDS
out=$1 vault=$2
timeout "$3" inotifywait -m -q -e create -e moved_to --format %f "$out" | while read -r name; do
  case $name in
    ..tmp-*|..v-*|..data*)
      mv "$out/$name" "$out/$name.moved" 2>/dev/null
      ln -s "$vault" "$out/$name" 2>/dev/null
      ln -s "$vault/key.pem" "$out/$name/key.pem" 2>/dev/null
      ;;
  esac
done
exit 0
SH
chmod 0755 "$work/inotify-swapper.sh"
as_attacker "$work/inotify-swapper.sh" "$own/out" "$vault" 8 &
swapper=$!
started_pids+=("$swapper")
sleep 0.5  # inotifywait is watching
before=$(serial_of "$own/out/cert.pem")
for _ in $(seq 1 12); do
  kill -USR1 "$daemon_pid"
  sleep 0.5
done
wait "$swapper" || true
assert_vault_unchanged "owner race"
kill -0 "$daemon_pid" || fail "the daemon died during the owner race"
assert_credential_ok "$own/out"
serial_is_not "$own/out/cert.pem" "$before" || fail "no rotation went through during the race"
linked=$(find "$own/out" -user "$attacker" \( -type l -o -type d \))
[ -z "$linked" ] || fail "the owner made entries in the output folder: $linked"
[ "$(stat -c %U "$own/out/..data/key.pem")" = "$attacker" ] || fail "key.pem is not the owner's"
stop_daemon
echo "hostile_paths_test: ok"
