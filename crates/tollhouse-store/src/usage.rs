//! Usage events, their rollups, users' consumption and dead letters.
//!
//! A batch is written in one transaction: events are inserted with `ON CONFLICT (id) DO
//! NOTHING … RETURNING id`, and only the ones actually inserted add to the rollups and to users'
//! consumption, so delivering the same batch twice (a crash before the Kafka commit, a replay
//! from offset 0) changes no total.
//!
//! The statements are set-based, so a batch of thousands of events costs a handful of round
//! trips: on PostgreSQL each table gets one `INSERT … SELECT FROM UNNEST($1::text[], …)` (every
//! column bound as one array literal, so the statement text never changes and stays prepared);
//! on SQLite, multi-row `VALUES` in chunks whose sizes are powers of two (so only a few statement
//! shapes are ever prepared) within the bind-parameter limit. The rollups (per app, user,
//! pipeline, model and day; per app, day, manifest, user, pipeline and model) and users'
//! consumption are summed in Rust first and upserted once per distinct key per batch, in key
//! order (concurrent batches lock rows in the same order).

use crate::usage_blocks::BlockSums;
use crate::{Backend, SqlStore, Store, StoreError};
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::ops::Range;
use tollhouse_core::UnixTime;
use tollhouse_core::money::{ExactUsd, UsdParts, Wei, WeiParts};

/// One valued event to store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UsageEventRow {
    /// Dedupe key.
    pub id: String,
    /// `kafka`, `envelope` or `signed_ticket`.
    pub source: &'static str,
    /// As go-livepeer reported it.
    pub auth_id: String,
    /// The app, when the auth id names one here.
    pub client_id: Option<String>,
    /// The user, when the auth id names one here.
    pub user_id: Option<String>,
    /// Pipeline (`""` if none).
    pub pipeline: String,
    /// Model (`""` if none).
    pub model_id: String,
    /// go-livepeer manifest id.
    pub manifest_id: String,
    /// The gateway's request id, when sent.
    pub gateway_request_id: Option<String>,
    /// go-livepeer's per-signing request id (not unique).
    pub request_id: String,
    /// The fee, in storage form.
    pub fee: WeiParts,
    /// The fee valued in USD, exact, in storage form.
    pub usd: UsdParts,
    /// The ETH/USD price the event was valued at.
    pub eth_usd_price: String,
    /// Pixels billed.
    pub pixels: i64,
    /// Seconds billed, as reported (decimal text).
    pub billable_secs: String,
    /// Seconds billed × 10^6, rounded half up (`0..=`[`MAX_EVENT_BILLABLE_MICROS`]).
    pub billable_micros: i64,
    /// When it happened (unix ms).
    pub occurred_at_ms: i64,
    /// When the ETH/USD price it was valued at was observed (unix ms), if known.
    pub price_observed_at_ms: Option<i64>,
}

/// The most billable time one event may carry, in microseconds (10^6 s, about 11.6 days; one
/// go-livepeer signing covers seconds). The bound keeps every rollup's integer sum far from
/// overflow; the ingest path counts a larger value as 0 (see docs/metering.md, "Billable seconds").
pub const MAX_EVENT_BILLABLE_MICROS: i64 = 1_000_000_000_000;

/// What an auth id names here.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Attribution {
    /// The app, when its client id is known here.
    pub client_id: Option<String>,
    /// The user (Tollhouse id), when the app has a user with that external id.
    pub user_id: Option<String>,
}

/// A payload that could not be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeadLetterRow {
    /// Unique per delivery position (e.g. `kafka:<partition>:<offset>`), so a replay does not
    /// duplicate it.
    pub id: String,
    /// Where it came from.
    pub source: &'static str,
    /// The bytes as received.
    pub raw: Vec<u8>,
    /// Why it was refused.
    pub reason: String,
}

/// What a batch changed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct IngestCounts {
    /// New events stored.
    pub ingested: u64,
    /// Events already stored (same id).
    pub duplicate: u64,
    /// New events whose auth id matched no user here.
    pub unattributed: u64,
    /// New dead letters.
    pub dead_lettered: u64,
    /// Of those, events refused because they would take their app past a lifetime ceiling.
    pub over_limit: u64,
}

/// What to do with an event that would take its app past a lifetime ceiling.
#[derive(Clone, Copy)]
pub enum OverLimit<'a> {
    /// Store nothing and fail the batch with [`StoreError::OverLimit`] (an HTTP request that
    /// is answered 422 as a whole).
    Refuse,
    /// Keep the event as the dead letter this builds from its index in the batch and the
    /// reason, and store the rest (the Kafka consumer and the envelope endpoint).
    DeadLetter(&'a (dyn Fn(usize, &str) -> DeadLetterRow + Send + Sync)),
}

impl std::fmt::Debug for OverLimit<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Refuse => "Refuse",
            Self::DeadLetter(_) => "DeadLetter",
        })
    }
}

