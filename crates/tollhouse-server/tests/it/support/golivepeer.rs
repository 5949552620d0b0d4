//! A test double for go-livepeer, the remote signer ("DMZ") and gateway that Tollhouse talks to.
//!
//! Everything here mirrors go-livepeer's source (`server/remote_signer.go`, `server/auth.go`,
//! `server/ai_mediaserver.go`, `cmd/livepeer/starter/starter.go`), not our reading of the spec:
//!
//! * [`webhook_body`] produces the identity-webhook body byte for byte as Go's `encoding/json`
//!   marshals `generateLivePaymentWebhookBody{Headers: r.Header, State: state}`.
//! * [`parse_static_headers`] splits `-remoteSignerWebhookHeaders` the way the starter does.
//! * [`call_identity_webhook`] sends the webhook request the way the signer's `http.Client` does.
//! * [`interpret_webhook_answer`] decides what the signer does with the answer (`authLivePayment`
//!   and the code after it in `GenerateLivePayment`).
//! * [`call_live_ai_auth`] sends the gateway's `-liveAIAuthWebhookUrl` request.
//! * [`FakeSigner`] is a real HTTP server playing the signer's endpoints, scriptable per test, and
//!   optionally calling an identity webhook exactly like the real signer.

// go-livepeer stamps its payment state with its own wall clock (time.Now()), not ours.
#![allow(clippy::disallowed_methods)]
#![allow(dead_code)]

use base64::Engine as _;
use serde::Deserialize;
use std::collections::{BTreeMap, VecDeque};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

// ------------------------------------------------------------------------------------------------
// Go encoding/json, the parts the signer uses
// ------------------------------------------------------------------------------------------------

/// Appends `s` as a JSON string the way Go's `encoding/json` writes it with HTML escaping on (the
/// default of `json.Marshal` and `json.NewEncoder`): `<`, `>`, `&` become `\u003c`, `\u003e`,
/// `\u0026`; U+2028/U+2029 become `\u2028`/`\u2029`; control characters use `\n`, `\r`, `\t`,
/// `\b`, `\f` (Go ≥ 1.22) or `\u00xx` with lowercase hex; each byte of invalid UTF-8 becomes
/// `\ufffd`; everything else (including DEL and non-ASCII) is written raw.
pub fn go_quote_into(out: &mut Vec<u8>, s: &[u8]) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    out.push(b'"');
    let mut i = 0;
    while i < s.len() {
        let b = s[i];
        if b < 0x80 {
            match b {
                b'"' => out.extend_from_slice(b"\\\""),
                b'\\' => out.extend_from_slice(b"\\\\"),
                b'\n' => out.extend_from_slice(b"\\n"),
                b'\r' => out.extend_from_slice(b"\\r"),
                b'\t' => out.extend_from_slice(b"\\t"),
                0x08 => out.extend_from_slice(b"\\b"),
                0x0c => out.extend_from_slice(b"\\f"),
                b'<' | b'>' | b'&' | 0x00..=0x1f => {
                    out.extend_from_slice(b"\\u00");
                    out.push(HEX[usize::from(b >> 4)]);
                    out.push(HEX[usize::from(b & 0xf)]);
                }
                _ => out.push(b),
            }
            i += 1;
            continue;
        }
        match first_rune(&s[i..]) {
            Some(('\u{2028}', n)) => {
                out.extend_from_slice(b"\\u2028");
                i += n;
            }
            Some(('\u{2029}', n)) => {
                out.extend_from_slice(b"\\u2029");
                i += n;
            }
            Some((_, n)) => {
                out.extend_from_slice(&s[i..i + n]);
                i += n;
            }
            // Go's utf8.DecodeRune yields (RuneError, 1): one `\ufffd` per bad byte.
            None => {
                out.extend_from_slice(b"\\ufffd");
                i += 1;
            }
        }
    }
    out.push(b'"');
}

/// `s` as a Go-encoded JSON string (see [`go_quote_into`]).
pub fn go_json_string(s: &str) -> String {
    let mut out = Vec::new();
    go_quote_into(&mut out, s.as_bytes());
    String::from_utf8_lossy(&out).into_owned()
}

/// The first UTF-8 scalar of `s` and its length, or `None` if `s` does not start with one.
fn first_rune(s: &[u8]) -> Option<(char, usize)> {
    let end = s.len().min(4);
    let valid = match std::str::from_utf8(&s[..end]) {
        Ok(v) => v,
        Err(e) if e.valid_up_to() > 0 => std::str::from_utf8(&s[..e.valid_up_to()]).ok()?,
        Err(_) => return None,
    };
    let c = valid.chars().next()?;
    Some((c, c.len_utf8()))
}

/// Encodes a `serde_json::Value` the way Go encodes the equivalent `interface{}` value: object
/// keys sorted (Go sorts map keys), strings per [`go_quote_into`], floats without a trailing
/// `.0` and with Go's exponent style (`1e-7`, `1e+21`).
pub fn go_json_value_into(out: &mut Vec<u8>, v: &serde_json::Value) {
    use serde_json::Value;
    match v {
        Value::Null => out.extend_from_slice(b"null"),
        Value::Bool(b) => out.extend_from_slice(if *b { b"true" } else { b"false" }),
        Value::Number(n) => {
            if let Some(f) = n.as_f64().filter(|_| n.is_f64()) {
                out.extend_from_slice(go_float(f).as_bytes());
            } else {
                out.extend_from_slice(n.to_string().as_bytes());
            }
        }
        Value::String(s) => go_quote_into(out, s.as_bytes()),
        Value::Array(items) => {
            out.push(b'[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                go_json_value_into(out, item);
            }
            out.push(b']');
        }
        Value::Object(map) => {
            let sorted: BTreeMap<&String, &Value> = map.iter().collect();
            out.push(b'{');
            for (i, (k, item)) in sorted.into_iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                go_quote_into(out, k.as_bytes());
                out.push(b':');
                go_json_value_into(out, item);
            }
            out.push(b'}');
        }
    }
}

fn go_float(f: f64) -> String {
    let abs = f.abs();
    if abs != 0.0 && !(1e-6..1e21).contains(&abs) {
        // Go: strconv 'e' format, then "e-09" cleaned to "e-9"; positive exponents keep '+'.
        let s = format!("{f:e}");
        match s.split_once('e') {
            Some((mant, exp)) if !exp.starts_with('-') => format!("{mant}e+{exp}"),
            _ => s,
        }
    } else if f.fract() == 0.0 {
        format!("{f:.0}")
    } else {
        format!("{f}")
    }
}

/// Go's `textproto.CanonicalMIMEHeaderKey`: the first letter and every letter after `-` upper
/// case, the rest lower case; returned unchanged if it holds a byte that is not an RFC 7230 token
/// character (space, `:`, non-ASCII, ...).
pub fn canonical_mime_header_key(key: &str) -> String {
    fn token_byte(c: u8) -> bool {
        c.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&c)
    }
    if !key.bytes().all(token_byte) {
        return key.to_owned();
    }
    let mut upper = true;
    let mut out = String::with_capacity(key.len());
    for c in key.chars() {
        let c2 = if upper {
            c.to_ascii_uppercase()
        } else {
            c.to_ascii_lowercase()
        };
        out.push(c2);
        upper = c2 == '-';
    }
    out
}

/// Formats a timestamp as Go's `time.Time.MarshalJSON` does (RFC 3339 with up to nine fraction
/// digits, trailing zeros trimmed, fraction omitted when zero, `Z` for UTC, otherwise `±hh:mm`).
/// The signer writes `time.Now()`, so the offset is the signer host's local zone (`Z` in the
/// usual UTC containers).
pub fn go_rfc3339_nano(t: time::OffsetDateTime) -> String {
    let mut s = format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second()
    );
    let ns = t.nanosecond();
    if ns != 0 {
        s.push('.');
        s.push_str(format!("{ns:09}").trim_end_matches('0'));
    }
    let off = t.offset().whole_seconds();
    if off == 0 {
        s.push('Z');
    } else {
        let sign = if off < 0 { '-' } else { '+' };
        let abs = off.unsigned_abs();
        s.push_str(&format!("{sign}{:02}:{:02}", abs / 3600, (abs % 3600) / 60));
    }
    s
}

// ------------------------------------------------------------------------------------------------
// The signed state (RemotePaymentState)
// ------------------------------------------------------------------------------------------------

/// go-livepeer's `RemotePaymentState` (server/remote_signer.go). It has no json tags, so the keys
/// are the Go field names, in this order. Field types on the Go side: `LastUpdate time.Time`
/// (RFC 3339 nano string), `OrchestratorAddress ethcommon.Address` (lowercase `0x` + 40 hex),
/// `AuthExpiry int64`, `SenderNonce uint32`, `Balance string` (a `big.Rat.RatString()`: `"500"`
/// or `"7/4"`, may be negative), `InitialPricePerUnit`/`InitialPixelsPerUnit int64`,
/// `SequenceNumber uint64`. Older builds lack `App` and `Type`; the builds with the `usage`
/// payment type append `QuoteID`, `SellUnit`, `UpchargeBps` after `AuthID`.
///
/// Deserialising fills missing fields with Go's zero values, not with [`Default`].
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, Deserialize)]
pub struct SignerState {
    #[serde(rename = "StateID", default)]
    pub state_id: String,
    #[serde(rename = "PMSessionID", default)]
    pub pm_session_id: String,
    /// Already in Go's text form (see [`go_rfc3339_nano`]).
    #[serde(rename = "LastUpdate", default)]
    pub last_update: String,
    #[serde(rename = "OrchestratorAddress", default)]
    pub orchestrator_address: String,
    #[serde(rename = "App", default)]
    pub app: String,
    #[serde(rename = "AuthExpiry", default)]
    pub auth_expiry: i64,
    #[serde(rename = "SenderNonce", default)]
    pub sender_nonce: u32,
    #[serde(rename = "Balance", default)]
    pub balance: String,
    #[serde(rename = "InitialPricePerUnit", default)]
    pub initial_price_per_unit: i64,
    #[serde(rename = "InitialPixelsPerUnit", default)]
    pub initial_pixels_per_unit: i64,
    #[serde(rename = "Type", default)]
    pub kind: String,
    #[serde(rename = "SequenceNumber", default)]
    pub sequence_number: u64,
    #[serde(rename = "AuthID", default)]
    pub auth_id: String,
}

