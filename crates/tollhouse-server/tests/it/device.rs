//! RFC 8628 device flow: authorization, polling (pending, slow_down, expiry, denial), approval by
//! token exchange, and the device-token facade. Time is the injected clock.

use crate::backend_tests;
use crate::harness::TestServer;
use serde_json::{Value, json};

const DEVICE: &str = "urn:ietf:params:oauth:grant-type:device_code";

/// A pending device login of the server's app, as a device starts it (RFC 8628 §3.1).
pub(crate) async fn start(server: &TestServer) -> Value {
    let response = server
        .http
        .post(format!("{}/device/auth", server.issuer))
        .form(&[
            ("client_id", server.app.client_id.as_str()),
            ("scope", "sign:job"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    response.json().await.unwrap()
}

async fn poll(server: &TestServer, device_code: &str) -> (u16, Value) {
    let response = server
        .http
        .post(format!("{}/token", server.issuer))
        .form(&[
            ("grant_type", DEVICE),
            ("device_code", device_code),
            ("client_id", server.app.client_id.as_str()),
        ])
        .send()
        .await
        .unwrap();
    (response.status().as_u16(), response.json().await.unwrap())
}

async fn approve(server: &TestServer, ext: &str, user_code: &str) -> (u16, Value) {
    let tokens = server.user_tokens(&server.app, ext).await;
    let resource = format!("urn:pmth:device_code:{}", user_code.replace('-', ""));
    let response = server
        .http
        .post(format!("{}/token", server.issuer))
        .basic_auth(&server.app.m2m_client_id, Some(&server.app.m2m_secret))
        .form(&[
            (
                "grant_type",
                "urn:ietf:params:oauth:grant-type:token-exchange",
            ),
            ("subject_token", tokens["access_token"].as_str().unwrap()),
            (
                "subject_token_type",
                "urn:ietf:params:oauth:token-type:access_token",
            ),
            ("resource", resource.as_str()),
        ])
        .send()
        .await
        .unwrap();
    (response.status().as_u16(), response.json().await.unwrap())
}

backend_tests! {
    async fn device_flow_end_to_end(db: Db) {
        let server = TestServer::start(db).await;
        let grant = start(&server).await;
        let user_code = grant["user_code"].as_str().unwrap();
        assert!(user_code.len() == 9 && user_code.as_bytes()[4] == b'-');
        assert!(user_code.replace('-', "").chars().all(|c| "BCDFGHJKLMNPQRSTVWXZ".contains(c)));
        assert_eq!(grant["verification_uri"], server.url("/oidc/device"));
        let complete = grant["verification_uri_complete"].as_str().unwrap();
        assert!(complete.contains(&format!("user_code={user_code}")) && complete.contains(&server.app.client_id) && complete.contains("iss="));
        assert_eq!((grant["expires_in"].as_i64(), grant["interval"].as_i64()), (Some(600), Some(5)));
        let device_code = grant["device_code"].as_str().unwrap();

        let (status, err) = poll(&server, device_code).await;
        assert_eq!((status, err["error"].as_str()), (400, Some("authorization_pending")));
        // Polling again at once: slow_down, and the interval grows by 5 s.
        let (_, err) = poll(&server, device_code).await;
        assert_eq!(err["error"], "slow_down");
        server.clock.advance(5);
        let (_, err) = poll(&server, device_code).await;
        assert_eq!(err["error"], "slow_down", "5 s is shorter than the 10 s interval; it becomes 15 s");
        server.clock.advance(15);
        let (_, err) = poll(&server, device_code).await;
        assert_eq!(err["error"], "authorization_pending");

        // Approval by the integrator (lower case and dashes are fine), once only.
        let (status, approved) = approve(&server, "mo", &user_code.to_lowercase()).await;
        assert_eq!(status, 200, "{approved}");
        assert_eq!(approved["issued_token_type"], "urn:ietf:params:oauth:token-type:access_token");
        let (status, _) = approve(&server, "mo", user_code).await;
        assert_eq!(status, 400, "a decided code cannot be approved again");
        server.clock.advance(10);
        let (status, tokens) = poll(&server, device_code).await;
        assert_eq!(status, 200, "{tokens}");
        assert!(tokens["refresh_token"].as_str().unwrap().starts_with("pmth_rt_"));
        let claims = crate::token::validate_with_jwks(&server, tokens["access_token"].as_str().unwrap()).await;
        assert_eq!(claims["external_user_id"], "mo");
        let (status, err) = poll(&server, device_code).await;
        assert_eq!((status, err["error"].as_str()), (400, Some("invalid_grant")), "tokens are handed out once");

        // The device token buys a signer JWT at the device facade.
        let facade = server.url("/api/signer/device/exchange");
        let response = server.http.post(&facade).json(&json!({"deviceToken": tokens["access_token"], "clientId": server.app.client_id})).send().await.unwrap();
        assert_eq!(response.status(), 200);
        let signer: Value = response.json().await.unwrap();
        assert_eq!(signer["expires_in"], 300);
        assert!(signer["balanceUsdMicros"].is_string());
        let response = server.http.post(&facade).json(&json!({"deviceToken": "eyJ.bad.token"})).send().await.unwrap();
        assert_eq!(response.status(), 400);
        server.finish().await;
    }

    async fn device_codes_expire_and_can_be_denied(db: Db) {
        let server = TestServer::start(db).await;
        let grant = start(&server).await;
        let (status, denied) = {
            let response = server.builder(reqwest::Method::POST, &server.app, "/device/deny").json(&json!({"userCode": grant["user_code"]})).send().await.unwrap();
            (response.status().as_u16(), response.json::<Value>().await.unwrap())
        };
        assert_eq!((status, denied["status"].as_str()), (200, Some("denied")));
        let (_, err) = poll(&server, grant["device_code"].as_str().unwrap()).await;
        assert_eq!(err["error"], "access_denied");

        let late = start(&server).await;
        server.clock.advance(600);
        let (_, err) = poll(&server, late["device_code"].as_str().unwrap()).await;
        assert_eq!(err["error"], "expired_token");
        let (status, _) = approve(&server, "nia", late["user_code"].as_str().unwrap()).await;
        assert_eq!(status, 400, "an expired code cannot be approved");

        // Another app cannot approve or poll this app's grant; unknown clients are refused.
        let other = server.create_app("other").await;
        let mine = start(&server).await;
        let other_poll = server.http.post(format!("{}/token", server.issuer))
            .form(&[("grant_type", DEVICE), ("device_code", mine["device_code"].as_str().unwrap()), ("client_id", other.client_id.as_str())]).send().await.unwrap();
        assert_eq!(other_poll.status(), 400);
        let unknown = server.http.post(format!("{}/device/auth", server.issuer)).form(&[("client_id", "app_000000000000000000000000")]).send().await.unwrap();
        assert_eq!(unknown.status(), 401);
        let bad_scope = server.http.post(format!("{}/device/auth", server.issuer)).form(&[("client_id", server.app.client_id.as_str()), ("scope", "admin")]).send().await.unwrap();
        assert_eq!(bad_scope.status(), 400);
        let (_, err) = poll(&server, "0000").await;
        assert_eq!(err["error"], "invalid_grant");
        server.finish().await;
    }
}
