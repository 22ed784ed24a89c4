// A thin HTTPS proxy in front of a real pebble that adds what pebble 2.4 lacks: ACME Renewal
// Information (RFC 9773) and profiles (draft-ietf-acme-profiles). Everything else goes to pebble
// unchanged, Host header included: pebble builds the URLs of its directory and checks the JWS
// `url` of every POST against the host it was asked on, so both name the proxy.
//
//  - GET <directory>: pebble's directory plus "renewalInfo" and "meta.profiles".
//  - GET /renewal-info/<certID>: the answer the test controls through `controlFile`, a JSON
//    object {"status": 200, "retryAfter": 21600, "body": {...}} read at each request (missing:
//    a window from one to two days ahead). "retryAfter" null sends no Retry-After header. A
//    body.suggestedWindow of {"startIn": S, "endIn": E} is sent as the window from S to E
//    seconds after this request (a window that opens a few seconds after the issuance).
//  - POST <newOrder> or a finalize URL (/finalize-order/... in pebble), when the control object
//    has "newOrder" or "finalize" {"status": 429, "type": "rateLimited", "detail": "...",
//    "retryAfter": 5}: that problem document (type under urn:ietf:params:acme:error:) instead
//    of pebble's answer, with a fresh Replay-Nonce from pebble, recorded as {"refused": "newOrder",
//    "at": ms since the epoch}. Failure tests use it for rateLimited and badCSR.
//  - POST <newAccount> (not onlyReturnExisting), when the control object has "holdNewAccount":
//    true: forwarded, so pebble makes the account, but never answered; recorded as
//    {"newAccount": the account URL pebble answered}. Crash tests kill the client meanwhile.
//    An answer without an account (a refused nonce) is passed on.
//  - POST <newOrder>: forwarded; the decoded JWS payload is appended to `recordFile` as one JSON
//    line {"newOrder": payload, "at": ISO time}, so a test can assert that `replaces` was sent
//    and when. renewalInfo requests are recorded as {"renewalInfo": certID, "window": what was
//    sent, "at": ISO time}.
//
// usage: node ari_proxy.mjs CONFIG.json
//   { "portFile", "cert", "key", "upstream" (https://127.0.0.1:PORT of pebble), "upstreamCa",
//     "directoryPath" (default "/dir"), "profiles" ({name: description}), "controlFile",
//     "recordFile" }
import * as fs from 'node:fs';
import * as https from 'node:https';

const config = JSON.parse(fs.readFileSync(process.argv[2], 'utf8'));
const upstream = new URL(config.upstream);
const upstreamCa = fs.readFileSync(config.upstreamCa);
const directoryPath = config.directoryPath || '/dir';
const renewalInfoPath = '/renewal-info';
let newOrderPath = null;  // learned from pebble's directory
let newAccountPath = null;

function record(entry) {
  fs.appendFileSync(config.recordFile, `${JSON.stringify(entry)}\n`);
}

function control() {
  try {
    return JSON.parse(fs.readFileSync(config.controlFile, 'utf8'));
  } catch {
    const day = 24 * 3600 * 1000;
    return {
      status: 200,
      retryAfter: 21600,
      body: {
        suggestedWindow: {
          start: new Date(Date.now() + day).toISOString(),
          end: new Date(Date.now() + 2 * day).toISOString(),
        },
      },
    };
  }
}

// Sends the request to pebble as it came (method, path, headers, body); calls back with the
// status, headers and whole body of pebble's answer.
function forward(req, body, done) {
  const out = https.request({
    host: upstream.hostname,
    port: upstream.port,
    method: req.method,
    path: req.url,
    headers: req.headers,
    ca: upstreamCa,
  }, (res) => {
    const chunks = [];
    res.on('data', (c) => chunks.push(c));
    res.on('end', () => done(null, res.statusCode, res.headers, Buffer.concat(chunks)));
  });
  out.on('error', (e) => done(e));
  out.end(body);
}

function reply(res, status, headers, body) {
  const h = { ...headers };
  delete h['content-length'];
  delete h['transfer-encoding'];
  h['content-length'] = Buffer.byteLength(body);
  res.writeHead(status, h);
  res.end(body);
}

// {"startIn": S, "endIn": E} -> the window from S to E seconds from now; others as written.
function resolveWindow(body) {
  const w = body && body.suggestedWindow;
  if (!w || w.startIn === undefined) return body;
  const t = (s) => new Date(Date.now() + s * 1000).toISOString();
  return { ...body, suggestedWindow: { start: t(w.startIn), end: t(w.endIn) } };
}

