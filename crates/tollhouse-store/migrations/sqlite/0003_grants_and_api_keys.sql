-- Prepaid allowance grants (immutable once written) and per-user API keys.
CREATE TABLE allowance_grants (
    id                 TEXT PRIMARY KEY,
    client_id          TEXT NOT NULL,
    user_id            TEXT NOT NULL REFERENCES app_users (id),
    amount_usd_micros  BIGINT NOT NULL CHECK (amount_usd_micros > 0),
    source             TEXT NOT NULL,
    feature_key        TEXT,
    effective_at       BIGINT NOT NULL,
    expires_at         BIGINT,
    priority           BIGINT NOT NULL DEFAULT 0,
    created_at         BIGINT NOT NULL
);
CREATE INDEX allowance_grants_by_user ON allowance_grants (user_id);

CREATE TABLE api_keys (
    id           TEXT PRIMARY KEY,
    client_id    TEXT NOT NULL,
    user_id      TEXT NOT NULL REFERENCES app_users (id),
    secret_hash  BLOB NOT NULL UNIQUE,
    label        TEXT,
    prefix       TEXT NOT NULL,
    suffix       TEXT NOT NULL,
    created_at   BIGINT NOT NULL,
    revoked_at   BIGINT
);
CREATE INDEX api_keys_by_user ON api_keys (user_id);
