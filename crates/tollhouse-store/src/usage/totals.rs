//! Each app's usage over its whole life (`usage_app_totals`, migration 0018): read in an ingest
//! batch's transaction before its sums are written, so the one event that would take its app
//! past a lifetime ceiling (`tollhouse_core::bounds`) is refused on its own, and added to in the
//! same transaction. The table's CHECKs restate the ceilings: two batches stored at once that
//! both passed a stale read cannot both commit (the later one is retried, and then refuses).

use crate::StoreError;
use crate::sql_batch::{Tx, chunked};
use crate::usage::UsageEventRow;
use crate::usage::sums::{RollupSums, carried_fee, carried_usd};
use std::collections::{BTreeMap, HashMap};
use tollhouse_core::bounds::{MAX_APP_BILLABLE_MICROS, MAX_APP_FEE_GWEI, MAX_APP_USD_MICROS};
use tollhouse_core::money::{ExactUsd, UsdParts, Wei, WeiParts};

/// One app's usage so far, exact.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct AppTotal {
    fee: Wei,
    usd: ExactUsd,
    billable_micros: i64,
}

impl AppTotal {
    /// The total with `e` added, or why that would pass a ceiling.
    fn with(self, e: &UsageEventRow) -> Result<Self, String> {
        let corrupt = |_| "its value cannot be read".to_owned();
        let fee = Wei::from_parts(e.fee)
            .and_then(|fee| self.fee.checked_add(fee))
            .map_err(corrupt)?;
        let usd = ExactUsd::from_parts(e.usd)
            .and_then(|usd| self.usd.checked_add(usd))
            .map_err(corrupt)?;
        let billable_micros = self.billable_micros.saturating_add(e.billable_micros);
        if usd.floor_micros() > MAX_APP_USD_MICROS.unsigned_abs().into() {
            return Err(format!(
                "it would take the app's usage over its life past {} USD",
                MAX_APP_USD_MICROS / 1_000_000
            ));
        }
        if fee.get() / 1_000_000_000 > MAX_APP_FEE_GWEI.unsigned_abs().into() {
            return Err(format!(
                "it would take the app's fees over its life past {} ETH",
                MAX_APP_FEE_GWEI / 1_000_000_000
            ));
        }
        if billable_micros > MAX_APP_BILLABLE_MICROS {
            return Err(format!(
                "it would take the app's billed time over its life past {} s",
                MAX_APP_BILLABLE_MICROS / 1_000_000
            ));
        }
        Ok(Self {
            fee,
            usd,
            billable_micros,
        })
    }
}

/// The events of `fresh` (index in the caller's batch, row) that would take their app past a
/// ceiling, in batch order, each with its reason; the others fit, in that order.
pub(crate) async fn over_ceiling(
    tx: &mut Tx<'_>,
    fresh: &[(usize, &UsageEventRow)],
) -> Result<Vec<(usize, String)>, StoreError> {
    let mut clients: Vec<&str> = fresh
        .iter()
        .filter_map(|(_, e)| e.client_id.as_deref())
        .collect();
    clients.sort_unstable();
    clients.dedup();
    let mut totals = read(tx, &clients).await?;
    let mut refused = Vec::new();
    for (index, e) in fresh {
        let Some(client) = e.client_id.as_deref() else {
            continue;
        };
        let total = totals.entry(client.to_owned()).or_default();
        match total.with(e) {
            Ok(next) => *total = next,
            Err(reason) => refused.push((*index, reason)),
        }
    }
    Ok(refused)
}

async fn read(tx: &mut Tx<'_>, clients: &[&str]) -> Result<HashMap<String, AppTotal>, StoreError> {
    use sqlx::Row as _;
    let mut totals = HashMap::with_capacity(clients.len());
    for chunk in chunked(clients, 256) {
        let marks: Vec<String> = (1..=chunk.len()).map(|i| format!("${i}")).collect();
        let sql = format!(
            "SELECT client_id, fee_gwei, fee_wei, usd_e6, usd_e9, usd_e18, usd_e27, usd_e36, billable_micros \
             FROM usage_app_totals WHERE client_id IN ({})",
            marks.join(", ")
        );
        let mut query = sqlx::query(&sql);
        for client in chunk {
            query = query.bind(*client);
        }
        for row in query.fetch_all(&mut **tx).await? {
            let corrupt = |e| StoreError::Corrupt(format!("usage_app_totals: {e}"));
            let fee = Wei::from_parts(WeiParts {
                gwei: row.try_get(1)?,
                wei: row.try_get(2)?,
            })
            .map_err(corrupt)?;
            let usd = ExactUsd::from_parts(UsdParts {
                e6: row.try_get(3)?,
                e9: row.try_get(4)?,
                e18: row.try_get(5)?,
                e27: row.try_get(6)?,
                e36: row.try_get(7)?,
            })
            .map_err(corrupt)?;
            totals.insert(
                row.try_get(0)?,
                AppTotal {
                    fee,
                    usd,
                    billable_micros: row.try_get(8)?,
                },
            );
        }
    }
    Ok(totals)
}

/// Adds a batch's sums (per app: sums, billed micros) to the apps' totals, in key order.
pub(crate) async fn add(
    tx: &mut Tx<'_>,
    added: &BTreeMap<&str, (RollupSums, i64)>,
) -> Result<(), StoreError> {
    const WIDTH: usize = 10;
    let rows: Vec<_> = added.iter().collect();
    for chunk in chunked(&rows, 64) {
        let values: Vec<String> = (0..chunk.len())
            .map(|r| {
                let marks: Vec<String> =
                    (1..=WIDTH).map(|c| format!("${}", r * WIDTH + c)).collect();
                format!("({})", marks.join(", "))
            })
            .collect();
        let mut set = vec![
            "request_count = usage_app_totals.request_count + excluded.request_count".to_owned(),
            "billable_micros = usage_app_totals.billable_micros + excluded.billable_micros"
                .to_owned(),
        ];
        set.extend(carried_fee("usage_app_totals"));
        set.extend(carried_usd("usage_app_totals", "usd_e6"));
        let sql = format!(
            "INSERT INTO usage_app_totals (client_id, request_count, fee_gwei, fee_wei, usd_e6, usd_e9, \
             usd_e18, usd_e27, usd_e36, billable_micros) VALUES {} ON CONFLICT (client_id) DO UPDATE SET {}",
            values.join(", "),
            set.join(", ")
        );
        let mut query = sqlx::query(&sql);
        for (client, (sums, billable)) in chunk {
            let sums = sums.carried();
            let [u6, u9, u18, u27, u36] = sums.usd.to_array();
            query = query
                .bind(**client)
                .bind(sums.request_count)
                .bind(sums.fee.gwei)
                .bind(sums.fee.wei)
                .bind(u6)
                .bind(u9)
                .bind(u18)
                .bind(u27)
                .bind(u36)
                .bind(*billable);
        }
        query.execute(&mut **tx).await?;
    }
    Ok(())
}

/// Whether `err` is the totals table's CHECK refusing a write that a concurrent batch made
/// stale: the batch is then stored again from a fresh read.
pub(crate) fn is_ceiling_race(err: &StoreError) -> bool {
    match err {
        StoreError::Database(sqlx::Error::Database(db)) => {
            db.code().as_deref() == Some("23514") && db.message().contains("usage_app_totals")
        }
        _ => false,
    }
}
