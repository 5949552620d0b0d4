//! The webhook service driven with go-livepeer-shaped bodies (compact JSON, sorted header
//! names, values as arrays, Go field names in `state`). The server's integration suite drives
//! it with the byte-exact go-livepeer double as well (`tests/it/sdk_integrator.rs`).

use super::*;
use crate::jwt::{JwksCache, JwtVerifier};
use http_body_util::BodyExt as _;
use serde_json::{Value, json};
use std::sync::atomic::{AtomicU32, Ordering};
use tollhouse_core::ManualClock;
use tollhouse_core::keys::{SigningAlg, SigningKey};
use tower::ServiceExt as _;

const SECRET: &str = "whsec-unit-0123456789";
const ISS: &str = "https://tollhouse.test/api/v1/oidc";
const NOW: i64 = 1_800_000_000;

/// What go-livepeer sends for a gateway request with `headers` (names already canonical).
fn go_body(headers: &[(&str, &str)], auth_id: &str) -> Vec<u8> {
    let mut sorted: Vec<_> = headers.to_vec();
    sorted.sort();
    let headers: Vec<String> = sorted
        .iter()
        .map(|(k, v)| format!("{}:[{}]", json!(k), json!(v)))
        .collect();
    format!(
        concat!(
            r#"{{"headers":{{{}}},"state":{{"StateID":"1a2b3c4d","PMSessionID":"0x9f8e","#,
            r#""LastUpdate":"2026-08-18T10:00:00.123456789Z","OrchestratorAddress":"0x3b28","#,
            r#""App":"","AuthExpiry":0,"SenderNonce":3,"Balance":"7/4","InitialPricePerUnit":1200,"#,
            r#""InitialPixelsPerUnit":1,"Type":"lv2v","SequenceNumber":0,"AuthID":{}}}}}"#
        ),
        headers.join(","),
        json!(auth_id)
    )
    .into_bytes()
}

struct Fixture {
    key: SigningKey,
    clock: ManualClock,
}

impl Fixture {
    fn new() -> Self {
        Self {
            key: SigningKey::generate(SigningAlg::ES256).unwrap().0,
            clock: ManualClock::at(NOW),
        }
    }

    fn token(&self, extra: Value) -> String {
        let mut claims = json!({"iss": ISS, "aud": ISS, "sub": "usr_1", "client_id": "app_1",
            "jti": "j", "iat": NOW, "exp": NOW + 900, "scope": "sign:job",
            "external_user_id": "alice", "user_type": "app_user"});
        for (k, v) in extra.as_object().unwrap() {
            claims[k] = v.clone();
        }
        self.key.sign_access_token(&claims).unwrap()
    }

    fn oidc(&self) -> OidcVerifier {
        let set = serde_json::from_value(json!({"keys": [self.key.public().jwk()]})).unwrap();
        OidcVerifier::tollhouse_with(
            JwtVerifier::builder(ISS)
                .keys(JwksCache::fixed(set))
                .clock(Arc::new(self.clock.clone()))
                .build(),
        )
    }

    fn webhook(&self, verifier: impl EndUserVerifier) -> IdentityWebhookBuilder {
        IdentityWebhook::builder(SECRET, verifier).clock(Arc::new(self.clock.clone()))
    }
}

async fn call(
    webhook: &IdentityWebhook,
    secret_header: (&str, &str),
    body: Vec<u8>,
) -> (u16, Value) {
    let request = Request::builder()
        .method(Method::POST)
        .uri("/authorize")
        .header("content-type", "application/json")
        .header("user-agent", "Go-http-client/1.1")
        .header(secret_header.0, secret_header.1)
        .body(Full::new(Bytes::from(body)))
        .unwrap();
    let response = webhook.clone().oneshot(request).await.unwrap();
    let status = response.status().as_u16();
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    (
        status,
        serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    )
}

async fn verdict_for(webhook: &IdentityWebhook, headers: &[(&str, &str)]) -> Value {
    let (status, body) = call(webhook, ("x-api-key", SECRET), go_body(headers, "")).await;
    assert_eq!(status, 200, "{body}");
    body
}

#[tokio::test]
async fn a_valid_user_token_gets_its_auth_id_and_a_capped_expiry() {
    let f = Fixture::new();
    let webhook = f.webhook(f.oidc()).build();
    let bearer = format!("Bearer {}", f.token(json!({})));
    let v = verdict_for(
        &webhook,
        &[("Authorization", &bearer), ("X-Request-Id", "r-1")],
    )
    .await;
    assert_eq!(
        v,
        json!({"status": 200, "auth_id": "app_1:alice", "expiry": NOW + 60,
            "identity": {"issuer": ISS, "client_id": "app_1", "usage_subject": "alice",
                "usage_subject_type": "external_user_id"}})
    );
    // A token expiring sooner than the re-check interval caps the expiry.
    let short = format!("Bearer {}", f.token(json!({"exp": NOW + 20})));
    let v = verdict_for(&webhook, &[("Authorization", &short)]).await;
    assert_eq!(v["expiry"], NOW + 20);
    // Header names in another case are found too (some builds lower-case them).
    let v = verdict_for(&webhook, &[("authorization", &bearer)]).await;
    assert_eq!(v["status"], 200);
}

