//! The two exchange endpoints an integrator backend serves to its clients (PymtHouse's facade
//! routes), as `tower::Service`s:
//!
//! - `POST /api/signer/device/exchange` `{deviceToken, scope?, clientId?}`: a CLI that finished
//!   the device flow trades its user token for a short-lived signer JWT ([`DeviceExchange`]);
//! - `POST /api/pymthouse/keys/exchange` `{apiKey, scope?, clientId?}`: an API key is traded for
//!   a signer session ([`ApiKeyExchange`]). `pmth_cs_…` values are M2M client secrets, never API
//!   keys, and are refused without being sent anywhere.
//!
//! Both answer 200 `{access_token, token_type:"Bearer", expires_in, scope, balanceUsdMicros,
//! lifetimeGrantedUsdMicros, issued_token_type, signer_url?}` with `Cache-Control: no-store`,
//! or `{error, error_description}` with the issuer's status for a refusal (402
//! `insufficient_allowance`, 400 `invalid_grant`…), 400 `invalid_request` for a bad body and
//! 502 when the issuer cannot be reached. The app's M2M credentials stay on the server: the
//! caller sends none.
//!
//! The calls to the issuer are a [`SignerExchange`]; [`TollhouseExchange`] makes them.

use crate::proxy::{BodyError, BoxError, ServiceFuture, read_body};
use bytes::Bytes;
use http::header::{self, HeaderValue};
use http::{Method, Request, Response, StatusCode};
use http_body_util::Full;
use serde::Serialize;
use serde_json::{Map, Value};
use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

/// Largest request body read.
const MAX_BODY_BYTES: usize = 16 * 1024;

/// RFC 8693 token exchange.
pub const TOKEN_EXCHANGE_GRANT: &str = "urn:ietf:params:oauth:grant-type:token-exchange";
/// Subject token type of a user access token.
pub const ACCESS_TOKEN_TYPE: &str = "urn:ietf:params:oauth:token-type:access_token";
/// Subject token type of an API key.
pub const API_KEY_TOKEN_TYPE: &str = "urn:pymthouse:oauth:token-type:api_key";

/// A signer credential obtained by an exchange.
#[derive(Clone, PartialEq, Eq)]
pub struct SignerGrant {
    /// The bearer for the signer (a signer JWT or an opaque `pmth_` session).
    pub access_token: String,
    /// Seconds until it expires.
    pub expires_in: u64,
    /// Its scopes.
    pub scope: String,
    /// The user's balance, micro-USD, as a decimal string.
    pub balance_usd_micros: String,
    /// Everything ever granted to the user, micro-USD, as a decimal string.
    pub lifetime_granted_usd_micros: String,
    /// Where to sign, if the issuer says.
    pub signer_url: Option<String>,
}

impl std::fmt::Debug for SignerGrant {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SignerGrant")
            .field("access_token", &"<redacted>")
            .field("expires_in", &self.expires_in)
            .field("scope", &self.scope)
            .field("signer_url", &self.signer_url)
            .finish_non_exhaustive()
    }
}

/// Why an exchange failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ExchangeError {
    /// The issuer refused (HTTP 4xx): `status` and `code` are its own.
    #[error("exchange refused ({status} {code}): {description}")]
    Refused {
        /// The issuer's HTTP status.
        status: u16,
        /// The issuer's `error`.
        code: String,
        /// Its `error_description`.
        description: String,
    },
    /// The issuer could not be reached, failed, or answered something unusable.
    #[error("issuer unavailable: {0}")]
    Unavailable(String),
}

/// The future a [`SignerExchange`] returns.
pub type ExchangeFuture<'a> =
    Pin<Box<dyn Future<Output = Result<SignerGrant, ExchangeError>> + Send + 'a>>;

