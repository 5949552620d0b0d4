//! Issue 5, against a real Kafka-protocol broker (`tansu`) on both databases:
//!
//! * crash safety: `tollhouse serve` runs as a child process and is SIGKILLed at random points
//!   of a long ingest (chosen by how many events the Usage API shows consumed, from a seeded RNG;
//!   `KAFKA_CRASH_SEED=n` replays a run), then restarted; the totals end exact: nothing lost,
//!   nothing counted twice, no dead letter stored twice;
//! * the gate: a prepaid user granted $1 is refused (483) by the identity webhook within 2 s of
//!   the event that takes the balance across zero being produced, other users are not; a new
//!   grant restores access; with the store unreachable the webhook answers 503.

// A crash test across processes: the seed and timestamps are the wall clock's on purpose.
#![allow(clippy::disallowed_methods)]

use crate::backend_tests;
use crate::harness::{FreshDb, TestApp, TestServer, config_for, postgres_base_url};
use crate::support::kafka::{Broker, envelope, produce};
use crate::support::signer::{SECRET, verdict};
use rand::rngs::StdRng;
use rand::{Rng as _, SeedableRng as _};
use rdkafka::ClientConfig;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::consumer::{BaseConsumer, Consumer as _};
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::{Offset, TopicPartitionList};
use reqwest::Method;
use serde_json::{Value, json};
use sqlx::Connection as _;
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use tollhouse_core::keys::SigningAlg;
use tollhouse_core::{Clock as _, ManualClock};
use tollhouse_server::config::Redacted;

/// ETH/USD the crash test values events at: $3456.78, so one wei is 345678·10^-14 micro-USD.
const CRASH_PRICE: &str = "3456.78";
const CRASH_PRICE_CENTS: u128 = 345_678;
/// Distinct `create_signed_ticket` envelopes in the crash test's stream.
const DISTINCT: usize = 3000;
/// Partitions of the crash test's topic (offsets are committed per partition).
const PARTITIONS: i32 = 3;
/// The producer stays at most this many distinct events ahead of what has been consumed, so the
/// ingest is spread over many batches and the kills land in the middle of it.
const WINDOW: u64 = 300;
/// Messages enqueued to the producer at a time.
const CHUNK: usize = 60;

/// Micro-USD, rounded up once, of `wei` at $3456.78.
fn crash_micros(wei: u128) -> u128 {
    (wei * CRASH_PRICE_CENTS).div_ceil(100_000_000_000_000)
}

/// Micro-USD, rounded up once, of `wei` at $3000.
fn gate_micros(wei: u128) -> u128 {
    (wei * 3000).div_ceil(1_000_000_000_000)
}

async fn create_topic(broker: &Broker, topic: &str, partitions: i32) {
    let admin: AdminClient<DefaultClientContext> = ClientConfig::new()
        .set("bootstrap.servers", &broker.address)
        .create()
        .unwrap();
    let results = admin
        .create_topics(
            &[NewTopic::new(topic, partitions, TopicReplication::Fixed(1))],
            &AdminOptions::new().operation_timeout(Some(Duration::from_secs(10))),
        )
        .await
        .unwrap();
    for result in results {
        result.unwrap();
    }
}

/// A `tollhouse` command against the test's database, as an operator would run it.
fn tollhouse(db: &FreshDb, args: &[&str]) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_tollhouse"));
    cmd.args(args)
        .arg("--data-dir")
        .arg(db.data_dir.path())
        .arg("--database-url")
        .arg(&db.url)
        .env_remove("TOLLHOUSE_MASTER_KEY")
        .env(
            "TOLLHOUSE_LOG",
            std::env::var("KAFKA_CRASH_LOG").unwrap_or_else(|_| "warn".into()),
        );
    cmd
}

