//! Refresh-token families and opaque signer sessions, both stored only as keyed hashes.

use crate::{SqlStore, StoreError};
use sqlx::Row as _;
use sqlx::any::AnyRow;
use tollhouse_core::UnixTime;

/// A stored refresh token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefreshRecord {
    /// All tokens descending from one original grant share a family.
    pub family_id: String,
    /// The app.
    pub client_id: String,
    /// The user's Tollhouse id.
    pub user_id: String,
    /// Scope of the grant.
    pub scope: String,
    /// Expiry.
    pub expires_at: UnixTime,
    /// Set once the token was exchanged for a newer one.
    pub rotated_at: Option<UnixTime>,
    /// Set when the family was revoked.
    pub revoked_at: Option<UnixTime>,
}

/// A stored opaque signer session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionRecord {
    /// The app.
    pub client_id: String,
    /// The user's Tollhouse id.
    pub user_id: String,
    /// Scope.
    pub scope: String,
    /// Creation time.
    pub created_at: UnixTime,
    /// Expiry.
    pub expires_at: UnixTime,
    /// The credential it was exchanged from (a JWT's `jti`, or `api_key:<id>`): revoking that
    /// ends this session too.
    pub parent: Option<String>,
    /// Set when revoked.
    pub revoked_at: Option<UnixTime>,
}

/// What rotating a refresh token found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Rotation {
    /// The presented token was current: it is now rotated and `new_hash` is current.
    Rotated(RefreshRecord),
    /// The presented token had already been rotated: its whole family is now revoked.
    ReuseDetected,
    /// Unknown, expired or revoked.
    Invalid,
}

/// Storage of refresh tokens and signer sessions.
#[async_trait::async_trait]
pub trait SessionRepository {
    /// Stores a refresh token (the first of a family, or a rotation's successor).
    async fn insert_refresh_token(
        &self,
        hash: &[u8],
        record: &RefreshRecord,
        now: UnixTime,
    ) -> Result<(), StoreError>;
    /// Atomically retires the token `hash` and stores its successor `new_hash` (same family,
    /// expiring at `new_expires_at`); on reuse of a retired token, revokes the family instead.
    async fn rotate_refresh_token(
        &self,
        hash: &[u8],
        new_hash: &[u8],
        now: UnixTime,
        new_expires_at: UnixTime,
    ) -> Result<Rotation, StoreError>;
    /// The refresh token `hash`, whatever its state.
    async fn refresh_token(&self, hash: &[u8]) -> Result<Option<RefreshRecord>, StoreError>;
    /// Revokes every token of `family_id`.
    async fn revoke_refresh_family(&self, family_id: &str, now: UnixTime)
    -> Result<(), StoreError>;
    /// Stores an opaque signer session.
    async fn insert_signer_session(
        &self,
        hash: &[u8],
        record: &SessionRecord,
    ) -> Result<(), StoreError>;
    /// The session `hash`, whatever its state.
    async fn signer_session(&self, hash: &[u8]) -> Result<Option<SessionRecord>, StoreError>;
    /// Revokes the session `hash`; `false` if unknown.
    async fn revoke_signer_session(&self, hash: &[u8], now: UnixTime) -> Result<bool, StoreError>;
}

fn refresh_from_row(row: &AnyRow) -> Result<RefreshRecord, StoreError> {
    Ok(RefreshRecord {
        family_id: row.try_get("family_id")?,
        client_id: row.try_get("client_id")?,
        user_id: row.try_get("user_id")?,
        scope: row.try_get("scope")?,
        expires_at: row.try_get("expires_at")?,
        rotated_at: row.try_get("rotated_at")?,
        revoked_at: row.try_get("revoked_at")?,
    })
}