/// The issuer calls behind the exchange endpoints.
pub trait SignerExchange: Send + Sync + 'static {
    /// The app's public client id (`app_…`): a request naming another app is refused.
    fn public_client_id(&self) -> &str;

    /// A user token from the device flow → a signer JWT.
    fn exchange_device_token<'a>(
        &'a self,
        device_token: &'a str,
        scope: Option<&'a str>,
    ) -> ExchangeFuture<'a>;

    /// An API key (bare or composite) → a signer session.
    fn exchange_api_key<'a>(
        &'a self,
        api_key: &'a str,
        scope: Option<&'a str>,
    ) -> ExchangeFuture<'a>;
}

impl<E: SignerExchange + ?Sized> SignerExchange for Arc<E> {
    fn public_client_id(&self) -> &str {
        (**self).public_client_id()
    }
    fn exchange_device_token<'a>(
        &'a self,
        device_token: &'a str,
        scope: Option<&'a str>,
    ) -> ExchangeFuture<'a> {
        (**self).exchange_device_token(device_token, scope)
    }
    fn exchange_api_key<'a>(
        &'a self,
        api_key: &'a str,
        scope: Option<&'a str>,
    ) -> ExchangeFuture<'a> {
        (**self).exchange_api_key(api_key, scope)
    }
}

/// [`SignerExchange`] against Tollhouse (or a PymtHouse-compatible issuer) with the app's M2M
/// credentials: the device token is exchanged at `{issuer}/token` for a signer JWT
/// (`resource` = `audience` = issuer); the API key at `{base}/api/v1/apps/{clientId}/oidc/token`.
///
/// ```
/// use tollhouse_sdk::exchange::TollhouseExchange;
/// let exchange = TollhouseExchange::new(
///     "https://tollhouse.example/api/v1/oidc",
///     "app_0123456789abcdef01234567",
///     "m2m_0123456789abcdef01234567",
///     "pmth_cs_…",
/// );
/// # let _ = exchange;
/// ```
pub struct TollhouseExchange {
    issuer: String,
    public_client_id: String,
    m2m_client_id: String,
    m2m_client_secret: String,
    http: reqwest::Client,
}

impl std::fmt::Debug for TollhouseExchange {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TollhouseExchange")
            .field("issuer", &self.issuer)
            .field("public_client_id", &self.public_client_id)
            .finish_non_exhaustive()
    }
}

impl TollhouseExchange {
    /// Exchanges for app `public_client_id` of `issuer` with its M2M credentials.
    pub fn new(
        issuer: impl Into<String>,
        public_client_id: impl Into<String>,
        m2m_client_id: impl Into<String>,
        m2m_client_secret: impl Into<String>,
    ) -> Self {
        Self {
            issuer: issuer.into().trim_end_matches('/').to_owned(),
            public_client_id: public_client_id.into(),
            m2m_client_id: m2m_client_id.into(),
            m2m_client_secret: m2m_client_secret.into(),
            http: reqwest::Client::new(),
        }
    }

    /// Uses `http` for the calls.
    pub fn with_http_client(mut self, http: reqwest::Client) -> Self {
        self.http = http;
        self
    }

    /// `<base>/api/v1/apps/{clientId}/oidc/token`, the base being the issuer without its
    /// `/api/v1/oidc` (else `/oidc`) suffix.
    fn app_token_endpoint(&self) -> String {
        let issuer = self.issuer.as_str();
        let base = issuer
            .strip_suffix("/api/v1/oidc")
            .or_else(|| issuer.strip_suffix("/oidc"))
            .unwrap_or(issuer);
        format!("{base}/api/v1/apps/{}/oidc/token", self.public_client_id)
    }

