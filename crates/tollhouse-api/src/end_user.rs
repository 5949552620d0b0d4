//! What an end user reads with their own bearer (user JWT, opaque signer session or API key):
//! `GET /api/v1/user/usage` (the balance route answers [`BalanceView`](crate::allowances::BalanceView)).

use serde::{Deserialize, Serialize};
use tollhouse_core::money::{UsdMicros, Wei};

/// `GET /api/v1/user/usage`: the caller's usage, all time unless `startDate`/`endDate` say
/// otherwise, with the rows `groupBy` asks for (the builder-sdk's `getEndUserUsage` reads the
/// same shape as `GET A/usage`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "openapi", serde(deny_unknown_fields))]
#[serde(rename_all = "camelCase")]
pub struct UserUsage {
    /// The app's public client id.
    pub client_id: String,
    /// The integrator's id for the user.
    pub external_user_id: String,
    /// Always `tollhouse`.
    #[cfg_attr(feature = "openapi", schema(pattern = "^tollhouse$"))]
    pub source: String,
    /// Usage totals.
    pub totals: UsageTotals,
    /// The period, when `startDate` or `endDate` was given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub period: Option<crate::usage::Period>,
    /// `groupBy=user`: the caller's row.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub by_user: Option<Vec<crate::usage::UserRow>>,
    /// `groupBy=pipeline_model`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub by_pipeline_model: Option<Vec<crate::usage::PipelineModelRow>>,
    /// `groupBy=daily_pipeline`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub by_daily_pipeline: Option<Vec<crate::usage::DailyPipelineRow>>,
}

/// An end user's usage totals.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "openapi", serde(deny_unknown_fields))]
#[serde(rename_all = "camelCase")]
pub struct UsageTotals {
    /// Always `USD`.
    #[cfg_attr(feature = "openapi", schema(pattern = "^USD$"))]
    pub currency: String,
    /// What the end user is billed, micro-USD.
    #[cfg_attr(feature = "openapi", schema(value_type = String, pattern = "^[0-9]+$"))]
    pub end_user_billable_usd_micros: UsdMicros,
    /// Network fees, micro-USD.
    #[cfg_attr(feature = "openapi", schema(value_type = String, pattern = "^[0-9]+$"))]
    pub network_fee_usd_micros: UsdMicros,
    /// The app owner's charge, micro-USD.
    #[cfg_attr(feature = "openapi", schema(value_type = String, pattern = "^[0-9]+$"))]
    pub owner_charge_usd_micros: UsdMicros,
    /// Platform fees, micro-USD.
    #[cfg_attr(feature = "openapi", schema(value_type = String, pattern = "^[0-9]+$"))]
    pub platform_fee_usd_micros: UsdMicros,
    /// Signed requests.
    pub request_count: i64,
    /// Ticket face value, wei.
    #[cfg_attr(feature = "openapi", schema(value_type = String, pattern = "^[0-9]+$"))]
    pub total_fee_wei: Wei,
}
