//! The Usage API's reads: sums of the tables kept on ingest, grouped in SQL, each query reading
//! the smallest table that has its keys and filters ([`Source::for_query`]): app-wide and
//! per-user reports sum a few blocks of days per group (`usage_blocks`), one user's reports their
//! daily rollups, manifest reports a page of manifests at a time. Only a `gatewayRequestId`
//! filter reads raw events (through their `(client_id, gateway_request_id)` index: a gateway
//! request has a handful of events).

use crate::usage::cover::cover;
use crate::usage::sums::{RollupSums, SUMMED};
use crate::{Backend, SqlStore, Store as _, StoreError};
use sqlx::any::Any;
use sqlx::postgres::Postgres;
use sqlx::query::Query;
use sqlx::{ColumnIndex, Database, Decode, Encode, Row, Type};
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
    /// Only the events that happened in this window of unix milliseconds, both ends included
    /// (a report shorter than a day: read from the events, not the daily sums). The days
    /// above must cover it.
    pub window_ms: Option<(i64, i64)>,
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
    /// The user's external id, when grouped by user (`""` for an unknown user).
    pub external_user_id: String,
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
    /// The usage of app `client_id` matching `filter`, grouped by `keys`, in no particular
    /// order.
    async fn usage_groups(
        &self,
        client_id: &str,
        filter: &UsageFilter,
        keys: GroupKeys,
    ) -> Result<Vec<UsageGroup>, StoreError>;

    /// One page of the usage of app `client_id` matching `filter` per (manifest, pipeline,
    /// model), in that order, with `billable_micros`.
    async fn manifest_page(
        &self,
        client_id: &str,
        filter: &UsageFilter,
        page: ManifestPage<'_>,
    ) -> Result<Vec<UsageGroup>, StoreError>;

    /// The exact USD value of user `user_id`'s usage that happened before each of `ats` (unix
    /// seconds, ascending), each rounded up to micro-USD once: whole UTC days from the daily
    /// rollups, the rest of each checkpoint's day from the user's events. The balance needs it
    /// only at grant starts and expiries. Two queries however many checkpoints there are (one
    /// query per checkpoint grew a balance read linearly with a user's grants).
    async fn consumed_before_each(
        &self,
        client_id: &str,
        user_id: &str,
        ats: &[UnixTime],
    ) -> Result<Vec<i64>, StoreError>;
}

/// `Σ column` as a BIGINT. PostgreSQL's `SUM(bigint)` returns `numeric` (an allocated decimal
/// per group, then cast back): `sum_bigint` (migration 0015) adds with `int8pl` instead, which
/// fails on overflow just as the cast did; on a 1,000-row manifest page that halved the
/// aggregation. SQLite's `SUM` of integers is already an integer that fails on overflow.
fn sum_of(backend: Backend, column: &str) -> String {
    match backend {
        Backend::Postgres => format!("sum_bigint({column}) AS {column}"),
        Backend::Sqlite => format!("CAST(SUM({column}) AS BIGINT) AS {column}"),
    }
}

/// The sums of a usage report: of the summed columns, or over raw events (where one event
/// counts one request); with `billable_micros` when `billable`.
fn sums(backend: Backend, events: bool, billable: bool) -> String {
    let mut parts: Vec<String> = SUMMED
        .iter()
        .map(|column| match *column {
            "request_count" if events => "CAST(COUNT(*) AS BIGINT) AS request_count".to_owned(),
            column => sum_of(backend, column),
        })
        .collect();
    if billable {
        parts.push(sum_of(backend, "billable_micros"));
    }
    parts.join(", ")
}

impl GroupKeys {
    /// The key columns; a manifest first, so manifest pages are in (manifest, pipeline, model)
    /// order, the order their cursor compares in.
    fn columns(self) -> Vec<&'static str> {
        let mut columns = Vec::new();
        if self.manifest {
            columns.push("manifest_id");
        }
        if self.user {
            columns.push("user_id");
        }
        if self.pipeline_model {
            columns.extend(["pipeline", "model_id"]);
        }
        if self.day {
            columns.push("day");
        }
        columns
    }
}

/// Where to start a page of `groupBy=manifest` rows: after this (manifest, pipeline, model).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ManifestCursor {
    /// Manifest id of the last row of the previous page.
    pub manifest_id: String,
    /// Its pipeline.
    pub pipeline: String,
    /// Its model.
    pub model_id: String,
}

