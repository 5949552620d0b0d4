//! Allowance grants and balances: `GET/POST A/users/{ext}/allowances`, `GET A/usage/balance`.

use super::auth::authenticate;
use super::error::{BodyTooLarge, BuilderError, BuilderErrors, json_object};
use super::path_params;
use crate::balances::balance_of;
use crate::state::AppState;
use axum::Json;
use axum::extract::rejection::{JsonRejection, PathRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use tollhouse_core::allowance::{Balance, GRANT_SOURCES, Grant, parse_usd_micros};
use tollhouse_core::ids::generate_uuid;
use tollhouse_core::user::{AppUser, ExternalUserId};
use utoipa::openapi::schema::{OneOfBuilder, Schema, Type};
use utoipa::openapi::{ObjectBuilder, RefOr};
use utoipa::{IntoParams, ToSchema};

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

/// A user's prepaid position; micro-USD amounts are decimal strings.
#[derive(Debug, Serialize, ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Allowances {
    /// Active grants minus consumption; negative when usage outran the grants.
    #[schema(pattern = "^-?[0-9]+$")]
    balance_usd_micros: String,
    /// Usage valued in USD.
    #[schema(pattern = "^-?[0-9]+$")]
    consumed_usd_micros: String,
    /// Whether the user may still sign.
    has_access: bool,
    /// Everything ever granted.
    #[schema(pattern = "^-?[0-9]+$")]
    lifetime_granted_usd_micros: String,
}

impl From<&Balance> for Allowances {
    fn from(balance: &Balance) -> Self {
        Self {
            balance_usd_micros: balance.balance_usd_micros.to_string(),
            consumed_usd_micros: balance.consumed_usd_micros.to_string(),
            has_access: balance.has_access,
            lifetime_granted_usd_micros: balance.lifetime_granted_usd_micros.to_string(),
        }
    }
}

/// `GET A/users/{ext}/allowances`.
#[derive(Debug, Serialize, ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct UserAllowances {
    /// The user's position.
    allowances: Allowances,
    /// The integrator's id for the user.
    external_user_id: String,
}

/// `POST A/users/{ext}/allowances`.
#[derive(Debug, Serialize, ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct GrantResult {
    /// The user's position after the grant.
    allowances: Allowances,
    /// The integrator's id for the user.
    external_user_id: String,
    /// The grant's feature key, when it has one.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    feature_key: Option<String>,
    /// The amount granted, micro-USD as a decimal string.
    #[schema(pattern = "^[0-9]+$")]
    granted_usd_micros: String,
}

/// `GET A/usage/balance` and `GET /api/v1/user/usage/balance`.
#[derive(Debug, Serialize, ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct BalanceView {
    /// Active grants minus consumption; negative when usage outran the grants.
    #[schema(pattern = "^-?[0-9]+$")]
    balance_usd_micros: String,
    /// Usage valued in USD.
    #[schema(pattern = "^-?[0-9]+$")]
    consumed_usd_micros: String,
    /// The integrator's id for the user.
    external_user_id: String,
    /// Whether the user may still sign.
    has_access: bool,
    /// Everything ever granted.
    #[schema(pattern = "^-?[0-9]+$")]
    lifetime_granted_usd_micros: String,
    /// The balance, floored at zero.
    #[schema(pattern = "^[0-9]+$")]
    remaining_usd_micros: String,
}

/// `GET A/users/{ext}/allowances`.
#[utoipa::path(
    get,
    path = "/api/v1/apps/{client_id}/users/{external_user_id}/allowances",
    operation_id = "getAllowances",
    tag = "builder",
    params(
        ("client_id" = String, Path, description = "The app's public client id (`app_…`)"),
        ("external_user_id" = String, Path, description = "The integrator's id for the user", pattern = "^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$")
    ),
    security(("m2m_basic" = [])),
    responses((status = 200, description = "The user's allowances", body = UserAllowances), BuilderErrors)
)]
pub async fn get_allowances(
    State(state): State<AppState>,
    path: Result<Path<(String, String)>, PathRejection>,
    headers: HeaderMap,
) -> Result<Json<UserAllowances>, BuilderError> {
    let (client_id, ext) = path_params(path)?;
    let app = authenticate(&state, &headers, &client_id).await?;
    let user = find_user(&state, app.client_id.as_str(), &ext).await?;
    let balance = balance_of(&state, &user).await?;
    Ok(Json(UserAllowances {
        allowances: Allowances::from(&balance),
        external_user_id: user.external_user_id.to_string(),
    }))
}

