//! A user's prepaid balance, as every surface reports it (Builder, token exchange, facades).
//! The identity webhook's balance gate computes the same figure (see `signer::policy`).

use crate::state::AppState;
use tollhouse_core::UnixTime;
use tollhouse_core::allowance::{Balance, Consumption, Grant};
use tollhouse_core::user::AppUser;
use tollhouse_store::{Store, StoreError};

/// The balance of `user` now.
pub async fn balance_of(state: &AppState, user: &AppUser) -> Result<Balance, StoreError> {
    let grants = state.store.grants_for_user(&user.id).await?;
    let now = state.clock.now();
    let consumed = consumption_of(
        state.store.as_ref(),
        &user.client_id,
        &user.id,
        &grants,
        now,
    )
    .await?;
    let soft_limit = crate::signer::policy::policy_of(&state.signer, &user.client_id)
        .await?
        .map_or(0, |p| p.soft_limit_usd_micros);
    Ok(Balance::compute(&grants, &consumed, now, soft_limit))
}

/// What the balance of a user with `grants` needs to know of their consumption at `now`: the
/// total (kept current on ingest) and, once a grant has expired, the consumption before each
/// grant start and end, so usage burns the grants that were active when it happened.
pub async fn consumption_of(
    store: &dyn Store,
    client_id: &str,
    user_id: &str,
    grants: &[Grant],
    now: UnixTime,
) -> Result<Consumption, StoreError> {
    let mut consumption = Consumption::total(store.consumed_usd_micros(user_id).await?);
    let checkpoints = Balance::checkpoints(grants, now);
    let before = store
        .consumed_before_each(client_id, user_id, &checkpoints)
        .await?;
    consumption
        .before
        .extend(checkpoints.into_iter().zip(before));
    Ok(consumption)
}
