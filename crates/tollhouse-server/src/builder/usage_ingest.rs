//! `POST A/usage/signed-tickets`: usage reported by an integrator's backend in the builder-sdk
//! shape, one ticket or `{tickets: […]}`, deduplicated on `(app, requestId)`.

use super::error::{BodyTooLarge, BuilderError, BuilderErrors, StateConflict, UsageCeiling};
use super::extract::{AppCaller, AppPath, BuilderJson};
use crate::state::AppState;
use axum::Json;
use axum::extract::State;
use axum::extract::rejection::JsonRejection;
use serde::Serialize;
use serde_json::Value;
use tollhouse_api::tickets::{INGEST_SOURCE, IngestOutcome, SignedTicket, TicketResult};
use tollhouse_core::bounds;
use tollhouse_core::money::{EthUsdPrice, ExactUsd, UsdParts, Wei, WeiParts};
use tollhouse_core::usage::split_pipeline;
use tollhouse_core::user::ExternalUserId;
use tollhouse_store::UsageEventRow;
use utoipa::ToSchema;

/// Most tickets in one request.
pub const MAX_TICKETS: usize = 1000;

/// `text` (RFC 3339) as unix milliseconds.
fn observed_at_ms(text: &str) -> Result<i64, String> {
    time::OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339)
        .map(|t| (t.unix_timestamp_nanos() / 1_000_000) as i64)
        .map_err(|_| "ethUsdObservedAt must be an RFC 3339 time".into())
}

/// What [`check_ticket`] derived from a valid ticket.
struct CheckedTicket {
    ext: ExternalUserId,
    fee: WeiParts,
    usd: UsdParts,
    occurred_at_ms: i64,
    price_observed_at_ms: Option<i64>,
}

/// Every bound a ticket's fields must keep (`tollhouse_core::bounds`), checked before anything
/// is looked up, so SQLite and PostgreSQL refuse exactly the same tickets.
fn check_ticket(t: &SignedTicket, now_ms: i64) -> Result<CheckedTicket, String> {
    let request_id = t.request_id.trim();
    if request_id.is_empty() || request_id.len() > 200 {
        return Err("requestId must be 1 to 200 characters".into());
    }
    let ext = ExternalUserId::parse(&t.external_user_id).map_err(|e| e.to_string())?;
    for (field, text) in [
        ("requestId", Some(request_id)),
        ("pipeline", t.pipeline.as_deref()),
        ("modelId", t.model_id.as_deref()),
        ("gatewayRequestId", t.gateway_request_id.as_deref()),
        ("ethUsdRoundId", t.eth_usd_round_id.as_deref()),
    ] {
        bounds::check_text(field, text.unwrap_or("")).map_err(|e| e.to_string())?;
    }
    let micros = t.network_fee_usd_micros;
    if micros.get() < 0 {
        return Err("networkFeeUsdMicros must be a non-negative integer".into());
    }
    bounds::check_micros(micros).map_err(|e| format!("networkFeeUsdMicros: {e}"))?;
    let fee = t.fee_wei.unwrap_or(Wei::ZERO);
    bounds::check_fee(fee).map_err(|e| format!("feeWei: {e}"))?;
    let pixels = t.pixels.unwrap_or(0);
    if pixels < 0 {
        return Err("pixels must not be negative".into());
    }
    bounds::check_pixels(pixels).map_err(|e| e.to_string())?;
    if let Some(price) = &t.eth_usd_price {
        if price.len() > 64 || price.contains('\0') {
            return Err("ethUsdPrice must be a decimal of at most 64 characters".into());
        }
        EthUsdPrice::parse(price)
            .map_err(|e| format!("ethUsdPrice must be a positive decimal USD price: {e}"))?;
    }
    let occurred_at_ms = t.occurred_at_ms.unwrap_or(now_ms);
    bounds::check_time(occurred_at_ms).map_err(|e| format!("occurredAtMs: {e}"))?;
    let price_observed_at_ms = t
        .eth_usd_observed_at
        .as_deref()
        .map(observed_at_ms)
        .transpose()?;
    // Within the bounds both storage forms exist; the fallbacks are unreachable.
    let usd = ExactUsd::from_micros_and_units(micros.get().unsigned_abs().into(), 0)
        .and_then(ExactUsd::to_parts)
        .unwrap_or_default();
    Ok(CheckedTicket {
        ext,
        fee: fee.to_parts().unwrap_or_default(),
        usd,
        occurred_at_ms,
        price_observed_at_ms,
    })
}

