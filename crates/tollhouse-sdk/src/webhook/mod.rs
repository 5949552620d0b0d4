//! The identity webhook go-livepeer's remote signer calls (`-remoteSignerWebhookUrl`) before
//! signing a payment, as a `tower::Service` an integrator mounts (axum: `Router::route_service`).
//!
//! Two layers, kept apart:
//! - **the caller** is go-livepeer, proven by a shared secret it sends as a static header
//!   (`-remoteSignerWebhookHeaders X-Api-Key:<secret>`; `X-Webhook-Secret` and
//!   `Authorization: Bearer` work too), compared in constant time. Wrong or missing: HTTP 401.
//! - **the end user** is proven by an [`EndUserVerifier`] from the headers the signer forwards
//!   (`Authorization: Bearer …`, or identity headers of a trusted proxy).
//!
//! Wire (spec `signer-wire.md` §1): the body is go-livepeer's `{headers, state}` JSON (at most
//! 64 KiB: 413 beyond; not a JSON object: 400 `invalid request json`). Once the caller is
//! authenticated the answer is **always HTTP 200**, the verdict in the body:
//! `{"status":200,"auth_id":"<client_id>:<subject>","expiry":<unix s>,"identity":{…}}` or
//! `{"status":401|403|483|503|…,"reason":"…","code":"…"}`; go-livepeer passes a refusal's status
//! and reason on to the gateway. `expiry` is the credential's expiry, capped at now + the
//! re-check interval (60 s by default), so a running stream is re-checked about once a minute.
//!
//! An optional [`BalanceHook`] gates payments on the user's balance (483
//! `insufficient_balance`, or 503 `billing_unavailable` when it cannot tell).

mod adapters;
mod verify;

pub use adapters::{
    ApiKeyVerifier, IntrospectionVerifier, OidcVerifier, SIGN_SCOPE, TrustedHeadersVerifier,
};
pub use tollhouse_api::webhook::{VerdictIdentity, WebhookVerdict};
pub use tollhouse_core::webhook::TrustedHeaders;
pub use verify::{
    CompositeVerifier, EndUserRequest, EndUserVerifier, FnVerifier, Rejection, UsageIdentity,
    Verdict, VerifyFuture, verifier_fn,
};

use crate::proxy::{BodyError, BoxError, ServiceFuture, read_body};
use bytes::Bytes;
use http::header::{self, HeaderMap, HeaderValue};
use http::{Method, Request, Response, StatusCode};
use http_body_util::Full;
use serde::Serialize;
use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;
use tollhouse_core::webhook::MAX_WEBHOOK_BODY_BYTES;
use tollhouse_core::{Clock, SystemClock};

/// How long the signer may skip asking again, at most, by default.
pub const DEFAULT_RECHECK_INTERVAL: Duration = Duration::from_secs(60);

/// What a [`BalanceHook`] decided: `Insufficient` becomes 483 `insufficient_balance`,
/// `Unavailable` 503 `billing_unavailable`.
///
/// ```
/// use tollhouse_sdk::webhook::BalanceVerdict;
/// // Nearly spent: have the signer ask again in 10 s rather than a minute.
/// let verdict = BalanceVerdict::Allow { recheck_secs: Some(10) };
/// # let _ = verdict;
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BalanceVerdict {
    /// The user may be charged. `recheck_secs` shortens the re-check interval for this user
    /// (e.g. when the balance is nearly spent).
    Allow {
        /// Seconds until the signer should ask again, if sooner than the configured interval.
        recheck_secs: Option<i64>,
    },
    /// The balance is spent: 483 `insufficient_balance`.
    Insufficient,
    /// The balance could not be read: 503 `billing_unavailable`.
    Unavailable,
}

/// The future a [`BalanceHook`] returns.
pub type BalanceFuture<'a> = Pin<Box<dyn Future<Output = BalanceVerdict> + Send + 'a>>;

/// Gates payments on the user's balance, after the identity is proven.
///
/// Implemented for closures `Fn(UsageIdentity) -> impl Future<Output = BalanceVerdict>`:
///
/// ```
/// use tollhouse_sdk::webhook::{BalanceVerdict, UsageIdentity};
/// let hook = |identity: UsageIdentity| async move {
///     if identity.usage_subject == "broke-user" {
///         BalanceVerdict::Insufficient
///     } else {
///         BalanceVerdict::Allow { recheck_secs: None }
///     }
/// };
/// # let _ = hook;
/// ```
pub trait BalanceHook: Send + Sync + 'static {
    /// Whether `identity` may be charged.
    fn check<'a>(&'a self, identity: &'a UsageIdentity) -> BalanceFuture<'a>;
}

