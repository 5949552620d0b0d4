//! App info, app users, and minting a user's tokens.

use super::error::{BodyTooLarge, BuilderError, BuilderErrors, UserInactive};
use super::extract::{AppCaller, AppPath, BuilderJson, BuilderPath, OptionalBuilderJson, UserPath};
use super::rfc3339;
use crate::oidc::mint;
use crate::state::AppState;
use axum::Json;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use tollhouse_api::users::{
    AppInfo, BuilderUserTokens, Done, MintUserToken, UpsertUser, UserList,
    UserStatus as WireStatus, UserView,
};
use tollhouse_core::ids::generate_uuid;
use tollhouse_core::scope::ScopeSet;
use tollhouse_core::user::{AppUser, ExternalUserId, UserStatus};
use tollhouse_store::Upserted;
use utoipa::IntoParams;

/// The wire form of a user's status.
pub(super) fn wire_status(status: UserStatus) -> WireStatus {
    match status {
        UserStatus::Active => WireStatus::Active,
        UserStatus::Inactive => WireStatus::Inactive,
    }
}

/// An app user as the Builder API shows it.
pub(super) fn user_view(user: &AppUser) -> UserView {
    UserView {
        client_id: user.client_id.clone(),
        created_at: rfc3339(user.created_at),
        email: user.email.clone(),
        external_user_id: user.external_user_id.to_string(),
        id: user.id.clone(),
        role: "user".to_owned(),
        status: wire_status(user.status),
        display_name: user.display_name.clone(),
        avatar_url: user.avatar_url.clone(),
    }
}

fn external_id(value: &str) -> Result<ExternalUserId, BuilderError> {
    ExternalUserId::parse(value).map_err(|e| BuilderError::invalid(e.to_string()))
}

/// `GET A`: the app itself.
#[utoipa::path(
    get,
    path = "/api/v1/apps/{client_id}",
    operation_id = "getApp",
    tag = "builder",
    params(AppPath),
    security(("m2m_basic" = [])),
    responses((status = 200, description = "The app", body = AppInfo), BuilderErrors)
)]
pub async fn app_info(
    State(_state): State<AppState>,
    AppCaller(app): AppCaller,
) -> Result<Json<AppInfo>, BuilderError> {
    Ok(Json(AppInfo {
        allowed_scopes: app.allowed_scopes.iter().map(str::to_owned).collect(),
        client_id: app.client_id.to_string(),
        name: app.name,
        status: app.status.as_str().to_owned(),
    }))
}

/// `GET A/users`.
#[utoipa::path(
    get,
    path = "/api/v1/apps/{client_id}/users",
    operation_id = "listUsers",
    tag = "builder",
    params(AppPath),
    security(("m2m_basic" = [])),
    responses((status = 200, description = "The app's users", body = UserList), BuilderErrors)
)]
pub async fn list(
    State(state): State<AppState>,
    AppCaller(app): AppCaller,
) -> Result<Json<UserList>, BuilderError> {
    let users = state.store.list_users(app.client_id.as_str()).await?;
    Ok(Json(UserList {
        users: users.iter().map(user_view).collect(),
    }))
}

/// A display name: trimmed, 1–64 characters, no control characters.
fn display_name(value: Option<&str>) -> Result<Option<String>, BuilderError> {
    match value.map(str::trim).filter(|v| !v.is_empty()) {
        None => Ok(None),
        Some(v) if v.chars().count() <= 64 && !v.contains(char::is_control) => {
            Ok(Some(v.to_owned()))
        }
        Some(_) => Err(BuilderError::invalid(
            "displayName must be at most 64 characters, without control characters",
        )),
    }
}

/// An avatar URL: absolute `https`/`http`, at most 2048 characters, no whitespace.
fn avatar_url(value: Option<&str>) -> Result<Option<String>, BuilderError> {
    match value.map(str::trim).filter(|v| !v.is_empty()) {
        None => Ok(None),
        Some(v)
            if v.len() <= 2048
                && (v.starts_with("https://") || v.starts_with("http://"))
                && v.len() > "https://".len()
                && !v.contains(|c: char| c.is_whitespace() || c.is_control()) =>
        {
            Ok(Some(v.to_owned()))
        }
        Some(_) => Err(BuilderError::invalid(
            "avatarUrl must be an absolute http(s) URL of at most 2048 characters",
        )),
    }
}

