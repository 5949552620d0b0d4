//! go-livepeer's usage events (spec: signer-wire.md §3, metering.md "Where usage comes from"),
//! read from the raw bytes of a Kafka message or of one element of a batched HTTP body.
//!
//! ```json
//! { "id": "<uuid>", "type": "create_signed_ticket", "timestamp": "1795426935123",
//!   "gateway": "host", "data": { "auth_id": "app_…:user-1", "computed_fee": "1234", … } }
//! ```
//!
//! Three outcomes, so that nothing is lost silently:
//! - `Ok(Some(ticket))`: a `create_signed_ticket` to store (deduped on [`SignedTicket::event_id`],
//!   never on `request_id`);
//! - `Ok(None)`: another event type (`create_new_payment`, `stream_trace`, …), skipped;
//! - `Err(reason)`: malformed; the raw bytes go to the dead-letter store with
//!   [`EnvelopeError`]'s `Display` as the reason and [`EnvelopeError::code`] as a metrics label.
//!
//! Parsing is lenient where go-livepeer builds differ (unknown fields are ignored, absent or
//! `null` optional fields take their defaults, integers may arrive as digit strings, the envelope
//! `timestamp` may be a JSON number) and strict where a wrong guess would corrupt totals: the fee
//! must be an exact integer, and a known field of the wrong type is an error rather than a
//! silent default.

use crate::bounds::{self, BoundError};
use crate::money::Wei;
use serde_json::{Map, Value};
use uuid::Uuid;

/// The event type Tollhouse meters.
pub const CREATE_SIGNED_TICKET: &str = "create_signed_ticket";

/// Why a usage event was rejected (goes to the dead-letter store with its raw bytes).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EnvelopeError {
    /// The bytes are not JSON (or not UTF-8).
    #[error("not JSON: {0}")]
    NotJson(String),
    /// JSON, but not an object.
    #[error("envelope is not a JSON object")]
    NotAnObject,
    /// No `id` (or `null`).
    #[error("envelope has no id")]
    MissingId,
    /// `id` is not a UUID string.
    #[error("envelope id is not a UUID")]
    IdNotUuid,
    /// No `type` (or an empty or non-string one).
    #[error("envelope has no type")]
    MissingType,
    /// No `timestamp` (or `null`).
    #[error("envelope has no timestamp")]
    MissingTimestamp,
    /// `timestamp` is not non-negative unix milliseconds (a digit string or an integer).
    #[error("envelope timestamp is not unix milliseconds")]
    InvalidTimestamp,
    /// The `data` of a `create_signed_ticket` is not an object.
    #[error("create_signed_ticket data is not a JSON object")]
    DataNotAnObject,
    /// A `create_signed_ticket` without `computed_fee`.
    #[error("create_signed_ticket has no computed_fee")]
    MissingFee,
    /// `computed_fee` is not an exact non-negative integer number of wei.
    #[error("computed_fee is invalid: {0}")]
    InvalidFee(String),
    /// A value outside the bounds every stored event keeps (see [`crate::bounds`]).
    #[error(transparent)]
    OutOfBounds(#[from] BoundError),
    /// A known field of the wrong type or out of range.
    #[error("{field} is not {expected}")]
    InvalidField {
        /// The field, as named on the wire (`data.pixels`, `gateway`, …).
        field: &'static str,
        /// What it should have been.
        expected: &'static str,
    },
}

impl EnvelopeError {
    /// A short stable label for metrics (`dead_letter_total{reason="invalid_fee"}`).
    pub fn code(&self) -> &'static str {
        match self {
            Self::NotJson(_) => "not_json",
            Self::NotAnObject => "not_an_object",
            Self::MissingId => "missing_id",
            Self::IdNotUuid => "invalid_id",
            Self::MissingType => "missing_type",
            Self::MissingTimestamp => "missing_timestamp",
            Self::InvalidTimestamp => "invalid_timestamp",
            Self::DataNotAnObject => "data_not_an_object",
            Self::MissingFee => "missing_fee",
            Self::InvalidFee(_) => "invalid_fee",
            Self::InvalidField { .. } => "invalid_field",
            Self::OutOfBounds(err) => err.code(),
        }
    }
}

/// A go-livepeer event envelope, of any type.
#[derive(Debug, Clone, PartialEq)]
pub struct Envelope {
    /// The event id: the dedupe key. Store it as `id.to_string()` (lowercase hyphenated), so
    /// every spelling of the same UUID dedupes together.
    pub id: Uuid,
    /// The event type (`type` on the wire), e.g. [`CREATE_SIGNED_TICKET`].
    pub kind: String,
    /// When the event was emitted, unix milliseconds (`timestamp`, a string on the wire).
    pub timestamp_ms: i64,
    /// The emitting gateway's host (`""` if absent).
    pub gateway: String,
    /// The type-specific payload (`Null` if absent).
    pub data: Value,
}

impl Envelope {
    /// Whether this is a `create_signed_ticket` event.
    pub fn is_signed_ticket(&self) -> bool {
        self.kind == CREATE_SIGNED_TICKET
    }
}

/// Parses an envelope of any type from raw bytes, checking `id`, `type` and `timestamp`.
pub fn parse_envelope(bytes: &[u8]) -> Result<Envelope, EnvelopeError> {
    parse_envelope_value(json_from_bytes(bytes)?)
}