fn tollhouse_json(db: &FreshDb, args: &[&str]) -> Value {
    let output = tollhouse(db, args).output().unwrap();
    assert!(
        output.status.success(),
        "tollhouse {args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).unwrap()
}

/// `tollhouse serve` as a child process; SIGKILLed on drop.
struct Serve {
    child: Child,
    base: String,
    log: PathBuf,
}

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Serve {
    async fn start(db: &FreshDb, brokers: &str, topic: &str, generation: u32) -> Serve {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let log = db.data_dir.path().join(format!("serve-{generation}.log"));
        let child = tollhouse(
            db,
            &[
                "serve",
                "--listen",
                &format!("127.0.0.1:{port}"),
                "--kafka-brokers",
                brokers,
                "--kafka-topic",
                topic,
                "--eth-usd-price",
                CRASH_PRICE,
            ],
        )
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();
        let mut serve = Serve {
            child,
            base: format!("http://127.0.0.1:{port}"),
            log,
        };
        let deadline = Instant::now() + Duration::from_secs(60);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            if let Some(status) = serve.child.try_wait().unwrap() {
                panic!("tollhouse serve exited ({status}): {}", serve.log_tail());
            }
            assert!(Instant::now() < deadline, "tollhouse serve did not start");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        serve
    }

    /// SIGKILL: no shutdown hook, no flush, no offset commit runs.
    fn sigkill(mut self) {
        self.child.kill().unwrap();
        let status = self.child.wait().unwrap();
        use std::os::unix::process::ExitStatusExt as _;
        assert_eq!(
            status.signal(),
            Some(9),
            "tollhouse serve died before the SIGKILL ({status}):\n{}",
            self.log_tail()
        );
    }

    fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(40)..].join("\n")
    }
}

fn http() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .no_proxy()
        .build()
        .unwrap()
}

/// A Builder API call to the child server.
async fn builder_get(
    http: &reqwest::Client,
    serve: &Serve,
    app: &TestApp,
    path: &str,
) -> Option<Value> {
    let response = http
        .get(format!(
            "{}/api/v1/apps/{}{path}",
            serve.base, app.client_id
        ))
        .basic_auth(&app.m2m_client_id, Some(&app.m2m_secret))
        .send()
        .await
        .ok()?;
    if !response.status().is_success() {
        return None;
    }
    response.json().await.ok()
}

/// Events of the app the Usage API shows stored (`None` while the server cannot answer).
async fn consumed(http: &reqwest::Client, serve: &Serve, app: &TestApp) -> Option<u64> {
    builder_get(http, serve, app, "/usage").await?["totals"]["requestCount"].as_u64()
}

/// The consumer group's committed offsets and the high watermarks, per partition.
async fn offsets(brokers: &str, topic: &str) -> Option<Vec<(i64, i64)>> {
    let (brokers, topic) = (brokers.to_owned(), topic.to_owned());
    tokio::task::spawn_blocking(move || {
        // The server's group id; this client never joins the group, it only reads its offsets.
        let consumer: BaseConsumer = ClientConfig::new()
            .set("bootstrap.servers", &brokers)
            .set("group.id", "tollhouse")
            .set("enable.auto.commit", "false")
            .create()
            .ok()?;
        let mut list = TopicPartitionList::new();
        for partition in 0..PARTITIONS {
            list.add_partition(&topic, partition);
        }
        let committed = consumer
            .committed_offsets(list, Duration::from_secs(5))
            .ok()?;
        let mut out = Vec::new();
        for partition in 0..PARTITIONS {
            let (_, high) = consumer
                .fetch_watermarks(&topic, partition, Duration::from_secs(5))
                .ok()?;
            let position = match committed.find_partition(&topic, partition)?.offset() {
                Offset::Offset(o) => o,
                _ => 0,
            };
            out.push((position, high));
        }
        Some(out)
    })
    .await
    .unwrap()
}

/// Enqueues `messages` and waits until the broker acknowledged every one.
async fn produce_all(producer: &FutureProducer, topic: &str, messages: &[(String, Vec<u8>)]) {
    let mut pending = Vec::with_capacity(messages.len());
    for (key, payload) in messages {
        let future = producer
            .send_result(FutureRecord::to(topic).key(key).payload(payload))
            .map_err(|(e, _)| e)
            .unwrap();
        pending.push(future);
    }
    for future in pending {
        future.await.unwrap().map_err(|(e, _)| e).unwrap();
    }
}

/// What the test expects of one user: events and exact wei.
#[derive(Debug, Default, Clone, Copy)]
struct Expected {
    events: u64,
    wei: u128,
}

