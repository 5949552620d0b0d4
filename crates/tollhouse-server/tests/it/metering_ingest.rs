//! Metering, issue 5: the ETH/USD price from an HTTP oracle (read exactly, recorded per event,
//! stale prices refused), batches large enough to cross every SQLite statement shape, the
//! manifest rollups, and the ingest counters and Kafka lag on `/metrics`.

use crate::backend_tests;
use crate::harness::TestServer;
use crate::support::kafka::{Broker, consuming_server, envelope, produce};
use crate::support::signer::start;
use reqwest::Method;
use serde_json::{Value, json};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tollhouse_core::Clock as _;

/// What the local oracle answers: a JSON body, or an HTTP 500 when `None`.
#[derive(Clone)]
struct Oracle(Arc<Mutex<Option<String>>>);

impl Oracle {
    /// Serves `{"ethereum":{"usd":<price text>}}` on 127.0.0.1; returns its URL.
    async fn start(price: &str) -> (Oracle, String) {
        let oracle = Oracle(Arc::new(Mutex::new(None)));
        oracle.set(Some(price));
        let shared = oracle.clone();
        let app = axum::Router::new().route(
            "/price",
            axum::routing::get(move || {
                let body = shared.0.lock().unwrap().clone();
                async move {
                    match body {
                        Some(body) => (axum::http::StatusCode::OK, body),
                        None => (axum::http::StatusCode::INTERNAL_SERVER_ERROR, String::new()),
                    }
                }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/price", listener.local_addr().unwrap());
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        (oracle, url)
    }

    /// The price as raw JSON number text (more digits than a float keeps), or `None`: HTTP 500.
    fn set(&self, price: Option<&str>) {
        *self.0.lock().unwrap() =
            price.map(|p| format!(r#"{{"ethereum":{{"usd":{p}}},"other":[1.5e300]}}"#));
    }
}

async fn until(what: &str, secs: u64, mut done: impl AsyncFnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(secs);
    while !done().await {
        assert!(
            Instant::now() < deadline,
            "{what}: not reached within {secs} s"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The stored events' (id, eth_usd_price, price_observed_at_ms, billable_micros).
async fn stored_events(server: &TestServer) -> Vec<(String, String, Option<i64>, i64)> {
    use sqlx::Row as _;
    sqlx::any::install_default_drivers();
    let pool = sqlx::AnyPool::connect(&server.db.url).await.unwrap();
    let rows = sqlx::query("SELECT id, eth_usd_price, price_observed_at_ms, billable_micros FROM usage_events ORDER BY id")
        .fetch_all(&pool)
        .await
        .unwrap();
    pool.close().await;
    rows.iter()
        .map(|r| (r.get(0), r.get(1), r.get(2), r.get(3)))
        .collect()
}

/// Micro-USD, rounded up once, of a sum of `fee_wei × price` with prices in 10^-18 USD per ETH.
fn micros_ceil(sum_of_fee_times_atto_price: u128) -> u128 {
    // fee (wei) × price (10^-18 USD/ETH) = 10^-36 USD; 10^30 of those are one micro-USD.
    let unit = 10u128.pow(30);
    sum_of_fee_times_atto_price.div_ceil(unit)
}

fn metric(text: &str, name: &str) -> Option<i64> {
    text.lines().find_map(|line| {
        line.strip_prefix(name)?
            .strip_prefix(' ')?
            .trim()
            .parse()
            .ok()
    })
}

backend_tests! {
    async fn a_fixed_payment_signed_with_the_clock_behind_is_billed_not_dead_lettered(db: Db) {
        // go-livepeer `server/remote_signer.go` GenerateLivePayment: `billableSecs :=
        // now.Sub(lastUpdate).Seconds()`, raised only for lv2v and live, so a `fixed` (or
        // untyped) payment from a signer whose clock is behind `LastUpdate` sends a negative
        // float64 beside a valid `computed_fee`.
        let server = start(db, |c| c.price.eth_usd = Some("2000".into())).await;
        let app = server.app.clone();
        server.user_tokens(&app, "ann").await;
        let now = server.clock.now_millis();
        let auth_id = format!("{}:ann", app.client_id);
        let stepped = |id: &str, secs: Value| {
            let mut event: Value = serde_json::from_slice(&envelope(id, &auth_id, "1000000000000000", "fixed", now)).unwrap();
            event["data"]["billable_secs"] = secs;
            event["data"]["pixels"] = json!(0);
            event
        };
        let response = server.builder(Method::POST, &app, "/usage/events")
            .json(&json!([stepped("9e0c6f1e-5a43-4c55-8f0e-3c1d2b4a5e01", json!(-2.5))])).send().await.unwrap();
        assert_eq!(response.status(), 200);
        let counts: Value = response.json().await.unwrap();
        assert_eq!((counts["ingested"].as_u64(), counts["deadLettered"].as_u64()), (Some(1), Some(0)), "{counts}");
        let consumed = |server: &TestServer| {
            let request = server.builder(Method::GET, &server.app, "/users/ann/allowances");
            async move { request.send().await.unwrap().json::<Value>().await.unwrap()["allowances"]["consumedUsdMicros"].clone() }
        };
        assert_eq!(consumed(&server).await, "2000000", "10^15 wei at $2000 is billed");
        let metrics = server.http.get(server.url("/metrics")).send().await.unwrap().text().await.unwrap();
        assert_eq!(metric(&metrics, "tollhouse_usage_billable_secs_clamped_total"), Some(1), "{metrics}");

        // A letter an older build dead-lettered for this reason is ingested by a re-drive.
        let raw = serde_json::to_vec(&stepped("9e0c6f1e-5a43-4c55-8f0e-3c1d2b4a5e02", json!(-0.25))).unwrap();
        let letter = tollhouse_store::DeadLetterRow {
            id: "kafka:0:7".into(),
            source: "kafka",
            raw,
            reason: "invalid_field: data.billable_secs is not a non-negative number".into(),
        };
        let store = server.state().store.clone();
        store.ingest_usage(&[], &[letter], server.clock.now(), tollhouse_store::OverLimit::Refuse).await.unwrap();
        let price = tollhouse_core::money::EthUsdPrice::parse("2000").unwrap();
        let (redriven, waiting) = tollhouse_server::metering::ingest::redrive(store.as_ref(), price, server.clock.now(), server.state().rng.as_ref(), 100).await.unwrap();
        assert_eq!((redriven, waiting), (1, 0));
        assert_eq!(consumed(&server).await, "4000000");
        server.finish().await;
    }

    async fn oracle_prices_are_exact_recorded_per_event_and_refused_when_stale(db: Db) {
        let (oracle, url) = Oracle::start("3000.123456789012345678").await;
        let server = start(db, |c| {
            c.price.oracle_url = Some(url.clone());
            c.price.oracle_interval_secs = 1;
            c.price.oracle_max_age_secs = 60;
        }).await;
        let app = server.app.clone();
        server.user_tokens(&app, "alice").await;
        let state = server.state().clone();
        until("first oracle price", 20, async || state.metering.price.latest().is_some()).await;
        let first = state.metering.price.latest().unwrap();
        assert_eq!(first.price.to_string(), "3000.123456789012345678", "read from the JSON text, not a float");
        assert_eq!(first.observed_at_ms, server.clock.now_millis());

        let auth = format!("{}:alice", app.client_id);
        let now_ms = server.clock.now_millis();
        let post = |ids: Vec<(String, &'static str)>| {
            let events: Vec<Value> = ids.iter().map(|(id, fee)| serde_json::from_slice(&envelope(id, &auth, fee, "live-video-to-video", now_ms)).unwrap()).collect();
            server.builder(Method::POST, &app, "/usage/events").json(&json!(events)).send()
        };
        let a = uuid::Uuid::new_v4().to_string();
        let r: Value = post(vec![(a.clone(), "1000000000000000")]).await.unwrap().json().await.unwrap();
        assert_eq!(r["ingested"], 1, "{r}");

        // The oracle moves; the clock too (so the observations differ). Earlier events keep
        // their price.
        server.clock.advance(5);
        oracle.set(Some("2000.5"));
        until("second oracle price", 20, async || state.metering.price.latest().unwrap().price.to_string() == "2000.5").await;
        let second = state.metering.price.latest().unwrap();
        assert!(second.observed_at_ms >= first.observed_at_ms + 5000);
        let b = uuid::Uuid::new_v4().to_string();
        let r: Value = post(vec![(b.clone(), "3000000000000000"), (a.clone(), "1000000000000000")]).await.unwrap().json().await.unwrap();
        assert_eq!((r["ingested"].clone(), r["duplicate"].clone()), (json!(1), json!(1)), "{r}");
        let rows = stored_events(&server).await;
        let find = |id: &str| rows.iter().find(|r| r.0 == id).cloned().unwrap();
        assert_eq!(find(&a).1, "3000.123456789012345678");
        assert_eq!(find(&a).2, Some(first.observed_at_ms));
        assert_eq!(find(&b).1, "2000.5");
        assert_eq!(find(&b).2, Some(second.observed_at_ms));
        assert_eq!(find(&a).3, 5_000_000, "billable_secs 5.0 → 5 000 000 µs");
        let alice = state.store.user_by_external_id(&app.client_id, "alice").await.unwrap().unwrap();
        let exact = 1_000_000_000_000_000u128 * 3_000_123_456_789_012_345_678u128
            + 3_000_000_000_000_000u128 * 2_000_500_000_000_000_000_000u128;
        assert_eq!(state.store.consumed_usd_micros(&alice.id).await.unwrap() as u128, micros_ceil(exact));

        // The oracle fails and time passes beyond the max age: usage waits (409), nothing is
        // valued at the old price; once the oracle answers again it is valued at the new one.
        oracle.set(None);
        until("a failed refresh", 20, async || {
            let text = server.http.get(server.url("/metrics")).send().await.unwrap().text().await.unwrap();
            metric(&text, "tollhouse_eth_usd_oracle_refreshes_total{outcome=\"failed\"}").unwrap_or(0) >= 1
        }).await;
        server.clock.advance(61);
        let c = uuid::Uuid::new_v4().to_string();
        let refused = post(vec![(c.clone(), "1000")]).await.unwrap();
        assert_eq!(refused.status(), 409);
        assert_eq!(stored_events(&server).await.len(), 2);
        oracle.set(Some("2500"));
        until("a fresh price", 20, async || state.metering.price.current(server.clock.now_millis()).is_ok()).await;
        let r: Value = post(vec![(c.clone(), "1000")]).await.unwrap().json().await.unwrap();
        assert_eq!(r["ingested"], 1, "{r}");
        let rows = stored_events(&server).await;
        assert_eq!(rows.iter().find(|r| r.0 == c).unwrap().1, "2500");
        assert_eq!(rows.iter().find(|r| r.0 == a).unwrap().1, "3000.123456789012345678", "history unchanged");
        let text = server.http.get(server.url("/metrics")).send().await.unwrap().text().await.unwrap();
        assert!(metric(&text, "tollhouse_eth_usd_oracle_refreshes_total{outcome=\"ok\"}").unwrap() >= 3, "{text}");
        assert!(metric(&text, "tollhouse_eth_usd_price_observed_at_seconds").unwrap() >= server.clock.now() - 60);
        server.finish().await;
    }
}

backend_tests! {
    async fn large_kafka_batches_count_once_and_metrics_report_them(db: Db) {
        let broker = Broker::start().await;
        let (topic, server) = consuming_server(&broker, db, "1000", |_| {}).await;
        let app = server.app.clone();
        let users = ["u-1", "u-2", "u-3"];
        for u in users {
            server.user_tokens(&app, u).await;
        }
        let producer = broker.producer();
        let now_ms = server.clock.now_millis();
        // 700 distinct events over 3 users, 5 manifests, 2 days and 2 pipelines (the SQLite path
        // writes them in 256/256/128/32/16/8/4-row statements), each id sent twice, plus an
        // unknown user of this app, a stranger app, junk and a foreign event type.
        let mut ids = Vec::new();
        let mut sends = Vec::new();
        for i in 0..700u32 {
            let id = uuid::Uuid::new_v4().to_string();
            let user = users[(i % 3) as usize];
            let mut event: Value = serde_json::from_slice(&envelope(&id, &format!("{}:{user}", app.client_id), &(1_000_000_000_007u64 + u64::from(i)).to_string(),
                if i % 2 == 0 { "live-video-to-video:streamdiffusion" } else { "live-video-to-video:comfyui" }, now_ms - i64::from(i % 2) * 86_400_000)).unwrap();
            event["data"]["manifest_id"] = json!(format!("manifest-{}", i % 5));
            event["data"]["billable_secs"] = json!(format!("0.{:07}", 1_000_000 + i));
            let bytes = serde_json::to_vec(&event).unwrap();
            sends.push((id.clone(), bytes.clone()));
            sends.push((id.clone(), bytes));
            ids.push(id);
        }
        let nobody = uuid::Uuid::new_v4().to_string();
        sends.push((nobody.clone(), envelope(&nobody, &format!("{}:nobody", app.client_id), "5", "live", now_ms)));
        let stranger = uuid::Uuid::new_v4().to_string();
        sends.push((stranger.clone(), envelope(&stranger, "app_000000000000000000000000:x", "5", "live", now_ms)));
        sends.push(("junk".into(), b"{not json".to_vec()));
        sends.push(("trace".into(), serde_json::to_vec(&json!({"id": uuid::Uuid::new_v4().to_string(), "type": "stream_trace", "timestamp": "1"})).unwrap()));
        for (key, payload) in &sends {
            produce(&producer, &topic, key, payload).await;
        }
        let metrics = async || server.http.get(server.url("/metrics")).send().await.unwrap().text().await.unwrap();
        until("every message counted", 60, async || {
            let text = metrics().await;
            metric(&text, "tollhouse_usage_events_total{outcome=\"ingested\"}") == Some(702)
                && metric(&text, "tollhouse_usage_events_total{outcome=\"dead_lettered\"}") == Some(1)
                // The stream_trace may sit on another partition than the last event counted.
                && metric(&text, "tollhouse_usage_events_total{outcome=\"skipped\"}") == Some(1)
        }).await;
        let text = metrics().await;
        assert_eq!(metric(&text, "tollhouse_usage_events_total{outcome=\"duplicate\"}"), Some(700), "{text}");
        assert_eq!(metric(&text, "tollhouse_usage_events_total{outcome=\"unattributed\"}"), Some(2), "{text}");
        assert_eq!(metric(&text, "tollhouse_usage_events_total{outcome=\"skipped\"}"), Some(1), "{text}");
        until("lag 0 on /metrics", 30, async || metric(&metrics().await, "tollhouse_usage_kafka_lag") == Some(0)).await;

        // Rollups agree with the events, exactly, however grouped.
        use sqlx::Row as _;
        sqlx::any::install_default_drivers();
        let pool = sqlx::AnyPool::connect(&server.db.url).await.unwrap();
        let one = async |sql: &str| -> Vec<i64> {
            let row = sqlx::query(sql).bind(app.client_id.as_str()).fetch_one(&pool).await.unwrap();
            (0..row.len()).map(|i| row.get::<i64, _>(i)).collect()
        };
        let sums = "CAST(COUNT(*) AS BIGINT), CAST(SUM(fee_gwei) AS BIGINT), CAST(SUM(fee_wei) AS BIGINT), CAST(SUM(usd_e6) AS BIGINT), CAST(SUM(usd_e9) AS BIGINT), CAST(SUM(usd_e18) AS BIGINT), CAST(SUM(billable_micros) AS BIGINT)";
        let events = one(&format!("SELECT {sums} FROM usage_events WHERE client_id = $1")).await;
        let rsums = "CAST(SUM(request_count) AS BIGINT), CAST(SUM(fee_gwei) AS BIGINT), CAST(SUM(fee_wei) AS BIGINT), CAST(SUM(usd_e6) AS BIGINT), CAST(SUM(usd_e9) AS BIGINT), CAST(SUM(usd_e18) AS BIGINT)";
        let manifests = one(&format!("SELECT {rsums}, CAST(SUM(billable_micros) AS BIGINT) FROM usage_manifest_rollups WHERE client_id = $1")).await;
        let rollups = one(&format!("SELECT {rsums} FROM usage_rollups WHERE client_id = $1")).await;
        assert_eq!(events[0], 701, "700 + the unknown user of this app");
        assert_eq!(manifests, events);
        assert_eq!(rollups[..], events[..6]);
        // Σ round_half_up((10^6 + i) / 10) µs over i < 700 (0.1000000 s … 0.1000699 s), + 5 s.
        let want_billable: i64 = (0..700i64).map(|i| (1_000_000 + i + 5) / 10).sum::<i64>() + 5_000_000;
        assert_eq!(events[6], want_billable);
        let groups = one("SELECT CAST(COUNT(*) AS BIGINT) FROM usage_manifest_rollups WHERE client_id = $1").await;
        assert_eq!(groups[0], 3 * 5 * 2 + 1, "user × manifest × (day, pipeline) pairs, + the unknown user's");
        pool.close().await;
        let dead = server.state().store.dead_letter_count().await.unwrap();
        assert_eq!(dead, 1);
        server.finish().await;
    }
}