    async fn post_form(
        &self,
        url: &str,
        form: &[(&str, &str)],
        default_scope: Option<&str>,
    ) -> Result<SignerGrant, ExchangeError> {
        let response = self
            .http
            .post(url)
            .basic_auth(&self.m2m_client_id, Some(&self.m2m_client_secret))
            .header(header::ACCEPT, "application/json")
            .form(form)
            .timeout(Duration::from_secs(10))
            .send()
            .await
            .map_err(|e| ExchangeError::Unavailable(e.without_url().to_string()))?;
        let status = response.status();
        let bytes = response
            .bytes()
            .await
            .map_err(|e| ExchangeError::Unavailable(e.without_url().to_string()))?;
        let body: Map<String, Value> = serde_json::from_slice(&bytes).unwrap_or_default();
        let text = |name: &str| body.get(name).and_then(Value::as_str).map(str::to_owned);
        if status.is_client_error() {
            return Err(ExchangeError::Refused {
                status: status.as_u16(),
                code: text("error").unwrap_or_else(|| "token_exchange_failed".into()),
                description: text("error_description")
                    .unwrap_or_else(|| format!("exchange refused ({status})")),
            });
        }
        if !status.is_success() {
            return Err(ExchangeError::Unavailable(format!(
                "issuer answered {status}"
            )));
        }
        let access_token = text("access_token")
            .filter(|t| !t.is_empty())
            .ok_or_else(|| ExchangeError::Unavailable("no access_token in the answer".into()))?;
        let expires_in = body
            .get("expires_in")
            .and_then(Value::as_u64)
            .filter(|e| *e > 0)
            .ok_or_else(|| ExchangeError::Unavailable("no expires_in in the answer".into()))?;
        Ok(SignerGrant {
            access_token,
            expires_in,
            scope: text("scope")
                .or_else(|| default_scope.map(str::to_owned))
                .unwrap_or_else(|| "sign:job".into()),
            balance_usd_micros: text("balanceUsdMicros").unwrap_or_else(|| "0".into()),
            lifetime_granted_usd_micros: text("lifetimeGrantedUsdMicros")
                .unwrap_or_else(|| "0".into()),
            signer_url: text("signer_url"),
        })
    }
}

impl SignerExchange for TollhouseExchange {
    fn public_client_id(&self) -> &str {
        &self.public_client_id
    }

    fn exchange_device_token<'a>(
        &'a self,
        device_token: &'a str,
        scope: Option<&'a str>,
    ) -> ExchangeFuture<'a> {
        Box::pin(async move {
            let mut form = vec![
                ("grant_type", TOKEN_EXCHANGE_GRANT),
                ("subject_token", device_token),
                ("subject_token_type", ACCESS_TOKEN_TYPE),
                ("audience", self.issuer.as_str()),
                ("resource", self.issuer.as_str()),
            ];
            if let Some(scope) = scope {
                form.push(("scope", scope));
            }
            self.post_form(&format!("{}/token", self.issuer), &form, scope)
                .await
        })
    }

    fn exchange_api_key<'a>(
        &'a self,
        api_key: &'a str,
        scope: Option<&'a str>,
    ) -> ExchangeFuture<'a> {
        Box::pin(async move {
            let mut form = vec![
                ("grant_type", TOKEN_EXCHANGE_GRANT),
                ("subject_token", api_key),
                ("subject_token_type", API_KEY_TOKEN_TYPE),
            ];
            if let Some(scope) = scope {
                form.push(("scope", scope));
            }
            self.post_form(&self.app_token_endpoint(), &form, scope)
                .await
        })
    }
}

#[derive(Serialize)]
struct GrantBody<'a> {
    access_token: &'a str,
    token_type: &'static str,
    expires_in: u64,
    scope: &'a str,
    #[serde(rename = "balanceUsdMicros")]
    balance_usd_micros: &'a str,
    #[serde(rename = "lifetimeGrantedUsdMicros")]
    lifetime_granted_usd_micros: &'a str,
    issued_token_type: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    signer_url: Option<&'a str>,
}

