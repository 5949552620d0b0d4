//! `POST /webhooks/live-ai-auth`: go-livepeer's gateway (`-liveAIAuthWebhookUrl`) asks whether
//! a Live AI stream may start, and with which pipeline.
//!
//! Wire rules (spec `signer-wire.md` §4): the gateway sends the key configured with
//! `-liveAIAuthApiKey` as `X-Api-Key` and as a raw `Authorization` value, and a JSON body naming
//! the stream key (`stream_key`, copied from `stream`). A 2xx answer with a JSON object allows
//! the stream, its optional fields overriding the stream's settings; any other status denies it
//! (the gateway answers the encoder 403 and drops the stream). Every answer here is JSON: the
//! allow object, or `{"error": "<code>", "error_description": "…"}`.
//!
//! The stream key is either a user's stream key (`pmth_sk_…`, created through the Builder API
//! with its pipeline and parameters) or one of the user's API keys (bare or composite), verified
//! exactly as the identity webhook verifies it. Either way the user must be active, and the
//! app's balance gate is the identity webhook's: a prepaid app's user needs a balance above the
//! soft limit.

use super::identity::{self, Rejection, VerifiedIdentity};
use super::policy::{GateVerdict, gate};
use crate::config::VerifierKind;
use crate::state::AppState;
use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::extract::rejection::BytesRejection;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use std::borrow::Cow;
use tollhouse_core::ids::{looks_like_api_key, looks_like_stream_key, split_api_key};
use tollhouse_core::user::UserStatus;
use tollhouse_core::webhook::{TrustedHeaders, UsageIdentity};
use utoipa::ToSchema;

/// The gateway's request body (`AIAuthRequest`). Only `stream_key`/`stream` are read; every other
/// field, known or not, is ignored.
#[derive(Debug, Deserialize, ToSchema)]
#[allow(dead_code)]
pub struct LiveAiAuthRequest {
    /// The stream name the encoder used: a stream key or an API key.
    stream: Option<String>,
    /// The same value (the gateway copies `stream` into it); read first.
    stream_key: Option<String>,
    /// `rtmp`, `whip`, `livepeer-whip` (empty on BYOC paths).
    #[serde(rename = "type")]
    kind: Option<String>,
    /// The ingest URL's query string.
    query_params: Option<String>,
    /// The gateway's public host.
    gateway_host: Option<String>,
    /// Where the output can be watched.
    whep_url: Option<String>,
    /// The stream's status URL.
    status_url: Option<String>,
    /// The stream's update URL.
    update_url: Option<String>,
}

/// The stream may start: the settings the gateway overrides (`AIAuthResponse`).
#[derive(Debug, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LiveAiAllow {
    /// The stream id the gateway reports the stream under: the stream key's id, or the API
    /// key's id.
    stream_id: String,
    /// The pipeline to run; absent: the one the stream asked for.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pipeline: Option<String>,
    /// Parameters of the pipeline; absent: the stream's own.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>, nullable = false)]
    pipeline_parameters: Option<Map<String, Value>>,
}

/// The stream is refused, or the request is not the gateway's.
#[derive(Debug, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LiveAiDenial<'a> {
    /// Machine-readable code: `unauthorized`, `invalid_request`, `payload_too_large`,
    /// `missing_credential`, `invalid_credential`, `credential_revoked`, `user_inactive`,
    /// `verifier_not_allowed`, `insufficient_balance`, `billing_unavailable`, `server_error`.
    error: &'a str,
    /// Human-readable detail.
    error_description: Cow<'static, str>,
}