backend_tests! {
    async fn sigkilled_consumer_loses_and_double_counts_nothing(db: Db) {
        let seed: u64 = std::env::var("KAFKA_CRASH_SEED").ok().and_then(|s| s.parse().ok()).unwrap_or_else(|| rand::thread_rng().r#gen());
        println!("kafka_crash {db:?}: seed {seed} (rerun with KAFKA_CRASH_SEED={seed})");
        let mut rng = StdRng::seed_from_u64(seed);
        let broker = Broker::start().await;
        let topic = format!("usage-{}", uuid::Uuid::new_v4());
        create_topic(&broker, &topic, PARTITIONS).await;
        let fresh = FreshDb::new(db).await;
        let created = tollhouse_json(&fresh, &["app", "create", "--name", "crash", "--json"]);
        let app = TestApp {
            client_id: created["clientId"].as_str().unwrap().to_owned(),
            m2m_client_id: created["m2mClientId"].as_str().unwrap().to_owned(),
            m2m_secret: created["m2mClientSecret"].as_str().unwrap().to_owned(),
        };
        let http = http();
        let mut generation = 0;
        let mut serve = Serve::start(&fresh, &broker.address, &topic, generation).await;
        let users = ["alice", "carol:bob", "dave", "erin"];
        for ext in users {
            let r = http.post(format!("{}/api/v1/apps/{}/users", serve.base, app.client_id)).basic_auth(&app.m2m_client_id, Some(&app.m2m_secret)).json(&json!({"externalUserId": ext})).send().await.unwrap();
            assert!(r.status().is_success(), "{}", r.text().await.unwrap());
        }

        // The stream: DISTINCT envelopes over four users, odd fees (sub-micro remainders), some
        // above 2^64; about one in ten followed by a re-send of an earlier envelope (the same
        // bytes, as an at-least-once producer re-sends), a few unreadable messages.
        let now_ms = crate::harness::wall_clock_now() * 1000;
        let mut expected: BTreeMap<&str, Expected> = BTreeMap::new();
        let mut messages: Vec<(String, Vec<u8>)> = Vec::new();
        let mut distinct_before: Vec<u64> = Vec::new(); // distinct envelopes up to each message
        let mut sent: Vec<usize> = Vec::new(); // message index of each distinct envelope
        let (mut duplicates, mut junk) = (0u64, 0u64);
        for n in 0..DISTINCT {
            let id = uuid::Builder::from_random_bytes(rng.r#gen()).into_uuid().to_string();
            let user = users[rng.gen_range(0..users.len())];
            let wei: u128 = if rng.gen_ratio(1, 40) { rng.gen_range(1u128 << 64..1u128 << 66) } else { rng.gen_range(1_000_000_007..1_000_000_000_000_000) };
            let e = expected.entry(user).or_default();
            e.events += 1;
            e.wei += wei;
            let pipeline = if n % 5 == 0 { "live-video-to-video:streamdiffusion" } else { "live-video-to-video" };
            sent.push(messages.len());
            messages.push((id.clone(), envelope(&id, &format!("{}:{user}", app.client_id), &wei.to_string(), pipeline, now_ms)));
            distinct_before.push(n as u64 + 1);
            if rng.gen_ratio(1, 10) {
                // Half the time a recent one (likely the same batch), else any earlier one.
                let back = if rng.gen_bool(0.5) { rng.gen_range(0..sent.len().min(40)) } else { rng.gen_range(0..sent.len()) };
                let again = messages[sent[sent.len() - 1 - back]].clone();
                messages.push(again);
                distinct_before.push(n as u64 + 1);
                duplicates += 1;
            }
            if rng.gen_ratio(1, 250) {
                messages.push((format!("junk-{n}"), format!("{{\"id\": \"{id}\", not json").into_bytes()));
                distinct_before.push(n as u64 + 1);
                junk += 1;
            }
        }
        let total_wei: u128 = expected.values().map(|e| e.wei).sum();
        assert!(total_wei > u128::from(u64::MAX), "fees above 2^64 are in the stream");

        // Kill points: 4 or 5 counts of consumed events, in the middle 5 %..90 % of the stream.
        let kills_planned = rng.gen_range(4..=5usize);
        let mut targets: Vec<u64> = (0..kills_planned).map(|_| rng.gen_range(DISTINCT as u64 / 20..DISTINCT as u64 * 9 / 10)).collect();
        targets.sort_unstable();
        println!("kafka_crash {db:?}: {} messages ({DISTINCT} distinct, {duplicates} re-sent, {junk} unreadable) on {PARTITIONS} partitions; SIGKILL after {targets:?} events consumed", messages.len());

        let producer = broker.producer();
        let started = Instant::now();
        let mut produced = 0usize;
        let mut last_count = 0u64;
        let mut baseline: Option<u64> = None; // count when this process first answered
        let mut kills: Vec<(u64, u64)> = Vec::new(); // (target, count when killed)
        let mut lag_after_restart: Vec<(u32, Value, Option<i64>)> = Vec::new(); // (process, /readyz lag, real backlog)
        let mut probed = false;
        let deadline = Instant::now() + Duration::from_secs(400);
        loop {
            assert!(Instant::now() < deadline, "stream not consumed: {last_count} of {DISTINCT} after {} kills; last server log:\n{}", kills.len(), serve.log_tail());
            if let Some(count) = consumed(&http, &serve, &app).await {
                assert!(count <= DISTINCT as u64, "{count} events stored, only {DISTINCT} distinct ones exist");
                assert!(count >= last_count, "stored events went down: {last_count} → {count}");
                last_count = count;
                baseline.get_or_insert(count);
            }
            if let Some(&target) = targets.first()
                && last_count >= target
                && baseline.is_some_and(|b| last_count > b)
            {
                // This process has stored part of the stream and is still consuming.
                targets.remove(0);
                kills.push((target, last_count));
                serve.sigkill();
                // tansu 0.6 forms the new generation wrongly if a member joins while the killed
                // one is still in the group (the newcomer ends up leader of an empty assignment
                // and never consumes). Kafka itself waits for the dead member's session to
                // expire; so do we, before the restart: the consumer's session timeout is 10 s.
                tokio::time::sleep(Duration::from_millis(10_500)).await;
                generation += 1;
                serve = Serve::start(&fresh, &broker.address, &topic, generation).await;
                baseline = None;
                probed = false;
                continue;
            }
            if !probed {
                // What /readyz says of this process's lag the first time it reaches the broker,
                // next to the backlog the group really has (reported, not asserted: the server
                // measures every 2 s).
                let ready: Value = match http.get(format!("{}/readyz", serve.base)).send().await {
                    Ok(r) => r.json().await.unwrap_or(Value::Null),
                    Err(_) => Value::Null,
                };
                if ready["kafka"]["brokerReachable"] == json!(true) {
                    let backlog = offsets(&broker.address, &topic).await.map(|o| o.iter().map(|(c, h)| h - c).sum::<i64>());
                    println!("kafka_crash {db:?}: process {generation} first reports lag {} (backlog then: {backlog:?})", ready["kafka"]["lag"]);
                    lag_after_restart.push((generation, ready["kafka"]["lag"].clone(), backlog));
                    probed = true;
                }
            }
            if produced < messages.len() && distinct_before[produced] <= last_count + WINDOW {
                let end = (produced + CHUNK).min(messages.len());
                produce_all(&producer, &topic, &messages[produced..end]).await;
                produced = end;
                continue;
            }
            if produced == messages.len() && (targets.is_empty() || last_count == DISTINCT as u64) {
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        println!("kafka_crash {db:?}: stream produced after {:.1} s", started.elapsed().as_secs_f64());
        println!("kafka_crash {db:?}: SIGKILLed at (target, consumed) {kills:?}; (process, lag /readyz first reported, backlog then) {lag_after_restart:?}");
        assert!(targets.is_empty(), "kill points never reached: {targets:?} (the stream was consumed before a restarted server stored anything)");
        assert!(kills.len() >= 4);

        // Catch up: every distinct event stored and every partition's offset committed.
        let mut last_offsets = None;
        loop {
            assert!(Instant::now() < deadline, "no catch-up: {last_count} of {DISTINCT} stored, offsets (committed, high) {last_offsets:?}; last server log:\n{}", serve.log_tail());
            if let Some(count) = consumed(&http, &serve, &app).await {
                assert!(count <= DISTINCT as u64, "{count} events stored, only {DISTINCT} distinct ones exist");
                last_count = count;
            }
            last_offsets = offsets(&broker.address, &topic).await;
            let committed = last_offsets.as_ref().is_some_and(|o| {
                // Offsets start at 0 and every message takes one, so once every message is
                // committed the committed offsets add up to the number of messages. (tansu 0.6
                // under-reports high watermarks after multi-record batches, so they cannot be the
                // yardstick.)
                o.iter().map(|(c, _)| *c).sum::<i64>() == messages.len() as i64 && o.iter().all(|(c, h)| c >= h)
            });
            if last_count == DISTINCT as u64 && committed {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        // The server reports the same: nothing left behind on any partition.
        let mut ready = Value::Null;
        while ready["kafka"]["lag"] != json!(0) || ready["kafka"]["brokerReachable"] != json!(true) {
            assert!(Instant::now() < deadline, "/readyz never reported lag 0: {ready}");
            tokio::time::sleep(Duration::from_millis(200)).await;
            ready = http.get(format!("{}/readyz", serve.base)).send().await.unwrap().json().await.unwrap();
        }
        println!("kafka_crash {db:?}: caught up after {:.1} s and {} SIGKILLs", started.elapsed().as_secs_f64(), kills.len());

        // Totals: the same figures as an exact computation of the distinct envelopes.
        let all = builder_get(&http, &serve, &app, "/usage").await.unwrap();
        assert_eq!(all["totals"]["requestCount"], json!(DISTINCT), "{all}");
        assert_eq!(all["totals"]["totalFeeWei"], json!(total_wei.to_string()), "{all}");
        assert_eq!(all["totals"]["networkFeeUsdMicros"], json!(crash_micros(total_wei).to_string()), "{all}");
        let by_user = builder_get(&http, &serve, &app, "/usage?groupBy=user").await.unwrap();
        let rows = by_user["byUser"].as_array().unwrap();
        assert_eq!(rows.len(), users.len(), "{by_user}");
        for (user, want) in &expected {
            let row = rows.iter().find(|r| r["externalUserId"] == *user).unwrap_or_else(|| panic!("no row for {user}: {by_user}"));
            assert_eq!((row["requestCount"].as_u64(), row["feeWei"].as_str(), row["networkFeeUsdMicros"].as_str()),
                (Some(want.events), Some(want.wei.to_string().as_str()), Some(crash_micros(want.wei).to_string().as_str())), "{user}");
            // The consumption the balance gate reads is a separate running sum: exact as well.
            let balance = http.get(format!("{}/api/v1/apps/{}/usage/balance", serve.base, app.client_id)).query(&[("externalUserId", user)]).basic_auth(&app.m2m_client_id, Some(&app.m2m_secret)).send().await.unwrap();
            let balance: Value = balance.json().await.unwrap();
            assert_eq!(balance["consumedUsdMicros"], json!(crash_micros(want.wei).to_string()), "{user}: {balance}");
        }
        // Each unreadable message is one dead letter, however often it was re-delivered.
        let letters = tollhouse_json(&fresh, &["usage", "dead-letters", "--json", "--limit", "1000"]);
        let letters = letters.as_array().unwrap();
        assert_eq!(letters.len() as u64, junk, "{letters:?}");
        assert!(letters.iter().all(|d| d["source"] == "kafka" && d["raw"].as_str().unwrap().contains("not json")), "{letters:?}");
        drop(serve);
        fresh.drop_schema().await;
    }
}

/// Moves the server's injected clock along with the wall clock, so cached balances and verdicts
/// age as they would in production while the test waits for the gate.
async fn follow_wall_clock(clock: ManualClock) {
    loop {
        let wall = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_millis() as i64;
        let behind = wall - clock.now_millis();
        if behind > 0 {
            clock.advance_millis(behind);
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

async fn grant(server: &TestServer, app: &TestApp, ext: &str, micros: u128) {
    let r = server
        .builder(Method::POST, app, &format!("/users/{ext}/allowances"))
        .json(&json!({"amountUsdMicros": micros.to_string(), "source": "manual"}))
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success(), "{}", r.text().await.unwrap());
}

async fn consumed_micros(server: &TestServer, app: &TestApp, ext: &str) -> Value {
    let r = server
        .builder(Method::GET, app, "/usage/balance")
        .query(&[("externalUserId", ext)])
        .send()
        .await
        .unwrap();
    let body: Value = r.json().await.unwrap();
    body["consumedUsdMicros"].clone()
}

async fn verdict_for(server: &TestServer, token: &str) -> Value {
    verdict(
        server,
        &[
            ("Authorization", &format!("Bearer {token}")),
            ("X-Request-Id", "r-1"),
        ],
    )
    .await
}

/// Calls the webhook for `token` until it answers anything but 200; panics after `within`.
async fn first_refusal(server: &TestServer, token: &str, within: Duration) -> Value {
    let deadline = Instant::now() + within;
    loop {
        let answer = verdict_for(server, token).await;
        if answer["status"] != 200 {
            return answer;
        }
        assert!(
            Instant::now() < deadline,
            "the webhook still answers 200 after {within:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

backend_tests! {
    async fn gate_closes_within_two_seconds_of_the_crossing_event(db: Db) {
        let broker = Broker::start().await;
        let topic = format!("usage-{}", uuid::Uuid::new_v4());
        broker.create_topic(&topic).await;
        let mut fresh = FreshDb::new(db).await;
        // Named connections, so the test can cut exactly this server's sessions.
        let application_name = fresh.schema.as_ref().map(|schema| format!("th_{schema}"));
        if let Some(name) = &application_name {
            fresh.url.push_str(&format!("&application_name={name}"));
        }
        let mut config = config_for(&fresh, SigningAlg::RS256);
        config.kafka.brokers = Some(broker.address.clone());
        config.kafka.topic = topic.clone();
        config.price.eth_usd = Some("3000".into());
        config.signer.webhook_secret = Some(Redacted::new(SECRET));
        let server = TestServer::start_on(fresh, config).await;
        let ticker = tokio::spawn(follow_wall_clock(server.clock.clone()));
        let app = server.app.clone();
        let patched = server.builder(Method::PATCH, &app, "/settings").json(&json!({"billingMode": "prepaid"})).send().await.unwrap();
        assert_eq!(patched.status(), 200);
        let mut tokens = BTreeMap::new();
        for ext in ["alice", "bob", "carol"] {
            tokens.insert(ext, server.user_tokens(&app, ext).await["access_token"].as_str().unwrap().to_owned());
        }
        grant(&server, &app, "alice", 1_000_000).await;
        grant(&server, &app, "bob", 5_000_000).await;
        grant(&server, &app, "carol", 1_000_000).await;
        for token in tokens.values() {
            assert_eq!(verdict_for(&server, token).await["status"], 200);
        }

        // Usage below $1: about 5 cents an event for alice (odd wei, so remainders below a
        // micro-dollar add up), a little for bob. The gate stays open.
        let producer = broker.producer();
        let now_ms = server.clock.now_millis();
        let (a, b) = (format!("{}:alice", app.client_id), format!("{}:bob", app.client_id));
        let fee: u128 = 16_666_666_666_667 + 13; // $0.0500000000000012 at $3000
        let mut alice_wei = 0u128;
        let mut bob_wei = 0u128;
        let mut below = 0;
        while gate_micros(alice_wei + fee) < 1_000_000 {
            let id = uuid::Uuid::new_v4().to_string();
            produce(&producer, &topic, &id, &envelope(&id, &a, &fee.to_string(), "live-video-to-video", now_ms)).await;
            alice_wei += fee;
            below += 1;
            if below % 4 == 0 {
                let id = uuid::Uuid::new_v4().to_string();
                produce(&producer, &topic, &id, &envelope(&id, &b, "1000000000007", "live", now_ms)).await;
                bob_wei += 1_000_000_000_007;
            }
        }
        let want = json!(gate_micros(alice_wei).to_string());
        let deadline = Instant::now() + Duration::from_secs(60);
        while consumed_micros(&server, &app, "alice").await != want {
            assert!(Instant::now() < deadline, "{below} events below $1 not consumed");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        assert_eq!(consumed_micros(&server, &app, "bob").await, json!(gate_micros(bob_wei).to_string()));
        assert_eq!(verdict_for(&server, &tokens["alice"]).await["status"], 200, "${} of $1 used", gate_micros(alice_wei));

        // The crossing event: alice's exact usage passes $1. Poll the webhook as a signer does
        // until it refuses her; the spec gives it 2 s from the event being produced.
        let id = uuid::Uuid::new_v4().to_string();
        let produced_at = Instant::now();
        produce(&producer, &topic, &id, &envelope(&id, &a, &fee.to_string(), "live-video-to-video", now_ms)).await;
        let acked = produced_at.elapsed();
        alice_wei += fee;
        assert!(gate_micros(alice_wei) > 1_000_000);
        let mut polls = 0;
        let refused = loop {
            let answer = verdict_for(&server, &tokens["alice"]).await;
            polls += 1;
            if answer["status"] != 200 {
                break answer;
            }
            assert!(produced_at.elapsed() < Duration::from_secs(2), "the gate still answers 200 for alice {:?} after the crossing event was produced ({polls} webhook calls, consumption {})", produced_at.elapsed(), consumed_micros(&server, &app, "alice").await);
        };
        let latency = produced_at.elapsed();
        println!("kafka_crash {db:?}: crossing event acknowledged by the broker after {} ms; first 483 after {} ms ({polls} webhook calls)", acked.as_millis(), latency.as_millis());
        assert_eq!(refused, json!({"status": 483, "reason": "insufficient balance", "code": "insufficient_balance"}));
        assert!(latency < Duration::from_secs(2), "483 after {latency:?}");
        assert_eq!(consumed_micros(&server, &app, "alice").await, json!(gate_micros(alice_wei).to_string()));
        assert_eq!(verdict_for(&server, &tokens["bob"]).await["status"], 200, "other users are unaffected");
        assert_eq!(verdict_for(&server, &tokens["carol"]).await["status"], 200, "other users are unaffected");
        // Still refused a while later (no stale cache reopens it), until she gets a new grant.
        tokio::time::sleep(Duration::from_millis(1200)).await;
        assert_eq!(verdict_for(&server, &tokens["alice"]).await["status"], 483);
        grant(&server, &app, "alice", 1_000_000).await;
        assert_eq!(verdict_for(&server, &tokens["alice"]).await["status"], 200, "a new grant restores access");

        // The store becomes unreachable: the gate fails closed with 503 once the cached
        // balances expire (well under two seconds).
        match (&server.db.schema, &application_name) {
            (Some(schema), Some(name)) => {
                // PostgreSQL: the server's schema disappears and its sessions are cut.
                let mut admin = sqlx::PgConnection::connect(&postgres_base_url()).await.unwrap();
                sqlx::query(&format!("ALTER SCHEMA {schema} RENAME TO {schema}_away")).execute(&mut admin).await.unwrap();
                sqlx::query("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = $1").bind(name).execute(&mut admin).await.unwrap();
            }
            _ => server.state().store.close().await,
        }
        for user in ["bob", "alice"] {
            let down = first_refusal(&server, &tokens[user], Duration::from_secs(10)).await;
            assert_eq!((down["status"].clone(), down["code"].clone()), (json!(503), json!("billing_unavailable")), "{user}: {down}");
        }
        if let Some(schema) = &server.db.schema {
            // Back: the gate answers from the store again.
            let mut admin = sqlx::PgConnection::connect(&postgres_base_url()).await.unwrap();
            sqlx::query(&format!("ALTER SCHEMA {schema}_away RENAME TO {schema}")).execute(&mut admin).await.unwrap();
            let deadline = Instant::now() + Duration::from_secs(10);
            while verdict_for(&server, &tokens["bob"]).await["status"] != 200 {
                assert!(Instant::now() < deadline, "the gate did not recover with the store");
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            assert_eq!(verdict_for(&server, &tokens["alice"]).await["status"], 200);
        }
        ticker.abort();
        server.finish().await;
    }
}
