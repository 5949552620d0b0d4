//! [`Client`]: the Builder API and the OIDC flows of one app, against a Tollhouse (or
//! PymtHouse-compatible) issuer.
//!
//! One `Client` serves one app: its public client id (`app_…`) names the Builder routes, and
//! its M2M credentials (`m2m_…` + `pmth_cs_…`) authenticate them with HTTP Basic. Cloning is
//! cheap (the HTTP connection pool and the discovery cache are shared).

mod builder_api;
mod oauth;

pub use builder_api::{ManifestFetch, TaggedManifest, Upserted};
pub use oauth::SignerCredential;

use crate::error::{ApiError, Error};
use reqwest::header::{ACCEPT, HeaderMap};
use reqwest::{Method, RequestBuilder, StatusCode, Url};
use serde::de::DeserializeOwned;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tollhouse_api::oauth::ProviderMetadata;

/// How long a discovery document is reused by default.
pub const DEFAULT_DISCOVERY_TTL: Duration = Duration::from_secs(300);

/// The environment variables [`Client::from_env`] reads.
pub const ENV_VARS: [&str; 4] = [
    "PYMTHOUSE_ISSUER_URL",
    "PYMTHOUSE_PUBLIC_CLIENT_ID",
    "PYMTHOUSE_M2M_CLIENT_ID",
    "PYMTHOUSE_M2M_CLIENT_SECRET",
];

/// A client of one app's Builder API and of its issuer's OIDC endpoints.
///
/// ```
/// use tollhouse_sdk::Client;
/// let client = Client::builder("https://auth.example.com/api/v1/oidc/")
///     .public_client_id("app_0123456789abcdef01234567")
///     .m2m_credentials("m2m_0123456789abcdef01234567", "pmth_cs_secret")
///     .build()
///     .unwrap();
/// // Trailing slashes are dropped: the issuer must match the discovery document exactly.
/// assert_eq!(client.issuer(), "https://auth.example.com/api/v1/oidc");
/// assert_eq!(client.public_client_id(), Some("app_0123456789abcdef01234567"));
/// ```
#[derive(Clone, Debug)]
pub struct Client {
    inner: Arc<Inner>,
}

struct Inner {
    http: reqwest::Client,
    issuer: String,
    /// Where `/api/v1/…` lives: the issuer without `/api/v1/oidc`.
    base: String,
    public_client_id: Option<String>,
    m2m: Option<M2m>,
    discovery_ttl: Duration,
    discovery: Mutex<Option<(Instant, Arc<ProviderMetadata>)>>,
}

impl std::fmt::Debug for Inner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("issuer", &self.issuer)
            .field("public_client_id", &self.public_client_id)
            .field("m2m_client_id", &self.m2m.as_ref().map(|m| &m.id))
            .finish_non_exhaustive()
    }
}

struct M2m {
    id: String,
    secret: String,
}

/// Configures a [`Client`]; see [`Client::builder`].
#[derive(Debug)]
#[must_use]
pub struct ClientBuilder {
    issuer: String,
    public_client_id: Option<String>,
    m2m: Option<(String, Redacted)>,
    http: Option<reqwest::Client>,
    timeout: Duration,
    discovery_ttl: Duration,
}

struct Redacted(String);

impl std::fmt::Debug for Redacted {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("<redacted>")
    }
}

impl ClientBuilder {
    /// The app's public client id (`app_…`): needed by every Builder call, the device flow and
    /// the API-key exchange.
    pub fn public_client_id(mut self, id: impl Into<String>) -> Self {
        self.public_client_id = Some(id.into());
        self
    }

    /// The app's M2M client id (`m2m_…`) and secret (`pmth_cs_…`): needed by every Builder call
    /// and by the token grants that act for the app.
    pub fn m2m_credentials(mut self, id: impl Into<String>, secret: impl Into<String>) -> Self {
        self.m2m = Some((id.into(), Redacted(secret.into())));
        self
    }