impl Default for SignerState {
    /// A first-payment state as the signer holds it when it calls the webhook: ids filled in,
    /// balance and nonce already updated, `AuthID`/`AuthExpiry` still empty.
    fn default() -> Self {
        SignerState {
            state_id: "1a2b3c4d".into(),
            pm_session_id: "0x9f8e7d6c5b4a39281706f5e4d3c2b1a09f8e7d6c5b4a39281706f5e4d3c2b1a0"
                .into(),
            last_update: "2026-08-18T10:00:00.123456789Z".into(),
            orchestrator_address: "0x3b28a7d785356dc67c7970666747e042305bfb79".into(),
            app: String::new(),
            auth_expiry: 0,
            sender_nonce: 3,
            balance: "500".into(),
            initial_price_per_unit: 1200,
            initial_pixels_per_unit: 1,
            kind: "lv2v".into(),
            sequence_number: 0,
            auth_id: String::new(),
        }
    }
}

impl SignerState {
    /// Go's zero value of the struct.
    pub fn zero() -> Self {
        SignerState {
            state_id: String::new(),
            pm_session_id: String::new(),
            last_update: "0001-01-01T00:00:00Z".into(),
            orchestrator_address: "0x0000000000000000000000000000000000000000".into(),
            app: String::new(),
            auth_expiry: 0,
            sender_nonce: 0,
            balance: String::new(),
            initial_price_per_unit: 0,
            initial_pixels_per_unit: 0,
            kind: String::new(),
            sequence_number: 0,
            auth_id: String::new(),
        }
    }

    /// The same state with `LastUpdate` set to the current time (nanosecond precision, UTC).
    pub fn touched_now(mut self) -> Self {
        self.last_update = go_rfc3339_nano(time::OffsetDateTime::now_utc());
        self
    }

    /// `json.Marshal(state)` byte for byte.
    pub fn to_go_json(&self) -> Vec<u8> {
        let mut out = Vec::new();
        self.write_go_json(&mut out);
        out
    }

    fn write_go_json(&self, out: &mut Vec<u8>) {
        let strings = |out: &mut Vec<u8>, key: &str, value: &str| {
            out.extend_from_slice(key.as_bytes());
            go_quote_into(out, value.as_bytes());
        };
        strings(out, "{\"StateID\":", &self.state_id);
        strings(out, ",\"PMSessionID\":", &self.pm_session_id);
        strings(out, ",\"LastUpdate\":", &self.last_update);
        strings(out, ",\"OrchestratorAddress\":", &self.orchestrator_address);
        strings(out, ",\"App\":", &self.app);
        out.extend_from_slice(format!(",\"AuthExpiry\":{}", self.auth_expiry).as_bytes());
        out.extend_from_slice(format!(",\"SenderNonce\":{}", self.sender_nonce).as_bytes());
        strings(out, ",\"Balance\":", &self.balance);
        out.extend_from_slice(
            format!(
                ",\"InitialPricePerUnit\":{},\"InitialPixelsPerUnit\":{}",
                self.initial_price_per_unit, self.initial_pixels_per_unit
            )
            .as_bytes(),
        );
        strings(out, ",\"Type\":", &self.kind);
        out.extend_from_slice(format!(",\"SequenceNumber\":{}", self.sequence_number).as_bytes());
        strings(out, ",\"AuthID\":", &self.auth_id);
        out.push(b'}');
    }
}

// ------------------------------------------------------------------------------------------------
// The identity webhook request (signer -> Tollhouse)
// ------------------------------------------------------------------------------------------------

/// The identity-webhook body the signer sends when the gateway's request to
/// `/generate-live-payment` carried `headers` (name, value) in wire order.
///
/// Mirrors `json.Marshal(generateLivePaymentWebhookBody{Headers: r.Header, State: state})`:
/// `r.Header` is what Go's HTTP server built from the request: names canonicalised with
/// `CanonicalMIMEHeaderKey`, values trimmed of surrounding spaces/tabs, every occurrence of a
/// name appended to one array in arrival order (no comma splitting), `Host` and
/// `Transfer-Encoding` removed, and `Cache-Control: no-cache` added when the request had
/// `Pragma: no-cache` and no `Cache-Control`. Map keys are written sorted; `state` is omitted when
/// `None` (`omitempty` on a nil pointer); no trailing newline.
pub fn webhook_body(headers: &[(&str, &str)], state: Option<&SignerState>) -> Vec<u8> {
    let raw: Vec<(&str, &[u8])> = headers.iter().map(|(k, v)| (*k, v.as_bytes())).collect();
    webhook_body_raw(&raw, state)
}

/// [`webhook_body`] for header values that may not be UTF-8 (HTTP allows obs-text bytes).
pub fn webhook_body_raw(headers: &[(&str, &[u8])], state: Option<&SignerState>) -> Vec<u8> {
    let map = go_server_header_map(headers);
    let mut out = Vec::with_capacity(512);
    out.extend_from_slice(b"{\"headers\":{");
    for (i, (name, values)) in map.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        go_quote_into(&mut out, name.as_bytes());
        out.extend_from_slice(b":[");
        for (j, value) in values.iter().enumerate() {
            if j > 0 {
                out.push(b',');
            }
            go_quote_into(&mut out, value);
        }
        out.push(b']');
    }
    out.push(b'}');
    if let Some(state) = state {
        out.extend_from_slice(b",\"state\":");
        state.write_go_json(&mut out);
    }
    out.push(b'}');
    out
}

/// `r.Header` as Go's net/http server builds it (keys sorted, as Go marshals them).
fn go_server_header_map(headers: &[(&str, &[u8])]) -> BTreeMap<String, Vec<Vec<u8>>> {
    let mut map: BTreeMap<String, Vec<Vec<u8>>> = BTreeMap::new();
    for (name, value) in headers {
        let value = trim_ows(value);
        map.entry(canonical_mime_header_key(name))
            .or_default()
            .push(value.to_vec());
    }
    map.remove("Host");
    map.remove("Transfer-Encoding");
    let pragma_no_cache = map
        .get("Pragma")
        .and_then(|v| v.first())
        .is_some_and(|v| v.as_slice() == b"no-cache");
    if pragma_no_cache && !map.contains_key("Cache-Control") {
        map.insert("Cache-Control".into(), vec![b"no-cache".to_vec()]);
    }
    map
}

fn trim_ows(v: &[u8]) -> &[u8] {
    let start = v
        .iter()
        .position(|b| *b != b' ' && *b != b'\t')
        .unwrap_or(v.len());
    let end = v
        .iter()
        .rposition(|b| *b != b' ' && *b != b'\t')
        .map_or(start, |p| p + 1);
    &v[start..end.max(start)]
}

/// How the starter parses `-remoteSignerWebhookHeaders` (the same code path as
/// `-liveAIHeartbeatHeaders` and `-remoteSignerHeaders`): split on `,`, split each part on the
/// first `:`, drop parts without `:`, no trimming at all, into a `map[string]string` (so a
/// repeated key keeps its last value). Returned in order of first appearance.
///
/// At send time each pair goes through `Header.Set`, which canonicalises the name; a name that is
/// empty or holds a space makes Go's transport refuse the request (the gateway then gets 500), and
/// a value's leading space (`X-Api-Key: secret`) is sent but dropped by the receiving server.
pub fn parse_static_headers(flag: &str) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = Vec::new();
    for part in flag.split(',') {
        let Some((name, value)) = part.split_once(':') else {
            continue;
        };
        match out.iter_mut().find(|(n, _)| n == name) {
            Some(slot) => slot.1 = value.to_owned(),
            None => out.push((name.to_owned(), value.to_owned())),
        }
    }
    out
}

/// What the webhook answered, as the signer's client read it.
#[derive(Debug, Clone)]
pub struct WebhookBody {
    pub raw: Vec<u8>,
    /// `raw` parsed as JSON, if it is JSON.
    pub json: Option<serde_json::Value>,
}

/// Sends the identity-webhook request as the signer's `http.Client{Timeout: 5 * time.Second}`
/// does and returns the HTTP status and body. Panics on a transport error (use
/// [`try_call_identity_webhook`] to observe those).
pub async fn call_identity_webhook(
    url: &str,
    static_headers_flag: &str,
    body: Vec<u8>,
) -> (u16, WebhookBody) {
    match try_call_identity_webhook(url, static_headers_flag, body).await {
        Ok(answer) => answer,
        Err(e) => panic!("identity webhook call to {url} failed: {e}"),
    }
}

