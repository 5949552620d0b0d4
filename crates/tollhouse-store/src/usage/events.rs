//! The events table: its columns, the checks a row passes, and its writers per dialect
//! (`UNNEST` arrays on PostgreSQL, multi-row `VALUES` on SQLite).

use super::{MAX_EVENT_BILLABLE_MICROS, UTC_DAY_MS, UsageEventRow};
use crate::StoreError;
use crate::sql_batch::{IntArray, SQLITE_ROWS, TextArray, Tx, chunked, value_rows};
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

pub(crate) const EVENT_COLUMNS: &str = "id, source, auth_id, client_id, user_id, pipeline, model_id, manifest_id, \
     gateway_request_id, request_id, fee_gwei, fee_wei, usd_e6, usd_e9, usd_e18, usd_e27, usd_e36, \
     eth_usd_price, pixels, billable_secs, billable_micros, occurred_at_ms, day, price_observed_at_ms, ingested_at";
pub(crate) const EVENT_WIDTH: usize = 25;

/// The events' columns as PostgreSQL array literals, in the order [`insert_events_pg`] binds
/// them: eleven text columns, twelve integer columns, and `billable_secs`.
pub(crate) fn event_arrays(
    events: &[&UsageEventRow],
) -> ([TextArray; 11], [IntArray; 12], TextArray) {
    let mut text: [TextArray; 11] = Default::default();
    let mut ints: [IntArray; 12] = Default::default();
    let mut secs = TextArray::default();
    for e in events {
        let [u6, u9, u18, u27, u36] = e.usd.to_array();
        for (column, value) in text.iter_mut().zip([
            Some(e.id.as_str()),
            Some(e.source),
            Some(e.auth_id.as_str()),
            e.client_id.as_deref(),
            e.user_id.as_deref(),
            Some(e.pipeline.as_str()),
            Some(e.model_id.as_str()),
            Some(e.manifest_id.as_str()),
            e.gateway_request_id.as_deref(),
            Some(e.request_id.as_str()),
            Some(e.eth_usd_price.as_str()),
        ]) {
            column.push(value);
        }
        for (column, value) in ints.iter_mut().zip([
            Some(e.fee.gwei),
            Some(e.fee.wei),
            Some(u6),
            Some(u9),
            Some(u18),
            Some(u27),
            Some(u36),
            Some(e.pixels),
            Some(e.billable_micros),
            Some(e.occurred_at_ms),
            Some(day_of(e)),
            e.price_observed_at_ms,
        ]) {
            column.push(value);
        }
        secs.push(Some(&e.billable_secs));
    }
    (text, ints, secs)
}

/// Inserts the events on PostgreSQL; the ids actually inserted.
pub(crate) async fn insert_events_pg(
    tx: &mut Tx<'_>,
    events: &[&UsageEventRow],
    now: UnixTime,
) -> Result<HashSet<String>, StoreError> {
    use sqlx::Row as _;
    // In id order: two batches stored at once that share ids (a re-delivery) then wait for
    // each other's rows in the same order instead of deadlocking.
    let mut events = events.to_vec();
    events.sort_unstable_by(|a, b| a.id.cmp(&b.id));
    let (text, ints, secs) = event_arrays(&events);
    let [
        id,
        source,
        auth_id,
        client_id,
        user_id,
        pipeline,
        model_id,
        manifest_id,
        gateway,
        request_id,
        price,
    ] = text.map(TextArray::finish);
    let [
        gwei,
        wei,
        u6,
        u9,
        u18,
        u27,
        u36,
        pixels,
        micros,
        occurred,
        day,
        observed,
    ] = ints.map(IntArray::finish);
    let sql = format!(
        "INSERT INTO usage_events ({EVENT_COLUMNS}) \
         SELECT id, source, auth_id, client_id, user_id, pipeline, model_id, manifest_id, gateway_request_id, \
         request_id, fee_gwei, fee_wei, usd_e6, usd_e9, usd_e18, usd_e27, usd_e36, eth_usd_price, pixels, \
         billable_secs, billable_micros, occurred_at_ms, day, price_observed_at_ms, $25 \
         FROM UNNEST($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[], \
         $8::text[], $9::text[], $10::text[], $11::bigint[], $12::bigint[], $13::bigint[], $14::bigint[], \
         $15::bigint[], $16::bigint[], $17::bigint[], $18::text[], $19::bigint[], $20::text[], $21::bigint[], \
         $22::bigint[], $23::bigint[], $24::bigint[]) \
         AS u(id, source, auth_id, client_id, user_id, pipeline, model_id, manifest_id, gateway_request_id, \
         request_id, fee_gwei, fee_wei, usd_e6, usd_e9, usd_e18, usd_e27, usd_e36, eth_usd_price, pixels, \
         billable_secs, billable_micros, occurred_at_ms, day, price_observed_at_ms) \
         ON CONFLICT (id) DO NOTHING RETURNING id"
    );
    let rows = sqlx::query(&sql)
        .bind(id)
        .bind(source)
        .bind(auth_id)
        .bind(client_id)
        .bind(user_id)
        .bind(pipeline)
        .bind(model_id)
        .bind(manifest_id)
        .bind(gateway)
        .bind(request_id)
        .bind(gwei)
        .bind(wei)
        .bind(u6)
        .bind(u9)
        .bind(u18)
        .bind(u27)
        .bind(u36)
        .bind(price)
        .bind(pixels)
        .bind(secs.finish())
        .bind(micros)
        .bind(occurred)
        .bind(day)
        .bind(observed)
        .bind(now)
        .fetch_all(&mut **tx)
        .await?;
    rows.iter()
        .map(|row| Ok(row.try_get::<String, _>(0)?))
        .collect()
}

/// Inserts the events on SQLite; the ids actually inserted.
pub(crate) async fn insert_events_sqlite(
    tx: &mut Tx<'_>,
    events: &[&UsageEventRow],
    now: UnixTime,
) -> Result<HashSet<String>, StoreError> {
    use sqlx::Row as _;
    let mut inserted = HashSet::with_capacity(events.len());
    for chunk in chunked(events, SQLITE_ROWS) {
        let sql = format!(
            "INSERT INTO usage_events ({EVENT_COLUMNS}) VALUES {} ON CONFLICT (id) DO NOTHING RETURNING id",
            value_rows(EVENT_WIDTH, chunk.len())
        );
        let mut query = sqlx::query(&sql);
        for e in chunk {
            let [u6, u9, u18, u27, u36] = e.usd.to_array();
            query = query
                .bind(e.id.as_str())
                .bind(e.source)
                .bind(e.auth_id.as_str())
                .bind(e.client_id.as_deref())
                .bind(e.user_id.as_deref())
                .bind(e.pipeline.as_str())
                .bind(e.model_id.as_str())
                .bind(e.manifest_id.as_str())
                .bind(e.gateway_request_id.as_deref())
                .bind(e.request_id.as_str())
                .bind(e.fee.gwei)
                .bind(e.fee.wei)
                .bind(u6)
                .bind(u9)
                .bind(u18)
                .bind(u27)
                .bind(u36)
                .bind(e.eth_usd_price.as_str())
                .bind(e.pixels)
                .bind(e.billable_secs.as_str())
                .bind(e.billable_micros)
                .bind(e.occurred_at_ms)
                .bind(day_of(e))
                .bind(e.price_observed_at_ms)
                .bind(now);
        }
        for row in query.fetch_all(&mut **tx).await? {
            inserted.insert(row.try_get::<String, _>(0)?);
        }
    }
    Ok(inserted)
}
