//! Signing keys at rest: public JWK in clear, private PKCS#8 sealed with the master key.

use crate::{SqlStore, StoreError};
use sqlx::Row as _;
use sqlx::any::AnyRow;
use tollhouse_core::UnixTime;

/// A signing key as stored.
#[derive(Debug, Clone)]
pub struct StoredKey {
    /// Key id (RFC 7638 thumbprint).
    pub kid: String,
    /// JOSE algorithm name.
    pub alg: String,
    /// The public JWK, JSON.
    pub public_jwk: String,
    /// `nonce || AES-256-GCM(PKCS#8)`, associated data = kid.
    pub private_sealed: Vec<u8>,
    /// When the key was created (and published).
    pub created_at: UnixTime,
    /// From this instant new tokens are signed with it (the newest active key wins).
    pub activates_at: UnixTime,
    /// After this instant no unexpired token can carry this key, so it leaves the JWKS.
    /// `None` while no newer key has been added.
    pub publish_until: Option<UnixTime>,
}

/// Storage of signing keys.
#[async_trait::async_trait]
pub trait KeyRepository {
    /// Keys still published at `now`, newest activation first.
    async fn published_keys(&self, now: UnixTime) -> Result<Vec<StoredKey>, StoreError>;
    /// Adds `key` and schedules every key without an end of publication to leave the JWKS at
    /// `retire_until`. One transaction.
    async fn add_key(&self, key: &StoredKey, retire_until: UnixTime) -> Result<(), StoreError>;
    /// Deletes keys whose publication window has closed; returns how many.
    async fn purge_unpublished_keys(&self, now: UnixTime) -> Result<u64, StoreError>;
}

fn key_from_row(row: &AnyRow) -> Result<StoredKey, StoreError> {
    Ok(StoredKey {
        kid: row.try_get("kid")?,
        alg: row.try_get("alg")?,
        public_jwk: row.try_get("public_jwk")?,
        private_sealed: row.try_get("private_sealed")?,
        created_at: row.try_get("created_at")?,
        activates_at: row.try_get("activates_at")?,
        publish_until: row.try_get("publish_until")?,
    })
}

#[async_trait::async_trait]
impl KeyRepository for SqlStore {
    async fn published_keys(&self, now: UnixTime) -> Result<Vec<StoredKey>, StoreError> {
        let rows = sqlx::query(
            "SELECT kid, alg, public_jwk, private_sealed, created_at, activates_at, publish_until \
             FROM signing_keys WHERE publish_until IS NULL OR publish_until > $1 \
             ORDER BY activates_at DESC, created_at DESC, kid",
        )
        .bind(now)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(key_from_row).collect()
    }

    async fn add_key(&self, key: &StoredKey, retire_until: UnixTime) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await?;
        sqlx::query("UPDATE signing_keys SET publish_until = $1 WHERE publish_until IS NULL")
            .bind(retire_until)
            .execute(&mut *tx)
            .await?;
        sqlx::query(
            "INSERT INTO signing_keys (kid, alg, public_jwk, private_sealed, created_at, activates_at, publish_until) \
             VALUES ($1, $2, $3, $4, $5, $6, NULL)",
        )
        .bind(&key.kid)
        .bind(&key.alg)
        .bind(&key.public_jwk)
        .bind(key.private_sealed.clone())
        .bind(key.created_at)
        .bind(key.activates_at)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    async fn purge_unpublished_keys(&self, now: UnixTime) -> Result<u64, StoreError> {
        let done = sqlx::query(
            "DELETE FROM signing_keys WHERE publish_until IS NOT NULL AND publish_until <= $1",
        )
        .bind(now)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected())
    }
}
