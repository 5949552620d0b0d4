//! `POST {issuer}/token/revocation` (RFC 7009). Revoking is idempotent and answers 200 whether or
//! not the token was valid, so the endpoint reveals nothing about tokens.

use super::client_auth::{authenticate_m2m, presented_client};
use super::error::OidcError;
use super::params::Params;
use super::verify::verify_access_token;
use crate::state::AppState;
use axum::body::Bytes;
use axum::extract::State;
use axum::extract::rejection::BytesRejection;
use axum::http::{HeaderMap, StatusCode};

/// The revocation endpoint.
pub async fn revoke(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<StatusCode, OidcError> {
    let params = Params::from_request(&headers, body)?;
    let app = authenticate_m2m(&state, presented_client(&headers, &params)?).await?;
    let token = params.require("token")?;
    // RFC 7009 §2.1: a hint the server does not understand is ignored, not refused.
    // Only tokens of the caller's own app, and only while they could still be used: the
    // revocation is remembered exactly until the token would have expired.
    if let Ok(claims) = verify_access_token(&state, token)
        && claims.client_id == app.client_id.as_str()
    {
        state
            .store
            .revoke_token(&claims.jti, &claims.client_id, claims.exp)
            .await?;
    }
    Ok(StatusCode::OK)
}
