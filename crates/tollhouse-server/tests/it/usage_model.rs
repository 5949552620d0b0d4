//! The metering surface as one random walk (grants, signed tickets, go-livepeer envelopes over
//! HTTP and Kafka, at and around every bound) checked against a big-integer model, on both
//! databases.

use crate::backend_tests;
use reqwest::Method;
use serde_json::{Value, json};
use std::time::Duration;
use tollhouse_core::Clock as _;
use tollhouse_core::allowance::MAX_GRANT_USD_MICROS;

/// One step of the random walk over the metering surface.
#[derive(Debug, Clone)]
enum Step {
    Grant {
        user: usize,
        micros: i128,
    },
    Ticket {
        user: usize,
        micros: i128,
    },
    /// A go-livepeer envelope of `fee_wei` (a decimal, maybe beyond `u128`), posted to
    /// `/usage/events` or produced to the Kafka topic.
    Event {
        user: usize,
        fee_wei: String,
        kafka: bool,
    },
}

/// Values at and around every bound a grant or a ticket meets, and some in between.
fn around_bounds(rng: &mut impl rand::Rng, max: i128) -> i128 {
    let edges = [
        0,
        1,
        2,
        max - 1,
        max,
        max + 1,
        i128::from(i64::MAX),
        i128::from(i64::MAX) + 1,
    ];
    if rng.gen_bool(0.6) {
        edges[rng.gen_range(0..edges.len())]
    } else {
        rng.gen_range(1..=max)
    }
}

/// The ETH price the walk's server converts fees at (`--eth-usd-price`), in whole USD.
const USD_PER_ETH: u128 = 2000;

/// Fees at and around the bounds an envelope meets: the most one event may be worth at
/// [`USD_PER_ETH`] (10^12 micro-USD = 5·10^20 wei), the largest fee (10^24 wei), the USD value
/// that overflows (10^30 wei), `u128::MAX` and one past it.
fn fee_around_bounds(rng: &mut impl rand::Rng) -> String {
    let worth_max = 500_000_000_000_000_000_000u128;
    let edges = [
        "0".to_owned(),
        "1".to_owned(),
        (worth_max - 1).to_string(),
        worth_max.to_string(),
        (worth_max + 1).to_string(),
        tollhouse_core::bounds::MAX_EVENT_FEE_WEI.to_string(),
        (tollhouse_core::bounds::MAX_EVENT_FEE_WEI + 1).to_string(),
        "1000000000000000000000000000000".to_owned(),
        u128::MAX.to_string(),
        "340282366920938463463374607431768211456".to_owned(),
    ];
    if rng.gen_bool(0.6) {
        edges[rng.gen_range(0..edges.len())].clone()
    } else {
        rng.gen_range(1..=worth_max).to_string()
    }
}

/// What the model says an envelope adds to its user's consumption, in 10^-18 USD, or `None`
/// when it must be a dead letter: a fee beyond `u128`, above 10^24 wei, or worth more than
/// 10^12 micro-USD.
fn envelope_value(fee_wei: &str) -> Option<u128> {
    let wei: u128 = fee_wei.parse().ok()?;
    let value = wei.checked_mul(USD_PER_ETH)?;
    let max_value =
        u128::try_from(tollhouse_core::bounds::MAX_EVENT_USD_MICROS).unwrap() * 1_000_000_000_000;
    (wei <= tollhouse_core::bounds::MAX_EVENT_FEE_WEI && value <= max_value).then_some(value)
}

