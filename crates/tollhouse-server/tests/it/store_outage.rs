//! Every route when the store stops answering (the hardening issue's item 4): the identity
//! webhook, a Builder write and the token endpoint each answer their documented 503 before
//! go-livepeer's 5 s webhook client gives up, on both databases.

use crate::backend_tests;
use crate::harness::{Db, FreshDb, TestServer, config_for};
use crate::support::golivepeer::{SignerState, SignerVerdict, signer_consults_webhook};
use crate::support::signer::{FLAG, SECRET};
use crate::support::store_fault::{PgRelay, SqliteWriteLock};
use reqwest::Method;
use serde_json::{Value, json};
use std::time::Duration;
use tollhouse_core::keys::SigningAlg;
use tollhouse_server::config::Redacted;

/// A client with go-livepeer's webhook timeout (`http.Client{Timeout: 5 * time.Second}`), for
/// the routes a stalled store must not hold past it either.
fn patient_client() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(5))
        .build()
        .unwrap()
}

backend_tests! {
    async fn a_stalled_store_gets_the_documented_503_inside_go_livepeers_timeout(db: Db) {
        let fresh = FreshDb::new(db).await;
        let relay = match db {
            Db::Postgres => Some(PgRelay::start(&fresh.url).await),
            Db::Sqlite => None,
        };
        let mut config = config_for(&fresh, SigningAlg::RS256);
        config.signer.webhook_secret = Some(Redacted::new(SECRET));
        if let Some(relay) = &relay {
            config.database.url = Some(relay.url.clone());
        }
        let sqlite_url = fresh.url.clone();
        let server = TestServer::start_on(fresh, config).await;
        let tokens = server.user_tokens(&server.app, "alice").await;
        let bearer = format!("Bearer {}", tokens["access_token"].as_str().unwrap());
        let refresh = tokens["refresh_token"].as_str().unwrap().to_owned();

        // The store stops answering. PostgreSQL: nothing crosses the relay any more. SQLite:
        // another process holds the write lock, and writers queued behind it hold every pooled
        // connection, so a reader waits for a connection as it would for a hung disk.
        let mut lock = None;
        let mut writers = Vec::new();
        match &relay {
            Some(relay) => relay.stall(),
            None => {
                lock = Some(SqliteWriteLock::take(&sqlite_url).await);
                for i in 0..16 {
                    let request = server.builder(Method::POST, &server.app, "/users")
                        .json(&json!({"externalUserId": format!("queued-{i}")}));
                    writers.push(tokio::spawn(async move { request.send().await.map(|r| r.status()) }));
                }
                tokio::time::sleep(Duration::from_millis(300)).await;
            }
        }

        // go-livepeer's remote signer, cold cache: the webhook's 503 arrives before its 5 s
        // client gives up (which it would report to the gateway as a bare 500). Times are
        // printed for the record, never asserted.
        let started = std::time::Instant::now();
        let verdict = signer_consults_webhook(
            &server.url("/webhooks/remote-signer"),
            FLAG,
            &[("Authorization", &bearer)],
            &SignerState::default(),
        )
        .await;
        match verdict {
            SignerVerdict::Reject { status: 503, .. } => {}
            other => panic!("expected the documented 503, got {other:?}"),
        }
        eprintln!("{db:?} stalled store: webhook 503 after {:?}", started.elapsed());
        let started = std::time::Instant::now();

        // A Builder write and the token endpoint answer 503 in their own shape, in time too.
        let client = patient_client();
        let response = client
            .post(server.url(&format!("/api/v1/apps/{}/users", server.app.client_id)))
            .basic_auth(&server.app.m2m_client_id, Some(&server.app.m2m_secret))
            .json(&json!({"externalUserId": "bob"}))
            .send()
            .await
            .expect("Builder route answers inside 5 s");
        eprintln!("{db:?} stalled store: Builder 503 after {:?}", started.elapsed());
        let started = std::time::Instant::now();
        assert_eq!(response.status(), 503);
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["error"], "temporarily_unavailable", "{body}");
        let response = client
            .post(format!("{}/token", server.issuer))
            .form(&[("grant_type", "refresh_token"), ("refresh_token", refresh.as_str()), ("client_id", server.app.client_id.as_str())])
            .send()
            .await
            .expect("token endpoint answers inside 5 s");
        eprintln!("{db:?} stalled store: token 503 after {:?}", started.elapsed());
        assert_eq!(response.status(), 503);
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["error"], "temporarily_unavailable", "{body}");

        for writer in writers {
            let status = writer.await.unwrap().unwrap();
            assert!(status == 503 || status.is_success(), "{status}");
        }
        if let Some(lock) = lock {
            lock.release().await;
        }
        if let Some(relay) = &relay {
            relay.close_all();
        }
        server.finish().await;
    }
}