/// [`call_identity_webhook`] that reports transport errors (timeout, refused connection, a
/// header Go's transport would refuse) instead of panicking. The signer turns all of them into
/// HTTP 500 for the gateway.
///
/// Wire request: `POST <url>` exactly as configured, `Content-Type: application/json` (set
/// first, so a static header can override it), the static headers (`Header.Set`: canonical name,
/// last wins), `User-Agent: Go-http-client/1.1` and `Accept-Encoding: gzip` (added by Go's client
/// and transport unless a static header set them), `Content-Length`, the body, 5 s for the whole
/// exchange, redirects followed, no retries. Differences we cannot avoid with reqwest: header
/// names go out lower case and reqwest adds `accept: */*`.
pub async fn try_call_identity_webhook(
    url: &str,
    static_headers_flag: &str,
    body: Vec<u8>,
) -> Result<(u16, WebhookBody), String> {
    use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
    let mut headers = HeaderMap::new();
    headers.insert(
        reqwest::header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    for (name, value) in parse_static_headers(static_headers_flag) {
        let canonical = canonical_mime_header_key(&name);
        let name = HeaderName::from_bytes(canonical.as_bytes())
            .map_err(|e| format!("net/http: invalid header field name {canonical:?}: {e}"))?;
        let value = HeaderValue::from_str(&value)
            .map_err(|e| format!("net/http: invalid header field value for {name}: {e}"))?;
        headers.insert(name, value);
    }
    if !headers.contains_key(reqwest::header::USER_AGENT) {
        headers.insert(
            reqwest::header::USER_AGENT,
            HeaderValue::from_static("Go-http-client/1.1"),
        );
    }
    let we_asked_gzip = !headers.contains_key(reqwest::header::ACCEPT_ENCODING);
    if we_asked_gzip {
        headers.insert(
            reqwest::header::ACCEPT_ENCODING,
            HeaderValue::from_static("gzip"),
        );
    }
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(5))
        .no_proxy()
        .build()
        .map_err(|e| e.to_string())?;
    let resp = client
        .post(url)
        .headers(headers)
        .body(body)
        .send()
        .await
        .map_err(|e| format!("failed to call remote signer webhook: {e}"))?;
    let status = resp.status().as_u16();
    let gzipped = resp
        .headers()
        .get(reqwest::header::CONTENT_ENCODING)
        .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"gzip"));
    let raw = resp
        .bytes()
        .await
        .map_err(|e| format!("failed to read signer auth response: {e}"))?
        .to_vec();
    if gzipped && we_asked_gzip {
        return Err("webhook answered gzip; Go would inflate it, this double cannot".into());
    }
    let json = serde_json::from_slice(&raw).ok();
    Ok((status, WebhookBody { raw, json }))
}

// ------------------------------------------------------------------------------------------------
// How the signer reads the answer
// ------------------------------------------------------------------------------------------------

/// What go-livepeer's signer does after the identity webhook answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SignerVerdict {
    /// Signing goes on. `auth_id` is the webhook's non-empty `auth_id` (it becomes the state's
    /// `AuthID`; `None` keeps the previous one, or the `Signer-Auth-Id` request header);
    /// `expiry` is the non-zero `expiry`, copied to the state's `AuthExpiry` (`None` stores 0, so
    /// the next payment calls the webhook again).
    Proceed {
        auth_id: Option<String>,
        expiry: Option<i64>,
    },
    /// The gateway gets HTTP `status` with `{"error":{"message":reason}}` (for 500 the message it
    /// sees is `Internal Server Error`).
    Reject { status: u16, reason: String },
    /// The gateway gets HTTP 500 (`Internal Server Error`); the text is the signer's log line.
    InternalError(String),
    /// `status` is outside 200..=999: `WriteHeader` panics for < 100 or > 999 (net/http drops
    /// the connection, the gateway sees a transport error), and 1xx is sent as an informational
    /// header followed by an implicit 200 carrying the error JSON. Either way the gateway breaks.
    SignerMisbehaves { status: i64, reason: String },
}

impl SignerVerdict {
    /// The HTTP status the gateway receives, when it receives a well-formed one (`None` for
    /// [`SignerVerdict::Proceed`], which continues to a 200 payment response).
    pub fn gateway_status(&self) -> Option<u16> {
        match self {
            SignerVerdict::Proceed { .. } | SignerVerdict::SignerMisbehaves { .. } => None,
            SignerVerdict::Reject { status, .. } => Some(*status),
            SignerVerdict::InternalError(_) => Some(500),
        }
    }
}

/// The signer's reading of a webhook answer on the first payment of a session, or on a later one
/// whose state carries `previous_auth_id` (the `AuthID` from the previous answer).
pub fn interpret_webhook_answer(
    http_status: u16,
    body: &[u8],
    previous_auth_id: &str,
) -> SignerVerdict {
    interpret_webhook_answer_with_header(http_status, body, previous_auth_id, "")
}

/// [`interpret_webhook_answer`] when the gateway's request also carried a `Signer-Auth-Id`
/// header (`signer_auth_id_header`, empty if absent): the signer uses that header as the auth id
/// when the webhook returns none, so it too must match a previous non-empty `AuthID`.
///
/// Follows `authLivePayment` + `GenerateLivePayment`:
/// 1. HTTP status ≠ 200 → 500.
/// 2. `json.Unmarshal` into `authResponse{Status *int; Reason string; Expiry int64; AuthID
///    string}` fails → 500. Go's rules: exactly one JSON value; keys match the tags
///    case-insensitively (Unicode simple folding), later duplicates win; unknown keys ignored;
///    `null` leaves a field untouched (and sets `status` to nil); integers must be integer
///    literals within int64; any wrong type is an error; a top-level `null` is no error.
/// 3. `status` missing, null or ≤ 0 → 500.
/// 4. `status` ≠ 200 → that status, `reason` or `signer auth rejected request with status N`.
/// 5. `status` 200: new auth id = `auth_id` if non-empty, else the `Signer-Auth-Id` header; if
///    that is non-empty and differs from a non-empty previous `AuthID` → 500.
///
/// Not modelled: `maxPrice` (newer builds: invalid → 502, orchestrator price above it → 481;
/// older builds ignore the key).
pub fn interpret_webhook_answer_with_header(
    http_status: u16,
    body: &[u8],
    previous_auth_id: &str,
    signer_auth_id_header: &str,
) -> SignerVerdict {
    if http_status != 200 {
        return SignerVerdict::InternalError(format!("signer auth error status {http_status}"));
    }
    let fields = match go_unmarshal_object(body) {
        Ok(fields) => fields,
        Err(e) => {
            return SignerVerdict::InternalError(format!("signer auth invalid response: {e}"));
        }
    };
    let mut status: Option<i64> = None;
    let mut reason = String::new();
    let mut expiry: i64 = 0;
    let mut auth_id = String::new();
    let mut type_error: Option<String> = None;
    for (key, value) in &fields {
        let result = if go_fold_eq(key, "status") {
            go_int_ptr(value).map(|v| status = v)
        } else if go_fold_eq(key, "reason") {
            go_string(value).map(|v| {
                if let Some(v) = v {
                    reason = v;
                }
            })
        } else if go_fold_eq(key, "expiry") {
            go_int_ptr(value).map(|v| {
                if let Some(v) = v {
                    expiry = v;
                }
            })
        } else if go_fold_eq(key, "auth_id") {
            go_string(value).map(|v| {
                if let Some(v) = v {
                    auth_id = v;
                }
            })
        } else {
            Ok(())
        };
        if let Err(e) = result {
            type_error.get_or_insert(format!("json: cannot unmarshal {e} into field {key}"));
        }
    }
    if let Some(e) = type_error {
        return SignerVerdict::InternalError(format!("signer auth invalid response: {e}"));
    }
    let status = match status {
        Some(s) if s > 0 => s,
        _ => return SignerVerdict::InternalError("signer auth invalid status".into()),
    };
    if status != 200 {
        if reason.is_empty() {
            reason = format!("signer auth rejected request with status {status}");
        }
        return match u16::try_from(status) {
            Ok(s) if (200..=999).contains(&s) => SignerVerdict::Reject { status: s, reason },
            _ => SignerVerdict::SignerMisbehaves { status, reason },
        };
    }
    let new_auth_id = if auth_id.is_empty() {
        signer_auth_id_header
    } else {
        auth_id.as_str()
    };
    if !new_auth_id.is_empty() && !previous_auth_id.is_empty() && new_auth_id != previous_auth_id {
        return SignerVerdict::InternalError("remote signer auth ID changed".into());
    }
    SignerVerdict::Proceed {
        auth_id: (!auth_id.is_empty()).then_some(auth_id),
        expiry: (expiry != 0).then_some(expiry),
    }
}

/// Builds the webhook body for `headers` + `state`, sends it like the signer, and interprets the
/// answer like the signer (transport errors → [`SignerVerdict::InternalError`]).
pub async fn signer_consults_webhook(
    url: &str,
    static_headers_flag: &str,
    headers: &[(&str, &str)],
    state: &SignerState,
) -> SignerVerdict {
    let body = webhook_body(headers, Some(state));
    match try_call_identity_webhook(url, static_headers_flag, body).await {
        Ok((status, answer)) => {
            let header = headers
                .iter()
                .find(|(k, _)| canonical_mime_header_key(k) == "Signer-Auth-Id")
                .map_or("", |(_, v)| *v);
            interpret_webhook_answer_with_header(status, &answer.raw, &state.auth_id, header)
        }
        Err(e) => SignerVerdict::InternalError(e),
    }
}

/// Top level of a Go `json.Unmarshal` into a struct: `Ok(fields in document order)` for an
/// object, `Ok(empty)` for `null`, `Err` for invalid JSON or any other JSON type.
fn go_unmarshal_object(body: &[u8]) -> Result<Vec<(String, serde_json::Value)>, String> {
    match serde_json::from_slice::<GoTop>(body) {
        Ok(GoTop::Object(fields)) => Ok(fields),
        Ok(GoTop::Null) => Ok(Vec::new()),
        Ok(GoTop::Other(what)) => Err(format!("json: cannot unmarshal {what} into a Go struct")),
        Err(e) => Err(e.to_string()),
    }
}

enum GoTop {
    Null,
    Object(Vec<(String, serde_json::Value)>),
    Other(&'static str),
}

impl<'de> Deserialize<'de> for GoTop {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = GoTop;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("any JSON value")
            }
            fn visit_unit<E>(self) -> Result<GoTop, E> {
                Ok(GoTop::Null)
            }
            fn visit_none<E>(self) -> Result<GoTop, E> {
                Ok(GoTop::Null)
            }
            fn visit_bool<E>(self, _: bool) -> Result<GoTop, E> {
                Ok(GoTop::Other("bool"))
            }
            fn visit_i64<E>(self, _: i64) -> Result<GoTop, E> {
                Ok(GoTop::Other("number"))
            }
            fn visit_u64<E>(self, _: u64) -> Result<GoTop, E> {
                Ok(GoTop::Other("number"))
            }
            fn visit_f64<E>(self, _: f64) -> Result<GoTop, E> {
                Ok(GoTop::Other("number"))
            }
            fn visit_str<E>(self, _: &str) -> Result<GoTop, E> {
                Ok(GoTop::Other("string"))
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(
                self,
                mut seq: A,
            ) -> Result<GoTop, A::Error> {
                while seq.next_element::<serde::de::IgnoredAny>()?.is_some() {}
                Ok(GoTop::Other("array"))
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut map: A,
            ) -> Result<GoTop, A::Error> {
                let mut fields = Vec::new();
                while let Some(entry) = map.next_entry::<String, serde_json::Value>()? {
                    fields.push(entry);
                }
                Ok(GoTop::Object(fields))
            }
        }
        d.deserialize_any(V)
    }
}

