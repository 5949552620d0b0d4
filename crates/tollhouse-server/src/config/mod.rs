//! Every setting, its default, and how flags, environment and a TOML file combine.
//!
//! Precedence, lowest first: built-in defaults, the TOML file (`--config`), then environment
//! variables and flags (clap reads both; a flag beats its variable). Secrets are never settings:
//! the master key comes only from `TOLLHOUSE_MASTER_KEY` or a key file.

use figment::Figment;
use figment::providers::{Format as _, Serialized, Toml};
use serde::{Deserialize, Serialize};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use tollhouse_core::keys::SigningAlg;

pub use crate::signer_config::{ExternalIssuer, Redacted, VerifierKind};

/// The resolved configuration.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Socket address the HTTP server binds.
    pub listen: SocketAddr,
    /// Public base URL; the issuer is `<public_url>/api/v1/oidc`. Defaults to `http://<listen>`.
    pub public_url: Option<String>,
    /// Directory for the embedded database and the generated master key file.
    pub data_dir: PathBuf,
    /// `sqlite://…` or `postgres://…`; defaults to SQLite in `data_dir`.
    pub database_url: Option<String>,
    /// File holding the master key (hex); defaults to `<data_dir>/master.key`, created mode 0600.
    pub master_key_file: Option<PathBuf>,
    /// Algorithm of newly created signing keys.
    pub signing_alg: SigningAlg,
    /// Lifetime of client-credentials access tokens, seconds.
    pub access_token_ttl_secs: i64,
    /// How often the server reloads signing keys and purges expired state, seconds.
    pub key_refresh_secs: u64,
    /// Delay between `keys rotate` publishing a key and signing with it, seconds.
    pub key_activation_delay_secs: i64,
    /// Largest accepted request body, bytes.
    pub max_body_bytes: usize,
    /// How long a request waits for a database connection before it fails as unavailable,
    /// milliseconds (the pool's acquire timeout).
    pub store_timeout_ms: u64,
    /// Deadline of the identity and Live AI webhooks, milliseconds: past it they answer their
    /// documented 503 (`billing_unavailable`), well inside go-livepeer's 5 s client timeout.
    pub webhook_deadline_ms: u64,
    /// Deadline of every other Tollhouse route (token, OIDC, Builder), body read included,
    /// milliseconds; past it the route answers 503 in its own error shape.
    pub request_deadline_ms: u64,
    /// How long a connection may take to send a request's headers, and how long an idle
    /// keep-alive connection is kept, seconds.
    pub header_read_timeout_secs: u64,
    /// How long a request body may go without sending more, seconds.
    pub body_read_timeout_secs: u64,
    /// Open connections the server accepts at once; more are closed on accept.
    pub max_connections: usize,
    /// Open connections one client IP address may hold at once.
    pub max_connections_per_ip: usize,
    /// URL of the remote signer (go-livepeer `-remoteSigner`, or Tollhouse's signer proxy) handed
    /// to clients with signer sessions as `signer_url`.
    pub signer_url: Option<String>,
    /// URL go-livepeer's `-remoteSignerWebhookUrl` points at, reported by signer routing
    /// [default: `<public url>/webhooks/remote-signer`].
    pub signer_webhook_url: Option<String>,
    /// The capability catalog every app's manifest starts from; apps exclude entries from it.
    pub capabilities: Vec<Capability>,
    /// Log filter (`info`, `tollhouse=debug,sqlx=warn`, …).
    pub log: String,
    /// Print logs as JSON lines instead of text.
    pub log_json: bool,
    /// Shared secret go-livepeer sends to the identity webhook (`Authorization: Bearer`,
    /// `X-Api-Key` or `X-Webhook-Secret`). Unset: the webhook refuses every caller.
    pub webhook_secret: Option<Redacted>,
    /// End-user verifiers the identity webhook tries, in order (first match wins). Apps may
    /// narrow the list. `trusted_headers` is only used when listed here.
    pub webhook_verifiers: Vec<VerifierKind>,
    /// External OIDC issuers whose access tokens the webhook accepts (the `oidc` verifier).
    pub external_issuers: Vec<ExternalIssuer>,
    /// go-livepeer remote signer the signer proxy forwards to; unset: no proxy.
    pub signer_upstream: Option<String>,
    /// Path prefix the signer proxy is mounted under.
    pub signer_proxy_prefix: String,
    /// Seconds the proxy waits for go-livepeer's response headers before answering 504.
    pub signer_upstream_timeout_secs: u64,
    /// Key go-livepeer's gateway sends to the Live AI auth webhook (`-liveAIAuthApiKey`).
    /// Unset: the Live AI webhook refuses every caller.
    pub live_ai_api_key: Option<Redacted>,
    /// Static ETH/USD price usage is valued at (decimal, e.g. `3456.78`).
    pub eth_usd_price: Option<String>,
    /// HTTP JSON oracle of the ETH/USD price (excludes `eth_usd_price`); unset: no oracle.
    pub eth_usd_oracle_url: Option<String>,
    /// JSON pointer (RFC 6901) to the price in the oracle's answer.
    pub eth_usd_oracle_pointer: String,
    /// Seconds between oracle reads.
    pub eth_usd_oracle_interval_secs: u64,
    /// Oldest oracle price used, seconds; older, usage waits for a fresh one.
    pub eth_usd_oracle_max_age_secs: u64,
    /// Kafka bootstrap servers (`host:port,…`); unset: no Kafka consumer.
    pub kafka_brokers: Option<String>,
    /// Topic go-livepeer publishes usage events to (`-kafkaGatewayTopic`).
    pub kafka_topic: String,
    /// Consumer group.
    pub kafka_group: String,
    /// SASL/PLAIN user name (with `kafka_password`; implies TLS unless `kafka_tls = false`).
    pub kafka_username: Option<String>,
    /// SASL/PLAIN password.
    pub kafka_password: Option<Redacted>,
    /// TLS to the brokers [default: on when SASL is configured].
    pub kafka_tls: Option<bool>,
    /// CA bundle for the brokers' certificates (PEM file).
    pub kafka_ca_file: Option<PathBuf>,
}