backend_tests! {
    async fn random_grants_tickets_and_events_at_the_bounds_match_a_big_integer_model(db: Db) {
        use crate::support::kafka::{Broker, consuming_server, envelope, produce};
        use rand::{Rng as _, SeedableRng as _};
        let broker = Broker::start().await;
        let (topic, server) = consuming_server(&broker, db, &USD_PER_ETH.to_string(), |_| {}).await;
        let producer = broker.producer();
        let app = server.app.clone();
        let users = ["ann", "ben"];
        for user in users {
            server.user_tokens(&app, user).await;
        }
        // Seeded, so a failure replays; the seed is printed with it.
        let seed: u64 = 0x7011_4005;
        let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
        // The model: exact sums in 10^-18 USD (a ticket's micro-USD × 10^12, an envelope's wei
        // × the ETH price), checked so the model itself cannot wrap.
        let mut granted = [0i128; 2];
        let mut consumed = [0u128; 2];
        let mut dead_letters = 0i64;
        let max_ticket = i128::from(tollhouse_core::bounds::MAX_EVENT_USD_MICROS);
        let max_grant = i128::from(MAX_GRANT_USD_MICROS);
        let now_ms = server.clock.now_millis();
        // Which kinds of step the walk took, accepted or refused: it must have taken all.
        let mut seen = std::collections::BTreeSet::new();
        for i in 0..160 {
            let user = rng.gen_range(0..users.len());
            let step = match rng.gen_range(0..4) {
                0 => Step::Grant { user, micros: around_bounds(&mut rng, max_grant) },
                1 => Step::Ticket { user, micros: around_bounds(&mut rng, max_ticket) },
                n => Step::Event { user, fee_wei: fee_around_bounds(&mut rng), kafka: n == 3 },
            };
            let auth_id = format!("{}:{}", app.client_id, users[user]);
            let id = uuid::Uuid::new_v4().to_string();
            let (response, accepted) = match &step {
                Step::Grant { user, micros } => (
                    server.builder(Method::POST, &app, &format!("/users/{}/allowances", users[*user]))
                        .json(&json!({"amountUsdMicros": micros.to_string()})).send().await.unwrap(),
                    (1..=max_grant).contains(micros),
                ),
                Step::Ticket { user, micros } => (
                    server.builder(Method::POST, &app, "/usage/signed-tickets")
                        .json(&json!({"requestId": format!("p-{i}"), "externalUserId": users[*user], "networkFeeUsdMicros": micros.to_string()}))
                        .send().await.unwrap(),
                    (0..=max_ticket).contains(micros),
                ),
                Step::Event { user, fee_wei, kafka: true } => {
                    produce(&producer, &topic, &id, &envelope(&id, &auth_id, fee_wei, "live", now_ms)).await;
                    let value = envelope_value(fee_wei);
                    seen.insert(("kafka", value.is_some()));
                    dead_letters += i64::from(value.is_none());
                    consumed[*user] = consumed[*user].checked_add(value.unwrap_or(0)).unwrap();
                    continue;
                }
                Step::Event { user, fee_wei, kafka: false } => {
                    let body: Value = serde_json::from_slice(&envelope(&id, &auth_id, fee_wei, "live", now_ms)).unwrap();
                    let response = server.builder(Method::POST, &app, "/usage/events").json(&json!([body])).send().await.unwrap();
                    assert_eq!(response.status(), 200, "seed {seed} step {i} {step:?}");
                    let counts: Value = response.json().await.unwrap();
                    let value = envelope_value(fee_wei);
                    seen.insert(("events", value.is_some()));
                    let expected = if value.is_some() { json!([1, 0]) } else { json!([0, 1]) };
                    assert_eq!(json!([counts["ingested"], counts["deadLettered"]]), expected, "seed {seed} step {i} {step:?}: {counts}");
                    dead_letters += i64::from(value.is_none());
                    consumed[*user] = consumed[*user].checked_add(value.unwrap_or(0)).unwrap();
                    continue;
                }
            };
            let status = response.status();
            assert!(status.is_success() || status.is_client_error(), "seed {seed} step {i} {step:?}: {status}");
            assert_eq!(status.is_success(), accepted, "seed {seed} step {i} {step:?}: {status}");
            seen.insert((if matches!(step, Step::Grant { .. }) { "grant" } else { "ticket" }, accepted));
            if accepted {
                match step {
                    Step::Grant { user, micros } => granted[user] += micros,
                    Step::Ticket { user, micros } => {
                        consumed[user] = consumed[user].checked_add(u128::try_from(micros).unwrap() * 1_000_000_000_000).unwrap();
                    }
                    Step::Event { .. } => unreachable!("handled above"),
                }
            }
        }
        assert_eq!(seen.len(), 8, "seed {seed}: the walk took only {seen:?}");
        // Nothing stalled: one more ticket goes in, and every stored sum is the model's once
        // the consumer has read the topic (each refused envelope a dead letter, none else).
        let last = server.builder(Method::POST, &app, "/usage/signed-tickets")
            .json(&json!({"requestId": "last", "externalUserId": "ann", "networkFeeUsdMicros": "1"}))
            .send().await.unwrap();
        assert_eq!(last.status(), 200);
        consumed[0] += 1_000_000_000_000;
        // Rounded up to micro-USD once, over each user's exact sum.
        let micros = |exact: u128| i128::try_from(exact.div_ceil(1_000_000_000_000)).unwrap();
        let store = server.state().store.clone();
        let ids = [
            store.user_by_external_id(&app.client_id, "ann").await.unwrap().unwrap().id,
            store.user_by_external_id(&app.client_id, "ben").await.unwrap().unwrap().id,
        ];
        let deadline = std::time::Instant::now() + Duration::from_secs(60);
        loop {
            let mut stored = Vec::new();
            for id in &ids {
                stored.push(i128::from(store.consumed_usd_micros(id).await.unwrap()));
            }
            let letters = store.dead_letter_count().await.unwrap();
            if stored == [micros(consumed[0]), micros(consumed[1])] && letters == dead_letters {
                break;
            }
            assert!(std::time::Instant::now() < deadline, "seed {seed}: consumed {stored:?}, dead letters {letters}; model {consumed:?}, {dead_letters}");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        for (i, user) in users.iter().enumerate() {
            let read: Value = server.builder(Method::GET, &app, &format!("/users/{user}/allowances"))
                .send().await.unwrap().json().await.unwrap();
            let allowances = &read["allowances"];
            let used = micros(consumed[i]);
            assert_eq!(allowances["lifetimeGrantedUsdMicros"], granted[i].to_string().as_str(), "seed {seed} {user}: {read}");
            assert_eq!(allowances["consumedUsdMicros"], used.to_string().as_str(), "seed {seed} {user}: {read}");
            assert_eq!(allowances["balanceUsdMicros"], (granted[i] - used).to_string().as_str(), "seed {seed} {user}: {read}");
        }
        // The app's report rounds its exact total once too.
        let report: Value = server.builder(Method::GET, &app, "/usage").send().await.unwrap().json().await.unwrap();
        assert_eq!(report["totals"]["networkFeeUsdMicros"], micros(consumed[0] + consumed[1]).to_string().as_str(), "{report}");
        server.finish().await;
    }
}
