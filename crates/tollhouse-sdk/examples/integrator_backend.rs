//! A minimal integrator backend on axum: it signs in its own users (here, naively, by an
//! `X-Demo-User` header), mints signer tokens for them through Tollhouse, proxies their signing
//! requests to the remote signer, serves the exchange facades, and answers go-livepeer's
//! identity webhook.
//!
//! ```sh
//! # from `tollhouse serve`'s first start (or `tollhouse app create --json`):
//! export TOLLHOUSE_ISSUER=http://127.0.0.1:8080/api/v1/oidc
//! export TOLLHOUSE_CLIENT_ID=app_… TOLLHOUSE_M2M_CLIENT_ID=m2m_… TOLLHOUSE_M2M_CLIENT_SECRET=pmth_cs_…
//! export WEBHOOK_SECRET=$(openssl rand -hex 24)     # also in go-livepeer's -remoteSignerWebhookHeaders
//! export SIGNER_URL=http://127.0.0.1:8935           # go-livepeer -remoteSigner
//! cargo run -p tollhouse-sdk --example integrator_backend
//!
//! curl -s -H 'X-Demo-User: alice' http://127.0.0.1:3000/api/signer-token
//! curl -s -H 'X-Demo-User: alice' -X POST --data-binary @payment.json \
//!      http://127.0.0.1:3000/signer/generate-live-payment
//! ```
//!
//! go-livepeer's signer is then started with
//! `-remoteSignerWebhookUrl http://127.0.0.1:3000/authorize -remoteSignerWebhookHeaders X-Api-Key:$WEBHOOK_SECRET`.

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::get;
use serde_json::{Value, json};
use std::sync::Arc;
use tollhouse_sdk::exchange::{ApiKeyExchange, DeviceExchange, TollhouseExchange};
use tollhouse_sdk::proxy::SignerProxy;
use tollhouse_sdk::token_manager::{MintError, MintSignerToken, MintedToken, SignerTokenManager};
use tollhouse_sdk::webhook::{
    CompositeVerifier, IdentityWebhook, IntrospectionVerifier, OidcVerifier,
};

/// The app's Tollhouse settings.
#[derive(Debug, Clone)]
struct Settings {
    issuer: String,
    client_id: String,
    m2m_client_id: String,
    m2m_client_secret: String,
    webhook_secret: String,
    signer_url: String,
    listen: String,
}

fn env(name: &str) -> Result<String, String> {
    std::env::var(name).map_err(|_| format!("set {name}"))
}

impl Settings {
    fn from_env() -> Result<Self, String> {
        Ok(Self {
            issuer: env("TOLLHOUSE_ISSUER")?,
            client_id: env("TOLLHOUSE_CLIENT_ID")?,
            m2m_client_id: env("TOLLHOUSE_M2M_CLIENT_ID")?,
            m2m_client_secret: env("TOLLHOUSE_M2M_CLIENT_SECRET")?,
            webhook_secret: env("WEBHOOK_SECRET")?,
            signer_url: env("SIGNER_URL")?,
            listen: std::env::var("LISTEN").unwrap_or_else(|_| "127.0.0.1:3000".into()),
        })
    }
}

/// Mints 5-minute signer JWTs for the app's users: `client_credentials` with
/// `scope=sign:mint_user_token` and the user's external id (the user must exist in Tollhouse:
/// `POST /api/v1/apps/{clientId}/users` creates it).
#[derive(Debug, Clone)]
struct TollhouseMinter {
    settings: Settings,
    http: reqwest::Client,
}

