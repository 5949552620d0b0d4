//! Support for tests of Kafka ingest: a real Kafka-protocol broker (`tansu`, in memory, on a
//! free port, killed on drop), a producer that waits for acknowledgements, and go-livepeer's
//! usage envelopes.

use crate::harness::{Db, FreshDb, TestServer, config_for};
use rdkafka::ClientConfig;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::producer::{FutureProducer, FutureRecord};
use serde_json::json;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use tollhouse_core::keys::SigningAlg;
use tollhouse_server::config::Config;

/// A `tansu` broker with in-memory storage on a free port; killed on drop.
pub struct Broker {
    child: Child,
    pub address: String,
}

impl Drop for Broker {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Broker {
    pub async fn start() -> Broker {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let tansu = std::env::var("TANSU").unwrap_or_else(|_| {
            let home = std::env::var("HOME").unwrap_or_default();
            let cargo = format!("{home}/.cargo/bin/tansu");
            if std::path::Path::new(&cargo).exists() {
                cargo
            } else {
                "tansu".into()
            }
        });
        let url = format!("tcp://127.0.0.1:{port}");
        let child = Command::new(tansu)
            .args([
                "broker",
                "--listener-url",
                &url,
                "--advertised-listener-url",
                &url,
                "--storage-engine",
                "memory://tansu/",
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("the tansu broker (scripts/setup installs it)");
        let deadline = Instant::now() + Duration::from_secs(20);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "tansu did not start");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        Broker {
            child,
            address: format!("127.0.0.1:{port}"),
        }
    }

    pub async fn create_topic(&self, topic: &str) {
        let admin: AdminClient<DefaultClientContext> = ClientConfig::new()
            .set("bootstrap.servers", &self.address)
            .create()
            .unwrap();
        let results = admin
            .create_topics(
                &[NewTopic::new(topic, 1, TopicReplication::Fixed(1))],
                &AdminOptions::new().operation_timeout(Some(Duration::from_secs(10))),
            )
            .await
            .unwrap();
        for result in results {
            result.unwrap();
        }
    }

    pub fn producer(&self) -> FutureProducer {
        ClientConfig::new()
            .set("bootstrap.servers", &self.address)
            .set("message.timeout.ms", "10000")
            .create()
            .unwrap()
    }
}

/// Produces one message and waits for the broker's acknowledgement.
pub async fn produce(producer: &FutureProducer, topic: &str, key: &str, payload: &[u8]) {
    producer
        .send(
            FutureRecord::to(topic).key(key).payload(payload),
            Duration::from_secs(10),
        )
        .await
        .map_err(|(e, _)| e)
        .unwrap();
}

/// A go-livepeer `create_signed_ticket` envelope, as its Kafka publisher writes it.
pub fn envelope(id: &str, auth_id: &str, fee_wei: &str, pipeline: &str, at_ms: i64) -> Vec<u8> {
    serde_json::to_vec(&json!({
        "id": id, "type": "create_signed_ticket", "timestamp": at_ms.to_string(), "gateway": "gw-1",
        "data": {"auth_id": auth_id, "computed_fee": fee_wei, "session_balance": "0", "pipeline": pipeline,
                 "pixels": 1024, "billable_secs": 5.0, "request_id": "0a1b2c3d", "session_id": "s-1",
                 "manifest_id": "m-1", "pm_session_id": "0xabc", "app": "", "orch_address": "0x01",
                 "orch_url": "https://o.test", "cost": "0.0000000001", "current_time_unix": at_ms,
                 "previous_time_unix": at_ms - 5000, "sequence_number": 1, "num_tickets": 1, "session_status": "continuing"}
    }))
    .unwrap()
}

/// A fresh usage topic on `broker` and a test server on `db` consuming it, valuing usage at
/// `usd_per_eth` (`--eth-usd-price`), with `tweak` applied to the rest of its configuration.
pub async fn consuming_server(
    broker: &Broker,
    db: Db,
    usd_per_eth: &str,
    tweak: impl FnOnce(&mut Config),
) -> (String, TestServer) {
    let topic = format!("usage-{}", uuid::Uuid::new_v4());
    broker.create_topic(&topic).await;
    let fresh = FreshDb::new(db).await;
    let mut config = config_for(&fresh, SigningAlg::RS256);
    config.kafka.brokers = Some(broker.address.clone());
    config.kafka.topic = topic.clone();
    config.price.eth_usd = Some(usd_per_eth.to_owned());
    tweak(&mut config);
    (topic, TestServer::start_on(fresh, config).await)
}