/// A rollup row's sums.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RollupSums {
    /// Events.
    pub request_count: i64,
    /// Fees.
    pub fee: WeiParts,
    /// USD value.
    pub usd: UsdParts,
}

impl RollupSums {
    fn add(&mut self, fee: WeiParts, usd: UsdParts) -> Result<(), StoreError> {
        let overflow = |_| StoreError::Corrupt("usage sums overflow".into());
        self.request_count += 1;
        self.fee = self.fee.checked_add(fee).map_err(overflow)?;
        self.usd = self.usd.checked_add(usd).map_err(overflow)?;
        Ok(())
    }

    /// The same sums with their carries done (every sub-unit part below its base), as they are
    /// written. Within the lifetime ceilings normalising cannot fail; if it did, the sums are
    /// written as they are, which the carrying upserts store just as exactly.
    pub(crate) fn carried(&self) -> Self {
        let fee = Wei::from_parts(self.fee).and_then(Wei::to_parts);
        let usd = ExactUsd::from_parts(self.usd).and_then(ExactUsd::to_parts);
        match (fee, usd) {
            (Ok(fee), Ok(usd)) => Self {
                request_count: self.request_count,
                fee,
                usd,
            },
            _ => *self,
        }
    }

    /// Adds another group's sums.
    pub(crate) fn merge(&mut self, other: &Self) -> Result<(), StoreError> {
        let overflow = |_| StoreError::Corrupt("usage sums overflow".into());
        self.request_count = self
            .request_count
            .checked_add(other.request_count)
            .ok_or_else(|| StoreError::Corrupt("usage sums overflow".into()))?;
        self.fee = self.fee.checked_add(other.fee).map_err(overflow)?;
        self.usd = self.usd.checked_add(other.usd).map_err(overflow)?;
        Ok(())
    }
}

/// Storage of usage.
#[async_trait::async_trait]
pub trait UsageRepository {
    /// Stores a batch atomically (see the module documentation). An event that would take its
    /// app past a lifetime ceiling (`tollhouse_core::bounds`) is not stored: with
    /// [`OverLimit::Refuse`] the whole batch fails with [`StoreError::OverLimit`]; with
    /// [`OverLimit::DeadLetter`] that event becomes the dead letter the callback builds and the
    /// rest of the batch is stored.
    async fn ingest_usage(
        &self,
        events: &[UsageEventRow],
        dead_letters: &[DeadLetterRow],
        now: UnixTime,
        over_limit: OverLimit<'_>,
    ) -> Result<IngestCounts, StoreError>;
    /// For each `(client id, external user id)` pair: the app and user it names here, looked up
    /// in a few statements for a whole batch.
    async fn resolve_usage_subjects(
        &self,
        subjects: &[(String, String)],
    ) -> Result<HashMap<(String, String), Attribution>, StoreError>;
    /// Sums of the rollups of app `client_id` for days `[from_day, to_day)`, grouped by
    /// `(user_id, pipeline, model_id, day)`.
    async fn usage_rollups(
        &self,
        client_id: &str,
        from_day: i64,
        to_day: i64,
    ) -> Result<Vec<(String, String, String, i64, RollupSums)>, StoreError>;
    /// How many dead letters are waiting.
    async fn dead_letter_count(&self) -> Result<i64, StoreError>;
    /// Waiting dead letters, oldest first, at most `limit`.
    async fn dead_letters(&self, limit: i64) -> Result<Vec<StoredDeadLetter>, StoreError>;
    /// Marks dead letters as re-driven (they leave the waiting list).
    async fn mark_redriven(&self, ids: &[String], now: UnixTime) -> Result<(), StoreError>;
}

/// A dead letter as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredDeadLetter {
    /// Its id.
    pub id: String,
    /// Where it came from.
    pub source: String,
    /// The bytes as received.
    pub raw: Vec<u8>,
    /// Why it was refused.
    pub reason: String,
    /// When.
    pub received_at: UnixTime,
}

const UTC_DAY_MS: i64 = 86_400_000;

/// Most rows in one multi-row SQLite statement (26 columns: well within SQLite's 32,766
/// bind parameters).
pub(crate) const SQLITE_ROWS: usize = 256;
/// Most keys in one `IN (…)` lookup.
const LOOKUP_CHUNK: usize = 256;

/// Splits `0..len` into chunks of `max` (a power of two) and then descending powers of two, so
/// a statement built per chunk has one of `log2(max) + 1` shapes.
pub(crate) fn chunks(len: usize, max: usize) -> Vec<Range<usize>> {
    let mut out = Vec::new();
    let mut start = 0;
    let mut size = max;
    while start < len {
        while size > len - start {
            size /= 2;
        }
        out.push(start..start + size);
        start += size;
    }
    out
}

