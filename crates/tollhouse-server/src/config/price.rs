//! `[price]`: the ETH/USD price usage is valued at, fixed or read from an oracle.

use super::ConfigError;
use super::sources::{http_url, within};
use serde::{Deserialize, Serialize};
use tollhouse_core::money::EthUsdPrice;

/// The ETH/USD price source.
#[derive(Debug, Clone, Serialize, Deserialize, clap::Args)]
#[serde(default, deny_unknown_fields)]
pub struct PriceConfig {
    /// Static ETH/USD price usage is valued at, e.g. 3456.78 [default: none]
    #[arg(
        id = "eth_usd",
        long = "eth-usd-price",
        env = "TOLLHOUSE_ETH_USD_PRICE",
        global = true
    )]
    pub eth_usd: Option<String>,
    /// HTTP JSON oracle of the ETH/USD price, read every interval (excludes --eth-usd-price)
    /// [default: none]
    #[arg(
        id = "oracle_url",
        long = "eth-usd-oracle-url",
        env = "TOLLHOUSE_ETH_USD_ORACLE_URL",
        global = true
    )]
    pub oracle_url: Option<String>,
    /// JSON pointer (RFC 6901) to the price in the oracle's answer
    #[arg(
        id = "oracle_pointer",
        long = "eth-usd-oracle-pointer",
        env = "TOLLHOUSE_ETH_USD_ORACLE_POINTER",
        global = true,
        default_value = "/ethereum/usd"
    )]
    pub oracle_pointer: String,
    /// Seconds between oracle reads
    #[arg(
        id = "oracle_interval_secs",
        long = "eth-usd-oracle-interval-secs",
        env = "TOLLHOUSE_ETH_USD_ORACLE_INTERVAL_SECS",
        global = true,
        default_value = "60"
    )]
    pub oracle_interval_secs: u64,
    /// Oldest oracle price used, seconds; older, usage waits for a fresh one
    #[arg(
        id = "oracle_max_age_secs",
        long = "eth-usd-oracle-max-age-secs",
        env = "TOLLHOUSE_ETH_USD_ORACLE_MAX_AGE_SECS",
        global = true,
        default_value = "300"
    )]
    pub oracle_max_age_secs: u64,
}

impl PriceConfig {
    /// One source at most; a static price must parse; an oracle needs a sane pointer, interval
    /// and maximum age.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.eth_usd.is_some() && self.oracle_url.is_some() {
            return Err(ConfigError::invalid(
                "price.eth_usd",
                "excludes price.oracle_url (which one should value usage?)",
            ));
        }
        if let Some(text) = &self.eth_usd {
            EthUsdPrice::parse(text)
                .map_err(|e| ConfigError::invalid("price.eth_usd", format!("`{text}`: {e}")))?;
        }
        if let Some(url) = &self.oracle_url {
            http_url("price.oracle_url", url)?;
        }
        let pointer = &self.oracle_pointer;
        if !pointer.is_empty() && !pointer.starts_with('/') {
            return Err(ConfigError::invalid(
                "price.oracle_pointer",
                format!("`{pointer}`: a JSON pointer starts with `/`"),
            ));
        }
        within(
            "price.oracle_interval_secs",
            self.oracle_interval_secs,
            1..=86_400,
        )?;
        within(
            "price.oracle_max_age_secs",
            self.oracle_max_age_secs,
            self.oracle_interval_secs..=604_800,
        )
        .map_err(|_| {
            ConfigError::invalid(
                "price.oracle_max_age_secs",
                format!(
                    "{} must be at least the interval ({} s) and at most 604800",
                    self.oracle_max_age_secs, self.oracle_interval_secs
                ),
            )
        })
    }

    /// The oldest oracle price used, milliseconds.
    pub fn oracle_max_age_ms(&self) -> i64 {
        i64::try_from(self.oracle_max_age_secs)
            .unwrap_or(i64::MAX / 1000)
            .saturating_mul(1000)
    }
}
