//! Builder API manifest (with its ETag) and signer routing.

use crate::backend_tests;
use crate::harness::TestServer;
use crate::support::builder::call;
use reqwest::Method;
use serde_json::{Value, json};

backend_tests! {
    async fn manifest_etag_and_routing(db: Db) {
        let server = TestServer::start(db).await;
        let app = server.app.clone();
        let response = server.builder(Method::GET, &app, "/manifest").send().await.unwrap();
        assert_eq!(response.status(), 200);
        let etag = response.headers()["etag"].to_str().unwrap().to_owned();
        assert!(etag.starts_with('"') && !etag.starts_with("W/"), "strong ETag: {etag}");
        let manifest: Value = response.json().await.unwrap();
        let all = manifest["capabilities"].as_array().unwrap().clone();
        assert!(!all.is_empty());
        let not_modified = server.builder(Method::GET, &app, "/manifest").header("if-none-match", &etag).send().await.unwrap();
        assert_eq!(not_modified.status(), 304);
        assert_eq!(not_modified.headers()["etag"].to_str().unwrap(), etag);

        let excluded = json!({"excludedCapabilities": [all[0]]});
        let (status, updated) = call(server.builder(Method::PUT, &app, "/manifest").json(&excluded)).await;
        assert_eq!(status, 200);
        assert_eq!(updated["capabilities"].as_array().unwrap().len(), all.len() - 1);
        assert_eq!(updated["excludedCapabilities"], json!([all[0]]));
        let changed = server.builder(Method::GET, &app, "/manifest").header("if-none-match", &etag).send().await.unwrap();
        assert_eq!(changed.status(), 200, "a changed manifest has a new ETag");
        let (status, _) = call(server.builder(Method::PUT, &app, "/manifest").json(&json!({"excludedCapabilities": [{"pipeline": "x", "modelId": "y"}]}))).await;
        assert_eq!(status, 400);
        let (status, _) = call(server.builder(Method::PUT, &app, "/manifest").json(&json!({"excludedCapabilities": "all"}))).await;
        assert_eq!(status, 400);
        let other = server.create_app("other").await;
        assert_eq!(call(server.builder_as(Method::PUT, &other, &app.client_id, "/manifest").json(&json!({"excludedCapabilities": []}))).await.0, 404);
        assert_eq!(call(server.builder_as(Method::GET, &other, &app.client_id, "/signer/routing")).await.0, 404);
        // The other app's manifest is its own.
        let (_, theirs) = call(server.builder(Method::GET, &other, "/manifest")).await;
        assert_eq!(theirs["capabilities"].as_array().unwrap().len(), all.len());

        let (status, routing) = call(server.builder(Method::GET, &app, "/signer/routing")).await;
        assert_eq!(status, 200);
        assert_eq!(routing["clientId"], app.client_id);
        assert_eq!(routing["routing"]["jwksUri"], format!("{}/jwks", server.issuer));
        assert_eq!(routing["routing"]["identityMode"], "webhook");
        assert_eq!(routing["patterns"]["directDmz"]["webhookUrl"], server.url("/webhooks/remote-signer"));
        server.finish().await;
    }
}
