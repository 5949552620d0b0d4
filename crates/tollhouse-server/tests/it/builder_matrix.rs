//! Every Builder route, table-driven: another tenant's credentials get 404 (as for a missing
//! app), no credentials get 401, malformed JSON / wrong types / oversized bodies get a JSON 4xx,
//! unknown users get 404, nothing answers 500, and nothing stored changes.

use crate::backend_tests;
use crate::harness::TestServer;
use reqwest::Method;
use serde_json::{Value, json};

/// (method, path below A, a valid JSON body if the route takes one, whether the path names a user)
fn routes() -> Vec<(Method, &'static str, Option<Value>, bool)> {
    vec![
        (Method::GET, "", None, false),
        (Method::GET, "/users", None, false),
        (
            Method::POST,
            "/users",
            Some(json!({"externalUserId": "zed"})),
            false,
        ),
        (Method::DELETE, "/users?externalUserId=pat", None, true),
        (
            Method::POST,
            "/users/pat/token",
            Some(json!({"scope": "sign:job"})),
            true,
        ),
        (Method::GET, "/users/pat/keys", None, true),
        (
            Method::POST,
            "/users/pat/keys",
            Some(json!({"label": "x"})),
            true,
        ),
        (
            Method::DELETE,
            "/users/pat/keys?keyId=00000000-0000-0000-0000-000000000000",
            None,
            true,
        ),
        (Method::GET, "/users/pat/allowances", None, true),
        (
            Method::POST,
            "/users/pat/allowances",
            Some(json!({"amountUsdMicros": "5"})),
            true,
        ),
        (Method::GET, "/usage/balance?externalUserId=pat", None, true),
        (Method::GET, "/manifest", None, false),
        (
            Method::PUT,
            "/manifest",
            Some(json!({"excludedCapabilities": []})),
            false,
        ),
        (Method::GET, "/signer/routing", None, false),
        (
            Method::POST,
            "/device/deny",
            Some(json!({"userCode": "BCDF-GHJK"})),
            false,
        ),
    ]
}

async fn snapshot(server: &TestServer) -> Value {
    let app = &server.app;
    let get = |path: String| async move {
        server
            .builder(Method::GET, app, &path)
            .send()
            .await
            .unwrap()
            .json::<Value>()
            .await
            .unwrap()
    };
    json!({
        "users": get("/users".into()).await,
        "keys": get("/users/pat/keys".into()).await["keys"].as_array().map(Vec::len),
        "allowances": get("/users/pat/allowances".into()).await,
        "manifest": get("/manifest".into()).await["manifestVersion"],
    })
}

fn assert_json_error(status: u16, body: &str, context: &str) {
    assert!((400..500).contains(&status), "{context}: status {status}");
    let parsed: Value =
        serde_json::from_str(body).unwrap_or_else(|_| panic!("{context}: not JSON: {body}"));
    assert!(parsed["error"].is_string(), "{context}: {parsed}");
}

backend_tests! {
    async fn every_route_isolated_and_validated(db: Db) {
        let server = TestServer::start(db).await;
        let app = server.app.clone();
        let other = server.create_app("other").await;
        server.user_tokens(&app, "pat").await;
        let before = snapshot(&server).await;

        for (method, path, body, names_user) in routes() {
            let context = format!("{method} A{path}");
            // Another tenant, and a made-up app: the same 404.
            for target in [app.client_id.as_str(), "app_000000000000000000000000"] {
                let mut request = server.builder_as(method.clone(), &other, target, path);
                if let Some(body) = &body {
                    request = request.json(body);
                }
                let response = request.send().await.unwrap();
                let status = response.status().as_u16();
                let text = response.text().await.unwrap();
                assert_eq!(status, 404, "{context} as another tenant ({target})");
                assert_json_error(status, &text, &context);
            }
            // No credentials, and a wrong secret.
            let response = server.http.request(method.clone(), server.url(&format!("/api/v1/apps/{}{path}", app.client_id))).send().await.unwrap();
            assert_eq!(response.status(), 401, "{context} anonymous");
            let response = server.http.request(method.clone(), server.url(&format!("/api/v1/apps/{}{path}", app.client_id)))
                .basic_auth(&app.m2m_client_id, Some("pmth_cs_wrong")).send().await.unwrap();
            assert_eq!(response.status(), 401, "{context} wrong secret");

            if body.is_some() {
                // Malformed JSON, wrong JSON types, a non-object, an oversized body.
                let bad_bodies: Vec<(String, &str)> = vec![
                    ("{not json".into(), "malformed"),
                    ("[1, 2]".into(), "array"),
                    ("\"text\"".into(), "string"),
                    (json!({"externalUserId": 7, "scope": 7, "label": 7, "amountUsdMicros": [1], "excludedCapabilities": 7, "userCode": 7}).to_string(), "wrong types"),
                    (format!("{{\"label\": \"{}\"}}", "x".repeat(70_000)), "oversized"),
                ];
                for (raw, what) in bad_bodies {
                    let response = server.builder(method.clone(), &app, path).header("content-type", "application/json").body(raw).send().await.unwrap();
                    let status = response.status().as_u16();
                    let text = response.text().await.unwrap();
                    assert_json_error(status, &text, &format!("{context} {what}"));
                    if what == "oversized" {
                        assert_eq!(status, 413, "{context}");
                    }
                }
            }
            if names_user {
                let unknown = path.replace("pat", "nobody");
                let mut request = server.builder(method.clone(), &app, &unknown);
                if let Some(body) = &body {
                    request = request.json(body);
                }
                let response = request.send().await.unwrap();
                let status = response.status().as_u16();
                let text = response.text().await.unwrap();
                assert_eq!(status, 404, "{method} A{unknown}");
                assert_json_error(status, &text, &unknown);
                let invalid = path.replace("pat", "bad%20id");
                let response = server.builder(method.clone(), &app, &invalid).json(&body.clone().unwrap_or(json!({}))).send().await.unwrap();
                assert_eq!(response.status(), 400, "{method} A{invalid}");
            }
        }
        assert_eq!(snapshot(&server).await, before, "refused requests changed nothing");
        server.finish().await;
    }
}
