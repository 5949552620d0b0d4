//! `POST A/usage/signed-tickets`: usage reported by an integrator's backend in the builder-sdk
//! shape, one ticket or `{tickets: […]}`, deduplicated on `(app, requestId)`.

use super::auth::authenticate;
use super::error::{BodyTooLarge, BuilderError, BuilderErrors, StateConflict, json_object};
use super::path_params;
use crate::state::AppState;
use axum::Json;
use axum::extract::rejection::{JsonRejection, PathRejection};
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use tollhouse_core::money::{ExactUsd, Wei};
use tollhouse_core::usage::split_pipeline;
use tollhouse_core::user::ExternalUserId;
use tollhouse_store::UsageEventRow;
use utoipa::ToSchema;

/// Most tickets in one request.
pub const MAX_TICKETS: usize = 1000;

/// One ticket, as `@pymthouse/builder-sdk` sends it.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SignedTicketIn {
    /// The integrator's id for this signing; the dedupe key within the app.
    #[schema(min_length = 1, max_length = 200)]
    request_id: String,
    /// The user who spent it.
    #[schema(pattern = "^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$")]
    external_user_id: String,
    /// The network fee in micro-USD, a decimal string (or JSON integer).
    #[schema(value_type = String, pattern = "^[0-9]{1,19}$")]
    network_fee_usd_micros: Value,
    /// The fee in wei, a decimal string.
    #[serde(default)]
    #[schema(value_type = Option<String>, pattern = "^[0-9]{1,39}$")]
    fee_wei: Option<Value>,
    /// Pixels billed.
    #[serde(default)]
    #[schema(minimum = 0)]
    pixels: Option<i64>,
    /// Pipeline (`"<pipeline>:<model>"` is split).
    #[serde(default)]
    pipeline: Option<String>,
    /// Model id.
    #[serde(default)]
    model_id: Option<String>,
    /// The gateway's request id.
    #[serde(default)]
    gateway_request_id: Option<String>,
    /// The ETH/USD price the integrator valued the fee at (recorded as given).
    #[serde(default)]
    eth_usd_price: Option<Value>,
    /// When it happened (unix ms); default: now.
    #[serde(default)]
    occurred_at_ms: Option<i64>,
}

/// The outcome.
#[derive(Debug, Serialize, ToSchema)]
pub struct IngestOutcome {
    /// New tickets stored.
    ingested: u64,
    /// Tickets already stored (same `requestId`).
    duplicate: u64,
    /// Always `tollhouse`.
    #[schema(value_type = String)]
    source: &'static str,
}

fn text_amount(value: &Value, what: &str) -> Result<String, BuilderError> {
    match value {
        Value::String(s) => Ok(s.clone()),
        Value::Number(n) if n.is_u64() => Ok(n.to_string()),
        _ => Err(BuilderError::invalid(format!(
            "{what} must be a non-negative integer (decimal string)"
        ))),
    }
}

/// `POST A/usage/signed-tickets`.
#[utoipa::path(
    post,
    path = "/api/v1/apps/{client_id}/usage/signed-tickets",
    operation_id = "ingestSignedTickets",
    tag = "builder",
    params(("client_id" = String, Path, description = "The app's public client id (`app_…`)")),
    request_body(content = SignedTicketIn, content_type = "application/json",
        description = "One ticket, or `{\"tickets\": [ticket, …]}` (at most 1000)"),
    security(("m2m_basic" = [])),
    responses(
        (status = 200, description = "Stored (duplicates ignored)", body = IngestOutcome),
        BuilderErrors,
        BodyTooLarge
    )
)]
pub async fn signed_tickets(
    State(state): State<AppState>,
    client_id: Result<Path<String>, PathRejection>,
    headers: HeaderMap,
    body: Result<Json<Value>, JsonRejection>,
) -> Result<Json<IngestOutcome>, BuilderError> {
    let client_id = path_params(client_id)?;
    let app = authenticate(&state, &headers, &client_id).await?;
    let body: Value = json_object(body)?;
    let tickets: Vec<SignedTicketIn> = match body.get("tickets") {
        Some(list @ Value::Array(items)) => {
            if items.is_empty() || items.len() > MAX_TICKETS {
                return Err(BuilderError::invalid(format!(
                    "tickets must hold 1 to {MAX_TICKETS} tickets"
                )));
            }
            serde_json::from_value(list.clone())
                .map_err(|e| BuilderError::invalid(format!("tickets: {e}")))?
        }
        Some(_) => return Err(BuilderError::invalid("tickets must be an array")),
        None => {
            vec![serde_json::from_value(body).map_err(|e| BuilderError::invalid(e.to_string()))?]
        }
    };
    let now_ms = state.clock.now_millis();
    let mut rows = Vec::with_capacity(tickets.len());
    for t in tickets {
        let request_id = t.request_id.trim();
        if request_id.is_empty() || request_id.len() > 200 {
            return Err(BuilderError::invalid(
                "requestId must be 1 to 200 characters",
            ));
        }
        let ext = ExternalUserId::parse(&t.external_user_id)
            .map_err(|e| BuilderError::invalid(e.to_string()))?;
        let micros = text_amount(&t.network_fee_usd_micros, "networkFeeUsdMicros")?;
        let micros: u128 = micros
            .parse()
            .ok()
            .filter(|m: &u128| *m <= i64::MAX as u128 && !micros.starts_with('+'))
            .ok_or_else(|| {
                BuilderError::invalid("networkFeeUsdMicros must be a non-negative integer")
            })?;
        let usd = ExactUsd::from_micros_and_units(micros, 0)
            .and_then(ExactUsd::to_parts)
            .map_err(|e| BuilderError::invalid(format!("networkFeeUsdMicros: {e}")))?;
        let fee = match &t.fee_wei {
            None | Some(Value::Null) => Wei::ZERO,
            Some(v) => Wei::parse(&text_amount(v, "feeWei")?)
                .map_err(|e| BuilderError::invalid(format!("feeWei: {e}")))?,
        };
        let fee = fee
            .to_parts()
            .map_err(|e| BuilderError::invalid(format!("feeWei: {e}")))?;
        let (pipeline, embedded_model) = split_pipeline(t.pipeline.as_deref().unwrap_or(""));
        let model_id = t
            .model_id
            .filter(|m| !m.is_empty())
            .unwrap_or_else(|| embedded_model.to_owned());
        let user = state
            .store
            .user_by_external_id(app.client_id.as_str(), ext.as_str())
            .await?;
        rows.push(UsageEventRow {
            id: format!("ticket:{}:{request_id}", app.client_id),
            source: "signed_ticket",
            auth_id: format!("{}:{ext}", app.client_id),
            client_id: Some(app.client_id.to_string()),
            user_id: user.map(|u| u.id),
            pipeline: pipeline.to_owned(),
            model_id,
            manifest_id: String::new(),
            gateway_request_id: t.gateway_request_id.filter(|g| !g.is_empty()),
            request_id: request_id.to_owned(),
            fee,
            usd,
            eth_usd_price: t
                .eth_usd_price
                .map(|p| match p {
                    Value::String(s) => s,
                    other => other.to_string(),
                })
                .unwrap_or_default(),
            pixels: t.pixels.unwrap_or(0).max(0),
            billable_secs: "0".into(),
            billable_micros: 0,
            occurred_at_ms: t.occurred_at_ms.unwrap_or(now_ms),
            price_observed_at_ms: None,
        });
    }
    let counts = state
        .store
        .ingest_usage(&rows, &[], state.clock.now())
        .await?;
    state.metrics.usage_ingested(&counts, 0);
    // The gate must see the new consumption at once in this process.
    for user_id in rows.iter().filter_map(|r| r.user_id.as_ref()) {
        state.gate_balances.remove(user_id);
    }
    Ok(Json(IngestOutcome {
        ingested: counts.ingested,
        duplicate: counts.duplicate,
        source: "tollhouse",
    }))
}

