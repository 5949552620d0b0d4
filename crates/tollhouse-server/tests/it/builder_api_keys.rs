//! Builder API keys: their lifecycle and every exchange of one (direct, app-scoped, the device
//! facade), tenant isolation.

use crate::backend_tests;
use crate::harness::{TestApp, TestServer};
use crate::support::builder::{call, create_key};
use reqwest::Method;
use serde_json::json;

const EXCHANGE: &str = "urn:ietf:params:oauth:grant-type:token-exchange";
const API_KEY: &str = "urn:pymthouse:oauth:token-type:api_key";

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
}