/// `POST A/users`: 201 for a new user, 200 for an existing one (given fields updated).
#[utoipa::path(
    post,
    path = "/api/v1/apps/{client_id}/users",
    operation_id = "upsertUser",
    tag = "builder",
    params(AppPath),
    request_body(content = UpsertUser, content_type = "application/json"),
    security(("m2m_basic" = [])),
    responses(
        (status = 200, description = "The existing user, updated", body = UserView),
        (status = 201, description = "The new user", body = UserView),
        BuilderErrors,
        BodyTooLarge
    )
)]
pub async fn upsert(
    State(state): State<AppState>,
    AppCaller(app): AppCaller,
    BuilderJson(body): BuilderJson<UpsertUser>,
) -> Result<Response, BuilderError> {
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
                && !email.contains(|c: char| c.is_whitespace() || c.is_control()) =>
        {
            Some(email)
        }
        Some(_) => return Err(BuilderError::invalid("email is not a valid address")),
        None => None,
    };
    let status = body.status.map(|s| match s {
        WireStatus::Active => UserStatus::Active,
        WireStatus::Inactive => UserStatus::Inactive,
    });
    let now = state.clock.now();
    let new = AppUser {
        id: generate_uuid(state.rng.as_ref()),
        client_id: app.client_id.to_string(),
        external_user_id,
        email: email.map(str::to_owned),
        status: status.unwrap_or(UserStatus::Active),
        created_at: now,
        display_name: display_name(body.display_name.as_deref())?,
        avatar_url: avatar_url(body.avatar_url.as_deref())?,
    };
    let (user, outcome) = state.store.upsert_user(&new, email, status, now).await?;
    if status.is_some() {
        // A (de)activation: cached webhook verdicts for the user must not outlive it.
        state.forget_credentials();
    }
    let code = if outcome == Upserted::Created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((code, Json(user_view(&user))).into_response())
}

/// Query of `DELETE A/users`.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(rename_all = "camelCase")]
#[into_params(parameter_in = Query)]
pub struct UserQuery {
    /// The user to deactivate.
    #[serde(default)]
    #[param(
        required = true,
        nullable = false,
        pattern = "^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$"
    )]
    external_user_id: Option<String>,
}

/// `DELETE A/users?externalUserId=`: deactivates (the record and its usage history stay).
#[utoipa::path(
    delete,
    path = "/api/v1/apps/{client_id}/users",
    operation_id = "deactivateUser",
    tag = "builder",
    params(AppPath, UserQuery),
    security(("m2m_basic" = [])),
    responses((status = 200, description = "The user is now inactive", body = Done), BuilderErrors)
)]
pub async fn deactivate(
    State(state): State<AppState>,
    AppCaller(app): AppCaller,
    query: Result<Query<UserQuery>, QueryRejection>,
) -> Result<Json<Done>, BuilderError> {
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
    state.forget_credentials();
    Ok(Json(Done {
        status: user.status.as_str().to_owned(),
        success: true,
    }))
}

/// `POST A/users/{ext}/token`: a 900 s user JWT and a rotating refresh token.
#[utoipa::path(
    post,
    path = "/api/v1/apps/{client_id}/users/{external_user_id}/token",
    operation_id = "mintUserToken",
    tag = "builder",
    params(
        AppPath,
        UserPath
    ),
    request_body(content = Option<MintUserToken>, content_type = "application/json"),
    security(("m2m_basic" = [])),
    responses(
        (status = 200, description = "The user's tokens", body = BuilderUserTokens),
        BuilderErrors,
        UserInactive,
        BodyTooLarge
    )
)]
pub async fn mint_token(
    State(state): State<AppState>,
    AppCaller(app): AppCaller,
    BuilderPath(UserPath {
        external_user_id: ext,
        ..
    }): BuilderPath<UserPath>,
    OptionalBuilderJson(body): OptionalBuilderJson<MintUserToken>,
) -> Result<Response, BuilderError> {
    // No body means "defaults": the SDK sends `{}` or nothing.
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
    let mut response = Json(BuilderUserTokens {
        access_token,
        correlation_id: generate_uuid(state.rng.as_ref()),
        expires_in: crate::config::USER_TOKEN_TTL_SECS,
        refresh_token,
        scope: scope_text,
        subject_type: "app_user".to_owned(),
        token_type: "Bearer".to_owned(),
    })
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
