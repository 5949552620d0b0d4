//! What the signer surfaces (identity webhook, Live AI webhook, signer proxy) and the balance
//! gate share: the inputs they read and the caches on their hot path. Composed into
//! the application state and taken from it with `FromRef`; the functions below the
//! handlers take a `&SignerState`, never the whole application.

use super::external::ExternalIssuers;
use super::identity::{
    CREDENTIAL_CACHE_CAPACITY, CREDENTIAL_FRESH_MILLIS, CREDENTIAL_GRACE_MILLIS, VerifiedIdentity,
};
use super::policy::{POLICY_FRESH_MILLIS, POLICY_GRACE_MILLIS, SignerPolicy};
use crate::cache::SwrCache;
use crate::config::Config;
use crate::config::VerifierKind;
use crate::keyring::Keyring;
use crate::oidc::verify::OwnTokens;
use std::sync::Arc;
use tollhouse_core::Clock;
use tollhouse_core::allowance::Balance;
use tollhouse_core::secret::Pepper;
use tollhouse_store::Store;

/// The signer's share of the application state; cloning is one `Arc` increment.
#[derive(Clone, Debug)]
pub struct SignerState(Arc<SignerShared>);

/// The contents of [`SignerState`].
#[derive(Debug)]
pub struct SignerShared {
    /// Storage.
    pub store: Arc<dyn Store>,
    /// Time.
    pub clock: Arc<dyn Clock>,
    /// Keys the hashes of stored credentials.
    pub pepper: Pepper,
    /// Tollhouse's signing keys, to verify its own JWTs.
    pub keyring: Arc<Keyring>,
    /// Tollhouse's issuer identifier.
    pub issuer: String,
    /// The deployment's verifiers, in the order they are tried.
    pub verifiers: Vec<VerifierKind>,
    /// Verified end-user credentials by keyed hash, for the identity webhook's hot path.
    pub credentials: SwrCache<[u8; 32], Arc<VerifiedIdentity>>,
    /// Apps' signer policies (`None`: no such app).
    pub policies: SwrCache<String, Option<SignerPolicy>>,
    /// Users' balances as the gate last read them.
    pub gate_balances: SwrCache<String, Balance>,
    /// External OIDC issuers and their cached key sets.
    pub external_issuers: ExternalIssuers,
}

impl SignerState {
    /// Wraps the shared parts.
    pub fn new(shared: SignerShared) -> Self {
        Self(Arc::new(shared))
    }

    /// The signer state of a deployment: its verifiers and external issuers, empty caches of
    /// the sizes the hot path needs.
    pub fn for_deployment(
        config: &Config,
        store: Arc<dyn Store>,
        clock: Arc<dyn Clock>,
        pepper: Pepper,
        keyring: Arc<Keyring>,
        issuer: String,
        http: &reqwest::Client,
    ) -> Self {
        let external_issuers =
            ExternalIssuers::new(&config.signer.external_issuers, http, clock.clone());
        Self::new(SignerShared {
            store,
            clock,
            pepper,
            keyring,
            issuer,
            verifiers: config.signer.webhook_verifiers.clone(),
            credentials: SwrCache::new(
                CREDENTIAL_FRESH_MILLIS,
                CREDENTIAL_GRACE_MILLIS,
                CREDENTIAL_CACHE_CAPACITY,
            ),
            policies: SwrCache::new(POLICY_FRESH_MILLIS, POLICY_GRACE_MILLIS, 10_000),
            gate_balances: SwrCache::new(POLICY_FRESH_MILLIS, POLICY_GRACE_MILLIS, 100_000),
            external_issuers,
        })
    }

    /// What checking Tollhouse's own tokens reads.
    pub fn own_tokens(&self) -> OwnTokens<'_> {
        OwnTokens {
            keyring: &self.keyring,
            issuer: &self.issuer,
            clock: self.clock.as_ref(),
        }
    }

    /// Forgets every cached credential verdict: called after any revocation or deactivation, so
    /// the webhook refuses the credential at once.
    pub fn forget_credentials(&self) {
        self.credentials.clear();
    }

    /// Forgets cached policies and balances (after a policy change or a new grant in-process).
    pub fn forget_policies(&self) {
        self.policies.clear();
        self.gate_balances.clear();
    }

    /// Forgets the gate's cached balance of `user_id` (its consumption changed).
    pub fn forget_balance(&self, user_id: &str) {
        self.gate_balances.remove(&user_id.to_owned());
    }
}

impl std::ops::Deref for SignerState {
    type Target = SignerShared;
    fn deref(&self) -> &SignerShared {
        &self.0
    }
}