/// Go's case-insensitive match of a JSON key against an ASCII field tag (`bytes.EqualFold`): ASCII
/// case folding plus the two non-ASCII letters that fold onto ASCII, `ſ` (U+017F, s) and `K`
/// (U+212A, k).
fn go_fold_eq(key: &str, tag: &str) -> bool {
    let fold = |c: char| match c {
        '\u{017F}' => 's',
        '\u{212A}' => 'k',
        c => c.to_ascii_lowercase(),
    };
    key.chars().map(fold).eq(tag.chars().map(fold))
}

/// Decoding into `*int`/`int64`: `null` → `None`; an integer literal in int64 range → value; any
/// other JSON (floats, exponents, strings, ...) is a type error.
fn go_int_ptr(v: &serde_json::Value) -> Result<Option<i64>, &'static str> {
    match v {
        serde_json::Value::Null => Ok(None),
        serde_json::Value::Number(n) if !n.is_f64() => n.as_i64().map(Some).ok_or("number"),
        serde_json::Value::Number(_) => Err("number"),
        serde_json::Value::String(_) => Err("string"),
        serde_json::Value::Bool(_) => Err("bool"),
        serde_json::Value::Array(_) => Err("array"),
        serde_json::Value::Object(_) => Err("object"),
    }
}

/// Decoding into `string`: `null` leaves the field untouched (`None`).
fn go_string(v: &serde_json::Value) -> Result<Option<String>, &'static str> {
    match v {
        serde_json::Value::Null => Ok(None),
        serde_json::Value::String(s) => Ok(Some(s.clone())),
        serde_json::Value::Number(_) => Err("number"),
        serde_json::Value::Bool(_) => Err("bool"),
        serde_json::Value::Array(_) => Err("array"),
        serde_json::Value::Object(_) => Err("object"),
    }
}

// ------------------------------------------------------------------------------------------------
// Live AI stream auth (gateway -> Tollhouse)
// ------------------------------------------------------------------------------------------------

/// go-livepeer's `AIAuthRequest` (server/auth.go, duplicated in byoc/).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LiveAiAuthRequest {
    /// `stream`; the gateway copies it into `stream_key` before sending.
    pub stream: String,
    /// `type`: `rtmp`, `whip`, ... (empty on the BYOC paths).
    pub kind: String,
    /// `query_params` (`omitempty`: absent when empty).
    pub query_params: String,
    pub gateway_host: String,
    pub whep_url: String,
    pub status_url: String,
    pub update_url: String,
}

impl LiveAiAuthRequest {
    /// What the gateway sends for `stream_key` arriving over `kind`, with `-gatewayHost
    /// gateway.livepeer.test`, the default `LIVE_AI_WHEP_URL` and no `streamId` query parameter
    /// (the URLs keep go-livepeer's `%s/%s` + `"/update"` double slash).
    pub fn new(stream_key: &str, kind: &str) -> Self {
        let host = "gateway.livepeer.test";
        LiveAiAuthRequest {
            stream: stream_key.into(),
            kind: kind.into(),
            query_params: String::new(),
            gateway_host: host.into(),
            whep_url: format!("http://localhost:8889/{stream_key}-5c1e7a2b-out/whep"),
            status_url: format!("https://{host}/stream///status"),
            update_url: format!("https://{host}/stream/{stream_key}//update"),
        }
    }

    /// `json.Marshal(req)` after `req.StreamKey = req.Stream`.
    pub fn to_go_json(&self) -> Vec<u8> {
        let mut out = Vec::new();
        let field = |out: &mut Vec<u8>, key: &str, value: &str| {
            out.extend_from_slice(key.as_bytes());
            go_quote_into(out, value.as_bytes());
        };
        field(&mut out, "{\"stream\":", &self.stream);
        field(&mut out, ",\"stream_key\":", &self.stream);
        field(&mut out, ",\"type\":", &self.kind);
        if !self.query_params.is_empty() {
            field(&mut out, ",\"query_params\":", &self.query_params);
        }
        field(&mut out, ",\"gateway_host\":", &self.gateway_host);
        field(&mut out, ",\"whep_url\":", &self.whep_url);
        field(&mut out, ",\"status_url\":", &self.status_url);
        field(&mut out, ",\"update_url\":", &self.update_url);
        out.push(b'}');
        out
    }
}

/// Sends the Live AI auth request as the gateway's `authenticateAIStream` does:
/// `POST <-liveAIAuthWebhookUrl>`, `Content-Type: application/json`, `X-Api-Key: <key>` and
/// `Authorization: <key>` (raw, no `Bearer`), Go's default `User-Agent`/`Accept-Encoding`, the
/// body of [`LiveAiAuthRequest::to_go_json`], `http.DefaultClient` (no timeout).
pub async fn call_live_ai_auth(
    url: &str,
    api_key: &str,
    stream_key: &str,
    kind: &str,
) -> reqwest::Response {
    call_live_ai_auth_with(url, api_key, &LiveAiAuthRequest::new(stream_key, kind)).await
}

/// [`call_live_ai_auth`] with every body field chosen by the caller.
pub async fn call_live_ai_auth_with(
    url: &str,
    api_key: &str,
    req: &LiveAiAuthRequest,
) -> reqwest::Response {
    let client = reqwest::Client::builder().no_proxy().build().unwrap();
    client
        .post(url)
        .header(reqwest::header::CONTENT_TYPE, "application/json")
        .header("X-Api-Key", api_key)
        .header(reqwest::header::AUTHORIZATION, api_key)
        .header(reqwest::header::USER_AGENT, "Go-http-client/1.1")
        .header(reqwest::header::ACCEPT_ENCODING, "gzip")
        .body(req.to_go_json())
        .send()
        .await
        .unwrap_or_else(|e| panic!("live AI auth call to {url} failed: {e}"))
}

/// The settings a Live AI auth answer overrides (`AIAuthResponse`).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct LiveAiAuthAllow {
    pub rtmp_output_url: String,
    pub pipeline: String,
    pub pipeline_id: String,
    pub stream_id: String,
    pub pipeline_parameters: Option<serde_json::Map<String, serde_json::Value>>,
}

/// The gateway's reading of a Live AI auth answer: `Err` means it answers 403 and kicks the
/// stream. Non-2xx → deny; a body that does not unmarshal into `AIAuthResponse` (empty body,
/// invalid JSON, non-object, wrong field types) → deny; a non-empty `pipeline_parameters` that is
/// not a JSON object (or `null`) → deny.
pub fn interpret_live_ai_auth(status: u16, body: &[u8]) -> Result<LiveAiAuthAllow, String> {
    if !(200..300).contains(&status) {
        return Err(format!(
            "status={status} error={}",
            String::from_utf8_lossy(body)
        ));
    }
    let fields = go_unmarshal_object(body)?;
    let mut allow = LiveAiAuthAllow::default();
    for (key, value) in fields {
        let slot = if go_fold_eq(&key, "rtmp_output_url") {
            Some(&mut allow.rtmp_output_url)
        } else if go_fold_eq(&key, "pipeline") {
            Some(&mut allow.pipeline)
        } else if go_fold_eq(&key, "pipeline_id") {
            Some(&mut allow.pipeline_id)
        } else if go_fold_eq(&key, "stream_id") {
            Some(&mut allow.stream_id)
        } else {
            None
        };
        if let Some(slot) = slot {
            if let Some(v) = go_string(&value).map_err(|t| format!("cannot unmarshal {t}"))? {
                *slot = v;
            }
        } else if go_fold_eq(&key, "pipeline_parameters") {
            allow.pipeline_parameters = match value {
                serde_json::Value::Object(map) => Some(map),
                serde_json::Value::Null => None,
                _ => return Err("pipeline_parameters: cannot unmarshal into map".into()),
            };
        }
    }
    Ok(allow)
}

// ------------------------------------------------------------------------------------------------
// FakeSigner: go-livepeer -remoteSigner over HTTP
// ------------------------------------------------------------------------------------------------

/// The signer's Ethereum address as `/sign-orchestrator-info` returns it
/// (`ethcommon.Address.String()`, EIP-55 checksummed).
pub const FAKE_SIGNER_ADDRESS: &str = "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed";

/// What the double signs states with; a state whose `Sig` differs is rejected like a forged one.
const FAKE_STATE_SIG: [u8; 65] = [0x5a; 65];

/// One request the [`FakeSigner`] received.
#[derive(Debug, Clone)]
pub struct RecordedRequest {
    pub method: String,
    pub path_and_query: String,
    /// In wire order, names lower case (as hyper reports them), values lossily UTF-8.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl RecordedRequest {
    /// The first value of header `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// Every value of header `name` (case-insensitive), in order.
    pub fn header_all(&self, name: &str) -> Vec<&str> {
        self.headers
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
            .collect()
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap()
    }
}

/// One identity-webhook call the [`FakeSigner`] made.
#[derive(Debug, Clone)]
pub struct WebhookCall {
    /// The body it sent.
    pub body: Vec<u8>,
    /// How it read the answer.
    pub verdict: SignerVerdict,
}

