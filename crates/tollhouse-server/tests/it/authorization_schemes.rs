//! `Authorization` schemes are case-insensitive (RFC 9110 §11.1): on every operation the OpenAPI
//! document says takes HTTP Basic (`m2m_basic`) or a bearer (`user_bearer`, `webhook_secret`),
//! `Basic`/`BASIC`/`basic` and `Bearer`/`BEARER`/`bearer` get the same answer, and it is not the
//! 401 a wrong credential gets. The routes come from the served document, so a route added
//! later is covered without touching this file.

use crate::backend_tests;
use crate::harness::{FreshDb, TestServer, config_for};
use base64::Engine as _;
use reqwest::Method;
use serde_json::{Value, json};
use tollhouse_core::keys::SigningAlg;
use tollhouse_server::config::Redacted;

const WEBHOOK_SECRET: &str = "the-webhook-secret";

/// The operations of the document whose security names `scheme`, as (method, path template,
/// whether the body is a form).
fn operations_taking(doc: &Value, scheme: &str) -> Vec<(Method, String, bool)> {
    let mut found = Vec::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, operation) in item.as_object().unwrap() {
            let takes = operation["security"]
                .as_array()
                .is_some_and(|alternatives| alternatives.iter().any(|a| a.get(scheme).is_some()));
            if takes {
                let form = operation["requestBody"]["content"]
                    .get("application/x-www-form-urlencoded")
                    .is_some();
                let method = Method::from_bytes(method.to_uppercase().as_bytes()).unwrap();
                found.push((method, path.clone(), form));
            }
        }
    }
    found
}

/// The path with its parameters filled: the test app, its user `alice`, and names of nothing
/// for the rest (a 404 is as good an answer as any, as long as it is the same for every
/// spelling of the scheme).
fn concrete(server: &TestServer, template: &str) -> String {
    let path = template
        .replace("{client_id}", &server.app.client_id)
        .replace("{clientId}", &server.app.client_id)
        .replace("{external_user_id}", "alice")
        .replace("{externalUserId}", "alice");
    let filled: Vec<String> = path
        .split('/')
        .map(|segment| {
            if segment.starts_with('{') {
                "none".to_owned()
            } else {
                segment.to_owned()
            }
        })
        .collect();
    server.url(&filled.join("/"))
}

async fn status_with(
    server: &TestServer,
    (method, template, form): &(Method, String, bool),
    authorization: &str,
) -> u16 {
    let request = server
        .http
        .request(method.clone(), concrete(server, template))
        .header("Authorization", authorization);
    let request = match (method, form) {
        (&Method::GET | &Method::DELETE, _) => request,
        // A grant every token endpoint takes (the app-scoped one takes nothing else), with a
        // subject that proves nothing: client authentication decides before the subject does.
        (_, true) => request.form(&[
            (
                "grant_type",
                "urn:ietf:params:oauth:grant-type:token-exchange",
            ),
            ("subject_token", "none"),
            (
                "subject_token_type",
                "urn:ietf:params:oauth:token-type:access_token",
            ),
            ("token", "none"),
        ]),
        (_, false) => request.json(&json!({})),
    };
    request.send().await.unwrap().status().as_u16()
}

/// Each operation answers every spelling of `scheme` alike, and a wrong credential with 401.
async fn schemes_agree(
    server: &TestServer,
    operations: &[(Method, String, bool)],
    spellings: [&str; 3],
    right: &str,
    wrong: &str,
) {
    assert!(!operations.is_empty());
    for operation in operations {
        let mut statuses = Vec::new();
        for spelling in spellings {
            statuses.push(status_with(server, operation, &format!("{spelling} {right}")).await);
        }
        let refused = status_with(server, operation, &format!("{} {wrong}", spellings[0])).await;
        assert_eq!(
            refused, 401,
            "{operation:?} must refuse a wrong credential (answered with {spellings:?}: {statuses:?})"
        );
        assert!(
            statuses.iter().all(|s| *s == statuses[0] && *s != 401),
            "{operation:?}: {spellings:?} answered {statuses:?}"
        );
    }
}

backend_tests! {
    async fn every_route_reads_authorization_schemes_in_any_case(db: Db) {
        let fresh = FreshDb::new(db).await;
        let mut config = config_for(&fresh, SigningAlg::RS256);
        config.signer.webhook_secret = Some(Redacted::new(WEBHOOK_SECRET));
        let server = TestServer::start_on(fresh, config).await;
        let doc: Value = server.http.get(server.url("/api/v1/openapi.json")).send().await.unwrap().json().await.unwrap();
        let jwt = server.user_tokens(&server.app, "alice").await["access_token"].as_str().unwrap().to_owned();
        let b64 = base64::engine::general_purpose::STANDARD;
        let basic = b64.encode(format!("{}:{}", server.app.m2m_client_id, server.app.m2m_secret));
        let wrong_basic = b64.encode(format!("{}:wrong", server.app.m2m_client_id));

        let basics = operations_taking(&doc, "m2m_basic");
        schemes_agree(&server, &basics, ["Basic", "BASIC", "basic"], &basic, &wrong_basic).await;
        let bearers = ["Bearer", "BEARER", "bearer"];
        let user_routes = operations_taking(&doc, "user_bearer");
        schemes_agree(&server, &user_routes, bearers, &jwt, "not-a-credential").await;
        // The webhook's caller check reads the shared secret as a bearer too.
        let webhooks = operations_taking(&doc, "webhook_secret");
        schemes_agree(&server, &webhooks, bearers, WEBHOOK_SECRET, "not-the-secret").await;
        eprintln!("{db:?}: {} Basic, {} user bearer, {} webhook operations", basics.len(), user_routes.len(), webhooks.len());
        server.finish().await;
    }

    async fn an_end_user_route_asks_for_an_end_user_credential(db: Db) {
        let server = TestServer::start(db).await;
        for auth in [None, Some("Bearer eyJnot.a.token"), Some("Bearer pmth_ak_nope")] {
            let mut request = server.http.get(server.url("/api/v1/user/usage/balance"));
            if let Some(auth) = auth {
                request = request.header("Authorization", auth);
            }
            let response = request.send().await.unwrap();
            assert_eq!(response.status(), 401);
            let body: Value = response.json().await.unwrap();
            let text = body["error_description"].as_str().unwrap();
            assert!(text.contains("end-user credential") && !text.contains("M2M"), "{text}");
        }
        server.finish().await;
    }
}
