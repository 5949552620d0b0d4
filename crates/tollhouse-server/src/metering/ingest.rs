//! Turning go-livepeer's usage events into stored, valued, attributed rows: one batch, one
//! transaction. Unreadable events become dead letters (raw bytes and why); other event types
//! are skipped; events whose auth id names no user here are kept as unattributed.

use super::price::ObservedPrice;
use crate::state::AppState;
use std::collections::BTreeSet;
use tollhouse_core::money::{EthUsdPrice, usd_exact};
use tollhouse_core::usage::{SignedTicket, parse_usage_event};
use tollhouse_core::{Random, UnixTime};
use tollhouse_store::{
    Attribution, DeadLetterRow, IngestCounts, MAX_EVENT_BILLABLE_MICROS, Store, StoreError,
    UsageEventRow,
};

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
    /// No usable ETH/USD price: none is configured, or the oracle's is missing or too old
    /// (the cause is logged). Events wait rather than being valued at a doubtful price.
    #[error("no current ETH/USD price (--eth-usd-price, or a fresh --eth-usd-oracle-url answer)")]
    NoPrice,
}

/// The price events are valued at now (static, or the oracle's if fresh enough).
pub fn current_price(state: &AppState) -> Option<EthUsdPrice> {
    state
        .price
        .current(state.clock.now_millis())
        .ok()
        .map(|p| p.price)
}

/// Parses, values, attributes and stores `batch`.
pub async fn ingest(state: &AppState, batch: &[RawEvent]) -> Result<IngestCounts, IngestError> {
    let parsed = parse_batch(batch, state.rng.as_ref());
    ingest_parsed(state, &parsed).await
}

