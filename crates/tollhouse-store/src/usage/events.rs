//! The events table: its columns (described once, as a [`BatchTable`]), the checks a row
//! passes, and its writer.

use super::{MAX_EVENT_BILLABLE_MICROS, UTC_DAY_MS, UsageEventRow};
use crate::batch_table::{BatchTable, Cell, Kind};
use crate::sql_batch::Tx;
use crate::{Backend, StoreError};
use std::collections::HashSet;
use tollhouse_core::UnixTime;
use tollhouse_core::money::{ExactUsd, Wei};

/// Refuses a row the ingest path should never build (it would poison every rollup it joins):
/// its values must be within the per-event bounds of `tollhouse_core::bounds`.
pub(crate) fn check_row(e: &UsageEventRow) -> Result<(), StoreError> {
    use tollhouse_core::bounds;
    let corrupt = |what: &str| StoreError::Corrupt(format!("usage event {}: {what}", e.id));
    if !(0..=MAX_EVENT_BILLABLE_MICROS).contains(&e.billable_micros) {
        return Err(corrupt("billable_micros out of range"));
    }
    let fee = Wei::from_parts(e.fee).map_err(|_| corrupt("negative fee part"))?;
    let usd = ExactUsd::from_parts(e.usd).map_err(|_| corrupt("negative value part"))?;
    bounds::check_fee(fee)
        .and_then(|()| bounds::check_value(usd))
        .map_err(|err| corrupt(&err.to_string()))?;
    if !(0..=bounds::MAX_EVENT_PIXELS).contains(&e.pixels) {
        return Err(corrupt("pixels out of range"));
    }
    Ok(())
}

pub(crate) fn day_of(e: &UsageEventRow) -> i64 {
    e.occurred_at_ms.div_euclid(UTC_DAY_MS)
}

/// The events table: one row per event, in the column order [`event_cells`] gives.
pub(crate) const EVENTS: BatchTable = BatchTable {
    name: "usage_events",
    columns: &[
        ("id", Kind::Text),
        ("source", Kind::Text),
        ("auth_id", Kind::Text),
        ("client_id", Kind::Text),
        ("user_id", Kind::Text),
        ("pipeline", Kind::Text),
        ("model_id", Kind::Text),
        ("manifest_id", Kind::Text),
        ("gateway_request_id", Kind::Text),
        ("request_id", Kind::Text),
        ("fee_gwei", Kind::Int),
        ("fee_wei", Kind::Int),
        ("usd_e6", Kind::Int),
        ("usd_e9", Kind::Int),
        ("usd_e18", Kind::Int),
        ("usd_e27", Kind::Int),
        ("usd_e36", Kind::Int),
        ("eth_usd_price", Kind::Text),
        ("pixels", Kind::Int),
        ("billable_secs", Kind::Text),
        ("billable_micros", Kind::Int),
        ("occurred_at_ms", Kind::Int),
        ("day", Kind::Int),
        ("price_observed_at_ms", Kind::Int),
        ("ingested_at", Kind::Int),
    ],
};

/// An event's row, in [`EVENTS`]' column order.
pub(crate) fn event_cells(e: &UsageEventRow, now: UnixTime) -> [Cell<'_>; 25] {
    let [u6, u9, u18, u27, u36] = e.usd.to_array();
    [
        e.id.as_str().into(),
        e.source.into(),
        e.auth_id.as_str().into(),
        e.client_id.as_deref().into(),
        e.user_id.as_deref().into(),
        e.pipeline.as_str().into(),
        e.model_id.as_str().into(),
        e.manifest_id.as_str().into(),
        e.gateway_request_id.as_deref().into(),
        e.request_id.as_str().into(),
        e.fee.gwei.into(),
        e.fee.wei.into(),
        u6.into(),
        u9.into(),
        u18.into(),
        u27.into(),
        u36.into(),
        e.eth_usd_price.as_str().into(),
        e.pixels.into(),
        e.billable_secs.as_str().into(),
        e.billable_micros.into(),
        e.occurred_at_ms.into(),
        day_of(e).into(),
        e.price_observed_at_ms.into(),
        now.into(),
    ]
}

/// Inserts the events (a re-delivered id is left as stored); the ids actually inserted.
pub(crate) async fn insert_events(
    tx: &mut Tx<'_>,
    backend: Backend,
    events: &[&UsageEventRow],
    now: UnixTime,
) -> Result<HashSet<String>, StoreError> {
    use sqlx::Row as _;
    // In id order: two batches stored at once that share ids (a re-delivery) then wait for
    // each other's rows in the same order instead of deadlocking.
    let mut events = events.to_vec();
    events.sort_unstable_by(|a, b| a.id.cmp(&b.id));
    let mut cells = Vec::with_capacity(events.len() * EVENTS.width());
    for e in &events {
        cells.extend(event_cells(e, now));
    }
    let rows = EVENTS
        .insert(
            tx,
            backend,
            &cells,
            "ON CONFLICT (id) DO NOTHING RETURNING id",
        )
        .await?;
    rows.iter()
        .map(|row| Ok(row.try_get::<String, _>(0)?))
        .collect()
}
