//! The signer proxy an integrator backend mounts: its own users call it (authenticated the
//! backend's way), and it forwards their signing requests to the remote signer (go-livepeer's
//! DMZ, or Tollhouse's signer proxy) with a signer token minted for that user.
//!
//! Per request, a [`SignerProxy`]:
//! 1. asks the backend's [`Authenticate`] who the caller is (none: 401);
//! 2. reads the body **once** into memory (capped, 1 MiB by default: go-livepeer's signing
//!    bodies are a few KiB), so a retry sends exactly the same bytes;
//! 3. gets the user's token from the [`SignerTokenManager`] (cached, refreshed early);
//! 4. forwards to the signer without the caller's credentials, cookies, hop-by-hop headers or
//!    any identity header a client could forge (`X-Livepeer-Usage-*`, `X-Livepeer-Client-ID`,
//!    `Signer-*`: go-livepeer copies every header into its identity webhook call);
//! 5. if the signer answers 401, invalidates that token and retries **once** with a fresh one;
//! 6. streams the signer's answer back with its status and headers (480 and
//!    `Livepeer-Orchestrator-URL` included).
//!
//! Only go-livepeer's three signer routes are forwarded (`POST /sign-orchestrator-info`,
//! `POST /generate-live-payment`, `GET /discover-orchestrators`, below an optional prefix);
//! anything else is 404 without reaching the signer.

use crate::token_manager::{MintSignerToken, SignerTokenManager};
use base64::Engine as _;
use bytes::Bytes;
use http::header::{self, HeaderMap, HeaderName, HeaderValue};
use http::{Method, Request, Response, StatusCode};
use http_body_util::combinators::UnsyncBoxBody;
use http_body_util::{BodyExt as _, Full, Limited, StreamBody};
use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

/// An error type for boxed bodies.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// The body of the proxy's responses: the signer's answer, streamed.
pub type ProxyBody = UnsyncBoxBody<Bytes, BoxError>;

/// Largest request body forwarded by default.
pub const DEFAULT_MAX_BODY_BYTES: usize = 1024 * 1024;

/// Time allowed for the signer to answer, by default.
pub const DEFAULT_UPSTREAM_TIMEOUT: Duration = Duration::from_secs(30);

/// The signer routes forwarded: (method, path).
pub const SIGNER_ROUTES: [(Method, &str); 3] = [
    (Method::POST, "/sign-orchestrator-info"),
    (Method::POST, "/generate-live-payment"),
    (Method::GET, "/discover-orchestrators"),
];

/// The future of the SDK's services.
pub type ServiceFuture<T> = Pin<Box<dyn Future<Output = Result<T, Infallible>> + Send>>;

/// The future an [`Authenticate`] returns.
pub type AuthFuture<'a> = Pin<Box<dyn Future<Output = Option<String>> + Send + 'a>>;

/// Decides which of the backend's users is calling: returns their external user id (the id the
/// backend registered with Tollhouse), or `None` to answer 401.
///
/// Implemented for closures `Fn(&http::request::Parts) -> impl Future<Output = Option<String>>`
/// (read what you need from the parts before the `async` block):
///
/// ```
/// let authenticate = |parts: &http::request::Parts| {
///     let session = parts.headers.get("x-session").and_then(|v| v.to_str().ok()).map(str::to_owned);
///     async move { session.and_then(|s| s.strip_prefix("user:").map(str::to_owned)) }
/// };
/// # let _ = authenticate;
/// ```
pub trait Authenticate: Send + Sync + 'static {
    /// The caller's external user id, if the request is authenticated.
    fn external_user_id<'a>(&'a self, request: &'a http::request::Parts) -> AuthFuture<'a>;
}

impl<F, Fut> Authenticate for F
where
    F: Fn(&http::request::Parts) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Option<String>> + Send + 'static,
{
    fn external_user_id<'a>(&'a self, request: &'a http::request::Parts) -> AuthFuture<'a> {
        Box::pin(self(request))
    }
}

