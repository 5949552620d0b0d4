//! The body go-livepeer's remote signer posts to the identity webhook, parsed leniently: unknown
//! fields are ignored, `state` is optional, header values are arrays (a bare string is accepted
//! too), and the end-user credential is found by exact name first, then case-insensitively, then
//! in the legacy top-level `authorization` field.

mod caller;
mod identity;
mod rejection;

pub use caller::caller_presents_secret;
pub use identity::{DEFAULT_SUBJECT_TYPE, TRUSTED_HEADERS_ISSUER, UsageIdentity, verdict_expiry};
pub use rejection::Rejection;

use crate::ids::{looks_like_api_key, looks_like_signer_session};
use serde::Deserialize;
use serde::de::IgnoredAny;
use std::collections::BTreeMap;

/// Largest body the webhook reads.
pub const MAX_WEBHOOK_BODY_BYTES: usize = 64 * 1024;

/// Longest credential considered (a JWT with many claims is far below this).
pub const MAX_CREDENTIAL_BYTES: usize = 16 * 1024;

/// Header names go-livepeer copies from the gateway that carry an upstream-asserted identity.
pub mod trusted_header {
    /// Issuer of the asserted identity.
    pub const ISSUER: &str = "X-Livepeer-Usage-Issuer";
    /// The app (client id) the user belongs to.
    pub const CLIENT_ID: &str = "X-Livepeer-Client-ID";
    /// The usage subject (e.g. the external user id).
    pub const SUBJECT: &str = "X-Livepeer-Usage-Subject";
    /// The kind of subject.
    pub const SUBJECT_TYPE: &str = "X-Livepeer-Usage-Subject-Type";
}

/// What the webhook needs from the signer's request.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WebhookRequest {
    /// The end user's credential, without its `Bearer ` scheme.
    pub credential: Option<String>,
    /// Identity headers an upstream proxy asserted (only honoured when explicitly enabled).
    pub trusted: TrustedHeaders,
    /// The auth id this payment session already carries (`state.AuthID`), if any.
    pub previous_auth_id: Option<String>,
}

/// The `X-Livepeer-Usage-*` headers as received.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TrustedHeaders {
    /// `X-Livepeer-Usage-Issuer`.
    pub issuer: Option<String>,
    /// `X-Livepeer-Client-ID`.
    pub client_id: Option<String>,
    /// `X-Livepeer-Usage-Subject`.
    pub subject: Option<String>,
    /// `X-Livepeer-Usage-Subject-Type`.
    pub subject_type: Option<String>,
}

/// Why a body could not be read at all (HTTP 400 `invalid request json`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WebhookParseError {
    /// Not JSON, or JSON that is not an object.
    #[error("invalid request json")]
    InvalidJson,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum HeaderValues {
    Many(Vec<Option<String>>),
    One(String),
    Other(IgnoredAny),
}

impl HeaderValues {
    fn first(&self) -> Option<&str> {
        match self {
            Self::Many(values) => values.iter().flatten().next().map(String::as_str),
            Self::One(value) => Some(value),
            Self::Other(_) => None,
        }
    }
}

#[derive(Deserialize)]
#[serde(untagged)]
enum Lenient<T> {
    Value(T),
    Other(IgnoredAny),
}

impl<T> Lenient<T> {
    fn value(self) -> Option<T> {
        match self {
            Self::Value(v) => Some(v),
            Self::Other(_) => None,
        }
    }
}

#[derive(Deserialize)]
struct RawBody {
    #[serde(default)]
    headers: Option<Lenient<BTreeMap<String, HeaderValues>>>,
    /// Read as a value so only an object counts (serde would read a struct from an array).
    #[serde(default)]
    state: Option<serde_json::Value>,
    #[serde(default)]
    authorization: Option<Lenient<String>>,
}

/// Finds header `name`: the exact (MIME-canonical) spelling first, then any case.
fn header<'a>(headers: &'a BTreeMap<String, HeaderValues>, name: &str) -> Option<&'a str> {
    headers
        .get(name)
        .or_else(|| {
            headers
                .iter()
                .find(|(key, _)| key.eq_ignore_ascii_case(name))
                .map(|(_, v)| v)
        })
        .and_then(HeaderValues::first)
}

