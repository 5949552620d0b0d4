//! `[database]`: where data lives, and how long an operation waits for it.

use super::ConfigError;
use super::sources::within;
use serde::{Deserialize, Serialize};
use std::path::PathBuf;
use std::time::Duration;

/// Storage.
#[derive(Debug, Clone, Serialize, Deserialize, clap::Args)]
#[serde(default, deny_unknown_fields)]
pub struct DatabaseConfig {
    /// Directory for the embedded database and the generated master key file
    #[arg(
        long,
        env = "TOLLHOUSE_DATA_DIR",
        global = true,
        default_value = "./tollhouse-data"
    )]
    pub data_dir: PathBuf,
    /// Database URL, `sqlite://…` or `postgres://…` [default: SQLite in the data directory]
    #[arg(
        id = "url",
        long = "database-url",
        env = "TOLLHOUSE_DATABASE_URL",
        global = true,
        hide_env_values = true
    )]
    pub url: Option<String>,
    /// Milliseconds an operation waits for a database connection (and, on SQLite, for another
    /// writer's lock) before it fails as unavailable
    #[arg(
        id = "timeout_ms",
        long = "store-timeout-ms",
        env = "TOLLHOUSE_STORE_TIMEOUT_MS",
        global = true,
        default_value = "2000"
    )]
    pub timeout_ms: u64,
}

impl DatabaseConfig {
    /// Bounds of every setting.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if let Some(url) = &self.url {
            let known = ["sqlite:", "postgres://", "postgresql://"];
            if !known.iter().any(|scheme| url.starts_with(scheme)) {
                // The URL may hold a password: name its scheme only.
                let scheme = url.split(':').next().unwrap_or_default();
                return Err(ConfigError::invalid(
                    "database.url",
                    format!("scheme `{scheme}` is neither sqlite: nor postgres://"),
                ));
            }
        }
        within("database.timeout_ms", self.timeout_ms, 50..=60_000)
    }

    /// The database URL, defaulting to SQLite inside the data directory.
    pub fn url(&self) -> String {
        match &self.url {
            Some(url) => url.clone(),
            None => format!(
                "sqlite://{}?mode=rwc",
                self.data_dir.join("tollhouse.db").display()
            ),
        }
    }

    /// [`DatabaseConfig::timeout_ms`] as a duration.
    pub fn timeout(&self) -> Duration {
        Duration::from_millis(self.timeout_ms.max(1))
    }
}