/// One page of manifest rows, in (manifest, pipeline, model) order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ManifestPage<'a> {
    /// Rows after this one (from the first row when `None`).
    pub after: Option<&'a ManifestCursor>,
    /// At most this many rows.
    pub limit: u32,
}

/// The table a query sums.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Source {
    /// Raw events: only for the few events of one gateway request.
    Events,
    /// Per app, day, manifest, user, pipeline and model.
    ManifestRollups,
    /// Per app, user, pipeline, model and day.
    Rollups,
    /// Per app, pipeline and model, over blocks of days.
    AppBlocks,
    /// Per app and user, over blocks of days.
    UserBlocks,
}

impl Source {
    /// The smallest table that has every key and filter of the query.
    fn for_query(filter: &UsageFilter, keys: GroupKeys) -> Self {
        if filter.gateway_request_id.is_some() || filter.window_ms.is_some() {
            Self::Events
        } else if keys.manifest {
            Self::ManifestRollups
        } else if filter.user_id.is_some() || keys.day || (keys.user && keys.pipeline_model) {
            Self::Rollups
        } else if keys.user {
            Self::UserBlocks
        } else {
            Self::AppBlocks
        }
    }

    fn table(self) -> &'static str {
        match self {
            Self::Events => "usage_events",
            Self::ManifestRollups => "usage_manifest_rollups",
            Self::Rollups => "usage_rollups",
            Self::AppBlocks => "usage_app_blocks",
            Self::UserBlocks => "usage_user_blocks",
        }
    }
}

/// A bound parameter.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Param {
    Text(String),
    Int(i64),
}

/// Parameters in bind order, numbered `$1…` in the SQL.
#[derive(Debug, Default)]
struct Params(Vec<Param>);

impl Params {
    /// Adds a parameter; its placeholder.
    fn push(&mut self, param: Param) -> String {
        self.0.push(param);
        format!("${}", self.0.len())
    }
}

/// The rows of block table `table` that sum to the filter's days (`usage_cover::cover`), as a
/// `FROM` item with its `WHERE`: the blocks to add, and when the cover subtracts some, those
/// blocks' rows negated after `UNION ALL` (each side one bitmap scan of the primary key; a
/// join to a list of blocks and weights was planned as a scan of the whole table).
fn blocks_in_range(
    table: &str,
    keys: &[&str],
    client: &str,
    filter: &UsageFilter,
    params: &mut Params,
) -> String {
    let runs = cover(filter.from_day, filter.to_day);
    let mut side = |weight: i64| -> Option<String> {
        let conditions: Vec<String> = runs
            .iter()
            .filter(|run| run.weight == weight)
            .map(|run| {
                format!(
                    "(span_days = {} AND start_day >= {} AND start_day < {})",
                    params.push(Param::Int(run.span_days)),
                    params.push(Param::Int(run.from)),
                    params.push(Param::Int(run.to))
                )
            })
            .collect();
        (!conditions.is_empty()).then(|| {
            format!(
                "WHERE client_id = {client} AND ({})",
                conditions.join(" OR ")
            )
        })
    };
    let added = side(1);
    let subtracted = side(-1);
    match (added, subtracted) {
        (Some(added), Some(subtracted)) => {
            let keys: String = keys.iter().map(|k| format!("{k}, ")).collect();
            let negated: Vec<String> = SUMMED.iter().map(|c| format!("-{c} AS {c}")).collect();
            format!(
                "(SELECT {keys}{} FROM {table} {added} UNION ALL SELECT {keys}{} FROM {table} \
                 {subtracted}) AS blocks",
                SUMMED.join(", "),
                negated.join(", ")
            )
        }
        (Some(added), None) => format!("{table} {added}"),
        // An empty range (a cover never only subtracts).
        (None, _) => format!("{table} WHERE 1 = 0"),
    }
}

