// An EST server (RFC 7030, as updated by RFC 8951) for the integration tests, on node's TLS stack
// and signing with the openssl CLI. It serves /cacerts, /simpleenroll, /simplereenroll,
// /serverkeygen and /csrattrs under /.well-known/est[/<label>]/, checks the TLS client certificate against the
// client CA, refuses a re-enrollment whose subject or SANs differ from that certificate
// (§4.2.2), and records what it saw in each request (operation, client certificate serial, auth).
// It behaves like the servers in the field on request: the first line of `modeFile` names how.
//
//   good        base64 in one line with Content-Transfer-Encoding (RFC 7030)
//   lines       base64 with a CRLF every 64 characters
//   nocte       no Content-Transfer-Encoding header (RFC 8951)
//   der         raw DER bodies (sloppy servers)
//   pkcs1       /serverkeygen sends an RSA key as PKCS#1 under the application/pkcs8 label
//   pending2    202 + Retry-After: 1 twice for each subject before issuing
//   pending-first   as pending2, but the approval is for the CSR first seen: a request with
//               another public key is a new one and waits afresh (servers that tie manual
//               approval to the first request, RFC 7030 §4.2.3 "the same request")
//   basic       /simpleenroll without a known client certificate gets 401 + WWW-Authenticate:
//               Basic and needs the configured user and password
//   500 hang truncated otherroot otherkey   failures that the client must refuse (500 also
//               for /cacerts)
//   rollover    /cacerts names the root, a new root and the new root cross-signed by the old
//   unrelated   /cacerts names the root and an unrelated one
//   newroot     after a rollover: /cacerts names the new root only, which also signs
//   tlsunique   a CSR is refused (400, saying why) unless its challengePassword is the base64
//               of the connection's tls-unique (RFC 7030 §3.5, RFC 5929 §3.1: the first
//               Finished of the latest handshake, the client's unless the session was
//               resumed); TLS 1.3, which has none, is refused too. Records tlsunique=match or
//               tlsunique=refused with each request.
//   csrattrs    /csrattrs asks for an EC P-384 key, an extensionRequest naming subjectAltName
//               and macAddress (1.3.6.1.1.1.1.22, which certrotd cannot add) and a
//               challengePassword; in the other modes it answers 204 ("nothing asked")
//
// Each enrollment's line names the type of the CSR's key (key=ec-P-384, key=rsa-3072, ...).
// usage: node est_server.mjs CONFIG.json
//   { "portFile", "cert", "key", "clientCa", "caCert", "caKey", "rogueCert", "rogueKey",
//     "otherPub", "user", "password", "modeFile", "eventsFile", "workDir",
//     "newRoot", "newWithOld" (for rollover), "newRootKey" (for newroot) }
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as https from 'node:https';
import * as path from 'node:path';

const config = JSON.parse(fs.readFileSync(process.argv[2], 'utf8'));
const pending = new Map();  // subject -> { seen: 202 answers given, pub: the CSR's key }
const maxBody = 64 * 1024;
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

function openssl(args, input) {
  return execFileSync('openssl', args, { input, stdio: ['pipe', 'pipe', 'pipe'] });
}

function tmpdir() {
  return fs.mkdtempSync(path.join(config.workDir, 'est-'));
}

// The DER of the csrattrs mode's /csrattrs answer (RFC 7030 §4.5.2, RFC 9908), built once.
let csrattrsDer;
function csrattrs() {
  if (!csrattrsDer) {
    const dir = tmpdir();
    const conf = path.join(dir, 'attrs.cnf');
    fs.writeFileSync(conf, [
      'asn1 = SEQUENCE:attrs', '[attrs]', 'key = SEQUENCE:key', 'ext = SEQUENCE:ext',
      'pw = OID:challengePassword', '[key]', 'type = OID:id-ecPublicKey',
      'curve = SETWRAP,OID:secp384r1', '[ext]', 'type = OID:extReq', 'values = SET:oids',
      '[oids]', 'san = OID:subjectAltName', 'mac = OID:1.3.6.1.1.1.1.22', ''].join('\n'));
    const out = path.join(dir, 'attrs.der');
    openssl(['asn1parse', '-genconf', conf, '-noout', '-out', out]);
    csrattrsDer = fs.readFileSync(out);
    fs.rmSync(dir, { recursive: true, force: true });
  }
  return csrattrsDer;
}

