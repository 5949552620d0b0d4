//! Plans: an app's retail pricing (`GET/POST A/plans`, `POST A/plans/{id}/sync`), in the shape
//! the builder-sdk's `listBillingProducts` / `syncBillingProduct` read.
//!
//! A plan maps (pipeline, model) to a retail rate: USD billed per micro-USD of network fee
//! (`"0.000001"` is at cost), given directly or as a markup percent. Lookup falls back from
//! (pipeline, model) to (pipeline, any model) to the plan's default, then to at cost. An app has
//! at most one active plan; the Usage API prices `include=retail` with it. Plans are immutable
//! once created: a price change is a new plan, so past reports can be explained.

use serde::{Deserialize, Serialize};
use tollhouse_core::money::UsdMicros;
use tollhouse_core::retail::{MarkupPercent, RetailRate};

/// `GET A/plans`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct PlanList {
    /// Always 2 (the builder-sdk reads `products`).
    pub api_version: u32,
    /// The app's plans, newest first.
    pub products: Vec<Plan>,
}

/// A plan.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct Plan {
    /// Plan id (UUID).
    pub id: String,
    /// The app.
    pub client_id: String,
    /// Its name.
    pub name: String,
    /// Always `usage`: billed on metered usage.
    #[serde(rename = "type")]
    pub plan_type: String,
    /// `active` (the one the Usage API prices with) or `archived`.
    pub status: PlanStatus,
    /// Fixed price per billing cycle; Tollhouse plans are usage-priced, so `"0"`.
    pub price_amount: String,
    /// Always `USD`.
    pub price_currency: String,
    /// Whether this is the network's default plan (never, for an app's own plan).
    pub is_network_default: bool,
    /// Whether new users start on it (the active plan).
    pub is_starter_default: bool,
    /// The allowance a user of the plan is granted per cycle.
    pub allowance: AllowancePolicy,
    /// The rate for pipelines no capability names.
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>))]
    pub default_retail_rate_usd: Option<RetailRate>,
    /// Rates per pipeline and model.
    pub capabilities: Vec<CapabilityPrice>,
    /// Tollhouse prices from its own store: there is nothing external to sync.
    pub sync: SyncState,
    /// Creation time (RFC 3339).
    pub created_at: String,
}

/// `active` or `archived`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum PlanStatus {
    /// Prices the Usage API's retail figures.
    #[default]
    Active,
    /// Kept for history.
    Archived,
}

impl PlanStatus {
    /// The wire name.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Active => "active",
            Self::Archived => "archived",
        }
    }
}

/// What a plan grants per cycle.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct AllowancePolicy {
    /// Micro-USD included per cycle, if any.
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>))]
    pub included_usd_micros: Option<UsdMicros>,
    /// `monthly` (default) or `none`.
    pub billing_cycle: String,
}

/// The price of one pipeline (and model) in a plan.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct CapabilityPrice {
    /// Pipeline.
    pub pipeline: String,
    /// Model; `""` prices every model of the pipeline that has no rate of its own.
    pub model_id: String,
    /// The rate as given, when given as a rate.
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>))]
    pub retail_rate_usd: Option<RetailRate>,
    /// The markup as given, when given as a markup.
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>))]
    pub markup_percent: Option<MarkupPercent>,
    /// The rate applied.
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub effective_retail_rate_usd: RetailRate,
    /// `<pipeline>` or `<pipeline>:<model>`.
    pub feature_key: String,
}

/// Sync state (kept for the builder-sdk's shape).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct SyncState {
    /// `synced` once the plan's rates are in effect.
    pub status: String,
    /// When it was last synced (RFC 3339).
    pub synced_at: Option<String>,
    /// Never set: Tollhouse does not depend on an external billing system.
    pub error_code: Option<String>,
    /// Never set.
    pub error_message: Option<String>,
}

/// `POST A/plans`.
///
/// ```
/// use tollhouse_api::plans::CreatePlan;
/// let plan: CreatePlan = serde_json::from_str(r#"{
///     "name": "Creator",
///     "defaultMarkupPercent": "20",
///     "capabilities": [{"pipeline": "live-video-to-video", "modelId": "streamdiffusion",
///                       "retailRateUsd": "0.0000015"}]
/// }"#).unwrap();
/// assert_eq!(plan.capabilities[0].retail_rate_usd.unwrap().nanos(), 1_500);
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CreatePlan {
    /// Its name (1–128 characters).
    #[cfg_attr(feature = "openapi", schema(min_length = 1, max_length = 128))]
    pub name: String,
    /// `active` (default: it replaces the app's active plan, which is archived) or `archived`.
    #[serde(default)]
    pub status: Option<PlanStatus>,
    /// Default rate (USD per network micro-USD).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>, pattern = r"^[0-9]+(\.[0-9]{1,9})?$"))]
    pub default_retail_rate_usd: Option<RetailRate>,
    /// Default markup in percent (instead of a default rate).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>, pattern = r"^[0-9]{1,8}(\.[0-9])?$"))]
    pub default_markup_percent: Option<MarkupPercent>,
    /// Rates per pipeline and model (at most 256).
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(max_items = 256))]
    pub capabilities: Vec<CapabilityPriceInput>,
    /// Micro-USD included per cycle.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>, pattern = "^[0-9]{1,18}$"))]
    pub included_usd_micros: Option<UsdMicros>,
    /// `monthly` (default) or `none`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub billing_cycle: Option<String>,
}

/// One capability's price in [`CreatePlan`]: a rate or a markup, not both.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CapabilityPriceInput {
    /// Pipeline (1–128 characters).
    #[cfg_attr(feature = "openapi", schema(min_length = 1, max_length = 128))]
    pub pipeline: String,
    /// Model; omitted or `""` for every model of the pipeline.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(max_length = 256))]
    pub model_id: Option<String>,
    /// Rate (USD per network micro-USD).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>, pattern = r"^[0-9]+(\.[0-9]{1,9})?$"))]
    pub retail_rate_usd: Option<RetailRate>,
    /// Markup in percent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>, pattern = r"^[0-9]{1,8}(\.[0-9])?$"))]
    pub markup_percent: Option<MarkupPercent>,
}

/// `POST A/plans/{id}/sync`: the plan's rates are in effect (it becomes the active plan).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct PlanSyncResult {
    /// The plan.
    pub plan_id: String,
    /// Always true on 200.
    pub ok: bool,
    /// Its sync state.
    pub sync: SyncState,
    /// Never set (kept for the builder-sdk's shape).
    pub openmeter_plan_id: Option<String>,
}