/// `SELECT <keys>, <sums> FROM <table> WHERE … GROUP BY <keys>`, with its parameters in order.
fn grouped_sql(
    backend: Backend,
    client_id: &str,
    filter: &UsageFilter,
    keys: GroupKeys,
    page: Option<ManifestPage<'_>>,
) -> (String, Vec<Param>) {
    let source = Source::for_query(filter, keys);
    let columns = keys.columns();
    let blocks = matches!(source, Source::AppBlocks | Source::UserBlocks);
    let sums = match source {
        Source::Events => sums(backend, true, true),
        Source::ManifestRollups => sums(backend, false, true),
        Source::Rollups | Source::AppBlocks | Source::UserBlocks => sums(backend, false, false),
    };
    let mut params = Params::default();
    let client = params.push(Param::Text(client_id.to_owned()));
    let mut sql = String::from("SELECT ");
    for c in &columns {
        sql.push_str(match (*c, source) {
            // Raw events: unattributed users are NULL there and `''` in the rollups.
            ("user_id", Source::Events) => "COALESCE(user_id, '') AS user_id",
            (c, _) => c,
        });
        sql.push_str(", ");
    }
    sql.push_str(&sums);
    sql.push_str(" FROM ");
    if blocks {
        sql.push_str(&blocks_in_range(
            source.table(),
            &columns,
            &client,
            filter,
            &mut params,
        ));
    } else {
        sql.push_str(source.table());
        sql.push_str(&format!(
            " WHERE client_id = {client} AND day >= {} AND day < {}",
            params.push(Param::Int(filter.from_day)),
            params.push(Param::Int(filter.to_day))
        ));
    }
    if let Some(user) = &filter.user_id {
        sql.push_str(&format!(
            " AND user_id = {}",
            params.push(Param::Text(user.clone()))
        ));
    }
    if let Some(request) = &filter.gateway_request_id {
        sql.push_str(&format!(
            " AND gateway_request_id = {}",
            params.push(Param::Text(request.clone()))
        ));
    }
    if let Some((from_ms, to_ms)) = filter.window_ms {
        sql.push_str(&format!(
            " AND occurred_at_ms >= {} AND occurred_at_ms <= {}",
            params.push(Param::Int(from_ms)),
            params.push(Param::Int(to_ms))
        ));
    }
    if let Some(ManifestPage {
        after: Some(after), ..
    }) = page
    {
        sql.push_str(&format!(
            " AND (manifest_id, pipeline, model_id) > ({}, {}, {})",
            params.push(Param::Text(after.manifest_id.clone())),
            params.push(Param::Text(after.pipeline.clone())),
            params.push(Param::Text(after.model_id.clone()))
        ));
    }
    if !columns.is_empty() {
        let list = columns.join(", ");
        sql.push_str(" GROUP BY ");
        sql.push_str(&list);
        // Only a page needs its rows in order (its cursor compares in that order); other
        // reports are ordered by their caller, so PostgreSQL may hash them into groups
        // instead of sorting every row first (the sort was half the cost of `groupBy=user`).
        if page.is_some() {
            sql.push_str(" ORDER BY ");
            sql.push_str(&list);
        }
    }
    if let Some(page) = page {
        sql.push_str(&format!(
            " LIMIT {}",
            params.push(Param::Int(i64::from(page.limit)))
        ));
    }
    if keys.user {
        // Each user's external id, joined to the few grouped rows (not to the rows summed).
        sql = format!(
            "SELECT g.*, COALESCE(u.external_user_id, '') AS external_user_id \
             FROM ({sql}) g LEFT JOIN app_users u ON u.id = g.user_id"
        );
    }
    (sql, params.0)
}

/// A row of `grouped_sql`, from either driver (`AnyRow`, or `PgRow` from the report pool);
/// `columns` its key columns (`GroupKeys::columns`, listed once per query, not per row).
fn group_from_row<R>(
    row: &R,
    columns: &[&str],
    billable: bool,
    by_user: bool,
) -> Result<UsageGroup, StoreError>
where
    R: Row,
    usize: ColumnIndex<R>,
    for<'r> String: Decode<'r, R::Database> + Type<R::Database>,
    for<'r> i64: Decode<'r, R::Database> + Type<R::Database>,
{
    // Columns by position, in `grouped_sql`'s order: the keys, the sums, `billable_micros`
    // when summed, then the external user id when grouped by user (looking each one up by
    // name was a hash per column per row). Their types are those `grouped_sql` selects (TEXT
    // keys and ids, BIGINT days and sums), so they are not checked again for every row (the
    // checks were a tenth of a 1,000-row report); decoding still checks lengths, and text is
    // still validated as UTF-8.
    let mut next = 0usize;
    let mut column = || {
        next += 1;
        next - 1
    };
    let text = |at: usize| row.try_get_unchecked::<String, _>(at);
    let mut group = UsageGroup::default();
    for key in columns {
        let at = column();
        match *key {
            "manifest_id" => group.manifest_id = text(at)?,
            "user_id" => group.user_id = text(at)?,
            "pipeline" => group.pipeline = text(at)?,
            "model_id" => group.model_id = text(at)?,
            "day" => group.day = row.try_get_unchecked(at)?,
            other => return Err(StoreError::Corrupt(format!("no key column {other}"))),
        }
    }
    // SUM over no rows is NULL: an ungrouped query of an empty range gives one all-NULL row.
    let mut sum = || -> Result<i64, StoreError> {
        Ok(row
            .try_get_unchecked::<Option<i64>, _>(column())?
            .unwrap_or(0))
    };
    group.sums = RollupSums {
        request_count: sum()?,
        fee: WeiParts {
            gwei: sum()?,
            wei: sum()?,
        },
        usd: UsdParts {
            e6: sum()?,
            e9: sum()?,
            e18: sum()?,
            e27: sum()?,
            e36: sum()?,
        },
    };
    if billable {
        group.billable_micros = sum()?;
    }
    if by_user {
        group.external_user_id = text(column())?;
    }
    Ok(group)
}

