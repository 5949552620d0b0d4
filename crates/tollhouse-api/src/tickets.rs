//! `POST A/usage/signed-tickets`: usage an integrator's backend reports in the builder-sdk
//! shape, one ticket or `{tickets: […]}` (at most 1000), deduplicated on `(app, requestId)`.

use serde::{Deserialize, Serialize};
use tollhouse_core::money::{UsdMicros, Wei};

/// One signed ticket.
///
/// ```
/// use tollhouse_api::tickets::SignedTicket;
/// use tollhouse_api::{UsdMicros, Wei};
/// let ticket = SignedTicket {
///     fee_wei: Some(Wei::new(200_000_000_000_000)),
///     pipeline: Some("live-video-to-video".into()),
///     ..SignedTicket::new("req-1", "ada", UsdMicros::new(600_000))
/// };
/// assert_eq!(
///     serde_json::to_string(&ticket).unwrap(),
///     r#"{"requestId":"req-1","externalUserId":"ada","networkFeeUsdMicros":"600000","feeWei":"200000000000000","pipeline":"live-video-to-video"}"#
/// );
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct SignedTicket {
    /// The integrator's id for this signing; the dedupe key within the app (1–200 characters).
    #[cfg_attr(feature = "openapi", schema(min_length = 1, max_length = 200))]
    pub request_id: String,
    /// The user who spent it.
    #[cfg_attr(
        feature = "openapi",
        schema(pattern = "^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$")
    )]
    pub external_user_id: String,
    /// The network fee: whole micro-USD, a decimal string (or JSON integer), not negative.
    #[cfg_attr(feature = "openapi", schema(value_type = String, pattern = "^[0-9]{1,18}$"))]
    pub network_fee_usd_micros: UsdMicros,
    /// The fee in wei, a decimal string.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>, pattern = "^[0-9]{1,38}$"))]
    pub fee_wei: Option<Wei>,
    /// Pixels billed: a decimal string (as the builder-sdk sends it) or a JSON integer.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "pixels_text_or_int"
    )]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>, pattern = "^[0-9]{1,18}$"))]
    pub pixels: Option<i64>,
    /// Pipeline (`"<pipeline>:<model>"` is split).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pipeline: Option<String>,
    /// Model id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model_id: Option<String>,
    /// The gateway's request id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gateway_request_id: Option<String>,
    /// The ETH/USD price the fee was valued at (recorded as given), e.g. `"3456.78"`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(max_length = 64))]
    pub eth_usd_price: Option<String>,
    /// The price feed's round id the price came from (recorded as given).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(max_length = 128))]
    pub eth_usd_round_id: Option<String>,
    /// When that price was observed (RFC 3339).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(format = DateTime))]
    pub eth_usd_observed_at: Option<String>,
    /// When it happened (unix milliseconds); default: when it is received.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub occurred_at_ms: Option<i64>,
}

impl SignedTicket {
    /// A ticket with only the required fields.
    pub fn new(
        request_id: impl Into<String>,
        external_user_id: impl Into<String>,
        network_fee: UsdMicros,
    ) -> Self {
        Self {
            request_id: request_id.into(),
            external_user_id: external_user_id.into(),
            network_fee_usd_micros: network_fee,
            fee_wei: None,
            pixels: None,
            pipeline: None,
            model_id: None,
            gateway_request_id: None,
            eth_usd_price: None,
            eth_usd_round_id: None,
            eth_usd_observed_at: None,
            occurred_at_ms: None,
        }
    }
}

/// A batch: `{"tickets": […]}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignedTicketBatch {
    /// 1 to 1000 tickets.
    pub tickets: Vec<SignedTicket>,
}

/// A pixel count sent as a decimal string (the builder-sdk's type) or a JSON integer.
fn pixels_text_or_int<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<i64>, D::Error> {
    /// `Option<pixels>`: `null` or absent is `None`, anything else goes through `text_or_int`.
    struct Pixels(i64);
    impl<'de> Deserialize<'de> for Pixels {
        fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
            tollhouse_core::money::text_or_int(
                d,
                |text| {
                    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
                        return Err("pixels must be a whole number (decimal string or integer)");
                    }
                    text.parse()
                        .map(Pixels)
                        .map_err(|_| "pixels is out of range")
                },
                |n| {
                    i64::try_from(n)
                        .map(Pixels)
                        .map_err(|_| "pixels is out of range")
                },
            )
        }
    }
    Ok(Option::<Pixels>::deserialize(d)?.map(|p| p.0))
}

/// What `POST A/usage/signed-tickets` did: counts over the request, and one result per ticket
/// in request order (the builder-sdk's `ingestSignedTickets` reads `results`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct IngestOutcome {
    /// New tickets stored.
    pub ingested: u64,
    /// Tickets already stored (same `requestId`).
    pub duplicate: u64,
    /// Always `openmeter`: the builder-sdk reports every other value as `disabled` (metering
    /// off); here it means the usage was metered (see `compat/SDK-WIRE.md`).
    #[cfg_attr(feature = "openapi", schema(pattern = "^openmeter$"))]
    pub source: String,
    /// One result per ticket, in request order.
    #[serde(default)]
    pub results: Vec<TicketResult>,
}

/// What became of one ticket of `POST A/usage/signed-tickets`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct TicketResult {
    /// The ticket's `requestId` (without surrounding white space, as stored).
    pub request_id: String,
    /// Always `true`: a ticket that cannot be stored fails the whole request, so none is stored.
    pub ok: bool,
    /// Stored now.
    pub ingested: bool,
    /// Already stored (by an earlier request, or earlier in this one).
    pub duplicate: bool,
    /// Always `openmeter`, as [`IngestOutcome::source`].
    #[cfg_attr(feature = "openapi", schema(pattern = "^openmeter$"))]
    pub source: String,
}

/// The `source` of every answer of `POST A/usage/signed-tickets`.
pub const INGEST_SOURCE: &str = "openmeter";
