//! The Usage API's reads: sums of the rollups kept on ingest, grouped in SQL so a query over
//! months of data reads one index range and returns only the groups asked for. Only a
//! `gatewayRequestId` filter reads raw events (through their `(client_id, gateway_request_id)`
//! index: a gateway request has a handful of events).

use crate::usage::RollupSums;
use crate::{SqlStore, StoreError};
use sqlx::Row as _;
use sqlx::any::AnyRow;
use tollhouse_core::UnixTime;
use tollhouse_core::money::{ExactUsd, MoneyError, UsdParts, WeiParts};

const DAY_MS: i64 = 86_400_000;

/// Which rows a usage query covers.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UsageFilter {
    /// First UTC day (days since the epoch), inclusive.
    pub from_day: i64,
    /// Last UTC day, exclusive.
    pub to_day: i64,
    /// Only this user (Tollhouse user id).
    pub user_id: Option<String>,
    /// Only the events of this gateway request.
    pub gateway_request_id: Option<String>,
}

/// The columns rows are grouped by; every other column is summed over.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct GroupKeys {
    /// By user.
    pub user: bool,
    /// By pipeline and model.
    pub pipeline_model: bool,
    /// By UTC day.
    pub day: bool,
    /// By manifest (also makes `billable_micros` available).
    pub manifest: bool,
}

/// One group's sums. Key fields not grouped by are empty (`""`, day 0).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UsageGroup {
    /// The user (`""` for usage of an unknown user of the app).
    pub user_id: String,
    /// Pipeline.
    pub pipeline: String,
    /// Model.
    pub model_id: String,
    /// UTC day.
    pub day: i64,
    /// go-livepeer manifest id.
    pub manifest_id: String,
    /// Count, fees and exact USD.
    pub sums: RollupSums,
    /// Σ billable seconds × 10^6 (only when grouped by manifest or filtered by gateway request).
    pub billable_micros: i64,
}

/// Reads for the Usage API.
#[async_trait::async_trait]
pub trait UsageQueryRepository {
    /// The usage of app `client_id` matching `filter`, grouped by `keys`.
    async fn usage_groups(
        &self,
        client_id: &str,
        filter: &UsageFilter,
        keys: GroupKeys,
    ) -> Result<Vec<UsageGroup>, StoreError>;

    /// The exact USD value of user `user_id`'s usage that happened before `at` (unix seconds),
    /// rounded up to micro-USD once: whole UTC days from the rollups, the rest of `at`'s day
    /// from the user's events. The balance needs it only at grant starts and expiries.
    async fn consumed_before(
        &self,
        client_id: &str,
        user_id: &str,
        at: UnixTime,
    ) -> Result<i64, StoreError>;
}

const SUMS: &str = "CAST(SUM(request_count) AS BIGINT) AS request_count, \
    CAST(SUM(fee_gwei) AS BIGINT) AS fee_gwei, CAST(SUM(fee_wei) AS BIGINT) AS fee_wei, \
    CAST(SUM(usd_e6) AS BIGINT) AS usd_e6, CAST(SUM(usd_e9) AS BIGINT) AS usd_e9, \
    CAST(SUM(usd_e18) AS BIGINT) AS usd_e18, CAST(SUM(usd_e27) AS BIGINT) AS usd_e27, \
    CAST(SUM(usd_e36) AS BIGINT) AS usd_e36";

/// The same sums over raw events (one event counts one request).
const EVENT_SUMS: &str = "CAST(COUNT(*) AS BIGINT) AS request_count, \
    CAST(SUM(fee_gwei) AS BIGINT) AS fee_gwei, CAST(SUM(fee_wei) AS BIGINT) AS fee_wei, \
    CAST(SUM(usd_e6) AS BIGINT) AS usd_e6, CAST(SUM(usd_e9) AS BIGINT) AS usd_e9, \
    CAST(SUM(usd_e18) AS BIGINT) AS usd_e18, CAST(SUM(usd_e27) AS BIGINT) AS usd_e27, \
    CAST(SUM(usd_e36) AS BIGINT) AS usd_e36";

