//! What the signer integration reads: each app's billing and verifier policy, users' consumption
//! (the balance gate), and Live AI stream keys.

use crate::{SqlStore, StoreError};
use sqlx::Row as _;
use sqlx::any::AnyRow;
use tollhouse_core::UnixTime;
use tollhouse_core::money::{ExactUsd, UsdParts};

/// An app's signer policy as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignerPolicyRecord {
    /// `none` or `prepaid`.
    pub billing_mode: String,
    /// How far below zero a user's balance may go before the gate closes.
    pub soft_limit_usd_micros: i64,
    /// How often a running stream's balance is re-checked (the webhook's `expiry`).
    pub balance_recheck_secs: i64,
    /// Whether an unreadable balance lets the payment through (default: refuse).
    pub billing_fail_open: bool,
    /// Comma-separated verifier names, or `None` for the deployment's list.
    pub webhook_verifiers: Option<String>,
}

/// A stored stream key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamKeyRecord {
    /// Id (UUID), reported as the stream id.
    pub id: String,
    /// The app.
    pub client_id: String,
    /// The user's Tollhouse id.
    pub user_id: String,
    /// Pipeline the stream should run, if set.
    pub pipeline: Option<String>,
    /// Pipeline parameters (a JSON object as text), if set.
    pub pipeline_parameters: Option<String>,
    /// Creation time.
    pub created_at: UnixTime,
    /// Revocation time.
    pub revoked_at: Option<UnixTime>,
}

/// Storage for the signer integration.
#[async_trait::async_trait]
pub trait SignerRepository {
    /// The app's policy; `None` if there is no such app.
    async fn signer_policy(
        &self,
        client_id: &str,
    ) -> Result<Option<SignerPolicyRecord>, StoreError>;
    /// Replaces the app's policy; `false` if there is no such app.
    async fn set_signer_policy(
        &self,
        client_id: &str,
        policy: &SignerPolicyRecord,
    ) -> Result<bool, StoreError>;
    /// The user's consumption in micro-USD (0 if none recorded).
    async fn consumed_usd_micros(&self, user_id: &str) -> Result<i64, StoreError>;
    /// Adds `micros` (may be negative for corrections) to the user's consumption.
    async fn add_consumption(
        &self,
        client_id: &str,
        user_id: &str,
        micros: i64,
        now: UnixTime,
    ) -> Result<(), StoreError>;
    /// Stores a stream key by the keyed hash of its secret.
    async fn insert_stream_key(
        &self,
        key: &StreamKeyRecord,
        key_hash: &[u8],
    ) -> Result<(), StoreError>;
    /// The stream key whose secret hashes to `key_hash`.
    async fn stream_key_by_hash(
        &self,
        key_hash: &[u8],
    ) -> Result<Option<StreamKeyRecord>, StoreError>;
    /// Every stream key of user `user_id`, live or revoked, newest first.
    async fn stream_keys_for_user(&self, user_id: &str)
    -> Result<Vec<StreamKeyRecord>, StoreError>;
    /// Revokes stream key `id` of user `user_id` (idempotent: a revoked key keeps its first
    /// revocation time); `None` if the user has no such key.
    async fn revoke_stream_key(
        &self,
        user_id: &str,
        id: &str,
        now: UnixTime,
    ) -> Result<Option<StreamKeyRecord>, StoreError>;
}

const POLICY_COLUMNS: &str = "billing_mode, soft_limit_usd_micros, balance_recheck_secs, billing_fail_open, webhook_verifiers";

fn policy_from_row(row: &AnyRow) -> Result<SignerPolicyRecord, StoreError> {
    let fail_open: i64 = row.try_get("billing_fail_open")?;
    Ok(SignerPolicyRecord {
        billing_mode: row.try_get("billing_mode")?,
        soft_limit_usd_micros: row.try_get("soft_limit_usd_micros")?,
        balance_recheck_secs: row.try_get("balance_recheck_secs")?,
        billing_fail_open: fail_open != 0,
        webhook_verifiers: row.try_get("webhook_verifiers")?,
    })
}

const STREAM_KEY_COLUMNS: &str =
    "id, client_id, user_id, pipeline, pipeline_parameters, created_at, revoked_at";

fn stream_key_from_row(row: &AnyRow) -> Result<StreamKeyRecord, StoreError> {
    Ok(StreamKeyRecord {
        id: row.try_get("id")?,
        client_id: row.try_get("client_id")?,
        user_id: row.try_get("user_id")?,
        pipeline: row.try_get("pipeline")?,
        pipeline_parameters: row.try_get("pipeline_parameters")?,
        created_at: row.try_get("created_at")?,
        revoked_at: row.try_get("revoked_at")?,
    })
}

