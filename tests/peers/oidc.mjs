// An OAuth 2.0 authorization server for the integration tests: panva's oidc-provider with the
// RFC 8705 mTLS feature (tls_client_auth, certificate-bound access tokens) and client_secret_basic
// clients. Listens on 127.0.0.1, on a port chosen by the kernel, written to `portFile`.
//
// usage: node oidc.mjs CONFIG.json
//   { "portFile", "cert", "key", "clientCa", "resource",
//     "clients": [ oidc-provider client metadata ... ],
//     "accessTokenFormat": "jwt" (default) or "opaque" (only introspection tells what it is) }
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as https from 'node:https';

import Provider from 'oidc-provider';

const config = JSON.parse(fs.readFileSync(process.argv[2], 'utf8'));

const server = https.createServer({
  cert: fs.readFileSync(config.cert),
  key: fs.readFileSync(config.key),
  ca: fs.readFileSync(config.clientCa),
  requestCert: true,          // ask for a client certificate ...
  rejectUnauthorized: false,  // ... and let the provider decide (invalid_client)
  minVersion: 'TLSv1.2',
});

server.listen(0, '127.0.0.1', () => {
  const { port } = server.address();
  const { privateKey } = crypto.generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const jwk = { ...privateKey.export({ format: 'jwk' }), use: 'sig', alg: 'ES256', kid: 'k1' };

  const provider = new Provider(`https://127.0.0.1:${port}`, {
    // Only an ES256 key is configured, so every client must use it for ID tokens (unused here).
    clients: config.clients.map((c) => ({ id_token_signed_response_alg: "ES256", ...c })),
    jwks: { keys: [jwk] },
    scopes: ['certs:issue'],
    clientAuthMethods: ['client_secret_basic', 'client_secret_post', 'tls_client_auth'],
    features: {
      devInteractions: { enabled: false },
      clientCredentials: { enabled: true },
      introspection: { enabled: true },
      mTLS: {
        enabled: true,
        certificateBoundAccessTokens: true,
        tlsClientAuth: true,
        getCertificate(ctx) {
          const peer = ctx.socket.getPeerCertificate();
          return peer && peer.raw ? new crypto.X509Certificate(peer.raw) : undefined;
        },
        certificateAuthorized(ctx) {
          return ctx.socket.authorized;
        },
        certificateSubjectMatches(ctx, property, expected) {
          const cert = new crypto.X509Certificate(ctx.socket.getPeerCertificate().raw);
          const sans = (cert.subjectAltName || '').split(', ');
          if (property === 'tls_client_auth_san_dns') return sans.includes(`DNS:${expected}`);
          return false;
        },
      },
      resourceIndicators: {
        enabled: true,
        defaultResource: () => config.resource,
        useGrantedResource: () => true,
        getResourceServerInfo: () => ({
          scope: 'certs:issue',
          accessTokenFormat: config.accessTokenFormat || 'jwt',
          accessTokenTTL: 300,
          jwt: { sign: { alg: 'ES256' } },
        }),
      },
    },
  });
  provider.on('server_error', (ctx, err) => console.error('server_error', err));
  provider.on('grant.error', (ctx, err) => console.error('grant.error', err.message, err.error_description || ''));
  server.on('request', provider.callback());
  fs.writeFileSync(`${config.portFile}.tmp`, String(port));
  fs.renameSync(`${config.portFile}.tmp`, config.portFile);
  console.error(`oidc-provider listening on https://127.0.0.1:${port}`);
});

for (const signal of ['SIGTERM', 'SIGINT']) process.on(signal, () => process.exit(0));
