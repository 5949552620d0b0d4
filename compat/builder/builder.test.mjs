// Builder API: drives the UNCHANGED @pymthouse/builder-sdk@0.6.5 against a running Tollhouse.
// Wire reference: ../SDK-WIRE.md; contract: /work/shared/spec/builder-api.md and metering.md.
//
// Required environment (the tests FAIL, never skip, when it is missing):
//   TOLLHOUSE_ISSUER             e.g. http://127.0.0.1:8080/api/v1/oidc
//   TOLLHOUSE_PUBLIC_CLIENT_ID   app_<24 hex>
//   TOLLHOUSE_M2M_CLIENT_ID      m2m_<24 hex>
//   TOLLHOUSE_M2M_CLIENT_SECRET  pmth_cs_<64 hex>
// Needed by the tenant-isolation test (it fails, not skips, without them):
//   TOLLHOUSE_OTHER_M2M_CLIENT_ID      m2m_<24 hex> of a SECOND app
//   TOLLHOUSE_OTHER_M2M_CLIENT_SECRET  pmth_cs_<64 hex> of that second app
//
// Every run uses fresh external user ids, so the suite can run repeatedly against one server.
// Run: npm run test:builder   (from compat/; `npm test` does not pick this directory up)
import { test } from "node:test";
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import * as oauth from "oauth4webapi";
import { PmtHouseClient } from "@pymthouse/builder-sdk";
import { verifyJwt } from "@pymthouse/builder-sdk/verify";
import { pollDeviceToken } from "@pymthouse/builder-sdk/device";
import {
  createApiKeyExchangeHandler,
  createDeviceExchangeHandler,
  createDirectSignerProxyHandler,
  exchangeApiKeyForSigner,
  forwardDirectSignerRequest,
  mintSignerSessionFromApiKeyDirect,
  mintUserSignerToken,
} from "@pymthouse/builder-sdk/signer/server";

// ---------------------------------------------------------------------------------------------
// Environment

const ENV_HELP =
  "Start a Tollhouse server and export TOLLHOUSE_ISSUER (e.g. http://127.0.0.1:PORT/api/v1/oidc), " +
  "TOLLHOUSE_PUBLIC_CLIENT_ID (app_<24hex>), TOLLHOUSE_M2M_CLIENT_ID (m2m_<24hex>) and " +
  "TOLLHOUSE_M2M_CLIENT_SECRET (pmth_cs_<64hex>) before running these tests.";

const OTHER_ENV_HELP =
  "The tenant-isolation test needs the M2M credentials of a SECOND app: export " +
  "TOLLHOUSE_OTHER_M2M_CLIENT_ID (m2m_<24hex>) and TOLLHOUSE_OTHER_M2M_CLIENT_SECRET (pmth_cs_<64hex>).";

const ENV_SPEC = {
  TOLLHOUSE_ISSUER: /^https?:\/\/\S+$/,
  TOLLHOUSE_PUBLIC_CLIENT_ID: /^app_[0-9a-f]{24}$/,
  TOLLHOUSE_M2M_CLIENT_ID: /^m2m_[0-9a-f]{24}$/,
  TOLLHOUSE_M2M_CLIENT_SECRET: /^pmth_cs_[0-9a-f]{64}$/,
};

const OTHER_ENV_SPEC = {
  TOLLHOUSE_OTHER_M2M_CLIENT_ID: /^m2m_[0-9a-f]{24}$/,
  TOLLHOUSE_OTHER_M2M_CLIENT_SECRET: /^pmth_cs_[0-9a-f]{64}$/,
};

function readEnv(spec, prefix, help) {
  const problems = [];
  const out = {};
  for (const [name, re] of Object.entries(spec)) {
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
    assert.fail(`${prefix}: ${problems.join("; ")}. ${help}`);
  }
  return out;
}

/** Read and validate the environment; throws (fails the calling test) with a clear message. */
function env() {
  const out = readEnv(ENV_SPEC, "Tollhouse Builder compat tests cannot run", ENV_HELP);
  // Same normalisation as the SDK (stripTrailingSlashes).
  const issuer = out.TOLLHOUSE_ISSUER.replace(/\/+$/, "");
  const origin = new URL(issuer).origin;
  const publicClientId = out.TOLLHOUSE_PUBLIC_CLIENT_ID;
  return {
    issuer,
    origin,
    insecure: issuer.startsWith("http:"),
    publicClientId,
    m2mClientId: out.TOLLHOUSE_M2M_CLIENT_ID,
    m2mClientSecret: out.TOLLHOUSE_M2M_CLIENT_SECRET,
    // SDK-WIRE "A": ORIGIN/api/v1/apps/{encodeURIComponent(publicClientId)}
    appsBase: `${origin}/api/v1/apps/${encodeURIComponent(publicClientId)}`,
  };
}

function otherEnv(e) {
  const out = readEnv(
    OTHER_ENV_SPEC,
    "Tollhouse tenant-isolation test cannot run (it is not optional)",
    OTHER_ENV_HELP,
  );
  if (out.TOLLHOUSE_OTHER_M2M_CLIENT_ID === e.m2mClientId) {
    assert.fail(
      "TOLLHOUSE_OTHER_M2M_CLIENT_ID equals TOLLHOUSE_M2M_CLIENT_ID: it must belong to a different app. " +
        OTHER_ENV_HELP,
    );
  }
  return {
    m2mClientId: out.TOLLHOUSE_OTHER_M2M_CLIENT_ID,
    m2mClientSecret: out.TOLLHOUSE_OTHER_M2M_CLIENT_SECRET,
  };
}

function sdkClient(e, overrides = {}) {
  return new PmtHouseClient({
    issuerUrl: e.issuer,
    publicClientId: e.publicClientId,
    m2mClientId: e.m2mClientId,
    m2mClientSecret: e.m2mClientSecret,
    allowInsecureHttp: e.insecure,
    ...overrides,
  });
}

// ---------------------------------------------------------------------------------------------
// Helpers

/** A fresh external user id, valid per ^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$ (no @, no owner:/user:). */
function freshUserId(tag) {
  return `cx-${Date.now().toString(36)}-${randomBytes(5).toString("hex")}-${tag}`;
}

/** SDK Basic: base64 of the raw "id:secret" (no percent-encoding), SDK-WIRE §1.1. */
function sdkBasic(id, secret) {
  return `Basic ${Buffer.from(`${id}:${secret}`, "utf8").toString("base64")}`;
}

/**
 * Raw Builder request with the same headers the SDK sends (SDK-WIRE §1.2): Basic, JSON
 * content type (also on GET/DELETE), JSON accept. `path` is relative to A (or absolute URL).
 */
async function builderFetch(e, method, path, { body, creds, base } = {}) {
  const url = /^https?:/.test(path) ? path : `${base ?? e.appsBase}${path}`;
  const c = creds ?? { m2mClientId: e.m2mClientId, m2mClientSecret: e.m2mClientSecret };
  const res = await fetch(url, {
    method,
    headers: {
      authorization: sdkBasic(c.m2mClientId, c.m2mClientSecret),
      "content-type": "application/json",
      accept: "application/json",
    },
    body: body === undefined ? undefined : JSON.stringify(body),
    cache: "no-store",
  });
  return readResponse(res, `${method} ${url}`);
}

async function readResponse(res, label) {
  const contentType = res.headers.get("content-type") ?? "";
  const text = await res.text();
  let json;
  if (text) {
    try {
      json = JSON.parse(text);
    } catch {
      json = undefined;
    }
  }
  return { status: res.status, headers: res.headers, contentType, text, json, label };
}

