//! Verifying JWT access tokens (RFC 9068) against an issuer's published keys.
//!
//! A [`JwtVerifier`] checks, in this order: the token is a compact JWS; its `typ` header is
//! `at+jwt` (RFC 9068 §4, unless relaxed for plain OIDC issuers); its `alg` is an allowed
//! asymmetric algorithm (never `none`, never HMAC); the signature against the issuer's key with
//! that `kid`; `iss`; `aud`; `exp`, `nbf` and `iat` against an injected [`Clock`] with a bounded
//! clock skew; the claims RFC 9068 requires (`sub`, `client_id`, `iat`, `jti`); and the required
//! scopes.
//!
//! Keys come from a [`JwksCache`]: fetched once (from a `jwks_uri`, or found by OIDC discovery),
//! kept, and fetched again when a token names a `kid` the cache does not know (key rotation),
//! at most once per [`DEFAULT_JWKS_REFETCH_INTERVAL`], one fetch at a time. Key sets older than
//! [`DEFAULT_JWKS_MAX_AGE`] are refreshed so a key the issuer withdrew stops verifying.
//!
//! Failures are [`JwtError`]s that know their HTTP meaning: a bad or expired token is 401, a
//! missing scope 403, and only an unreachable issuer is 503 (a failed token check is never
//! reported as a gateway error).

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::jwk::{Jwk, JwkSet};
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde::Deserialize;
use serde_json::{Map, Value};
use std::sync::{Arc, RwLock};
use std::time::Duration;
use tollhouse_core::{Clock, SystemClock, UnixTime};

/// Least time between two key-set fetches caused by unknown `kid`s.
pub const DEFAULT_JWKS_REFETCH_INTERVAL: Duration = Duration::from_secs(60);

/// Age after which a cached key set is fetched again even if every `kid` is known.
pub const DEFAULT_JWKS_MAX_AGE: Duration = Duration::from_secs(3600);

/// Default tolerance for clock differences between issuer and verifier.
pub const DEFAULT_LEEWAY_SECS: i64 = 30;

/// Time allowed for one discovery or key-set request.
const FETCH_TIMEOUT: Duration = Duration::from_secs(5);

/// Algorithms accepted unless configured otherwise: every asymmetric JWS algorithm
/// `jsonwebtoken` implements. Symmetric (`HS*`) algorithms can never verify against a public
/// key set and are always refused.
pub const DEFAULT_ALGORITHMS: [Algorithm; 9] = [
    Algorithm::RS256,
    Algorithm::RS384,
    Algorithm::RS512,
    Algorithm::PS256,
    Algorithm::PS384,
    Algorithm::PS512,
    Algorithm::ES256,
    Algorithm::ES384,
    Algorithm::EdDSA,
];

/// Why a token was not accepted, with its HTTP meaning for a resource server.
///
/// ```
/// use tollhouse_sdk::jwt::JwtError;
/// assert_eq!(JwtError::Expired.http_status(), 401);
/// let scope = JwtError::InsufficientScope { missing: "sign:job".into() };
/// assert_eq!((scope.http_status(), scope.error_code()), (403, "insufficient_scope"));
/// assert_eq!(JwtError::KeysUnavailable("timeout".into()).http_status(), 503);
/// ```
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JwtError {
    /// Not a compact JWS, or its header or claims are unreadable.
    #[error("malformed token")]
    Malformed,
    /// The `typ` header is not `at+jwt` (RFC 9068 §4 step 1).
    #[error("token type is not at+jwt")]
    WrongType,
    /// The `alg` is not one the verifier accepts, or disagrees with the key's.
    #[error("token algorithm not accepted")]
    UnsupportedAlgorithm,
    /// No key of the issuer has the token's `kid`, even after refetching the key set.
    #[error("unknown signing key")]
    UnknownKey,
    /// The signature does not verify.
    #[error("invalid signature")]
    BadSignature,
    /// `iss` is not the expected issuer.
    #[error("token from another issuer")]
    WrongIssuer,
    /// `aud` does not name an accepted audience.
    #[error("token for another audience")]
    WrongAudience,
    /// Past `exp` (beyond the clock skew).
    #[error("token expired")]
    Expired,
    /// Before `nbf` or `iat` (beyond the clock skew).
    #[error("token not yet valid")]
    NotYetValid,
    /// A claim the profile requires is absent or has the wrong type.
    #[error("token lacks claim `{0}`")]
    MissingClaim(&'static str),
    /// Valid, but without a required scope.
    #[error("token lacks scope `{missing}`")]
    InsufficientScope {
        /// The first required scope the token does not have.
        missing: String,
    },
    /// The issuer's keys could not be fetched and none are cached.
    #[error("issuer keys unavailable: {0}")]
    KeysUnavailable(String),
}

impl JwtError {
    /// The HTTP status a resource server answers with: 401 for a bad token, 403 for a missing
    /// scope, 503 when the issuer cannot be reached.
    pub fn http_status(&self) -> u16 {
        match self {
            Self::InsufficientScope { .. } => 403,
            Self::KeysUnavailable(_) => 503,
            _ => 401,
        }
    }

    /// The RFC 6750 error code matching [`JwtError::http_status`].
    pub fn error_code(&self) -> &'static str {
        match self {
            Self::InsufficientScope { .. } => "insufficient_scope",
            Self::KeysUnavailable(_) => "temporarily_unavailable",
            _ => "invalid_token",
        }
    }
}

