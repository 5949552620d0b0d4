//! Turning go-livepeer's usage events into stored, valued, attributed rows: one batch, one
//! transaction. Unreadable events become dead letters (raw bytes and why); other event types
//! are skipped; events whose auth id names no user here are kept as unattributed.

use super::MeteringState;
use super::price::ObservedPrice;
use std::collections::BTreeSet;
use tollhouse_core::bounds::{self, BoundError};
use tollhouse_core::money::{EthUsdPrice, usd_exact};
use tollhouse_core::usage::{SignedTicket, parse_usage_event};
use tollhouse_core::{Random, UnixTime};
use tollhouse_store::{
    Attribution, DeadLetterRow, IngestCounts, MAX_EVENT_BILLABLE_MICROS, OverLimit, Store,
    StoreError, UsageEventRow,
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

/// The one ingest entry point of a running server, for every source (the Kafka consumer, which
/// parses the next batch while this one is written, and `POST A/usage/events`): values,
/// attributes and stores a parsed batch at the current price, then tells the balance gate whose
/// consumption changed. May be called again with the same batch after an error.
pub async fn ingest(
    state: &MeteringState,
    parsed: &ParsedBatch,
) -> Result<IngestCounts, IngestError> {
    let price = state
        .price
        .current(state.clock.now_millis())
        .map_err(|err| {
            tracing::warn!(error = %err, "usage cannot be valued now; it waits");
            IngestError::NoPrice
        })?;
    let outcome = store_parsed(
        state.store.as_ref(),
        price,
        state.clock.now(),
        state.rng.as_ref(),
        parsed,
    )
    .await?;
    stored(
        state,
        &outcome.counts,
        outcome.skipped,
        outcome.users.iter(),
    );
    state.metrics.billable_secs_clamped(parsed.clamped);
    Ok(outcome.counts)
}

/// Signed tickets (`POST A/usage/signed-tickets`): rows the caller valued, stored all or none (a
/// row past a ceiling refuses the request), then the gate told, as [`ingest`] does.
pub async fn ingest_signed_tickets(
    state: &MeteringState,
    rows: &[UsageEventRow],
) -> Result<IngestCounts, StoreError> {
    let counts = state
        .store
        .ingest_usage(rows, &[], state.clock.now(), OverLimit::Refuse)
        .await?;
    stored(
        state,
        &counts,
        0,
        rows.iter().filter_map(|r| r.user_id.as_ref()),
    );
    Ok(counts)
}

/// After a batch is stored: the gate must see the new consumption at once in this process, and
/// the counts go to the metrics.
fn stored<'a>(
    state: &MeteringState,
    counts: &IngestCounts,
    skipped: u64,
    users: impl Iterator<Item = &'a String>,
) {
    for user in users {
        state.signer.forget_balance(user);
    }
    state.metrics.usage_ingested(counts, skipped);
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

/// A batch read but not yet stored: the tickets to value (each with the event it came from, for
/// a dead letter if it cannot be stored), the dead letters, how many events of other types were
/// skipped.
#[derive(Debug, Default)]
pub struct ParsedBatch {
    tickets: Vec<(SignedTicket, RawEvent)>,
    dead: Vec<DeadLetterRow>,
    skipped: u64,
    /// Tickets whose negative `billable_secs` were clamped to 0.
    clamped: u64,
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

/// Parses a batch: `create_signed_ticket`s to store, other types skipped, the unreadable and
/// those out of bounds (`tollhouse_core::bounds`) kept as dead letters.
pub fn parse_batch(batch: Vec<RawEvent>, rng: &dyn Random) -> ParsedBatch {
    let mut parsed = ParsedBatch::default();
    for raw in batch {
        match parse_usage_event(&raw.payload) {
            Ok(None) => parsed.skipped += 1,
            Ok(Some(ticket)) => {
                parsed.clamped += u64::from(ticket.billable_secs_clamped);
                parsed.tickets.push((ticket, raw));
            }
            Err(err) => {
                let reason = format!("{}: {err}", err.code());
                parsed.dead.push(dead_letter(raw, reason, rng));
            }
        }
    }
    parsed
}

/// The dead letter of `raw`: keyed by its Kafka position (so a replay does not duplicate it),
/// or a fresh id for an HTTP envelope.
fn dead_letter(raw: RawEvent, reason: String, rng: &dyn Random) -> DeadLetterRow {
    DeadLetterRow {
        id: match raw.source {
            Source::Kafka { partition, offset } => format!("kafka:{partition}:{offset}"),
            Source::Http => tollhouse_core::ids::generate_uuid(rng),
        },
        source: source_name(raw.source),
        raw: raw.payload,
        reason,
    }
}

/// [`ingest`] without a running server (the CLI's replay and re-drive use it), at a static
/// price observed now.
pub async fn ingest_into(
    store: &dyn Store,
    price: EthUsdPrice,
    now: UnixTime,
    rng: &dyn Random,
    batch: Vec<RawEvent>,
) -> Result<Ingested, IngestError> {
    let observed = ObservedPrice {
        price,
        observed_at_ms: now.saturating_mul(1000),
    };
    store_parsed(store, observed, now, rng, &parse_batch(batch, rng)).await
}

/// Values, attributes (one lookup for the whole batch) and stores a parsed batch. An event whose
/// value is above the per-event bound, or that would take its app past a lifetime ceiling,
/// becomes a dead letter; the rest of the batch is stored.
async fn store_parsed(
    store: &dyn Store,
    price: ObservedPrice,
    now: UnixTime,
    rng: &dyn Random,
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
    // The raw event behind each row of `events`, for a dead letter.
    let mut origins = Vec::with_capacity(parsed.tickets.len());
    let mut dead = parsed.dead.clone();
    let mut users = BTreeSet::new();
    for (ticket, raw) in &parsed.tickets {
        let attribution = attributions
            .get(&(ticket.client_id.clone(), ticket.external_user_id.clone()))
            .cloned()
            .unwrap_or_default();
        match row(ticket, attribution, price, raw.source) {
            Ok(row) => {
                if let Some(user) = &row.user_id {
                    users.insert(user.clone());
                }
                events.push(row);
                origins.push(raw);
            }
            Err(err) => {
                let reason = format!("{}: {err}", err.code());
                dead.push(dead_letter(raw.clone(), reason, rng));
            }
        }
    }
    let letter = |index: usize, reason: &str| {
        let raw = origins.get(index).map_or_else(
            || RawEvent {
                payload: Vec::new(),
                source: Source::Http,
            },
            |raw| (*raw).clone(),
        );
        dead_letter(raw, reason.to_owned(), rng)
    };
    let counts = store
        .ingest_usage(&events, &dead, now, OverLimit::DeadLetter(&letter))
        .await?;
    Ok(Ingested {
        counts,
        skipped: parsed.skipped,
        users: users.into_iter().collect(),
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
    ingest_into(store, price, now, rng, batch).await?;
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

/// The stored row of `ticket`, or why its value is out of bounds.
fn row(
    ticket: &SignedTicket,
    attribution: Attribution,
    price: ObservedPrice,
    source: Source,
) -> Result<UsageEventRow, BoundError> {
    let value = usd_exact(ticket.fee, price.price);
    bounds::check_fee(ticket.fee)?;
    bounds::check_value(value)?;
    // Within the bounds both storage forms exist (the fee below 2^93 wei, the value below 2^63
    // micro-USD); the fallbacks are unreachable.
    let fee = ticket.fee.to_parts().unwrap_or_default();
    let usd = value.to_parts().unwrap_or_default();
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
        fee,
        usd,
        eth_usd_price: price.price.to_string(),
        pixels: ticket.pixels,
        billable_secs: ticket.billable_secs.clone(),
        billable_micros: billable_micros(ticket),
        occurred_at_ms: ticket.timestamp_ms,
        price_observed_at_ms: Some(price.observed_at_ms),
    })
}
