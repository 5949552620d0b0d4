//! The Usage API: `GET /api/v1/apps/{clientId}/usage` and the end-user
//! `GET /api/v1/user/usage`.
//!
//! Every figure is rounded up to whole micro-USD once, from its own exact sum, so the same
//! events give the same figures however they are grouped. Money fields are decimal strings.

use serde::{Deserialize, Serialize};
use tollhouse_core::money::{UsdMicros, Wei};
use tollhouse_core::retail::RetailRate;

/// How `GET A/usage` groups rows (`groupBy`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum UsageGrouping {
    /// Totals only.
    #[default]
    None,
    /// `byUser`.
    User,
    /// `byPipelineModel`.
    PipelineModel,
    /// `byDailyPipeline` (needs `userId`).
    DailyPipeline,
    /// `byManifest`.
    Manifest,
}

impl UsageGrouping {
    /// The wire name (`pipeline_model`, …).
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::None => "none",
            Self::User => "user",
            Self::PipelineModel => "pipeline_model",
            Self::DailyPipeline => "daily_pipeline",
            Self::Manifest => "manifest",
        }
    }
}

/// Extra figures `GET A/usage` may add (`include`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum UsageInclude {
    /// Retail figures from the app's active plan (absent while it has none).
    Retail,
}

/// The query of `GET A/usage`.
///
/// ```
/// use tollhouse_api::usage::{UsageGrouping, UsageQuery};
/// let query = UsageQuery {
///     group_by: Some(UsageGrouping::PipelineModel),
///     start_date: Some("2026-11-01".into()),
///     ..UsageQuery::default()
/// };
/// assert_eq!(query.group_by.map(UsageGrouping::as_str), Some("pipeline_model"));
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::IntoParams))]
#[cfg_attr(feature = "openapi", into_params(parameter_in = Query))]
#[serde(rename_all = "camelCase")]
pub struct UsageQuery {
    /// First UTC day (`YYYY-MM-DD`, or an RFC 3339 time: its day), included [default: 29 days
    /// before today].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_date: Option<String>,
    /// Last UTC day, included: a date (`YYYY-MM-DD`) whole, an RFC 3339 time the rest of its
    /// day (exactly midnight ends the day before). Two RFC 3339 times less than a day apart are
    /// an exact window instead, both ends included [default: today].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub end_date: Option<String>,
    /// `none` (default), `user`, `pipeline_model`, `daily_pipeline` (needs `userId`) or
    /// `manifest`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", param(inline))]
    pub group_by: Option<UsageGrouping>,
    /// Only this user (external id).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(
        feature = "openapi",
        param(pattern = "^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$")
    )]
    pub user_id: Option<String>,
    /// Only the events of this gateway request.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", param(min_length = 1, max_length = 256))]
    pub gateway_request_id: Option<String>,
    /// `retail`: retail figures from the app's active plan (absent while it has none).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", param(inline))]
    pub include: Option<UsageInclude>,
    /// `groupBy=manifest` only: most rows in one page (1 to 10,000) [default: 1,000].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", param(minimum = 1, maximum = 10000))]
    pub limit: Option<u32>,
    /// `groupBy=manifest` only: the `nextCursor` of the previous page.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", param(min_length = 1, max_length = 2048))]
    pub cursor: Option<String>,
}

/// The period a report covers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Period {
    /// First day (inclusive), `YYYY-MM-DD`.
    pub start: String,
    /// End day (exclusive), `YYYY-MM-DD`.
    pub end: String,
}

/// Totals of a report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct Totals {
    /// Signed tickets counted.
    pub request_count: i64,
    /// Σ fees in wei.
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub total_fee_wei: Wei,
    /// Always `USD`.
    pub currency: String,
    /// Network fees in micro-USD (rounded up once).
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub network_fee_usd_micros: UsdMicros,
    /// What the app owner is charged, micro-USD (the network fee).
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub owner_charge_usd_micros: UsdMicros,
    /// Platform fee, micro-USD (Tollhouse takes none).
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub platform_fee_usd_micros: UsdMicros,
    /// What end users are billed, micro-USD: the network fee, or with `include=retail` and an
    /// active plan, the network fee at the plan's retail rates.
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub end_user_billable_usd_micros: UsdMicros,
}

