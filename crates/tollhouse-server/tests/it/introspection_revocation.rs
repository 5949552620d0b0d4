//! Introspection (RFC 7662) and revocation (RFC 7009), tenant isolation, and how long a
//! revocation is remembered.

use crate::backend_tests;
use crate::harness::{TestApp, TestServer};
use serde_json::Value;

async fn introspect(server: &TestServer, caller: &TestApp, token: &str) -> Value {
    let response = server
        .http
        .post(format!("{}/token/introspection", server.issuer))
        .basic_auth(&caller.m2m_client_id, Some(&caller.m2m_secret))
        .form(&[("token", token), ("token_type_hint", "access_token")])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    response.json().await.unwrap()
}

async fn revoke(server: &TestServer, caller: &TestApp, token: &str) -> u16 {
    server
        .http
        .post(format!("{}/token/revocation", server.issuer))
        .basic_auth(&caller.m2m_client_id, Some(&caller.m2m_secret))
        .form(&[("token", token)])
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

backend_tests! {
    async fn introspection_and_revocation(db: Db) {
        let server = TestServer::start(db).await;
        let other = server.create_app("other").await;
        let token = server.m2m_token(&server.app, "users:read sign:job").await;

        let active = introspect(&server, &server.app, &token).await;
        assert_eq!(active["active"], true);
        assert_eq!(active["client_id"], server.app.client_id);
        assert_eq!(active["sub"], server.app.m2m_client_id);
        assert_eq!(active["scope"], "sign:job users:read");
        assert_eq!(active["iss"], server.issuer);
        assert!(active["jti"].is_string() && active["exp"].is_i64());

        // Another tenant learns nothing and cannot revoke it.
        assert_eq!(introspect(&server, &other, &token).await, serde_json::json!({"active": false}));
        assert_eq!(revoke(&server, &other, &token).await, 200);
        assert_eq!(introspect(&server, &server.app, &token).await["active"], true);

        // Garbage is simply inactive, and revoking it is a quiet success.
        for junk in ["junk", "a.b.c", "eyJhbGciOiJub25lIn0.e30."] {
            assert_eq!(introspect(&server, &server.app, junk).await["active"], false);
            assert_eq!(revoke(&server, &server.app, junk).await, 200);
        }

        // The owner revokes it: inactive at once, idempotent.
        assert_eq!(revoke(&server, &server.app, &token).await, 200);
        assert_eq!(revoke(&server, &server.app, &token).await, 200);
        assert_eq!(introspect(&server, &server.app, &token).await["active"], false);
        let state = server.state().clone();
        assert_eq!(state.store.count_revocations().await.unwrap(), 1);

        // Other tokens of the app are unaffected.
        let fresh = server.m2m_token(&server.app, "users:read").await;
        assert_eq!(introspect(&server, &server.app, &fresh).await["active"], true);

        // The revocation is remembered until the token would have expired, then forgotten.
        server.clock.advance(3599);
        state.refresh().await.unwrap();
        assert_eq!(state.store.count_revocations().await.unwrap(), 1);
        server.clock.advance(1);
        state.refresh().await.unwrap();
        assert_eq!(state.store.count_revocations().await.unwrap(), 0);
        assert_eq!(introspect(&server, &server.app, &token).await["active"], false, "expired now");
        server.finish().await;
    }

    async fn introspection_needs_client_auth_and_a_token(db: Db) {
        let server = TestServer::start(db).await;
        let token = server.m2m_token(&server.app, "users:read").await;
        let url = format!("{}/token/introspection", server.issuer);
        let anonymous = server.http.post(&url).form(&[("token", token.as_str())]).send().await.unwrap();
        assert_eq!(anonymous.status(), 401);
        assert_eq!(anonymous.json::<Value>().await.unwrap()["error"], "invalid_client");
        let no_token = server.http.post(&url).basic_auth(&server.app.m2m_client_id, Some(&server.app.m2m_secret))
            .form(&[("token_type_hint", "access_token")]).send().await.unwrap();
        assert_eq!(no_token.status(), 400);
        assert_eq!(no_token.json::<Value>().await.unwrap()["error"], "invalid_request");
        let revoke_url = format!("{}/token/revocation", server.issuer);
        let anonymous = server.http.post(&revoke_url).form(&[("token", token.as_str())]).send().await.unwrap();
        assert_eq!(anonymous.status(), 401);
        server.finish().await;
    }

    async fn expired_tokens_are_inactive(db: Db) {
        let server = TestServer::start(db).await;
        let token = server.m2m_token(&server.app, "users:read").await;
        server.clock.advance(3600);
        assert_eq!(introspect(&server, &server.app, &token).await["active"], false);
        server.finish().await;
    }
}