/// One pipeline/model pair of the capability catalog.
#[derive(
    Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, utoipa::ToSchema,
)]
#[serde(rename_all = "camelCase")]
pub struct Capability {
    /// go-livepeer pipeline, e.g. `live-video-to-video`.
    pub pipeline: String,
    /// Model id.
    pub model_id: String,
}

fn default_capabilities() -> Vec<Capability> {
    [
        ("live-video-to-video", "streamdiffusion"),
        ("live-video-to-video", "comfyui"),
        ("text-to-image", "SG161222/RealVisXL_V4.0_Lightning"),
        ("llm", "meta-llama/Meta-Llama-3.1-8B-Instruct"),
    ]
    .into_iter()
    .map(|(pipeline, model)| Capability {
        pipeline: pipeline.into(),
        model_id: model.into(),
    })
    .collect()
}

impl Default for Config {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            public_url: None,
            data_dir: PathBuf::from("./tollhouse-data"),
            database_url: None,
            master_key_file: None,
            signing_alg: SigningAlg::RS256,
            access_token_ttl_secs: 3600,
            key_refresh_secs: 10,
            key_activation_delay_secs: 120,
            max_body_bytes: 64 * 1024,
            store_timeout_ms: 2000,
            webhook_deadline_ms: 1000,
            request_deadline_ms: 10_000,
            header_read_timeout_secs: 10,
            body_read_timeout_secs: 10,
            max_connections: 10_000,
            max_connections_per_ip: 512,
            signer_url: None,
            signer_webhook_url: None,
            capabilities: default_capabilities(),
            log: "info".into(),
            log_json: false,
            webhook_secret: None,
            webhook_verifiers: VerifierKind::DEFAULT_ORDER.to_vec(),
            external_issuers: Vec::new(),
            signer_upstream: None,
            signer_proxy_prefix: "/signer".into(),
            signer_upstream_timeout_secs: 30,
            live_ai_api_key: None,
            eth_usd_price: None,
            eth_usd_oracle_url: None,
            eth_usd_oracle_pointer: "/ethereum/usd".into(),
            eth_usd_oracle_interval_secs: 60,
            eth_usd_oracle_max_age_secs: 300,
            kafka_brokers: None,
            kafka_topic: "livepeer-gateway".into(),
            kafka_group: "tollhouse".into(),
            kafka_username: None,
            kafka_password: None,
            kafka_tls: None,
            kafka_ca_file: None,
        }
    }
}

