//! `GET A/usage`: usage totals and groupings summed in SQL from the rollups kept on ingest
//! (never a scan of raw events, except the few events of one gateway request). Every reported
//! figure is rounded up to micro-USD once, from its own exact sum, so the same events give the
//! same figures however they are grouped. `include=retail` prices each (pipeline, model) at the
//! app's active plan and rounds each figure once from the exact sum of its products.

use super::error::{BuilderError, BuilderErrors};
use super::extract::{AppCaller, AppPath};
use super::plans::retail_rate;
use crate::state::AppState;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::header::CONTENT_TYPE;
use axum::response::{IntoResponse, Response};
use std::collections::BTreeMap;
use tollhouse_api::usage::{
    DailyPipelineRow, ManifestRow, Period, PipelineModelRow, Totals, UsageGrouping, UsageInclude,
    UsageQuery, UsageReport, UserRow,
};
use tollhouse_core::money::{ExactUsd, UsdMicros, UsdParts, Wei, WeiParts};
use tollhouse_core::retail::RetailAmount;
use tollhouse_core::user::ExternalUserId;
use tollhouse_store::{
    GroupKeys, ManifestCursor, ManifestPage, PlanRecord, UsageFilter, UsageGroup,
};

const DAY_SECS: i64 = 86_400;
/// Longest gateway request id accepted in a filter.
const MAX_GATEWAY_REQUEST_ID: usize = 256;
/// `groupBy=manifest` rows per page, unless `limit` says otherwise.
const DEFAULT_MANIFEST_PAGE: u32 = 1000;
/// Most `groupBy=manifest` rows in one page.
const MAX_MANIFEST_PAGE: u32 = 10_000;

/// All of one user's usage (the end-user route).
pub fn all_time_for(external_user_id: &str) -> UsageQuery {
    UsageQuery {
        start_date: Some("1970-01-01".into()),
        end_date: Some("9999-12-31".into()),
        user_id: Some(external_user_id.to_owned()),
        ..UsageQuery::default()
    }
}

/// The exact sums behind one reported row.
#[derive(Default, Clone, Copy)]
struct Sum {
    count: i64,
    fee: WeiParts,
    usd: UsdParts,
    /// Σ network × retail rate, when retail is priced.
    retail: Option<RetailAmount>,
    billable_micros: i64,
}

impl Sum {
    /// One group's sums, `retail` its retail figure when priced.
    fn of(group: &UsageGroup, retail: Option<RetailAmount>) -> Self {
        Self {
            count: group.sums.request_count,
            fee: group.sums.fee,
            usd: group.sums.usd,
            retail,
            billable_micros: group.billable_micros,
        }
    }

    fn add(&mut self, other: Self) -> Result<(), BuilderError> {
        let overflow = |_| BuilderError::Internal("usage sum overflow".into());
        self.count += other.count;
        self.fee = self.fee.checked_add(other.fee).map_err(overflow)?;
        self.usd = self.usd.checked_add(other.usd).map_err(overflow)?;
        self.billable_micros = self.billable_micros.saturating_add(other.billable_micros);
        if let Some(r) = other.retail {
            let sum = self.retail.unwrap_or(RetailAmount::ZERO);
            self.retail = Some(sum.checked_add(r).map_err(overflow)?);
        }
        Ok(())
    }

    fn fee_wei(&self) -> Result<Wei, BuilderError> {
        Wei::from_parts(self.fee).map_err(|e| BuilderError::Internal(e.to_string()))
    }

    /// Network fees rounded up to micro-USD, once, from this figure's own exact sum.
    fn usd_micros(&self) -> Result<UsdMicros, BuilderError> {
        ExactUsd::from_parts(self.usd)
            .and_then(ExactUsd::ceil_usd_micros)
            .map_err(|e| BuilderError::Internal(e.to_string()))
    }

