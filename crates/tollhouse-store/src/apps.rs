//! Apps and their M2M credentials.

use crate::{SqlStore, StoreError};
use sqlx::Row as _;
use sqlx::any::AnyRow;
use tollhouse_core::UnixTime;
use tollhouse_core::app::{App, AppStatus};
use tollhouse_core::ids::{AppClientId, M2mClientId};
use tollhouse_core::scope::ScopeSet;
use tollhouse_core::secret::SecretHash;

/// Storage of apps.
#[async_trait::async_trait]
pub trait AppRepository {
    /// Stores a new app; [`StoreError::Conflict`] if either client id exists.
    async fn insert_app(&self, app: &App) -> Result<(), StoreError>;
    /// The app whose public client id is `client_id`.
    async fn app_by_client_id(&self, client_id: &str) -> Result<Option<App>, StoreError>;
    /// The app whose M2M client id is `m2m_client_id`.
    async fn app_by_m2m_client_id(&self, m2m_client_id: &str) -> Result<Option<App>, StoreError>;
    /// Every app, oldest first.
    async fn list_apps(&self) -> Result<Vec<App>, StoreError>;
    /// The JSON array of capabilities the app excluded.
    async fn excluded_capabilities(&self, client_id: &str) -> Result<String, StoreError>;
    /// Replaces the app's excluded capabilities.
    async fn set_excluded_capabilities(
        &self,
        client_id: &str,
        json: &str,
        now: UnixTime,
    ) -> Result<(), StoreError>;
    /// Replaces an app's M2M secret hash; `false` if no such app.
    async fn set_app_secret_hash(
        &self,
        client_id: &str,
        hash: &SecretHash,
        now: UnixTime,
    ) -> Result<bool, StoreError>;
    /// Where the app's backend signs a device-flow user in, if set.
    async fn initiate_login_uri(&self, client_id: &str) -> Result<Option<String>, StoreError>;
    /// Sets (or with `None` clears) the app's `initiateLoginUri`; `false` if no such app.
    async fn set_initiate_login_uri(
        &self,
        client_id: &str,
        uri: Option<&str>,
        now: UnixTime,
    ) -> Result<bool, StoreError>;
}

const APP_COLUMNS: &str =
    "client_id, name, status, allowed_scopes, m2m_client_id, m2m_secret_hash, created_at";

fn app_from_row(row: &AnyRow) -> Result<App, StoreError> {
    let corrupt = |what: &str| StoreError::Corrupt(format!("apps.{what}"));
    let client_id: String = row.try_get("client_id")?;
    let m2m: String = row.try_get("m2m_client_id")?;
    let status: String = row.try_get("status")?;
    let scopes: String = row.try_get("allowed_scopes")?;
    let hash: Vec<u8> = row.try_get("m2m_secret_hash")?;
    Ok(App {
        client_id: AppClientId::parse(&client_id).ok_or_else(|| corrupt("client_id"))?,
        name: row.try_get("name")?,
        status: AppStatus::parse(&status).ok_or_else(|| corrupt("status"))?,
        allowed_scopes: ScopeSet::parse(&scopes).map_err(|_| corrupt("allowed_scopes"))?,
        m2m_client_id: M2mClientId::parse(&m2m).ok_or_else(|| corrupt("m2m_client_id"))?,
        m2m_secret_hash: SecretHash::from_slice(&hash).ok_or_else(|| corrupt("m2m_secret_hash"))?,
        created_at: row.try_get("created_at")?,
    })
}

#[async_trait::async_trait]
impl AppRepository for SqlStore {
    async fn insert_app(&self, app: &App) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO apps (client_id, name, status, allowed_scopes, m2m_client_id, m2m_secret_hash, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $7)",
        )
        .bind(app.client_id.as_str())
        .bind(&app.name)
        .bind(app.status.as_str())
        .bind(app.allowed_scopes.to_string())
        .bind(app.m2m_client_id.as_str())
        .bind(app.m2m_secret_hash.as_bytes().to_vec())
        .bind(app.created_at)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn app_by_client_id(&self, client_id: &str) -> Result<Option<App>, StoreError> {
        let sql = format!("SELECT {APP_COLUMNS} FROM apps WHERE client_id = $1");
        let row = sqlx::query(&sql)
            .bind(client_id)
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(app_from_row).transpose()
    }

    async fn app_by_m2m_client_id(&self, m2m_client_id: &str) -> Result<Option<App>, StoreError> {
        let sql = format!("SELECT {APP_COLUMNS} FROM apps WHERE m2m_client_id = $1");
        let row = sqlx::query(&sql)
            .bind(m2m_client_id)
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(app_from_row).transpose()
    }

    async fn list_apps(&self) -> Result<Vec<App>, StoreError> {
        let sql = format!("SELECT {APP_COLUMNS} FROM apps ORDER BY created_at, client_id");
        let rows = sqlx::query(&sql).fetch_all(&self.pool).await?;
        rows.iter().map(app_from_row).collect()
    }

    async fn excluded_capabilities(&self, client_id: &str) -> Result<String, StoreError> {
        let row = sqlx::query("SELECT excluded_capabilities FROM apps WHERE client_id = $1")
            .bind(client_id)
            .fetch_optional(&self.pool)
            .await?;
        Ok(row
            .map(|r| r.try_get("excluded_capabilities"))
            .transpose()?
            .unwrap_or_else(|| "[]".into()))
    }

    async fn set_excluded_capabilities(
        &self,
        client_id: &str,
        json: &str,
        now: UnixTime,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE apps SET excluded_capabilities = $1, updated_at = $2 WHERE client_id = $3",
        )
        .bind(json)
        .bind(now)
        .bind(client_id)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn set_app_secret_hash(
        &self,
        client_id: &str,
        hash: &SecretHash,
        now: UnixTime,
    ) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "UPDATE apps SET m2m_secret_hash = $1, updated_at = $2 WHERE client_id = $3",
        )
        .bind(hash.as_bytes().to_vec())
        .bind(now)
        .bind(client_id)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() > 0)
    }

    async fn initiate_login_uri(&self, client_id: &str) -> Result<Option<String>, StoreError> {
        let row = sqlx::query("SELECT initiate_login_uri FROM apps WHERE client_id = $1")
            .bind(client_id)
            .fetch_optional(&self.pool)
            .await?;
        Ok(row
            .map(|r| r.try_get::<Option<String>, _>("initiate_login_uri"))
            .transpose()?
            .flatten())
    }

    async fn set_initiate_login_uri(
        &self,
        client_id: &str,
        uri: Option<&str>,
        now: UnixTime,
    ) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "UPDATE apps SET initiate_login_uri = $1, updated_at = $2 WHERE client_id = $3",
        )
        .bind(uri)
        .bind(now)
        .bind(client_id)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() > 0)
    }
}