/// [`parse_envelope`] for an already-parsed JSON value (an element of a batched HTTP body).
pub fn parse_envelope_value(value: Value) -> Result<Envelope, EnvelopeError> {
    let Value::Object(mut object) = value else {
        return Err(EnvelopeError::NotAnObject);
    };
    let kind = envelope_kind(&object)?.to_owned();
    let id = match object.get("id") {
        None | Some(Value::Null) => return Err(EnvelopeError::MissingId),
        Some(Value::String(id)) => Uuid::try_parse(id).map_err(|_| EnvelopeError::IdNotUuid)?,
        Some(_) => return Err(EnvelopeError::IdNotUuid),
    };
    let timestamp_ms = match object.get("timestamp") {
        None | Some(Value::Null) => return Err(EnvelopeError::MissingTimestamp),
        Some(value) => non_negative_int(value).ok_or(EnvelopeError::InvalidTimestamp)?,
    };
    let gateway = string_field(&object, "gateway", "gateway")?.unwrap_or_default();
    let data = object.remove("data").unwrap_or(Value::Null);
    Ok(Envelope {
        id,
        kind,
        timestamp_ms,
        gateway,
        data,
    })
}

/// The one call a consumer needs: `Ok(Some)` for a `create_signed_ticket` to store, `Ok(None)`
/// for any other event type (skipped without validating the rest of its envelope, so a foreign
/// event is never dead-lettered), `Err` for a malformed event.
pub fn parse_usage_event(bytes: &[u8]) -> Result<Option<SignedTicket>, EnvelopeError> {
    usage_event_from_value(json_from_bytes(bytes)?)
}

/// [`parse_usage_event`] for an already-parsed JSON value.
pub fn usage_event_from_value(value: Value) -> Result<Option<SignedTicket>, EnvelopeError> {
    let Value::Object(object) = &value else {
        return Err(EnvelopeError::NotAnObject);
    };
    if envelope_kind(object)? != CREATE_SIGNED_TICKET {
        return Ok(None);
    }
    SignedTicket::from_envelope(&parse_envelope_value(value)?)
}

fn json_from_bytes(bytes: &[u8]) -> Result<Value, EnvelopeError> {
    serde_json::from_slice(bytes).map_err(|err| EnvelopeError::NotJson(err.to_string()))
}

fn envelope_kind(object: &Map<String, Value>) -> Result<&str, EnvelopeError> {
    match object.get("type") {
        Some(Value::String(kind)) if !kind.is_empty() => Ok(kind),
        _ => Err(EnvelopeError::MissingType),
    }
}

/// A non-negative integer given as a JSON integer or a string of digits.
fn non_negative_int(value: &Value) -> Option<i64> {
    match value {
        Value::Number(n) => n.as_i64().filter(|v| *v >= 0),
        Value::String(s) if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) => {
            s.parse().ok()
        }
        _ => None,
    }
}

/// An optional string field: absent or `null` is `None`, another type is an error.
fn string_field(
    object: &Map<String, Value>,
    name: &str,
    wire_name: &'static str,
) -> Result<Option<String>, EnvelopeError> {
    match object.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(_) => Err(EnvelopeError::InvalidField {
            field: wire_name,
            expected: "a string",
        }),
    }
}

/// An optional non-negative integer field (JSON integer or digit string).
fn int_field(
    object: &Map<String, Value>,
    name: &str,
    wire_name: &'static str,
) -> Result<Option<i64>, EnvelopeError> {
    match object.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(value) => non_negative_int(value)
            .map(Some)
            .ok_or(EnvelopeError::InvalidField {
                field: wire_name,
                expected: "a non-negative integer",
            }),
    }
}

/// The fee: an integer decimal string of wei (a JSON integer below 2^64 is accepted too).
fn fee_field(data: &Map<String, Value>) -> Result<Wei, EnvelopeError> {
    match data.get("computed_fee") {
        None | Some(Value::Null) => Err(EnvelopeError::MissingFee),
        Some(Value::String(text)) => {
            Wei::parse(text).map_err(|err| EnvelopeError::InvalidFee(err.to_string()))
        }
        Some(Value::Number(n)) => match (n.as_u64(), n.as_i64()) {
            (Some(wei), _) => Ok(Wei::from(wei)),
            (None, Some(_)) => Err(EnvelopeError::InvalidFee("it is negative".into())),
            // serde_json holds a non-integer, or an integer beyond 2^64, as a float.
            (None, None) => Err(EnvelopeError::InvalidFee(
                "a JSON number that is fractional or beyond 2^64 cannot be read exactly; \
                 expected an integer decimal string of wei"
                    .into(),
            )),
        },
        Some(_) => Err(EnvelopeError::InvalidFee(
            "expected an integer decimal string of wei".into(),
        )),
    }
}

/// Whether `text` is a JSON number without a sign (`5`, `5.000123`, `1e-07`, `2.5E+3`).
fn is_unsigned_json_number(text: &str) -> bool {
    let (mantissa, exponent) = match text.find(['e', 'E']) {
        Some(at) => (&text[..at], Some(&text[at + 1..])),
        None => (text, None),
    };
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    let mantissa_ok = match mantissa.split_once('.') {
        Some((whole, fraction)) => digits(whole) && digits(fraction),
        None => digits(mantissa),
    };
    let exponent_ok = exponent.is_none_or(|e| {
        digits(
            e.strip_prefix('-')
                .or_else(|| e.strip_prefix('+'))
                .unwrap_or(e),
        )
    });
    mantissa_ok && exponent_ok
}

