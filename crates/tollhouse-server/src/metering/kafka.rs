//! The Kafka consumer of go-livepeer's usage events (`-kafkaGatewayTopic`).
//!
//! At-least-once delivery made exact: a batch's events are written in one transaction (deduped
//! on the envelope id), and only then are its offsets committed. A crash between the two
//! re-delivers the batch, and the dedupe makes the second delivery change nothing.

use super::MeteringState;
use super::ingest::{self, RawEvent, Source};
use crate::config::Config;
use rdkafka::consumer::{CommitMode, Consumer, StreamConsumer};
use rdkafka::{ClientConfig, Message, Offset, TopicPartitionList};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::time::Duration;
use tokio::sync::{OwnedSemaphorePermit, Semaphore, mpsc, watch};
use tokio::task::JoinHandle;
use tollhouse_store::Backend;

/// Next offset to commit per (topic, partition).
type Offsets = BTreeMap<(String, i32), i64>;

/// Most messages written in one transaction. Large: a batch's rollup, block and consumption
/// upserts are one per distinct key (user, day, stream…), not per event, so the bigger the
/// batch the fewer of them each event costs; [`LINGER`] bounds the wait when traffic is light.
pub const MAX_BATCH: usize = 20_000;
/// Batches stored at once on PostgreSQL (each in its own transaction and connection): the
/// events' inserts, most of a batch's time, then run side by side; the rollup upserts of two
/// batches touch rows in the same key order, so they queue rather than deadlock.
const PG_WRITERS: usize = 2;
/// How long a batch waits for more messages after its first one.
const LINGER: Duration = Duration::from_millis(50);
/// Batches read and parsed ahead of the one being written.
const READ_AHEAD: usize = 2;

/// What `/readyz` and `/metrics` report about the consumer.
#[derive(Debug)]
pub struct KafkaStatus {
    /// Whether the last metadata/watermark query reached a broker.
    pub broker_reachable: AtomicBool,
    /// Messages of the topic the group has not committed yet, summed over all its partitions
    /// (-1: not measured yet, or the broker did not answer).
    pub lag: AtomicI64,
}

impl Default for KafkaStatus {
    fn default() -> Self {
        Self {
            broker_reachable: AtomicBool::new(false),
            lag: AtomicI64::new(-1),
        }
    }
}

/// Builds the librdkafka client settings from Tollhouse's configuration.
pub fn client_config(config: &Config, brokers: &str) -> ClientConfig {
    let mut client = ClientConfig::new();
    client
        .set("bootstrap.servers", brokers)
        .set("group.id", &config.kafka.group)
        .set("enable.auto.commit", "false")
        .set("enable.auto.offset.store", "false")
        .set("auto.offset.reset", "earliest")
        .set("session.timeout.ms", "10000")
        .set("client.id", "tollhouse")
        // Keep at least two full batches fetched ahead, whatever the messages' size.
        .set("queued.min.messages", (2 * MAX_BATCH).to_string())
        .set("max.partition.fetch.bytes", "16777216")
        .set("fetch.wait.max.ms", "50");
    let sasl = config.kafka.username.is_some();
    let tls = config.kafka.uses_tls();
    let protocol = match (sasl, tls) {
        (true, true) => "SASL_SSL",
        (true, false) => "SASL_PLAINTEXT",
        (false, true) => "SSL",
        (false, false) => "PLAINTEXT",
    };
    client.set("security.protocol", protocol);
    if let Some(user) = &config.kafka.username {
        client
            .set("sasl.mechanisms", "PLAIN")
            .set("sasl.username", user)
            .set(
                "sasl.password",
                config.kafka.password.as_ref().map_or("", |p| p.expose()),
            );
    }
    if let Some(ca) = &config.kafka.ca_file {
        client.set("ssl.ca.location", ca.display().to_string());
    }
    client
}

/// One batch read from the topic: its parsed events and the offsets to commit once stored.
#[derive(Debug)]
struct ReadBatch {
    parsed: ingest::ParsedBatch,
    /// Next offset per (topic, partition).
    offsets: Offsets,
}

