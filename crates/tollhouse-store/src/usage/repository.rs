//! [`UsageRepository`] for [`SqlStore`].

use super::sums::RollupSums;
use super::{
    Attribution, DeadLetterRow, IngestCounts, OverLimit, StoredDeadLetter, UsageEventRow,
    UsageRepository,
};
use crate::sql_batch::{LOOKUP_CHUNK, chunked, placeholders};
use crate::{SqlStore, StoreError};
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use tollhouse_core::UnixTime;
use tollhouse_core::money::{UsdParts, WeiParts};

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
                Err(err) if attempt < 4 && crate::usage::totals::is_ceiling_race(&err) => {
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
