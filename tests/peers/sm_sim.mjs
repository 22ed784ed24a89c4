// A SAP Service Manager simulator for the integration tests, written from the Peripli
// specification (api.md: service_instances, service_bindings, operations, fieldQuery/labelQuery,
// paging by `token`, errors as {"error","description"}) and SAP's documented behaviour: bindings
// are created asynchronously (202 + Location + Retry-After, given as seconds and as an HTTP date
// in turn), at most `limit` bindings per instance, 429 with an HTTP-date Retry-After, and x509
// credentials whose certificate (leaf + CA, PEM with \n escapes in JSON) is signed by the test CA
// through the openssl CLI with a PKCS#1 key. Only Bearer tokens of the oidc-provider (acting as
// XSUAA) are accepted: with `introspection` (its client at the provider), each token is asked
// about at the provider's introspection endpoint (RFC 7662: `active`, issuer, audience, expiry);
// without, ES256 JWTs are checked against its JWKS, issuer, audience and expiry.
// Self-managed x509 bindings (SAP's "Parameters for Self-Managed X.509 Certificates"): the
// parameters carry `x509.certificate` (a PEM chain, leaf first) and no key; the certificate must
// parse, be within its validity and chain to one of `trustedCaFiles` (as XSUAA accepts only the
// CAs SAP lists as trusted), and may be used once per instance (by hash with
// `certificate-pinning: true`, the default; by subject and issuer DN with false). Anything else
// is a 400 BadRequest with a description. The binding's credentials then hold that certificate
// (unless `hide-certificate`) and no key.
// `async=false` is answered with 201 and the binding, `async=true` (the default) with 202.
// The first line of `modeFile` makes the next creations misbehave: 403, 409, 422, 429, 500,
// failed (the operation ends `failed`), nocert (a binding-secret binding), slow (operations stay
// `in progress`), untrusted (no CA of `trustedCaFiles` is trusted), good.
// With `bodiesFile`, each creation's URL and body are appended to it (one JSON line each).
//
// usage: node sm_sim.mjs CONFIG.json
//   { "portFile", "cert", "key", "caCert", "caKey", "authIssuer", "authCa", "audience",
//     "instances": [{ "id", "name", "clientid", "dns" }], "limit", "pageSize",
//     "modeFile", "eventsFile", "workDir",
//     "trustedCaFiles": [PEM files] (optional), "bodiesFile" (optional),
//     "introspection": { "client_id", "client_secret" } (optional) }
import { execFileSync } from 'node:child_process';
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as https from 'node:https';
import * as path from 'node:path';

const config = JSON.parse(fs.readFileSync(process.argv[2], 'utf8'));
const bindings = new Map();    // id -> binding entity
const operations = new Map();  // op id -> { binding id, polls left }
const selfManagedOf = new Map();  // binding id -> { fingerprint, subject, issuer } of its certificate
let serial = 0;
let dateForm = false;

// A creation ends by itself a second after it began (while the mode is not `slow`), polled or
// not, as a broker's would.
const isReady = (b) => b.ready || (mode() !== 'slow' && Date.now() >= b.readyAt);

const record = (line) => fs.appendFileSync(config.eventsFile, `${line}\n`);
const mode = () => {
  try {
    return fs.readFileSync(config.modeFile, 'utf8').split('\n')[0].trim() || 'good';
  } catch {
    return 'good';
  }
};

function fetchJson(url) {
  return new Promise((resolve, reject) => {
    https.get(url, { ca: fs.readFileSync(config.authCa) }, (res) => {
      let data = '';
      res.on('data', (c) => { data += c; });
      res.on('end', () => { try { resolve(JSON.parse(data)); } catch (e) { reject(e); } });
    }).on('error', reject);
  });
}

