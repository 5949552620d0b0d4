//! A minimal integrator backend on axum: it signs in its own users (here, naively, by an
//! `X-Demo-User` header), mints signer tokens for them through Tollhouse (cached per user),
//! proxies their signing requests to the remote signer, serves the device and API-key exchange
//! facades, and answers go-livepeer's identity webhook with a balance gate.
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
use tollhouse_sdk::Client;
use tollhouse_sdk::exchange::{ApiKeyExchange, DeviceExchange};
use tollhouse_sdk::proxy::SignerProxy;
use tollhouse_sdk::token_manager::SignerTokenManager;
use tollhouse_sdk::webhook::{
    CompositeVerifier, IdentityWebhook, IntrospectionVerifier, OidcVerifier,
};

/// The backend's own sign-in, reduced to a header for the example.
fn signed_in_user(headers: &HeaderMap) -> Option<String> {
    headers
        .get("x-demo-user")
        .and_then(|v| v.to_str().ok())
        .filter(|v| !v.is_empty())
        .map(str::to_owned)
}

/// `GET /api/signer-token`: the signed-in user's signer JWT (cached, refreshed at 80 % of its
/// 5 minutes). A prepaid user without balance gets 402.
async fn signer_token(
    State(tokens): State<SignerTokenManager<Client>>,
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

fn env(name: &str) -> Result<String, String> {
    std::env::var(name).map_err(|_| format!("set {name}"))
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let client = Client::builder(env("TOLLHOUSE_ISSUER")?)
        .public_client_id(env("TOLLHOUSE_CLIENT_ID")?)
        .m2m_credentials(
            env("TOLLHOUSE_M2M_CLIENT_ID")?,
            env("TOLLHOUSE_M2M_CLIENT_SECRET")?,
        )
        .build()?;
    let webhook_secret = env("WEBHOOK_SECRET")?;
    let signer_url = env("SIGNER_URL")?;
    let listen = std::env::var("LISTEN").unwrap_or_else(|_| "127.0.0.1:3000".into());
    let m2m_id = env("TOLLHOUSE_M2M_CLIENT_ID")?;
    let m2m_secret = env("TOLLHOUSE_M2M_CLIENT_SECRET")?;

    // One signer token per user, minted by the Client (`sign:mint_user_token`).
    let tokens = SignerTokenManager::new(client.clone());
    // The users' signing requests, forwarded to the signer with their tokens.
    let proxy = SignerProxy::builder(signer_url.clone(), tokens.clone())
        .authenticate(|parts: &axum::http::request::Parts| {
            let user = signed_in_user(&parts.headers);
            async move { user }
        })
        .build();
    // go-livepeer's identity webhook: Tollhouse JWTs checked locally, API keys and signer
    // sessions by introspection; payments gated on the user's balance.
    let webhook = IdentityWebhook::builder(
        webhook_secret,
        CompositeVerifier::new()
            .with(OidcVerifier::tollhouse(client.issuer()))
            .with(IntrospectionVerifier::new(
                client.issuer(),
                m2m_id,
                m2m_secret,
            )),
    )
    .balance_hook(client.clone())
    .build();

    let app = axum::Router::new()
        .route("/api/signer-token", get(signer_token))
        .with_state(tokens)
        .nest_service("/signer", proxy)
        .route_service("/authorize", webhook)
        .route_service(
            "/api/signer/device/exchange",
            DeviceExchange::new(client.clone()).signer_url(signer_url.clone()),
        )
        .route_service(
            "/api/pymthouse/keys/exchange",
            ApiKeyExchange::new(client).signer_url(signer_url),
        );
    let listener = tokio::net::TcpListener::bind(&listen).await?;
    println!("integrator backend on http://{}", listener.local_addr()?);
    axum::serve(listener, app).await?;
    Ok(())
}
