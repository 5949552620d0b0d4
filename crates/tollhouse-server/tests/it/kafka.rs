//! Usage ingest from a real Kafka-protocol broker (`tansu`): go-livepeer envelopes produced to a
//! topic are consumed, deduplicated, valued exactly and charged to users; unreadable ones are
//! dead-lettered; the balance gate closes when consumption crosses the grants.

use crate::backend_tests;
use crate::support::kafka::{Broker, consuming_server, envelope, produce};
use crate::support::signer::{SECRET, verdict};
use reqwest::Method;
use serde_json::json;
use std::process::Command;
use std::time::{Duration, Instant};
use tollhouse_core::Clock as _;
use tollhouse_server::config::Redacted;

/// Exact micro-USD (rounded up once) of fees summed in wei, at a whole-dollar ETH price.
fn micros_ceil(total_wei: u128, usd_per_eth: u128) -> i64 {
    let scaled = total_wei * usd_per_eth; // 10^-18 USD
    let micros = scaled / 1_000_000_000_000 + u128::from(!scaled.is_multiple_of(1_000_000_000_000));
    i64::try_from(micros).unwrap()
}

async fn until(deadline_secs: u64, mut done: impl AsyncFnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(deadline_secs);
    while !done().await {
        assert!(
            Instant::now() < deadline,
            "condition not reached within {deadline_secs} s"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

backend_tests! {
    async fn pymthouse_payer_actor_auth_ids_are_attributed_to_the_actor(db: Db) {
        // A hub app moved here: its signer webhook had put `<app>:eu_<id>#<ext>` and
        // `<app>:owner:<id>#<ext>` in go-livepeer's auth_id (payer#actor).
        let broker = Broker::start().await;
        let (topic, server) = consuming_server(&broker, db, "2000", |_| {}).await;
        let app = server.app.clone();
        for ext in ["alice", "bob"] {
            server.user_tokens(&app, ext).await;
        }
        let producer = broker.producer();
        let now_ms = server.clock.now_millis();
        let sent = [
            (format!("{}:eu_01HZX9#alice", app.client_id), "1000000000000000"),
            (format!("{}:owner:42#bob", app.client_id), "2000000000000000"),
            (format!("{}:alice", app.client_id), "500000000000000"),
        ];
        for (auth_id, fee) in &sent {
            let id = uuid::Uuid::new_v4().to_string();
            produce(&producer, &topic, &id, &envelope(&id, auth_id, fee, "live-video-to-video", now_ms)).await;
        }
        let consumed = |ext: &'static str| {
            let request = server.builder(Method::GET, &app, &format!("/users/{ext}/allowances"));
            async move { request.send().await.unwrap().json::<serde_json::Value>().await.unwrap()["allowances"]["consumedUsdMicros"].clone() }
        };
        // 1.5·10^15 wei and 2·10^15 wei at $2000/ETH.
        until(60, async || consumed("alice").await == "3000000" && consumed("bob").await == "4000000").await;
        let report: serde_json::Value = server.builder(Method::GET, &app, "/usage?groupBy=user").send().await.unwrap().json().await.unwrap();
        let users: Vec<&str> = report["byUser"].as_array().unwrap().iter().map(|r| r["externalUserId"].as_str().unwrap()).collect();
        assert_eq!(users.len(), 2, "nothing left unattributed or under the hub's id: {report}");
        assert!(users.contains(&"alice") && users.contains(&"bob"), "{report}");
        server.finish().await;
    }

    async fn kafka_events_are_counted_once_valued_exactly_and_gate_balances(db: Db) {
        let broker = Broker::start().await;
        let (topic, server) = consuming_server(&broker, db, "3000", |c| c.signer.webhook_secret = Some(Redacted::new(SECRET))).await;
        let app = server.app.clone();
        // Signer routing tells integrators usage arrives through Kafka here.
        let routing: serde_json::Value = server.builder(Method::GET, &app, "/signer/routing").send().await.unwrap().json().await.unwrap();
        assert_eq!(routing["meteringMode"], "kafka", "{routing}");
        let alice = server.user_tokens(&app, "alice").await["access_token"].as_str().unwrap().to_owned();
        let bob = server.user_tokens(&app, "carol:bob").await["access_token"].as_str().unwrap().to_owned();
        server.user_tokens(&app, "dave").await;
        let store = server.state().store.clone();
        let alice_id = store.user_by_external_id(&app.client_id, "alice").await.unwrap().unwrap().id;
        let bob_id = store.user_by_external_id(&app.client_id, "carol:bob").await.unwrap().unwrap().id;
        // Prepaid: alice has $1, bob $100.
        server.state().store.set_signer_policy(&app.client_id, &tollhouse_store::SignerPolicyRecord { billing_mode: "prepaid".into(), soft_limit_usd_micros: 0, balance_recheck_secs: 60, billing_fail_open: false, webhook_verifiers: None }).await.unwrap();
        tollhouse_server::signer::policy::invalidate(&server.state().signer);
        for (ext, amount) in [("alice", "1000000"), ("carol:bob", "100000000")] {
            let r = server.builder(Method::POST, &app, &format!("/users/{ext}/allowances")).json(&json!({"amountUsdMicros": amount, "source": "manual"})).send().await.unwrap();
            assert!(r.status().is_success());
        }
        let bearer = |t: &str| format!("Bearer {t}");
        assert_eq!(verdict(&server, &[("Authorization", &bearer(&alice))]).await["status"], 200);

        let producer = broker.producer();
        let now_ms = server.clock.now_millis();
        let a = format!("{}:alice", app.client_id);
        let b = format!("{}:carol:bob", app.client_id);
        let huge = "36893488147419103232"; // 2^65 wei
        let mut expected_alice: u128 = 0;
        let mut expected_bob: u128 = 0;
        let mut ids = Vec::new();
        for i in 0..40u128 {
            let id = uuid::Uuid::new_v4().to_string();
            let fee = 1_000_000_000u128 * (i + 1) + 7; // odd amounts: sub-micro remainders
            let (auth, pipeline) = if i % 3 == 0 { (b.as_str(), "live-video-to-video:streamdiffusion") } else { (a.as_str(), "live-video-to-video") };
            if i % 3 == 0 { expected_bob += fee } else { expected_alice += fee }
            produce(&producer, &topic, &id, &envelope(&id, auth, &fee.to_string(), pipeline, now_ms)).await;
            ids.push(id);
        }
        // Duplicates, junk, other types, unknown users, a fee above 2^64.
        produce(&producer, &topic, &ids[1], &envelope(&ids[1], &a, "1000000007", "live-video-to-video", now_ms)).await;
        produce(&producer, &topic, "junk", b"{not json").await;
        produce(&producer, &topic, "nofee", &serde_json::to_vec(&json!({"id": uuid::Uuid::new_v4().to_string(), "type": "create_signed_ticket", "timestamp": "1", "data": {"auth_id": a}})).unwrap()).await;
        produce(&producer, &topic, "trace", &serde_json::to_vec(&json!({"id": uuid::Uuid::new_v4().to_string(), "type": "stream_trace", "timestamp": "1", "data": {}})).unwrap()).await;
        let stranger = uuid::Uuid::new_v4().to_string();
        produce(&producer, &topic, &stranger, &envelope(&stranger, "app_000000000000000000000000:ghost", "5", "live", now_ms)).await;
        let big = uuid::Uuid::new_v4().to_string();
        let d = format!("{}:dave", app.client_id);
        produce(&producer, &topic, &big, &envelope(&big, &d, huge, "live", now_ms)).await;
        // The event that takes alice past her $1: 4·10^14 wei at $3000 = $1.20.
        let crossing = uuid::Uuid::new_v4().to_string();
        produce(&producer, &topic, &crossing, &envelope(&crossing, &a, "400000000000000", "live-video-to-video", now_ms)).await;
        expected_alice += 400_000_000_000_000;

        let want_alice = micros_ceil(expected_alice, 3000);
        let want_bob = micros_ceil(expected_bob, 3000);
        until(30, async || store.consumed_usd_micros(&bob_id).await.unwrap() == want_bob && store.consumed_usd_micros(&alice_id).await.unwrap() == want_alice).await;
        until(10, async || store.dead_letter_count().await.unwrap() == 2).await;
        let rollups = store.usage_rollups(&app.client_id, 0, i64::MAX).await.unwrap();
        let count: i64 = rollups.iter().map(|r| r.4.request_count).sum();
        assert_eq!(count, 42, "40 events, the huge one and the crossing one; duplicates, junk and strangers not in app rollups");
        let dave_id = store.user_by_external_id(&app.client_id, "dave").await.unwrap().unwrap().id;
        assert_eq!(store.consumed_usd_micros(&dave_id).await.unwrap(), micros_ceil(36_893_488_147_419_103_232, 3000));
        assert!(rollups.iter().any(|r| r.1 == "live-video-to-video" && r.2 == "streamdiffusion"));

        // Alice spent $1 + change: the gate closes for her, not for bob (within the cache second).
        assert!(want_alice > 1_000_000 && want_bob < 100_000_000);
        assert_eq!(verdict(&server, &[("Authorization", &bearer(&alice))]).await["status"], 483);
        assert_eq!(verdict(&server, &[("Authorization", &bearer(&bob))]).await["status"], 200);

        // Everything again (a replay): nothing changes.
        let raw: Vec<_> = ids.iter().map(|id| tollhouse_server::metering::ingest::RawEvent { payload: envelope(id, &a, "1", "live", now_ms), source: tollhouse_server::metering::ingest::Source::Http }).collect();
        let parsed = tollhouse_server::metering::ingest::parse_batch(raw.clone(), server.state().rng.as_ref());
        let counts = tollhouse_server::metering::ingest::ingest(&server.state().metering, &parsed).await.unwrap();
        assert_eq!((counts.ingested, counts.duplicate), (0, 40));
        assert_eq!(store.dead_letter_count().await.unwrap(), 2);
        assert_eq!(store.consumed_usd_micros(&alice_id).await.unwrap(), want_alice);
        // `tollhouse usage replay --from-offset 0` re-reads the whole topic: nothing changes.
        let output = Command::new(env!("CARGO_BIN_EXE_tollhouse"))
            .args(["usage", "replay", "--from-offset", "0", "--json", "--kafka-brokers", &broker.address, "--kafka-topic", &topic, "--eth-usd-price", "3000", "--data-dir"])
            .arg(server.db.data_dir.path())
            .args(["--database-url", &server.db.url])
            .env_remove("TOLLHOUSE_MASTER_KEY")
            .env("TOLLHOUSE_LOG", "warn")
            .output()
            .unwrap();
        assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
        let replayed: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
        assert_eq!(replayed, json!({"consumed": 47, "ingested": 0, "duplicate": 44, "deadLettered": 0}));
        assert_eq!(store.consumed_usd_micros(&alice_id).await.unwrap(), want_alice);
        assert_eq!(store.consumed_usd_micros(&bob_id).await.unwrap(), want_bob);
        assert_eq!(store.dead_letter_count().await.unwrap(), 2);
        let ready: serde_json::Value = server.http.get(server.url("/readyz")).send().await.unwrap().json().await.unwrap();
        assert!(ready["kafka"]["brokerReachable"].is_boolean(), "{ready}");
        server.finish().await;
    }
}