/** Assert an exact status and a JSON object body (SDK treats a body as JSON iff content-type contains "json"). */
function expectJson(r, status) {
  assert.equal(r.status, status, `${r.label}: expected HTTP ${status}, got ${r.status} body=${r.text.slice(0, 400)}`);
  assert.ok(
    r.contentType.includes("json"),
    `${r.label}: content-type must be JSON (got ${JSON.stringify(r.contentType)})`,
  );
  assert.ok(
    r.json !== null && typeof r.json === "object" && !Array.isArray(r.json),
    `${r.label}: body must be a JSON object, got ${r.text.slice(0, 400)}`,
  );
  return r.json;
}

function decodeJwtPart(jwt, index) {
  const parts = jwt.split(".");
  assert.equal(parts.length, 3, `expected a compact JWS with 3 parts, got ${JSON.stringify(jwt.slice(0, 40))}…`);
  return JSON.parse(Buffer.from(parts[index], "base64url").toString("utf8"));
}

/** RFC 9068 header: typ at+jwt, asymmetric alg, kid present. */
function assertAtJwtHeader(jwt, label) {
  const header = decodeJwtPart(jwt, 0);
  assert.equal(header.typ, "at+jwt", `${label}: JWT header typ must be "at+jwt" (got ${JSON.stringify(header.typ)})`);
  assert.equal(typeof header.alg, "string", `${label}: alg`);
  assert.notEqual(header.alg, "none", `${label}: alg none`);
  assert.ok(!header.alg.startsWith("HS"), `${label}: asymmetric alg required (got ${header.alg})`);
  assert.equal(typeof header.kid, "string", `${label}: JWT header must carry kid`);
  return header;
}

function scopeSet(scope) {
  return new Set(String(scope ?? "").split(/\s+/).filter(Boolean));
}

function assertIsoDate(value, label) {
  assert.equal(typeof value, "string", `${label} must be a string (got ${JSON.stringify(value)})`);
  assert.match(value, /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}/, `${label} must be ISO 8601`);
  assert.ok(!Number.isNaN(Date.parse(value)), `${label} must parse as a date (got ${value})`);
}

/** API money values are decimal strings (metering.md "Money is exact"). */
function assertMicros(value, label) {
  assert.equal(typeof value, "string", `${label} must be a decimal string (got ${JSON.stringify(value)})`);
  assert.match(value, /^-?\d+$/, `${label} must be an integer decimal string`);
}

/** Expect a PmtHouseError (any bundle: match by name, SDK-WIRE §8.11) with a 4xx status. */
function expect4xx(label, extra) {
  return (err) => {
    assert.equal(err?.name, "PmtHouseError", `${label}: expected PmtHouseError, got ${err?.stack ?? err}`);
    assert.ok(
      err.status >= 400 && err.status < 500,
      `${label}: expected a 4xx, got status ${err.status} code ${err.code} (${err.message})`,
    );
    extra?.(err);
    return true;
  };
}

function assertAppUserRecord(e, rec, externalUserId, { email = null, status = "active" } = {}) {
  const label = `AppUserRecord ${externalUserId}`;
  assert.ok(rec && typeof rec === "object", `${label}: not an object`);
  assert.equal(typeof rec.id, "string", `${label}: id must be a string`);
  assert.ok(rec.id.length > 0, `${label}: id must not be empty`);
  assert.equal(rec.clientId, e.publicClientId, `${label}: clientId must be the public app_ id`);
  assert.equal(rec.externalUserId, externalUserId, `${label}: externalUserId`);
  assert.ok("email" in rec, `${label}: email must be present (string or null)`);
  assert.equal(rec.email, email, `${label}: email`);
  assert.equal(rec.status, status, `${label}: status`);
  assert.equal(typeof rec.role, "string", `${label}: role must be a string`);
  assert.ok(rec.role.length > 0, `${label}: role must not be empty`);
  assertIsoDate(rec.createdAt, `${label}: createdAt`);
}

async function findUser(sdk, externalUserId) {
  const list = await sdk.listAppUsers();
  assert.ok(Array.isArray(list?.users), `listAppUsers must return {users:[…]}, got ${JSON.stringify(list)}`);
  return list.users.find((u) => u.externalUserId === externalUserId);
}

const FUND_MICROS = "1000000";

/**
 * Create the user and give it a prepaid allowance, so signer-session minting is not refused with
 * 402 insufficient_allowance when the test app is in `prepaid` billing mode (metering.md "The gate").
 */
async function fundedUser(sdk, tag) {
  const ext = freshUserId(tag);
  await sdk.upsertAppUser({ externalUserId: ext });
  const g = await sdk.grantUserAllowance(ext, { amountUsdMicros: FUND_MICROS, source: "trial" });
  assert.equal(g?.allowances?.lifetimeGrantedUsdMicros, FUND_MICROS, `grant for ${ext}: ${JSON.stringify(g)}`);
  return ext;
}

// ---------------------------------------------------------------------------------------------
// Tests

test("(1) users: upsert 201/200, list, delete -> inactive, inactive user cannot mint", { timeout: 30_000 }, async () => {
  const e = env();
  const sdk = sdkClient(e);

  // SDK upsert with an email.
  const ext = freshUserId("u1");
  const email = `${ext}@example.com`;
  const created = await sdk.upsertAppUser({ externalUserId: ext, email });
  assertAppUserRecord(e, created, ext, { email, status: "active" });
  const again = await sdk.upsertAppUser({ externalUserId: ext, email });
  assertAppUserRecord(e, again, ext, { email, status: "active" });
  assert.equal(again.id, created.id, "upsert of an existing user must return the same record id");

  // Raw: first POST -> 201, second -> 200, same record; no email -> email null.
  const ext2 = freshUserId("u1raw");
  const r1 = await builderFetch(e, "POST", "/users", { body: { externalUserId: ext2 } });
  const rec1 = expectJson(r1, 201);
  assertAppUserRecord(e, rec1, ext2, { email: null, status: "active" });
  const r2 = await builderFetch(e, "POST", "/users", { body: { externalUserId: ext2 } });
  const rec2 = expectJson(r2, 200);
  assertAppUserRecord(e, rec2, ext2, { email: null, status: "active" });
  assert.equal(rec2.id, rec1.id, "second POST must return the existing record");
  assert.equal(rec2.createdAt, rec1.createdAt, "second POST must not change createdAt");

  // listAppUsers contains both, with the full record shape.
  const listed = await findUser(sdk, ext);
  assert.ok(listed, `listAppUsers does not contain ${ext}`);
  assertAppUserRecord(e, listed, ext, { email, status: "active" });
  assert.equal(listed.id, created.id);
  const listed2 = await findUser(sdk, ext2);
  assert.ok(listed2, `listAppUsers does not contain ${ext2}`);
  assertAppUserRecord(e, listed2, ext2, { email: null, status: "active" });

  // deleteAppUser deactivates (JSON body required: SDK-WIRE §1.2).
  const del = await sdk.deleteAppUser({ externalUserId: ext });
  assert.deepEqual(
    { success: del?.success, status: del?.status },
    { success: true, status: "inactive" },
    `deleteAppUser response ${JSON.stringify(del)}`,
  );
  const afterDelete = await findUser(sdk, ext);
  assert.ok(afterDelete, `deactivated user ${ext} must still be listed`);
  assertAppUserRecord(e, afterDelete, ext, { email, status: "inactive" });

  // An inactive user cannot get a token.
  await assert.rejects(
    sdk.mintUserAccessToken({ externalUserId: ext }),
    expect4xx("mintUserAccessToken for an inactive user"),
  );
});

