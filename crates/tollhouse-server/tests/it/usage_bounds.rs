//! Bounds on usage (tollhouse-core's `bounds.rs`): no single value, and no sequence of them,
//! can stop an app's metering or anyone else's. Each value out of bounds is refused on its own,
//! identically on SQLite and PostgreSQL: 400 for a signed ticket, a dead letter with its reason
//! for an envelope over HTTP or Kafka; an app at its lifetime ceiling gets 422 or dead letters
//! for usage that would pass it, while every other app goes on being metered in the same batch.

use crate::backend_tests;
use crate::harness::TestServer;
use crate::support::kafka::{Broker, consuming_server, envelope, produce};
use crate::support::signer::start;
use reqwest::Method;
use serde_json::{Value, json};
use std::time::{Duration, Instant};
use tollhouse_core::Clock as _;
use tollhouse_core::bounds::{MAX_APP_USD_MICROS, MAX_EVENT_USD_MICROS};
use tollhouse_core::money::ExactUsd;
use tollhouse_store::OverLimit;

/// `n` stored events of `micros` each for `user_id` of `client_id`, written through the store's
/// own ingest path: the state an app reaches after a long life, without a long test.
async fn seed(server: &TestServer, client_id: &str, user_id: &str, n: usize, micros: i64) {
    let now_ms = server.clock.now_millis();
    let usd = ExactUsd::from_micros_and_units(micros.unsigned_abs().into(), 0).unwrap();
    let rows: Vec<_> = (0..n)
        .map(|i| {
            crate::balance_reads::stored_ticket(
                &format!("seed-{i}"),
                client_id,
                user_id,
                usd,
                now_ms,
            )
        })
        .collect();
    let counts = server
        .state()
        .store
        .ingest_usage(&rows, &[], server.clock.now(), OverLimit::Refuse)
        .await
        .unwrap();
    assert_eq!(counts.ingested, n as u64);
}

async fn total_micros(server: &TestServer, app: &crate::harness::TestApp) -> Value {
    let r = server
        .builder(Method::GET, app, "/usage")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let body: Value = r.json().await.unwrap();
    body["totals"]["networkFeeUsdMicros"].clone()
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
    async fn one_value_cannot_poison_an_apps_metering_over_http(db: Db) {
        let server = start(db, |c| c.price.eth_usd = Some("2000".into())).await;
        let app = server.app.clone();
        let other = server.create_app("other").await;
        server.user_tokens(&app, "alice").await;
        server.user_tokens(&other, "bob").await;
        let alice = server.state().store.user_by_external_id(&app.client_id, "alice").await.unwrap().unwrap().id;
        let bob = server.state().store.user_by_external_id(&other.client_id, "bob").await.unwrap().unwrap().id;
        let tickets = |app: &crate::harness::TestApp, body: Value| server.builder(Method::POST, app, "/usage/signed-tickets").json(&body).send();
        let ticket = |id: &str, user: &str, micros: &str| json!({"requestId": id, "externalUserId": user, "networkFeeUsdMicros": micros});

        // The value of the original report: refused on its own, with a reason, on both stores.
        for micros in ["9223372036854775807", "9000000000000000000", "223372036854775807", "1000000000001"] {
            let r = tickets(&app, ticket("huge", "alice", micros)).await.unwrap();
            assert_eq!(r.status(), 400, "{micros}");
            let body: Value = r.json().await.unwrap();
            assert_eq!(body["error"], "invalid_request");
            assert!(body["error_description"].as_str().unwrap().contains("networkFeeUsdMicros"), "{body}");
        }
        // Metering goes on for this app and the other.
        let ok = tickets(&app, ticket("r-1", "alice", "5")).await.unwrap();
        assert_eq!(ok.status(), 200);
        assert_eq!(tickets(&other, ticket("r-1", "bob", "7")).await.unwrap().status(), 200);
        assert_eq!(server.state().store.consumed_usd_micros(&alice).await.unwrap(), 5);

        // An app near its lifetime ceiling: the per-event maximum still fits exactly once more...
        let seeded = usize::try_from(MAX_APP_USD_MICROS / MAX_EVENT_USD_MICROS - 1).unwrap();
        seed(&server, &app.client_id, &alice, seeded, MAX_EVENT_USD_MICROS).await;
        let at_ceiling = MAX_APP_USD_MICROS - MAX_EVENT_USD_MICROS + 5;
        assert_eq!(total_micros(&server, &app).await, json!(at_ceiling.to_string()));
        let last = MAX_EVENT_USD_MICROS - 5;
        assert_eq!(tickets(&app, ticket("r-2", "alice", &last.to_string())).await.unwrap().status(), 200);
        assert_eq!(total_micros(&server, &app).await, json!(MAX_APP_USD_MICROS.to_string()));
        // ...and then one micro-USD more is refused as a whole request (422), nothing stored.
        let r = tickets(&app, json!({"tickets": [ticket("r-3", "alice", "0"), ticket("r-4", "alice", "1")]})).await.unwrap();
        assert_eq!(r.status(), 422);
        let body: Value = r.json().await.unwrap();
        assert!(body["error_description"].as_str().unwrap().contains("over its life"), "{body}");
        assert_eq!(total_micros(&server, &app).await, json!(MAX_APP_USD_MICROS.to_string()));
        // Free usage still counts; the gate and the reports still answer.
        let r: Value = tickets(&app, ticket("r-5", "alice", "0")).await.unwrap().json().await.unwrap();
        assert_eq!(r["ingested"], 1);
        let by_user: Value = server.builder(Method::GET, &app, "/usage?groupBy=user").send().await.unwrap().json().await.unwrap();
        assert_eq!(by_user["byUser"][0]["networkFeeUsdMicros"], json!(MAX_APP_USD_MICROS.to_string()), "{by_user}");
        let balance = server.builder(Method::GET, &app, "/usage/balance?externalUserId=alice").send().await.unwrap();
        assert_eq!(balance.status(), 200);

        // Envelopes over HTTP: the event that would pass the ceiling is a dead letter with its
        // reason; the rest of the batch is stored.
        let now_ms = server.clock.now_millis();
        let mine = format!("{}:alice", app.client_id);
        let over: Value = serde_json::from_slice(&envelope(&uuid::Uuid::new_v4().to_string(), &mine, "1000000000000", "live", now_ms)).unwrap();
        let free: Value = serde_json::from_slice(&envelope(&uuid::Uuid::new_v4().to_string(), &mine, "0", "live", now_ms)).unwrap();
        let r: Value = server.builder(Method::POST, &app, "/usage/events").json(&json!([over, free])).send().await.unwrap().json().await.unwrap();
        assert_eq!((r["ingested"].clone(), r["deadLettered"].clone()), (json!(1), json!(1)), "{r}");
        let letters = server.state().store.dead_letters(10).await.unwrap();
        assert!(letters.iter().any(|d| d.reason.starts_with("usage_ceiling:")), "{letters:?}");
        // The other app is unaffected.
        assert_eq!(tickets(&other, ticket("r-2", "bob", &MAX_EVENT_USD_MICROS.to_string())).await.unwrap().status(), 200);
        assert_eq!(server.state().store.consumed_usd_micros(&bob).await.unwrap(), MAX_EVENT_USD_MICROS + 7);
        server.finish().await;
    }
}