/// `items` in the runs [`chunks`] describes.
pub(crate) fn chunked<T>(items: &[T], max: usize) -> impl Iterator<Item = &[T]> {
    chunks(items.len(), max)
        .into_iter()
        .filter_map(move |range| items.get(range))
}

/// `$first, $first+1, …` (`count` of them).
fn placeholders(first: usize, count: usize) -> String {
    let mut out = String::new();
    for i in 0..count {
        if i > 0 {
            out.push_str(", ");
        }
        out.push('$');
        out.push_str(&(first + i).to_string());
    }
    out
}

/// `count` rows of `(?, ?, …)` with `width` parameters each, for SQLite. Anonymous `?`
/// parameters bind by position; numbered ones (`$n`) make every bind look its name up in a
/// list as long as the statement's parameters (quadratic in a 6,400-parameter statement).
pub(crate) fn value_rows(width: usize, count: usize) -> String {
    let mut row = String::from("(");
    for i in 0..width {
        row.push_str(if i == 0 { "?" } else { ", ?" });
    }
    row.push(')');
    vec![row; count].join(", ")
}

/// A PostgreSQL array literal of text (`{"a","b\"c",NULL}`), bound as text and cast `::text[]`.
#[derive(Debug, Default)]
pub(crate) struct TextArray(String);

impl TextArray {
    pub(crate) fn push(&mut self, value: Option<&str>) {
        self.0.push(if self.0.is_empty() { '{' } else { ',' });
        match value {
            None => self.0.push_str("NULL"),
            Some(text) => {
                self.0.push('"');
                // Most values need no escaping: copy them whole.
                let mut rest = text;
                while let Some(at) = rest.find(['"', '\\']) {
                    self.0.push_str(&rest[..at]);
                    self.0.push('\\');
                    self.0.push_str(&rest[at..=at]);
                    rest = &rest[at + 1..];
                }
                self.0.push_str(rest);
                self.0.push('"');
            }
        }
    }

    pub(crate) fn finish(mut self) -> String {
        if self.0.is_empty() {
            self.0.push('{');
        }
        self.0.push('}');
        self.0
    }
}

/// A PostgreSQL array literal of integers (`{1,-2,NULL}`), bound as text and cast `::bigint[]`.
#[derive(Debug, Default)]
pub(crate) struct IntArray(String);

impl IntArray {
    pub(crate) fn push(&mut self, value: Option<i64>) {
        self.0.push(if self.0.is_empty() { '{' } else { ',' });
        match value {
            None => self.0.push_str("NULL"),
            Some(v) => self.0.push_str(&v.to_string()),
        }
    }

    pub(crate) fn finish(mut self) -> String {
        if self.0.is_empty() {
            self.0.push('{');
        }
        self.0.push('}');
        self.0
    }
}

