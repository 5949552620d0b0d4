-- Usage by manifest (go-livepeer stream), each event's billable time as an integer, and when
-- each event's ETH/USD price was observed.

-- When the price an event was valued at was observed (unix ms): the oracle's fetch time, or the
-- server's start for a static --eth-usd-price. NULL for events stored before this migration and
-- for builder-sdk tickets that report no observation time.
ALTER TABLE usage_events ADD COLUMN price_observed_at_ms BIGINT;

-- billable_secs × 10^6, rounded half up to a whole microsecond when ingested (0 when the text
-- is beyond 10^6 s, see docs/metering.md), so SQL can sum it exactly.
ALTER TABLE usage_events ADD COLUMN billable_micros BIGINT NOT NULL DEFAULT 0 CHECK (billable_micros >= 0);

-- Per app, UTC day, manifest, user, pipeline and model: kept on ingest (like usage_rollups) so
-- `groupBy=manifest` never scans events. user_id is '' for usage of an unknown user of a known
-- app.
CREATE TABLE usage_manifest_rollups (
    client_id        TEXT NOT NULL,
    user_id          TEXT NOT NULL,
    manifest_id      TEXT NOT NULL,
    pipeline         TEXT NOT NULL,
    model_id         TEXT NOT NULL,
    day              BIGINT NOT NULL,
    request_count    BIGINT NOT NULL,
    fee_gwei         BIGINT NOT NULL CHECK (fee_gwei >= 0),
    fee_wei          BIGINT NOT NULL CHECK (fee_wei >= 0),
    usd_e6           BIGINT NOT NULL CHECK (usd_e6 >= 0),
    usd_e9           BIGINT NOT NULL CHECK (usd_e9 >= 0),
    usd_e18          BIGINT NOT NULL CHECK (usd_e18 >= 0),
    usd_e27          BIGINT NOT NULL CHECK (usd_e27 >= 0),
    usd_e36          BIGINT NOT NULL CHECK (usd_e36 >= 0),
    billable_micros  BIGINT NOT NULL CHECK (billable_micros >= 0),
    PRIMARY KEY (client_id, day, manifest_id, user_id, pipeline, model_id)
);

CREATE INDEX usage_rollups_by_day ON usage_rollups (client_id, day);

-- Events stored before this migration. billable_secs is the exact decimal text go-livepeer sent:
-- plain decimals are converted exactly (half up); the exponent form go-livepeer uses below
-- 10^-6 s (`d.ddde-07` and smaller) is under one microsecond and rounds to 1 (`>= 5e-07`) or 0;
-- anything else (other exponent forms, more than 10^6 s in one event) counts 0.
UPDATE usage_events SET billable_micros = (
    SELECT CASE
        WHEN instr(lower(t), 'e') = 0 THEN
            CASE WHEN length(ltrim(whole, '0')) <= 6 THEN
                CAST(whole AS INTEGER) * 1000000
                + CAST(substr(frac || '000000', 1, 6) AS INTEGER)
                + (CASE WHEN substr(frac || '0000000', 7, 1) >= '5' THEN 1 ELSE 0 END)
            ELSE 0 END
        WHEN (lower(t) LIKE '_e-07' OR lower(t) LIKE '_.%e-07'
              OR lower(t) LIKE '_e-7' OR lower(t) LIKE '_.%e-7')
             AND substr(t, 1, 1) >= '5' THEN 1
        ELSE 0
    END
    FROM (
        SELECT billable_secs AS t,
            CASE WHEN instr(billable_secs, '.') > 0
                 THEN substr(billable_secs, 1, instr(billable_secs, '.') - 1)
                 ELSE billable_secs END AS whole,
            CASE WHEN instr(billable_secs, '.') > 0
                 THEN substr(billable_secs, instr(billable_secs, '.') + 1)
                 ELSE '' END AS frac
    ) AS split
);

INSERT INTO usage_manifest_rollups (client_id, user_id, manifest_id, pipeline, model_id, day,
    request_count, fee_gwei, fee_wei, usd_e6, usd_e9, usd_e18, usd_e27, usd_e36, billable_micros)
SELECT client_id, COALESCE(user_id, ''), manifest_id, pipeline, model_id, day,
    COUNT(*), SUM(fee_gwei), SUM(fee_wei), SUM(usd_e6), SUM(usd_e9), SUM(usd_e18), SUM(usd_e27),
    SUM(usd_e36), SUM(billable_micros)
FROM usage_events
WHERE client_id IS NOT NULL
GROUP BY client_id, COALESCE(user_id, ''), manifest_id, pipeline, model_id, day;
