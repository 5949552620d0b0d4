//! Turning go-livepeer's usage events into stored, valued, attributed rows: one batch, one
//! transaction. Unreadable events become dead letters (raw bytes and why); other event types
//! are skipped; events whose auth id names no user here are kept as unattributed.

use crate::state::AppState;
use std::collections::HashMap;
use tollhouse_core::money::{EthUsdPrice, usd_exact};
use tollhouse_core::usage::{SignedTicket, parse_usage_event};
use tollhouse_core::{Random, UnixTime};
use tollhouse_store::{DeadLetterRow, IngestCounts, Store, StoreError, UsageEventRow};

/// Where a payload came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// The Kafka topic, at this position.
    Kafka {
        /// Partition.
        partition: i32,
        /// Offset.
        offset: i64,
    },
    /// The raw-envelope HTTP batch endpoint.
    Http,
}

/// One payload as received.
#[derive(Debug, Clone)]
pub struct RawEvent {
    /// The bytes.
    pub payload: Vec<u8>,
    /// Where from.
    pub source: Source,
}

/// Why a batch could not be stored (it is retried; nothing was written).
#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    /// Storage failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// No ETH/USD price is configured, so fees cannot be valued.
    #[error("no ETH/USD price configured (--eth-usd-price)")]
    NoPrice,
}

/// The price events are valued at now.
pub fn current_price(state: &AppState) -> Option<EthUsdPrice> {
    state
        .config
        .eth_usd_price
        .as_deref()
        .and_then(|p| EthUsdPrice::parse(p).ok())
}

/// Parses, values, attributes and stores `batch`.
pub async fn ingest(state: &AppState, batch: &[RawEvent]) -> Result<IngestCounts, IngestError> {
    let price = current_price(state).ok_or(IngestError::NoPrice)?;
    let outcome = ingest_into(
        state.store.as_ref(),
        price,
        state.clock.now(),
        state.rng.as_ref(),
        batch,
    )
    .await?;
    // The gate must see new consumption at once in this process.
    for user in &outcome.users {
        state.gate_balances.remove(user);
    }
    state
        .metrics
        .usage_ingested(&outcome.counts, outcome.skipped);
    Ok(outcome.counts)
}

/// What [`ingest_into`] did.
#[derive(Debug, Default)]
pub struct Ingested {
    /// Stored, duplicate, unattributed, dead-lettered.
    pub counts: IngestCounts,
    /// Events of other types, skipped.
    pub skipped: u64,
    /// Users whose consumption may have changed.
    pub users: Vec<String>,
}

/// [`ingest`] without a running server (the CLI's re-drive uses it).
pub async fn ingest_into(
    store: &dyn Store,
    price: EthUsdPrice,
    now: UnixTime,
    rng: &dyn Random,
    batch: &[RawEvent],
) -> Result<Ingested, IngestError> {
    let mut events = Vec::with_capacity(batch.len());
    let mut dead = Vec::new();
    let mut skipped = 0u64;
    let mut users = HashMap::<(String, String), (Option<String>, Option<String>)>::new();
    for raw in batch {
        match parse_usage_event(&raw.payload) {
            Ok(None) => skipped += 1,
            Ok(Some(ticket)) => {
                let key = (ticket.client_id.clone(), ticket.external_user_id.clone());
                let attribution = match users.get(&key) {
                    Some(found) => found.clone(),
                    None => {
                        let found = attribute(store, &ticket).await?;
                        users.insert(key, found.clone());
                        found
                    }
                };
                events.push(row(&ticket, attribution, price, raw.source)?);
            }
            Err(err) => dead.push(DeadLetterRow {
                id: match raw.source {
                    Source::Kafka { partition, offset } => format!("kafka:{partition}:{offset}"),
                    Source::Http => tollhouse_core::ids::generate_uuid(rng),
                },
                source: source_name(raw.source),
                raw: raw.payload.clone(),
                reason: format!("{}: {err}", err.code()),
            }),
        }
    }
    let counts = store.ingest_usage(&events, &dead, now).await?;
    Ok(Ingested {
        counts,
        skipped,
        users: users.into_values().filter_map(|(_, user)| user).collect(),
    })
}

/// Re-drives waiting dead letters (after a fix): those that now parse are ingested (deduped as
/// usual) and leave the list; the others stay. Returns `(re-driven, still waiting)`.
pub async fn redrive(
    store: &dyn Store,
    price: EthUsdPrice,
    now: UnixTime,
    rng: &dyn Random,
    limit: i64,
) -> Result<(usize, usize), IngestError> {
    let letters = store.dead_letters(limit).await?;
    let (readable, unreadable): (Vec<_>, Vec<_>) = letters
        .into_iter()
        .partition(|d| parse_usage_event(&d.raw).is_ok());
    let batch: Vec<RawEvent> = readable
        .iter()
        .map(|d| RawEvent {
            payload: d.raw.clone(),
            source: Source::Http,
        })
        .collect();
    ingest_into(store, price, now, rng, &batch).await?;
    let ids: Vec<String> = readable.into_iter().map(|d| d.id).collect();
    store.mark_redriven(&ids, now).await?;
    Ok((ids.len(), unreadable.len()))
}

fn source_name(source: Source) -> &'static str {
    match source {
        Source::Kafka { .. } => "kafka",
        Source::Http => "envelope",
    }
}

/// The app and user an event's auth id names here, if any.
async fn attribute(
    store: &dyn Store,
    ticket: &SignedTicket,
) -> Result<(Option<String>, Option<String>), StoreError> {
    if ticket.client_id.is_empty() {
        return Ok((None, None));
    }
    let Some(app) = store.app_by_client_id(&ticket.client_id).await? else {
        return Ok((None, None));
    };
    let user = store
        .user_by_external_id(app.client_id.as_str(), &ticket.external_user_id)
        .await?;
    Ok((Some(app.client_id.to_string()), user.map(|u| u.id)))
}

fn row(
    ticket: &SignedTicket,
    (client_id, user_id): (Option<String>, Option<String>),
    price: EthUsdPrice,
    source: Source,
) -> Result<UsageEventRow, StoreError> {
    let corrupt = |e: tollhouse_core::money::MoneyError| StoreError::Corrupt(e.to_string());
    Ok(UsageEventRow {
        id: ticket.event_id.to_string(),
        source: source_name(source),
        auth_id: ticket.auth_id.clone(),
        client_id,
        user_id,
        pipeline: ticket.pipeline.clone(),
        model_id: ticket.model_id.clone(),
        manifest_id: ticket.manifest_id.clone(),
        gateway_request_id: ticket.gateway_request_id.clone(),
        request_id: ticket.request_id.clone(),
        fee: ticket.fee.to_parts().map_err(corrupt)?,
        usd: usd_exact(ticket.fee, price).to_parts().map_err(corrupt)?,
        eth_usd_price: price.to_string(),
        pixels: ticket.pixels,
        billable_secs: ticket.billable_secs.clone(),
        occurred_at_ms: ticket.timestamp_ms,
    })
}
