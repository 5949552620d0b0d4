-- PostgreSQL raises `bigint out of range` on overflow by itself; SQLite needs the triggers of
-- its 0012 migration. Kept so both dialects have the same migration numbers.
SELECT 1;
