// A small certificate issuance service for the integration tests. It accepts only access tokens
// the oidc-provider issued (checked with its introspection endpoint), checks a bound token's
// cnf x5t#S256 against the TLS client certificate (RFC 8705 §3), and signs the CSR with the test
// CA through the openssl CLI. It misbehaves on request: the first line of `modeFile` names the
// answer to give.
//
// usage: node issuance.mjs CONFIG.json
//   { "portFile", "cert", "key", "clientCa", "caCert", "caKey", "rogueCert", "rogueKey",
//     "otherPub", "authIssuer", "authCa", "audience",
//     "modeFile", "eventsFile", "workDir" }
import { execFileSync } from 'node:child_process';
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as https from 'node:https';
import * as path from 'node:path';

const config = JSON.parse(fs.readFileSync(process.argv[2], 'utf8'));
let serial = 0;

function record(line) {
  fs.appendFileSync(config.eventsFile, `${line}\n`);
}

function mode() {
  try {
    return fs.readFileSync(config.modeFile, 'utf8').split('\n')[0].trim() || 'good';
  } catch {
    return 'good';
  }
}

function fetchJson(url) {
  return new Promise((resolve, reject) => {
    https.get(url, { ca: fs.readFileSync(config.authCa) }, (res) => {
      let data = '';
      res.on('data', (c) => { data += c; });
      res.on('end', () => {
        try { resolve(JSON.parse(data)); } catch (e) { reject(e); }
      });
    }).on('error', reject);
  });
}

// Verifies an ES256 JWT access token with the authorization server's JWKS; returns its claims or
// null. Checks signature, issuer, audience and expiry.
async function verifyToken(token) {
  const [head, body, sig] = token.split('.');
  if (!sig) return null;
  const header = JSON.parse(Buffer.from(head, 'base64url').toString());
  const { keys } = await fetchJson(`${config.authIssuer}/jwks`);
  const jwk = keys.find((k) => k.kid === header.kid);
  if (!jwk || header.alg !== 'ES256') return null;
  const key = crypto.createPublicKey({ key: jwk, format: 'jwk' });
  const ok = crypto.verify('sha256', Buffer.from(`${head}.${body}`), { key, dsaEncoding: 'ieee-p1363' },
    Buffer.from(sig, 'base64url'));
  if (!ok) return null;
  const claims = JSON.parse(Buffer.from(body, 'base64url').toString());
  const aud = Array.isArray(claims.aud) ? claims.aud : [claims.aud];
  if (claims.iss !== config.authIssuer || !aud.includes(config.audience)) return null;
  if (!(claims.exp > Date.now() / 1000)) return null;
  return claims;
}

// Signs `csrPem` with the CA (or the rogue CA); `variant` changes names, dates or key.
function sign(csrPem, variant) {
  serial += 1;
  const dir = fs.mkdtempSync(path.join(config.workDir, 'sign-'));
  const csr = path.join(dir, 'req.csr');
  fs.writeFileSync(csr, csrPem);
  const args = ['x509', '-req', '-in', csr, '-set_serial', String(Date.now() * 100 + serial),
    '-days', variant === 'expired' ? '0' : '1'];
  const rogue = variant === 'unknownroot';
  args.push('-CA', rogue ? config.rogueCert : config.caCert, '-CAkey', rogue ? config.rogueKey : config.caKey);
  if (variant === 'othername') {
    const ext = path.join(dir, 'ext.cnf');
    fs.writeFileSync(ext, 'subjectAltName=DNS:someone-else.test.internal\n'
      + 'extendedKeyUsage=serverAuth,clientAuth\nbasicConstraints=CA:FALSE\n');
    args.push('-extfile', ext);
  } else {
    args.push('-copy_extensions', 'copyall');
  }
  if (variant === 'otherkey') args.push('-force_pubkey', config.otherPub);
  const cert = execFileSync('openssl', args, { stdio: ['ignore', 'pipe', 'pipe'] }).toString();
  fs.rmSync(dir, { recursive: true, force: true });
  return cert;
}

function send(res, status, body, headers = {}) {
  res.writeHead(status, { 'content-type': 'application/json', ...headers });
  res.end(typeof body === 'string' ? body : JSON.stringify(body));
}

async function handle(req, res) {
  const chunks = [];
  for await (const c of req) chunks.push(c);
  const bearer = /^Bearer (.+)$/.exec(req.headers.authorization || '');
  if (req.method !== 'POST' || !bearer) {
    send(res, 401, { error: 'invalid_token', error_description: 'no bearer token' });
    return;
  }
  const info = await verifyToken(bearer[1]);
  if (!info) {
    send(res, 401, { error: 'invalid_token', error_description: 'token not active' });
    return;
  }
  const peer = req.socket.getPeerCertificate();
  const peerX5t = peer && peer.raw
    ? crypto.createHash('sha256').update(peer.raw).digest('base64url') : '';
  const cnf = info.cnf && info.cnf['x5t#S256'];
  record(`client=${info.client_id} cnf=${cnf || '-'} peer=${peerX5t || '-'}`);
  if (cnf && cnf !== peerX5t) {
    send(res, 401, { error: 'invalid_token', error_description: 'token bound to another certificate' });
    return;
  }
  const m = mode();
  record(`mode=${m}`);
  const { csr } = JSON.parse(Buffer.concat(chunks).toString());
  switch (m) {
    case '500':
      send(res, 500, { error: 'server_error', error_description: 'induced failure' }, { 'retry-after': '1' });
      return;
    case 'hang':
      return;  // never answers; the client's timeout must fire
    case 'truncated':
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': '4000' });
      res.write('{"certificate": "-----BEGIN CERTIFICATE-----\\nMIIB');
      setTimeout(() => res.socket.destroy(), 50);
      return;
    case 'nonjson':
      res.writeHead(200, { 'content-type': 'text/html' });
      res.end('<html><body>Gateway says hello</body></html>');
      return;
    case 'pem': {
      res.writeHead(200, { 'content-type': 'application/pem-certificate-chain' });
      res.end(sign(csr, 'good'));
      return;
    }
    case 'othername':
    case 'expired':
    case 'unknownroot':
    case 'otherkey':
      send(res, 200, { certificate: sign(csr, m) });
      return;
    default: {
      // SAP-style one-line PEM: literal backslash-n instead of line breaks.
      const cert = sign(csr, 'good');
      send(res, 200, { certificate: cert.replace(/\n/g, '\\n'), chain: [] });
    }
  }
}

const server = https.createServer({
  cert: fs.readFileSync(config.cert),
  key: fs.readFileSync(config.key),
  ca: fs.readFileSync(config.clientCa),
  requestCert: true,
  rejectUnauthorized: false,
  minVersion: 'TLSv1.2',
}, (req, res) => {
  handle(req, res).catch((e) => {
    console.error(e);
    if (!res.headersSent) send(res, 500, { error: 'server_error' });
  });
});

server.listen(0, '127.0.0.1', () => {
  fs.writeFileSync(`${config.portFile}.tmp`, String(server.address().port));
  fs.renameSync(`${config.portFile}.tmp`, config.portFile);
  console.error(`issuance service listening on ${server.address().port}`);
});

for (const signal of ['SIGTERM', 'SIGINT']) process.on(signal, () => process.exit(0));
