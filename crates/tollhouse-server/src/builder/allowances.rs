//! Allowance grants and balances: `GET/POST A/users/{ext}/allowances`, `GET A/usage/balance`.

use super::auth::authenticate;
use super::error::{BuilderError, json_object};
use crate::balances::balance_of;
use crate::state::AppState;
use axum::Json;
use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{Value, json};
use tollhouse_core::allowance::{Balance, GRANT_SOURCES, Grant, parse_usd_micros};
use tollhouse_core::ids::generate_uuid;
use tollhouse_core::user::{AppUser, ExternalUserId};

pub(super) async fn find_user(
    state: &AppState,
    client_id: &str,
    ext: &str,
) -> Result<AppUser, BuilderError> {
    let ext = ExternalUserId::parse(ext).map_err(|e| BuilderError::invalid(e.to_string()))?;
    state
        .store
        .user_by_external_id(client_id, ext.as_str())
        .await?
        .ok_or_else(|| BuilderError::NotFound("no such user".into()))
}

fn allowances_json(balance: &Balance) -> Value {
    json!({
        "balanceUsdMicros": balance.balance_usd_micros.to_string(),
        "consumedUsdMicros": balance.consumed_usd_micros.to_string(),
        "lifetimeGrantedUsdMicros": balance.lifetime_granted_usd_micros.to_string(),
        "hasAccess": balance.has_access,
    })
}

/// `GET A/users/{ext}/allowances`.
pub async fn get_allowances(
    State(state): State<AppState>,
    Path((client_id, ext)): Path<(String, String)>,
    headers: HeaderMap,
) -> Result<Response, BuilderError> {
    let app = authenticate(&state, &headers, &client_id).await?;
    let user = find_user(&state, app.client_id.as_str(), &ext).await?;
    let balance = balance_of(&state, &user).await?;
    Ok(Json(json!({ "externalUserId": user.external_user_id.as_str(), "allowances": allowances_json(&balance) })).into_response())
}

/// Body of a grant.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GrantBody {
    amount_usd_micros: Value,
    #[serde(default)]
    source: Option<String>,
    #[serde(default)]
    feature_key: Option<String>,
}

/// `POST A/users/{ext}/allowances`: an immutable grant, effective now.
pub async fn grant(
    State(state): State<AppState>,
    Path((client_id, ext)): Path<(String, String)>,
    headers: HeaderMap,
    body: Result<Json<Value>, JsonRejection>,
) -> Result<Response, BuilderError> {
    let app = authenticate(&state, &headers, &client_id).await?;
    let body: GrantBody = json_object(body)?;
    let amount = parse_usd_micros(&body.amount_usd_micros).map_err(BuilderError::invalid)?;
    let source = body.source.unwrap_or_else(|| "manual".into());
    if !GRANT_SOURCES.contains(&source.as_str()) {
        return Err(BuilderError::invalid(
            "source must be one of trial, manual, promo, plan_adjustment",
        ));
    }
    if body
        .feature_key
        .as_ref()
        .is_some_and(|k| k.is_empty() || k.len() > 128)
    {
        return Err(BuilderError::invalid(
            "featureKey must be 1 to 128 characters",
        ));
    }
    let user = find_user(&state, app.client_id.as_str(), &ext).await?;
    let now = state.clock.now();
    let grant = Grant {
        id: generate_uuid(state.rng.as_ref()),
        client_id: app.client_id.to_string(),
        user_id: user.id.clone(),
        amount_usd_micros: amount,
        source,
        feature_key: body.feature_key,
        effective_at: now,
        expires_at: None,
        priority: 0,
        created_at: now,
    };
    state.store.insert_grant(&grant).await?;
    let balance = balance_of(&state, &user).await?;
    let mut body = json!({
        "externalUserId": user.external_user_id.as_str(),
        "grantedUsdMicros": amount.to_string(),
        "allowances": allowances_json(&balance),
    });
    if let (Some(map), Some(key)) = (body.as_object_mut(), grant.feature_key) {
        map.insert("featureKey".into(), key.into());
    }
    Ok((StatusCode::CREATED, Json(body)).into_response())
}

/// Query of `GET A/usage/balance`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BalanceQuery {
    #[serde(default)]
    external_user_id: Option<String>,
}

/// `GET A/usage/balance?externalUserId=`.
pub async fn usage_balance(
    State(state): State<AppState>,
    Path(client_id): Path<String>,
    headers: HeaderMap,
    query: Result<Query<BalanceQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Response, BuilderError> {
    let app = authenticate(&state, &headers, &client_id).await?;
    let Query(query) = query.map_err(|_| BuilderError::invalid("malformed query string"))?;
    let ext = query
        .external_user_id
        .ok_or_else(|| BuilderError::invalid("externalUserId is required"))?;
    let user = find_user(&state, app.client_id.as_str(), &ext).await?;
    let balance = balance_of(&state, &user).await?;
    Ok(Json(balance_json(&user, &balance)).into_response())
}

/// The balance document of `GET A/usage/balance` and the end-user balance route.
pub fn balance_json(user: &AppUser, balance: &Balance) -> Value {
    json!({
        "externalUserId": user.external_user_id.as_str(),
        "balanceUsdMicros": balance.balance_usd_micros.to_string(),
        "remainingUsdMicros": balance.balance_usd_micros.max(0).to_string(),
        "consumedUsdMicros": balance.consumed_usd_micros.to_string(),
        "lifetimeGrantedUsdMicros": balance.lifetime_granted_usd_micros.to_string(),
        "hasAccess": balance.has_access,
    })
}