test("(2) mintUserAccessToken -> RFC 9068 user JWT accepted by verifyJwt", { timeout: 20_000 }, async () => {
  const e = env();
  const sdk = sdkClient(e);
  const ext = freshUserId("u2");
  await sdk.upsertAppUser({ externalUserId: ext });

  const tok = await sdk.mintUserAccessToken({ externalUserId: ext });
  assert.equal(typeof tok.access_token, "string");
  assertAtJwtHeader(tok.access_token, "user JWT");
  assert.equal(typeof tok.refresh_token, "string", "refresh_token must be a string");
  assert.ok(tok.refresh_token.length > 0, "refresh_token must not be empty");
  assert.notEqual(tok.refresh_token, tok.access_token);
  assert.equal(tok.token_type, "Bearer");
  assert.equal(tok.expires_in, 900, "user JWT expires_in must be the number 900");
  assert.ok(scopeSet(tok.scope).has("sign:job"), `default scope must be sign:job (got ${JSON.stringify(tok.scope)})`);
  assert.equal(tok.subject_type, "app_user");
  if (tok.correlation_id !== undefined) assert.equal(typeof tok.correlation_id, "string");

  const claims = await verifyJwt(tok.access_token, {
    issuerUrl: e.issuer,
    audience: e.issuer,
    allowInsecureHttp: e.insecure,
    requiredScopes: ["sign:job"],
  });
  assert.equal(claims.iss, e.issuer);
  const aud = Array.isArray(claims.aud) ? claims.aud : [claims.aud];
  assert.ok(aud.includes(e.issuer), `aud must contain the issuer (got ${JSON.stringify(claims.aud)})`);
  assert.equal(claims.client_id, e.publicClientId, "client_id must be the public app_ id");
  assert.equal(claims.external_user_id, ext, "external_user_id claim");
  assert.equal(claims.user_type, "app_user", "user_type claim");
  assert.equal(typeof claims.sub, "string");
  assert.notEqual(claims.sub, e.m2mClientId, "a user token's sub must not be the M2M client");
  assert.equal(typeof claims.jti, "string");
  assert.ok(Math.abs(claims.exp - claims.iat - 900) <= 2, `exp - iat must be 900 (got ${claims.exp - claims.iat})`);

  // Explicit scope is honoured too.
  const tok2 = await sdk.mintUserAccessToken({ externalUserId: ext, scope: "sign:job" });
  assert.ok(scopeSet(tok2.scope).has("sign:job"));
  assert.notEqual(tok2.access_token, tok.access_token, "each mint must produce a new token (fresh jti)");
});

test("(3) mintUserSignerSessionToken (resource = issuer) -> 300 s signer JWT", { timeout: 20_000 }, async () => {
  const e = env();
  const sdk = sdkClient(e);
  const ext = await fundedUser(sdk, "u3");

  const res = await sdk.mintUserSignerSessionToken({ externalUserId: ext });
  // The SDK itself already required issued_token_type, token_type Bearer and a numeric expires_in.
  assert.equal(res.token_type, "Bearer");
  assert.ok(
    ["urn:ietf:params:oauth:token-type:access_token", "urn:pmth:token-type:remote-signer-session"].includes(
      res.issued_token_type,
    ),
  );
  assert.equal(typeof res.access_token, "string");
  assertAtJwtHeader(res.access_token, "signer JWT");
  assert.ok(
    res.expires_in >= 290 && res.expires_in <= 300,
    `resource=issuer signer JWT must live 300 s (expires_in ${res.expires_in})`,
  );

  const claims = await verifyJwt(res.access_token, {
    issuerUrl: e.issuer,
    audience: e.issuer,
    allowInsecureHttp: e.insecure,
  });
  assert.equal(claims.iss, e.issuer);
  assert.equal(claims.client_id, e.publicClientId, "signer JWT client_id must be the public app_ id");
  assert.equal(claims.external_user_id, ext, "signer JWT external_user_id");
  assert.ok(Math.abs(claims.exp - claims.iat - 300) <= 2, `exp - iat must be 300 (got ${claims.exp - claims.iat})`);
});

test("(4) mintSignerSessionForExternalUser -> opaque pmth_<64hex>, 90 days", { timeout: 20_000 }, async () => {
  const e = env();
  const sdk = sdkClient(e);
  const ext = await fundedUser(sdk, "u4");

  const s = await sdk.mintSignerSessionForExternalUser({ externalUserId: ext });
  assert.equal(typeof s.accessToken, "string");
  assert.match(s.accessToken, /^pmth_[0-9a-f]{64}$/, "opaque session must be pmth_ + 64 lowercase hex");
  assert.equal(s.accessToken.length, 69);
  assert.equal(s.tokenType, "Bearer");
  assert.equal(s.expiresIn, 7776000, "opaque session expires_in must be 90 days");
  assert.ok(scopeSet(s.scope).has("sign:job"), `scope ${JSON.stringify(s.scope)}`);

  // A second session for the same user is a different secret.
  const s2 = await sdk.mintSignerSessionForExternalUser({ externalUserId: ext });
  assert.notEqual(s2.accessToken, s.accessToken);
});

test("(5) issueMachineAccessToken -> M2M at+jwt", { timeout: 20_000 }, async () => {
  const e = env();
  const sdk = sdkClient(e);
  const tok = await sdk.issueMachineAccessToken();
  assert.equal(tok.token_type, "Bearer");
  assertAtJwtHeader(tok.access_token, "M2M JWT");
  assert.equal(typeof tok.expires_in, "number");
  assert.ok(tok.expires_in > 0);
  const claims = await verifyJwt(tok.access_token, {
    issuerUrl: e.issuer,
    audience: e.issuer,
    allowInsecureHttp: e.insecure,
    requiredScopes: ["sign:job"],
  });
  assert.equal(claims.sub, e.m2mClientId, "M2M token sub must be the m2m client id");
  assert.equal(claims.client_id, e.publicClientId);
});

