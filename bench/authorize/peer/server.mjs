// Peer identity webhook for the Tollhouse /authorize benchmark (bench/authorize.sh).
//
// `@pymthouse/clearinghouse-identity-webhook` (version pinned in package.json):
// its OIDC verifier (`createOidcVerifier`, jose `jwtVerify`, RS256 only) pointed
// at the Tollhouse issuer under test, and its wire handler
// (`routeWebhookRequest` -> `handleAuthorize`) mounted on a plain
// `node:http` server. The package is framework-agnostic (Web Request/Response);
// this file is the usual adapter, the same shape as the package's own
// reference server: read the body (64 KiB cap), build a Request, write the
// Response back. One process, no cluster, no balance gate (`checkBalance`
// unset): identity only.
//
// Environment:
//   PORT                    listen port on 127.0.0.1 (default 8090)
//   PEER_ISSUER             required: the JWT issuer (Tollhouse: <public url>/api/v1/oidc).
//                           JWKS is found by OIDC discovery at
//                           {issuer}/.well-known/openid-configuration (lazily, on the
//                           first verification) and cached by jose's createRemoteJWKSet.
//   PEER_WEBHOOK_SECRET     required: the caller (go-livepeer) secret; the package accepts
//                           it as `Authorization: Bearer`, `X-Api-Key` or `X-Webhook-Secret`
//   PEER_AUDIENCE           expected `aud` (default: PEER_ISSUER, which is what Tollhouse
//                           user tokens carry)
//   PEER_REQUIRED_SCOPES    space/comma separated (default "sign:job")
//   PEER_CLIENT_CLAIM       claim mapped to identity.client_id (default "client_id";
//                           the package's default is "azp", which Tollhouse tokens lack)
//   PEER_SUBJECT_CLAIM      claim mapped to identity.usage_subject (default
//                           "external_user_id", as Tollhouse's auth_id uses)
//   PEER_SUBJECT_TYPE       identity.usage_subject_type (default "external_user_id")
//
// Routes: POST /authorize (the package's), GET /health -> 200 "ok".

import { createServer } from 'node:http';

import { routeWebhookRequest } from '@pymthouse/clearinghouse-identity-webhook/protocol';
import { createOidcVerifier } from '@pymthouse/clearinghouse-identity-webhook/verifiers';

const HOST = '127.0.0.1';
const PORT = Number.parseInt(process.argv[2] ?? process.env.PORT ?? '8090', 10);
const MAX_BODY_BYTES = 64 * 1024;

function env(name, fallback) {
  const v = process.env[name]?.trim();
  if (v) return v;
  if (fallback === undefined) {
    console.error(`peer: ${name} is required`);
    process.exit(2);
  }
  return fallback;
}

if (!Number.isInteger(PORT) || PORT <= 0 || PORT > 65535) {
  console.error(`peer: bad port ${process.argv[2] ?? process.env.PORT}`);
  process.exit(2);
}

const ISSUER = env('PEER_ISSUER');
const config = {
  webhookSecret: env('PEER_WEBHOOK_SECRET'),
  endUserAuth: createOidcVerifier({
    jwtIssuer: ISSUER,
    jwtAudience: env('PEER_AUDIENCE', ISSUER),
    issuer: ISSUER,
    clientClaim: env('PEER_CLIENT_CLAIM', 'client_id'),
    subjectClaim: env('PEER_SUBJECT_CLAIM', 'external_user_id'),
    subjectTypeValue: env('PEER_SUBJECT_TYPE', 'external_user_id'),
    requiredScopes: env('PEER_REQUIRED_SCOPES', 'sign:job').split(/[\s,]+/).filter(Boolean),
  }),
};

class TooLarge extends Error {}

function readBody(req) {
  return new Promise((resolve, reject) => {
    const chunks = [];
    let total = 0;
    req.on('data', (chunk) => {
      total += chunk.length;
      if (total > MAX_BODY_BYTES) {
        reject(new TooLarge());
        req.destroy();
        return;
      }
      chunks.push(chunk);
    });
    req.on('end', () => resolve(Buffer.concat(chunks)));
    req.on('error', reject);
  });
}

async function handle(req, res) {
  if (req.method === 'GET' && req.url === '/health') {
    res.writeHead(200, { 'content-type': 'text/plain' });
    res.end('ok');
    return;
  }

  let body;
  if (req.method !== 'GET' && req.method !== 'HEAD') {
    try {
      body = await readBody(req);
    } catch (err) {
      if (err instanceof TooLarge) {
        res.writeHead(413, { 'content-type': 'text/plain', connection: 'close' });
        res.end('payload too large');
        return;
      }
      throw err;
    }
  }

  const headers = new Headers();
  for (const [name, value] of Object.entries(req.headers)) {
    if (value !== undefined) headers.set(name, Array.isArray(value) ? value.join(', ') : value);
  }
  const request = new Request(new URL(req.url, `http://${HOST}:${PORT}`), {
    method: req.method,
    headers,
    body: body?.length ? body : undefined,
  });

  const response = await routeWebhookRequest(request, config);
  if (!response) {
    res.writeHead(404);
    res.end();
    return;
  }
  res.writeHead(response.status, Object.fromEntries(response.headers));
  res.end(await response.text());
}

const server = createServer((req, res) => {
  handle(req, res).catch((err) => {
    console.error('peer: internal error:', err);
    if (!res.headersSent) res.writeHead(500, { 'content-type': 'text/plain' });
    res.end('internal error');
  });
});
server.keepAliveTimeout = 65_000;
server.listen(PORT, HOST, () => {
  console.log(`peer identity webhook listening on http://${HOST}:${PORT}/authorize (issuer ${ISSUER})`);
});

for (const sig of ['SIGTERM', 'SIGINT']) {
  process.on(sig, () => server.close(() => process.exit(0)));
}