/// Why the stream may not start.
#[derive(Debug, thiserror::Error)]
pub enum LiveAiError {
    /// Missing or wrong gateway key, or none configured.
    #[error("unauthorized")]
    Unauthorized,
    /// Not a JSON object, or a field of the wrong type.
    #[error("invalid_request: {0}")]
    InvalidRequest(&'static str),
    /// Larger than 64 KiB.
    #[error("payload_too_large")]
    PayloadTooLarge,
    /// The stream key identifies no active user (or storage is unreachable).
    #[error("{0}")]
    Rejected(Rejection),
    /// Prepaid app, balance at or below the soft limit.
    #[error("insufficient_balance")]
    InsufficientBalance,
    /// The balance could not be read and the app fails closed.
    #[error("billing_unavailable")]
    BillingUnavailable,
    /// A bug or corrupt data; logged, never sent.
    #[error("internal: {0}")]
    Internal(String),
}

impl From<tollhouse_store::StoreError> for LiveAiError {
    fn from(err: tollhouse_store::StoreError) -> Self {
        Self::Rejected(Rejection::from(err))
    }
}

impl LiveAiError {
    fn parts(&self) -> (StatusCode, &str, Cow<'static, str>) {
        match self {
            Self::Unauthorized => (
                StatusCode::FORBIDDEN,
                "unauthorized",
                "missing or wrong live AI API key".into(),
            ),
            Self::InvalidRequest(d) => (StatusCode::BAD_REQUEST, "invalid_request", (*d).into()),
            Self::PayloadTooLarge => (
                StatusCode::PAYLOAD_TOO_LARGE,
                "payload_too_large",
                "request body too large".into(),
            ),
            Self::Rejected(rejection) => {
                let status = if rejection.status() == 503 {
                    StatusCode::SERVICE_UNAVAILABLE
                } else {
                    StatusCode::FORBIDDEN
                };
                (status, rejection.code(), rejection.to_string().into())
            }
            Self::InsufficientBalance => (
                StatusCode::FORBIDDEN,
                "insufficient_balance",
                "insufficient balance".into(),
            ),
            Self::BillingUnavailable => (
                StatusCode::SERVICE_UNAVAILABLE,
                "billing_unavailable",
                "billing unavailable".into(),
            ),
            Self::Internal(_) => (
                StatusCode::INTERNAL_SERVER_ERROR,
                "server_error",
                "internal error".into(),
            ),
        }
    }
}

impl IntoResponse for LiveAiError {
    fn into_response(self) -> Response {
        match &self {
            Self::Rejected(Rejection::StoreUnavailable(cause) | Rejection::Unavailable(cause)) => {
                tracing::warn!(%cause, "live AI stream could not be checked");
            }
            Self::Internal(cause) => tracing::error!(%cause, "live AI auth: internal error"),
            _ => {}
        }
        let (status, error, error_description) = self.parts();
        (
            status,
            Json(LiveAiDenial {
                error,
                error_description,
            }),
        )
            .into_response()
    }
}

/// The Live AI stream auth webhook.
#[utoipa::path(
    post,
    path = "/webhooks/live-ai-auth",
    operation_id = "liveAiAuthWebhook",
    tag = "signer",
    request_body(content = LiveAiAuthRequest, content_type = "application/json",
        description = "go-livepeer's `AIAuthRequest`; unknown fields are ignored"),
    security(("live_ai_key" = [])),
    responses(
        (status = 200, description = "The stream may start, with these settings", body = LiveAiAllow),
        (status = 400, description = "Body is not a JSON object, or `stream`/`stream_key` is not a string (`invalid_request`)", body = LiveAiDenial),
        (status = 403, description = "Wrong or missing gateway key (`unauthorized`); unknown, revoked or missing stream key, deactivated user, or a prepaid user without balance", body = LiveAiDenial),
        (status = 413, description = "Body larger than 64 KiB (`payload_too_large`)", body = LiveAiDenial),
        (status = 500, description = "Internal error (`server_error`)", body = LiveAiDenial),
        (status = 503, description = "Storage or billing unavailable (`billing_unavailable`)", body = LiveAiDenial)
    )
)]
pub async fn authenticate_stream(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    match handle(&state, &headers, body).await {
        Ok(allow) => Json(allow).into_response(),
        Err(err) => {
            if !matches!(err, LiveAiError::Internal(_)) {
                tracing::info!(reason = %err, "live AI stream refused");
            }
            err.into_response()
        }
    }
}

