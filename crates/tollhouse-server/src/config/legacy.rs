//! The flat layout of earlier releases (`listen = …`, `kafka_brokers = …` at the top of the
//! file) keeps working: each old key is moved into its section before the file is read, and
//! the log names the new key. Flags and environment variables did not change.

use super::ConfigError;
use figment::providers::Format as _;
use figment::value::{Dict, Map, Value};
use figment::{Figment, Metadata, Profile, Provider};
use std::path::Path;

/// Every flat key of the old layout, and the `section.key` it now is.
pub(super) const RENAMES: [(&str, &str); 41] = [
    ("listen", "http.listen"),
    ("public_url", "http.public_url"),
    ("max_body_bytes", "http.max_body_bytes"),
    ("request_deadline_ms", "http.request_deadline_ms"),
    ("header_read_timeout_secs", "http.header_read_timeout_secs"),
    ("body_read_timeout_secs", "http.body_read_timeout_secs"),
    ("max_connections", "http.max_connections"),
    ("max_connections_per_ip", "http.max_connections_per_ip"),
    ("data_dir", "database.data_dir"),
    ("database_url", "database.url"),
    ("store_timeout_ms", "database.timeout_ms"),
    ("master_key_file", "keys.master_key_file"),
    ("signing_alg", "keys.signing_alg"),
    ("access_token_ttl_secs", "keys.access_token_ttl_secs"),
    ("key_refresh_secs", "keys.refresh_secs"),
    ("key_activation_delay_secs", "keys.activation_delay_secs"),
    ("signer_url", "signer.remote_signer_url"),
    ("signer_webhook_url", "signer.webhook_url"),
    ("webhook_secret", "signer.webhook_secret"),
    ("webhook_deadline_ms", "signer.webhook_deadline_ms"),
    ("webhook_verifiers", "signer.webhook_verifiers"),
    ("external_issuers", "signer.external_issuers"),
    ("signer_upstream", "signer.upstream"),
    ("signer_proxy_prefix", "signer.proxy_prefix"),
    (
        "signer_upstream_timeout_secs",
        "signer.upstream_timeout_secs",
    ),
    ("live_ai_api_key", "signer.live_ai_api_key"),
    ("capabilities", "signer.capabilities"),
    ("kafka_brokers", "kafka.brokers"),
    ("kafka_topic", "kafka.topic"),
    ("kafka_group", "kafka.group"),
    ("kafka_username", "kafka.username"),
    ("kafka_password", "kafka.password"),
    ("kafka_tls", "kafka.tls"),
    ("kafka_ca_file", "kafka.ca_file"),
    ("eth_usd_price", "price.eth_usd"),
    ("eth_usd_oracle_url", "price.oracle_url"),
    ("eth_usd_oracle_pointer", "price.oracle_pointer"),
    ("eth_usd_oracle_interval_secs", "price.oracle_interval_secs"),
    ("eth_usd_oracle_max_age_secs", "price.oracle_max_age_secs"),
    ("log", "log.filter"),
    ("log_json", "log.json_lines"),
];

/// An old flat key a file used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Renamed {
    /// The flat key.
    pub old: &'static str,
    /// Its `section.key`.
    pub new: &'static str,
}

/// A TOML file's settings with old flat keys moved into their sections; errors still name
/// the file.
pub(super) struct Sectioned {
    dict: Dict,
    metadata: Metadata,
}

impl Provider for Sectioned {
    fn metadata(&self) -> Metadata {
        self.metadata.clone()
    }

    fn data(&self) -> Result<Map<Profile, Dict>, figment::Error> {
        Ok(Profile::Default.collect(self.dict.clone()))
    }
}

/// Reads the TOML file at `path` and moves its old flat keys into sections.
pub(super) fn sectioned(path: &Path) -> Result<(Sectioned, Vec<Renamed>), ConfigError> {
    let toml = figment::providers::Toml::file_exact(path);
    let metadata = toml.metadata();
    let dict: Dict = Figment::from(toml).extract().map_err(Box::new)?;
    let (dict, renamed) = move_flat_keys(dict)?;
    Ok((Sectioned { dict, metadata }, renamed))
}

/// Moves every old flat key of `dict` to its section.
pub(super) fn move_flat_keys(mut dict: Dict) -> Result<(Dict, Vec<Renamed>), ConfigError> {
    let mut renamed = Vec::new();
    for (old, new) in RENAMES {
        let Some((section, key)) = new.split_once('.') else {
            continue;
        };
        // `log` is both an old key (the filter, a string) and a section (a table).
        if matches!(dict.get(old), None | Some(Value::Dict(..))) {
            continue;
        }
        let Some(value) = dict.remove(old) else {
            continue;
        };
        let table = dict
            .entry(section.to_owned())
            .or_insert_with(|| Value::from(Dict::new()));
        let Value::Dict(_, table) = table else {
            // `http = 5`: left for the type error that names it.
            dict.insert(old.to_owned(), value);
            continue;
        };
        if table.contains_key(key) {
            return Err(ConfigError::SetTwice {
                old,
                new: new.to_owned(),
            });
        }
        table.insert(key.to_owned(), value);
        renamed.push(Renamed { old, new });
    }
    Ok((dict, renamed))
}
