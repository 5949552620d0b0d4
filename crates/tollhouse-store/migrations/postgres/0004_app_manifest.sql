-- Capabilities an app has excluded from the catalog (JSON array of {pipeline, modelId}).
ALTER TABLE apps ADD COLUMN excluded_capabilities TEXT NOT NULL DEFAULT '[]';
