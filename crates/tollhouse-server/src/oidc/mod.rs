//! The OIDC issuer surface: discovery, JWKS, the token endpoint, introspection and revocation.

pub mod client_auth;
pub mod device;
mod device_page;
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
mod userinfo;
pub mod verify;

use crate::state::AppState;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

/// Path prefix of the issuer below the public base URL.
pub const ISSUER_PATH: &str = "/api/v1/oidc";

/// The issuer's routes, mounted at the server root. Each path and method comes from the
/// handler's `#[utoipa::path]`.
pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(discovery::root_openid_configuration))
        .routes(routes!(discovery::root_oauth_authorization_server))
        .routes(routes!(discovery::openid_configuration))
        .routes(routes!(discovery::oauth_authorization_server))
        .routes(routes!(discovery::jwks))
        .routes(routes!(grants::token))
        .routes(routes!(introspection::introspect))
        .routes(routes!(revocation::revoke))
        .routes(routes!(facades::app_token))
        .routes(routes!(facades::api_key_exchange))
        .routes(routes!(facades::device_exchange))
        .routes(routes!(device::authorize))
        .routes(routes!(device_page::get, device_page::post))
        .routes(routes!(userinfo::get, userinfo::post))
}

/// A JSON body answered with `Cache-Control: no-store` (RFC 6749 §5.1): the wire types live in
/// `tollhouse-api`, so this wrapper gives them a response.
#[derive(Debug)]
pub struct NoStore<T>(pub T);

impl<T: serde::Serialize> IntoResponse for NoStore<T> {
    fn into_response(self) -> Response {
        no_store(axum::Json(self.0))
    }
}

/// A JSON response that must not be cached (RFC 6749 §5.1).
pub fn no_store(body: impl IntoResponse) -> Response {
    let mut response = body.into_response();
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}
