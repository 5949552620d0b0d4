//! Usage summed over aligned blocks of 1, 4, 16 and 64 UTC days, per app and (pipeline, model)
//! and per app and user, kept on ingest next to the daily rollups.
//!
//! The daily rollups have one row per (user, pipeline, model, day): a 60-day report of an app
//! with a few hundred active users sums some 70,000 of them. Any range of days is instead a
//! signed sum of a few blocks ([`crate::usage::cover::cover`]), so the app-wide reports
//! (`groupBy=none|pipeline_model`) read a few rows per (pipeline, model) and `groupBy=user` a few
//! per user, whatever the range. Each batch adds its daily sums to one block of every size: four
//! small upserts per key instead of one.

use crate::StoreError;
use crate::sql_batch::{IntArray, SQLITE_ROWS, TextArray, Tx, bind_arrays, chunked, value_rows};
use crate::usage::cover::{SPANS, round_down};
use crate::usage::sums::{RollupSums, add_sums, bind_sums, push_sums};
use std::collections::BTreeMap;

/// The `UNNEST` arrays of block rows for PostgreSQL, in column order: the `N` text keys, the
/// span, then the start day and the sums.
fn block_arrays<'r, const N: usize>(
    rows: impl Iterator<Item = ([&'r str; N], i64, i64, &'r RollupSums)>,
) -> impl Iterator<Item = String> {
    let mut text: [TextArray; N] = std::array::from_fn(|_| TextArray::default());
    let mut spans = IntArray::default();
    let mut ints: [IntArray; 9] = Default::default();
    for (keys, span, start, sums) in rows {
        for (column, value) in text.iter_mut().zip(keys) {
            column.push(Some(value));
        }
        spans.push(Some(span));
        push_sums(&mut ints, start, sums);
    }
    text.map(TextArray::finish)
        .into_iter()
        .chain([spans.finish()])
        .chain(ints.map(IntArray::finish))
}

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

    pub(crate) async fn write_pg(&self, tx: &mut Tx<'_>) -> Result<(), StoreError> {
        if !self.apps.is_empty() {
            let arrays = block_arrays(self.apps.iter().map(
                |(&(client, pipeline, model, span, start), sums)| {
                    ([client, pipeline, model], span, start, sums)
                },
            ));
            let sql = format!(
                "INSERT INTO usage_app_blocks ({APP_COLUMNS}) \
                 SELECT * FROM UNNEST($1::text[], $2::text[], $3::text[], $4::bigint[], $5::bigint[], \
                 $6::bigint[], $7::bigint[], $8::bigint[], $9::bigint[], $10::bigint[], $11::bigint[], \
                 $12::bigint[], $13::bigint[]) \
                 ON CONFLICT (client_id, span_days, start_day, pipeline, model_id) DO UPDATE SET {}",
                add_sums("usage_app_blocks", false)
            );
            bind_arrays(sqlx::query(&sql), arrays)
                .execute(&mut **tx)
                .await?;
        }
        if !self.users.is_empty() {
            let arrays = block_arrays(
                self.users
                    .iter()
                    .map(|(&(client, user, span, start), sums)| {
                        ([client, user], span, start, sums)
                    }),
            );
            let sql = format!(
                "INSERT INTO usage_user_blocks ({USER_COLUMNS}) \
                 SELECT * FROM UNNEST($1::text[], $2::text[], $3::bigint[], $4::bigint[], $5::bigint[], \
                 $6::bigint[], $7::bigint[], $8::bigint[], $9::bigint[], $10::bigint[], $11::bigint[], \
                 $12::bigint[]) \
                 ON CONFLICT (client_id, span_days, start_day, user_id) DO UPDATE SET {}",
                add_sums("usage_user_blocks", false)
            );
            bind_arrays(sqlx::query(&sql), arrays)
                .execute(&mut **tx)
                .await?;
        }
        Ok(())
    }

    pub(crate) async fn write_sqlite(&self, tx: &mut Tx<'_>) -> Result<(), StoreError> {
        let apps: Vec<_> = self.apps.iter().collect();
        for chunk in chunked(&apps, SQLITE_ROWS) {
            let sql = format!(
                "INSERT INTO usage_app_blocks ({APP_COLUMNS}) VALUES {} \
                 ON CONFLICT (client_id, span_days, start_day, pipeline, model_id) DO UPDATE SET {}",
                value_rows(13, chunk.len()),
                add_sums("usage_app_blocks", false)
            );
            let mut query = sqlx::query(&sql);
            for ((client, pipeline, model, span, start), sums) in chunk {
                query = bind_sums(
                    query.bind(*client).bind(*pipeline).bind(*model).bind(*span),
                    *start,
                    sums,
                );
            }
            query.execute(&mut **tx).await?;
        }
        let users: Vec<_> = self.users.iter().collect();
        for chunk in chunked(&users, SQLITE_ROWS) {
            let sql = format!(
                "INSERT INTO usage_user_blocks ({USER_COLUMNS}) VALUES {} \
                 ON CONFLICT (client_id, span_days, start_day, user_id) DO UPDATE SET {}",
                value_rows(12, chunk.len()),
                add_sums("usage_user_blocks", false)
            );
            let mut query = sqlx::query(&sql);
            for ((client, user, span, start), sums) in chunk {
                query = bind_sums(query.bind(*client).bind(*user).bind(*span), *start, sums);
            }
            query.execute(&mut **tx).await?;
        }
        Ok(())
    }
}

const APP_COLUMNS: &str = "client_id, pipeline, model_id, span_days, start_day, request_count, fee_gwei, \
     fee_wei, usd_e6, usd_e9, usd_e18, usd_e27, usd_e36";
const USER_COLUMNS: &str = "client_id, user_id, span_days, start_day, request_count, fee_gwei, fee_wei, \
     usd_e6, usd_e9, usd_e18, usd_e27, usd_e36";

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
