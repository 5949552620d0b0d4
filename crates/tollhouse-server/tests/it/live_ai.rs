//! Live AI stream keys (`A/users/{ext}/stream-keys`) and the Live AI stream auth webhook
//! (`POST /webhooks/live-ai-auth`), called exactly as go-livepeer's gateway calls it (see
//! `support/golivepeer.rs`) and read back as the gateway reads the answer: stream keys with their
//! pipeline, API keys, the gateway key, unknown/revoked keys, deactivated users, the prepaid
//! balance gate, bad bodies, storage down, and tenant isolation.

use crate::backend_tests;
use crate::harness::{Db, FreshDb, TestApp, TestServer, config_for};
use crate::support::golivepeer::{
    LiveAiAuthAllow, LiveAiAuthRequest, call_live_ai_auth, call_live_ai_auth_with,
    interpret_live_ai_auth,
};
use reqwest::Method;
use serde_json::{Value, json};
use tollhouse_core::keys::SigningAlg;
use tollhouse_server::config::Redacted;
use tollhouse_store::SignerPolicyRecord;

const GATEWAY_KEY: &str = "live-ai-gateway-key-0123456789";

async fn start(db: Db) -> TestServer {
    start_with_key(db, Some(GATEWAY_KEY)).await
}

async fn start_with_key(db: Db, key: Option<&str>) -> TestServer {
    let db = FreshDb::new(db).await;
    let mut config = config_for(&db, SigningAlg::RS256);
    config.signer.live_ai_api_key = key.map(Redacted::new);
    TestServer::start_on(db, config).await
}

fn url(server: &TestServer) -> String {
    server.url("/webhooks/live-ai-auth")
}

/// Status and JSON body of a webhook answer (every answer is JSON).
async fn read(response: reqwest::Response) -> (u16, Value) {
    let status = response.status().as_u16();
    let content_type = response.headers()["content-type"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(
        content_type.starts_with("application/json"),
        "{status}: {content_type}"
    );
    let bytes = response.bytes().await.unwrap();
    (status, serde_json::from_slice(&bytes).unwrap())
}

/// The gateway's call for `stream_key` over RTMP: the raw answer, and what the gateway makes of
/// it (`Err`: it answers the encoder 403 and drops the stream).
async fn gateway(
    server: &TestServer,
    stream_key: &str,
) -> (u16, Value, Result<LiveAiAuthAllow, String>) {
    gateway_with(server, &LiveAiAuthRequest::new(stream_key, "rtmp")).await
}

async fn gateway_with(
    server: &TestServer,
    request: &LiveAiAuthRequest,
) -> (u16, Value, Result<LiveAiAuthAllow, String>) {
    let response = call_live_ai_auth_with(&url(server), GATEWAY_KEY, request).await;
    let status = response.status().as_u16();
    let bytes = response.bytes().await.unwrap();
    let verdict = interpret_live_ai_auth(status, &bytes);
    let body = serde_json::from_slice(&bytes).unwrap_or_else(|e| {
        panic!(
            "not JSON ({e}): {status} {}",
            String::from_utf8_lossy(&bytes)
        )
    });
    (status, body, verdict)
}

/// A denial: the status, the error code, and the gateway refusing the stream.
async fn denied(server: &TestServer, stream_key: &str) -> (u16, String) {
    let (status, body, verdict) = gateway(server, stream_key).await;
    assert!(
        verdict.is_err(),
        "the gateway would start the stream: {body}"
    );
    assert_eq!(
        body.as_object().unwrap().keys().collect::<Vec<_>>(),
        ["error", "error_description"],
        "{body}"
    );
    (status, body["error"].as_str().unwrap().to_owned())
}

async fn upsert(server: &TestServer, app: &TestApp, ext: &str) {
    let r = server
        .builder(Method::POST, app, "/users")
        .json(&json!({"externalUserId": ext}))
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success(), "{}", r.status());
}

