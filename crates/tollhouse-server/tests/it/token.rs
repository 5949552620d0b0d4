//! The token endpoint's client-credentials grant, seen by independent relying parties, and every
//! kind of bad input.

use crate::backend_tests;
use crate::harness::{Db, TestServer};
use jsonwebtoken::{DecodingKey, Validation, decode, decode_header, jwk::JwkSet};
use oauth2::{ClientId, ClientSecret, Scope, TokenResponse as _, TokenUrl, basic::BasicClient};
use reqwest::Method;
use serde_json::{Value, json};
use tollhouse_core::keys::SigningAlg;

/// Validates `token` the way an RFC 9068 resource server would: keys from the discovered JWKS,
/// `typ`, issuer, audience, expiry (system clock), required claims.
pub async fn validate_with_jwks(server: &TestServer, token: &str) -> Value {
    let discovery: Value = server
        .http
        .get(format!(
            "{}/.well-known/openid-configuration",
            server.issuer
        ))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(discovery["issuer"], server.issuer);
    let jwks: JwkSet = server
        .http
        .get(discovery["jwks_uri"].as_str().unwrap())
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let header = decode_header(token).unwrap();
    assert_eq!(header.typ.as_deref(), Some("at+jwt"));
    let jwk = jwks
        .find(header.kid.as_deref().unwrap())
        .expect("kid is published");
    let mut validation = Validation::new(header.alg);
    validation.set_issuer(&[&server.issuer]);
    validation.set_audience(&[&server.issuer]);
    validation.set_required_spec_claims(&["exp", "iat", "nbf", "iss", "aud", "sub"]);
    let data = decode::<Value>(token, &DecodingKey::from_jwk(jwk).unwrap(), &validation).unwrap();
    for claim in ["jti", "client_id", "scope"] {
        assert!(data.claims[claim].is_string(), "claim {claim} missing");
    }
    data.claims
}

async fn json_error(response: reqwest::Response, status: u16, code: &str) {
    assert_eq!(response.status().as_u16(), status);
    assert!(
        response.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("application/json")
    );
    assert!(response.headers().get("www-authenticate").is_none());
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"], code, "{body}");
    assert!(body["error_description"].is_string());
}