/// Forwards signing requests of the backend's users to the remote signer, with their tokens.
/// A `tower::Service`; mount it in axum with `Router::route_service` or `nest_service`.
///
/// ```
/// use std::sync::Arc;
/// use tollhouse_sdk::proxy::SignerProxy;
/// use tollhouse_sdk::token_manager::{MintError, MintedToken, SignerTokenManager};
///
/// let tokens = SignerTokenManager::new(|user: String| async move {
///     Ok::<_, MintError>(MintedToken { token: format!("jwt-of-{user}"), expires_at: i64::MAX })
/// });
/// let proxy = SignerProxy::builder("http://127.0.0.1:8935", tokens)
///     .prefix("/signer")
///     .authenticate(|parts: &http::request::Parts| {
///         let user = parts.headers.get("x-user").and_then(|v| v.to_str().ok()).map(str::to_owned);
///         async move { user }
///     })
///     .build();
/// let app: axum::Router = axum::Router::new().nest_service("/signer", proxy);
/// # let _ = app;
/// ```
pub struct SignerProxy<M, A> {
    inner: Arc<ProxyInner<M, A>>,
}

impl<M, A> Clone for SignerProxy<M, A> {
    fn clone(&self) -> Self {
        Self {
            inner: self.inner.clone(),
        }
    }
}

impl<M, A> std::fmt::Debug for SignerProxy<M, A> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SignerProxy")
            .field("upstream", &self.inner.upstream)
            .field("prefix", &self.inner.prefix)
            .finish()
    }
}

struct ProxyInner<M, A> {
    upstream: String,
    prefix: String,
    tokens: SignerTokenManager<M>,
    authenticate: A,
    http: reqwest::Client,
    max_body: usize,
    timeout: Duration,
    identity_headers: bool,
}

/// Configures a [`SignerProxy`]; see [`SignerProxy::builder`].
pub struct SignerProxyBuilder<M, A> {
    inner: ProxyInner<M, A>,
}

impl<M, A> std::fmt::Debug for SignerProxyBuilder<M, A> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SignerProxyBuilder")
            .field("upstream", &self.inner.upstream)
            .finish()
    }
}

/// The placeholder before [`SignerProxyBuilder::authenticate`] is called: refuses everyone.
#[derive(Debug, Clone, Copy)]
pub struct NobodyAuthenticated;

impl Authenticate for NobodyAuthenticated {
    fn external_user_id<'a>(&'a self, _: &'a http::request::Parts) -> AuthFuture<'a> {
        Box::pin(async { None })
    }
}

impl<M, A> SignerProxyBuilder<M, A> {
    /// How the backend's users are recognised.
    pub fn authenticate<B: Authenticate>(self, authenticate: B) -> SignerProxyBuilder<M, B> {
        let i = self.inner;
        SignerProxyBuilder {
            inner: ProxyInner {
                upstream: i.upstream,
                prefix: i.prefix,
                tokens: i.tokens,
                authenticate,
                http: i.http,
                max_body: i.max_body,
                timeout: i.timeout,
                identity_headers: i.identity_headers,
            },
        }
    }

    /// The path prefix the proxy is mounted under, stripped before matching the signer
    /// routes (e.g. `/signer` for `/signer/generate-live-payment`). With axum's
    /// `nest_service` the prefix is already stripped; leave it empty then.
    pub fn prefix(mut self, prefix: impl Into<String>) -> Self {
        self.inner.prefix = prefix.into().trim_end_matches('/').to_owned();
        self
    }

    /// Largest request body accepted (default 1 MiB); larger ones get 413.
    pub fn max_body_bytes(mut self, max: usize) -> Self {
        self.inner.max_body = max;
        self
    }

    /// Time allowed for the signer's answer to start (default 30 s); then 504.
    pub fn upstream_timeout(mut self, timeout: Duration) -> Self {
        self.inner.timeout = timeout;
        self
    }

