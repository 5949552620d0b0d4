//! Revoked JWT ids, remembered only until the token would have expired anyway.

use crate::{SqlStore, StoreError};
use tollhouse_core::UnixTime;

/// Storage of revocations.
#[async_trait::async_trait]
pub trait RevocationRepository {
    /// Records that token `jti` of app `client_id` is revoked until `expires_at`. Idempotent.
    async fn revoke_token(
        &self,
        jti: &str,
        client_id: &str,
        expires_at: UnixTime,
    ) -> Result<(), StoreError>;
    /// Whether `jti` is revoked.
    async fn is_token_revoked(&self, jti: &str) -> Result<bool, StoreError>;
    /// Forgets revocations of tokens expired at `now`; returns how many.
    async fn purge_expired_revocations(&self, now: UnixTime) -> Result<u64, StoreError>;
    /// How many revocations are remembered (for metrics and tests).
    async fn count_revocations(&self) -> Result<i64, StoreError>;
}

#[async_trait::async_trait]
impl RevocationRepository for SqlStore {
    async fn revoke_token(
        &self,
        jti: &str,
        client_id: &str,
        expires_at: UnixTime,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO revoked_tokens (jti, client_id, expires_at) VALUES ($1, $2, $3) ON CONFLICT (jti) DO NOTHING",
        )
        .bind(jti)
        .bind(client_id)
        .bind(expires_at)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn is_token_revoked(&self, jti: &str) -> Result<bool, StoreError> {
        let row = sqlx::query("SELECT 1 FROM revoked_tokens WHERE jti = $1")
            .bind(jti)
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.is_some())
    }

    async fn purge_expired_revocations(&self, now: UnixTime) -> Result<u64, StoreError> {
        let done = sqlx::query("DELETE FROM revoked_tokens WHERE expires_at <= $1")
            .bind(now)
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected())
    }

    async fn count_revocations(&self) -> Result<i64, StoreError> {
        use sqlx::Row as _;
        let row = sqlx::query("SELECT COUNT(*) AS n FROM revoked_tokens")
            .fetch_one(&self.pool)
            .await?;
        Ok(row.try_get("n")?)
    }
}