test("(6) API keys: create, list, exchange direct + facade, pmth_cs_ refused, revoke", { timeout: 30_000 }, async () => {
  const e = env();
  const sdk = sdkClient(e);
  const ext = await fundedUser(sdk, "u6");
  const keysPath = `/users/${encodeURIComponent(ext)}/keys`;
  const label = `compat key ${ext}`;

  // Create: 201, key shown once.
  const created = expectJson(await builderFetch(e, "POST", keysPath, { body: { label } }), 201);
  for (const f of ["apiKey", "id", "prefix", "suffix", "label", "createdAt"]) {
    assert.ok(f in created, `create key response lacks ${f}: ${JSON.stringify(created)}`);
  }
  const { apiKey } = created;
  assert.equal(typeof apiKey, "string");
  assert.match(apiKey, /^app_[0-9a-f]{24}_pmth_/, "composite key app_<24hex>_pmth_…");
  assert.ok(apiKey.startsWith(`${e.publicClientId}_pmth_`), "composite key must start with this app's public id");
  assert.equal(typeof created.id, "string");
  assert.equal(created.label, label);
  assert.equal(typeof created.prefix, "string");
  assert.equal(typeof created.suffix, "string");
  assert.ok(created.prefix.length > 0 && created.suffix.length > 0, "prefix/suffix must not be empty");
  assert.ok(apiKey.includes(created.prefix), "prefix must be a part of the key");
  assert.ok(apiKey.endsWith(created.suffix), "suffix must be the end of the key");
  assert.ok(created.prefix.length + created.suffix.length < apiKey.length - 16, "prefix+suffix must not reveal the key");
  assertIsoDate(created.createdAt, "key createdAt");

  // List: prefix/suffix only.
  const list = expectJson(await builderFetch(e, "GET", keysPath), 200);
  assert.ok(Array.isArray(list.keys), `list keys must be {keys:[…]}: ${JSON.stringify(list)}`);
  const listed = list.keys.find((k) => k.id === created.id);
  assert.ok(listed, `key ${created.id} missing from the list`);
  assert.ok(!("apiKey" in listed), "the list must not contain apiKey");
  assert.ok(!JSON.stringify(list).includes(apiKey.slice(e.publicClientId.length + 1)), "the list must not leak the secret");
  assert.equal(listed.label, label);
  assert.equal(listed.prefix, created.prefix);
  assert.equal(listed.suffix, created.suffix);
  assert.equal(listed.status, "active");
  assert.equal(listed.revokedAt ?? null, null, "an active key has revokedAt null");
  assertIsoDate(listed.createdAt, "listed key createdAt");

  // Direct exchange through the client (POST ISS-minus-/api/v1/oidc + /api/v1/apps/{id}/oidc/token).
  const direct = await sdk.exchangeApiKeyForSignerSession({ apiKey });
  assert.equal(typeof direct.access_token, "string");
  assert.ok(direct.access_token.length > 0);
  assert.equal(direct.token_type, "Bearer");
  assert.equal(typeof direct.expires_in, "number");
  assert.ok(direct.expires_in > 0);
  assert.ok(scopeSet(direct.scope).has("sign:job"), `scope ${JSON.stringify(direct.scope)}`);

  // The client drops the balance fields; the /signer/server helper keeps them (it defaults them to
  // "0" when absent, so the funded 1000000 proves the server sent them as strings).
  const directBal = await mintSignerSessionFromApiKeyDirect({
    issuerUrl: e.issuer,
    publicClientId: e.publicClientId,
    apiKey,
    m2mClientId: e.m2mClientId,
    m2mClientSecret: e.m2mClientSecret,
  });
  assert.ok(directBal.access_token.length > 0);
  assertMicros(directBal.balanceUsdMicros, "direct balanceUsdMicros");
  assertMicros(directBal.lifetimeGrantedUsdMicros, "direct lifetimeGrantedUsdMicros");
  assert.equal(directBal.balanceUsdMicros, FUND_MICROS);
  assert.equal(directBal.lifetimeGrantedUsdMicros, FUND_MICROS);

  // The bare secret part works as well (spec: "API key (bare or composite)").
  const bare = apiKey.slice(e.publicClientId.length + 1);
  assert.ok(bare.startsWith("pmth_"));
  const viaBare = await sdk.exchangeApiKeyForSignerSession({ apiKey: bare });
  assert.ok(viaBare.access_token.length > 0);

  // Facade served by Tollhouse itself: POST ORIGIN/api/pymthouse/keys/exchange, JSON, no auth.
  const facadeUrl = e.origin;
  const viaFacade = await sdk.exchangeApiKeyForSignerSession({ apiKey, facadeUrl });
  assert.ok(viaFacade.access_token.length > 0);
  assert.equal(viaFacade.token_type, "Bearer");
  assert.ok(viaFacade.expires_in > 0);
  assert.ok(scopeSet(viaFacade.scope).has("sign:job"));
  const facadeBal = await exchangeApiKeyForSigner({ facadeUrl, apiKey, clientId: e.publicClientId });
  assert.equal(facadeBal.balanceUsdMicros, FUND_MICROS, "facade balanceUsdMicros");
  assert.equal(facadeBal.lifetimeGrantedUsdMicros, FUND_MICROS, "facade lifetimeGrantedUsdMicros");

  // An M2M secret is not an API key.
  await assert.rejects(
    sdk.exchangeApiKeyForSignerSession({ apiKey: e.m2mClientSecret, facadeUrl }),
    expect4xx("facade with a pmth_cs_ value", (err) => {
      assert.equal(err.status, 400, `pmth_cs_ at the facade must be 400 (got ${err.status} ${err.code})`);
      assert.equal(err.code, "invalid_request");
    }),
  );

  // Revoke, then every exchange path refuses the key.
  const revoked = await builderFetch(e, "DELETE", `${keysPath}?keyId=${encodeURIComponent(created.id)}`);
  assert.ok(revoked.status >= 200 && revoked.status < 300, `revoke: HTTP ${revoked.status} ${revoked.text}`);
  expectJson(revoked, revoked.status);
  const list2 = expectJson(await builderFetch(e, "GET", keysPath), 200);
  const listedRevoked = list2.keys.find((k) => k.id === created.id);
  assert.ok(listedRevoked, "a revoked key stays listed");
  assert.notEqual(listedRevoked.status, "active", "a revoked key must not be active");
  assertIsoDate(listedRevoked.revokedAt, "revokedAt");

  await assert.rejects(sdk.exchangeApiKeyForSignerSession({ apiKey }), expect4xx("direct exchange of a revoked key"));
  await assert.rejects(
    sdk.exchangeApiKeyForSignerSession({ apiKey: bare }),
    expect4xx("direct exchange of a revoked bare key"),
  );
  await assert.rejects(
    sdk.exchangeApiKeyForSignerSession({ apiKey, facadeUrl }),
    expect4xx("facade exchange of a revoked key"),
  );
});

test("(7) device flow: pollDeviceToken + approveDeviceLogin -> user tokens", { timeout: 45_000 }, async () => {
  const e = env();
  const sdk = sdkClient(e);
  const ext = await fundedUser(sdk, "u7");

  const ac = new AbortController();
  const giveUp = setTimeout(() => ac.abort(new Error("device flow did not complete within 40 s")), 40_000);
  let info;
  let approval; // Promise<{ok:true} | {ok:false, err}>, never rejects
  const poll = pollDeviceToken({
    issuerUrl: e.issuer,
    clientId: e.publicClientId,
    allowInsecureHttp: e.insecure,
    signal: ac.signal,
    onUserCode: (i) => {
      info = i;
      approval = sdk.approveDeviceLogin({ externalUserId: ext, userCode: i.userCode }).then(
        () => ({ ok: true }),
        (err) => {
          ac.abort(new Error(`approveDeviceLogin failed: ${err?.status} ${err?.code} ${err?.message}`));
          return { ok: false, err };
        },
      );
    },
  });

  let tokens;
  try {
    tokens = await poll;
  } catch (err) {
    const a = approval ? await approval : undefined;
    if (a && !a.ok) throw a.err; // the approval is the real failure
    throw err;
  } finally {
    clearTimeout(giveUp);
  }
  const a = await approval;
  assert.ok(a.ok, "approveDeviceLogin must succeed");

  // Device authorization response (builder-api.md: user code XXXX-XXXX, verification_uri <base>/oidc/device).
  assert.match(info.userCode, /^[A-Z0-9]{4}-[A-Z0-9]{4}$/, `user code ${JSON.stringify(info.userCode)}`);
  assert.equal(info.verificationUri, `${e.origin}/oidc/device`);
  assert.equal(typeof info.verificationUriComplete, "string", "verification_uri_complete must be present");
  const complete = new URL(info.verificationUriComplete);
  assert.equal(`${complete.origin}${complete.pathname}`, `${e.origin}/oidc/device`);
  assert.equal(complete.searchParams.get("user_code"), info.userCode);
  assert.equal(complete.searchParams.get("client_id"), e.publicClientId);
  assert.equal(complete.searchParams.get("iss"), e.issuer);
  assert.ok(info.expiresIn > 0);
  if (info.intervalSeconds !== undefined) assert.ok(info.intervalSeconds > 0);

  // Token response (oauth4webapi lower-cases token_type).
  assert.equal(tokens.token_type, "bearer");
  assert.equal(typeof tokens.access_token, "string");
  assert.equal(typeof tokens.refresh_token, "string", "device grant must return a refresh_token");
  assert.ok(tokens.refresh_token.length > 0);
  assertAtJwtHeader(tokens.access_token, "device user JWT");
  const claims = await verifyJwt(tokens.access_token, {
    issuerUrl: e.issuer,
    audience: e.issuer,
    allowInsecureHttp: e.insecure,
  });
  assert.equal(claims.client_id, e.publicClientId);
  assert.equal(claims.external_user_id, ext, "device token must belong to the approving user");
  assert.equal(claims.user_type, "app_user");
});

