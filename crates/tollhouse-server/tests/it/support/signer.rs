//! Support for tests of the signer surfaces: a server with a webhook secret, the webhook's
//! verdict as go-livepeer's remote signer asks for it (`support/golivepeer.rs`), and the credentials a
//! gateway forwards (API keys, signer sessions).

use crate::harness::{FreshDb, TestApp, TestServer, config_for};
use crate::support::golivepeer::{SignerState, call_identity_webhook, webhook_body};
use reqwest::Method;
use serde_json::{Value, json};
use tollhouse_core::keys::SigningAlg;
use tollhouse_server::config::{Config, Redacted};

/// The webhook secret every signer test server is started with.
pub const SECRET: &str = "whsec-test-0123456789";
/// go-livepeer's `-remoteSignerWebhookHeaders` value carrying [`SECRET`].
pub const FLAG: &str = "X-Api-Key:whsec-test-0123456789";

/// A test server whose identity webhook takes [`SECRET`], with `tweak` applied to its config.
pub async fn start(db: crate::harness::Db, tweak: impl FnOnce(&mut Config)) -> TestServer {
    let db = FreshDb::new(db).await;
    let mut config = config_for(&db, SigningAlg::RS256);
    config.signer.webhook_secret = Some(Redacted::new(SECRET));
    tweak(&mut config);
    TestServer::start_on(db, config).await
}

/// The identity webhook's URL on `server`.
pub fn webhook_url(server: &TestServer) -> String {
    server.url("/webhooks/remote-signer")
}

/// The webhook's verdict for a request whose gateway sent `headers`.
pub async fn verdict(server: &TestServer, headers: &[(&str, &str)]) -> Value {
    let body = webhook_body(headers, Some(&SignerState::default()));
    let (status, answer) = call_identity_webhook(&webhook_url(server), FLAG, body).await;
    assert_eq!(status, 200, "{:?}", String::from_utf8_lossy(&answer.raw));
    answer.json.expect("JSON answer")
}

/// Creates (or updates) the app's user `ext`.
pub async fn upsert(server: &TestServer, app: &TestApp, ext: &str) {
    let r = server
        .builder(Method::POST, app, "/users")
        .json(&json!({"externalUserId": ext}))
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success());
}

/// A new API key of user `ext` (created if needed).
pub async fn api_key(server: &TestServer, app: &TestApp, ext: &str) -> String {
    upsert(server, app, ext).await;
    let r = server
        .builder(Method::POST, app, &format!("/users/{ext}/keys"))
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let body: Value = r.json().await.unwrap();
    body["apiKey"].as_str().unwrap().to_owned()
}

/// An opaque signer session exchanged (RFC 8693) from a user JWT.
pub async fn signer_session(server: &TestServer, app: &TestApp, user_jwt: &str) -> String {
    let r = server
        .token_request(
            app,
            &[
                (
                    "grant_type",
                    "urn:ietf:params:oauth:grant-type:token-exchange",
                ),
                ("subject_token", user_jwt),
                (
                    "subject_token_type",
                    "urn:ietf:params:oauth:token-type:access_token",
                ),
            ],
        )
        .await;
    assert_eq!(r.status(), 200);
    let body: Value = r.json().await.unwrap();
    body["access_token"].as_str().unwrap().to_owned()
}