    /// The HTTP client for the signer (default: rustls, no redirects followed).
    pub fn http_client(mut self, http: reqwest::Client) -> Self {
        self.inner.http = http;
        self
    }

    /// Also send `X-Livepeer-Usage-Issuer`, `X-Livepeer-Client-ID`, `X-Livepeer-Usage-Subject`
    /// and `X-Livepeer-Usage-Subject-Type`, read from the minted signer JWT (default off). Only
    /// for deployments whose identity webhook trusts these headers, and whose signer nobody
    /// but this proxy can reach.
    pub fn identity_headers(mut self, send: bool) -> Self {
        self.inner.identity_headers = send;
        self
    }
}

impl<M: MintSignerToken, A: Authenticate> SignerProxyBuilder<M, A> {
    /// The proxy.
    pub fn build(self) -> SignerProxy<M, A> {
        SignerProxy {
            inner: Arc::new(self.inner),
        }
    }
}

fn default_http() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .connect_timeout(Duration::from_secs(5))
        .build()
        .unwrap_or_default()
}

impl<M: MintSignerToken> SignerProxy<M, NobodyAuthenticated> {
    /// Starts configuring a proxy to the signer at `upstream` (its base URL, e.g. the
    /// `remoteDmzUrl` of the app's signer routing) using `tokens` for the users' tokens.
    pub fn builder(
        upstream: impl Into<String>,
        tokens: SignerTokenManager<M>,
    ) -> SignerProxyBuilder<M, NobodyAuthenticated> {
        SignerProxyBuilder {
            inner: ProxyInner {
                upstream: upstream.into().trim_end_matches('/').to_owned(),
                prefix: String::new(),
                tokens,
                authenticate: NobodyAuthenticated,
                http: default_http(),
                max_body: DEFAULT_MAX_BODY_BYTES,
                timeout: DEFAULT_UPSTREAM_TIMEOUT,
                identity_headers: false,
            },
        }
    }
}

/// go-livepeer's error shape, so gateways read the proxy's refusals like the signer's own.
fn signer_error(status: StatusCode, message: &str, code: Option<&str>) -> Response<ProxyBody> {
    let error = match code {
        Some(code) => serde_json::json!({ "message": message, "code": code }),
        None => serde_json::json!({ "message": message }),
    };
    let body = serde_json::json!({ "error": error }).to_string();
    let mut response = Response::new(
        Full::new(Bytes::from(body))
            .map_err(|never| match never {})
            .boxed_unsync(),
    );
    *response.status_mut() = status;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    response
}

/// Why a request body could not be read.
#[derive(Debug)]
pub(crate) enum BodyError {
    /// Larger than allowed.
    TooLarge,
    /// The connection failed while reading.
    Unreadable,
}

/// Reads a whole request body, at most `max` bytes.
pub(crate) async fn read_body<B>(body: B, max: usize) -> Result<Bytes, BodyError>
where
    B: http_body::Body,
    B::Error: Into<BoxError>,
{
    match Limited::new(body, max).collect().await {
        Ok(collected) => Ok(collected.to_bytes()),
        Err(e) if e.is::<http_body_util::LengthLimitError>() => Err(BodyError::TooLarge),
        Err(_) => Err(BodyError::Unreadable),
    }
}

pub(crate) fn hop_by_hop(name: &HeaderName) -> bool {
    tollhouse_core::webhook::is_hop_by_hop(name.as_str())
}

/// Request headers never forwarded to the signer.
fn forwardable(name: &HeaderName) -> bool {
    let spoofable = tollhouse_core::webhook::is_identity_header(name.as_str());
    let credentials = name == header::AUTHORIZATION || name == header::COOKIE;
    !(hop_by_hop(name) || spoofable || credentials || name == header::CONTENT_LENGTH)
}

