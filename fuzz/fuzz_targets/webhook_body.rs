//! The identity webhook's body and credential parsing: arbitrary bytes never panic, and what
//! comes out keeps its invariants.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tollhouse_core::ids::{looks_like_api_key, looks_like_signer_session, split_api_key};
use tollhouse_core::keys::peek_header;
use tollhouse_core::webhook::{
    MAX_CREDENTIAL_BYTES, classify_credential, credential_from_authorization, parse_webhook_body,
};

fn check_credential(credential: &str) {
    assert!(!credential.is_empty() && credential.len() <= MAX_CREDENTIAL_BYTES);
    let _ = classify_credential(credential);
    let _ = peek_header(credential);
    let (app, secret) = split_api_key(credential);
    assert!(credential.ends_with(secret));
    if let Some(app) = app {
        assert!(credential.starts_with(app));
    }
    let _ = looks_like_api_key(credential);
    let _ = looks_like_signer_session(credential);
}

fuzz_target!(|data: &[u8]| {
    if let Ok(request) = parse_webhook_body(data)
        && let Some(credential) = &request.credential
    {
        check_credential(credential);
    }
    let text = String::from_utf8_lossy(data);
    if let Some(credential) = credential_from_authorization(&text) {
        check_credential(credential);
    }
});
