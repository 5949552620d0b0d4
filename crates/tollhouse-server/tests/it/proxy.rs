//! The signer proxy in front of the go-livepeer double: token checked before forwarding,
//! spoofable headers stripped, status/headers/body passed through and streamed, upstream
//! failures mapped to 502/504; and the whole chain proxy → signer → identity webhook.

use crate::backend_tests;
use crate::harness::{Db, TestServer};
use crate::support::gateway::signer_endpoint;
use crate::support::golivepeer::{FakeSigner, Scripted, SignerState, SignerVerdict};
use crate::support::signer::{SECRET, api_key, start};
use serde_json::{Value, json};
use std::time::Duration;

async fn proxied(db: Db, signer: &FakeSigner, timeout_secs: u64) -> TestServer {
    let upstream = signer.url();
    start(db, move |c| {
        c.signer.upstream = Some(upstream);
        c.signer.upstream_timeout_secs = timeout_secs;
    })
    .await
}

/// Where go-livepeer sends `path` when `-remoteSignerUrl` is Tollhouse's URL with a path, as an
/// operator would write it (`https://th.example/signer`): the path is replaced.
fn gateway(server: &TestServer, path: &str) -> String {
    signer_endpoint(&server.url("/signer"), path)
}

fn payment_body() -> Vec<u8> {
    FakeSigner::payment_request_body(None, "manifest-1")
}

