-- Per-app signer policy: billing mode and gate settings, and which end-user verifiers the
-- identity webhook may use for the app (NULL: the deployment's list).
ALTER TABLE apps ADD COLUMN billing_mode TEXT NOT NULL DEFAULT 'none';
ALTER TABLE apps ADD COLUMN soft_limit_usd_micros BIGINT NOT NULL DEFAULT 0;
ALTER TABLE apps ADD COLUMN balance_recheck_secs BIGINT NOT NULL DEFAULT 60;
ALTER TABLE apps ADD COLUMN billing_fail_open BIGINT NOT NULL DEFAULT 0;
ALTER TABLE apps ADD COLUMN webhook_verifiers TEXT;

-- A user's consumption valued in USD (micro-USD, rounded up), read by the balance gate and
-- kept current by usage ingest.
CREATE TABLE user_consumption (
    user_id              TEXT PRIMARY KEY REFERENCES app_users (id),
    client_id            TEXT NOT NULL REFERENCES apps (client_id),
    consumed_usd_micros  BIGINT NOT NULL,
    updated_at           BIGINT NOT NULL
);

-- Live AI stream keys: handed to a user's encoder; the gateway's auth webhook resolves them.
CREATE TABLE stream_keys (
    id                   TEXT PRIMARY KEY,
    client_id            TEXT NOT NULL REFERENCES apps (client_id),
    user_id              TEXT NOT NULL REFERENCES app_users (id),
    key_hash             BLOB NOT NULL UNIQUE,
    pipeline             TEXT,
    pipeline_parameters  TEXT,
    created_at           BIGINT NOT NULL,
    revoked_at           BIGINT
);
CREATE INDEX stream_keys_by_user ON stream_keys (user_id);