/// A scripted answer for the next request the [`FakeSigner`] receives (whatever its path).
#[derive(Debug, Clone)]
pub enum Scripted {
    /// Answer at once.
    Reply {
        status: u16,
        headers: Vec<(String, String)>,
        body: Vec<u8>,
    },
    /// Wait `delay` before sending anything (headers included), then play `then`.
    Slow {
        delay: Duration,
        then: Box<Scripted>,
    },
    /// Send status and headers at once, then each chunk after its delay (chunked encoding, each
    /// chunk flushed on its own).
    Streamed {
        status: u16,
        headers: Vec<(String, String)>,
        chunks: Vec<(Duration, Vec<u8>)>,
    },
}

impl Scripted {
    /// `status` with a JSON body and `Content-Type: application/json`.
    pub fn json(status: u16, body: &serde_json::Value) -> Scripted {
        let mut bytes = Vec::new();
        go_json_value_into(&mut bytes, body);
        bytes.push(b'\n');
        Scripted::Reply {
            status,
            headers: vec![("Content-Type".into(), "application/json".into())],
            body: bytes,
        }
    }

    /// A signer error as `respondJsonError` writes it: `{"error":{"message":…}}`, with the
    /// message replaced by `Internal Server Error` for 500.
    pub fn error(status: u16, message: &str) -> Scripted {
        Scripted::Reply {
            status,
            headers: vec![("Content-Type".into(), "application/json".into())],
            body: go_error_body(status, message),
        }
    }

    /// HTTP 480 "refresh session" with the orchestrator's URL in `Livepeer-Orchestrator-URL`.
    pub fn refresh_session(orchestrator_url: &str) -> Scripted {
        Scripted::Reply {
            status: 480,
            headers: vec![
                (
                    "Livepeer-Orchestrator-URL".into(),
                    orchestrator_url.to_owned(),
                ),
                ("Content-Type".into(), "application/json".into()),
            ],
            body: go_error_body(480, "refresh session for remote signer"),
        }
    }

    /// `then`, after holding back the response head for `delay`.
    pub fn slow(delay: Duration, then: Scripted) -> Scripted {
        Scripted::Slow {
            delay,
            then: Box::new(then),
        }
    }

    /// A 200 `application/json` response streamed as `chunks`, each sent after its delay.
    pub fn streamed(chunks: Vec<(Duration, Vec<u8>)>) -> Scripted {
        Scripted::Streamed {
            status: 200,
            headers: vec![("Content-Type".into(), "application/json".into())],
            chunks,
        }
    }
}

/// The error body of go-livepeer's `respondJsonError` (shape from remote_signer_test.go, which
/// decodes `{"error":{"message":…}}` and sees `Internal Server Error` for every 500).
pub fn go_error_body(status: u16, message: &str) -> Vec<u8> {
    let message = if status == 500 {
        "Internal Server Error"
    } else {
        message
    };
    let mut out = b"{\"error\":{\"message\":".to_vec();
    go_quote_into(&mut out, message.as_bytes());
    out.extend_from_slice(b"}}\n");
    out
}

struct WebhookConfig {
    url: String,
    static_headers_flag: String,
}

struct Inner {
    requests: Mutex<Vec<RecordedRequest>>,
    script: Mutex<VecDeque<Scripted>>,
    webhook: Mutex<Option<WebhookConfig>>,
    webhook_calls: Mutex<Vec<WebhookCall>>,
    discovery: Mutex<Vec<serde_json::Value>>,
    now_override: Mutex<Option<i64>>,
    sessions: AtomicU64,
}

impl Inner {
    fn now_unix(&self) -> i64 {
        self.now_override
            .lock()
            .unwrap()
            .unwrap_or_else(|| time::OffsetDateTime::now_utc().unix_timestamp())
    }
}

/// A go-livepeer remote signer on `127.0.0.1:<random>`, recording every request.
///
/// Unscripted it answers like the real signer:
/// * `POST /sign-orchestrator-info` → 200 `{"address":"0x<EIP-55>","signature":"0x<130 hex>"}`.
/// * `POST /generate-live-payment` → 200 `{"payment":b64,"segCreds":b64,"state":{"State":b64,
///   "Sig":b64}}`; 400 (Go's messages) for undecodable JSON, a missing `orchestrator`, a state
///   it did not sign, a missing `ManifestID` with state, a job-type mismatch or unknown type.
///   With [`FakeSigner::set_webhook`] it consults the identity webhook exactly like the signer
///   (unless the state's `AuthExpiry` is still valid) and answers per [`SignerVerdict`]
///   ([`SignerVerdict::SignerMisbehaves`] drops the connection, as net/http does on the panic).
///   Without a webhook, a `Signer-Auth-Id` request header still becomes the state's `AuthID`.
/// * `GET /discover-orchestrators` → the JSON array of [`FakeSigner::set_discovery`], 503
///   `cache empty` when that list is empty.
/// * other paths → Go's mux 404 `404 page not found`, wrong method → 405 with `Allow`.
///
/// [`FakeSigner::respond_next`] queues answers that replace this for the next requests, in
/// order. Shuts down when dropped.
pub struct FakeSigner {
    addr: SocketAddr,
    inner: Arc<Inner>,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<()>,
}

impl std::fmt::Debug for FakeSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FakeSigner")
            .field("addr", &self.addr)
            .finish()
    }
}

impl FakeSigner {
    pub async fn start() -> FakeSigner {
        let inner = Arc::new(Inner {
            requests: Mutex::new(Vec::new()),
            script: Mutex::new(VecDeque::new()),
            webhook: Mutex::new(None),
            webhook_calls: Mutex::new(Vec::new()),
            discovery: Mutex::new(vec![serde_json::json!({
                "address": "https://orch-1.livepeer.test:8935",
                "score": 1,
                "capabilities": ["live-video-to-video/streamdiffusion"],
            })]),
            now_override: Mutex::new(None),
            sessions: AtomicU64::new(0),
        });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let app = axum::Router::new()
            .fallback(handle)
            .with_state(Arc::clone(&inner));
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app)
                .with_graceful_shutdown(async {
                    let _ = rx.await;
                })
                .await;
        });
        FakeSigner {
            addr,
            inner,
            shutdown: Some(tx),
            task,
        }
    }

    /// `http://127.0.0.1:<port>` (no trailing slash), what a gateway's `-remoteSignerUrl` holds.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Every request received so far, in arrival order.
    pub fn requests(&self) -> Vec<RecordedRequest> {
        self.inner.requests.lock().unwrap().clone()
    }

    /// Queues `answer` for the next request not yet answered by an earlier queued one.
    pub fn respond_next(&self, answer: Scripted) {
        self.inner.script.lock().unwrap().push_back(answer);
    }

    /// Makes `/generate-live-payment` call the identity webhook at `url` with the static headers
    /// of a `-remoteSignerWebhookHeaders` value.
    pub fn set_webhook(&self, url: &str, static_headers_flag: &str) {
        *self.inner.webhook.lock().unwrap() = Some(WebhookConfig {
            url: url.to_owned(),
            static_headers_flag: static_headers_flag.to_owned(),
        });
    }

    pub fn clear_webhook(&self) {
        *self.inner.webhook.lock().unwrap() = None;
    }

    /// Identity-webhook calls made so far.
    pub fn webhook_calls(&self) -> Vec<WebhookCall> {
        self.inner.webhook_calls.lock().unwrap().clone()
    }

    /// What `GET /discover-orchestrators` lists (empty → 503 `cache empty`).
    pub fn set_discovery(&self, orchestrators: Vec<serde_json::Value>) {
        *self.inner.discovery.lock().unwrap() = orchestrators;
    }

    /// The unix time the signer compares `AuthExpiry` with (`None`: the wall clock).
    pub fn set_now(&self, unix_seconds: Option<i64>) {
        *self.inner.now_override.lock().unwrap() = unix_seconds;
    }

    /// A request body for `/generate-live-payment` as go-livepeer's gateway builds it
    /// (`RemotePaymentRequest`): `state` is the signed state from the previous response, if any.
    pub fn payment_request_body(state: Option<&serde_json::Value>, manifest_id: &str) -> Vec<u8> {
        let b64 = base64::engine::general_purpose::STANDARD;
        let field = |name: &str| {
            state
                .and_then(|s| s.get(name))
                .cloned()
                .unwrap_or(serde_json::Value::Null)
        };
        // RemotePaymentStateSig{State, Sig}: struct order, nil slices as null.
        let mut out = b"{\"state\":{\"State\":".to_vec();
        go_json_value_into(&mut out, &field("State"));
        out.extend_from_slice(b",\"Sig\":");
        go_json_value_into(&mut out, &field("Sig"));
        out.extend_from_slice(b"},\"orchestrator\":");
        go_quote_into(
            &mut out,
            b64.encode(b"\x0a\x1ahttps://orch-1.livepeer.test:8935")
                .as_bytes(),
        );
        out.extend_from_slice(b",\"ManifestID\":");
        go_quote_into(&mut out, manifest_id.as_bytes());
        out.extend_from_slice(b",\"inPixels\":0,\"type\":\"lv2v\",\"capabilities\":null}");
        out
    }
}

impl Drop for FakeSigner {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        self.task.abort();
    }
}

type Resp = axum::response::Response;

async fn handle(
    axum::extract::State(inner): axum::extract::State<Arc<Inner>>,
    req: axum::extract::Request,
) -> Resp {
    let (parts, body) = req.into_parts();
    let body = axum::body::to_bytes(body, usize::MAX)
        .await
        .map(|b| b.to_vec())
        .unwrap_or_default();
    let path_and_query = parts
        .uri
        .path_and_query()
        .map_or_else(|| parts.uri.path().to_owned(), |pq| pq.as_str().to_owned());
    inner.requests.lock().unwrap().push(RecordedRequest {
        method: parts.method.as_str().to_owned(),
        path_and_query,
        headers: parts
            .headers
            .iter()
            .map(|(n, v)| {
                (
                    n.as_str().to_owned(),
                    String::from_utf8_lossy(v.as_bytes()).into_owned(),
                )
            })
            .collect(),
        body: body.clone(),
    });

    let scripted = inner.script.lock().unwrap().pop_front();
    if let Some(answer) = scripted {
        return play(answer).await;
    }

    let method = parts.method.as_str();
    match parts.uri.path() {
        "/sign-orchestrator-info" if method == "POST" => sign_orchestrator_info(),
        "/generate-live-payment" if method == "POST" => {
            generate_live_payment(&inner, &parts.headers, &body).await
        }
        "/discover-orchestrators" if method == "GET" || method == "HEAD" => discover(&inner),
        "/sign-orchestrator-info" | "/generate-live-payment" => method_not_allowed("POST"),
        "/discover-orchestrators" => method_not_allowed("GET, HEAD"),
        _ => plain(404, "404 page not found\n", &[]),
    }
}

