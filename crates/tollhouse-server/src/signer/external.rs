//! The `oidc` verifier: JWT access tokens of configured external issuers. Each issuer's JWKS is
//! found by OIDC discovery, cached, and refetched on an unknown `kid` at most once a minute.

use super::identity::{Rejection, VerifiedIdentity};
use crate::config::CLOCK_SKEW_SECS;
use crate::signer_config::{ExternalIssuer, VerifierKind};
use crate::state::AppState;
use base64::Engine as _;
use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde_json::{Map, Value};
use std::sync::{Arc, RwLock};
use tollhouse_core::user::UserStatus;

/// Least time between two JWKS fetches of one issuer triggered by unknown key ids.
pub const JWKS_REFETCH_MILLIS: i64 = 60_000;

/// The configured issuers and their cached key sets.
#[derive(Debug, Default)]
pub struct ExternalIssuers {
    issuers: Vec<IssuerKeys>,
}

#[derive(Debug)]
struct IssuerKeys {
    config: ExternalIssuer,
    cached: RwLock<Cached>,
    /// One fetch at a time per issuer; waiters then read what it fetched.
    fetching: tokio::sync::Mutex<()>,
}

#[derive(Debug, Default, Clone)]
struct Cached {
    jwks: Option<Arc<JwkSet>>,
    fetched_at_millis: Option<i64>,
}

impl ExternalIssuers {
    /// Issuers from the configuration.
    pub fn new(configs: &[ExternalIssuer]) -> Self {
        Self {
            issuers: configs
                .iter()
                .map(|config| IssuerKeys {
                    config: config.clone(),
                    cached: RwLock::new(Cached::default()),
                    fetching: tokio::sync::Mutex::new(()),
                })
                .collect(),
        }
    }

    fn find(&self, iss: &str) -> Option<&IssuerKeys> {
        self.issuers.iter().find(|i| i.config.issuer == iss)
    }
}

impl IssuerKeys {
    fn cached(&self) -> Cached {
        self.cached
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    /// The key set, fetched if there is none yet or if `kid` is unknown and the last fetch is
    /// older than a minute.
    async fn key_set(&self, state: &AppState, kid: Option<&str>) -> Result<Arc<JwkSet>, Rejection> {
        let knows = |set: &JwkSet| kid.is_none_or(|kid| set.find(kid).is_some());
        let now = state.clock.now_millis();
        let stale = |c: &Cached| {
            c.fetched_at_millis
                .is_none_or(|at| now - at >= JWKS_REFETCH_MILLIS)
        };
        let cached = self.cached();
        if let Some(set) = &cached.jwks
            && (knows(set) || !stale(&cached))
        {
            return Ok(set.clone());
        }
        let _one_fetch = self.fetching.lock().await;
        let cached = self.cached();
        if let Some(set) = &cached.jwks
            && (knows(set) || !stale(&cached))
        {
            return Ok(set.clone());
        }
        match fetch_jwks(state, &self.config.issuer).await {
            Ok(set) => {
                let set = Arc::new(set);
                *self
                    .cached
                    .write()
                    .unwrap_or_else(std::sync::PoisonError::into_inner) = Cached {
                    jwks: Some(set.clone()),
                    fetched_at_millis: Some(now),
                };
                Ok(set)
            }
            Err(err) => {
                tracing::warn!(issuer = %self.config.issuer, error = %err, "JWKS fetch failed");
                // Keep what we had; remember the attempt so a failing issuer is not hammered.
                let mut guard = self
                    .cached
                    .write()
                    .unwrap_or_else(std::sync::PoisonError::into_inner);
                guard.fetched_at_millis = Some(now);
                match &guard.jwks {
                    Some(set) => Ok(set.clone()),
                    None => Err(Rejection::IssuerUnavailable(format!("issuer keys: {err}"))),
                }
            }
        }
    }
}

async fn fetch_jwks(state: &AppState, issuer: &str) -> Result<JwkSet, String> {
    let discovery_url = format!(
        "{}/.well-known/openid-configuration",
        issuer.trim_end_matches('/')
    );
    let discovery: Value = get_json(state, &discovery_url).await?;
    if discovery.get("issuer").and_then(Value::as_str) != Some(issuer) {
        return Err("discovery document names another issuer".into());
    }
    let jwks_uri = discovery
        .get("jwks_uri")
        .and_then(Value::as_str)
        .ok_or("discovery document has no jwks_uri")?;
    let jwks: Value = get_json(state, jwks_uri).await?;
    serde_json::from_value(jwks).map_err(|e| format!("JWKS: {e}"))
}

async fn get_json(state: &AppState, url: &str) -> Result<Value, String> {
    let response = state
        .http
        .get(url)
        .timeout(std::time::Duration::from_secs(5))
        .send()
        .await
        .map_err(|e| format!("GET {url}: {e}"))?;
    if !response.status().is_success() {
        return Err(format!("GET {url}: HTTP {}", response.status()));
    }
    response.json().await.map_err(|e| format!("GET {url}: {e}"))
}

/// The unverified `iss` of a compact JWS, to pick the issuer whose keys must verify it.
fn peek_issuer(token: &str) -> Option<String> {
    let payload = token.split('.').nth(1)?;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload)
        .ok()?;
    #[derive(serde::Deserialize)]
    struct Iss {
        iss: Option<String>,
    }
    serde_json::from_slice::<Iss>(&bytes).ok()?.iss
}