    /// What end users are billed: the retail figure when priced, else the network fee.
    fn billable_micros(&self) -> Result<UsdMicros, BuilderError> {
        match self.retail {
            Some(r) => i64::try_from(r.ceil_micros())
                .map(UsdMicros::new)
                .map_err(|_| BuilderError::Internal("retail figure out of range".into())),
            None => self.usd_micros(),
        }
    }
}

/// `1234567` micro-seconds as `"1.234567"` (trailing zeros trimmed); `micros` is a sum of
/// non-negative figures. One allocation per row of a report, where `format!` made three.
fn seconds_text(micros: i64) -> String {
    let mut text = String::with_capacity(28);
    text.push_str(itoa::Buffer::new().format(micros / 1_000_000));
    let fraction = micros % 1_000_000;
    if fraction != 0 {
        // 10^6 + fraction: its last six digits are the fraction, zero-padded.
        let mut padded = itoa::Buffer::new();
        let padded = padded.format(1_000_000 + fraction);
        text.push('.');
        text.push_str(padded[1..].trim_end_matches('0'));
    }
    text
}

/// A bound of the report's period as given: a date, or an RFC 3339 instant (unix ms).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Bound {
    Date(i64),
    Instant(i64),
}

fn bound(text: &str) -> Result<Bound, BuilderError> {
    use time::format_description::well_known::Rfc3339;
    if let Ok(t) = time::OffsetDateTime::parse(text, &Rfc3339) {
        let ms = i64::try_from(t.unix_timestamp_nanos().div_euclid(1_000_000))
            .map_err(|_| BuilderError::invalid(format!("`{text}` is out of range")))?;
        return Ok(Bound::Instant(ms));
    }
    let format = time::macros::format_description!("[year]-[month]-[day]");
    let date = time::Date::parse(text, &format).map_err(|_| {
        BuilderError::invalid(format!(
            "`{text}` is not a date (YYYY-MM-DD) or RFC 3339 time"
        ))
    })?;
    Ok(Bound::Date(
        date.midnight()
            .assume_utc()
            .unix_timestamp()
            .div_euclid(DAY_SECS),
    ))
}

/// The UTC days a period covers, and its exact window if it has one.
struct Days {
    /// First day, inclusive.
    start: i64,
    /// Last day, exclusive.
    end: i64,
    /// Unix ms, both ends included.
    window_ms: Option<(i64, i64)>,
}

/// The UTC days `start..end` (end exclusive) a period covers, and, for a window of two instants
/// shorter than a day, that window in unix ms (both ends included). As PymtHouse reads them: a
/// date `endDate` is included whole; an instant `endDate` includes the rest of its day (exactly
/// midnight ends the day before), except that a window shorter than a day is exact.
fn days_and_window(
    start: Option<Bound>,
    end: Option<Bound>,
    today: i64,
) -> Result<Days, BuilderError> {
    let start_day = match start {
        Some(Bound::Date(day)) => day,
        Some(Bound::Instant(ms)) => ms.div_euclid(DAY_MS),
        None => today - 29,
    };
    let end_day = match end {
        Some(Bound::Date(day)) => day + 1,
        Some(Bound::Instant(ms)) => ms.div_euclid(DAY_MS) + i64::from(ms.rem_euclid(DAY_MS) != 0),
        None => today + 1,
    };
    let before = || BuilderError::invalid("endDate must not be before startDate");
    if let (Some(Bound::Instant(from)), Some(Bound::Instant(to))) = (start, end)
        && to - from < DAY_MS
    {
        if to < from {
            return Err(before());
        }
        // The window's own days: an end at exactly midnight still reads that millisecond.
        return Ok(Days {
            start: start_day,
            end: to.div_euclid(DAY_MS) + 1,
            window_ms: Some((from, to)),
        });
    }
    if end_day <= start_day {
        return Err(before());
    }
    Ok(Days {
        start: start_day,
        end: end_day,
        window_ms: None,
    })
}

