//! Settings of the signer integration: which end-user verifiers the identity webhook tries,
//! external OIDC issuers, and secrets that must never be printed.

use serde::{Deserialize, Serialize};
use std::fmt;

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
    /// The deployment default: everything but trusted headers.
    pub const DEFAULT_ORDER: [Self; 4] = [
        Self::TollhouseJwt,
        Self::SignerSession,
        Self::ApiKey,
        Self::Oidc,
    ];

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
