// Peer issuer for the Tollhouse token-issuance benchmark (bench/token.sh).
//
// node's `oidc-provider` with its default in-memory adapter, one confidential
// client allowed only the client_credentials grant, and client-credentials
// access tokens issued as signed JWTs (RS256, or ES256 with PEER_ALG=ES256)
// for a default resource server. Single process, no clustering: the stock way
// the library is deployed, and the same one-process shape as `tollhouse serve`.
//
// Environment:
//   PORT                  listen port on 127.0.0.1 (default 3000)
//   PEER_ALG              RS256 (default) or ES256
//   PEER_CLIENT_ID        client_id (default bench-peer)
//   PEER_CLIENT_SECRET    client_secret (default bench-peer-secret)
//   PEER_SCOPE            space-separated scopes the resource server accepts
//                         (default "users:read")
//   PEER_RESOURCE         resource indicator / JWT aud
//                         (default https://api.bench.invalid)
//
// Token endpoint: POST http://127.0.0.1:$PORT/token (client_secret_basic).
// Readiness:      GET  http://127.0.0.1:$PORT/.well-known/openid-configuration

import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { createServer } from 'node:http';

import Provider from 'oidc-provider';

const PORT = Number.parseInt(process.env.PORT ?? '3000', 10);
const HOST = '127.0.0.1';
const ALG = (process.env.PEER_ALG ?? 'RS256').toUpperCase();
const CLIENT_ID = process.env.PEER_CLIENT_ID ?? 'bench-peer';
const CLIENT_SECRET = process.env.PEER_CLIENT_SECRET ?? 'bench-peer-secret';
const SCOPE = process.env.PEER_SCOPE ?? 'users:read';
const RESOURCE = process.env.PEER_RESOURCE ?? 'https://api.bench.invalid';

if (!['RS256', 'ES256'].includes(ALG)) {
  console.error(`peer: PEER_ALG must be RS256 or ES256, got ${ALG}`);
  process.exit(2);
}
if (!Number.isInteger(PORT) || PORT <= 0 || PORT > 65535) {
  console.error(`peer: bad PORT ${process.env.PORT}`);
  process.exit(2);
}

// Fresh signing keys per start, exported as private JWKs. Both are in the
// keystore (as a real deployment would publish both); the resource server
// config picks which one signs access tokens.
function jwk(type, options, alg, kid) {
  const { privateKey } = generateKeyPairSync(type, options);
  return { ...privateKey.export({ format: 'jwk' }), alg, use: 'sig', kid };
}
const keys = [
  jwk('rsa', { modulusLength: 2048 }, 'RS256', 'bench-rs256'),
  jwk('ec', { namedCurve: 'P-256' }, 'ES256', 'bench-es256'),
];
// The signing key of the benchmarked alg goes first.
keys.sort((a, b) => (a.alg === ALG ? -1 : b.alg === ALG ? 1 : 0));

const issuer = `http://${HOST}:${PORT}`;

const configuration = {
  // Default in-memory adapter (no `adapter` given).
  clients: [
    {
      client_id: CLIENT_ID,
      client_secret: CLIENT_SECRET,
      grant_types: ['client_credentials'],
      response_types: [],
      redirect_uris: [],
      token_endpoint_auth_method: 'client_secret_basic',
      scope: SCOPE,
    },
  ],
  clientAuthMethods: ['client_secret_basic'],
  jwks: { keys },
  cookies: { keys: [randomBytes(32).toString('base64url')] },
  scopes: ['openid', ...SCOPE.split(' ')],
  features: {
    devInteractions: { enabled: false },
    clientCredentials: { enabled: true },
    introspection: { enabled: false },
    revocation: { enabled: false },
    resourceIndicators: {
      enabled: true,
      // No `resource` parameter in the request: use the bench resource.
      defaultResource: async () => RESOURCE,
      useGrantedResource: async () => true,
      getResourceServerInfo: async (_ctx, resourceIndicator) => {
        if (resourceIndicator !== RESOURCE) {
          // Unknown resource -> invalid_target
          throw new Provider.errors.InvalidTarget();
        }
        return {
          scope: SCOPE,
          audience: RESOURCE,
          accessTokenTTL: 3600,
          accessTokenFormat: 'jwt',
          jwt: { sign: { alg: ALG } },
        };
      },
    },
  },
  ttl: {
    ClientCredentials: 3600,
    AccessToken: 3600,
  },
  // Never reached by client_credentials; defined so the provider does not
  // warn about the default.
  findAccount: async () => undefined,
};

const provider = new Provider(issuer, configuration);
provider.proxy = false;

// oidc-provider emits events instead of logging; only report real faults,
// and only once per kind, so a broken run is visible without per-request logs.
const seen = new Set();
provider.on('server_error', (_ctx, err) => {
  const key = err?.message ?? String(err);
  if (!seen.has(key)) {
    seen.add(key);
    console.error('peer: server_error:', err);
  }
});

const server = createServer(provider.callback());
server.keepAliveTimeout = 65_000;
server.listen(PORT, HOST, () => {
  console.log(`peer: oidc-provider listening on ${issuer} alg=${ALG} token=${issuer}/token`);
});

function shutdown() {
  server.close(() => process.exit(0));
  setTimeout(() => process.exit(0), 1000).unref();
}
process.on('SIGTERM', shutdown);
process.on('SIGINT', shutdown);
