//! The built-in end-user verifiers: JWTs of an OIDC issuer (Tollhouse's own included), API
//! keys resolved by the integrator, Tollhouse credentials checked by introspection, and
//! identity headers set by a trusted proxy.

use super::verify::{EndUserRequest, EndUserVerifier, Rejection, UsageIdentity, VerifyFuture};
use crate::jwt::{JwtError, JwtVerifier, looks_like_jwt, peek_issuer};
use serde::Deserialize;
use std::future::Future;
use std::time::Duration;
use tollhouse_core::webhook::{CredentialKind, classify_credential};

/// The scope an end-user credential needs for payments to be signed.
pub const SIGN_SCOPE: &str = "sign:job";

/// JWT access tokens of one issuer, checked locally against its published keys
/// ([`JwtVerifier`]), mapped to a [`UsageIdentity`] by configurable claims.
///
/// Tokens of other issuers, and credentials that are not JWTs, are left to the next verifier
/// of a [`CompositeVerifier`](super::CompositeVerifier).
///
/// ```
/// use tollhouse_sdk::jwt::JwtVerifier;
/// use tollhouse_sdk::webhook::OidcVerifier;
///
/// // Tollhouse's user and signer tokens: RFC 9068, `sign:job`, subject `external_user_id`.
/// let tollhouse = OidcVerifier::tollhouse("https://tollhouse.example/api/v1/oidc");
///
/// // Auth0 access tokens for an API: the app from `azp`, the user from `sub`.
/// let auth0 = OidcVerifier::new(
///     JwtVerifier::builder("https://tenant.auth0.com/")
///         .audience("https://api.example")
///         .rfc9068(false)
///         .build(),
/// )
/// .required_scope("sign:job")
/// .client_id_claims(["azp"])
/// .subject_type("auth0_user_id");
/// # let _ = (tollhouse, auth0);
/// ```
#[derive(Debug, Clone)]
pub struct OidcVerifier {
    jwt: JwtVerifier,
    client_id: Option<String>,
    client_id_claims: Vec<String>,
    subject_claims: Vec<String>,
    subject_type: String,
    required_scope: Option<String>,
}

impl OidcVerifier {
    /// Tokens accepted by `jwt`; the app from `client_id` (else `azp`), the user from `sub`,
    /// subject type `external_user_id`. Configure the required scope on `jwt`.
    pub fn new(jwt: JwtVerifier) -> Self {
        Self {
            jwt,
            client_id: None,
            client_id_claims: vec!["client_id".into(), "azp".into()],
            subject_claims: vec!["sub".into()],
            subject_type: "external_user_id".into(),
            required_scope: None,
        }
    }

    /// Tollhouse's own user and signer JWTs: RFC 9068 profile, audience = issuer, the user from
    /// `external_user_id` (app tokens, which name no user, are refused with 401), scope
    /// `sign:job` required (403 without). Keys found by discovery of `issuer`.
    ///
    /// A JWT is checked locally, so its revocation is seen only when it expires (user tokens
    /// live 15 minutes, signer JWTs 5); use [`IntrospectionVerifier`] where that matters.
    pub fn tollhouse(issuer: impl Into<String>) -> Self {
        Self::tollhouse_with(JwtVerifier::builder(issuer).build())
    }

    /// [`OidcVerifier::tollhouse`] with a verifier of your own configuration (clock, key
    /// source, HTTP client); `sign:job` is required by this verifier, after the user is found,
    /// so `jwt` needs no required scope.
    pub fn tollhouse_with(jwt: JwtVerifier) -> Self {
        Self {
            client_id_claims: vec!["client_id".into()],
            subject_claims: vec!["external_user_id".into()],
            required_scope: Some(SIGN_SCOPE.into()),
            ..Self::new(jwt)
        }
    }

    /// Requires `scope`, checked once the token is known to name a user (so a token naming
    /// none is 401, not 403). A scope required by the [`JwtVerifier`] itself is checked first.
    pub fn required_scope(mut self, scope: impl Into<String>) -> Self {
        self.required_scope = Some(scope.into());
        self
    }

    /// Every token belongs to this app, whatever its claims say.
    pub fn client_id(mut self, client_id: impl Into<String>) -> Self {
        self.client_id = Some(client_id.into());
        self
    }

    /// Claims holding the app's id, first non-empty one wins.
    pub fn client_id_claims<I, S>(mut self, claims: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.client_id_claims = claims.into_iter().map(Into::into).collect();
        self
    }

    /// Claims holding the user's id, first non-empty one wins.
    pub fn subject_claims<I, S>(mut self, claims: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.subject_claims = claims.into_iter().map(Into::into).collect();
        self
    }

    /// The `usage_subject_type` reported (default `external_user_id`).
    pub fn subject_type(mut self, subject_type: impl Into<String>) -> Self {
        self.subject_type = subject_type.into();
        self
    }
}

