//! Usage summed over aligned blocks of 1, 4, 16 and 64 UTC days, per app and (pipeline, model)
//! and per app and user, kept on ingest next to the daily rollups.
//!
//! The daily rollups have one row per (user, pipeline, model, day): a 60-day report of an app
//! with a few hundred active users sums some 70,000 of them. Any range of days is instead a
//! signed sum of a few blocks ([`crate::usage::cover::cover`]), so the app-wide reports
//! (`groupBy=none|pipeline_model`) read a few rows per (pipeline, model) and `groupBy=user` a few
//! per user, whatever the range. Each batch adds its daily sums to one block of every size: four
//! small upserts per key instead of one.

use crate::batch_table::{BatchTable, Cell, Kind};
use crate::sql_batch::Tx;
use crate::usage::cover::{SPANS, round_down};
use crate::usage::sums::{RollupSums, add_sums, sum_cells, summed_table};
use crate::{Backend, StoreError};
use std::collections::BTreeMap;

/// A batch's sums per block, from its daily rollup sums.
#[derive(Debug, Default)]
pub(crate) struct BlockSums<'a> {
    /// (client, pipeline, model, span, start).
    apps: BTreeMap<(&'a str, &'a str, &'a str, i64, i64), RollupSums>,
    /// (client, user, span, start); user `""` for an unknown user of the app.
    users: BTreeMap<(&'a str, &'a str, i64, i64), RollupSums>,
}

impl<'a> BlockSums<'a> {
    /// Adds one daily rollup's sums to its block of every size.
    pub(crate) fn add(
        &mut self,
        (client, user, pipeline, model, day): (&'a str, &'a str, &'a str, &'a str, i64),
        sums: &RollupSums,
    ) -> Result<(), StoreError> {
        for span in SPANS {
            let start = round_down(day, span);
            self.apps
                .entry((client, pipeline, model, span, start))
                .or_default()
                .merge(sums)?;
            self.users
                .entry((client, user, span, start))
                .or_default()
                .merge(sums)?;
        }
        Ok(())
    }

    /// Adds the sums to every block table, in key order.
    pub(crate) async fn write(&self, tx: &mut Tx<'_>, backend: Backend) -> Result<(), StoreError> {
        let mut cells = Vec::with_capacity(self.apps.len() * APP_BLOCKS.width());
        for ((client, pipeline, model, span, start), sums) in &self.apps {
            cells.extend([*client, *pipeline, *model].map(Cell::from));
            cells.push((*span).into());
            cells.extend(sum_cells(*start, sums));
        }
        let tail = format!(
            "ON CONFLICT (client_id, span_days, start_day, pipeline, model_id) DO UPDATE SET {}",
            add_sums(APP_BLOCKS.name, false)
        );
        APP_BLOCKS.insert(tx, backend, &cells, &tail).await?;

        let mut cells = Vec::with_capacity(self.users.len() * USER_BLOCKS.width());
        for ((client, user, span, start), sums) in &self.users {
            cells.extend([*client, *user].map(Cell::from));
            cells.push((*span).into());
            cells.extend(sum_cells(*start, sums));
        }
        let tail = format!(
            "ON CONFLICT (client_id, span_days, start_day, user_id) DO UPDATE SET {}",
            add_sums(USER_BLOCKS.name, false)
        );
        USER_BLOCKS.insert(tx, backend, &cells, &tail).await?;
        Ok(())
    }
}

/// Per app and (pipeline, model), per block.
pub(crate) const APP_BLOCKS: BatchTable = summed_table!(
    "usage_app_blocks",
    [
        ("client_id", Kind::Text),
        ("pipeline", Kind::Text),
        ("model_id", Kind::Text),
        ("span_days", Kind::Int),
        ("start_day", Kind::Int),
    ]
);

/// Per app and user, per block.
pub(crate) const USER_BLOCKS: BatchTable = summed_table!(
    "usage_user_blocks",
    [
        ("client_id", Kind::Text),
        ("user_id", Kind::Text),
        ("span_days", Kind::Int),
        ("start_day", Kind::Int),
    ]
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_day_lands_in_the_block_of_each_size_that_holds_it() {
        for day in [-65, -1, 0, 3, 4, 63, 64, 20_415] {
            for span in SPANS {
                let start = round_down(day, span);
                assert!(start <= day && day < start + span && start % span == 0);
            }
        }
    }
}