async fn insert_refresh_row<'e, E>(
    executor: E,
    hash: &[u8],
    record: &RefreshRecord,
    now: UnixTime,
) -> Result<(), StoreError>
where
    E: sqlx::Executor<'e, Database = sqlx::Any>,
{
    sqlx::query(
        "INSERT INTO refresh_tokens (token_hash, family_id, client_id, user_id, scope, created_at, expires_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(hash.to_vec())
    .bind(&record.family_id)
    .bind(&record.client_id)
    .bind(&record.user_id)
    .bind(&record.scope)
    .bind(now)
    .bind(record.expires_at)
    .execute(executor)
    .await?;
    Ok(())
}

const REFRESH_COLUMNS: &str =
    "family_id, client_id, user_id, scope, expires_at, rotated_at, revoked_at";

#[async_trait::async_trait]
impl SessionRepository for SqlStore {
    async fn insert_refresh_token(
        &self,
        hash: &[u8],
        record: &RefreshRecord,
        now: UnixTime,
    ) -> Result<(), StoreError> {
        insert_refresh_row(&self.pool, hash, record, now).await
    }

    async fn rotate_refresh_token(
        &self,
        hash: &[u8],
        new_hash: &[u8],
        now: UnixTime,
        new_expires_at: UnixTime,
    ) -> Result<Rotation, StoreError> {
        let mut tx = self.pool.begin().await?;
        // Claim the token: only one concurrent caller can flip rotated_at from NULL.
        let claimed = sqlx::query(
            "UPDATE refresh_tokens SET rotated_at = $1 \
             WHERE token_hash = $2 AND rotated_at IS NULL AND revoked_at IS NULL AND expires_at > $1",
        )
        .bind(now)
        .bind(hash.to_vec())
        .execute(&mut *tx)
        .await?;
        let sql = format!("SELECT {REFRESH_COLUMNS} FROM refresh_tokens WHERE token_hash = $1");
        let row = sqlx::query(&sql)
            .bind(hash.to_vec())
            .fetch_optional(&mut *tx)
            .await?;
        let Some(record) = row.as_ref().map(refresh_from_row).transpose()? else {
            return Ok(Rotation::Invalid);
        };
        if claimed.rows_affected() == 0 {
            let reused = record.rotated_at.is_some() && record.revoked_at.is_none();
            if reused {
                sqlx::query("UPDATE refresh_tokens SET revoked_at = $1 WHERE family_id = $2 AND revoked_at IS NULL")
                    .bind(now)
                    .bind(&record.family_id)
                    .execute(&mut *tx)
                    .await?;
                tx.commit().await?;
                return Ok(Rotation::ReuseDetected);
            }
            return Ok(Rotation::Invalid);
        }
        let successor = RefreshRecord {
            expires_at: new_expires_at,
            rotated_at: None,
            revoked_at: None,
            ..record
        };
        insert_refresh_row(&mut *tx, new_hash, &successor, now).await?;
        tx.commit().await?;
        Ok(Rotation::Rotated(successor))
    }

    async fn refresh_token(&self, hash: &[u8]) -> Result<Option<RefreshRecord>, StoreError> {
        let sql = format!("SELECT {REFRESH_COLUMNS} FROM refresh_tokens WHERE token_hash = $1");
        let row = sqlx::query(&sql)
            .bind(hash.to_vec())
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(refresh_from_row).transpose()
    }

    async fn revoke_refresh_family(
        &self,
        family_id: &str,
        now: UnixTime,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE refresh_tokens SET revoked_at = $1 WHERE family_id = $2 AND revoked_at IS NULL",
        )
        .bind(now)
        .bind(family_id)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn insert_signer_session(
        &self,
        hash: &[u8],
        record: &SessionRecord,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO signer_sessions (token_hash, client_id, user_id, scope, created_at, expires_at, parent) \
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(hash.to_vec())
        .bind(&record.client_id)
        .bind(&record.user_id)
        .bind(&record.scope)
        .bind(record.created_at)
        .bind(record.expires_at)
        .bind(record.parent.as_deref())
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn signer_session(&self, hash: &[u8]) -> Result<Option<SessionRecord>, StoreError> {
        let row = sqlx::query(
            "SELECT client_id, user_id, scope, created_at, expires_at, revoked_at, parent FROM signer_sessions WHERE token_hash = $1",
        )
        .bind(hash.to_vec())
        .fetch_optional(&self.pool)
        .await?;
        row.map(|row| -> Result<SessionRecord, StoreError> {
            Ok(SessionRecord {
                client_id: row.try_get("client_id")?,
                user_id: row.try_get("user_id")?,
                scope: row.try_get("scope")?,
                created_at: row.try_get("created_at")?,
                expires_at: row.try_get("expires_at")?,
                revoked_at: row.try_get("revoked_at")?,
                parent: row.try_get("parent")?,
            })
        })
        .transpose()
    }

    async fn revoke_signer_session(&self, hash: &[u8], now: UnixTime) -> Result<bool, StoreError> {
        let done = sqlx::query("UPDATE signer_sessions SET revoked_at = $1 WHERE token_hash = $2 AND revoked_at IS NULL")
            .bind(now)
            .bind(hash.to_vec())
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected() > 0)
    }
}
