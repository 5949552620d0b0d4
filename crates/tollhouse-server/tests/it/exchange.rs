//! Token endpoint: refresh rotation and reuse detection; token exchange of a user JWT for an
//! opaque signer session or a signer JWT; introspection and revocation of each kind.

use crate::backend_tests;
use crate::harness::{TestApp, TestServer};
use serde_json::Value;

const EXCHANGE: &str = "urn:ietf:params:oauth:grant-type:token-exchange";
const ACCESS: &str = "urn:ietf:params:oauth:token-type:access_token";

async fn post_token(
    server: &TestServer,
    app: Option<&TestApp>,
    form: &[(&str, &str)],
) -> (u16, Value) {
    let mut request = server
        .http
        .post(format!("{}/token", server.issuer))
        .form(form);
    if let Some(app) = app {
        request = request.basic_auth(&app.m2m_client_id, Some(&app.m2m_secret));
    }
    let response = request.send().await.unwrap();
    (response.status().as_u16(), response.json().await.unwrap())
}

async fn introspect(server: &TestServer, app: &TestApp, token: &str) -> Value {
    let (status, body) = {
        let response = server
            .http
            .post(format!("{}/token/introspection", server.issuer))
            .basic_auth(&app.m2m_client_id, Some(&app.m2m_secret))
            .form(&[("token", token)])
            .send()
            .await
            .unwrap();
        (
            response.status().as_u16(),
            response.json::<Value>().await.unwrap(),
        )
    };
    assert_eq!(status, 200);
    body
}

async fn revoke(server: &TestServer, app: &TestApp, token: &str) {
    let response = server
        .http
        .post(format!("{}/token/revocation", server.issuer))
        .basic_auth(&app.m2m_client_id, Some(&app.m2m_secret))
        .form(&[("token", token)])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
}

