-- Usage summed over aligned blocks of 1, 4, 16 and 64 UTC days (span_days; start_day a multiple
-- of it), per app and (pipeline, model) and per app and user, kept on ingest (see
-- crates/tollhouse-store/src/usage_blocks.rs): any range of days is a few such blocks, so an
-- app-wide or per-user report reads a few rows per group instead of one per group and day.
-- user_id is '' for usage of an unknown user of a known app (as in usage_rollups).
-- STRICT: a sum that overflowed 64-bit integers (SQLite makes it a REAL) fails the batch's
-- transaction instead of being stored inexactly (the older tables need 0012's triggers).

CREATE TABLE usage_app_blocks (
    client_id      TEXT NOT NULL,
    pipeline       TEXT NOT NULL,
    model_id       TEXT NOT NULL,
    span_days      INTEGER NOT NULL CHECK (span_days IN (1, 4, 16, 64)),
    start_day      INTEGER NOT NULL,
    request_count  INTEGER NOT NULL,
    fee_gwei       INTEGER NOT NULL CHECK (fee_gwei >= 0),
    fee_wei        INTEGER NOT NULL CHECK (fee_wei >= 0),
    usd_e6         INTEGER NOT NULL CHECK (usd_e6 >= 0),
    usd_e9         INTEGER NOT NULL CHECK (usd_e9 >= 0),
    usd_e18        INTEGER NOT NULL CHECK (usd_e18 >= 0),
    usd_e27        INTEGER NOT NULL CHECK (usd_e27 >= 0),
    usd_e36        INTEGER NOT NULL CHECK (usd_e36 >= 0),
    PRIMARY KEY (client_id, span_days, start_day, pipeline, model_id)
) STRICT;

CREATE TABLE usage_user_blocks (
    client_id      TEXT NOT NULL,
    user_id        TEXT NOT NULL,
    span_days      INTEGER NOT NULL CHECK (span_days IN (1, 4, 16, 64)),
    start_day      INTEGER NOT NULL,
    request_count  INTEGER NOT NULL,
    fee_gwei       INTEGER NOT NULL CHECK (fee_gwei >= 0),
    fee_wei        INTEGER NOT NULL CHECK (fee_wei >= 0),
    usd_e6         INTEGER NOT NULL CHECK (usd_e6 >= 0),
    usd_e9         INTEGER NOT NULL CHECK (usd_e9 >= 0),
    usd_e18        INTEGER NOT NULL CHECK (usd_e18 >= 0),
    usd_e27        INTEGER NOT NULL CHECK (usd_e27 >= 0),
    usd_e36        INTEGER NOT NULL CHECK (usd_e36 >= 0),
    PRIMARY KEY (client_id, span_days, start_day, user_id)
) STRICT;

-- groupBy=manifest pages through an app's manifests in order (keyset pagination) instead of
-- summing every manifest of the period.
CREATE INDEX usage_manifest_rollups_by_manifest
    ON usage_manifest_rollups (client_id, manifest_id, pipeline, model_id, day);

-- Only events that name a gateway request are ever looked up by it, and go-livepeer's
-- create_signed_ticket events usually name none: index just those that do (one index insert
-- less per ingested event).
DROP INDEX usage_events_by_gateway_request;
CREATE INDEX usage_events_by_gateway_request ON usage_events (client_id, gateway_request_id)
    WHERE gateway_request_id IS NOT NULL;

-- The usage stored before this migration.
INSERT INTO usage_app_blocks (client_id, pipeline, model_id, span_days, start_day, request_count,
    fee_gwei, fee_wei, usd_e6, usd_e9, usd_e18, usd_e27, usd_e36)
SELECT client_id, pipeline, model_id, s.span, day - ((day % s.span) + s.span) % s.span,
    SUM(request_count), SUM(fee_gwei), SUM(fee_wei), SUM(usd_e6), SUM(usd_e9), SUM(usd_e18),
    SUM(usd_e27), SUM(usd_e36)
FROM usage_rollups CROSS JOIN (SELECT 1 AS span UNION ALL SELECT 4 UNION ALL SELECT 16 UNION ALL SELECT 64) AS s
GROUP BY client_id, pipeline, model_id, s.span, day - ((day % s.span) + s.span) % s.span;

INSERT INTO usage_user_blocks (client_id, user_id, span_days, start_day, request_count,
    fee_gwei, fee_wei, usd_e6, usd_e9, usd_e18, usd_e27, usd_e36)
SELECT client_id, user_id, s.span, day - ((day % s.span) + s.span) % s.span,
    SUM(request_count), SUM(fee_gwei), SUM(fee_wei), SUM(usd_e6), SUM(usd_e9), SUM(usd_e18),
    SUM(usd_e27), SUM(usd_e36)
FROM usage_rollups CROSS JOIN (SELECT 1 AS span UNION ALL SELECT 4 UNION ALL SELECT 16 UNION ALL SELECT 64) AS s
GROUP BY client_id, user_id, s.span, day - ((day % s.span) + s.span) % s.span;
