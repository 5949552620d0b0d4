// OIDC issuer core: wire-compatibility checks against a running Tollhouse.
//
// Required environment (the tests FAIL, never skip, when it is missing):
//   TOLLHOUSE_ISSUER             e.g. http://127.0.0.1:8080/api/v1/oidc
//   TOLLHOUSE_PUBLIC_CLIENT_ID   app_<24 hex>
//   TOLLHOUSE_M2M_CLIENT_ID      m2m_<24 hex>
//   TOLLHOUSE_M2M_CLIENT_SECRET  pmth_cs_<64 hex>
//
// Run: npm test   (from compat/)
import { test } from "node:test";
import assert from "node:assert/strict";
import * as oauth from "oauth4webapi";
import { PmtHouseClient, PmtHouseError } from "@pymthouse/builder-sdk";
import { verifyJwt } from "@pymthouse/builder-sdk/verify";

const ENV_HELP =
  "Start a Tollhouse server and export TOLLHOUSE_ISSUER (e.g. http://127.0.0.1:PORT/api/v1/oidc), " +
  "TOLLHOUSE_PUBLIC_CLIENT_ID (app_<24hex>), TOLLHOUSE_M2M_CLIENT_ID (m2m_<24hex>) and " +
  "TOLLHOUSE_M2M_CLIENT_SECRET (pmth_cs_<64hex>) before running these tests.";

const ENV_SPEC = {
  TOLLHOUSE_ISSUER: /^https?:\/\/\S+$/,
  TOLLHOUSE_PUBLIC_CLIENT_ID: /^app_[0-9a-f]{24}$/,
  TOLLHOUSE_M2M_CLIENT_ID: /^m2m_[0-9a-f]{24}$/,
  TOLLHOUSE_M2M_CLIENT_SECRET: /^pmth_cs_[0-9a-f]{64}$/,
};

/** Read and validate the environment; throws (fails the calling test) with a clear message. */
function env() {
  const problems = [];
  const out = {};
  for (const [name, re] of Object.entries(ENV_SPEC)) {
    const raw = process.env[name]?.trim();
    if (!raw) {
      problems.push(`${name} is not set`);
    } else if (!re.test(raw)) {
      problems.push(`${name}=${JSON.stringify(raw)} does not match ${re}`);
    } else {
      out[name] = raw;
    }
  }
  if (problems.length) {
    assert.fail(`Tollhouse OIDC compat tests cannot run: ${problems.join("; ")}. ${ENV_HELP}`);
  }
  // Same normalisation as the SDK (stripTrailingSlashes).
  const issuer = out.TOLLHOUSE_ISSUER.replace(/\/+$/, "");
  const insecure = issuer.startsWith("http:");
  return {
    issuer,
    insecure,
    publicClientId: out.TOLLHOUSE_PUBLIC_CLIENT_ID,
    m2mClientId: out.TOLLHOUSE_M2M_CLIENT_ID,
    m2mClientSecret: out.TOLLHOUSE_M2M_CLIENT_SECRET,
    // oauth4webapi refuses plain http unless allowInsecureRequests is set.
    httpOpts: insecure ? { [oauth.allowInsecureRequests]: true } : {},
  };
}

function decodeJwtHeader(jwt) {
  const parts = jwt.split(".");
  assert.equal(parts.length, 3, "access token must be a compact JWS (3 parts)");
  return JSON.parse(Buffer.from(parts[0], "base64url").toString("utf8"));
}

function scopeSet(scope) {
  return new Set(String(scope ?? "").split(/\s+/).filter(Boolean));
}

async function discover(e) {
  const issuerUrl = new URL(e.issuer);
  const res = await oauth.discoveryRequest(issuerUrl, { algorithm: "oidc", ...e.httpOpts });
  // processDiscoveryResponse checks HTTP 200 and `issuer` equality with issuerUrl.
  return oauth.processDiscoveryResponse(issuerUrl, res);
}