/// `billable_secs` as exact text: a JSON number is kept in its shortest round-trip form (what
/// go-livepeer's float64 encodes to), a numeric string as given; and whether a negative number
/// was clamped to `"0"`.
///
/// go-livepeer (`server/remote_signer.go`, `GenerateLivePayment`) computes
/// `billableSecs := now.Sub(lastUpdate).Seconds()` and raises it only for `lv2v` and `live`
/// payments; for `fixed` and untyped ones a signer whose clock is behind the state's
/// `LastUpdate` (a clock step, another signer's state) sends a negative number with a valid fee.
/// The fee is what is billed, so the event is kept and its seconds counted as none.
fn billable_secs_field(data: &Map<String, Value>) -> Result<(String, bool), EnvelopeError> {
    let invalid = EnvelopeError::InvalidField {
        field: "data.billable_secs",
        expected: "a number",
    };
    match data.get("billable_secs") {
        None | Some(Value::Null) => Ok(("0".into(), false)),
        Some(Value::Number(n)) => {
            let text = n.to_string();
            if text.starts_with('-') {
                Ok(("0".into(), true))
            } else {
                Ok((text, false))
            }
        }
        Some(Value::String(s)) if is_unsigned_json_number(s) => Ok((s.clone(), false)),
        Some(_) => Err(invalid),
    }
}

/// Splits an `auth_id` (`<client id>:<external user id>`) on the **first** `:`; the user part
/// may itself contain `:`. Without a `:` the whole value is taken as the client id and the user
/// is `""`; an empty auth id gives `("", "")` (unattributed). The user part of PymtHouse's
/// payer#actor shapes is the actor ([`hub_actor`]).
pub fn split_auth_id(auth_id: &str) -> (&str, &str) {
    let (client, user) = auth_id.split_once(':').unwrap_or((auth_id, ""));
    (client, hub_actor(user))
}

/// The actor of PymtHouse's `payer#actor` user parts, the shapes its signer webhook put in
/// `auth_id`: `eu_<end-user id>#<external user id>` and `owner:<owner id>#<external user id>`.
/// Usage signed for a hub app that moved here is then attributed to the external user it was
/// for. Any other user part is returned as it is (a Tollhouse external user id never holds a
/// `#`, so no id of ours has either shape).
pub fn hub_actor(user: &str) -> &str {
    let payer_and_actor = user
        .strip_prefix("eu_")
        .or_else(|| user.strip_prefix("owner:"))
        .and_then(|rest| rest.split_once('#'));
    match payer_and_actor {
        Some((payer, actor)) if !payer.is_empty() && !actor.is_empty() => actor,
        _ => user,
    }
}

/// Splits a `pipeline` that some builds send as `"<pipeline>:<model>"` on the first `:`; the
/// model is `""` when absent.
pub fn split_pipeline(pipeline: &str) -> (&str, &str) {
    pipeline.split_once(':').unwrap_or((pipeline, ""))
}

/// One `create_signed_ticket` event: one successful signing by go-livepeer's remote signer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedTicket {
    /// The envelope id: the dedupe key.
    pub event_id: Uuid,
    /// The envelope timestamp, unix ms.
    pub timestamp_ms: i64,
    /// The envelope's gateway host.
    pub gateway: String,
    /// `auth_id` as sent (may be empty: no webhook, or unattributed).
    pub auth_id: String,
    /// The part of `auth_id` before its first `:` (see [`split_auth_id`]).
    pub client_id: String,
    /// The part of `auth_id` after its first `:` (may contain `:`); of PymtHouse's
    /// `payer#actor` shapes, the actor (see [`hub_actor`]).
    pub external_user_id: String,
    /// `computed_fee`: the fee of this signing.
    pub fee: Wei,
    /// The pipeline without any `:<model>` suffix (`live-video-to-video`, `live`, `fixed`, `""`).
    pub pipeline: String,
    /// `model_id` if sent non-empty, else the model from `"<pipeline>:<model>"`, else `""`.
    pub model_id: String,
    /// lv2v pixels billed (0 if absent).
    pub pixels: i64,
    /// Seconds billed, as exact decimal text (`"0"` if absent or negative); see
    /// [`SignedTicket::billable_micros`].
    pub billable_secs: String,
    /// Whether go-livepeer sent a negative `billable_secs` (its clock behind the payment
    /// state's), counted here as 0 s.
    pub billable_secs_clamped: bool,
    /// 8 random hex chars per signing: **not unique**, never a dedupe key.
    pub request_id: String,
    /// Session identifiers (`""` if absent).
    pub session_id: String,
    /// The stream's manifest id.
    pub manifest_id: String,
    /// The probabilistic-micropayment session id.
    pub pm_session_id: String,
    /// The `app` the gateway named.
    pub app: String,
    /// The orchestrator's address.
    pub orch_address: String,
    /// The orchestrator's URL.
    pub orch_url: String,
    /// A gateway-assigned request id, when the gateway adds one (empty is treated as absent).
    pub gateway_request_id: Option<String>,
    /// `current_time_unix`: the signing time, unix ms.
    pub current_time_unix_ms: Option<i64>,
    /// `sequence_number` (0 if absent).
    pub sequence_number: i64,
    /// `num_tickets` (0 if absent).
    pub num_tickets: i64,
}

