//! Per-user API keys: `GET/POST/DELETE A/users/{ext}/keys`. The key is shown once, at creation;
//! only its keyed hash, a prefix and a suffix are stored.

use super::allowances::find_user;
use super::error::{BodyTooLarge, BuilderError, BuilderErrors, UserInactive};
use super::extract::{AppCaller, AppPath, BuilderPath, OptionalBuilderJson, UserPath};
use super::rfc3339;
use crate::state::AppState;
use axum::Json;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use tollhouse_api::keys::{ApiKeyView, CreateKey, CreatedApiKey, KeyList, KeyStatus, RevokedKey};
use tollhouse_core::ids::{generate_api_key_secret, generate_uuid};
use tollhouse_core::user::UserStatus;
use tollhouse_store::ApiKeyRecord;
use utoipa::IntoParams;

/// An API key as the Builder API lists it.
fn key_view(key: &ApiKeyRecord) -> ApiKeyView {
    ApiKeyView {
        created_at: rfc3339(key.created_at),
        id: key.id.clone(),
        label: key.label.clone(),
        prefix: key.prefix.clone(),
        revoked_at: key.revoked_at.map(rfc3339),
        status: if key.revoked_at.is_some() {
            KeyStatus::Revoked
        } else {
            KeyStatus::Active
        },
        suffix: key.suffix.clone(),
    }
}

/// `GET A/users/{ext}/keys`.
#[utoipa::path(
    get,
    path = "/api/v1/apps/{client_id}/users/{external_user_id}/keys",
    operation_id = "listApiKeys",
    tag = "builder",
    params(
        AppPath,
        UserPath
    ),
    security(("m2m_basic" = [])),
    responses((status = 200, description = "The user's API keys", body = KeyList), BuilderErrors)
)]
pub async fn list(
    State(state): State<AppState>,
    AppCaller(app): AppCaller,
    BuilderPath(UserPath {
        external_user_id: ext,
        ..
    }): BuilderPath<UserPath>,
) -> Result<Json<KeyList>, BuilderError> {
    let user = find_user(&state, app.client_id.as_str(), &ext).await?;
    let keys = state.store.api_keys_for_user(&user.id).await?;
    Ok(Json(KeyList {
        keys: keys.iter().map(key_view).collect(),
    }))
}

/// `POST A/users/{ext}/keys`: 201 with the composite key `app_<24hex>_pmth_ak_<64hex>`.
#[utoipa::path(
    post,
    path = "/api/v1/apps/{client_id}/users/{external_user_id}/keys",
    operation_id = "createApiKey",
    tag = "builder",
    params(
        AppPath,
        UserPath
    ),
    request_body(content = Option<CreateKey>, content_type = "application/json"),
    security(("m2m_basic" = [])),
    responses(
        (status = 201, description = "The new key, shown once", body = CreatedApiKey),
        BuilderErrors,
        UserInactive,
        BodyTooLarge
    )
)]
pub async fn create(
    State(state): State<AppState>,
    AppCaller(app): AppCaller,
    BuilderPath(UserPath {
        external_user_id: ext,
        ..
    }): BuilderPath<UserPath>,
    OptionalBuilderJson(body): OptionalBuilderJson<CreateKey>,
) -> Result<Response, BuilderError> {
    if body.label.as_ref().is_some_and(|l| l.len() > 200) {
        return Err(BuilderError::invalid(
            "label must be at most 200 characters",
        ));
    }
    // Storable on every backend: PostgreSQL refuses NUL in text.
    if body.label.as_ref().is_some_and(|l| l.contains('\0')) {
        return Err(BuilderError::invalid(
            "label must not contain NUL characters",
        ));
    }
    let user = find_user(&state, app.client_id.as_str(), &ext).await?;
    if user.status != UserStatus::Active {
        return Err(BuilderError::UserInactive);
    }
    let secret = generate_api_key_secret(state.rng.as_ref());
    let composite = format!("{}_{secret}", app.client_id);
    let now = state.clock.now();
    let record = ApiKeyRecord {
        id: generate_uuid(state.rng.as_ref()),
        client_id: app.client_id.to_string(),
        user_id: user.id.clone(),
        label: body.label.filter(|l| !l.is_empty()),
        prefix: composite[..composite.len().min(41)].to_owned(),
        suffix: composite[composite.len().saturating_sub(4)..].to_owned(),
        created_at: now,
        revoked_at: None,
    };
    state
        .store
        .insert_api_key(&record, state.pepper.hash(&secret).as_bytes())
        .await?;
    let view = key_view(&record);
    let body = CreatedApiKey {
        api_key: composite,
        created_at: view.created_at,
        id: view.id,
        label: view.label,
        prefix: view.prefix,
        revoked_at: view.revoked_at,
        status: view.status,
        suffix: view.suffix,
    };
    let mut response = (StatusCode::CREATED, Json(body)).into_response();
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(response)
}

/// Query of key revocation.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(rename_all = "camelCase")]
#[into_params(parameter_in = Query)]
pub struct KeyQuery {
    /// The key to revoke.
    #[serde(default)]
    #[param(required = true, nullable = false)]
    key_id: Option<String>,
}

/// `DELETE A/users/{ext}/keys?keyId=`: revokes; the key fails everywhere at once.
#[utoipa::path(
    delete,
    path = "/api/v1/apps/{client_id}/users/{external_user_id}/keys",
    operation_id = "revokeApiKey",
    tag = "builder",
    params(
        AppPath,
        UserPath,
        KeyQuery
    ),
    security(("m2m_basic" = [])),
    responses((status = 200, description = "The key, now revoked", body = RevokedKey), BuilderErrors)
)]
pub async fn revoke(
    State(state): State<AppState>,
    AppCaller(app): AppCaller,
    BuilderPath(UserPath {
        external_user_id: ext,
        ..
    }): BuilderPath<UserPath>,
    query: Result<Query<KeyQuery>, QueryRejection>,
) -> Result<Json<RevokedKey>, BuilderError> {
    let Query(query) = query.map_err(|_| BuilderError::invalid("malformed query string"))?;
    let key_id = query
        .key_id
        .ok_or_else(|| BuilderError::invalid("keyId is required"))?;
    let user = find_user(&state, app.client_id.as_str(), &ext).await?;
    let key = state
        .store
        .revoke_api_key(&user.id, &key_id, state.clock.now())
        .await?
        .ok_or_else(|| BuilderError::NotFound("no such key".into()))?;
    state.forget_credentials();
    Ok(Json(RevokedKey {
        key: key_view(&key),
        success: true,
    }))
}
