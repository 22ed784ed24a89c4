#!/usr/bin/env bash
# `certrotd history` lists the kept versions with the serials openssl reads from them; `rollback
# --to SERIAL` (any case, no leading zeros) restores the first one through the daemon, whose
# on_rotate hook runs; an expired kept version is refused without --force. A private D-Bus daemon
# stands in for the user bus.
source "$(dirname "$0")/lib.sh"

start_bus

make_ca
write_config "$work/config.yaml" 1h web
cat >>"$work/config.yaml" <<YAML
      keep: 4
    on_rotate:
      - exec: { command: ["/bin/sh", "-c", "openssl x509 -noout -serial -in $work/live/web/cert.pem >> $work/hook.log"] }
YAML
dir=$work/live/web
"$CERTROTD" run --config "$work/config.yaml" --bus user --log-level debug >>"$work/daemon.log" 2>&1 &
daemon_pid=$!
started_pids+=("$daemon_pid")
wait_for 15 "first issuance" grep -q "renewed credential=web" "$work/daemon.log"
wait_for 10 "the control interface" "$CERTROTD" status --bus user web
first=$(serial_of "$dir/cert.pem")
for round in 1 2; do
  "$CERTROTD" rotate --wait --bus user web > "$work/rotate.out" ||
    fail "rotation $round: $(cat "$work/rotate.out")"
done
third=$(serial_of "$dir/cert.pem")
[ "$third" != "$first" ] || fail "the rotations did not change the certificate"

"$CERTROTD" history --config "$work/config.yaml" web > "$work/history.out" ||
  fail "history failed: $(cat "$work/history.out")"
head -n 1 "$work/history.out" | grep -Eq '^VERSION +SERIAL +NOT BEFORE +NOT AFTER +LIVE FROM +LIVE UNTIL +ENDED +ISSUER$' ||
  fail "history header: $(cat "$work/history.out")"
[ "$(tail -n +2 "$work/history.out" | wc -l)" -eq 3 ] || fail "not three versions: $(cat "$work/history.out")"
# Newest first, each row's serial as openssl prints it for that version's cert.pem.
mapfile -t folders < <(find "$dir" -maxdepth 1 -name '..v-*' -printf '%f\n' | sort -r)
[ "${#folders[@]}" -eq 3 ] || fail "not three version folders: ${folders[*]}"
row=2
for folder in "${folders[@]}"; do
  line=$(sed -n "${row}p" "$work/history.out")
  read -r version serial _ <<<"$line"
  [ "$version" = "${folder#..v-}" ] || fail "row $row names $version, not ${folder#..v-}"
  [ "$serial" = "$(serial_of "$dir/$folder/cert.pem")" ] || fail "row $row: serial $serial"
  row=$((row + 1))
done
sed -n 2p "$work/history.out" | grep -q " live " || fail "the newest is not live: $(cat "$work/history.out")"
sed -n 3p "$work/history.out" | grep -q " rotated " || fail "the middle one did not end rotated"
sed -n 4p "$work/history.out" | grep -q "$first" || fail "the oldest is not the first issued"
"$CERTROTD" history --config "$work/config.yaml" --json web > "$work/history.json"
[ "$(jq -r '.[0].serial' "$work/history.json")" = "$third" ] || fail "json: $(cat "$work/history.json")"

# Back to the first, named by its serial in lower case without leading zeros.
hooks_before=$(wc -l < "$work/hook.log")
target=$(as_certrotd_serial "$first")
"$CERTROTD" rollback --bus user --to "$target" web > "$work/rollback.out" 2>&1 ||
  fail "rollback --to $target: $(cat "$work/rollback.out")"
[ "$(serial_of "$dir/cert.pem")" = "$first" ] || fail "the first version is not live"
assert_credential_ok "$dir"
wait_for 10 "the dependent hook" test "$(wc -l < "$work/hook.log")" -gt "$hooks_before"
tail -n 1 "$work/hook.log" | grep -q "=$first\$" || fail "the hook saw $(tail -n 1 "$work/hook.log")"
"$CERTROTD" history --config "$work/config.yaml" web > "$work/history.out"
grep -E "^[^ ]+ +$third .* rolled back " "$work/history.out" >/dev/null ||
  fail "the version rolled away from does not say so: $(cat "$work/history.out")"

# A kept version that expired since: signed by hand for dates in the past (openssl ca), placed as
# the oldest version folder.
mkdir -p "$work/hand/new"
: > "$work/hand/index.txt"
echo 1000 > "$work/hand/serial"
cat > "$work/hand/ca.cnf" <<CNF
[ca]
default_ca = hand
[hand]
database = $work/hand/index.txt
new_certs_dir = $work/hand/new
serial = $work/hand/serial
default_md = sha256
policy = any
unique_subject = no
[any]
commonName = supplied
CNF
openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$work/hand/key.pem" \
  -subj "/CN=web.test.internal" -out "$work/hand/req.csr" 2>/dev/null
openssl ca -batch -notext -config "$work/hand/ca.cnf" -cert "$work/ca/intermediate.pem" \
  -keyfile "$work/ca/intermediate.key" -in "$work/hand/req.csr" -out "$work/hand/cert.pem" \
  -startdate 20200101000000Z -enddate 20200201000000Z 2>/dev/null
old=$dir/..v-0000000000-expired
mkdir "$old"
cp "$work/hand/cert.pem" "$old/cert.pem"
cp "$work/hand/key.pem" "$old/key.pem"
cp "$dir/chain.pem" "$dir/ca.pem" "$old/"
cat "$old/cert.pem" "$old/chain.pem" > "$old/fullchain.pem"
cat "$old/key.pem" "$old/fullchain.pem" > "$old/bundle.pem"
expired=$(serial_of "$old/cert.pem")
"$CERTROTD" history --config "$work/config.yaml" web | tail -n 1 | grep -Eq "^0000000000-expired +$expired " ||
  fail "the expired version is not listed last"
rc=0
"$CERTROTD" rollback --bus user --to "$expired" web > "$work/rollback.out" 2>&1 || rc=$?
[ "$rc" -eq 69 ] || fail "rollback to an expired version: exit $rc: $(cat "$work/rollback.out")"
grep -q "expired at 2020-02-01T00:00:00Z; --force restores it anyway" "$work/rollback.out" ||
  fail "message: $(cat "$work/rollback.out")"
[ "$(serial_of "$dir/cert.pem")" = "$first" ] || fail "a refused rollback changed the live version"
# By its folder name, with --force: restored.
"$CERTROTD" rollback --bus user --to 0000000000-expired --force web > "$work/rollback.out" 2>&1 ||
  fail "rollback --force: $(cat "$work/rollback.out")"
# (The daemon renews an expired live certificate at once, so the answer says what was restored.)
grep -q "^web: rolled back to version 0000000000-expired$" "$work/rollback.out" ||
  fail "--force did not restore the expired version: $(cat "$work/rollback.out")"
echo "history_test: ok"