// The type of a CSR's key: "ec-P-384", "rsa-3072", "ed25519".
function csrKey(csrPem) {
  const text = openssl(['req', '-noout', '-text'], csrPem).toString();
  const curve = /NIST CURVE: (\S+)/.exec(text);
  if (curve) return `ec-${curve[1]}`;
  const bits = /Public-Key: \((\d+) bit\)/.exec(text);
  if (/rsaEncryption/.test(text) && bits) return `rsa-${bits[1]}`;
  return /ED25519/i.test(text) ? 'ed25519' : 'unknown';
}

// The body of an answer in the encoding the mode asks for.
function encode(der, m) {
  if (m === 'der') return der;
  const b64 = der.toString('base64');
  if (m !== 'lines') return b64;
  return `${b64.match(/.{1,64}/g).join('\r\n')}\r\n`;
}

function headersFor(type, m) {
  const h = { 'content-type': type };
  if (m !== 'nocte' && m !== 'der') h['content-transfer-encoding'] = 'base64';
  return h;
}

// A certs-only PKCS#7 (DER) of the PEM files given.
function certsOnly(...files) {
  const args = ['crl2pkcs7', '-nocrl', '-outform', 'DER'];
  for (const f of files) args.push('-certfile', f);
  return openssl(args);
}

// The CSR's subject (RFC 2253) and its SANs, sorted, as "DNS:a,IP:1.2.3.4".
function csrNames(csrPem) {
  const subject = openssl(['req', '-noout', '-subject', '-nameopt', 'RFC2253'], csrPem)
    .toString().replace(/^subject=\s*/, '').trim();
  const text = openssl(['req', '-noout', '-text'], csrPem).toString();
  const m = /X509v3 Subject Alternative Name:[^\n]*\n\s*([^\n]*)/.exec(text);
  const sans = m ? m[1].split(',').map((s) => s.trim().replace('IP Address:', 'IP:')).sort().join(',') : '';
  return { subject, sans };
}

function peerNames(cert) {
  const pem = `-----BEGIN CERTIFICATE-----\n${cert.raw.toString('base64')}\n-----END CERTIFICATE-----\n`;
  const subject = openssl(['x509', '-noout', '-subject', '-nameopt', 'RFC2253'], pem)
    .toString().replace(/^subject=\s*/, '').trim();
  const sans = (cert.subjectaltname || '').split(',').map((s) => s.trim().replace('IP Address:', 'IP:'))
    .filter((s) => s).sort().join(',');
  return { subject, sans };
}

// Signs the CSR (PEM) with the CA; `pub` replaces its key (serverkeygen, otherkey).
function sign(dir, csrPem, variant, pub) {
  serial += 1;
  const csr = path.join(dir, 'req.csr');
  const out = path.join(dir, 'leaf.pem');
  fs.writeFileSync(csr, csrPem);
  const signer = { otherroot: [config.rogueCert, config.rogueKey],
    newroot: [config.newRoot, config.newRootKey] }[variant] || [config.caCert, config.caKey];
  const args = ['x509', '-req', '-in', csr, '-out', out, '-days', '1', '-copy_extensions', 'copyall',
    '-set_serial', String(Date.now() * 100 + serial), '-CA', signer[0], '-CAkey', signer[1]];
  if (pub) args.push('-force_pubkey', pub);
  openssl(args);
  return out;
}

// A key of the type the CSR's key has (the throwaway key says what the client wants).
function serverKey(dir, csrPem, m) {
  const text = openssl(['req', '-noout', '-text'], csrPem).toString();
  const rsa = /Public Key Algorithm: rsaEncryption/.test(text);
  const bits = /Public-Key: \((\d+) bit\)/.exec(text);
  const key = path.join(dir, 'server.key');
  if (rsa) {
    openssl(['genpkey', '-algorithm', 'RSA', '-pkeyopt', `rsa_keygen_bits:${bits ? bits[1] : 2048}`, '-out', key]);
  } else {
    openssl(['genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256', '-out', key]);
  }
  const pub = path.join(dir, 'server.pub');
  openssl(['pkey', '-in', key, '-pubout', '-out', pub]);
  const der = m === 'pkcs1' && rsa
    ? openssl(['pkey', '-in', key, '-outform', 'DER', '-traditional'])
    : openssl(['pkcs8', '-topk8', '-nocrypt', '-in', key, '-outform', 'DER']);
  return { pub, der };
}

