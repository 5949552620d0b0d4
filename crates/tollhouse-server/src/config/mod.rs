//! Every setting, in sections, and how flags, environment and a TOML file combine.
//!
//! Each setting is declared once, as a field of its section: the doc comment is its `--help`
//! text, the `#[arg]` attribute its flag, variable and default, and the section's `validate()`
//! its bounds. The built-in defaults are read back from those attributes
//! ([`sources::declared_defaults`]), so a default cannot differ between `--help`, the TOML file
//! and the code.
//!
//! Precedence, lowest first: built-in defaults, the TOML file (`--config`), then environment
//! variables and flags (clap reads both; a flag beats its variable). Secrets are never
//! defaults: the master key comes only from `TOLLHOUSE_MASTER_KEY` or a key file.

mod database;
mod http;
mod kafka;
mod keys;
mod legacy;
mod log;
mod price;
mod signer;
mod sources;
#[cfg(test)]
mod tests;

pub use database::DatabaseConfig;
pub use http::HttpConfig;
pub use kafka::KafkaConfig;
pub use keys::KeysConfig;
pub use legacy::Renamed;
pub use log::LogConfig;
pub use price::PriceConfig;
pub use signer::{Capability, ExternalIssuer, Redacted, SignerConfig, VerifierKind};
pub use sources::Overrides;

use figment::Figment;
use figment::providers::Serialized;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// The resolved configuration: one field per section, each a `[section]` table in TOML.
#[derive(Debug, Clone, Default, Serialize, Deserialize, clap::Args)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// The HTTP edge: address, public URL, request bounds and timeouts.
    #[command(flatten)]
    pub http: HttpConfig,
    /// Where data lives and how long an operation waits for it.
    #[command(flatten)]
    pub database: DatabaseConfig,
    /// The master key file and the JWT signing keys.
    #[command(flatten)]
    pub keys: KeysConfig,
    /// The go-livepeer integration: webhooks, end-user verifiers, the signer proxy.
    #[command(flatten)]
    pub signer: SignerConfig,
    /// The Kafka consumer of go-livepeer's usage events.
    #[command(flatten)]
    pub kafka: KafkaConfig,
    /// The ETH/USD price usage is valued at.
    #[command(flatten)]
    pub price: PriceConfig,
    /// Logging.
    #[command(flatten)]
    pub log: LogConfig,
}

/// A configuration that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read or a value has the wrong type or name.
    #[error(transparent)]
    Load(#[from] Box<figment::Error>),
    /// A setting's value is out of its bounds or contradicts another setting.
    #[error("`{key}`: {why}")]
    Invalid {
        /// The setting, as `section.key`.
        key: &'static str,
        /// What is wrong (never the value of a secret).
        why: String,
    },
    /// A flat key of the old layout and its section key are both set.
    #[error("`{old}` (the old name) and `{new}` are both set; keep `{new}`")]
    SetTwice {
        /// The old flat key.
        old: &'static str,
        /// Its `section.key`.
        new: String,
    },
}

impl ConfigError {
    /// An invalid setting.
    pub(crate) fn invalid(key: &'static str, why: impl Into<String>) -> Self {
        Self::Invalid {
            key,
            why: why.into(),
        }
    }
}

/// A configuration as loaded, with the old flat keys the file still used.
#[derive(Debug)]
pub struct Loaded {
    /// The configuration, validated.
    pub config: Config,
    /// Flat keys of the old layout found in the file (they keep working; the log says so).
    pub renamed: Vec<Renamed>,
}

/// User-token lifetime fixed by the spec, seconds.
pub const USER_TOKEN_TTL_SECS: i64 = 900;
/// Signer-JWT lifetime fixed by the spec, seconds.
pub const SIGNER_TOKEN_TTL_SECS: i64 = 300;
/// Allowed clock difference between Tollhouse and relying parties, seconds.
pub const CLOCK_SKEW_SECS: i64 = 60;

impl Config {
    /// Loads defaults, then `file` (if any), then the values given by flags or environment,
    /// and validates the result.
    pub fn load(file: Option<&Path>, overrides: &Overrides) -> Result<Loaded, ConfigError> {
        let mut figment = Figment::from(Serialized::defaults(Config::default()));
        let mut renamed = Vec::new();
        if let Some(path) = file {
            let (sectioned, old) = legacy::sectioned(path)?;
            figment = figment.merge(sectioned);
            renamed = old;
        }
        let config: Config = figment
            .merge(Serialized::defaults(overrides.as_value()))
            .extract()
            .map_err(Box::new)?;
        config.validate()?;
        Ok(Loaded { config, renamed })
    }

    /// Checks every section's bounds and the rules between settings.
    pub fn validate(&self) -> Result<(), ConfigError> {
        self.http.validate()?;
        self.database.validate()?;
        self.keys.validate()?;
        self.signer.validate()?;
        self.kafka.validate()?;
        self.price.validate()?;
        self.log.validate()
    }

    /// The public base URL without a trailing slash.
    pub fn public_base(&self) -> String {
        self.http.public_base()
    }

    /// The OIDC issuer identifier.
    pub fn issuer(&self) -> String {
        format!("{}/api/v1/oidc", self.public_base())
    }

    /// Path of the master key file.
    pub fn master_key_file(&self) -> PathBuf {
        self.keys
            .master_key_file
            .clone()
            .unwrap_or_else(|| self.database.data_dir.join("master.key"))
    }

    /// The longest lifetime any JWT may have; a retired key stays published this long.
    pub fn max_token_ttl_secs(&self) -> i64 {
        self.keys.max_token_ttl_secs()
    }
}