/// `sql` with `params` bound in order, for either driver.
fn bound<'q, DB>(sql: &'q str, params: Vec<Param>) -> Query<'q, DB, DB::Arguments<'q>>
where
    DB: Database,
    String: Encode<'q, DB> + Type<DB>,
    i64: Encode<'q, DB> + Type<DB>,
{
    params
        .into_iter()
        .fold(sqlx::query(sql), |query, param| match param {
            Param::Text(text) => query.bind(text),
            Param::Int(int) => query.bind(int),
        })
}

impl SqlStore {
    async fn grouped(
        &self,
        client_id: &str,
        filter: &UsageFilter,
        keys: GroupKeys,
        page: Option<ManifestPage<'_>>,
    ) -> Result<Vec<UsageGroup>, StoreError> {
        let (sql, params) = grouped_sql(self.backend(), client_id, filter, keys, page);
        let billable = keys.manifest || matches!(Source::for_query(filter, keys), Source::Events);
        let columns = keys.columns();
        let groups: Vec<UsageGroup> = match &self.report_pool {
            Some(pool) => {
                // In a task of its own, outside the request's span: sqlx's row streams enter
                // the span current when they were made again for every row they yield (three
                // nested streams, six span enters and exits per row through the log filter and
                // subscriber: a twelfth of a 1,000-row report's CPU). Errors return to the
                // handler, which logs them inside the request's span.
                let pool = pool.clone();
                let by_user = keys.user;
                let fetch = tokio::spawn(async move {
                    bound::<Postgres>(&sql, params)
                        .fetch_all(&pool)
                        .await?
                        .iter()
                        .map(|row| group_from_row(row, &columns, billable, by_user))
                        .collect::<Result<Vec<_>, _>>()
                });
                match fetch.await {
                    Ok(groups) => groups?,
                    Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
                    // Tasks are cancelled only when the runtime shuts down.
                    Err(_) => return Err(StoreError::Database(sqlx::Error::PoolClosed)),
                }
            }
            None => bound::<Any>(&sql, params)
                .fetch_all(&self.pool)
                .await?
                .iter()
                .map(|row| group_from_row(row, &columns, billable, keys.user))
                .collect::<Result<_, _>>()?,
        };
        Ok(groups
            .into_iter()
            .filter(|g| g.sums.request_count != 0)
            .collect())
    }
}

#[async_trait::async_trait]
impl UsageQueryRepository for SqlStore {
    async fn usage_groups(
        &self,
        client_id: &str,
        filter: &UsageFilter,
        keys: GroupKeys,
    ) -> Result<Vec<UsageGroup>, StoreError> {
        self.grouped(client_id, filter, keys, None).await
    }

    async fn manifest_page(
        &self,
        client_id: &str,
        filter: &UsageFilter,
        page: ManifestPage<'_>,
    ) -> Result<Vec<UsageGroup>, StoreError> {
        let keys = GroupKeys {
            pipeline_model: true,
            manifest: true,
            ..GroupKeys::default()
        };
        self.grouped(client_id, filter, keys, Some(page)).await
    }

