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

//!
//! By concern: [`events`] (the events' columns and their writers per dialect), [`batch`] (a
//! batch's sums per rollup key and their upserts), [`sums`] (the summed columns, once), [`blocks`]
//! and [`cover`] (blocks of days and the ranges they add up to), [`query`] (reports and
//! balances), [`totals`] (each app's lifetime ceiling), [`ingest`] (one batch in one
//! transaction) and [`repository`] (the trait's implementation).

pub(crate) mod batch;
pub(crate) mod blocks;
pub(crate) mod cover;
pub(crate) mod events;
pub(crate) mod ingest;
pub(crate) mod query;
pub(crate) mod repository;
pub(crate) mod sums;
pub(crate) mod totals;

pub use sums::RollupSums;

use crate::StoreError;
use std::collections::HashMap;
use tollhouse_core::UnixTime;
use tollhouse_core::money::{UsdParts, WeiParts};

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
#[derive(Debug, Clone, Default, PartialEq, Eq)]
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
    /// The ids of the new events stored, in batch order (each once: the first of several
    /// events with one id is the one stored).
    pub inserted_ids: Vec<String>,
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

pub(crate) const UTC_DAY_MS: i64 = 86_400_000;
