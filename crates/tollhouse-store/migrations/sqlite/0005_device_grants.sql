-- RFC 8628 device authorization grants. The device code is stored as a keyed hash; the user
-- code is stored normalised (upper case, no dash) and is unique while the grant lives.
CREATE TABLE device_grants (
    device_code_hash  BLOB PRIMARY KEY,
    user_code         TEXT NOT NULL UNIQUE,
    client_id         TEXT NOT NULL,
    scope             TEXT NOT NULL,
    created_at        BIGINT NOT NULL,
    expires_at        BIGINT NOT NULL,
    interval_secs     BIGINT NOT NULL,
    last_polled_ms    BIGINT,
    status            TEXT NOT NULL,
    user_id           TEXT REFERENCES app_users (id)
);
CREATE INDEX device_grants_by_expiry ON device_grants (expires_at);
