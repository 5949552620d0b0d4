//! RFC 8628 device grants.

use crate::{SqlStore, StoreError};
use sqlx::Row as _;
use sqlx::any::AnyRow;
use tollhouse_core::UnixTime;

/// A stored device grant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceGrant {
    /// Normalised user code (8 characters, no dash).
    pub user_code: String,
    /// The public client that started it.
    pub client_id: String,
    /// Requested scope.
    pub scope: String,
    /// Expiry.
    pub expires_at: UnixTime,
    /// Current minimum polling interval (grows by 5 s on every `slow_down`).
    pub interval_secs: i64,
    /// Last poll, milliseconds.
    pub last_polled_ms: Option<i64>,
    /// `pending`, `approved`, `denied` or `consumed`.
    pub status: String,
    /// The approving user.
    pub user_id: Option<String>,
}

/// Storage of device grants.
#[async_trait::async_trait]
pub trait DeviceRepository {
    /// Stores a new pending grant; [`StoreError::Conflict`] if the user code is taken.
    async fn insert_device_grant(
        &self,
        device_code_hash: &[u8],
        grant: &DeviceGrant,
        now: UnixTime,
    ) -> Result<(), StoreError>;
    /// The grant of a device code.
    async fn device_grant(
        &self,
        device_code_hash: &[u8],
    ) -> Result<Option<DeviceGrant>, StoreError>;
    /// Records a poll at `now_ms` and the (possibly raised) interval.
    async fn record_device_poll(
        &self,
        device_code_hash: &[u8],
        now_ms: i64,
        interval_secs: i64,
    ) -> Result<(), StoreError>;
    /// Moves a pending, unexpired grant with `user_code` of `client_id` to `status`
    /// (`approved` with a user, or `denied`); `false` if there is none.
    async fn decide_device_grant(
        &self,
        user_code: &str,
        client_id: &str,
        status: &str,
        user_id: Option<&str>,
        now: UnixTime,
    ) -> Result<bool, StoreError>;
    /// Marks an approved grant consumed; `false` if it was not approved (already consumed).
    async fn consume_device_grant(&self, device_code_hash: &[u8]) -> Result<bool, StoreError>;
    /// The pending, unexpired grant with this (normalised) user code, if any.
    async fn pending_device_grant(
        &self,
        user_code: &str,
        now: UnixTime,
    ) -> Result<Option<DeviceGrant>, StoreError>;
    /// Deletes grants expired before `now`.
    async fn purge_expired_device_grants(&self, now: UnixTime) -> Result<u64, StoreError>;
}

fn grant_from_row(row: &AnyRow) -> Result<DeviceGrant, StoreError> {
    Ok(DeviceGrant {
        user_code: row.try_get("user_code")?,
        client_id: row.try_get("client_id")?,
        scope: row.try_get("scope")?,
        expires_at: row.try_get("expires_at")?,
        interval_secs: row.try_get("interval_secs")?,
        last_polled_ms: row.try_get("last_polled_ms")?,
        status: row.try_get("status")?,
        user_id: row.try_get("user_id")?,
    })
}

#[async_trait::async_trait]
impl DeviceRepository for SqlStore {
    async fn insert_device_grant(
        &self,
        device_code_hash: &[u8],
        grant: &DeviceGrant,
        now: UnixTime,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO device_grants (device_code_hash, user_code, client_id, scope, created_at, expires_at, interval_secs, status) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, 'pending')",
        )
        .bind(device_code_hash.to_vec())
        .bind(&grant.user_code)
        .bind(&grant.client_id)
        .bind(&grant.scope)
        .bind(now)
        .bind(grant.expires_at)
        .bind(grant.interval_secs)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn device_grant(
        &self,
        device_code_hash: &[u8],
    ) -> Result<Option<DeviceGrant>, StoreError> {
        let row = sqlx::query(
            "SELECT user_code, client_id, scope, expires_at, interval_secs, last_polled_ms, status, user_id \
             FROM device_grants WHERE device_code_hash = $1",
        )
        .bind(device_code_hash.to_vec())
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(grant_from_row).transpose()
    }

    async fn record_device_poll(
        &self,
        device_code_hash: &[u8],
        now_ms: i64,
        interval_secs: i64,
    ) -> Result<(), StoreError> {
        sqlx::query("UPDATE device_grants SET last_polled_ms = $1, interval_secs = $2 WHERE device_code_hash = $3")
            .bind(now_ms)
            .bind(interval_secs)
            .bind(device_code_hash.to_vec())
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    async fn decide_device_grant(
        &self,
        user_code: &str,
        client_id: &str,
        status: &str,
        user_id: Option<&str>,
        now: UnixTime,
    ) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "UPDATE device_grants SET status = $1, user_id = $2 \
             WHERE user_code = $3 AND client_id = $4 AND status = 'pending' AND expires_at > $5",
        )
        .bind(status)
        .bind(user_id)
        .bind(user_code)
        .bind(client_id)
        .bind(now)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() > 0)
    }

    async fn pending_device_grant(
        &self,
        user_code: &str,
        now: UnixTime,
    ) -> Result<Option<DeviceGrant>, StoreError> {
        let row = sqlx::query(
            "SELECT user_code, client_id, scope, expires_at, interval_secs, last_polled_ms, status, user_id \
             FROM device_grants WHERE user_code = $1 AND status = 'pending' AND expires_at > $2",
        )
        .bind(user_code)
        .bind(now)
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(grant_from_row).transpose()
    }

    async fn consume_device_grant(&self, device_code_hash: &[u8]) -> Result<bool, StoreError> {
        let done = sqlx::query("UPDATE device_grants SET status = 'consumed' WHERE device_code_hash = $1 AND status = 'approved'")
            .bind(device_code_hash.to_vec())
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected() > 0)
    }

    async fn purge_expired_device_grants(&self, now: UnixTime) -> Result<u64, StoreError> {
        let done = sqlx::query("DELETE FROM device_grants WHERE expires_at <= $1")
            .bind(now)
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected())
    }
}
