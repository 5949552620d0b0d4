use thiserror::Error;

/// Storage failures, as the layers above need to tell them apart.
#[derive(Debug, Error)]
pub enum StoreError {
    /// A unique constraint refused the write.
    #[error("already exists")]
    Conflict,
    /// A stored value did not decode into its domain type.
    #[error("stored data is corrupt: {0}")]
    Corrupt(String),
    /// The database could not be reached or failed the statement.
    #[error("database error: {0}")]
    Database(#[source] sqlx::Error),
    /// Migrations failed.
    #[error("migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
}

impl From<sqlx::Error> for StoreError {
    fn from(err: sqlx::Error) -> Self {
        match &err {
            sqlx::Error::Database(db) if db.is_unique_violation() => Self::Conflict,
            _ => Self::Database(err),
        }
    }
}