    /// The HTTP client to use (proxies, custom roots, …). The default has a 30 s timeout, uses
    /// rustls, and follows no redirects, so credentials never leave for another host.
    pub fn http_client(mut self, http: reqwest::Client) -> Self {
        self.http = Some(http);
        self
    }

    /// Timeout of each request with the default HTTP client [default: 30 s].
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// How long the discovery document is reused [default: 5 minutes].
    pub fn discovery_ttl(mut self, ttl: Duration) -> Self {
        self.discovery_ttl = ttl;
        self
    }

    /// The client, or [`Error::Config`] when the issuer is not an absolute `http(s)` URL.
    pub fn build(self) -> Result<Client, Error> {
        let issuer = self.issuer.trim().trim_end_matches('/').to_owned();
        let url = Url::parse(&issuer)
            .map_err(|e| Error::Config(format!("issuer URL `{issuer}`: {e}")))?;
        if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
            return Err(Error::Config(format!(
                "issuer URL `{issuer}` must be an absolute http(s) URL"
            )));
        }
        let base = match issuer.strip_suffix("/api/v1/oidc") {
            Some(base) => base.to_owned(),
            None => url.origin().ascii_serialization(),
        };
        let http = match self.http {
            Some(http) => http,
            None => reqwest::Client::builder()
                .timeout(self.timeout)
                .redirect(reqwest::redirect::Policy::none())
                .user_agent(concat!("tollhouse-sdk/", env!("CARGO_PKG_VERSION")))
                .build()
                .map_err(|e| Error::Config(format!("HTTP client: {e}")))?,
        };
        Ok(Client {
            inner: Arc::new(Inner {
                http,
                issuer,
                base,
                public_client_id: self.public_client_id,
                m2m: self.m2m.map(|(id, secret)| M2m {
                    id,
                    secret: secret.0,
                }),
                discovery_ttl: self.discovery_ttl,
                discovery: Mutex::new(None),
            }),
        })
    }
}

impl Client {
    /// A builder for a client of the issuer at `issuer_url` (`<base>/api/v1/oidc`).
    pub fn builder(issuer_url: impl Into<String>) -> ClientBuilder {
        ClientBuilder {
            issuer: issuer_url.into(),
            public_client_id: None,
            m2m: None,
            http: None,
            timeout: Duration::from_secs(30),
            discovery_ttl: DEFAULT_DISCOVERY_TTL,
        }
    }

    /// A client configured from the environment, as the npm SDK reads it:
    /// `PYMTHOUSE_ISSUER_URL` (required), `PYMTHOUSE_PUBLIC_CLIENT_ID`,
    /// `PYMTHOUSE_M2M_CLIENT_ID` and `PYMTHOUSE_M2M_CLIENT_SECRET` (both or neither).
    ///
    /// ```no_run
    /// # async fn run() -> Result<(), tollhouse_sdk::Error> {
    /// let client = tollhouse_sdk::Client::from_env()?;
    /// let app = client.app().await?;
    /// println!("{} ({})", app.name, app.client_id);
    /// # Ok(()) }
    /// ```
    pub fn from_env() -> Result<Self, Error> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// [`Client::from_env`] with the variables looked up by `lookup` (for tests, or another
    /// source of configuration).
    ///
    /// ```
    /// use std::collections::HashMap;
    /// let vars = HashMap::from([
    ///     ("PYMTHOUSE_ISSUER_URL", "http://127.0.0.1:8080/api/v1/oidc"),
    ///     ("PYMTHOUSE_PUBLIC_CLIENT_ID", "app_0123456789abcdef01234567"),
    /// ]);
    /// let client = tollhouse_sdk::Client::from_lookup(|name| vars.get(name).map(|v| v.to_string()))
    ///     .unwrap();
    /// assert_eq!(client.issuer(), "http://127.0.0.1:8080/api/v1/oidc");
    ///
    /// let missing = tollhouse_sdk::Client::from_lookup(|_| None).unwrap_err();
    /// assert!(missing.to_string().contains("PYMTHOUSE_ISSUER_URL"));
    /// ```
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, Error> {
        let get = |name: &str| lookup(name).filter(|v| !v.trim().is_empty());
        let issuer = get("PYMTHOUSE_ISSUER_URL")
            .ok_or_else(|| Error::Config("PYMTHOUSE_ISSUER_URL is not set".into()))?;
        let mut builder = Self::builder(issuer);
        if let Some(id) = get("PYMTHOUSE_PUBLIC_CLIENT_ID") {
            builder = builder.public_client_id(id);
        }
        match (
            get("PYMTHOUSE_M2M_CLIENT_ID"),
            get("PYMTHOUSE_M2M_CLIENT_SECRET"),
        ) {
            (Some(id), Some(secret)) => builder = builder.m2m_credentials(id, secret),
            (None, None) => {}
            _ => {
                return Err(Error::Config(
                    "set both PYMTHOUSE_M2M_CLIENT_ID and PYMTHOUSE_M2M_CLIENT_SECRET, or neither"
                        .into(),
                ));
            }
        }
        builder.build()
    }

