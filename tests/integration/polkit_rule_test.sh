#!/usr/bin/env bash
# `certrotd check --polkit-rule` derives the polkit rule from the configuration: the certrotd
# user may do to each unit exactly what its `systemd:` actions on the system bus do, and nothing
# to other units, with other verbs, or as another user. The rule is evaluated by node with a
# stand-in for polkit's `polkit` and `action` objects (polkitd runs rules in the same way: a
# JavaScript function per addRule). The shipped packaging/polkit rule is checked the same way.
source "$(dirname "$0")/lib.sh"
command -v node >/dev/null || fail "node is missing (scripts/setup installs nodejs)"
src=${CERTROTD_SOURCE_DIR:?}

make_ca
write_config "$work/config.yaml" 1h web mail
python3 - "$work/config.yaml" <<'PY'
import sys
path = sys.argv[1]
text = open(path).read()
web = """    on_rotate:
      - systemd: { unit: nginx.service, action: reload }
      - systemd: { unit: "odd\\"name.service", action: kill, signal: HUP }
      - systemd: { unit: user-only.service, action: restart, bus: user }
"""
mail = """    on_rotate:
      - systemd: { unit: nginx.service, action: try-restart }
      - systemd: { unit: postfix.service, action: reload-or-restart }
"""
parts = text.split("  mail:\n")
open(path, "w").write(parts[0].rstrip("\n") + "\n" + web + "  mail:\n" + parts[1].rstrip("\n") + "\n" + mail)
PY
"$CERTROTD" check --polkit-rule --config "$work/config.yaml" >"$work/rule.js" 2>"$work/err" ||
  fail "check --polkit-rule failed: $(cat "$work/err")"

# decide RULE USER UNIT VERB: prints yes or no.
decide() {
  node -e '
const fs = require("fs");
const [file, user, unit, verb] = process.argv.slice(1);
const rules = [];
const polkit = { Result: { YES: "yes", NOT_HANDLED: undefined }, addRule: (f) => rules.push(f) };
new Function("polkit", fs.readFileSync(file, "utf8"))(polkit);
const action = { id: "org.freedesktop.systemd1.manage-units",
                 lookup: (k) => ({ unit: unit, verb: verb })[k] };
let answer;
for (const r of rules) { answer = r(action, { user: user }); if (answer !== undefined) break; }
console.log(answer === "yes" ? "yes" : "no");' "$@"
}
expect() {  # ANSWER RULE USER UNIT VERB
  local got
  got=$(decide "$2" "$3" "$4" "$5") || fail "the rule $2 does not run: $(cat "$2")"
  [ "$got" = "$1" ] || fail "$3 $5 $4: $got, expected $1; rule: $(cat "$2")"
}
r=$work/rule.js
expect yes "$r" certrotd nginx.service reload
expect yes "$r" certrotd nginx.service try-restart
expect no  "$r" certrotd nginx.service restart
expect yes "$r" certrotd postfix.service reload-or-restart
expect no  "$r" certrotd postfix.service reload
expect yes "$r" certrotd 'odd"name.service' kill
expect no  "$r" certrotd user-only.service restart   # a user-bus action needs no polkit
expect no  "$r" certrotd haproxy.service reload
expect no  "$r" nobody nginx.service reload
expect no  "$r" certrotd constructor reload

# No systemd actions: a rule that allows nothing.
"$CERTROTD" check --polkit-rule --config "$work/config.yaml" >/dev/null
write_config "$work/plain.yaml" 1h web
"$CERTROTD" check --polkit-rule --config "$work/plain.yaml" >"$work/plain.js"
expect no "$work/plain.js" certrotd nginx.service reload

# The shipped rule is a valid rule and, until replaced, allows nothing.
expect no "$src/packaging/polkit/50-certrotd.rules" certrotd nginx.service reload
echo "polkit_rule_test: ok"
