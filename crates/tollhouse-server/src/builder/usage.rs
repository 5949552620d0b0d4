//! `GET A/usage`: usage totals and groupings from the rollups kept on ingest (never a scan of
//! raw events). Every reported figure is rounded up to micro-USD once, from its own exact sum,
//! so the same events give the same figures however they are grouped.

use super::auth::authenticate;
use super::error::{BuilderError, BuilderErrors};
use super::path_params;
use crate::state::AppState;
use axum::Json;
use axum::extract::rejection::{PathRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::HeaderMap;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap};
use tollhouse_core::money::{ExactUsd, UsdParts, Wei, WeiParts};
use tollhouse_core::user::ExternalUserId;
use tollhouse_store::RollupSums;
use utoipa::{IntoParams, ToSchema};

const DAY_SECS: i64 = 86_400;

/// Query of `GET A/usage`.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(rename_all = "camelCase")]
#[into_params(parameter_in = Query)]
pub struct UsageQuery {
    /// First UTC day (`YYYY-MM-DD` or RFC 3339), inclusive [default: 29 days before today].
    #[serde(default)]
    start_date: Option<String>,
    /// End (`YYYY-MM-DD` or RFC 3339), exclusive; a time within a day counts that whole day
    /// [default: tomorrow].
    #[serde(default)]
    end_date: Option<String>,
    /// `none` (default), `user`, `pipeline_model` or `daily_pipeline` (needs `userId`).
    #[serde(default)]
    #[param(pattern = "^(none|user|pipeline_model|daily_pipeline)$")]
    group_by: Option<String>,
    /// Only this user (external id).
    #[serde(default)]
    #[param(pattern = "^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$")]
    user_id: Option<String>,
    /// `retail`: retail figures from the app's plan (absent while the app has no plan).
    #[serde(default)]
    include: Option<String>,
}

impl UsageQuery {
    /// All of one user's usage (the end-user route).
    pub fn all_time_for(external_user_id: &str) -> Self {
        Self {
            start_date: Some("1970-01-01".into()),
            end_date: Some("9999-12-31".into()),
            user_id: Some(external_user_id.to_owned()),
            ..Self::default()
        }
    }
}

impl Totals {
    /// `(requestCount, totalFeeWei, networkFeeUsdMicros)`.
    pub fn figures(&self) -> (i64, &str, &str) {
        (
            self.request_count,
            &self.total_fee_wei,
            &self.network_fee_usd_micros,
        )
    }
}

impl UsageReport {
    /// The totals.
    pub fn totals(&self) -> &Totals {
        &self.totals
    }
}

/// The reported period.
#[derive(Debug, Serialize, ToSchema)]
pub struct Period {
    /// First day (inclusive), `YYYY-MM-DD`.
    start: String,
    /// End day (exclusive), `YYYY-MM-DD`.
    end: String,
}

/// Totals; amounts are decimal strings.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Totals {
    /// Signed requests.
    request_count: i64,
    /// Σ fees, wei.
    #[schema(value_type = String)]
    total_fee_wei: String,
    /// Always `USD`.
    #[schema(value_type = String)]
    currency: &'static str,
    /// Network fees, micro-USD (rounded up once).
    #[schema(value_type = String)]
    network_fee_usd_micros: String,
    /// What the app owner is charged, micro-USD.
    #[schema(value_type = String)]
    owner_charge_usd_micros: String,
    /// Platform fee, micro-USD.
    #[schema(value_type = String)]
    platform_fee_usd_micros: &'static str,
    /// What end users are billed, micro-USD (the network fee without a retail plan).
    #[schema(value_type = String)]
    end_user_billable_usd_micros: String,
}

/// One user's usage.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct UserRow {
    /// The user (external id); `""` for usage no user here is known for.
    end_user_id: String,
    /// Same as `endUserId`.
    external_user_id: String,
    /// Signed requests.
    request_count: i64,
    /// Σ fees, wei.
    fee_wei: String,
    /// Always `USD`.
    currency: &'static str,
    /// Network fees, micro-USD.
    network_fee_usd_micros: String,
    /// Owner charge, micro-USD.
    owner_charge_usd_micros: String,
    /// End-user billable, micro-USD.
    end_user_billable_usd_micros: String,
}

/// Usage per pipeline and model.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PipelineModelRow {
    /// Pipeline.
    pipeline: String,
    /// Model (`""` if none).
    model_id: String,
    /// Signed requests.
    request_count: i64,
    /// Σ fees, wei.
    network_fee_wei: String,
    /// Network fees, micro-USD.
    network_fee_usd_micros: String,
    /// End-user billable, micro-USD.
    end_user_billable_usd_micros: String,
}