// The CSR's challengePassword, or undefined.
function challengePassword(csrPem) {
  const m = /challengePassword\s*:(\S*)/.exec(openssl(['req', '-noout', '-text'], csrPem).toString());
  return m ? m[1] : undefined;
}

// Why the CSR is not linked to the connection that carries it; undefined when it is.
function notLinked(req, csrPem) {
  const socket = req.socket;
  const password = challengePassword(csrPem);
  if (password === undefined) {
    return 'the CSR has no challengePassword, and this server links CSRs to the TLS connection (RFC 7030 section 3.5)';
  }
  if (socket.getProtocol() !== 'TLSv1.2') {
    return `tls-unique needs TLS 1.2, and this connection is ${socket.getProtocol()}`;
  }
  const finished = socket.isSessionReused() ? socket.getFinished() : socket.getPeerFinished();
  if (!finished || password !== finished.toString('base64')) {
    return 'the challengePassword of the CSR is not the tls-unique value of this TLS connection';
  }
  return undefined;
}

function text(res, status, body, headers = {}) {
  res.writeHead(status, { 'content-type': 'text/plain', ...headers });
  res.end(body);
}

function basicOk(req) {
  const m = /^Basic (.+)$/.exec(req.headers.authorization || '');
  if (!m) return false;
  return Buffer.from(m[1], 'base64').toString() === `${config.user}:${config.password}`;
}

async function readBody(req) {
  const chunks = [];
  let size = 0;
  for await (const c of req) {
    size += c.length;
    if (size > maxBody) throw new Error('request too large');
    chunks.push(c);
  }
  return Buffer.concat(chunks).toString();
}

// Misbehaviours that replace the whole answer; true when one was given.
function failure(res, m) {
  switch (m) {
    case '500':
      text(res, 500, 'induced failure: the CA is unavailable\n', { 'retry-after': '1' });
      return true;
    case 'hang':
      return true;  // never answers; the client's timeout must fire
    case 'truncated':
      res.writeHead(200, { 'content-type': 'application/pkcs7-mime', 'content-length': '4000' });
      res.write('MIIDOAYJKoZIhvcNAQcCoIIDKTCCAyUCAQExADALBgkqhkiG9w0BBwGgggMLMIID');
      setTimeout(() => res.socket.destroy(), 50);
      return true;
    default:
      return false;
  }
}

