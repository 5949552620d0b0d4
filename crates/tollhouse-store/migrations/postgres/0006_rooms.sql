-- Live rooms: per-app room secrets (sealed; the previous one kept for verification until the
-- tokens it signed have expired), rooms, and the display fields room tokens copy from users.
CREATE TABLE room_secrets (
    client_id             TEXT PRIMARY KEY REFERENCES apps (client_id),
    current_sealed        BYTEA NOT NULL,
    previous_sealed       BYTEA,
    previous_valid_until  BIGINT,
    rotated_at            BIGINT NOT NULL
);

CREATE TABLE rooms (
    id                     TEXT PRIMARY KEY,
    client_id              TEXT NOT NULL REFERENCES apps (client_id),
    room_type              TEXT NOT NULL,
    max_peers              BIGINT,
    original_host_peer_id  TEXT NOT NULL,
    created_by             TEXT NOT NULL REFERENCES app_users (id),
    created_at             BIGINT NOT NULL,
    ended_at               BIGINT
);
CREATE INDEX rooms_by_app ON rooms (client_id);

ALTER TABLE app_users ADD COLUMN display_name TEXT;
ALTER TABLE app_users ADD COLUMN avatar_url TEXT;