/// Whether a client's request header (lower-case name) could assert an identity and so must
/// never reach go-livepeer's remote signer from a client: go-livepeer copies every request
/// header into its identity-webhook call, where `X-Livepeer-*` (the `X-Livepeer-Usage-*` and
/// `X-Livepeer-Client-ID` trusted headers, and any later one) and `Signer-*` would read as
/// facts. Both signer proxies (the server's and the SDK's) strip these.
pub fn is_identity_header(lower_name: &str) -> bool {
    lower_name.starts_with("x-livepeer-") || lower_name.starts_with("signer-")
}

/// Whether a header (lower-case name) belongs to one connection only (RFC 9110 §7.6.1, plus
/// `Host` and the obsolete `Proxy-Connection`), so a proxy never passes it on.
pub fn is_hop_by_hop(lower_name: &str) -> bool {
    matches!(
        lower_name,
        "connection"
            | "keep-alive"
            | "proxy-connection"
            | "proxy-authenticate"
            | "proxy-authorization"
            | "te"
            | "trailer"
            | "transfer-encoding"
            | "upgrade"
            | "host"
    )
}

/// The credential in an `Authorization` value: the token after `Bearer `, or a bare value
/// without any scheme. Other schemes (`Basic …`) carry no end-user credential.
pub fn credential_from_authorization(value: &str) -> Option<&str> {
    let value = value.trim();
    let token = if value.contains(' ') {
        crate::authorization::bearer(value)?
    } else {
        value
    };
    (!token.is_empty() && token.len() <= MAX_CREDENTIAL_BYTES).then_some(token)
}

fn non_empty(value: Option<&str>) -> Option<String> {
    value
        .map(str::trim)
        .filter(|v| !v.is_empty())
        .map(str::to_owned)
}

/// Parses the webhook body.
pub fn parse_webhook_body(body: &[u8]) -> Result<WebhookRequest, WebhookParseError> {
    // serde would read a JSON array into the struct field by field; only an object is a request.
    if body.iter().find(|b| !b.is_ascii_whitespace()) != Some(&b'{') {
        return Err(WebhookParseError::InvalidJson);
    }
    let raw: RawBody = serde_json::from_slice(body).map_err(|_| WebhookParseError::InvalidJson)?;
    let headers = raw.headers.and_then(Lenient::value).unwrap_or_default();
    let credential = header(&headers, "Authorization")
        .and_then(credential_from_authorization)
        .map(str::to_owned)
        .or_else(|| {
            raw.authorization
                .and_then(Lenient::value)
                .and_then(|v| credential_from_authorization(&v).map(str::to_owned))
        });
    let trusted = TrustedHeaders {
        issuer: non_empty(header(&headers, trusted_header::ISSUER)),
        client_id: non_empty(header(&headers, trusted_header::CLIENT_ID)),
        subject: non_empty(header(&headers, trusted_header::SUBJECT)),
        subject_type: non_empty(header(&headers, trusted_header::SUBJECT_TYPE)),
    };
    let previous_auth_id = raw
        .state
        .as_ref()
        .and_then(serde_json::Value::as_object)
        .and_then(|state| state.get("AuthID"))
        .and_then(serde_json::Value::as_str)
        .filter(|id| !id.is_empty())
        .map(str::to_owned);
    Ok(WebhookRequest {
        credential,
        trusted,
        previous_auth_id,
    })
}

/// The shape of an end-user credential, which decides the verifiers worth trying.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CredentialKind {
    /// A compact JWS (three base64url segments).
    Jwt,
    /// An opaque `pmth_<64 hex>` signer session.
    SignerSession,
    /// An API key, bare `pmth_ak_…` or composite `app_…_pmth_ak_…`.
    ApiKey,
    /// Anything else.
    Unknown,
}

