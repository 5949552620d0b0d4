//! The Rust SDK's integrator pieces against a real `tollhouse serve`: its JWT verifier checks
//! real user, signer and app tokens through the server's discovery and JWKS (key rotation
//! included); its identity webhook, mounted in an axum app the way an integrator would, answers
//! the go-livepeer double's byte-exact bodies with the same verdicts as Tollhouse's own
//! webhook; its exchange handlers trade API keys and device tokens with the real server; and
//! its token manager + signer proxy mint real signer JWTs and forward to the signer double.

use crate::backend_tests;
use crate::harness::{TestApp, TestServer};
use crate::support::golivepeer::{
    FakeSigner, SignerState, SignerVerdict, call_identity_webhook, signer_consults_webhook,
    webhook_body,
};
use crate::support::signer::{SECRET, api_key, signer_session, start};
use serde_json::{Value, json};
use std::sync::Arc;
use tollhouse_core::Clock as _;
use tollhouse_core::keys::SigningAlg;
use tollhouse_sdk::Client;
use tollhouse_sdk::exchange::{ApiKeyExchange, DeviceExchange};
use tollhouse_sdk::jwt::{JwksCache, JwtError, JwtVerifier};
use tollhouse_sdk::proxy::SignerProxy;
use tollhouse_sdk::token_manager::SignerTokenManager;
use tollhouse_sdk::webhook::{
    CompositeVerifier, IdentityWebhook, IntrospectionVerifier, OidcVerifier,
};

const FLAG: &str = "X-Api-Key:whsec-test-0123456789";

/// Serves `router` on 127.0.0.1:0 (the integrator's backend) and returns its base URL.
async fn serve(router: axum::Router) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    url
}

fn verifier(server: &TestServer) -> JwtVerifier {
    JwtVerifier::builder(server.issuer.clone())
        .required_scope("sign:job")
        .clock(Arc::new(server.clock.clone()))
        .build()
}

/// The integrator's webhook: Tollhouse JWTs checked locally, API keys and signer sessions by
/// introspection with the app's credentials.
fn integrator_webhook(server: &TestServer, app: &TestApp) -> IdentityWebhook {
    IdentityWebhook::builder(
        SECRET,
        CompositeVerifier::new()
            .with(OidcVerifier::tollhouse_with(
                JwtVerifier::builder(server.issuer.clone())
                    .clock(Arc::new(server.clock.clone()))
                    .build(),
            ))
            .with(IntrospectionVerifier::new(
                server.issuer.clone(),
                app.m2m_client_id.clone(),
                app.m2m_secret.clone(),
            )),
    )
    .clock(Arc::new(server.clock.clone()))
    .build()
}

fn client(server: &TestServer, app: &TestApp) -> Client {
    Client::builder(&server.issuer)
        .public_client_id(&app.client_id)
        .m2m_credentials(&app.m2m_client_id, &app.m2m_secret)
        .build()
        .unwrap()
}