fn json_response(status: StatusCode, body: &impl Serialize) -> Response<Full<Bytes>> {
    let bytes = serde_json::to_vec(body).unwrap_or_default();
    let mut response = Response::new(Full::new(Bytes::from(bytes)));
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

fn error_response(status: StatusCode, code: &str, description: &str) -> Response<Full<Bytes>> {
    json_response(
        status,
        &serde_json::json!({ "error": code, "error_description": description }),
    )
}

fn invalid_request(description: &str) -> Response<Full<Bytes>> {
    error_response(StatusCode::BAD_REQUEST, "invalid_request", description)
}

/// A field of the JSON body: absent, or a string (trimmed; empty counts as absent).
fn optional_string(body: &Map<String, Value>, name: &str) -> Result<Option<String>, String> {
    match body.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.trim().to_owned()).filter(|s| !s.is_empty())),
        Some(_) => Err(format!("`{name}` must be a string")),
    }
}

/// Whether `key` is (or ends in) an M2M client secret rather than an API key.
fn is_client_secret(key: &str) -> bool {
    key.starts_with("pmth_cs_") || key.starts_with("cs_") || key.contains("_cs_")
}

/// Which exchange a handler performs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Device,
    ApiKey,
}

/// Shared implementation of the two handlers.
struct Handler<E> {
    exchange: Arc<E>,
    signer_url: Option<Arc<str>>,
    kind: Kind,
}

impl<E> Clone for Handler<E> {
    fn clone(&self) -> Self {
        Self {
            exchange: self.exchange.clone(),
            signer_url: self.signer_url.clone(),
            kind: self.kind,
        }
    }
}

impl<E: SignerExchange> Handler<E> {
    async fn handle<B>(self, request: Request<B>) -> Response<Full<Bytes>>
    where
        B: http_body::Body,
        B::Error: Into<BoxError>,
    {
        let (parts, body) = request.into_parts();
        if parts.method != Method::POST {
            let mut response = error_response(
                StatusCode::METHOD_NOT_ALLOWED,
                "method_not_allowed",
                "use POST",
            );
            response
                .headers_mut()
                .insert(header::ALLOW, HeaderValue::from_static("POST"));
            return response;
        }
        let body = match read_body(body, MAX_BODY_BYTES).await {
            Ok(body) => body,
            Err(BodyError::TooLarge) => {
                return error_response(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    "invalid_request",
                    "request body too large",
                );
            }
            Err(BodyError::Unreadable) => return invalid_request("unreadable request body"),
        };
        let Ok(Value::Object(body)) = serde_json::from_slice::<Value>(&body) else {
            return invalid_request("the request body must be a JSON object");
        };
        let credential_field = match self.kind {
            Kind::Device => "deviceToken",
            Kind::ApiKey => "apiKey",
        };
        let fields = optional_string(&body, credential_field).and_then(|credential| {
            Ok((
                credential,
                optional_string(&body, "scope")?,
                optional_string(&body, "clientId")?,
            ))
        });
        let (credential, scope, client_id) = match fields {
            Ok(fields) => fields,
            Err(why) => return invalid_request(&why),
        };
        let Some(credential) = credential else {
            return invalid_request(&format!("`{credential_field}` is required"));
        };
        if client_id
            .as_deref()
            .is_some_and(|id| id != self.exchange.public_client_id())
        {
            return invalid_request("clientId does not match this app");
        }
        let result = match self.kind {
            Kind::Device => {
                self.exchange
                    .exchange_device_token(&credential, scope.as_deref())
                    .await
            }
            Kind::ApiKey => {
                if is_client_secret(&credential) {
                    return invalid_request("a client secret is not an API key");
                }
                self.exchange
                    .exchange_api_key(&credential, scope.as_deref())
                    .await
            }
        };
        match result {
            Ok(grant) => json_response(
                StatusCode::OK,
                &GrantBody {
                    access_token: &grant.access_token,
                    token_type: "Bearer",
                    expires_in: grant.expires_in,
                    scope: &grant.scope,
                    balance_usd_micros: &grant.balance_usd_micros,
                    lifetime_granted_usd_micros: &grant.lifetime_granted_usd_micros,
                    issued_token_type: ACCESS_TOKEN_TYPE,
                    signer_url: grant.signer_url.as_deref().or(self.signer_url.as_deref()),
                },
            ),
            Err(ExchangeError::Refused {
                status,
                code,
                description,
            }) => {
                let status = StatusCode::from_u16(status)
                    .ok()
                    .filter(|s| s.is_client_error())
                    .unwrap_or(StatusCode::BAD_REQUEST);
                error_response(status, &code, &description)
            }
            Err(ExchangeError::Unavailable(cause)) => {
                tracing::warn!(%cause, "signer exchange failed");
                error_response(
                    StatusCode::BAD_GATEWAY,
                    "issuer_unavailable",
                    "the issuer could not complete the exchange",
                )
            }
        }
    }
}