/// A UTC day in milliseconds.
const DAY_MS: i64 = DAY_SECS * 1000;

fn date_text(day: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp(day * DAY_SECS)
        .map(|t| t.date().to_string())
        .unwrap_or_default()
}

/// `GET A/usage`.
#[utoipa::path(
    get,
    path = "/api/v1/apps/{client_id}/usage",
    operation_id = "getUsage",
    tag = "builder",
    params(AppPath, UsageQuery),
    security(("m2m_basic" = [])),
    responses((status = 200, description = "Usage of the period", body = UsageReport), BuilderErrors)
)]
pub async fn get_usage(
    State(state): State<AppState>,
    AppCaller(app): AppCaller,
    query: Result<Query<UsageQuery>, QueryRejection>,
) -> Result<ReportJson, BuilderError> {
    let Query(query) = query.map_err(|e| match e {
        // serde's message names the parameter and the accepted values.
        QueryRejection::FailedToDeserializeQueryString(e) => BuilderError::invalid(e.body_text()),
        _ => BuilderError::invalid("malformed query string"),
    })?;
    report(&state, app.client_id.as_str(), &query)
        .await
        .map(ReportJson)
}

/// A report as a JSON response, written into a buffer sized for its rows up front (axum's
/// `Json` starts at 128 bytes and doubles, copying a 1,000-row page ≈ 11 times over).
#[derive(Debug)]
pub struct ReportJson(pub UsageReport);

impl IntoResponse for ReportJson {
    fn into_response(self) -> Response {
        /// Room for the totals and for each row (a manifest row is ≈ 240 bytes).
        const HEAD_BYTES: usize = 1024;
        const ROW_BYTES: usize = 320;
        let r = &self.0;
        let rows = [
            r.by_user.as_ref().map(Vec::len),
            r.by_pipeline_model.as_ref().map(Vec::len),
            r.by_daily_pipeline.as_ref().map(Vec::len),
            r.by_manifest.as_ref().map(Vec::len),
        ]
        .into_iter()
        .flatten()
        .sum::<usize>();
        let mut body = Vec::with_capacity(HEAD_BYTES + rows * ROW_BYTES);
        match serde_json::to_writer(&mut body, r) {
            Ok(()) => ([(CONTENT_TYPE, "application/json")], body).into_response(),
            Err(e) => BuilderError::Internal(format!("usage report: {e}")).into_response(),
        }
    }
}

/// The report's days `start..end`, exact window (see [`days_and_window`]) and grouping, with
/// the query's other parameters checked.
fn period(now: i64, query: &UsageQuery) -> Result<ReportPeriod, BuilderError> {
    let start = query.start_date.as_deref().map(bound).transpose()?;
    let end = query.end_date.as_deref().map(bound).transpose()?;
    let Days {
        start,
        end,
        window_ms,
    } = days_and_window(start, end, now.div_euclid(DAY_SECS))?;
    let group = query.group_by.unwrap_or_default();
    if group == UsageGrouping::DailyPipeline && query.user_id.is_none() {
        return Err(BuilderError::invalid("groupBy=daily_pipeline needs userId"));
    }
    if let Some(id) = &query.gateway_request_id
        && (id.is_empty() || id.chars().count() > MAX_GATEWAY_REQUEST_ID || id.contains('\0'))
    {
        return Err(BuilderError::invalid(format!(
            "gatewayRequestId must be 1 to {MAX_GATEWAY_REQUEST_ID} characters, without NUL"
        )));
    }
    Ok(ReportPeriod {
        start,
        end,
        window_ms,
        group,
    })
}

/// What [`period`] read from a query.
struct ReportPeriod {
    start: i64,
    end: i64,
    window_ms: Option<(i64, i64)>,
    group: UsageGrouping,
}

