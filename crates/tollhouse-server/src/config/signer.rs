//! `[signer]`: the go-livepeer integration. Which end-user verifiers the identity webhook
//! tries, the external OIDC issuers, the webhooks' secrets and deadline, the signer proxy, and
//! the capability catalog manifests start from.

use super::ConfigError;
use super::sources::{http_url, within};
use serde::{Deserialize, Serialize};
use std::fmt;
use std::net::SocketAddr;
use std::time::Duration;

/// The go-livepeer integration.
#[derive(Debug, Clone, Serialize, Deserialize, clap::Args)]
#[serde(default, deny_unknown_fields)]
pub struct SignerConfig {
    /// Remote signer URL (go-livepeer `-remoteSigner`, or the signer proxy) handed to clients
    /// with signer sessions and in signer routing as `signer_url`
    #[arg(
        id = "remote_signer_url",
        long = "signer-url",
        env = "TOLLHOUSE_SIGNER_URL",
        global = true
    )]
    pub remote_signer_url: Option<String>,
    /// URL go-livepeer's `-remoteSignerWebhookUrl` points at, reported by signer routing
    /// [default: <public url>/webhooks/remote-signer]
    #[arg(
        id = "webhook_url",
        long = "signer-webhook-url",
        env = "TOLLHOUSE_SIGNER_WEBHOOK_URL",
        global = true
    )]
    pub webhook_url: Option<String>,
    /// Shared secret go-livepeer sends to the identity webhook (`Authorization: Bearer`,
    /// `X-Api-Key` or `X-Webhook-Secret`) [default: none, the webhook refuses every caller]
    #[arg(
        long,
        env = "TOLLHOUSE_WEBHOOK_SECRET",
        global = true,
        hide_env_values = true
    )]
    pub webhook_secret: Option<Redacted>,
    /// Deadline of the identity and Live AI webhooks in milliseconds: past it they answer
    /// their documented 503 (`billing_unavailable`), inside go-livepeer's 5 s client timeout
    #[arg(
        long,
        env = "TOLLHOUSE_WEBHOOK_DEADLINE_MS",
        global = true,
        default_value = "1000"
    )]
    pub webhook_deadline_ms: u64,
    /// End-user verifiers the identity webhook tries, in order, comma-separated (first match
    /// wins); `trusted_headers` is only used when listed
    #[arg(
        long,
        env = "TOLLHOUSE_WEBHOOK_VERIFIERS",
        global = true,
        value_enum,
        value_delimiter = ',',
        default_value = "tollhouse_jwt,signer_session,api_key,oidc"
    )]
    pub webhook_verifiers: Vec<VerifierKind>,
    /// External OIDC issuers whose access tokens the webhook accepts (the `oidc` verifier);
    /// TOML only (`[[signer.external_issuers]]`).
    #[arg(skip)]
    pub external_issuers: Vec<ExternalIssuer>,
    /// go-livepeer remote signer the signer proxy forwards to [default: none, no proxy]
    #[arg(
        id = "upstream",
        long = "signer-upstream",
        env = "TOLLHOUSE_SIGNER_UPSTREAM",
        global = true
    )]
    pub upstream: Option<String>,
    /// Path prefix the signer proxy is mounted under on the main listener. go-livepeer and the
    /// builder-sdk resolve the signer's paths as absolute (`/generate-live-payment` replaces
    /// any path of `-remoteSignerUrl`), so only `/` is reachable by them without a rewriting
    /// proxy in front
    #[arg(
        id = "proxy_prefix",
        long = "signer-proxy-prefix",
        env = "TOLLHOUSE_SIGNER_PROXY_PREFIX",
        global = true,
        default_value = "/"
    )]
    pub proxy_prefix: String,
    /// A listener of its own for the signer proxy, serving go-livepeer's paths at its root
    /// (point `-remoteSignerUrl` at this origin) [default: none, the main listener only]
    #[arg(
        id = "proxy_listen",
        long = "signer-listen",
        env = "TOLLHOUSE_SIGNER_LISTEN",
        global = true
    )]
    pub proxy_listen: Option<SocketAddr>,
    /// Seconds the proxy waits for go-livepeer's response headers before answering 504
    #[arg(
        id = "upstream_timeout_secs",
        long = "signer-upstream-timeout-secs",
        env = "TOLLHOUSE_SIGNER_UPSTREAM_TIMEOUT_SECS",
        global = true,
        default_value = "30"
    )]
    pub upstream_timeout_secs: u64,
    /// Key go-livepeer's gateway sends to the Live AI auth webhook (`-liveAIAuthApiKey`)
    /// [default: none, the Live AI webhook refuses every caller]
    #[arg(
        long,
        env = "TOLLHOUSE_LIVE_AI_API_KEY",
        global = true,
        hide_env_values = true
    )]
    pub live_ai_api_key: Option<Redacted>,
    /// The capability catalog every app's manifest starts from; apps exclude entries from it.
    /// TOML only (`[[signer.capabilities]]`).
    #[arg(skip = default_capabilities())]
    pub capabilities: Vec<Capability>,
}