backend_tests! {
    async fn a_gateway_given_a_signer_url_with_a_path_reaches_the_root_proxy(db: Db) {
        // go-livepeer started with `-remoteSignerUrl <base>/signer`: every call lands at the root.
        let signer = FakeSigner::start().await;
        let server = proxied(db, &signer, 30).await;
        let key = api_key(&server, &server.app, "alice").await;
        for (path, post) in [("/generate-live-payment", true), ("/sign-orchestrator-info", true), ("/discover-orchestrators", false)] {
            let url = gateway(&server, path);
            assert_eq!(url, server.url(path), "the path of -remoteSignerUrl is replaced");
            let request = if post { server.http.post(&url).body(payment_body()) } else { server.http.get(&url) };
            let response = request.bearer_auth(&key).send().await.unwrap();
            assert_eq!(response.status(), 200, "{path}");
        }
        assert_eq!(signer.requests().len(), 3);
        // A prefix other than `/` serves only clients that keep the path (a rewriting proxy):
        // the gateway's resolved URL misses it.
        let nested = start(db, {
            let upstream = signer.url();
            move |c| {
                c.signer.upstream = Some(upstream);
                c.signer.proxy_prefix = "/signer".into();
            }
        })
        .await;
        let key = api_key(&nested, &nested.app, "alice").await;
        let response = nested.http.post(gateway(&nested, "/generate-live-payment")).bearer_auth(&key).body(payment_body()).send().await.unwrap();
        assert_eq!(response.status(), 404);
        let response = nested.http.post(nested.url("/signer/generate-live-payment")).bearer_auth(&key).body(payment_body()).send().await.unwrap();
        assert_eq!(response.status(), 200);
        nested.finish().await;
        server.finish().await;
    }

    async fn the_proxy_on_a_listener_of_its_own_serves_a_bare_origin(db: Db) {
        let signer = FakeSigner::start().await;
        let upstream = signer.url();
        let server = start(db, move |c| {
            c.signer.upstream = Some(upstream);
            c.signer.proxy_listen = Some("127.0.0.1:0".parse().unwrap());
        })
        .await;
        let addr = server.server.as_ref().unwrap().signer_addr.expect("the proxy's listener");
        let origin = format!("http://{addr}");
        let key = api_key(&server, &server.app, "alice").await;
        let response = server.http.post(signer_endpoint(&format!("{origin}/any/path"), "/generate-live-payment"))
            .bearer_auth(&key).body(payment_body()).send().await.unwrap();
        assert_eq!(response.status(), 200);
        assert_eq!(signer.requests()[0].path_and_query, "/generate-live-payment");
        // Only the signer's paths: Tollhouse's own API is not on this listener.
        let response = server.http.get(format!("{origin}/api/v1/oidc/jwks")).send().await.unwrap();
        assert_eq!(response.status(), 404);
        // Clients are given the proxy's origin as their signer URL.
        let (status, routing) = crate::support::builder::call(server.builder(reqwest::Method::GET, &server.app, "/signer/routing")).await;
        assert_eq!(status, 200);
        assert_eq!(routing["routing"]["signerApiUrl"], origin);
        assert_eq!(routing["dmzUrl"], origin);
        server.finish().await;
    }

    async fn routing_and_exchange_name_the_proxy_when_no_signer_url_is_set(db: Db) {
        let signer = FakeSigner::start().await;
        let server = proxied(db, &signer, 30).await;
        let (status, routing) = crate::support::builder::call(server.builder(reqwest::Method::GET, &server.app, "/signer/routing")).await;
        assert_eq!(status, 200);
        let base = server.url("");
        // The SDK's nested shape (`signerApiUrl` typed as a string) and the documented flat one.
        assert_eq!(routing["routing"]["signerApiUrl"], base);
        assert_eq!(routing["routing"]["remoteDmzUrl"], base);
        assert_eq!(routing["patterns"]["directDmz"]["signerApiUrl"], base);
        assert_eq!(routing["dmzUrl"], base);
        assert_eq!(routing["jwksUrl"], format!("{}/jwks", server.issuer));
        assert_eq!(routing["webhookUrl"], server.url("/webhooks/remote-signer"));
        assert_eq!(routing["meteringMode"], "direct", "no Kafka consumer configured");
        assert_eq!(routing["routing"]["meteringMode"], "platform_ingest");
        let tokens = server.user_tokens(&server.app, "alice").await;
        let exchanged = server.token_request(&server.app, &[
            ("grant_type", "urn:ietf:params:oauth:grant-type:token-exchange"),
            ("subject_token", tokens["access_token"].as_str().unwrap()),
            ("subject_token_type", "urn:ietf:params:oauth:token-type:access_token"),
        ]).await;
        assert_eq!(exchanged.status(), 200);
        let body: Value = exchanged.json().await.unwrap();
        assert_eq!(body["signer_url"], base, "{body}");
        server.finish().await;
    }

    async fn forwards_only_authenticated_calls_without_spoofable_headers(db: Db) {
        let signer = FakeSigner::start().await;
        let server = proxied(db, &signer, 30).await;
        let key = api_key(&server, &server.app, "alice").await;
        let payment = gateway(&server, "/generate-live-payment");

        // No credential, a bad one: 401 in go-livepeer's error shape, nothing forwarded.
        for auth in [None, Some("Bearer pmth_ak_nope"), Some("Bearer eyJ.eyJ.sig")] {
            let mut request = server.http.post(&payment).body(payment_body());
            if let Some(auth) = auth {
                request = request.header("Authorization", auth);
            }
            let response = request.send().await.unwrap();
            assert_eq!(response.status(), 401, "{auth:?}");
            let body: Value = response.json().await.unwrap();
            assert!(body["error"]["message"].as_str().is_some_and(|m| !m.is_empty()));
        }
        assert!(signer.requests().is_empty(), "nothing reached the signer");

        let response = server.http.post(&payment)
            .header("Authorization", format!("Bearer {key}"))
            .header("X-Livepeer-Usage-Subject", "mallory")
            .header("X-Livepeer-Client-ID", "app_spoofed")
            .header("x-livepeer-usage-issuer", "https://evil")
            .header("Signer-Auth-Id", "app_spoofed:mallory")
            .header("X-Request-Id", "req-7")
            .body(payment_body())
            .send().await.unwrap();
        assert_eq!(response.status(), 200);
        let answer: Value = response.json().await.unwrap();
        assert!(answer["payment"].is_string() && answer["state"]["State"].is_string());
        let seen = signer.requests();
        assert_eq!(seen.len(), 1);
        let forwarded = &seen[0];
        assert_eq!((forwarded.method.as_str(), forwarded.path_and_query.as_str()), ("POST", "/generate-live-payment"));
        assert_eq!(forwarded.body, payment_body(), "body forwarded byte for byte");
        assert_eq!(forwarded.header("authorization"), Some(format!("Bearer {key}").as_str()));
        assert_eq!(forwarded.header("x-request-id"), Some("req-7"));
        for stripped in ["x-livepeer-usage-subject", "x-livepeer-client-id", "x-livepeer-usage-issuer", "signer-auth-id"] {
            assert_eq!(forwarded.header(stripped), None, "{stripped}");
        }

        // GET with a query, and a bodiless POST.
        let response = server.http.get(format!("{}?caps=a&caps=b", gateway(&server, "/discover-orchestrators"))).bearer_auth(&key).send().await.unwrap();
        assert_eq!(response.status(), 200);
        assert!(response.json::<Value>().await.unwrap().is_array());
        let response = server.http.post(gateway(&server, "/sign-orchestrator-info")).bearer_auth(&key).send().await.unwrap();
        assert_eq!(response.status(), 200);
        let seen = signer.requests();
        assert_eq!(seen[1].path_and_query, "/discover-orchestrators?caps=a&caps=b");
        assert_eq!(seen[2].path_and_query, "/sign-orchestrator-info");
        // Other paths are not proxied.
        let response = server.http.post(gateway(&server, "/other")).bearer_auth(&key).send().await.unwrap();
        assert_eq!(response.status(), 404);
        server.finish().await;
    }

    async fn passes_statuses_headers_and_streams_through(db: Db) {
        let signer = FakeSigner::start().await;
        let server = proxied(db, &signer, 30).await;
        let key = api_key(&server, &server.app, "alice").await;
        let payment = gateway(&server, "/generate-live-payment");

        signer.respond_next(Scripted::refresh_session("https://orch-9.test:8935"));
        let response = server.http.post(&payment).bearer_auth(&key).body(payment_body()).send().await.unwrap();
        assert_eq!(response.status(), 480);
        assert_eq!(response.headers()["livepeer-orchestrator-url"], "https://orch-9.test:8935");
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["error"]["message"], "refresh session for remote signer");

        for status in [400, 481, 482, 500] {
            signer.respond_next(Scripted::error(status, "from the signer"));
            let response = server.http.post(&payment).bearer_auth(&key).body(payment_body()).send().await.unwrap();
            assert_eq!(response.status(), status);
        }

        // A response streamed in chunks reaches the client chunk by chunk: the first arrives
        // while the signer still holds back the second (generous bound: a buffering proxy
        // would hold everything for the full 20 s).
        signer.respond_next(Scripted::streamed(vec![(Duration::ZERO, b"{\"part\":".to_vec()), (Duration::from_secs(20), b"1}".to_vec())]));
        let mut response = server.http.post(&payment).bearer_auth(&key).body(payment_body()).send().await.unwrap();
        assert_eq!(response.status(), 200);
        let first = tokio::time::timeout(Duration::from_secs(10), response.chunk()).await.expect("first chunk streamed before the last was sent").unwrap();
        assert_eq!(first.unwrap().as_ref(), b"{\"part\":");
        drop(response);
        server.finish().await;
    }

    async fn upstream_failures_become_502_and_504(db: Db) {
        let signer = FakeSigner::start().await;
        let server = proxied(db, &signer, 1).await;
        let key = api_key(&server, &server.app, "alice").await;
        let payment = gateway(&server, "/generate-live-payment");
        signer.respond_next(Scripted::slow(Duration::from_secs(5), Scripted::json(200, &json!({}))));
        let response = server.http.post(&payment).bearer_auth(&key).body(payment_body()).send().await.unwrap();
        assert_eq!(response.status(), 504);
        assert!(response.json::<Value>().await.unwrap()["error"]["message"].is_string());
        server.finish().await;

        // Nothing listening upstream.
        let closed = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let dead = format!("http://{}", closed.local_addr().unwrap());
        drop(closed);
        let server = start(Db::Sqlite, move |c| c.signer.upstream = Some(dead)).await;
        let key = api_key(&server, &server.app, "alice").await;
        let response = server.http.post(gateway(&server, "/generate-live-payment")).bearer_auth(&key).body(payment_body()).send().await.unwrap();
        assert_eq!(response.status(), 502);
        assert!(response.json::<Value>().await.unwrap()["error"]["message"].is_string());
        server.finish().await;
    }

    async fn bodies_past_the_limit_and_ambiguous_or_identity_headers_never_reach_the_signer(db: Db) {
        let signer = FakeSigner::start().await;
        let upstream = signer.url();
        let server = start(db, move |c| {
            c.signer.upstream = Some(upstream);
            c.http.max_body_bytes = 4096;
        })
        .await;
        let key = api_key(&server, &server.app, "alice").await;
        let payment = gateway(&server, "/generate-live-payment");

        // Larger than --max-body-bytes, sent chunked (no Content-Length to refuse up front)
        // and with a Content-Length: 413 in go-livepeer's error shape, nothing forwarded.
        let chunks: Vec<Result<Vec<u8>, std::io::Error>> = (0..64).map(|_| Ok(vec![b' '; 1024])).collect();
        let chunked = reqwest::Body::wrap_stream(futures_util::stream::iter(chunks));
        // The proxy answers as soon as the limit is passed and closes the connection; the
        // client may see the 413 or, still sending, only the close.
        match server.http.post(&payment).bearer_auth(&key).body(chunked).send().await {
            Ok(response) => assert_eq!(response.status(), 413),
            Err(err) => assert!(err.is_request(), "{err}"),
        }
        match server.http.post(&payment).bearer_auth(&key).body(vec![b' '; 16 * 1024]).send().await {
            Ok(response) => assert_eq!(response.status(), 413),
            Err(err) => assert!(err.is_request(), "{err}"),
        }
        // Two Authorization headers: which one would go-livepeer read? Refused, not guessed.
        let response = server.http.post(&payment)
            .header("Authorization", format!("Bearer {key}"))
            .header("Authorization", "Bearer pmth_ak_other")
            .body(payment_body()).send().await.unwrap();
        assert_eq!(response.status(), 400);
        assert!(signer.requests().is_empty(), "nothing reached the signer");

        // Every X-Livepeer-* header is dropped, not only the four the webhook reads today.
        let response = server.http.post(&payment)
            .bearer_auth(&key)
            .header("X-Livepeer-Usage-Subject-Type", "wallet")
            .header("X-Livepeer-Future-Identity", "mallory")
            .header("Livepeer-Segment", "kept")
            .body(payment_body())
            .send().await.unwrap();
        assert_eq!(response.status(), 200);
        let seen = signer.requests();
        assert_eq!(seen.len(), 1);
        assert_eq!(seen[0].header("x-livepeer-usage-subject-type"), None);
        assert_eq!(seen[0].header("x-livepeer-future-identity"), None);
        assert_eq!(seen[0].header("livepeer-segment"), Some("kept"));
        assert_eq!(seen[0].body, payment_body());
        server.finish().await;
    }

    async fn proxy_signer_and_webhook_together(db: Db) {
        let signer = FakeSigner::start().await;
        let server = proxied(db, &signer, 30).await;
        signer.set_webhook(&server.url("/authorize"), &format!("X-Api-Key:{SECRET}"));
        let key = api_key(&server, &server.app, "alice").await;
        let response = server.http.post(gateway(&server, "/generate-live-payment"))
            .bearer_auth(&key)
            .header("X-Livepeer-Usage-Subject", "mallory")
            .body(payment_body())
            .send().await.unwrap();
        assert_eq!(response.status(), 200);
        let calls = signer.webhook_calls();
        assert_eq!(calls.len(), 1);
        let sent: Value = serde_json::from_slice(&calls[0].body).unwrap();
        assert!(sent["headers"].get("X-Livepeer-Usage-Subject").is_none(), "stripped before the signer copied it");
        assert_eq!(calls[0].verdict, SignerVerdict::Proceed { auth_id: Some(format!("{}:alice", server.app.client_id)), expiry: calls_expiry(&calls[0].verdict) });
        let _ = SignerState::default();
        server.finish().await;
    }
}

fn calls_expiry(verdict: &SignerVerdict) -> Option<i64> {
    match verdict {
        SignerVerdict::Proceed { expiry, .. } => {
            assert!(expiry.is_some(), "the webhook always sets expiry");
            *expiry
        }
        other => panic!("{other:?}"),
    }
}