/// The groups of the whole period, and for a manifest page its rows and the next cursor.
async fn read_groups(
    state: &AppState,
    client_id: &str,
    filter: &UsageFilter,
    keys: GroupKeys,
    priced: bool,
    page: Option<&(Option<ManifestCursor>, u32)>,
) -> Result<(Vec<UsageGroup>, Vec<UsageGroup>, Option<String>), BuilderError> {
    Ok(match page {
        None => (
            state.store.usage_groups(client_id, filter, keys).await?,
            Vec::new(),
            None,
        ),
        Some((after, limit)) => {
            // The totals cover the whole period; the rows are one page of it.
            let totals = GroupKeys {
                pipeline_model: priced,
                ..GroupKeys::default()
            };
            let page = ManifestPage {
                after: after.as_ref(),
                limit: *limit + 1,
            };
            // Two independent reads, on two connections at once.
            let (totals, mut rows) = tokio::try_join!(
                state.store.usage_groups(client_id, filter, totals),
                state.store.manifest_page(client_id, filter, page),
            )?;
            let more = rows.len() > *limit as usize;
            rows.truncate(*limit as usize);
            let next = match rows.last() {
                Some(last) if more => Some(cursor::encode(last)),
                _ => None,
            };
            (totals, rows, next)
        }
    })
}

/// Appends the row of `key` to the list its grouping fills.
fn push_row(
    out: &mut UsageReport,
    group: UsageGrouping,
    plan: Option<&PlanRecord>,
    (name, day, pipeline, model_id): RowKey,
    s: &Sum,
) -> Result<(), BuilderError> {
    let usd = s.usd_micros()?;
    let billable = s.billable_micros()?;
    match group {
        UsageGrouping::None => {}
        UsageGrouping::User => out.by_user.get_or_insert_default().push(UserRow {
            end_user_id: name.clone(),
            external_user_id: name,
            request_count: s.count,
            fee_wei: s.fee_wei()?,
            currency: "USD".into(),
            network_fee_usd_micros: usd,
            owner_charge_usd_micros: usd,
            end_user_billable_usd_micros: billable,
        }),
        UsageGrouping::PipelineModel => {
            let rate = plan.map(|plan| retail_rate(plan, &pipeline, &model_id));
            out.by_pipeline_model
                .get_or_insert_default()
                .push(PipelineModelRow {
                    network_fee_wei: s.fee_wei()?,
                    request_count: s.count,
                    network_fee_usd_micros: usd,
                    end_user_billable_usd_micros: billable,
                    retail_rate_usd: rate,
                    pipeline,
                    model_id,
                });
        }
        UsageGrouping::DailyPipeline => {
            out.by_daily_pipeline
                .get_or_insert_default()
                .push(DailyPipelineRow {
                    date: date_text(day),
                    request_count: s.count,
                    network_fee_usd_micros: usd,
                    end_user_billable_usd_micros: billable,
                    pipeline,
                    model_id,
                });
        }
        UsageGrouping::Manifest => out.by_manifest.get_or_insert_default().push(ManifestRow {
            manifest_id: name,
            request_count: s.count,
            fee_wei: s.fee_wei()?,
            network_fee_usd_micros: usd,
            billable_secs: seconds_text(s.billable_micros),
            end_user_billable_usd_micros: billable,
            pipeline,
            model_id,
        }),
    }
    Ok(())
}