/// Runs the consumer until `stop` turns true. One task reads and parses batches (up to
/// [`MAX_BATCH`] messages, or what arrived within [`LINGER`] of the first); writers store them,
/// each batch in one transaction ([`PG_WRITERS`] at once on PostgreSQL, one on SQLite); a
/// committer commits each batch's offsets only after it and every earlier batch are stored.
/// Store failures (and a missing or stale price) are retried with backoff; broker failures are
/// retried by librdkafka.
pub async fn run(
    state: MeteringState,
    brokers: String,
    status: Arc<KafkaStatus>,
    mut stop: watch::Receiver<bool>,
) {
    let consumer: StreamConsumer = match client_config(&state.config, &brokers).create() {
        Ok(consumer) => consumer,
        Err(err) => {
            tracing::error!(error = %err, "kafka consumer could not be created");
            return;
        }
    };
    if let Err(err) = consumer.subscribe(&[state.config.kafka.topic.as_str()]) {
        tracing::error!(error = %err, "kafka subscribe failed");
        return;
    }
    let consumer = Arc::new(consumer);
    let lag_task = tokio::spawn(watch_lag(
        state.clone(),
        consumer.clone(),
        status.clone(),
        stop.clone(),
    ));
    let (batches, mut ready) = mpsc::channel(READ_AHEAD);
    let reader = tokio::spawn(read_batches(
        state.clone(),
        consumer.clone(),
        status.clone(),
        batches,
        stop.clone(),
    ));
    // Up to `writers` batches are stored at once (each in its own transaction); the committer
    // commits their offsets strictly in order, each only once it and every batch before it
    // are stored, so a crash re-delivers (and the dedupe absorbs) whatever was not committed.
    let writers = match state.store.backend() {
        Backend::Postgres => PG_WRITERS,
        // One writer at a time: a second transaction would only wait for SQLite's write lock.
        Backend::Sqlite => 1,
    };
    let permits = Arc::new(Semaphore::new(writers));
    let (stored, in_order) = mpsc::channel(writers);
    let committer = tokio::spawn(commit_in_order(consumer.clone(), in_order));
    loop {
        let batch = tokio::select! {
            _ = stop.wait_for(|s| *s) => break,
            batch = ready.recv() => batch,
        };
        let Some(batch) = batch else { break };
        let permit = tokio::select! {
            _ = stop.wait_for(|s| *s) => break,
            permit = permits.clone().acquire_owned() => permit,
        };
        let Ok(permit) = permit else { break };
        let task = tokio::spawn(store_until_stored(
            state.clone(),
            batch.parsed,
            stop.clone(),
            permit,
        ));
        if stored.send((task, batch.offsets)).await.is_err() {
            break;
        }
    }
    drop(stored);
    // Batches already being stored finish (or give up on stop) before their offsets are
    // committed in order.
    if let Err(err) = committer.await {
        tracing::warn!(error = %err, "kafka committer task failed");
    }
    reader.abort();
    lag_task.abort();
}

/// Stores one batch durably, retrying with backoff until it is stored (`true`) or we are told
/// to stop (`false`: the batch stays uncommitted and is re-delivered on the next start).
async fn store_until_stored(
    state: MeteringState,
    parsed: ingest::ParsedBatch,
    mut stop: watch::Receiver<bool>,
    _permit: OwnedSemaphorePermit,
) -> bool {
    let mut delay = Duration::from_millis(100);
    loop {
        let started = std::time::Instant::now();
        match ingest::ingest(&state, &parsed).await {
            Ok(_) => {
                tracing::debug!(
                    store_ms = started.elapsed().as_millis() as u64,
                    "kafka batch stored"
                );
                return true;
            }
            Err(err) => {
                tracing::warn!(error = %err, "storing a kafka batch failed; retrying");
                tokio::select! {
                    _ = stop.wait_for(|s| *s) => return false,
                    () = tokio::time::sleep(delay) => {}
                }
                delay = (delay * 2).min(Duration::from_secs(5));
            }
        }
    }
}

/// Commits each batch's offsets once it is stored, in the order the batches were read; stops
/// at the first batch that was not stored (no later offset may be committed past it).
async fn commit_in_order(
    consumer: Arc<StreamConsumer>,
    mut in_order: mpsc::Receiver<(JoinHandle<bool>, Offsets)>,
) {
    while let Some((task, offsets)) = in_order.recv().await {
        match task.await {
            Ok(true) => commit(&consumer, &offsets).await,
            Ok(false) => return,
            Err(err) => {
                tracing::warn!(error = %err, "storing a kafka batch panicked");
                return;
            }
        }
    }
}