function postForm(url, form, auth) {
  const body = new URLSearchParams(form).toString();
  return new Promise((resolve, reject) => {
    const req = https.request(url, {
      method: 'POST', ca: fs.readFileSync(config.authCa),
      headers: { 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json',
        authorization: `Basic ${Buffer.from(auth).toString('base64')}` },
    }, (res) => {
      let data = '';
      res.on('data', (c) => { data += c; });
      res.on('end', () => {
        if (res.statusCode !== 200) return reject(new Error(`introspection: HTTP ${res.statusCode}`));
        try { return resolve(JSON.parse(data)); } catch (e) { return reject(e); }
      });
    });
    req.on('error', reject);
    req.end(body);
  });
}

// RFC 7662 §2: the resource server authenticates (client_secret_basic, §2.1 with RFC 6749
// §2.3.1's form-encoding of id and secret) and trusts only an `active` answer; the issuer,
// audience and expiry are checked here too, as for a JWT.
async function introspect(token) {
  if (!token) return null;
  const { client_id: id, client_secret: secret } = config.introspection;
  const enc = (t) => encodeURIComponent(t).replace(/%20/g, '+');
  const answer = await postForm(`${config.authIssuer}/token/introspection`,
    { token, token_type_hint: 'access_token' }, `${enc(id)}:${enc(secret)}`);
  if (answer.active !== true) return null;
  const aud = Array.isArray(answer.aud) ? answer.aud : [answer.aud];
  if (answer.iss !== config.authIssuer || !aud.includes(config.audience)) return null;
  record(`introspected ${answer.client_id}`);
  return answer.exp > Date.now() / 1000 ? answer : null;
}

async function verifyToken(token) {
  if (config.introspection) return introspect(token);
  const [head, body, sig] = (token || '').split('.');
  if (!sig) return null;
  const header = JSON.parse(Buffer.from(head, 'base64url').toString());
  const { keys } = await fetchJson(`${config.authIssuer}/jwks`);
  const jwk = keys.find((k) => k.kid === header.kid);
  if (!jwk || header.alg !== 'ES256') return null;
  const key = crypto.createPublicKey({ key: jwk, format: 'jwk' });
  const ok = crypto.verify('sha256', Buffer.from(`${head}.${body}`),
    { key, dsaEncoding: 'ieee-p1363' }, Buffer.from(sig, 'base64url'));
  if (!ok) return null;
  const claims = JSON.parse(Buffer.from(body, 'base64url').toString());
  const aud = Array.isArray(claims.aud) ? claims.aud : [claims.aud];
  if (claims.iss !== config.authIssuer || !aud.includes(config.audience)) return null;
  return claims.exp > Date.now() / 1000 ? claims : null;
}

// A service-generated x509 credential: PKCS#1 RSA key, certificate signed by the test CA.
function x509Credentials(instance, params) {
  serial += 1;
  const dir = fs.mkdtempSync(path.join(config.workDir, 'sm-'));
  const key = path.join(dir, 'key.pem');
  const bits = String(params['key-length'] || 2048);
  execFileSync('openssl', ['genrsa', '-traditional', '-out', key, bits], { stdio: 'ignore' });
  const ext = path.join(dir, 'ext.cnf');
  fs.writeFileSync(ext, `subjectAltName=DNS:${instance.dns}\nextendedKeyUsage=clientAuth\n`
    + 'basicConstraints=CA:FALSE\n');
  execFileSync('openssl', ['req', '-new', '-key', key, '-subj',
    `/O=SAP SE/OU=test/CN=${instance.clientid}`, '-out', path.join(dir, 'req.csr')], { stdio: 'ignore' });
  execFileSync('openssl', ['x509', '-req', '-in', path.join(dir, 'req.csr'), '-CA', config.caCert,
    '-CAkey', config.caKey, '-set_serial', String(Date.now() * 100 + serial),
    '-days', String(params.validity || 7), '-extfile', ext, '-out', path.join(dir, 'cert.pem')],
  { stdio: 'ignore' });
  const cert = fs.readFileSync(path.join(dir, 'cert.pem'), 'utf8') + fs.readFileSync(config.caCert, 'utf8');
  const creds = {
    'credential-type': 'x509', clientid: instance.clientid, certificate: cert,
    key: fs.readFileSync(key, 'utf8'), certurl: 'https://sub.authentication.cert.test',
    url: 'https://sub.authentication.test', xsappname: `${instance.name}!t1`,
    identityzone: 'sub', serviceInstanceId: instance.id,
  };
  fs.rmSync(dir, { recursive: true, force: true });
  return creds;
}