macro_rules! exchange_service {
    ($(#[$doc:meta])* $name:ident, $kind:expr) => {
        $(#[$doc])*
        pub struct $name<E> {
            handler: Handler<E>,
        }

        impl<E> Clone for $name<E> {
            fn clone(&self) -> Self {
                Self {
                    handler: self.handler.clone(),
                }
            }
        }

        impl<E> std::fmt::Debug for $name<E> {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.debug_struct(stringify!($name))
                    .field("signer_url", &self.handler.signer_url)
                    .finish_non_exhaustive()
            }
        }

        impl<E: SignerExchange> $name<E> {
            /// The handler, exchanging through `exchange`.
            pub fn new(exchange: E) -> Self {
                Self {
                    handler: Handler {
                        exchange: Arc::new(exchange),
                        signer_url: None,
                        kind: $kind,
                    },
                }
            }

            /// The `signer_url` answered when the issuer names none (the signer your clients
            /// should call).
            pub fn signer_url(mut self, url: impl Into<String>) -> Self {
                self.handler.signer_url = Some(Arc::from(url.into()));
                self
            }
        }

        impl<E, B> tower::Service<Request<B>> for $name<E>
        where
            E: SignerExchange,
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
                let handler = self.handler.clone();
                Box::pin(async move { Ok(handler.handle(request).await) })
            }
        }
    };
}

exchange_service!(
    /// `POST /api/signer/device/exchange` `{deviceToken, scope?, clientId?}` → a signer JWT, as
    /// a `tower::Service`.
    ///
    /// ```
    /// use tollhouse_sdk::exchange::{DeviceExchange, TollhouseExchange};
    /// let exchange = TollhouseExchange::new(
    ///     "https://tollhouse.example/api/v1/oidc", "app_0123456789abcdef01234567",
    ///     "m2m_0123456789abcdef01234567", "pmth_cs_…",
    /// );
    /// let app: axum::Router = axum::Router::new().route_service(
    ///     "/api/signer/device/exchange",
    ///     DeviceExchange::new(exchange).signer_url("https://signer.example"),
    /// );
    /// # let _ = app;
    /// ```
    DeviceExchange,
    Kind::Device
);

