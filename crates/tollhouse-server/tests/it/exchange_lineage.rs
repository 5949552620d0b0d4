//! Every credential minted from another names it as its parent, so a leaked credential cannot
//! outlive the one it came from: a signer JWT is never exchanged again (the device facade
//! takes only the device flow's user token), and revoking a user token or an API key ends the
//! signer JWTs and sessions exchanged from it at the webhook at once. Tollhouse's own JWTs are
//! accepted only when `aud` names the issuer, as a string or inside an array (RFC 9068 §4).

use crate::backend_tests;
use crate::harness::TestServer;
use crate::support::signer::{start, verdict};
use reqwest::Method;
use serde_json::{Value, json};
use tollhouse_core::Clock as _;
use tollhouse_core::claims::{AccessTokenClaims, Audience, TokenUse, UserType};

const EXCHANGE: &str = "urn:ietf:params:oauth:grant-type:token-exchange";
const ACCESS: &str = "urn:ietf:params:oauth:token-type:access_token";
const API_KEY: &str = "urn:pymthouse:oauth:token-type:api_key";

async fn status_of(server: &TestServer, credential: &str) -> Value {
    verdict(
        server,
        &[("Authorization", &format!("Bearer {credential}"))],
    )
    .await["status"]
        .clone()
}

async fn device_exchange(server: &TestServer, device_token: &str) -> (u16, Value) {
    let r = server
        .http
        .post(server.url("/api/signer/device/exchange"))
        .json(&json!({"deviceToken": device_token}))
        .send()
        .await
        .unwrap();
    (r.status().as_u16(), r.json().await.unwrap())
}

async fn revoke(server: &TestServer, app: &crate::harness::TestApp, token: &str) {
    let r = server
        .http
        .post(format!("{}/token/revocation", server.issuer))
        .basic_auth(&app.m2m_client_id, Some(&app.m2m_secret))
        .form(&[("token", token)])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
}

backend_tests! {
    async fn a_signer_jwt_cannot_renew_itself_and_dies_with_its_parent(db: Db) {
        let server = start(db, |_| {}).await;
        let app = server.app.clone();
        let user_jwt = server.user_tokens(&app, "ada").await["access_token"].as_str().unwrap().to_owned();
        let (status, first) = device_exchange(&server, &user_jwt).await;
        assert_eq!(status, 200, "{first}");
        let signer = first["access_token"].as_str().unwrap().to_owned();
        assert_eq!(status_of(&server, &signer).await, 200);
        // The signer JWT is not a device token: no successor (before, one came every 300 s).
        let (status, err) = device_exchange(&server, &signer).await;
        assert_eq!((status, err["error"].as_str()), (400, Some("invalid_grant")), "{err}");
        // Nor is it a subject token for RFC 8693.
        let r = server.http.post(format!("{}/token", server.issuer)).basic_auth(&app.m2m_client_id, Some(&app.m2m_secret))
            .form(&[("grant_type", EXCHANGE), ("subject_token", signer.as_str()), ("subject_token_type", ACCESS)]).send().await.unwrap();
        assert_eq!(r.status(), 400);
        // A session and a signer JWT exchanged from the same user token, with M2M credentials.
        let exchange = |resource: Option<&str>| {
            let mut form = vec![("grant_type", EXCHANGE), ("subject_token", user_jwt.as_str()), ("subject_token_type", ACCESS)];
            if let Some(resource) = resource {
                form.push(("resource", resource));
            }
            server.http.post(format!("{}/token", server.issuer)).basic_auth(&app.m2m_client_id, Some(&app.m2m_secret)).form(&form).send()
        };
        let session: Value = exchange(None).await.unwrap().json().await.unwrap();
        let session = session["access_token"].as_str().unwrap().to_owned();
        assert!(session.starts_with("pmth_"));
        let jwt: Value = exchange(Some(&server.issuer)).await.unwrap().json().await.unwrap();
        let jwt = jwt["access_token"].as_str().unwrap().to_owned();
        for child in [&signer, &session, &jwt] {
            assert_eq!(status_of(&server, child).await, 200);
        }
        // Revoking the parent ends every child at the next webhook call.
        revoke(&server, &app, &user_jwt).await;
        for child in [&signer, &session, &jwt] {
            assert_eq!(status_of(&server, child).await, 401, "a child of a revoked token");
        }
        let mine = server.http.get(server.url("/api/v1/user/usage/balance")).bearer_auth(&session).send().await.unwrap();
        assert_eq!(mine.status(), 401);
        let r = server.http.post(format!("{}/token/introspection", server.issuer)).basic_auth(&app.m2m_client_id, Some(&app.m2m_secret)).form(&[("token", jwt.as_str())]).send().await.unwrap();
        let intro: Value = r.json().await.unwrap();
        assert_eq!(intro["active"], false);
        server.finish().await;
    }
}