/// The identity headers for a signer JWT (nothing for an opaque token).
fn identity_headers_of(token: &str) -> Vec<(&'static str, String)> {
    let claims = token
        .split('.')
        .nth(1)
        .and_then(|p| {
            base64::engine::general_purpose::URL_SAFE_NO_PAD
                .decode(p)
                .ok()
        })
        .and_then(|b| serde_json::from_slice::<serde_json::Value>(&b).ok());
    let Some(claims) = claims else {
        return Vec::new();
    };
    let get = |names: &[&str]| {
        names
            .iter()
            .find_map(|n| claims.get(*n).and_then(serde_json::Value::as_str))
            .map(str::to_owned)
    };
    let mut out = Vec::new();
    if let Some(iss) = get(&["iss"]) {
        out.push(("x-livepeer-usage-issuer", iss));
    }
    if let Some(client) = get(&["client_id"]) {
        out.push(("x-livepeer-client-id", client));
    }
    if let Some(subject) = get(&["external_user_id", "usage_subject", "sub"]) {
        out.push(("x-livepeer-usage-subject", subject));
        out.push(("x-livepeer-usage-subject-type", "external_user_id".into()));
    }
    out
}

impl<M: MintSignerToken, A: Authenticate> SignerProxy<M, A> {
    /// Starts configuring; see [`SignerProxy::builder`]. The token manager in use.
    pub fn tokens(&self) -> &SignerTokenManager<M> {
        &self.inner.tokens
    }

    async fn handle<B>(self, request: Request<B>) -> Response<ProxyBody>
    where
        B: http_body::Body,
        B::Error: Into<BoxError>,
    {
        let inner = &self.inner;
        let (parts, body) = request.into_parts();
        let path = parts.uri.path();
        let suffix = path.strip_prefix(inner.prefix.as_str()).unwrap_or(path);
        if !SIGNER_ROUTES
            .iter()
            .any(|(method, route)| *method == parts.method && *route == suffix)
        {
            return signer_error(StatusCode::NOT_FOUND, "not a signer route", None);
        }
        let Some(user) = inner.authenticate.external_user_id(&parts).await else {
            return signer_error(StatusCode::UNAUTHORIZED, "unauthorized", None);
        };
        let body = match read_body(body, inner.max_body).await {
            Ok(body) => body,
            Err(BodyError::TooLarge) => {
                return signer_error(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    "request body too large",
                    None,
                );
            }
            Err(BodyError::Unreadable) => {
                return signer_error(StatusCode::BAD_REQUEST, "unreadable request body", None);
            }
        };
        let mut url = format!("{}{suffix}", inner.upstream);
        if let Some(query) = parts.uri.query() {
            url.push('?');
            url.push_str(query);
        }
        let mut headers = HeaderMap::new();
        for (name, value) in &parts.headers {
            if forwardable(name) {
                headers.append(name.clone(), value.clone());
            }
        }
        let mut retried = false;
        loop {
            let token = match inner.tokens.token(&user).await {
                Ok(token) => token.token,
                Err(err) => {
                    tracing::warn!(error = %err, "signer token mint failed");
                    let status = StatusCode::from_u16(err.http_status())
                        .unwrap_or(StatusCode::SERVICE_UNAVAILABLE);
                    return signer_error(status, "no signer token for this user", Some(err.code()));
                }
            };
            let response = match self
                .send(&parts.method, &url, &headers, &token, &body)
                .await
            {
                Ok(response) => response,
                Err(failure) => return failure,
            };
            if response.status() == reqwest::StatusCode::UNAUTHORIZED && !retried {
                // The signer no longer accepts this token (revoked, or keys rotated): one new
                // token, one retry with the same bytes.
                retried = true;
                inner.tokens.invalidate(&user, &token);
                continue;
            }
            return stream_back(response);
        }
    }

