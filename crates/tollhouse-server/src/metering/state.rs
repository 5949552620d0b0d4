//! What usage ingest (Kafka and HTTP) and the ETH/USD price source share: the inputs they read,
//! the consumer's health and the price in use. Composed into the application state
//! and taken from it with `FromRef`; the functions below the handlers take a `&MeteringState`.

use super::kafka::KafkaStatus;
use super::price::PriceSource;
use crate::config::Config;
use crate::metrics::Metrics;
use crate::signer::SignerState;
use std::sync::Arc;
use tollhouse_core::{Clock, Random};
use tollhouse_store::Store;

/// Metering's share of the application state; cloning is one `Arc` increment.
#[derive(Clone, Debug)]
pub struct MeteringState(Arc<MeteringShared>);

/// The contents of [`MeteringState`].
#[derive(Debug)]
pub struct MeteringShared {
    /// Resolved configuration (brokers, topic, price settings).
    pub config: Arc<Config>,
    /// Storage.
    pub store: Arc<dyn Store>,
    /// Time.
    pub clock: Arc<dyn Clock>,
    /// Randomness (ids of dead letters).
    pub rng: Arc<dyn Random>,
    /// Prometheus metrics.
    pub metrics: Arc<Metrics>,
    /// Outbound HTTP (the price oracle).
    pub http: reqwest::Client,
    /// The Kafka usage consumer's health (meaningful when `kafka_brokers` is set).
    pub kafka: Arc<KafkaStatus>,
    /// The ETH/USD price usage is valued at (static, or refreshed from an oracle).
    pub price: Arc<PriceSource>,
    /// The balance gate, told of every user whose consumption changed.
    pub signer: SignerState,
}

impl MeteringState {
    /// Wraps the shared parts.
    pub fn new(shared: MeteringShared) -> Self {
        Self(Arc::new(shared))
    }
}

impl std::ops::Deref for MeteringState {
    type Target = MeteringShared;
    fn deref(&self) -> &MeteringShared {
        &self.0
    }
}
