//! Per-user API keys: `GET/POST/DELETE A/users/{ext}/keys`. The key is shown once, at creation;
//! only its keyed hash, a prefix and a suffix are stored.

use super::allowances::find_user;
use super::auth::authenticate;
use super::error::{BuilderError, json_object};
use super::rfc3339;
use crate::state::AppState;
use axum::Json;
use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{Value, json};
use tollhouse_core::ids::{generate_api_key_secret, generate_uuid};
use tollhouse_core::user::UserStatus;
use tollhouse_store::ApiKeyRecord;

fn key_json(key: &ApiKeyRecord) -> Value {
    json!({
        "id": key.id,
        "label": key.label,
        "prefix": key.prefix,
        "suffix": key.suffix,
        "status": if key.revoked_at.is_some() { "revoked" } else { "active" },
        "createdAt": rfc3339(key.created_at),
        "revokedAt": key.revoked_at.map(rfc3339),
    })
}

/// `GET A/users/{ext}/keys`.
pub async fn list(
    State(state): State<AppState>,
    Path((client_id, ext)): Path<(String, String)>,
    headers: HeaderMap,
) -> Result<Response, BuilderError> {
    let app = authenticate(&state, &headers, &client_id).await?;
    let user = find_user(&state, app.client_id.as_str(), &ext).await?;
    let keys = state.store.api_keys_for_user(&user.id).await?;
    Ok(Json(json!({ "keys": keys.iter().map(key_json).collect::<Vec<_>>() })).into_response())
}

/// Body of key creation.
#[derive(Debug, Deserialize, Default)]
pub struct CreateKey {
    #[serde(default)]
    label: Option<String>,
}

/// `POST A/users/{ext}/keys`: 201 with the composite key `app_<24hex>_pmth_ak_<64hex>`.
pub async fn create(
    State(state): State<AppState>,
    Path((client_id, ext)): Path<(String, String)>,
    headers: HeaderMap,
    body: Result<Json<Value>, JsonRejection>,
) -> Result<Response, BuilderError> {
    let app = authenticate(&state, &headers, &client_id).await?;
    let body: CreateKey = match body {
        Err(JsonRejection::MissingJsonContentType(_)) => CreateKey::default(),
        other => json_object(other)?,
    };
    if body.label.as_ref().is_some_and(|l| l.len() > 200) {
        return Err(BuilderError::invalid(
            "label must be at most 200 characters",
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
    let mut body = key_json(&record);
    if let Some(map) = body.as_object_mut() {
        map.insert("apiKey".into(), composite.into());
    }
    let mut response = (StatusCode::CREATED, Json(body)).into_response();
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(response)
}

/// Query of key revocation.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct KeyQuery {
    #[serde(default)]
    key_id: Option<String>,
}

/// `DELETE A/users/{ext}/keys?keyId=`: revokes; the key fails everywhere at once.
pub async fn revoke(
    State(state): State<AppState>,
    Path((client_id, ext)): Path<(String, String)>,
    headers: HeaderMap,
    query: Result<Query<KeyQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Response, BuilderError> {
    let app = authenticate(&state, &headers, &client_id).await?;
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
    Ok(Json(json!({ "success": true, "key": key_json(&key) })).into_response())
}
