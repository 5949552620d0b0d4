-- groupBy=manifest&userId=… reads one user's manifest rollups: without this index it scans every
-- manifest of the app in the period (the primary key leads with the day, then the manifest).
CREATE INDEX usage_manifest_rollups_by_user ON usage_manifest_rollups (client_id, user_id, day);

-- Every ingest batch updates the rollup rows of the current day: leave room on each page so the
-- new row versions fit next to the old ones (HOT updates: no index entries, pruned in place)
-- instead of bloating the tables and their indexes between vacuums.
ALTER TABLE usage_rollups SET (fillfactor = 70);
ALTER TABLE usage_manifest_rollups SET (fillfactor = 70);
ALTER TABLE user_consumption SET (fillfactor = 70);
