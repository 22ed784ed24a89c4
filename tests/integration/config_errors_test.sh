#!/usr/bin/env bash
# A broken config is refused with exit 78 and file:line:col plus what to write instead.
source "$(dirname "$0")/lib.sh"

expect_config_error() {
  local pattern=$1 file=$2
  local rc=0
  "$CERTROTD" check --config "$file" > "$work/out" 2>&1 || rc=$?
  [ "$rc" -eq 78 ] || fail "check exited $rc, expected 78: $(cat "$work/out")"
  grep -Eq "$pattern" "$work/out" || fail "expected /$pattern/ in: $(cat "$work/out")"
}

make_ca
write_config "$work/good.yaml" 1h web
"$CERTROTD" check --config "$work/good.yaml" > "$work/out" || fail "good config rejected: $(cat "$work/out")"

# A misspelt key: position and a suggestion.
sed 's/^    issuer: ca/    isuer: ca/' "$work/good.yaml" > "$work/typo.yaml"
line=$(grep -n 'isuer:' "$work/typo.yaml" | cut -d: -f1)
expect_config_error "typo.yaml:$line:5: .*isuer.*did you mean 'issuer'" "$work/typo.yaml"

# A bad duration.
sed 's/lifetime: 1h/lifetime: 1 hour/' "$work/good.yaml" > "$work/duration.yaml"
line=$(grep -n 'lifetime:' "$work/duration.yaml" | cut -d: -f1)
expect_config_error "duration.yaml:$line:[0-9]+: .*not a duration; write .*lifetime: 24h" "$work/duration.yaml"

# YAML syntax.
printf 'state_dir: [unclosed\n' > "$work/syntax.yaml"
expect_config_error "syntax.yaml:[0-9]+:[0-9]+:" "$work/syntax.yaml"

# Overlapping output paths: a credential's folder inside another's, with both positions.
write_config "$work/nested.yaml" 1h web api
sed -i "s|dir: $work/live/api|dir: $work/live/web/api|" "$work/nested.yaml"
web_line=$(grep -n "dir: $work/live/web\$" "$work/nested.yaml" | cut -d: -f1)
api_line=$(grep -n "dir: $work/live/web/api" "$work/nested.yaml" | cut -d: -f1)
expect_config_error "nested.yaml:$api_line:[0-9]+: output dir $work/live/web/api of credential 'api' is inside the output dir $work/live/web of credential 'web' \\(.*nested.yaml:$web_line:[0-9]+\\); give each credential a folder of its own" "$work/nested.yaml"

# A config path that is not a regular file is refused at once (a FIFO used to block forever):
# `check` and `run`, for the main file and for a conf.d entry. `timeout` only turns a hang into
# a failure.
mkfifo "$work/fifo.yaml"
mkdir -p "$work/conf.d" "$work/folder.yaml"
for cmd in check run; do
  for target in "$work/fifo.yaml" "$work/folder.yaml"; do
    rc=0
    timeout 30 "$CERTROTD" $cmd --config "$target" > "$work/out" 2>&1 || rc=$?
    [ "$rc" -eq 78 ] || fail "$cmd on $target exited $rc, expected 78: $(cat "$work/out")"
    grep -Eq "cannot read the configuration: it is a (named pipe \(FIFO\)|folder), not a regular file" "$work/out" ||
      fail "$cmd on $target: no clear message: $(cat "$work/out")"
  done
done
cp "$work/good.yaml" "$work/main.yaml"
mkfifo "$work/conf.d/extra.yaml"
rc=0
timeout 30 "$CERTROTD" check --config "$work/main.yaml" > "$work/out" 2>&1 || rc=$?
[ "$rc" -eq 78 ] && grep -q "conf.d/extra.yaml: cannot read the configuration: it is a named pipe" "$work/out" ||
  fail "a FIFO in conf.d was not refused (exit $rc): $(cat "$work/out")"
rm "$work/conf.d/extra.yaml"
# The same for a file the configuration names: a CA certificate that is a FIFO.
mkfifo "$work/fifo.pem"
sed "s|ca_cert: $work/ca/intermediate.pem|ca_cert: $work/fifo.pem|" "$work/good.yaml" > "$work/fifo-ca.yaml"
rc=0
timeout 30 "$CERTROTD" run --config "$work/fifo-ca.yaml" > "$work/out" 2>&1 || rc=$?
[ "$rc" -eq 78 ] && grep -q "cannot read CA certificate: it is a named pipe (FIFO), not a regular file" "$work/out" ||
  fail "run with a FIFO as ca_cert: exit $rc: $(cat "$work/out")"

# `run` refuses the same way, before touching anything.
rc=0
"$CERTROTD" run --config "$work/typo.yaml" > "$work/out" 2>&1 || rc=$?
[ "$rc" -eq 78 ] || fail "run exited $rc on a bad config"
[ ! -e "$work/live" ] || fail "run created output folders despite a bad config"
echo "config_errors_test: ok"