// The PEM blocks of `text` as certificates; throws on anything that does not parse.
const pemBlocks = (text) => (String(text).match(
  /-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----/g) || []);
function parseChain(text) {
  const blocks = pemBlocks(text.replace(/\\n/g, '\n'));
  if (blocks.length === 0 || blocks.length > 10) throw new Error('no PEM certificate (or more than 10)');
  return blocks.map((b) => new crypto.X509Certificate(b));
}

function trustedCas() {
  if (mode() === 'untrusted') return [];
  return (config.trustedCaFiles || []).flatMap((f) => parseChain(fs.readFileSync(f, 'utf8')));
}

// Whether any member of the parameters is a private key: by name, or a string holding one.
function holdsKey(value, name = '') {
  if (typeof value === 'string') return /PRIVATE KEY/.test(value);
  if (name === 'key' || name === 'private_key' || name === 'private-key') return true;
  if (value && typeof value === 'object') {
    return Object.entries(value).some(([k, v]) => holdsKey(v, k));
  }
  return false;
}

const within = (c, now) => new Date(c.validFrom).getTime() <= now && now <= new Date(c.validTo).getTime();

// The checks XSUAA makes on a self-managed certificate; a description of the first one failed,
// or null. `chain` is leaf first; the walk goes up through the chain's own CA certificates until
// a trusted CA has signed the current one.
function refuseChain(chain, instance, pinning) {
  const now = Date.now();
  const [leaf] = chain;
  if (leaf.ca) return 'the certificate is a CA certificate';
  const expired = chain.find((c) => !within(c, now));
  if (expired) return `certificate ${expired.subject.replace(/\n/g, ', ')} is expired or not yet valid (${expired.validFrom} - ${expired.validTo})`;
  const trusted = trustedCas();
  let current = leaf;
  for (let depth = 0; depth <= chain.length; depth += 1) {
    const anchor = trusted.find((t) => current.checkIssued(t) && current.verify(t.publicKey) && within(t, now));
    if (anchor) break;
    const up = chain.find((c) => c !== current && c.ca && current.checkIssued(c) && current.verify(c.publicKey));
    if (!up || depth === chain.length) {
      return `the certificate is not issued by a trusted certificate authority (issuer ${current.issuer.replace(/\n/g, ', ')})`;
    }
    current = up;
  }
  const same = [...bindings.values()].find((b) => {
    const used = selfManagedOf.get(b.id);
    return b.service_instance_id === instance.id && used && (pinning
      ? used.fingerprint === leaf.fingerprint256
      : used.subject === leaf.subject && used.issuer === leaf.issuer);
  });
  if (same) return `the certificate is already used by binding ${same.id} of this service instance`;
  return null;
}

// A self-managed x509 credential: the given certificate, no key.
function selfManagedCredentials(instance, x509, certificate) {
  const pinning = x509['certificate-pinning'] !== false;
  const creds = {
    'credential-type': 'x509', clientid: instance.clientid, 'certificate-pinning': pinning,
    certurl: 'https://sub.authentication.cert.test', url: 'https://sub.authentication.test',
    xsappname: `${instance.name}!t1`, identityzone: 'sub', serviceInstanceId: instance.id,
  };
  if (x509['hide-certificate'] !== true) creds.certificate = certificate;
  return creds;
}

// `k eq 'v' and k2 eq 'v2'` (labelQuery / fieldQuery), equality only.
function parseQuery(text) {
  if (!text) return [];
  return text.split(' and ').map((term) => {
    const m = /^\s*(\S+) eq '([^']*)'\s*$/.exec(term);
    return m ? [m[1], m[2]] : [null, null];
  });
}