/// The claims of a verified access token.
#[derive(Debug, Clone, PartialEq)]
pub struct AccessTokenClaims {
    /// `iss`.
    pub iss: String,
    /// `sub`, if present.
    pub sub: Option<String>,
    /// `aud`, always as a list.
    pub aud: Vec<String>,
    /// `exp` (unix seconds).
    pub exp: UnixTime,
    /// `iat`, if present.
    pub iat: Option<UnixTime>,
    /// `nbf`, if present.
    pub nbf: Option<UnixTime>,
    /// `jti`, if present.
    pub jti: Option<String>,
    /// `client_id`, if present (Tollhouse: the app's public `app_…` id).
    pub client_id: Option<String>,
    /// Every claim as sent, for issuer-specific ones (`external_user_id`, `user_type`, `azp`…).
    pub all: Map<String, Value>,
}

impl AccessTokenClaims {
    /// The token's scopes: the space-separated `scope` claim, or an `scp` array.
    pub fn scopes(&self) -> Vec<&str> {
        scopes_of(&self.all)
    }

    /// Whether the token has `scope`.
    pub fn has_scope(&self, scope: &str) -> bool {
        self.scopes().contains(&scope)
    }

    /// A string claim by name.
    pub fn string(&self, name: &str) -> Option<&str> {
        self.all.get(name).and_then(Value::as_str)
    }

    /// Tollhouse's `external_user_id` claim (absent in M2M tokens).
    pub fn external_user_id(&self) -> Option<&str> {
        self.string("external_user_id")
    }
}

fn scopes_of(claims: &Map<String, Value>) -> Vec<&str> {
    match (claims.get("scope"), claims.get("scp")) {
        (Some(Value::String(s)), _) => s.split(' ').filter(|s| !s.is_empty()).collect(),
        (_, Some(Value::Array(items))) => items.iter().filter_map(Value::as_str).collect(),
        (_, Some(Value::String(s))) => s.split(' ').filter(|s| !s.is_empty()).collect(),
        _ => Vec::new(),
    }
}

/// The `iss` claim of a compact JWS, read without verifying anything. Useful to pick which
/// issuer's verifier should look at a token.
///
/// ```
/// use tollhouse_sdk::jwt::peek_issuer;
/// // {"alg":"none"} . {"iss":"https://idp.example"} . (no signature)
/// let token = "eyJhbGciOiJub25lIn0.eyJpc3MiOiJodHRwczovL2lkcC5leGFtcGxlIn0.";
/// assert_eq!(peek_issuer(token).as_deref(), Some("https://idp.example"));
/// assert_eq!(peek_issuer("pmth_abc"), None);
/// ```
pub fn peek_issuer(token: &str) -> Option<String> {
    #[derive(Deserialize)]
    struct Iss {
        iss: Option<String>,
    }
    let payload = token.split('.').nth(1)?;
    let bytes = URL_SAFE_NO_PAD.decode(payload).ok()?;
    serde_json::from_slice::<Iss>(&bytes).ok()?.iss
}

/// Whether `token` has the shape of a compact JWS (three base64url segments).
///
/// ```
/// use tollhouse_sdk::jwt::looks_like_jwt;
/// assert!(looks_like_jwt("eyJh.eyJi.c2ln"));
/// assert!(!looks_like_jwt("pmth_ak_0123"));
/// ```
pub fn looks_like_jwt(token: &str) -> bool {
    token.split('.').count() == 3
        && !token.is_empty()
        && token
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
}

#[derive(Debug, Clone)]
enum JwksSource {
    /// Keys at this URL.
    Uri(String),
    /// `jwks_uri` of this issuer's discovery document.
    Discovery(String),
    /// A fixed key set, never fetched (pinned keys, tests).
    Static,
}

#[derive(Debug, Default, Clone)]
struct Cached {
    set: Option<Arc<JwkSet>>,
    /// When `set` was fetched (clock millis).
    fetched_at: Option<i64>,
    /// When a fetch was last tried, successful or not (clock millis).
    attempted_at: Option<i64>,
    /// The `jwks_uri` found by discovery.
    jwks_uri: Option<String>,
}

/// An issuer's JSON Web Key Set, cached, refetched on an unknown `kid` (rate-limited) and when
/// older than its maximum age, fetched by one caller at a time.
///
/// ```
/// use tollhouse_sdk::jwt::JwksCache;
/// // Found through `{issuer}/.well-known/openid-configuration` on first use:
/// let keys = JwksCache::discover("https://issuer.example/api/v1/oidc");
/// // Or from a known key-set URL:
/// let keys = JwksCache::from_uri("https://issuer.example/api/v1/oidc/jwks");
/// ```
#[derive(Debug)]
pub struct JwksCache {
    source: JwksSource,
    http: reqwest::Client,
    clock: Arc<dyn Clock>,
    refetch_millis: i64,
    max_age_millis: i64,
    cached: RwLock<Cached>,
    fetching: tokio::sync::Mutex<()>,
}

