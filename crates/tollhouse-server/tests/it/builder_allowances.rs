//! Builder API allowances and balances: grants and their reads, the per-user bound with an
//! exact total, and amounts of the wrong type.

use crate::backend_tests;
use crate::harness::TestServer;
use crate::support::builder::call;
use reqwest::Method;
use serde_json::{Value, json};
use tollhouse_core::Clock as _;
use tollhouse_core::allowance::{Grant, MAX_GRANT_USD_MICROS, MAX_GRANTS_PER_USER};

const EXCHANGE: &str = "urn:ietf:params:oauth:grant-type:token-exchange";

backend_tests! {
    async fn allowances_and_balance(db: Db) {
        let server = TestServer::start(db).await;
        let app = server.app.clone();
        server.user_tokens(&app, "lee").await;
        let (status, fresh) = call(server.builder(Method::GET, &app, "/users/lee/allowances")).await;
        assert_eq!(status, 200);
        assert_eq!(fresh["allowances"], json!({"balanceUsdMicros": "0", "consumedUsdMicros": "0", "lifetimeGrantedUsdMicros": "0", "hasAccess": false}));
        let (status, granted) = call(server.builder(Method::POST, &app, "/users/lee/allowances").json(&json!({"amountUsdMicros": "1000000", "source": "trial"}))).await;
        assert_eq!(status, 201, "{granted}");
        assert_eq!(granted["grantedUsdMicros"], "1000000");
        assert_eq!(granted["allowances"]["balanceUsdMicros"], "1000000");
        assert_eq!(granted["allowances"]["hasAccess"], true);
        call(server.builder(Method::POST, &app, "/users/lee/allowances").json(&json!({"amountUsdMicros": "250000", "source": "promo", "featureKey": "live"}))).await;
        let (status, balance) = call(server.builder(Method::GET, &app, "/usage/balance?externalUserId=lee")).await;
        assert_eq!(status, 200);
        assert_eq!(balance["balanceUsdMicros"], "1250000");
        assert_eq!(balance["remainingUsdMicros"], "1250000");
        assert_eq!(balance["lifetimeGrantedUsdMicros"], "1250000");
        // The balance travels with signer sessions.
        let tokens = server.user_tokens(&app, "lee").await;
        let (_, session) = call(server.http.post(format!("{}/token", server.issuer)).basic_auth(&app.m2m_client_id, Some(&app.m2m_secret))
            .form(&[("grant_type", EXCHANGE), ("subject_token", tokens["access_token"].as_str().unwrap()), ("subject_token_type", "urn:ietf:params:oauth:token-type:access_token")])).await;
        assert_eq!(session["balanceUsdMicros"], "1250000");

        for bad in [json!({"amountUsdMicros": "-5"}), json!({"amountUsdMicros": "0"}), json!({"amountUsdMicros": "1.5"}), json!({"amountUsdMicros": 1.5}),
                    json!({"amountUsdMicros": "99999999999999999999"}), json!({"amountUsdMicros": "5", "source": "gift"}), json!({}), json!({"amountUsdMicros": "5", "featureKey": ""})] {
            let (status, err) = call(server.builder(Method::POST, &app, "/users/lee/allowances").json(&bad)).await;
            assert_eq!(status, 400, "{bad}: {err}");
        }
        let (status, _) = call(server.builder(Method::POST, &app, "/users/ghost/allowances").json(&json!({"amountUsdMicros": "5"}))).await;
        assert_eq!(status, 404);
        let (status, _) = call(server.builder(Method::GET, &app, "/usage/balance")).await;
        assert_eq!(status, 400);
        let other = server.create_app("other").await;
        let (status, _) = call(server.builder_as(Method::POST, &other, &app.client_id, "/users/lee/allowances").json(&json!({"amountUsdMicros": "5"}))).await;
        assert_eq!(status, 404);
        let (status, _) = call(server.builder_as(Method::GET, &other, &app.client_id, "/usage/balance?externalUserId=lee")).await;
        assert_eq!(status, 404);
        // Nothing the refused requests carried was stored.
        let (_, balance) = call(server.builder(Method::GET, &app, "/usage/balance?externalUserId=lee")).await;
        assert_eq!(balance["lifetimeGrantedUsdMicros"], "1250000");
        server.finish().await;
    }

    async fn grants_per_user_are_bounded_and_the_total_stays_exact(db: Db) {
        let server = TestServer::start(db).await;
        let app = server.app.clone();
        server.user_tokens(&app, "whale").await;
        let user = server.state().store.user_by_external_id(&app.client_id, "whale").await.unwrap().unwrap();
        // All but the last place filled directly in the store (999 HTTP calls add nothing).
        let now = server.clock.now();
        for i in 0..MAX_GRANTS_PER_USER - 1 {
            let grant = Grant {
                id: uuid::Uuid::new_v4().to_string(),
                client_id: app.client_id.clone(),
                user_id: user.id.clone(),
                amount_usd_micros: MAX_GRANT_USD_MICROS,
                source: "manual".into(),
                feature_key: None,
                effective_at: now,
                expires_at: None,
                priority: i % 7,
                created_at: now,
            };
            assert!(server.state().store.insert_grant(&grant, MAX_GRANTS_PER_USER).await.unwrap());
        }
        let grant = |amount: i64| {
            server.builder(Method::POST, &app, "/users/whale/allowances")
                .json(&json!({"amountUsdMicros": amount.to_string()}))
        };
        let last = grant(MAX_GRANT_USD_MICROS).send().await.unwrap();
        assert_eq!(last.status(), 201);
        let body: Value = last.json().await.unwrap();
        let total = (i128::from(MAX_GRANTS_PER_USER) * i128::from(MAX_GRANT_USD_MICROS)).to_string();
        assert_eq!(body["allowances"]["lifetimeGrantedUsdMicros"], total.as_str(), "{body}");
        // One more is refused, in the Builder shape, and changes nothing.
        let refused = grant(1).send().await.unwrap();
        assert_eq!(refused.status(), 409);
        let body: Value = refused.json().await.unwrap();
        assert_eq!(body["error"], "conflict");
        let read = server.builder(Method::GET, &app, "/users/whale/allowances").send().await.unwrap();
        assert_eq!(read.status(), 200);
        let body: Value = read.json().await.unwrap();
        assert_eq!(body["allowances"]["lifetimeGrantedUsdMicros"], total.as_str(), "{body}");
        // Another user of the app is not affected.
        server.user_tokens(&app, "minnow").await;
        let other = server.builder(Method::POST, &app, "/users/minnow/allowances")
            .json(&json!({"amountUsdMicros": "5"})).send().await.unwrap();
        assert_eq!(other.status(), 201);
        server.finish().await;
    }

    async fn a_wrong_amount_type_says_what_was_expected(db: Db) {
        let server = TestServer::start(db).await;
        server.user_tokens(&server.app, "ada").await;
        for amount in [json!(true), json!(1.5), json!([1]), json!({"v": 1})] {
            let response = server.builder(Method::POST, &server.app, "/users/ada/allowances")
                .json(&json!({"amountUsdMicros": amount})).send().await.unwrap();
            assert_eq!(response.status(), 400);
            let body: Value = response.json().await.unwrap();
            let text = body["error_description"].as_str().unwrap();
            assert!(text.contains("a decimal string of digits or a JSON integer"), "{text}");
            assert!(!text.contains("untagged"), "{text}");
        }
        server.finish().await;
    }
}
