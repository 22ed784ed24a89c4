#!/usr/bin/env bash
# tests/peers/ari_proxy.mjs in front of a real pebble: the directory gains renewalInfo and
# meta.profiles while pebble's own URLs name the proxy (pebble builds them from the Host header,
# which the proxy keeps), renewalInfo answers are the ones the test writes (a window, 5xx, a long
# Retry-After), and a newOrder signed with a fresh ES256 account key goes through to pebble, which
# accepts its JWS `url`, with the payload (and its `replaces`) recorded.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/peers.sh"

command -v pebble >/dev/null || fail "pebble is not installed (scripts/setup installs it)"
peers_install
make_ca
ca=$work/ca/ca
server_cert "$work/pebble-tls" "$ca"
server_cert "$work/proxy-tls" "$ca"

pebble_port=$(free_port)
mgmt_port=$(free_port)
cat > "$work/pebble.json" <<JSON
{ "pebble": {
    "listenAddress": "127.0.0.1:$pebble_port",
    "managementListenAddress": "127.0.0.1:$mgmt_port",
    "certificate": "$work/pebble-tls.pem", "privateKey": "$work/pebble-tls.key",
    "httpPort": $(free_port), "tlsPort": $(free_port),
    "ocspResponderURL": "", "externalAccountBindingRequired": false } }
JSON
# No nonce rejections and no sleeps: this test checks the proxy, not nonce handling.
PEBBLE_WFE_NONCEREJECT=0 PEBBLE_VA_NOSLEEP=1 pebble -config "$work/pebble.json" \
  >>"$work/pebble.log" 2>&1 &
started_pids+=("$!")
wait_for 20 "pebble on port $pebble_port" \
  curl -sf --cacert "$ca.pem" -o /dev/null "https://127.0.0.1:$pebble_port/dir"

cat > "$work/proxy.json" <<JSON
{ "portFile": "$work/proxy.port", "cert": "$work/proxy-tls.pem", "key": "$work/proxy-tls.key",
  "upstream": "https://127.0.0.1:$pebble_port", "upstreamCa": "$ca.pem",
  "profiles": { "shortlived": "6-day certificates" },
  "controlFile": "$work/ari.json", "recordFile": "$work/proxy.record" }
JSON
start_peer ari-proxy "$work/proxy.port" node "$peers_dir/ari_proxy.mjs" "$work/proxy.json"
proxy=https://127.0.0.1:$(cat "$work/proxy.port")
get() { curl -s --cacert "$ca.pem" "$@"; }

# The directory: pebble's, with its URLs on the proxy, plus renewalInfo and the profiles.
get "$proxy/dir" > "$work/dir.json" || fail "no directory through the proxy"
node -e '
  const d = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8"));
  const proxy = process.argv[2];
  for (const k of ["newNonce", "newAccount", "newOrder", "renewalInfo"]) {
    if (!String(d[k]).startsWith(proxy + "/")) throw new Error(k + " is " + d[k] + ", not on " + proxy);
  }
  if (!d.meta || !d.meta.profiles || !d.meta.profiles.shortlived) throw new Error("no meta.profiles");
' "$work/dir.json" "$proxy" || fail "directory through the proxy: $(cat "$work/dir.json")"

# renewalInfo: the default future window, then what the test writes.
get -D "$work/ri.headers" "$proxy/renewal-info/aYhba4dGQEHhs3uEe6CuLN4ByNQ.AIdlQyE" > "$work/ri.json"
grep -q '"suggestedWindow"' "$work/ri.json" || fail "no default window: $(cat "$work/ri.json")"
grep -qi '^retry-after: 21600' "$work/ri.headers" || fail "no default Retry-After"
echo '{"status": 503, "retryAfter": 7, "body": {"type": "urn:ietf:params:acme:error:serverInternal"}}' \
  > "$work/ari.json"
[ "$(get -o /dev/null -w '%{http_code}' "$proxy/renewal-info/x.y")" = 503 ] || fail "no 503 as asked"
echo '{"status": 200, "retryAfter": 31536000, "body": {"suggestedWindow":
  {"start": "2020-01-02T00:00:00Z", "end": "2020-01-01T00:00:00Z"}}}' > "$work/ari.json"
get -D "$work/ri.headers" "$proxy/renewal-info/x.y" | grep -q '"2020-01-02T00:00:00Z"' ||
  fail "the invalid window was not served as written"
grep -qi '^retry-after: 31536000' "$work/ri.headers" || fail "the long Retry-After was not sent"
grep -q '"renewalInfo":"aYhba4dGQEHhs3uEe6CuLN4ByNQ.AIdlQyE"' "$work/proxy.record" ||
  fail "renewalInfo request not recorded"

# A newOrder through the proxy: account, then order with `replaces`, signed ES256 (r||s).
node --input-type=module - "$proxy" "$ca.pem" > "$work/acme.log" 2>&1 <<'JS' || fail "ACME through the proxy failed: $(cat "$work/acme.log")"
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as https from 'node:https';
const [proxy, caFile] = process.argv.slice(2);
const ca = fs.readFileSync(caFile);
const call = (method, url, body) => new Promise((resolve, reject) => {
  const req = https.request(url, { method, ca, headers: body ? { 'content-type': 'application/jose+json' } : {} },
    (res) => { let d = ''; res.on('data', (c) => { d += c; }); res.on('end', () => resolve({ res, d })); });
  req.on('error', reject);
  req.end(body);
});
const dir = JSON.parse((await call('GET', `${proxy}/dir`)).d);
const { privateKey, publicKey } = crypto.generateKeyPairSync('ec', { namedCurve: 'P-256' });
const jwk = publicKey.export({ format: 'jwk' });
let nonce = (await call('HEAD', dir.newNonce)).res.headers['replay-nonce'];
const b64 = (o) => Buffer.from(JSON.stringify(o)).toString('base64url');
const post = async (url, payload, key) => {
  const header = { alg: 'ES256', nonce, url, ...key };
  const input = `${b64(header)}.${b64(payload)}`;
  const sig = crypto.sign('sha256', Buffer.from(input), { key: privateKey, dsaEncoding: 'ieee-p1363' });
  const r = await call('POST', url, JSON.stringify({ protected: b64(header), payload: b64(payload), signature: sig.toString('base64url') }));
  nonce = r.res.headers['replay-nonce'];
  if (r.res.statusCode >= 300) throw new Error(`${url}: ${r.res.statusCode} ${r.d}`);
  return r;
};
const account = await post(dir.newAccount, { termsOfServiceAgreed: true }, { jwk });
const kid = account.res.headers.location;
if (!kid.startsWith(proxy)) throw new Error(`account URL ${kid} not on the proxy`);
const order = await post(dir.newOrder, { identifiers: [{ type: 'dns', value: 'ari.test' }],
                                         replaces: 'aYhba4dGQEHhs3uEe6CuLN4ByNQ.AIdlQyE' }, { kid });
console.log('order', order.res.statusCode, order.res.headers.location);
JS
grep -q '^order 201 ' "$work/acme.log" || fail "pebble did not create the order: $(cat "$work/acme.log")"
grep -q '"newOrder":{.*"replaces":"aYhba4dGQEHhs3uEe6CuLN4ByNQ.AIdlQyE"' "$work/proxy.record" ||
  fail "newOrder payload with replaces not recorded: $(cat "$work/proxy.record")"
echo "ok"