/// Creates a stream key for `ext` (who must exist) with `body`; returns the 201 body.
async fn create_stream_key(server: &TestServer, app: &TestApp, ext: &str, body: Value) -> Value {
    let r = server
        .builder(Method::POST, app, &format!("/users/{ext}/stream-keys"))
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    assert_eq!(r.headers()["cache-control"], "no-store");
    r.json().await.unwrap()
}

/// Creates an API key for `ext`; returns `(composite key, key id)`.
async fn create_api_key(server: &TestServer, app: &TestApp, ext: &str) -> (String, String) {
    let r = server
        .builder(Method::POST, app, &format!("/users/{ext}/keys"))
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let body: Value = r.json().await.unwrap();
    (
        body["apiKey"].as_str().unwrap().to_owned(),
        body["id"].as_str().unwrap().to_owned(),
    )
}

async fn list_stream_keys(server: &TestServer, app: &TestApp, ext: &str) -> (u16, Value) {
    read(
        server
            .builder(Method::GET, app, &format!("/users/{ext}/stream-keys"))
            .send()
            .await
            .unwrap(),
    )
    .await
}

async fn set_prepaid(server: &TestServer, app: &TestApp) {
    let policy = SignerPolicyRecord {
        billing_mode: "prepaid".into(),
        soft_limit_usd_micros: 0,
        balance_recheck_secs: 60,
        billing_fail_open: false,
        webhook_verifiers: None,
    };
    assert!(
        server
            .state()
            .store
            .set_signer_policy(&app.client_id, &policy)
            .await
            .unwrap()
    );
    tollhouse_server::signer::policy::invalidate(&server.state().signer);
}

/// A raw POST to the webhook with the gateway's key and `body`.
async fn post_raw(server: &TestServer, body: impl Into<reqwest::Body>) -> (u16, Value) {
    read(
        server
            .http
            .post(url(server))
            .header("content-type", "application/json")
            .header("x-api-key", GATEWAY_KEY)
            .header("authorization", GATEWAY_KEY)
            .body(body)
            .send()
            .await
            .unwrap(),
    )
    .await
}