/// One user's usage (`groupBy=user`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct UserRow {
    /// The user's external id; `""` for usage of users this app does not know.
    pub end_user_id: String,
    /// Same as `endUserId`.
    pub external_user_id: String,
    /// Signed tickets counted.
    pub request_count: i64,
    /// Σ fees in wei.
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub fee_wei: Wei,
    /// Always `USD`.
    pub currency: String,
    /// Network fees, micro-USD.
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub network_fee_usd_micros: UsdMicros,
    /// Owner charge, micro-USD.
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub owner_charge_usd_micros: UsdMicros,
    /// End-user billable, micro-USD.
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub end_user_billable_usd_micros: UsdMicros,
}

/// Usage per pipeline and model (`groupBy=pipeline_model`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct PipelineModelRow {
    /// Pipeline (`""` when go-livepeer sent none).
    pub pipeline: String,
    /// Model (`""` when none).
    pub model_id: String,
    /// Signed tickets counted.
    pub request_count: i64,
    /// Σ fees in wei.
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub network_fee_wei: Wei,
    /// Network fees, micro-USD.
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub network_fee_usd_micros: UsdMicros,
    /// End-user billable, micro-USD.
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub end_user_billable_usd_micros: UsdMicros,
    /// The retail rate applied (USD per network micro-USD), with `include=retail` and a plan.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>))]
    pub retail_rate_usd: Option<RetailRate>,
}

/// Usage per UTC day, pipeline and model of one user (`groupBy=daily_pipeline`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct DailyPipelineRow {
    /// Pipeline.
    pub pipeline: String,
    /// Model.
    pub model_id: String,
    /// `YYYY-MM-DD` (UTC).
    pub date: String,
    /// Signed tickets counted.
    pub request_count: i64,
    /// Network fees, micro-USD.
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub network_fee_usd_micros: UsdMicros,
    /// End-user billable, micro-USD.
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub end_user_billable_usd_micros: UsdMicros,
}

/// Usage per go-livepeer manifest (stream), pipeline and model (`groupBy=manifest`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct ManifestRow {
    /// go-livepeer's manifest id (`""` when none was sent).
    pub manifest_id: String,
    /// Pipeline.
    pub pipeline: String,
    /// Model.
    pub model_id: String,
    /// Signed tickets counted.
    pub request_count: i64,
    /// Σ fees in wei.
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub fee_wei: Wei,
    /// Network fees, micro-USD.
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub network_fee_usd_micros: UsdMicros,
    /// Σ seconds billed, as a decimal string (micro-second precision).
    pub billable_secs: String,
    /// End-user billable, micro-USD.
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub end_user_billable_usd_micros: UsdMicros,
}

/// `GET A/usage`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct UsageReport {
    /// The app.
    pub client_id: String,
    /// Always `tollhouse`.
    pub source: String,
    /// The period covered.
    pub period: Period,
    /// Totals of the period (after the `userId` / `gatewayRequestId` filters).
    pub totals: Totals,
    /// With `groupBy=user`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub by_user: Option<Vec<UserRow>>,
    /// With `groupBy=pipeline_model`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub by_pipeline_model: Option<Vec<PipelineModelRow>>,
    /// With `groupBy=daily_pipeline`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub by_daily_pipeline: Option<Vec<DailyPipelineRow>>,
    /// With `groupBy=manifest`: one page of rows, in (manifest, pipeline, model) order.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub by_manifest: Option<Vec<ManifestRow>>,
    /// With `groupBy=manifest`, when more rows follow: pass it as `cursor` for the next page.
    /// The totals always cover every row of the period.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_cursor: Option<String>,
}