/// `POST A/usage/signed-tickets`.
#[utoipa::path(
    post,
    path = "/api/v1/apps/{client_id}/usage/signed-tickets",
    operation_id = "ingestSignedTickets",
    tag = "builder",
    params(AppPath),
    request_body(content = SignedTicket, content_type = "application/json",
        description = "One ticket, or `{\"tickets\": [ticket, …]}` (at most 1000)"),
    security(("m2m_basic" = [])),
    responses(
        (status = 200, description = "Stored (duplicates ignored)", body = IngestOutcome),
        BuilderErrors,
        UsageCeiling,
        BodyTooLarge
    )
)]
pub async fn signed_tickets(
    State(state): State<AppState>,
    AppCaller(app): AppCaller,
    BuilderJson(body): BuilderJson<Value>,
) -> Result<Json<IngestOutcome>, BuilderError> {
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
    for (index, t) in tickets.into_iter().enumerate() {
        let checked = check_ticket(&t, now_ms).map_err(|why| {
            BuilderError::invalid(if index == 0 {
                why
            } else {
                format!("ticket {index}: {why}")
            })
        })?;
        let user = state
            .store
            .user_by_external_id(app.client_id.as_str(), checked.ext.as_str())
            .await?;
        let (pipeline, embedded_model) = split_pipeline(t.pipeline.as_deref().unwrap_or(""));
        let model_id = t
            .model_id
            .filter(|m| !m.is_empty())
            .unwrap_or_else(|| embedded_model.to_owned());
        let request_id = t.request_id.trim();
        rows.push(UsageEventRow {
            id: format!("ticket:{}:{request_id}", app.client_id),
            source: "signed_ticket",
            auth_id: format!("{}:{}", app.client_id, checked.ext),
            client_id: Some(app.client_id.to_string()),
            user_id: user.map(|u| u.id),
            pipeline: pipeline.to_owned(),
            model_id,
            manifest_id: String::new(),
            gateway_request_id: t.gateway_request_id.filter(|g| !g.is_empty()),
            request_id: request_id.to_owned(),
            fee: checked.fee,
            usd: checked.usd,
            eth_usd_price: t.eth_usd_price.unwrap_or_default(),
            pixels: t.pixels.unwrap_or(0),
            billable_secs: "0".into(),
            billable_micros: 0,
            occurred_at_ms: checked.occurred_at_ms,
            price_observed_at_ms: checked.price_observed_at_ms,
        });
    }
    let counts = crate::metering::ingest::ingest_signed_tickets(&state.metering, &rows).await?;
    Ok(Json(IngestOutcome {
        ingested: counts.ingested,
        duplicate: counts.duplicate,
        source: INGEST_SOURCE.into(),
        results: ticket_results(&rows, &counts.inserted_ids),
    }))
}

/// One result per row in order: ingested for the first row of each id the store inserted,
/// duplicate for every other.
fn ticket_results(rows: &[UsageEventRow], inserted_ids: &[String]) -> Vec<TicketResult> {
    let mut fresh: std::collections::HashSet<&str> =
        inserted_ids.iter().map(String::as_str).collect();
    rows.iter()
        .map(|row| {
            let ingested = fresh.remove(row.id.as_str());
            TicketResult {
                request_id: row.request_id.clone(),
                ok: true,
                ingested,
                duplicate: !ingested,
                source: INGEST_SOURCE.into(),
            }
        })
        .collect()
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
    params(AppPath),
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
    AppCaller(app): AppCaller,
    body: Result<Json<Value>, JsonRejection>,
) -> Result<Json<EnvelopeOutcome>, BuilderError> {
    use crate::metering::ingest::{IngestError, RawEvent, Source, ingest, parse_batch};
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
    let parsed = parse_batch(batch, state.rng.as_ref());
    let counts = ingest(&state.metering, &parsed).await.map_err(|e| match e {
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
