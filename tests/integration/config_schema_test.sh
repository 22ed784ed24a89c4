#!/usr/bin/env bash
# config/certrotd.schema.json (for editors with the YAML language server) is a valid draft-07
# schema, accepts config/certrotd.example.yaml and the packaged default configuration, and
# rejects what certrotd's loader rejects: an unknown key, a bare-number duration, a key of
# another issuer type, a credential without an issuer. Every key the schema knows is described
# in certrotd.yaml(5), so the schema cannot grow keys the documentation lacks.
source "$(dirname "$0")/lib.sh"
src=${CERTROTD_SOURCE_DIR:?}

python3 - "$src/docs/man/certrotd.yaml.5.scd" "$src/config/certrotd.schema.json" \
  "$src/config/certrotd.example.yaml" "$src/packaging/config.yaml" <<'PY' || fail "schema check"
import json, re, sys
import jsonschema, yaml

man_page, schema_file, *accepted = sys.argv[1:]
schema = json.load(open(schema_file))
jsonschema.Draft7Validator.check_schema(schema)
validator = jsonschema.Draft7Validator(schema)
ok = True

def errors(doc):
    return [f"{'/'.join(map(str, e.path)) or '(top)'}: {e.message}"
            for e in validator.iter_errors(doc)]

for path in accepted:
    # A file of comments only is an empty document, which certrotd reads as no settings.
    for e in errors(yaml.safe_load(open(path)) or {}):
        print(f"FAIL: {path}: {e}")
        ok = False

base = {"issuers": {"ca": {"type": "local", "ca_cert": "/c.pem", "ca_key": "/c.key"}},
        "credentials": {"web": {"issuer": "ca", "sans": ["DNS:web"]}}}
if errors(base):
    print("FAIL: the minimal configuration is rejected:", errors(base))
    ok = False
rejected = {
    "an unknown top-level key": {**base, "statedir": "/x"},
    "a bare-number duration": {**base, "min_remaining_validity": 30},
    "an http key on a local issuer": {**base, "issuers": {"ca": {**base["issuers"]["ca"],
                                                                 "url": "https://x"}}},
    "a credential without an issuer": {**base, "credentials": {"web": {"sans": ["DNS:web"]}}},
    "an unquoted mode": {**base, "credentials": {"web": {"issuer": "ca",
                                                         "output": {"mode": 640}}}},
}
for what, doc in rejected.items():
    if not errors(doc):
        print(f"FAIL: the schema accepts {what}")
        ok = False
def schema_keys(node):
    if isinstance(node, dict):
        for k, v in node.items():
            if k == "properties":
                yield from v.keys()
            yield from schema_keys(v)
    elif isinstance(node, list):
        for v in node:
            yield from schema_keys(v)

man = open(man_page).read()
for k in sorted(set(schema_keys(schema))):
    if not re.search(r"\*" + re.escape(k) + r":?\*", man):
        print(f"FAIL: the schema knows '{k}', which certrotd.yaml(5) does not describe")
        ok = False
sys.exit(0 if ok else 1)
PY
echo PASS