#[tokio::test]
async fn refusals_are_http_200_with_the_status_in_the_body() {
    let f = Fixture::new();
    let webhook = f.webhook(f.oidc()).build();
    type Case<'a> = (Vec<(&'a str, String)>, u16, &'a str);
    let cases: Vec<Case> = vec![
        (vec![], 401, "missing_credential"),
        (
            vec![("Authorization", "Bearer not-a-jwt".into())],
            401,
            "invalid_credential",
        ),
        (
            vec![(
                "Authorization",
                format!("Bearer {}", f.token(json!({"exp": NOW - 60}))),
            )],
            401,
            "credential_expired",
        ),
        (
            vec![(
                "Authorization",
                format!("Bearer {}", f.token(json!({"scope": "openid"}))),
            )],
            403,
            "insufficient_scope",
        ),
        (
            // An app (M2M) token names no user.
            vec![(
                "Authorization",
                format!("Bearer {}", f.token(json!({"external_user_id": null}))),
            )],
            401,
            "invalid_credential",
        ),
        (
            // Without the signing scope as well: not a user credential at all, so 401, not 403.
            vec![(
                "Authorization",
                format!(
                    "Bearer {}",
                    f.token(json!({"external_user_id": null, "scope": "users:read"}))
                ),
            )],
            401,
            "invalid_credential",
        ),
        (
            vec![(
                "Authorization",
                format!("Bearer {}", f.token(json!({"iss": "https://elsewhere"}))),
            )],
            401,
            "invalid_credential",
        ),
    ];
    for (headers, status, code) in cases {
        let headers: Vec<(&str, &str)> = headers.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let v = verdict_for(&webhook, &headers).await;
        assert_eq!(v["status"], status, "{v}");
        assert_eq!(v["code"], code, "{v}");
        assert!(v["reason"].is_string());
        assert!(v.get("auth_id").is_none());
    }
}