backend_tests! {
    async fn refresh_rotates_and_reuse_revokes_the_family(db: Db) {
        let server = TestServer::start(db).await;
        let app = server.app.clone();
        let first = server.user_tokens(&app, "dana").await;
        let r1 = first["refresh_token"].as_str().unwrap().to_owned();
        let (status, second) = post_token(&server, None, &[("grant_type", "refresh_token"), ("refresh_token", &r1), ("client_id", &app.client_id)]).await;
        assert_eq!(status, 200, "{second}");
        let r2 = second["refresh_token"].as_str().unwrap().to_owned();
        assert_ne!(r1, r2);
        assert_eq!(second["expires_in"], 900);
        let claims = crate::token::validate_with_jwks(&server, second["access_token"].as_str().unwrap()).await;
        assert_eq!(claims["external_user_id"], "dana");
        // The M2M client may refresh too.
        let (status, third) = post_token(&server, Some(&app), &[("grant_type", "refresh_token"), ("refresh_token", &r2)]).await;
        assert_eq!(status, 200);
        let r3 = third["refresh_token"].as_str().unwrap().to_owned();
        assert_eq!(introspect(&server, &app, &r3).await["active"], true);
        assert_eq!(introspect(&server, &app, &r1).await["active"], false, "rotated tokens are inactive");

        // Reusing r1 (already rotated) revokes the whole family, r3 included.
        let (status, err) = post_token(&server, None, &[("grant_type", "refresh_token"), ("refresh_token", &r1), ("client_id", &app.client_id)]).await;
        assert_eq!((status, err["error"].as_str()), (400, Some("invalid_grant")));
        let (status, _) = post_token(&server, None, &[("grant_type", "refresh_token"), ("refresh_token", &r3), ("client_id", &app.client_id)]).await;
        assert_eq!(status, 400, "the family is revoked");
        assert_eq!(introspect(&server, &app, &r3).await["active"], false);

        // Another app cannot use this app's refresh token; junk is invalid_grant.
        let other = server.create_app("other").await;
        let fresh = server.user_tokens(&app, "erin").await;
        let rt = fresh["refresh_token"].as_str().unwrap();
        let (status, _) = post_token(&server, Some(&other), &[("grant_type", "refresh_token"), ("refresh_token", rt)]).await;
        assert_eq!(status, 400);
        let (status, _) = post_token(&server, None, &[("grant_type", "refresh_token"), ("refresh_token", rt), ("client_id", &other.client_id)]).await;
        assert_eq!(status, 400);
        let (status, err) = post_token(&server, None, &[("grant_type", "refresh_token"), ("refresh_token", "junk"), ("client_id", &app.client_id)]).await;
        assert_eq!((status, err["error"].as_str()), (400, Some("invalid_grant")));
        // Still usable by its own app after the failed attempts.
        let (status, _) = post_token(&server, None, &[("grant_type", "refresh_token"), ("refresh_token", rt), ("client_id", &app.client_id)]).await;
        assert_eq!(status, 200);
        // Revoking a refresh token ends its family.
        let family = server.user_tokens(&app, "fay").await;
        let rt = family["refresh_token"].as_str().unwrap();
        revoke(&server, &app, rt).await;
        let (status, _) = post_token(&server, None, &[("grant_type", "refresh_token"), ("refresh_token", rt), ("client_id", &app.client_id)]).await;
        assert_eq!(status, 400);
        server.finish().await;
    }

    async fn user_jwt_exchanges_for_session_or_signer_jwt(db: Db) {
        let server = TestServer::start(db).await;
        let app = server.app.clone();
        let tokens = server.user_tokens(&app, "gus").await;
        let user_jwt = tokens["access_token"].as_str().unwrap().to_owned();

        // No resource: an opaque 90-day session.
        let (status, session) = post_token(&server, Some(&app), &[("grant_type", EXCHANGE), ("subject_token", &user_jwt), ("subject_token_type", ACCESS)]).await;
        assert_eq!(status, 200, "{session}");
        let opaque = session["access_token"].as_str().unwrap().to_owned();
        assert!(opaque.starts_with("pmth_") && opaque.len() == 69, "{opaque}");
        assert_eq!(session["expires_in"], 90 * 24 * 3600);
        assert_eq!(session["issued_token_type"], ACCESS);
        assert_eq!(session["token_type"], "Bearer");
        assert_eq!(session["balanceUsdMicros"], "0");
        let info = introspect(&server, &app, &opaque).await;
        assert_eq!(info["active"], true);
        assert_eq!(info["external_user_id"], "gus");

        // resource = issuer: a 300 s signer JWT.
        let (status, signer) = post_token(&server, Some(&app), &[("grant_type", EXCHANGE), ("subject_token", &user_jwt), ("subject_token_type", ACCESS), ("resource", &server.issuer), ("audience", &server.issuer)]).await;
        assert_eq!(status, 200, "{signer}");
        assert_eq!(signer["expires_in"], 300);
        assert_eq!(signer["scope"], "sign:job");
        let claims = crate::token::validate_with_jwks(&server, signer["access_token"].as_str().unwrap()).await;
        assert_eq!(claims["exp"].as_i64().unwrap() - claims["iat"].as_i64().unwrap(), 300);
        assert_eq!(claims["external_user_id"], "gus");

        // Refusals: another app, an M2M token as subject, wider scope, unknown resource, no auth.
        let other = server.create_app("other").await;
        let (status, err) = post_token(&server, Some(&other), &[("grant_type", EXCHANGE), ("subject_token", &user_jwt), ("subject_token_type", ACCESS)]).await;
        assert_eq!((status, err["error"].as_str()), (400, Some("invalid_grant")));
        let m2m = server.m2m_token(&app, "sign:job").await;
        let (status, _) = post_token(&server, Some(&app), &[("grant_type", EXCHANGE), ("subject_token", &m2m), ("subject_token_type", ACCESS)]).await;
        assert_eq!(status, 400);
        let (status, err) = post_token(&server, Some(&app), &[("grant_type", EXCHANGE), ("subject_token", &user_jwt), ("subject_token_type", ACCESS), ("scope", "sign:job users:read")]).await;
        assert_eq!((status, err["error"].as_str()), (400, Some("invalid_scope")));
        let (status, err) = post_token(&server, Some(&app), &[("grant_type", EXCHANGE), ("subject_token", &user_jwt), ("subject_token_type", ACCESS), ("resource", "https://elsewhere.example/")]).await;
        assert_eq!((status, err["error"].as_str()), (400, Some("invalid_target")));
        let (status, _) = post_token(&server, None, &[("grant_type", EXCHANGE), ("subject_token", &user_jwt), ("subject_token_type", ACCESS)]).await;
        assert_eq!(status, 401);
        let (status, _) = post_token(&server, Some(&app), &[("grant_type", EXCHANGE), ("subject_token", &user_jwt)]).await;
        assert_eq!(status, 400);

        // A revoked subject JWT exchanges for nothing; a revoked session is inactive.
        revoke(&server, &app, &opaque).await;
        assert_eq!(introspect(&server, &app, &opaque).await["active"], false);
        revoke(&server, &app, &user_jwt).await;
        let (status, _) = post_token(&server, Some(&app), &[("grant_type", EXCHANGE), ("subject_token", &user_jwt), ("subject_token_type", ACCESS)]).await;
        assert_eq!(status, 400);

        // Deactivation ends the user's sessions and exchanges.
        let fresh = server.user_tokens(&app, "hal").await;
        let jwt = fresh["access_token"].as_str().unwrap().to_owned();
        let (_, session) = post_token(&server, Some(&app), &[("grant_type", EXCHANGE), ("subject_token", &jwt), ("subject_token_type", ACCESS)]).await;
        let opaque = session["access_token"].as_str().unwrap().to_owned();
        let deleted = server.builder(reqwest::Method::DELETE, &app, "/users?externalUserId=hal").send().await.unwrap();
        assert_eq!(deleted.status(), 200);
        assert_eq!(introspect(&server, &app, &opaque).await["active"], false);
        assert_eq!(introspect(&server, &app, &jwt).await["active"], false);
        let (status, _) = post_token(&server, Some(&app), &[("grant_type", EXCHANGE), ("subject_token", &jwt), ("subject_token_type", ACCESS)]).await;
        assert_eq!(status, 400);

        // Expiry by the injected clock: the session dies after 90 days.
        let tokens = server.user_tokens(&app, "ivy").await;
        let (_, session) = post_token(&server, Some(&app), &[("grant_type", EXCHANGE), ("subject_token", tokens["access_token"].as_str().unwrap()), ("subject_token_type", ACCESS)]).await;
        let opaque = session["access_token"].as_str().unwrap().to_owned();
        server.clock.advance(90 * 24 * 3600 - 1);
        assert_eq!(introspect(&server, &app, &opaque).await["active"], true);
        server.clock.advance(1);
        assert_eq!(introspect(&server, &app, &opaque).await["active"], false);
        server.finish().await;
    }
}