/// Refuses a row the ingest path should never build (it would poison every rollup it joins):
/// its values must be within the per-event bounds of `tollhouse_core::bounds`.
fn check_row(e: &UsageEventRow) -> Result<(), StoreError> {
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

fn day_of(e: &UsageEventRow) -> i64 {
    e.occurred_at_ms.div_euclid(UTC_DAY_MS)
}

const EVENT_COLUMNS: &str = "id, source, auth_id, client_id, user_id, pipeline, model_id, manifest_id, \
     gateway_request_id, request_id, fee_gwei, fee_wei, usd_e6, usd_e9, usd_e18, usd_e27, usd_e36, \
     eth_usd_price, pixels, billable_secs, billable_micros, occurred_at_ms, day, price_observed_at_ms, ingested_at";
const EVENT_WIDTH: usize = 25;

pub(crate) type Tx<'c> = sqlx::Transaction<'c, sqlx::Any>;

/// The events' columns as PostgreSQL array literals, in the order [`insert_events_pg`] binds
/// them: eleven text columns, twelve integer columns, and `billable_secs`.
fn event_arrays(events: &[&UsageEventRow]) -> ([TextArray; 11], [IntArray; 12], TextArray) {
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
async fn insert_events_pg(
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
async fn insert_events_sqlite(
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

/// A batch's sums in key order: every batch upserts rows in the same order, so two batches
/// stored at once queue for a row instead of deadlocking. (Summed in hash maps: one lookup per
/// event, one sort per distinct key.)
fn sorted<K: Ord, V>(sums: &HashMap<K, V>) -> Vec<(&K, &V)> {
    let mut rows: Vec<_> = sums.iter().collect();
    rows.sort_unstable_by(|a, b| a.0.cmp(b.0));
    rows
}

/// (client, day, manifest, user, pipeline, model).
type ManifestKey<'a> = (&'a str, i64, &'a str, &'a str, &'a str, &'a str);

/// Per-key sums of a batch's newly inserted events, written once per key.
#[derive(Debug, Default)]
struct BatchSums<'a> {
    /// (client, user, pipeline, model, day).
    rollups: HashMap<(&'a str, &'a str, &'a str, &'a str, i64), RollupSums>,
    /// (client, day, manifest, user, pipeline, model) → sums, billable micros.
    manifests: HashMap<ManifestKey<'a>, (RollupSums, i64)>,
    /// (user, client): attributed users only.
    users: HashMap<(&'a str, &'a str), RollupSums>,
    /// client → sums, billable micros: what the batch adds to each app's lifetime totals.
    apps: BTreeMap<&'a str, (RollupSums, i64)>,
}

impl<'a> BatchSums<'a> {
    fn add(&mut self, e: &'a UsageEventRow) -> Result<(), StoreError> {
        let Some(client_id) = e.client_id.as_deref() else {
            return Ok(());
        };
        let user = e.user_id.as_deref().unwrap_or("");
        let day = day_of(e);
        self.rollups
            .entry((client_id, user, &e.pipeline, &e.model_id, day))
            .or_default()
            .add(e.fee, e.usd)?;
        let (sums, micros) = self
            .manifests
            .entry((
                client_id,
                day,
                &e.manifest_id,
                user,
                &e.pipeline,
                &e.model_id,
            ))
            .or_default();
        sums.add(e.fee, e.usd)?;
        *micros = micros
            .checked_add(e.billable_micros)
            .ok_or_else(|| StoreError::Corrupt("billable time overflows".into()))?;
        let (sums, micros) = self.apps.entry(client_id).or_default();
        sums.add(e.fee, e.usd)?;
        *micros = micros
            .checked_add(e.billable_micros)
            .ok_or_else(|| StoreError::Corrupt("billable time overflows".into()))?;
        if let Some(user_id) = e.user_id.as_deref() {
            self.users
                .entry((user_id, client_id))
                .or_default()
                .add(e.fee, e.usd)?;
        }
        Ok(())
    }

    /// The batch's sums per block of days (see [`crate::usage_blocks`]).
    fn blocks(&self) -> Result<BlockSums<'a>, StoreError> {
        let mut blocks = BlockSums::default();
        for (key, sums) in sorted(&self.rollups) {
            blocks.add(*key, sums)?;
        }
        Ok(blocks)
    }

    async fn write_pg(&self, tx: &mut Tx<'_>, now: UnixTime) -> Result<(), StoreError> {
        self.blocks()?.write_pg(tx).await?;
        self.write_rollups_pg(tx).await?;
        self.write_manifests_pg(tx).await?;
        self.write_consumption_pg(tx, now).await
    }

    /// The per-day rollups, added to what is stored, in one `UNNEST` upsert.
    async fn write_rollups_pg(&self, tx: &mut Tx<'_>) -> Result<(), StoreError> {
        if self.rollups.is_empty() {
            return Ok(());
        }
        let mut text: [TextArray; 4] = Default::default();
        let mut ints: [IntArray; 9] = Default::default();
        for ((client, user, pipeline, model, day), sums) in sorted(&self.rollups) {
            for (column, value) in text.iter_mut().zip([client, user, pipeline, model]) {
                column.push(Some(value));
            }
            push_sums(&mut ints, *day, sums);
        }
        let [client, user, pipeline, model] = text.map(TextArray::finish);
        let [day, count, gwei, wei, u6, u9, u18, u27, u36] = ints.map(IntArray::finish);
        sqlx::query(&format!(
            "INSERT INTO usage_rollups ({ROLLUP_COLUMNS}) \
             SELECT * FROM UNNEST($1::text[], $2::text[], $3::text[], $4::text[], $5::bigint[], $6::bigint[], \
             $7::bigint[], $8::bigint[], $9::bigint[], $10::bigint[], $11::bigint[], $12::bigint[], $13::bigint[]) \
             ON CONFLICT (client_id, user_id, pipeline, model_id, day) DO UPDATE SET {}",
            add_sums("usage_rollups", false)
        ))
        .bind(client)
        .bind(user)
        .bind(pipeline)
        .bind(model)
        .bind(day)
        .bind(count)
        .bind(gwei)
        .bind(wei)
        .bind(u6)
        .bind(u9)
        .bind(u18)
        .bind(u27)
        .bind(u36)
        .execute(&mut **tx)
        .await?;
        Ok(())
    }

    /// The per-manifest rollups, likewise.
    async fn write_manifests_pg(&self, tx: &mut Tx<'_>) -> Result<(), StoreError> {
        if self.manifests.is_empty() {
            return Ok(());
        }
        let mut text: [TextArray; 5] = Default::default();
        let mut ints: [IntArray; 9] = Default::default();
        let mut billable = IntArray::default();
        for ((client, day, manifest, user, pipeline, model), (sums, micros)) in
            sorted(&self.manifests)
        {
            for (column, value) in text
                .iter_mut()
                .zip([client, manifest, user, pipeline, model])
            {
                column.push(Some(value));
            }
            push_sums(&mut ints, *day, sums);
            billable.push(Some(*micros));
        }
        let [client, manifest, user, pipeline, model] = text.map(TextArray::finish);
        let [day, count, gwei, wei, u6, u9, u18, u27, u36] = ints.map(IntArray::finish);
        sqlx::query(&format!(
            "INSERT INTO usage_manifest_rollups ({MANIFEST_COLUMNS}) \
             SELECT * FROM UNNEST($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::bigint[], \
             $7::bigint[], $8::bigint[], $9::bigint[], $10::bigint[], $11::bigint[], $12::bigint[], $13::bigint[], \
             $14::bigint[], $15::bigint[]) \
             ON CONFLICT (client_id, day, manifest_id, user_id, pipeline, model_id) DO UPDATE SET {}",
            add_sums("usage_manifest_rollups", true)
        ))
        .bind(client)
        .bind(manifest)
        .bind(user)
        .bind(pipeline)
        .bind(model)
        .bind(day)
        .bind(count)
        .bind(gwei)
        .bind(wei)
        .bind(u6)
        .bind(u9)
        .bind(u18)
        .bind(u27)
        .bind(u36)
        .bind(billable.finish())
        .execute(&mut **tx)
        .await?;
        Ok(())
    }

    /// Each user's lifetime consumption, likewise.
    async fn write_consumption_pg(&self, tx: &mut Tx<'_>, now: UnixTime) -> Result<(), StoreError> {
        if self.users.is_empty() {
            return Ok(());
        }
        let mut text: [TextArray; 2] = Default::default();
        let mut ints: [IntArray; 5] = Default::default();
        for ((user, client), sums) in sorted(&self.users) {
            text[0].push(Some(user));
            text[1].push(Some(client));
            for (column, value) in ints.iter_mut().zip(sums.carried().usd.to_array()) {
                column.push(Some(value));
            }
        }
        let [user, client] = text.map(TextArray::finish);
        let [u6, u9, u18, u27, u36] = ints.map(IntArray::finish);
        sqlx::query(&format!(
            "INSERT INTO user_consumption ({CONSUMPTION_COLUMNS}) \
             SELECT u.*, $8 FROM UNNEST($1::text[], $2::text[], $3::bigint[], $4::bigint[], $5::bigint[], \
             $6::bigint[], $7::bigint[]) AS u \
             ON CONFLICT (user_id) DO UPDATE SET {}",
            consumption_update()
        ))
        .bind(user)
        .bind(client)
        .bind(u6)
        .bind(u9)
        .bind(u18)
        .bind(u27)
        .bind(u36)
        .bind(now)
        .execute(&mut **tx)
        .await?;
        Ok(())
    }

    async fn write_sqlite(&self, tx: &mut Tx<'_>, now: UnixTime) -> Result<(), StoreError> {
        self.blocks()?.write_sqlite(tx).await?;
        let rollups = sorted(&self.rollups);
        for chunk in chunked(&rollups, SQLITE_ROWS) {
            let sql = format!(
                "INSERT INTO usage_rollups ({ROLLUP_COLUMNS}) VALUES {} \
                 ON CONFLICT (client_id, user_id, pipeline, model_id, day) DO UPDATE SET {}",
                value_rows(13, chunk.len()),
                add_sums("usage_rollups", false)
            );
            let mut query = sqlx::query(&sql);
            for ((client, user, pipeline, model, day), sums) in chunk {
                query = bind_sums(
                    query.bind(*client).bind(*user).bind(*pipeline).bind(*model),
                    *day,
                    sums,
                );
            }
            query.execute(&mut **tx).await?;
        }
        let manifests = sorted(&self.manifests);
        for chunk in chunked(&manifests, SQLITE_ROWS) {
            let sql = format!(
                "INSERT INTO usage_manifest_rollups ({MANIFEST_COLUMNS}) VALUES {} \
                 ON CONFLICT (client_id, day, manifest_id, user_id, pipeline, model_id) DO UPDATE SET {}",
                value_rows(15, chunk.len()),
                add_sums("usage_manifest_rollups", true)
            );
            let mut query = sqlx::query(&sql);
            for ((client, day, manifest, user, pipeline, model), (sums, micros)) in chunk {
                query = bind_sums(
                    query
                        .bind(*client)
                        .bind(*manifest)
                        .bind(*user)
                        .bind(*pipeline)
                        .bind(*model),
                    *day,
                    sums,
                )
                .bind(*micros);
            }
            query.execute(&mut **tx).await?;
        }
        let users = sorted(&self.users);
        for chunk in chunked(&users, SQLITE_ROWS) {
            let sql = format!(
                "INSERT INTO user_consumption ({CONSUMPTION_COLUMNS}) VALUES {} \
                 ON CONFLICT (user_id) DO UPDATE SET {}",
                value_rows(8, chunk.len()),
                consumption_update()
            );
            let mut query = sqlx::query(&sql);
            for ((user, client), sums) in chunk {
                let [u6, u9, u18, u27, u36] = sums.carried().usd.to_array();
                query = query
                    .bind(*user)
                    .bind(*client)
                    .bind(u6)
                    .bind(u9)
                    .bind(u18)
                    .bind(u27)
                    .bind(u36)
                    .bind(now);
            }
            query.execute(&mut **tx).await?;
        }
        Ok(())
    }
}

const ROLLUP_COLUMNS: &str = "client_id, user_id, pipeline, model_id, day, request_count, fee_gwei, fee_wei, \
     usd_e6, usd_e9, usd_e18, usd_e27, usd_e36";
const MANIFEST_COLUMNS: &str = "client_id, manifest_id, user_id, pipeline, model_id, day, request_count, \
     fee_gwei, fee_wei, usd_e6, usd_e9, usd_e18, usd_e27, usd_e36, billable_micros";
const CONSUMPTION_COLUMNS: &str =
    "user_id, client_id, consumed_usd_micros, usd_e9, usd_e18, usd_e27, usd_e36, updated_at";
/// `… = …` of the consumption upsert: the USD columns with their carries.
fn consumption_update() -> String {
    let mut set = carried_usd("user_consumption", "consumed_usd_micros").to_vec();
    set.push("updated_at = excluded.updated_at".into());
    set.join(", ")
}

/// The summed columns of the rollup and block tables (without `billable_micros`, which only
/// the manifest rollups and events have).
pub(crate) const SUMMED: [&str; 8] = [
    "request_count",
    "fee_gwei",
    "fee_wei",
    "usd_e6",
    "usd_e9",
    "usd_e18",
    "usd_e27",
    "usd_e36",
];

/// `col = …` for the summed columns of an upsert into `table`: each sum is added to the stored
/// one with its carries (`fee_wei` into `fee_gwei`, each USD limb into the next), so a stored
/// row stays normalised (every sub-unit column below its base) however many batches add to it,
/// and only the whole-unit columns grow, bounded by the app's lifetime ceilings
/// (`tollhouse_core::bounds`). `billable_micros` is added when `billable`.
pub(crate) fn add_sums(table: &str, billable: bool) -> String {
    let mut set = vec![format!(
        "request_count = {table}.request_count + excluded.request_count"
    )];
    set.extend(carried_fee(table));
    set.extend(carried_usd(table, "usd_e6"));
    if billable {
        set.push(format!(
            "billable_micros = {table}.billable_micros + excluded.billable_micros"
        ));
    }
    set.join(", ")
}

/// `fee_gwei = …, fee_wei = …`: the two fee columns added with the carry between them.
pub(crate) fn carried_fee(table: &str) -> [String; 2] {
    let wei = format!("({table}.fee_wei + excluded.fee_wei)");
    [
        format!("fee_gwei = {table}.fee_gwei + excluded.fee_gwei + {wei} / 1000000000"),
        format!("fee_wei = {wei} % 1000000000"),
    ]
}

/// The five USD columns added with their carries; the whole micro-USD column is named `e6`.
/// (The limbs: e36, e27, e18 below 10^9, e9 below 10^3; see `tollhouse_core::money::UsdParts`.)
pub(crate) fn carried_usd(table: &str, e6: &str) -> [String; 5] {
    let add = |c: &str| format!("{table}.{c} + excluded.{c}");
    let s36 = format!("({})", add("usd_e36"));
    let s27 = format!("({} + {s36} / 1000000000)", add("usd_e27"));
    let s18 = format!("({} + {s27} / 1000000000)", add("usd_e18"));
    let s9 = format!("({} + {s18} / 1000000000)", add("usd_e9"));
    [
        format!("{e6} = {} + {s9} / 1000", add(e6)),
        format!("usd_e9 = {s9} % 1000"),
        format!("usd_e18 = {s18} % 1000000000"),
        format!("usd_e27 = {s27} % 1000000000"),
        format!("usd_e36 = {s36} % 1000000000"),
    ]
}

pub(crate) fn push_sums(ints: &mut [IntArray; 9], day: i64, sums: &RollupSums) {
    let sums = sums.carried();
    let [u6, u9, u18, u27, u36] = sums.usd.to_array();
    for (column, value) in ints.iter_mut().zip([
        day,
        sums.request_count,
        sums.fee.gwei,
        sums.fee.wei,
        u6,
        u9,
        u18,
        u27,
        u36,
    ]) {
        column.push(Some(value));
    }
}

pub(crate) type AnyQuery<'q> = sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments<'q>>;

/// `query` with PostgreSQL array literals bound in order, one per `$n`.
pub(crate) fn bind_arrays<'q>(
    query: AnyQuery<'q>,
    arrays: impl IntoIterator<Item = String>,
) -> AnyQuery<'q> {
    arrays
        .into_iter()
        .fold(query, |query, array| query.bind(array))
}