fn play(answer: Scripted) -> std::pin::Pin<Box<dyn std::future::Future<Output = Resp> + Send>> {
    Box::pin(async move {
        match answer {
            Scripted::Reply {
                status,
                headers,
                body,
            } => response(status, &headers, axum::body::Body::from(body)),
            Scripted::Slow { delay, then } => {
                tokio::time::sleep(delay).await;
                play(*then).await
            }
            Scripted::Streamed {
                status,
                headers,
                chunks,
            } => {
                let (tx, rx) = tokio::sync::mpsc::channel::<Vec<u8>>(1);
                tokio::spawn(async move {
                    for (delay, chunk) in chunks {
                        tokio::time::sleep(delay).await;
                        if tx.send(chunk).await.is_err() {
                            return;
                        }
                    }
                });
                response(
                    status,
                    &headers,
                    axum::body::Body::from_stream(ChunkStream(rx)),
                )
            }
        }
    })
}

struct ChunkStream(tokio::sync::mpsc::Receiver<Vec<u8>>);

impl futures_core::Stream for ChunkStream {
    type Item = Result<Vec<u8>, std::io::Error>;
    fn poll_next(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Self::Item>> {
        self.0.poll_recv(cx).map(|chunk| chunk.map(Ok))
    }
}

fn response(status: u16, headers: &[(String, String)], body: axum::body::Body) -> Resp {
    let mut builder = axum::http::Response::builder().status(status);
    for (name, value) in headers {
        builder = builder.header(name.as_str(), value.as_str());
    }
    builder.body(body).unwrap()
}

fn json_response(status: u16, body: Vec<u8>) -> Resp {
    response(
        status,
        &[("Content-Type".into(), "application/json".into())],
        axum::body::Body::from(body),
    )
}

fn go_error(status: u16, message: &str) -> Resp {
    json_response(status, go_error_body(status, message))
}

fn plain(status: u16, text: &str, extra: &[(String, String)]) -> Resp {
    let mut headers = vec![
        ("Content-Type".into(), "text/plain; charset=utf-8".into()),
        ("X-Content-Type-Options".into(), "nosniff".into()),
    ];
    headers.extend_from_slice(extra);
    response(status, &headers, axum::body::Body::from(text.to_owned()))
}

fn method_not_allowed(allow: &str) -> Resp {
    plain(
        405,
        "Method Not Allowed\n",
        &[("Allow".into(), allow.to_owned())],
    )
}

fn sign_orchestrator_info() -> Resp {
    // Go: json.NewEncoder(w).Encode(map[string]string{...}): sorted keys, trailing newline.
    let signature = format!("0x{}", hex::encode([0x4c_u8; 65]));
    let mut out = b"{\"address\":".to_vec();
    go_quote_into(&mut out, FAKE_SIGNER_ADDRESS.as_bytes());
    out.extend_from_slice(b",\"signature\":");
    go_quote_into(&mut out, signature.as_bytes());
    out.extend_from_slice(b"}\n");
    json_response(200, out)
}

fn discover(inner: &Inner) -> Resp {
    let list = inner.discovery.lock().unwrap().clone();
    if list.is_empty() {
        return go_error(503, "cache empty");
    }
    let mut out = Vec::new();
    go_json_value_into(&mut out, &serde_json::Value::Array(list));
    out.push(b'\n');
    json_response(200, out)
}

/// A key of a Go-decoded JSON object (case-insensitive like Go's decoder).
fn go_field<'a>(obj: &'a serde_json::Value, tag: &str) -> Option<&'a serde_json::Value> {
    obj.as_object()?
        .iter()
        .find(|(k, _)| go_fold_eq(k, tag))
        .map(|(_, v)| v)
}

/// A `[]byte` field: base64 string, or null/absent for empty.
fn go_bytes(v: Option<&serde_json::Value>) -> Result<Vec<u8>, String> {
    match v {
        None | Some(serde_json::Value::Null) => Ok(Vec::new()),
        Some(serde_json::Value::String(s)) => base64::engine::general_purpose::STANDARD
            .decode(s)
            .map_err(|e| format!("illegal base64 data: {e}")),
        Some(other) => Err(format!("json: cannot unmarshal {other} into []byte")),
    }
}

async fn generate_live_payment(
    inner: &Inner,
    headers: &axum::http::HeaderMap,
    body: &[u8],
) -> Resp {
    // json.NewDecoder(r.Body).Decode(&req): the first JSON value; trailing bytes are not read.
    let req = match serde_json::Deserializer::from_slice(body)
        .into_iter::<serde_json::Value>()
        .next()
    {
        Some(Ok(v @ serde_json::Value::Object(_))) => v,
        Some(Ok(_)) => return go_error(400, "json: cannot unmarshal into RemotePaymentRequest"),
        Some(Err(e)) => return go_error(400, &e.to_string()),
        None => return go_error(400, "EOF"),
    };
    let orchestrator = match go_bytes(go_field(&req, "orchestrator")) {
        Ok(o) => o,
        Err(e) => return go_error(400, &e),
    };
    if orchestrator.is_empty() {
        return go_error(400, "missing orchestrator");
    }
    let text = |tag: &str| {
        go_field(&req, tag)
            .and_then(|v| v.as_str())
            .unwrap_or_default()
            .to_owned()
    };
    let (kind, app, manifest_id) = (text("type"), text("app"), text("ManifestID"));
    let state_obj = go_field(&req, "state").cloned().unwrap_or_default();
    let (state_bytes, sig) = match (
        go_bytes(go_field(&state_obj, "State")),
        go_bytes(go_field(&state_obj, "Sig")),
    ) {
        (Ok(s), Ok(g)) => (s, g),
        (Err(e), _) | (_, Err(e)) => return go_error(400, &e),
    };
    let has_state = !state_bytes.is_empty() || !sig.is_empty();
    let mut state = if has_state {
        if sig != FAKE_STATE_SIG {
            return go_error(400, "invalid sig");
        }
        let Ok(mut state) = serde_json::from_slice::<SignerState>(&state_bytes) else {
            return go_error(400, "invalid state");
        };
        if state.app != app {
            return go_error(400, "app mismatch");
        }
        if !state.kind.is_empty() && state.kind != kind {
            return go_error(400, "job type mismatch");
        }
        state.kind = kind.clone();
        state.sequence_number += 1;
        state
    } else {
        let n = inner.sessions.fetch_add(1, Ordering::SeqCst) + 1;
        SignerState {
            state_id: format!("{:08x}", 0x1a2b_3c4d_u64 + n),
            app: app.clone(),
            kind: kind.clone(),
            sender_nonce: 0,
            ..SignerState::default()
        }
    };
    if has_state && manifest_id.is_empty() {
        return go_error(400, "missing manifestID");
    }
    let in_pixels = go_field(&req, "inPixels")
        .and_then(serde_json::Value::as_i64)
        .unwrap_or(0);
    match kind.as_str() {
        "lv2v" | "live" | "fixed" => {}
        "" if in_pixels > 0 => {}
        "" => return go_error(400, "missing billable unit or job type"),
        _ => return go_error(400, "invalid job type"),
    }

    // Tickets "generated": balance, time, session and nonce updated before the webhook runs.
    state.last_update = go_rfc3339_nano(time::OffsetDateTime::now_utc());
    state.sender_nonce += 1;

    let signer_auth_id = headers
        .get("signer-auth-id")
        .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
        .unwrap_or_default();
    let webhook = inner
        .webhook
        .lock()
        .unwrap()
        .as_ref()
        .map(|w| (w.url.clone(), w.static_headers_flag.clone()));
    let skip_webhook = state.auth_expiry != 0 && inner.now_unix() <= state.auth_expiry;
    let mut webhook_auth_id = None;
    if let (Some((url, flag)), false) = (webhook, skip_webhook) {
        let raw: Vec<(&str, &[u8])> = headers
            .iter()
            .map(|(n, v)| (n.as_str(), v.as_bytes()))
            .collect();
        let call_body = webhook_body_raw(&raw, Some(&state));
        let verdict = match try_call_identity_webhook(&url, &flag, call_body.clone()).await {
            Ok((status, answer)) => interpret_webhook_answer_with_header(
                status,
                &answer.raw,
                &state.auth_id,
                &signer_auth_id,
            ),
            Err(e) => SignerVerdict::InternalError(e),
        };
        inner.webhook_calls.lock().unwrap().push(WebhookCall {
            body: call_body,
            verdict: verdict.clone(),
        });
        match verdict {
            SignerVerdict::Proceed { auth_id, expiry } => {
                state.auth_expiry = expiry.unwrap_or(0);
                webhook_auth_id = auth_id;
            }
            SignerVerdict::Reject { status, reason } => return go_error(status, &reason),
            SignerVerdict::InternalError(e) => return go_error(500, &e),
            SignerVerdict::SignerMisbehaves { status, .. } => {
                // net/http recovers the WriteHeader panic by dropping the connection.
                panic!("invalid WriteHeader code {status}");
            }
        }
    }
    let auth_id = webhook_auth_id.unwrap_or(signer_auth_id);
    if !auth_id.is_empty() && state.auth_id != auth_id {
        if !state.auth_id.is_empty() {
            return go_error(500, "remote signer auth ID changed");
        }
        state.auth_id = auth_id;
    }

    let b64 = base64::engine::general_purpose::STANDARD;
    let payment = b64.encode(format!(
        "payment:{}:{}",
        state.state_id, state.sequence_number
    ));
    let seg_creds = b64.encode(format!("segcreds:{manifest_id}"));
    let mut out = b"{\"payment\":".to_vec();
    go_quote_into(&mut out, payment.as_bytes());
    out.extend_from_slice(b",\"segCreds\":");
    go_quote_into(&mut out, seg_creds.as_bytes());
    out.extend_from_slice(b",\"state\":{\"State\":");
    go_quote_into(&mut out, b64.encode(state.to_go_json()).as_bytes());
    out.extend_from_slice(b",\"Sig\":");
    go_quote_into(&mut out, b64.encode(FAKE_STATE_SIG).as_bytes());
    out.extend_from_slice(b"}}\n");
    json_response(200, out)
}