/// Usage per UTC day, pipeline and model.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct DailyPipelineRow {
    /// Pipeline.
    pipeline: String,
    /// Model.
    model_id: String,
    /// `YYYY-MM-DD` (UTC).
    date: String,
    /// Signed requests.
    request_count: i64,
    /// Network fees, micro-USD.
    network_fee_usd_micros: String,
}

/// `GET A/usage`.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct UsageReport {
    /// The app.
    client_id: String,
    /// Always `tollhouse`.
    #[schema(value_type = String)]
    source: &'static str,
    /// The period covered.
    period: Period,
    /// Totals of the period.
    totals: Totals,
    /// With `groupBy=user`.
    #[serde(skip_serializing_if = "Option::is_none")]
    by_user: Option<Vec<UserRow>>,
    /// With `groupBy=pipeline_model`.
    #[serde(skip_serializing_if = "Option::is_none")]
    by_pipeline_model: Option<Vec<PipelineModelRow>>,
    /// With `groupBy=daily_pipeline`.
    #[serde(skip_serializing_if = "Option::is_none")]
    by_daily_pipeline: Option<Vec<DailyPipelineRow>>,
}

#[derive(Default, Clone, Copy)]
struct Sum {
    count: i64,
    fee: WeiParts,
    usd: UsdParts,
}

impl Sum {
    fn add(&mut self, s: &RollupSums) -> Result<(), BuilderError> {
        let overflow = |_| BuilderError::Internal("usage sum overflow".into());
        self.count += s.request_count;
        self.fee = self.fee.checked_add(s.fee).map_err(overflow)?;
        self.usd = self.usd.checked_add(s.usd).map_err(overflow)?;
        Ok(())
    }

    fn fee_wei(&self) -> Result<String, BuilderError> {
        Wei::from_parts(self.fee)
            .map(|w| w.to_string())
            .map_err(|e| BuilderError::Internal(e.to_string()))
    }

    /// Rounded up to micro-USD, once, from this figure's own exact sum.
    fn usd_micros(&self) -> Result<String, BuilderError> {
        ExactUsd::from_parts(self.usd)
            .map(|u| u.ceil_micros().to_string())
            .map_err(|e| BuilderError::Internal(e.to_string()))
    }
}

fn day_of(text: &str, round_up: bool) -> Result<i64, BuilderError> {
    use time::format_description::well_known::Rfc3339;
    let bad = || {
        BuilderError::invalid(format!(
            "`{text}` is not a date (YYYY-MM-DD) or RFC 3339 time"
        ))
    };
    if let Ok(t) = time::OffsetDateTime::parse(text, &Rfc3339) {
        let secs = t.unix_timestamp();
        let day = secs.div_euclid(DAY_SECS);
        return Ok(if round_up && secs.rem_euclid(DAY_SECS) != 0 {
            day + 1
        } else {
            day
        });
    }
    let format = time::macros::format_description!("[year]-[month]-[day]");
    let date = time::Date::parse(text, &format).map_err(|_| bad())?;
    Ok(date
        .midnight()
        .assume_utc()
        .unix_timestamp()
        .div_euclid(DAY_SECS))
}

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
    params(("client_id" = String, Path, description = "The app's public client id (`app_…`)"), UsageQuery),
    security(("m2m_basic" = [])),
    responses((status = 200, description = "Usage of the period", body = UsageReport), BuilderErrors)
)]
pub async fn get_usage(
    State(state): State<AppState>,
    client_id: Result<Path<String>, PathRejection>,
    headers: HeaderMap,
    query: Result<Query<UsageQuery>, QueryRejection>,
) -> Result<Json<UsageReport>, BuilderError> {
    let client_id = path_params(client_id)?;
    let app = authenticate(&state, &headers, &client_id).await?;
    let Query(query) = query.map_err(|_| BuilderError::invalid("malformed query string"))?;
    report(&state, app.client_id.as_str(), &query)
        .await
        .map(Json)
}