backend_tests! {
    async fn sdk_verifier_checks_real_tokens_and_follows_key_rotation(db: Db) {
        let server = TestServer::start(db).await;
        let app = server.app.clone();
        let v = verifier(&server);
        let user = server.user_tokens(&app, "alice").await;
        let jwt = user["access_token"].as_str().unwrap().to_owned();
        let claims = v.verify(&jwt).await.unwrap();
        assert_eq!(claims.external_user_id(), Some("alice"));
        assert_eq!(claims.client_id.as_deref(), Some(app.client_id.as_str()));
        assert_eq!(claims.iss, server.issuer);
        assert!(claims.has_scope("sign:job"));
        assert_eq!(v.verify_bearer(&format!("Bearer {jwt}")).await.unwrap().exp, claims.exp);

        // An app token verifies too when no user scope is required (aud = issuer) …
        let m2m = server.m2m_token(&app, "users:read").await;
        let plain = JwtVerifier::builder(server.issuer.clone()).clock(Arc::new(server.clock.clone())).build();
        assert_eq!(plain.verify(&m2m).await.unwrap().sub.as_deref(), Some(app.m2m_client_id.as_str()));
        // … but lacks sign:job: 403, not a gateway error.
        let err = v.verify(&m2m).await.unwrap_err();
        assert_eq!((err.http_status(), err.error_code()), (403, "insufficient_scope"));
        // Another audience is refused.
        let other_aud = JwtVerifier::builder(server.issuer.clone()).audience("https://api.other").clock(Arc::new(server.clock.clone())).build();
        assert_eq!(other_aud.verify(&jwt).await.unwrap_err(), JwtError::WrongAudience);

        // Rotation: the new key is published at once and signs after the activation delay.
        // A verifier that fetched the key set moments ago does not refetch for a token with
        // an unknown kid (rate limit); once a minute has passed, it does.
        let state = server.state().clone();
        let delay = state.config.keys.activation_delay_secs;
        tollhouse_server::keyring::rotate(state.store.as_ref(), &state.sealing, &state.config, SigningAlg::ES256, delay, state.clock.as_ref(), state.rng.as_ref()).await.unwrap();
        state.refresh().await.unwrap();
        server.clock.advance(delay);
        state.refresh().await.unwrap();
        let rotated = server.user_tokens(&app, "alice").await["access_token"].as_str().unwrap().to_owned();
        assert_ne!(jsonwebtoken::decode_header(&rotated).unwrap().kid, jsonwebtoken::decode_header(&jwt).unwrap().kid);
        let stranger = {
            let (key, _) = tollhouse_core::keys::SigningKey::generate(SigningAlg::ES256).unwrap();
            key.sign_access_token(&json!({"iss": server.issuer, "aud": server.issuer, "sub": "x", "client_id": "c", "jti": "j", "iat": server.clock.now(), "exp": server.clock.now() + 60, "scope": "sign:job"})).unwrap()
        };
        // This unknown kid makes the verifier refetch now (its set is older than a minute) …
        assert_eq!(v.verify(&stranger).await.unwrap_err(), JwtError::UnknownKey);
        // … so the new set is already known here.
        assert!(v.verify(&rotated).await.is_ok());
        // A second rotation a second later, signing at once (newest activation wins): its
        // first token comes within a minute of the last fetch, so it is not verifiable yet.
        server.clock.advance(1);
        let third = tollhouse_server::keyring::rotate(state.store.as_ref(), &state.sealing, &state.config, SigningAlg::ES256, 0, state.clock.as_ref(), state.rng.as_ref()).await.unwrap();
        state.refresh().await.unwrap();
        let newest = server.user_tokens(&app, "alice").await["access_token"].as_str().unwrap().to_owned();
        assert_eq!(jsonwebtoken::decode_header(&newest).unwrap().kid.as_deref(), Some(third.kid.as_str()));
        assert_eq!(v.verify(&newest).await.unwrap_err(), JwtError::UnknownKey, "within a minute of the last fetch");
        server.clock.advance(61);
        assert!(v.verify(&newest).await.is_ok());
        let claims = v.verify(&rotated).await.unwrap();
        assert_eq!(claims.external_user_id(), Some("alice"));

        // Expiry on the shared clock (900 s + 30 s skew).
        server.clock.advance(900 + 30);
        assert_eq!(v.verify(&newest).await.unwrap_err(), JwtError::Expired);
        // A fixed key set from the served JWKS verifies without any fetch.
        let jwks: jsonwebtoken::jwk::JwkSet = server.http.get(format!("{}/jwks", server.issuer)).send().await.unwrap().json().await.unwrap();
        let fresh = server.user_tokens(&app, "bob").await["access_token"].as_str().unwrap().to_owned();
        let pinned = JwtVerifier::builder(server.issuer.clone()).keys(JwksCache::fixed(jwks)).clock(Arc::new(server.clock.clone())).build();
        assert_eq!(pinned.verify(&fresh).await.unwrap().external_user_id(), Some("bob"));
        server.finish().await;
    }

    async fn sdk_webhook_answers_the_go_livepeer_double_like_tollhouse(db: Db) {
        // Tollhouse runs its own webhook too (same secret), so both verdicts can be compared.
        let server = start(db, |_| {}).await;
        let app = server.app.clone();
        let integrator = serve(axum::Router::new().route_service("/authorize", integrator_webhook(&server, &app))).await;
        let sdk_url = format!("{integrator}/authorize");
        let tollhouse_url = server.url("/webhooks/remote-signer");

        let jwt = server.user_tokens(&app, "alice").await["access_token"].as_str().unwrap().to_owned();
        let session = signer_session(&server, &app, &jwt).await;
        let key = api_key(&server, &app, "alice").await;
        let m2m = server.m2m_token(&app, "users:read").await;
        let now = server.clock.now();
        let auth_id = format!("{}:alice", app.client_id);
        let expected = json!({"status": 200, "auth_id": auth_id, "expiry": now + 60,
            "identity": {"issuer": server.issuer, "client_id": app.client_id, "usage_subject": "alice", "usage_subject_type": "external_user_id"}});
        for (name, credential) in [("user JWT", jwt.as_str()), ("signer session", session.as_str()), ("API key", key.as_str())] {
            let body = webhook_body(&[("Authorization", &format!("Bearer {credential}")), ("X-Request-Id", "r-1"), ("User-Agent", "gateway/1")], Some(&SignerState::default()));
            let (status, sdk) = call_identity_webhook(&sdk_url, FLAG, body.clone()).await;
            assert_eq!(status, 200, "{name}");
            assert_eq!(sdk.json.clone().unwrap(), expected, "{name}");
            let (_, ours) = call_identity_webhook(&tollhouse_url, FLAG, body).await;
            assert_eq!(sdk.json, ours.json, "{name}: the SDK and Tollhouse agree");
        }
        // The signer double proceeds on the SDK's answer and records the auth id.
        let outcome = signer_consults_webhook(&sdk_url, FLAG, &[("Authorization", &format!("Bearer {jwt}"))], &SignerState::default()).await;
        assert_eq!(outcome, SignerVerdict::Proceed { auth_id: Some(auth_id.clone()), expiry: Some(now + 60) });
        // Another user's token in alice's payment session: refused with a status, not a 500.
        let bob = server.user_tokens(&app, "bob").await["access_token"].as_str().unwrap().to_owned();
        let alices = SignerState { auth_id: auth_id.clone(), ..SignerState::default() };
        let outcome = signer_consults_webhook(&sdk_url, FLAG, &[("Authorization", &format!("Bearer {bob}"))], &alices).await;
        assert_eq!(outcome.gateway_status(), Some(403));
        // Refusals: none, garbage, an app token, a revoked key; both webhooks give the same status.
        let revoke = server.http.post(format!("{}/token/revocation", server.issuer)).basic_auth(&app.m2m_client_id, Some(&app.m2m_secret)).form(&[("token", key.as_str())]).send().await.unwrap();
        assert_eq!(revoke.status(), 200);
        for (name, headers, status) in [
            ("none", vec![("X-Request-Id".to_owned(), "1".to_owned())], 401),
            ("garbage", vec![("Authorization".to_owned(), "Bearer pmth_not_a_session".to_owned())], 401),
            ("app token", vec![("Authorization".to_owned(), format!("Bearer {m2m}"))], 401),
            ("revoked key", vec![("Authorization".to_owned(), format!("Bearer {key}"))], 401),
        ] {
            let headers: Vec<(&str, &str)> = headers.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
            let body = webhook_body(&headers, Some(&SignerState::default()));
            let (_, sdk) = call_identity_webhook(&sdk_url, FLAG, body.clone()).await;
            let (_, ours) = call_identity_webhook(&tollhouse_url, FLAG, body).await;
            let (sdk, ours) = (sdk.json.unwrap(), ours.json.unwrap());
            assert_eq!((sdk["status"].as_u64(), ours["status"].as_u64()), (Some(status), Some(status)), "{name}: {sdk} vs {ours}");
            let outcome = signer_consults_webhook(&sdk_url, FLAG, &headers, &SignerState::default()).await;
            assert_eq!(outcome.gateway_status(), Some(status as u16), "{name}");
        }
        // Caller authentication and bodies, exactly as go-livepeer sends them.
        let body = webhook_body(&[("Authorization", &format!("Bearer {jwt}"))], None);
        for flag in ["X-Api-Key:whsec-test-0123456789", "X-Webhook-Secret:whsec-test-0123456789", "Authorization:Bearer whsec-test-0123456789"] {
            let (status, answer) = call_identity_webhook(&sdk_url, flag, body.clone()).await;
            assert_eq!((status, answer.json.unwrap()["status"].clone()), (200, json!(200)), "{flag}");
        }
        for flag in ["", "X-Api-Key:wrong", "X-Other:whsec-test-0123456789", "Authorization:Basic whsec-test-0123456789"] {
            let (status, answer) = call_identity_webhook(&sdk_url, flag, body.clone()).await;
            assert_eq!((status, answer.json.unwrap()), (401, json!({"status": 401, "reason": "unauthorized webhook caller"})), "{flag}");
        }
        for bad in [&b"not json"[..], b"[1,2]", b"", b"{\"headers\":"] {
            let (status, answer) = call_identity_webhook(&sdk_url, FLAG, bad.to_vec()).await;
            assert_eq!((status, answer.json.unwrap()), (400, json!({"status": 400, "reason": "invalid request json"})));
        }
        let mut huge = br#"{"headers":{"X-Pad":[""#.to_vec();
        huge.extend(std::iter::repeat_n(b'a', 70 * 1024));
        huge.extend(br#""]}}"#);
        let (status, _) = call_identity_webhook(&sdk_url, FLAG, huge).await;
        assert_eq!(status, 413);
        server.finish().await;
    }

    async fn sdk_exchange_handlers_trade_keys_and_device_tokens_with_tollhouse(db: Db) {
        let server = TestServer::start(db).await;
        let app = server.app.clone();
        let exchange = client(&server, &app);
        let backend = serve(
            axum::Router::new()
                .route_service("/api/pymthouse/keys/exchange", ApiKeyExchange::new(exchange.clone()).signer_url("https://signer.test"))
                .route_service("/api/signer/device/exchange", DeviceExchange::new(exchange)),
        )
        .await;
        let post = |path: &str, body: Value| {
            let request = server.http.post(format!("{backend}{path}")).json(&body);
            async move {
                let response = request.send().await.unwrap();
                let status = response.status().as_u16();
                let cache = response.headers().get("cache-control").map(|v| v.to_str().unwrap().to_owned());
                (status, response.json::<Value>().await.unwrap(), cache)
            }
        };

        // API key → opaque signer session, which Tollhouse's webhook accepts.
        let key = api_key(&server, &app, "alice").await;
        let (status, session, cache) = post("/api/pymthouse/keys/exchange", json!({"apiKey": key, "clientId": app.client_id})).await;
        assert_eq!(status, 200, "{session}");
        assert_eq!(cache.as_deref(), Some("no-store"));
        let access = session["access_token"].as_str().unwrap();
        assert!(access.starts_with("pmth_") && access.len() == 69, "{access}");
        assert_eq!((session["token_type"].as_str(), session["scope"].as_str()), (Some("Bearer"), Some("sign:job")));
        assert!(session["expires_in"].as_u64().unwrap() > 0);
        assert!(session["balanceUsdMicros"].is_string() && session["lifetimeGrantedUsdMicros"].is_string());
        assert_eq!(session["issued_token_type"], "urn:ietf:params:oauth:token-type:access_token");
        assert_eq!(session["signer_url"], "https://signer.test");
        let introspected: Value = server.http.post(format!("{}/token/introspection", server.issuer)).basic_auth(&app.m2m_client_id, Some(&app.m2m_secret)).form(&[("token", access)]).send().await.unwrap().json().await.unwrap();
        assert_eq!((introspected["active"].as_bool(), introspected["external_user_id"].as_str()), (Some(true), Some("alice")));
        // The bare form of the key works too; client secrets and unknown keys do not.
        let bare = key.rsplit_once("_pmth_ak_").map(|(_, s)| format!("pmth_ak_{s}")).unwrap();
        assert_eq!(post("/api/pymthouse/keys/exchange", json!({"apiKey": bare})).await.0, 200);
        let (status, err, _) = post("/api/pymthouse/keys/exchange", json!({"apiKey": app.m2m_secret})).await;
        assert_eq!((status, err["error"].as_str()), (400, Some("invalid_request")));
        let (status, err, _) = post("/api/pymthouse/keys/exchange", json!({"apiKey": format!("pmth_ak_{}", "0".repeat(64))})).await;
        assert!(status == 400 || status == 401, "{status} {err}");
        assert!(err["error"].is_string());
        let (status, _, _) = post("/api/pymthouse/keys/exchange", json!({"apiKey": key, "clientId": "app_000000000000000000000000"})).await;
        assert_eq!(status, 400);

        // Device token (the user JWT a CLI got) → a 300 s signer JWT for the same user.
        let device_token = server.user_tokens(&app, "carol").await["access_token"].as_str().unwrap().to_owned();
        let (status, signer, _) = post("/api/signer/device/exchange", json!({"deviceToken": device_token, "scope": "sign:job"})).await;
        assert_eq!(status, 200, "{signer}");
        assert_eq!(signer["expires_in"], 300);
        let claims = verifier(&server).verify(signer["access_token"].as_str().unwrap()).await.unwrap();
        assert_eq!(claims.external_user_id(), Some("carol"));
        assert_eq!(claims.client_id.as_deref(), Some(app.client_id.as_str()));
        // A token of another app, or garbage, is refused with Tollhouse's status and code.
        let other = server.create_app("other").await;
        let foreign = server.user_tokens(&other, "dave").await["access_token"].as_str().unwrap().to_owned();
        let (status, err, _) = post("/api/signer/device/exchange", json!({"deviceToken": foreign})).await;
        assert!((400..500).contains(&status), "{status} {err}");
        assert!(err["error"].is_string());
        let (status, _, _) = post("/api/signer/device/exchange", json!({"deviceToken": "x.y.z"})).await;
        assert!((400..500).contains(&status));
        server.finish().await;
    }

    async fn sdk_token_manager_and_proxy_sign_through_the_signer_double(db: Db) {
        let server = start(db, |_| {}).await;
        let app = server.app.clone();
        let signer = FakeSigner::start().await;
        // The Client mints the users' signer JWTs (creating unknown users).
        let tokens = SignerTokenManager::new(client(&server, &app));
        let proxy = SignerProxy::builder(signer.url(), tokens.clone())
            .authenticate(|parts: &axum::http::request::Parts| {
                let user = parts.headers.get("x-demo-user").and_then(|v| v.to_str().ok()).map(str::to_owned);
                async move { user }
            })
            .build();
        let backend = serve(axum::Router::new().nest_service("/signer", proxy)).await;
        // The signer double consults Tollhouse's webhook for each payment.
        signer.set_webhook(&server.url("/webhooks/remote-signer"), FLAG);

        let body = FakeSigner::payment_request_body(None, "manifest-1");
        for _ in 0..3 {
            let response = server.http.post(format!("{backend}/signer/generate-live-payment")).header("x-demo-user", "alice").header("x-livepeer-usage-subject", "mallory").body(body.clone()).send().await.unwrap();
            assert_eq!(response.status(), 200, "{}", response.text().await.unwrap());
        }
        assert_eq!(tokens.len(), 1, "one cached token for alice");
        let requests = signer.requests();
        let payments: Vec<_> = requests.iter().filter(|r| r.path_and_query.starts_with("/generate-live-payment")).collect();
        assert_eq!(payments.len(), 3);
        let bearers: Vec<_> = payments.iter().map(|r| r.header("authorization").unwrap().to_owned()).collect();
        assert!(bearers.iter().all(|b| *b == bearers[0]), "the cached token is reused");
        assert!(payments.iter().all(|r| r.header("x-livepeer-usage-subject").is_none()), "forged identity stripped");
        assert!(payments.iter().all(|r| r.body == body), "the body arrives unchanged");
        let calls = signer.webhook_calls();
        assert_eq!(calls.len(), 3, "a new payment session each time");
        let auth_id = format!("{}:alice", app.client_id);
        assert!(calls.iter().all(|c| matches!(&c.verdict, SignerVerdict::Proceed { auth_id: Some(a), .. } if *a == auth_id)), "{:?}", calls.iter().map(|c| &c.verdict).collect::<Vec<_>>());
        // Without a user, nothing is forwarded.
        let response = server.http.post(format!("{backend}/signer/generate-live-payment")).body(body.clone()).send().await.unwrap();
        assert_eq!(response.status(), 401);
        assert_eq!(signer.requests().len(), requests.len());
        server.finish().await;
    }

    async fn sdk_webhook_gates_on_the_balance_the_client_reads(db: Db) {
        let server = start(db, |_| {}).await;
        let app = server.app.clone();
        let webhook = IdentityWebhook::builder(
            SECRET,
            OidcVerifier::tollhouse_with(JwtVerifier::builder(server.issuer.clone()).clock(Arc::new(server.clock.clone())).build()),
        )
        .balance_hook(client(&server, &app))
        .clock(Arc::new(server.clock.clone()))
        .build();
        let sdk_url = format!("{}/authorize", serve(axum::Router::new().route_service("/authorize", webhook)).await);
        let jwt = server.user_tokens(&app, "alice").await["access_token"].as_str().unwrap().to_owned();
        let bearer = format!("Bearer {jwt}");
        // No grant yet: nothing above the soft limit (0).
        let outcome = signer_consults_webhook(&sdk_url, FLAG, &[("Authorization", &bearer)], &SignerState::default()).await;
        assert_eq!(outcome, SignerVerdict::Reject { status: 483, reason: "insufficient balance".into() });
        let granted = server.http.post(server.url(&format!("/api/v1/apps/{}/users/alice/allowances", app.client_id))).basic_auth(&app.m2m_client_id, Some(&app.m2m_secret)).json(&json!({"amountUsdMicros": "1000000", "source": "manual"})).send().await.unwrap();
        assert!(granted.status().is_success());
        let outcome = signer_consults_webhook(&sdk_url, FLAG, &[("Authorization", &bearer)], &SignerState::default()).await;
        assert_eq!(outcome, SignerVerdict::Proceed { auth_id: Some(format!("{}:alice", app.client_id)), expiry: Some(server.clock.now() + 60) });
        // A user of another app: the client cannot vouch for their balance.
        let other = server.create_app("other").await;
        let foreign = server.user_tokens(&other, "bob").await["access_token"].as_str().unwrap().to_owned();
        let outcome = signer_consults_webhook(&sdk_url, FLAG, &[("Authorization", &format!("Bearer {foreign}"))], &SignerState::default()).await;
        assert_eq!(outcome.gateway_status(), Some(503));
        server.finish().await;
    }
}
