//! `client_credentials` + `scope=sign:mint_user_token` + `external_user_id`: an app's backend
//! mints a 300 s signer JWT for one of its users (what `@pymthouse/builder-sdk`'s
//! `mintUserSignerToken` and its direct signer proxy call). The answer carries the user's balance.

use super::client_auth::{authenticate_m2m, presented_client};
use super::error::OidcError;
use super::exchange::{SignerSession, exchange_response};
use super::mint;
use super::params::Params;
use crate::state::AppState;
use axum::http::HeaderMap;
use tollhouse_core::ids::generate_uuid;
use tollhouse_core::scope::ScopeSet;
use tollhouse_core::user::{AppUser, ExternalUserId, UserStatus};

/// The scope that lets an M2M client mint user signer tokens.
pub const MINT_SCOPE: &str = "sign:mint_user_token";

/// Mints the user's signer JWT. Unknown users are created (the M2M client may upsert users
/// anyway), but only once the mint is allowed: a refused request (402 in a prepaid app) leaves
/// no user behind. Deactivated users get nothing.
pub async fn mint_user_signer_token(
    state: &AppState,
    headers: &HeaderMap,
    params: &Params,
) -> Result<SignerSession, OidcError> {
    let app = authenticate_m2m(state, presented_client(headers, params)?).await?;
    let requested = ScopeSet::parse(params.get("scope")?.unwrap_or(MINT_SCOPE))
        .map_err(|e| OidcError::InvalidScope(e.to_string().into()))?;
    if !requested.contains(MINT_SCOPE) || !app.allowed_scopes.contains(MINT_SCOPE) {
        return Err(OidcError::InvalidScope(
            format!("minting a user token needs the `{MINT_SCOPE}` scope").into(),
        ));
    }
    let ext = params.require("external_user_id")?;
    let ext =
        ExternalUserId::parse(ext).map_err(|e| OidcError::InvalidRequest(e.to_string().into()))?;
    let audience = match params.get("audience")?.or(params.get("resource")?) {
        None => state.issuer.clone(),
        Some(aud) if aud == state.issuer => aud.to_owned(),
        Some(_) => {
            return Err(OidcError::InvalidTarget(
                "signer tokens are issued for this issuer only".into(),
            ));
        }
    };
    let now = state.clock.now();
    let new = AppUser {
        id: generate_uuid(state.rng.as_ref()),
        client_id: app.client_id.to_string(),
        external_user_id: ext,
        email: None,
        status: UserStatus::Active,
        created_at: now,
        display_name: None,
        avatar_url: None,
    };
    let known = state
        .store
        .user_by_external_id(new.client_id.as_str(), new.external_user_id.as_str())
        .await?;
    let (user, balance) = match known {
        Some(user) => {
            if user.status != UserStatus::Active {
                return Err(OidcError::InvalidGrant("the user is deactivated".into()));
            }
            let balance = super::exchange::require_allowance(state, &user).await?;
            (user, balance)
        }
        None => {
            // A user not yet stored has no grants and no usage: check the app's policy against
            // that empty balance first, then store them.
            let balance = super::exchange::require_allowance(state, &new).await?;
            let (user, _) = state.store.upsert_user(&new, None, None, now).await?;
            if user.status != UserStatus::Active {
                return Err(OidcError::InvalidGrant("the user is deactivated".into()));
            }
            (user, balance)
        }
    };
    let token = mint::signer_jwt(state, &app, &user, "sign:job", &audience, None)?;
    state.metrics.token_issued("mint_user_token");
    Ok(exchange_response(
        state,
        &balance,
        token,
        crate::config::SIGNER_TOKEN_TTL_SECS,
        "sign:job",
    ))
}
