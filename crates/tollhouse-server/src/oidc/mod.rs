//! The OIDC issuer surface: discovery, JWKS, the token endpoint, introspection and revocation.

pub mod client_auth;
pub mod device;
mod discovery;
pub mod error;
mod exchange;
mod facades;
mod grants;
mod introspection;
pub mod mint;
mod mint_for_user;
mod params;
mod refresh;
mod revocation;
pub mod verify;

use crate::state::AppState;
use axum::Router;
use axum::routing::{get, post};

/// Path prefix of the issuer below the public base URL.
pub const ISSUER_PATH: &str = "/api/v1/oidc";

/// The issuer's routes, mounted at the server root.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route(
            "/.well-known/openid-configuration",
            get(discovery::document),
        )
        .route(
            "/.well-known/oauth-authorization-server",
            get(discovery::document),
        )
        .route(
            "/api/v1/oidc/.well-known/openid-configuration",
            get(discovery::document),
        )
        .route(
            "/api/v1/oidc/.well-known/oauth-authorization-server",
            get(discovery::document),
        )
        .route("/api/v1/oidc/jwks", get(discovery::jwks))
        .route("/api/v1/oidc/token", post(grants::token))
        .route(
            "/api/v1/oidc/token/introspection",
            post(introspection::introspect),
        )
        .route("/api/v1/oidc/token/revocation", post(revocation::revoke))
        .route(
            "/api/v1/apps/{client_id}/oidc/token",
            post(facades::app_token),
        )
        .route(
            "/api/pymthouse/keys/exchange",
            post(facades::api_key_exchange),
        )
        .route(
            "/api/signer/device/exchange",
            post(facades::device_exchange),
        )
        .route("/api/v1/oidc/device/auth", post(device::authorize))
}