function answerRenewalInfo(req, res) {
  const certId = req.url.slice(renewalInfoPath.length + 1);
  const c = control();
  c.body = resolveWindow(c.body);
  record({ renewalInfo: certId, window: c.body?.suggestedWindow ?? null, at: new Date().toISOString() });
  const headers = { 'content-type': 'application/json' };
  if (c.retryAfter !== null && c.retryAfter !== undefined) headers['retry-after'] = String(c.retryAfter);
  reply(res, c.status || 200, headers, JSON.stringify(c.body ?? {}));
}

function payloadOf(body) {
  try {
    return JSON.parse(Buffer.from(JSON.parse(body.toString()).payload, 'base64url').toString());
  } catch {
    return {};
  }
}

function recordNewOrder(body) {
  try {
    const jws = JSON.parse(body.toString());
    record({ newOrder: JSON.parse(Buffer.from(jws.payload, 'base64url').toString()),
             at: new Date().toISOString() });
  } catch (e) {
    record({ newOrder: null, error: String(e) });
  }
}

// The problem the control object says `what` ("newOrder", "finalize") is refused with, sent
// with a nonce pebble made (the client keeps using the nonce of each answer); false: forward it.
function refuse(what, req, res) {
  const p = control()[what];
  if (!p) return false;
  record({ refused: what, at: Date.now() });
  const nonce = https.request({
    host: upstream.hostname, port: upstream.port, method: 'HEAD', path: '/nonce-plz', ca: upstreamCa,
  }, (n) => {
    n.resume();
    const headers = { 'content-type': 'application/problem+json' };
    if (n.headers['replay-nonce']) headers['replay-nonce'] = n.headers['replay-nonce'];
    if (p.retryAfter !== undefined) headers['retry-after'] = String(p.retryAfter);
    reply(res, p.status, headers, JSON.stringify({
      type: `urn:ietf:params:acme:error:${p.type}`, detail: p.detail, status: p.status,
    }));
  });
  nonce.on('error', (e) => reply(res, 502, { 'content-type': 'text/plain' }, `upstream: ${e.message}\n`));
  nonce.end();
  return true;
}

function handle(req, res, body) {
  if (req.method === 'GET' && req.url.startsWith(`${renewalInfoPath}/`)) {
    answerRenewalInfo(req, res);
    return;
  }
  if (req.method === 'POST' && newOrderPath && req.url === newOrderPath && refuse('newOrder', req, res)) return;
  if (req.method === 'POST' && newAccountPath && req.url === newAccountPath && control().holdNewAccount &&
      !payloadOf(body).onlyReturnExisting) {
    forward(req, body, (err, status, headers, answer) => {
      // Only an account pebble made is held back. A refusal (pebble's badNonce, one in three
      // here) goes to the client, which retries with a fresh nonce: that request is held.
      if (err || !headers.location) {
        if (err) reply(res, 502, { 'content-type': 'text/plain' }, `upstream: ${err.message}\n`);
        else reply(res, status, headers, answer);
        return;
      }
      record({ newAccount: headers.location });
    });
    return;  // no answer: the client is killed while it waits
  }
  if (req.method === 'POST' && req.url.startsWith('/finalize-order/') && refuse('finalize', req, res)) return;
  if (req.method === 'POST' && newOrderPath && req.url === newOrderPath) recordNewOrder(body);
  forward(req, body, (err, status, headers, answer) => {
    if (err) {
      reply(res, 502, { 'content-type': 'text/plain' }, `upstream: ${err.message}\n`);
      return;
    }
    if (req.method === 'GET' && req.url === directoryPath && status === 200) {
      const directory = JSON.parse(answer.toString());
      newOrderPath = new URL(directory.newOrder).pathname;
      newAccountPath = new URL(directory.newAccount).pathname;
      directory.renewalInfo = `https://${req.headers.host}${renewalInfoPath}`;
      directory.meta = { ...(directory.meta || {}), profiles: config.profiles || {} };
      reply(res, status, headers, JSON.stringify(directory));
      return;
    }
    reply(res, status, headers, answer);
  });
}

const server = https.createServer({
  cert: fs.readFileSync(config.cert),
  key: fs.readFileSync(config.key),
}, (req, res) => {
  const chunks = [];
  req.on('data', (c) => chunks.push(c));
  req.on('end', () => handle(req, res, Buffer.concat(chunks)));
});

server.listen(0, '127.0.0.1', () => {
  fs.writeFileSync(config.portFile, `${server.address().port}\n`);
});
