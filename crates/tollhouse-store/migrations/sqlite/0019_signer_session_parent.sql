-- The credential a signer session was exchanged from: a user JWT's jti, or `api_key:<id>` for an
-- API key. Revoking that parent (or the key) ends the session at the webhook too, so a leaked
-- parent cannot leave live descendants behind. NULL for sessions issued before this version.
ALTER TABLE signer_sessions ADD COLUMN parent TEXT;
