//! `/.well-known/openid-configuration` (and RFC 8414's name for it) and the JWKS.

use crate::state::AppState;
use axum::extract::State;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;
use tollhouse_core::scope::KNOWN_SCOPES;

/// The grant types the token endpoint accepts today.
pub const GRANT_TYPES: &[&str] = &[
    "client_credentials",
    "refresh_token",
    "urn:ietf:params:oauth:grant-type:token-exchange",
];

/// Provider metadata. Only endpoints that exist are advertised.
pub async fn document(State(state): State<AppState>) -> Response {
    let issuer = &state.issuer;
    let alg = state.keyring.snapshot().current.alg().as_str();
    let body = json!({
        "issuer": issuer,
        "token_endpoint": format!("{issuer}/token"),
        "jwks_uri": format!("{issuer}/jwks"),
        "introspection_endpoint": format!("{issuer}/token/introspection"),
        "revocation_endpoint": format!("{issuer}/token/revocation"),
        "device_authorization_endpoint": format!("{issuer}/device/auth"),
        "grant_types_supported": GRANT_TYPES,
        "scopes_supported": KNOWN_SCOPES,
        "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post", "none"],
        "introspection_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
        "revocation_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
        "access_token_signing_alg_values_supported": [alg],
        "response_types_supported": [],
        "subject_types_supported": ["public"],
    });
    let mut response = axum::Json(body).into_response();
    response.headers_mut().insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=300"),
    );
    response
}

/// `{"keys": […]}`: the current key and every retired key that may still verify a live token.
pub async fn jwks(State(state): State<AppState>) -> Response {
    let set = state.keyring.snapshot();
    (
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/jwk-set+json"),
            ),
            // Short, so relying parties see a rotation quickly; they also refetch on unknown kid.
            (
                header::CACHE_CONTROL,
                HeaderValue::from_static("public, max-age=60"),
            ),
        ],
        axum::body::Bytes::copy_from_slice(&set.jwks),
    )
        .into_response()
}
