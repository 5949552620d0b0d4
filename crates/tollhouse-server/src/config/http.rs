//! `[http]`: where the server listens, and how large and slow a request may be.

use super::ConfigError;
use super::sources::{http_url, within};
use serde::{Deserialize, Serialize};
use std::net::SocketAddr;
use std::time::Duration;

/// The HTTP edge.
#[derive(Debug, Clone, Serialize, Deserialize, clap::Args)]
#[serde(default, deny_unknown_fields)]
pub struct HttpConfig {
    /// Socket address the HTTP server binds
    #[arg(
        long,
        env = "TOLLHOUSE_LISTEN",
        global = true,
        default_value = "127.0.0.1:8080"
    )]
    pub listen: SocketAddr,
    /// Public base URL; the issuer is `<public_url>/api/v1/oidc` [default: http://<listen>]
    #[arg(long, env = "TOLLHOUSE_PUBLIC_URL", global = true)]
    pub public_url: Option<String>,
    /// Largest accepted request body in bytes; larger bodies get 413
    #[arg(
        long,
        env = "TOLLHOUSE_MAX_BODY_BYTES",
        global = true,
        default_value = "65536"
    )]
    pub max_body_bytes: usize,
    /// Deadline of token, OIDC and Builder requests (body read included) in milliseconds;
    /// past it the route answers 503 in its own error shape
    #[arg(
        long,
        env = "TOLLHOUSE_REQUEST_DEADLINE_MS",
        global = true,
        default_value = "10000"
    )]
    pub request_deadline_ms: u64,
    /// Seconds a client may take to send request headers, and an idle keep-alive connection
    /// is kept
    #[arg(
        long,
        env = "TOLLHOUSE_HEADER_READ_TIMEOUT_SECS",
        global = true,
        default_value = "10"
    )]
    pub header_read_timeout_secs: u64,
    /// Seconds a request body may pause before the request fails
    #[arg(
        long,
        env = "TOLLHOUSE_BODY_READ_TIMEOUT_SECS",
        global = true,
        default_value = "10"
    )]
    pub body_read_timeout_secs: u64,
    /// Connections open at once; more are closed on accept
    #[arg(
        long,
        env = "TOLLHOUSE_MAX_CONNECTIONS",
        global = true,
        default_value = "10000"
    )]
    pub max_connections: usize,
    /// Connections one client IP address may hold open at once
    #[arg(
        long,
        env = "TOLLHOUSE_MAX_CONNECTIONS_PER_IP",
        global = true,
        default_value = "512"
    )]
    pub max_connections_per_ip: usize,
}

impl HttpConfig {
    /// Bounds of every setting.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if let Some(url) = &self.public_url {
            let parsed = http_url("http.public_url", url)?;
            if parsed.query().is_some() || parsed.fragment().is_some() {
                return Err(ConfigError::invalid(
                    "http.public_url",
                    format!("`{url}` must not have a query or fragment"),
                ));
            }
        }
        within("http.max_body_bytes", self.max_body_bytes, 1024..=64 << 20)?;
        within(
            "http.request_deadline_ms",
            self.request_deadline_ms,
            100..=300_000,
        )?;
        within(
            "http.header_read_timeout_secs",
            self.header_read_timeout_secs,
            1..=3600,
        )?;
        within(
            "http.body_read_timeout_secs",
            self.body_read_timeout_secs,
            1..=3600,
        )?;
        within("http.max_connections", self.max_connections, 1..=1_000_000)?;
        within(
            "http.max_connections_per_ip",
            self.max_connections_per_ip,
            1..=1_000_000,
        )
    }

    /// The public base URL without a trailing slash.
    pub fn public_base(&self) -> String {
        match &self.public_url {
            Some(url) => url.trim_end_matches('/').to_owned(),
            None => format!("http://{}", self.listen),
        }
    }

    /// [`HttpConfig::request_deadline_ms`] as a duration.
    pub fn request_deadline(&self) -> Duration {
        Duration::from_millis(self.request_deadline_ms.max(1))
    }
}