backend_tests! {
    async fn an_envelope_worth_too_much_is_a_dead_letter_over_http(db: Db) {
        let server = start(db, |c| c.price.eth_usd = Some("2000".into())).await;
        let app = server.app.clone();
        server.user_tokens(&app, "alice").await;
        let mine = format!("{}:alice", app.client_id);
        let now_ms = server.clock.now_millis();
        let event = |fee: &str| -> Value { serde_json::from_slice(&envelope(&uuid::Uuid::new_v4().to_string(), &mine, fee, "live", now_ms)).unwrap() };
        // 10^30 wei is below 2^128 but worth 2·10^15 USD; 10^24 wei is within the fee bound but
        // worth 2·10^9 USD at $2000: both above what one event may be worth.
        let batch = json!([event("1000000000000000000000000000000"), event("1000000000000000000000000"), event("500000000000000")]);
        let r = server.builder(Method::POST, &app, "/usage/events").json(&batch).send().await.unwrap();
        assert_eq!(r.status(), 200);
        let body: Value = r.json().await.unwrap();
        assert_eq!((body["ingested"].clone(), body["deadLettered"].clone()), (json!(1), json!(2)), "{body}");
        let reasons: Vec<String> = server.state().store.dead_letters(10).await.unwrap().into_iter().map(|d| d.reason).collect();
        assert!(reasons.iter().any(|r| r.starts_with("fee_out_of_range:")), "{reasons:?}");
        assert!(reasons.iter().any(|r| r.starts_with("value_out_of_range:")), "{reasons:?}");
        assert_eq!(total_micros(&server, &app).await, json!("1000000"));
        // NUL, over-long text, a time outside 2000..2200, pixels out of range: dead letters too.
        let mut nul = event("1");
        nul["data"]["manifest_id"] = json!("a\u{0}b");
        let mut long = event("1");
        long["data"]["pipeline"] = json!("p".repeat(5000));
        let mut ancient = event("1");
        ancient["timestamp"] = json!("5");
        let mut pixels = event("1");
        pixels["data"]["pixels"] = json!(i64::MAX);
        let r: Value = server.builder(Method::POST, &app, "/usage/events").json(&json!([nul, long, ancient, pixels])).send().await.unwrap().json().await.unwrap();
        assert_eq!((r["ingested"].clone(), r["deadLettered"].clone()), (json!(0), json!(4)), "{r}");
        server.finish().await;
    }
}

