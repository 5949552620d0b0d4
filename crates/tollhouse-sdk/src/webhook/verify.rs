//! Proving who the end user is: the [`EndUserVerifier`] trait, what it sees
//! ([`EndUserRequest`]) and concludes ([`UsageIdentity`] or a [`Rejection`]), the first-match
//! [`CompositeVerifier`] and closures as verifiers ([`verifier_fn`]).

use bytes::Bytes;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use tollhouse_core::webhook::TrustedHeaders;
pub use tollhouse_core::webhook::{Rejection, UsageIdentity};

/// What a verifier sees of one identity-webhook call: the end user's credential (from the
/// forwarded `Authorization` header, without `Bearer `), the `X-Livepeer-Usage-*` headers, the
/// payment session's previous auth id, and the raw body for anything else.
#[derive(Clone)]
pub struct EndUserRequest {
    pub(crate) credential: Option<String>,
    pub(crate) trusted: TrustedHeaders,
    pub(crate) previous_auth_id: Option<String>,
    pub(crate) body: Bytes,
}

impl std::fmt::Debug for EndUserRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EndUserRequest")
            .field(
                "credential",
                &self.credential.as_ref().map(|_| "<redacted>"),
            )
            .field("trusted", &self.trusted)
            .field("previous_auth_id", &self.previous_auth_id)
            .finish()
    }
}

impl EndUserRequest {
    /// Parses a go-livepeer identity-webhook body (leniently: unknown fields ignored, header
    /// names matched exactly first, then in any case). `None` if it is not a JSON object.
    ///
    /// ```
    /// use tollhouse_sdk::webhook::EndUserRequest;
    /// let body = br#"{"headers":{"Authorization":["Bearer abc"],"X-Request-Id":["r-1"]},"state":{"AuthID":""}}"#;
    /// let request = EndUserRequest::from_body(body.to_vec().into()).unwrap();
    /// assert_eq!(request.credential(), Some("abc"));
    /// assert_eq!(request.header("x-request-id").as_deref(), Some("r-1"));
    /// ```
    pub fn from_body(body: Bytes) -> Option<Self> {
        let parsed = tollhouse_core::webhook::parse_webhook_body(&body).ok()?;
        Some(Self {
            credential: parsed.credential,
            trusted: parsed.trusted,
            previous_auth_id: parsed.previous_auth_id,
            body,
        })
    }

    /// The end user's credential (a JWT, an opaque session, an API key…), if any.
    pub fn credential(&self) -> Option<&str> {
        self.credential.as_deref()
    }

    /// The `X-Livepeer-Usage-*` headers the gateway's request carried (only meaningful when
    /// whatever sits in front of the signer sets them and strips clients' own).
    pub fn trusted_headers(&self) -> &TrustedHeaders {
        &self.trusted
    }

    /// The auth id the payment session already carries (`state.AuthID`), if any.
    pub fn previous_auth_id(&self) -> Option<&str> {
        self.previous_auth_id.as_deref()
    }

    /// The first value of header `name` the gateway sent to the signer (exact spelling first,
    /// then any case).
    pub fn header(&self, name: &str) -> Option<String> {
        #[derive(Deserialize)]
        struct Headers {
            #[serde(default)]
            headers: BTreeMap<String, serde_json::Value>,
        }
        let parsed: Headers = serde_json::from_slice(&self.body).ok()?;
        let value = parsed.headers.get(name).or_else(|| {
            parsed
                .headers
                .iter()
                .find(|(k, _)| k.eq_ignore_ascii_case(name))
                .map(|(_, v)| v)
        })?;
        match value {
            serde_json::Value::Array(values) => values
                .iter()
                .find_map(serde_json::Value::as_str)
                .map(str::to_owned),
            serde_json::Value::String(one) => Some(one.clone()),
            _ => None,
        }
    }

    /// The raw webhook body.
    pub fn body(&self) -> &[u8] {
        &self.body
    }
}

/// What a verifier concluded: `Ok(None)` when the credential is not its kind (a composite then
/// asks the next verifier), `Ok(Some(identity))` or `Err(rejection)` when it is.
pub type Verdict = Result<Option<UsageIdentity>, Rejection>;

/// The future an [`EndUserVerifier`] returns.
pub type VerifyFuture<'a> = Pin<Box<dyn Future<Output = Verdict> + Send + 'a>>;