/// Body of a grant.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct GrantBody {
    /// Positive whole micro-USD: a decimal string (preferred) or a JSON integer; at most
    /// 10^18.
    #[schema(schema_with = usd_micros_schema)]
    amount_usd_micros: Value,
    /// `trial`, `manual` (default), `promo` or `plan_adjustment`.
    #[serde(default)]
    #[schema(pattern = "^(trial|manual|promo|plan_adjustment)$")]
    source: Option<String>,
    /// What the grant is for, 1 to 128 bytes of UTF-8, no NUL.
    #[serde(default)]
    feature_key: Option<String>,
}

fn usd_micros_schema() -> RefOr<Schema> {
    OneOfBuilder::new()
        .item(
            ObjectBuilder::new()
                .schema_type(Type::String)
                .pattern(Some("^[0-9]{1,19}$")),
        )
        .item(
            ObjectBuilder::new()
                .schema_type(Type::Integer)
                .minimum(Some(1))
                .maximum(Some(tollhouse_core::allowance::MAX_GRANT_USD_MICROS)),
        )
        .description(Some(
            "Positive whole micro-USD, as a decimal string or a JSON integer",
        ))
        .into()
}

/// `POST A/users/{ext}/allowances`: an immutable grant, effective now.
#[utoipa::path(
    post,
    path = "/api/v1/apps/{client_id}/users/{external_user_id}/allowances",
    operation_id = "grantAllowance",
    tag = "builder",
    params(
        ("client_id" = String, Path, description = "The app's public client id (`app_…`)"),
        ("external_user_id" = String, Path, description = "The integrator's id for the user", pattern = "^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$")
    ),
    request_body(content = GrantBody, content_type = "application/json"),
    security(("m2m_basic" = [])),
    responses(
        (status = 201, description = "The grant is recorded", body = GrantResult),
        BuilderErrors,
        BodyTooLarge
    )
)]
pub async fn grant(
    State(state): State<AppState>,
    path: Result<Path<(String, String)>, PathRejection>,
    headers: HeaderMap,
    body: Result<Json<Value>, JsonRejection>,
) -> Result<(StatusCode, Json<GrantResult>), BuilderError> {
    let (client_id, ext) = path_params(path)?;
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
        .is_some_and(|k| k.is_empty() || k.len() > 128 || k.contains('\0'))
    {
        return Err(BuilderError::invalid(
            "featureKey must be 1 to 128 characters, without NUL",
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
    // The gate must see the new grant at once, not after its cache expires.
    crate::signer::policy::invalidate(&state);
    let balance = balance_of(&state, &user).await?;
    Ok((
        StatusCode::CREATED,
        Json(GrantResult {
            allowances: Allowances::from(&balance),
            external_user_id: user.external_user_id.to_string(),
            feature_key: grant.feature_key,
            granted_usd_micros: amount.to_string(),
        }),
    ))
}

/// Query of `GET A/usage/balance`.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(rename_all = "camelCase")]
#[into_params(parameter_in = Query)]
pub struct BalanceQuery {
    /// The user.
    #[serde(default)]
    #[param(
        required = true,
        nullable = false,
        pattern = "^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$"
    )]
    external_user_id: Option<String>,
}

/// `GET A/usage/balance?externalUserId=`.
#[utoipa::path(
    get,
    path = "/api/v1/apps/{client_id}/usage/balance",
    operation_id = "getUsageBalance",
    tag = "builder",
    params(("client_id" = String, Path, description = "The app's public client id (`app_…`)"), BalanceQuery),
    security(("m2m_basic" = [])),
    responses((status = 200, description = "The user's balance", body = BalanceView), BuilderErrors)
)]
pub async fn usage_balance(
    State(state): State<AppState>,
    client_id: Result<Path<String>, PathRejection>,
    headers: HeaderMap,
    query: Result<Query<BalanceQuery>, QueryRejection>,
) -> Result<Json<BalanceView>, BuilderError> {
    let client_id = path_params(client_id)?;
    let app = authenticate(&state, &headers, &client_id).await?;
    let Query(query) = query.map_err(|_| BuilderError::invalid("malformed query string"))?;
    let ext = query
        .external_user_id
        .ok_or_else(|| BuilderError::invalid("externalUserId is required"))?;
    let user = find_user(&state, app.client_id.as_str(), &ext).await?;
    let balance = balance_of(&state, &user).await?;
    Ok(Json(BalanceView::of(&user, &balance)))
}

impl BalanceView {
    /// The balance document of `GET A/usage/balance` and the end-user balance route.
    pub fn of(user: &AppUser, balance: &Balance) -> Self {
        Self {
            balance_usd_micros: balance.balance_usd_micros.to_string(),
            consumed_usd_micros: balance.consumed_usd_micros.to_string(),
            external_user_id: user.external_user_id.to_string(),
            has_access: balance.has_access,
            lifetime_granted_usd_micros: balance.lifetime_granted_usd_micros.to_string(),
            remaining_usd_micros: balance.balance_usd_micros.max(0).to_string(),
        }
    }
}
