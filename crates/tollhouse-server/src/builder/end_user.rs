//! End-user routes, authenticated by the user's own bearer: a user JWT, an opaque signer session
//! or an API key. `GET /api/v1/user/usage/balance` and `GET /api/v1/user/usage`.

use super::allowances::balance_view;
use super::error::{BuilderError, EndUserErrors};
use super::extract::EndUser;
use crate::balances::balance_of;
use crate::state::AppState;
use axum::Json;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, header};
use tollhouse_api::UsdMicros;
use tollhouse_api::allowances::BalanceView;
use tollhouse_api::end_user::{UsageTotals, UserUsage};
use tollhouse_core::ids::{looks_like_signer_session, split_api_key};
use tollhouse_core::user::{AppUser, UserStatus};

pub(super) async fn bearer_user(
    state: &AppState,
    headers: &HeaderMap,
) -> Result<AppUser, BuilderError> {
    let token = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(tollhouse_core::authorization::bearer)
        .ok_or(BuilderError::EndUserUnauthorized)?;
    let user_id = if looks_like_signer_session(token) {
        let session = state
            .store
            .signer_session(state.pepper.hash(token).as_bytes())
            .await?;
        match session.filter(|s| s.revoked_at.is_none() && state.clock.now() < s.expires_at) {
            Some(s) if s.parent.is_some() => {
                let parent = s.parent.as_deref().unwrap_or("");
                (!state.store.is_token_revoked(parent).await?).then_some(s.user_id)
            }
            other => other.map(|s| s.user_id),
        }
    } else if token.starts_with("eyJ") {
        match crate::oidc::verify::verify_user_token(state.own_tokens(), token) {
            Ok(claims)
                if claims.external_user_id.is_some()
                    && !crate::oidc::verify::family_revoked(state.store.as_ref(), &claims)
                        .await? =>
            {
                Some(claims.sub)
            }
            _ => None,
        }
    } else {
        let (_, secret) = split_api_key(token);
        let key = state
            .store
            .api_key_by_hash(state.pepper.hash(secret).as_bytes())
            .await?;
        key.filter(|k| k.revoked_at.is_none()).map(|k| k.user_id)
    };
    let user = match user_id {
        Some(id) => state.store.user_by_id(&id).await?,
        None => None,
    };
    user.filter(|u| u.status == UserStatus::Active)
        .ok_or(BuilderError::EndUserUnauthorized)
}

fn reject_user_id(query: Option<&str>) -> Result<(), BuilderError> {
    let names_user =
        query.is_some_and(|q| q.split('&').any(|p| p.split('=').next() == Some("userId")));
    if names_user {
        return Err(BuilderError::invalid(
            "userId is not accepted here: the bearer token names the user",
        ));
    }
    Ok(())
}

/// `GET /api/v1/user/usage/balance`.
#[utoipa::path(
    get,
    path = "/api/v1/user/usage/balance",
    operation_id = "getMyBalance",
    tag = "end-user",
    security(("user_bearer" = [])),
    responses((status = 200, description = "The caller's balance", body = BalanceView), EndUserErrors)
)]
pub async fn balance(
    State(state): State<AppState>,
    EndUser(user): EndUser,
    RawQuery(query): RawQuery,
) -> Result<Json<BalanceView>, BuilderError> {
    reject_user_id(query.as_deref())?;
    let balance = balance_of(&state, &user).await?;
    Ok(Json(balance_view(&user, &balance)))
}

/// `GET /api/v1/user/usage`: the caller's usage totals, all time.
#[utoipa::path(
    get,
    path = "/api/v1/user/usage",
    operation_id = "getMyUsage",
    tag = "end-user",
    security(("user_bearer" = [])),
    responses((status = 200, description = "The caller's usage totals", body = UserUsage), EndUserErrors)
)]
pub async fn usage(
    State(state): State<AppState>,
    EndUser(user): EndUser,
    RawQuery(query): RawQuery,
) -> Result<Json<UserUsage>, BuilderError> {
    reject_user_id(query.as_deref())?;
    let query = super::usage::all_time_for(user.external_user_id.as_str());
    let report = super::usage::report(&state, &user.client_id, &query).await?;
    let totals = &report.totals;
    Ok(Json(UserUsage {
        external_user_id: user.external_user_id.to_string(),
        source: "tollhouse".to_owned(),
        totals: UsageTotals {
            currency: "USD".to_owned(),
            end_user_billable_usd_micros: totals.network_fee_usd_micros,
            network_fee_usd_micros: totals.network_fee_usd_micros,
            owner_charge_usd_micros: totals.network_fee_usd_micros,
            platform_fee_usd_micros: UsdMicros::ZERO,
            request_count: totals.request_count,
            total_fee_wei: totals.total_fee_wei,
        },
        client_id: user.client_id,
    }))
}
