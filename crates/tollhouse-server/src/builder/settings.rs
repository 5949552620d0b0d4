//! `GET`/`PATCH A/settings`: the app's billing policy (mode, soft limit, re-check interval,
//! fail-open), the same settings `tollhouse app set` changes, and where its backend signs a
//! device-flow user in (`initiateLoginUri`).

use super::error::{BodyTooLarge, BuilderError, BuilderErrors};
use super::extract::{AppCaller, AppPath, BuilderJson};
use crate::signer::policy::{BillingMode, SignerPolicy, invalidate};
use crate::state::AppState;
use axum::Json;
use axum::extract::State;
use tollhouse_api::UsdMicros;
use tollhouse_api::settings::{BillingMode as WireBillingMode, Settings, SettingsPatch};
use tollhouse_core::allowance::MAX_GRANT_USD_MICROS;

fn settings(p: &SignerPolicy, initiate_login_uri: Option<String>) -> Settings {
    Settings {
        initiate_login_uri,
        billing_mode: match p.billing_mode {
            BillingMode::None => WireBillingMode::None,
            BillingMode::Prepaid => WireBillingMode::Prepaid,
        },
        soft_limit_usd_micros: UsdMicros::new(p.soft_limit_usd_micros),
        balance_recheck_secs: p.balance_recheck_secs,
        billing_fail_open: p.billing_fail_open,
    }
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
    params(AppPath),
    security(("m2m_basic" = [])),
    responses((status = 200, description = "The app's billing settings", body = Settings), BuilderErrors)
)]
pub async fn get(
    State(state): State<AppState>,
    AppCaller(app): AppCaller,
) -> Result<Json<Settings>, BuilderError> {
    let client_id = app.client_id.as_str();
    let uri = state.store.initiate_login_uri(client_id).await?;
    Ok(Json(settings(&policy(&state, client_id).await?, uri)))
}

/// Checks an `initiateLoginUri`: where a browser is sent with a device code, so an absolute
/// `https` URL (plain `http` only to this machine, for development), no fragment.
fn check_initiate_login_uri(uri: &str) -> Result<(), BuilderError> {
    let bad = |why: &str| BuilderError::invalid(format!("initiateLoginUri {why}"));
    if uri.len() > MAX_INITIATE_LOGIN_URI {
        return Err(bad("must be at most 2048 characters"));
    }
    let url = reqwest::Url::parse(uri).map_err(|_| bad("must be an absolute URL"))?;
    let host = url.host_str().unwrap_or_default();
    let loopback = host == "localhost"
        || host
            .trim_matches(['[', ']'])
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback());
    match url.scheme() {
        "https" => {}
        "http" if loopback => {}
        _ => return Err(bad("must be https (http only for localhost)")),
    }
    if url.fragment().is_some() || !url.username().is_empty() || url.password().is_some() {
        return Err(bad("must not hold a fragment or credentials"));
    }
    Ok(())
}

/// Longest `initiateLoginUri`.
const MAX_INITIATE_LOGIN_URI: usize = 2048;

/// `PATCH A/settings`, e.g. `{"billingMode":"prepaid","softLimitUsdMicros":"0"}`.
#[utoipa::path(
    patch,
    path = "/api/v1/apps/{client_id}/settings",
    operation_id = "patchSettings",
    tag = "builder",
    params(AppPath),
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
    AppCaller(app): AppCaller,
    BuilderJson(body): BuilderJson<SettingsPatch>,
) -> Result<Json<Settings>, BuilderError> {
    let mut current = policy(&state, app.client_id.as_str()).await?;
    if let Some(mode) = body.billing_mode {
        current.billing_mode = match mode {
            WireBillingMode::None => BillingMode::None,
            WireBillingMode::Prepaid => BillingMode::Prepaid,
        };
    }
    if let Some(limit) = body.soft_limit_usd_micros {
        let limit = limit.get();
        if !(0..=MAX_GRANT_USD_MICROS).contains(&limit) {
            return Err(BuilderError::invalid(
                "softLimitUsdMicros must be between 0 and 10^15",
            ));
        }
        current.soft_limit_usd_micros = limit;
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
    if let Some(Some(uri)) = &body.initiate_login_uri {
        check_initiate_login_uri(uri)?;
    }
    let client_id = app.client_id.as_str();
    state
        .store
        .set_signer_policy(client_id, &current.to_record())
        .await?;
    if let Some(uri) = &body.initiate_login_uri {
        state
            .store
            .set_initiate_login_uri(client_id, uri.as_deref(), state.clock.now())
            .await?;
    }
    invalidate(&state.signer);
    let uri = state.store.initiate_login_uri(client_id).await?;
    Ok(Json(settings(&current, uri)))
}