// ------------------------------------------------------------------------------------------------
// Self-tests of the double
// ------------------------------------------------------------------------------------------------

#[test]
fn webhook_body_matches_go_encoding_json_byte_for_byte() {
    // Derived by hand from Go: http.Header from the server (canonical keys, Host dropped, repeats
    // grouped in order), json.Marshal with HTML escaping, struct order of RemotePaymentState.
    let headers = [
        ("host", "signer.internal:7936"),
        ("user-agent", "Go-http-client/1.1"),
        ("content-length", "412"),
        ("authorization", "Bearer eyJ<hdr>.p&q"),
        ("content-type", "application/json"),
        ("x-request-id", "req-1"),
        ("X-REQUEST-ID", "  req-2\t"),
        ("x-livepeer-note", "a\u{2028}b\"c\\d\u{e9}"),
        ("accept-encoding", "gzip"),
    ];
    let state = SignerState {
        balance: "7/4".into(),
        auth_id: "app_1:<u&1>".into(),
        auth_expiry: 1_795_430_441,
        sequence_number: 12,
        ..SignerState::default()
    };
    let expected = concat!(
        r#"{"headers":{"Accept-Encoding":["gzip"],"Authorization":["Bearer eyJ\u003chdr\u003e.p\u0026q"],"#,
        r#""Content-Length":["412"],"Content-Type":["application/json"],"User-Agent":["Go-http-client/1.1"],"#,
        "\"X-Livepeer-Note\":[\"a\\u2028b\\\"c\\\\d\u{e9}\"],",
        r#""X-Request-Id":["req-1","req-2"]},"#,
        r#""state":{"StateID":"1a2b3c4d","#,
        r#""PMSessionID":"0x9f8e7d6c5b4a39281706f5e4d3c2b1a09f8e7d6c5b4a39281706f5e4d3c2b1a0","#,
        r#""LastUpdate":"2026-08-18T10:00:00.123456789Z","#,
        r#""OrchestratorAddress":"0x3b28a7d785356dc67c7970666747e042305bfb79","#,
        r#""App":"","AuthExpiry":1795430441,"SenderNonce":3,"Balance":"7/4","#,
        r#""InitialPricePerUnit":1200,"InitialPixelsPerUnit":1,"Type":"lv2v","#,
        r#""SequenceNumber":12,"AuthID":"app_1:\u003cu\u00261\u003e"}}"#,
    );
    let got = webhook_body(&headers, Some(&state));
    assert_eq!(String::from_utf8(got.clone()).unwrap(), expected);

    // The body is ordinary JSON for a standards reader.
    let v: serde_json::Value = serde_json::from_slice(&got).unwrap();
    assert_eq!(v["headers"]["Authorization"][0], "Bearer eyJ<hdr>.p&q");
    assert_eq!(v["state"]["AuthID"], "app_1:<u&1>");
    let back: SignerState = serde_json::from_value(v["state"].clone()).unwrap();
    assert_eq!(back, state);

    // No state: omitted. Only Host: an empty (non-nil) map.
    assert_eq!(
        webhook_body(&[("Host", "x")], None),
        br#"{"headers":{}}"#.to_vec()
    );
    // Pragma: no-cache without Cache-Control gains one (net/http fixPragmaCacheControl).
    assert_eq!(
        webhook_body(&[("pragma", "no-cache")], None),
        br#"{"headers":{"Cache-Control":["no-cache"],"Pragma":["no-cache"]}}"#.to_vec()
    );
    // Invalid UTF-8: one \ufffd per bad byte; non-token names are left as they are.
    assert_eq!(
        webhook_body_raw(&[("x-raw", &b"a\xe2\x82z"[..])], None),
        br#"{"headers":{"X-Raw":["a\ufffd\ufffdz"]}}"#.to_vec()
    );
    assert_eq!(
        canonical_mime_header_key("sIGNER-aUTH-iD"),
        "Signer-Auth-Id"
    );
    assert_eq!(canonical_mime_header_key("bad key"), "bad key");
    assert_eq!(go_json_string("\u{1}\u{8}\u{7f}"), "\"\\u0001\\b\u{7f}\"");
}

#[test]
fn go_time_and_numbers_format_like_go() {
    let t = time::macros::datetime!(2026-08-18 10:00:00.120 UTC);
    assert_eq!(go_rfc3339_nano(t), "2026-08-18T10:00:00.12Z");
    let t = time::macros::datetime!(2026-08-18 10:00:00 +02:00);
    assert_eq!(go_rfc3339_nano(t), "2026-08-18T10:00:00+02:00");
    assert_eq!(go_float(1.0), "1");
    assert_eq!(go_float(0.25), "0.25");
    assert_eq!(go_float(1e-7), "1e-7");
    assert_eq!(go_float(1e21), "1e+21");
}

#[test]
fn static_headers_parse_like_the_starter() {
    assert_eq!(
        parse_static_headers("Authorization:Bearer abc,X-Api-Key: secret,junk,Empty:,:v,x:1:2,x:3"),
        vec![
            ("Authorization".to_owned(), "Bearer abc".to_owned()),
            ("X-Api-Key".to_owned(), " secret".to_owned()),
            ("Empty".to_owned(), String::new()),
            (String::new(), "v".to_owned()),
            ("x".to_owned(), "3".to_owned()),
        ]
    );
    assert!(parse_static_headers("").is_empty());
    // A comma cannot be part of a value.
    assert_eq!(
        parse_static_headers("Authorization:Bearer a,b"),
        vec![("Authorization".to_owned(), "Bearer a".to_owned())]
    );
}

