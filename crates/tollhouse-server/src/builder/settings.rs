//! `GET`/`PATCH A/settings`: the app's billing policy (mode, soft limit, re-check interval,
//! fail-open), the same settings `tollhouse app set` changes.

use super::auth::authenticate;
use super::error::{BodyTooLarge, BuilderError, BuilderErrors, json_object};
use super::path_params;
use crate::signer::policy::{BillingMode, SignerPolicy, invalidate};
use crate::state::AppState;
use axum::Json;
use axum::extract::rejection::{JsonRejection, PathRejection};
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use tollhouse_core::allowance::parse_usd_micros;
use utoipa::ToSchema;

/// The app's billing settings.
#[derive(Debug, Serialize, ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Settings {
    /// `none` (meter only) or `prepaid` (users need a balance).
    #[schema(value_type = String, pattern = "^(none|prepaid)$")]
    billing_mode: &'static str,
    /// How far below zero a balance may go, micro-USD (decimal string).
    #[schema(value_type = String, pattern = "^[0-9]+$")]
    soft_limit_usd_micros: String,
    /// Seconds between balance re-checks of a running stream.
    balance_recheck_secs: i64,
    /// Whether an unreadable balance lets payments through.
    billing_fail_open: bool,
}

impl From<&SignerPolicy> for Settings {
    fn from(p: &SignerPolicy) -> Self {
        Self {
            billing_mode: p.billing_mode.as_str(),
            soft_limit_usd_micros: p.soft_limit_usd_micros.to_string(),
            balance_recheck_secs: p.balance_recheck_secs,
            billing_fail_open: p.billing_fail_open,
        }
    }
}

/// Body of `PATCH A/settings`: only the fields given change.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct SettingsPatch {
    /// `none` or `prepaid`.
    #[serde(default)]
    #[schema(pattern = "^(none|prepaid)$")]
    billing_mode: Option<String>,
    /// Micro-USD, a decimal string (or JSON integer), 0 or more.
    #[serde(default)]
    #[schema(value_type = Option<String>, pattern = "^[0-9]{1,13}$")]
    soft_limit_usd_micros: Option<Value>,
    /// 1 to 3600.
    #[serde(default)]
    #[schema(minimum = 1, maximum = 3600)]
    balance_recheck_secs: Option<i64>,
    /// Let payments through when the balance cannot be read.
    #[serde(default)]
    billing_fail_open: Option<bool>,
}

async fn policy(state: &AppState, client_id: &str) -> Result<SignerPolicy, BuilderError> {
    let record = state
        .store
        .signer_policy(client_id)
        .await?
        .ok_or_else(|| BuilderError::NotFound("no such app".into()))?;
    Ok(SignerPolicy::from_record(&record)?)
}

/// `GET A/settings`.
#[utoipa::path(
    get,
    path = "/api/v1/apps/{client_id}/settings",
    operation_id = "getSettings",
    tag = "builder",
    params(("client_id" = String, Path, description = "The app's public client id (`app_…`)")),
    security(("m2m_basic" = [])),
    responses((status = 200, description = "The app's billing settings", body = Settings), BuilderErrors)
)]
pub async fn get(
    State(state): State<AppState>,
    client_id: Result<Path<String>, PathRejection>,
    headers: HeaderMap,
) -> Result<Json<Settings>, BuilderError> {
    let client_id = path_params(client_id)?;
    let app = authenticate(&state, &headers, &client_id).await?;
    Ok(Json(Settings::from(
        &policy(&state, app.client_id.as_str()).await?,
    )))
}

/// `PATCH A/settings`, e.g. `{"billingMode":"prepaid","softLimitUsdMicros":"0"}`.
#[utoipa::path(
    patch,
    path = "/api/v1/apps/{client_id}/settings",
    operation_id = "patchSettings",
    tag = "builder",
    params(("client_id" = String, Path, description = "The app's public client id (`app_…`)")),
    request_body(content = SettingsPatch, content_type = "application/json"),
    security(("m2m_basic" = [])),
    responses(
        (status = 200, description = "The settings now", body = Settings),
        BuilderErrors,
        BodyTooLarge
    )
)]
pub async fn patch(
    State(state): State<AppState>,
    client_id: Result<Path<String>, PathRejection>,
    headers: HeaderMap,
    body: Result<Json<Value>, JsonRejection>,
) -> Result<Json<Settings>, BuilderError> {
    let client_id = path_params(client_id)?;
    let app = authenticate(&state, &headers, &client_id).await?;
    let body: SettingsPatch = json_object(body)?;
    let mut current = policy(&state, app.client_id.as_str()).await?;
    if let Some(mode) = &body.billing_mode {
        current.billing_mode = BillingMode::parse(mode)
            .ok_or_else(|| BuilderError::invalid("billingMode must be `none` or `prepaid`"))?;
    }
    if let Some(limit) = &body.soft_limit_usd_micros {
        // Zero is a valid soft limit; parse_usd_micros refuses it, so treat it first.
        current.soft_limit_usd_micros = match limit {
            Value::String(s) if s == "0" => 0,
            Value::Number(n) if n.as_u64() == Some(0) => 0,
            other => parse_usd_micros(other)
                .map_err(|e| BuilderError::invalid(format!("softLimitUsdMicros: {e}")))?,
        };
    }
    if let Some(secs) = body.balance_recheck_secs {
        if !(1..=3600).contains(&secs) {
            return Err(BuilderError::invalid(
                "balanceRecheckSecs must be between 1 and 3600",
            ));
        }
        current.balance_recheck_secs = secs;
    }
    if let Some(open) = body.billing_fail_open {
        current.billing_fail_open = open;
    }
    state
        .store
        .set_signer_policy(app.client_id.as_str(), &current.to_record())
        .await?;
    invalidate(&state);
    Ok(Json(Settings::from(&current)))
}
