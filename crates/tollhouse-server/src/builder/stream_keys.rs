//! Per-user Live AI stream keys: `GET/POST/DELETE A/users/{ext}/stream-keys`. A stream key is
//! what the user's encoder puts in the RTMP/WHIP URL; the gateway's Live AI auth webhook
//! (`POST /webhooks/live-ai-auth`) resolves it to the user, the pipeline and its parameters. The
//! key is shown once, at creation; only its keyed hash is stored.

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
use serde_json::{Map, Value};
use tollhouse_api::keys::KeyStatus;
use tollhouse_api::stream_keys::{
    CreateStreamKey, CreatedStreamKey, RevokedStreamKey, StreamKeyList, StreamKeyView,
};
use tollhouse_core::ids::{generate_stream_key, generate_uuid};
use tollhouse_core::user::UserStatus;
use tollhouse_store::StreamKeyRecord;
use utoipa::IntoParams;

/// Longest pipeline name accepted.
pub const MAX_PIPELINE_LEN: usize = 128;
/// Largest pipeline parameters accepted, as compact JSON.
pub const MAX_PIPELINE_PARAMETERS_BYTES: usize = 16 * 1024;

/// A stream key as the Builder API lists it.
fn key_view(key: &StreamKeyRecord) -> Result<StreamKeyView, BuilderError> {
    Ok(StreamKeyView {
        created_at: rfc3339(key.created_at),
        id: key.id.clone(),
        pipeline: key.pipeline.clone(),
        pipeline_parameters: stored_parameters(key)?,
        revoked_at: key.revoked_at.map(rfc3339),
        status: if key.revoked_at.is_some() {
            KeyStatus::Revoked
        } else {
            KeyStatus::Active
        },
        stream_id: key.id.clone(),
    })
}

/// The stored pipeline parameters of `key`, parsed back into a JSON object.
fn stored_parameters(key: &StreamKeyRecord) -> Result<Option<Map<String, Value>>, BuilderError> {
    key.pipeline_parameters
        .as_deref()
        .map(|text| {
            serde_json::from_str::<Map<String, Value>>(text).map_err(|e| {
                BuilderError::Internal(format!(
                    "stream_keys.pipeline_parameters of {}: {e}",
                    key.id
                ))
            })
        })
        .transpose()
}

/// `GET A/users/{ext}/stream-keys`.
#[utoipa::path(
    get,
    path = "/api/v1/apps/{client_id}/users/{external_user_id}/stream-keys",
    operation_id = "listStreamKeys",
    tag = "builder",
    params(
        AppPath,
        UserPath
    ),
    security(("m2m_basic" = [])),
    responses((status = 200, description = "The user's stream keys", body = StreamKeyList), BuilderErrors)
)]
pub async fn list(
    State(state): State<AppState>,
    AppCaller(app): AppCaller,
    BuilderPath(UserPath {
        external_user_id: ext,
        ..
    }): BuilderPath<UserPath>,
) -> Result<Json<StreamKeyList>, BuilderError> {
    let user = find_user(&state, app.client_id.as_str(), &ext).await?;
    let keys = state.store.stream_keys_for_user(&user.id).await?;
    Ok(Json(StreamKeyList {
        stream_keys: keys.iter().map(key_view).collect::<Result<_, _>>()?,
    }))
}

fn valid_pipeline(pipeline: &str) -> bool {
    !pipeline.is_empty()
        && pipeline.len() <= MAX_PIPELINE_LEN
        && pipeline
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-' | b':' | b'/'))
}

/// Whether any key or string inside `value` contains NUL.
fn holds_nul(value: &Value) -> bool {
    match value {
        Value::String(text) => text.contains('\0'),
        Value::Array(items) => items.iter().any(holds_nul),
        Value::Object(fields) => fields
            .iter()
            .any(|(key, value)| key.contains('\0') || holds_nul(value)),
        Value::Null | Value::Bool(_) | Value::Number(_) => false,
    }
}