impl GroupKeys {
    fn columns(self) -> Vec<&'static str> {
        let mut columns = Vec::new();
        if self.user {
            columns.push("user_id");
        }
        if self.pipeline_model {
            columns.extend(["pipeline", "model_id"]);
        }
        if self.day {
            columns.push("day");
        }
        if self.manifest {
            columns.push("manifest_id");
        }
        columns
    }
}

/// `SELECT <keys>, <sums> FROM <table> WHERE … GROUP BY <keys>`, with its binds in order.
fn grouped_sql(filter: &UsageFilter, keys: GroupKeys) -> (String, Vec<String>) {
    let columns = keys.columns();
    let (table, sums, billable) = if filter.gateway_request_id.is_some() {
        // Raw events: unattributed users are NULL there and `''` in the rollups.
        (
            "usage_events",
            EVENT_SUMS,
            ", CAST(SUM(billable_micros) AS BIGINT) AS billable_micros",
        )
    } else if keys.manifest {
        (
            "usage_manifest_rollups",
            SUMS,
            ", CAST(SUM(billable_micros) AS BIGINT) AS billable_micros",
        )
    } else {
        ("usage_rollups", SUMS, "")
    };
    let select_keys: Vec<String> = columns
        .iter()
        .map(|c| match (*c, table) {
            ("user_id", "usage_events") => "COALESCE(user_id, '') AS user_id".to_owned(),
            (c, _) => c.to_owned(),
        })
        .collect();
    let mut sql = String::from("SELECT ");
    for k in &select_keys {
        sql.push_str(k);
        sql.push_str(", ");
    }
    sql.push_str(sums);
    sql.push_str(billable);
    sql.push_str(" FROM ");
    sql.push_str(table);
    sql.push_str(" WHERE client_id = $1 AND day >= $2 AND day < $3");
    let mut binds = Vec::new();
    if let Some(user) = &filter.user_id {
        binds.push(user.clone());
        sql.push_str(&format!(" AND user_id = ${}", 3 + binds.len()));
    }
    if let Some(request) = &filter.gateway_request_id {
        binds.push(request.clone());
        sql.push_str(&format!(" AND gateway_request_id = ${}", 3 + binds.len()));
    }
    if !columns.is_empty() {
        let list = columns.join(", ");
        sql.push_str(" GROUP BY ");
        sql.push_str(&list);
        sql.push_str(" ORDER BY ");
        sql.push_str(&list);
    }
    (sql, binds)
}

fn group_from_row(row: &AnyRow, keys: GroupKeys, billable: bool) -> Result<UsageGroup, StoreError> {
    let text = |name: &str, on: bool| -> Result<String, StoreError> {
        Ok(if on {
            row.try_get(name)?
        } else {
            String::new()
        })
    };
    // SUM over no rows is NULL: an ungrouped query of an empty range gives one all-NULL row.
    let sum = |name: &str| -> Result<i64, StoreError> {
        Ok(row.try_get::<Option<i64>, _>(name)?.unwrap_or(0))
    };
    Ok(UsageGroup {
        user_id: text("user_id", keys.user)?,
        pipeline: text("pipeline", keys.pipeline_model)?,
        model_id: text("model_id", keys.pipeline_model)?,
        day: if keys.day { row.try_get("day")? } else { 0 },
        manifest_id: text("manifest_id", keys.manifest)?,
        sums: RollupSums {
            request_count: sum("request_count")?,
            fee: WeiParts {
                gwei: sum("fee_gwei")?,
                wei: sum("fee_wei")?,
            },
            usd: UsdParts {
                e6: sum("usd_e6")?,
                e9: sum("usd_e9")?,
                e18: sum("usd_e18")?,
                e27: sum("usd_e27")?,
                e36: sum("usd_e36")?,
            },
        },
        billable_micros: if billable { sum("billable_micros")? } else { 0 },
    })
}