impl SignerConfig {
    /// Bounds of every setting, and the proxy's URL and prefix.
    pub fn validate(&self) -> Result<(), ConfigError> {
        within(
            "signer.webhook_deadline_ms",
            self.webhook_deadline_ms,
            50..=4500,
        )?;
        within(
            "signer.upstream_timeout_secs",
            self.upstream_timeout_secs,
            1..=3600,
        )?;
        if self.webhook_secret.as_ref().is_some_and(Redacted::is_empty) {
            return Err(ConfigError::invalid(
                "signer.webhook_secret",
                "is empty (leave it unset to close the webhook)",
            ));
        }
        if self
            .live_ai_api_key
            .as_ref()
            .is_some_and(Redacted::is_empty)
        {
            return Err(ConfigError::invalid(
                "signer.live_ai_api_key",
                "is empty (leave it unset to close the webhook)",
            ));
        }
        if let Some(upstream) = &self.upstream {
            let url = http_url("signer.upstream", upstream)?;
            if url.query().is_some() {
                return Err(ConfigError::invalid(
                    "signer.upstream",
                    format!("`{upstream}` must not have a query"),
                ));
            }
        }
        let prefix = &self.proxy_prefix;
        let root = prefix == "/";
        if !prefix.starts_with('/')
            || (!root && prefix.ends_with('/'))
            || prefix.contains(['{', '}', '*'])
        {
            return Err(ConfigError::invalid(
                "signer.proxy_prefix",
                format!(
                    "`{prefix}` must be `/`, or start with `/` and not end with it, and hold no route parameters"
                ),
            ));
        }
        if self.proxy_listen.is_some() && self.upstream.is_none() {
            return Err(ConfigError::invalid(
                "signer.proxy_listen",
                "needs signer.upstream (the go-livepeer signer to forward to)",
            ));
        }
        for issuer in &self.external_issuers {
            http_url("signer.external_issuers", &issuer.issuer)?;
        }
        Ok(())
    }

    /// The path prefix the proxy's routes are served under on the main listener: empty for
    /// the root.
    pub fn proxy_mount(&self) -> &str {
        self.proxy_prefix.trim_end_matches('/')
    }

    /// [`SignerConfig::webhook_deadline_ms`] as a duration.
    pub fn webhook_deadline(&self) -> Duration {
        Duration::from_millis(self.webhook_deadline_ms.max(1))
    }
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

/// A secret setting: readable by the code that needs it, `***` in every `Debug` output.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Redacted(String);

impl Redacted {
    /// Wraps a secret.
    pub fn new(secret: impl Into<String>) -> Self {
        Self(secret.into())
    }

