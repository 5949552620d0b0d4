//! A user's prepaid balance, as every surface reports it (Builder, token exchange, facades).
//! Consumption is zero until usage ingest exists; grants are real stored rows.

use crate::state::AppState;
use tollhouse_core::allowance::Balance;
use tollhouse_core::user::AppUser;
use tollhouse_store::StoreError;

/// The balance of `user` now.
pub async fn balance_of(state: &AppState, user: &AppUser) -> Result<Balance, StoreError> {
    let grants = state.store.grants_for_user(&user.id).await?;
    Ok(Balance::compute(&grants, 0, state.clock.now(), 0))
}