impl EndUserVerifier for OidcVerifier {
    fn verify<'a>(&'a self, request: &'a EndUserRequest) -> VerifyFuture<'a> {
        Box::pin(async move {
            let Some(token) = request.credential() else {
                return Ok(None);
            };
            if !looks_like_jwt(token) || peek_issuer(token).as_deref() != Some(self.jwt.issuer()) {
                return Ok(None);
            }
            let claims = self.jwt.verify(token).await.map_err(|e| match e {
                JwtError::Expired => Rejection::Expired,
                JwtError::InsufficientScope { .. } => Rejection::InsufficientScope,
                JwtError::KeysUnavailable(cause) => Rejection::Unavailable(cause),
                _ => Rejection::Invalid,
            })?;
            let first = |names: &[String]| {
                names
                    .iter()
                    .filter_map(|n| claims.string(n))
                    .find(|v| !v.is_empty())
                    .map(str::to_owned)
            };
            let client_id = self
                .client_id
                .clone()
                .or_else(|| first(&self.client_id_claims))
                .ok_or(Rejection::Invalid)?;
            let subject = first(&self.subject_claims).ok_or(Rejection::Invalid)?;
            if let Some(scope) = &self.required_scope
                && !claims.has_scope(scope)
            {
                return Err(Rejection::InsufficientScope);
            }
            Ok(Some(UsageIdentity {
                issuer: claims.iss.clone(),
                client_id,
                usage_subject: subject,
                usage_subject_type: self.subject_type.clone(),
                expires_at: Some(claims.exp),
            }))
        })
    }
}

/// API keys resolved by the integrator (its own keys, or a lookup of its choosing). Applies to
/// credentials shaped like Tollhouse API keys (`pmth_ak_…`, or composite `app_…_pmth_ak_…`)
/// unless [`ApiKeyVerifier::matching`] says otherwise.
///
/// ```
/// use tollhouse_sdk::webhook::{ApiKeyVerifier, UsageIdentity};
/// let verifier = ApiKeyVerifier::new(|key: String| async move {
///     // Look the key up in your database; `Ok(None)` means "not a key I know".
///     Ok((key == "my-key-1").then(|| UsageIdentity::new("my-backend", "app_1", "alice")))
/// })
/// .matching(|credential| credential.starts_with("my-key-"));
/// # let _ = verifier;
/// ```
pub struct ApiKeyVerifier<F> {
    resolve: F,
    matches: Box<dyn Fn(&str) -> bool + Send + Sync>,
}

impl<F> std::fmt::Debug for ApiKeyVerifier<F> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ApiKeyVerifier")
    }
}

impl<F, Fut> ApiKeyVerifier<F>
where
    F: Fn(String) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<Option<UsageIdentity>, Rejection>> + Send + 'static,
{
    /// Resolves keys with `resolve`.
    pub fn new(resolve: F) -> Self {
        Self {
            resolve,
            matches: Box::new(|c| classify_credential(c) == CredentialKind::ApiKey),
        }
    }

    /// Which credentials are API keys (default: Tollhouse's key shapes).
    pub fn matching(mut self, matches: impl Fn(&str) -> bool + Send + Sync + 'static) -> Self {
        self.matches = Box::new(matches);
        self
    }
}

impl<F, Fut> EndUserVerifier for ApiKeyVerifier<F>
where
    F: Fn(String) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<Option<UsageIdentity>, Rejection>> + Send + 'static,
{
    fn verify<'a>(&'a self, request: &'a EndUserRequest) -> VerifyFuture<'a> {
        Box::pin(async move {
            match request.credential() {
                Some(key) if (self.matches)(key) => (self.resolve)(key.to_owned()).await,
                _ => Ok(None),
            }
        })
    }
}

/// `X-Livepeer-Usage-Issuer`, `X-Livepeer-Client-ID`, `X-Livepeer-Usage-Subject` and
/// `X-Livepeer-Usage-Subject-Type` set by a proxy in front of the signer.
///
/// Only safe when nothing but that proxy can reach the signer and the proxy strips clients'
/// own copies (as Tollhouse's and this SDK's signer proxies do): anyone who can send these
/// headers to the signer can be anyone. Restrict it to the apps you expect with
/// [`TrustedHeadersVerifier::allow_client`].
///
/// ```
/// use tollhouse_sdk::webhook::TrustedHeadersVerifier;
/// let verifier = TrustedHeadersVerifier::new().allow_client("app_0123456789abcdef01234567");
/// # let _ = verifier;
/// ```
#[derive(Debug, Clone, Default)]
pub struct TrustedHeadersVerifier {
    allowed_clients: Vec<String>,
}

impl TrustedHeadersVerifier {
    /// Trusts the headers for any app.
    pub fn new() -> Self {
        Self::default()
    }

    /// Trusts the headers only for `client_id` (may be called several times); others are
    /// refused with 403.
    pub fn allow_client(mut self, client_id: impl Into<String>) -> Self {
        self.allowed_clients.push(client_id.into());
        self
    }
}

