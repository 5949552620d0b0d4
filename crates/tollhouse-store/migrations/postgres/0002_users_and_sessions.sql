-- App users, refresh-token families and opaque signer sessions.
CREATE TABLE app_users (
    id                TEXT PRIMARY KEY,
    client_id         TEXT NOT NULL REFERENCES apps (client_id),
    external_user_id  TEXT NOT NULL,
    email             TEXT,
    status            TEXT NOT NULL,
    created_at        BIGINT NOT NULL,
    updated_at        BIGINT NOT NULL,
    UNIQUE (client_id, external_user_id)
);

-- One row per refresh token ever issued; a rotated token keeps its row (rotated_at set) so that
-- presenting it again is recognised as reuse and revokes the whole family.
CREATE TABLE refresh_tokens (
    token_hash  BYTEA PRIMARY KEY,
    family_id   TEXT NOT NULL,
    client_id   TEXT NOT NULL,
    user_id     TEXT NOT NULL REFERENCES app_users (id),
    scope       TEXT NOT NULL,
    created_at  BIGINT NOT NULL,
    expires_at  BIGINT NOT NULL,
    rotated_at  BIGINT,
    revoked_at  BIGINT
);
CREATE INDEX refresh_tokens_by_family ON refresh_tokens (family_id);
CREATE INDEX refresh_tokens_by_expiry ON refresh_tokens (expires_at);

CREATE TABLE signer_sessions (
    token_hash  BYTEA PRIMARY KEY,
    client_id   TEXT NOT NULL,
    user_id     TEXT NOT NULL REFERENCES app_users (id),
    scope       TEXT NOT NULL,
    created_at  BIGINT NOT NULL,
    expires_at  BIGINT NOT NULL,
    revoked_at  BIGINT
);
CREATE INDEX signer_sessions_by_user ON signer_sessions (user_id);