/// Reads batches until `stop`, parsing each before handing it over (backpressure: at most
/// [`READ_AHEAD`] batches wait).
async fn read_batches(
    state: MeteringState,
    consumer: Arc<StreamConsumer>,
    status: Arc<KafkaStatus>,
    batches: mpsc::Sender<ReadBatch>,
    mut stop: watch::Receiver<bool>,
) {
    loop {
        let first = tokio::select! {
            _ = stop.wait_for(|s| *s) => return,
            message = consumer.recv() => message,
        };
        let mut raw = Vec::new();
        let mut offsets = BTreeMap::<(String, i32), i64>::new();
        let push = |raw: &mut Vec<RawEvent>,
                    offsets: &mut BTreeMap<(String, i32), i64>,
                    m: &rdkafka::message::BorrowedMessage<'_>| {
            raw.push(RawEvent {
                payload: m.payload().map(<[u8]>::to_vec).unwrap_or_default(),
                source: Source::Kafka {
                    partition: m.partition(),
                    offset: m.offset(),
                },
            });
            match offsets.get_mut(&(m.topic().to_owned(), m.partition())) {
                Some(next) => *next = (*next).max(m.offset() + 1),
                None => {
                    offsets.insert((m.topic().to_owned(), m.partition()), m.offset() + 1);
                }
            }
        };
        match first {
            Ok(m) => push(&mut raw, &mut offsets, &m),
            Err(err) => {
                tracing::warn!(error = %err, "kafka receive failed");
                status.broker_reachable.store(false, Ordering::Relaxed);
                tokio::time::sleep(Duration::from_millis(200)).await;
                continue;
            }
        }
        let first_at = std::time::Instant::now();
        let deadline = tokio::time::Instant::now() + LINGER;
        while raw.len() < MAX_BATCH {
            match tokio::time::timeout_at(deadline, consumer.recv()).await {
                Ok(Ok(m)) => push(&mut raw, &mut offsets, &m),
                Ok(Err(err)) => {
                    tracing::warn!(error = %err, "kafka receive failed");
                    break;
                }
                Err(_) => break,
            }
        }
        let read = first_at.elapsed();
        let messages = raw.len();
        let parsed = ingest::parse_batch(raw, state.rng.as_ref());
        tracing::debug!(
            messages,
            read_ms = read.as_millis() as u64,
            parse_ms = (first_at.elapsed() - read).as_millis() as u64,
            "kafka batch read"
        );
        if batches.send(ReadBatch { parsed, offsets }).await.is_err() {
            return;
        }
    }
}

/// Commits the offsets after a stored batch (synchronously, off the async runtime). A failed
/// commit is only logged: the batch is stored, and a re-delivery is deduplicated.
async fn commit(consumer: &Arc<StreamConsumer>, offsets: &Offsets) {
    let mut list = TopicPartitionList::new();
    for ((topic, partition), next) in offsets {
        if let Err(err) = list.add_partition_offset(topic, *partition, Offset::Offset(*next)) {
            tracing::warn!(error = %err, "bad offset");
        }
    }
    let consumer = consumer.clone();
    let done = tokio::task::spawn_blocking(move || consumer.commit(&list, CommitMode::Sync)).await;
    match done {
        Ok(Ok(())) => {}
        Ok(Err(err)) => tracing::warn!(error = %err, "kafka offset commit failed"),
        Err(err) => tracing::warn!(error = %err, "kafka offset commit task failed"),
    }
}

/// Every few seconds: the group's lag over every partition of the topic, and whether a broker
/// answers. Measured from the topic's metadata and the group's committed offsets, not from this
/// member's assignment, which is empty until a rebalance completes (a restarted consumer would
/// otherwise report lag 0 while its backlog waits).
async fn watch_lag(
    state: MeteringState,
    consumer: Arc<StreamConsumer>,
    status: Arc<KafkaStatus>,
    mut stop: watch::Receiver<bool>,
) {
    let topic = state.config.kafka.topic.clone();
    loop {
        let c = consumer.clone();
        let topic = topic.clone();
        let measured = tokio::task::spawn_blocking(move || -> Option<i64> {
            let timeout = Duration::from_secs(2);
            let metadata = c.fetch_metadata(Some(&topic), timeout).ok()?;
            let partitions: Vec<i32> = metadata
                .topics()
                .iter()
                .find(|t| t.name() == topic)?
                .partitions()
                .iter()
                .map(|p| p.id())
                .collect();
            let mut wanted = TopicPartitionList::new();
            for &p in &partitions {
                wanted.add_partition(&topic, p);
            }
            let committed = c.committed_offsets(wanted, timeout).ok()?;
            let mut lag = 0i64;
            for &p in &partitions {
                let (low, high) = c.fetch_watermarks(&topic, p, timeout).ok()?;
                // No commit yet: the group starts from the earliest offset.
                let position = committed
                    .find_partition(&topic, p)
                    .and_then(|e| match e.offset() {
                        Offset::Offset(o) => Some(o),
                        _ => None,
                    })
                    .unwrap_or(low);
                lag += (high - position).max(0);
            }
            Some(lag)
        })
        .await
        .ok()
        .flatten();
        match measured {
            Some(lag) => {
                status.broker_reachable.store(true, Ordering::Relaxed);
                status.lag.store(lag, Ordering::Relaxed);
                state.metrics.set_kafka_lag(lag);
            }
            None => {
                status.broker_reachable.store(false, Ordering::Relaxed);
                status.lag.store(-1, Ordering::Relaxed);
                state.metrics.set_kafka_lag(-1);
            }
        }
        tokio::select! {
            _ = stop.wait_for(|s| *s) => return,
            () = tokio::time::sleep(Duration::from_secs(2)) => {}
        }
    }
}

