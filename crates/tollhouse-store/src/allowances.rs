//! Prepaid allowance grants and API keys.

use crate::{SqlStore, StoreError};
use sqlx::Row as _;
use sqlx::any::AnyRow;
use tollhouse_core::UnixTime;
use tollhouse_core::allowance::Grant;

/// A stored API key (never the secret).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiKeyRecord {
    /// Key id (UUID).
    pub id: String,
    /// The app.
    pub client_id: String,
    /// The user's Tollhouse id.
    pub user_id: String,
    /// Optional label.
    pub label: Option<String>,
    /// First characters of the key, for recognising it in lists.
    pub prefix: String,
    /// Last characters of the key.
    pub suffix: String,
    /// Creation time.
    pub created_at: UnixTime,
    /// Revocation time.
    pub revoked_at: Option<UnixTime>,
}

/// Storage of grants and API keys.
#[async_trait::async_trait]
pub trait AllowanceRepository {
    /// Stores a grant unless its user already holds `max_per_user` grants (then `false`). The
    /// count and the insert are one statement; on PostgreSQL two concurrent inserts may both
    /// see the last free place, so the count can pass the limit by at most the number of
    /// connections, which the bound's margin allows for.
    async fn insert_grant(&self, grant: &Grant, max_per_user: i64) -> Result<bool, StoreError>;
    /// Every grant of a user, in consumption order.
    async fn grants_for_user(&self, user_id: &str) -> Result<Vec<Grant>, StoreError>;
    /// Stores an API key by the keyed hash of its secret.
    async fn insert_api_key(
        &self,
        key: &ApiKeyRecord,
        secret_hash: &[u8],
    ) -> Result<(), StoreError>;
    /// The key whose secret hashes to `secret_hash`.
    async fn api_key_by_hash(&self, secret_hash: &[u8])
    -> Result<Option<ApiKeyRecord>, StoreError>;
    /// A user's keys, newest first.
    async fn api_keys_for_user(&self, user_id: &str) -> Result<Vec<ApiKeyRecord>, StoreError>;
    /// Revokes key `id` of user `user_id`; `None` if there is no such key.
    async fn revoke_api_key(
        &self,
        user_id: &str,
        id: &str,
        now: UnixTime,
    ) -> Result<Option<ApiKeyRecord>, StoreError>;
}

fn grant_from_row(row: &AnyRow) -> Result<Grant, StoreError> {
    Ok(Grant {
        id: row.try_get("id")?,
        client_id: row.try_get("client_id")?,
        user_id: row.try_get("user_id")?,
        amount_usd_micros: row.try_get("amount_usd_micros")?,
        source: row.try_get("source")?,
        feature_key: row.try_get("feature_key")?,
        effective_at: row.try_get("effective_at")?,
        expires_at: row.try_get("expires_at")?,
        priority: row.try_get("priority")?,
        created_at: row.try_get("created_at")?,
    })
}

const KEY_COLUMNS: &str = "id, client_id, user_id, label, prefix, suffix, created_at, revoked_at";

fn key_from_row(row: &AnyRow) -> Result<ApiKeyRecord, StoreError> {
    Ok(ApiKeyRecord {
        id: row.try_get("id")?,
        client_id: row.try_get("client_id")?,
        user_id: row.try_get("user_id")?,
        label: row.try_get("label")?,
        prefix: row.try_get("prefix")?,
        suffix: row.try_get("suffix")?,
        created_at: row.try_get("created_at")?,
        revoked_at: row.try_get("revoked_at")?,
    })
}

#[async_trait::async_trait]
impl AllowanceRepository for SqlStore {
    async fn insert_grant(&self, grant: &Grant, max_per_user: i64) -> Result<bool, StoreError> {
        let inserted = sqlx::query(
            "INSERT INTO allowance_grants (id, client_id, user_id, amount_usd_micros, source, feature_key, effective_at, expires_at, priority, created_at) \
             SELECT $1, $2, $3, $4, $5, $6, $7, $8, $9, $10 \
             WHERE (SELECT COUNT(*) FROM allowance_grants WHERE user_id = $3) < $11",
        )
        .bind(&grant.id)
        .bind(&grant.client_id)
        .bind(&grant.user_id)
        .bind(grant.amount_usd_micros)
        .bind(&grant.source)
        .bind(grant.feature_key.clone())
        .bind(grant.effective_at)
        .bind(grant.expires_at)
        .bind(grant.priority)
        .bind(grant.created_at)
        .bind(max_per_user)
        .execute(&self.pool)
        .await?
        .rows_affected();
        Ok(inserted == 1)
    }

    async fn grants_for_user(&self, user_id: &str) -> Result<Vec<Grant>, StoreError> {
        let rows = sqlx::query(
            "SELECT id, client_id, user_id, amount_usd_micros, source, feature_key, effective_at, expires_at, priority, created_at \
             FROM allowance_grants WHERE user_id = $1 ORDER BY priority, created_at, id",
        )
        .bind(user_id)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(grant_from_row).collect()
    }

    async fn insert_api_key(
        &self,
        key: &ApiKeyRecord,
        secret_hash: &[u8],
    ) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO api_keys (id, client_id, user_id, secret_hash, label, prefix, suffix, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .bind(&key.id)
        .bind(&key.client_id)
        .bind(&key.user_id)
        .bind(secret_hash.to_vec())
        .bind(key.label.clone())
        .bind(&key.prefix)
        .bind(&key.suffix)
        .bind(key.created_at)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn api_key_by_hash(
        &self,
        secret_hash: &[u8],
    ) -> Result<Option<ApiKeyRecord>, StoreError> {
        let sql = format!("SELECT {KEY_COLUMNS} FROM api_keys WHERE secret_hash = $1");
        let row = sqlx::query(&sql)
            .bind(secret_hash.to_vec())
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(key_from_row).transpose()
    }

    async fn api_keys_for_user(&self, user_id: &str) -> Result<Vec<ApiKeyRecord>, StoreError> {
        let sql = format!(
            "SELECT {KEY_COLUMNS} FROM api_keys WHERE user_id = $1 ORDER BY created_at DESC, id"
        );
        let rows = sqlx::query(&sql)
            .bind(user_id)
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(key_from_row).collect()
    }

    async fn revoke_api_key(
        &self,
        user_id: &str,
        id: &str,
        now: UnixTime,
    ) -> Result<Option<ApiKeyRecord>, StoreError> {
        sqlx::query("UPDATE api_keys SET revoked_at = COALESCE(revoked_at, $1) WHERE id = $2 AND user_id = $3")
            .bind(now)
            .bind(id)
            .bind(user_id)
            .execute(&self.pool)
            .await?;
        let sql = format!("SELECT {KEY_COLUMNS} FROM api_keys WHERE id = $1 AND user_id = $2");
        let row = sqlx::query(&sql)
            .bind(id)
            .bind(user_id)
            .fetch_optional(&self.pool)
            .await?;
        let key = row.as_ref().map(key_from_row).transpose()?;
        if let Some(key) = &key {
            // Credentials exchanged from the key name it as their parent: remembered as revoked
            // for as long as the key row itself is kept.
            crate::RevocationRepository::revoke_token(
                self,
                &tollhouse_core::claims::api_key_parent(&key.id),
                &key.client_id,
                i64::MAX,
            )
            .await?;
        }
        Ok(key)
    }
}