async function enroll(req, res, op, m) {
  const peer = req.socket.getPeerCertificate();
  const authorized = req.socket.authorized && peer && peer.raw;
  const body = await readBody(req);
  let auth = authorized ? 'cert' : 'none';
  if (!authorized) {
    if (op === 'simplereenroll') {
      text(res, 403, 'simplereenroll needs the certificate being renewed\n');
      return;
    }
    if (!basicOk(req)) {
      record(`op=${op} peer=- auth=none status=401`);
      text(res, 401, 'authentication required\n', { 'www-authenticate': 'Basic realm="est"' });
      return;
    }
    auth = 'basic';
  }
  const peerSerial = authorized ? peer.serialNumber.toLowerCase().replace(/^0+/, '') : '-';
  const csrPem = `-----BEGIN CERTIFICATE REQUEST-----\n${body.replace(/\s+/g, '')}\n-----END CERTIFICATE REQUEST-----\n`;
  record(`op=${op} peer=${peerSerial} auth=${auth} mode=${m} key=${csrKey(csrPem)}`);
  const names = csrNames(csrPem);
  if (m === 'tlsunique') {
    const why = notLinked(req, csrPem);
    record(`op=${op} tlsunique=${why ? 'refused' : 'match'} reused=${req.socket.isSessionReused()}`);
    if (why) {
      text(res, 400, `${why}\n`);
      return;
    }
  }
  if (op === 'simplereenroll') {
    const now = peerNames(peer);
    if (now.subject !== names.subject || now.sans !== names.sans) {
      text(res, 400, `re-enrollment must keep subject and SANs (${now.subject} ${now.sans})\n`);
      return;
    }
  }
  if (m === 'pending2' || m === 'pending-first') {
    // The CSR's public key and a digest of the whole CSR, which the test compares.
    const pub = m === 'pending-first' ? openssl(['req', '-noout', '-pubkey'], csrPem).toString() : '';
    const csr = createHash('sha256').update(body.replace(/\s+/g, '')).digest('hex').slice(0, 16);
    let entry = pending.get(names.subject);
    if (entry && entry.pub !== pub) {
      record(`op=${op} newkey subject=${names.subject}`);
      entry = undefined;
    }
    entry = entry || { seen: 0, pub };
    if (entry.seen < 2) {
      entry.seen += 1;
      pending.set(names.subject, entry);
      record(`op=${op} status=202 subject=${names.subject} csr=${csr}`);
      res.writeHead(202, { 'retry-after': '1', 'content-type': 'text/plain' });
      res.end('waiting for approval\n');
      return;
    }
    record(`op=${op} approved subject=${names.subject} csr=${csr}`);
    pending.delete(names.subject);
  }
  if (failure(res, m)) return;
  const dir = tmpdir();
  try {
    const variant = ['otherroot', 'otherkey', 'newroot'].includes(m) ? m : 'good';
    if (op === 'serverkeygen') {
      const key = serverKey(dir, csrPem, m);
      const leaf = sign(dir, csrPem, variant, key.pub);
      const boundary = 'estBoundary42';
      const keyPart = `--${boundary}\r\nContent-Type: application/pkcs8\r\n`
        + `Content-Transfer-Encoding: base64\r\n\r\n${encode(key.der, 'lines')}\r\n`;
      const certPart = `--${boundary}\r\nContent-Type: application/pkcs7-mime; smime-type=certs-only\r\n`
        + `Content-Transfer-Encoding: base64\r\n\r\n${encode(certsOnly(leaf, config.caCert), 'lines')}\r\n`;
      res.writeHead(200, { 'content-type': `multipart/mixed; boundary=${boundary}` });
      res.end(`${certPart}${keyPart}--${boundary}--\r\n`);
      return;
    }
    const leaf = sign(dir, csrPem, variant, variant === 'otherkey' ? config.otherPub : undefined);
    res.writeHead(200, headersFor('application/pkcs7-mime; smime-type=certs-only', m));
    res.end(encode(certsOnly(m === 'newroot' ? config.newRoot : config.caCert, leaf), m));
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

async function handle(req, res) {
  const m = mode();
  const match = /^\/\.well-known\/est(?:\/([^/]+))?\/(cacerts|simpleenroll|simplereenroll|serverkeygen|csrattrs)$/
    .exec(req.url);
  if (!match) {
    text(res, 404, 'no such EST operation\n');
    return;
  }
  const op = match[2];
  if (op === 'cacerts' && req.method === 'GET') {
    // Failed answers are recorded too: a test counts the retries of a failing refresh.
    record(`op=cacerts mode=${m}`);
    if (m === '500' && failure(res, m)) return;
    // rollover: the old root, the new one and NewWithOld (RFC 7030 §4.1.3); unrelated: a root
    // nobody vouches for next to the real one.
    const certs = { rollover: [config.caCert, config.newRoot, config.newWithOld],
      unrelated: [config.caCert, config.rogueCert], newroot: [config.newRoot] }[m] || [config.caCert];
    res.writeHead(200, headersFor('application/pkcs7-mime', m));
    res.end(encode(certsOnly(...certs), m));
    return;
  }
  if (op === 'csrattrs' && req.method === 'GET') {
    record(`op=csrattrs mode=${m}`);
    if (m !== 'csrattrs') {
      res.writeHead(204);
      res.end();
      return;
    }
    res.writeHead(200, headersFor('application/csrattrs', 'lines'));
    res.end(encode(csrattrs(), 'lines'));
    return;
  }
  if (req.method !== 'POST' || op === 'cacerts' || op === 'csrattrs') {
    text(res, 405, 'method not allowed\n');
    return;
  }
  await enroll(req, res, op, m);
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
    if (!res.headersSent) text(res, 500, 'internal error\n');
  });
});

server.listen(0, '127.0.0.1', () => {
  fs.writeFileSync(`${config.portFile}.tmp`, String(server.address().port));
  fs.renameSync(`${config.portFile}.tmp`, config.portFile);
  console.error(`EST server listening on ${server.address().port}`);
});

for (const signal of ['SIGTERM', 'SIGINT']) process.on(signal, () => process.exit(0));