    async fn send(
        &self,
        method: &Method,
        url: &str,
        headers: &HeaderMap,
        token: &str,
        body: &Bytes,
    ) -> Result<reqwest::Response, Response<ProxyBody>> {
        let inner = &self.inner;
        let mut headers = headers.clone();
        let bearer = HeaderValue::from_str(&format!("Bearer {token}"))
            .map_err(|_| signer_error(StatusCode::BAD_GATEWAY, "unusable signer token", None))?;
        headers.insert(header::AUTHORIZATION, bearer);
        if inner.identity_headers {
            for (name, value) in identity_headers_of(token) {
                if let Ok(value) = HeaderValue::from_str(&value) {
                    headers.insert(HeaderName::from_static(name), value);
                }
            }
        }
        let request = inner
            .http
            .request(method.clone(), url)
            .headers(headers)
            .body(body.clone());
        match tokio::time::timeout(inner.timeout, request.send()).await {
            Ok(Ok(response)) => Ok(response),
            Ok(Err(err)) => {
                tracing::warn!(error = %err.without_url(), "signer unreachable");
                Err(signer_error(
                    StatusCode::BAD_GATEWAY,
                    "signer unreachable",
                    None,
                ))
            }
            Err(_) => {
                tracing::warn!("signer did not answer in time");
                Err(signer_error(
                    StatusCode::GATEWAY_TIMEOUT,
                    "signer did not answer in time",
                    None,
                ))
            }
        }
    }
}

/// The signer's answer as the proxy's response, body streamed as it arrives.
fn stream_back(response: reqwest::Response) -> Response<ProxyBody> {
    let status = response.status();
    let mut headers = HeaderMap::new();
    for (name, value) in response.headers() {
        if !hop_by_hop(name) && name != header::CONTENT_LENGTH {
            headers.append(name.clone(), value.clone());
        }
    }
    let chunks = futures_util::stream::unfold(Some(response), |state| async move {
        let mut response = state?;
        match response.chunk().await {
            Ok(Some(chunk)) => Some((Ok(http_body::Frame::data(chunk)), Some(response))),
            Ok(None) => None,
            Err(err) => Some((Err(BoxError::from(err)), None)),
        }
    });
    let mut out = Response::new(StreamBody::new(chunks).boxed_unsync());
    *out.status_mut() = status;
    *out.headers_mut() = headers;
    out
}