/** RFC 9068 checks on a client-credentials access token issued to the M2M client. */
async function assertM2mAccessToken(e, as, accessToken, requestedScope) {
  const header = decodeJwtHeader(accessToken);
  assert.equal(header.typ, "at+jwt", 'JWT header "typ" must be exactly "at+jwt"');
  assert.equal(typeof header.alg, "string");
  assert.notEqual(header.alg, "none");
  assert.ok(!header.alg.startsWith("HS"), `asymmetric alg required (got ${header.alg})`);
  assert.equal(typeof header.kid, "string", 'JWT header must carry "kid"');

  const request = new Request("https://resource.invalid/", {
    headers: { authorization: `Bearer ${accessToken}` },
  });
  // Validates typ, signature against jwks_uri, iss === as.issuer, aud === expected audience,
  // presence of iss/exp/aud/sub/iat/jti/client_id, exp/nbf with 30 s tolerance.
  const claims = await oauth.validateJwtAccessToken(as, request, e.issuer, e.httpOpts);

  const now = Math.floor(Date.now() / 1000);
  assert.equal(claims.iss, e.issuer, "iss");
  const aud = Array.isArray(claims.aud) ? claims.aud : [claims.aud];
  assert.ok(aud.includes(e.issuer), `aud must contain the issuer (got ${JSON.stringify(claims.aud)})`);
  assert.equal(claims.sub, e.m2mClientId, "sub must be the M2M client id");
  assert.equal(claims.client_id, e.publicClientId, "client_id must be the public app_ id");
  assert.equal(typeof claims.scope, "string", "scope claim must be a space-separated string");
  for (const s of scopeSet(requestedScope)) {
    assert.ok(scopeSet(claims.scope).has(s), `scope claim ${JSON.stringify(claims.scope)} lacks ${s}`);
  }
  assert.equal(typeof claims.jti, "string");
  assert.ok(claims.jti.length >= 8, "jti should be a random identifier");
  for (const c of ["iat", "nbf", "exp"]) {
    assert.ok(Number.isInteger(claims[c]), `${c} must be an integer NumericDate`);
  }
  assert.ok(claims.iat <= now + 30 && claims.iat >= now - 300, "iat must be about now");
  assert.ok(claims.nbf <= now + 30, "nbf must not be in the future");
  assert.ok(claims.exp > now, "exp must be in the future");
  assert.ok(claims.exp > claims.iat, "exp must be after iat");
  return { header, claims };
}

async function clientCredentialsRoundTrip(e, clientAuth) {
  const as = await discover(e);
  const client = { client_id: e.m2mClientId };
  const scope = "sign:job";
  const res = await oauth.clientCredentialsGrantRequest(
    as,
    client,
    clientAuth,
    new URLSearchParams({ scope }),
    e.httpOpts,
  );
  // Checks: HTTP 200, JSON object, access_token + token_type strings, token_type bearer|dpop,
  // expires_in number if present, scope string if present, no WWW-Authenticate challenge.
  const tr = await oauth.processClientCredentialsResponse(as, client, res);
  assert.equal(tr.token_type, "bearer"); // oauth4webapi lower-cases it
  assert.equal(typeof tr.expires_in, "number", "expires_in must be a JSON number");
  assert.ok(tr.expires_in > 0);
  assert.equal(tr.refresh_token, undefined, "client_credentials must not return a refresh_token");
  assert.equal(tr.id_token, undefined, "client_credentials must not return an id_token");
  if (tr.scope !== undefined) {
    assert.ok(scopeSet(tr.scope).has(scope), `response scope ${JSON.stringify(tr.scope)} lacks ${scope}`);
  }
  await assertM2mAccessToken(e, as, tr.access_token, scope);
}

test("(a0) discovery: issuer equality and the metadata the SDK needs", async () => {
  const e = env();
  const as = await discover(e);
  assert.equal(as.issuer, e.issuer);
  assert.equal(as.token_endpoint, `${e.issuer}/token`);
  assert.equal(as.jwks_uri, `${e.issuer}/jwks`);
  const methods = as.token_endpoint_auth_methods_supported;
  assert.ok(Array.isArray(methods), "token_endpoint_auth_methods_supported must be an array");
  for (const m of ["client_secret_basic", "client_secret_post"]) {
    assert.ok(methods.includes(m), `token_endpoint_auth_methods_supported lacks ${m}`);
  }
  if (as.grant_types_supported !== undefined) {
    assert.ok(as.grant_types_supported.includes("client_credentials"));
  }
});

test("(a) client_credentials with client_secret_basic -> RFC 9068 JWT valid against JWKS", async () => {
  const e = env();
  // NB: oauth4webapi's ClientSecretBasic form-urlencodes id and secret before base64
  // ("_" becomes "%5F"), so the server must percent-decode Basic credentials (RFC 6749 2.3.1).
  await clientCredentialsRoundTrip(e, oauth.ClientSecretBasic(e.m2mClientSecret));
});

test("(b) client_credentials with client_secret_post -> RFC 9068 JWT valid against JWKS", async () => {
  const e = env();
  await clientCredentialsRoundTrip(e, oauth.ClientSecretPost(e.m2mClientSecret));
});