/// User-token lifetime fixed by the spec, seconds.
pub const USER_TOKEN_TTL_SECS: i64 = 900;
/// Signer-JWT lifetime fixed by the spec, seconds.
pub const SIGNER_TOKEN_TTL_SECS: i64 = 300;
/// Allowed clock difference between Tollhouse and relying parties, seconds.
pub const CLOCK_SKEW_SECS: i64 = 60;

impl Config {
    /// Loads defaults, then `file` (if any), then the values given by flags or environment.
    pub fn load(
        file: Option<&Path>,
        overrides: &ConfigOverrides,
    ) -> Result<Self, Box<figment::Error>> {
        let mut figment = Figment::from(Serialized::defaults(Config::default()));
        if let Some(path) = file {
            figment = figment.merge(Toml::file_exact(path));
        }
        figment
            .merge(Serialized::defaults(overrides))
            .extract()
            .map_err(Box::new)
    }

    /// The public base URL without a trailing slash.
    pub fn public_base(&self) -> String {
        match &self.public_url {
            Some(url) => url.trim_end_matches('/').to_owned(),
            None => format!("http://{}", self.listen),
        }
    }

    /// [`Config::webhook_deadline_ms`] as a duration.
    pub fn webhook_deadline(&self) -> std::time::Duration {
        std::time::Duration::from_millis(self.webhook_deadline_ms.max(1))
    }

    /// [`Config::request_deadline_ms`] as a duration.
    pub fn request_deadline(&self) -> std::time::Duration {
        std::time::Duration::from_millis(self.request_deadline_ms.max(1))
    }

    /// The OIDC issuer identifier.
    pub fn issuer(&self) -> String {
        format!("{}/api/v1/oidc", self.public_base())
    }

    /// The database URL, defaulting to SQLite inside the data directory.
    pub fn database_url(&self) -> String {
        match &self.database_url {
            Some(url) => url.clone(),
            None => format!(
                "sqlite://{}?mode=rwc",
                self.data_dir.join("tollhouse.db").display()
            ),
        }
    }

    /// Path of the master key file.
    pub fn master_key_file(&self) -> PathBuf {
        self.master_key_file
            .clone()
            .unwrap_or_else(|| self.data_dir.join("master.key"))
    }

    /// The longest lifetime any JWT may have; a retired key stays published this long.
    pub fn max_token_ttl_secs(&self) -> i64 {
        self.access_token_ttl_secs
            .max(USER_TOKEN_TTL_SECS)
            .max(SIGNER_TOKEN_TTL_SECS)
    }
}

