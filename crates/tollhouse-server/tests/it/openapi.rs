//! The OpenAPI document at `GET /api/v1/openapi.json`: OpenAPI 3.1, every route described, every
//! described route served; and text no database can hold is a client error, not a server error.

use crate::backend_tests;
use crate::harness::TestServer;
use reqwest::Method;
use serde_json::{Value, json};
use std::collections::BTreeSet;

/// Every route the server serves, as `METHOD path` in OpenAPI path syntax.
const ROUTES: &[&str] = &[
    "GET /.well-known/openid-configuration",
    "GET /.well-known/oauth-authorization-server",
    "GET /api/v1/oidc/.well-known/openid-configuration",
    "GET /api/v1/oidc/.well-known/oauth-authorization-server",
    "GET /api/v1/oidc/jwks",
    "POST /api/v1/oidc/token",
    "POST /api/v1/oidc/token/introspection",
    "POST /api/v1/oidc/token/revocation",
    "POST /api/v1/oidc/device/auth",
    "GET /oidc/device",
    "POST /oidc/device",
    "GET /api/v1/oidc/me",
    "POST /api/v1/oidc/me",
    "POST /api/v1/apps/{client_id}/oidc/token",
    "POST /api/pymthouse/keys/exchange",
    "POST /api/signer/device/exchange",
    "GET /api/v1/apps/{client_id}",
    "GET /api/v1/apps/{client_id}/users",
    "POST /api/v1/apps/{client_id}/users",
    "DELETE /api/v1/apps/{client_id}/users",
    "POST /api/v1/apps/{client_id}/users/{external_user_id}/token",
    "GET /api/v1/apps/{client_id}/users/{external_user_id}/keys",
    "POST /api/v1/apps/{client_id}/users/{external_user_id}/keys",
    "DELETE /api/v1/apps/{client_id}/users/{external_user_id}/keys",
    "GET /api/v1/apps/{client_id}/users/{external_user_id}/stream-keys",
    "POST /api/v1/apps/{client_id}/users/{external_user_id}/stream-keys",
    "DELETE /api/v1/apps/{client_id}/users/{external_user_id}/stream-keys",
    "GET /api/v1/apps/{client_id}/users/{external_user_id}/allowances",
    "POST /api/v1/apps/{client_id}/users/{external_user_id}/allowances",
    "GET /api/v1/apps/{client_id}/usage/balance",
    "GET /api/v1/apps/{client_id}/manifest",
    "PUT /api/v1/apps/{client_id}/manifest",
    "GET /api/v1/apps/{client_id}/signer/routing",
    "POST /api/v1/apps/{client_id}/device/deny",
    "POST /api/v1/apps/{client_id}/rooms/secret",
    "POST /api/v1/apps/{client_id}/rooms",
    "POST /api/v1/apps/{client_id}/rooms/{room_id}/tokens",
    "POST /api/v1/apps/{client_id}/rooms/{room_id}/end",
    "POST /api/v1/apps/{client_id}/rooms/verify",
    "POST /api/v1/apps/{client_id}/usage/signed-tickets",
    "POST /api/v1/apps/{client_id}/usage/events",
    "GET /api/v1/apps/{client_id}/usage",
    "GET /api/v1/apps/{client_id}/plans",
    "POST /api/v1/apps/{client_id}/plans",
    "POST /api/v1/apps/{client_id}/plans/{plan_id}/sync",
    "GET /api/v1/apps/{client_id}/settings",
    "PATCH /api/v1/apps/{client_id}/settings",
    "POST /webhooks/remote-signer",
    "POST /authorize",
    "POST /webhooks/live-ai-auth",
    "GET /api/v1/user/usage/balance",
    "GET /api/v1/user/usage",
    "GET /healthz",
    "GET /readyz",
    "GET /metrics",
    "GET /api/v1/openapi.json",
];

const METHODS: &[&str] = &["get", "put", "post", "delete", "patch", "head", "options"];

/// Follows a local `$ref` (`#/components/schemas/Name`).
fn resolve<'a>(doc: &'a Value, reference: &str) -> Option<&'a Value> {
    doc.pointer(reference.strip_prefix('#')?)
}

