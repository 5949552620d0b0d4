//! `POST {issuer}/token/introspection` (RFC 7662) for JWTs, opaque signer sessions and refresh
//! tokens. A client sees only its own app's tokens; anything else is simply inactive.

use super::client_auth::{authenticate_m2m, presented_client};
use super::error::{OAuthErrors, OidcError};
use super::params::Params;
use super::verify::verify_access_token;
use crate::state::AppState;
use axum::body::Bytes;
use axum::extract::State;
use axum::extract::rejection::BytesRejection;
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use tollhouse_core::app::App;
use tollhouse_core::claims::UserType;
use tollhouse_core::ids::{
    looks_like_api_key, looks_like_refresh_token, looks_like_signer_session, split_api_key,
};
use tollhouse_core::user::UserStatus;
use utoipa::ToSchema;

/// The parameters of introspection and revocation (form-encoded). The client authenticates with
/// HTTP Basic or `client_id` + `client_secret`.
#[derive(Debug, ToSchema)]
#[allow(dead_code)]
pub struct TokenRequestByValue {
    /// A JWT, opaque signer session, refresh token or API key.
    token: String,
    /// Accepted and ignored (RFC 7009 §2.1).
    token_type_hint: Option<String>,
    /// The M2M client id (`client_secret_post`).
    client_id: Option<String>,
    /// The M2M client secret (`client_secret_post`).
    client_secret: Option<String>,
}

/// RFC 7662 §2.2 introspection response: `{"active": false}` for anything this client may not
/// see, otherwise the token's claims.
#[derive(Debug, Default, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Introspection {
    /// Whether the token is live and this client's.
    pub active: bool,
    /// Audience (JWTs).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>, nullable = false)]
    pub aud: Option<tollhouse_core::claims::Audience>,
    /// The app's public client id.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub client_id: Option<String>,
    /// Expiry, seconds since the epoch.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub exp: Option<i64>,
    /// The integrator's id for the user.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub external_user_id: Option<String>,
    /// Issued at, seconds since the epoch.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub iat: Option<i64>,
    /// The issuer.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub iss: Option<String>,
    /// JWT id (JWTs).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub jti: Option<String>,
    /// Not before, seconds since the epoch (JWTs).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub nbf: Option<i64>,
    /// Space-separated scopes.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub scope: Option<String>,
    /// The subject: a user id, or the M2M client id of an app token.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub sub: Option<String>,
    /// `Bearer`, `refresh_token` or `api_key`.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = String, nullable = false, pattern = "^(Bearer|refresh_token|api_key)$")]
    pub token_type: Option<&'static str>,
    /// `app_user` or `app_owner`.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = String, nullable = false, pattern = "^(app_user|app_owner)$")]
    pub user_type: Option<UserType>,
}

impl IntoResponse for Introspection {
    fn into_response(self) -> Response {
        super::no_store(axum::Json(self))
    }
}

/// The introspection endpoint.
#[utoipa::path(
    post,
    path = "/api/v1/oidc/token/introspection",
    operation_id = "introspect",
    tag = "oidc",
    request_body(content = TokenRequestByValue, content_type = "application/x-www-form-urlencoded"),
    security((), ("m2m_basic" = [])),
    responses(
        (status = 200, description = "The token's state (RFC 7662)", body = Introspection),
        OAuthErrors
    )
)]
pub async fn introspect(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Introspection, OidcError> {
    let params = Params::from_request(&headers, body)?;
    let app = authenticate_m2m(&state, presented_client(&headers, &params)?).await?;
    let token = params.require("token")?;
    Ok(if looks_like_signer_session(token) {
        introspect_session(&state, &app, token).await?
    } else if looks_like_refresh_token(token) {
        introspect_refresh(&state, &app, token).await?
    } else if looks_like_api_key(token) {
        introspect_api_key(&state, &app, token).await?
    } else {
        introspect_jwt(&state, &app, token).await?
    }
    .unwrap_or_default())
}

async fn introspect_jwt(
    state: &AppState,
    app: &App,
    token: &str,
) -> Result<Option<Introspection>, OidcError> {
    let Ok(claims) = verify_access_token(state.own_tokens(), token) else {
        return Ok(None);
    };
    if claims.client_id != app.client_id.as_str()
        || crate::oidc::verify::family_revoked(state.store.as_ref(), &claims).await?
    {
        return Ok(None);
    }
    if claims.external_user_id.is_some() && !user_is_active(state, &claims.sub).await? {
        return Ok(None);
    }
    Ok(Some(Introspection {
        active: true,
        aud: Some(claims.aud),
        client_id: Some(claims.client_id),
        exp: Some(claims.exp),
        external_user_id: claims.external_user_id,
        iat: Some(claims.iat),
        iss: Some(claims.iss),
        jti: Some(claims.jti),
        nbf: Some(claims.nbf),
        scope: Some(claims.scope),
        sub: Some(claims.sub),
        token_type: Some("Bearer"),
        user_type: claims.user_type,
    }))
}

async fn introspect_session(
    state: &AppState,
    app: &App,
    token: &str,
) -> Result<Option<Introspection>, OidcError> {
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
    Ok(Some(Introspection {
        active: true,
        client_id: Some(session.client_id),
        exp: Some(session.expires_at),
        external_user_id: Some(user.external_user_id.to_string()),
        iat: Some(session.created_at),
        iss: Some(state.issuer.clone()),
        scope: Some(session.scope),
        sub: Some(user.id),
        token_type: Some("Bearer"),
        user_type: Some(UserType::AppUser),
        ..Introspection::default()
    }))
}

async fn introspect_refresh(
    state: &AppState,
    app: &App,
    token: &str,
) -> Result<Option<Introspection>, OidcError> {
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
    Ok(Some(Introspection {
        active: true,
        client_id: Some(record.client_id),
        exp: Some(record.expires_at),
        iss: Some(state.issuer.clone()),
        scope: Some(record.scope),
        sub: Some(record.user_id),
        token_type: Some("refresh_token"),
        ..Introspection::default()
    }))
}

async fn introspect_api_key(
    state: &AppState,
    app: &App,
    token: &str,
) -> Result<Option<Introspection>, OidcError> {
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
    Ok(Some(Introspection {
        active: true,
        client_id: Some(key.client_id),
        external_user_id: Some(user.external_user_id.to_string()),
        iat: Some(key.created_at),
        iss: Some(state.issuer.clone()),
        scope: Some("sign:job".into()),
        sub: Some(user.id),
        token_type: Some("api_key"),
        user_type: Some(UserType::AppUser),
        ..Introspection::default()
    }))
}

async fn user_is_active(state: &AppState, user_id: &str) -> Result<bool, OidcError> {
    Ok(state
        .store
        .user_by_id(user_id)
        .await?
        .is_some_and(|u| u.status == UserStatus::Active))
}
