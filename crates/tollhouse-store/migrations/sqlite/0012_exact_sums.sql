-- Money sums must stay exact integers. SQLite turns an integer overflow in `+` into a REAL
-- (which `CHECK (col >= 0)` lets through), and these tables cannot be rebuilt as STRICT in
-- place; these triggers make such an update fail instead, so the batch's transaction rolls
-- back and nothing is stored inexactly. (PostgreSQL raises `bigint out of range` itself.)

CREATE TRIGGER usage_rollups_exact_insert BEFORE INSERT ON usage_rollups
WHEN typeof(NEW.request_count) <> 'integer'
    OR typeof(NEW.fee_gwei) <> 'integer'
    OR typeof(NEW.fee_wei) <> 'integer'
    OR typeof(NEW.usd_e6) <> 'integer'
    OR typeof(NEW.usd_e9) <> 'integer'
    OR typeof(NEW.usd_e18) <> 'integer'
    OR typeof(NEW.usd_e27) <> 'integer'
    OR typeof(NEW.usd_e36) <> 'integer'
BEGIN
    SELECT RAISE(ABORT, 'usage_rollups: a money sum overflowed 64-bit integers');
END;

CREATE TRIGGER usage_rollups_exact_update BEFORE UPDATE ON usage_rollups
WHEN typeof(NEW.request_count) <> 'integer'
    OR typeof(NEW.fee_gwei) <> 'integer'
    OR typeof(NEW.fee_wei) <> 'integer'
    OR typeof(NEW.usd_e6) <> 'integer'
    OR typeof(NEW.usd_e9) <> 'integer'
    OR typeof(NEW.usd_e18) <> 'integer'
    OR typeof(NEW.usd_e27) <> 'integer'
    OR typeof(NEW.usd_e36) <> 'integer'
BEGIN
    SELECT RAISE(ABORT, 'usage_rollups: a money sum overflowed 64-bit integers');
END;

CREATE TRIGGER usage_manifest_rollups_exact_insert BEFORE INSERT ON usage_manifest_rollups
WHEN typeof(NEW.request_count) <> 'integer'
    OR typeof(NEW.fee_gwei) <> 'integer'
    OR typeof(NEW.fee_wei) <> 'integer'
    OR typeof(NEW.usd_e6) <> 'integer'
    OR typeof(NEW.usd_e9) <> 'integer'
    OR typeof(NEW.usd_e18) <> 'integer'
    OR typeof(NEW.usd_e27) <> 'integer'
    OR typeof(NEW.usd_e36) <> 'integer'
    OR typeof(NEW.billable_micros) <> 'integer'
BEGIN
    SELECT RAISE(ABORT, 'usage_manifest_rollups: a money sum overflowed 64-bit integers');
END;

CREATE TRIGGER usage_manifest_rollups_exact_update BEFORE UPDATE ON usage_manifest_rollups
WHEN typeof(NEW.request_count) <> 'integer'
    OR typeof(NEW.fee_gwei) <> 'integer'
    OR typeof(NEW.fee_wei) <> 'integer'
    OR typeof(NEW.usd_e6) <> 'integer'
    OR typeof(NEW.usd_e9) <> 'integer'
    OR typeof(NEW.usd_e18) <> 'integer'
    OR typeof(NEW.usd_e27) <> 'integer'
    OR typeof(NEW.usd_e36) <> 'integer'
    OR typeof(NEW.billable_micros) <> 'integer'
BEGIN
    SELECT RAISE(ABORT, 'usage_manifest_rollups: a money sum overflowed 64-bit integers');
END;

CREATE TRIGGER user_consumption_exact_insert BEFORE INSERT ON user_consumption
WHEN typeof(NEW.consumed_usd_micros) <> 'integer'
    OR typeof(NEW.usd_e9) <> 'integer'
    OR typeof(NEW.usd_e18) <> 'integer'
    OR typeof(NEW.usd_e27) <> 'integer'
    OR typeof(NEW.usd_e36) <> 'integer'
BEGIN
    SELECT RAISE(ABORT, 'user_consumption: a money sum overflowed 64-bit integers');
END;

CREATE TRIGGER user_consumption_exact_update BEFORE UPDATE ON user_consumption
WHEN typeof(NEW.consumed_usd_micros) <> 'integer'
    OR typeof(NEW.usd_e9) <> 'integer'
    OR typeof(NEW.usd_e18) <> 'integer'
    OR typeof(NEW.usd_e27) <> 'integer'
    OR typeof(NEW.usd_e36) <> 'integer'
BEGIN
    SELECT RAISE(ABORT, 'user_consumption: a money sum overflowed 64-bit integers');
END;
