//! App info, app users, and minting a user's tokens.

use super::auth::authenticate;
use super::error::{BuilderError, json_object};
use super::rfc3339;
use crate::oidc::mint;
use crate::state::AppState;
use axum::Json;
use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{Value, json};
use tollhouse_core::ids::generate_uuid;
use tollhouse_core::scope::ScopeSet;
use tollhouse_core::user::{AppUser, ExternalUserId, UserStatus};
use tollhouse_store::Upserted;

fn user_json(user: &AppUser) -> Value {
    json!({
        "id": user.id,
        "clientId": user.client_id,
        "externalUserId": user.external_user_id.as_str(),
        "email": user.email,
        "status": user.status.as_str(),
        "role": "user",
        "createdAt": rfc3339(user.created_at),
    })
}

fn external_id(value: &str) -> Result<ExternalUserId, BuilderError> {
    ExternalUserId::parse(value).map_err(|e| BuilderError::invalid(e.to_string()))
}

/// `GET A`: the app itself.
pub async fn app_info(
    State(state): State<AppState>,
    Path(client_id): Path<String>,
    headers: HeaderMap,
) -> Result<Response, BuilderError> {
    let app = authenticate(&state, &headers, &client_id).await?;
    let scopes: Vec<&str> = app.allowed_scopes.iter().collect();
    Ok(Json(json!({
        "clientId": app.client_id,
        "name": app.name,
        "status": app.status.as_str(),
        "allowedScopes": scopes,
    }))
    .into_response())
}

/// `GET A/users`.
pub async fn list(
    State(state): State<AppState>,
    Path(client_id): Path<String>,
    headers: HeaderMap,
) -> Result<Response, BuilderError> {
    let app = authenticate(&state, &headers, &client_id).await?;
    let users = state.store.list_users(app.client_id.as_str()).await?;
    Ok(Json(json!({ "users": users.iter().map(user_json).collect::<Vec<_>>() })).into_response())
}

/// Body of `POST A/users`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UpsertUser {
    external_user_id: String,
    #[serde(default)]
    email: Option<String>,
    #[serde(default)]
    status: Option<String>,
}

/// `POST A/users`: 201 for a new user, 200 for an existing one (given fields updated).
pub async fn upsert(
    State(state): State<AppState>,
    Path(client_id): Path<String>,
    headers: HeaderMap,
    body: Result<Json<Value>, JsonRejection>,
) -> Result<Response, BuilderError> {
    let app = authenticate(&state, &headers, &client_id).await?;
    let body: UpsertUser = json_object(body)?;
    let external_user_id = external_id(&body.external_user_id)?;
    let email = match body
        .email
        .as_deref()
        .map(str::trim)
        .filter(|e| !e.is_empty())
    {
        Some(email)
            if email.len() <= 254
                && email.contains('@')
                && !email.contains(char::is_whitespace) =>
        {
            Some(email)
        }
        Some(_) => return Err(BuilderError::invalid("email is not a valid address")),
        None => None,
    };
    let status = match body.status.as_deref() {
        None => None,
        Some(s) => Some(
            UserStatus::parse(s)
                .ok_or_else(|| BuilderError::invalid("status must be `active` or `inactive`"))?,
        ),
    };
    let now = state.clock.now();
    let new = AppUser {
        id: generate_uuid(state.rng.as_ref()),
        client_id: app.client_id.to_string(),
        external_user_id,
        email: email.map(str::to_owned),
        status: status.unwrap_or(UserStatus::Active),
        created_at: now,
    };
    let (user, outcome) = state.store.upsert_user(&new, email, status, now).await?;
    let code = if outcome == Upserted::Created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((code, Json(user_json(&user))).into_response())
}

/// Query of `DELETE A/users`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UserQuery {
    #[serde(default)]
    external_user_id: Option<String>,
}

/// `DELETE A/users?externalUserId=`: deactivates (the record and its usage history stay).
pub async fn deactivate(
    State(state): State<AppState>,
    Path(client_id): Path<String>,
    headers: HeaderMap,
    query: Result<Query<UserQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Response, BuilderError> {
    let app = authenticate(&state, &headers, &client_id).await?;
    let Query(query) = query.map_err(|_| BuilderError::invalid("malformed query string"))?;
    let ext = query
        .external_user_id
        .ok_or_else(|| BuilderError::invalid("externalUserId is required"))?;
    let ext = external_id(&ext)?;
    let user = state
        .store
        .set_user_status(
            app.client_id.as_str(),
            ext.as_str(),
            UserStatus::Inactive,
            state.clock.now(),
        )
        .await?
        .ok_or_else(|| BuilderError::NotFound("no such user".into()))?;
    Ok(Json(json!({ "success": true, "status": user.status.as_str() })).into_response())
}

/// Body of `POST A/users/{ext}/token`.
#[derive(Debug, Deserialize, Default)]
pub struct MintBody {
    #[serde(default)]
    scope: Option<String>,
}

/// `POST A/users/{ext}/token`: a 900 s user JWT and a rotating refresh token.
pub async fn mint_token(
    State(state): State<AppState>,
    Path((client_id, ext)): Path<(String, String)>,
    headers: HeaderMap,
    body: Result<Json<Value>, JsonRejection>,
) -> Result<Response, BuilderError> {
    let app = authenticate(&state, &headers, &client_id).await?;
    // No body means "defaults": the SDK sends `{}` or nothing.
    let body: MintBody = match body {
        Err(JsonRejection::MissingJsonContentType(_)) => MintBody::default(),
        other => json_object(other)?,
    };
    let ext = external_id(&ext)?;
    let user = state
        .store
        .user_by_external_id(app.client_id.as_str(), ext.as_str())
        .await?
        .ok_or_else(|| BuilderError::NotFound("no such user".into()))?;
    if user.status != UserStatus::Active {
        return Err(BuilderError::UserInactive);
    }
    let scope = user_scope(body.scope.as_deref())?;
    let scope_text = scope.to_string();
    let internal = |e: crate::oidc::error::OidcError| match e {
        crate::oidc::error::OidcError::Unavailable(e) => BuilderError::Unavailable(e),
        other => BuilderError::Internal(other.to_string()),
    };
    let access_token =
        mint::user_access_token(&state, &app, &user, &scope_text).map_err(internal)?;
    let refresh_token = mint::new_refresh_token(&state, &app, &user, &scope_text)
        .await
        .map_err(internal)?;
    state.metrics.token_issued("builder_user_token");
    let mut response = Json(json!({
        "access_token": access_token,
        "refresh_token": refresh_token,
        "token_type": "Bearer",
        "expires_in": crate::config::USER_TOKEN_TTL_SECS,
        "scope": scope_text,
        "subject_type": "app_user",
        "correlation_id": generate_uuid(state.rng.as_ref()),
    }))
    .into_response();
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(response)
}

/// A user token's scope: `sign:job` by default, and only user-facing scopes.
fn user_scope(requested: Option<&str>) -> Result<ScopeSet, BuilderError> {
    let requested = requested
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .unwrap_or("sign:job");
    let scope =
        ScopeSet::parse(requested).map_err(|e| BuilderError::InvalidScope(e.to_string().into()))?;
    if let Some(bad) = scope.iter().find(|s| !mint::USER_SCOPES.contains(s)) {
        return Err(BuilderError::InvalidScope(
            format!("scope `{bad}` cannot be granted to a user").into(),
        ));
    }
    Ok(scope)
}
