//! What every handler shares.

use crate::cache::{SwrCache, TtlCache};
use crate::config::Config;
use crate::keyring::Keyring;
use crate::metrics::Metrics;
use crate::signer::external::ExternalIssuers;
use crate::signer::identity::VerifiedIdentity;
use crate::signer::policy::SignerPolicy;
use std::sync::Arc;
use tollhouse_core::allowance::Balance;
use tollhouse_core::app::App;
use tollhouse_core::master_key::SealingKey;
use tollhouse_core::secret::Pepper;
use tollhouse_core::{Clock, Random};
use tollhouse_store::Store;

/// Shared server state; cloning is one `Arc` increment.
#[derive(Clone, Debug)]
pub struct AppState(Arc<Shared>);

/// The contents of [`AppState`].
#[derive(Debug)]
pub struct Shared {
    /// Resolved configuration.
    pub config: Config,
    /// Public base URL, no trailing slash.
    pub base_url: String,
    /// OIDC issuer identifier.
    pub issuer: String,
    /// Storage.
    pub store: Arc<dyn Store>,
    /// Signing keys.
    pub keyring: Keyring,
    /// Seals secrets at rest.
    pub sealing: SealingKey,
    /// Keys the hashes of stored secrets.
    pub pepper: Pepper,
    /// Time.
    pub clock: Arc<dyn Clock>,
    /// Randomness.
    pub rng: Arc<dyn Random>,
    /// Prometheus metrics.
    pub metrics: Metrics,
    /// Apps by M2M client id, for the token endpoint's hot path.
    pub m2m_clients: TtlCache<String, App>,
    /// Verified end-user credentials by keyed hash, for the identity webhook's hot path.
    pub credentials: SwrCache<[u8; 32], Arc<VerifiedIdentity>>,
    /// Apps' signer policies (`None`: no such app).
    pub policies: SwrCache<String, Option<SignerPolicy>>,
    /// Users' balances as the gate last read them.
    pub gate_balances: SwrCache<String, Balance>,
    /// External OIDC issuers and their cached key sets.
    pub external_issuers: ExternalIssuers,
    /// Outbound HTTP (issuer discovery, the signer proxy).
    pub http: reqwest::Client,
    /// The Kafka usage consumer's health (meaningful when `kafka_brokers` is set).
    pub kafka: Arc<crate::metering::kafka::KafkaStatus>,
    /// The ETH/USD price usage is valued at (static, or refreshed from an oracle).
    pub price: Arc<crate::metering::price::PriceSource>,
}

impl AppState {
    /// Forgets every cached credential verdict: called after any revocation or deactivation, so
    /// the webhook refuses the credential at once.
    pub fn forget_credentials(&self) {
        self.credentials.clear();
    }

    /// Wraps the shared parts.
    pub fn new(shared: Shared) -> Self {
        Self(Arc::new(shared))
    }

    /// Reloads signing keys and forgets expired keys and revocations.
    pub async fn refresh(&self) -> Result<(), crate::keyring::KeyringError> {
        let now = self.clock.now();
        self.store.purge_unpublished_keys(now).await?;
        self.store.purge_expired_revocations(now).await?;
        self.store.purge_expired_device_grants(now).await?;
        self.keyring
            .reload(self.store.as_ref(), &self.sealing, self.clock.as_ref())
            .await
    }
}

impl std::ops::Deref for AppState {
    type Target = Shared;
    fn deref(&self) -> &Shared {
        &self.0
    }
}
