//! The signer integration: the identity webhook go-livepeer's remote signer calls for every
//! payment, the signer proxy in front of go-livepeer, and the Live AI stream auth webhook.

pub mod external;
pub mod identity;
pub mod live_ai;
pub mod policy;
pub mod proxy;
mod state;
pub mod webhook;

pub use state::{SignerShared, SignerState};

use crate::StartError;
use crate::state::AppState;
use axum::extract::DefaultBodyLimit;
use tollhouse_core::webhook::MAX_WEBHOOK_BODY_BYTES;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

/// The webhook routes (each with its own 64 KiB body cap, whatever the global limit).
pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(webhook::remote_signer))
        .routes(routes!(webhook::authorize))
        .routes(routes!(live_ai::authenticate_stream))
        .layer(DefaultBodyLimit::max(MAX_WEBHOOK_BODY_BYTES))
}

/// The outbound HTTP client: rustls, no redirects (an upstream's redirect is passed through,
/// never followed), bounded connect time.
pub fn http_client() -> Result<reqwest::Client, StartError> {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .connect_timeout(std::time::Duration::from_secs(5))
        .pool_idle_timeout(std::time::Duration::from_secs(60))
        .user_agent(concat!("tollhouse/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|e| StartError::HttpClient(e.to_string()))
}