#[async_trait::async_trait]
impl UsageQueryRepository for SqlStore {
    async fn usage_groups(
        &self,
        client_id: &str,
        filter: &UsageFilter,
        keys: GroupKeys,
    ) -> Result<Vec<UsageGroup>, StoreError> {
        let (sql, binds) = grouped_sql(filter, keys);
        let mut query = sqlx::query(&sql)
            .bind(client_id)
            .bind(filter.from_day)
            .bind(filter.to_day);
        for value in &binds {
            query = query.bind(value);
        }
        let rows = query.fetch_all(&self.pool).await?;
        let billable = keys.manifest || filter.gateway_request_id.is_some();
        rows.iter()
            .map(|row| group_from_row(row, keys, billable))
            .filter(|group| !matches!(group, Ok(g) if g.sums.request_count == 0))
            .collect()
    }

    async fn consumed_before(
        &self,
        client_id: &str,
        user_id: &str,
        at: UnixTime,
    ) -> Result<i64, StoreError> {
        let at_ms = at.saturating_mul(1000);
        let day = at_ms.div_euclid(DAY_MS);
        let whole_days = sqlx::query(&format!(
            "SELECT {SUMS} FROM usage_rollups WHERE client_id = $1 AND user_id = $2 AND day < $3"
        ))
        .bind(client_id)
        .bind(user_id)
        .bind(day)
        .fetch_one(&self.pool)
        .await?;
        let same_day = sqlx::query(&format!(
            "SELECT {EVENT_SUMS} FROM usage_events WHERE user_id = $1 \
             AND occurred_at_ms >= $2 AND occurred_at_ms < $3"
        ))
        .bind(user_id)
        .bind(day * DAY_MS)
        .bind(at_ms)
        .fetch_one(&self.pool)
        .await?;
        let keys = GroupKeys::default();
        let corrupt = |e: MoneyError| StoreError::Corrupt(format!("usage sums: {e}"));
        let a = group_from_row(&whole_days, keys, false)?.sums.usd;
        let b = group_from_row(&same_day, keys, false)?.sums.usd;
        let exact = ExactUsd::from_parts(a)
            .and_then(|a| ExactUsd::from_parts(b).and_then(|b| a.checked_add(b)))
            .map_err(corrupt)?;
        i64::try_from(exact.ceil_micros())
            .map_err(|_| StoreError::Corrupt("consumption out of range".into()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sql_groups_by_the_keys_asked_for_and_binds_in_order() {
        let filter = UsageFilter {
            from_day: 1,
            to_day: 2,
            user_id: Some("u".into()),
            gateway_request_id: None,
        };
        let keys = GroupKeys {
            pipeline_model: true,
            day: true,
            ..GroupKeys::default()
        };
        let (sql, binds) = grouped_sql(&filter, keys);
        assert!(sql.contains("FROM usage_rollups"), "{sql}");
        assert!(sql.contains("AND user_id = $4"), "{sql}");
        assert!(sql.ends_with("GROUP BY pipeline, model_id, day ORDER BY pipeline, model_id, day"));
        assert_eq!(binds, ["u"]);

        let filter = UsageFilter {
            gateway_request_id: Some("g".into()),
            ..filter
        };
        let (sql, binds) = grouped_sql(&filter, GroupKeys { user: true, ..keys });
        assert!(sql.contains("FROM usage_events"), "{sql}");
        assert!(sql.contains("COALESCE(user_id, '') AS user_id"), "{sql}");
        assert!(sql.contains("AND gateway_request_id = $5"), "{sql}");
        assert_eq!(binds, ["u", "g"]);

        let (sql, _) = grouped_sql(&UsageFilter::default(), GroupKeys::default());
        assert!(!sql.contains("GROUP BY"), "{sql}");
    }
}