/// Classifies a credential by shape alone (no secrets are checked here).
pub fn classify_credential(credential: &str) -> CredentialKind {
    if looks_like_signer_session(credential) {
        CredentialKind::SignerSession
    } else if looks_like_api_key(credential) {
        CredentialKind::ApiKey
    } else if credential.split('.').count() == 3
        && credential
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'.')
    {
        CredentialKind::Jwt
    } else {
        CredentialKind::Unknown
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_credential_exactly_then_case_insensitively_then_legacy() {
        let exact =
            br#"{"headers":{"Authorization":["Bearer a.b.c"],"authorization":["Bearer x.y.z"]}}"#;
        assert_eq!(
            parse_webhook_body(exact).unwrap().credential.as_deref(),
            Some("a.b.c")
        );
        let lower = br#"{"headers":{"authorization":["bearer x.y.z"]},"state":null}"#;
        assert_eq!(
            parse_webhook_body(lower).unwrap().credential.as_deref(),
            Some("x.y.z")
        );
        let legacy = br#"{"authorization":"Bearer pmth_x","headers":{}}"#;
        assert_eq!(
            parse_webhook_body(legacy).unwrap().credential.as_deref(),
            Some("pmth_x")
        );
        let single = br#"{"headers":{"Authorization":"Bearer one"}}"#;
        assert_eq!(
            parse_webhook_body(single).unwrap().credential.as_deref(),
            Some("one")
        );
        let basic = br#"{"headers":{"Authorization":["Basic Zm9vOmJhcg=="]}}"#;
        assert_eq!(parse_webhook_body(basic).unwrap().credential, None);
        // Only a space separates a scheme from its credentials (RFC 9110 §11.6.2): a value
        // with a tab but no space is a bare credential (found by the webhook_body fuzz target).
        assert_eq!(credential_from_authorization("a\tb"), Some("a\tb"));
        assert_eq!(credential_from_authorization("BEARER t"), Some("t"));
    }

    #[test]
    fn is_lenient_about_everything_but_json_itself() {
        let odd = br#"{"headers":{"Authorization":[null,"Bearer t"],"X":5},"state":{"AuthID":7,"Balance":"7/4"},"extra":[1]}"#;
        let parsed = parse_webhook_body(odd).unwrap();
        assert_eq!(parsed.credential.as_deref(), Some("t"));
        assert_eq!(parsed.previous_auth_id, None);
        assert_eq!(
            parse_webhook_body(br#"{"headers":5}"#).unwrap(),
            WebhookRequest::default()
        );
        let array_state = br#"{"state":["app_1:u"]}"#;
        assert_eq!(
            parse_webhook_body(array_state).map(|r| r.previous_auth_id),
            Ok(None),
            "only an object is a state"
        );
        let with_state = br#"{"state":{"AuthID":"app_1:u"}}"#;
        assert_eq!(
            parse_webhook_body(with_state)
                .unwrap()
                .previous_auth_id
                .as_deref(),
            Some("app_1:u")
        );
        for bad in [
            &b"not json"[..],
            b"[]",
            b"\"x\"",
            b"null",
            b"",
            b"{\"headers\":",
        ] {
            assert_eq!(parse_webhook_body(bad), Err(WebhookParseError::InvalidJson));
        }
    }

    #[test]
    fn reads_trusted_headers_in_any_case() {
        let body = br#"{"headers":{"X-Livepeer-Client-Id":["app_x"],"X-Livepeer-Usage-Subject":["u-1"],"x-livepeer-usage-issuer":["https://idp"]}}"#;
        let parsed = parse_webhook_body(body).unwrap();
        assert_eq!(parsed.trusted.client_id.as_deref(), Some("app_x"));
        assert_eq!(parsed.trusted.subject.as_deref(), Some("u-1"));
        assert_eq!(parsed.trusted.issuer.as_deref(), Some("https://idp"));
        assert_eq!(parsed.trusted.subject_type, None);
    }

    #[test]
    fn classifies_credentials_by_shape() {
        let hex = "a".repeat(64);
        assert_eq!(
            classify_credential(&format!("pmth_{hex}")),
            CredentialKind::SignerSession
        );
        assert_eq!(
            classify_credential(&format!("pmth_ak_{hex}")),
            CredentialKind::ApiKey
        );
        assert_eq!(classify_credential("eyJh.eyJi.sig-_"), CredentialKind::Jwt);
        assert_eq!(classify_credential("a.b"), CredentialKind::Unknown);
        assert_eq!(classify_credential("a b.c.d"), CredentialKind::Unknown);
    }
}
