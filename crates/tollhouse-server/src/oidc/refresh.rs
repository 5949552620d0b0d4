//! The `refresh_token` grant: rotation on every use, and reuse of a rotated token revokes the
//! whole family (OAuth 2.0 Security BCP §4.14.2).

use super::client_auth::{authenticate_m2m, presented_client};
use super::error::OidcError;
use super::mint;
use super::params::Params;
use crate::state::AppState;
use axum::http::{HeaderMap, header};
use tollhouse_api::oauth::UserTokens;
use tollhouse_core::ids::{generate_refresh_token, looks_like_refresh_token};
use tollhouse_core::user::UserStatus;
use tollhouse_store::Rotation;

/// The refresh-token grant.
pub async fn refresh(
    state: &AppState,
    headers: &HeaderMap,
    params: &Params,
) -> Result<UserTokens, OidcError> {
    let presented = params.require("refresh_token")?;
    let invalid = || OidcError::InvalidGrant("refresh token is invalid, expired or revoked".into());
    if !looks_like_refresh_token(presented) {
        return Err(invalid());
    }
    let hash = state.pepper.hash(presented);
    let record = state
        .store
        .refresh_token(hash.as_bytes())
        .await?
        .ok_or_else(invalid)?;
    // The client must be the token's app: its M2M client, or its public client id.
    let client = presented_client(headers, params)?;
    let app =
        if headers.contains_key(header::AUTHORIZATION) || params.get("client_secret")?.is_some() {
            authenticate_m2m(state, client).await?
        } else {
            let id = params.get("client_id")?.ok_or(OidcError::InvalidClient)?;
            state
                .store
                .app_by_client_id(id)
                .await?
                .ok_or(OidcError::InvalidClient)?
        };
    if app.client_id.as_str() != record.client_id {
        return Err(invalid());
    }
    let now = state.clock.now();
    let successor = generate_refresh_token(state.rng.as_ref());
    let new_hash = state.pepper.hash(&successor);
    let record = match state
        .store
        .rotate_refresh_token(
            hash.as_bytes(),
            new_hash.as_bytes(),
            now,
            now + mint::REFRESH_TOKEN_TTL_SECS,
        )
        .await?
    {
        Rotation::Rotated(record) => record,
        Rotation::ReuseDetected => {
            tracing::warn!(client_id = %record.client_id, family = %record.family_id, "refresh token reuse: family revoked");
            return Err(OidcError::InvalidGrant(
                "refresh token was already used; the session is revoked".into(),
            ));
        }
        Rotation::Invalid => return Err(invalid()),
    };
    let user = state
        .store
        .user_by_id(&record.user_id)
        .await?
        .ok_or_else(invalid)?;
    if user.status != UserStatus::Active {
        state
            .store
            .revoke_refresh_family(&record.family_id, now)
            .await?;
        return Err(OidcError::InvalidGrant("the user is deactivated".into()));
    }
    let access_token = mint::user_access_token(state, &app, &user, &record.scope)?;
    state.metrics.token_issued("refresh_token");
    Ok(UserTokens {
        access_token,
        expires_in: crate::config::USER_TOKEN_TTL_SECS,
        refresh_token: successor,
        scope: record.scope,
        token_type: "Bearer".to_owned(),
    })
}