/// What a replay did.
#[derive(Debug, Default, Clone, Copy)]
pub struct ReplayOutcome {
    /// Messages read.
    pub consumed: u64,
    /// Events newly stored (a replay of an ingested topic stores none).
    pub ingested: u64,
    /// Events already stored.
    pub duplicate: u64,
    /// Unreadable messages (dead letters, deduplicated by position).
    pub dead_lettered: u64,
}

/// Re-consumes the topic from `from_offset` on every partition up to the high watermarks seen
/// at the start, through the same deduplicating ingest, without touching the consumer group's
/// committed offsets (brokers and topic from `config`). `progress` is called with (messages
/// read, messages to read).
pub async fn replay(
    config: &Config,
    store: &dyn tollhouse_store::Store,
    price: tollhouse_core::money::EthUsdPrice,
    clock: &dyn tollhouse_core::Clock,
    rng: &dyn tollhouse_core::Random,
    from_offset: i64,
    progress: &dyn Fn(u64, u64),
) -> Result<ReplayOutcome, String> {
    use rdkafka::consumer::BaseConsumer;
    let brokers = config
        .kafka
        .brokers
        .as_deref()
        .ok_or("--kafka-brokers is needed to replay")?;
    let mut client = client_config(config, brokers);
    client.set(
        "group.id",
        format!(
            "{}-replay-{}",
            config.kafka.group,
            tollhouse_core::ids::generate_uuid(rng)
        ),
    );
    let consumer: BaseConsumer = client.create().map_err(|e| e.to_string())?;
    let topic = config.kafka.topic.as_str();
    let metadata = consumer
        .fetch_metadata(Some(topic), Duration::from_secs(10))
        .map_err(|e| format!("metadata: {e}"))?;
    let partitions: Vec<i32> = metadata
        .topics()
        .iter()
        .filter(|t| t.name() == topic)
        .flat_map(|t| t.partitions().iter().map(|p| p.id()))
        .collect();
    if partitions.is_empty() {
        return Err(format!(
            "topic `{topic}` has no partitions (does it exist?)"
        ));
    }
    let mut list = TopicPartitionList::new();
    let mut ends = BTreeMap::new();
    let mut total = 0u64;
    for partition in &partitions {
        let (low, high) = consumer
            .fetch_watermarks(topic, *partition, Duration::from_secs(10))
            .map_err(|e| format!("watermarks: {e}"))?;
        let start = from_offset.max(low);
        if start < high {
            list.add_partition_offset(topic, *partition, Offset::Offset(start))
                .map_err(|e| e.to_string())?;
            ends.insert(*partition, high);
            total += u64::try_from(high - start).unwrap_or(0);
        }
    }
    let mut outcome = ReplayOutcome::default();
    if ends.is_empty() {
        progress(0, 0);
        return Ok(outcome);
    }
    consumer.assign(&list).map_err(|e| e.to_string())?;
    let mut batch = Vec::new();
    while !ends.is_empty() {
        match consumer.poll(Duration::from_millis(500)) {
            Some(Ok(m)) => {
                let (partition, offset) = (m.partition(), m.offset());
                if ends.get(&partition).is_some_and(|end| offset < *end) {
                    batch.push(RawEvent {
                        payload: m.payload().map(<[u8]>::to_vec).unwrap_or_default(),
                        source: Source::Kafka { partition, offset },
                    });
                }
                if ends.get(&partition).is_some_and(|end| offset + 1 >= *end) {
                    ends.remove(&partition);
                }
            }
            Some(Err(err)) => return Err(format!("kafka: {err}")),
            None => {}
        }
        if batch.len() >= MAX_BATCH || (ends.is_empty() && !batch.is_empty()) {
            let consumed = batch.len() as u64;
            let done =
                ingest::ingest_into(store, price, clock.now(), rng, std::mem::take(&mut batch))
                    .await
                    .map_err(|e| e.to_string())?;
            outcome.consumed += consumed;
            outcome.ingested += done.counts.ingested;
            outcome.duplicate += done.counts.duplicate;
            outcome.dead_lettered += done.counts.dead_lettered;
            batch.clear();
            progress(outcome.consumed, total);
        }
    }
    Ok(outcome)
}
