//! `POST {issuer}/token/introspection` (RFC 7662) for JWTs, opaque signer sessions and refresh
//! tokens. A client sees only its own app's tokens; anything else is simply inactive.

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
use serde_json::{Value, json};
use tollhouse_core::app::App;
use tollhouse_core::ids::{
    looks_like_api_key, looks_like_refresh_token, looks_like_signer_session, split_api_key,
};
use tollhouse_core::user::UserStatus;

/// The introspection endpoint.
pub async fn introspect(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, OidcError> {
    let params = Params::from_request(&headers, body)?;
    let app = authenticate_m2m(&state, presented_client(&headers, &params)?).await?;
    let token = params.require("token")?;
    let body = if looks_like_signer_session(token) {
        introspect_session(&state, &app, token).await?
    } else if looks_like_refresh_token(token) {
        introspect_refresh(&state, &app, token).await?
    } else if looks_like_api_key(token) {
        introspect_api_key(&state, &app, token).await?
    } else {
        introspect_jwt(&state, &app, token).await?
    }
    .unwrap_or_else(|| json!({ "active": false }));
    let mut response = axum::Json(body).into_response();
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(response)
}

async fn introspect_jwt(
    state: &AppState,
    app: &App,
    token: &str,
) -> Result<Option<Value>, OidcError> {
    let Ok(claims) = verify_access_token(state, token) else {
        return Ok(None);
    };
    if claims.client_id != app.client_id.as_str()
        || state.store.is_token_revoked(&claims.jti).await?
    {
        return Ok(None);
    }
    if claims.external_user_id.is_some() && !user_is_active(state, &claims.sub).await? {
        return Ok(None);
    }
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
    if let Some(map) = body.as_object_mut() {
        if let Some(ext) = claims.external_user_id {
            map.insert("external_user_id".into(), ext.into());
        }
        if let Some(kind) = claims.user_type.and_then(|k| serde_json::to_value(k).ok()) {
            map.insert("user_type".into(), kind);
        }
    }
    Ok(Some(body))
}

async fn introspect_session(
    state: &AppState,
    app: &App,
    token: &str,
) -> Result<Option<Value>, OidcError> {
    let hash = state.pepper.hash(token);
    let Some(session) = state.store.signer_session(hash.as_bytes()).await? else {
        return Ok(None);
    };
    let live = session.revoked_at.is_none() && state.clock.now() < session.expires_at;
    if !live || session.client_id != app.client_id.as_str() {
        return Ok(None);
    }
    let Some(user) = state.store.user_by_id(&session.user_id).await? else {
        return Ok(None);
    };
    if user.status != UserStatus::Active {
        return Ok(None);
    }
    Ok(Some(json!({
        "active": true,
        "token_type": "Bearer",
        "scope": session.scope,
        "client_id": session.client_id,
        "sub": user.id,
        "external_user_id": user.external_user_id.as_str(),
        "user_type": "app_user",
        "iss": state.issuer,
        "exp": session.expires_at,
        "iat": session.created_at,
    })))
}

async fn introspect_refresh(
    state: &AppState,
    app: &App,
    token: &str,
) -> Result<Option<Value>, OidcError> {
    let hash = state.pepper.hash(token);
    let Some(record) = state.store.refresh_token(hash.as_bytes()).await? else {
        return Ok(None);
    };
    let live = record.rotated_at.is_none()
        && record.revoked_at.is_none()
        && state.clock.now() < record.expires_at;
    if !live
        || record.client_id != app.client_id.as_str()
        || !user_is_active(state, &record.user_id).await?
    {
        return Ok(None);
    }
    Ok(Some(json!({
        "active": true,
        "token_type": "refresh_token",
        "scope": record.scope,
        "client_id": record.client_id,
        "sub": record.user_id,
        "iss": state.issuer,
        "exp": record.expires_at,
    })))
}

async fn introspect_api_key(
    state: &AppState,
    app: &App,
    token: &str,
) -> Result<Option<Value>, OidcError> {
    let (named, secret) = split_api_key(token);
    let Some(key) = state
        .store
        .api_key_by_hash(state.pepper.hash(secret).as_bytes())
        .await?
    else {
        return Ok(None);
    };
    let ours = key.client_id == app.client_id.as_str() && named.is_none_or(|n| n == key.client_id);
    if !ours || key.revoked_at.is_some() {
        return Ok(None);
    }
    let Some(user) = state.store.user_by_id(&key.user_id).await? else {
        return Ok(None);
    };
    if user.status != UserStatus::Active {
        return Ok(None);
    }
    Ok(Some(json!({
        "active": true,
        "token_type": "api_key",
        "scope": "sign:job",
        "client_id": key.client_id,
        "sub": user.id,
        "external_user_id": user.external_user_id.as_str(),
        "user_type": "app_user",
        "iss": state.issuer,
        "iat": key.created_at,
    })))
}

async fn user_is_active(state: &AppState, user_id: &str) -> Result<bool, OidcError> {
    Ok(state
        .store
        .user_by_id(user_id)
        .await?
        .is_some_and(|u| u.status == UserStatus::Active))
}
