//! `[log]`: what is logged, and how.

use super::ConfigError;
use serde::{Deserialize, Serialize};

/// Logging.
#[derive(Debug, Clone, Serialize, Deserialize, clap::Args)]
#[serde(default, deny_unknown_fields)]
pub struct LogConfig {
    /// Log filter (`info`, `tollhouse_server=debug,sqlx=warn`, …)
    #[arg(
        id = "filter",
        long = "log",
        env = "TOLLHOUSE_LOG",
        global = true,
        default_value = "info"
    )]
    pub filter: String,
    /// Print logs as JSON lines instead of text
    #[arg(
        id = "json_lines",
        long = "log-json",
        env = "TOLLHOUSE_LOG_JSON",
        global = true,
        action = clap::ArgAction::Set,
        default_value = "false"
    )]
    pub json_lines: bool,
}

impl LogConfig {
    /// The filter must parse (a typo would otherwise silently log at another level).
    pub fn validate(&self) -> Result<(), ConfigError> {
        tracing_subscriber::EnvFilter::try_new(&self.filter)
            .map(drop)
            .map_err(|e| ConfigError::invalid("log.filter", format!("`{}`: {e}", self.filter)))
    }
}
