//! Creating apps, rotating their M2M secrets and changing their signer policies: shared by the
//! CLI, first-start bootstrap and (later) the admin API.

use crate::config::VerifierKind;
use crate::signer::policy::{BillingMode, SignerPolicy};
use tollhouse_core::app::{App, AppStatus};
use tollhouse_core::ids::{AppClientId, M2mClientId, generate_client_secret};
use tollhouse_core::scope::ScopeSet;
use tollhouse_core::secret::Pepper;
use tollhouse_core::{Clock, Random};
use tollhouse_store::{Store, StoreError};

/// A new app with its secret, which exists in clear only here, to be shown once.
#[derive(Debug)]
pub struct CreatedApp {
    /// The stored app.
    pub app: App,
    /// The M2M client secret.
    pub m2m_client_secret: String,
}

/// Creates and stores an app.
pub async fn create_app(
    store: &dyn Store,
    pepper: &Pepper,
    clock: &dyn Clock,
    rng: &dyn Random,
    name: &str,
    scopes: ScopeSet,
) -> Result<CreatedApp, StoreError> {
    let secret = generate_client_secret(rng);
    let app = App {
        client_id: AppClientId::generate(rng),
        name: name.to_owned(),
        status: AppStatus::Active,
        allowed_scopes: scopes,
        m2m_client_id: M2mClientId::generate(rng),
        m2m_secret_hash: pepper.hash(&secret),
        created_at: clock.now(),
    };
    store.insert_app(&app).await?;
    Ok(CreatedApp {
        app,
        m2m_client_secret: secret,
    })
}

/// Replaces an app's M2M secret; the old one stops working at once. `None` if no such app.
pub async fn rotate_secret(
    store: &dyn Store,
    pepper: &Pepper,
    clock: &dyn Clock,
    rng: &dyn Random,
    client_id: &str,
) -> Result<Option<CreatedApp>, StoreError> {
    let Some(mut app) = store.app_by_client_id(client_id).await? else {
        return Ok(None);
    };
    let secret = generate_client_secret(rng);
    app.m2m_secret_hash = pepper.hash(&secret);
    if !store
        .set_app_secret_hash(client_id, &app.m2m_secret_hash, clock.now())
        .await?
    {
        return Ok(None);
    }
    Ok(Some(CreatedApp {
        app,
        m2m_client_secret: secret,
    }))
}

/// Reads app `client_id`'s signer policy, lets `edit` change it and stores the result: the one
/// read-modify-write of a policy, for `tollhouse app create|set`. `None`: no such app.
pub async fn edit_policy<E: From<StoreError>>(
    store: &dyn Store,
    client_id: &str,
    edit: impl FnOnce(&mut SignerPolicy) -> Result<(), E>,
) -> Result<Option<SignerPolicy>, E> {
    let Some(record) = store.signer_policy(client_id).await? else {
        return Ok(None);
    };
    let mut policy = SignerPolicy::from_record(&record)?;
    edit(&mut policy)?;
    store
        .set_signer_policy(client_id, &policy.to_record())
        .await?;
    Ok(Some(policy))
}

/// A change to an app's signer policy, as `tollhouse app set` takes it: each `Some` replaces
/// that setting, the rest stay.
#[derive(Debug, Clone, Default)]
pub struct PolicyChange {
    /// Billing mode.
    pub billing_mode: Option<BillingMode>,
    /// How far below zero (micro-USD) a balance may go before the gate closes.
    pub soft_limit_usd_micros: Option<i64>,
    /// Seconds between balance re-checks of a running stream.
    pub balance_recheck_secs: Option<i64>,
    /// Let payments through when the balance cannot be read.
    pub billing_fail_open: Option<bool>,
    /// Verifiers accepted for this app; `Some(None)` returns to the deployment's list.
    pub verifiers: Option<Option<Vec<VerifierKind>>>,
}

impl PolicyChange {
    /// Applies the change to `policy`.
    pub fn apply(self, policy: &mut SignerPolicy) {
        if let Some(mode) = self.billing_mode {
            policy.billing_mode = mode;
        }
        if let Some(limit) = self.soft_limit_usd_micros {
            policy.soft_limit_usd_micros = limit;
        }
        if let Some(secs) = self.balance_recheck_secs {
            policy.balance_recheck_secs = secs;
        }
        if let Some(open) = self.billing_fail_open {
            policy.billing_fail_open = open;
        }
        if let Some(verifiers) = self.verifiers {
            policy.verifiers = verifiers;
        }
    }
}

/// Applies `change` to app `client_id`'s stored policy. `None`: no such app.
pub async fn change_policy(
    store: &dyn Store,
    client_id: &str,
    change: PolicyChange,
) -> Result<Option<SignerPolicy>, StoreError> {
    edit_policy(store, client_id, |policy| {
        change.apply(policy);
        Ok::<_, StoreError>(())
    })
    .await
}

/// `default` (the deployment's list: `None`) or comma-separated verifier names.
pub fn parse_verifiers(list: &str) -> Result<Option<Vec<VerifierKind>>, String> {
    if list.trim() == "default" {
        return Ok(None);
    }
    let kinds = list
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|name| {
            VerifierKind::parse(name).ok_or_else(|| {
                format!("unknown verifier `{name}` (tollhouse_jwt, signer_session, api_key, oidc, trusted_headers)")
            })
        })
        .collect::<Result<Vec<_>, _>>()?;
    if kinds.is_empty() {
        return Err("needs at least one verifier, or `default`".into());
    }
    Ok(Some(kinds))
}