    /// The issuer identifier (no trailing slash).
    pub fn issuer(&self) -> &str {
        &self.inner.issuer
    }

    /// The app's public client id, if configured.
    pub fn public_client_id(&self) -> Option<&str> {
        self.inner.public_client_id.as_deref()
    }

    /// The issuer's discovery document, fetched from
    /// `{issuer}/.well-known/openid-configuration` and reused for the discovery TTL. Its
    /// `issuer` must equal [`Client::issuer`] exactly, or [`Error::Discovery`].
    ///
    /// ```no_run
    /// # async fn run(client: tollhouse_sdk::Client) -> Result<(), tollhouse_sdk::Error> {
    /// let doc = client.discovery().await?;
    /// assert_eq!(doc.issuer, client.issuer());
    /// # Ok(()) }
    /// ```
    pub async fn discovery(&self) -> Result<Arc<ProviderMetadata>, Error> {
        if let Some(doc) = self.cached_discovery() {
            return Ok(doc);
        }
        let url = format!("{}/.well-known/openid-configuration", self.inner.issuer);
        let request = self.inner.http.get(&url).header(ACCEPT, "application/json");
        let (_, _, doc): (_, _, ProviderMetadata) = self.send(request).await?;
        if doc.issuer != self.inner.issuer {
            return Err(Error::Discovery(format!(
                "the document names issuer `{}`, not `{}`",
                doc.issuer, self.inner.issuer
            )));
        }
        let doc = Arc::new(doc);
        if let Ok(mut cache) = self.inner.discovery.lock() {
            *cache = Some((Instant::now(), doc.clone()));
        }
        Ok(doc)
    }

    fn cached_discovery(&self) -> Option<Arc<ProviderMetadata>> {
        let cache = self.inner.discovery.lock().ok()?;
        let (at, doc) = cache.as_ref()?;
        (at.elapsed() < self.inner.discovery_ttl).then(|| doc.clone())
    }

    fn m2m(&self) -> Result<&M2m, Error> {
        self.inner.m2m.as_ref().ok_or_else(|| {
            Error::Config("this call needs the app's M2M client id and secret".into())
        })
    }

    fn client_id(&self) -> Result<&str, Error> {
        self.public_client_id().ok_or_else(|| {
            Error::Config("this call needs the app's public client id (`app_…`)".into())
        })
    }

    /// `<base>/api/v1/<segments…>`, each segment percent-encoded.
    fn api_url(&self, segments: &[&str]) -> Result<Url, Error> {
        let mut url = Url::parse(&format!("{}/api/v1", self.inner.base))
            .map_err(|e| Error::Config(format!("base URL: {e}")))?;
        url.path_segments_mut()
            .map_err(|()| Error::Config("the issuer URL cannot have path segments".into()))?
            .extend(segments);
        Ok(url)
    }

