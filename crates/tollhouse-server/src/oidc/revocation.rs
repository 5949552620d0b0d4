//! `POST {issuer}/token/revocation` (RFC 7009). Revoking is idempotent and answers 200 whether or
//! not the token was valid, so the endpoint reveals nothing about tokens.

use super::client_auth::{authenticate_m2m, presented_client};
use super::error::{OAuthErrors, OidcError};
use super::introspection::TokenRequestByValue;
use super::params::Params;
use super::verify::verify_access_token;
use crate::state::AppState;
use axum::body::Bytes;
use axum::extract::State;
use axum::extract::rejection::BytesRejection;
use axum::http::{HeaderMap, StatusCode};
use tollhouse_core::ids::{
    looks_like_api_key, looks_like_refresh_token, looks_like_signer_session, split_api_key,
};

/// The revocation endpoint.
#[utoipa::path(
    post,
    path = "/api/v1/oidc/token/revocation",
    operation_id = "revoke",
    tag = "oidc",
    request_body(content = TokenRequestByValue, content_type = "application/x-www-form-urlencoded"),
    security((), ("m2m_basic" = [])),
    responses(
        (status = 200, description = "Revoked, or nothing to revoke (RFC 7009 §2.2); empty body"),
        OAuthErrors
    )
)]
pub async fn revoke(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<StatusCode, OidcError> {
    let params = Params::from_request(&headers, body)?;
    let app = authenticate_m2m(&state, presented_client(&headers, &params)?).await?;
    let token = params.require("token")?;
    // RFC 7009 §2.1: a hint the server does not understand is ignored, not refused.
    let now = state.clock.now();
    if looks_like_signer_session(token) {
        let hash = state.pepper.hash(token);
        if let Some(session) = state.store.signer_session(hash.as_bytes()).await?
            && session.client_id == app.client_id.as_str()
        {
            state
                .store
                .revoke_signer_session(hash.as_bytes(), now)
                .await?;
        }
    } else if looks_like_refresh_token(token) {
        // Revoking one refresh token ends its whole family (the grant it belongs to).
        if let Some(record) = state
            .store
            .refresh_token(state.pepper.hash(token).as_bytes())
            .await?
            && record.client_id == app.client_id.as_str()
        {
            state
                .store
                .revoke_refresh_family(&record.family_id, now)
                .await?;
        }
    } else if looks_like_api_key(token) {
        let (named, secret) = split_api_key(token);
        if let Some(key) = state
            .store
            .api_key_by_hash(state.pepper.hash(secret).as_bytes())
            .await?
            && key.client_id == app.client_id.as_str()
            && named.is_none_or(|n| n == key.client_id)
        {
            state
                .store
                .revoke_api_key(&key.user_id, &key.id, now)
                .await?;
        }
    } else if let Ok(claims) = verify_access_token(state.own_tokens(), token)
        && claims.client_id == app.client_id.as_str()
    {
        // Remembered exactly until the token would have expired anyway.
        state
            .store
            .revoke_token(&claims.jti, &claims.client_id, claims.exp)
            .await?;
    }
    // Whatever was revoked, the webhook must not keep trusting a cached verdict for it.
    state.forget_credentials();
    Ok(StatusCode::OK)
}
