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
use serde::Serialize;
use serde_json::Value;
use tollhouse_api::tickets::{IngestOutcome, SignedTicket};
use tollhouse_core::money::{ExactUsd, Wei};
use tollhouse_core::usage::split_pipeline;
use tollhouse_core::user::ExternalUserId;
use tollhouse_store::UsageEventRow;
use utoipa::ToSchema;

/// Most tickets in one request.
pub const MAX_TICKETS: usize = 1000;

/// `text` (RFC 3339) as unix milliseconds.
fn observed_at_ms(text: &str) -> Result<i64, BuilderError> {
    time::OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339)
        .map(|t| (t.unix_timestamp_nanos() / 1_000_000) as i64)
        .map_err(|_| BuilderError::invalid("ethUsdObservedAt must be an RFC 3339 time"))
}

/// `POST A/usage/signed-tickets`.
#[utoipa::path(
    post,
    path = "/api/v1/apps/{client_id}/usage/signed-tickets",
    operation_id = "ingestSignedTickets",
    tag = "builder",
    params(("client_id" = String, Path, description = "The app's public client id (`app_…`)")),
    request_body(content = SignedTicket, content_type = "application/json",
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
    let tickets: Vec<SignedTicket> = match body.get("tickets") {
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
        let micros = u128::try_from(t.network_fee_usd_micros.get()).map_err(|_| {
            BuilderError::invalid("networkFeeUsdMicros must be a non-negative integer")
        })?;
        let usd = ExactUsd::from_micros_and_units(micros, 0)
            .and_then(ExactUsd::to_parts)
            .map_err(|e| BuilderError::invalid(format!("networkFeeUsdMicros: {e}")))?;
        let fee = t
            .fee_wei
            .unwrap_or(Wei::ZERO)
            .to_parts()
            .map_err(|e| BuilderError::invalid(format!("feeWei: {e}")))?;
        let price_observed_at_ms = t
            .eth_usd_observed_at
            .as_deref()
            .map(observed_at_ms)
            .transpose()?;
        if t.eth_usd_price.as_ref().is_some_and(|p| p.len() > 64)
            || t.eth_usd_round_id.as_ref().is_some_and(|r| r.len() > 128)
        {
            return Err(BuilderError::invalid(
                "ethUsdPrice (64) or ethUsdRoundId (128 characters) is too long",
            ));
        }
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
            eth_usd_price: t.eth_usd_price.unwrap_or_default(),
            pixels: t.pixels.unwrap_or(0).max(0),
            billable_secs: "0".into(),
            billable_micros: 0,
            occurred_at_ms: t.occurred_at_ms.unwrap_or(now_ms),
            price_observed_at_ms,
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
        source: "tollhouse".into(),
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
            "this server cannot value usage now: no ETH/USD price is configured, or the oracle's price is older than its maximum age".into(),
        ),
    })?;
    Ok(Json(EnvelopeOutcome {
        ingested: counts.ingested,
        duplicate: counts.duplicate,
        dead_lettered: counts.dead_lettered,
        source: "tollhouse",
    }))
}
