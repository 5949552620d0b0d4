//! Regression tests of the hardening issue: each reproduces one defect found by probing the
//! server from outside, on both databases.

use crate::backend_tests;
use crate::golivepeer::{SignerState, SignerVerdict, signer_consults_webhook};
use crate::harness::{Db, FreshDb, TestServer, config_for};
use crate::support::signer::SECRET;
use crate::support::store_fault::{PgRelay, SqliteWriteLock};
use reqwest::Method;
use serde_json::{Value, json};
use std::time::Duration;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;
use tollhouse_core::Clock as _;
use tollhouse_core::allowance::{Grant, MAX_GRANT_USD_MICROS, MAX_GRANTS_PER_USER};
use tollhouse_core::keys::SigningAlg;
use tollhouse_server::config::Redacted;

const FLAG: &str = "X-Api-Key:whsec-test-0123456789";

/// A client with go-livepeer's webhook timeout (`http.Client{Timeout: 5 * time.Second}`), for
/// the routes a stalled store must not hold past it either.
fn patient_client() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(5))
        .build()
        .unwrap()
}

/// Reads until the server closes the connection; `true` if it did (EOF or reset) within
/// `limit`. The limit is a bound on a test that would otherwise hang, not a measurement.
async fn closed_within(stream: &mut TcpStream, limit: Duration) -> bool {
    let mut buf = [0u8; 4096];
    let read_all = async {
        loop {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
        }
    };
    tokio::time::timeout(limit, read_all).await.is_ok()
}

