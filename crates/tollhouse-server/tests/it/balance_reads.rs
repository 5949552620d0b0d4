//! A balance read at the bound on grants per user: 1,000 grants, all expired, 2,000 checkpoints,
//! answered by two usage queries whatever the number of grants (`consumed_before_each`), on
//! both databases. The consumption before each checkpoint is checked against a naive model that
//! adds up the stored events one by one, and the balance against the same model's consumption.

use crate::backend_tests;
use crate::harness::TestServer;
use tollhouse_core::Clock as _;
use tollhouse_core::allowance::{Balance, Consumption, Grant, MAX_GRANTS_PER_USER};
use tollhouse_core::money::{ExactUsd, Wei};
use tollhouse_store::{OverLimit, UsageEventRow};

const DAY: i64 = 86_400;
/// 10^-36 USD in one micro-USD: events carry sub-micro parts so rounding once is checked.
const UNITS_PER_MICRO: u128 = 1_000_000_000_000_000_000_000_000_000_000;

/// A signed-ticket event as the store keeps it: `usd` for `user_id` of `client_id` at unix ms
/// `at_ms`, with no fee or pixels. For tests that reach a state (a long life, many days of
/// usage) through the store's own ingest path instead of through thousands of requests.
pub(crate) fn stored_ticket(
    id: &str,
    client_id: &str,
    user_id: &str,
    usd: ExactUsd,
    at_ms: i64,
) -> UsageEventRow {
    UsageEventRow {
        id: format!("{id}:{client_id}"),
        source: "signed_ticket",
        auth_id: format!("{client_id}:{user_id}"),
        client_id: Some(client_id.to_owned()),
        user_id: Some(user_id.to_owned()),
        pipeline: "live-video-to-video".into(),
        model_id: String::new(),
        manifest_id: String::new(),
        gateway_request_id: None,
        request_id: id.to_owned(),
        fee: Wei::ZERO.to_parts().unwrap(),
        usd: usd.to_parts().unwrap(),
        eth_usd_price: String::new(),
        pixels: 0,
        billable_secs: "0".into(),
        billable_micros: 0,
        occurred_at_ms: at_ms,
        price_observed_at_ms: None,
    }
}

backend_tests! {
    async fn a_balance_over_a_thousand_expired_grants_matches_a_naive_model(db: Db) {
        let server = TestServer::start(db).await;
        let app = server.app.clone();
        server.user_tokens(&app, "fay").await;
        let store = server.state().store.clone();
        let user = store.user_by_external_id(&app.client_id, "fay").await.unwrap().unwrap();
        // Start at a UTC midnight, so checkpoints fall on day boundaries as well as inside days.
        let t0 = (server.clock.now() / DAY + 1) * DAY;
        server.clock.set(t0);
        // 1,000 grants of 1,000 micro-USD, each for a span ending somewhere in the next ten days.
        let n = usize::try_from(MAX_GRANTS_PER_USER).unwrap();
        for i in 0..n {
            let i64_i = i64::try_from(i).unwrap();
            let grant = Grant {
                id: uuid::Uuid::new_v4().to_string(),
                client_id: app.client_id.clone(),
                user_id: user.id.clone(),
                amount_usd_micros: 1000,
                source: "trial".into(),
                feature_key: None,
                effective_at: t0 + (i64_i * 7) % (3 * DAY),
                expires_at: Some(t0 + 3 * DAY + i64_i * 600 + (i64_i % 3) * 3600),
                priority: i64_i % 4,
                created_at: t0,
            };
            assert!(store.insert_grant(&grant, MAX_GRANTS_PER_USER).await.unwrap());
        }
        // Events over those ten days, a few a day, some exactly at midnight, each with a fraction
        // of a micro-USD.
        let mut events = Vec::new();
        for i in 0..400usize {
            let k = i64::try_from(i).unwrap();
            let at = if i % 10 == 0 { t0 + (k / 10) * DAY / 4 } else { t0 + k * 2161 };
            let usd = ExactUsd::from_micros_and_units(1 + (i as u128 % 5), (i as u128 * 37) % UNITS_PER_MICRO + 1).unwrap();
            events.push(stored_ticket(&format!("flat-{i}"), &app.client_id, &user.id, usd, at * 1000));
        }
        let counts = store.ingest_usage(&events, &[], server.clock.now(), OverLimit::Refuse).await.unwrap();
        assert_eq!(counts.ingested, 400);
        server.clock.set(t0 + 12 * DAY);
        let now = server.clock.now();

        let grants = store.grants_for_user(&user.id).await.unwrap();
        let checkpoints = Balance::checkpoints(&grants, now);
        assert!(checkpoints.len() > 1000, "{} checkpoints", checkpoints.len());
        let started = std::time::Instant::now();
        let stored = store.consumed_before_each(&app.client_id, &user.id, &checkpoints).await.unwrap();
        let took = started.elapsed();
        // The naive model: every event before the checkpoint, added exactly, rounded up once.
        let before = |at: i64| -> i64 {
            let exact = events.iter()
                .filter(|e| e.occurred_at_ms < at * 1000)
                .map(|e| ExactUsd::from_parts(e.usd).unwrap())
                .fold(ExactUsd::ZERO, |sum, usd| sum.checked_add(usd).unwrap());
            i64::try_from(exact.ceil_micros()).unwrap()
        };
        let model: Vec<i64> = checkpoints.iter().map(|&at| before(at)).collect();
        assert_eq!(stored, model);
        // Reported for the session note, never asserted (tests do not assert wall-clock time).
        eprintln!("consumed_before_each: {} checkpoints over {} grants in {took:?}", checkpoints.len(), grants.len());

        // The balance every surface reports is the one the model's consumption gives.
        let mut consumption = Consumption::total(before(now + 1));
        consumption.before.extend(checkpoints.iter().copied().zip(model));
        let expected = Balance::compute(&grants, &consumption, now, 0);
        let read = tollhouse_server::balances::balance_of(server.state(), &user).await.unwrap();
        assert_eq!(read, expected);
        assert_eq!(read.lifetime_granted_usd_micros, 1_000_000);
        server.finish().await;
    }
}
