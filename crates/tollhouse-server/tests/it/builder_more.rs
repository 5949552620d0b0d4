//! Builder API: API keys and their exchanges (direct, app-scoped, facade), allowances and
//! balances, manifest with ETag, signer routing, end-user routes, tenant isolation.

use crate::backend_tests;
use crate::harness::{TestApp, TestServer};
use reqwest::Method;
use serde_json::{Value, json};

const EXCHANGE: &str = "urn:ietf:params:oauth:grant-type:token-exchange";
const API_KEY: &str = "urn:pymthouse:oauth:token-type:api_key";

async fn call(request: reqwest::RequestBuilder) -> (u16, Value) {
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    let body = if status == 304 {
        Value::Null
    } else {
        response.json().await.unwrap()
    };
    (status, body)
}

async fn create_key(server: &TestServer, app: &TestApp, ext: &str) -> Value {
    let (status, key) = call(
        server
            .builder(Method::POST, app, &format!("/users/{ext}/keys"))
            .json(&json!({"label": "laptop"})),
    )
    .await;
    assert_eq!(status, 201, "{key}");
    key
}

backend_tests! {
    async fn api_keys_lifecycle_and_exchanges(db: Db) {
        let server = TestServer::start(db).await;
        let app = server.app.clone();
        server.user_tokens(&app, "kim").await;
        let key = create_key(&server, &app, "kim").await;
        let api_key = key["apiKey"].as_str().unwrap().to_owned();
        assert!(api_key.starts_with(&format!("{}_pmth_ak_", app.client_id)));
        assert!(api_key.starts_with(key["prefix"].as_str().unwrap()) && api_key.ends_with(key["suffix"].as_str().unwrap()));
        let (_, list) = call(server.builder(Method::GET, &app, "/users/kim/keys")).await;
        assert_eq!(list["keys"].as_array().unwrap().len(), 1);
        assert!(list["keys"][0].get("apiKey").is_none() && !list.to_string().contains(&api_key[40..]), "the key is shown once");

        // Direct exchange at the app-scoped endpoint (no M2M credentials needed), composite and bare.
        let url = server.url(&format!("/api/v1/apps/{}/oidc/token", app.client_id));
        let bare = api_key.split_at(29).1.to_owned();
        for presented in [api_key.as_str(), bare.as_str()] {
            let (status, session) = call(server.http.post(&url).form(&[("grant_type", EXCHANGE), ("subject_token", presented), ("subject_token_type", API_KEY)])).await;
            assert_eq!(status, 200, "{session}");
            assert!(session["access_token"].as_str().unwrap().starts_with("pmth_"));
            assert_eq!(session["scope"], "sign:job");
            assert_eq!(session["lifetimeGrantedUsdMicros"], "0");
        }
        // At the issuer's token endpoint with M2M credentials, and at the facade.
        let (status, _) = call(server.http.post(format!("{}/token", server.issuer)).basic_auth(&app.m2m_client_id, Some(&app.m2m_secret))
            .form(&[("grant_type", EXCHANGE), ("subject_token", api_key.as_str()), ("subject_token_type", API_KEY)])).await;
        assert_eq!(status, 200);
        let facade = server.url("/api/pymthouse/keys/exchange");
        let (status, session) = call(server.http.post(&facade).json(&json!({"apiKey": api_key, "clientId": app.client_id}))).await;
        assert_eq!(status, 200, "{session}");
        let (status, err) = call(server.http.post(&facade).json(&json!({"apiKey": app.m2m_secret, "clientId": app.client_id}))).await;
        assert_eq!((status, err["error"].as_str()), (400, Some("invalid_request")), "M2M secrets are not API keys");
        let (status, _) = call(server.http.post(&facade).json(&json!({"apiKey": api_key, "scope": "admin"}))).await;
        assert_eq!(status, 400);
        let (status, _) = call(server.http.post(&facade).json(&json!(["nope"]))).await;
        assert_eq!(status, 400);

        // Another app: its path, its credentials, its facade clientId all refuse the key.
        let other = server.create_app("other").await;
        let other_url = server.url(&format!("/api/v1/apps/{}/oidc/token", other.client_id));
        let (status, _) = call(server.http.post(&other_url).form(&[("grant_type", EXCHANGE), ("subject_token", api_key.as_str()), ("subject_token_type", API_KEY)])).await;
        assert_eq!(status, 400);
        let (status, _) = call(server.http.post(&url).basic_auth(&other.m2m_client_id, Some(&other.m2m_secret))
            .form(&[("grant_type", EXCHANGE), ("subject_token", api_key.as_str()), ("subject_token_type", API_KEY)])).await;
        assert!(status == 400 || status == 401);
        let (status, _) = call(server.http.post(&facade).json(&json!({"apiKey": api_key, "clientId": other.client_id}))).await;
        assert_eq!(status, 400);
        let unknown = server.url("/api/v1/apps/app_000000000000000000000000/oidc/token");
        let (status, err) = call(server.http.post(&unknown).form(&[("grant_type", EXCHANGE), ("subject_token", api_key.as_str()), ("subject_token_type", API_KEY)])).await;
        assert_eq!((status, err["error"].as_str()), (404, Some("not_found")));

        // The end user's own routes accept the key, the session and the JWT; `userId` is refused.
        let tokens = server.user_tokens(&app, "kim").await;
        for bearer in [api_key.as_str(), session["access_token"].as_str().unwrap(), tokens["access_token"].as_str().unwrap()] {
            let (status, balance) = call(server.http.get(server.url("/api/v1/user/usage/balance")).bearer_auth(bearer)).await;
            assert_eq!((status, balance["externalUserId"].as_str()), (200, Some("kim")));
        }
        let (status, _) = call(server.http.get(server.url("/api/v1/user/usage?userId=kim")).bearer_auth(&api_key)).await;
        assert_eq!(status, 400);
        let (status, usage) = call(server.http.get(server.url("/api/v1/user/usage")).bearer_auth(&api_key)).await;
        assert_eq!((status, usage["totals"]["requestCount"].as_i64()), (200, Some(0)));
        let (status, _) = call(server.http.get(server.url("/api/v1/user/usage/balance")).bearer_auth("pmth_ak_nope")).await;
        assert_eq!(status, 401);

        // Introspection sees the key (composite or bare) for its own app only.
        let introspect = |token: String, caller: TestApp| {
            let server = &server;
            async move {
                call(server.http.post(format!("{}/token/introspection", server.issuer)).basic_auth(&caller.m2m_client_id, Some(&caller.m2m_secret)).form(&[("token", token.as_str())])).await.1
            }
        };
        let info = introspect(api_key.clone(), app.clone()).await;
        assert_eq!((info["active"].as_bool(), info["external_user_id"].as_str()), (Some(true), Some("kim")));
        assert_eq!(introspect(bare.clone(), app.clone()).await["active"], true);
        assert_eq!(introspect(api_key.clone(), other.clone()).await["active"], false);
        // RFC 7009 revocation by another app does nothing.
        server.http.post(format!("{}/token/revocation", server.issuer)).basic_auth(&other.m2m_client_id, Some(&other.m2m_secret)).form(&[("token", api_key.as_str())]).send().await.unwrap();
        assert_eq!(introspect(api_key.clone(), app.clone()).await["active"], true);

        // Revocation: the key fails everywhere at once.
        let (status, revoked) = call(server.builder(Method::DELETE, &app, &format!("/users/kim/keys?keyId={}", key["id"].as_str().unwrap()))).await;
        assert_eq!((status, revoked["key"]["status"].as_str()), (200, Some("revoked")));
        let (status, _) = call(server.http.post(&url).form(&[("grant_type", EXCHANGE), ("subject_token", api_key.as_str()), ("subject_token_type", API_KEY)])).await;
        assert_eq!(status, 400);
        let (status, _) = call(server.http.post(&facade).json(&json!({"apiKey": api_key}))).await;
        assert_eq!(status, 400);
        let (status, _) = call(server.http.get(server.url("/api/v1/user/usage/balance")).bearer_auth(&api_key)).await;
        assert_eq!(status, 401);
        let (status, _) = call(server.builder(Method::DELETE, &app, "/users/kim/keys?keyId=00000000-0000-0000-0000-000000000000")).await;
        assert_eq!(status, 404);
        // A deactivated user's keys stop working too.
        let second = create_key(&server, &app, "kim").await;
        // RFC 7009 revocation by the owning app works like the Builder route.
        let third = create_key(&server, &app, "kim").await;
        server.http.post(format!("{}/token/revocation", server.issuer)).basic_auth(&app.m2m_client_id, Some(&app.m2m_secret)).form(&[("token", third["apiKey"].as_str().unwrap())]).send().await.unwrap();
        assert_eq!(introspect(third["apiKey"].as_str().unwrap().to_owned(), app.clone()).await["active"], false);
        call(server.builder(Method::DELETE, &app, "/users?externalUserId=kim")).await;
        let (status, _) = call(server.http.post(&facade).json(&json!({"apiKey": second["apiKey"]}))).await;
        assert_eq!(status, 400);
        server.finish().await;
    }

    async fn allowances_and_balance(db: Db) {
        let server = TestServer::start(db).await;
        let app = server.app.clone();
        server.user_tokens(&app, "lee").await;
        let (status, fresh) = call(server.builder(Method::GET, &app, "/users/lee/allowances")).await;
        assert_eq!(status, 200);
        assert_eq!(fresh["allowances"], json!({"balanceUsdMicros": "0", "consumedUsdMicros": "0", "lifetimeGrantedUsdMicros": "0", "hasAccess": false}));
        let (status, granted) = call(server.builder(Method::POST, &app, "/users/lee/allowances").json(&json!({"amountUsdMicros": "1000000", "source": "trial"}))).await;
        assert_eq!(status, 201, "{granted}");
        assert_eq!(granted["grantedUsdMicros"], "1000000");
        assert_eq!(granted["allowances"]["balanceUsdMicros"], "1000000");
        assert_eq!(granted["allowances"]["hasAccess"], true);
        call(server.builder(Method::POST, &app, "/users/lee/allowances").json(&json!({"amountUsdMicros": "250000", "source": "promo", "featureKey": "live"}))).await;
        let (status, balance) = call(server.builder(Method::GET, &app, "/usage/balance?externalUserId=lee")).await;
        assert_eq!(status, 200);
        assert_eq!(balance["balanceUsdMicros"], "1250000");
        assert_eq!(balance["remainingUsdMicros"], "1250000");
        assert_eq!(balance["lifetimeGrantedUsdMicros"], "1250000");
        // The balance travels with signer sessions.
        let tokens = server.user_tokens(&app, "lee").await;
        let (_, session) = call(server.http.post(format!("{}/token", server.issuer)).basic_auth(&app.m2m_client_id, Some(&app.m2m_secret))
            .form(&[("grant_type", EXCHANGE), ("subject_token", tokens["access_token"].as_str().unwrap()), ("subject_token_type", "urn:ietf:params:oauth:token-type:access_token")])).await;
        assert_eq!(session["balanceUsdMicros"], "1250000");

        for bad in [json!({"amountUsdMicros": "-5"}), json!({"amountUsdMicros": "0"}), json!({"amountUsdMicros": "1.5"}), json!({"amountUsdMicros": 1.5}),
                    json!({"amountUsdMicros": "99999999999999999999"}), json!({"amountUsdMicros": "5", "source": "gift"}), json!({}), json!({"amountUsdMicros": "5", "featureKey": ""})] {
            let (status, err) = call(server.builder(Method::POST, &app, "/users/lee/allowances").json(&bad)).await;
            assert_eq!(status, 400, "{bad}: {err}");
        }
        let (status, _) = call(server.builder(Method::POST, &app, "/users/ghost/allowances").json(&json!({"amountUsdMicros": "5"}))).await;
        assert_eq!(status, 404);
        let (status, _) = call(server.builder(Method::GET, &app, "/usage/balance")).await;
        assert_eq!(status, 400);
        let other = server.create_app("other").await;
        let (status, _) = call(server.builder_as(Method::POST, &other, &app.client_id, "/users/lee/allowances").json(&json!({"amountUsdMicros": "5"}))).await;
        assert_eq!(status, 404);
        let (status, _) = call(server.builder_as(Method::GET, &other, &app.client_id, "/usage/balance?externalUserId=lee")).await;
        assert_eq!(status, 404);
        // Nothing the refused requests carried was stored.
        let (_, balance) = call(server.builder(Method::GET, &app, "/usage/balance?externalUserId=lee")).await;
        assert_eq!(balance["lifetimeGrantedUsdMicros"], "1250000");
        server.finish().await;
    }

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
