//! The identity webhook, called exactly as go-livepeer's remote signer calls it (see
//! `support/golivepeer.rs`): every verifier, the composite order, caller authentication, bad bodies,
//! expiry/revocation/deactivation (with the cache warm), key rotation, an external OIDC issuer
//! served by the test, and the balance gate.

use crate::backend_tests;
use crate::harness::{TestApp, TestServer};
use crate::support::golivepeer::{
    SignerState, SignerVerdict, call_identity_webhook, signer_consults_webhook, webhook_body,
};
use reqwest::Method;
use serde_json::{Value, json};
use tollhouse_core::Clock as _;
use tollhouse_core::keys::{SigningAlg, SigningKey};
use tollhouse_server::config::{Config, ExternalIssuer, VerifierKind};
use tollhouse_store::SignerPolicyRecord;

use crate::support::external_idp::ExternalIdp;
use crate::support::signer::{FLAG, api_key, signer_session, start, upsert, verdict, webhook_url};

async fn status_for(server: &TestServer, credential: &str) -> Value {
    let bearer = format!("Bearer {credential}");
    verdict(
        server,
        &[("Authorization", &bearer), ("X-Request-Id", "r-1")],
    )
    .await["status"]
        .clone()
}

async fn set_policy(server: &TestServer, app: &TestApp, policy: SignerPolicyRecord) {
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

fn policy(mode: &str) -> SignerPolicyRecord {
    SignerPolicyRecord {
        billing_mode: mode.into(),
        soft_limit_usd_micros: 0,
        balance_recheck_secs: 60,
        billing_fail_open: false,
        webhook_verifiers: None,
    }
}

async fn grant(server: &TestServer, app: &TestApp, ext: &str, micros: &str) {
    let r = server
        .builder(Method::POST, app, &format!("/users/{ext}/allowances"))
        .json(&json!({"amountUsdMicros": micros, "source": "manual"}))
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success(), "{}", r.text().await.unwrap());
}