backend_tests! {
    async fn stream_key_starts_the_stream_with_its_pipeline(db: Db) {
        let server = start(db).await;
        let app = server.app.clone();
        upsert(&server, &app, "alice").await;
        let params = json!({"prompt": "a cat <in> a hat & scarf", "seed": 7, "nested": {"steps": [1, 2, 3]}, "strength": 0.5});
        let created = create_stream_key(&server, &app, "alice", json!({"pipeline": "comfyui", "pipelineParameters": params})).await;
        let mut fields: Vec<&str> = created.as_object().unwrap().keys().map(String::as_str).collect();
        fields.sort_unstable();
        assert_eq!(fields, ["createdAt", "id", "pipeline", "pipelineParameters", "streamId", "streamKey"]);
        let key = created["streamKey"].as_str().unwrap().to_owned();
        assert!(key.starts_with("pmth_sk_") && key.len() == 8 + 64, "{key}");
        assert!(key[8..].bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)));
        let id = created["id"].as_str().unwrap().to_owned();
        assert_eq!(created["streamId"], id);
        assert_eq!(created["pipeline"], "comfyui");
        assert_eq!(created["pipelineParameters"], params);

        // What the gateway sends, over every ingest type, and what it does with the answer.
        for kind in ["rtmp", "whip", "livepeer-whip", ""] {
            let (status, body, verdict) = gateway_with(&server, &LiveAiAuthRequest::new(&key, kind)).await;
            assert_eq!(status, 200, "{kind}: {body}");
            assert_eq!(body, json!({"stream_id": id, "pipeline": "comfyui", "pipeline_parameters": params}));
            let allow = verdict.unwrap();
            assert_eq!(allow.stream_id, id);
            assert_eq!(allow.pipeline, "comfyui");
            assert_eq!(Value::Object(allow.pipeline_parameters.unwrap()), params);
            assert_eq!((allow.rtmp_output_url.as_str(), allow.pipeline_id.as_str()), ("", ""));
        }
        // With a query string (and the key only in `stream`, as an older gateway would send it).
        let mut request = LiveAiAuthRequest::new(&key, "whip");
        request.query_params = "streamId=abc&x=1".into();
        assert_eq!(gateway_with(&server, &request).await.0, 200);
        let only_stream = json!({"stream": key, "type": "rtmp", "gateway_host": "gw", "extra": {"unknown": true}});
        let (status, body) = post_raw(&server, only_stream.to_string()).await;
        assert_eq!((status, body["stream_id"].clone()), (200, json!(id)));

        // A key without settings: only the stream id, no pipeline fields at all.
        let bare = create_stream_key(&server, &app, "alice", json!({})).await;
        assert_eq!((bare["pipeline"].clone(), bare["pipelineParameters"].clone()), (Value::Null, Value::Null));
        let bare_key = bare["streamKey"].as_str().unwrap();
        let (status, body, verdict) = gateway(&server, bare_key).await;
        assert_eq!((status, body), (200, json!({"stream_id": bare["id"]})));
        assert_eq!(verdict.unwrap().pipeline, "");
        // No body at all is the defaults too.
        let r = server.builder(Method::POST, &app, "/users/alice/stream-keys").send().await.unwrap();
        assert_eq!(r.status(), 201);

        // The list never shows a key, newest first.
        let (status, list) = list_stream_keys(&server, &app, "alice").await;
        assert_eq!(status, 200);
        let keys = list["streamKeys"].as_array().unwrap();
        assert_eq!(keys.len(), 3);
        assert!(!list.to_string().contains("pmth_sk_"), "{list}");
        let first = keys.iter().find(|k| k["id"] == id).unwrap();
        let mut fields: Vec<&str> = first.as_object().unwrap().keys().map(String::as_str).collect();
        fields.sort_unstable();
        assert_eq!(fields, ["createdAt", "id", "pipeline", "pipelineParameters", "revokedAt", "status", "streamId"]);
        assert_eq!(first["status"], "active");
        assert_eq!(first["revokedAt"], Value::Null);
        assert_eq!(first["pipelineParameters"], params);
        assert_eq!(first["createdAt"], created["createdAt"]);
        server.finish().await;
    }

    async fn api_key_starts_the_stream(db: Db) {
        let server = start(db).await;
        let app = server.app.clone();
        upsert(&server, &app, "bob").await;
        let (composite, key_id) = create_api_key(&server, &app, "bob").await;
        let (status, body, verdict) = gateway(&server, &composite).await;
        assert_eq!((status, body), (200, json!({"stream_id": key_id})));
        assert_eq!(verdict.unwrap().stream_id, key_id);
        // The bare secret too, with the same stable stream id (and again, from the cache).
        let bare = composite.split_once("_pmth_ak_").map(|(_, hex)| format!("pmth_ak_{hex}")).unwrap();
        for _ in 0..2 {
            let (status, body, _) = gateway(&server, &bare).await;
            assert_eq!((status, body), (200, json!({"stream_id": key_id})));
        }
        // Another app's id in front of the secret is not this key.
        let other = server.create_app("other").await;
        let forged = format!("{}_{bare}", other.client_id);
        assert_eq!(denied(&server, &forged).await, (403, "invalid_credential".into()));
        // Revoking the API key stops it at once.
        let r = server.builder(Method::DELETE, &app, &format!("/users/bob/keys?keyId={key_id}")).send().await.unwrap();
        assert_eq!(r.status(), 200);
        assert_eq!(denied(&server, &composite).await, (403, "credential_revoked".into()));
        server.finish().await;
    }

    async fn gateway_key_is_required(db: Db) {
        let server = start(db).await;
        let app = server.app.clone();
        upsert(&server, &app, "carol").await;
        let key = create_stream_key(&server, &app, "carol", json!({})).await["streamKey"].as_str().unwrap().to_owned();
        let body = LiveAiAuthRequest::new(&key, "rtmp").to_go_json();
        let send = |headers: &'static [(&'static str, &'static str)]| {
            let mut request = server.http.post(url(&server)).header("content-type", "application/json").body(body.clone());
            for (name, value) in headers {
                request = request.header(*name, *value);
            }
            async move { read(request.send().await.unwrap()).await }
        };
        // Wrong key, as the gateway would send it.
        let wrong = call_live_ai_auth(&url(&server), "not-the-key", &key, "rtmp").await;
        let (status, answer) = read(wrong).await;
        assert_eq!((status, answer["error"].clone()), (403, json!("unauthorized")), "{answer}");
        assert!(answer["error_description"].is_string());
        // A prefix of the key, the key with a suffix, no key, an empty key.
        for headers in [
            &[("x-api-key", "live-ai-gateway-key")][..],
            &[("x-api-key", "live-ai-gateway-key-0123456789x")],
            &[],
            &[("x-api-key", ""), ("authorization", "")],
            &[("authorization", "Basic live-ai-gateway-key-0123456789")],
        ] {
            let (status, answer) = send(headers).await;
            assert_eq!((status, answer["error"].clone()), (403, json!("unauthorized")), "{headers:?}");
        }
        // Each accepted form on its own.
        for headers in [
            &[("x-api-key", GATEWAY_KEY)][..],
            &[("authorization", GATEWAY_KEY)],
            &[("authorization", "Bearer live-ai-gateway-key-0123456789")],
            &[("authorization", "bearer live-ai-gateway-key-0123456789")],
        ] {
            let (status, answer) = send(headers).await;
            assert_eq!(status, 200, "{headers:?}: {answer}");
        }
        // The caller is checked before the body is read.
        let r = server.http.post(url(&server)).body("not json").send().await.unwrap();
        assert_eq!(read(r).await.0, 403);
        server.finish().await;

        // No key configured: every caller is refused, whatever it sends.
        let server = start_with_key(db, None).await;
        let (status, answer, verdict) = gateway(&server, &key).await;
        assert_eq!((status, answer["error"].clone()), (403, json!("unauthorized")));
        assert!(verdict.is_err());
        let r = server.http.post(url(&server)).header("authorization", "").body("{}").send().await.unwrap();
        assert_eq!(read(r).await.0, 403);
        server.finish().await;
    }

    async fn unknown_and_malformed_keys_are_refused(db: Db) {
        let server = start(db).await;
        let unknown_stream_key = format!("pmth_sk_{}", "ab".repeat(32));
        let unknown_api_key = format!("pmth_ak_{}", "cd".repeat(32));
        for key in [unknown_stream_key.as_str(), unknown_api_key.as_str(), "my-stream", "pmth_sk_short", "a.b.c"] {
            assert_eq!(denied(&server, key).await, (403, "invalid_credential".into()), "{key}");
        }
        // No stream key at all.
        assert_eq!(denied(&server, "").await, (403, "missing_credential".into()));
        let (status, body) = post_raw(&server, r#"{"type":"rtmp"}"#).await;
        assert_eq!((status, body["error"].clone()), (403, json!("missing_credential")));
        // A signer session or a user JWT is not a stream key.
        let tokens = server.user_tokens(&server.app.clone(), "dave").await;
        let jwt = tokens["access_token"].as_str().unwrap();
        assert_eq!(denied(&server, jwt).await, (403, "invalid_credential".into()));
        server.finish().await;
    }

    async fn revoked_stream_key_is_refused(db: Db) {
        let server = start(db).await;
        let app = server.app.clone();
        upsert(&server, &app, "erin").await;
        let created = create_stream_key(&server, &app, "erin", json!({"pipeline": "streamdiffusion"})).await;
        let key = created["streamKey"].as_str().unwrap().to_owned();
        let id = created["id"].as_str().unwrap().to_owned();
        let keep = create_stream_key(&server, &app, "erin", json!({})).await;
        assert_eq!(gateway(&server, &key).await.0, 200);

        let revoke = |query: String| server.builder(Method::DELETE, &app, &format!("/users/erin/stream-keys{query}")).send();
        let (status, body) = read(revoke(format!("?id={id}")).await.unwrap()).await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["success"], true);
        assert_eq!(body["streamKey"]["id"], id);
        assert_eq!(body["streamKey"]["status"], "revoked");
        assert_eq!(body["streamKey"]["pipeline"], "streamdiffusion");
        let revoked_at = body["streamKey"]["revokedAt"].clone();
        assert!(revoked_at.is_string());
        assert!(body["streamKey"].get("streamKey").is_none() && !body.to_string().contains("pmth_sk_"));

        assert_eq!(denied(&server, &key).await, (403, "credential_revoked".into()));
        // The other key of the same user is untouched.
        assert_eq!(gateway(&server, keep["streamKey"].as_str().unwrap()).await.0, 200);
        // Revoking again keeps the first revocation time.
        server.clock.advance(60);
        let (status, again) = read(revoke(format!("?id={id}")).await.unwrap()).await;
        assert_eq!((status, again["streamKey"]["revokedAt"].clone()), (200, revoked_at));
        let (_, list) = list_stream_keys(&server, &app, "erin").await;
        let listed = list["streamKeys"].as_array().unwrap().iter().find(|k| k["id"] == id).unwrap().clone();
        assert_eq!(listed["status"], "revoked");
        // Unknown id, no id, and a query that is not one.
        assert_eq!(read(revoke("?id=00000000-0000-4000-8000-000000000000".into()).await.unwrap()).await.0, 404);
        let (status, body) = read(revoke(String::new()).await.unwrap()).await;
        assert_eq!((status, body["error"].clone()), (400, json!("invalid_request")));
        server.finish().await;
    }

    async fn deactivated_user_is_refused(db: Db) {
        let server = start(db).await;
        let app = server.app.clone();
        upsert(&server, &app, "frank").await;
        let stream_key = create_stream_key(&server, &app, "frank", json!({"pipeline": "comfyui"})).await["streamKey"].as_str().unwrap().to_owned();
        let (api_key, _) = create_api_key(&server, &app, "frank").await;
        assert_eq!(gateway(&server, &stream_key).await.0, 200);
        assert_eq!(gateway(&server, &api_key).await.0, 200);

        let r = server.builder(Method::DELETE, &app, "/users?externalUserId=frank").send().await.unwrap();
        assert_eq!(r.status(), 200);
        assert_eq!(denied(&server, &stream_key).await, (403, "user_inactive".into()));
        assert_eq!(denied(&server, &api_key).await, (403, "user_inactive".into()));
        // No new stream keys for a deactivated user; none at all for an unknown one.
        let r = server.builder(Method::POST, &app, "/users/frank/stream-keys").json(&json!({})).send().await.unwrap();
        let (status, body) = read(r).await;
        assert_eq!((status, body["error"].clone()), (403, json!("user_inactive")));
        let r = server.builder(Method::POST, &app, "/users/nobody/stream-keys").json(&json!({})).send().await.unwrap();
        assert_eq!(read(r).await.0, 404);
        assert_eq!(list_stream_keys(&server, &app, "nobody").await.0, 404);

        // Reactivated: the same keys work again.
        let r = server.builder(Method::POST, &app, "/users").json(&json!({"externalUserId": "frank", "status": "active"})).send().await.unwrap();
        assert!(r.status().is_success());
        assert_eq!(gateway(&server, &stream_key).await.0, 200);
        assert_eq!(gateway(&server, &api_key).await.0, 200);
        server.finish().await;
    }

    async fn prepaid_app_needs_a_balance(db: Db) {
        let server = start(db).await;
        let app = server.app.clone();
        upsert(&server, &app, "gina").await;
        let stream_key = create_stream_key(&server, &app, "gina", json!({"pipeline": "comfyui"})).await["streamKey"].as_str().unwrap().to_owned();
        let (api_key, _) = create_api_key(&server, &app, "gina").await;
        // Billing mode `none` (the default): no balance needed.
        assert_eq!(gateway(&server, &stream_key).await.0, 200);

        set_prepaid(&server, &app).await;
        assert_eq!(denied(&server, &stream_key).await, (403, "insufficient_balance".into()));
        assert_eq!(denied(&server, &api_key).await, (403, "insufficient_balance".into()));

        let r = server.builder(Method::POST, &app, "/users/gina/allowances").json(&json!({"amountUsdMicros": "1000000", "source": "trial"})).send().await.unwrap();
        assert_eq!(r.status(), 201);
        let (status, body, verdict) = gateway(&server, &stream_key).await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(verdict.unwrap().pipeline, "comfyui");
        assert_eq!(gateway(&server, &api_key).await.0, 200);

        // Consumption past the grant closes the gate again (seen once the cached balance ages).
        let user = server.state().store.user_by_external_id(&app.client_id, "gina").await.unwrap().unwrap();
        server.state().store.add_consumption(&app.client_id, &user.id, 1_000_000, 0).await.unwrap();
        server.clock.advance(2);
        assert_eq!(denied(&server, &stream_key).await, (403, "insufficient_balance".into()));
        server.finish().await;
    }

    async fn malformed_bodies_are_400_and_oversized_413(db: Db) {
        let server = start(db).await;
        let app = server.app.clone();
        upsert(&server, &app, "hank").await;
        let key = create_stream_key(&server, &app, "hank", json!({})).await["streamKey"].as_str().unwrap().to_owned();
        for body in [
            "".to_owned(),
            "not json".to_owned(),
            "{\"stream\":".to_owned(),
            "[]".to_owned(),
            format!("[\"{key}\"]"),
            "\"string\"".to_owned(),
            "null".to_owned(),
            json!({"stream": 5}).to_string(),
            json!({"stream_key": {"k": key}}).to_string(),
            json!({"stream": key, "stream_key": [key]}).to_string(),
        ] {
            let (status, answer) = post_raw(&server, body.clone()).await;
            assert_eq!((status, answer["error"].clone()), (400, json!("invalid_request")), "{body}");
        }
        // Unknown fields and unexpected types of fields the webhook does not read are ignored.
        let lenient = json!({"stream": key, "stream_key": key, "type": 3, "query_params": {"a": 1}, "gateway_host": null, "new_field": [1]});
        assert_eq!(post_raw(&server, lenient.to_string()).await.0, 200);
        // 64 KiB is the cap.
        let padding = "x".repeat(64 * 1024);
        let (status, answer) = post_raw(&server, json!({"stream": key, "pad": padding}).to_string()).await;
        assert_eq!((status, answer["error"].clone()), (413, json!("payload_too_large")));
        let fits = json!({"stream": key, "pad": "x".repeat(60 * 1024)}).to_string();
        assert_eq!(post_raw(&server, fits).await.0, 200);
        server.finish().await;
    }

    async fn stream_key_bodies_are_validated(db: Db) {
        let server = start(db).await;
        let app = server.app.clone();
        upsert(&server, &app, "ivy").await;
        for body in [
            json!({"pipeline": ""}),
            json!({"pipeline": "has space"}),
            json!({"pipeline": "a\u{0}b"}),
            json!({"pipeline": "p".repeat(129)}),
            json!({"pipeline": 7}),
            json!({"pipelineParameters": [1, 2]}),
            json!({"pipelineParameters": "{}"}),
            json!({"pipelineParameters": {"big": "x".repeat(17 * 1024)}}),
            json!([]),
        ] {
            let r = server.builder(Method::POST, &app, "/users/ivy/stream-keys").json(&body).send().await.unwrap();
            let (status, answer) = read(r).await;
            assert_eq!((status, answer["error"].clone()), (400, json!("invalid_request")), "{body}");
        }
        let ok = create_stream_key(&server, &app, "ivy", json!({"pipeline": "live-video-to-video:SG161222/RealVisXL_V4.0", "pipelineParameters": null})).await;
        assert_eq!(ok["pipelineParameters"], Value::Null);
        assert_eq!(list_stream_keys(&server, &app, "ivy").await.1["streamKeys"].as_array().unwrap().len(), 1);
        server.finish().await;
    }

    async fn stream_key_routes_are_tenant_isolated(db: Db) {
        let server = start(db).await;
        let app = server.app.clone();
        let other = server.create_app("other").await;
        upsert(&server, &app, "jack").await;
        upsert(&server, &other, "jack").await;
        let created = create_stream_key(&server, &app, "jack", json!({"pipeline": "comfyui"})).await;
        let id = created["id"].as_str().unwrap().to_owned();

        // The other app's M2M credentials on this app's routes: 404, exactly like no such app.
        let as_other = |method: Method, path: String| server.builder_as(method, &other, &app.client_id, &path).send();
        for (method, path) in [
            (Method::GET, "/users/jack/stream-keys".to_owned()),
            (Method::POST, "/users/jack/stream-keys".to_owned()),
            (Method::DELETE, format!("/users/jack/stream-keys?id={id}")),
        ] {
            let (status, body) = read(as_other(method.clone(), path.clone()).await.unwrap()).await;
            assert_eq!((status, body["error"].clone()), (404, json!("not_found")), "{method} {path}");
        }
        // Its own user of the same external id sees none of them and cannot revoke them.
        let (status, list) = list_stream_keys(&server, &other, "jack").await;
        assert_eq!((status, list), (200, json!({"streamKeys": []})));
        let r = server.builder(Method::DELETE, &other, &format!("/users/jack/stream-keys?id={id}")).send().await.unwrap();
        assert_eq!(read(r).await.0, 404);
        // Nor can another user of the same app.
        upsert(&server, &app, "kate").await;
        let r = server.builder(Method::DELETE, &app, &format!("/users/kate/stream-keys?id={id}")).send().await.unwrap();
        assert_eq!(read(r).await.0, 404);
        // No credentials at all: 401.
        let r = server.http.get(server.url(&format!("/api/v1/apps/{}/users/jack/stream-keys", app.client_id))).send().await.unwrap();
        assert_eq!(read(r).await.0, 401);

        // The key still works, for its own app's user only.
        let key = created["streamKey"].as_str().unwrap();
        let (status, body, _) = gateway(&server, key).await;
        assert_eq!((status, body["stream_id"].clone()), (200, json!(id)));
        let (_, list) = list_stream_keys(&server, &app, "jack").await;
        assert_eq!(list["streamKeys"][0]["status"], "active");
        server.finish().await;
    }

    async fn storage_down_is_503(db: Db) {
        let server = start(db).await;
        let app = server.app.clone();
        upsert(&server, &app, "lena").await;
        let key = create_stream_key(&server, &app, "lena", json!({})).await["streamKey"].as_str().unwrap().to_owned();
        let (api_key, _) = create_api_key(&server, &app, "lena").await;
        assert_eq!(gateway(&server, &api_key).await.0, 200);
        server.state().store.close().await;
        assert_eq!(denied(&server, &key).await, (503, "billing_unavailable".into()));
        // Even with the API key's identity still cached.
        assert_eq!(denied(&server, &api_key).await, (503, "billing_unavailable".into()));
        server.finish().await;
    }
}
