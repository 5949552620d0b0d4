//! Endpoints PymtHouse integrators mount in their own backends, served by Tollhouse itself:
//! the app-scoped token endpoint the SDK's direct API-key exchange calls, and the JSON facades
//! for API-key and device-token exchange.

use super::error::OidcError;
use super::exchange::{
    api_key_owner, exchange_response, requested_user_scope, signer_session_for, subject_user,
};
use super::mint;
use super::params::Params;
use crate::state::AppState;
use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, JsonRejection};
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::response::Response;
use serde::Deserialize;
use serde_json::Value;
use std::time::Duration;
use tollhouse_core::app::App;

/// How long an unknown app takes to answer, so response time does not reveal which apps exist.
const UNKNOWN_APP_DELAY: Duration = Duration::from_millis(25);

async fn path_app(state: &AppState, client_id: &str) -> Result<App, OidcError> {
    match state.store.app_by_client_id(client_id).await? {
        Some(app) => Ok(app),
        None => {
            tokio::time::sleep(UNKNOWN_APP_DELAY).await;
            Err(OidcError::NotFound)
        }
    }
}

/// `POST /api/v1/apps/{clientId}/oidc/token`: token exchange with the app taken from the path.
pub async fn app_token(
    State(state): State<AppState>,
    Path(client_id): Path<String>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, OidcError> {
    let params = Params::from_request(&headers, body)?;
    let app = path_app(&state, &client_id).await?;
    match params.require("grant_type")? {
        "urn:ietf:params:oauth:grant-type:token-exchange" => {
            super::exchange::token_exchange(&state, &headers, &params, Some(&app)).await
        }
        other => Err(OidcError::UnsupportedGrantType(
            format!("grant type `{other}` is not supported here").into(),
        )),
    }
}

fn json_body<T: serde::de::DeserializeOwned>(
    body: Result<Json<Value>, JsonRejection>,
) -> Result<T, OidcError> {
    let Json(value) = body.map_err(|r| {
        if r.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE {
            OidcError::BodyTooLarge
        } else {
            OidcError::invalid_request(r.body_text())
        }
    })?;
    if !value.is_object() {
        return Err(OidcError::invalid_request(
            "the request body must be a JSON object",
        ));
    }
    serde_json::from_value(value).map_err(|e| OidcError::InvalidRequest(e.to_string().into()))
}

/// Body of the API-key facade.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct KeyExchange {
    api_key: String,
    #[serde(default)]
    scope: Option<String>,
    #[serde(default)]
    client_id: Option<String>,
}

/// `POST /api/pymthouse/keys/exchange` `{apiKey, scope?, clientId}` → SignerSession.
pub async fn api_key_exchange(
    State(state): State<AppState>,
    body: Result<Json<Value>, JsonRejection>,
) -> Result<Response, OidcError> {
    let body: KeyExchange = json_body(body)?;
    let scope = requested_user_scope(body.scope.as_deref())?;
    let expected = match body.client_id.as_deref() {
        Some(id) => Some(path_app(&state, id).await?),
        None => None,
    };
    let (app, user) = api_key_owner(&state, &body.api_key, expected.as_ref()).await?;
    signer_session_for(&state, &app, &user, &scope).await
}

/// Body of the device-token facade.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct DeviceExchange {
    device_token: String,
    #[serde(default)]
    scope: Option<String>,
    #[serde(default)]
    client_id: Option<String>,
}

/// `POST /api/signer/device/exchange` `{deviceToken, scope?, clientId?}` → a 300 s signer JWT.
/// The device token is the user JWT a device obtained through the device flow.
pub async fn device_exchange(
    State(state): State<AppState>,
    body: Result<Json<Value>, JsonRejection>,
) -> Result<Response, OidcError> {
    let body: DeviceExchange = json_body(body)?;
    let (user, subject_scope, client_id) = subject_user(&state, None, &body.device_token).await?;
    if body.client_id.as_deref().is_some_and(|c| c != client_id) {
        return Err(OidcError::InvalidGrant(
            "the device token belongs to another app".into(),
        ));
    }
    let app = state
        .store
        .app_by_client_id(&client_id)
        .await?
        .ok_or(OidcError::NotFound)?;
    let scope = match body.scope.as_deref() {
        None => subject_scope.to_string(),
        Some(requested) => {
            let requested = tollhouse_core::scope::ScopeSet::parse(requested)
                .map_err(|e| OidcError::InvalidScope(e.to_string().into()))?;
            if !requested.is_subset(&subject_scope) {
                return Err(OidcError::InvalidScope(
                    "scope exceeds the device token's".into(),
                ));
            }
            requested.to_string()
        }
    };
    let token = mint::signer_jwt(&state, &app, &user, &scope, &state.issuer)?;
    state.metrics.token_issued("device_exchange");
    exchange_response(
        &state,
        &user,
        token,
        crate::config::SIGNER_TOKEN_TTL_SECS,
        &scope,
    )
    .await
}
