//! `[keys]`: the master key file and the JWT signing keys.

use super::sources::within;
use super::{CLOCK_SKEW_SECS, ConfigError, SIGNER_TOKEN_TTL_SECS, USER_TOKEN_TTL_SECS};
use serde::{Deserialize, Serialize};
use std::path::PathBuf;
use tollhouse_core::keys::SigningAlg;

/// Keys and token lifetimes.
#[derive(Debug, Clone, Serialize, Deserialize, clap::Args)]
#[serde(default, deny_unknown_fields)]
pub struct KeysConfig {
    /// Master key file (hex) [default: <data-dir>/master.key, created mode 0600];
    /// TOLLHOUSE_MASTER_KEY takes precedence
    #[arg(long, env = "TOLLHOUSE_MASTER_KEY_FILE", global = true)]
    pub master_key_file: Option<PathBuf>,
    /// Algorithm of new signing keys: RS256, ES256 or EdDSA
    #[arg(
        long,
        env = "TOLLHOUSE_SIGNING_ALG",
        global = true,
        default_value = "RS256"
    )]
    pub signing_alg: SigningAlg,
    /// Lifetime of client-credentials access tokens, seconds
    #[arg(
        id = "access_token_ttl_secs",
        long = "access-token-ttl",
        env = "TOLLHOUSE_ACCESS_TOKEN_TTL",
        global = true,
        default_value = "3600"
    )]
    pub access_token_ttl_secs: i64,
    /// Seconds between signing-key reloads and expiry sweeps
    #[arg(
        id = "refresh_secs",
        long = "key-refresh",
        env = "TOLLHOUSE_KEY_REFRESH",
        global = true,
        default_value = "10"
    )]
    pub refresh_secs: u64,
    /// Seconds between `keys rotate` publishing a key and signing with it
    #[arg(
        id = "activation_delay_secs",
        long = "key-activation-delay",
        env = "TOLLHOUSE_KEY_ACTIVATION_DELAY",
        global = true,
        default_value = "120"
    )]
    pub activation_delay_secs: i64,
}

impl KeysConfig {
    /// Bounds of every setting.
    pub fn validate(&self) -> Result<(), ConfigError> {
        within(
            "keys.access_token_ttl_secs",
            self.access_token_ttl_secs,
            60..=86_400,
        )?;
        within("keys.refresh_secs", self.refresh_secs, 1..=60)?;
        within(
            "keys.activation_delay_secs",
            self.activation_delay_secs,
            0..=86_400,
        )
    }

    /// The longest lifetime any JWT may have; a retired key stays published this long.
    pub fn max_token_ttl_secs(&self) -> i64 {
        self.access_token_ttl_secs
            .max(USER_TOKEN_TTL_SECS)
            .max(SIGNER_TOKEN_TTL_SECS)
    }

    /// How long a retired key must stay published: every token it signed may still be
    /// presented, and running servers reload keys only every refresh interval.
    pub fn retired_key_window_secs(&self) -> i64 {
        self.max_token_ttl_secs() + i64::try_from(self.refresh_secs).unwrap_or(60) + CLOCK_SKEW_SECS
    }
}