#[test]
fn webhook_answers_are_read_like_the_signer() {
    use SignerVerdict::*;
    let ok = |auth: Option<&str>, expiry: Option<i64>| Proceed {
        auth_id: auth.map(str::to_owned),
        expiry,
    };
    let read = |body: &str| interpret_webhook_answer(200, body.as_bytes(), "");
    assert_eq!(
        read(r#"{"status":200,"auth_id":"app_1:u1","expiry":1795430441,"identity":{}}"#),
        ok(Some("app_1:u1"), Some(1_795_430_441))
    );
    assert_eq!(read(r#"{"status":200}"#), ok(None, None));
    // Go matches keys case-insensitively; later duplicates win; null leaves strings alone.
    assert_eq!(
        read(r#"{"STATUS":403,"Status":200,"Auth_ID":"a","auth_id":null}"#),
        ok(Some("a"), None)
    );
    assert_eq!(
        read(r#"{"status":483,"reason":"insufficient balance","code":"insufficient_balance"}"#),
        Reject {
            status: 483,
            reason: "insufficient balance".into()
        }
    );
    assert_eq!(
        read(r#"{"status":429}"#),
        Reject {
            status: 429,
            reason: "signer auth rejected request with status 429".into()
        }
    );
    for bad in [
        "",
        "not json",
        "[]",
        "null",
        r#"{"expiry":123}"#,
        r#"{"status":0}"#,
        r#"{"status":-1}"#,
        r#"{"status":null}"#,
        r#"{"status":"200"}"#,
        r#"{"status":200.0}"#,
        r#"{"status":2e2}"#,
        r#"{"status":200,"expiry":"soon"}"#,
        r#"{"status":200,"reason":5}"#,
        r#"{"status":200} {}"#,
    ] {
        assert!(
            matches!(read(bad), InternalError(_)),
            "{bad:?} -> {:?}",
            read(bad)
        );
    }
    assert!(matches!(
        interpret_webhook_answer(401, br#"{"status":401}"#, ""),
        InternalError(_)
    ));
    // Same auth_id again is fine; a different one on a session that has one is a 500.
    assert_eq!(
        interpret_webhook_answer(200, br#"{"status":200,"auth_id":"a"}"#, "a"),
        ok(Some("a"), None)
    );
    assert!(matches!(
        interpret_webhook_answer(200, br#"{"status":200,"auth_id":"b"}"#, "a"),
        InternalError(_)
    ));
    // The Signer-Auth-Id header stands in when the webhook gives none.
    assert!(matches!(
        interpret_webhook_answer_with_header(200, br#"{"status":200}"#, "a", "spoofed"),
        InternalError(_)
    ));
    for weird in [42, 100, 150, 1000] {
        let body = format!(r#"{{"status":{weird}}}"#);
        assert!(matches!(
            interpret_webhook_answer(200, body.as_bytes(), ""),
            SignerMisbehaves { .. }
        ));
    }
    assert_eq!(
        interpret_webhook_answer(200, br#"{"status":500,"reason":"x"}"#, "").gateway_status(),
        Some(500)
    );
}

#[test]
fn live_ai_auth_body_and_answers_match_the_gateway() {
    let mut req = LiveAiAuthRequest::new("sk_<1>", "rtmp");
    assert_eq!(
        String::from_utf8(req.to_go_json()).unwrap(),
        concat!(
            r#"{"stream":"sk_\u003c1\u003e","stream_key":"sk_\u003c1\u003e","type":"rtmp","#,
            r#""gateway_host":"gateway.livepeer.test","#,
            r#""whep_url":"http://localhost:8889/sk_\u003c1\u003e-5c1e7a2b-out/whep","#,
            r#""status_url":"https://gateway.livepeer.test/stream///status","#,
            r#""update_url":"https://gateway.livepeer.test/stream/sk_\u003c1\u003e//update"}"#
        )
    );
    req.query_params = "a=1&b=2".into();
    assert!(
        String::from_utf8(req.to_go_json())
            .unwrap()
            .contains(r#","type":"rtmp","query_params":"a=1\u0026b=2","gateway_host""#)
    );
    assert_eq!(
        interpret_live_ai_auth(200, b"{}"),
        Ok(LiveAiAuthAllow::default())
    );
    let allow = interpret_live_ai_auth(
        201,
        br#"{"pipeline":"comfyui","pipeline_parameters":{"prompt":"x"}}"#,
    )
    .unwrap();
    assert_eq!(allow.pipeline, "comfyui");
    assert!(allow.pipeline_parameters.is_some());
    let denied: [(u16, &[u8]); 6] = [
        (200, b""),
        (200, b"[]"),
        (200, br#"{"pipeline_parameters":[1]}"#),
        (200, br#"{"pipeline":1}"#),
        (401, b"{}"),
        (302, b"{}"),
    ];
    for (status, body) in denied {
        assert!(interpret_live_ai_auth(status, body).is_err());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fake_signer_plays_the_endpoints_and_records_requests() {
    let signer = FakeSigner::start().await;
    let http = reqwest::Client::new();

    let resp = http
        .post(format!("{}/sign-orchestrator-info", signer.url()))
        .header("Authorization", "Bearer gw-token")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let body: serde_json::Value = resp.json().await.unwrap();
    assert_eq!(body["address"], FAKE_SIGNER_ADDRESS);
    assert_eq!(body["signature"].as_str().unwrap().len(), 132);

    let resp = http
        .get(format!(
            "{}/discover-orchestrators?caps=a&caps=b",
            signer.url()
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert!(resp.json::<serde_json::Value>().await.unwrap().is_array());
    signer.set_discovery(Vec::new());
    let resp = http
        .get(format!("{}/discover-orchestrators", signer.url()))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 503);

    let resp = http
        .get(format!("{}/sign-orchestrator-info", signer.url()))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 405);
    let resp = http
        .post(format!("{}/nope", signer.url()))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 404);

    // A payment session: first call without state, second with the returned state.
    let resp = http
        .post(format!("{}/generate-live-payment", signer.url()))
        .body(FakeSigner::payment_request_body(None, "m1"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let first: serde_json::Value = resp.json().await.unwrap();
    assert!(first["payment"].is_string() && first["segCreds"].is_string());
    let resp = http
        .post(format!("{}/generate-live-payment", signer.url()))
        .body(FakeSigner::payment_request_body(
            Some(&first["state"]),
            "m1",
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    // A state it did not sign is refused.
    let forged = serde_json::json!({"State": first["state"]["State"], "Sig": "AAAA"});
    let resp = http
        .post(format!("{}/generate-live-payment", signer.url()))
        .body(FakeSigner::payment_request_body(Some(&forged), "m1"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 400);

    let recorded = signer.requests();
    assert_eq!(recorded.len(), 8);
    assert_eq!(recorded[0].method, "POST");
    assert_eq!(recorded[0].path_and_query, "/sign-orchestrator-info");
    assert_eq!(recorded[0].header("authorization"), Some("Bearer gw-token"));
    assert_eq!(
        recorded[1].path_and_query,
        "/discover-orchestrators?caps=a&caps=b"
    );
    assert_eq!(recorded[5].json()["ManifestID"], "m1");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fake_signer_follows_scripts_slow_and_streamed() {
    let signer = FakeSigner::start().await;
    let http = reqwest::Client::new();
    let url = format!("{}/generate-live-payment", signer.url());

    signer.respond_next(Scripted::refresh_session(
        "https://orch-2.livepeer.test:8935",
    ));
    let resp = http.post(&url).body("{}").send().await.unwrap();
    assert_eq!(resp.status(), 480);
    assert_eq!(
        resp.headers()["livepeer-orchestrator-url"],
        "https://orch-2.livepeer.test:8935"
    );
    assert_eq!(
        resp.json::<serde_json::Value>().await.unwrap()["error"]["message"],
        "refresh session for remote signer"
    );

    // Slow: the client's own timeout fires before any header arrives.
    signer.respond_next(Scripted::slow(
        Duration::from_secs(3),
        Scripted::error(482, "no tickets"),
    ));
    let err = http
        .post(&url)
        .timeout(Duration::from_millis(200))
        .body("{}")
        .send()
        .await
        .unwrap_err();
    assert!(err.is_timeout());

    // Streamed: the head arrives before the second chunk exists, chunks arrive separately.
    signer.respond_next(Scripted::streamed(vec![
        (Duration::ZERO, b"{\"part\":".to_vec()),
        (Duration::from_millis(400), b"1}".to_vec()),
    ]));
    let mut resp = http.post(&url).body("{}").send().await.unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.chunk().await.unwrap().unwrap().as_ref(), b"{\"part\":");
    assert_eq!(resp.chunk().await.unwrap().unwrap().as_ref(), b"1}");
    assert!(resp.chunk().await.unwrap().is_none());
    assert_eq!(signer.requests().len(), 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fake_signer_consults_the_webhook_like_go_livepeer() {
    // A stand-in webhook that answers from a queue and records what it got.
    type Seen = Arc<Mutex<Vec<(axum::http::HeaderMap, Vec<u8>)>>>;
    let seen: Seen = Arc::default();
    let answers: Arc<Mutex<VecDeque<serde_json::Value>>> = Arc::default();
    let app = axum::Router::new()
        .route(
            "/authorize",
            axum::routing::post(
                |axum::extract::State((seen, answers)): axum::extract::State<(
                    Seen,
                    Arc<Mutex<VecDeque<serde_json::Value>>>,
                )>,
                 headers: axum::http::HeaderMap,
                 body: axum::body::Bytes| async move {
                    seen.lock().unwrap().push((headers, body.to_vec()));
                    let answer = answers.lock().unwrap().pop_front().unwrap();
                    axum::Json(answer)
                },
            ),
        )
        .with_state((Arc::clone(&seen), Arc::clone(&answers)));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let hook_url = format!("http://{}/authorize", listener.local_addr().unwrap());
    let server = tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });

    let signer = FakeSigner::start().await;
    signer.set_webhook(&hook_url, "X-Api-Key:hook-secret");
    let http = reqwest::Client::new();
    let pay = |state: Option<serde_json::Value>| {
        let http = http.clone();
        let url = format!("{}/generate-live-payment", signer.url());
        async move {
            http.post(url)
                .header("Authorization", "Bearer user-token")
                .body(FakeSigner::payment_request_body(state.as_ref(), "m1"))
                .send()
                .await
                .unwrap()
        }
    };

    let far = time::OffsetDateTime::now_utc().unix_timestamp() + 3600;
    answers
        .lock()
        .unwrap()
        .push_back(serde_json::json!({"status": 200, "auth_id": "app_1:user-1", "expiry": far}));
    let resp = pay(None).await;
    assert_eq!(resp.status(), 200);
    let first: serde_json::Value = resp.json().await.unwrap();
    let state_bytes = base64::engine::general_purpose::STANDARD
        .decode(first["state"]["State"].as_str().unwrap())
        .unwrap();
    let state: SignerState = serde_json::from_slice(&state_bytes).unwrap();
    assert_eq!(state.auth_id, "app_1:user-1");
    assert_eq!(state.auth_expiry, far);

    {
        let seen = seen.lock().unwrap();
        let (headers, body) = &seen[0];
        assert_eq!(headers["x-api-key"], "hook-secret");
        assert_eq!(headers["content-type"], "application/json");
        assert_eq!(headers["user-agent"], "Go-http-client/1.1");
        let body: serde_json::Value = serde_json::from_slice(body).unwrap();
        assert_eq!(body["headers"]["Authorization"][0], "Bearer user-token");
        assert!(body["headers"].get("Host").is_none());
        assert_eq!(body["state"]["AuthID"], "");
        assert_eq!(body["state"]["Type"], "lv2v");
    }

    // Within AuthExpiry the webhook is skipped.
    let resp = pay(Some(first["state"].clone())).await;
    assert_eq!(resp.status(), 200);
    assert_eq!(seen.lock().unwrap().len(), 1);

    // Past it, the webhook runs again; a rejection reaches the gateway with its reason.
    signer.set_now(Some(far + 1));
    answers.lock().unwrap().push_back(
        serde_json::json!({"status": 483, "reason": "insufficient balance", "code": "insufficient_balance"}),
    );
    let resp = pay(Some(first["state"].clone())).await;
    assert_eq!(resp.status(), 483);
    assert_eq!(
        resp.json::<serde_json::Value>().await.unwrap()["error"]["message"],
        "insufficient balance"
    );
    let calls = signer.webhook_calls();
    assert_eq!(calls.len(), 2);
    let second: serde_json::Value = serde_json::from_slice(&calls[1].body).unwrap();
    assert_eq!(second["state"]["AuthID"], "app_1:user-1");
    assert_eq!(second["state"]["SequenceNumber"], 1);

    // A different auth_id for the same session is a 500.
    answers
        .lock()
        .unwrap()
        .push_back(serde_json::json!({"status": 200, "auth_id": "app_1:user-2"}));
    let resp = pay(Some(first["state"].clone())).await;
    assert_eq!(resp.status(), 500);
    assert_eq!(
        resp.json::<serde_json::Value>().await.unwrap()["error"]["message"],
        "Internal Server Error"
    );

    // The same exchange through the free functions.
    answers
        .lock()
        .unwrap()
        .push_back(serde_json::json!({"status": 401, "reason": "bad token"}));
    let verdict = signer_consults_webhook(
        &hook_url,
        "X-Api-Key:hook-secret",
        &[("Authorization", "Bearer nope")],
        &SignerState::default(),
    )
    .await;
    assert_eq!(
        verdict,
        SignerVerdict::Reject {
            status: 401,
            reason: "bad token".into()
        }
    );
    server.abort();
}
