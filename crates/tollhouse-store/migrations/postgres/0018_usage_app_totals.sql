-- Each app's usage over its whole life (see tollhouse-core's bounds.rs). Every ingest batch
-- checks it before storing an event and adds to it in the same transaction: the one event that
-- would take an app past its lifetime ceiling is refused on its own, so no stored sum and no
-- report sum can overflow 64-bit integers, and one app cannot stop anyone's metering. The
-- CHECKs restate the ceilings, so two batches stored at once cannot both pass a stale read.
-- Sums are kept carried (every sub-unit column below its base), as every usage sum is from
-- this version on.
CREATE TABLE usage_app_totals (
    client_id        TEXT COLLATE "C" PRIMARY KEY,
    request_count    BIGINT NOT NULL CHECK (request_count >= 0),
    fee_gwei         BIGINT NOT NULL CHECK (fee_gwei >= 0 AND fee_gwei <= 100000000000000000),
    fee_wei          BIGINT NOT NULL CHECK (fee_wei >= 0),
    usd_e6           BIGINT NOT NULL CHECK (usd_e6 >= 0 AND usd_e6 <= 100000000000000000),
    usd_e9           BIGINT NOT NULL CHECK (usd_e9 >= 0),
    usd_e18          BIGINT NOT NULL CHECK (usd_e18 >= 0),
    usd_e27          BIGINT NOT NULL CHECK (usd_e27 >= 0),
    usd_e36          BIGINT NOT NULL CHECK (usd_e36 >= 0),
    billable_micros  BIGINT NOT NULL CHECK (billable_micros >= 0 AND billable_micros <= 1000000000000000000)
);

-- The usage stored before this version. An app already past a ceiling (only possible through
-- the overflow this version closes) is recorded at the ceiling: its further usage is refused.
INSERT INTO usage_app_totals (client_id, request_count, fee_gwei, fee_wei, usd_e6, usd_e9,
    usd_e18, usd_e27, usd_e36, billable_micros)
SELECT r.client_id, LEAST(r.n, 9223372036854775807)::BIGINT,
    LEAST(r.gwei + r.wei / 1000000000, 100000000000000000)::BIGINT, (r.wei % 1000000000)::BIGINT,
    LEAST(r.e6 + (r.e9 + (r.e18 + (r.e27 + r.e36 / 1000000000) / 1000000000) / 1000000000) / 1000,
          100000000000000000)::BIGINT,
    ((r.e9 + (r.e18 + (r.e27 + r.e36 / 1000000000) / 1000000000) / 1000000000) % 1000)::BIGINT,
    ((r.e18 + (r.e27 + r.e36 / 1000000000) / 1000000000) % 1000000000)::BIGINT,
    ((r.e27 + r.e36 / 1000000000) % 1000000000)::BIGINT,
    (r.e36 % 1000000000)::BIGINT,
    LEAST(COALESCE(m.billable, 0), 1000000000000000000)::BIGINT
FROM (
    SELECT client_id, SUM(request_count) AS n, SUM(fee_gwei) AS gwei, SUM(fee_wei) AS wei,
        SUM(usd_e6) AS e6, SUM(usd_e9) AS e9, SUM(usd_e18) AS e18, SUM(usd_e27) AS e27,
        SUM(usd_e36) AS e36
    FROM usage_rollups GROUP BY client_id
) AS r
LEFT JOIN (
    SELECT client_id, SUM(billable_micros) AS billable FROM usage_manifest_rollups GROUP BY client_id
) AS m ON m.client_id = r.client_id;