test("(8) verifyJwt rejects a tampered user JWT", { timeout: 20_000 }, async () => {
  const e = env();
  const sdk = sdkClient(e);
  const ext = freshUserId("u8");
  await sdk.upsertAppUser({ externalUserId: ext });
  const { access_token: jwt } = await sdk.mintUserAccessToken({ externalUserId: ext });
  const opts = { issuerUrl: e.issuer, audience: e.issuer, allowInsecureHttp: e.insecure };

  // Sanity: the untampered token verifies.
  const claims = await verifyJwt(jwt, opts);
  assert.equal(claims.external_user_id, ext);

  const [h, p, s] = jwt.split(".");
  // Payload changed, signature kept.
  const payload = JSON.parse(Buffer.from(p, "base64url").toString("utf8"));
  payload.external_user_id = `${ext}-evil`;
  const forgedPayload = `${h}.${Buffer.from(JSON.stringify(payload)).toString("base64url")}.${s}`;
  await assert.rejects(verifyJwt(forgedPayload, opts), (err) => {
    assert.equal(err?.name, "PmtHouseError", `expected PmtHouseError, got ${err}`);
    return true;
  });
  // Signature changed in the middle (a full 6-bit char, never padding bits).
  const i = Math.floor(s.length / 2);
  const forgedSig = `${h}.${p}.${s.slice(0, i)}${s[i] === "A" ? "B" : "A"}${s.slice(i + 1)}`;
  await assert.rejects(verifyJwt(forgedSig, opts), (err) => {
    assert.equal(err?.name, "PmtHouseError", `expected PmtHouseError, got ${err}`);
    return true;
  });
});

test("(9) getAppManifest -> manifest + ETag, then If-None-Match -> notModified", { timeout: 20_000 }, async () => {
  const e = env();
  const sdk = sdkClient(e);

  const first = await sdk.getAppManifest();
  assert.equal(first.notModified, false);
  assert.ok(first.manifest && typeof first.manifest === "object");
  assert.ok(Array.isArray(first.manifest.capabilities));
  assert.ok(Array.isArray(first.manifest.excludedCapabilities));
  assert.equal(typeof first.etag, "string", "GET A/manifest must send an ETag header");
  assert.match(first.etag, /^(W\/)?"[^"]*"$/, `ETag must be a quoted entity-tag (got ${first.etag})`);

  // The SDK parses leniently; check the raw body shape too.
  const raw = expectJson(await builderFetch(e, "GET", "/manifest"), 200);
  assert.ok(Array.isArray(raw.capabilities), "manifest.capabilities must be an array");
  assert.ok(Array.isArray(raw.excludedCapabilities), "manifest.excludedCapabilities must be an array");
  for (const c of [...raw.capabilities, ...raw.excludedCapabilities]) {
    assert.equal(typeof c.pipeline, "string", `capability ${JSON.stringify(c)}`);
    assert.equal(typeof c.modelId, "string", `capability ${JSON.stringify(c)}`);
  }
  assert.equal(typeof raw.manifestVersion, "string", "manifestVersion must be a string");
  assert.ok(raw.manifestVersion.length > 0);
  assert.equal(first.manifest.manifestVersion, raw.manifestVersion);

  const second = await sdk.getAppManifest({ ifNoneMatch: first.etag });
  assert.equal(second.notModified, true, "If-None-Match with the current ETag must give 304");
  assert.equal(second.manifest, null);
  assert.equal(second.etag, first.etag);

  // A stale tag gets the full manifest again.
  const third = await sdk.getAppManifest({ ifNoneMatch: '"compat-stale-etag"' });
  assert.equal(third.notModified, false);
  assert.equal(third.etag, first.etag);
});

test("(10) getSignerRouting -> routing document", { timeout: 20_000 }, async () => {
  const e = env();
  const sdk = sdkClient(e);
  const r = await sdk.getSignerRouting();
  assert.equal(r.clientId, e.publicClientId);
  assert.ok(r.routing && typeof r.routing === "object", `routing missing: ${JSON.stringify(r)}`);
  assert.equal(typeof r.routing.signerApiUrl, "string");
  new URL(r.routing.signerApiUrl); // absolute URL
  assert.equal(typeof r.routing.jwksUri, "string");
  new URL(r.routing.jwksUri);
  assert.ok(r.routing.jwksUri.endsWith("/jwks"), `jwksUri must end with /jwks (got ${r.routing.jwksUri})`);
  assert.ok(
    r.routing.remoteDmzUrl === null || typeof r.routing.remoteDmzUrl === "string",
    "remoteDmzUrl must be a string or null",
  );
  assert.equal(r.routing.identityMode, "webhook");
  assert.equal(r.routing.meteringMode, "platform_ingest", "SDK type fixes meteringMode to platform_ingest");
  const d = r.patterns?.directDmz;
  assert.ok(d && typeof d === "object", `patterns.directDmz missing: ${JSON.stringify(r)}`);
  for (const f of ["description", "signerApiUrl", "webhookUrl"]) {
    assert.equal(typeof d[f], "string", `patterns.directDmz.${f} must be a string`);
  }
  // The flat fields of PymtHouse's documentation (`routing.dmzUrl`, `routing.webhookUrl` in its
  // examples) beside the SDK's nested shape, naming the same URLs.
  assert.equal(r.dmzUrl, r.routing.signerApiUrl);
  assert.equal(r.jwksUrl, r.routing.jwksUri);
  assert.equal(r.webhookUrl, d.webhookUrl);
  assert.ok(["kafka", "direct"].includes(r.meteringMode), `meteringMode ${r.meteringMode}`);
});

test("(11) allowances: fresh user 0, grant, balance", { timeout: 30_000 }, async () => {
  const e = env();
  const sdk = sdkClient(e);
  const ext = freshUserId("u11");
  await sdk.upsertAppUser({ externalUserId: ext });

  const before = await sdk.getUserAllowances(ext);
  assert.equal(before.externalUserId, ext);
  assert.ok(before.allowances && typeof before.allowances === "object", JSON.stringify(before));
  assert.equal(before.allowances.balanceUsdMicros, "0");
  assert.equal(before.allowances.consumedUsdMicros, "0");
  assert.equal(before.allowances.lifetimeGrantedUsdMicros, "0");
  // hasAccess = balance > soft limit; the test app must use the default soft limit 0.
  assert.equal(before.allowances.hasAccess, false, "a user with balance 0 has no access (default soft limit 0)");

  const granted = await sdk.grantUserAllowance(ext, { amountUsdMicros: "1000000", source: "trial" });
  assert.equal(granted.externalUserId, ext);
  assert.equal(granted.grantedUsdMicros, "1000000", "grant response must echo grantedUsdMicros");
  assert.equal(granted.allowances.lifetimeGrantedUsdMicros, "1000000");
  assert.equal(granted.allowances.balanceUsdMicros, "1000000");
  assert.equal(granted.allowances.consumedUsdMicros, "0");
  assert.equal(granted.allowances.hasAccess, true);

  const after = await sdk.getUserAllowances(ext);
  assert.deepEqual(after.allowances, granted.allowances, "GET allowances must match the grant response");

  // SDK path: end-user /api/v1/user/usage/balance, falling back to A/usage/balance.
  const bal = await sdk.getUsageBalance(ext);
  assert.equal(bal.externalUserId, ext);
  assert.equal(bal.balanceUsdMicros, "1000000");
  assert.equal(bal.lifetimeGrantedUsdMicros, "1000000");
  assert.equal(bal.consumedUsdMicros, "0");
  assert.equal(bal.hasAccess, true);
  if (bal.remainingUsdMicros !== undefined) assertMicros(bal.remainingUsdMicros, "remainingUsdMicros");

  // M2M route directly, full spec shape.
  const raw = expectJson(
    await builderFetch(e, "GET", `/usage/balance?externalUserId=${encodeURIComponent(ext)}`),
    200,
  );
  assert.equal(raw.externalUserId, ext);
  for (const f of ["balanceUsdMicros", "remainingUsdMicros", "consumedUsdMicros", "lifetimeGrantedUsdMicros"]) {
    assertMicros(raw[f], `A/usage/balance ${f}`);
  }
  assert.equal(raw.balanceUsdMicros, "1000000");
  assert.equal(raw.lifetimeGrantedUsdMicros, "1000000");
  assert.equal(raw.hasAccess, true);

  // Grants accumulate.
  const more = await sdk.grantUserAllowance(ext, { amountUsdMicros: "250000", source: "promo" });
  assert.equal(more.grantedUsdMicros, "250000");
  assert.equal(more.allowances.lifetimeGrantedUsdMicros, "1250000");
  assert.equal(more.allowances.balanceUsdMicros, "1250000");
});

