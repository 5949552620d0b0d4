//! `GET|POST {issuer}/me` (OIDC Core §5.3, errors per RFC 6750 §3) on both databases: claims by
//! scope, the token kinds refused (an app's token, a signer JWT, a revoked or foreign token, a
//! deactivated user), the two ways of sending a token and the refusal of both at once.
//! oauth4webapi's view of the same endpoint is `compat/builder/builder.test.mjs` (14).

use crate::backend_tests;
use crate::harness::TestServer;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

async fn me(server: &TestServer, bearer: Option<&str>) -> (StatusCode, Option<String>, Value) {
    let mut request = server.http.get(format!("{}/me", server.issuer));
    if let Some(token) = bearer {
        request = request.bearer_auth(token);
    }
    let r = request.send().await.unwrap();
    let challenge = r
        .headers()
        .get("www-authenticate")
        .map(|v| v.to_str().unwrap().to_owned());
    (r.status(), challenge, r.json().await.unwrap())
}

async fn mint(
    server: &TestServer,
    app: &crate::harness::TestApp,
    ext: &str,
    scope: &str,
) -> String {
    let r = server
        .builder(Method::POST, app, &format!("/users/{ext}/token"))
        .json(&json!({"scope": scope}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    r.json::<Value>().await.unwrap()["access_token"]
        .as_str()
        .unwrap()
        .to_owned()
}

backend_tests! {
    async fn userinfo_releases_claims_by_scope_to_live_user_tokens_only(db: Db) {
        let server = TestServer::start(db).await;
        let app = server.app.clone();
        let doc: Value = server.http.get(server.url("/.well-known/openid-configuration")).send().await.unwrap().json().await.unwrap();
        assert_eq!(doc["userinfo_endpoint"], format!("{}/me", server.issuer));
        assert!(doc["grant_types_supported"].as_array().unwrap().contains(&json!("urn:ietf:params:oauth:grant-type:device_code")), "{doc}");

        let created = server.builder(Method::POST, &app, "/users").json(&json!({"externalUserId": "zoe", "email": "zoe@example.com"})).send().await.unwrap();
        assert!(created.status().is_success());
        let user_id = created.json::<Value>().await.unwrap()["id"].as_str().map(str::to_owned);
        let full = mint(&server, &app, "zoe", "openid email profile sign:job").await;
        let (status, challenge, body) = me(&server, Some(&full)).await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(challenge, None);
        assert_eq!(body["email"], "zoe@example.com");
        assert_eq!(body["preferred_username"], "zoe");
        if let Some(id) = user_id {
            assert_eq!(body["sub"], id.as_str());
        }
        let sub = body["sub"].clone();
        // Without `email` and `profile` only `sub` is released.
        let bare = mint(&server, &app, "zoe", "sign:job").await;
        assert_eq!(me(&server, Some(&bare)).await.2, json!({"sub": sub}));

        // POST: the token in the header or in a form body, never both (RFC 6750 §2).
        let post = |form: Option<&[(&str, &str)]>, bearer: Option<&str>| {
            let mut request = server.http.post(format!("{}/me", server.issuer));
            if let Some(form) = form {
                request = request.form(form);
            }
            if let Some(token) = bearer {
                request = request.bearer_auth(token);
            }
            request.send()
        };
        let r = post(Some(&[("access_token", full.as_str())]), None).await.unwrap();
        assert_eq!(r.status(), 200);
        assert_eq!(r.json::<Value>().await.unwrap()["email"], "zoe@example.com");
        assert_eq!(post(None, Some(&full)).await.unwrap().status(), 200);
        let both = post(Some(&[("access_token", full.as_str())]), Some(&full)).await.unwrap();
        assert_eq!(both.status(), 400);
        assert_eq!(both.json::<Value>().await.unwrap()["error"], "invalid_request");
        let json_body = server.http.post(format!("{}/me", server.issuer)).json(&json!({"access_token": full})).send().await.unwrap();
        assert_eq!(json_body.status(), 400, "a body that is not a form");

        // Refused with RFC 6750's challenge: no token, a tampered one, the app's own token, a
        // signer JWT (a gateway's credential must not read the user's profile).
        let m2m = server.m2m_token(&app, "users:read").await;
        let signer = server.token_request(&app, &[("grant_type", "client_credentials"), ("scope", "sign:mint_user_token"), ("external_user_id", "zoe")]).await;
        assert_eq!(signer.status(), 200);
        let signer = signer.json::<Value>().await.unwrap()["access_token"].as_str().unwrap().to_owned();
        let tampered = format!("{full}x");
        for (what, token) in [("none", None), ("tampered", Some(tampered.as_str())), ("m2m", Some(m2m.as_str())), ("signer", Some(signer.as_str()))] {
            let (status, challenge, body) = me(&server, token).await;
            assert_eq!(status, 401, "{what}: {body}");
            assert_eq!(challenge.as_deref(), Some("Bearer error=\"invalid_token\""), "{what}");
            assert_eq!(body["error"], "invalid_token", "{what}");
        }

        // A revoked token, and every token of a deactivated user.
        let r = server.http.post(format!("{}/token/revocation", server.issuer)).basic_auth(&app.m2m_client_id, Some(&app.m2m_secret)).form(&[("token", bare.as_str())]).send().await.unwrap();
        assert_eq!(r.status(), 200);
        assert_eq!(me(&server, Some(&bare)).await.0, 401);
        assert_eq!(me(&server, Some(&full)).await.0, 200);
        let r = server.builder(Method::DELETE, &app, "/users?externalUserId=zoe").send().await.unwrap();
        assert_eq!(r.status(), 200);
        assert_eq!(me(&server, Some(&full)).await.0, 401);
        server.finish().await;
    }
}