impl<F, Fut> BalanceHook for F
where
    F: Fn(UsageIdentity) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = BalanceVerdict> + Send + 'static,
{
    fn check<'a>(&'a self, identity: &'a UsageIdentity) -> BalanceFuture<'a> {
        Box::pin(self(identity.clone()))
    }
}

/// The [`Client`](crate::Client) as a balance gate: the user's `hasAccess` from
/// `GET A/usage/balance` (balance above the app's soft limit). An unknown user has no balance
/// (483); a user of another app than the client's, or a failed call, is 503
/// `billing_unavailable`.
///
/// ```
/// use tollhouse_sdk::Client;
/// use tollhouse_sdk::webhook::{IdentityWebhook, OidcVerifier};
/// let client = Client::builder("https://auth.example.com/api/v1/oidc")
///     .public_client_id("app_0123456789abcdef01234567")
///     .m2m_credentials("m2m_0123456789abcdef01234567", "pmth_cs_…")
///     .build()?;
/// let webhook = IdentityWebhook::builder("secret", OidcVerifier::tollhouse(client.issuer()))
///     .balance_hook(client)
///     .build();
/// # let _ = webhook;
/// # Ok::<(), tollhouse_sdk::Error>(())
/// ```
impl BalanceHook for crate::Client {
    fn check<'a>(&'a self, identity: &'a UsageIdentity) -> BalanceFuture<'a> {
        Box::pin(async move {
            if self.public_client_id() != Some(identity.client_id.as_str()) {
                return BalanceVerdict::Unavailable;
            }
            match self.balance(&identity.usage_subject).await {
                Ok(view) if view.has_access => BalanceVerdict::Allow { recheck_secs: None },
                Ok(_) => BalanceVerdict::Insufficient,
                Err(err) if err.is_not_found() => BalanceVerdict::Insufficient,
                Err(err) => {
                    tracing::warn!(error = %err, "balance check failed");
                    BalanceVerdict::Unavailable
                }
            }
        })
    }
}

/// The identity webhook as a `tower::Service` (cheap to clone).
///
/// ```
/// use tollhouse_sdk::webhook::{CompositeVerifier, IdentityWebhook, OidcVerifier, TrustedHeadersVerifier};
///
/// let webhook = IdentityWebhook::builder(
///     "the-secret-go-livepeer-sends",
///     CompositeVerifier::new()
///         .with(OidcVerifier::tollhouse("https://tollhouse.example/api/v1/oidc"))
///         .with(TrustedHeadersVerifier::new().allow_client("app_0123456789abcdef01234567")),
/// )
/// .build();
/// let app: axum::Router = axum::Router::new().route_service("/authorize", webhook);
/// # let _ = app;
/// ```
#[derive(Clone)]
pub struct IdentityWebhook {
    inner: Arc<WebhookInner>,
}

impl std::fmt::Debug for IdentityWebhook {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IdentityWebhook")
            .field("recheck_secs", &self.inner.recheck_secs)
            .field("balance_hook", &self.inner.balance.is_some())
            .finish_non_exhaustive()
    }
}

struct WebhookInner {
    secret: Vec<u8>,
    verifier: Box<dyn EndUserVerifier>,
    balance: Option<Box<dyn BalanceHook>>,
    recheck_secs: i64,
    clock: Arc<dyn Clock>,
}

/// Configures an [`IdentityWebhook`]; see [`IdentityWebhook::builder`].
pub struct IdentityWebhookBuilder {
    inner: WebhookInner,
}

impl std::fmt::Debug for IdentityWebhookBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("IdentityWebhookBuilder")
    }
}

impl IdentityWebhookBuilder {
    /// Gates payments on the user's balance.
    pub fn balance_hook(mut self, hook: impl BalanceHook) -> Self {
        self.inner.balance = Some(Box::new(hook));
        self
    }

    /// Longest time the signer may go without asking again for a running payment session
    /// (default 60 s, at least 1 s).
    pub fn recheck_interval(mut self, interval: Duration) -> Self {
        self.inner.recheck_secs = i64::try_from(interval.as_secs()).unwrap_or(i64::MAX).max(1);
        self
    }

    /// The clock for `expiry` (default the system clock).
    pub fn clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.inner.clock = clock;
        self
    }

    /// The webhook.
    pub fn build(self) -> IdentityWebhook {
        IdentityWebhook {
            inner: Arc::new(self.inner),
        }
    }
}

/// An HTTP-level failure (caller or body), in the webhook's own shape.
fn failure(status: StatusCode, reason: &'static str) -> Response<Full<Bytes>> {
    let body = serde_json::json!({ "status": status.as_u16(), "reason": reason });
    json_response(status, &body)
}

