//! The signing keys a running server holds: the current private key, every still-published
//! public key by `kid`, and the JWKS document pre-rendered once per change.

use crate::config::Config;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use tollhouse_core::keys::{KeyError, PublicKey, SigningAlg, SigningKey};
use tollhouse_core::master_key::SealingKey;
use tollhouse_core::{Clock, Random};
use tollhouse_store::{StoreError, StoredKey};

/// Why the key set could not be loaded or changed.
#[derive(Debug, thiserror::Error)]
pub enum KeyringError {
    /// Storage failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A stored key did not parse or could not be unsealed.
    #[error("signing key {kid}: {reason}")]
    Key {
        /// The key id.
        kid: String,
        /// What was wrong.
        reason: String,
    },
    /// Key generation failed.
    #[error(transparent)]
    Generate(#[from] KeyError),
}

/// One consistent view of the keys.
#[derive(Debug)]
pub struct KeySet {
    /// The key new tokens are signed with.
    pub current: Arc<SigningKey>,
    /// Every published public key by `kid` (the current one included).
    pub published: HashMap<String, PublicKey>,
    /// `{"keys":[…]}`, current key first.
    pub jwks: Arc<[u8]>,
}

/// The shared, reloadable key set.
#[derive(Debug)]
pub struct Keyring {
    /// The set, with the number of the reload that built it.
    set: RwLock<(u64, Arc<KeySet>)>,
    /// Numbers reloads in the order they start.
    reloads: AtomicU64,
}

impl Keyring {
    /// Loads the published keys; creates the first key if the store has none.
    pub async fn load(
        store: &dyn tollhouse_store::Store,
        sealing: &SealingKey,
        config: &Config,
        clock: &dyn Clock,
        rng: &dyn Random,
    ) -> Result<Self, KeyringError> {
        let set = match build_set(store, sealing, clock).await? {
            Some(set) => set,
            None => {
                rotate(
                    store,
                    sealing,
                    config,
                    config.keys.signing_alg,
                    0,
                    clock,
                    rng,
                )
                .await?;
                build_set(store, sealing, clock)
                    .await?
                    .ok_or_else(|| KeyringError::Key {
                        kid: "-".into(),
                        reason: "no current key after creating one".into(),
                    })?
            }
        };
        Ok(Self {
            set: RwLock::new((0, Arc::new(set))),
            reloads: AtomicU64::new(0),
        })
    }

    /// The current snapshot. Cheap: one `Arc` clone under a read lock.
    pub fn snapshot(&self) -> Arc<KeySet> {
        Arc::clone(
            &self
                .set
                .read()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .1,
        )
    }

    /// Re-reads the store, picking up rotations made by the CLI or another instance. Of two
    /// overlapping reloads (the periodic one and an explicit one), the one that started later
    /// wins whichever finishes last, so an older view of the store never replaces a newer one.
    pub async fn reload(
        &self,
        store: &dyn tollhouse_store::Store,
        sealing: &SealingKey,
        clock: &dyn Clock,
    ) -> Result<(), KeyringError> {
        let number = self.reloads.fetch_add(1, Ordering::SeqCst) + 1;
        if let Some(set) = build_set(store, sealing, clock).await? {
            let mut current = self
                .set
                .write()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            if number > current.0 {
                *current = (number, Arc::new(set));
            }
        }
        Ok(())
    }
}

/// Creates a key of `alg`, published at once and current `activate_after` seconds later, so
/// relying parties that cache the JWKS (oauth4webapi refetches on an unknown `kid` only after
/// 60 s) know it before any token carries it. The keys it replaces stay published until every
/// token they may still sign has expired: activation, plus the longest token lifetime, plus the
/// reload interval (a server signs with the old key until its next reload), plus clock skew.
pub async fn rotate(
    store: &dyn tollhouse_store::Store,
    sealing: &SealingKey,
    config: &Config,
    alg: SigningAlg,
    activate_after: i64,
    clock: &dyn Clock,
    rng: &dyn Random,
) -> Result<StoredKey, KeyringError> {
    let (key, der) = SigningKey::generate(alg)?;
    let now = clock.now();
    let stored = StoredKey {
        kid: key.kid().to_owned(),
        alg: alg.as_str().to_owned(),
        public_jwk: key.public().jwk().to_string(),
        private_sealed: sealing.seal(rng, &der, key.kid().as_bytes()),
        created_at: now,
        activates_at: now + activate_after.max(0),
        publish_until: None,
    };
    let keep = config.keys.retired_key_window_secs();
    store.add_key(&stored, stored.activates_at + keep).await?;
    Ok(stored)
}

async fn build_set(
    store: &dyn tollhouse_store::Store,
    sealing: &SealingKey,
    clock: &dyn Clock,
) -> Result<Option<KeySet>, KeyringError> {
    let now = clock.now();
    let stored = store.published_keys(now).await?;
    let mut current = None;
    let mut published = HashMap::new();
    let mut jwks = Vec::new();
    for row in &stored {
        let bad = |reason: String| KeyringError::Key {
            kid: row.kid.clone(),
            reason,
        };
        let jwk: serde_json::Value =
            serde_json::from_str(&row.public_jwk).map_err(|e| bad(e.to_string()))?;
        let public = PublicKey::from_jwk(&jwk).map_err(|e| bad(e.to_string()))?;
        // Rows come newest activation first: the first one already active is current.
        if row.activates_at <= now && current.is_none() {
            let alg: SigningAlg = row.alg.parse().map_err(|e: KeyError| bad(e.to_string()))?;
            let der = sealing
                .open(&row.private_sealed, row.kid.as_bytes())
                .map_err(|e| bad(e.to_string()))?;
            current = Some(Arc::new(
                SigningKey::from_pkcs8(alg, &der).map_err(|e| bad(e.to_string()))?,
            ));
        }
        jwks.push(jwk);
        published.insert(row.kid.clone(), public);
    }
    let Some(current) = current else {
        return Ok(None);
    };
    let body = serde_json::to_vec(&serde_json::json!({ "keys": jwks })).map_err(|e| {
        KeyringError::Key {
            kid: "-".into(),
            reason: e.to_string(),
        }
    })?;
    Ok(Some(KeySet {
        current,
        published,
        jwks: body.into(),
    }))
}
