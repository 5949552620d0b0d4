//! Small server-wide settings (master-key check value, first-start markers).

use crate::{SqlStore, StoreError};
use sqlx::Row as _;

/// Storage of named settings.
#[async_trait::async_trait]
pub trait SettingsRepository {
    /// The value of `name`, if set.
    async fn setting(&self, name: &str) -> Result<Option<String>, StoreError>;
    /// Sets `name` unless it is already set; `true` if this call set it.
    async fn insert_setting_if_absent(&self, name: &str, value: &str) -> Result<bool, StoreError>;
}

#[async_trait::async_trait]
impl SettingsRepository for SqlStore {
    async fn setting(&self, name: &str) -> Result<Option<String>, StoreError> {
        let row = sqlx::query("SELECT value FROM settings WHERE name = $1")
            .bind(name)
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.map(|r| r.try_get("value")).transpose()?)
    }

    async fn insert_setting_if_absent(&self, name: &str, value: &str) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "INSERT INTO settings (name, value) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING",
        )
        .bind(name)
        .bind(value)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() > 0)
    }
}