/// Settings given on the command line or in the environment; `None` means "not given".
#[derive(Debug, Clone, Default, Serialize, clap::Args)]
pub struct ConfigOverrides {
    /// Address to listen on [default: 127.0.0.1:8080]
    #[arg(long, env = "TOLLHOUSE_LISTEN", global = true)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub listen: Option<SocketAddr>,
    /// Public base URL [default: http://<listen>]
    #[arg(long, env = "TOLLHOUSE_PUBLIC_URL", global = true)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub public_url: Option<String>,
    /// Data directory for the embedded database and key file [default: ./tollhouse-data]
    #[arg(long, env = "TOLLHOUSE_DATA_DIR", global = true)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub data_dir: Option<PathBuf>,
    /// Database URL, sqlite://… or postgres://… [default: SQLite in the data directory]
    #[arg(
        long,
        env = "TOLLHOUSE_DATABASE_URL",
        global = true,
        hide_env_values = true
    )]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub database_url: Option<String>,
    /// Master key file (hex) [default: <data-dir>/master.key]; TOLLHOUSE_MASTER_KEY takes precedence
    #[arg(long, env = "TOLLHOUSE_MASTER_KEY_FILE", global = true)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub master_key_file: Option<PathBuf>,
    /// Algorithm for new signing keys: RS256, ES256 or EdDSA [default: RS256]
    #[arg(long, env = "TOLLHOUSE_SIGNING_ALG", global = true)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub signing_alg: Option<SigningAlg>,
    /// Lifetime of client-credentials access tokens in seconds [default: 3600]
    #[arg(long, env = "TOLLHOUSE_ACCESS_TOKEN_TTL", global = true, value_parser = clap::value_parser!(i64).range(60..=86400))]
    #[serde(
        skip_serializing_if = "Option::is_none",
        rename = "access_token_ttl_secs"
    )]
    pub access_token_ttl: Option<i64>,
    /// Seconds between signing-key reloads and expiry sweeps [default: 10]
    #[arg(long, env = "TOLLHOUSE_KEY_REFRESH", global = true, value_parser = clap::value_parser!(u64).range(1..=60))]
    #[serde(skip_serializing_if = "Option::is_none", rename = "key_refresh_secs")]
    pub key_refresh: Option<u64>,
    /// Seconds between `keys rotate` publishing a key and signing with it [default: 120]
    #[arg(long, env = "TOLLHOUSE_KEY_ACTIVATION_DELAY", global = true, value_parser = clap::value_parser!(i64).range(0..=86400))]
    #[serde(
        skip_serializing_if = "Option::is_none",
        rename = "key_activation_delay_secs"
    )]
    pub key_activation_delay: Option<i64>,
    /// Largest accepted request body in bytes [default: 65536]
    #[arg(long, env = "TOLLHOUSE_MAX_BODY_BYTES", global = true)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_body_bytes: Option<usize>,
    /// Milliseconds a request waits for a database connection [default: 2000]
    #[arg(long, env = "TOLLHOUSE_STORE_TIMEOUT_MS", global = true, value_parser = clap::value_parser!(u64).range(50..=60000))]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub store_timeout_ms: Option<u64>,
    /// Deadline of the identity and Live AI webhooks in milliseconds [default: 1000]
    #[arg(long, env = "TOLLHOUSE_WEBHOOK_DEADLINE_MS", global = true, value_parser = clap::value_parser!(u64).range(50..=4500))]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub webhook_deadline_ms: Option<u64>,
    /// Deadline of token, OIDC and Builder requests in milliseconds [default: 10000]
    #[arg(long, env = "TOLLHOUSE_REQUEST_DEADLINE_MS", global = true, value_parser = clap::value_parser!(u64).range(100..=300000))]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub request_deadline_ms: Option<u64>,
    /// Seconds a client may take to send request headers, and an idle connection is kept [default: 10]
    #[arg(long, env = "TOLLHOUSE_HEADER_READ_TIMEOUT_SECS", global = true, value_parser = clap::value_parser!(u64).range(1..=3600))]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub header_read_timeout_secs: Option<u64>,
    /// Seconds a request body may pause before the request fails [default: 10]
    #[arg(long, env = "TOLLHOUSE_BODY_READ_TIMEOUT_SECS", global = true, value_parser = clap::value_parser!(u64).range(1..=3600))]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub body_read_timeout_secs: Option<u64>,
    /// Connections open at once [default: 10000]
    #[arg(long, env = "TOLLHOUSE_MAX_CONNECTIONS", global = true, value_parser = clap::value_parser!(u64).range(1..=1000000))]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_connections: Option<u64>,
    /// Connections one client IP may hold open at once [default: 512]
    #[arg(long, env = "TOLLHOUSE_MAX_CONNECTIONS_PER_IP", global = true, value_parser = clap::value_parser!(u64).range(1..=1000000))]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_connections_per_ip: Option<u64>,
    /// Remote signer URL given to clients as `signer_url` [default: none]
    #[arg(long, env = "TOLLHOUSE_SIGNER_URL", global = true)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub signer_url: Option<String>,
    /// Shared secret go-livepeer sends to the identity webhook [default: none, webhook closed]
    #[arg(
        long,
        env = "TOLLHOUSE_WEBHOOK_SECRET",
        global = true,
        hide_env_values = true
    )]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub webhook_secret: Option<Redacted>,
    /// Verifiers the identity webhook tries, in order, comma-separated
    /// [default: tollhouse_jwt,signer_session,api_key,oidc]
    #[arg(
        long,
        env = "TOLLHOUSE_WEBHOOK_VERIFIERS",
        global = true,
        value_delimiter = ','
    )]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub webhook_verifiers: Option<Vec<VerifierKind>>,
    /// go-livepeer remote signer to proxy to (mounts the signer proxy) [default: none]
    #[arg(long, env = "TOLLHOUSE_SIGNER_UPSTREAM", global = true)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub signer_upstream: Option<String>,
    /// Path prefix of the signer proxy [default: /signer]
    #[arg(long, env = "TOLLHOUSE_SIGNER_PROXY_PREFIX", global = true)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub signer_proxy_prefix: Option<String>,
    /// Key the Live AI gateway sends to `/webhooks/live-ai-auth` [default: none, closed]
    #[arg(
        long,
        env = "TOLLHOUSE_LIVE_AI_API_KEY",
        global = true,
        hide_env_values = true
    )]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub live_ai_api_key: Option<Redacted>,
    /// ETH/USD price usage is valued at, e.g. 3456.78 [default: none]
    #[arg(long, env = "TOLLHOUSE_ETH_USD_PRICE", global = true)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub eth_usd_price: Option<String>,
    /// HTTP JSON oracle of the ETH/USD price, read every interval (excludes --eth-usd-price) [default: none]
    #[arg(long, env = "TOLLHOUSE_ETH_USD_ORACLE_URL", global = true)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub eth_usd_oracle_url: Option<String>,
    /// JSON pointer to the price in the oracle's answer [default: /ethereum/usd]
    #[arg(long, env = "TOLLHOUSE_ETH_USD_ORACLE_POINTER", global = true)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub eth_usd_oracle_pointer: Option<String>,
    /// Seconds between oracle reads [default: 60]
    #[arg(long, env = "TOLLHOUSE_ETH_USD_ORACLE_INTERVAL_SECS", global = true, value_parser = clap::value_parser!(u64).range(1..=86400))]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub eth_usd_oracle_interval_secs: Option<u64>,
    /// Oldest oracle price used, seconds; older, usage waits for a fresh one [default: 300]
    #[arg(long, env = "TOLLHOUSE_ETH_USD_ORACLE_MAX_AGE_SECS", global = true, value_parser = clap::value_parser!(u64).range(1..=604800))]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub eth_usd_oracle_max_age_secs: Option<u64>,
    /// Kafka bootstrap servers for usage events [default: none, no consumer]
    #[arg(long, env = "TOLLHOUSE_KAFKA_BROKERS", global = true)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kafka_brokers: Option<String>,
    /// Kafka topic of go-livepeer's events [default: livepeer-gateway]
    #[arg(long, env = "TOLLHOUSE_KAFKA_TOPIC", global = true)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kafka_topic: Option<String>,
    /// Kafka consumer group [default: tollhouse]
    #[arg(long, env = "TOLLHOUSE_KAFKA_GROUP", global = true)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kafka_group: Option<String>,
    /// Kafka SASL/PLAIN user name [default: none]
    #[arg(long, env = "TOLLHOUSE_KAFKA_USERNAME", global = true)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kafka_username: Option<String>,
    /// Kafka SASL/PLAIN password [default: none]
    #[arg(
        long,
        env = "TOLLHOUSE_KAFKA_PASSWORD",
        global = true,
        hide_env_values = true
    )]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kafka_password: Option<Redacted>,
    /// TLS to the Kafka brokers [default: on with SASL]
    #[arg(long, env = "TOLLHOUSE_KAFKA_TLS", global = true)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kafka_tls: Option<bool>,
    /// CA bundle (PEM) for the Kafka brokers [default: system roots]
    #[arg(long, env = "TOLLHOUSE_KAFKA_CA_FILE", global = true)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kafka_ca_file: Option<PathBuf>,
    /// Log filter [default: info]
    #[arg(long, env = "TOLLHOUSE_LOG", global = true)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub log: Option<String>,
    /// Log as JSON lines [default: false]
    #[arg(long, env = "TOLLHOUSE_LOG_JSON", global = true)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub log_json: Option<bool>,
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `docs/configuration.md`'s table: (TOML key, flag, environment variable) per row.
    fn documented() -> Vec<(String, String, String)> {
        let doc = include_str!("../../../docs/configuration.md");
        let cell = |c: &str| c.trim().trim_matches('`').to_owned();
        doc.lines()
            .filter(|line| line.starts_with("| `") || line.starts_with("| —"))
            .filter_map(|line| {
                let cells: Vec<&str> = line.split('|').collect();
                Some((
                    cell(cells.get(1)?),
                    cell(cells.get(2)?),
                    cell(cells.get(3)?),
                ))
            })
            .collect()
    }

    #[test]
    fn every_setting_flag_and_variable_is_documented_as_it_is_defined() {
        use clap::Args as _;
        let rows = documented();
        let mut missing = Vec::new();
        let keys = serde_json::to_value(Config::default()).unwrap_or_default();
        for key in keys.as_object().into_iter().flat_map(|o| o.keys()) {
            if !rows.iter().any(|(k, _, _)| k == key) {
                missing.push(format!("TOML key `{key}`"));
            }
        }
        let command = ConfigOverrides::augment_args(clap::Command::new("tollhouse"));
        for arg in command.get_arguments() {
            let Some(long) = arg.get_long() else { continue };
            let flag = format!("--{long}");
            match rows.iter().find(|(_, f, _)| *f == flag) {
                None => missing.push(format!("flag `{flag}`")),
                Some((key, _, documented_env)) => {
                    let env = arg.get_env().map(|e| e.to_string_lossy().into_owned());
                    if env.is_some_and(|env| env != *documented_env) {
                        missing.push(format!("the variable of `{key}` / `{flag}`"));
                    }
                }
            }
        }
        assert!(
            missing.is_empty(),
            "not in docs/configuration.md as defined: {missing:#?}"
        );
    }

    #[test]
    fn flags_beat_file_beat_defaults() -> Result<(), Box<dyn std::error::Error>> {
        let dir = std::env::temp_dir().join(format!("tollhouse-config-{}", std::process::id()));
        std::fs::create_dir_all(&dir)?;
        let file = dir.join("tollhouse.toml");
        std::fs::write(
            &file,
            "listen = \"127.0.0.1:9000\"\nsigning_alg = \"ES256\"\naccess_token_ttl_secs = 600\n",
        )?;
        let overrides = ConfigOverrides {
            listen: Some(SocketAddr::from(([127, 0, 0, 1], 9100))),
            ..Default::default()
        };
        let config = Config::load(Some(&file), &overrides)?;
        assert_eq!(config.listen.port(), 9100);
        assert_eq!(config.signing_alg, SigningAlg::ES256);
        assert_eq!(config.access_token_ttl_secs, 600);
        assert_eq!(config.issuer(), "http://127.0.0.1:9100/api/v1/oidc");
        std::fs::write(&file, "no_such_setting = 1\n")?;
        assert!(Config::load(Some(&file), &ConfigOverrides::default()).is_err());
        Ok(())
    }
}
