//! `POST {issuer}/token`: one explicit dispatch on `grant_type`.

use super::client_auth::{authenticate_m2m, presented_client};
use super::error::OidcError;
use super::params::Params;
use crate::state::AppState;
use axum::body::Bytes;
use axum::extract::State;
use axum::extract::rejection::BytesRejection;
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use tollhouse_core::claims::{AccessTokenClaims, UserType};
use tollhouse_core::ids::generate_jti;
use tollhouse_core::scope::{ScopeError, ScopeSet};

/// The successful token response (RFC 6749 §5.1).
#[derive(Debug, Serialize)]
pub struct TokenResponse {
    access_token: String,
    token_type: &'static str,
    expires_in: i64,
    scope: String,
}

impl IntoResponse for TokenResponse {
    fn into_response(self) -> Response {
        let mut response = axum::Json(self).into_response();
        let headers = response.headers_mut();
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        headers.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
        response
    }
}

/// The token endpoint.
pub async fn token(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, OidcError> {
    let params = Params::from_request(&headers, body)?;
    let grant_type = params.require("grant_type")?;
    match grant_type {
        "client_credentials" if params.get("external_user_id")?.is_some() => {
            super::mint_for_user::mint_user_signer_token(&state, &headers, &params).await
        }
        "client_credentials" => client_credentials(&state, &headers, &params)
            .await
            .map(IntoResponse::into_response),
        "refresh_token" => super::refresh::refresh(&state, &headers, &params).await,
        "urn:ietf:params:oauth:grant-type:device_code" => {
            super::device::poll(&state, &params).await
        }
        "urn:ietf:params:oauth:grant-type:token-exchange" => {
            super::exchange::token_exchange(&state, &headers, &params, None).await
        }
        other => Err(OidcError::UnsupportedGrantType(
            format!("grant type `{other}` is not supported").into(),
        )),
    }
}

/// RFC 6749 §4.4: an RFC 9068 JWT for the app itself.
async fn client_credentials(
    state: &AppState,
    headers: &HeaderMap,
    params: &Params,
) -> Result<TokenResponse, OidcError> {
    let app = authenticate_m2m(state, presented_client(headers, params)?).await?;
    let scope = match params.get("scope")? {
        None => app.allowed_scopes.clone(),
        Some(requested) => {
            let requested = ScopeSet::parse(requested).map_err(|e| match e {
                ScopeError::Unknown(s) => {
                    OidcError::InvalidScope(format!("unknown scope `{s}`").into())
                }
                ScopeError::Malformed => OidcError::InvalidScope("malformed scope".into()),
            })?;
            if !requested.is_subset(&app.allowed_scopes) {
                return Err(OidcError::InvalidScope(
                    "scope exceeds what this client is allowed".into(),
                ));
            }
            requested
        }
    };
    let audience = audience(state, params)?;
    let now = state.clock.now();
    let ttl = state.config.access_token_ttl_secs;
    let claims = AccessTokenClaims {
        iss: state.issuer.clone(),
        sub: app.m2m_client_id.to_string(),
        aud: audience,
        exp: now + ttl,
        iat: now,
        nbf: now,
        jti: generate_jti(state.rng.as_ref()),
        client_id: app.client_id.to_string(),
        scope: scope.to_string(),
        external_user_id: None,
        user_type: Some(UserType::AppOwner),
    };
    let keys = state.keyring.snapshot();
    let access_token = keys
        .current
        .sign_access_token(&claims)
        .map_err(|e| OidcError::Internal(e.to_string()))?;
    state.metrics.token_issued("client_credentials");
    Ok(TokenResponse {
        access_token,
        token_type: "Bearer",
        expires_in: ttl,
        scope: claims.scope,
    })
}

/// RFC 8707 `resource` (or the common `audience`): an absolute URI without fragment; the issuer
/// itself when absent.
fn audience(state: &AppState, params: &Params) -> Result<String, OidcError> {
    let resource = params.get("resource")?;
    let audience = params.get("audience")?;
    let Some(value) = resource.or(audience) else {
        return Ok(state.issuer.clone());
    };
    if resource.is_some() && audience.is_some() && resource != audience {
        return Err(OidcError::InvalidTarget(
            "resource and audience differ".into(),
        ));
    }
    let absolute = value.split_once("://").is_some_and(|(scheme, rest)| {
        !scheme.is_empty()
            && scheme
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c))
            && !rest.is_empty()
    }) || value.starts_with("urn:");
    if !absolute || value.contains('#') || value.len() > 512 {
        return Err(OidcError::InvalidTarget(
            "resource must be an absolute URI without a fragment".into(),
        ));
    }
    Ok(value.to_owned())
}
