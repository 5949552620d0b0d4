//! The `oidc` verifier: JWT access tokens of configured external issuers, checked by the SDK's
//! [`JwtVerifier`] (one implementation of the JWT rules for the server and integrators). Each
//! issuer's key set is found by OIDC discovery and cached: fetched again on an unknown `kid` at
//! most once a minute, and once it is older than the issuer's `jwks_max_age_secs` (default one
//! hour), so a key the issuer withdrew stops verifying within that time.

use super::SignerState;
use super::identity::{Rejection, VerifiedIdentity};
use crate::config::CLOCK_SKEW_SECS;
use crate::config::{ExternalIssuer, VerifierKind};
use std::sync::Arc;
use std::time::Duration;
use tollhouse_core::Clock;
use tollhouse_core::user::UserStatus;
use tollhouse_core::webhook::UsageIdentity;
use tollhouse_sdk::jwt::{AccessTokenClaims, JwksCache, JwtError, JwtVerifier, peek_issuer};

/// Least time between two JWKS fetches of one issuer triggered by unknown key ids.
pub const JWKS_REFETCH_INTERVAL: Duration = tollhouse_sdk::jwt::DEFAULT_JWKS_REFETCH_INTERVAL;

/// The configured issuers, each with its verifier and cached key set.
#[derive(Debug, Default)]
pub struct ExternalIssuers {
    issuers: Vec<Issuer>,
}

#[derive(Debug)]
struct Issuer {
    config: ExternalIssuer,
    verifier: JwtVerifier,
}

impl ExternalIssuers {
    /// Verifiers for the configured issuers, fetching over `http` and reading `clock`.
    pub fn new(configs: &[ExternalIssuer], http: &reqwest::Client, clock: Arc<dyn Clock>) -> Self {
        let issuers = configs
            .iter()
            .map(|config| Issuer {
                config: config.clone(),
                verifier: verifier_for(config, http, clock.clone()),
            })
            .collect();
        Self { issuers }
    }

    fn find(&self, iss: &str) -> Option<&Issuer> {
        self.issuers.iter().find(|i| i.config.issuer == iss)
    }
}

/// Plain OIDC access tokens (no RFC 9068 profile required); `exp` to the second, `nbf` and
/// `iat` with the server's clock skew; the audience only when one is configured.
fn verifier_for(
    config: &ExternalIssuer,
    http: &reqwest::Client,
    clock: Arc<dyn Clock>,
) -> JwtVerifier {
    let keys = JwksCache::discover(config.issuer.clone())
        .with_http_client(http.clone())
        .with_refetch_interval(JWKS_REFETCH_INTERVAL)
        .with_max_age(Duration::from_secs(config.jwks_max_age_secs));
    let algorithms = config.algorithms.iter().filter_map(|alg| alg.parse().ok());
    let mut builder = JwtVerifier::builder(config.issuer.clone())
        .keys(keys)
        .clock(clock)
        .rfc9068(false)
        .algorithms(algorithms)
        .leeway_secs(CLOCK_SKEW_SECS)
        .expiry_leeway_secs(0);
    builder = match &config.audience {
        Some(audience) => builder.audience(audience.clone()),
        None => builder.any_audience(),
    };
    if !config.required_scope.is_empty() {
        builder = builder.required_scope(config.required_scope.clone());
    }
    builder.build()
}

fn rejection(err: JwtError) -> Rejection {
    match err {
        JwtError::Expired => Rejection::Expired,
        JwtError::InsufficientScope { .. } => Rejection::InsufficientScope,
        JwtError::KeysUnavailable(cause) => Rejection::Unavailable(format!("issuer keys: {cause}")),
        _ => Rejection::Invalid,
    }
}

fn first_string(claims: &AccessTokenClaims, names: &[String]) -> Option<String> {
    names
        .iter()
        .filter_map(|name| claims.string(name))
        .find(|v| !v.is_empty())
        .map(str::to_owned)
}

/// Verifies `token` if one of the configured issuers issued it.
pub async fn verify(
    signer: &SignerState,
    token: &str,
) -> Result<Option<VerifiedIdentity>, Rejection> {
    let Some(issuer) = peek_issuer(token).and_then(|iss| signer.external_issuers.find(&iss)) else {
        return Ok(None);
    };
    let config = &issuer.config;
    let claims = issuer.verifier.verify(token).await.map_err(rejection)?;
    let client_id = config
        .client_id
        .clone()
        .or_else(|| first_string(&claims, &config.client_id_claims))
        .ok_or(Rejection::Invalid)?;
    let subject = first_string(&claims, &config.subject_claims).ok_or(Rejection::Invalid)?;
    let user = signer
        .store
        .user_by_external_id(&client_id, &subject)
        .await?;
    if user
        .as_ref()
        .is_some_and(|u| u.status != UserStatus::Active)
    {
        return Err(Rejection::Inactive);
    }
    let mut usage =
        UsageIdentity::new(config.issuer.clone(), client_id, subject).expiring_at(claims.exp);
    usage.usage_subject_type = config.subject_type.clone();
    Ok(Some(VerifiedIdentity {
        usage,
        user_id: user.map(|u| u.id),
        verifier: VerifierKind::Oidc,
    }))
}
