//! Endpoints PymtHouse integrators mount in their own backends, served by Tollhouse itself:
//! the app-scoped token endpoint the SDK's direct API-key exchange calls, and the JSON facades
//! for API-key and device-token exchange.

use super::NoStore;
use super::error::{FacadeErrors, OAuthErrorBody, OAuthErrors, OidcError};
use super::exchange::{
    SignerSession, api_key_owner, exchange_response, requested_user_scope, signer_session_for,
    subject_user,
};
use super::grants::{GrantType, SubjectTokenType, form_enum};
use super::mint;
use super::params::Params;
use crate::state::AppState;
use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, JsonRejection, PathRejection};
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use serde_json::Value;
use std::time::Duration;
use tollhouse_api::oauth::{DeviceExchange, KeyExchange};
use tollhouse_core::app::App;
use utoipa::ToSchema;

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

/// The parameters of the app-scoped token endpoint (form-encoded): a token exchange only.
#[derive(Debug, ToSchema)]
#[allow(dead_code)]
pub struct AppTokenRequest {
    /// Only the token exchange is served here.
    #[schema(pattern = "^urn:ietf:params:oauth:grant-type:token-exchange$")]
    grant_type: String,
    /// A user JWT of this app (needs M2M credentials) or an API key.
    subject_token: String,
    /// The subject token's type.
    subject_token_type: SubjectTokenType,
    /// Requested scopes, space-separated.
    scope: Option<String>,
    /// `{issuer}` for a signer JWT; `urn:pmth:device_code:CODE` approves a device login.
    resource: Option<String>,
    /// Audience, as `resource`.
    audience: Option<String>,
    /// The M2M client id (`client_secret_post`).
    client_id: Option<String>,
    /// The M2M client secret (`client_secret_post`).
    client_secret: Option<String>,
}

/// `POST /api/v1/apps/{clientId}/oidc/token`: token exchange with the app taken from the path.
#[utoipa::path(
    post,
    path = "/api/v1/apps/{client_id}/oidc/token",
    operation_id = "appTokenExchange",
    tag = "facades",
    params(("client_id" = String, Path, description = "The app's public client id (`app_…`)")),
    request_body(content = AppTokenRequest, content_type = "application/x-www-form-urlencoded"),
    security((), ("m2m_basic" = [])),
    responses(
        (status = 200, description = "A signer session or signer JWT", body = SignerSession),
        (status = 404, description = "No such app (`not_found`)", body = OAuthErrorBody),
        OAuthErrors
    )
)]
pub async fn app_token(
    State(state): State<AppState>,
    client_id: Result<Path<String>, PathRejection>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<NoStore<SignerSession>, OidcError> {
    let params = Params::from_request(&headers, body)?;
    let Path(client_id) = client_id.map_err(|r| OidcError::invalid_request(r.body_text()))?;
    let app = path_app(&state, &client_id).await?;
    match params.require("grant_type")? {
        grant if form_enum::<GrantType>(grant) == Some(GrantType::TokenExchange) => {
            super::exchange::token_exchange(&state, &headers, &params, Some(&app))
                .await
                .map(NoStore)
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

/// `POST /api/pymthouse/keys/exchange` `{apiKey, scope?, clientId}` → SignerSession.
#[utoipa::path(
    post,
    path = "/api/pymthouse/keys/exchange",
    operation_id = "apiKeyExchange",
    tag = "facades",
    request_body(content = KeyExchange, content_type = "application/json"),
    responses(
        (status = 200, description = "A 90-day opaque signer session", body = SignerSession),
        FacadeErrors
    )
)]
pub async fn api_key_exchange(
    State(state): State<AppState>,
    body: Result<Json<Value>, JsonRejection>,
) -> Result<NoStore<SignerSession>, OidcError> {
    let body: KeyExchange = json_body(body)?;
    let scope = requested_user_scope(body.scope.as_deref())?;
    let expected = match body.client_id.as_deref() {
        Some(id) => Some(path_app(&state, id).await?),
        None => None,
    };
    let (app, user, parent) = api_key_owner(&state, &body.api_key, expected.as_ref()).await?;
    signer_session_for(&state, &app, &user, &scope, &parent)
        .await
        .map(NoStore)
}

/// `POST /api/signer/device/exchange` `{deviceToken, scope?, clientId?}` → a 300 s signer JWT.
/// The device token is the user JWT a device obtained through the device flow (never a signer
/// JWT); the signer JWT names it as its parent, so revoking the device token ends it too.
#[utoipa::path(
    post,
    path = "/api/signer/device/exchange",
    operation_id = "deviceTokenExchange",
    tag = "facades",
    request_body(content = DeviceExchange, content_type = "application/json"),
    responses(
        (status = 200, description = "A 300 s signer JWT", body = SignerSession),
        FacadeErrors
    )
)]
pub async fn device_exchange(
    State(state): State<AppState>,
    body: Result<Json<Value>, JsonRejection>,
) -> Result<NoStore<SignerSession>, OidcError> {
    let body: DeviceExchange = json_body(body)?;
    let super::exchange::Subject {
        user,
        scope: subject_scope,
        client_id,
        jti: parent,
    } = subject_user(&state, None, &body.device_token).await?;
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
    let balance = super::exchange::require_allowance(&state, &user).await?;
    let token = mint::signer_jwt(&state, &app, &user, &scope, &state.issuer, Some(&parent))?;
    state.metrics.token_issued("device_exchange");
    Ok(NoStore(exchange_response(
        &state,
        &balance,
        token,
        crate::config::SIGNER_TOKEN_TTL_SECS,
        &scope,
    )))
}
