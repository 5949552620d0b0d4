//! One batch in one transaction: the events inserted, and only those added to the sums.

use super::batch::BatchSums;
use super::events::{check_row, insert_events};
use super::{DeadLetterRow, IngestCounts, OverLimit, UsageEventRow};
use crate::{SqlStore, Store, StoreError};
use std::collections::HashSet;
use tollhouse_core::UnixTime;

impl SqlStore {
    /// One attempt at [`UsageRepository::ingest_usage`].
    pub(crate) async fn ingest_once(
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
            insert_events(&mut tx, backend, &rows, now).await?
        };
        counts.duplicate += (unique.len() - inserted.len()) as u64;
        unique.retain(|(_, e)| inserted.contains(e.id.as_str()));
        let refused = crate::usage::totals::over_ceiling(&mut tx, &unique).await?;
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
        counts.inserted_ids = unique.iter().map(|(_, e)| e.id.clone()).collect();
        let mut sums = BatchSums::default();
        for (_, e) in unique {
            counts.ingested += 1;
            if e.client_id.is_none() || e.user_id.is_none() {
                counts.unattributed += 1;
            }
            sums.add(e)?;
        }
        sums.write(&mut tx, backend, now).await?;
        crate::usage::totals::add(&mut tx, &sums.apps).await?;
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