impl<M, A, B> tower::Service<Request<B>> for SignerProxy<M, A>
where
    M: MintSignerToken,
    A: Authenticate,
    B: http_body::Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<BoxError>,
{
    type Response = Response<ProxyBody>;
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
mod tests {
    use super::*;
    use crate::token_manager::{MintError, MintedToken};
    use std::sync::Mutex;
    use std::sync::atomic::{AtomicU32, Ordering};
    use tower::ServiceExt as _;

    #[derive(Debug, Clone)]
    struct Seen {
        path: String,
        authorization: Option<String>,
        headers: HeaderMap,
        body: Bytes,
    }

    /// A signer double on 127.0.0.1:0 that answers 401 to the first `reject_first` requests.
    async fn upstream(reject_first: u32) -> (String, Arc<Mutex<Vec<Seen>>>) {
        let seen: Arc<Mutex<Vec<Seen>>> = Arc::default();
        let rejections = Arc::new(AtomicU32::new(reject_first));
        let log = seen.clone();
        let app = axum::Router::new().fallback(move |request: axum::extract::Request| {
            let (log, rejections) = (log.clone(), rejections.clone());
            async move {
                let (parts, body) = request.into_parts();
                let body = axum::body::to_bytes(body, usize::MAX).await.unwrap();
                log.lock().unwrap().push(Seen {
                    path: parts.uri.to_string(),
                    authorization: parts
                        .headers
                        .get("authorization")
                        .map(|v| v.to_str().unwrap().to_owned()),
                    headers: parts.headers.clone(),
                    body: body.clone(),
                });
                let reject = rejections
                    .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
                    .is_ok();
                if reject {
                    return (
                        axum::http::StatusCode::UNAUTHORIZED,
                        [("content-type", "application/json")],
                        Bytes::from_static(br#"{"error":{"message":"invalid token"}}"#),
                    );
                }
                (
                    axum::http::StatusCode::OK,
                    [("content-type", "application/json")],
                    Bytes::from(format!(r#"{{"echo":{}}}"#, body.len())),
                )
            }
        });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        (url, seen)
    }

    fn counting_tokens() -> (SignerTokenManager<impl MintSignerToken>, Arc<AtomicU32>) {
        let mints = Arc::new(AtomicU32::new(0));
        let counter = mints.clone();
        let tokens = SignerTokenManager::new(move |user: String| {
            let n = counter.fetch_add(1, Ordering::SeqCst);
            async move {
                Ok::<_, MintError>(MintedToken {
                    token: format!("tok-{user}-{n}"),
                    expires_at: i64::MAX / 1000,
                })
            }
        });
        (tokens, mints)
    }

    fn by_header(parts: &http::request::Parts) -> impl Future<Output = Option<String>> + use<> {
        let user = parts
            .headers
            .get("x-user")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        async move { user }
    }

    fn payment_request(body: &'static [u8]) -> Request<Full<Bytes>> {
        Request::builder()
            .method(Method::POST)
            .uri("/signer/generate-live-payment?x=1")
            .header("x-user", "alice")
            .header("authorization", "Bearer the-users-own-session")
            .header("cookie", "session=secret")
            .header("x-livepeer-usage-subject", "mallory")
            .header("x-livepeer-client-id", "app_forged")
            .header("signer-auth-id", "forged")
            .header("content-type", "application/json")
            .header("x-request-id", "r-1")
            .body(Full::new(Bytes::from_static(body)))
            .unwrap()
    }

    #[tokio::test]
    async fn retries_once_on_401_with_the_same_body_and_a_fresh_token() {
        let (url, seen) = upstream(1).await;
        let (tokens, mints) = counting_tokens();
        let proxy = SignerProxy::builder(url, tokens)
            .prefix("/signer")
            .authenticate(by_header)
            .build();
        let body = br#"{"state":{"State":"c3RhdGU=","Sig":"c2ln"},"orchestrator":"b3JjaA==","ManifestID":"","type":"lv2v"}"#;
        let response = proxy.clone().oneshot(payment_request(body)).await.unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        let answer = response.into_body().collect().await.unwrap().to_bytes();
        assert_eq!(answer, Bytes::from(format!(r#"{{"echo":{}}}"#, body.len())));

        let seen = seen.lock().unwrap().clone();
        assert_eq!(seen.len(), 2, "the first attempt and one retry");
        assert_eq!(seen[0].body.as_ref(), body);
        assert_eq!(
            seen[1].body.as_ref(),
            body,
            "the retry carries the same body"
        );
        assert_eq!(seen[0].authorization.as_deref(), Some("Bearer tok-alice-0"));
        assert_eq!(
            seen[1].authorization.as_deref(),
            Some("Bearer tok-alice-1"),
            "fresh token"
        );
        assert_eq!(mints.load(Ordering::SeqCst), 2);
        for request in &seen {
            assert_eq!(request.path, "/generate-live-payment?x=1");
            assert_eq!(request.headers.get("x-request-id").unwrap(), "r-1");
            for forged in [
                "cookie",
                "x-livepeer-usage-subject",
                "x-livepeer-client-id",
                "signer-auth-id",
            ] {
                assert!(request.headers.get(forged).is_none(), "{forged} forwarded");
            }
        }
        // The fresh token is cached: the next request mints nothing.
        let response = proxy.clone().oneshot(payment_request(b"{}")).await.unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        assert_eq!(mints.load(Ordering::SeqCst), 2);
    }

    #[tokio::test]
    async fn a_second_401_is_passed_back_without_a_third_attempt() {
        let (url, seen) = upstream(5).await;
        let (tokens, mints) = counting_tokens();
        let proxy = SignerProxy::builder(url, tokens)
            .prefix("/signer")
            .authenticate(by_header)
            .build();
        let response = proxy.oneshot(payment_request(b"{\"a\":1}")).await.unwrap();
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
        let answer = response.into_body().collect().await.unwrap().to_bytes();
        assert_eq!(answer.as_ref(), br#"{"error":{"message":"invalid token"}}"#);
        assert_eq!(seen.lock().unwrap().len(), 2);
        assert_eq!(mints.load(Ordering::SeqCst), 2);
    }

    #[tokio::test]
    async fn refuses_before_reaching_the_signer() {
        let (url, seen) = upstream(0).await;
        let (tokens, _) = counting_tokens();
        let proxy = SignerProxy::builder(url, tokens)
            .prefix("/signer")
            .max_body_bytes(8)
            .authenticate(by_header)
            .build();
        // No user.
        let mut anonymous = payment_request(b"{}");
        anonymous.headers_mut().remove("x-user");
        let r = proxy.clone().oneshot(anonymous).await.unwrap();
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
        // Too large.
        let r = proxy
            .clone()
            .oneshot(payment_request(b"{\"aaaaaaaaaa\":1}"))
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::PAYLOAD_TOO_LARGE);
        // Not a signer route, or the wrong method.
        let other = Request::builder()
            .method(Method::POST)
            .uri("/signer/admin")
            .header("x-user", "alice")
            .body(Full::new(Bytes::new()))
            .unwrap();
        assert_eq!(
            proxy.clone().oneshot(other).await.unwrap().status(),
            StatusCode::NOT_FOUND
        );
        let wrong_method = Request::builder()
            .method(Method::GET)
            .uri("/signer/generate-live-payment")
            .header("x-user", "alice")
            .body(Full::new(Bytes::new()))
            .unwrap();
        assert_eq!(
            proxy.clone().oneshot(wrong_method).await.unwrap().status(),
            StatusCode::NOT_FOUND
        );
        assert!(seen.lock().unwrap().is_empty());

        // A user without allowance: the issuer's 402 is passed on, with its code.
        let broke = SignerTokenManager::new(|_user: String| async {
            Err::<MintedToken, _>(MintError::Refused {
                status: 402,
                code: "insufficient_allowance".into(),
                description: "no balance".into(),
            })
        });
        let (url, _) = upstream(0).await;
        let proxy = SignerProxy::builder(url, broke)
            .prefix("/signer")
            .authenticate(by_header)
            .build();
        let r = proxy.oneshot(payment_request(b"{}")).await.unwrap();
        assert_eq!(r.status(), StatusCode::PAYMENT_REQUIRED);
        let body: serde_json::Value =
            serde_json::from_slice(&r.into_body().collect().await.unwrap().to_bytes()).unwrap();
        assert_eq!(body["error"]["code"], "insufficient_allowance");
    }

    #[tokio::test]
    async fn sends_identity_headers_from_the_minted_jwt_when_asked() {
        let (url, seen) = upstream(0).await;
        let payload = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(
            br#"{"iss":"https://issuer.test/api/v1/oidc","client_id":"app_1","external_user_id":"alice"}"#,
        );
        let jwt = format!("eyJhbGciOiJSUzI1NiJ9.{payload}.c2ln");
        let tokens = SignerTokenManager::new(move |_user: String| {
            let jwt = jwt.clone();
            async move {
                Ok::<_, MintError>(MintedToken {
                    token: jwt,
                    expires_at: i64::MAX / 1000,
                })
            }
        });
        let proxy = SignerProxy::builder(url, tokens)
            .prefix("/signer")
            .identity_headers(true)
            .authenticate(by_header)
            .build();
        let r = proxy.oneshot(payment_request(b"{}")).await.unwrap();
        assert_eq!(r.status(), StatusCode::OK);
        let seen = seen.lock().unwrap().clone();
        let h = &seen[0].headers;
        assert_eq!(
            h.get("x-livepeer-usage-subject").unwrap(),
            "alice",
            "not the forged value"
        );
        assert_eq!(h.get("x-livepeer-client-id").unwrap(), "app_1");
        assert_eq!(
            h.get("x-livepeer-usage-issuer").unwrap(),
            "https://issuer.test/api/v1/oidc"
        );
        assert!(h.get("signer-auth-id").is_none());
    }
}