/// `POST A/users/{ext}/stream-keys`: 201 with the stream key `pmth_sk_<64hex>`, shown once.
#[utoipa::path(
    post,
    path = "/api/v1/apps/{client_id}/users/{external_user_id}/stream-keys",
    operation_id = "createStreamKey",
    tag = "builder",
    params(
        AppPath,
        UserPath
    ),
    request_body(content = Option<CreateStreamKey>, content_type = "application/json"),
    security(("m2m_basic" = [])),
    responses(
        (status = 201, description = "The new stream key, shown once", body = CreatedStreamKey),
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
    OptionalBuilderJson(body): OptionalBuilderJson<CreateStreamKey>,
) -> Result<Response, BuilderError> {
    if body.pipeline.as_deref().is_some_and(|p| !valid_pipeline(p)) {
        return Err(BuilderError::invalid(
            "pipeline must be 1 to 128 characters of A-Z a-z 0-9 . _ - : /",
        ));
    }
    if body.pipeline_parameters.as_ref().is_some_and(|fields| {
        fields
            .iter()
            .any(|(key, value)| key.contains('\0') || holds_nul(value))
    }) {
        // Refused on both stores alike (PostgreSQL text cannot hold NUL, SQLite can).
        return Err(BuilderError::invalid(
            "pipelineParameters must not contain a NUL character",
        ));
    }
    let parameters_text = body
        .pipeline_parameters
        .as_ref()
        .map(serde_json::to_string)
        .transpose()
        .map_err(|e| BuilderError::Internal(e.to_string()))?;
    if parameters_text
        .as_ref()
        .is_some_and(|t| t.len() > MAX_PIPELINE_PARAMETERS_BYTES)
    {
        return Err(BuilderError::invalid(
            "pipelineParameters must be at most 16 KiB as JSON",
        ));
    }
    let user = find_user(&state, app.client_id.as_str(), &ext).await?;
    if user.status != UserStatus::Active {
        return Err(BuilderError::UserInactive);
    }
    let secret = generate_stream_key(state.rng.as_ref());
    let record = StreamKeyRecord {
        id: generate_uuid(state.rng.as_ref()),
        client_id: app.client_id.to_string(),
        user_id: user.id.clone(),
        pipeline: body.pipeline,
        pipeline_parameters: parameters_text,
        created_at: state.clock.now(),
        revoked_at: None,
    };
    state
        .store
        .insert_stream_key(&record, state.pepper.hash(&secret).as_bytes())
        .await?;
    let body = CreatedStreamKey {
        created_at: rfc3339(record.created_at),
        id: record.id.clone(),
        pipeline: record.pipeline,
        pipeline_parameters: body.pipeline_parameters,
        stream_key: secret,
        stream_id: record.id,
    };
    let mut response = (StatusCode::CREATED, Json(body)).into_response();
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(response)
}

/// Query of stream key revocation.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct StreamKeyQuery {
    /// The stream key to revoke (its id).
    #[serde(default)]
    #[param(required = true, nullable = false)]
    id: Option<String>,
}

/// `DELETE A/users/{ext}/stream-keys?id=`: revokes; the gateway's next auth call for the key is
/// refused (streams already running are not cut).
#[utoipa::path(
    delete,
    path = "/api/v1/apps/{client_id}/users/{external_user_id}/stream-keys",
    operation_id = "revokeStreamKey",
    tag = "builder",
    params(
        AppPath,
        UserPath,
        StreamKeyQuery
    ),
    security(("m2m_basic" = [])),
    responses((status = 200, description = "The stream key, now revoked", body = RevokedStreamKey), BuilderErrors)
)]
pub async fn revoke(
    State(state): State<AppState>,
    AppCaller(app): AppCaller,
    BuilderPath(UserPath {
        external_user_id: ext,
        ..
    }): BuilderPath<UserPath>,
    query: Result<Query<StreamKeyQuery>, QueryRejection>,
) -> Result<Json<RevokedStreamKey>, BuilderError> {
    let Query(query) = query.map_err(|_| BuilderError::invalid("malformed query string"))?;
    let id = query
        .id
        .ok_or_else(|| BuilderError::invalid("id is required"))?;
    let user = find_user(&state, app.client_id.as_str(), &ext).await?;
    let key = state
        .store
        .revoke_stream_key(&user.id, &id, state.clock.now())
        .await?
        .ok_or_else(|| BuilderError::NotFound("no such stream key".into()))?;
    state.forget_credentials();
    Ok(Json(RevokedStreamKey {
        stream_key: key_view(&key)?,
        success: true,
    }))
}