function send(res, status, body, headers = {}) {
  res.writeHead(status, { 'content-type': 'application/json', ...headers });
  res.end(JSON.stringify(body));
}
const error = (res, status, name, description, headers) =>
  send(res, status, { error: name, description }, headers);

function retryAfter(seconds) {
  dateForm = !dateForm;
  return dateForm ? new Date(Date.now() + seconds * 1000).toUTCString() : String(seconds);
}

// The parameters of a self-managed creation checked, or an error sent (then null).
function selfManaged(res, instance, name, params, x509) {
  const refuse = (why) => {
    record(`refused ${name} ${why}`);
    error(res, 400, 'BadRequest', why);
    return null;
  };
  if (holdsKey(params)) return refuse('a self-managed certificate must come without its private key: remove the key');
  if (typeof x509.certificate !== 'string') return refuse('x509.certificate must be a PEM string');
  let chain;
  try { chain = parseChain(x509.certificate); } catch (e) { return refuse(`the certificate cannot be parsed: ${e.message}`); }
  const pinning = x509['certificate-pinning'] !== false;
  const why = refuseChain(chain, instance, pinning);
  if (why) return refuse(why);
  const [leaf] = chain;
  return { serial: leaf.serialNumber, fingerprint: leaf.fingerprint256, subject: leaf.subject,
    issuer: leaf.issuer, credentials: selfManagedCredentials(instance, x509, x509.certificate) };
}

function create(req, res, body, url) {
  const m = mode();
  if (m === '403') return error(res, 403, 'Forbidden', 'missing scope subaccount.service_binding.manage');
  if (m === '422') return error(res, 422, 'ConcurrentOperation', 'another operation is in progress', { 'retry-after': '2' });
  if (m === '429') return error(res, 429, 'TooManyRequests', 'rate limit', { 'retry-after': new Date(Date.now() + 2000).toUTCString() });
  if (m === '500') return error(res, 500, 'InternalServerError', 'induced failure');
  const instance = config.instances.find((i) => i.id === body.service_instance_id);
  if (!instance) return error(res, 404, 'NotFound', 'service instance not found');
  const taken = [...bindings.values()].some((b) => b.name === body.name && b.service_instance_id === instance.id);
  if (taken || m === '409') return error(res, 409, 'Conflict', `binding ${body.name} already exists`);
  const count = [...bindings.values()].filter((b) => b.service_instance_id === instance.id).length;
  if (count >= (config.limit || 1000)) {
    return error(res, 400, 'BadRequest', 'the maximum number of bindings for this instance is reached');
  }
  const params = body.parameters || {};
  const x509 = (params.xsuaa || params).x509 || {};
  let self = null;
  if ('certificate' in x509) {
    self = selfManaged(res, instance, body.name, params, x509);
    if (!self) return undefined;
  }
  const sync = url.searchParams.get('async') === 'false';
  if (sync && m === 'failed') {
    return error(res, 400, 'BrokerError', 'validity exceeds the maximum of 30 days');
  }
  const id = crypto.randomUUID();
  const op = crypto.randomUUID();
  const entity = { id, name: body.name, service_instance_id: instance.id, labels: body.labels || {},
    ready: sync, readyAt: Date.now() + 1000, created_at: new Date().toISOString() };
  if (m === 'nocert') {
    entity.credentials = { 'credential-type': 'binding-secret', clientid: instance.clientid, clientsecret: 'sim-secret' };
  } else if (self) {
    entity.credentials = self.credentials;
    selfManagedOf.set(id, { fingerprint: self.fingerprint, subject: self.subject, issuer: self.issuer });
  } else {
    entity.credentials = x509Credentials(instance, x509);
  }
  bindings.set(id, entity);
  const kind = self ? ` self-managed ${self.serial}` : '';
  record(`created ${id}${kind} ${body.name} ${JSON.stringify(entity.labels)}`);
  if (sync) return send(res, 201, entity);
  operations.set(op, { id, polls: 1, failed: m === 'failed' });
  return send(res, 202, {}, { location: `/v1/service_bindings/${id}/operations/${op}`, 'retry-after': retryAfter(1) });
}