backend_tests! {
    async fn a_stalled_store_gets_the_documented_503_inside_go_livepeers_timeout(db: Db) {
        let fresh = FreshDb::new(db).await;
        let relay = match db {
            Db::Postgres => Some(PgRelay::start(&fresh.url).await),
            Db::Sqlite => None,
        };
        let mut config = config_for(&fresh, SigningAlg::RS256);
        config.webhook_secret = Some(Redacted::new(SECRET));
        if let Some(relay) = &relay {
            config.database_url = Some(relay.url.clone());
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

    async fn soft_limit_is_accepted_exactly_as_the_openapi_document_says(db: Db) {
        let server = TestServer::start(db).await;
        let doc: Value = server.http.get(server.url("/api/v1/openapi.json")).send().await.unwrap().json().await.unwrap();
        let schema = &doc["components"]["schemas"]["SettingsPatch"]["properties"]["softLimitUsdMicros"];
        // The string form's pattern, whether the schema is a string or a oneOf of string and integer.
        let alternatives = schema["oneOf"].as_array().into_iter().flatten();
        let pattern = std::iter::once(schema).chain(alternatives).find_map(|item| item["pattern"].as_str())
            .unwrap_or_else(|| panic!("no string pattern in {schema}"));
        let pattern = regex::Regex::new(pattern).unwrap();
        for value in ["0", "1", "9999999999999", "99999999999999", "999999999999999", "1000000000000000",
                      "0001000000000000000", "1000000000000001", "9999999999999999", "10000000000000000", "-1", "1e3", ""] {
            let response = server.builder(Method::PATCH, &server.app, "/settings")
                .json(&json!({"softLimitUsdMicros": value})).send().await.unwrap();
            let accepted = response.status() == 200;
            assert_eq!(accepted, pattern.is_match(value), "{value}: {}", response.status());
        }
        server.finish().await;
    }

    async fn an_end_user_route_asks_for_an_end_user_credential(db: Db) {
        let server = TestServer::start(db).await;
        for auth in [None, Some("Bearer eyJnot.a.token"), Some("Bearer pmth_ak_nope")] {
            let mut request = server.http.get(server.url("/api/v1/user/usage/balance"));
            if let Some(auth) = auth {
                request = request.header("Authorization", auth);
            }
            let response = request.send().await.unwrap();
            assert_eq!(response.status(), 401);
            let body: Value = response.json().await.unwrap();
            let text = body["error_description"].as_str().unwrap();
            assert!(text.contains("end-user credential") && !text.contains("M2M"), "{text}");
        }
        server.finish().await;
    }

    async fn nul_in_stream_key_parameters_is_refused_on_both_stores(db: Db) {
        let server = TestServer::start(db).await;
        server.user_tokens(&server.app, "ada").await;
        for parameters in [json!({"prompt": "a\u{0}b"}), json!({"k\u{0}": 1}), json!({"list": ["ok", "\u{0}"]})] {
            let response = server.builder(Method::POST, &server.app, "/users/ada/stream-keys")
                .json(&json!({"pipeline": "live-video-to-video", "pipelineParameters": parameters}))
                .send().await.unwrap();
            assert_eq!(response.status(), 400, "{parameters}");
        }
        let response = server.builder(Method::POST, &server.app, "/users/ada/stream-keys")
            .json(&json!({"pipeline": "live-video-to-video", "pipelineParameters": {"prompt": "fine"}}))
            .send().await.unwrap();
        assert_eq!(response.status(), 201);
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

    async fn slow_idle_and_greedy_connections_are_closed(db: Db) {
        let fresh = FreshDb::new(db).await;
        let mut config = config_for(&fresh, SigningAlg::RS256);
        config.header_read_timeout_secs = 1;
        config.body_read_timeout_secs = 1;
        config.max_connections_per_ip = 4;
        let server = TestServer::start_on(fresh, config).await;
        let addr = server.server.as_ref().unwrap().addr;
        let limit = Duration::from_secs(15);

        // Connected, nothing sent.
        let mut idle = TcpStream::connect(addr).await.unwrap();
        assert!(closed_within(&mut idle, limit).await, "silent connection stays open");
        // Half a request head.
        let mut half = TcpStream::connect(addr).await.unwrap();
        half.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n").await.unwrap();
        assert!(closed_within(&mut half, limit).await, "half-sent head stays open");
        // A keep-alive connection after one answered request.
        let mut kept = TcpStream::connect(addr).await.unwrap();
        kept.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n").await.unwrap();
        let mut first = [0u8; 12];
        kept.read_exact(&mut first).await.unwrap();
        assert_eq!(&first, b"HTTP/1.1 200");
        assert!(closed_within(&mut kept, limit).await, "idle keep-alive connection stays open");
        // Half a body: the request fails and the connection ends.
        let mut body = TcpStream::connect(addr).await.unwrap();
        let head = format!(
            "POST /api/v1/apps/{}/users HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{{\"externalUserId\":",
            server.app.client_id
        );
        body.write_all(head.as_bytes()).await.unwrap();
        assert!(closed_within(&mut body, limit).await, "half-sent body stays open");

        // One address holds at most four; the fifth is closed at once, the four still work.
        let mut held = Vec::new();
        for _ in 0..4 {
            held.push(TcpStream::connect(addr).await.unwrap());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
        let mut fifth = TcpStream::connect(addr).await.unwrap();
        let _ = fifth.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n").await;
        assert!(closed_within(&mut fifth, limit).await, "fifth connection was served");
        for stream in &mut held {
            stream.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n").await.unwrap();
            let mut status = [0u8; 12];
            stream.read_exact(&mut status).await.unwrap();
            assert_eq!(&status, b"HTTP/1.1 200");
        }
        drop(held);
        tokio::time::sleep(Duration::from_millis(100)).await;
        let again = server.http.get(server.url("/healthz")).send().await.unwrap();
        assert_eq!(again.status(), 200, "a slot is free again once connections close");
        let metrics = server.http.get(server.url("/metrics")).send().await.unwrap().text().await.unwrap();
        assert!(metrics.lines().any(|l| l.starts_with("tollhouse_connections_refused_total ") && !l.ends_with(" 0")), "{metrics}");
        server.finish().await;
    }
}

#[tokio::test]
async fn the_sqlite_database_and_data_dir_are_private() {
    use std::os::unix::fs::PermissionsExt as _;
    let fresh = FreshDb::new(Db::Sqlite).await;
    let dir = fresh.data_dir.path().to_path_buf();
    // An existing directory that others may read, as an operator's `mkdir` leaves it.
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).unwrap();
    let config = config_for(&fresh, SigningAlg::RS256);
    let server = TestServer::start_on(fresh, config).await;
    let mode =
        |path: &std::path::Path| std::fs::metadata(path).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&dir), 0o700, "data dir");
    for name in [
        "tollhouse.db",
        "tollhouse.db-wal",
        "tollhouse.db-shm",
        "master.key",
    ] {
        let path = dir.join(name);
        if path.exists() {
            assert_eq!(mode(&path) & 0o077, 0, "{name} is {:o}", mode(&path));
        } else {
            assert_ne!(name, "tollhouse.db", "database file missing");
        }
    }
    server.finish().await;
}

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