fn first_string(claims: &Map<String, Value>, names: &[String]) -> Option<String> {
    names
        .iter()
        .filter_map(|name| claims.get(name).and_then(Value::as_str))
        .find(|v| !v.is_empty())
        .map(str::to_owned)
}

fn has_scope(claims: &Map<String, Value>, required: &str) -> bool {
    if required.is_empty() {
        return true;
    }
    let in_scope = claims
        .get("scope")
        .and_then(Value::as_str)
        .is_some_and(|s| s.split(' ').any(|x| x == required));
    let in_scp = claims
        .get("scp")
        .and_then(Value::as_array)
        .is_some_and(|a| a.iter().any(|x| x.as_str() == Some(required)));
    in_scope || in_scp
}

/// Verifies `token` if one of the configured issuers issued it.
pub async fn verify(state: &AppState, token: &str) -> Result<Option<VerifiedIdentity>, Rejection> {
    let Some(iss) = peek_issuer(token) else {
        return Ok(None);
    };
    let Some(issuer) = state.external_issuers.find(&iss) else {
        return Ok(None);
    };
    let config = &issuer.config;
    let header = jsonwebtoken::decode_header(token).map_err(|_| Rejection::Invalid)?;
    let alg_name = format!("{:?}", header.alg);
    if !config.algorithms.contains(&alg_name) {
        return Err(Rejection::Invalid);
    }
    let keys = issuer.key_set(state, header.kid.as_deref()).await?;
    let jwk = match header.kid.as_deref() {
        Some(kid) => keys.find(kid),
        None if keys.keys.len() == 1 => keys.keys.first(),
        None => None,
    }
    .ok_or(Rejection::Invalid)?;
    let key = DecodingKey::from_jwk(jwk).map_err(|_| Rejection::Invalid)?;
    let claims = decode_claims(token, &key, header.alg, config)?;
    let now = state.clock.now();
    let exp = claims
        .get("exp")
        .and_then(Value::as_i64)
        .ok_or(Rejection::Invalid)?;
    if now >= exp {
        return Err(Rejection::Expired);
    }
    if claims
        .get("nbf")
        .and_then(Value::as_i64)
        .is_some_and(|nbf| now + CLOCK_SKEW_SECS < nbf)
    {
        return Err(Rejection::Invalid);
    }
    if !has_scope(&claims, &config.required_scope) {
        return Err(Rejection::InsufficientScope);
    }
    let client_id = config
        .client_id
        .clone()
        .or_else(|| first_string(&claims, &config.client_id_claims))
        .ok_or(Rejection::Invalid)?;
    let subject = first_string(&claims, &config.subject_claims).ok_or(Rejection::Invalid)?;
    let user = state
        .store
        .user_by_external_id(&client_id, &subject)
        .await?;
    if user
        .as_ref()
        .is_some_and(|u| u.status != UserStatus::Active)
    {
        return Err(Rejection::Inactive);
    }
    Ok(Some(VerifiedIdentity {
        issuer: config.issuer.clone(),
        client_id,
        usage_subject: subject,
        usage_subject_type: config.subject_type.clone(),
        user_id: user.map(|u| u.id),
        expires_at: Some(exp),
        verifier: VerifierKind::Oidc,
    }))
}

fn decode_claims(
    token: &str,
    key: &DecodingKey,
    alg: Algorithm,
    config: &ExternalIssuer,
) -> Result<Map<String, Value>, Rejection> {
    let mut validation = Validation::new(alg);
    // Time is checked against the injected clock by the caller.
    validation.validate_exp = false;
    validation.validate_nbf = false;
    validation.required_spec_claims.clear();
    validation.set_issuer(&[&config.issuer]);
    match &config.audience {
        Some(aud) => validation.set_audience(&[aud]),
        None => validation.validate_aud = false,
    }
    jsonwebtoken::decode::<Map<String, Value>>(token, key, &validation)
        .map(|data| data.claims)
        .map_err(|_| Rejection::Invalid)
}