/// Every `$ref` anywhere below `value`.
fn refs(value: &Value, out: &mut Vec<String>) {
    match value {
        Value::Object(map) => {
            if let Some(Value::String(r)) = map.get("$ref") {
                out.push(r.clone());
            }
            map.values().for_each(|v| refs(v, out));
        }
        Value::Array(items) => items.iter().for_each(|v| refs(v, out)),
        _ => {}
    }
}

backend_tests! {
    async fn openapi_document_describes_every_route(db: Db) {
        let server = TestServer::start(db).await;
        let response = server.http.get(server.url("/api/v1/openapi.json")).send().await.unwrap();
        assert_eq!(response.status(), 200);
        assert!(response.headers()["content-type"].to_str().unwrap().starts_with("application/json"));
        let doc: Value = response.json().await.unwrap();
        assert!(doc["openapi"].as_str().unwrap().starts_with("3.1"), "{}", doc["openapi"]);
        assert_eq!(doc["info"]["title"], "Tollhouse");
        // Relative to wherever the document was fetched from.
        assert!(doc.get("servers").is_none());

        // Exactly the expected routes, no more, no fewer.
        let mut documented = BTreeSet::new();
        let mut operation_ids = BTreeSet::new();
        for (path, item) in doc["paths"].as_object().unwrap() {
            for method in METHODS {
                if let Some(operation) = item.get(*method) {
                    documented.insert(format!("{} {path}", method.to_uppercase()));
                    let id = operation["operationId"].as_str().unwrap().to_owned();
                    assert!(operation_ids.insert(id.clone()), "duplicate operationId {id}");
                    let responses = operation["responses"].as_object().unwrap();
                    // A form post's success is a redirect (the device page's 303).
                    assert!(responses.keys().any(|s| s.starts_with('2') || s.starts_with('3')), "{method} {path}: no success response");
                }
            }
        }
        let expected: BTreeSet<String> = ROUTES.iter().map(|r| (*r).to_owned()).collect();
        assert_eq!(documented, expected);

        // Every reference resolves; both security schemes exist.
        let mut all = Vec::new();
        refs(&doc, &mut all);
        for reference in &all {
            assert!(resolve(&doc, reference).is_some(), "dangling {reference}");
        }
        let schemes = doc["components"]["securitySchemes"].as_object().unwrap();
        assert_eq!(schemes["m2m_basic"]["scheme"], "basic");
        assert_eq!(schemes["user_bearer"]["scheme"], "bearer");
        let builder = &doc["paths"]["/api/v1/apps/{client_id}/users"]["get"];
        assert_eq!(builder["security"], json!([{"m2m_basic": []}]));
        let end_user = &doc["paths"]["/api/v1/user/usage"]["get"];
        assert_eq!(end_user["security"], json!([{"user_bearer": []}]));
        let token = &doc["paths"]["/api/v1/oidc/token"]["post"];
        assert!(token["requestBody"]["content"]["application/x-www-form-urlencoded"].is_object());

        // Nullable fields are declared nullable, money fields are strings.
        let schemas = &doc["components"]["schemas"];
        assert_eq!(schemas["UserView"]["properties"]["email"]["type"], json!(["string", "null"]));
        assert_eq!(schemas["ApiKeyView"]["properties"]["revokedAt"]["type"], json!(["string", "null"]));
        assert_eq!(schemas["ApiKeyView"]["properties"]["label"]["type"], json!(["string", "null"]));
        assert_eq!(schemas["Routing"]["properties"]["signerApiUrl"]["type"], json!(["string", "null"]));
        assert_eq!(schemas["BalanceView"]["properties"]["balanceUsdMicros"]["type"], "string");
        assert_eq!(schemas["SignerSession"]["properties"]["balanceUsdMicros"]["type"], "string");

        // Every documented route is served: substitute the path parameters and call it; nothing
        // may fall through to the router's 404/405 fallbacks.
        let app = server.app.clone();
        for route in &expected {
            let (method, path) = route.split_once(' ').unwrap();
            let path = path
                .replace("{client_id}", &app.client_id)
                .replace("{external_user_id}", "nobody");
            let response = server
                .http
                .request(Method::from_bytes(method.as_bytes()).unwrap(), server.url(&path))
                .basic_auth(&app.m2m_client_id, Some(&app.m2m_secret))
                .send()
                .await
                .unwrap();
            let status = response.status().as_u16();
            assert_ne!(status, 405, "{route}");
            let body = response.text().await.unwrap();
            assert!(!body.contains("no such route"), "{route}: {status} {body}");
        }
        server.finish().await;
    }

    async fn text_with_nul_is_a_client_error(db: Db) {
        // PostgreSQL cannot store or even compare a NUL character; SQLite can. Either way the
        // answer is a 4xx, never a 5xx.
        let server = TestServer::start(db).await;
        let app = server.app.clone();
        server.user_tokens(&app, "nul").await;
        let builder = [
            (Method::POST, "/users".to_owned(), json!({"externalUserId": "nul", "email": "a\u{0}@b.example"})),
            (Method::POST, "/users/nul/keys".to_owned(), json!({"label": "a\u{0}b"})),
            (Method::POST, "/users/nul/allowances".to_owned(), json!({"amountUsdMicros": "5", "featureKey": "a\u{0}b"})),
        ];
        for (method, path, body) in builder {
            let response = server.builder(method, &app, &path).json(&body).send().await.unwrap();
            assert_eq!(response.status(), 400, "{path}");
        }
        let deny = server
            .builder(Method::POST, &app, "/device/deny")
            .json(&json!({"userCode": "BCDF\u{0}GHJK"}))
            .send()
            .await
            .unwrap();
        assert!(deny.status().is_client_error(), "{}", deny.status());
        let revoke = server.builder(Method::DELETE, &app, "/users/nul/keys?keyId=a%00b").send().await.unwrap();
        assert!(revoke.status().is_client_error(), "{}", revoke.status());
        let forms: [(&str, &[(&str, &str)]); 3] = [
            ("/api/v1/oidc/device/auth", &[("client_id", "app_\u{0}")]),
            ("/api/v1/oidc/token", &[("grant_type", "refresh_token"), ("refresh_token", "x"), ("client_id", "a\u{0}")]),
            ("/api/v1/apps/a%00b/oidc/token", &[("grant_type", "urn:ietf:params:oauth:grant-type:token-exchange")]),
        ];
        for (path, form) in forms {
            let response = server.http.post(server.url(path)).form(form).send().await.unwrap();
            assert!(response.status().is_client_error(), "{path}: {}", response.status());
        }
        let basic = server
            .http
            .post(server.url("/api/v1/oidc/token"))
            .basic_auth("m2m_\u{0}", Some("secret"))
            .form(&[("grant_type", "client_credentials")])
            .send()
            .await
            .unwrap();
        assert_eq!(basic.status(), 401);
        let facade = server
            .http
            .post(server.url("/api/pymthouse/keys/exchange"))
            .json(&json!({"apiKey": "pmth_x", "clientId": "app_\u{0}"}))
            .send()
            .await
            .unwrap();
        assert!(facade.status().is_client_error(), "{}", facade.status());
        server.finish().await;
    }

    async fn soft_limit_is_accepted_exactly_as_the_openapi_document_says(db: Db) {
        let server = TestServer::start(db).await;
        let doc: Value = server.http.get(server.url("/api/v1/openapi.json")).send().await.unwrap().json().await.unwrap();
        let schema = &doc["components"]["schemas"]["SettingsPatch"]["properties"]["softLimitUsdMicros"];
        // The string form's pattern, whether the schema is a string or a oneOf of string and integer.
        let alternatives = schema["oneOf"].as_array().into_iter().flatten();
        let pattern = std::iter::once(schema).chain(alternatives).find_map(|item| item["pattern"].as_str())
            .unwrap_or_else(|| panic!("no string pattern in {schema}"));
        let pattern = regex::Regex::new(pattern).unwrap();
        for value in ["0", "1", "9999999999999", "99999999999999", "999999999999999", "1000000000000000",
                      "0001000000000000000", "1000000000000001", "9999999999999999", "10000000000000000", "-1", "1e3", ""] {
            let response = server.builder(Method::PATCH, &server.app, "/settings")
                .json(&json!({"softLimitUsdMicros": value})).send().await.unwrap();
            let accepted = response.status() == 200;
            assert_eq!(accepted, pattern.is_match(value), "{value}: {}", response.status());
        }
        server.finish().await;
    }
}