test("(12) tenant isolation: another app's M2M credentials get 404 on this app's routes", { timeout: 20_000 }, async () => {
  const e = env();
  const other = otherEnv(e);
  const sdk = sdkClient(e);
  const ext = freshUserId("u12");
  await sdk.upsertAppUser({ externalUserId: ext });

  const r = await builderFetch(e, "GET", "/users", { creds: other });
  const body = expectJson(r, 404);
  assert.equal(typeof body.error, "string", `404 body must carry an error code: ${r.text}`);
  assert.ok(!r.text.includes(ext), "the 404 must not leak this app's users");

  // Same answer as for an app that does not exist at all (never learn whether it exists).
  const ghostBase = `${e.origin}/api/v1/apps/app_${randomBytes(12).toString("hex")}`;
  const ghost = expectJson(await builderFetch(e, "GET", "/users", { creds: other, base: ghostBase }), 404);
  assert.equal(ghost.error, body.error, "foreign app and missing app must be indistinguishable");

  // Writes and token minting are refused the same way.
  const mint = await builderFetch(e, "POST", `/users/${encodeURIComponent(ext)}/token`, { creds: other, body: {} });
  expectJson(mint, 404);

  // Through the SDK: a client for this app configured with the other app's credentials.
  const foreign = sdkClient(e, { m2mClientId: other.m2mClientId, m2mClientSecret: other.m2mClientSecret });
  await assert.rejects(foreign.listAppUsers(), (err) => {
    assert.equal(err?.name, "PmtHouseError", `expected PmtHouseError, got ${err}`);
    assert.equal(err.status, 404);
    return true;
  });
});

test("(13) mintUserSignerToken (signer/server): M2M mints a 300 s signer JWT for a user, with balances", { timeout: 20_000 }, async () => {
  const e = env();
  const externalUserId = freshUserId("mint");
  const minted = await mintUserSignerToken({
    issuerUrl: e.issuer,
    m2mClientId: e.m2mClientId,
    m2mClientSecret: e.m2mClientSecret,
    externalUserId,
    allowInsecureHttp: e.insecure,
  });
  // The SDK returns {jwt, expiresAt, refreshAt, balanceUsdMicros, lifetimeGrantedUsdMicros}.
  assert.equal(typeof minted.jwt, "string");
  assert.equal(minted.jwt.split(".").length, 3, "a JWT");
  const lifetimeMs = minted.expiresAt - Date.now();
  assert.ok(lifetimeMs > 0 && lifetimeMs <= 300_000, `expires in ${lifetimeMs} ms`);
  assert.equal(typeof minted.balanceUsdMicros, "string");
  assert.equal(typeof minted.lifetimeGrantedUsdMicros, "string");
  const claims = await verifyJwt(minted.jwt, {
    issuerUrl: e.issuer,
    audience: e.issuer,
    allowInsecureHttp: e.insecure,
    requiredScopes: ["sign:job"],
  });
  assert.equal(claims.client_id, e.publicClientId);
  assert.equal(claims.external_user_id, externalUserId);
});

test("(14) userinfo through oauth4webapi: discovery's userinfo_endpoint, claims by scope, a Bearer challenge", { timeout: 20_000 }, async () => {
  const e = env();
  const sdk = sdkClient(e);
  const ext = freshUserId("me");
  await sdk.upsertAppUser({ externalUserId: ext, email: `${ext}@example.com` });
  const mint = (scope) =>
    builderFetch(e, "POST", `/users/${encodeURIComponent(ext)}/token`, { body: { scope } }).then((r) => expectJson(r, 200));
  const full = await mint("openid email profile sign:job");
  const bare = await mint("sign:job");
  const sub = decodeJwtPart(full.access_token, 1).sub;

  // oauth4webapi (what relying parties use) reads userinfo_endpoint from discovery, sends the
  // token as a Bearer, accepts application/json and checks that `sub` is the one expected.
  const issuerUrl = new URL(e.issuer);
  const opts = e.insecure ? { [oauth.allowInsecureRequests]: true } : {};
  const as = await oauth.processDiscoveryResponse(issuerUrl, await oauth.discoveryRequest(issuerUrl, { algorithm: "oidc", ...opts }));
  assert.equal(as.userinfo_endpoint, `${e.issuer}/me`);
  assert.ok(as.grant_types_supported.includes("urn:ietf:params:oauth:grant-type:device_code"), JSON.stringify(as.grant_types_supported));
  const client = { client_id: e.publicClientId };
  const info = await oauth.processUserInfoResponse(as, client, sub, await oauth.userInfoRequest(as, client, full.access_token, opts));
  assert.equal(info.sub, sub);
  assert.equal(info.email, `${ext}@example.com`);
  assert.equal(info.preferred_username, ext);
  const minimal = await oauth.processUserInfoResponse(as, client, sub, await oauth.userInfoRequest(as, client, bare.access_token, opts));
  assert.deepEqual(minimal, { sub }, "without email/profile scopes only sub is released");

  // A token it does not accept: oauth4webapi surfaces RFC 6750's challenge.
  await assert.rejects(
    oauth.processUserInfoResponse(as, client, sub, await oauth.userInfoRequest(as, client, `${full.access_token}x`, opts)),
    (err) => {
      assert.equal(err?.name, "WWWAuthenticateChallengeError", `${err}`);
      assert.equal(err.status, 401);
      assert.equal(err.cause[0].scheme, "bearer");
      assert.equal(err.cause[0].parameters.error, "invalid_token");
      return true;
    },
  );
});

