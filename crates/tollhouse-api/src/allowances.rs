//! Prepaid allowances and balances: `GET`/`POST A/users/{ext}/allowances`,
//! `GET A/usage/balance`, and the end user's `GET /api/v1/user/usage/balance`.
//!
//! Amounts are whole micro-USD ([`UsdMicros`]), decimal strings on the wire.

use serde::{Deserialize, Serialize};
use tollhouse_core::money::UsdMicros;

/// A user's prepaid position.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "openapi", serde(deny_unknown_fields))]
#[serde(rename_all = "camelCase")]
pub struct Allowances {
    /// Active grants minus consumption; negative when usage outran the grants.
    #[cfg_attr(feature = "openapi", schema(value_type = String, pattern = "^-?[0-9]+$"))]
    pub balance_usd_micros: UsdMicros,
    /// Usage valued in USD.
    #[cfg_attr(feature = "openapi", schema(value_type = String, pattern = "^-?[0-9]+$"))]
    pub consumed_usd_micros: UsdMicros,
    /// Whether the user may still sign.
    pub has_access: bool,
    /// Everything ever granted.
    #[cfg_attr(feature = "openapi", schema(value_type = String, pattern = "^-?[0-9]+$"))]
    pub lifetime_granted_usd_micros: UsdMicros,
}

/// `GET A/users/{ext}/allowances`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "openapi", serde(deny_unknown_fields))]
#[serde(rename_all = "camelCase")]
pub struct UserAllowances {
    /// The user's position.
    pub allowances: Allowances,
    /// The integrator's id for the user.
    pub external_user_id: String,
}

/// `POST A/users/{ext}/allowances`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "openapi", serde(deny_unknown_fields))]
#[serde(rename_all = "camelCase")]
pub struct GrantResult {
    /// The user's position after the grant.
    pub allowances: Allowances,
    /// The integrator's id for the user.
    pub external_user_id: String,
    /// The grant's feature key, when it has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(nullable = false))]
    pub feature_key: Option<String>,
    /// The amount granted.
    #[cfg_attr(feature = "openapi", schema(value_type = String, pattern = "^[0-9]+$"))]
    pub granted_usd_micros: UsdMicros,
}

/// Why a grant was made.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum AllowanceSource {
    /// A trial.
    Trial,
    /// Granted by hand (the default).
    #[default]
    Manual,
    /// A promotion.
    Promo,
    /// A plan's periodic allowance or a correction of it.
    PlanAdjustment,
}

impl AllowanceSource {
    /// The wire name.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Trial => "trial",
            Self::Manual => "manual",
            Self::Promo => "promo",
            Self::PlanAdjustment => "plan_adjustment",
        }
    }
}

/// Body of `POST A/users/{ext}/allowances`: an immutable grant, effective now.
///
/// ```
/// use tollhouse_api::allowances::{AllowanceSource, GrantAllowance};
/// use tollhouse_api::UsdMicros;
/// let grant = GrantAllowance {
///     source: Some(AllowanceSource::Trial),
///     ..GrantAllowance::new(UsdMicros::new(5_000_000))
/// };
/// assert_eq!(
///     serde_json::to_string(&grant).unwrap(),
///     r#"{"amountUsdMicros":"5000000","source":"trial"}"#
/// );
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct GrantAllowance {
    /// Positive whole micro-USD, at most [`MAX_GRANT_USD_MICROS`]: a decimal string (as sent) or a JSON integer.
    #[cfg_attr(feature = "openapi", schema(schema_with = usd_micros_input_schema))]
    pub amount_usd_micros: UsdMicros,
    /// `trial`, `manual` (default), `promo` or `plan_adjustment`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<AllowanceSource>,
    /// What the grant is for, 1 to 128 bytes of UTF-8, no NUL.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub feature_key: Option<String>,
    /// From when it counts (RFC 3339) [default: now].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(format = DateTime))]
    pub effective_at: Option<String>,
    /// Until when it counts (RFC 3339, after `effectiveAt` and now) [default: never].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(format = DateTime))]
    pub expires_at: Option<String>,
    /// Burn-down order: lower is consumed first (0 to 1000) [default: 0].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(minimum = 0, maximum = 1000))]
    pub priority: Option<i64>,
}

