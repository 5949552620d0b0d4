//! Builder API calls several test files make.

use crate::harness::{TestApp, TestServer};
use reqwest::Method;
use serde_json::{Value, json};

/// Sends `request`: its status and JSON body (`null` for a 304, which has none).
pub async fn call(request: reqwest::RequestBuilder) -> (u16, Value) {
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    let body = if status == 304 {
        Value::Null
    } else {
        response.json().await.unwrap()
    };
    (status, body)
}

/// Creates an API key for user `ext` of `app` (201 asserted) and returns the answer.
pub async fn create_key(server: &TestServer, app: &TestApp, ext: &str) -> Value {
    let (status, key) = call(
        server
            .builder(Method::POST, app, &format!("/users/{ext}/keys"))
            .json(&json!({"label": "laptop"})),
    )
    .await;
    assert_eq!(status, 201, "{key}");
    key
}
