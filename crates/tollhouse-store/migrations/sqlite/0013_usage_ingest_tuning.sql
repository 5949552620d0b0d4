-- groupBy=manifest&userId=… reads one user's manifest rollups: without this index it scans every
-- manifest of the app in the period (the primary key leads with the day, then the manifest).
CREATE INDEX usage_manifest_rollups_by_user ON usage_manifest_rollups (client_id, user_id, day);