/// The report for `client_id` (the end-user route passes its own user as `userId`).
pub async fn report(
    state: &AppState,
    client_id: &str,
    query: &UsageQuery,
) -> Result<UsageReport, BuilderError> {
    let ReportPeriod {
        start,
        end,
        window_ms,
        group,
    } = period(state.clock.now(), query)?;
    let user_id = match &query.user_id {
        Some(ext) => {
            let ext =
                ExternalUserId::parse(ext).map_err(|e| BuilderError::invalid(e.to_string()))?;
            match state
                .store
                .user_by_external_id(client_id, ext.as_str())
                .await?
            {
                Some(user) => Some(user.id),
                // An unknown user has no usage: an empty report, not a 404 (as before).
                None => return Ok(empty_report(client_id, start, end, group)),
            }
        }
        None => None,
    };
    let plan = match query.include {
        Some(UsageInclude::Retail) => state.store.active_plan(client_id).await?,
        None => None,
    };
    let page = manifest_page(group, query)?;
    let keys = GroupKeys {
        user: group == UsageGrouping::User,
        // Retail rates are per (pipeline, model), so priced reports always split by them.
        pipeline_model: group != UsageGrouping::None && group != UsageGrouping::User
            || plan.is_some(),
        day: group == UsageGrouping::DailyPipeline,
        manifest: group == UsageGrouping::Manifest,
    };
    let filter = UsageFilter {
        from_day: start,
        to_day: end,
        user_id,
        gateway_request_id: query.gateway_request_id.clone(),
        window_ms,
    };
    let (groups, page_groups, next_cursor) = read_groups(
        state,
        client_id,
        &filter,
        keys,
        plan.is_some(),
        page.as_ref(),
    )
    .await?;
    // Each group priced at its (pipeline, model)'s rate; each figure rounds once, later.
    let priced = |g: &UsageGroup| -> Result<Sum, BuilderError> {
        let Some(plan) = &plan else {
            return Ok(Sum::of(g, None));
        };
        let rate = retail_rate(plan, &g.pipeline, &g.model_id);
        let exact =
            ExactUsd::from_parts(g.sums.usd).map_err(|e| BuilderError::Internal(e.to_string()))?;
        let retail = rate
            .apply(exact)
            .map_err(|e| BuilderError::Internal(e.to_string()))?;
        Ok(Sum::of(g, Some(retail)))
    };
    let mut total = Sum::default();
    for g in &groups {
        total.add(priced(g)?)?;
    }
    let row_groups = if page.is_some() { page_groups } else { groups };
    let rows = row_sums(group, row_groups, priced)?;
    let mut out = empty_report(client_id, start, end, group);
    out.next_cursor = next_cursor;
    let network = total.usd_micros()?;
    out.totals = Totals {
        request_count: total.count,
        total_fee_wei: total.fee_wei()?,
        currency: "USD".into(),
        network_fee_usd_micros: network,
        owner_charge_usd_micros: network,
        platform_fee_usd_micros: UsdMicros::ZERO,
        end_user_billable_usd_micros: total.billable_micros()?,
    };
    for (key, sums) in rows {
        push_row(&mut out, group, plan.as_ref(), key, &sums)?;
    }
    Ok(out)
}

/// A report row's key: (external user or manifest id, day, pipeline, model); fields the
/// grouping does not have are empty.
type RowKey = (String, i64, String, String);

/// Each reported row's key and sums, in report order. A manifest page keeps the store's order
/// (the order its cursor continues in; its rows are already one per key); other groupings are
/// summed per key and sorted by it.
fn row_sums(
    group: UsageGrouping,
    groups: Vec<UsageGroup>,
    priced: impl Fn(&UsageGroup) -> Result<Sum, BuilderError>,
) -> Result<Vec<(RowKey, Sum)>, BuilderError> {
    let mut sorted = BTreeMap::<RowKey, Sum>::new();
    let mut rows = Vec::new();
    for g in groups {
        let sum = priced(&g)?;
        let key = match group {
            UsageGrouping::None => continue,
            UsageGrouping::User => (g.external_user_id, 0, String::new(), String::new()),
            UsageGrouping::PipelineModel => (String::new(), 0, g.pipeline, g.model_id),
            UsageGrouping::DailyPipeline => (String::new(), g.day, g.pipeline, g.model_id),
            UsageGrouping::Manifest => {
                rows.push(((g.manifest_id, 0, g.pipeline, g.model_id), sum));
                continue;
            }
        };
        sorted.entry(key).or_default().add(sum)?;
    }
    rows.extend(sorted);
    Ok(rows)
}