impl SignedTicket {
    /// The ticket carried by `envelope`: `Ok(None)` for any other event type, an error for a
    /// malformed `create_signed_ticket`.
    pub fn from_envelope(envelope: &Envelope) -> Result<Option<Self>, EnvelopeError> {
        if !envelope.is_signed_ticket() {
            return Ok(None);
        }
        let Value::Object(data) = &envelope.data else {
            return Err(EnvelopeError::DataNotAnObject);
        };
        let text = |name: &str, wire: &'static str| {
            string_field(data, name, wire).map(Option::unwrap_or_default)
        };
        let int =
            |name: &str, wire: &'static str| int_field(data, name, wire).map(|v| v.unwrap_or(0));
        let fee = fee_field(data)?;
        let auth_id = text("auth_id", "data.auth_id")?;
        let (client_id, external_user_id) = split_auth_id(&auth_id);
        let raw_pipeline = text("pipeline", "data.pipeline")?;
        let (pipeline, embedded_model) = split_pipeline(&raw_pipeline);
        let model_id = match text("model_id", "data.model_id")? {
            model if !model.is_empty() => model,
            _ => embedded_model.to_owned(),
        };
        let (billable_secs, billable_secs_clamped) = billable_secs_field(data)?;
        let ticket = Self {
            event_id: envelope.id,
            timestamp_ms: envelope.timestamp_ms,
            gateway: envelope.gateway.clone(),
            client_id: client_id.to_owned(),
            external_user_id: external_user_id.to_owned(),
            fee,
            pipeline: pipeline.to_owned(),
            model_id,
            pixels: int("pixels", "data.pixels")?,
            billable_secs,
            billable_secs_clamped,
            request_id: text("request_id", "data.request_id")?,
            session_id: text("session_id", "data.session_id")?,
            manifest_id: text("manifest_id", "data.manifest_id")?,
            pm_session_id: text("pm_session_id", "data.pm_session_id")?,
            app: text("app", "data.app")?,
            orch_address: text("orch_address", "data.orch_address")?,
            orch_url: text("orch_url", "data.orch_url")?,
            gateway_request_id: string_field(
                data,
                "gateway_request_id",
                "data.gateway_request_id",
            )?
            .filter(|id| !id.is_empty()),
            current_time_unix_ms: int_field(data, "current_time_unix", "data.current_time_unix")?,
            sequence_number: int("sequence_number", "data.sequence_number")?,
            num_tickets: int("num_tickets", "data.num_tickets")?,
            auth_id,
        };
        ticket.check_bounds()?;
        Ok(Some(ticket))
    }

    /// The per-event bounds of [`crate::bounds`] on what is stored of this event: its fee,
    /// pixels, time and text fields. (Its value is bounded once it is priced.)
    fn check_bounds(&self) -> Result<(), BoundError> {
        bounds::check_fee(self.fee)?;
        bounds::check_pixels(self.pixels)?;
        bounds::check_time(self.timestamp_ms)?;
        for (field, text) in [
            ("data.auth_id", self.auth_id.as_str()),
            ("data.pipeline", &self.pipeline),
            ("data.model_id", &self.model_id),
            ("data.manifest_id", &self.manifest_id),
            ("data.request_id", &self.request_id),
            ("data.billable_secs", &self.billable_secs),
            (
                "data.gateway_request_id",
                self.gateway_request_id.as_deref().unwrap_or(""),
            ),
        ] {
            bounds::check_text(field, text)?;
        }
        Ok(())
    }

    /// [`SignedTicket::billable_secs`] in whole microseconds, rounded half up, for summing in
    /// integer columns; `None` if it does not fit an `i64` or has more than 38 digits (go-livepeer's
    /// float64 never has more than 17).
    pub fn billable_micros(&self) -> Option<i64> {
        decimal_to_micros(&self.billable_secs)
    }
}