pub(crate) fn bind_sums<'q>(query: AnyQuery<'q>, day: i64, sums: &RollupSums) -> AnyQuery<'q> {
    let sums = sums.carried();
    let [u6, u9, u18, u27, u36] = sums.usd.to_array();
    query
        .bind(day)
        .bind(sums.request_count)
        .bind(sums.fee.gwei)
        .bind(sums.fee.wei)
        .bind(u6)
        .bind(u9)
        .bind(u18)
        .bind(u27)
        .bind(u36)
}
impl SqlStore {
    /// One attempt at [`UsageRepository::ingest_usage`].
    async fn ingest_once(
        &self,
        events: &[UsageEventRow],
        dead_letters: &[DeadLetterRow],
        now: UnixTime,
        over_limit: OverLimit<'_>,
    ) -> Result<IngestCounts, StoreError> {
        let mut counts = IngestCounts::default();
        // The first of several events with one id in a batch is the one stored; the others are
        // duplicates, exactly as if they had come in a later batch.
        let mut seen = HashSet::with_capacity(events.len());
        let mut unique = Vec::with_capacity(events.len());
        for (index, e) in events.iter().enumerate() {
            check_row(e)?;
            if seen.insert(e.id.as_str()) {
                unique.push((index, e));
            } else {
                counts.duplicate += 1;
            }
        }
        let backend = Store::backend(self);
        let mut tx = self.pool.begin().await?;
        let inserted = if unique.is_empty() {
            HashSet::new()
        } else {
            let rows: Vec<&UsageEventRow> = unique.iter().map(|(_, e)| *e).collect();
            match backend {
                Backend::Postgres => insert_events_pg(&mut tx, &rows, now).await?,
                Backend::Sqlite => insert_events_sqlite(&mut tx, &rows, now).await?,
            }
        };
        counts.duplicate += (unique.len() - inserted.len()) as u64;
        unique.retain(|(_, e)| inserted.contains(e.id.as_str()));
        let refused = crate::usage_totals::over_ceiling(&mut tx, &unique).await?;
        let mut letters: Vec<DeadLetterRow> = Vec::new();
        if let Some((index, reason)) = refused.first() {
            let OverLimit::DeadLetter(letter) = over_limit else {
                return Err(StoreError::OverLimit(format!("event {index}: {reason}")));
            };
            let refused_ids: HashSet<&str> = refused
                .iter()
                .filter_map(|(i, _)| events.get(*i).map(|e| e.id.as_str()))
                .collect();
            for id in &refused_ids {
                sqlx::query("DELETE FROM usage_events WHERE id = $1")
                    .bind(*id)
                    .execute(&mut *tx)
                    .await?;
            }
            letters = refused
                .iter()
                .map(|(i, reason)| letter(*i, &format!("usage_ceiling: {reason}")))
                .collect();
            counts.over_limit = refused.len() as u64;
            unique.retain(|(_, e)| !refused_ids.contains(e.id.as_str()));
        }
        let mut sums = BatchSums::default();
        for (_, e) in unique {
            counts.ingested += 1;
            if e.client_id.is_none() || e.user_id.is_none() {
                counts.unattributed += 1;
            }
            sums.add(e)?;
        }
        match backend {
            Backend::Postgres => sums.write_pg(&mut tx, now).await?,
            Backend::Sqlite => sums.write_sqlite(&mut tx, now).await?,
        }
        crate::usage_totals::add(&mut tx, &sums.apps).await?;
        for d in dead_letters.iter().chain(&letters) {
            let inserted = sqlx::query(
                "INSERT INTO usage_dead_letters (id, source, raw, reason, received_at) VALUES ($1, $2, $3, $4, $5) \
                 ON CONFLICT (id) DO NOTHING",
            )
            .bind(&d.id)
            .bind(d.source)
            .bind(d.raw.clone())
            .bind(&d.reason)
            .bind(now)
            .execute(&mut *tx)
            .await?;
            counts.dead_lettered += inserted.rows_affected();
        }
        tx.commit().await?;
        Ok(counts)
    }
}