/// For `groupBy=manifest`: where the page starts and how many rows it has at most. `limit` and
/// `cursor` page manifest rows only; with another grouping they are refused, not ignored.
fn manifest_page(
    group: UsageGrouping,
    query: &UsageQuery,
) -> Result<Option<(Option<ManifestCursor>, u32)>, BuilderError> {
    if group != UsageGrouping::Manifest {
        if query.limit.is_some() || query.cursor.is_some() {
            return Err(BuilderError::invalid(
                "limit and cursor page groupBy=manifest only",
            ));
        }
        return Ok(None);
    }
    let limit = query.limit.unwrap_or(DEFAULT_MANIFEST_PAGE);
    if !(1..=MAX_MANIFEST_PAGE).contains(&limit) {
        return Err(BuilderError::invalid(format!(
            "limit must be 1 to {MAX_MANIFEST_PAGE}"
        )));
    }
    let after = query.cursor.as_deref().map(cursor::decode).transpose()?;
    Ok(Some((after, limit)))
}

/// `nextCursor`: the last row's (manifest, pipeline, model), NUL-separated (none of them can
/// hold a NUL), base64url without padding. Opaque to clients.
mod cursor {
    use super::BuilderError;
    use base64::Engine as _;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use tollhouse_store::{ManifestCursor, UsageGroup};

    pub fn encode(last: &UsageGroup) -> String {
        let text = format!("{}\0{}\0{}", last.manifest_id, last.pipeline, last.model_id);
        URL_SAFE_NO_PAD.encode(text)
    }

    pub fn decode(text: &str) -> Result<ManifestCursor, BuilderError> {
        let bad = || BuilderError::invalid("cursor is not a nextCursor this API returned");
        let bytes = URL_SAFE_NO_PAD.decode(text).map_err(|_| bad())?;
        let text = String::from_utf8(bytes).map_err(|_| bad())?;
        let mut parts = text.split('\0');
        match (parts.next(), parts.next(), parts.next(), parts.next()) {
            (Some(manifest), Some(pipeline), Some(model), None) => Ok(ManifestCursor {
                manifest_id: manifest.to_owned(),
                pipeline: pipeline.to_owned(),
                model_id: model.to_owned(),
            }),
            _ => Err(bad()),
        }
    }
}

/// A report with zero totals and, for the grouping asked for, no rows.
fn empty_report(client_id: &str, start: i64, end: i64, group: UsageGrouping) -> UsageReport {
    let zero = UsdMicros::ZERO;
    UsageReport {
        client_id: client_id.to_owned(),
        source: "tollhouse".into(),
        period: Period {
            start: date_text(start),
            end: date_text(end),
        },
        totals: Totals {
            request_count: 0,
            total_fee_wei: Wei::ZERO,
            currency: "USD".into(),
            network_fee_usd_micros: zero,
            owner_charge_usd_micros: zero,
            platform_fee_usd_micros: zero,
            end_user_billable_usd_micros: zero,
        },
        by_user: (group == UsageGrouping::User).then(Vec::new),
        by_pipeline_model: (group == UsageGrouping::PipelineModel).then(Vec::new),
        by_daily_pipeline: (group == UsageGrouping::DailyPipeline).then(Vec::new),
        by_manifest: (group == UsageGrouping::Manifest).then(Vec::new),
        next_cursor: None,
    }
}

#[cfg(test)]
mod tests {
    use super::seconds_text;

    #[test]
    fn seconds_are_written_with_the_fraction_trimmed() {
        for (micros, text) in [
            (0, "0"),
            (1, "0.000001"),
            (10, "0.00001"),
            (500_000, "0.5"),
            (1_000_000, "1"),
            (1_234_567, "1.234567"),
            (38_815_748, "38.815748"),
            (120_000_100, "120.0001"),
            (i64::MAX, "9223372036854.775807"),
        ] {
            assert_eq!(seconds_text(micros), text, "{micros}");
        }
    }
}
