//! App users.

use crate::{SqlStore, StoreError};
use sqlx::Row as _;
use sqlx::any::AnyRow;
use tollhouse_core::UnixTime;
use tollhouse_core::user::{AppUser, ExternalUserId, UserStatus};

/// Whether an upsert created the user.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Upserted {
    /// A new user.
    Created,
    /// An existing user (fields given were updated).
    Existing,
}

/// Storage of app users.
#[async_trait::async_trait]
pub trait UserRepository {
    /// Creates the user or updates the given fields of the existing one. `email`/`status`, and
    /// `new`'s display fields, of `None` leave the stored value alone.
    async fn upsert_user(
        &self,
        new: &AppUser,
        email: Option<&str>,
        status: Option<UserStatus>,
        now: UnixTime,
    ) -> Result<(AppUser, Upserted), StoreError>;
    /// The user `external_user_id` of app `client_id`.
    async fn user_by_external_id(
        &self,
        client_id: &str,
        external_user_id: &str,
    ) -> Result<Option<AppUser>, StoreError>;
    /// The user with Tollhouse id `id`.
    async fn user_by_id(&self, id: &str) -> Result<Option<AppUser>, StoreError>;
    /// Every user of an app, oldest first.
    async fn list_users(&self, client_id: &str) -> Result<Vec<AppUser>, StoreError>;
    /// Sets a user's status; `None` if no such user.
    async fn set_user_status(
        &self,
        client_id: &str,
        external_user_id: &str,
        status: UserStatus,
        now: UnixTime,
    ) -> Result<Option<AppUser>, StoreError>;
}

const USER_COLUMNS: &str =
    "id, client_id, external_user_id, email, status, created_at, display_name, avatar_url";

fn user_from_row(row: &AnyRow) -> Result<AppUser, StoreError> {
    let ext: String = row.try_get("external_user_id")?;
    let status: String = row.try_get("status")?;
    Ok(AppUser {
        id: row.try_get("id")?,
        client_id: row.try_get("client_id")?,
        external_user_id: ExternalUserId::parse(&ext)
            .map_err(|_| StoreError::Corrupt("app_users.external_user_id".into()))?,
        email: row.try_get("email")?,
        status: UserStatus::parse(&status)
            .ok_or_else(|| StoreError::Corrupt("app_users.status".into()))?,
        created_at: row.try_get("created_at")?,
        display_name: row.try_get("display_name")?,
        avatar_url: row.try_get("avatar_url")?,
    })
}

#[async_trait::async_trait]
impl UserRepository for SqlStore {
    async fn upsert_user(
        &self,
        new: &AppUser,
        email: Option<&str>,
        status: Option<UserStatus>,
        now: UnixTime,
    ) -> Result<(AppUser, Upserted), StoreError> {
        let inserted = sqlx::query(
            "INSERT INTO app_users (id, client_id, external_user_id, email, status, created_at, updated_at, display_name, avatar_url) \
             VALUES ($1, $2, $3, $4, $5, $6, $6, $7, $8) ON CONFLICT (client_id, external_user_id) DO NOTHING",
        )
        .bind(&new.id)
        .bind(&new.client_id)
        .bind(new.external_user_id.as_str())
        .bind(new.email.clone())
        .bind(new.status.as_str())
        .bind(now)
        .bind(new.display_name.clone())
        .bind(new.avatar_url.clone())
        .execute(&self.pool)
        .await?;
        if inserted.rows_affected() > 0 {
            return Ok((new.clone(), Upserted::Created));
        }
        sqlx::query(
            "UPDATE app_users SET email = COALESCE($1, email), status = COALESCE($2, status), updated_at = $3, \
             display_name = COALESCE($6, display_name), avatar_url = COALESCE($7, avatar_url) \
             WHERE client_id = $4 AND external_user_id = $5",
        )
        .bind(email)
        .bind(status.map(UserStatus::as_str))
        .bind(now)
        .bind(&new.client_id)
        .bind(new.external_user_id.as_str())
        .bind(new.display_name.clone())
        .bind(new.avatar_url.clone())
        .execute(&self.pool)
        .await?;
        let user = self
            .user_by_external_id(&new.client_id, new.external_user_id.as_str())
            .await?
            .ok_or_else(|| StoreError::Corrupt("user vanished during upsert".into()))?;
        Ok((user, Upserted::Existing))
    }

    async fn user_by_external_id(
        &self,
        client_id: &str,
        external_user_id: &str,
    ) -> Result<Option<AppUser>, StoreError> {
        let sql = format!(
            "SELECT {USER_COLUMNS} FROM app_users WHERE client_id = $1 AND external_user_id = $2"
        );
        let row = sqlx::query(&sql)
            .bind(client_id)
            .bind(external_user_id)
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(user_from_row).transpose()
    }

    async fn user_by_id(&self, id: &str) -> Result<Option<AppUser>, StoreError> {
        let sql = format!("SELECT {USER_COLUMNS} FROM app_users WHERE id = $1");
        let row = sqlx::query(&sql)
            .bind(id)
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(user_from_row).transpose()
    }

    async fn list_users(&self, client_id: &str) -> Result<Vec<AppUser>, StoreError> {
        let sql = format!(
            "SELECT {USER_COLUMNS} FROM app_users WHERE client_id = $1 ORDER BY created_at, external_user_id"
        );
        let rows = sqlx::query(&sql)
            .bind(client_id)
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(user_from_row).collect()
    }

    async fn set_user_status(
        &self,
        client_id: &str,
        external_user_id: &str,
        status: UserStatus,
        now: UnixTime,
    ) -> Result<Option<AppUser>, StoreError> {
        sqlx::query("UPDATE app_users SET status = $1, updated_at = $2 WHERE client_id = $3 AND external_user_id = $4")
            .bind(status.as_str())
            .bind(now)
            .bind(client_id)
            .bind(external_user_id)
            .execute(&self.pool)
            .await?;
        self.user_by_external_id(client_id, external_user_id).await
    }
}