backend_tests! {
    async fn ticket_fields_are_validated_alike_on_both_stores(db: Db) {
        let server = start(db, |_| {}).await;
        let app = server.app.clone();
        server.user_tokens(&app, "alice").await;
        let post = |body: Value| server.builder(Method::POST, &app, "/usage/signed-tickets").json(&body).send();
        let base = || json!({"requestId": "x", "externalUserId": "alice", "networkFeeUsdMicros": "1"});
        let with = |field: &str, value: Value| {
            let mut t = base();
            t[field] = value;
            t
        };
        for bad in [
            with("requestId", json!("a\u{0}b")),
            with("pipeline", json!("live\u{0}")),
            with("modelId", json!("m\u{0}")),
            with("gatewayRequestId", json!("g\u{0}")),
            with("ethUsdPrice", json!("3000\u{0}")),
            with("ethUsdRoundId", json!("1\u{0}")),
            with("pixels", json!(-5)),
            with("pixels", json!("-5")),
            with("ethUsdPrice", json!("-5")),
            with("ethUsdPrice", json!("NaN")),
            with("ethUsdPrice", json!("abc")),
            with("ethUsdPrice", json!("0")),
            with("pipeline", json!("p".repeat(5000))),
            with("modelId", json!("m".repeat(257))),
            with("occurredAtMs", json!(-1)),
            with("occurredAtMs", json!(i64::MAX)),
            with("feeWei", json!("1000000000000000000000001")),
        ] {
            let r = post(bad.clone()).await.unwrap();
            assert_eq!(r.status(), 400, "{bad}");
            let body: Value = r.json().await.unwrap();
            assert_eq!(body["error"], "invalid_request", "{bad}");
        }
        // Nothing was stored; a valid ticket with every field at its bound is.
        assert_eq!(total_micros(&server, &app).await, json!("0"));
        let mut full = with("pipeline", json!("p".repeat(256)));
        full["modelId"] = json!("m".repeat(256));
        full["ethUsdPrice"] = json!("3456.78");
        full["pixels"] = json!("1000000000000000");
        let r = post(full).await.unwrap();
        assert_eq!(r.status(), 200);
        server.finish().await;
    }
}

backend_tests! {
    async fn through_kafka_an_app_at_its_ceiling_does_not_stop_the_others(db: Db) {
        let broker = Broker::start().await;
        let (topic, server) = consuming_server(&broker, db, "2000", |_| {}).await;
        let app = server.app.clone();
        let other = server.create_app("other").await;
        server.user_tokens(&app, "alice").await;
        server.user_tokens(&other, "bob").await;
        let store = server.state().store.clone();
        let alice = store.user_by_external_id(&app.client_id, "alice").await.unwrap().unwrap().id;
        let bob = store.user_by_external_id(&other.client_id, "bob").await.unwrap().unwrap().id;
        seed(&server, &app.client_id, &alice, usize::try_from(MAX_APP_USD_MICROS / MAX_EVENT_USD_MICROS).unwrap(), MAX_EVENT_USD_MICROS).await;

        // One batch: alice's app is at its ceiling, so her paid event is a dead letter; an event
        // worth too much and one of 10^30 wei are dead letters too; bob's events are stored.
        let producer = broker.producer();
        let now_ms = server.clock.now_millis();
        let a = format!("{}:alice", app.client_id);
        let b = format!("{}:bob", other.client_id);
        for (auth, fee) in [(&a, "500000000000000"), (&b, "500000000000000"), (&b, "1000000000000000000000000000000"), (&b, "1000000000000000000000000"), (&a, "0"), (&b, "250000000000000")] {
            let id = uuid::Uuid::new_v4().to_string();
            produce(&producer, &topic, &id, &envelope(&id, auth, fee, "live", now_ms)).await;
        }
        until(30, async || store.consumed_usd_micros(&bob).await.unwrap() == 1_500_000 && store.dead_letter_count().await.unwrap() == 3).await;
        let reasons: Vec<String> = store.dead_letters(10).await.unwrap().into_iter().map(|d| d.reason).collect();
        for prefix in ["usage_ceiling:", "fee_out_of_range:", "value_out_of_range:"] {
            assert!(reasons.iter().any(|r| r.starts_with(prefix)), "{prefix} in {reasons:?}");
        }
        assert_eq!(total_micros(&server, &app).await, json!(MAX_APP_USD_MICROS.to_string()));
        // The consumer goes on: later events of both apps are read (alice's free one counted).
        let id = uuid::Uuid::new_v4().to_string();
        produce(&producer, &topic, &id, &envelope(&id, &b, "500000000000000", "live", now_ms)).await;
        until(30, async || store.consumed_usd_micros(&bob).await.unwrap() == 2_500_000).await;
        let rows = store.usage_rollups(&app.client_id, 0, i64::MAX).await.unwrap();
        let count: i64 = rows.iter().map(|r| r.4.request_count).sum();
        assert_eq!(count, MAX_APP_USD_MICROS / MAX_EVENT_USD_MICROS + 1, "the seed and alice's free event");
        server.finish().await;
    }
}
