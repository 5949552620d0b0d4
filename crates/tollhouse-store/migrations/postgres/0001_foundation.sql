-- Apps, signing keys, token revocations and server settings.
CREATE TABLE apps (
    client_id        TEXT PRIMARY KEY,
    name             TEXT NOT NULL,
    status           TEXT NOT NULL,
    allowed_scopes   TEXT NOT NULL,
    m2m_client_id    TEXT NOT NULL UNIQUE,
    m2m_secret_hash  BYTEA NOT NULL,
    created_at       BIGINT NOT NULL,
    updated_at       BIGINT NOT NULL
);

CREATE TABLE signing_keys (
    kid             TEXT PRIMARY KEY,
    alg             TEXT NOT NULL,
    public_jwk      TEXT NOT NULL,
    private_sealed  BYTEA NOT NULL,
    created_at      BIGINT NOT NULL,
    -- A key is published from creation, becomes current at activates_at (so relying parties
    -- see it before any token carries it), and leaves the JWKS at publish_until.
    activates_at    BIGINT NOT NULL,
    publish_until   BIGINT
);

CREATE TABLE revoked_tokens (
    jti         TEXT PRIMARY KEY,
    client_id   TEXT NOT NULL,
    expires_at  BIGINT NOT NULL
);
CREATE INDEX revoked_tokens_by_expiry ON revoked_tokens (expires_at);

CREATE TABLE settings (
    name   TEXT PRIMARY KEY,
    value  TEXT NOT NULL
);