    async fn consumed_before_each(
        &self,
        client_id: &str,
        user_id: &str,
        ats: &[UnixTime],
    ) -> Result<Vec<i64>, StoreError> {
        debug_assert!(ats.is_sorted_by(|a, b| a < b), "checkpoints ascend");
        let Some(&last) = ats.last() else {
            return Ok(Vec::new());
        };
        let corrupt = |e: MoneyError| StoreError::Corrupt(format!("usage sums: {e}"));
        let usd_of = |row: &sqlx::any::AnyRow, keys: &[&str]| -> Result<ExactUsd, StoreError> {
            ExactUsd::from_parts(group_from_row(row, keys, false, false)?.sums.usd).map_err(corrupt)
        };
        // Whole days: the user's rollups summed per day, added up in day order below.
        let days = sqlx::query(&format!(
            "SELECT day, {} FROM usage_rollups WHERE client_id = $1 AND user_id = $2 \
             AND day < $3 GROUP BY day ORDER BY day",
            sums(self.backend(), false, false)
        ))
        .bind(client_id)
        .bind(user_id)
        .bind(day_of(last))
        .fetch_all(&self.pool)
        .await?;
        let days: Vec<(i64, ExactUsd)> = days
            .iter()
            .map(|row| Ok((row.try_get::<i64, _>(0)?, usd_of(row, &["day"])?)))
            .collect::<Result<_, StoreError>>()?;
        // The rest of each checkpoint's day, as a running sum over disjoint spans.
        let spans = self.span_sums(user_id, &day_spans(ats)).await?;
        let mut whole_days = days.iter().peekable();
        let mut before_day = ExactUsd::ZERO;
        let mut today = (i64::MIN, ExactUsd::ZERO);
        ats.iter()
            .map(|&at| {
                let day = day_of(at);
                while let Some((_, usd)) = whole_days.next_if(|(d, _)| *d < day) {
                    before_day = before_day.checked_add(*usd).map_err(corrupt)?;
                }
                if today.0 != day {
                    today = (day, ExactUsd::ZERO);
                }
                if let Some(span) = spans.get(&at.saturating_mul(1000)) {
                    today.1 = today.1.checked_add(*span).map_err(corrupt)?;
                }
                let exact = before_day.checked_add(today.1).map_err(corrupt)?;
                i64::try_from(exact.ceil_micros())
                    .map_err(|_| StoreError::Corrupt("consumption out of range".into()))
            })
            .collect()
    }
}

impl SqlStore {
    /// The sums of each span `(at_ms, from_ms)` of `user_id`'s events, by `at_ms`.
    async fn span_sums(
        &self,
        user_id: &str,
        spans_sql: &[String],
    ) -> Result<std::collections::HashMap<i64, ExactUsd>, StoreError> {
        let corrupt = |e: MoneyError| StoreError::Corrupt(format!("usage sums: {e}"));
        let mut spans = std::collections::HashMap::new();
        if !spans_sql.is_empty() {
            let values = spans_sql.join(", ");
            let sums = sums(self.backend(), true, false);
            let in_span = "usage_events.user_id = $1 AND occurred_at_ms >= spans.from_ms \
                           AND occurred_at_ms < spans.at_ms";
            // The spans drive the loop: each one an index range scan. Left to statistics, a
            // just-written events table looks empty and PostgreSQL looped over the spans for
            // every event instead (800,000 comparisons for 400 events and 2,000 spans), so
            // the order is fixed: LATERAL on PostgreSQL, CROSS JOIN (SQLite's way of fixing the
            // outer loop) on SQLite.
            let sql = match self.backend() {
                Backend::Postgres => format!(
                    "WITH spans (at_ms, from_ms) AS (VALUES {values}) \
                     SELECT spans.at_ms, span.* FROM spans CROSS JOIN LATERAL \
                     (SELECT {sums} FROM usage_events WHERE {in_span}) AS span"
                ),
                Backend::Sqlite => format!(
                    "WITH spans (at_ms, from_ms) AS (VALUES {values}) \
                     SELECT spans.at_ms, {sums} FROM spans CROSS JOIN usage_events \
                     WHERE {in_span} GROUP BY spans.at_ms"
                ),
            };
            // Not kept as a prepared statement: its text differs with every set of grants, and
            // caching it would push out the hot paths' statements.
            let query = sqlx::query(&sql).bind(user_id).persistent(false);
            for row in query.fetch_all(&self.pool).await? {
                let at_ms: i64 = row.try_get(0)?;
                // `group_from_row` reads key columns by position: `at_ms` stands where `day`
                // would.
                let usd = group_from_row(&row, &["day"], false, false)?.sums.usd;
                spans.insert(at_ms, ExactUsd::from_parts(usd).map_err(corrupt)?);
            }
        }
        Ok(spans)
    }
}