/// The report for `client_id` (the end-user route passes its own user as `userId`).
pub async fn report(
    state: &AppState,
    client_id: &str,
    query: &UsageQuery,
) -> Result<UsageReport, BuilderError> {
    let today = state.clock.now().div_euclid(DAY_SECS);
    let start = match &query.start_date {
        Some(s) => day_of(s, false)?,
        None => today - 29,
    };
    let end = match &query.end_date {
        Some(s) => day_of(s, true)?,
        None => today + 1,
    };
    if end <= start {
        return Err(BuilderError::invalid("endDate must be after startDate"));
    }
    let group = query.group_by.as_deref().unwrap_or("none");
    if !matches!(group, "none" | "user" | "pipeline_model" | "daily_pipeline") {
        return Err(BuilderError::invalid(
            "groupBy must be none, user, pipeline_model or daily_pipeline",
        ));
    }
    if query.include.as_deref().is_some_and(|i| i != "retail") {
        return Err(BuilderError::invalid("include must be `retail`"));
    }
    if group == "daily_pipeline" && query.user_id.is_none() {
        return Err(BuilderError::invalid("groupBy=daily_pipeline needs userId"));
    }
    let users = state.store.list_users(client_id).await?;
    let ext_of: HashMap<&str, &str> = users
        .iter()
        .map(|u| (u.id.as_str(), u.external_user_id.as_str()))
        .collect();
    let only_user = match &query.user_id {
        Some(ext) => {
            let ext =
                ExternalUserId::parse(ext).map_err(|e| BuilderError::invalid(e.to_string()))?;
            Some(
                users
                    .iter()
                    .find(|u| u.external_user_id.as_str() == ext.as_str())
                    .map(|u| u.id.clone())
                    .unwrap_or_default(),
            )
        }
        None => None,
    };
    let rows = state.store.usage_rollups(client_id, start, end).await?;
    let mut total = Sum::default();
    let mut by_user = BTreeMap::<String, Sum>::new();
    let mut by_pm = BTreeMap::<(String, String), Sum>::new();
    let mut by_day = BTreeMap::<(i64, String, String), Sum>::new();
    for (user_id, pipeline, model, day, sums) in &rows {
        if only_user
            .as_ref()
            .is_some_and(|u| u != user_id || u.is_empty())
        {
            continue;
        }
        total.add(sums)?;
        let ext = ext_of
            .get(user_id.as_str())
            .copied()
            .unwrap_or("")
            .to_owned();
        by_user.entry(ext).or_default().add(sums)?;
        by_pm
            .entry((pipeline.clone(), model.clone()))
            .or_default()
            .add(sums)?;
        by_day
            .entry((*day, pipeline.clone(), model.clone()))
            .or_default()
            .add(sums)?;
    }
    let network = total.usd_micros()?;
    // `include=retail` adds retail figures from the app's plan; without a plan (plans are not
    // configurable yet) they are absent, as the spec says.
    Ok(UsageReport {
        client_id: client_id.to_owned(),
        source: "tollhouse",
        period: Period {
            start: date_text(start),
            end: date_text(end),
        },
        totals: Totals {
            request_count: total.count,
            total_fee_wei: total.fee_wei()?,
            currency: "USD",
            owner_charge_usd_micros: network.clone(),
            platform_fee_usd_micros: "0",
            end_user_billable_usd_micros: network.clone(),
            network_fee_usd_micros: network,
        },
        by_user: (group == "user")
            .then(|| {
                by_user
                    .iter()
                    .map(|(ext, s)| {
                        let usd = s.usd_micros()?;
                        Ok(UserRow {
                            end_user_id: ext.clone(),
                            external_user_id: ext.clone(),
                            request_count: s.count,
                            fee_wei: s.fee_wei()?,
                            currency: "USD",
                            owner_charge_usd_micros: usd.clone(),
                            end_user_billable_usd_micros: usd.clone(),
                            network_fee_usd_micros: usd,
                        })
                    })
                    .collect::<Result<Vec<_>, BuilderError>>()
            })
            .transpose()?,
        by_pipeline_model: (group == "pipeline_model")
            .then(|| {
                by_pm
                    .iter()
                    .map(|((pipeline, model), s)| {
                        let usd = s.usd_micros()?;
                        Ok(PipelineModelRow {
                            pipeline: pipeline.clone(),
                            model_id: model.clone(),
                            request_count: s.count,
                            network_fee_wei: s.fee_wei()?,
                            end_user_billable_usd_micros: usd.clone(),
                            network_fee_usd_micros: usd,
                        })
                    })
                    .collect::<Result<Vec<_>, BuilderError>>()
            })
            .transpose()?,
        by_daily_pipeline: (group == "daily_pipeline")
            .then(|| {
                by_day
                    .iter()
                    .map(|((day, pipeline, model), s)| {
                        Ok(DailyPipelineRow {
                            pipeline: pipeline.clone(),
                            model_id: model.clone(),
                            date: date_text(*day),
                            request_count: s.count,
                            network_fee_usd_micros: s.usd_micros()?,
                        })
                    })
                    .collect::<Result<Vec<_>, BuilderError>>()
            })
            .transpose()?,
    })
}