function list(res, url) {
  const labels = parseQuery(url.searchParams.get('labelQuery'));
  // Bindings still being created are listed too (ready: false).
  let items = [...bindings.values()].filter((b) => labels.every(([k, v]) => (b.labels[k] || []).includes(v)));
  const start = Number(url.searchParams.get('token') || 0);
  const size = Number(url.searchParams.get('max_items') || config.pageSize || 50);
  const page = items.slice(start, start + size);
  const out = { num_items: items.length, items: page.map(({ credentials, ...rest }) => rest) };
  if (start + size < items.length) out.token = String(start + size);
  items = null;
  return send(res, 200, out);
}

async function handle(req, res, raw) {
  const url = new URL(req.url, 'https://sm.test');
  const claims = await verifyToken((req.headers.authorization || '').replace(/^Bearer /, ''));
  if (!claims) return error(res, 401, 'Unauthorized', 'invalid token');
  const parts = url.pathname.split('/').filter(Boolean);
  if (req.method === 'GET' && url.pathname === '/v1/service_instances') {
    const fields = parseQuery(url.searchParams.get('fieldQuery'));
    const items = config.instances.filter((i) => fields.every(([k, v]) => i[k] === v))
      .map(({ id, name }) => ({ id, name }));
    return send(res, 200, { num_items: items.length, items });
  }
  if (parts[0] !== 'v1' || parts[1] !== 'service_bindings') return error(res, 404, 'NotFound', 'no such path');
  if (req.method === 'POST' && parts.length === 2) {
    let body;
    try { body = JSON.parse(raw); } catch { return error(res, 400, 'BadRequest', 'not JSON'); }
    if (config.bodiesFile) fs.appendFileSync(config.bodiesFile, `${JSON.stringify({ url: req.url, body })}\n`);
    return create(req, res, body, url);
  }
  if (req.method === 'GET' && parts.length === 2) return list(res, url);
  const binding = bindings.get(parts[2]);
  if (req.method === 'GET' && parts[3] === 'operations') {
    const op = operations.get(parts[4]);
    if (!op) return error(res, 404, 'NotFound', 'operation not found');
    if (op.polls > 0 || !isReady(bindings.get(op.id))) {
      op.polls -= 1;
      return send(res, 200, { state: 'in progress', type: 'CREATE', resource_id: op.id },
        { 'retry-after': retryAfter(1) });
    }
    if (op.failed) {
      bindings.get(op.id).ready = true;
      return send(res, 200, { state: 'failed', type: 'CREATE', resource_id: op.id,
        errors: [{ error: 'BrokerError', description: 'validity exceeds the maximum of 30 days' }] });
    }
    bindings.get(op.id).ready = true;
    return send(res, 200, { state: 'succeeded', type: 'CREATE', resource_id: op.id, ready: true });
  }
  if (!binding) return error(res, 404, 'NotFound', 'binding not found');
  if (req.method === 'GET') return isReady(binding) ? send(res, 200, { ...binding, ready: true }) : error(res, 404, 'NotFound', 'binding not found');
  if (req.method === 'DELETE') {
    bindings.delete(binding.id);
    selfManagedOf.delete(binding.id);
    record(`deleted ${binding.id} ${binding.name}`);
    return send(res, 200, {});
  }
  return error(res, 405, 'MethodNotAllowed', req.method);
}

const server = https.createServer({
  cert: fs.readFileSync(config.cert), key: fs.readFileSync(config.key), minVersion: 'TLSv1.2',
}, (req, res) => {
  let raw = '';
  req.on('data', (c) => { raw += c; });
  req.on('end', () => handle(req, res, raw).catch((e) => error(res, 500, 'InternalServerError', String(e))));
});
server.listen(0, '127.0.0.1', () => {
  fs.writeFileSync(`${config.portFile}.tmp`, String(server.address().port));
  fs.renameSync(`${config.portFile}.tmp`, config.portFile);
});
for (const signal of ['SIGTERM', 'SIGINT']) process.on(signal, () => process.exit(0));
