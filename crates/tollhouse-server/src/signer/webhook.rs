//! `POST /webhooks/remote-signer` (alias `POST /authorize`): go-livepeer's remote signer asks
//! whether a payment may be signed for the end user whose headers it forwards.
//!
//! Wire rules (spec `signer-wire.md` §1): HTTP 401/400/413 only for caller and body failures;
//! once the caller is authenticated the answer is HTTP 200 with the verdict in the body.

use super::identity::{self, Rejection};
use super::policy::{GateVerdict, gate};
use crate::state::AppState;
use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::extract::rejection::BytesRejection;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use subtle::ConstantTimeEq as _;
use tollhouse_core::webhook::{WebhookRequest, parse_webhook_body};
use utoipa::ToSchema;

/// The identity the signer records for the payment.
#[derive(Debug, Serialize, ToSchema)]
pub struct WebhookIdentity {
    /// Who vouches for the identity.
    issuer: String,
    /// The app.
    client_id: String,
    /// The billed subject.
    usage_subject: String,
    /// Kind of subject (`external_user_id`).
    usage_subject_type: String,
}

/// The webhook's answer. `status` 200 lets the signer sign; any other value is passed on to the
/// gateway as its HTTP status with `reason` as the message.
#[derive(Debug, Serialize, ToSchema)]
pub struct WebhookVerdict {
    /// 200, or the status for the gateway (401, 403, 483, 503, …).
    status: u16,
    /// Why the payment is refused.
    #[serde(skip_serializing_if = "Option::is_none")]
    reason: Option<String>,
    /// Machine-readable refusal code (`insufficient_balance`, `billing_unavailable`, …).
    #[serde(skip_serializing_if = "Option::is_none")]
    code: Option<&'static str>,
    /// `<client_id>:<usage_subject>`, stable per user.
    #[serde(skip_serializing_if = "Option::is_none")]
    auth_id: Option<String>,
    /// Unix seconds until which the signer may skip asking again for this payment session.
    #[serde(skip_serializing_if = "Option::is_none")]
    expiry: Option<i64>,
    /// Who the user is.
    #[serde(skip_serializing_if = "Option::is_none")]
    identity: Option<WebhookIdentity>,
}

impl WebhookVerdict {
    /// The store could not answer (in time): the documented 503 the signer passes on.
    fn billing_unavailable() -> Self {
        Self::refuse(503, "billing unavailable", "billing_unavailable")
    }

    fn refuse(status: u16, reason: impl Into<String>, code: &'static str) -> Self {
        Self {
            status,
            reason: Some(reason.into()),
            code: Some(code),
            auth_id: None,
            expiry: None,
            identity: None,
        }
    }
}

/// An HTTP-level failure (caller or body), in the webhook's own shape.
#[derive(Debug, Serialize, ToSchema)]
pub struct WebhookFailure {
    /// Same as the HTTP status.
    status: u16,
    /// What went wrong.
    reason: &'static str,
}

fn failure(status: StatusCode, reason: &'static str) -> Response {
    (
        status,
        Json(WebhookFailure {
            status: status.as_u16(),
            reason,
        }),
    )
        .into_response()
}

/// Whether the request carries the shared webhook secret in one of the three accepted headers.
pub fn caller_is_authentic(state: &AppState, headers: &HeaderMap) -> bool {
    let Some(secret) = state.config.webhook_secret.as_ref() else {
        return false;
    };
    let expected = secret.expose().as_bytes();
    let matches = |value: &str| bool::from(value.as_bytes().ct_eq(expected));
    let bearer = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            v.split_once(' ')
                .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        })
        .is_some_and(|(_, token)| matches(token.trim()));
    let named = ["x-api-key", "x-webhook-secret"].iter().any(|name| {
        headers
            .get_all(*name)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .any(|v| matches(v.trim()))
    });
    bearer | named
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
    let verdict = tokio::time::timeout(state.config.webhook_deadline(), decide(&state, &request))
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
    let identity =
        match identity::verify(state, request.credential.as_deref(), &request.trusted).await {
            Ok(identity) => identity,
            Err(rejection) => {
                if let Rejection::StoreUnavailable(cause) | Rejection::IssuerUnavailable(cause) =
                    &rejection
                {
                    tracing::warn!(%cause, "identity could not be checked");
                }
                let reason = rejection.to_string();
                return WebhookVerdict::refuse(rejection.status(), reason, rejection.code());
            }
        };
    let auth_id = identity.auth_id();
    if request
        .previous_auth_id
        .as_deref()
        .is_some_and(|previous| previous != auth_id)
    {
        // The signer would fail with a bare 500; say why instead.
        return WebhookVerdict::refuse(
            403,
            "credential belongs to another user than this payment session",
            "auth_id_mismatch",
        );
    }
    let recheck_secs = match gate(state, &identity).await {
        GateVerdict::Allow { recheck_secs } => recheck_secs,
        GateVerdict::InsufficientBalance => {
            return WebhookVerdict::refuse(483, "insufficient balance", "insufficient_balance");
        }
        GateVerdict::Unavailable => {
            return WebhookVerdict::billing_unavailable();
        }
    };
    let recheck_at = state.clock.now() + recheck_secs;
    let expiry = identity
        .expires_at
        .map_or(recheck_at, |exp| exp.min(recheck_at));
    WebhookVerdict {
        status: 200,
        reason: None,
        code: None,
        auth_id: Some(auth_id),
        expiry: Some(expiry),
        identity: Some(WebhookIdentity {
            issuer: identity.issuer.clone(),
            client_id: identity.client_id.clone(),
            usage_subject: identity.usage_subject.clone(),
            usage_subject_type: identity.usage_subject_type.clone(),
        }),
    }
}
