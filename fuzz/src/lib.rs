//! Checks shared by the fuzz targets: invariants of the credential helpers, and a reference model
//! of what `parse_webhook_body` must extract from a JSON object (written over `serde_json::Value`,
//! independently of the lenient serde types the parser uses).

use serde_json::{Map, Value};
use tollhouse_core::ids::{
    AppClientId, looks_like_api_key, looks_like_refresh_token, looks_like_signer_session,
    split_api_key,
};
use tollhouse_core::keys::peek_header;
use tollhouse_core::webhook::{
    CredentialKind, MAX_CREDENTIAL_BYTES, TrustedHeaders, WebhookRequest, classify_credential,
    credential_from_authorization, trusted_header,
};

/// Whether `inner` is a slice of `outer` (the parsers return borrowed sub-slices).
fn is_within(outer: &str, inner: &str) -> bool {
    let (o, i) = (outer.as_ptr() as usize, inner.as_ptr() as usize);
    i >= o && i + inner.len() <= o + outer.len()
}

/// Invariants of the shape checks, which hold for any text at all.
pub fn check_shapes(text: &str) {
    let (app, secret) = split_api_key(text);
    assert!(is_within(text, secret) && text.ends_with(secret));
    match app {
        Some(app) => {
            assert!(AppClientId::parse(app).is_some(), "{app:?} is no app id");
            assert_eq!(text.len(), app.len() + 1 + secret.len());
            assert!(text.starts_with(app) && text[app.len()..].starts_with('_'));
            assert!(!secret.is_empty());
        }
        None => assert_eq!(secret, text),
    }

    let api_key = looks_like_api_key(text);
    let session = looks_like_signer_session(text);
    let refresh = looks_like_refresh_token(text);
    assert!(
        u8::from(api_key) + u8::from(session) + u8::from(refresh) <= 1,
        "{text:?} has two credential shapes"
    );
    let kind = classify_credential(text);
    if session {
        assert_eq!(kind, CredentialKind::SignerSession);
        assert_eq!(text.len(), "pmth_".len() + 64);
    }
    if api_key {
        assert_eq!(kind, CredentialKind::ApiKey);
        assert_eq!(secret.len(), "pmth_ak_".len() + 64);
    }
    if refresh {
        assert_eq!(kind, CredentialKind::Unknown);
    }
    match kind {
        CredentialKind::SignerSession => assert!(session),
        CredentialKind::ApiKey => assert!(api_key),
        CredentialKind::Jwt => {
            assert_eq!(text.matches('.').count(), 2);
            assert!(
                text.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b))
            );
        }
        CredentialKind::Unknown => {}
    }
    // A JWS header is read from the first of exactly three segments.
    if peek_header(text).is_ok() {
        assert_eq!(text.matches('.').count(), 2, "{text:?} peeked as a JWS");
    }
}

/// Invariants of a credential the webhook would go on to verify.
pub fn check_credential(credential: &str) {
    assert!(!credential.is_empty() && credential.len() <= MAX_CREDENTIAL_BYTES);
    assert_eq!(credential, credential.trim(), "credential keeps whitespace");
    // Presented again as a bearer token, it is read back unchanged.
    let again = format!("Bearer {credential}");
    assert_eq!(credential_from_authorization(&again), Some(credential));
    check_shapes(credential);
}

/// Invariants of `credential_from_authorization` for any header value.
pub fn check_authorization(value: &str) {
    match credential_from_authorization(value) {
        Some(credential) => {
            assert!(is_within(value, credential));
            check_credential(credential);
        }
        None => {
            // Only an empty value, an oversized token or a scheme other than Bearer yields nothing.
            let too_long_or_empty = |t: &str| t.is_empty() || t.len() > MAX_CREDENTIAL_BYTES;
            let trimmed = value.trim();
            let refused = match trimmed.split_once(' ') {
                Some((scheme, rest)) => {
                    !scheme.eq_ignore_ascii_case("bearer") || too_long_or_empty(rest.trim())
                }
                None => too_long_or_empty(trimmed),
            };
            assert!(refused, "{value:?} refused without reason");
        }
    }
}

/// The value of header `name`: the exact spelling first, else the first key (in key order) equal
/// to it ignoring ASCII case; a string, or the first string of an array of strings and nulls.
fn header<'a>(headers: Option<&'a Map<String, Value>>, name: &str) -> Option<&'a str> {
    let headers = headers?;
    let value = headers.get(name).or_else(|| {
        headers
            .iter()
            .find(|(key, _)| key.eq_ignore_ascii_case(name))
            .map(|(_, v)| v)
    })?;
    match value {
        Value::String(s) => Some(s),
        Value::Array(items) if items.iter().all(|v| v.is_string() || v.is_null()) => {
            items.iter().find_map(Value::as_str)
        }
        _ => None,
    }
}

fn non_empty(value: Option<&str>) -> Option<String> {
    value
        .map(str::trim)
        .filter(|v| !v.is_empty())
        .map(str::to_owned)
}

/// What `parse_webhook_body` must return for the JSON object `body` (spec/signer-wire.md §1).
pub fn expected(body: &Map<String, Value>) -> WebhookRequest {
    let headers = body.get("headers").and_then(Value::as_object);
    let credential = header(headers, "Authorization")
        .and_then(credential_from_authorization)
        .or_else(|| {
            body.get("authorization")
                .and_then(Value::as_str)
                .and_then(credential_from_authorization)
        })
        .map(str::to_owned);
    let trusted = TrustedHeaders {
        issuer: non_empty(header(headers, trusted_header::ISSUER)),
        client_id: non_empty(header(headers, trusted_header::CLIENT_ID)),
        subject: non_empty(header(headers, trusted_header::SUBJECT)),
        subject_type: non_empty(header(headers, trusted_header::SUBJECT_TYPE)),
    };
    let previous_auth_id = match body.get("state") {
        Some(Value::Object(state)) => state.get("AuthID").and_then(Value::as_str),
        _ => None,
    }
    .filter(|id| !id.is_empty())
    .map(str::to_owned);
    WebhookRequest {
        credential,
        trusted,
        previous_auth_id,
    }
}
