//! Liveness, readiness and Prometheus metrics.

use crate::backend_tests;
use crate::harness::TestServer;
use serde_json::Value;

backend_tests! {
    async fn health_ready_and_metrics(db: Db) {
        let server = TestServer::start(db).await;
        let health = server.http.get(server.url("/healthz")).send().await.unwrap();
        assert_eq!(health.status(), 200);
        let ready: Value = server.http.get(server.url("/readyz")).send().await.unwrap().json().await.unwrap();
        assert_eq!(ready["database"], "ok");
        server.m2m_token(&server.app, "users:read").await;
        let _ = server.token_request(&server.app, &[("grant_type", "nope")]).await;
        let metrics = server.http.get(server.url("/metrics")).send().await.unwrap().text().await.unwrap();
        assert!(metrics.contains(r#"tollhouse_tokens_issued_total{grant="client_credentials"} 1"#), "{metrics}");
        assert!(metrics.contains(r#"tollhouse_http_requests_total{route="/api/v1/oidc/token",method="POST",status="200"} 1"#), "{metrics}");
        assert!(metrics.contains(r#"status="400""#));
        assert!(metrics.contains("tollhouse_http_request_duration_seconds_bucket"));
        // The store going away makes the server unready, not dead, and the token endpoint
        // answers 503 in RFC 6749 form rather than failing the connection.
        server.state().store.close().await;
        // Past the client cache's lifetime, so the token endpoint must ask the store.
        server.clock.advance(1);
        let unready = server.http.get(server.url("/readyz")).send().await.unwrap();
        assert_eq!(unready.status(), 503);
        assert_eq!(server.http.get(server.url("/healthz")).send().await.unwrap().status(), 200);
        let token = server.token_request(&server.app, &[("grant_type", "client_credentials")]).await;
        assert_eq!(token.status(), 503);
        assert_eq!(token.json::<Value>().await.unwrap()["error"], "temporarily_unavailable");
        server.finish().await;
    }
}
