//! The identity webhook's body and credential parsing, fed arbitrary bytes: nothing panics, a body
//! is accepted only if it is a JSON object and every JSON object without repeated keys is accepted
//! (checked against serde_json's own reading), what it yields matches the reference model, and
//! every credential keeps its invariants. The same bytes, read as (lossy) UTF-8, also go straight
//! to the credential helpers.
#![no_main]

use libfuzzer_sys::fuzz_target;
use serde::de::IgnoredAny;
use serde_json::Value;
use tollhouse_core::webhook::parse_webhook_body;
use tollhouse_fuzz::{check_authorization, check_credential, check_shapes, expected};

fuzz_target!(|data: &[u8]| {
    let parsed = parse_webhook_body(data);
    if parsed.is_ok() {
        let first = data.iter().find(|b| !b.is_ascii_whitespace());
        assert!(
            first == Some(&b'{') && serde_json::from_slice::<IgnoredAny>(data).is_ok(),
            "accepted a body that is not a JSON object"
        );
    }
    // (A body serde_json cannot hold as a `Value`, e.g. with a number beyond f64 in an ignored
    // field, is still valid JSON; the model only covers the others.)
    if let Ok(Value::Object(body)) = serde_json::from_slice::<Value>(data) {
        let model = expected(&body);
        if let Ok(request) = &parsed {
            assert_eq!(request.credential, model.credential);
            assert_eq!(request.trusted, model.trusted);
            // A repeated key inside `state` makes the parser drop the whole state (serde refuses
            // duplicate struct fields) where serde_json keeps the last value, so the AuthID is
            // only compared when the parser found one.
            if request.previous_auth_id.is_some() {
                assert_eq!(request.previous_auth_id, model.previous_auth_id);
            }
        }
        // Without repeated keys (serde refuses a repeated top-level field), the object is
        // accepted and read exactly as the model says.
        let canonical = serde_json::to_vec(&body).unwrap_or_default();
        assert_eq!(parse_webhook_body(&canonical), Ok(model));
    }
    if let Ok(request) = &parsed
        && let Some(credential) = &request.credential
    {
        check_credential(credential);
    }

    let text = String::from_utf8_lossy(data);
    check_authorization(&text);
    check_shapes(&text);
});
