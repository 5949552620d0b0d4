//! The sqlx-backed store: connection, dialect, migrations.

use crate::{Store, StoreError};
use sqlx::any::{AnyPoolOptions, install_default_drivers};
use sqlx::postgres::{PgPool, PgPoolOptions};
use sqlx::{AnyPool, Executor as _};
use std::time::Duration;

/// Connections of the PostgreSQL report pool: reports are short reads, and more at once than
/// the database has cores only queue inside it.
const REPORT_CONNECTIONS: u32 = 8;

/// The database behind a store.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// Embedded SQLite file.
    Sqlite,
    /// PostgreSQL server.
    Postgres,
}

impl Backend {
    /// Chooses the backend from a `sqlite://` or `postgres://` URL.
    pub fn from_url(url: &str) -> Option<Self> {
        if url.starts_with("sqlite:") {
            Some(Self::Sqlite)
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Some(Self::Postgres)
        } else {
            None
        }
    }
}

/// The one implementation of every repository trait.
#[derive(Debug, Clone)]
pub struct SqlStore {
    pub(crate) pool: AnyPool,
    backend: Backend,
    /// On PostgreSQL, a small pool of PostgreSQL's own driver for the Usage API's report reads
    /// (opened on first use). sqlx's `Any` driver copies every row into owned values with its
    /// own copy of the column metadata; for a 1,000-row report that copy was the top of the
    /// server's profile. Everything else goes through `pool`.
    pub(crate) report_pool: Option<PgPool>,
}

/// How long a query waits for a pooled connection unless told otherwise.
pub const DEFAULT_ACQUIRE_TIMEOUT: Duration = Duration::from_secs(5);

impl SqlStore {
    /// Connects and runs pending migrations, waiting up to [`DEFAULT_ACQUIRE_TIMEOUT`] for a
    /// connection.
    pub async fn connect(url: &str) -> Result<Self, StoreError> {
        Self::connect_with(url, DEFAULT_ACQUIRE_TIMEOUT).await
    }

    /// Connects and runs pending migrations. `acquire_timeout` bounds how long any operation
    /// waits for a connection, so an unreachable database fails requests in that time (a
    /// server's hot paths need that well inside their callers' own timeouts).
    pub async fn connect_with(url: &str, acquire_timeout: Duration) -> Result<Self, StoreError> {
        let backend = Backend::from_url(url).ok_or_else(|| {
            StoreError::Corrupt(
                "unsupported database URL scheme (expected sqlite:// or postgres://)".to_owned(),
            )
        })?;
        install_default_drivers();
        let options = AnyPoolOptions::new()
            .acquire_timeout(acquire_timeout)
            .max_connections(match backend {
                Backend::Sqlite => 8,
                Backend::Postgres => 16,
            });
        // A writer waits for another's lock as long as a request waits for a connection.
        let busy_ms = acquire_timeout.as_millis().max(1);
        let options = if backend == Backend::Sqlite {
            options.after_connect(move |conn, _meta| {
                Box::pin(async move {
                    // WAL lets readers proceed while one writer commits; NORMAL sync is durable
                    // across process crashes (the WAL is fsynced at checkpoints).
                    conn.execute(format!("PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; PRAGMA busy_timeout = {busy_ms}; PRAGMA foreign_keys = ON;").as_str())
                        .await?;
                    Ok(())
                })
            })
        } else {
            options
        };
        let pool = options.connect(url).await?;
        let report_pool = match backend {
            Backend::Postgres => Some(
                PgPoolOptions::new()
                    .acquire_timeout(acquire_timeout)
                    .max_connections(REPORT_CONNECTIONS)
                    .connect_lazy(url)?,
            ),
            Backend::Sqlite => None,
        };
        let store = Self {
            pool,
            backend,
            report_pool,
        };
        store.migrate().await?;
        Ok(store)
    }

    async fn migrate(&self) -> Result<(), StoreError> {
        match self.backend {
            Backend::Sqlite => {
                sqlx::migrate!("./migrations/sqlite")
                    .run(&self.pool)
                    .await?
            }
            Backend::Postgres => {
                sqlx::migrate!("./migrations/postgres")
                    .run(&self.pool)
                    .await?
            }
        }
        Ok(())
    }
}

#[async_trait::async_trait]
impl Store for SqlStore {
    fn backend(&self) -> Backend {
        self.backend
    }

    async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }

    async fn close(&self) {
        self.pool.close().await;
        if let Some(pool) = &self.report_pool {
            pool.close().await;
        }
    }
}