impl GrantAllowance {
    /// A `manual` grant of `amount`, effective now, never expiring, without a feature key.
    pub fn new(amount: UsdMicros) -> Self {
        Self {
            amount_usd_micros: amount,
            source: None,
            feature_key: None,
            effective_at: None,
            expires_at: None,
            priority: None,
        }
    }
}

pub use tollhouse_core::allowance::MAX_GRANT_USD_MICROS;

/// The string form of 1 ..= [`MAX_GRANT_USD_MICROS`] (10^15), leading zeros allowed as the
/// parser allows them.
#[cfg(feature = "openapi")]
const POSITIVE_UP_TO_MAX: &str = "^0*([1-9][0-9]{0,14}|1000000000000000)$";
/// The string form of 0 ..= [`MAX_GRANT_USD_MICROS`].
#[cfg(feature = "openapi")]
const ZERO_UP_TO_MAX: &str = "^0*([0-9]{1,15}|1000000000000000)$";

#[cfg(feature = "openapi")]
fn usd_micros_input_schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
    usd_micros_range_schema(
        1,
        POSITIVE_UP_TO_MAX,
        "Positive whole micro-USD, at most 10^15",
    )
}

/// A non-negative micro-USD figure of at most 10^15 (`softLimitUsdMicros`).
#[cfg(feature = "openapi")]
pub(crate) fn non_negative_usd_micros_schema()
-> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
    usd_micros_range_schema(0, ZERO_UP_TO_MAX, "Whole micro-USD, 0 to 10^15")
}

/// Exactly the values the server accepts, as a decimal string or a JSON integer.
#[cfg(feature = "openapi")]
fn usd_micros_range_schema(
    minimum: i64,
    pattern: &str,
    what: &str,
) -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
    use utoipa::openapi::ObjectBuilder;
    use utoipa::openapi::schema::{OneOfBuilder, Type};
    OneOfBuilder::new()
        .item(
            ObjectBuilder::new()
                .schema_type(Type::String)
                .pattern(Some(pattern)),
        )
        .item(
            ObjectBuilder::new()
                .schema_type(Type::Integer)
                .minimum(Some(minimum))
                .maximum(Some(MAX_GRANT_USD_MICROS)),
        )
        .description(Some(format!(
            "{what}, as a decimal string or a JSON integer"
        )))
        .into()
}

/// `GET A/usage/balance?externalUserId=` and `GET /api/v1/user/usage/balance`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "openapi", serde(deny_unknown_fields))]
#[serde(rename_all = "camelCase")]
pub struct BalanceView {
    /// Active grants minus consumption; negative when usage outran the grants.
    #[cfg_attr(feature = "openapi", schema(value_type = String, pattern = "^-?[0-9]+$"))]
    pub balance_usd_micros: UsdMicros,
    /// Usage valued in USD.
    #[cfg_attr(feature = "openapi", schema(value_type = String, pattern = "^-?[0-9]+$"))]
    pub consumed_usd_micros: UsdMicros,
    /// The integrator's id for the user.
    pub external_user_id: String,
    /// Whether the user may still sign.
    pub has_access: bool,
    /// Everything ever granted.
    #[cfg_attr(feature = "openapi", schema(value_type = String, pattern = "^-?[0-9]+$"))]
    pub lifetime_granted_usd_micros: UsdMicros,
    /// The balance, floored at zero.
    #[cfg_attr(feature = "openapi", schema(value_type = String, pattern = "^[0-9]+$"))]
    pub remaining_usd_micros: UsdMicros,
}
