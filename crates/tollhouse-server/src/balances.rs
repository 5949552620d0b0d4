//! A user's prepaid balance, as every surface reports it (Builder, token exchange, facades).
//! The identity webhook's balance gate computes the same figure (see `signer::policy`).

use crate::state::AppState;
use tollhouse_core::allowance::Balance;
use tollhouse_core::user::AppUser;
use tollhouse_store::StoreError;

/// The balance of `user` now.
pub async fn balance_of(state: &AppState, user: &AppUser) -> Result<Balance, StoreError> {
    let grants = state.store.grants_for_user(&user.id).await?;
    let consumed = state.store.consumed_usd_micros(&user.id).await?;
    let soft_limit = crate::signer::policy::policy_of(state, &user.client_id)
        .await?
        .map_or(0, |p| p.soft_limit_usd_micros);
    Ok(Balance::compute(
        &grants,
        consumed,
        state.clock.now(),
        soft_limit,
    ))
}
