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
    /// A text value the database cannot hold: PostgreSQL refuses the NUL character (SQLSTATE
    /// 22021), so such a value can be neither stored nor found.
    #[error("text contains a character the database cannot store")]
    InvalidText,
    /// A usage event would take its app past a lifetime ceiling (`tollhouse_core::bounds`);
    /// nothing of its batch was stored.
    #[error("usage refused: {0}")]
    OverLimit(String),
    /// Migrations failed.
    #[error("migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
}

impl From<sqlx::Error> for StoreError {
    fn from(err: sqlx::Error) -> Self {
        match &err {
            sqlx::Error::Database(db) if db.is_unique_violation() => Self::Conflict,
            sqlx::Error::Database(db) if db.code().as_deref() == Some("22021") => Self::InvalidText,
            _ => Self::Database(err),
        }
    }
}

/// A store failure while proving an identity is an outage of billing (503
/// `billing_unavailable` at the webhook), never a judgement of the credential.
impl From<StoreError> for tollhouse_core::webhook::Rejection {
    fn from(err: StoreError) -> Self {
        Self::StoreUnavailable(err.to_string())
    }
}