fn millis(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

impl JwksCache {
    fn with_source(source: JwksSource) -> Self {
        Self {
            source,
            http: reqwest::Client::new(),
            clock: Arc::new(SystemClock),
            refetch_millis: millis(DEFAULT_JWKS_REFETCH_INTERVAL),
            max_age_millis: millis(DEFAULT_JWKS_MAX_AGE),
            cached: RwLock::new(Cached::default()),
            fetching: tokio::sync::Mutex::new(()),
        }
    }

    /// Keys published at `jwks_uri`.
    pub fn from_uri(jwks_uri: impl Into<String>) -> Self {
        Self::with_source(JwksSource::Uri(jwks_uri.into()))
    }

    /// Keys of `issuer`, whose `jwks_uri` is read from its OIDC discovery document (whose
    /// `issuer` must equal `issuer` exactly).
    pub fn discover(issuer: impl Into<String>) -> Self {
        Self::with_source(JwksSource::Discovery(issuer.into()))
    }

    /// A fixed key set that is never fetched: pinned keys, or tests.
    ///
    /// ```
    /// use tollhouse_core::keys::{SigningAlg, SigningKey};
    /// use tollhouse_sdk::jwt::JwksCache;
    /// let (key, _) = SigningKey::generate(SigningAlg::ES256)?;
    /// let set = serde_json::from_value(serde_json::json!({ "keys": [key.public().jwk()] }))?;
    /// let keys = JwksCache::fixed(set);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn fixed(set: JwkSet) -> Self {
        let cache = Self::with_source(JwksSource::Static);
        *cache.write() = Cached {
            set: Some(Arc::new(set)),
            ..Cached::default()
        };
        cache
    }

    /// Uses `http` for fetches (proxies, TLS roots, timeouts of your own).
    pub fn with_http_client(mut self, http: reqwest::Client) -> Self {
        self.http = http;
        self
    }

    /// Reads time from `clock` (tests drive it by hand).
    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// Least time between two fetches caused by unknown `kid`s (default one minute): a flood
    /// of tokens with invented key ids cannot make the cache hammer the issuer.
    pub fn with_refetch_interval(mut self, interval: Duration) -> Self {
        self.refetch_millis = millis(interval);
        self
    }

    /// Age after which the key set is fetched again (default one hour).
    pub fn with_max_age(mut self, max_age: Duration) -> Self {
        self.max_age_millis = millis(max_age);
        self
    }

    fn read(&self) -> Cached {
        self.cached
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, Cached> {
        self.cached
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Whether the cached state can answer for `kid` without fetching.
    fn usable(&self, cached: &Cached, kid: Option<&str>, now: i64) -> Option<Arc<JwkSet>> {
        let set = cached.set.as_ref()?;
        if matches!(self.source, JwksSource::Static) {
            return Some(set.clone());
        }
        let knows = kid.is_none_or(|kid| set.find(kid).is_some());
        let fresh = cached
            .fetched_at
            .is_some_and(|at| now.saturating_sub(at) < self.max_age_millis);
        let tried_recently = cached
            .attempted_at
            .is_some_and(|at| now.saturating_sub(at) < self.refetch_millis);
        // Known and fresh: use it. Unknown kid or stale, but fetched moments ago: use what we
        // have rather than fetch again.
        ((knows && fresh) || tried_recently).then(|| set.clone())
    }

    /// The key set, fetched if needed to know `kid`.
    pub async fn key_set(&self, kid: Option<&str>) -> Result<Arc<JwkSet>, JwtError> {
        let now = self.clock.now_millis();
        if let Some(set) = self.usable(&self.read(), kid, now) {
            return Ok(set);
        }
        let _one_fetch = self.fetching.lock().await;
        let cached = self.read();
        if let Some(set) = self.usable(&cached, kid, self.clock.now_millis()) {
            return Ok(set);
        }
        let result = self.fetch(cached.jwks_uri.clone()).await;
        let now = self.clock.now_millis();
        let mut guard = self.write();
        guard.attempted_at = Some(now);
        match result {
            Ok((set, jwks_uri)) => {
                let set = Arc::new(set);
                guard.set = Some(set.clone());
                guard.fetched_at = Some(now);
                guard.jwks_uri = Some(jwks_uri);
                Ok(set)
            }
            Err(cause) => {
                tracing::warn!(error = %cause, "JWKS fetch failed");
                // Keep serving the keys we had: an issuer outage must not fail valid tokens.
                guard.set.clone().ok_or(JwtError::KeysUnavailable(cause))
            }
        }
    }

    async fn fetch(&self, known_uri: Option<String>) -> Result<(JwkSet, String), String> {
        let uri = match (&self.source, known_uri) {
            (JwksSource::Static, _) => return Err("fixed key set".into()),
            (JwksSource::Uri(uri), _) => uri.clone(),
            (JwksSource::Discovery(_), Some(uri)) => uri,
            (JwksSource::Discovery(issuer), None) => {
                let url = format!(
                    "{}/.well-known/openid-configuration",
                    issuer.trim_end_matches('/')
                );
                let doc = self.get_json(&url).await?;
                if doc.get("issuer").and_then(Value::as_str) != Some(issuer.as_str()) {
                    return Err("discovery document names another issuer".into());
                }
                doc.get("jwks_uri")
                    .and_then(Value::as_str)
                    .ok_or("discovery document has no jwks_uri")?
                    .to_owned()
            }
        };
        let set = self.get_json(&uri).await?;
        let set: JwkSet = serde_json::from_value(set).map_err(|e| format!("JWKS: {e}"))?;
        Ok((set, uri))
    }

    async fn get_json(&self, url: &str) -> Result<Value, String> {
        let response = self
            .http
            .get(url)
            .timeout(FETCH_TIMEOUT)
            .send()
            .await
            .map_err(|e| format!("GET {url}: {}", e.without_url()))?;
        if !response.status().is_success() {
            return Err(format!("GET {url}: HTTP {}", response.status()));
        }
        response
            .json()
            .await
            .map_err(|e| format!("GET {url}: {}", e.without_url()))
    }
}

/// Verifies RFC 9068 JWT access tokens of one issuer.
///
/// ```
/// use std::sync::Arc;
/// use tollhouse_core::keys::{SigningAlg, SigningKey};
/// use tollhouse_core::{Clock, ManualClock};
/// use tollhouse_sdk::jwt::{JwksCache, JwtVerifier};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let issuer = "https://issuer.example/api/v1/oidc";
/// let (key, _) = SigningKey::generate(SigningAlg::ES256)?;
/// let clock = ManualClock::at(1_800_000_000);
/// let token = key.sign_access_token(&serde_json::json!({
///     "iss": issuer, "aud": issuer, "sub": "usr_1", "client_id": "app_1",
///     "jti": "j1", "iat": clock.now(), "exp": clock.now() + 900,
///     "scope": "sign:job", "external_user_id": "alice",
/// }))?;
///
/// let set = serde_json::from_value(serde_json::json!({ "keys": [key.public().jwk()] }))?;
/// let verifier = JwtVerifier::builder(issuer)
///     .keys(JwksCache::fixed(set))
///     .required_scope("sign:job")
///     .clock(Arc::new(clock.clone()))
///     .build();
/// let claims = verifier.verify(&token).await?;
/// assert_eq!(claims.external_user_id(), Some("alice"));
///
/// clock.advance(901 + 30);
/// assert_eq!(verifier.verify(&token).await.unwrap_err().http_status(), 401);
/// # Ok(())
/// # }
/// ```
#[derive(Debug, Clone)]
pub struct JwtVerifier {
    inner: Arc<VerifierInner>,
}

#[derive(Debug)]
struct VerifierInner {
    issuer: String,
    /// Empty: any audience (see [`JwtVerifierBuilder::any_audience`]).
    audiences: Vec<String>,
    required_scopes: Vec<String>,
    leeway_secs: i64,
    expiry_leeway_secs: i64,
    algorithms: Vec<Algorithm>,
    rfc9068: bool,
    keys: JwksCache,
    clock: Arc<dyn Clock>,
}

/// Configures a [`JwtVerifier`]; see [`JwtVerifier::builder`].
#[derive(Debug)]
pub struct JwtVerifierBuilder {
    issuer: String,
    audiences: Vec<String>,
    any_audience: bool,
    required_scopes: Vec<String>,
    leeway_secs: i64,
    expiry_leeway_secs: Option<i64>,
    algorithms: Vec<Algorithm>,
    rfc9068: bool,
    keys: Option<JwksCache>,
    clock: Arc<dyn Clock>,
}

impl JwtVerifierBuilder {
    /// Accepts tokens whose `aud` contains `audience` (may be called several times). Without
    /// any, the issuer itself is the audience (what Tollhouse puts in user and signer tokens).
    pub fn audience(mut self, audience: impl Into<String>) -> Self {
        self.audiences.push(audience.into());
        self
    }

    /// Accepts a token whatever its `aud` says, or without one: for an issuer whose access
    /// tokens name no audience of yours. Overrides [`JwtVerifierBuilder::audience`].
    pub fn any_audience(mut self) -> Self {
        self.any_audience = true;
        self
    }

    /// Requires `scope` in the token's `scope` (or `scp`) claim (may be called several times).
    pub fn required_scope(mut self, scope: impl Into<String>) -> Self {
        self.required_scopes.push(scope.into());
        self
    }

    /// Tolerated clock difference for `exp`, `nbf` and `iat` (default 30 s).
    pub fn leeway_secs(mut self, secs: i64) -> Self {
        self.leeway_secs = secs.max(0);
        self
    }

    /// Tolerated clock difference for `exp` alone (default: the leeway of
    /// [`JwtVerifierBuilder::leeway_secs`]); 0 honours `exp` to the second, as a verifier must
    /// that never accepts a token its issuer already considers expired.
    pub fn expiry_leeway_secs(mut self, secs: i64) -> Self {
        self.expiry_leeway_secs = Some(secs.max(0));
        self
    }

    /// The accepted algorithms (default [`DEFAULT_ALGORITHMS`]). `HS*` entries are ignored.
    pub fn algorithms(mut self, algorithms: impl IntoIterator<Item = Algorithm>) -> Self {
        self.algorithms = algorithms.into_iter().collect();
        self
    }

    /// Whether the RFC 9068 profile is enforced (default yes): `typ: at+jwt` and the claims
    /// `sub`, `client_id`, `iat`, `jti`. Turn it off for OIDC issuers that mint plain JWT
    /// access tokens (Auth0 without its RFC 9068 profile, for instance); `iss`, `aud`, `exp`
    /// and the signature are checked either way.
    pub fn rfc9068(mut self, enforce: bool) -> Self {
        self.rfc9068 = enforce;
        self
    }

    /// Where the keys come from (default: [`JwksCache::discover`] of the issuer).
    pub fn keys(mut self, keys: JwksCache) -> Self {
        self.keys = Some(keys);
        self
    }

    /// The clock for time claims and the key cache (default the system clock).
    pub fn clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// The verifier.
    pub fn build(self) -> JwtVerifier {
        let keys = self
            .keys
            .unwrap_or_else(|| JwksCache::discover(self.issuer.clone()))
            .with_clock(self.clock.clone());
        let audiences = if self.any_audience {
            Vec::new()
        } else if self.audiences.is_empty() {
            vec![self.issuer.clone()]
        } else {
            self.audiences
        };
        let algorithms = self
            .algorithms
            .into_iter()
            .filter(|a| !matches!(a, Algorithm::HS256 | Algorithm::HS384 | Algorithm::HS512))
            .collect();
        JwtVerifier {
            inner: Arc::new(VerifierInner {
                issuer: self.issuer,
                audiences,
                required_scopes: self.required_scopes,
                leeway_secs: self.leeway_secs,
                expiry_leeway_secs: self.expiry_leeway_secs.unwrap_or(self.leeway_secs),
                algorithms,
                rfc9068: self.rfc9068,
                keys,
                clock: self.clock,
            }),
        }
    }
}

fn is_at_jwt(typ: Option<&str>) -> bool {
    typ.is_some_and(|t| {
        t.eq_ignore_ascii_case("at+jwt") || t.eq_ignore_ascii_case("application/at+jwt")
    })
}

fn audiences_of(claims: &Map<String, Value>) -> Vec<String> {
    match claims.get("aud") {
        Some(Value::String(one)) => vec![one.clone()],
        Some(Value::Array(many)) => many
            .iter()
            .filter_map(Value::as_str)
            .map(str::to_owned)
            .collect(),
        _ => Vec::new(),
    }
}

fn int_claim(claims: &Map<String, Value>, name: &'static str) -> Result<Option<i64>, JwtError> {
    match claims.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(v) => v
            .as_i64()
            .or_else(|| v.as_f64().map(|f| f as i64))
            .map(Some)
            .ok_or(JwtError::MissingClaim(name)),
    }
}

fn string_claim(claims: &Map<String, Value>, name: &str) -> Option<String> {
    claims
        .get(name)
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
}

impl JwtVerifier {
    /// Starts configuring a verifier for tokens of `issuer` (compared exactly with `iss`).
    pub fn builder(issuer: impl Into<String>) -> JwtVerifierBuilder {
        JwtVerifierBuilder {
            issuer: issuer.into(),
            audiences: Vec::new(),
            any_audience: false,
            required_scopes: Vec::new(),
            leeway_secs: DEFAULT_LEEWAY_SECS,
            expiry_leeway_secs: None,
            algorithms: DEFAULT_ALGORITHMS.to_vec(),
            rfc9068: true,
            keys: None,
            clock: Arc::new(SystemClock),
        }
    }

    /// The issuer this verifier accepts.
    pub fn issuer(&self) -> &str {
        &self.inner.issuer
    }

    /// Verifies the value of an `Authorization` header (`Bearer <token>`).
    pub async fn verify_bearer(&self, authorization: &str) -> Result<AccessTokenClaims, JwtError> {
        match tollhouse_core::authorization::bearer(authorization) {
            Some(token) => self.verify(token).await,
            None => Err(JwtError::Malformed),
        }
    }

    /// Verifies `token` and returns its claims.
    pub async fn verify(&self, token: &str) -> Result<AccessTokenClaims, JwtError> {
        let inner = &self.inner;
        if !looks_like_jwt(token) {
            return Err(JwtError::Malformed);
        }
        let header = jsonwebtoken::decode_header(token).map_err(|_| JwtError::Malformed)?;
        if inner.rfc9068 && !is_at_jwt(header.typ.as_deref()) {
            return Err(JwtError::WrongType);
        }
        if !inner.algorithms.contains(&header.alg) {
            return Err(JwtError::UnsupportedAlgorithm);
        }
        let keys = inner.keys.key_set(header.kid.as_deref()).await?;
        let jwk: &Jwk = match header.kid.as_deref() {
            Some(kid) => keys.find(kid),
            None if keys.keys.len() == 1 => keys.keys.first(),
            None => None,
        }
        .ok_or(JwtError::UnknownKey)?;
        if let Some(key_alg) = jwk.common.key_algorithm
            && key_alg.to_string() != format!("{:?}", header.alg)
        {
            return Err(JwtError::UnsupportedAlgorithm);
        }
        let key = DecodingKey::from_jwk(jwk).map_err(|_| JwtError::UnsupportedAlgorithm)?;
        let mut validation = Validation::new(header.alg);
        // Time, issuer and audience are checked below against the injected clock.
        validation.validate_exp = false;
        validation.validate_nbf = false;
        validation.validate_aud = false;
        validation.required_spec_claims.clear();
        let claims = match jsonwebtoken::decode::<Map<String, Value>>(token, &key, &validation) {
            Ok(data) => data.claims,
            Err(e) => {
                return Err(match e.kind() {
                    jsonwebtoken::errors::ErrorKind::InvalidSignature => JwtError::BadSignature,
                    jsonwebtoken::errors::ErrorKind::InvalidAlgorithm => {
                        JwtError::UnsupportedAlgorithm
                    }
                    _ => JwtError::Malformed,
                });
            }
        };
        self.check_claims(claims)
    }

    fn check_claims(&self, claims: Map<String, Value>) -> Result<AccessTokenClaims, JwtError> {
        let inner = &self.inner;
        let now = inner.clock.now();
        let leeway = inner.leeway_secs;
        let iss = string_claim(&claims, "iss").ok_or(JwtError::MissingClaim("iss"))?;
        if iss != inner.issuer {
            return Err(JwtError::WrongIssuer);
        }
        let aud = audiences_of(&claims);
        if !inner.audiences.is_empty() && !aud.iter().any(|a| inner.audiences.contains(a)) {
            return Err(JwtError::WrongAudience);
        }
        let exp = int_claim(&claims, "exp")?.ok_or(JwtError::MissingClaim("exp"))?;
        if now.saturating_sub(inner.expiry_leeway_secs) >= exp {
            return Err(JwtError::Expired);
        }
        let nbf = int_claim(&claims, "nbf")?;
        let iat = int_claim(&claims, "iat")?;
        if nbf.is_some_and(|nbf| now.saturating_add(leeway) < nbf)
            || iat.is_some_and(|iat| now.saturating_add(leeway) < iat)
        {
            return Err(JwtError::NotYetValid);
        }
        let sub = string_claim(&claims, "sub");
        let client_id = string_claim(&claims, "client_id");
        let jti = string_claim(&claims, "jti");
        if inner.rfc9068 {
            if sub.is_none() {
                return Err(JwtError::MissingClaim("sub"));
            }
            if client_id.is_none() {
                return Err(JwtError::MissingClaim("client_id"));
            }
            if iat.is_none() {
                return Err(JwtError::MissingClaim("iat"));
            }
            if jti.is_none() {
                return Err(JwtError::MissingClaim("jti"));
            }
        }
        let scopes = scopes_of(&claims);
        if let Some(missing) = inner
            .required_scopes
            .iter()
            .find(|s| !scopes.contains(&s.as_str()))
        {
            return Err(JwtError::InsufficientScope {
                missing: missing.clone(),
            });
        }
        Ok(AccessTokenClaims {
            iss,
            sub,
            aud,
            exp,
            iat,
            nbf,
            jti,
            client_id,
            all: claims,
        })
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use serde_json::json;
    use std::sync::Mutex;
    use std::sync::atomic::{AtomicU32, Ordering};
    use tollhouse_core::ManualClock;
    use tollhouse_core::keys::{SigningAlg, SigningKey};

    const ISS: &str = "https://issuer.test/api/v1/oidc";
    const NOW: i64 = 1_800_000_000;

    fn claims(extra: Value) -> Value {
        let mut c = json!({"iss": ISS, "aud": ISS, "sub": "usr_1", "client_id": "app_1",
            "jti": "j-1", "iat": NOW, "exp": NOW + 900, "scope": "openid sign:job",
            "external_user_id": "alice"});
        for (k, v) in extra.as_object().unwrap() {
            c[k] = v.clone();
        }
        c
    }

    fn set_of(keys: &[&SigningKey]) -> JwkSet {
        let jwks: Vec<Value> = keys.iter().map(|k| k.public().jwk().clone()).collect();
        serde_json::from_value(json!({ "keys": jwks })).unwrap()
    }

    fn verifier(keys: JwksCache, clock: &ManualClock) -> JwtVerifier {
        JwtVerifier::builder(ISS)
            .keys(keys)
            .required_scope("sign:job")
            .clock(Arc::new(clock.clone()))
            .build()
    }

    #[tokio::test]
    async fn checks_every_rfc9068_rule_against_the_injected_clock() {
        let (key, der) = SigningKey::generate(SigningAlg::ES256).unwrap();
        let clock = ManualClock::at(NOW);
        let v = verifier(JwksCache::fixed(set_of(&[&key])), &clock);
        let sign = |extra: Value| key.sign_access_token(&claims(extra)).unwrap();

        let ok = v.verify(&sign(json!({}))).await.unwrap();
        assert_eq!(ok.client_id.as_deref(), Some("app_1"));
        assert_eq!(ok.scopes(), vec!["openid", "sign:job"]);
        assert_eq!(ok.aud, vec![ISS.to_owned()]);

        let cases: Vec<(Value, JwtError)> = vec![
            (json!({"iss": "https://other"}), JwtError::WrongIssuer),
            (json!({"aud": "someone-else"}), JwtError::WrongAudience),
            (json!({"aud": ["a", "b"]}), JwtError::WrongAudience),
            (json!({"exp": NOW - 31}), JwtError::Expired),
            (json!({"exp": null}), JwtError::MissingClaim("exp")),
            (json!({"nbf": NOW + 31}), JwtError::NotYetValid),
            (json!({"iat": NOW + 31}), JwtError::NotYetValid),
            (
                json!({"client_id": null}),
                JwtError::MissingClaim("client_id"),
            ),
            (json!({"jti": null}), JwtError::MissingClaim("jti")),
            (json!({"sub": null}), JwtError::MissingClaim("sub")),
            (
                json!({"scope": "openid"}),
                JwtError::InsufficientScope {
                    missing: "sign:job".into(),
                },
            ),
        ];
        for (extra, expected) in cases {
            assert_eq!(
                v.verify(&sign(extra.clone())).await.unwrap_err(),
                expected,
                "{extra}"
            );
        }
        // Within the skew on both sides; an audience list naming us; `scp` arrays.
        assert!(
            v.verify(&sign(json!({"exp": NOW - 29, "nbf": NOW + 29})))
                .await
                .is_ok()
        );
        assert!(v.verify(&sign(json!({"aud": ["x", ISS]}))).await.is_ok());
        assert!(
            v.verify(&sign(json!({"scope": null, "scp": ["sign:job"]})))
                .await
                .is_ok()
        );
        assert_eq!(
            v.verify(&sign(json!({"scope": "openid"})))
                .await
                .unwrap_err()
                .http_status(),
            403
        );

        // The same claims as a plain `typ: JWT` token: refused by the RFC 9068 profile only.
        let mut header = jsonwebtoken::Header::new(Algorithm::ES256);
        header.kid = Some(key.kid().to_owned());
        header.typ = Some("JWT".into());
        let plain = jsonwebtoken::encode(
            &header,
            &claims(json!({})),
            &jsonwebtoken::EncodingKey::from_ec_der(&der),
        )
        .unwrap();
        assert_eq!(v.verify(&plain).await.unwrap_err(), JwtError::WrongType);
        let lenient = JwtVerifier::builder(ISS)
            .keys(JwksCache::fixed(set_of(&[&key])))
            .rfc9068(false)
            .clock(Arc::new(clock.clone()))
            .build();
        assert!(lenient.verify(&plain).await.is_ok());

        // Time moves: the token expires once past exp + skew.
        let token = sign(json!({}));
        clock.advance(900 + 29);
        assert!(v.verify(&token).await.is_ok());
        clock.advance(1);
        assert_eq!(v.verify(&token).await.unwrap_err(), JwtError::Expired);
    }

    #[tokio::test]
    async fn refuses_forged_and_confused_tokens() {
        let (key, _) = SigningKey::generate(SigningAlg::RS256).unwrap();
        let (other, _) = SigningKey::generate(SigningAlg::RS256).unwrap();
        let clock = ManualClock::at(NOW);
        let v = verifier(JwksCache::fixed(set_of(&[&key])), &clock);
        let good = key.sign_access_token(&claims(json!({}))).unwrap();
        assert!(v.verify(&good).await.is_ok());
        assert!(v.verify_bearer(&format!("Bearer {good}")).await.is_ok());
        assert_eq!(
            v.verify_bearer(&good).await.unwrap_err(),
            JwtError::Malformed
        );

        // Signed by a key the issuer does not publish.
        let stranger = other.sign_access_token(&claims(json!({}))).unwrap();
        assert_eq!(v.verify(&stranger).await.unwrap_err(), JwtError::UnknownKey);
        // Our kid on a signature by another key.
        let (h, rest) = good.split_once('.').unwrap();
        let (_, forged_tail) = stranger.split_once('.').unwrap();
        let _ = rest;
        let forged = format!("{h}.{forged_tail}");
        assert_eq!(v.verify(&forged).await.unwrap_err(), JwtError::BadSignature);
        // A changed payload under a valid signature.
        let parts: Vec<&str> = good.split('.').collect();
        let payload = URL_SAFE_NO_PAD
            .encode(serde_json::to_vec(&claims(json!({"external_user_id": "mallory"}))).unwrap());
        let tampered = format!("{}.{payload}.{}", parts[0], parts[2]);
        assert_eq!(
            v.verify(&tampered).await.unwrap_err(),
            JwtError::BadSignature
        );
        // alg=none and HS256 (key confusion) are refused before any key is used.
        for alg in ["none", "HS256"] {
            let header = URL_SAFE_NO_PAD
                .encode(json!({"alg": alg, "typ": "at+jwt", "kid": key.kid()}).to_string());
            let token = format!("{header}.{}.{}", parts[1], parts[2]);
            let err = v.verify(&token).await.unwrap_err();
            assert!(
                matches!(err, JwtError::UnsupportedAlgorithm | JwtError::Malformed),
                "{alg}: {err:?}"
            );
        }
        assert_eq!(
            v.verify("not a token").await.unwrap_err(),
            JwtError::Malformed
        );
        assert_eq!(peek_issuer(&good).as_deref(), Some(ISS));
    }

    /// A JWKS endpoint whose keys the test swaps, counting fetches.
    struct Jwks {
        url: String,
        keys: Arc<Mutex<Vec<Value>>>,
        fetches: Arc<AtomicU32>,
        up: Arc<std::sync::atomic::AtomicBool>,
    }

    async fn serve_jwks() -> Jwks {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let keys: Arc<Mutex<Vec<Value>>> = Arc::default();
        let fetches = Arc::new(AtomicU32::new(0));
        let up = Arc::new(std::sync::atomic::AtomicBool::new(true));
        let (k, f, u, iss) = (keys.clone(), fetches.clone(), up.clone(), base.clone());
        let app =
            axum::Router::new()
                .route(
                    "/.well-known/openid-configuration",
                    axum::routing::get(move || {
                        let iss = iss.clone();
                        async move {
                            axum::Json(json!({"issuer": iss, "jwks_uri": format!("{iss}/jwks")}))
                        }
                    }),
                )
                .route(
                    "/jwks",
                    axum::routing::get(move || {
                        let (k, f, u) = (k.clone(), f.clone(), u.clone());
                        async move {
                            f.fetch_add(1, Ordering::SeqCst);
                            if !u.load(Ordering::SeqCst) {
                                return Err(axum::http::StatusCode::SERVICE_UNAVAILABLE);
                            }
                            Ok(axum::Json(json!({"keys": k.lock().unwrap().clone()})))
                        }
                    }),
                );
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        Jwks {
            url: base,
            keys,
            fetches,
            up,
        }
    }

    #[tokio::test]
    async fn refetches_on_unknown_kid_at_most_once_per_interval() {
        let idp = serve_jwks().await;
        let (first, _) = SigningKey::generate(SigningAlg::ES256).unwrap();
        let (second, _) = SigningKey::generate(SigningAlg::ES256).unwrap();
        idp.keys.lock().unwrap().push(first.public().jwk().clone());
        let clock = ManualClock::at(NOW);
        let v = JwtVerifier::builder(idp.url.clone())
            .keys(JwksCache::discover(idp.url.clone()))
            .clock(Arc::new(clock.clone()))
            .build();
        let token_by = |key: &SigningKey| {
            key.sign_access_token(&json!({"iss": idp.url, "aud": idp.url, "sub": "s",
                "client_id": "c", "jti": "j", "iat": NOW, "exp": NOW + 100_000}))
                .unwrap()
        };
        let t1 = token_by(&first);
        let t2 = token_by(&second);

        assert!(v.verify(&t1).await.is_ok());
        assert!(v.verify(&t1).await.is_ok());
        assert_eq!(
            idp.fetches.load(Ordering::SeqCst),
            1,
            "cached after the first fetch"
        );

        // Rotation: the new key is published; its first token triggers one refetch.
        clock.advance(61);
        idp.keys.lock().unwrap().push(second.public().jwk().clone());
        assert!(v.verify(&t2).await.is_ok());
        assert_eq!(idp.fetches.load(Ordering::SeqCst), 2);

        // Unknown kids within the interval do not refetch, however many arrive at once.
        let (stranger, _) = SigningKey::generate(SigningAlg::ES256).unwrap();
        let t3 = token_by(&stranger);
        let attempts: Vec<_> = (0..20).map(|_| v.verify(&t3)).collect();
        for result in futures_util::future::join_all(attempts).await {
            assert_eq!(result.unwrap_err(), JwtError::UnknownKey);
        }
        assert_eq!(idp.fetches.load(Ordering::SeqCst), 2);
        clock.advance(60);
        assert_eq!(v.verify(&t3).await.unwrap_err(), JwtError::UnknownKey);
        assert_eq!(
            idp.fetches.load(Ordering::SeqCst),
            3,
            "one refetch once the interval passed"
        );

        // The issuer goes down: cached keys keep verifying; a fresh cache reports 503.
        idp.up.store(false, Ordering::SeqCst);
        clock.advance(3600);
        assert!(
            v.verify(&t1).await.is_ok(),
            "stale keys are used when the refresh fails"
        );
        let cold = JwtVerifier::builder(idp.url.clone())
            .keys(JwksCache::from_uri(format!("{}/jwks", idp.url)))
            .clock(Arc::new(clock.clone()))
            .build();
        let err = cold.verify(&t1).await.unwrap_err();
        assert!(matches!(err, JwtError::KeysUnavailable(_)), "{err:?}");
        assert_eq!(err.http_status(), 503);

        // A key the issuer withdrew stops verifying once the set is older than its max age.
        idp.up.store(true, Ordering::SeqCst);
        idp.keys
            .lock()
            .unwrap()
            .retain(|k| k["kid"] != json!(first.kid()));
        clock.advance(3600);
        assert_eq!(v.verify(&t1).await.unwrap_err(), JwtError::UnknownKey);
    }
}