/// Proves the end user's identity from what the signer forwarded.
///
/// Built in: [`OidcVerifier`](super::OidcVerifier) (JWTs of Tollhouse or any OIDC issuer),
/// [`ApiKeyVerifier`](super::ApiKeyVerifier), [`TrustedHeadersVerifier`](super::TrustedHeadersVerifier),
/// [`IntrospectionVerifier`](super::IntrospectionVerifier) and [`CompositeVerifier`]; a closure
/// becomes one with [`verifier_fn`]. A type of your own:
///
/// ```
/// use tollhouse_sdk::webhook::{EndUserRequest, EndUserVerifier, Rejection, UsageIdentity, VerifyFuture};
///
/// struct StaticKeys;
///
/// impl EndUserVerifier for StaticKeys {
///     fn verify<'a>(&'a self, request: &'a EndUserRequest) -> VerifyFuture<'a> {
///         Box::pin(async move {
///             match request.credential() {
///                 Some("key-of-alice") => Ok(Some(UsageIdentity::new("my-backend", "app_1", "alice"))),
///                 Some(_) => Err(Rejection::Invalid),
///                 None => Ok(None),
///             }
///         })
///     }
/// }
/// ```
pub trait EndUserVerifier: Send + Sync + 'static {
    /// Verifies the request's end-user credential.
    fn verify<'a>(&'a self, request: &'a EndUserRequest) -> VerifyFuture<'a>;
}

impl<V: EndUserVerifier + ?Sized> EndUserVerifier for Arc<V> {
    fn verify<'a>(&'a self, request: &'a EndUserRequest) -> VerifyFuture<'a> {
        (**self).verify(request)
    }
}

impl<V: EndUserVerifier + ?Sized> EndUserVerifier for Box<V> {
    fn verify<'a>(&'a self, request: &'a EndUserRequest) -> VerifyFuture<'a> {
        (**self).verify(request)
    }
}

/// A closure as a verifier; see [`verifier_fn`].
#[derive(Clone)]
pub struct FnVerifier<F> {
    f: F,
}

impl<F> std::fmt::Debug for FnVerifier<F> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("FnVerifier")
    }
}

/// Makes a verifier of a closure that receives the request (owned) and returns a future of the
/// [`Verdict`].
///
/// ```
/// use tollhouse_sdk::webhook::{verifier_fn, EndUserRequest, Rejection, UsageIdentity};
/// let verifier = verifier_fn(|request: EndUserRequest| async move {
///     let Some(credential) = request.credential() else { return Ok(None) };
///     match credential.strip_prefix("demo-") {
///         Some(user) => Ok(Some(UsageIdentity::new("demo", "app_demo", user).expiring_at(i64::MAX))),
///         None => Err(Rejection::Invalid),
///     }
/// });
/// # let _ = verifier;
/// ```
pub fn verifier_fn<F, Fut>(f: F) -> FnVerifier<F>
where
    F: Fn(EndUserRequest) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Verdict> + Send + 'static,
{
    FnVerifier { f }
}

impl<F, Fut> EndUserVerifier for FnVerifier<F>
where
    F: Fn(EndUserRequest) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Verdict> + Send + 'static,
{
    fn verify<'a>(&'a self, request: &'a EndUserRequest) -> VerifyFuture<'a> {
        Box::pin((self.f)(request.clone()))
    }
}

/// Tries verifiers in order; the first that recognises the credential decides (its identity or
/// its rejection). When none does: 401 `missing_credential` or `invalid_credential`.
///
/// ```
/// use tollhouse_sdk::webhook::{CompositeVerifier, OidcVerifier, TrustedHeadersVerifier};
/// let verifier = CompositeVerifier::new()
///     .with(OidcVerifier::tollhouse("https://tollhouse.example/api/v1/oidc"))
///     .with(TrustedHeadersVerifier::new());
/// # let _ = verifier;
/// ```
#[derive(Default)]
pub struct CompositeVerifier {
    verifiers: Vec<Box<dyn EndUserVerifier>>,
}

impl std::fmt::Debug for CompositeVerifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CompositeVerifier")
            .field("verifiers", &self.verifiers.len())
            .finish()
    }
}

impl CompositeVerifier {
    /// An empty composite (which rejects everything).
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds `verifier` after the ones already added.
    pub fn with(mut self, verifier: impl EndUserVerifier) -> Self {
        self.verifiers.push(Box::new(verifier));
        self
    }
}

impl EndUserVerifier for CompositeVerifier {
    fn verify<'a>(&'a self, request: &'a EndUserRequest) -> VerifyFuture<'a> {
        Box::pin(async move {
            for verifier in &self.verifiers {
                if let Some(identity) = verifier.verify(request).await? {
                    return Ok(Some(identity));
                }
            }
            Err(if request.credential().is_some() {
                Rejection::Invalid
            } else {
                Rejection::Missing
            })
        })
    }
}