    /// A Builder request for `A/<segments…>` with the app's M2M credentials.
    fn builder_request(&self, method: Method, segments: &[&str]) -> Result<RequestBuilder, Error> {
        let m2m = self.m2m()?;
        let mut all = vec!["apps", self.client_id()?];
        all.extend_from_slice(segments);
        let url = self.api_url(&all)?;
        Ok(self
            .inner
            .http
            .request(method, url)
            .basic_auth(&m2m.id, Some(&m2m.secret))
            .header(ACCEPT, "application/json"))
    }

    /// Sends `request`; an error status becomes [`Error::Api`], a success body that is not a
    /// `T` [`Error::InvalidResponse`].
    async fn send<T: DeserializeOwned>(
        &self,
        request: RequestBuilder,
    ) -> Result<(StatusCode, HeaderMap, T), Error> {
        let response = request.send().await?;
        self.read(response).await
    }

    /// Reads an answer: an error status becomes [`Error::Api`], a success body that is not a
    /// `T` [`Error::InvalidResponse`].
    async fn read<T: DeserializeOwned>(
        &self,
        response: reqwest::Response,
    ) -> Result<(StatusCode, HeaderMap, T), Error> {
        let status = response.status();
        let headers = response.headers().clone();
        let body = response.bytes().await?;
        if !status.is_success() {
            return Err(Error::Api(ApiError::from_response(status.as_u16(), &body)));
        }
        let value = serde_json::from_slice(&body).map_err(|e| Error::InvalidResponse {
            status: status.as_u16(),
            message: e.to_string(),
        })?;
        Ok((status, headers, value))
    }

    /// [`Client::send`] keeping only the body.
    async fn send_body<T: DeserializeOwned>(&self, request: RequestBuilder) -> Result<T, Error> {
        self.send(request).await.map(|(_, _, body)| body)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn builder_paths_are_percent_encoded_under_the_issuer_base() {
        let client = Client::builder("https://auth.example.com/api/v1/oidc")
            .public_client_id("app_1")
            .m2m_credentials("m2m_1", "pmth_cs_1")
            .build()
            .unwrap();
        let url = client
            .api_url(&["apps", "app_1", "users", "a b/c", "token"])
            .unwrap();
        assert_eq!(
            url.as_str(),
            "https://auth.example.com/api/v1/apps/app_1/users/a%20b%2Fc/token"
        );
        // An issuer not at `/api/v1/oidc`: the API is at the origin.
        let other = Client::builder("https://auth.example.com/oidc")
            .build()
            .unwrap();
        assert_eq!(
            other.api_url(&["user", "usage"]).unwrap().as_str(),
            "https://auth.example.com/api/v1/user/usage"
        );
    }

    #[test]
    fn configuration_errors_are_reported() {
        assert!(matches!(
            Client::builder("not a url").build(),
            Err(Error::Config(_))
        ));
        assert!(matches!(
            Client::builder("ftp://example.com").build(),
            Err(Error::Config(_))
        ));
        let half = Client::from_lookup(|name| match name {
            "PYMTHOUSE_ISSUER_URL" => Some("https://a.example".into()),
            "PYMTHOUSE_M2M_CLIENT_ID" => Some("m2m_1".into()),
            _ => None,
        });
        assert!(matches!(half, Err(Error::Config(_))));
        let client = Client::builder("https://a.example").build().unwrap();
        assert!(matches!(client.m2m(), Err(Error::Config(_))));
        assert!(matches!(client.client_id(), Err(Error::Config(_))));
        let debug = format!(
            "{:?}",
            Client::builder("https://a.example").m2m_credentials("m2m_1", "pmth_cs_hidden")
        );
        assert!(!debug.contains("pmth_cs_hidden"), "{debug}");
    }
}