backend_tests! {
    async fn revoking_an_api_key_ends_the_sessions_exchanged_from_it(db: Db) {
        let server = start(db, |_| {}).await;
        let app = server.app.clone();
        server.user_tokens(&app, "kim").await;
        let r = server.builder(Method::POST, &app, "/users/kim/keys").json(&json!({"label": "laptop"})).send().await.unwrap();
        let key: Value = r.json().await.unwrap();
        let api_key = key["apiKey"].as_str().unwrap().to_owned();
        let url = server.url(&format!("/api/v1/apps/{}/oidc/token", app.client_id));
        let session: Value = server.http.post(&url).form(&[("grant_type", EXCHANGE), ("subject_token", api_key.as_str()), ("subject_token_type", API_KEY)]).send().await.unwrap().json().await.unwrap();
        let session = session["access_token"].as_str().unwrap().to_owned();
        let facade: Value = server.http.post(server.url("/api/pymthouse/keys/exchange")).json(&json!({"apiKey": api_key})).send().await.unwrap().json().await.unwrap();
        let facade = facade["access_token"].as_str().unwrap().to_owned();
        assert_eq!(status_of(&server, &session).await, 200);
        assert_eq!(status_of(&server, &facade).await, 200);
        let id = key["id"].as_str().unwrap();
        let r = server.builder(Method::DELETE, &app, &format!("/users/kim/keys?keyId={id}")).send().await.unwrap();
        assert!(r.status().is_success());
        assert_eq!(status_of(&server, &session).await, 401);
        assert_eq!(status_of(&server, &facade).await, 401);
        server.finish().await;
    }
}

backend_tests! {
    async fn own_jwts_must_name_the_issuer_as_audience(db: Db) {
        let server = start(db, |_| {}).await;
        let app = server.app.clone();
        server.user_tokens(&app, "ada").await;
        let user = server.state().store.user_by_external_id(&app.client_id, "ada").await.unwrap().unwrap();
        let now = server.clock.now();
        let forge = |aud: Audience| {
            let claims = AccessTokenClaims {
                iss: server.issuer.clone(),
                sub: user.id.clone(),
                aud,
                exp: now + 300,
                iat: now,
                nbf: now,
                jti: uuid::Uuid::new_v4().to_string(),
                client_id: app.client_id.clone(),
                scope: "sign:job".into(),
                external_user_id: Some("ada".into()),
                user_type: Some(UserType::AppUser),
                token_use: Some(TokenUse::User),
                parent: None,
            };
            // Signed with the server's real current key, as a token minted by mistake (or by
            // another service sharing the key) would be.
            server.state().keyring.snapshot().current.sign_access_token(&claims).unwrap()
        };
        let elsewhere = forge(Audience::one("https://elsewhere.example/"));
        let listed: Audience = serde_json::from_value(json!(["https://elsewhere.example/", server.issuer])).unwrap();
        let listed = forge(listed);
        let plain = forge(Audience::one(server.issuer.clone()));
        assert_eq!(status_of(&server, &elsewhere).await, 401, "another audience");
        assert_eq!(status_of(&server, &listed).await, 200, "an array naming the issuer");
        assert_eq!(status_of(&server, &plain).await, 200);
        let (status, _) = device_exchange(&server, &elsewhere).await;
        assert_eq!(status, 400);
        let (status, _) = device_exchange(&server, &listed).await;
        assert_eq!(status, 200);
        let r = server.http.get(server.url("/api/v1/user/usage/balance")).bearer_auth(&elsewhere).send().await.unwrap();
        assert_eq!(r.status(), 401);
        server.finish().await;
    }
}
