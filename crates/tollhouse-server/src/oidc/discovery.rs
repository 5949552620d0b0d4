//! `/.well-known/openid-configuration` (and RFC 8414's name for it) and the JWKS.

use crate::state::AppState;
use axum::extract::State;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use tollhouse_api::oauth::ProviderMetadata;
use tollhouse_core::scope::KNOWN_SCOPES;
use utoipa::ToSchema;

/// The grant types the token endpoint accepts today.
pub const GRANT_TYPES: &[&str] = &[
    "client_credentials",
    "refresh_token",
    "urn:ietf:params:oauth:grant-type:device_code",
    "urn:ietf:params:oauth:grant-type:token-exchange",
];

/// Provider metadata, cacheable for 5 minutes.
async fn document(state: &AppState) -> Response {
    let issuer = &state.issuer;
    let alg = state.keyring.snapshot().current.alg().as_str();
    let strings = |items: &[&str]| items.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();
    let body = ProviderMetadata {
        access_token_signing_alg_values_supported: strings(&[alg]),
        device_authorization_endpoint: Some(format!("{issuer}/device/auth")),
        grant_types_supported: strings(GRANT_TYPES),
        introspection_endpoint: Some(format!("{issuer}/token/introspection")),
        introspection_endpoint_auth_methods_supported: strings(&[
            "client_secret_basic",
            "client_secret_post",
        ]),
        issuer: issuer.clone(),
        jwks_uri: format!("{issuer}/jwks"),
        response_types_supported: Vec::new(),
        revocation_endpoint: Some(format!("{issuer}/token/revocation")),
        revocation_endpoint_auth_methods_supported: strings(&[
            "client_secret_basic",
            "client_secret_post",
        ]),
        scopes_supported: strings(KNOWN_SCOPES),
        subject_types_supported: strings(&["public"]),
        token_endpoint: format!("{issuer}/token"),
        token_endpoint_auth_methods_supported: strings(&[
            "client_secret_basic",
            "client_secret_post",
            "none",
        ]),
        userinfo_endpoint: Some(format!("{issuer}/me")),
    };
    let mut response = axum::Json(body).into_response();
    response.headers_mut().insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=300"),
    );
    response
}

/// `GET /.well-known/openid-configuration`.
#[utoipa::path(
    get,
    path = "/.well-known/openid-configuration",
    operation_id = "rootOpenidConfiguration",
    tag = "oidc",
    responses((status = 200, description = "Provider metadata", body = ProviderMetadata))
)]
pub async fn root_openid_configuration(State(state): State<AppState>) -> Response {
    document(&state).await
}

/// `GET /.well-known/oauth-authorization-server` (RFC 8414's name).
#[utoipa::path(
    get,
    path = "/.well-known/oauth-authorization-server",
    operation_id = "rootOauthAuthorizationServer",
    tag = "oidc",
    responses((status = 200, description = "Provider metadata", body = ProviderMetadata))
)]
pub async fn root_oauth_authorization_server(State(state): State<AppState>) -> Response {
    document(&state).await
}

/// `GET {issuer}/.well-known/openid-configuration`.
#[utoipa::path(
    get,
    path = "/api/v1/oidc/.well-known/openid-configuration",
    operation_id = "openidConfiguration",
    tag = "oidc",
    responses((status = 200, description = "Provider metadata", body = ProviderMetadata))
)]
pub async fn openid_configuration(State(state): State<AppState>) -> Response {
    document(&state).await
}

/// `GET {issuer}/.well-known/oauth-authorization-server` (RFC 8414's name).
#[utoipa::path(
    get,
    path = "/api/v1/oidc/.well-known/oauth-authorization-server",
    operation_id = "oauthAuthorizationServer",
    tag = "oidc",
    responses((status = 200, description = "Provider metadata", body = ProviderMetadata))
)]
pub async fn oauth_authorization_server(State(state): State<AppState>) -> Response {
    document(&state).await
}

/// A JWK set (RFC 7517 §5).
#[derive(Debug, ToSchema)]
#[allow(dead_code)]
pub struct Jwks {
    /// The current key and every retired key that may still verify a live token.
    keys: Vec<Jwk>,
}

/// A public signing key (RFC 7517): RSA (`n`, `e`), EC P-256 (`crv`, `x`, `y`) or OKP Ed25519
/// (`crv`, `x`).
#[derive(Debug, ToSchema)]
#[allow(dead_code)]
pub struct Jwk {
    /// `RSA`, `EC` or `OKP`.
    #[schema(pattern = "^(RSA|EC|OKP)$")]
    kty: String,
    /// Key id (RFC 7638 thumbprint).
    kid: String,
    /// `RS256`, `ES256` or `EdDSA`.
    alg: String,
    /// Always `sig`.
    #[schema(rename = "use")]
    use_: String,
    /// RSA modulus.
    #[schema(nullable = false)]
    n: Option<String>,
    /// RSA exponent.
    #[schema(nullable = false)]
    e: Option<String>,
    /// Curve: `P-256` or `Ed25519`.
    #[schema(nullable = false)]
    crv: Option<String>,
    /// Curve point x.
    #[schema(nullable = false)]
    x: Option<String>,
    /// Curve point y (EC).
    #[schema(nullable = false)]
    y: Option<String>,
}

/// `{"keys": […]}`: the current key and every retired key that may still verify a live token.
// The body is rendered once per key reload (see `keyring`), not from `Jwks`.
#[utoipa::path(
    get,
    path = "/api/v1/oidc/jwks",
    operation_id = "jwks",
    tag = "oidc",
    responses((status = 200, description = "The published keys", body = Jwks, content_type = "application/jwk-set+json"))
)]
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