backend_tests! {
    async fn every_tollhouse_credential_proves_the_same_identity(db: Db) {
        let server = start(db, |_| {}).await;
        let app = server.app.clone();
        let tokens = server.user_tokens(&app, "alice").await;
        let jwt = tokens["access_token"].as_str().unwrap().to_owned();
        let session = signer_session(&server, &app, &jwt).await;
        let key = api_key(&server, &app, "alice").await;
        let bare = key.rsplit_once("_pmth_ak_").map(|(_, s)| format!("pmth_ak_{s}")).unwrap();
        let now = server.clock.now();
        let auth_id = format!("{}:alice", app.client_id);
        for (name, credential, expiry) in [("user JWT", jwt.as_str(), now + 60), ("signer session", session.as_str(), now + 60), ("composite API key", key.as_str(), now + 60), ("bare API key", bare.as_str(), now + 60)] {
            let bearer = format!("Bearer {credential}");
            let answer = verdict(&server, &[("Authorization", &bearer)]).await;
            assert_eq!(answer, json!({"status": 200, "auth_id": auth_id, "expiry": expiry, "identity": {"issuer": server.issuer, "client_id": app.client_id, "usage_subject": "alice", "usage_subject_type": "external_user_id"}}), "{name}");
        }
        // A signer JWT (300 s) expires before the re-check interval: expiry is the token's.
        let minted = server.token_request(&app, &[("grant_type", "client_credentials"), ("scope", "sign:mint_user_token"), ("external_user_id", "alice")]).await;
        assert_eq!(minted.status(), 200);
        let signer_jwt = minted.json::<Value>().await.unwrap()["access_token"].as_str().unwrap().to_owned();
        let claims: Value = jsonwebtoken::dangerous::insecure_decode::<Value>(&signer_jwt).unwrap().claims;
        let bearer = format!("Bearer {signer_jwt}");
        let answer = verdict(&server, &[("authorization", &bearer)]).await;
        assert_eq!(answer["status"], 200);
        assert_eq!(answer["expiry"], json!(claims["exp"].as_i64().unwrap().min(now + 60)));
        // The signer, given these answers, proceeds and records the auth id.
        let state = SignerState::default();
        let outcome = signer_consults_webhook(&webhook_url(&server), FLAG, &[("Authorization", &format!("Bearer {jwt}"))], &state).await;
        assert_eq!(outcome, SignerVerdict::Proceed { auth_id: Some(auth_id.clone()), expiry: Some(now + 60) });
        // Another user's credential in alice's payment session is refused clearly.
        let bob = server.user_tokens(&app, "bob").await["access_token"].as_str().unwrap().to_owned();
        let alices = SignerState {
            auth_id: auth_id.clone(),
            ..SignerState::default()
        };
        let outcome = signer_consults_webhook(&webhook_url(&server), FLAG, &[("Authorization", &format!("Bearer {bob}"))], &alices).await;
        assert_eq!(outcome.gateway_status(), Some(403));
        // Garbage, an M2M token and a missing credential.
        assert_eq!(status_for(&server, "pmth_not_a_session").await, 401);
        assert_eq!(status_for(&server, &server.m2m_token(&app, "users:read").await).await, 401);
        assert_eq!(verdict(&server, &[("X-Request-Id", "1")]).await, json!({"status": 401, "reason": "missing credential", "code": "missing_credential"}));
        server.finish().await;
    }

    async fn caller_authentication_and_bad_bodies(db: Db) {
        let server = start(db, |_| {}).await;
        let jwt = server.user_tokens(&server.app, "alice").await["access_token"].as_str().unwrap().to_owned();
        let body = webhook_body(&[("Authorization", &format!("Bearer {jwt}"))], None);
        for flag in ["X-Api-Key:whsec-test-0123456789", "X-Webhook-Secret:whsec-test-0123456789", "Authorization:Bearer whsec-test-0123456789"] {
            let (status, answer) = call_identity_webhook(&webhook_url(&server), flag, body.clone()).await;
            assert_eq!((status, answer.json.unwrap()["status"].clone()), (200, json!(200)), "{flag}");
        }
        for flag in ["", "X-Api-Key:wrong", "X-Api-Key:whsec-test-012345678", "X-Other:whsec-test-0123456789", "Authorization:Basic whsec-test-0123456789"] {
            let (status, answer) = call_identity_webhook(&webhook_url(&server), flag, body.clone()).await;
            assert_eq!((status, answer.json.unwrap()), (401, json!({"status": 401, "reason": "unauthorized webhook caller"})), "{flag}");
        }
        // The alias answers the same way.
        let (status, _) = call_identity_webhook(&server.url("/authorize"), FLAG, body.clone()).await;
        assert_eq!(status, 200);
        for bad in [&b"not json"[..], b"[1,2]", b"", b"{\"headers\":"] {
            let (status, answer) = call_identity_webhook(&webhook_url(&server), FLAG, bad.to_vec()).await;
            assert_eq!((status, answer.json.unwrap()), (400, json!({"status": 400, "reason": "invalid request json"})));
        }
        let mut huge = br#"{"headers":{"X-Pad":[""#.to_vec();
        huge.extend(std::iter::repeat_n(b'a', 70 * 1024));
        huge.extend(br#""]}}"#);
        let (status, answer) = call_identity_webhook(&webhook_url(&server), FLAG, huge).await;
        assert_eq!((status, answer.json.unwrap()["status"].clone()), (413, json!(413)));
        // Lenient: unknown fields, odd state, single-string header values, legacy field.
        let lenient = format!(r#"{{"headers":{{"authorization":"Bearer {jwt}"}},"state":{{"Balance":"7/4","Future":[1]}},"extra":true}}"#);
        let (_, answer) = call_identity_webhook(&webhook_url(&server), FLAG, lenient.into_bytes()).await;
        assert_eq!(answer.json.unwrap()["status"], 200);
        let legacy = format!(r#"{{"authorization":"Bearer {jwt}"}}"#);
        let (_, answer) = call_identity_webhook(&webhook_url(&server), FLAG, legacy.into_bytes()).await;
        assert_eq!(answer.json.unwrap()["status"], 200);
        server.finish().await;

        // Without a configured secret the webhook refuses everyone.
        let closed = start(crate::harness::Db::Sqlite, |c| c.signer.webhook_secret = None).await;
        let (status, _) = call_identity_webhook(&webhook_url(&closed), FLAG, b"{}".to_vec()).await;
        assert_eq!(status, 401);
        closed.finish().await;
    }

    async fn expiry_revocation_and_deactivation_beat_the_cache(db: Db) {
        let server = start(db, |_| {}).await;
        let app = server.app.clone();
        let jwt = server.user_tokens(&app, "alice").await["access_token"].as_str().unwrap().to_owned();
        let session = signer_session(&server, &app, &jwt).await;
        let key = api_key(&server, &app, "alice").await;
        for c in [&jwt, &session, &key] {
            assert_eq!(status_for(&server, c).await, 200);
        }
        // Revoked through the API: refused at once, though the verdict was cached.
        let revoke = |token: String| server.http.post(format!("{}/token/revocation", server.issuer)).basic_auth(&app.m2m_client_id, Some(&app.m2m_secret)).form(&[("token", token)]).send();
        assert_eq!(revoke(session.clone()).await.unwrap().status(), 200);
        assert_eq!(verdict(&server, &[("Authorization", &format!("Bearer {session}"))]).await, json!({"status": 401, "reason": "credential revoked", "code": "credential_revoked"}));
        assert_eq!(status_for(&server, &jwt).await, 200);
        assert_eq!(revoke(jwt.clone()).await.unwrap().status(), 200);
        assert_eq!(status_for(&server, &jwt).await, 401);
        // Revoked behind the server's back (another instance, the CLI): seen within one second.
        assert_eq!(status_for(&server, &key).await, 200, "verdict cached again");
        let hash = server.state().pepper.hash(tollhouse_core::ids::split_api_key(&key).1);
        let record = server.state().store.api_key_by_hash(hash.as_bytes()).await.unwrap().unwrap();
        server.state().store.revoke_api_key(&record.user_id, &record.id, server.clock.now()).await.unwrap();
        assert_eq!(status_for(&server, &key).await, 200, "still cached");
        server.clock.advance_millis(1000);
        assert_eq!(status_for(&server, &key).await, 401);
        // Deactivation.
        let jwt2 = server.user_tokens(&app, "bob").await["access_token"].as_str().unwrap().to_owned();
        assert_eq!(status_for(&server, &jwt2).await, 200);
        let r = server.builder(Method::DELETE, &app, "/users?externalUserId=bob").send().await.unwrap();
        assert_eq!(r.status(), 200);
        assert_eq!(verdict(&server, &[("Authorization", &format!("Bearer {jwt2}"))]).await["status"], 403);
        // Expiry, by the injected clock (the cache never outlives the token).
        let jwt3 = server.user_tokens(&app, "carol").await["access_token"].as_str().unwrap().to_owned();
        assert_eq!(status_for(&server, &jwt3).await, 200);
        server.clock.advance(900);
        assert_eq!(verdict(&server, &[("Authorization", &format!("Bearer {jwt3}"))]).await["code"], "credential_expired");
        server.finish().await;
    }

    async fn a_rotated_key_set_is_honoured(db: Db) {
        let server = start(db, |_| {}).await;
        let state = server.state().clone();
        let before = server.user_tokens(&server.app, "alice").await["access_token"].as_str().unwrap().to_owned();
        let delay = state.config.keys.activation_delay_secs;
        tollhouse_server::keyring::rotate(state.store.as_ref(), &state.sealing, &state.config, SigningAlg::ES256, delay, state.clock.as_ref(), state.rng.as_ref()).await.unwrap();
        server.clock.advance(delay);
        state.refresh().await.unwrap();
        let after = server.user_tokens(&server.app, "alice").await["access_token"].as_str().unwrap().to_owned();
        assert_eq!(jsonwebtoken::decode_header(&after).unwrap().alg, jsonwebtoken::Algorithm::ES256);
        assert_eq!(status_for(&server, &before).await, 200);
        assert_eq!(status_for(&server, &after).await, 200);
        // A token signed by a key Tollhouse never published.
        let (stranger, _) = SigningKey::generate(SigningAlg::ES256).unwrap();
        let claims: Value = jsonwebtoken::dangerous::insecure_decode::<Value>(&after).unwrap().claims;
        let forged = stranger.sign_access_token(&claims).unwrap();
        assert_eq!(status_for(&server, &forged).await, 401);
        server.finish().await;
    }

    async fn external_oidc_issuer_tokens(db: Db) {
        let idp = ExternalIdp::start().await;
        let issuer = idp.url.clone();
        let server = start(db, move |c| {
            let mut external = ExternalIssuer::new(issuer);
            external.audience = Some("livepeer".into());
            c.signer.external_issuers = vec![external];
        }).await;
        let app = server.app.clone();
        upsert(&server, &app, "ext-user").await;
        let key = idp.new_key(true);
        let good = idp.token(&key, json!({"aud": "livepeer", "azp": app.client_id, "external_user_id": "ext-user"}));
        let answer = verdict(&server, &[("Authorization", &format!("Bearer {good}"))]).await;
        assert_eq!(answer["status"], 200, "{answer}");
        assert_eq!(answer["auth_id"], format!("{}:ext-user", app.client_id));
        assert_eq!(answer["identity"]["issuer"], idp.url);
        assert_eq!(idp.fetches(), 1);
        // A client not registered here: identity proven, nothing to gate.
        let foreign = idp.token(&key, json!({"aud": "livepeer"}));
        let answer = verdict(&server, &[("Authorization", &format!("Bearer {foreign}"))]).await;
        assert_eq!((answer["status"].clone(), answer["auth_id"].clone()), (json!(200), json!("app_from_claim:idp-subject-1")));
        // Wrong audience, missing scope, expired.
        for (claims, code) in [
            (json!({"aud": "other"}), "invalid_credential"),
            (json!({"aud": "livepeer", "scope": "openid"}), "insufficient_scope"),
            (json!({"aud": "livepeer", "exp": crate::harness::wall_clock_now() - 1}), "credential_expired"),
        ] {
            let token = idp.token(&key, claims.clone());
            assert_eq!(verdict(&server, &[("Authorization", &format!("Bearer {token}"))]).await["code"], code, "{claims}");
        }
        // A new key: an unknown kid triggers a refetch, at most once a minute.
        server.clock.advance(30);
        let rotated = idp.new_key(false);
        let early = idp.token(&rotated, json!({"aud": "livepeer"}));
        assert_eq!(status_for(&server, &early).await, 401, "not published yet");
        let fetches = idp.fetches();
        idp.keys.lock().unwrap().push(rotated.public().jwk().clone());
        let fresh = idp.token(&rotated, json!({"aud": "livepeer", "sub": "another"}));
        assert_eq!(status_for(&server, &fresh).await, 401, "refetch throttled");
        assert!(idp.fetches() <= fetches + 1);
        server.clock.advance(61);
        assert_eq!(status_for(&server, &fresh).await, 200, "refetched after a minute");
        server.finish().await;
    }

    async fn a_key_the_external_issuer_withdrew_stops_verifying_within_the_max_age(db: Db) {
        let idp = ExternalIdp::start().await;
        let issuer = idp.url.clone();
        let server = start(db, move |c| c.signer.external_issuers = vec![ExternalIssuer::new(issuer)]).await;
        let max_age = i64::try_from(ExternalIssuer::new("x").jwks_max_age_secs).unwrap();
        assert_eq!(max_age, 3600, "the max age docs/configuration.md states");
        let old = idp.new_key(true);
        // Valid far longer than the test's clock moves, so only the key's withdrawal refuses it.
        let lasting = json!({"exp": crate::harness::wall_clock_now() + 3 * max_age});
        let token = idp.token(&old, lasting.clone());
        assert_eq!(status_for(&server, &token).await, 200);
        // The issuer rotates: the old key leaves its JWKS and a new one takes its place.
        let new = idp.new_key(false);
        *idp.keys.lock().unwrap() = vec![new.public().jwk().clone()];
        let fetches = idp.fetches();
        server.clock.advance(max_age - 1);
        assert_eq!(status_for(&server, &token).await, 200, "the key set is within its max age");
        assert_eq!(idp.fetches(), fetches, "and is not fetched again");
        server.clock.advance(1);
        assert_eq!(status_for(&server, &token).await, 401, "refetched at its max age, without the key");
        assert_eq!(idp.fetches(), fetches + 1);
        assert_eq!(status_for(&server, &idp.token(&new, lasting)).await, 200, "the new key verifies");
        server.finish().await;
    }

    async fn composite_order_and_per_app_verifiers(db: Db) {
        let trusted = |c: &mut Config| c.signer.webhook_verifiers = vec![VerifierKind::TrustedHeaders, VerifierKind::TollhouseJwt];
        let server = start(db, trusted).await;
        let app = server.app.clone();
        let jwt = server.user_tokens(&app, "alice").await["access_token"].as_str().unwrap().to_owned();
        let bearer = format!("Bearer {jwt}");
        let headers = [("Authorization", bearer.as_str()), ("X-Livepeer-Client-Id", app.client_id.as_str()), ("X-Livepeer-Usage-Subject", "bob")];
        // Trusted headers first: they win.
        assert_eq!(verdict(&server, &headers).await["auth_id"], format!("{}:bob", app.client_id));
        // API keys are not in this deployment's list.
        let key = api_key(&server, &app, "carol").await;
        assert_eq!(status_for(&server, &key).await, 401);
        server.finish().await;

        let server = start(crate::harness::Db::Sqlite, |c| c.signer.webhook_verifiers = vec![VerifierKind::TollhouseJwt, VerifierKind::TrustedHeaders]).await;
        let app = server.app.clone();
        let jwt = server.user_tokens(&app, "alice").await["access_token"].as_str().unwrap().to_owned();
        let bearer = format!("Bearer {jwt}");
        let headers = [("Authorization", bearer.as_str()), ("X-Livepeer-Client-Id", app.client_id.as_str()), ("X-Livepeer-Usage-Subject", "bob")];
        assert_eq!(verdict(&server, &headers).await["auth_id"], format!("{}:alice", app.client_id));
        server.finish().await;

        // Default list: trusted headers are ignored; an app can narrow the list to API keys.
        let server = start(crate::harness::Db::Sqlite, |_| {}).await;
        let app = server.app.clone();
        let headers = [("X-Livepeer-Client-Id", app.client_id.as_str()), ("X-Livepeer-Usage-Subject", "bob")];
        assert_eq!(verdict(&server, &headers).await["status"], 401);
        let jwt = server.user_tokens(&app, "alice").await["access_token"].as_str().unwrap().to_owned();
        let key = api_key(&server, &app, "alice").await;
        set_policy(&server, &app, SignerPolicyRecord { webhook_verifiers: Some("api_key".into()), ..policy("none") }).await;
        assert_eq!(verdict(&server, &[("Authorization", &format!("Bearer {jwt}"))]).await["code"], "verifier_not_allowed");
        assert_eq!(status_for(&server, &key).await, 200);
        server.finish().await;
    }

    async fn balance_gate_answers_483_and_503(db: Db) {
        let server = start(db, |_| {}).await;
        let app = server.app.clone();
        let alice = server.user_tokens(&app, "alice").await["access_token"].as_str().unwrap().to_owned();
        let bob = server.user_tokens(&app, "bob").await["access_token"].as_str().unwrap().to_owned();
        // Billing mode none: no balance needed.
        assert_eq!(status_for(&server, &alice).await, 200);
        set_policy(&server, &app, SignerPolicyRecord { balance_recheck_secs: 30, ..policy("prepaid") }).await;
        let refused = verdict(&server, &[("Authorization", &format!("Bearer {alice}"))]).await;
        assert_eq!(refused, json!({"status": 483, "reason": "insufficient balance", "code": "insufficient_balance"}));
        grant(&server, &app, "alice", "1000000").await;
        grant(&server, &app, "bob", "1000000").await;
        let ok = verdict(&server, &[("Authorization", &format!("Bearer {alice}"))]).await;
        assert_eq!((ok["status"].clone(), ok["expiry"].clone()), (json!(200), json!(server.clock.now() + 30)));
        // Consumption set directly in the store crosses zero: 483 within the cache second.
        let alice_id = server.state().store.user_by_external_id(&app.client_id, "alice").await.unwrap().unwrap().id;
        server.state().store.add_consumption(&app.client_id, &alice_id, 1_000_000, server.clock.now()).await.unwrap();
        server.clock.advance_millis(1000);
        assert_eq!(status_for(&server, &alice).await, 483);
        assert_eq!(status_for(&server, &bob).await, 200, "other users are unaffected");
        // A soft limit lets the balance go a little below zero.
        set_policy(&server, &app, SignerPolicyRecord { soft_limit_usd_micros: 500, ..policy("prepaid") }).await;
        assert_eq!(status_for(&server, &alice).await, 200);
        set_policy(&server, &app, policy("prepaid")).await;
        assert_eq!(status_for(&server, &alice).await, 483);
        // A new grant restores access at once.
        grant(&server, &app, "alice", "5").await;
        assert_eq!(status_for(&server, &alice).await, 200);
        // Store unreachable: fail closed with 503 (the JWT itself is still cached and valid).
        assert_eq!(status_for(&server, &bob).await, 200);
        server.state().store.close().await;
        server.clock.advance_millis(799);
        assert_eq!(status_for(&server, &bob).await, 200, "fresh verdicts stand");
        server.clock.advance_millis(201);
        let down = verdict(&server, &[("Authorization", &format!("Bearer {bob}"))]).await;
        assert_eq!((down["status"].clone(), down["code"].clone()), (json!(503), json!("billing_unavailable")));
        server.finish().await;
    }
}