backend_tests! {
    async fn oauth2_crate_gets_a_token_valid_against_jwks(db: Db) {
        let server = TestServer::start(db).await;
        // The oauth2 crate sends client_secret_basic with form-urlencoded id and secret.
        let client = BasicClient::new(ClientId::new(server.app.m2m_client_id.clone()))
            .set_client_secret(ClientSecret::new(server.app.m2m_secret.clone()))
            .set_token_uri(TokenUrl::new(format!("{}/token", server.issuer)).unwrap());
        let http = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
        let token = client
            .exchange_client_credentials()
            .add_scope(Scope::new("users:read".into()))
            .add_scope(Scope::new("sign:job".into()))
            .request_async(&http)
            .await
            .unwrap();
        assert_eq!(token.scopes().unwrap().len(), 2);
        let claims = validate_with_jwks(&server, token.access_token().secret()).await;
        assert_eq!(claims["sub"], server.app.m2m_client_id);
        assert_eq!(claims["client_id"], server.app.client_id);
        assert_eq!(claims["scope"], "sign:job users:read");
        assert_eq!(claims["user_type"], "app_owner");
        let lifetime = claims["exp"].as_i64().unwrap() - claims["iat"].as_i64().unwrap();
        assert_eq!(lifetime, 3600);
        server.finish().await;
    }

    async fn client_secret_post_and_default_scope(db: Db) {
        let server = TestServer::start(db).await;
        let response = server
            .http
            .post(format!("{}/token", server.issuer))
            .form(&[
                ("grant_type", "client_credentials"),
                ("client_id", &server.app.m2m_client_id),
                ("client_secret", &server.app.m2m_secret),
            ])
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        assert_eq!(response.headers()["cache-control"], "no-store");
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["token_type"], "Bearer");
        // No scope requested: every scope the app is allowed.
        assert_eq!(body["scope"], tollhouse_core::scope::ScopeSet::parse(tollhouse_core::scope::DEFAULT_APP_SCOPES).unwrap().to_string());
        validate_with_jwks(&server, body["access_token"].as_str().unwrap()).await;
        server.finish().await;
    }

    async fn resource_parameter_sets_audience(db: Db) {
        let server = TestServer::start(db).await;
        let response = server
            .token_request(&server.app, &[("grant_type", "client_credentials"), ("resource", "https://signer.example/")])
            .await;
        let body: Value = response.json().await.unwrap();
        let token = body["access_token"].as_str().unwrap();
        let introspected: Value = server
            .http
            .post(format!("{}/token/introspection", server.issuer))
            .basic_auth(&server.app.m2m_client_id, Some(&server.app.m2m_secret))
            .form(&[("token", token)])
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(introspected["aud"], "https://signer.example/");
        let bad = server
            .token_request(&server.app, &[("grant_type", "client_credentials"), ("resource", "not a uri")])
            .await;
        json_error(bad, 400, "invalid_target").await;
        server.finish().await;
    }

    async fn bad_input_gets_rfc6749_errors(db: Db) {
        let server = TestServer::start(db).await;
        let token_url = format!("{}/token", server.issuer);
        let other = server.create_app("other").await;
        let cc = [("grant_type", "client_credentials")];

        // Wrong secret, unknown client, the other app's secret with this id.
        let wrong = server.http.post(&token_url).basic_auth(&server.app.m2m_client_id, Some("pmth_cs_nope")).form(&cc).send().await.unwrap();
        json_error(wrong, 401, "invalid_client").await;
        let unknown = server.http.post(&token_url).basic_auth("m2m_000000000000000000000000", Some(&server.app.m2m_secret)).form(&cc).send().await.unwrap();
        json_error(unknown, 401, "invalid_client").await;
        let crossed = server.http.post(&token_url).basic_auth(&server.app.m2m_client_id, Some(&other.m2m_secret)).form(&cc).send().await.unwrap();
        json_error(crossed, 401, "invalid_client").await;
        let no_auth = server.http.post(&token_url).form(&cc).send().await.unwrap();
        json_error(no_auth, 401, "invalid_client").await;
        let public_client = server.http.post(&token_url).form(&[("grant_type", "client_credentials"), ("client_id", server.app.client_id.as_str())]).send().await.unwrap();
        json_error(public_client, 401, "invalid_client").await;

        // Malformed Basic headers.
        for header in ["Basic !!!notbase64", "Basic bm9jb2xvbg==", "Bearer abc", "Basic"] {
            let response = server.http.post(&token_url).header("authorization", header).form(&cc).send().await.unwrap();
            json_error(response, 401, "invalid_client").await;
        }

        // Grant type missing, empty, unsupported.
        json_error(server.token_request(&server.app, &[("scope", "users:read")]).await, 400, "invalid_request").await;
        json_error(server.token_request(&server.app, &[("grant_type", "")]).await, 400, "invalid_request").await;
        json_error(server.token_request(&server.app, &[("grant_type", "password")]).await, 400, "unsupported_grant_type").await;

        // Scopes: unknown, outside the app's, malformed.
        json_error(server.token_request(&server.app, &[("grant_type", "client_credentials"), ("scope", "root")]).await, 400, "invalid_scope").await;
        json_error(server.token_request(&server.app, &[("grant_type", "client_credentials"), ("scope", "users:read admin")]).await, 400, "invalid_scope").await;
        json_error(server.token_request(&server.app, &[("grant_type", "client_credentials"), ("scope", "a\"b")]).await, 400, "invalid_scope").await;

        // Repeated parameter, two auth methods at once, wrong content type, broken form.
        let repeated = server.http.post(&token_url).basic_auth(&server.app.m2m_client_id, Some(&server.app.m2m_secret))
            .header("content-type", "application/x-www-form-urlencoded")
            .body("grant_type=client_credentials&grant_type=client_credentials").send().await.unwrap();
        json_error(repeated, 400, "invalid_request").await;
        let both = server.http.post(&token_url).basic_auth(&server.app.m2m_client_id, Some(&server.app.m2m_secret))
            .form(&[("grant_type", "client_credentials"), ("client_secret", server.app.m2m_secret.as_str())]).send().await.unwrap();
        json_error(both, 400, "invalid_request").await;
        let json_body = server.http.post(&token_url).basic_auth(&server.app.m2m_client_id, Some(&server.app.m2m_secret))
            .json(&serde_json::json!({"grant_type": "client_credentials"})).send().await.unwrap();
        json_error(json_body, 400, "invalid_request").await;
        let broken = server.http.post(&token_url).basic_auth(&server.app.m2m_client_id, Some(&server.app.m2m_secret))
            .header("content-type", "application/x-www-form-urlencoded").body(vec![0xff, 0xfe, b'=', 0x80]).send().await.unwrap();
        assert!(broken.status().is_client_error());

        // Oversized body: 413 in the same JSON shape.
        let huge = format!("grant_type=client_credentials&pad={}", "x".repeat(128 * 1024));
        let oversized = server.http.post(&token_url).basic_auth(&server.app.m2m_client_id, Some(&server.app.m2m_secret))
            .header("content-type", "application/x-www-form-urlencoded").body(huge).send().await.unwrap();
        json_error(oversized, 413, "invalid_request").await;

        // Wrong method and unknown route stay JSON.
        let get = server.http.get(&token_url).send().await.unwrap();
        assert_eq!(get.status(), 405);
        let missing = server.http.get(server.url("/api/v1/nope")).send().await.unwrap();
        assert_eq!(missing.status(), 404);
        assert_eq!(missing.json::<Value>().await.unwrap()["error"], "not_found");

        // None of that disturbed the app: its credentials still work.
        server.m2m_token(&server.app, "users:read").await;
        server.finish().await;
    }

    async fn discovery_is_served_at_both_paths(db: Db) {
        let server = TestServer::start(db).await;
        for path in ["/.well-known/openid-configuration", "/api/v1/oidc/.well-known/openid-configuration", "/.well-known/oauth-authorization-server"] {
            let doc: Value = server.http.get(server.url(path)).send().await.unwrap().json().await.unwrap();
            assert_eq!(doc["issuer"], format!("{}/api/v1/oidc", server.base));
            assert_eq!(doc["token_endpoint"], format!("{}/token", server.issuer));
            assert_eq!(doc["jwks_uri"], format!("{}/jwks", server.issuer));
            assert_eq!(doc["introspection_endpoint"], format!("{}/token/introspection", server.issuer));
            assert_eq!(doc["revocation_endpoint"], format!("{}/token/revocation", server.issuer));
            assert!(doc["grant_types_supported"].as_array().unwrap().contains(&"client_credentials".into()));
            assert!(doc["scopes_supported"].as_array().unwrap().contains(&"sign:job".into()));
        }
        server.finish().await;
    }

    async fn a_refused_mint_leaves_no_user_behind(db: Db) {
        let server = TestServer::start(db).await;
        let app = server.app.clone();
        let prepaid = server.builder(Method::PATCH, &app, "/settings")
            .json(&json!({"billingMode": "prepaid"})).send().await.unwrap();
        assert_eq!(prepaid.status(), 200);
        let mint = server.token_request(&app, &[
            ("grant_type", "client_credentials"),
            ("scope", "sign:mint_user_token"),
            ("external_user_id", "ghost"),
        ]).await;
        assert_eq!(mint.status(), 402);
        let stored = server.state().store.user_by_external_id(&app.client_id, "ghost").await.unwrap();
        assert!(stored.is_none(), "refused request created {stored:?}");
        let listed = server.builder(Method::GET, &app, "/users/ghost/allowances").send().await.unwrap();
        assert_eq!(listed.status(), 404);
        // With allowance the same call succeeds and creates the user.
        let open = server.builder(Method::PATCH, &app, "/settings")
            .json(&json!({"softLimitUsdMicros": "1000"})).send().await.unwrap();
        assert_eq!(open.status(), 200);
        let mint = server.token_request(&app, &[
            ("grant_type", "client_credentials"),
            ("scope", "sign:mint_user_token"),
            ("external_user_id", "ghost"),
        ]).await;
        assert_eq!(mint.status(), 200);
        assert!(server.state().store.user_by_external_id(&app.client_id, "ghost").await.unwrap().is_some());
        server.finish().await;
    }
}

/// ES256 and EdDSA keys sign tokens that independent code validates (one database suffices: the
/// algorithm does not touch storage beyond the key row).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn es256_and_eddsa_tokens_validate() {
    for alg in [SigningAlg::ES256, SigningAlg::EdDSA] {
        let server = TestServer::start_with(Db::Sqlite, alg).await;
        let token = server.m2m_token(&server.app, "users:read").await;
        assert_eq!(
            format!("{:?}", decode_header(&token).unwrap().alg),
            alg.as_str()
        );
        validate_with_jwks(&server, &token).await;
        server.finish().await;
    }
}