#[async_trait::async_trait]
impl UsageRepository for SqlStore {
    async fn ingest_usage(
        &self,
        events: &[UsageEventRow],
        dead_letters: &[DeadLetterRow],
        now: UnixTime,
        over_limit: OverLimit<'_>,
    ) -> Result<IngestCounts, StoreError> {
        let mut attempt = 0;
        loop {
            match self
                .ingest_once(events, dead_letters, now, over_limit)
                .await
            {
                Err(err) if attempt < 4 && crate::usage_totals::is_ceiling_race(&err) => {
                    attempt += 1;
                }
                result => return result,
            }
        }
    }

    async fn resolve_usage_subjects(
        &self,
        subjects: &[(String, String)],
    ) -> Result<HashMap<(String, String), Attribution>, StoreError> {
        use sqlx::Row as _;
        let mut apps = BTreeSet::new();
        for (client_id, _) in subjects {
            if !client_id.is_empty() {
                apps.insert(client_id.as_str());
            }
        }
        let apps: Vec<&str> = apps.into_iter().collect();
        let mut known_apps = HashSet::new();
        for chunk in chunked(&apps, LOOKUP_CHUNK) {
            let sql = format!(
                "SELECT client_id FROM apps WHERE client_id IN ({})",
                placeholders(1, chunk.len())
            );
            let mut query = sqlx::query(&sql);
            for client_id in chunk {
                query = query.bind(*client_id);
            }
            for row in query.fetch_all(&self.pool).await? {
                known_apps.insert(row.try_get::<String, _>("client_id")?);
            }
        }
        let mut wanted = BTreeMap::<&str, BTreeSet<&str>>::new();
        for (client_id, user) in subjects {
            if known_apps.contains(client_id) && !user.is_empty() {
                wanted.entry(client_id).or_default().insert(user);
            }
        }
        let mut users = HashMap::new();
        for (client_id, externals) in &wanted {
            let externals: Vec<&str> = externals.iter().copied().collect();
            for chunk in chunked(&externals, LOOKUP_CHUNK) {
                let sql = format!(
                    "SELECT external_user_id, id FROM app_users WHERE client_id = $1 AND external_user_id IN ({})",
                    placeholders(2, chunk.len())
                );
                let mut query = sqlx::query(&sql).bind(*client_id);
                for external in chunk {
                    query = query.bind(*external);
                }
                for row in query.fetch_all(&self.pool).await? {
                    let external: String = row.try_get("external_user_id")?;
                    let id: String = row.try_get("id")?;
                    users.insert(((*client_id).to_owned(), external), id);
                }
            }
        }
        Ok(subjects
            .iter()
            .map(|key| {
                let attribution = if known_apps.contains(&key.0) {
                    Attribution {
                        client_id: Some(key.0.clone()),
                        user_id: users.get(key).cloned(),
                    }
                } else {
                    Attribution::default()
                };
                (key.clone(), attribution)
            })
            .collect())
    }

