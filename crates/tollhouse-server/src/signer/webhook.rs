//! `POST /webhooks/remote-signer` (alias `POST /authorize`): go-livepeer's remote signer asks
//! whether a payment may be signed for the end user whose headers it forwards.
//!
//! Wire rules (spec `signer-wire.md` §1): HTTP 401/400/413 only for caller and body failures;
//! once the caller is authenticated the answer is HTTP 200 with the verdict in the body.

use super::identity::{self};
use super::policy::{GateVerdict, gate};
use crate::state::AppState;
use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::extract::rejection::BytesRejection;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use tollhouse_api::webhook::{WebhookFailure, WebhookVerdict};
use tollhouse_core::webhook::{WebhookRequest, caller_presents_secret, parse_webhook_body};

fn failure(status: StatusCode, reason: &'static str) -> Response {
    let body = WebhookFailure {
        status: status.as_u16(),
        reason: reason.into(),
    };
    (status, Json(body)).into_response()
}

/// Whether the request carries the shared webhook secret in one of the three accepted headers.
pub fn caller_is_authentic(state: &AppState, headers: &HeaderMap) -> bool {
    let Some(secret) = state.config.signer.webhook_secret.as_ref() else {
        return false;
    };
    let sent = headers
        .iter()
        .map(|(name, value)| (name.as_str(), value.as_bytes()));
    caller_presents_secret(secret.expose().as_bytes(), sent)
}

/// The identity webhook.
#[utoipa::path(
    post,
    path = "/webhooks/remote-signer",
    operation_id = "remoteSignerWebhook",
    tag = "signer",
    request_body(content = serde_json::Value, content_type = "application/json",
        description = "go-livepeer's body: `{headers: {Name: [values]}, state?: {...}}`"),
    security(("webhook_secret" = [])),
    responses(
        (status = 200, description = "The verdict (see `status`)", body = WebhookVerdict),
        (status = 400, description = "Body is not a JSON object", body = WebhookFailure),
        (status = 401, description = "Wrong or missing webhook secret", body = WebhookFailure),
        (status = 413, description = "Body larger than 64 KiB", body = WebhookFailure)
    )
)]
pub async fn remote_signer(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    handle(state, headers, body).await
}

/// `POST /authorize`: the same webhook under the name go-livepeer deployments often use.
#[utoipa::path(
    post,
    path = "/authorize",
    operation_id = "authorizeWebhook",
    tag = "signer",
    request_body(content = serde_json::Value, content_type = "application/json"),
    security(("webhook_secret" = [])),
    responses(
        (status = 200, description = "The verdict (see `status`)", body = WebhookVerdict),
        (status = 400, description = "Body is not a JSON object", body = WebhookFailure),
        (status = 401, description = "Wrong or missing webhook secret", body = WebhookFailure),
        (status = 413, description = "Body larger than 64 KiB", body = WebhookFailure)
    )
)]
pub async fn authorize(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    handle(state, headers, body).await
}

async fn handle(
    state: AppState,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    if !caller_is_authentic(&state, &headers) {
        state.metrics.webhook_verdict(401);
        return failure(StatusCode::UNAUTHORIZED, "unauthorized webhook caller");
    }
    let body = match body {
        Ok(body) => body,
        Err(rejection) if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE => {
            return failure(StatusCode::PAYLOAD_TOO_LARGE, "request body too large");
        }
        Err(_) => return failure(StatusCode::BAD_REQUEST, "invalid request json"),
    };
    let Ok(request) = parse_webhook_body(&body) else {
        state.metrics.webhook_verdict(400);
        return failure(StatusCode::BAD_REQUEST, "invalid request json");
    };
    // Past the deadline (an unreachable or stalled store) the signer gets the documented 503
    // in good time: go-livepeer's client gives up after 5 s and reports a bare 500.
    let verdict = tokio::time::timeout(
        state.config.signer.webhook_deadline(),
        decide(&state, &request),
    )
    .await
    .unwrap_or_else(|_| {
        tracing::warn!("identity webhook passed its deadline");
        state.metrics.deadline_passed("webhook");
        WebhookVerdict::billing_unavailable()
    });
    state.metrics.webhook_verdict(verdict.status);
    Json(verdict).into_response()
}

/// The verdict for a parsed request.
pub async fn decide(state: &AppState, request: &WebhookRequest) -> WebhookVerdict {
    let identity = match identity::verify(
        &state.signer,
        request.credential.as_deref(),
        &request.trusted,
    )
    .await
    {
        Ok(identity) => identity,
        Err(rejection) => {
            if let Some(cause) = rejection.outage_cause() {
                tracing::warn!(%cause, "identity could not be checked");
            }
            return WebhookVerdict::rejected(&rejection);
        }
    };
    if request
        .previous_auth_id
        .as_deref()
        .is_some_and(|previous| !identity.usage.has_auth_id(previous))
    {
        return WebhookVerdict::auth_id_mismatch();
    }
    match gate(&state.signer, &identity).await {
        GateVerdict::Allow { recheck_secs } => {
            WebhookVerdict::allow(&identity.usage, state.clock.now(), recheck_secs)
        }
        GateVerdict::InsufficientBalance => WebhookVerdict::insufficient_balance(),
        GateVerdict::Unavailable => WebhookVerdict::billing_unavailable(),
    }
}