async fn handle(
    state: &AppState,
    headers: &HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<LiveAiAllow, LiveAiError> {
    if !caller_is_gateway(state, headers) {
        return Err(LiveAiError::Unauthorized);
    }
    let body = match body {
        Ok(body) => body,
        Err(rejection) if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE => {
            return Err(LiveAiError::PayloadTooLarge);
        }
        Err(_) => return Err(LiveAiError::InvalidRequest("invalid request body")),
    };
    let key = stream_key_of(&body)?;
    // The store's answer must arrive inside the deadline; past it the gateway gets the
    // documented 503 rather than waiting on an unreachable database.
    tokio::time::timeout(state.config.signer.webhook_deadline(), decide(state, &key))
        .await
        .unwrap_or_else(|_| {
            tracing::warn!("live AI stream auth passed its deadline");
            state.metrics.deadline_passed("live_ai");
            Err(LiveAiError::BillingUnavailable)
        })
}

/// The verdict for a stream key or API key.
async fn decide(state: &AppState, key: &str) -> Result<LiveAiAllow, LiveAiError> {
    let (identity, allow) = if looks_like_stream_key(key) {
        by_stream_key(state, key).await?
    } else if looks_like_api_key(key) {
        by_api_key(state, key).await?
    } else {
        return Err(LiveAiError::Rejected(if key.is_empty() {
            Rejection::Missing
        } else {
            Rejection::Invalid
        }));
    };
    match gate(&state.signer, &identity).await {
        GateVerdict::Allow { .. } => {
            tracing::info!(
                client_id = %identity.usage.client_id,
                stream_id = %allow.stream_id,
                "live AI stream allowed"
            );
            Ok(allow)
        }
        GateVerdict::InsufficientBalance => Err(LiveAiError::InsufficientBalance),
        GateVerdict::Unavailable => Err(LiveAiError::BillingUnavailable),
    }
}

/// Whether the request carries the configured gateway key: `X-Api-Key`, or `Authorization` raw
/// (what go-livepeer sends) or as `Bearer <key>`. Compared as keyed hashes in constant time, so
/// neither content nor length leaks through timing.
fn caller_is_gateway(state: &AppState, headers: &HeaderMap) -> bool {
    let Some(key) = state
        .config
        .signer
        .live_ai_api_key
        .as_ref()
        .filter(|k| !k.expose().is_empty())
    else {
        tracing::warn!("live AI auth webhook called but no live AI API key is configured");
        return false;
    };
    let expected = state.pepper.hash(key.expose());
    let matches = |value: &str| !value.is_empty() && state.pepper.hash(value).matches(&expected);
    let values = |name| {
        headers
            .get_all(name)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .map(str::trim)
    };
    let named = values(header::HeaderName::from_static("x-api-key")).any(matches);
    let authorization = values(header::AUTHORIZATION).any(|v| {
        let bearer = tollhouse_core::authorization::bearer(v).is_some_and(matches);
        bearer | matches(v)
    });
    named | authorization
}

/// The stream key named by the body: `stream_key`, or else `stream` (empty if neither).
fn stream_key_of(body: &[u8]) -> Result<String, LiveAiError> {
    let value: Value = serde_json::from_slice(body)
        .map_err(|_| LiveAiError::InvalidRequest("invalid request json"))?;
    let Value::Object(mut fields) = value else {
        return Err(LiveAiError::InvalidRequest(
            "the request body must be a JSON object",
        ));
    };
    let mut text = |name: &str| match fields.remove(name) {
        None | Some(Value::Null) => Ok(String::new()),
        Some(Value::String(s)) => Ok(s),
        Some(_) => Err(LiveAiError::InvalidRequest(
            "stream and stream_key must be strings",
        )),
    };
    let stream_key = text("stream_key")?;
    let stream = text("stream")?;
    Ok(if stream_key.is_empty() {
        stream
    } else {
        stream_key
    })
}

/// A user's stream key: the user, and the pipeline settings stored with the key.
async fn by_stream_key(
    state: &AppState,
    key: &str,
) -> Result<(VerifiedIdentity, LiveAiAllow), LiveAiError> {
    let record = state
        .store
        .stream_key_by_hash(state.pepper.hash(key).as_bytes())
        .await?
        .ok_or(LiveAiError::Rejected(Rejection::Invalid))?;
    if record.revoked_at.is_some() {
        return Err(LiveAiError::Rejected(Rejection::Revoked));
    }
    let user = state
        .store
        .user_by_id(&record.user_id)
        .await?
        .filter(|u| u.client_id == record.client_id)
        .ok_or(LiveAiError::Rejected(Rejection::Invalid))?;
    if user.status != UserStatus::Active {
        return Err(LiveAiError::Rejected(Rejection::Inactive));
    }
    let pipeline_parameters = record
        .pipeline_parameters
        .as_deref()
        .map(serde_json::from_str::<Map<String, Value>>)
        .transpose()
        .map_err(|e| {
            LiveAiError::Internal(format!(
                "stream_keys.pipeline_parameters of {}: {e}",
                record.id
            ))
        })?;
    let identity = VerifiedIdentity {
        usage: UsageIdentity::new(
            state.issuer.clone(),
            user.client_id.clone(),
            user.external_user_id.to_string(),
        ),
        user_id: Some(user.id.clone()),
        // A long-lived key the app issued, like an API key (the gate does not look at it).
        verifier: VerifierKind::ApiKey,
    };
    let allow = LiveAiAllow {
        stream_id: record.id,
        pipeline: record.pipeline,
        pipeline_parameters,
    };
    Ok((identity, allow))
}

/// One of the user's API keys, verified as the identity webhook verifies it (same cache, same
/// revocation and deactivation rules, same per-app verifier list); the stream id is the key's id.
async fn by_api_key(
    state: &AppState,
    key: &str,
) -> Result<(VerifiedIdentity, LiveAiAllow), LiveAiError> {
    let identity = identity::verify(&state.signer, Some(key), &TrustedHeaders::default())
        .await
        .map_err(LiveAiError::Rejected)?;
    if identity.verifier != VerifierKind::ApiKey {
        return Err(LiveAiError::Rejected(Rejection::Invalid));
    }
    let (_, secret) = split_api_key(key);
    let record = state
        .store
        .api_key_by_hash(state.pepper.hash(secret).as_bytes())
        .await?
        .ok_or(LiveAiError::Rejected(Rejection::Invalid))?;
    if record.revoked_at.is_some() {
        return Err(LiveAiError::Rejected(Rejection::Revoked));
    }
    let allow = LiveAiAllow {
        stream_id: record.id,
        pipeline: None,
        pipeline_parameters: None,
    };
    Ok((identity.as_ref().clone(), allow))
}
