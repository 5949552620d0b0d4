//! Load for `bench/ingest.sh` and `bench/usage_api.sh` (not a test, not shipped).
//!
//! ```text
//! usage_bench produce --brokers H:P --topic T --client-id app_… [--count N] [shape options]
//! usage_bench seed --database-url URL --client-id app_… [--count N] [--price P] [shape options]
//! ```
//!
//! `produce` writes N go-livepeer `create_signed_ticket` envelopes (signer-wire.md §3) to a
//! Kafka topic as fast as the broker takes them. `seed` stores N such envelopes through
//! Tollhouse's own ingest path (`metering::ingest::ingest_into`: the parser, the attribution, the
//! exact valuation and the set-based batch writes the Kafka consumer uses), in batches of 5000,
//! so the rows are exactly those the consumer would store.
//!
//! The shape (deterministic, seeded): `--users` users `bench-user-0000…` of one app, plus 1% of
//! events from an unknown user of that app (unattributed); 4 pipeline/model pairs, each user
//! using "their" pair 80% of the time; `--streams` streams (manifest ids) per user per day;
//! timestamps in order over the `--days` days ending now (as a live topic delivers them);
//! fees of 10^12 to ~10^15 wei (sub-micro-USD remainders); billable seconds with 6 decimals.

use rdkafka::ClientConfig;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::producer::{BaseProducer, BaseRecord, Producer};
use std::time::{Duration, Instant};
use tollhouse_core::Clock as _;
use tollhouse_server::metering::ingest::{RawEvent, Source, ingest_into};

const PAIRS: [(&str, &str); 4] = [
    ("live-video-to-video", "streamdiffusion"),
    ("live-video-to-video", "comfyui"),
    ("text-to-image", "SG161222/RealVisXL_V4.0_Lightning"),
    ("llm", "meta-llama/Meta-Llama-3.1-8B-Instruct"),
];
const DAY_MS: i64 = 86_400_000;

#[derive(Debug)]
struct Shape {
    client_id: String,
    count: u64,
    users: u64,
    streams: u64,
    days: i64,
    now_ms: i64,
}

/// splitmix64: a deterministic stream without a dependency.
#[derive(Debug)]
struct Mix(u64);

impl Mix {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
}

/// Envelope `i` of the stream: (key, JSON bytes).
fn envelope(shape: &Shape, mix: &mut Mix, i: u64) -> (String, Vec<u8>) {
    let r = mix.next();
    let id = format!(
        "{:08x}-{:04x}-4{:03x}-8{:03x}-{:012x}",
        (r >> 32) as u32,
        (r >> 16) as u16,
        r & 0xfff,
        (i >> 48) & 0xfff,
        i & 0xffff_ffff_ffff
    );
    let user = mix.below(shape.users);
    let ext = if mix.below(100) == 0 {
        "unknown-user".to_owned()
    } else {
        format!("bench-user-{user:04}")
    };
    let index = if mix.below(10) < 8 {
        user % 4
    } else {
        mix.below(4)
    };
    let pair = PAIRS.get(index as usize).copied().unwrap_or(PAIRS[0]);
    // In time order, as a live topic delivers them (and as a consumer stores them): event i
    // of N at i/N of the way through the period, give or take a minute.
    let span = i128::from(shape.days) * i128::from(DAY_MS);
    let offset = span * i128::from(i) / i128::from(shape.count.max(1));
    let at_ms = shape.now_ms - i64::try_from(span - offset).unwrap_or(0)
        + i64::try_from(mix.below(60_000)).unwrap_or(0);
    let stream = mix.below(shape.streams);
    let fee = 1_000_000_000_000u64 + mix.below(1_000_000_000_000_000);
    let secs = format!("{}.{:06}", 1 + mix.below(9), mix.below(1_000_000));
    let body = format!(
        r#"{{"id":"{id}","type":"create_signed_ticket","timestamp":"{at_ms}","gateway":"gw-bench","data":{{"auth_id":"{client}:{ext}","computed_fee":"{fee}","session_balance":"0","pipeline":"{pipeline}","model_id":"{model}","pixels":39321600,"billable_secs":{secs},"request_id":"{req:08x}","session_id":"s-{user}-{stream}","manifest_id":"stream-{user}-{day_of}-{stream}","pm_session_id":"0xabc","app":"","orch_address":"0x9c7e6f4a8b1d2c3e4f5a6b7c8d9e0f1a2b3c4d5e","orch_url":"https://orch-1.example:8935","cost":"0.0000000001","current_time_unix":{at_ms},"previous_time_unix":{prev},"sequence_number":{seq},"num_tickets":1,"session_status":"continuing"}}}}"#,
        client = shape.client_id,
        pipeline = pair.0,
        model = pair.1,
        req = (r >> 8) as u32,
        day_of = at_ms.div_euclid(DAY_MS),
        prev = at_ms - 5000,
        seq = i % 1000,
    );
    (id, body.into_bytes())
}

fn arg(args: &[String], name: &str) -> Option<String> {
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1).cloned())
}

fn num(args: &[String], name: &str, default: u64) -> Result<u64, String> {
    match arg(args, name) {
        Some(v) => v.parse().map_err(|e| format!("{name} {v}: {e}")),
        None => Ok(default),
    }
}