impl EndUserVerifier for TrustedHeadersVerifier {
    fn verify<'a>(&'a self, request: &'a EndUserRequest) -> VerifyFuture<'a> {
        Box::pin(async move {
            let Some(identity) = request.trusted_headers().identity() else {
                return Ok(None);
            };
            if !self.allowed_clients.is_empty()
                && !self.allowed_clients.contains(&identity.client_id)
            {
                return Err(Rejection::Custom {
                    status: 403,
                    reason: "app not trusted for asserted identities".into(),
                    code: "client_not_allowed".into(),
                });
            }
            Ok(Some(identity))
        })
    }
}

/// Tollhouse credentials checked by asking Tollhouse (RFC 7662 introspection with the app's
/// M2M credentials): API keys and opaque `pmth_` signer sessions by default, JWTs too with
/// [`IntrospectionVerifier::also_jwts`] (which then sees revocation at once). Only the app's own
/// users' credentials are active.
///
/// ```
/// use tollhouse_sdk::webhook::IntrospectionVerifier;
/// let verifier = IntrospectionVerifier::new(
///     "https://tollhouse.example/api/v1/oidc",
///     "m2m_0123456789abcdef01234567",
///     "pmth_cs_…",
/// );
/// # let _ = verifier;
/// ```
pub struct IntrospectionVerifier {
    issuer: String,
    m2m_client_id: String,
    m2m_client_secret: String,
    http: reqwest::Client,
    jwts: bool,
}

impl std::fmt::Debug for IntrospectionVerifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IntrospectionVerifier")
            .field("issuer", &self.issuer)
            .field("m2m_client_id", &self.m2m_client_id)
            .finish_non_exhaustive()
    }
}

#[derive(Deserialize)]
struct Introspection {
    active: bool,
    #[serde(default)]
    client_id: Option<String>,
    #[serde(default)]
    external_user_id: Option<String>,
    #[serde(default)]
    exp: Option<i64>,
    #[serde(default)]
    scope: Option<String>,
    #[serde(default)]
    iss: Option<String>,
}

impl IntrospectionVerifier {
    /// Introspects at `{issuer}/token/introspection` with the app's M2M credentials.
    pub fn new(
        issuer: impl Into<String>,
        m2m_client_id: impl Into<String>,
        m2m_client_secret: impl Into<String>,
    ) -> Self {
        Self {
            issuer: issuer.into().trim_end_matches('/').to_owned(),
            m2m_client_id: m2m_client_id.into(),
            m2m_client_secret: m2m_client_secret.into(),
            http: reqwest::Client::new(),
            jwts: false,
        }
    }

    /// Introspects JWTs as well (one request per check, but revocation is seen at once).
    pub fn also_jwts(mut self) -> Self {
        self.jwts = true;
        self
    }

    /// Uses `http` for the introspection requests.
    pub fn with_http_client(mut self, http: reqwest::Client) -> Self {
        self.http = http;
        self
    }

    fn applies_to(&self, credential: &str) -> bool {
        match classify_credential(credential) {
            CredentialKind::ApiKey | CredentialKind::SignerSession => true,
            CredentialKind::Jwt => {
                self.jwts && peek_issuer(credential).as_deref() == Some(&self.issuer)
            }
            CredentialKind::Unknown => false,
        }
    }
}

impl EndUserVerifier for IntrospectionVerifier {
    fn verify<'a>(&'a self, request: &'a EndUserRequest) -> VerifyFuture<'a> {
        Box::pin(async move {
            let Some(credential) = request.credential() else {
                return Ok(None);
            };
            if !self.applies_to(credential) {
                return Ok(None);
            }
            let response = self
                .http
                .post(format!("{}/token/introspection", self.issuer))
                .basic_auth(&self.m2m_client_id, Some(&self.m2m_client_secret))
                .form(&[("token", credential)])
                .timeout(Duration::from_secs(5))
                .send()
                .await
                .map_err(|e| {
                    Rejection::Unavailable(format!("introspection: {}", e.without_url()))
                })?;
            if !response.status().is_success() {
                return Err(Rejection::Unavailable(format!(
                    "introspection: HTTP {}",
                    response.status()
                )));
            }
            let answer: Introspection = response
                .json()
                .await
                .map_err(|e| Rejection::Unavailable(format!("introspection: {e}")))?;
            if !answer.active {
                return Err(Rejection::Invalid);
            }
            let has_scope = answer
                .scope
                .as_deref()
                .is_some_and(|s| s.split(' ').any(|s| s == SIGN_SCOPE));
            if !has_scope {
                return Err(Rejection::InsufficientScope);
            }
            let (Some(client_id), Some(subject)) = (answer.client_id, answer.external_user_id)
            else {
                // An app token: it names no end user.
                return Err(Rejection::Invalid);
            };
            Ok(Some(UsageIdentity {
                issuer: answer.iss.unwrap_or_else(|| self.issuer.clone()),
                client_id,
                usage_subject: subject,
                usage_subject_type: "external_user_id".into(),
                expires_at: answer.exp,
            }))
        })
    }
}
