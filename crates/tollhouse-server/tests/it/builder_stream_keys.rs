//! Builder API stream keys: what a key's pipeline parameters may hold.

use crate::backend_tests;
use crate::harness::TestServer;
use reqwest::Method;
use serde_json::json;

backend_tests! {
    async fn nul_in_stream_key_parameters_is_refused_on_both_stores(db: Db) {
        let server = TestServer::start(db).await;
        server.user_tokens(&server.app, "ada").await;
        for parameters in [json!({"prompt": "a\u{0}b"}), json!({"k\u{0}": 1}), json!({"list": ["ok", "\u{0}"]})] {
            let response = server.builder(Method::POST, &server.app, "/users/ada/stream-keys")
                .json(&json!({"pipeline": "live-video-to-video", "pipelineParameters": parameters}))
                .send().await.unwrap();
            assert_eq!(response.status(), 400, "{parameters}");
        }
        let response = server.builder(Method::POST, &server.app, "/users/ada/stream-keys")
            .json(&json!({"pipeline": "live-video-to-video", "pipelineParameters": {"prompt": "fine"}}))
            .send().await.unwrap();
        assert_eq!(response.status(), 201);
        server.finish().await;
    }
}