/// The outcome of an envelope batch.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct EnvelopeOutcome {
    /// New events stored.
    ingested: u64,
    /// Events already stored (same envelope id).
    duplicate: u64,
    /// Unreadable envelopes, kept as dead letters.
    dead_lettered: u64,
    /// Always `tollhouse`.
    #[schema(value_type = String)]
    source: &'static str,
}

/// `POST A/usage/events`: go-livepeer envelopes (`{id, type, timestamp, data}`) for operators
/// without Kafka, as a JSON array or `{events: […]}` (at most 1000). Deduplicated on the
/// envelope id like the Kafka path; other event types are skipped; an envelope whose `auth_id`
/// names another app is refused, so an app can only report its own users' usage.
#[utoipa::path(
    post,
    path = "/api/v1/apps/{client_id}/usage/events",
    operation_id = "ingestUsageEnvelopes",
    tag = "builder",
    params(("client_id" = String, Path, description = "The app's public client id (`app_…`)")),
    request_body(content = Vec<serde_json::Value>, content_type = "application/json",
        description = "go-livepeer envelopes, or `{\"events\": [envelope, …]}`"),
    security(("m2m_basic" = [])),
    responses(
        (status = 200, description = "Stored (duplicates ignored)", body = EnvelopeOutcome),
        BuilderErrors,
        StateConflict,
        BodyTooLarge
    )
)]
pub async fn envelopes(
    State(state): State<AppState>,
    client_id: Result<Path<String>, PathRejection>,
    headers: HeaderMap,
    body: Result<Json<Value>, JsonRejection>,
) -> Result<Json<EnvelopeOutcome>, BuilderError> {
    use crate::metering::ingest::{IngestError, RawEvent, Source, ingest};
    let client_id = path_params(client_id)?;
    let app = authenticate(&state, &headers, &client_id).await?;
    let Json(body) = body?;
    let items = match body {
        Value::Array(items) => items,
        Value::Object(mut map) => match map.remove("events") {
            Some(Value::Array(items)) => items,
            _ => return Err(BuilderError::invalid("events must be an array")),
        },
        _ => return Err(BuilderError::invalid("expected an array of envelopes")),
    };
    if items.is_empty() || items.len() > MAX_TICKETS {
        return Err(BuilderError::invalid(format!(
            "send 1 to {MAX_TICKETS} envelopes"
        )));
    }
    let mut batch = Vec::with_capacity(items.len());
    for (index, item) in items.iter().enumerate() {
        let payload =
            serde_json::to_vec(item).map_err(|e| BuilderError::Internal(e.to_string()))?;
        if let Ok(Some(ticket)) = tollhouse_core::usage::parse_usage_event(&payload)
            && ticket.client_id != app.client_id.as_str()
        {
            return Err(BuilderError::invalid(format!(
                "envelope {index}: its auth_id names another app"
            )));
        }
        batch.push(RawEvent {
            payload,
            source: Source::Http,
        });
    }
    let counts = ingest(&state, &batch).await.map_err(|e| match e {
        IngestError::Store(e) => BuilderError::from(e),
        IngestError::NoPrice => BuilderError::Conflict(
            "this server cannot value usage: no ETH/USD price is configured".into(),
        ),
    })?;
    Ok(Json(EnvelopeOutcome {
        ingested: counts.ingested,
        duplicate: counts.duplicate,
        dead_lettered: counts.dead_lettered,
        source: "tollhouse",
    }))
}
