-- The text keys of the tables every ingest batch writes compare as bytes ("C"), as the manifest
-- rollups' have since 0016. Each batch inserts its events by id into usage_events' primary key
-- and upserts rollup and block rows by (app, user, pipeline, model, ...): in the database's
-- default glibc collation (C.UTF-8 included) every one of those B-tree comparisons copied both
-- strings to terminate them and called strcoll, about a tenth of PostgreSQL's CPU during ingest.
-- Ids and keys are opaque (uuids, client ids, pipeline and model names); nothing orders them for
-- display, so no order a user sees changes.
--
-- Only the indexes on these columns are rebuilt (a collation change does not rewrite the rows).
-- Equality with columns in the default collation (the per-user report's join to app_users) is
-- unaffected: both collations are deterministic, so equal means byte-equal either way.
ALTER TABLE usage_events
    ALTER COLUMN id TYPE TEXT COLLATE "C",
    ALTER COLUMN client_id TYPE TEXT COLLATE "C",
    ALTER COLUMN user_id TYPE TEXT COLLATE "C",
    ALTER COLUMN gateway_request_id TYPE TEXT COLLATE "C";
ALTER TABLE usage_rollups
    ALTER COLUMN client_id TYPE TEXT COLLATE "C",
    ALTER COLUMN user_id TYPE TEXT COLLATE "C",
    ALTER COLUMN pipeline TYPE TEXT COLLATE "C",
    ALTER COLUMN model_id TYPE TEXT COLLATE "C";
ALTER TABLE usage_app_blocks
    ALTER COLUMN client_id TYPE TEXT COLLATE "C",
    ALTER COLUMN pipeline TYPE TEXT COLLATE "C",
    ALTER COLUMN model_id TYPE TEXT COLLATE "C";
ALTER TABLE usage_user_blocks
    ALTER COLUMN client_id TYPE TEXT COLLATE "C",
    ALTER COLUMN user_id TYPE TEXT COLLATE "C";