    async fn usage_rollups(
        &self,
        client_id: &str,
        from_day: i64,
        to_day: i64,
    ) -> Result<Vec<(String, String, String, i64, RollupSums)>, StoreError> {
        use sqlx::Row as _;
        let rows = sqlx::query(
            "SELECT user_id, pipeline, model_id, day, request_count, fee_gwei, fee_wei, usd_e6, usd_e9, usd_e18, usd_e27, usd_e36 \
             FROM usage_rollups WHERE client_id = $1 AND day >= $2 AND day < $3 ORDER BY day, user_id, pipeline, model_id",
        )
        .bind(client_id)
        .bind(from_day)
        .bind(to_day)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|row| {
                Ok((
                    row.try_get("user_id")?,
                    row.try_get("pipeline")?,
                    row.try_get("model_id")?,
                    row.try_get("day")?,
                    RollupSums {
                        request_count: row.try_get("request_count")?,
                        fee: WeiParts {
                            gwei: row.try_get("fee_gwei")?,
                            wei: row.try_get("fee_wei")?,
                        },
                        usd: UsdParts {
                            e6: row.try_get("usd_e6")?,
                            e9: row.try_get("usd_e9")?,
                            e18: row.try_get("usd_e18")?,
                            e27: row.try_get("usd_e27")?,
                            e36: row.try_get("usd_e36")?,
                        },
                    },
                ))
            })
            .collect()
    }

    async fn dead_letters(&self, limit: i64) -> Result<Vec<StoredDeadLetter>, StoreError> {
        use sqlx::Row as _;
        let rows = sqlx::query(
            "SELECT id, source, raw, reason, received_at FROM usage_dead_letters WHERE redriven_at IS NULL \
             ORDER BY received_at, id LIMIT $1",
        )
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|row| {
                Ok(StoredDeadLetter {
                    id: row.try_get("id")?,
                    source: row.try_get("source")?,
                    raw: row.try_get("raw")?,
                    reason: row.try_get("reason")?,
                    received_at: row.try_get("received_at")?,
                })
            })
            .collect()
    }

    async fn mark_redriven(&self, ids: &[String], now: UnixTime) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await?;
        for id in ids {
            sqlx::query("UPDATE usage_dead_letters SET redriven_at = $1 WHERE id = $2")
                .bind(now)
                .bind(id)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    async fn dead_letter_count(&self) -> Result<i64, StoreError> {
        use sqlx::Row as _;
        let row =
            sqlx::query("SELECT COUNT(*) AS n FROM usage_dead_letters WHERE redriven_at IS NULL")
                .fetch_one(&self.pool)
                .await?;
        Ok(row.try_get("n")?)
    }
}