/// Values, attributes and stores an already parsed batch (the Kafka consumer parses the next
/// batch while this one is written). May be called again with the same batch after an error.
pub async fn ingest_parsed(
    state: &AppState,
    parsed: &ParsedBatch,
) -> Result<IngestCounts, IngestError> {
    let price = state
        .price
        .current(state.clock.now_millis())
        .map_err(|err| {
            tracing::warn!(error = %err, "usage cannot be valued now; it waits");
            IngestError::NoPrice
        })?;
    let outcome = store_parsed(state.store.as_ref(), price, state.clock.now(), parsed).await?;
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

/// A batch read but not yet stored: the tickets to value, the dead letters, how many events of
/// other types were skipped.
#[derive(Debug, Default)]
pub struct ParsedBatch {
    tickets: Vec<(SignedTicket, Source)>,
    dead: Vec<DeadLetterRow>,
    skipped: u64,
}

impl ParsedBatch {
    /// Messages in the batch.
    pub fn len(&self) -> usize {
        self.tickets.len() + self.dead.len() + usize::try_from(self.skipped).unwrap_or(0)
    }

    /// Whether the batch is empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Parses a batch: `create_signed_ticket`s to store, other types skipped, the unreadable kept
/// as dead letters (as are events with a text field PostgreSQL cannot store: NUL).
pub fn parse_batch(batch: &[RawEvent], rng: &dyn Random) -> ParsedBatch {
    let mut parsed = ParsedBatch::default();
    for raw in batch {
        let reason = match parse_usage_event(&raw.payload) {
            Ok(None) => {
                parsed.skipped += 1;
                continue;
            }
            Ok(Some(ticket)) if !has_nul(&ticket) => {
                parsed.tickets.push((ticket, raw.source));
                continue;
            }
            Ok(Some(_)) => {
                "text_nul: a text field contains the NUL character, which cannot be stored".into()
            }
            Err(err) => format!("{}: {err}", err.code()),
        };
        parsed.dead.push(DeadLetterRow {
            id: match raw.source {
                Source::Kafka { partition, offset } => format!("kafka:{partition}:{offset}"),
                Source::Http => tollhouse_core::ids::generate_uuid(rng),
            },
            source: source_name(raw.source),
            raw: raw.payload.clone(),
            reason,
        });
    }
    parsed
}

/// [`ingest`] without a running server (the CLI's replay and re-drive use it), at a static
/// price observed now.
pub async fn ingest_into(
    store: &dyn Store,
    price: EthUsdPrice,
    now: UnixTime,
    rng: &dyn Random,
    batch: &[RawEvent],
) -> Result<Ingested, IngestError> {
    let observed = ObservedPrice {
        price,
        observed_at_ms: now.saturating_mul(1000),
    };
    store_parsed(store, observed, now, &parse_batch(batch, rng)).await
}

/// Values, attributes (one lookup for the whole batch) and stores a parsed batch.
pub async fn store_parsed(
    store: &dyn Store,
    price: ObservedPrice,
    now: UnixTime,
    parsed: &ParsedBatch,
) -> Result<Ingested, IngestError> {
    let subjects: Vec<(String, String)> = parsed
        .tickets
        .iter()
        .map(|(t, _)| (t.client_id.clone(), t.external_user_id.clone()))
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    let attributions = store.resolve_usage_subjects(&subjects).await?;
    let mut events = Vec::with_capacity(parsed.tickets.len());
    let mut users = BTreeSet::new();
    for (ticket, source) in &parsed.tickets {
        let attribution = attributions
            .get(&(ticket.client_id.clone(), ticket.external_user_id.clone()))
            .cloned()
            .unwrap_or_default();
        if let Some(user) = &attribution.user_id {
            users.insert(user.clone());
        }
        events.push(row(ticket, attribution, price, *source)?);
    }
    let counts = store.ingest_usage(&events, &parsed.dead, now).await?;
    Ok(Ingested {
        counts,
        skipped: parsed.skipped,
        users: users.into_iter().collect(),
    })
}

fn has_nul(t: &SignedTicket) -> bool {
    [
        t.auth_id.as_str(),
        &t.pipeline,
        &t.model_id,
        &t.manifest_id,
        &t.request_id,
        t.gateway_request_id.as_deref().unwrap_or(""),
    ]
    .iter()
    .any(|text| text.contains('\0'))
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
    let (readable, unreadable): (Vec<_>, Vec<_>) =
        letters
            .into_iter()
            .partition(|d| match parse_usage_event(&d.raw) {
                Ok(Some(ticket)) => !has_nul(&ticket),
                Ok(None) => true,
                Err(_) => false,
            });
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

/// Seconds billed, in microseconds, for summing: go-livepeer's text converted exactly (half up);
/// beyond [`MAX_EVENT_BILLABLE_MICROS`] (10^6 s in one signing, which no gateway bills) it counts
/// 0 rather than dead-lettering the event's fee.
fn billable_micros(ticket: &SignedTicket) -> i64 {
    match ticket.billable_micros() {
        Some(micros) if (0..=MAX_EVENT_BILLABLE_MICROS).contains(&micros) => micros,
        _ => {
            tracing::warn!(event = %ticket.event_id, billable_secs = %ticket.billable_secs,
                "billable_secs out of range; counted as 0 s");
            0
        }
    }
}

fn row(
    ticket: &SignedTicket,
    attribution: Attribution,
    price: ObservedPrice,
    source: Source,
) -> Result<UsageEventRow, StoreError> {
    let corrupt = |e: tollhouse_core::money::MoneyError| StoreError::Corrupt(e.to_string());
    Ok(UsageEventRow {
        id: ticket.event_id.to_string(),
        source: source_name(source),
        auth_id: ticket.auth_id.clone(),
        client_id: attribution.client_id,
        user_id: attribution.user_id,
        pipeline: ticket.pipeline.clone(),
        model_id: ticket.model_id.clone(),
        manifest_id: ticket.manifest_id.clone(),
        gateway_request_id: ticket.gateway_request_id.clone(),
        request_id: ticket.request_id.clone(),
        fee: ticket.fee.to_parts().map_err(corrupt)?,
        usd: usd_exact(ticket.fee, price.price)
            .to_parts()
            .map_err(corrupt)?,
        eth_usd_price: price.price.to_string(),
        pixels: ticket.pixels,
        billable_secs: ticket.billable_secs.clone(),
        billable_micros: billable_micros(ticket),
        occurred_at_ms: ticket.timestamp_ms,
        price_observed_at_ms: Some(price.observed_at_ms),
    })
}
