#!/usr/bin/env bash
# A configuration can make certrotd allocate only a small multiple of its size. An alias bomb
# (40 KB naming 4 GB), the billion laughs and 100,000 levels of nesting are refused by `check`
# with file:line:col and exit 78 under an address-space limit of 512 MB, and by a SIGHUP reload,
# after which the running daemon still answers `status` with its old credentials.
source "$(dirname "$0")/lib.sh"

# AddressSanitizer reserves terabytes of address space for its shadow memory, so no RLIMIT_AS
# there: the files are still refused, only the limit is not applied.
limit=(prlimit --as=$((512 << 20)) --)
if [ -n "${ASAN_OPTIONS:-}" ] || ldd "$CERTROTD" 2>/dev/null | grep -q libasan; then
  echo "AddressSanitizer build: running without the memory limit"
  limit=()
fi

make_ca
write_config "$work/good.yaml" 1h web api

# Each hostile file is a working configuration with the hostile part appended.
python3 - "$work" <<'PY'
import sys
work = sys.argv[1]
good = open(f"{work}/good.yaml").read()

def write(name, text):
    open(f"{work}/{name}.yaml", "w").write(good + text)

# Ten 4,000-byte strings, then five levels of ten aliases each.
bomb = "x-strings: &s [" + ", ".join(["x" * 4000] * 10) + "]\n"
previous = "s"
for level in range(1, 6):
    bomb += f"x-l{level}: &l{level} [" + ", ".join([f"*{previous}"] * 10) + "]\n"
    previous = f"l{level}"
write("bomb", bomb)

laughs = "x-lol0: &lol0 lol\n"
for level in range(1, 10):
    laughs += f"x-lol{level}: &lol{level} [" + ", ".join([f"*lol{level - 1}"] * 10) + "]\n"
write("laughs", laughs)

write("deep", "x-deep: " + "[" * 100000 + "]" * 100000 + "\n")
PY
good_lines=$(wc -l <"$work/good.yaml")

"${limit[@]}" "$CERTROTD" check --config "$work/good.yaml" >"$work/out" 2>&1 ||
  fail "the good config does not pass check under the limit: $(cat "$work/out")"

expect_refused() {  # NAME PATTERN
  local rc=0
  "${limit[@]}" "$CERTROTD" check --config "$work/$1.yaml" >"$work/out" 2>&1 || rc=$?
  [ "$rc" -eq 78 ] || fail "check of $1.yaml exited $rc, expected 78: $(head -c 2000 "$work/out")"
  grep -Eq "$2" "$work/out" || fail "expected /$2/ for $1.yaml in: $(head -c 2000 "$work/out")"
}
size_message="the document expands to more than 16 MiB once every alias \\(\\*name\\) stands for what it names"
expect_refused bomb "bomb.yaml:$((good_lines + 4)):[0-9]+: $size_message"
expect_refused laughs "laughs.yaml:$((good_lines + 7)):[0-9]+: $size_message"
expect_refused deep "deep.yaml:$((good_lines + 1)):[0-9]+: nesting deeper than 64 levels"

# A private session bus for the control interface, so `status` reaches this daemon only.
start_bus

cp "$work/good.yaml" "$work/config.yaml"
"${limit[@]}" "$CERTROTD" run --config "$work/config.yaml" --bus user --log-target stderr \
  >>"$work/daemon.log" 2>&1 &
daemon_pid=$!
started_pids+=("$daemon_pid")
wait_for 30 "web and api issued" test -f "$work/live/web/cert.pem" -a -f "$work/live/api/cert.pem"
credentials_listed() {
  "$CERTROTD" status --bus user --json >"$work/status.json" 2>&1 &&
    python3 -c 'import json, sys; names = sorted(s["name"] for s in json.load(open(sys.argv[1]))); sys.exit(names != ["api", "web"])' "$work/status.json"
}
wait_for 10 "status lists web and api" credentials_listed

for name in bomb laughs deep; do
  rejected=$(grep -c "new configuration rejected" "$work/daemon.log" || true)
  cp "$work/$name.yaml" "$work/config.yaml"
  kill -HUP "$daemon_pid"
  wait_for 30 "the $name reload to be rejected" \
    sh -c "[ \$(grep -c 'new configuration rejected' '$work/daemon.log') -gt $rejected ] || ! kill -0 $daemon_pid"
  kill -0 "$daemon_pid" 2>/dev/null || fail "the daemon died on the $name reload"
  credentials_listed || fail "status after the $name reload: $(cat "$work/status.json")"
done
grep -Eq "config.yaml:$((good_lines + 4)):[0-9]+: $size_message" "$work/daemon.log" ||
  fail "the rejected reload does not say where"
stop_daemon
echo "config_limits_test: ok"
