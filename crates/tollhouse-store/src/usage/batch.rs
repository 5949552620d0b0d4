//! A batch's sums per rollup key (per day, per manifest, per user), the tables they are added
//! to, and their upserts.

use super::UsageEventRow;
use super::blocks::BlockSums;
use super::events::day_of;
use super::sums::{RollupSums, add_sums, carried_usd, sum_cells, summed_table};
use crate::batch_table::{BatchTable, Cell, Kind};
use crate::sql_batch::Tx;
use crate::{Backend, StoreError};
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

    /// Adds the batch's sums to every summed table, in key order.
    pub(crate) async fn write(
        &self,
        tx: &mut Tx<'_>,
        backend: Backend,
        now: UnixTime,
    ) -> Result<(), StoreError> {
        self.blocks()?.write(tx, backend).await?;
        let mut cells = Vec::with_capacity(self.rollups.len() * ROLLUPS.width());
        for ((client, user, pipeline, model, day), sums) in sorted(&self.rollups) {
            cells.extend([*client, *user, *pipeline, *model].map(Cell::from));
            cells.extend(sum_cells(*day, sums));
        }
        let tail = format!(
            "ON CONFLICT (client_id, user_id, pipeline, model_id, day) DO UPDATE SET {}",
            add_sums(ROLLUPS.name, false)
        );
        ROLLUPS.insert(tx, backend, &cells, &tail).await?;

        let mut cells = Vec::with_capacity(self.manifests.len() * MANIFESTS.width());
        for ((client, day, manifest, user, pipeline, model), (sums, micros)) in
            sorted(&self.manifests)
        {
            cells.extend([*client, *manifest, *user, *pipeline, *model].map(Cell::from));
            cells.extend(sum_cells(*day, sums));
            cells.push((*micros).into());
        }
        let tail = format!(
            "ON CONFLICT (client_id, day, manifest_id, user_id, pipeline, model_id) DO UPDATE SET {}",
            add_sums(MANIFESTS.name, true)
        );
        MANIFESTS.insert(tx, backend, &cells, &tail).await?;

        let mut cells = Vec::with_capacity(self.users.len() * CONSUMPTION.width());
        for ((user, client), sums) in sorted(&self.users) {
            cells.extend([*user, *client].map(Cell::from));
            cells.extend(sums.carried().usd.to_array().map(Cell::from));
            cells.push(now.into());
        }
        let tail = format!(
            "ON CONFLICT (user_id) DO UPDATE SET {}",
            consumption_update()
        );
        CONSUMPTION.insert(tx, backend, &cells, &tail).await?;
        Ok(())
    }
}

/// Per (app, user, pipeline, model) and UTC day.
const ROLLUPS: BatchTable = summed_table!(
    "usage_rollups",
    [
        ("client_id", Kind::Text),
        ("user_id", Kind::Text),
        ("pipeline", Kind::Text),
        ("model_id", Kind::Text),
        ("day", Kind::Int),
    ]
);

/// Per (app, day, manifest, user, pipeline, model), with the billable time.
const MANIFESTS: BatchTable = summed_table!(
    "usage_manifest_rollups",
    [
        ("client_id", Kind::Text),
        ("manifest_id", Kind::Text),
        ("user_id", Kind::Text),
        ("pipeline", Kind::Text),
        ("model_id", Kind::Text),
        ("day", Kind::Int),
    ],
    ("billable_micros", Kind::Int),
);

/// Each user's lifetime consumption.
const CONSUMPTION: BatchTable = BatchTable {
    name: "user_consumption",
    columns: &[
        ("user_id", Kind::Text),
        ("client_id", Kind::Text),
        ("consumed_usd_micros", Kind::Int),
        ("usd_e9", Kind::Int),
        ("usd_e18", Kind::Int),
        ("usd_e27", Kind::Int),
        ("usd_e36", Kind::Int),
        ("updated_at", Kind::Int),
    ],
};

/// `… = …` of the consumption upsert: the USD columns with their carries.
pub(crate) fn consumption_update() -> String {
    let mut set = carried_usd("user_consumption", "consumed_usd_micros").to_vec();
    set.push("updated_at = excluded.updated_at".into());
    set.join(", ")
}

#[cfg(test)]
mod tests {
    use super::super::sums::SUMMED;
    use super::*;

    #[test]
    fn summed_tables_list_the_summed_columns_after_their_day() {
        let tables = [
            &ROLLUPS,
            &MANIFESTS,
            &super::super::blocks::APP_BLOCKS,
            &super::super::blocks::USER_BLOCKS,
        ];
        for table in tables {
            let names: Vec<&str> = table.columns.iter().map(|(name, _)| *name).collect();
            let day = names
                .iter()
                .position(|n| *n == "day" || *n == "start_day")
                .unwrap();
            assert_eq!(
                names[day + 1..day + 1 + SUMMED.len()],
                SUMMED,
                "{}",
                table.name
            );
        }
        assert_eq!(ROLLUPS.width(), 4 + 9);
        assert_eq!(MANIFESTS.width(), 5 + 9 + 1);
        assert_eq!(CONSUMPTION.width(), 8);
    }
}