mod mint_user_token {
    use super::*;
    use crate::backend_tests;

    backend_tests! {
        async fn m2m_mints_signer_jwts_for_its_users(db: Db) {
            let server = TestServer::start(db).await;
            let app = server.app.clone();
            let form = [("grant_type", "client_credentials"), ("scope", "sign:mint_user_token"), ("external_user_id", "ola"), ("audience", server.issuer.as_str())];
            let (status, minted) = post_token(&server, Some(&app), &form).await;
            assert_eq!(status, 200, "{minted}");
            assert_eq!(minted["expires_in"], 300);
            assert_eq!(minted["scope"], "sign:job");
            assert_eq!(minted["balanceUsdMicros"], "0");
            assert_eq!(minted["lifetimeGrantedUsdMicros"], "0");
            let claims = crate::token::validate_with_jwks(&server, minted["access_token"].as_str().unwrap()).await;
            assert_eq!((claims["external_user_id"].as_str(), claims["client_id"].as_str()), (Some("ola"), Some(app.client_id.as_str())));
            assert_eq!(claims["exp"].as_i64().unwrap() - claims["iat"].as_i64().unwrap(), 300);
            // The user now exists; a deactivated user gets nothing; bad ids and scopes are refused.
            let listed: Value = server.builder(reqwest::Method::GET, &app, "/users").send().await.unwrap().json().await.unwrap();
            assert_eq!(listed["users"][0]["externalUserId"], "ola");
            server.builder(reqwest::Method::DELETE, &app, "/users?externalUserId=ola").send().await.unwrap();
            let (status, err) = post_token(&server, Some(&app), &form).await;
            assert_eq!((status, err["error"].as_str()), (400, Some("invalid_grant")));
            let (status, _) = post_token(&server, Some(&app), &[("grant_type", "client_credentials"), ("scope", "sign:mint_user_token"), ("external_user_id", "a@b")]).await;
            assert_eq!(status, 400);
            let (status, err) = post_token(&server, Some(&app), &[("grant_type", "client_credentials"), ("scope", "users:read"), ("external_user_id", "pam")]).await;
            assert_eq!((status, err["error"].as_str()), (400, Some("invalid_scope")));
            let (status, err) = post_token(&server, Some(&app), &[("grant_type", "client_credentials"), ("scope", "sign:mint_user_token"), ("external_user_id", "pam"), ("audience", "https://x.example/")]).await;
            assert_eq!((status, err["error"].as_str()), (400, Some("invalid_target")));
            let (status, _) = post_token(&server, None, &form).await;
            assert_eq!(status, 401);
            server.finish().await;
        }
    }
}
