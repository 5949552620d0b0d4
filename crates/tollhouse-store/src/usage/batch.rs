//! A batch's sums per rollup key (per day, per manifest, per user) and their upserts per
//! dialect.

use super::UsageEventRow;
use super::blocks::BlockSums;
use super::events::day_of;
use super::sums::{RollupSums, add_sums, bind_sums, carried_usd, push_sums};
use crate::StoreError;
use crate::sql_batch::{IntArray, SQLITE_ROWS, TextArray, Tx, chunked, value_rows};
use std::collections::{BTreeMap, HashMap};
use tollhouse_core::UnixTime;

/// A batch's sums in key order: every batch upserts rows in the same order, so two batches
/// stored at once queue for a row instead of deadlocking. (Summed in hash maps: one lookup per
/// event, one sort per distinct key.)
pub(crate) fn sorted<K: Ord, V>(sums: &HashMap<K, V>) -> Vec<(&K, &V)> {
    let mut rows: Vec<_> = sums.iter().collect();
    rows.sort_unstable_by(|a, b| a.0.cmp(b.0));
    rows
}

/// (client, day, manifest, user, pipeline, model).
pub(crate) type ManifestKey<'a> = (&'a str, i64, &'a str, &'a str, &'a str, &'a str);

/// Per-key sums of a batch's newly inserted events, written once per key.
#[derive(Debug, Default)]
pub(crate) struct BatchSums<'a> {
    /// (client, user, pipeline, model, day).
    rollups: HashMap<(&'a str, &'a str, &'a str, &'a str, i64), RollupSums>,
    /// (client, day, manifest, user, pipeline, model) → sums, billable micros.
    manifests: HashMap<ManifestKey<'a>, (RollupSums, i64)>,
    /// (user, client): attributed users only.
    users: HashMap<(&'a str, &'a str), RollupSums>,
    /// client → sums, billable micros: what the batch adds to each app's lifetime totals.
    pub(crate) apps: BTreeMap<&'a str, (RollupSums, i64)>,
}

impl<'a> BatchSums<'a> {
    pub(crate) fn add(&mut self, e: &'a UsageEventRow) -> Result<(), StoreError> {
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

    /// The batch's sums per block of days (see [`crate::usage::blocks`]).
    pub(crate) fn blocks(&self) -> Result<BlockSums<'a>, StoreError> {
        let mut blocks = BlockSums::default();
        for (key, sums) in sorted(&self.rollups) {
            blocks.add(*key, sums)?;
        }
        Ok(blocks)
    }

    pub(crate) async fn write_pg(&self, tx: &mut Tx<'_>, now: UnixTime) -> Result<(), StoreError> {
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

    pub(crate) async fn write_sqlite(
        &self,
        tx: &mut Tx<'_>,
        now: UnixTime,
    ) -> Result<(), StoreError> {
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

pub(crate) const ROLLUP_COLUMNS: &str = "client_id, user_id, pipeline, model_id, day, request_count, fee_gwei, fee_wei, \
     usd_e6, usd_e9, usd_e18, usd_e27, usd_e36";
pub(crate) const MANIFEST_COLUMNS: &str = "client_id, manifest_id, user_id, pipeline, model_id, day, request_count, \
     fee_gwei, fee_wei, usd_e6, usd_e9, usd_e18, usd_e27, usd_e36, billable_micros";
pub(crate) const CONSUMPTION_COLUMNS: &str =
    "user_id, client_id, consumed_usd_micros, usd_e9, usd_e18, usd_e27, usd_e36, updated_at";
/// `… = …` of the consumption upsert: the USD columns with their carries.
pub(crate) fn consumption_update() -> String {
    let mut set = carried_usd("user_consumption", "consumed_usd_micros").to_vec();
    set.push("updated_at = excluded.updated_at".into());
    set.join(", ")
}