async fn produce(args: &[String], shape: &Shape) -> Result<(), String> {
    let brokers = arg(args, "--brokers").ok_or("--brokers is required")?;
    let topic = arg(args, "--topic").ok_or("--topic is required")?;
    let partitions = i32::try_from(num(args, "--partitions", 1)?).map_err(|e| e.to_string())?;
    let admin: AdminClient<DefaultClientContext> = ClientConfig::new()
        .set("bootstrap.servers", &brokers)
        .create()
        .map_err(|e| e.to_string())?;
    let created = admin
        .create_topics(
            &[NewTopic::new(
                &topic,
                partitions,
                TopicReplication::Fixed(1),
            )],
            &AdminOptions::new().operation_timeout(Some(Duration::from_secs(10))),
        )
        .await
        .map_err(|e| format!("create topic: {e}"))?;
    for result in created {
        match result {
            Ok(_) | Err((_, rdkafka::types::RDKafkaErrorCode::TopicAlreadyExists)) => {}
            Err((name, code)) => return Err(format!("create topic {name}: {code}")),
        }
    }
    let producer: BaseProducer = ClientConfig::new()
        .set("bootstrap.servers", &brokers)
        .set("linger.ms", "20")
        .set("batch.num.messages", "10000")
        .set("batch.size", "1000000")
        .set("queue.buffering.max.messages", "1000000")
        .set("queue.buffering.max.kbytes", "1048576")
        .set("message.timeout.ms", "300000")
        .create()
        .map_err(|e| e.to_string())?;
    let started = Instant::now();
    let mut mix = Mix(7);
    for i in 0..shape.count {
        let (key, payload) = envelope(shape, &mut mix, i);
        let mut record = BaseRecord::to(&topic).key(&key).payload(&payload);
        loop {
            match producer.send(record) {
                Ok(()) => break,
                Err((
                    rdkafka::error::KafkaError::MessageProduction(
                        rdkafka::types::RDKafkaErrorCode::QueueFull,
                    ),
                    back,
                )) => {
                    record = back;
                    producer.poll(Duration::from_millis(10));
                }
                Err((e, _)) => return Err(format!("produce: {e}")),
            }
        }
        if i % 10_000 == 0 {
            producer.poll(Duration::ZERO);
        }
    }
    producer
        .flush(Duration::from_secs(300))
        .map_err(|e| format!("flush: {e}"))?;
    let secs = started.elapsed().as_secs_f64();
    println!(
        "PRODUCED count={} secs={secs:.2} rate={:.0}",
        shape.count,
        shape.count as f64 / secs
    );
    Ok(())
}

async fn seed(args: &[String], shape: &Shape) -> Result<(), String> {
    let url = arg(args, "--database-url").ok_or("--database-url is required")?;
    let price = arg(args, "--price").unwrap_or_else(|| "3456.78".into());
    let price = tollhouse_core::money::EthUsdPrice::parse(&price).map_err(|e| e.to_string())?;
    let store = tollhouse_store::SqlStore::connect(&url)
        .await
        .map_err(|e| e.to_string())?;
    let clock = tollhouse_core::SystemClock;
    let rng = tollhouse_core::OsRandom;
    let started = Instant::now();
    let mut mix = Mix(7);
    let mut stored = 0u64;
    let mut i = 0u64;
    // Generate the next batch on a blocking thread while this one is written.
    let next_batch = |mut mix: Mix, from: u64, n: u64| {
        let shape_copy = Shape {
            client_id: shape.client_id.clone(),
            ..*shape
        };
        tokio::task::spawn_blocking(move || {
            let batch: Vec<RawEvent> = (from..from + n)
                .map(|i| RawEvent {
                    payload: envelope(&shape_copy, &mut mix, i).1,
                    source: Source::Http,
                })
                .collect();
            (mix, batch)
        })
    };
    let first = 5000.min(shape.count);
    let mut pending = Some(next_batch(mix, 0, first));
    while let Some(task) = pending.take() {
        let (next_mix, batch) = task.await.map_err(|e| e.to_string())?;
        i += batch.len() as u64;
        mix = next_mix;
        let n = 5000.min(shape.count - i);
        if n > 0 {
            pending = Some(next_batch(Mix(mix.0), i, n));
        }
        let done = ingest_into(&store, price, clock.now(), &rng, batch)
            .await
            .map_err(|e| e.to_string())?;
        stored += done.counts.ingested;
        if i % 500_000 < 5000 {
            let secs = started.elapsed().as_secs_f64();
            eprintln!(
                "seeded {i} of {} ({:.0} events/s)",
                shape.count,
                i as f64 / secs
            );
        }
    }
    let secs = started.elapsed().as_secs_f64();
    println!(
        "SEEDED count={} stored={stored} secs={secs:.1} rate={:.0}",
        shape.count,
        shape.count as f64 / secs
    );
    Ok(())
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let args: Vec<String> = std::env::args().collect();
    let run = async {
        let shape = Shape {
            client_id: arg(&args, "--client-id").ok_or("--client-id is required")?,
            count: num(&args, "--count", 100_000)?,
            users: num(&args, "--users", 300)?,
            streams: num(&args, "--streams", 3)?,
            days: i64::try_from(num(&args, "--days", 60)?).map_err(|e| e.to_string())?,
            now_ms: tollhouse_core::SystemClock.now_millis(),
        };
        match args.get(1).map(String::as_str) {
            Some("produce") => produce(&args, &shape).await,
            Some("seed") => seed(&args, &shape).await,
            _ => Err("usage: usage_bench produce|seed …".to_owned()),
        }
    };
    match run.await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("usage_bench: {err}");
            std::process::ExitCode::FAILURE
        }
    }
}
