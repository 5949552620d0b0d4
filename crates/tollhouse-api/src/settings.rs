//! An app's billing settings: `GET`/`PATCH A/settings` (what `tollhouse app set` changes).

use serde::{Deserialize, Serialize};
use tollhouse_core::money::UsdMicros;

/// Whether an app's users are gated on their prepaid balance.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum BillingMode {
    /// Usage is metered; nobody is stopped.
    #[default]
    None,
    /// Users need a balance above the soft limit to sign or to get a signer credential.
    Prepaid,
}

impl BillingMode {
    /// The wire name.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::None => "none",
            Self::Prepaid => "prepaid",
        }
    }
}

/// The app's billing settings.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "openapi", serde(deny_unknown_fields))]
#[serde(rename_all = "camelCase")]
pub struct Settings {
    /// `none` (meter only) or `prepaid` (users need a balance).
    pub billing_mode: BillingMode,
    /// How far below zero a balance may go, micro-USD.
    #[cfg_attr(feature = "openapi", schema(value_type = String, pattern = "^[0-9]+$"))]
    pub soft_limit_usd_micros: UsdMicros,
    /// Seconds between balance re-checks of a running stream.
    pub balance_recheck_secs: i64,
    /// Whether an unreadable balance lets payments through.
    pub billing_fail_open: bool,
    /// Where the app's backend signs a device-flow user in: the device verification page
    /// sends the user to it with `user_code` and `client_id` (absent: not set up).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub initiate_login_uri: Option<String>,
}

/// Body of `PATCH A/settings`: only the fields given change.
///
/// ```
/// use tollhouse_api::settings::{BillingMode, SettingsPatch};
/// use tollhouse_api::UsdMicros;
/// let patch = SettingsPatch {
///     billing_mode: Some(BillingMode::Prepaid),
///     soft_limit_usd_micros: Some(UsdMicros::ZERO),
///     ..SettingsPatch::default()
/// };
/// assert_eq!(
///     serde_json::to_string(&patch).unwrap(),
///     r#"{"billingMode":"prepaid","softLimitUsdMicros":"0"}"#
/// );
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct SettingsPatch {
    /// `none` or `prepaid`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub billing_mode: Option<BillingMode>,
    /// Micro-USD, 0 or more: a decimal string (as sent) or a JSON integer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(schema_with = crate::allowances::non_negative_usd_micros_schema))]
    pub soft_limit_usd_micros: Option<UsdMicros>,
    /// 1 to 3600.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(minimum = 1, maximum = 3600))]
    pub balance_recheck_secs: Option<i64>,
    /// Let payments through when the balance cannot be read.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub billing_fail_open: Option<bool>,
    /// An absolute `https` URL (`http` only for `localhost` and loopback addresses), at most
    /// 2048 characters, without a fragment; `null` removes it.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "present_or_null"
    )]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>, max_length = 2048))]
    pub initiate_login_uri: Option<Option<String>>,
}

/// A field that is set (`Some(Some(v))`) or cleared with `null` (`Some(None)`); absent fields
/// stay `None` through `#[serde(default)]`.
fn present_or_null<'de, D: serde::Deserializer<'de>>(
    d: D,
) -> Result<Option<Option<String>>, D::Error> {
    Option::<String>::deserialize(d).map(Some)
}