/// The rest of each checkpoint's day, as disjoint spans `(at_ms, from_ms)` written as SQL
/// literals: from midnight, or from the previous checkpoint of the same day, to the checkpoint.
/// Each event is then read once, through the events' (user, time) index, however many
/// checkpoints share its day. The spans are integers computed here: binding 4,000 parameters
/// cost more than the query.
fn day_spans(ats: &[UnixTime]) -> Vec<String> {
    let mut spans_sql = Vec::new();
    let mut previous: Option<UnixTime> = None;
    for &at in ats {
        let midnight_ms = day_of(at) * DAY_MS;
        let from_ms = previous
            .map(|p| p.saturating_mul(1000))
            .filter(|&p| p >= midnight_ms)
            .unwrap_or(midnight_ms);
        let at_ms = at.saturating_mul(1000);
        if from_ms < at_ms {
            spans_sql.push(format!("({at_ms}, {from_ms})"));
        }
        previous = Some(at);
    }
    spans_sql
}

/// The UTC day (days since the epoch) of unix second `at`.
fn day_of(at: UnixTime) -> i64 {
    at.saturating_mul(1000).div_euclid(DAY_MS)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn texts(params: &[Param]) -> Vec<&str> {
        params
            .iter()
            .filter_map(|p| match p {
                Param::Text(t) => Some(t.as_str()),
                Param::Int(_) => None,
            })
            .collect()
    }

    #[test]
    fn sql_groups_by_the_keys_asked_for_and_binds_in_order() {
        let filter = UsageFilter {
            from_day: 1,
            to_day: 2,
            user_id: Some("u".into()),
            gateway_request_id: None,
            window_ms: None,
        };
        let keys = GroupKeys {
            pipeline_model: true,
            day: true,
            ..GroupKeys::default()
        };
        let (sql, params) = grouped_sql(Backend::Sqlite, "app", &filter, keys, None);
        assert!(sql.contains("FROM usage_rollups"), "{sql}");
        assert!(
            sql.contains("day >= $2 AND day < $3 AND user_id = $4"),
            "{sql}"
        );
        assert!(sql.ends_with("GROUP BY pipeline, model_id, day"), "{sql}");
        assert_eq!(
            params,
            [
                Param::Text("app".into()),
                Param::Int(1),
                Param::Int(2),
                Param::Text("u".into())
            ]
        );

        let filter = UsageFilter {
            gateway_request_id: Some("g".into()),
            window_ms: None,
            ..filter
        };
        let (sql, params) = grouped_sql(
            Backend::Sqlite,
            "app",
            &filter,
            GroupKeys { user: true, ..keys },
            None,
        );
        assert!(sql.contains("FROM usage_events"), "{sql}");
        assert!(sql.contains("COALESCE(user_id, '') AS user_id"), "{sql}");
        assert!(sql.contains("AND gateway_request_id = $5"), "{sql}");
        assert_eq!(texts(&params), ["app", "u", "g"]);
    }

    #[test]
    fn app_wide_and_per_user_reports_read_blocks_of_days() {
        let filter = UsageFilter {
            from_day: 3,
            to_day: 70,
            ..UsageFilter::default()
        };
        let (sql, params) =
            grouped_sql(Backend::Sqlite, "app", &filter, GroupKeys::default(), None);
        assert!(sql.contains("FROM usage_app_blocks"), "{sql}");
        assert!(!sql.contains("GROUP BY"), "{sql}");
        // Days 3..70 are 0..64 less 0..4 plus day 3, then 64..68 and 68..70: the added
        // blocks, then the subtracted one negated.
        let runs = cover(3, 70);
        let (added, subtracted): (Vec<&crate::BlockRun>, Vec<_>) =
            runs.iter().partition(|r| r.weight == 1);
        assert_eq!((added.len(), subtracted.len()), (4, 1), "{runs:?}");
        assert!(
            sql.contains(
                "FROM (SELECT request_count, fee_gwei, fee_wei, usd_e6, usd_e9, usd_e18, \
                 usd_e27, usd_e36 FROM usage_app_blocks WHERE client_id = $1 AND ((span_days = $2 "
            ),
            "{sql}"
        );
        assert!(
            sql.contains("UNION ALL SELECT -request_count AS request_count, -fee_gwei AS fee_gwei"),
            "{sql}"
        );
        assert_eq!(sql.matches("span_days = ").count(), 5, "{sql}");
        let ints: Vec<i64> = params[1..]
            .iter()
            .map(|p| match p {
                Param::Int(i) => *i,
                Param::Text(t) => panic!("{t}"),
            })
            .collect();
        let bound: Vec<i64> = added
            .iter()
            .chain(&subtracted)
            .flat_map(|r| [r.span_days, r.from, r.to])
            .collect();
        assert_eq!(ints, bound);
        // A range of whole blocks only adds.
        let aligned = UsageFilter {
            from_day: 64,
            to_day: 128,
            ..UsageFilter::default()
        };
        let (sql, _) = grouped_sql(Backend::Sqlite, "app", &aligned, GroupKeys::default(), None);
        assert!(sql.ends_with("FROM usage_app_blocks WHERE client_id = $1 AND ((span_days = $2 AND start_day >= $3 AND start_day < $4))"), "{sql}");
        let empty = UsageFilter {
            from_day: 9,
            to_day: 9,
            ..UsageFilter::default()
        };
        let (sql, params) = grouped_sql(Backend::Sqlite, "app", &empty, GroupKeys::default(), None);
        assert!(sql.ends_with("WHERE 1 = 0"), "{sql}");
        assert_eq!(params.len(), 1);

        let pm = GroupKeys {
            pipeline_model: true,
            ..GroupKeys::default()
        };
        let (sql, _) = grouped_sql(Backend::Sqlite, "app", &filter, pm, None);
        assert!(sql.contains("FROM usage_app_blocks"), "{sql}");
        let user = GroupKeys {
            user: true,
            ..GroupKeys::default()
        };
        let (sql, _) = grouped_sql(Backend::Sqlite, "app", &filter, user, None);
        assert!(sql.contains("FROM usage_user_blocks"), "{sql}");
        assert!(
            sql.ends_with("GROUP BY user_id) g LEFT JOIN app_users u ON u.id = g.user_id"),
            "{sql}"
        );
        // Retail splits users by pipeline and model: only the daily rollups have both.
        let (sql, _) = grouped_sql(
            Backend::Sqlite,
            "app",
            &filter,
            GroupKeys { user: true, ..pm },
            None,
        );
        assert!(sql.contains("FROM usage_rollups"), "{sql}");
    }

    #[test]
    fn manifest_pages_continue_after_the_cursor_in_key_order() {
        let cursor = ManifestCursor {
            manifest_id: "m".into(),
            pipeline: "p".into(),
            model_id: "x".into(),
        };
        let page = ManifestPage {
            after: Some(&cursor),
            limit: 11,
        };
        let keys = GroupKeys {
            pipeline_model: true,
            manifest: true,
            ..GroupKeys::default()
        };
        let (sql, params) = grouped_sql(
            Backend::Sqlite,
            "app",
            &UsageFilter::default(),
            keys,
            Some(page),
        );
        assert!(sql.contains("FROM usage_manifest_rollups"), "{sql}");
        assert!(
            sql.contains("AND (manifest_id, pipeline, model_id) > ($4, $5, $6)"),
            "{sql}"
        );
        assert!(
            sql.ends_with("ORDER BY manifest_id, pipeline, model_id LIMIT $7"),
            "{sql}"
        );
        assert_eq!(params.last(), Some(&Param::Int(11)));
    }

    #[test]
    fn a_window_shorter_than_a_day_reads_the_events_between_its_instants() {
        let filter = UsageFilter {
            from_day: 20_000,
            to_day: 20_001,
            window_ms: Some((1_728_000_000_000, 1_728_003_600_000)),
            ..UsageFilter::default()
        };
        for keys in [
            GroupKeys::default(),
            GroupKeys {
                user: true,
                ..GroupKeys::default()
            },
        ] {
            let (sql, params) = grouped_sql(Backend::Postgres, "app", &filter, keys, None);
            assert!(
                sql.contains("FROM usage_events WHERE client_id = $1 AND day >= $2 AND day < $3"),
                "{sql}"
            );
            assert!(
                sql.contains("AND occurred_at_ms >= $4 AND occurred_at_ms <= $5"),
                "{sql}"
            );
            assert_eq!(
                params[3..],
                [Param::Int(1_728_000_000_000), Param::Int(1_728_003_600_000)]
            );
        }
    }
}
