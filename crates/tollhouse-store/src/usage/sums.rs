//! The summed columns of every usage table, described once: their names, how a batch adds
//! them to what is stored, and their cells.

use crate::StoreError;
use crate::batch_table::Cell;
use tollhouse_core::money::{ExactUsd, UsdParts, Wei, WeiParts};

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
    pub(crate) fn add(&mut self, fee: WeiParts, usd: UsdParts) -> Result<(), StoreError> {
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

/// A group's day (or block start) and sums as batch cells, in the column order of every summed
/// table: the day, then [`SUMMED`].
pub(crate) fn sum_cells(day: i64, sums: &RollupSums) -> [Cell<'static>; 9] {
    let sums = sums.carried();
    let [u6, u9, u18, u27, u36] = sums.usd.to_array();
    [
        day,
        sums.request_count,
        sums.fee.gwei,
        sums.fee.wei,
        u6,
        u9,
        u18,
        u27,
        u36,
    ]
    .map(Cell::from)
}

/// A summed table's [`BatchTable`]: its key columns (the day or block start last), then the
/// columns of [`sum_cells`] after the day ([`SUMMED`]), then any `extra` columns.
macro_rules! summed_table {
    ($name:literal, [$($key:expr),+ $(,)?] $(, $extra:expr)* $(,)?) => {
        $crate::batch_table::BatchTable {
            name: $name,
            columns: &[
                $($key,)+
                ("request_count", $crate::batch_table::Kind::Int),
                ("fee_gwei", $crate::batch_table::Kind::Int),
                ("fee_wei", $crate::batch_table::Kind::Int),
                ("usd_e6", $crate::batch_table::Kind::Int),
                ("usd_e9", $crate::batch_table::Kind::Int),
                ("usd_e18", $crate::batch_table::Kind::Int),
                ("usd_e27", $crate::batch_table::Kind::Int),
                ("usd_e36", $crate::batch_table::Kind::Int),
                $($extra,)*
            ],
        }
    };
}
pub(crate) use summed_table;
