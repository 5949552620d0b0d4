//! Creating apps and rotating their M2M secrets: shared by the CLI, first-start bootstrap and
//! (later) the admin API.

use crate::signer::policy::SignerPolicy;
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
