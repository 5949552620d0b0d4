//! `POST {issuer}/token/introspection` (RFC 7662). A client sees only its own app's tokens;
//! anything else is simply inactive.

use super::client_auth::{authenticate_m2m, presented_client};
use super::error::OidcError;
use super::params::Params;
use super::verify::verify_access_token;
use crate::state::AppState;
use axum::body::Bytes;
use axum::extract::State;
use axum::extract::rejection::BytesRejection;
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;

/// The introspection endpoint.
pub async fn introspect(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, OidcError> {
    let params = Params::from_request(&headers, body)?;
    let app = authenticate_m2m(&state, presented_client(&headers, &params)?).await?;
    let token = params.require("token")?;
    let body = match verify_access_token(&state, token) {
        Ok(claims)
            if claims.client_id == app.client_id.as_str()
                && !state.store.is_token_revoked(&claims.jti).await? =>
        {
            let mut body = json!({
                "active": true,
                "token_type": "Bearer",
                "scope": claims.scope,
                "client_id": claims.client_id,
                "sub": claims.sub,
                "iss": claims.iss,
                "aud": claims.aud,
                "exp": claims.exp,
                "iat": claims.iat,
                "nbf": claims.nbf,
                "jti": claims.jti,
            });
            if let (Some(map), Some(ext)) = (body.as_object_mut(), claims.external_user_id) {
                map.insert("external_user_id".into(), ext.into());
            }
            if let (Some(map), Some(kind)) = (body.as_object_mut(), claims.user_type) {
                map.insert(
                    "user_type".into(),
                    serde_json::to_value(kind).unwrap_or_default(),
                );
            }
            body
        }
        _ => json!({ "active": false }),
    };
    let mut response = axum::Json(body).into_response();
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(response)
}