exchange_service!(
    /// `POST /api/pymthouse/keys/exchange` `{apiKey, scope?, clientId?}` → a signer session, as
    /// a `tower::Service`. Client secrets (`pmth_cs_…`) are refused with 400 before any call.
    ///
    /// ```
    /// use std::sync::Arc;
    /// use tollhouse_sdk::exchange::{ApiKeyExchange, DeviceExchange, TollhouseExchange};
    /// let exchange = Arc::new(TollhouseExchange::new(
    ///     "https://tollhouse.example/api/v1/oidc", "app_0123456789abcdef01234567",
    ///     "m2m_0123456789abcdef01234567", "pmth_cs_…",
    /// ));
    /// let app: axum::Router = axum::Router::new()
    ///     .route_service("/api/pymthouse/keys/exchange", ApiKeyExchange::new(exchange.clone()))
    ///     .route_service("/api/signer/device/exchange", DeviceExchange::new(exchange));
    /// # let _ = app;
    /// ```
    ApiKeyExchange,
    Kind::ApiKey
);

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use http_body_util::BodyExt as _;
    use std::sync::Mutex;
    use tower::ServiceExt as _;

    /// An issuer double: records every form it receives, answers what the test scripted.
    async fn issuer(answer: (u16, Value)) -> (String, Arc<Mutex<Vec<(String, String, String)>>>) {
        let seen: Arc<Mutex<Vec<(String, String, String)>>> = Arc::default();
        let log = seen.clone();
        let app = axum::Router::new().fallback(move |request: axum::extract::Request| {
            let (log, answer) = (log.clone(), answer.clone());
            async move {
                let (parts, body) = request.into_parts();
                let body = axum::body::to_bytes(body, usize::MAX).await.unwrap();
                let auth = parts
                    .headers
                    .get("authorization")
                    .map(|v| v.to_str().unwrap().to_owned())
                    .unwrap_or_default();
                log.lock().unwrap().push((
                    parts.uri.path().to_owned(),
                    auth,
                    String::from_utf8(body.to_vec()).unwrap(),
                ));
                (
                    axum::http::StatusCode::from_u16(answer.0).unwrap(),
                    axum::Json(answer.1),
                )
            }
        });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        (url, seen)
    }

    fn tollhouse(base: &str) -> TollhouseExchange {
        TollhouseExchange::new(
            format!("{base}/api/v1/oidc"),
            "app_0123456789abcdef01234567",
            "m2m_1",
            "pmth_cs_secret",
        )
    }

    async fn post(
        service: impl tower::Service<
            Request<Full<Bytes>>,
            Response = Response<Full<Bytes>>,
            Error = Infallible,
        >,
        body: &str,
    ) -> (u16, Value, Option<String>) {
        let request = Request::builder()
            .method(Method::POST)
            .uri("/x")
            .header("content-type", "application/json")
            .body(Full::new(Bytes::from(body.to_owned())))
            .unwrap();
        let response = service.oneshot(request).await.unwrap();
        let status = response.status().as_u16();
        let cache = response
            .headers()
            .get("cache-control")
            .map(|v| v.to_str().unwrap().to_owned());
        let bytes = response.into_body().collect().await.unwrap().to_bytes();
        (status, serde_json::from_slice(&bytes).unwrap(), cache)
    }

    #[tokio::test]
    async fn device_exchange_sends_the_token_exchange_and_shapes_the_answer() {
        let (base, seen) = issuer((
            200,
            serde_json::json!({"access_token": "eyJ.signer.jwt", "token_type": "Bearer",
                "expires_in": 300, "scope": "sign:job", "balanceUsdMicros": "5000000",
                "lifetimeGrantedUsdMicros": "5000000",
                "issued_token_type": ACCESS_TOKEN_TYPE}),
        ))
        .await;
        let service = DeviceExchange::new(tollhouse(&base)).signer_url("https://signer.test");
        let (status, body, cache) = post(
            service.clone(),
            r#"{"deviceToken":"user.jwt.here","scope":"sign:job","clientId":"app_0123456789abcdef01234567"}"#,
        )
        .await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(cache.as_deref(), Some("no-store"));
        assert_eq!(
            body,
            serde_json::json!({"access_token": "eyJ.signer.jwt", "token_type": "Bearer",
                "expires_in": 300, "scope": "sign:job", "balanceUsdMicros": "5000000",
                "lifetimeGrantedUsdMicros": "5000000", "issued_token_type": ACCESS_TOKEN_TYPE,
                "signer_url": "https://signer.test"})
        );
        let recorded = seen.lock().unwrap().clone();
        assert_eq!(recorded.len(), 1);
        let (path, auth, form) = &recorded[0];
        assert_eq!(path, "/api/v1/oidc/token");
        assert!(auth.starts_with("Basic "));
        let form = url_decode_pairs(form);
        let issuer = format!("{base}/api/v1/oidc");
        for (k, v) in [
            ("grant_type", TOKEN_EXCHANGE_GRANT),
            ("subject_token", "user.jwt.here"),
            ("subject_token_type", ACCESS_TOKEN_TYPE),
            ("audience", issuer.as_str()),
            ("resource", issuer.as_str()),
            ("scope", "sign:job"),
        ] {
            assert!(
                form.contains(&(k.to_owned(), v.to_owned())),
                "{k} in {form:?}"
            );
        }

        // Bad requests never reach the issuer.
        for bad in [
            "[]",
            "not json",
            "{}",
            r#"{"deviceToken":5}"#,
            r#"{"deviceToken":"  "}"#,
            r#"{"deviceToken":"t","clientId":"app_other"}"#,
        ] {
            let (status, body, _) = post(service.clone(), bad).await;
            assert_eq!(
                (status, body["error"].as_str()),
                (400, Some("invalid_request")),
                "{bad}"
            );
        }
        assert_eq!(
            seen.lock().unwrap().len(),
            1,
            "bad requests never reach the issuer"
        );
    }

    fn url_decode_pairs(form: &str) -> Vec<(String, String)> {
        form.split('&')
            .filter_map(|pair| pair.split_once('='))
            .map(|(k, v)| (decode(k), decode(v)))
            .collect()
    }

    fn decode(s: &str) -> String {
        let bytes = s.replace('+', " ").into_bytes();
        let mut out = Vec::new();
        let mut i = 0;
        while i < bytes.len() {
            if bytes[i] == b'%' && i + 2 < bytes.len() {
                let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap();
                out.push(u8::from_str_radix(hex, 16).unwrap());
                i += 3;
            } else {
                out.push(bytes[i]);
                i += 1;
            }
        }
        String::from_utf8(out).unwrap()
    }

    #[tokio::test]
    async fn api_key_exchange_refuses_client_secrets_and_passes_refusals_on() {
        let (base, seen) = issuer((
            402,
            serde_json::json!({"error": "insufficient_allowance", "error_description": "balance exhausted"}),
        ))
        .await;
        let service = ApiKeyExchange::new(tollhouse(&base));
        let (status, body, _) = post(service.clone(), r#"{"apiKey":"pmth_cs_abc"}"#).await;
        assert_eq!(
            (status, body["error"].as_str()),
            (400, Some("invalid_request"))
        );
        let (status, body, _) = post(
            service.clone(),
            r#"{"apiKey":"app_0123456789abcdef01234567_pmth_cs_abc"}"#,
        )
        .await;
        assert_eq!(
            (status, body["error"].as_str()),
            (400, Some("invalid_request"))
        );
        assert!(seen.lock().unwrap().is_empty(), "secrets are never sent");

        let (status, body, _) = post(
            service.clone(),
            r#"{"apiKey":"pmth_ak_abc","scope":"sign:job"}"#,
        )
        .await;
        assert_eq!(status, 402);
        assert_eq!(
            body,
            serde_json::json!({"error": "insufficient_allowance", "error_description": "balance exhausted"})
        );
        let seen = seen.lock().unwrap().clone();
        assert_eq!(
            seen[0].0,
            "/api/v1/apps/app_0123456789abcdef01234567/oidc/token"
        );
        let form = url_decode_pairs(&seen[0].2);
        assert!(form.contains(&("subject_token".into(), "pmth_ak_abc".into())));
        assert!(form.contains(&("subject_token_type".into(), API_KEY_TOKEN_TYPE.into())));

        // An issuer that fails is a 502, not the issuer's 5xx.
        let (base, _) = issuer((500, serde_json::json!({"error": "boom"}))).await;
        let (status, body, _) = post(
            ApiKeyExchange::new(tollhouse(&base)),
            r#"{"apiKey":"pmth_ak_x"}"#,
        )
        .await;
        assert_eq!(
            (status, body["error"].as_str()),
            (502, Some("issuer_unavailable"))
        );
        // A success without the fields a client needs is not passed on.
        let (base, _) = issuer((200, serde_json::json!({"token_type": "Bearer"}))).await;
        let (status, _, _) = post(
            ApiKeyExchange::new(tollhouse(&base)),
            r#"{"apiKey":"pmth_ak_x"}"#,
        )
        .await;
        assert_eq!(status, 502);
    }
}
