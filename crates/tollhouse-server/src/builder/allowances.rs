//! Allowance grants and balances: `GET/POST A/users/{ext}/allowances`, `GET A/usage/balance`.

use super::error::{BodyTooLarge, BuilderError, BuilderErrorBody, BuilderErrors};
use super::extract::{AppCaller, AppPath, BuilderJson, BuilderPath, UserPath};
use crate::balances::balance_of;
use crate::state::AppState;
use axum::Json;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use serde::Deserialize;
use tollhouse_api::UsdMicros;
use tollhouse_api::allowances::{
    Allowances, BalanceView, GrantAllowance, GrantResult, MAX_GRANT_USD_MICROS, UserAllowances,
};
use tollhouse_core::allowance::{Balance, Grant, MAX_GRANTS_PER_USER};
use tollhouse_core::ids::generate_uuid;
use tollhouse_core::user::{AppUser, ExternalUserId};
use utoipa::IntoParams;

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

/// A user's prepaid position as the Builder API shows it.
fn allowances(balance: &Balance) -> Allowances {
    Allowances {
        balance_usd_micros: UsdMicros::new(balance.balance_usd_micros),
        consumed_usd_micros: UsdMicros::new(balance.consumed_usd_micros),
        has_access: balance.has_access,
        lifetime_granted_usd_micros: UsdMicros::new(balance.lifetime_granted_usd_micros),
    }
}

/// `GET A/users/{ext}/allowances`.
#[utoipa::path(
    get,
    path = "/api/v1/apps/{client_id}/users/{external_user_id}/allowances",
    operation_id = "getAllowances",
    tag = "builder",
    params(
        AppPath,
        UserPath
    ),
    security(("m2m_basic" = [])),
    responses((status = 200, description = "The user's allowances", body = UserAllowances), BuilderErrors)
)]
pub async fn get_allowances(
    State(state): State<AppState>,
    AppCaller(app): AppCaller,
    BuilderPath(UserPath {
        external_user_id: ext,
        ..
    }): BuilderPath<UserPath>,
) -> Result<Json<UserAllowances>, BuilderError> {
    let user = find_user(&state, app.client_id.as_str(), &ext).await?;
    let balance = balance_of(&state, &user).await?;
    Ok(Json(UserAllowances {
        allowances: allowances(&balance),
        external_user_id: user.external_user_id.to_string(),
    }))
}

/// `text` as unix seconds.
fn grant_time(text: &str, field: &str) -> Result<i64, BuilderError> {
    time::OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339)
        .map(|t| t.unix_timestamp())
        .map_err(|_| BuilderError::invalid(format!("{field} must be an RFC 3339 time")))
}

/// `POST A/users/{ext}/allowances`: an immutable grant, effective now.
#[utoipa::path(
    post,
    path = "/api/v1/apps/{client_id}/users/{external_user_id}/allowances",
    operation_id = "grantAllowance",
    tag = "builder",
    params(
        AppPath,
        UserPath
    ),
    request_body(content = GrantAllowance, content_type = "application/json"),
    security(("m2m_basic" = [])),
    responses(
        (status = 201, description = "The grant is recorded", body = GrantResult),
        (status = 409, description = "The user already holds the most grants one user may hold (`conflict`)", body = BuilderErrorBody),
        BuilderErrors,
        BodyTooLarge
    )
)]
pub async fn grant(
    State(state): State<AppState>,
    AppCaller(app): AppCaller,
    BuilderPath(UserPath {
        external_user_id: ext,
        ..
    }): BuilderPath<UserPath>,
    BuilderJson(body): BuilderJson<GrantAllowance>,
) -> Result<(StatusCode, Json<GrantResult>), BuilderError> {
    let amount = body.amount_usd_micros.get();
    if amount <= 0 {
        return Err(BuilderError::invalid("amountUsdMicros must be positive"));
    }
    if amount > MAX_GRANT_USD_MICROS {
        return Err(BuilderError::invalid(
            "amountUsdMicros exceeds the largest single grant",
        ));
    }
    let source = body.source.unwrap_or_default().as_str().to_owned();
    if body
        .feature_key
        .as_ref()
        .is_some_and(|k| k.is_empty() || k.len() > 128 || k.contains('\0'))
    {
        return Err(BuilderError::invalid(
            "featureKey must be 1 to 128 characters, without NUL",
        ));
    }
    let now = state.clock.now();
    let effective_at = match &body.effective_at {
        Some(t) => grant_time(t, "effectiveAt")?,
        None => now,
    };
    let expires_at = body
        .expires_at
        .as_deref()
        .map(|t| grant_time(t, "expiresAt"))
        .transpose()?;
    if expires_at.is_some_and(|end| end <= effective_at.max(now)) {
        return Err(BuilderError::invalid(
            "expiresAt must be after effectiveAt and in the future",
        ));
    }
    let priority = body.priority.unwrap_or(0);
    if !(0..=1000).contains(&priority) {
        return Err(BuilderError::invalid("priority must be between 0 and 1000"));
    }
    let user = find_user(&state, app.client_id.as_str(), &ext).await?;
    let grant = Grant {
        id: generate_uuid(state.rng.as_ref()),
        client_id: app.client_id.to_string(),
        user_id: user.id.clone(),
        amount_usd_micros: amount,
        source,
        feature_key: body.feature_key,
        effective_at,
        expires_at,
        priority,
        created_at: now,
    };
    if !state
        .store
        .insert_grant(&grant, MAX_GRANTS_PER_USER)
        .await?
    {
        return Err(BuilderError::Conflict(
            format!(
                "the user already holds {MAX_GRANTS_PER_USER} grants, the most one user may hold"
            )
            .into(),
        ));
    }
    // The gate must see the new grant at once, not after its cache expires.
    crate::signer::policy::invalidate(&state.signer);
    let balance = balance_of(&state, &user).await?;
    Ok((
        StatusCode::CREATED,
        Json(GrantResult {
            allowances: allowances(&balance),
            external_user_id: user.external_user_id.to_string(),
            feature_key: grant.feature_key,
            granted_usd_micros: UsdMicros::new(amount),
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
    params(AppPath, BalanceQuery),
    security(("m2m_basic" = [])),
    responses((status = 200, description = "The user's balance", body = BalanceView), BuilderErrors)
)]
pub async fn usage_balance(
    State(state): State<AppState>,
    AppCaller(app): AppCaller,
    query: Result<Query<BalanceQuery>, QueryRejection>,
) -> Result<Json<BalanceView>, BuilderError> {
    let Query(query) = query.map_err(|_| BuilderError::invalid("malformed query string"))?;
    let ext = query
        .external_user_id
        .ok_or_else(|| BuilderError::invalid("externalUserId is required"))?;
    let user = find_user(&state, app.client_id.as_str(), &ext).await?;
    let balance = balance_of(&state, &user).await?;
    Ok(Json(balance_view(&user, &balance)))
}

/// The balance document of `GET A/usage/balance` and the end-user balance route.
pub fn balance_view(user: &AppUser, balance: &Balance) -> BalanceView {
    BalanceView {
        balance_usd_micros: UsdMicros::new(balance.balance_usd_micros),
        consumed_usd_micros: UsdMicros::new(balance.consumed_usd_micros),
        external_user_id: user.external_user_id.to_string(),
        has_access: balance.has_access,
        lifetime_granted_usd_micros: UsdMicros::new(balance.lifetime_granted_usd_micros),
        remaining_usd_micros: UsdMicros::new(balance.balance_usd_micros.max(0)),
    }
}