/// An unsigned JSON-number text (`5.000123`, `1e-07`) as whole millionths, rounded half up.
fn decimal_to_micros(text: &str) -> Option<i64> {
    if !is_unsigned_json_number(text) {
        return None;
    }
    let (mantissa, exponent) = match text.find(['e', 'E']) {
        Some(at) => (&text[..at], text[at + 1..].parse::<i64>().ok()?),
        None => (text, 0),
    };
    let (whole, fraction) = mantissa.split_once('.').unwrap_or((mantissa, ""));
    // value = digits · 10^(exponent - fraction.len()); in millionths: shift by 6 more.
    let mut digits: u128 = 0;
    for byte in whole.bytes().chain(fraction.bytes()) {
        digits = digits
            .checked_mul(10)?
            .checked_add(u128::from(byte - b'0'))?;
    }
    let shift = exponent
        .checked_add(6)?
        .checked_sub(fraction.len() as i64)?;
    let micros = if digits == 0 {
        0
    } else if shift >= 0 {
        digits.checked_mul(10u128.checked_pow(u32::try_from(shift).ok()?)?)?
    } else {
        match 10u128.checked_pow(u32::try_from(-shift).ok()?) {
            // Half up: (digits + divisor/2) / divisor, without overflowing.
            Some(divisor) => digits / divisor + u128::from(digits % divisor >= divisor.div_ceil(2)),
            // divisor beyond 2^128 > digits: far below half a microsecond.
            None => 0,
        }
    };
    i64::try_from(micros).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    type TestResult = Result<(), Box<dyn std::error::Error>>;
    use serde_json::json;

    const ID: &str = "6f1c1f0e-2b7e-4b8a-9a51-3f0d2c1e9b77";

    /// A `create_signed_ticket` as go-livepeer's `monitor/kafka.go` emits it.
    fn ticket_envelope() -> Value {
        json!({
            "id": ID,
            "type": "create_signed_ticket",
            "timestamp": "1795426935123",
            "gateway": "gw-1.example",
            "data": {
                "auth_id": "app_0123456789abcdef01234567:user-1",
                "computed_fee": "123456789012345",
                "session_balance": "500",
                "pipeline": "live-video-to-video",
                "pixels": 39_321_600,
                "billable_secs": 5.000123,
                "request_id": "1a2b3c4d",
                "session_id": "a1b2c3d4",
                "manifest_id": "manifest-7",
                "pm_session_id": "0x5f1e4ab0c0ffee00000000000000000000000000000000000000000000000001",
                "app": "",
                "orch_address": "0x9c7e6f4a8b1d2c3e4f5a6b7c8d9e0f1a2b3c4d5e",
                "orch_url": "https://orch-1.example:8935",
                "cost": "0.0000012000",
                "current_time": "2026-11-23T10:02:15Z",
                "previous_time": "2026-11-23T10:02:10Z",
                "current_time_unix": 1_795_426_935_000_i64,
                "previous_time_unix": 1_795_426_930_000_i64,
                "sequence_number": 3,
                "num_tickets": 1,
                "session_status": "continuing"
            }
        })
    }

    fn bytes(value: &Value) -> Vec<u8> {
        value.to_string().into_bytes()
    }

    fn with_data(field: &str, value: Value) -> Value {
        let mut envelope = ticket_envelope();
        envelope["data"][field] = value;
        envelope
    }

    fn without_data(field: &str) -> Value {
        let mut envelope = ticket_envelope();
        if let Some(data) = envelope["data"].as_object_mut() {
            data.remove(field);
        }
        envelope
    }

    fn ticket(value: &Value) -> Result<SignedTicket, Box<dyn std::error::Error>> {
        Ok(parse_usage_event(&bytes(value))?.ok_or("skipped")?)
    }

    fn error(value: &Value) -> Result<EnvelopeError, &'static str> {
        parse_usage_event(&bytes(value))
            .err()
            .ok_or("expected an error")
    }

    #[test]
    fn a_realistic_signed_ticket_is_read_whole() -> TestResult {
        let t = ticket(&ticket_envelope())?;
        assert_eq!(
            t,
            SignedTicket {
                event_id: Uuid::try_parse(ID)?,
                timestamp_ms: 1_795_426_935_123,
                gateway: "gw-1.example".into(),
                auth_id: "app_0123456789abcdef01234567:user-1".into(),
                client_id: "app_0123456789abcdef01234567".into(),
                external_user_id: "user-1".into(),
                fee: Wei::new(123_456_789_012_345),
                pipeline: "live-video-to-video".into(),
                model_id: String::new(),
                pixels: 39_321_600,
                billable_secs: "5.000123".into(),
                billable_secs_clamped: false,
                request_id: "1a2b3c4d".into(),
                session_id: "a1b2c3d4".into(),
                manifest_id: "manifest-7".into(),
                pm_session_id: "0x5f1e4ab0c0ffee00000000000000000000000000000000000000000000000001"
                    .into(),
                app: String::new(),
                orch_address: "0x9c7e6f4a8b1d2c3e4f5a6b7c8d9e0f1a2b3c4d5e".into(),
                orch_url: "https://orch-1.example:8935".into(),
                gateway_request_id: None,
                current_time_unix_ms: Some(1_795_426_935_000),
                sequence_number: 3,
                num_tickets: 1,
            }
        );
        assert_eq!(t.billable_micros(), Some(5_000_123));
        // The two-step API gives the same ticket.
        let envelope = parse_envelope(&bytes(&ticket_envelope()))?;
        assert!(envelope.is_signed_ticket());
        assert_eq!(envelope.id.to_string(), ID);
        assert_eq!(SignedTicket::from_envelope(&envelope)?, Some(t));
        Ok(())
    }

    #[test]
    fn other_event_types_are_skipped_not_rejected() -> TestResult {
        for kind in [
            "create_new_payment",
            "stream_trace",
            "ai_stream_events",
            "discovery_results",
            "something_new",
        ] {
            let mut envelope = ticket_envelope();
            envelope["type"] = json!(kind);
            assert_eq!(parse_usage_event(&bytes(&envelope)), Ok(None), "{kind}");
            let parsed = parse_envelope(&bytes(&envelope))?;
            assert_eq!(SignedTicket::from_envelope(&parsed), Ok(None));
            // Even with a payload and envelope Tollhouse would not accept for a ticket.
            let odd = json!({"type": kind, "id": 42, "data": "x"});
            assert_eq!(parse_usage_event(&bytes(&odd)), Ok(None), "{kind}");
        }
        let trace = json!({"id": ID, "type": "stream_trace", "timestamp": "1", "data": [1, 2]});
        let parsed = parse_envelope(&bytes(&trace))?;
        assert_eq!(parsed.data, json!([1, 2]));
        assert_eq!(parsed.gateway, "");
        assert!(!parsed.is_signed_ticket());
        Ok(())
    }

    #[test]
    fn malformed_bytes_are_rejected_with_a_reason() -> TestResult {
        for raw in [
            &b""[..],
            b"not json",
            b"{\"id\":",
            b"\xff\xfe{}",
            b"{} trailing",
        ] {
            let err = parse_usage_event(raw).err().ok_or("expected an error")?;
            assert!(matches!(err, EnvelopeError::NotJson(_)), "{raw:?}: {err:?}");
            assert!(err.to_string().starts_with("not JSON: "));
            assert_eq!(err.code(), "not_json");
            assert!(matches!(
                parse_envelope(raw),
                Err(EnvelopeError::NotJson(_))
            ));
        }
        for raw in [&b"[]"[..], b"\"create_signed_ticket\"", b"42", b"null"] {
            assert_eq!(parse_usage_event(raw), Err(EnvelopeError::NotAnObject));
            assert_eq!(parse_envelope(raw), Err(EnvelopeError::NotAnObject));
        }
        Ok(())
    }

    #[test]
    fn envelope_fields_are_checked() -> TestResult {
        let with = |key: &str, value: Value| {
            let mut envelope = ticket_envelope();
            envelope[key] = value;
            envelope
        };
        let without = |key: &str| {
            let mut envelope = ticket_envelope();
            if let Some(object) = envelope.as_object_mut() {
                object.remove(key);
            }
            envelope
        };
        assert_eq!(error(&without("id"))?, EnvelopeError::MissingId);
        assert_eq!(error(&with("id", Value::Null))?, EnvelopeError::MissingId);
        for bad in [
            json!("1a2b3c4d"),
            json!(""),
            json!(12),
            json!("6f1c1f0e-2b7e-4b8a-9a51"),
        ] {
            assert_eq!(error(&with("id", bad))?, EnvelopeError::IdNotUuid);
        }
        assert_eq!(error(&without("type"))?, EnvelopeError::MissingType);
        assert_eq!(error(&with("type", json!("")))?, EnvelopeError::MissingType);
        assert_eq!(error(&with("type", json!(7)))?, EnvelopeError::MissingType);
        assert_eq!(
            error(&without("timestamp"))?,
            EnvelopeError::MissingTimestamp
        );
        for bad in [
            json!("-5"),
            json!("1.5e12"),
            json!(""),
            json!(1.5),
            json!(-1),
            json!(true),
        ] {
            assert_eq!(
                error(&with("timestamp", bad))?,
                EnvelopeError::InvalidTimestamp
            );
        }
        assert_eq!(
            error(&with("gateway", json!(5)))?,
            EnvelopeError::InvalidField {
                field: "gateway",
                expected: "a string"
            }
        );
        assert_eq!(error(&without("data"))?, EnvelopeError::DataNotAnObject);
        assert_eq!(
            error(&with("data", json!("{}")))?,
            EnvelopeError::DataNotAnObject
        );
        assert_eq!(
            EnvelopeError::IdNotUuid.to_string(),
            "envelope id is not a UUID"
        );
        Ok(())
    }

    #[test]
    fn lenient_where_builds_differ() -> TestResult {
        // timestamp as a JSON number, gateway absent, unknown fields anywhere.
        let mut envelope = ticket_envelope();
        envelope["timestamp"] = json!(1_795_426_935_123_i64);
        if let Some(object) = envelope.as_object_mut() {
            object.remove("gateway");
        }
        envelope["extra"] = json!({"nested": true});
        envelope["data"]["brand_new_field"] = json!([1, 2, 3]);
        let t = ticket(&envelope)?;
        assert_eq!(t.timestamp_ms, 1_795_426_935_123);
        assert_eq!(t.gateway, "");
        // Uppercase and unhyphenated ids name the same event.
        let mut upper = ticket_envelope();
        upper["id"] = json!(ID.to_uppercase());
        assert_eq!(ticket(&upper)?.event_id.to_string(), ID);
        let mut simple = ticket_envelope();
        simple["id"] = json!(ID.replace('-', ""));
        assert_eq!(ticket(&simple)?.event_id.to_string(), ID);
        // Integers as digit strings; absent and null optional fields default.
        let t = ticket(&with_data("pixels", json!("1024")))?;
        assert_eq!(t.pixels, 1024);
        let mut sparse = json!({"id": ID, "type": "create_signed_ticket", "timestamp": "1795426935123",
            "data": {"computed_fee": "1", "pipeline": null, "gateway_request_id": ""}});
        let t = ticket(&sparse)?;
        assert_eq!(
            (
                t.pixels,
                t.sequence_number,
                t.num_tickets,
                t.current_time_unix_ms
            ),
            (0, 0, 0, None)
        );
        assert_eq!((t.pipeline.as_str(), t.model_id.as_str()), ("", ""));
        assert_eq!(t.billable_secs, "0");
        assert_eq!(t.gateway_request_id, None, "empty is absent");
        assert_eq!(
            (t.client_id.as_str(), t.external_user_id.as_str()),
            ("", "")
        );
        sparse["data"]["gateway_request_id"] = json!("gw-req-9");
        assert_eq!(
            ticket(&sparse)?.gateway_request_id.as_deref(),
            Some("gw-req-9")
        );
        Ok(())
    }

    #[test]
    fn wrong_types_in_known_fields_are_errors_not_defaults() -> TestResult {
        assert_eq!(
            error(&with_data("pixels", json!(1.5)))?,
            EnvelopeError::InvalidField {
                field: "data.pixels",
                expected: "a non-negative integer"
            }
        );
        assert_eq!(
            error(&with_data("pixels", json!(-1)))?.code(),
            "invalid_field"
        );
        assert_eq!(
            error(&with_data("num_tickets", json!("two")))?.to_string(),
            "data.num_tickets is not a non-negative integer"
        );
        assert_eq!(
            error(&with_data("auth_id", json!(["a", "b"])))?.to_string(),
            "data.auth_id is not a string"
        );
        assert_eq!(
            error(&with_data("billable_secs", json!("five")))?.to_string(),
            "data.billable_secs is not a number"
        );
        let mut not_object = ticket_envelope();
        not_object["data"] = json!([1]);
        assert_eq!(error(&not_object)?, EnvelopeError::DataNotAnObject);
        Ok(())
    }

    #[test]
    fn the_fee_is_exact_or_rejected() -> TestResult {
        assert_eq!(
            error(&without_data("computed_fee"))?,
            EnvelopeError::MissingFee
        );
        assert_eq!(
            error(&with_data("computed_fee", Value::Null))?,
            EnvelopeError::MissingFee
        );
        assert_eq!(
            EnvelopeError::MissingFee.to_string(),
            "create_signed_ticket has no computed_fee"
        );
        // Above 2^64 and at the bound, as strings: exact.
        for fee in [
            "18446744073709551616",
            "1000000000000000000000000",
            "0",
            "000042",
        ] {
            let t = ticket(&with_data("computed_fee", json!(fee)))?;
            assert_eq!(t.fee, Wei::parse(fee)?);
        }
        // Above the bound one event may carry (2^100, 2^128 - 1): read exactly, then refused.
        for fee in [
            "1000000000000000000000001",
            "1267650600228229401496703205376",
            "340282366920938463463374607431768211455",
        ] {
            assert_eq!(
                error(&with_data("computed_fee", json!(fee)))?,
                EnvelopeError::OutOfBounds(BoundError::FeeTooLarge(Wei::parse(fee)?))
            );
        }
        // As a JSON integer that fits u64: exact too.
        assert_eq!(
            ticket(&with_data("computed_fee", json!(u64::MAX)))?.fee,
            Wei::from(u64::MAX)
        );
        // A JSON number beyond 2^64 arrives as a float: refuse to guess.
        let raw = br#"{"id":"6f1c1f0e-2b7e-4b8a-9a51-3f0d2c1e9b77","type":"create_signed_ticket",
            "timestamp":"1","data":{"computed_fee":18446744073709551616}}"#;
        let err = parse_usage_event(raw).err().ok_or("expected an error")?;
        assert_eq!(err.code(), "invalid_fee");
        assert!(err.to_string().contains("cannot be read exactly"), "{err}");
        for (bad, reason) in [
            (json!("1.5"), "not a decimal integer"),
            (json!("1e18"), "not a decimal integer"),
            (json!("-1"), "not a decimal integer"),
            (json!(" 1"), "not a decimal integer"),
            (json!(""), "empty"),
            (json!("340282366920938463463374607431768211456"), "2^128"),
            (json!(1.5), "cannot be read exactly"),
            (json!(-1), "negative"),
            (json!(true), "expected an integer decimal string"),
            (json!({"wei": "1"}), "expected an integer decimal string"),
        ] {
            let err = error(&with_data("computed_fee", bad.clone()))?;
            assert!(
                matches!(&err, EnvelopeError::InvalidFee(r) if r.contains(reason)),
                "{bad}: {err}"
            );
            assert!(err.to_string().starts_with("computed_fee is invalid: "));
        }
        Ok(())
    }

    #[test]
    fn pipeline_model_strings_are_split() -> TestResult {
        let t = ticket(&with_data(
            "pipeline",
            json!("live-video-to-video:streamdiffusion"),
        ))?;
        assert_eq!(t.pipeline, "live-video-to-video");
        assert_eq!(t.model_id, "streamdiffusion");
        let t = ticket(&with_data("pipeline", json!("llm:ollama:llama3:8b")))?;
        assert_eq!(
            (t.pipeline.as_str(), t.model_id.as_str()),
            ("llm", "ollama:llama3:8b")
        );
        // An explicit model_id wins; an empty one does not erase the embedded model.
        let mut both = with_data("pipeline", json!("live-video-to-video:embedded"));
        both["data"]["model_id"] = json!("explicit");
        assert_eq!(ticket(&both)?.model_id, "explicit");
        both["data"]["model_id"] = json!("");
        assert_eq!(ticket(&both)?.model_id, "embedded");
        let t = ticket(&with_data("model_id", json!("stabilityai/sd-turbo")))?;
        assert_eq!(
            (t.pipeline.as_str(), t.model_id.as_str()),
            ("live-video-to-video", "stabilityai/sd-turbo")
        );
        for plain in ["live", "fixed", ""] {
            let t = ticket(&with_data("pipeline", json!(plain)))?;
            assert_eq!((t.pipeline.as_str(), t.model_id.as_str()), (plain, ""));
        }
        assert_eq!(split_pipeline("a:"), ("a", ""));
        Ok(())
    }

    #[test]
    fn auth_ids_split_on_the_first_colon() -> TestResult {
        let t = ticket(&with_data("auth_id", json!("")))?;
        assert_eq!(
            (
                t.auth_id.as_str(),
                t.client_id.as_str(),
                t.external_user_id.as_str()
            ),
            ("", "", "")
        );
        let t = ticket(&with_data("auth_id", json!("app_x:did:pkh:eip155:1:0xabc")))?;
        assert_eq!(t.client_id, "app_x");
        assert_eq!(t.external_user_id, "did:pkh:eip155:1:0xabc");
        assert_eq!(t.auth_id, "app_x:did:pkh:eip155:1:0xabc");
        let t = ticket(&without_data("auth_id"))?;
        assert_eq!(
            (t.client_id.as_str(), t.external_user_id.as_str()),
            ("", "")
        );
        assert_eq!(split_auth_id("app_only"), ("app_only", ""));
        // PymtHouse's payer#actor shapes name the actor.
        assert_eq!(split_auth_id("app_x:eu_7f3a#alice"), ("app_x", "alice"));
        assert_eq!(split_auth_id("app_x:owner:42#bob.b"), ("app_x", "bob.b"));
        assert_eq!(
            split_auth_id("app_x:eu_7f3a#carol:dave"),
            ("app_x", "carol:dave")
        );
        for as_is in [
            "eu_#x",
            "eu_7f3a#",
            "owner:#x",
            "eu_7f3a",
            "euX_1#y",
            "owner42#z",
            "user:1#z",
        ] {
            assert_eq!(split_auth_id(&format!("app_x:{as_is}")), ("app_x", as_is));
        }
        assert_eq!(split_auth_id("app:"), ("app", ""));
        assert_eq!(split_auth_id(":user"), ("", "user"));
        Ok(())
    }

    #[test]
    fn billable_secs_stay_exact_text() -> TestResult {
        for (sent, kept, micros) in [
            (json!(5), "5", Some(5_000_000)),
            (json!(5.000123), "5.000123", Some(5_000_123)),
            (json!(0.1), "0.1", Some(100_000)),
            (json!(1e-7), "1e-7", Some(0)),
            (json!("1e-07"), "1e-07", Some(0)),
            (json!("0.0000005"), "0.0000005", Some(1)),
            (json!("0.0000004999"), "0.0000004999", Some(0)),
            (json!("2.5E+3"), "2.5E+3", Some(2_500_000_000)),
            (
                json!("123456789.1234567"),
                "123456789.1234567",
                Some(123_456_789_123_457),
            ),
            (json!("1e400"), "1e400", None),
            (json!("0e400"), "0e400", Some(0)),
            (json!("5e-400"), "5e-400", Some(0)),
        ] {
            let t = ticket(&with_data("billable_secs", sent.clone()))?;
            assert_eq!(t.billable_secs, kept, "{sent}");
            assert_eq!(t.billable_micros(), micros, "{sent}");
        }
        // A string is not what go-livepeer sends: only a well-formed unsigned one is read.
        for bad in ["", ".5", "5.", "-1", "+1", "1e", "1e+", "NaN", "0x1", " 1"] {
            assert_eq!(
                error(&with_data("billable_secs", json!(bad)))?.code(),
                "invalid_field",
                "{bad:?}"
            );
        }
        Ok(())
    }

    #[test]
    fn a_negative_number_of_seconds_is_clamped_and_the_fee_kept() -> TestResult {
        // What go-livepeer's `encoding/json` writes for a negative float64 of a `fixed` or
        // untyped payment whose signer clock is behind `LastUpdate`.
        for sent in [json!(-0.5), json!(-1.5e-7), json!(-3600), json!(-0.0)] {
            let t = ticket(&with_data("billable_secs", sent.clone()))?;
            assert_eq!(t.billable_secs, "0", "{sent}");
            assert_eq!(t.billable_micros(), Some(0), "{sent}");
            assert_eq!(t.fee, Wei::new(123_456_789_012_345), "{sent}");
            assert_eq!(
                t.billable_secs_clamped,
                sent.as_f64().is_some_and(|v| v.is_sign_negative()),
                "{sent}"
            );
        }
        let t = ticket(&with_data("billable_secs", json!(2.5)))?;
        assert!(!t.billable_secs_clamped);
        Ok(())
    }

    #[test]
    fn batched_values_parse_one_by_one() -> TestResult {
        let batch = json!([
            ticket_envelope(),
            {"id": ID, "type": "stream_trace", "timestamp": "1"},
            {"type": "create_signed_ticket"},
        ]);
        let results: Vec<_> = batch
            .as_array()
            .ok_or("not an array")?
            .iter()
            .cloned()
            .map(usage_event_from_value)
            .collect();
        assert!(matches!(results[0], Ok(Some(_))));
        assert_eq!(results[1], Ok(None));
        assert_eq!(results[2], Err(EnvelopeError::MissingId));
        Ok(())
    }
}