test("(c) builder-sdk issueMachineAccessToken + verifyJwt", async () => {
  const e = env();
  const sdk = new PmtHouseClient({
    issuerUrl: e.issuer,
    publicClientId: e.publicClientId,
    m2mClientId: e.m2mClientId,
    m2mClientSecret: e.m2mClientSecret,
    allowInsecureHttp: e.insecure,
  });

  const doc = await sdk.getDiscovery({ force: true });
  assert.equal(doc.issuer, e.issuer);
  assert.equal(doc.token_endpoint, `${e.issuer}/token`);
  assert.equal(doc.jwks_uri, `${e.issuer}/jwks`);

  // SDK default: scope=sign:job, raw (not percent-encoded) HTTP Basic, no resource/audience.
  const tok = await sdk.issueMachineAccessToken();
  assert.equal(tok.token_type, "Bearer");
  assert.equal(typeof tok.access_token, "string");
  assert.equal(typeof tok.expires_in, "number");

  // The SDK's verifyJwt is oauth4webapi.validateJwtAccessToken with `audience` as expected aud.
  const claims = await verifyJwt(tok.access_token, {
    issuerUrl: e.issuer,
    audience: e.issuer,
    allowInsecureHttp: e.insecure,
    requiredScopes: ["sign:job"],
  });
  assert.equal(claims.iss, e.issuer);
  assert.equal(claims.sub, e.m2mClientId);
  assert.equal(claims.client_id, e.publicClientId);
  assert.ok(scopeSet(claims.scope).has("sign:job"));

  // verifyJwt must reject a wrong audience (proves aud is actually checked).
  await assert.rejects(
    verifyJwt(tok.access_token, {
      issuerUrl: e.issuer,
      audience: "urn:tollhouse:compat:not-the-audience",
      allowInsecureHttp: e.insecure,
    }),
    // /verify bundles its own PmtHouseError class: instanceof against the main entry's class is
    // false, so match on name/shape.
    (err) => {
      assert.equal(err.name, "PmtHouseError", `expected PmtHouseError, got ${err}`);
      assert.match(err.message, /aud/);
      return true;
    },
  );

  // Cross-check with plain oauth4webapi too.
  const as = await discover(e);
  await assertM2mAccessToken(e, as, tok.access_token, "sign:job");
});

function wrongSecret(secret) {
  const last = secret.at(-1) === "0" ? "1" : "0";
  return secret.slice(0, -1) + last;
}

async function readJsonError(res, label) {
  const ct = res.headers.get("content-type") ?? "";
  assert.equal(ct.split(";")[0].trim(), "application/json", `${label}: content-type must be application/json (got ${ct})`);
  const body = await res.json();
  assert.equal(body.error, "invalid_client", `${label}: body ${JSON.stringify(body)}`);
  return body;
}

test("(d) wrong secret -> 401 {error:\"invalid_client\"}", async () => {
  const e = env();
  const bad = wrongSecret(e.m2mClientSecret);
  const tokenEndpoint = `${e.issuer}/token`;

  // client_secret_basic, raw encoding (as the builder-sdk sends it)
  const basic = Buffer.from(`${e.m2mClientId}:${bad}`, "utf8").toString("base64");
  const r1 = await fetch(tokenEndpoint, {
    method: "POST",
    headers: {
      authorization: `Basic ${basic}`,
      "content-type": "application/x-www-form-urlencoded",
      accept: "application/json",
    },
    body: new URLSearchParams({ grant_type: "client_credentials", scope: "sign:job" }).toString(),
  });
  assert.equal(r1.status, 401, "client_secret_basic with a wrong secret");
  await readJsonError(r1, "basic");

  // client_secret_post
  const r2 = await fetch(tokenEndpoint, {
    method: "POST",
    headers: { "content-type": "application/x-www-form-urlencoded", accept: "application/json" },
    body: new URLSearchParams({
      grant_type: "client_credentials",
      scope: "sign:job",
      client_id: e.m2mClientId,
      client_secret: bad,
    }).toString(),
  });
  assert.equal(r2.status, 401, "client_secret_post with a wrong secret");
  await readJsonError(r2, "post");

  // Through the SDK: oauth4webapi turns a 4xx JSON error body into ResponseBodyError, which the
  // SDK maps to PmtHouseError{status, code: error}. If the 401 carries a WWW-Authenticate header,
  // oauth4webapi throws WWWAuthenticateChallengeError instead and the SDK reports
  // status 500 / code "unexpected_error" -- so the token endpoint must not send that header.
  const sdk = new PmtHouseClient({
    issuerUrl: e.issuer,
    publicClientId: e.publicClientId,
    m2mClientId: e.m2mClientId,
    m2mClientSecret: bad,
    allowInsecureHttp: e.insecure,
  });
  await assert.rejects(sdk.issueMachineAccessToken(), (err) => {
    assert.ok(err instanceof PmtHouseError, `expected PmtHouseError, got ${err}`);
    assert.equal(
      err.status,
      401,
      `SDK saw status ${err.status} code ${err.code} (${err.message}); a WWW-Authenticate header on the token endpoint's 401 causes this`,
    );
    assert.equal(err.code, "invalid_client");
    return true;
  });
});