    /// The secret itself.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// Whether the secret is the empty string.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Debug for Redacted {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

impl std::str::FromStr for Redacted {
    type Err = std::convert::Infallible;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(Self(s.to_owned()))
    }
}

/// One way of proving an end user's identity at the identity webhook.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "snake_case")]
#[value(rename_all = "snake_case")]
pub enum VerifierKind {
    /// Tollhouse's own user and signer JWTs, checked locally against the current key set.
    TollhouseJwt,
    /// Opaque `pmth_…` signer sessions.
    SignerSession,
    /// API keys, bare or composite.
    ApiKey,
    /// Access tokens of the configured external OIDC issuers.
    Oidc,
    /// `X-Livepeer-Usage-*` headers set by a trusted upstream (never on by default).
    TrustedHeaders,
}

impl VerifierKind {
    /// The configuration and storage name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::TollhouseJwt => "tollhouse_jwt",
            Self::SignerSession => "signer_session",
            Self::ApiKey => "api_key",
            Self::Oidc => "oidc",
            Self::TrustedHeaders => "trusted_headers",
        }
    }

    /// Parses a name.
    pub fn parse(name: &str) -> Option<Self> {
        [
            Self::TollhouseJwt,
            Self::SignerSession,
            Self::ApiKey,
            Self::Oidc,
            Self::TrustedHeaders,
        ]
        .into_iter()
        .find(|k| k.as_str() == name)
    }
}

/// An external OIDC issuer whose JWT access tokens prove an end user's identity.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExternalIssuer {
    /// The issuer identifier (`iss`); its JWKS is found by OIDC discovery.
    pub issuer: String,
    /// Required audience (`aud`), if any.
    #[serde(default)]
    pub audience: Option<String>,
    /// Scope the token must carry [default: `sign:job`]; empty: none required.
    #[serde(default = "default_required_scope")]
    pub required_scope: String,
    /// Claims naming the app, tried in order [default: `azp`, `client_id`].
    #[serde(default = "default_client_id_claims")]
    pub client_id_claims: Vec<String>,
    /// A fixed app client id for every token of this issuer (instead of a claim).
    #[serde(default)]
    pub client_id: Option<String>,
    /// Claims naming the usage subject, tried in order [default: `external_user_id`, `sub`].
    #[serde(default = "default_subject_claims")]
    pub subject_claims: Vec<String>,
    /// The `usage_subject_type` reported [default: `external_user_id`].
    #[serde(default = "default_subject_type")]
    pub subject_type: String,
    /// Algorithms accepted [default: RS256, ES256, EdDSA].
    #[serde(default = "default_algorithms")]
    pub algorithms: Vec<String>,
    /// Seconds a fetched key set is trusted before it is fetched again even when every `kid`
    /// is known [default: 3600]: the longest a key the issuer withdrew keeps verifying.
    #[serde(default = "default_jwks_max_age_secs")]
    pub jwks_max_age_secs: u64,
}

fn default_required_scope() -> String {
    "sign:job".into()
}

fn default_client_id_claims() -> Vec<String> {
    vec!["azp".into(), "client_id".into()]
}

fn default_subject_claims() -> Vec<String> {
    vec!["external_user_id".into(), "sub".into()]
}

fn default_subject_type() -> String {
    "external_user_id".into()
}

fn default_jwks_max_age_secs() -> u64 {
    tollhouse_sdk::jwt::DEFAULT_JWKS_MAX_AGE.as_secs()
}

fn default_algorithms() -> Vec<String> {
    vec!["RS256".into(), "ES256".into(), "EdDSA".into()]
}

impl ExternalIssuer {
    /// An issuer with every default.
    pub fn new(issuer: impl Into<String>) -> Self {
        Self {
            issuer: issuer.into(),
            audience: None,
            required_scope: default_required_scope(),
            client_id_claims: default_client_id_claims(),
            client_id: None,
            subject_claims: default_subject_claims(),
            subject_type: default_subject_type(),
            algorithms: default_algorithms(),
            jwks_max_age_secs: default_jwks_max_age_secs(),
        }
    }
}
