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
//! The calls to the issuer are a [`SignerExchange`]; the [`Client`](crate::Client) is one (with
//! the app's public client id and M2M credentials).

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

impl From<crate::Error> for ExchangeError {
    /// An error status of 4xx is the issuer's refusal; anything else means the issuer could not
    /// be used.
    fn from(err: crate::Error) -> Self {
        match err {
            crate::Error::Api(api) if (400..500).contains(&api.status) => Self::Refused {
                status: api.status,
                description: api.description.unwrap_or_else(|| api.code.clone()),
                code: api.code,
            },
            other => Self::Unavailable(other.to_string()),
        }
    }
}

impl From<tollhouse_api::oauth::SignerSession> for SignerGrant {
    fn from(session: tollhouse_api::oauth::SignerSession) -> Self {
        Self {
            access_token: session.access_token,
            expires_in: u64::try_from(session.expires_in).unwrap_or(0),
            scope: session.scope,
            balance_usd_micros: session.balance_usd_micros.to_string(),
            lifetime_granted_usd_micros: session.lifetime_granted_usd_micros.to_string(),
            signer_url: session.signer_url,
        }
    }
}

/// The [`Client`](crate::Client) (with its public client id and M2M credentials) makes the
/// exchanges: a device token for a signer JWT
/// ([`exchange_user_token`](crate::Client::exchange_user_token) with `resource` = issuer), an API
/// key for a signer session ([`exchange_api_key`](crate::Client::exchange_api_key)).
///
/// ```
/// use tollhouse_sdk::Client;
/// use tollhouse_sdk::exchange::{ApiKeyExchange, DeviceExchange};
/// let client = Client::builder("https://auth.example.com/api/v1/oidc")
///     .public_client_id("app_0123456789abcdef01234567")
///     .m2m_credentials("m2m_0123456789abcdef01234567", "pmth_cs_…")
///     .build()?;
/// let app: axum::Router = axum::Router::new()
///     .route_service("/api/signer/device/exchange", DeviceExchange::new(client.clone()))
///     .route_service("/api/pymthouse/keys/exchange", ApiKeyExchange::new(client));
/// # let _ = app;
/// # Ok::<(), tollhouse_sdk::Error>(())
/// ```
impl SignerExchange for crate::Client {
    fn public_client_id(&self) -> &str {
        crate::Client::public_client_id(self).unwrap_or_default()
    }

