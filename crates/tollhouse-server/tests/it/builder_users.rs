//! Builder API: app info, users, minting user tokens, tenant isolation and bad input.

use crate::backend_tests;
use crate::harness::TestServer;
use reqwest::Method;
use serde_json::{Value, json};

async fn status_and_json(request: reqwest::RequestBuilder) -> (u16, Value) {
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    assert!(
        response.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("application/json")
    );
    (status, response.json().await.unwrap())
}

backend_tests! {
    async fn users_are_upserted_listed_and_deactivated(db: Db) {
        let server = TestServer::start(db).await;
        let app = server.app.clone();
        let (status, info) = status_and_json(server.builder(Method::GET, &app, "")).await;
        assert_eq!(status, 200);
        assert_eq!(info["clientId"], app.client_id);
        assert!(info["allowedScopes"].as_array().unwrap().contains(&json!("sign:job")));

        let (status, user) = status_and_json(server.builder(Method::POST, &app, "/users").json(&json!({"externalUserId": "alice", "email": "a@example.com"}))).await;
        assert_eq!(status, 201);
        assert_eq!(user["externalUserId"], "alice");
        assert_eq!(user["email"], "a@example.com");
        assert_eq!(user["status"], "active");
        assert_eq!(user["role"], "user");
        assert_eq!(user["clientId"], app.client_id);
        assert!(user["createdAt"].as_str().unwrap().ends_with('Z'));
        let (status, again) = status_and_json(server.builder(Method::POST, &app, "/users").json(&json!({"externalUserId": "alice"}))).await;
        assert_eq!(status, 200);
        assert_eq!(again["id"], user["id"]);
        assert_eq!(again["email"], "a@example.com", "an omitted email is kept");

        let (_, list) = status_and_json(server.builder(Method::GET, &app, "/users")).await;
        assert_eq!(list["users"].as_array().unwrap().len(), 1);

        let tokens = server.user_tokens(&app, "alice").await;
        let (status, deleted) = status_and_json(server.builder(Method::DELETE, &app, "/users?externalUserId=alice")).await;
        assert_eq!((status, deleted), (200, json!({"success": true, "status": "inactive"})));
        let (status, err) = status_and_json(server.builder(Method::POST, &app, "/users/alice/token").json(&json!({}))).await;
        assert_eq!((status, err["error"].as_str()), (403, Some("user_inactive")));
        // Existing credentials of a deactivated user stop working.
        let refresh = server.http.post(format!("{}/token", server.issuer))
            .form(&[("grant_type", "refresh_token"), ("refresh_token", tokens["refresh_token"].as_str().unwrap()), ("client_id", app.client_id.as_str())])
            .send().await.unwrap();
        assert_eq!(refresh.status(), 400);
        // Reactivation through upsert.
        let (_, back) = status_and_json(server.builder(Method::POST, &app, "/users").json(&json!({"externalUserId": "alice", "status": "active"}))).await;
        assert_eq!(back["status"], "active");
        server.user_tokens(&app, "alice").await;
        server.finish().await;
    }

    async fn minted_user_tokens(db: Db) {
        let server = TestServer::start(db).await;
        let tokens = server.user_tokens(&server.app, "bob").await;
        assert_eq!(tokens["token_type"], "Bearer");
        assert_eq!(tokens["expires_in"], 900);
        assert_eq!(tokens["scope"], "sign:job");
        assert_eq!(tokens["subject_type"], "app_user");
        assert!(tokens["refresh_token"].as_str().unwrap().starts_with("pmth_rt_"));
        assert!(tokens["correlation_id"].is_string());
        let claims = crate::token::validate_with_jwks(&server, tokens["access_token"].as_str().unwrap()).await;
        assert_eq!(claims["external_user_id"], "bob");
        assert_eq!(claims["user_type"], "app_user");
        assert_eq!(claims["client_id"], server.app.client_id);
        assert_eq!(claims["exp"].as_i64().unwrap() - claims["iat"].as_i64().unwrap(), 900);

        let (status, scoped) = status_and_json(server.builder(Method::POST, &server.app, "/users/bob/token").json(&json!({"scope": "openid sign:job"}))).await;
        assert_eq!((status, scoped["scope"].as_str()), (200, Some("openid sign:job")));
        let (status, err) = status_and_json(server.builder(Method::POST, &server.app, "/users/bob/token").json(&json!({"scope": "admin"}))).await;
        assert_eq!((status, err["error"].as_str()), (400, Some("invalid_scope")));
        let (status, err) = status_and_json(server.builder(Method::POST, &server.app, "/users/nobody/token").json(&json!({}))).await;
        assert_eq!((status, err["error"].as_str()), (404, Some("not_found")));
        // No body at all is the same as `{}`.
        let bare = server.builder(Method::POST, &server.app, "/users/bob/token").send().await.unwrap();
        assert_eq!(bare.status(), 200);
        server.finish().await;
    }

    async fn tenant_isolation_on_every_route(db: Db) {
        let server = TestServer::start(db).await;
        let other = server.create_app("other").await;
        server.user_tokens(&server.app, "carol").await;
        let target = server.app.client_id.clone();
        let attempts: Vec<(Method, String, Option<Value>)> = vec![
            (Method::GET, String::new(), None),
            (Method::GET, "/users".into(), None),
            (Method::POST, "/users".into(), Some(json!({"externalUserId": "mallory"}))),
            (Method::DELETE, "/users?externalUserId=carol".into(), None),
            (Method::POST, "/users/carol/token".into(), Some(json!({}))),
        ];
        for (method, path, body) in attempts {
            let mut request = server.builder_as(method.clone(), &other, &target, &path);
            if let Some(body) = &body {
                request = request.json(body);
            }
            let (status, err) = status_and_json(request).await;
            assert_eq!((status, err["error"].as_str()), (404, Some("not_found")), "{method} {path}");
            // The same answer as for an app that does not exist at all.
            let mut request = server.builder_as(method.clone(), &other, "app_000000000000000000000000", &path);
            if let Some(body) = &body {
                request = request.json(body);
            }
            assert_eq!(status_and_json(request).await.0, 404);
            // And without credentials, 401.
            let anonymous = server.http.request(method, server.url(&format!("/api/v1/apps/{target}{path}"))).send().await.unwrap();
            assert_eq!(anonymous.status(), 401);
        }
        // Nothing changed for the target app.
        let (_, list) = status_and_json(server.builder(Method::GET, &server.app, "/users")).await;
        assert_eq!(list["users"].as_array().unwrap().len(), 1);
        assert_eq!(list["users"][0]["status"], "active");
        server.finish().await;
    }

    async fn bad_input_is_a_clear_json_error(db: Db) {
        let server = TestServer::start(db).await;
        let app = server.app.clone();
        let bad_bodies = [
            json!({}),
            json!({"externalUserId": 42}),
            json!({"externalUserId": ""}),
            json!({"externalUserId": "a@b.c"}),
            json!({"externalUserId": "owner:1"}),
            json!({"externalUserId": "x".repeat(129)}),
            json!({"externalUserId": "ok", "status": "paused"}),
            json!({"externalUserId": "ok", "email": "not-an-address"}),
            json!({"externalUserId": "ok", "email": 7}),
            json!(["externalUserId"]),
        ];
        for body in bad_bodies {
            let (status, err) = status_and_json(server.builder(Method::POST, &app, "/users").json(&body)).await;
            assert_eq!(status, 400, "{body}");
            assert!(err["error"].is_string() && err["error_description"].is_string());
        }
        let malformed = server.builder(Method::POST, &app, "/users").header("content-type", "application/json").body("{not json").send().await.unwrap();
        assert_eq!(malformed.status(), 400);
        let huge = json!({"externalUserId": "ok", "email": format!("{}@x.io", "a".repeat(100_000))});
        let (status, err) = status_and_json(server.builder(Method::POST, &app, "/users").json(&huge)).await;
        assert_eq!((status, err["error"].as_str()), (413, Some("payload_too_large")));
        let (status, _) = status_and_json(server.builder(Method::DELETE, &app, "/users")).await;
        assert_eq!(status, 400);
        let (status, _) = status_and_json(server.builder(Method::DELETE, &app, "/users?externalUserId=ghost")).await;
        assert_eq!(status, 404);
        let (status, _) = status_and_json(server.builder(Method::POST, &app, "/users/bad%20id/token").json(&json!({}))).await;
        assert_eq!(status, 400);
        // Nothing was stored by any of that.
        let (_, list) = status_and_json(server.builder(Method::GET, &app, "/users")).await;
        assert_eq!(list["users"], json!([]));
        server.finish().await;
    }
}