#[async_trait::async_trait]
impl SignerRepository for SqlStore {
    async fn signer_policy(
        &self,
        client_id: &str,
    ) -> Result<Option<SignerPolicyRecord>, StoreError> {
        let sql = format!("SELECT {POLICY_COLUMNS} FROM apps WHERE client_id = $1");
        let row = sqlx::query(&sql)
            .bind(client_id)
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(policy_from_row).transpose()
    }

    async fn set_signer_policy(
        &self,
        client_id: &str,
        policy: &SignerPolicyRecord,
    ) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "UPDATE apps SET billing_mode = $1, soft_limit_usd_micros = $2, balance_recheck_secs = $3, \
             billing_fail_open = $4, webhook_verifiers = $5 WHERE client_id = $6",
        )
        .bind(&policy.billing_mode)
        .bind(policy.soft_limit_usd_micros)
        .bind(policy.balance_recheck_secs)
        .bind(i64::from(policy.billing_fail_open))
        .bind(policy.webhook_verifiers.clone())
        .bind(client_id)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() > 0)
    }

    async fn consumed_usd_micros(&self, user_id: &str) -> Result<i64, StoreError> {
        let row = sqlx::query(
            "SELECT consumed_usd_micros, usd_e9, usd_e18, usd_e27, usd_e36 FROM user_consumption WHERE user_id = $1",
        )
        .bind(user_id)
        .fetch_optional(&self.pool)
        .await?;
        let Some(row) = row else {
            return Ok(0);
        };
        let parts = UsdParts {
            e6: row.try_get("consumed_usd_micros")?,
            e9: row.try_get("usd_e9")?,
            e18: row.try_get("usd_e18")?,
            e27: row.try_get("usd_e27")?,
            e36: row.try_get("usd_e36")?,
        };
        // Exact sum of everything consumed, rounded up to micro-USD once, here.
        let exact = ExactUsd::from_parts(parts)
            .map_err(|e| StoreError::Corrupt(format!("user_consumption: {e}")))?;
        i64::try_from(exact.ceil_micros())
            .map_err(|_| StoreError::Corrupt("user_consumption: out of range".into()))
    }

    async fn add_consumption(
        &self,
        client_id: &str,
        user_id: &str,
        micros: i64,
        now: UnixTime,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO user_consumption (user_id, client_id, consumed_usd_micros, updated_at) \
             VALUES ($1, $2, $3, $4) ON CONFLICT (user_id) DO UPDATE SET \
             consumed_usd_micros = user_consumption.consumed_usd_micros + excluded.consumed_usd_micros, \
             updated_at = excluded.updated_at",
        )
        .bind(user_id)
        .bind(client_id)
        .bind(micros)
        .bind(now)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn insert_stream_key(
        &self,
        key: &StreamKeyRecord,
        key_hash: &[u8],
    ) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO stream_keys (id, client_id, user_id, key_hash, pipeline, pipeline_parameters, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(&key.id)
        .bind(&key.client_id)
        .bind(&key.user_id)
        .bind(key_hash.to_vec())
        .bind(key.pipeline.clone())
        .bind(key.pipeline_parameters.clone())
        .bind(key.created_at)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn stream_key_by_hash(
        &self,
        key_hash: &[u8],
    ) -> Result<Option<StreamKeyRecord>, StoreError> {
        let sql = format!("SELECT {STREAM_KEY_COLUMNS} FROM stream_keys WHERE key_hash = $1");
        let row = sqlx::query(&sql)
            .bind(key_hash.to_vec())
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(stream_key_from_row).transpose()
    }

    async fn stream_keys_for_user(
        &self,
        user_id: &str,
    ) -> Result<Vec<StreamKeyRecord>, StoreError> {
        let sql = format!(
            "SELECT {STREAM_KEY_COLUMNS} FROM stream_keys WHERE user_id = $1 ORDER BY created_at DESC, id"
        );
        let rows = sqlx::query(&sql)
            .bind(user_id)
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(stream_key_from_row).collect()
    }

    async fn revoke_stream_key(
        &self,
        user_id: &str,
        id: &str,
        now: UnixTime,
    ) -> Result<Option<StreamKeyRecord>, StoreError> {
        sqlx::query(
            "UPDATE stream_keys SET revoked_at = COALESCE(revoked_at, $1) WHERE id = $2 AND user_id = $3",
        )
        .bind(now)
        .bind(id)
        .bind(user_id)
        .execute(&self.pool)
        .await?;
        let sql =
            format!("SELECT {STREAM_KEY_COLUMNS} FROM stream_keys WHERE id = $1 AND user_id = $2");
        let row = sqlx::query(&sql)
            .bind(id)
            .bind(user_id)
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(stream_key_from_row).transpose()
    }
}
