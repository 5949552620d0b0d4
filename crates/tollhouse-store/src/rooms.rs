//! Room secrets and rooms.

use crate::{SqlStore, StoreError};
use sqlx::Row as _;
use sqlx::any::AnyRow;
use tollhouse_core::UnixTime;

/// An app's room secret(s), sealed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoomSecrets {
    /// The secret new tokens are signed with.
    pub current_sealed: Vec<u8>,
    /// The secret before the last rotation, still accepted by the verify endpoint…
    pub previous_sealed: Option<Vec<u8>>,
    /// …until this instant.
    pub previous_valid_until: Option<UnixTime>,
}

/// A stored room.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoomRecord {
    /// Room id (UUID).
    pub id: String,
    /// The app.
    pub client_id: String,
    /// `live` or `1v1`.
    pub room_type: String,
    /// Peer limit.
    pub max_peers: Option<i64>,
    /// The creator's peer id, the default broadcaster for viewers.
    pub original_host_peer_id: String,
    /// The creating user's Tollhouse id.
    pub created_by: String,
    /// Creation time.
    pub created_at: UnixTime,
    /// When the room was ended; it then refuses new tokens.
    pub ended_at: Option<UnixTime>,
}

/// Storage of room secrets and rooms.
#[async_trait::async_trait]
pub trait RoomRepository {
    /// The app's room secrets, if it has any.
    async fn room_secrets(&self, client_id: &str) -> Result<Option<RoomSecrets>, StoreError>;
    /// Makes `sealed` the current secret; the old current one (if any) becomes the previous one,
    /// accepted until `previous_valid_until`.
    async fn rotate_room_secret(
        &self,
        client_id: &str,
        sealed: &[u8],
        previous_valid_until: UnixTime,
        now: UnixTime,
    ) -> Result<(), StoreError>;
    /// Stores a room and its original host as its first broadcaster, together.
    async fn insert_room(&self, room: &RoomRecord) -> Result<(), StoreError>;
    /// Records a cohost of room `room_id`.
    async fn add_broadcaster(
        &self,
        room_id: &str,
        peer_id: &str,
        user_id: &str,
        now: UnixTime,
    ) -> Result<(), StoreError>;
    /// Whether `peer_id` broadcasts in room `room_id`.
    async fn is_broadcaster(&self, room_id: &str, peer_id: &str) -> Result<bool, StoreError>;
    /// Room `id` of app `client_id`.
    async fn room(&self, client_id: &str, id: &str) -> Result<Option<RoomRecord>, StoreError>;
    /// Ends a room; `false` if there is no such room.
    async fn end_room(&self, client_id: &str, id: &str, now: UnixTime) -> Result<bool, StoreError>;
}

fn room_from_row(row: &AnyRow) -> Result<RoomRecord, StoreError> {
    Ok(RoomRecord {
        id: row.try_get("id")?,
        client_id: row.try_get("client_id")?,
        room_type: row.try_get("room_type")?,
        max_peers: row.try_get("max_peers")?,
        original_host_peer_id: row.try_get("original_host_peer_id")?,
        created_by: row.try_get("created_by")?,
        created_at: row.try_get("created_at")?,
        ended_at: row.try_get("ended_at")?,
    })
}

#[async_trait::async_trait]
impl RoomRepository for SqlStore {
    async fn room_secrets(&self, client_id: &str) -> Result<Option<RoomSecrets>, StoreError> {
        let row = sqlx::query(
            "SELECT current_sealed, previous_sealed, previous_valid_until FROM room_secrets WHERE client_id = $1",
        )
        .bind(client_id)
        .fetch_optional(&self.pool)
        .await?;
        row.map(|row| -> Result<RoomSecrets, StoreError> {
            Ok(RoomSecrets {
                current_sealed: row.try_get("current_sealed")?,
                previous_sealed: row.try_get("previous_sealed")?,
                previous_valid_until: row.try_get("previous_valid_until")?,
            })
        })
        .transpose()
    }

    async fn rotate_room_secret(
        &self,
        client_id: &str,
        sealed: &[u8],
        previous_valid_until: UnixTime,
        now: UnixTime,
    ) -> Result<(), StoreError> {
        // One statement, so two concurrent rotations cannot lose a secret between read and write.
        sqlx::query(
            "INSERT INTO room_secrets (client_id, current_sealed, previous_sealed, previous_valid_until, rotated_at) \
             VALUES ($1, $2, NULL, NULL, $4) \
             ON CONFLICT (client_id) DO UPDATE SET previous_sealed = room_secrets.current_sealed, \
             previous_valid_until = $3, current_sealed = excluded.current_sealed, rotated_at = excluded.rotated_at",
        )
        .bind(client_id)
        .bind(sealed.to_vec())
        .bind(previous_valid_until)
        .bind(now)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn insert_room(&self, room: &RoomRecord) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await?;
        sqlx::query(
            "INSERT INTO rooms (id, client_id, room_type, max_peers, original_host_peer_id, created_by, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(&room.id)
        .bind(&room.client_id)
        .bind(&room.room_type)
        .bind(room.max_peers)
        .bind(&room.original_host_peer_id)
        .bind(&room.created_by)
        .bind(room.created_at)
        .execute(&mut *tx)
        .await?;
        sqlx::query(
            "INSERT INTO room_broadcasters (room_id, peer_id, user_id, created_at) VALUES ($1, $2, $3, $4)",
        )
        .bind(&room.id)
        .bind(&room.original_host_peer_id)
        .bind(&room.created_by)
        .bind(room.created_at)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    async fn add_broadcaster(
        &self,
        room_id: &str,
        peer_id: &str,
        user_id: &str,
        now: UnixTime,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO room_broadcasters (room_id, peer_id, user_id, created_at) VALUES ($1, $2, $3, $4)",
        )
        .bind(room_id)
        .bind(peer_id)
        .bind(user_id)
        .bind(now)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn is_broadcaster(&self, room_id: &str, peer_id: &str) -> Result<bool, StoreError> {
        let row = sqlx::query(
            "SELECT 1 AS hit FROM room_broadcasters WHERE room_id = $1 AND peer_id = $2",
        )
        .bind(room_id)
        .bind(peer_id)
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.is_some())
    }

    async fn room(&self, client_id: &str, id: &str) -> Result<Option<RoomRecord>, StoreError> {
        let row = sqlx::query(
            "SELECT id, client_id, room_type, max_peers, original_host_peer_id, created_by, created_at, ended_at \
             FROM rooms WHERE client_id = $1 AND id = $2",
        )
        .bind(client_id)
        .bind(id)
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(room_from_row).transpose()
    }

    async fn end_room(&self, client_id: &str, id: &str, now: UnixTime) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "UPDATE rooms SET ended_at = COALESCE(ended_at, $1) WHERE client_id = $2 AND id = $3",
        )
        .bind(now)
        .bind(client_id)
        .bind(id)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() > 0)
    }
}
