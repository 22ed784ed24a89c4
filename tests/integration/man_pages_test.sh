#!/usr/bin/env bash
# The man pages cannot drift from the program: every subcommand of `certrotd --help` has an entry
# in certrotd(8), every option of each subcommand's --help is in that subcommand's SYNOPSIS line
# and in OPTIONS (and OPTIONS lists nothing the program lacks), and every key of
# config/certrotd.example.yaml, commented-out ones included, is described in certrotd.yaml(5).
# The rendered pages must also be clean for man(1).
source "$(dirname "$0")/lib.sh"
src=${CERTROTD_SOURCE_DIR:?}
man_dir=$src/docs/man

# --help of the program and of each (sub)subcommand, for the checker below.
"$CERTROTD" --help >"$work/help" || fail "certrotd --help failed"
commands=$(awk '/^Subcommands:/ { on = 1; next } on && NF { print $1 }' "$work/help")
[ -n "$commands" ] || fail "no subcommands in certrotd --help"
for c in $commands; do
  "$CERTROTD" "$c" --help >"$work/help.$c" || fail "certrotd $c --help failed"
  for sub in $(awk '/^Subcommands:/ { on = 1; next } on && NF { print $1 }' "$work/help.$c"); do
    "$CERTROTD" "$c" "$sub" --help >"$work/help.$c $sub" || fail "certrotd $c $sub --help failed"
    rm -f "$work/help.$c"  # a command with subcommands has its options there
  done
done

python3 - "$work" "$man_dir/certrotd.8.scd" "$man_dir/certrotd.yaml.5.scd" \
  "$src/config/certrotd.example.yaml" <<'PY' || fail "man pages and program disagree (above)"
import os, re, sys
import yaml

work, page8, page5, example = sys.argv[1:]
errors = []
text8 = open(page8).read()

def section(text, name):
    m = re.search(r"^# " + name + r"\n(.*?)(?=^# |\Z)", text, re.S | re.M)
    return m.group(1) if m else ""

# One tuple of names per option line of --help ("-c,--config TEXT=..." gives ("-c", "--config")).
def help_options(path):
    groups = []
    in_options = False
    for line in open(path):
        if re.match(r"^\S", line):
            in_options = line.startswith("Options:")
        elif in_options:
            m = re.match(r"^  (-\S+)", line)
            if m:
                names = tuple(re.sub(r"[=:].*", "", o) for o in m.group(1).split(","))
                if names != ("-h", "--help"):
                    groups.append(names)
    return groups

synopsis = section(text8, "SYNOPSIS")
commands_section = section(text8, "COMMANDS")
options_section = section(text8, "OPTIONS")
documented = set(re.findall(r"^\*(-[-a-z]+)\*", options_section, re.M))
documented |= set(re.findall(r"^\*-[a-z]\*, \*(--[-a-z]+)\*", options_section, re.M))
documented |= set(re.findall(r"^\*(-[a-z])\*,", options_section, re.M))

seen = set()
for name in sorted(os.listdir(work)):
    if not name.startswith("help."):
        continue
    command = name[len("help."):]
    groups = help_options(os.path.join(work, name))
    seen |= {o for g in groups for o in g}
    if not re.search(r"^\*" + re.escape(command) + r"\*$", commands_section, re.M):
        errors.append(f"certrotd(8) COMMANDS has no entry *{command}*")
    line = re.search(r"^\*certrotd " + re.escape(command) + r"\*(.*)$", synopsis, re.M)
    if not line:
        errors.append(f"certrotd(8) SYNOPSIS has no line for 'certrotd {command}'")
        continue
    for g in groups:
        if not any("*" + o + "*" in line.group(1) for o in g):
            errors.append(f"certrotd(8) SYNOPSIS of '{command}' lacks {'/'.join(g)}")
        for o in g:
            if o not in documented:
                errors.append(f"certrotd(8) OPTIONS lacks {o} (certrotd {command} --help has it)")
for o in sorted(documented - seen - {"--help", "-h", "--version"}):
    errors.append(f"certrotd(8) OPTIONS documents {o}, which no --help lists")

# Keys of the example: mapping keys at every level except the user-chosen names directly under
# issuers: and credentials:, plus keys of commented-out settings ("# renew_before: 8h").
def keys(node, parent=None):
    if isinstance(node, dict):
        for k, v in node.items():
            if parent not in ("issuers", "credentials"):
                yield k
            yield from keys(v, k)
    elif isinstance(node, list):
        for v in node:
            yield from keys(v, parent)

source = open(example).read()
example_keys = set(keys(yaml.safe_load(source)))
example_keys |= set(re.findall(r"^\s*#\s*([a-z_]+):\s", source, re.M))
text5 = open(page5).read()
for k in sorted(example_keys):
    if not re.search(r"\*" + re.escape(k) + r":?\*", text5):
        errors.append(f"certrotd.yaml(5) does not describe the key '{k}' of the example")

for e in errors:
    print("FAIL:", e)
sys.exit(1 if errors else 0)
PY

for page in certrotd.8 certrotd.yaml.5; do
  scdoc <"$man_dir/$page.scd" >"$work/$page" || fail "scdoc $page"
  warnings=$(LC_ALL=C.UTF-8 MANWIDTH=80 man --warnings -l "$work/$page" 2>&1 >/dev/null)
  [ -z "$warnings" ] || fail "man reports for $page: $warnings"
done
echo PASS