    fn exchange_device_token<'a>(
        &'a self,
        device_token: &'a str,
        scope: Option<&'a str>,
    ) -> ExchangeFuture<'a> {
        Box::pin(async move {
            let session = self
                .exchange_user_token(device_token, crate::SignerCredential::Jwt, scope)
                .await?;
            Ok(session.into())
        })
    }

    fn exchange_api_key<'a>(
        &'a self,
        api_key: &'a str,
        scope: Option<&'a str>,
    ) -> ExchangeFuture<'a> {
        Box::pin(async move {
            let session = crate::Client::exchange_api_key(self, api_key, scope).await?;
            Ok(session.into())
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
        self.answer(result)
    }

    /// The response for the exchange's outcome: the grant, or the issuer's refusal as a 4xx,
    /// or 502 when the issuer could not be asked.
    fn answer(&self, result: Result<SignerGrant, ExchangeError>) -> Response<Full<Bytes>> {
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
    /// use tollhouse_sdk::Client;
    /// use tollhouse_sdk::exchange::DeviceExchange;
    /// let client = Client::builder("https://tollhouse.example/api/v1/oidc")
    ///     .public_client_id("app_0123456789abcdef01234567")
    ///     .m2m_credentials("m2m_0123456789abcdef01234567", "pmth_cs_…")
    ///     .build()?;
    /// let app: axum::Router = axum::Router::new().route_service(
    ///     "/api/signer/device/exchange",
    ///     DeviceExchange::new(client).signer_url("https://signer.example"),
    /// );
    /// # let _ = app;
    /// # Ok::<(), tollhouse_sdk::Error>(())
    /// ```
    DeviceExchange,
    Kind::Device
);

exchange_service!(
    /// `POST /api/pymthouse/keys/exchange` `{apiKey, scope?, clientId?}` → a signer session, as
    /// a `tower::Service`. Client secrets (`pmth_cs_…`) are refused with 400 before any call.
    ///
    /// ```
    /// use tollhouse_sdk::Client;
    /// use tollhouse_sdk::exchange::ApiKeyExchange;
    /// let client = Client::builder("https://tollhouse.example/api/v1/oidc")
    ///     .public_client_id("app_0123456789abcdef01234567")
    ///     .m2m_credentials("m2m_0123456789abcdef01234567", "pmth_cs_…")
    ///     .build()?;
    /// let app: axum::Router =
    ///     axum::Router::new().route_service("/api/pymthouse/keys/exchange", ApiKeyExchange::new(client));
    /// # let _ = app;
    /// # Ok::<(), tollhouse_sdk::Error>(())
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

    const APP: &str = "app_0123456789abcdef01234567";

    /// Records every exchange asked for and answers what the test scripted.
    struct FakeIssuer {
        calls: Mutex<Vec<(&'static str, String, Option<String>)>>,
        answer: Result<SignerGrant, ExchangeError>,
    }

    impl FakeIssuer {
        fn answering(answer: Result<SignerGrant, ExchangeError>) -> Arc<Self> {
            Arc::new(Self {
                calls: Mutex::default(),
                answer,
            })
        }
        fn calls(&self) -> Vec<(&'static str, String, Option<String>)> {
            self.calls.lock().unwrap().clone()
        }
    }

    impl SignerExchange for FakeIssuer {
        fn public_client_id(&self) -> &str {
            APP
        }
        fn exchange_device_token<'a>(
            &'a self,
            device_token: &'a str,
            scope: Option<&'a str>,
        ) -> ExchangeFuture<'a> {
            self.calls.lock().unwrap().push((
                "device",
                device_token.to_owned(),
                scope.map(str::to_owned),
            ));
            Box::pin(std::future::ready(self.answer.clone()))
        }
        fn exchange_api_key<'a>(
            &'a self,
            api_key: &'a str,
            scope: Option<&'a str>,
        ) -> ExchangeFuture<'a> {
            self.calls.lock().unwrap().push((
                "api_key",
                api_key.to_owned(),
                scope.map(str::to_owned),
            ));
            Box::pin(std::future::ready(self.answer.clone()))
        }
    }

    fn grant(signer_url: Option<&str>) -> SignerGrant {
        SignerGrant {
            access_token: "eyJ.signer.jwt".into(),
            expires_in: 300,
            scope: "sign:job".into(),
            balance_usd_micros: "5000000".into(),
            lifetime_granted_usd_micros: "6000000".into(),
            signer_url: signer_url.map(str::to_owned),
        }
    }

    async fn post<S>(service: S, method: Method, body: &str) -> (u16, Value, Option<String>)
    where
        S: tower::Service<
                Request<Full<Bytes>>,
                Response = Response<Full<Bytes>>,
                Error = Infallible,
            >,
    {
        let request = Request::builder()
            .method(method)
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
    async fn device_exchange_shapes_the_answer_and_refuses_bad_requests() {
        let issuer = FakeIssuer::answering(Ok(grant(None)));
        let service = DeviceExchange::new(issuer.clone()).signer_url("https://signer.test");
        let (status, body, cache) = post(
            service.clone(),
            Method::POST,
            &format!(
                r#"{{"deviceToken":" user.jwt.here ","scope":"sign:job","clientId":"{APP}"}}"#
            ),
        )
        .await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(cache.as_deref(), Some("no-store"));
        assert_eq!(
            body,
            serde_json::json!({"access_token": "eyJ.signer.jwt", "token_type": "Bearer",
                "expires_in": 300, "scope": "sign:job", "balanceUsdMicros": "5000000",
                "lifetimeGrantedUsdMicros": "6000000", "issued_token_type": ACCESS_TOKEN_TYPE,
                "signer_url": "https://signer.test"})
        );
        assert_eq!(
            issuer.calls(),
            vec![(
                "device",
                "user.jwt.here".to_owned(),
                Some("sign:job".to_owned())
            )]
        );
        // The issuer's signer_url wins over the configured one.
        let named = DeviceExchange::new(FakeIssuer::answering(Ok(grant(Some("https://dmz.test")))))
            .signer_url("https://signer.test");
        let (_, body, _) = post(named, Method::POST, r#"{"deviceToken":"t"}"#).await;
        assert_eq!(body["signer_url"], "https://dmz.test");

        // Bad requests never reach the issuer.
        for bad in [
            "[]",
            "not json",
            "{}",
            r#"{"deviceToken":5}"#,
            r#"{"deviceToken":"  "}"#,
            r#"{"deviceToken":"t","scope":["a"]}"#,
            r#"{"deviceToken":"t","clientId":"app_other"}"#,
        ] {
            let (status, body, _) = post(service.clone(), Method::POST, bad).await;
            assert_eq!(
                (status, body["error"].as_str()),
                (400, Some("invalid_request")),
                "{bad}"
            );
        }
        let (status, body, _) = post(service.clone(), Method::GET, "").await;
        assert_eq!(
            (status, body["error"].as_str()),
            (405, Some("method_not_allowed"))
        );
        let huge = format!(r#"{{"deviceToken":"{}"}}"#, "a".repeat(20 * 1024));
        assert_eq!(post(service.clone(), Method::POST, &huge).await.0, 413);
        assert_eq!(
            issuer.calls().len(),
            1,
            "bad requests never reach the issuer"
        );
    }

    #[tokio::test]
    async fn api_key_exchange_refuses_client_secrets_and_passes_refusals_on() {
        let issuer = FakeIssuer::answering(Err(ExchangeError::Refused {
            status: 402,
            code: "insufficient_allowance".into(),
            description: "balance exhausted".into(),
        }));
        let service = ApiKeyExchange::new(issuer.clone());
        for secret in [
            r#"{"apiKey":"pmth_cs_abc"}"#,
            r#"{"apiKey":"app_0123456789abcdef01234567_pmth_cs_abc"}"#,
        ] {
            let (status, body, _) = post(service.clone(), Method::POST, secret).await;
            assert_eq!(
                (status, body["error"].as_str()),
                (400, Some("invalid_request"))
            );
        }
        assert!(issuer.calls().is_empty(), "secrets are never sent");

        let (status, body, _) = post(
            service.clone(),
            Method::POST,
            r#"{"apiKey":"pmth_ak_abc","scope":"sign:job"}"#,
        )
        .await;
        assert_eq!(status, 402);
        assert_eq!(
            body,
            serde_json::json!({"error": "insufficient_allowance", "error_description": "balance exhausted"})
        );
        assert_eq!(
            issuer.calls(),
            vec![(
                "api_key",
                "pmth_ak_abc".to_owned(),
                Some("sign:job".to_owned())
            )]
        );

        // An issuer that cannot be used is a 502 whose cause stays in the log.
        let down = ApiKeyExchange::new(FakeIssuer::answering(Err(ExchangeError::Unavailable(
            "connect to 10.0.0.7 refused".into(),
        ))));
        let (status, body, _) = post(down, Method::POST, r#"{"apiKey":"pmth_ak_x"}"#).await;
        assert_eq!(
            (status, body["error"].as_str()),
            (502, Some("issuer_unavailable"))
        );
        assert!(!body.to_string().contains("10.0.0.7"));
        // A refusal with a status that is not a client error is never passed on as a success.
        let odd = ApiKeyExchange::new(FakeIssuer::answering(Err(ExchangeError::Refused {
            status: 200,
            code: "weird".into(),
            description: "d".into(),
        })));
        assert_eq!(
            post(odd, Method::POST, r#"{"apiKey":"pmth_ak_x"}"#).await.0,
            400
        );
    }

    #[test]
    fn client_errors_map_to_refusals_or_unavailability() {
        let refused = ExchangeError::from(crate::Error::Api(crate::ApiError {
            status: 402,
            code: "insufficient_allowance".into(),
            description: None,
        }));
        assert_eq!(
            refused,
            ExchangeError::Refused {
                status: 402,
                code: "insufficient_allowance".into(),
                description: "insufficient_allowance".into()
            }
        );
        let failed = ExchangeError::from(crate::Error::Api(crate::ApiError {
            status: 503,
            code: "http_503".into(),
            description: None,
        }));
        assert!(matches!(failed, ExchangeError::Unavailable(_)));
    }
}