impl TollhouseMinter {
    async fn mint_for(&self, external_user_id: &str) -> Result<MintedToken, MintError> {
        let s = &self.settings;
        let response = self
            .http
            .post(format!("{}/token", s.issuer))
            .basic_auth(&s.m2m_client_id, Some(&s.m2m_client_secret))
            .form(&[
                ("grant_type", "client_credentials"),
                ("scope", "sign:mint_user_token"),
                ("external_user_id", external_user_id),
                ("audience", s.issuer.as_str()),
            ])
            .send()
            .await
            .map_err(|e| MintError::Unavailable(e.without_url().to_string()))?;
        let status = response.status().as_u16();
        let body: Value = response
            .json()
            .await
            .map_err(|e| MintError::Unavailable(e.to_string()))?;
        let text = |name: &str| body[name].as_str().unwrap_or_default().to_owned();
        if status != 200 {
            return Err(MintError::Refused {
                status,
                code: text("error"),
                description: text("error_description"),
            });
        }
        let expires_in = body["expires_in"].as_i64().unwrap_or(0);
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs() as i64);
        Ok(MintedToken {
            token: text("access_token"),
            expires_at: now + expires_in,
        })
    }
}

impl MintSignerToken for TollhouseMinter {
    fn mint<'a>(
        &'a self,
        external_user_id: &'a str,
    ) -> tollhouse_sdk::token_manager::MintFuture<'a> {
        Box::pin(self.mint_for(external_user_id))
    }
}

/// The backend's own sign-in, reduced to a header for the example.
fn signed_in_user(headers: &HeaderMap) -> Option<String> {
    headers
        .get("x-demo-user")
        .and_then(|v| v.to_str().ok())
        .filter(|v| !v.is_empty())
        .map(str::to_owned)
}

/// `GET /api/signer-token`: the signed-in user's signer token (cached, refreshed at 80 %).
async fn signer_token(
    State(tokens): State<SignerTokenManager<TollhouseMinter>>,
    headers: HeaderMap,
) -> Result<Json<Value>, (StatusCode, Json<Value>)> {
    let Some(user) = signed_in_user(&headers) else {
        return Err((
            StatusCode::UNAUTHORIZED,
            Json(json!({"error": "sign in first"})),
        ));
    };
    match tokens.token(&user).await {
        Ok(minted) => Ok(Json(
            json!({"access_token": minted.token, "expires_at": minted.expires_at}),
        )),
        Err(err) => {
            let status =
                StatusCode::from_u16(err.http_status()).unwrap_or(StatusCode::SERVICE_UNAVAILABLE);
            Err((status, Json(json!({"error": err.code()}))))
        }
    }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let settings = Settings::from_env()?;
    let http = reqwest::Client::new();

    let tokens = SignerTokenManager::new(TollhouseMinter {
        settings: settings.clone(),
        http: http.clone(),
    });
    let proxy = SignerProxy::builder(settings.signer_url.clone(), tokens.clone())
        .authenticate(|parts: &axum::http::request::Parts| {
            let user = signed_in_user(&parts.headers);
            async move { user }
        })
        .build();
    let webhook = IdentityWebhook::builder(
        settings.webhook_secret.clone(),
        CompositeVerifier::new()
            .with(OidcVerifier::tollhouse(settings.issuer.clone()))
            .with(IntrospectionVerifier::new(
                settings.issuer.clone(),
                settings.m2m_client_id.clone(),
                settings.m2m_client_secret.clone(),
            )),
    )
    .build();
    let exchange = Arc::new(TollhouseExchange::new(
        settings.issuer.clone(),
        settings.client_id.clone(),
        settings.m2m_client_id.clone(),
        settings.m2m_client_secret.clone(),
    ));

    let app = axum::Router::new()
        .route("/api/signer-token", get(signer_token))
        .with_state(tokens)
        .nest_service("/signer", proxy)
        .route_service("/authorize", webhook)
        .route_service(
            "/api/signer/device/exchange",
            DeviceExchange::new(exchange.clone()).signer_url(settings.signer_url.clone()),
        )
        .route_service(
            "/api/pymthouse/keys/exchange",
            ApiKeyExchange::new(exchange).signer_url(settings.signer_url.clone()),
        );
    let listener = tokio::net::TcpListener::bind(&settings.listen).await?;
    println!("integrator backend on http://{}", listener.local_addr()?);
    axum::serve(listener, app).await?;
    Ok(())
}