#[tokio::test]
async fn the_caller_must_present_the_secret_and_a_json_object() {
    let f = Fixture::new();
    let webhook = f.webhook(f.oidc()).build();
    let body = || go_body(&[], "");
    for header in [
        ("x-api-key", SECRET),
        ("x-webhook-secret", SECRET),
        ("authorization", "Bearer whsec-unit-0123456789"),
    ] {
        assert_eq!(call(&webhook, header, body()).await.0, 200, "{header:?}");
    }
    let unauthorized = json!({"status": 401, "reason": "unauthorized webhook caller"});
    for header in [
        ("x-api-key", "whsec-unit-012345678"),
        ("x-api-key", "whsec-unit-01234567890"),
        ("authorization", "whsec-unit-0123456789"),
        ("x-other", SECRET),
    ] {
        assert_eq!(
            call(&webhook, header, body()).await,
            (401, unauthorized.clone())
        );
    }
    for bad in [&b"not json"[..], b"[]", b"", b"{\"headers\":"] {
        assert_eq!(
            call(&webhook, ("x-api-key", SECRET), bad.to_vec()).await,
            (
                400,
                json!({"status": 400, "reason": "invalid request json"})
            )
        );
    }
    let huge = format!(r#"{{"headers":{{"X-Pad":["{}"]}}}}"#, "a".repeat(70 * 1024));
    assert_eq!(
        call(&webhook, ("x-api-key", SECRET), huge.into_bytes())
            .await
            .0,
        413
    );
    let get = Request::builder()
        .method(Method::GET)
        .uri("/authorize")
        .header("x-api-key", SECRET)
        .body(Full::new(Bytes::new()))
        .unwrap();
    assert_eq!(webhook.clone().oneshot(get).await.unwrap().status(), 405);
    // An empty configured secret accepts nobody.
    let open = IdentityWebhook::builder("", f.oidc()).build();
    assert_eq!(call(&open, ("x-api-key", ""), body()).await.0, 401);
}

#[tokio::test]
async fn a_session_keeps_its_user() {
    let f = Fixture::new();
    let webhook = f.webhook(f.oidc()).build();
    let bob = format!("Bearer {}", f.token(json!({"external_user_id": "bob"})));
    let (_, same) = call(
        &webhook,
        ("x-api-key", SECRET),
        go_body(&[("Authorization", &bob)], "app_1:bob"),
    )
    .await;
    assert_eq!(same["status"], 200);
    let (_, other) = call(
        &webhook,
        ("x-api-key", SECRET),
        go_body(&[("Authorization", &bob)], "app_1:alice"),
    )
    .await;
    assert_eq!(other["status"], 403);
    assert_eq!(other["code"], "auth_id_mismatch");
}

#[tokio::test]
async fn composite_closure_api_key_and_trusted_headers() {
    let f = Fixture::new();
    let resolved = Arc::new(AtomicU32::new(0));
    let counter = resolved.clone();
    let api_keys = ApiKeyVerifier::new(move |key: String| {
        counter.fetch_add(1, Ordering::SeqCst);
        async move {
            match key.as_str() {
                "pmth_ak_good" => Ok(Some(UsageIdentity::new("my-backend", "app_1", "carol"))),
                "pmth_ak_revoked" => Err(Rejection::Revoked),
                _ => Ok(None),
            }
        }
    })
    .matching(|c| c.starts_with("pmth_ak_"));
    let custom = verifier_fn(|request: EndUserRequest| async move {
        match request.credential() {
            Some(c) if c.starts_with("demo-") => Ok(Some(
                UsageIdentity::new("demo", "app_demo", &c[5..]).expiring_at(NOW + 5),
            )),
            _ => Ok(None),
        }
    });
    let webhook = f
        .webhook(
            CompositeVerifier::new()
                .with(f.oidc())
                .with(api_keys)
                .with(custom)
                .with(TrustedHeadersVerifier::new().allow_client("app_1")),
        )
        .build();
    let v = verdict_for(&webhook, &[("Authorization", "Bearer pmth_ak_good")]).await;
    assert_eq!(
        (v["status"].clone(), v["auth_id"].clone()),
        (json!(200), json!("app_1:carol"))
    );
    assert_eq!(
        v["expiry"],
        NOW + 60,
        "no credential expiry: the re-check interval"
    );
    let v = verdict_for(&webhook, &[("Authorization", "Bearer pmth_ak_revoked")]).await;
    assert_eq!(
        (v["status"].clone(), v["code"].clone()),
        (json!(401), json!("credential_revoked"))
    );
    // The first verifier that knows the credential decides; later ones are not asked.
    let before = resolved.load(Ordering::SeqCst);
    let v = verdict_for(&webhook, &[("Authorization", "Bearer demo-dave")]).await;
    assert_eq!(
        (v["auth_id"].clone(), v["expiry"].clone()),
        (json!("app_demo:dave"), json!(NOW + 5))
    );
    assert_eq!(
        resolved.load(Ordering::SeqCst),
        before,
        "API-key resolver not asked"
    );
    let jwt = format!("Bearer {}", f.token(json!({})));
    assert_eq!(
        verdict_for(&webhook, &[("Authorization", &jwt)]).await["auth_id"],
        "app_1:alice"
    );
    // Nobody recognises it.
    let v = verdict_for(&webhook, &[("Authorization", "Bearer something-else")]).await;
    assert_eq!(v["code"], "invalid_credential");
    // Trusted headers, for an allowed app and another one.
    let v = verdict_for(
        &webhook,
        &[
            ("X-Livepeer-Client-Id", "app_1"),
            ("X-Livepeer-Usage-Subject", "erin"),
        ],
    )
    .await;
    assert_eq!(v["auth_id"], "app_1:erin");
    assert_eq!(v["identity"]["issuer"], "trusted-headers");
    let v = verdict_for(
        &webhook,
        &[
            ("X-Livepeer-Client-Id", "app_2"),
            ("X-Livepeer-Usage-Subject", "erin"),
        ],
    )
    .await;
    assert_eq!(
        (v["status"].clone(), v["code"].clone()),
        (json!(403), json!("client_not_allowed"))
    );
    assert_eq!(
        verdict_for(&webhook, &[]).await["code"],
        "missing_credential"
    );
}

#[tokio::test]
async fn the_balance_hook_gates_payments() {
    let f = Fixture::new();
    let webhook = f
        .webhook(f.oidc())
        .recheck_interval(Duration::from_secs(120))
        .balance_hook(|identity: UsageIdentity| async move {
            match identity.usage_subject.as_str() {
                "broke" => BalanceVerdict::Insufficient,
                "unknown" => BalanceVerdict::Unavailable,
                "low" => BalanceVerdict::Allow {
                    recheck_secs: Some(10),
                },
                _ => BalanceVerdict::Allow { recheck_secs: None },
            }
        })
        .build();
    let verdict = |user: &str| {
        let bearer = format!("Bearer {}", f.token(json!({"external_user_id": user})));
        let webhook = webhook.clone();
        async move { verdict_for(&webhook, &[("Authorization", &bearer)]).await }
    };
    let v = verdict("broke").await;
    assert_eq!(
        v,
        json!({"status": 483, "reason": "insufficient balance", "code": "insufficient_balance"})
    );
    let v = verdict("unknown").await;
    assert_eq!(
        (v["status"].clone(), v["code"].clone()),
        (json!(503), json!("billing_unavailable"))
    );
    assert_eq!(verdict("low").await["expiry"], NOW + 10);
    assert_eq!(verdict("rich").await["expiry"], NOW + 120);
}

#[test]
fn rejection_statuses_are_always_refusals() {
    let custom = |status| Rejection::Custom {
        status,
        reason: "r".into(),
        code: "c".into(),
    };
    assert_eq!(custom(480).status(), 480);
    assert_eq!(custom(200).status(), 403);
    assert_eq!(custom(42).status(), 403);
    assert_eq!(custom(1000).status(), 403);
    assert_eq!(
        Rejection::Unavailable("db down at 10.0.0.1".into()).reason(),
        "identity provider unavailable"
    );
}