test("(15) ingestSignedTicket and ingestSignedTickets: per-ticket results the SDK keeps, source not 'disabled'", { timeout: 20_000 }, async () => {
  const e = env();
  const sdk = sdkClient(e);
  const ext = freshUserId("tix");
  await sdk.upsertAppUser({ externalUserId: ext });
  const id = (n) => `${ext}-req-${n}`;
  const one = await sdk.ingestSignedTicket({ requestId: id(1), externalUserId: ext, networkFeeUsdMicros: "1200", feeWei: "400000000000", pipeline: "live-video-to-video:streamdiffusion" });
  assert.deepEqual(one, { ingested: true, duplicate: false, source: "openmeter" });
  const again = await sdk.ingestSignedTicket({ requestId: id(1), externalUserId: ext, networkFeeUsdMicros: "1200" });
  assert.deepEqual(again, { ingested: false, duplicate: true, source: "openmeter" });
  // The batch call returns only what the server lists in `results`, in order.
  const batch = await sdk.ingestSignedTickets([
    { requestId: id(1), externalUserId: ext, networkFeeUsdMicros: "1200" },
    { requestId: id(2), externalUserId: ext, networkFeeUsdMicros: "800", pixels: "1024" },
  ]);
  assert.deepEqual(batch.results, [
    { requestId: id(1), ok: true, ingested: false, duplicate: true, source: "openmeter" },
    { requestId: id(2), ok: true, ingested: true, duplicate: false, source: "openmeter" },
  ]);
  const allowances = await sdk.getUserAllowances(ext);
  assert.equal(allowances.allowances.consumedUsdMicros, "2000", "each ticket counted once");
  // A bad ticket refuses the whole batch with a readable PmtHouseError.
  await assert.rejects(
    sdk.ingestSignedTickets([{ requestId: id(3), externalUserId: ext, networkFeeUsdMicros: "-1" }]),
    expect4xx("negative fee", (err) => assert.equal(err.code, "ingest_failed")),
  );
});

test("(16) the SDK's billing calls Tollhouse does not serve fail as a readable 501 not_supported", { timeout: 20_000 }, async () => {
  const e = env();
  const sdk = sdkClient(e);
  const ext = freshUserId("bill");
  await sdk.upsertAppUser({ externalUserId: ext });
  const calls = {
    createBillingCheckout: () => sdk.createBillingCheckout({ planId: "plan_x", externalUserId: ext }),
    getBillingState: () => sdk.getBillingState(ext),
    collectBilling: () => sdk.collectBilling(ext),
    getUserSubscription: () => sdk.getUserSubscription(ext),
    listUserSubscriptions: () => sdk.listUserSubscriptions(ext),
    cancelUserSubscription: () => sdk.cancelUserSubscription(ext, { confirm: true }),
    changeUserSubscription: () => sdk.changeUserSubscription(ext, { planId: "plan_x" }),
    resumeUserSubscription: () => sdk.resumeUserSubscription(ext, { confirm: true }),
    listUserInvoices: () => sdk.listUserInvoices(ext),
    getUserInvoiceHostedUrl: () => sdk.getUserInvoiceHostedUrl(ext, "in_1"),
    listUserPaymentMethods: () => sdk.listUserPaymentMethods(ext),
    createUserPaymentMethodCheckout: () => sdk.createUserPaymentMethodCheckout({ externalUserId: ext }),
    setUserDefaultPaymentMethod: () => sdk.setUserDefaultPaymentMethod(ext, "pm_1"),
    ensureUserDefaultPaymentMethod: () => sdk.ensureUserDefaultPaymentMethod(ext),
    unlinkUserPaymentMethod: () => sdk.unlinkUserPaymentMethod(ext, "pm_1"),
  };
  for (const [name, call] of Object.entries(calls)) {
    await assert.rejects(call(), (err) => {
      assert.equal(err?.name, "PmtHouseError", `${name}: ${err?.stack ?? err}`);
      assert.equal(err.status, 501, `${name}: status ${err.status} (${err.message})`);
      assert.equal(err.code, "not_supported", `${name}: code ${err.code}`);
      assert.match(err.message, /allowances/, `${name}: the message says what to do instead`);
      return true;
    });
  }
});

test("(17) usage through the SDK: getUsage by every grouping, retail, a gateway request; the end-user calls; plans", { timeout: 45_000 }, async () => {
  const e = env();
  const sdk = sdkClient(e);
  const ext = freshUserId("use");
  await sdk.upsertAppUser({ externalUserId: ext });
  const gateway = `${ext}-gw`;
  await sdk.ingestSignedTickets([
    { requestId: `${ext}-a`, externalUserId: ext, networkFeeUsdMicros: "700", pipeline: "live-video-to-video", modelId: "streamdiffusion", gatewayRequestId: gateway },
    { requestId: `${ext}-b`, externalUserId: ext, networkFeeUsdMicros: "300", pipeline: "text-to-image", modelId: "SG161222/RealVisXL_V4.0_Lightning" },
  ]);
  const month = (await import("@pymthouse/builder-sdk")).getUtcCalendarMonthIsoBounds();
  const window = { startDate: month.startDate, endDate: month.endDate };

  const mine = await sdk.getUsage({ ...window, userId: ext });
  assert.equal(mine.totals.requestCount, 2, JSON.stringify(mine));
  assert.equal(mine.totals.networkFeeUsdMicros, "1000");
  const byUser = await sdk.getUsage({ ...window, groupBy: "user" });
  const row = byUser.byUser.find((r) => r.externalUserId === ext);
  assert.equal(row?.networkFeeUsdMicros, "1000", JSON.stringify(byUser.byUser));
  const byModel = await sdk.getUsage({ ...window, groupBy: "pipeline_model", userId: ext });
  assert.deepEqual(
    byModel.byPipelineModel.map((r) => [r.pipeline, r.modelId, r.networkFeeUsdMicros]).sort(),
    [["live-video-to-video", "streamdiffusion", "700"], ["text-to-image", "SG161222/RealVisXL_V4.0_Lightning", "300"]],
  );
  const daily = await sdk.getUsage({ ...window, groupBy: "daily_pipeline", userId: ext });
  assert.equal(daily.byDailyPipeline.reduce((n, r) => n + r.requestCount, 0), 2, JSON.stringify(daily));
  const one = await sdk.getUsage({ ...window, gatewayRequestId: gateway });
  assert.equal(one.totals.networkFeeUsdMicros, "700", JSON.stringify(one));

  // Plans: the SDK lists them as billing products and syncs one; retail then prices usage.
  const created = expectJson(await builderFetch(e, "POST", "/plans", { body: { name: `${ext}-plan`, defaultMarkupPercent: "25" } }), 201);
  const products = await sdk.listBillingProducts();
  const listed = (products.products ?? products.plans ?? []).find((p) => p.id === created.id);
  assert.ok(listed, `listBillingProducts lists the new plan: ${JSON.stringify(products)}`);
  const synced = await sdk.syncBillingProduct(created.id);
  assert.equal(synced.planId, created.id);
  assert.equal(synced.ok, true);
  const retail = await sdk.getUsage({ ...window, userId: ext, includeRetail: true });
  assert.equal(retail.totals.networkFeeUsdMicros, "1000");
  assert.equal(retail.totals.ownerChargeUsdMicros, "1000", "the owner pays the network fee");
  assert.equal(retail.totals.endUserBillableUsdMicros, "1250", `25 % over the network fee: ${JSON.stringify(retail.totals)}`);

  // End-user calls, with the user's own token: the subject is the token's, never a parameter.
  const token = (await sdk.mintUserAccessToken({ externalUserId: ext })).access_token;
  const balance = await sdk.getEndUserUsageBalance(token);
  assert.equal(balance.consumedUsdMicros, "1000");
  const own = await sdk.getEndUserUsage({ accessToken: token, ...window });
  assert.equal(own.totals.networkFeeUsdMicros, "1000", JSON.stringify(own));
  const payload = await sdk.fetchEndUserUsage({ accessToken: token, externalUserId: ext, ...window });
  assert.ok(payload && typeof payload === "object", JSON.stringify(payload));
  const forUser = await sdk.fetchUsageForExternalUser({ externalUserId: ext, ...window });
  assert.ok(forUser && typeof forUser === "object", JSON.stringify(forUser));
  assert.equal(JSON.stringify(forUser).includes("1000"), true, `the user's 1000 micro-USD: ${JSON.stringify(forUser)}`);
});

