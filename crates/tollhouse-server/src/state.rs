//! What every handler shares.

use crate::cache::TtlCache;
use crate::config::Config;
use crate::keyring::Keyring;
use crate::metering::MeteringState;
use crate::metrics::Metrics;
use crate::oidc::verify::OwnTokens;
use crate::signer::SignerState;
use axum::extract::FromRef;
use std::sync::Arc;
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
    pub config: Arc<Config>,
    /// Public base URL, no trailing slash.
    pub base_url: String,
    /// The remote signer URL handed to clients (`signer_url`, signer routing): the configured
    /// `signer.remote_signer_url`, else the signer proxy's own URL when the proxy is on.
    pub signer_url: Option<String>,
    /// OIDC issuer identifier.
    pub issuer: String,
    /// Storage.
    pub store: Arc<dyn Store>,
    /// Signing keys.
    pub keyring: Arc<Keyring>,
    /// Seals secrets at rest.
    pub sealing: SealingKey,
    /// Keys the hashes of stored secrets.
    pub pepper: Pepper,
    /// Time.
    pub clock: Arc<dyn Clock>,
    /// Randomness.
    pub rng: Arc<dyn Random>,
    /// Prometheus metrics.
    pub metrics: Arc<Metrics>,
    /// Apps by M2M client id, for the token endpoint's hot path.
    pub m2m_clients: TtlCache<String, App>,
    /// Outbound HTTP (issuer discovery, the signer proxy).
    pub http: reqwest::Client,
    /// The signer surfaces' inputs and caches.
    pub signer: SignerState,
    /// Usage ingest's inputs, the Kafka consumer's health and the ETH/USD price.
    pub metering: MeteringState,
}

impl AppState {
    /// Forgets every cached credential verdict: called after any revocation or deactivation, so
    /// the webhook refuses the credential at once.
    pub fn forget_credentials(&self) {
        self.signer.forget_credentials();
    }

    /// What checking Tollhouse's own tokens reads.
    pub fn own_tokens(&self) -> OwnTokens<'_> {
        OwnTokens {
            keyring: &self.keyring,
            issuer: &self.issuer,
            clock: self.clock.as_ref(),
        }
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

impl FromRef<AppState> for SignerState {
    fn from_ref(state: &AppState) -> Self {
        state.signer.clone()
    }
}

impl FromRef<AppState> for MeteringState {
    fn from_ref(state: &AppState) -> Self {
        state.metering.clone()
    }
}
