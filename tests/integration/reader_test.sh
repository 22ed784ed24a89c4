#!/usr/bin/env bash
# While rotations run back to back, a reader never sees a key that does not match its
# certificate: neither in bundle.pem nor in a version read through `..data`.
source "$(dirname "$0")/lib.sh"

make_ca
write_config "$work/config.yaml" 10m web
start_daemon "$work/config.yaml"
wait_for 15 "first issuance" test -f "$work/live/web/bundle.pem"
first=$(serial_of "$work/live/web/cert.pem")

dir=$work/live/web
# Both loops run for 12 s, and on a busy machine on until the reader has made 20 complete checks
# (at most 60 s): the count, not the machine's speed, decides what is enough.
touch "$work/rotating"
(
  end=$((SECONDS + 60))
  while [ -e "$work/rotating" ] && [ $SECONDS -lt $end ]; do
    kill -USR1 "$daemon_pid" 2>/dev/null || exit 0
    sleep 0.2
  done
) &
rotator=$!
started_pids+=("$rotator")

checks=0
mismatches=0
pruned=0
start=$SECONDS
while [ $SECONDS -lt $((start + 12)) ] ||
      { [ $((checks - pruned)) -lt 20 ] && [ $SECONDS -lt $((start + 60)) ]; }; do
  # bundle.pem holds key and chain in one file: one open, one consistent pair.
  cp "$dir/bundle.pem" "$work/b.pem"
  if [ "$(openssl pkey -in "$work/b.pem" -pubout -outform DER | sha256sum)" != \
       "$(openssl x509 -in "$work/b.pem" -noout -pubkey | openssl pkey -pubin -outform DER | sha256sum)" ]; then
    mismatches=$((mismatches + 1))
  fi
  # Separate files, read from one resolved version folder. With rotations every 0.2 s, an old
  # version is pruned (keep: 3) within a second, possibly between resolving and reading on a
  # busy machine: a reader then gets "no such file", never a mixed pair, and that is not counted.
  version=$(readlink -f "$dir/..data")
  if cp "$version/key.pem" "$work/k.pem" 2>/dev/null && cp "$version/cert.pem" "$work/c.pem" 2>/dev/null; then
    if [ "$(key_pubkey "$work/k.pem")" != "$(cert_pubkey "$work/c.pem")" ]; then
      mismatches=$((mismatches + 1))
    fi
  else
    pruned=$((pruned + 1))
  fi
  checks=$((checks + 1))
done
rm -f "$work/rotating"
wait "$rotator" || true

last=$(serial_of "$dir/cert.pem")
rotations=$(grep -c "renewed credential=web" "$work/daemon.log")
[ "$mismatches" -eq 0 ] || fail "$mismatches mismatched key/certificate reads in $checks checks"
[ $((checks - pruned)) -ge 20 ] || fail "only $((checks - pruned)) complete checks ran ($pruned versions pruned while read)"
[ "$rotations" -ge 10 ] && [ "$first" != "$last" ] || fail "only $rotations rotations happened"
stop_daemon
echo "reader_test: ok ($checks checks across $rotations rotations, 0 mismatches)"