test("(18) exchangeForSignerSession and createSignerSessionToken: the opaque session and the signer JWT", { timeout: 20_000 }, async () => {
  const e = env();
  const sdk = sdkClient(e);
  const ext = await fundedUser(sdk, "xch");
  const userJwt = (await sdk.mintUserAccessToken({ externalUserId: ext })).access_token;
  const opaque = await sdk.exchangeForSignerSession({ userJwt, omitResource: true });
  assert.match(opaque.access_token, /^pmth_[0-9a-f]{64}$/, JSON.stringify(opaque));
  assert.equal(opaque.token_type.toLowerCase(), "bearer");
  const jwt = await sdk.exchangeForSignerSession({ userJwt, resource: e.issuer });
  assert.equal(decodeJwtPart(jwt.access_token, 1).token_use, "signer", JSON.stringify(jwt));
  const session = await sdk.createSignerSessionToken({ userJwt });
  assert.ok(typeof session.access_token === "string" && session.access_token.length > 20, JSON.stringify(session));
  // A signer credential cannot be exchanged again (credential lineage).
  await assert.rejects(sdk.exchangeForSignerSession({ userJwt: jwt.access_token, omitResource: true }), expect4xx("signer JWT as a subject"));
});

test("(19) completeDeviceApproval: the app backend approves with the user's JWT; the device's poll gets tokens", { timeout: 45_000 }, async () => {
  const e = env();
  const sdk = sdkClient(e);
  const ext = await fundedUser(sdk, "cda");
  const ac = new AbortController();
  const giveUp = setTimeout(() => ac.abort(new Error("device flow did not complete within 40 s")), 40_000);
  let approval;
  const poll = pollDeviceToken({
    issuerUrl: e.issuer,
    clientId: e.publicClientId,
    allowInsecureHttp: e.insecure,
    signal: ac.signal,
    onUserCode: (info) => {
      approval = sdk.mintUserAccessToken({ externalUserId: ext })
        .then((t) => sdk.completeDeviceApproval({ userJwt: t.access_token, userCode: info.userCode }))
        .then((answer) => ({ ok: true, answer }), (err) => {
          ac.abort(new Error(`completeDeviceApproval failed: ${err?.status} ${err?.code} ${err?.message}`));
          return { ok: false, err };
        });
    },
  });
  let tokens;
  try {
    tokens = await poll;
  } finally {
    clearTimeout(giveUp);
  }
  const a = await approval;
  assert.ok(a.ok, `completeDeviceApproval must succeed: ${a.err}`);
  assert.equal(typeof a.answer.access_token, "string");
  assert.equal(decodeJwtPart(tokens.access_token, 1).external_user_id, ext, "the device holds the approving user's token");
  // A code no device asked for is refused.
  const again = await sdk.mintUserAccessToken({ externalUserId: ext });
  await assert.rejects(sdk.completeDeviceApproval({ userJwt: again.access_token, userCode: "BCDF-BCDF" }), expect4xx("an unknown code"));
});

test("(20) the SDK's backend handlers: API-key and device exchange, and the signer proxy through Tollhouse's proxy to go-livepeer", { timeout: 60_000 }, async () => {
  const e = env();
  const sdk = sdkClient(e);
  const paymentBody = process.env.TOLLHOUSE_PAYMENT_BODY;
  assert.ok(paymentBody, "TOLLHOUSE_PAYMENT_BODY (a go-livepeer payment request from the signer double) is not set");
  const routing = await sdk.getSignerRouting();
  const signerUrl = routing.routing.signerApiUrl;
  const ext = await fundedUser(sdk, "hdl");

  // createApiKeyExchangeHandler: an integrator's route that trades a user's API key.
  const key = expectJson(await builderFetch(e, "POST", `/users/${encodeURIComponent(ext)}/keys`, { body: { label: "cli" } }), 201);
  const apiKeyExchange = createApiKeyExchangeHandler({
    issuerUrl: e.issuer, publicClientId: e.publicClientId, m2mClientId: e.m2mClientId, m2mClientSecret: e.m2mClientSecret, allowInsecureHttp: e.insecure,
  });
  const traded = await apiKeyExchange(new Request("http://bff.test/api/keys/exchange", {
    method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ apiKey: key.apiKey }),
  }));
  const tradedBody = await traded.json();
  assert.equal(traded.status, 200, JSON.stringify(tradedBody));
  assert.equal(typeof tradedBody.access_token, "string");
  assert.equal(tradedBody.signer_url, signerUrl, "the exchange names Tollhouse's signer proxy");

  // createDeviceExchangeHandler: a device's user token (from the device flow) for a signer JWT.
  const ac = new AbortController();
  const giveUp = setTimeout(() => ac.abort(new Error("device flow did not complete")), 40_000);
  let approving;
  const deviceTokens = await pollDeviceToken({
    issuerUrl: e.issuer, clientId: e.publicClientId, allowInsecureHttp: e.insecure, signal: ac.signal,
    onUserCode: (info) => { approving = sdk.approveDeviceLogin({ externalUserId: ext, userCode: info.userCode }); },
  }).finally(() => clearTimeout(giveUp));
  await approving;
  const deviceExchange = createDeviceExchangeHandler({
    issuerUrl: e.issuer, m2mClientId: e.m2mClientId, m2mClientSecret: e.m2mClientSecret, allowInsecureHttp: e.insecure, signerUrl,
  });
  const device = await deviceExchange(new Request("http://bff.test/api/device/exchange", {
    method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ deviceToken: deviceTokens.access_token }),
  }));
  const deviceBody = await device.json();
  assert.equal(device.status, 200, JSON.stringify(deviceBody));
  assert.equal(typeof deviceBody.access_token, "string");

  // createDirectSignerProxyHandler: the integrator's BFF signs for its signed-in user; the SDK
  // forwards to `remoteSignerUrl` (Tollhouse), whose proxy forwards to go-livepeer.
  const proxy = createDirectSignerProxyHandler({
    pymthouseIssuerUrl: e.issuer, pymthouseClientId: e.publicClientId,
    pymthouseM2MClientId: e.m2mClientId, pymthouseM2MClientSecret: e.m2mClientSecret,
    remoteSignerUrl: signerUrl, allowInsecureHttp: e.insecure, proxyPathPrefix: "/api/bff/signer",
    authenticate: async (request) => (request.headers.get("x-app-session") === "ok" ? { user: ext } : null),
    resolveExternalUserId: async (session) => session.user,
  });
  const sign = (session) => proxy(new Request("http://bff.test/api/bff/signer/generate-live-payment", {
    method: "POST", headers: { "content-type": "application/json", ...(session ? { "x-app-session": session } : {}) }, body: paymentBody,
  }));
  const refused = await sign(null);
  assert.equal(refused.status, 401, "the BFF refuses a caller it does not know, before signing");
  const signed = await sign("ok");
  const signedBody = await signed.text();
  assert.equal(signed.status, 200, signedBody);
  assert.ok(JSON.parse(signedBody).payment, `go-livepeer's payment answer: ${signedBody}`);

  // forwardDirectSignerRequest, the low-level helper, with a freshly minted signer JWT.
  const minted = await mintUserSignerToken({
    issuerUrl: e.issuer, publicClientId: e.publicClientId, m2mClientId: e.m2mClientId, m2mClientSecret: e.m2mClientSecret,
    externalUserId: ext, allowInsecureHttp: e.insecure,
  });
  const forwarded = await forwardDirectSignerRequest({
    request: new Request("http://bff.test/sign-orchestrator-info", { method: "POST", headers: { "content-type": "application/json" }, body: "{}" }),
    remoteSignerUrl: signerUrl, jwt: minted.jwt,
  });
  assert.equal(forwarded.status, 200, await forwarded.clone().text());
});
