-- Retail plans: an app's prices for its end users, per pipeline and model. A plan is immutable
-- once created (only its status and sync time change), so past retail figures stay explainable.
-- Rates are nano-USD billed per micro-USD of network fee (1000 = at cost); a price given as a
-- markup keeps its tenths of a percent so it reads back as given.
CREATE TABLE plans (
    id                     TEXT PRIMARY KEY,
    client_id              TEXT NOT NULL REFERENCES apps (client_id),
    name                   TEXT NOT NULL,
    status                 TEXT NOT NULL CHECK (status IN ('active', 'archived')),
    default_rate_nanos     BIGINT CHECK (default_rate_nanos > 0),
    default_markup_tenths  BIGINT CHECK (default_markup_tenths >= 0),
    included_usd_micros    BIGINT CHECK (included_usd_micros >= 0),
    billing_cycle          TEXT NOT NULL,
    created_at             BIGINT NOT NULL,
    synced_at              BIGINT,
    -- Creation order within the app (ties of created_at, which has one-second resolution).
    ordinal                BIGINT NOT NULL,
    CHECK (default_rate_nanos IS NULL OR default_markup_tenths IS NULL)
);
-- At most one active plan per app.
CREATE UNIQUE INDEX plans_one_active ON plans (client_id) WHERE status = 'active';
CREATE INDEX plans_by_app ON plans (client_id, ordinal);

CREATE TABLE plan_rates (
    plan_id        TEXT NOT NULL REFERENCES plans (id),
    pipeline       TEXT NOT NULL,
    model_id       TEXT NOT NULL,
    position       BIGINT NOT NULL,
    rate_nanos     BIGINT CHECK (rate_nanos > 0),
    markup_tenths  BIGINT CHECK (markup_tenths >= 0),
    PRIMARY KEY (plan_id, pipeline, model_id),
    CHECK ((rate_nanos IS NULL) <> (markup_tenths IS NULL))
);
