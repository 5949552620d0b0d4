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
use tollhouse_api::usage::{UsageGrouping, UsageInclude, UsageQuery};
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

/// The query of `GET /api/v1/user/usage`: `GET A/usage`'s, without `userId` (the bearer names
/// the user).
#[derive(Debug, Default, serde::Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(rename_all = "camelCase")]
pub struct MyUsageQuery {
    /// First UTC day, as in `GET A/usage` [default: all time].
    start_date: Option<String>,
    /// Last UTC day, as in `GET A/usage` [default: all time].
    end_date: Option<String>,
    /// `none` (default), `user`, `pipeline_model` or `daily_pipeline`.
    #[param(inline)]
    group_by: Option<UsageGrouping>,
    /// `retail`: price with the app's active plan.
    #[param(inline)]
    include: Option<UsageInclude>,
    /// Only the events of this gateway request.
    gateway_request_id: Option<String>,
}

/// `GET /api/v1/user/usage`: the caller's usage totals, all time.
#[utoipa::path(
    get,
    path = "/api/v1/user/usage",
    operation_id = "getMyUsage",
    tag = "end-user",
    params(MyUsageQuery),
    security(("user_bearer" = [])),
    responses((status = 200, description = "The caller's usage", body = UserUsage), EndUserErrors)
)]
pub async fn usage(
    State(state): State<AppState>,
    EndUser(user): EndUser,
    RawQuery(query): RawQuery,
) -> Result<Json<UserUsage>, BuilderError> {
    reject_user_id(query.as_deref())?;
    let asked: MyUsageQuery = serde_urlencoded::from_str(query.as_deref().unwrap_or_default())
        .map_err(|e| BuilderError::invalid(e.to_string()))?;
    let ext = user.external_user_id.as_str();
    let dated = asked.start_date.is_some() || asked.end_date.is_some();
    let all_time = super::usage::all_time_for(ext);
    let query = UsageQuery {
        // The bearer names the user; without dates, all of their usage.
        user_id: Some(ext.to_owned()),
        start_date: asked.start_date.or(all_time.start_date),
        end_date: asked.end_date.or(all_time.end_date),
        group_by: asked.group_by,
        include: asked.include,
        gateway_request_id: asked.gateway_request_id,
        ..UsageQuery::default()
    };
    if query.group_by == Some(UsageGrouping::Manifest) {
        return Err(BuilderError::invalid(
            "groupBy=manifest is for the app (GET A/usage), not one user",
        ));
    }
    let report = super::usage::report(&state, &user.client_id, &query).await?;
    let totals = &report.totals;
    Ok(Json(UserUsage {
        external_user_id: ext.to_owned(),
        source: "tollhouse".to_owned(),
        totals: UsageTotals {
            currency: "USD".to_owned(),
            end_user_billable_usd_micros: totals.end_user_billable_usd_micros,
            network_fee_usd_micros: totals.network_fee_usd_micros,
            owner_charge_usd_micros: totals.owner_charge_usd_micros,
            platform_fee_usd_micros: UsdMicros::ZERO,
            request_count: totals.request_count,
            total_fee_wei: totals.total_fee_wei,
        },
        period: dated.then(|| report.period.clone()),
        by_user: report.by_user,
        by_pipeline_model: report.by_pipeline_model,
        by_daily_pipeline: report.by_daily_pipeline,
        client_id: user.client_id,
    }))
}
