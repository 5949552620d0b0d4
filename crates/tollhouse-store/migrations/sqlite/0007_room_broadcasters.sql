-- Every broadcaster (original host or cohost) of a room, so a viewer's `hostPeerId` can be
-- checked against the broadcasters the room really has.
CREATE TABLE room_broadcasters (
    room_id     TEXT NOT NULL REFERENCES rooms (id),
    peer_id     TEXT NOT NULL,
    user_id     TEXT NOT NULL REFERENCES app_users (id),
    created_at  BIGINT NOT NULL,
    PRIMARY KEY (room_id, peer_id)
);
