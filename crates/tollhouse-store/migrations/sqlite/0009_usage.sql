-- Usage ingest. Money is exact: wei and USD are stored as integer parts that SQL adds column by
-- column (see tollhouse_core::money::{WeiParts, UsdParts}); Rust normalises carries on read.

-- One row per counted event, deduplicated on its id (the envelope uuid; for builder-sdk
-- tickets `ticket:<client>:<requestId>`). client_id/user_id are NULL when the auth_id matched
-- no app or user here (kept and counted, never dropped).
CREATE TABLE usage_events (
    id                  TEXT PRIMARY KEY,
    source              TEXT NOT NULL,
    auth_id             TEXT NOT NULL,
    client_id           TEXT,
    user_id             TEXT,
    pipeline            TEXT NOT NULL,
    model_id            TEXT NOT NULL,
    manifest_id         TEXT NOT NULL,
    gateway_request_id  TEXT,
    request_id          TEXT NOT NULL,
    fee_gwei            BIGINT NOT NULL CHECK (fee_gwei >= 0),
    fee_wei             BIGINT NOT NULL CHECK (fee_wei >= 0),
    usd_e6              BIGINT NOT NULL CHECK (usd_e6 >= 0),
    usd_e9              BIGINT NOT NULL CHECK (usd_e9 >= 0),
    usd_e18             BIGINT NOT NULL CHECK (usd_e18 >= 0),
    usd_e27             BIGINT NOT NULL CHECK (usd_e27 >= 0),
    usd_e36             BIGINT NOT NULL CHECK (usd_e36 >= 0),
    eth_usd_price       TEXT NOT NULL,
    pixels              BIGINT NOT NULL,
    billable_secs       TEXT NOT NULL,
    occurred_at_ms      BIGINT NOT NULL,
    day                 BIGINT NOT NULL,
    ingested_at         BIGINT NOT NULL
);
CREATE INDEX usage_events_by_user ON usage_events (user_id, occurred_at_ms);
CREATE INDEX usage_events_by_gateway_request ON usage_events (client_id, gateway_request_id);

-- Per app, user, pipeline, model and UTC day: kept on ingest so queries never scan events.
CREATE TABLE usage_rollups (
    client_id      TEXT NOT NULL,
    user_id        TEXT NOT NULL,
    pipeline       TEXT NOT NULL,
    model_id       TEXT NOT NULL,
    day            BIGINT NOT NULL,
    request_count  BIGINT NOT NULL,
    fee_gwei       BIGINT NOT NULL CHECK (fee_gwei >= 0),
    fee_wei        BIGINT NOT NULL CHECK (fee_wei >= 0),
    usd_e6         BIGINT NOT NULL CHECK (usd_e6 >= 0),
    usd_e9         BIGINT NOT NULL CHECK (usd_e9 >= 0),
    usd_e18        BIGINT NOT NULL CHECK (usd_e18 >= 0),
    usd_e27        BIGINT NOT NULL CHECK (usd_e27 >= 0),
    usd_e36        BIGINT NOT NULL CHECK (usd_e36 >= 0),
    PRIMARY KEY (client_id, user_id, pipeline, model_id, day)
);

-- A user's exact consumption (the balance gate reads its micro-USD, rounded up once).
ALTER TABLE user_consumption ADD COLUMN usd_e9 BIGINT NOT NULL DEFAULT 0;
ALTER TABLE user_consumption ADD COLUMN usd_e18 BIGINT NOT NULL DEFAULT 0;
ALTER TABLE user_consumption ADD COLUMN usd_e27 BIGINT NOT NULL DEFAULT 0;
ALTER TABLE user_consumption ADD COLUMN usd_e36 BIGINT NOT NULL DEFAULT 0;

-- Events that could not be read: raw bytes and why, for `tollhouse usage dead-letters`.
CREATE TABLE usage_dead_letters (
    id           TEXT PRIMARY KEY,
    source       TEXT NOT NULL,
    raw          BLOB NOT NULL,
    reason       TEXT NOT NULL,
    received_at  BIGINT NOT NULL,
    redriven_at  BIGINT
);
