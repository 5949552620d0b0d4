//! Usage events, their rollups, users' consumption and dead letters.
//!
//! A batch is written in one transaction: events are inserted with `ON CONFLICT (id) DO
//! NOTHING`, and only the ones actually inserted add to the rollups and to users' consumption,
//! so delivering the same batch twice (a crash before the Kafka commit, a replay from offset 0)
//! changes no total.

use crate::{SqlStore, StoreError};
use std::collections::BTreeMap;
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
    /// When it happened (unix ms).
    pub occurred_at_ms: i64,
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
}

/// Storage of usage.
#[async_trait::async_trait]
pub trait UsageRepository {
    /// Stores a batch atomically (see the module documentation).
    async fn ingest_usage(
        &self,
        events: &[UsageEventRow],
        dead_letters: &[DeadLetterRow],
        now: UnixTime,
    ) -> Result<IngestCounts, StoreError>;
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

#[async_trait::async_trait]
impl UsageRepository for SqlStore {
    async fn ingest_usage(
        &self,
        events: &[UsageEventRow],
        dead_letters: &[DeadLetterRow],
        now: UnixTime,
    ) -> Result<IngestCounts, StoreError> {
        let mut counts = IngestCounts::default();
        let mut rollups = BTreeMap::<(String, String, String, String, i64), RollupSums>::new();
        let mut users = BTreeMap::<(String, String), RollupSums>::new();
        let mut tx = self.pool.begin().await?;
        for e in events {
            let day = e.occurred_at_ms.div_euclid(UTC_DAY_MS);
            let [u6, u9, u18, u27, u36] = e.usd.to_array();
            let inserted = sqlx::query(
                "INSERT INTO usage_events (id, source, auth_id, client_id, user_id, pipeline, model_id, manifest_id, \
                 gateway_request_id, request_id, fee_gwei, fee_wei, usd_e6, usd_e9, usd_e18, usd_e27, usd_e36, \
                 eth_usd_price, pixels, billable_secs, occurred_at_ms, day, ingested_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21, $22, $23) \
                 ON CONFLICT (id) DO NOTHING",
            )
            .bind(&e.id)
            .bind(e.source)
            .bind(&e.auth_id)
            .bind(e.client_id.clone())
            .bind(e.user_id.clone())
            .bind(&e.pipeline)
            .bind(&e.model_id)
            .bind(&e.manifest_id)
            .bind(e.gateway_request_id.clone())
            .bind(&e.request_id)
            .bind(e.fee.gwei)
            .bind(e.fee.wei)
            .bind(u6)
            .bind(u9)
            .bind(u18)
            .bind(u27)
            .bind(u36)
            .bind(&e.eth_usd_price)
            .bind(e.pixels)
            .bind(&e.billable_secs)
            .bind(e.occurred_at_ms)
            .bind(day)
            .bind(now)
            .execute(&mut *tx)
            .await?;
            if inserted.rows_affected() == 0 {
                counts.duplicate += 1;
                continue;
            }
            counts.ingested += 1;
            let Some(client_id) = &e.client_id else {
                counts.unattributed += 1;
                continue;
            };
            let user = e.user_id.clone().unwrap_or_default();
            if e.user_id.is_none() {
                counts.unattributed += 1;
            }
            rollups
                .entry((
                    client_id.clone(),
                    user.clone(),
                    e.pipeline.clone(),
                    e.model_id.clone(),
                    day,
                ))
                .or_default()
                .add(e.fee, e.usd)?;
            if !user.is_empty() {
                users
                    .entry((client_id.clone(), user))
                    .or_default()
                    .add(e.fee, e.usd)?;
            }
        }
        for ((client_id, user_id, pipeline, model_id, day), sums) in &rollups {
            let [u6, u9, u18, u27, u36] = sums.usd.to_array();
            sqlx::query(
                "INSERT INTO usage_rollups (client_id, user_id, pipeline, model_id, day, request_count, fee_gwei, fee_wei, \
                 usd_e6, usd_e9, usd_e18, usd_e27, usd_e36) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13) \
                 ON CONFLICT (client_id, user_id, pipeline, model_id, day) DO UPDATE SET \
                 request_count = usage_rollups.request_count + excluded.request_count, \
                 fee_gwei = usage_rollups.fee_gwei + excluded.fee_gwei, fee_wei = usage_rollups.fee_wei + excluded.fee_wei, \
                 usd_e6 = usage_rollups.usd_e6 + excluded.usd_e6, usd_e9 = usage_rollups.usd_e9 + excluded.usd_e9, \
                 usd_e18 = usage_rollups.usd_e18 + excluded.usd_e18, usd_e27 = usage_rollups.usd_e27 + excluded.usd_e27, \
                 usd_e36 = usage_rollups.usd_e36 + excluded.usd_e36",
            )
            .bind(client_id)
            .bind(user_id)
            .bind(pipeline)
            .bind(model_id)
            .bind(*day)
            .bind(sums.request_count)
            .bind(sums.fee.gwei)
            .bind(sums.fee.wei)
            .bind(u6)
            .bind(u9)
            .bind(u18)
            .bind(u27)
            .bind(u36)
            .execute(&mut *tx)
            .await?;
        }
        for ((client_id, user_id), sums) in &users {
            let [u6, u9, u18, u27, u36] = sums.usd.to_array();
            sqlx::query(
                "INSERT INTO user_consumption (user_id, client_id, consumed_usd_micros, usd_e9, usd_e18, usd_e27, usd_e36, updated_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (user_id) DO UPDATE SET \
                 consumed_usd_micros = user_consumption.consumed_usd_micros + excluded.consumed_usd_micros, \
                 usd_e9 = user_consumption.usd_e9 + excluded.usd_e9, usd_e18 = user_consumption.usd_e18 + excluded.usd_e18, \
                 usd_e27 = user_consumption.usd_e27 + excluded.usd_e27, usd_e36 = user_consumption.usd_e36 + excluded.usd_e36, \
                 updated_at = excluded.updated_at",
            )
            .bind(user_id)
            .bind(client_id)
            .bind(u6)
            .bind(u9)
            .bind(u18)
            .bind(u27)
            .bind(u36)
            .bind(now)
            .execute(&mut *tx)
            .await?;
        }
        for d in dead_letters {
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