fn json_response(status: StatusCode, body: &impl Serialize) -> Response<Full<Bytes>> {
    let bytes = serde_json::to_vec(body).unwrap_or_default();
    let mut response = Response::new(Full::new(Bytes::from(bytes)));
    *response.status_mut() = status;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    response
}

impl IdentityWebhook {
    /// A webhook that accepts callers presenting `secret` and proves end users with
    /// `verifier`.
    pub fn builder(
        secret: impl Into<String>,
        verifier: impl EndUserVerifier,
    ) -> IdentityWebhookBuilder {
        IdentityWebhookBuilder {
            inner: WebhookInner {
                secret: secret.into().into_bytes(),
                verifier: Box::new(verifier),
                balance: None,
                recheck_secs: 60,
                clock: Arc::new(SystemClock),
            },
        }
    }

    /// Whether `headers` carry the shared secret (as `X-Api-Key`, `X-Webhook-Secret` or
    /// `Authorization: Bearer`). An empty configured secret matches nothing.
    pub fn caller_is_authentic(&self, headers: &HeaderMap) -> bool {
        let sent = headers
            .iter()
            .map(|(name, value)| (name.as_str(), value.as_bytes()));
        tollhouse_core::webhook::caller_presents_secret(&self.inner.secret, sent)
    }

    /// The verdict for a webhook body from an authenticated caller (`None`: not a JSON object).
    pub async fn verdict(&self, body: Bytes) -> Option<WebhookVerdict> {
        let request = EndUserRequest::from_body(body)?;
        Some(self.decide(&request).await)
    }

    async fn decide(&self, request: &EndUserRequest) -> WebhookVerdict {
        let inner = &self.inner;
        let identity = match inner.verifier.verify(request).await {
            Ok(Some(identity)) => identity,
            Ok(None) if request.credential().is_some() => {
                return WebhookVerdict::rejected(&Rejection::Invalid);
            }
            Ok(None) => return WebhookVerdict::rejected(&Rejection::Missing),
            Err(rejection) => {
                if let Some(cause) = rejection.outage_cause() {
                    tracing::warn!(%cause, "end-user identity could not be checked");
                }
                return WebhookVerdict::rejected(&rejection);
            }
        };
        if request
            .previous_auth_id()
            .is_some_and(|previous| !identity.has_auth_id(previous))
        {
            return WebhookVerdict::auth_id_mismatch();
        }
        let mut recheck_secs = inner.recheck_secs;
        if let Some(hook) = &inner.balance {
            match hook.check(&identity).await {
                BalanceVerdict::Allow {
                    recheck_secs: Some(sooner),
                } => recheck_secs = recheck_secs.min(sooner.max(0)),
                BalanceVerdict::Allow { recheck_secs: None } => {}
                BalanceVerdict::Insufficient => return WebhookVerdict::insufficient_balance(),
                BalanceVerdict::Unavailable => return WebhookVerdict::billing_unavailable(),
            }
        }
        WebhookVerdict::allow(&identity, inner.clock.now(), recheck_secs)
    }

    async fn handle<B>(self, request: Request<B>) -> Response<Full<Bytes>>
    where
        B: http_body::Body,
        B::Error: Into<BoxError>,
    {
        let (parts, body) = request.into_parts();
        if parts.method != Method::POST {
            let mut response = failure(StatusCode::METHOD_NOT_ALLOWED, "method not allowed");
            response
                .headers_mut()
                .insert(header::ALLOW, HeaderValue::from_static("POST"));
            return response;
        }
        if !self.caller_is_authentic(&parts.headers) {
            return failure(StatusCode::UNAUTHORIZED, "unauthorized webhook caller");
        }
        let body = match read_body(body, MAX_WEBHOOK_BODY_BYTES).await {
            Ok(body) => body,
            Err(BodyError::TooLarge) => {
                return failure(StatusCode::PAYLOAD_TOO_LARGE, "request body too large");
            }
            Err(BodyError::Unreadable) => {
                return failure(StatusCode::BAD_REQUEST, "invalid request json");
            }
        };
        match self.verdict(body).await {
            Some(verdict) => json_response(StatusCode::OK, &verdict),
            None => failure(StatusCode::BAD_REQUEST, "invalid request json"),
        }
    }
}

impl<B> tower::Service<Request<B>> for IdentityWebhook
where
    B: http_body::Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<BoxError>,
{
    type Response = Response<Full<Bytes>>;
    type Error = Infallible;
    type Future = ServiceFuture<Self::Response>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: Request<B>) -> Self::Future {
        let this = self.clone();
        Box::pin(async move { Ok(this.handle(request).await) })
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests;
