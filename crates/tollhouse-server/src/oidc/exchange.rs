//! RFC 8693 token exchange with a user JWT as subject (spec: builder-api.md, dispatch table).

use super::client_auth::{authenticate_m2m, presented_client};
use super::error::OidcError;
use super::mint;
use super::params::Params;
use super::verify::verify_access_token;
use crate::state::AppState;
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;
use tollhouse_core::app::App;
use tollhouse_core::claims::UserType;
use tollhouse_core::scope::ScopeSet;
use tollhouse_core::user::{AppUser, UserStatus};

/// `subject_token_type` of a JWT access token.
pub const ACCESS_TOKEN_TYPE: &str = "urn:ietf:params:oauth:token-type:access_token";
/// `subject_token_type` of a PymtHouse API key.
pub const API_KEY_TYPE: &str = "urn:pymthouse:oauth:token-type:api_key";

/// The token-exchange grant at `{issuer}/token`.
pub async fn token_exchange(
    state: &AppState,
    headers: &HeaderMap,
    params: &Params,
) -> Result<Response, OidcError> {
    let subject_type = params.require("subject_token_type")?;
    let subject = params.require("subject_token")?;
    match subject_type {
        ACCESS_TOKEN_TYPE => {
            let app = authenticate_m2m(state, presented_client(headers, params)?).await?;
            exchange_user_jwt(state, &app, subject, params).await
        }
        API_KEY_TYPE => Err(OidcError::invalid_request(
            "API-key exchange is not available on this server yet",
        )),
        _ => Err(OidcError::invalid_request("unsupported subject_token_type")),
    }
}

/// The user a subject JWT speaks for: signed by us, live, not revoked, a user token of `app`,
/// and the user still active.
async fn subject_user(
    state: &AppState,
    app: &App,
    subject: &str,
) -> Result<(AppUser, ScopeSet), OidcError> {
    let invalid =
        || OidcError::InvalidGrant("subject_token is not a valid user token of this app".into());
    let claims = verify_access_token(state, subject).map_err(|_| invalid())?;
    if claims.user_type != Some(UserType::AppUser) || claims.client_id != app.client_id.as_str() {
        return Err(invalid());
    }
    if state.store.is_token_revoked(&claims.jti).await? {
        return Err(invalid());
    }
    let user = state
        .store
        .user_by_id(&claims.sub)
        .await?
        .ok_or_else(invalid)?;
    if user.status != UserStatus::Active || user.client_id != app.client_id.as_str() {
        return Err(OidcError::InvalidGrant("the user is deactivated".into()));
    }
    let scope = ScopeSet::parse(&claims.scope).map_err(|_| invalid())?;
    Ok((user, scope))
}

async fn exchange_user_jwt(
    state: &AppState,
    app: &App,
    subject: &str,
    params: &Params,
) -> Result<Response, OidcError> {
    let (user, subject_scope) = subject_user(state, app, subject).await?;
    let scope = match params.get("scope")? {
        None => subject_scope,
        Some(requested) => {
            let requested = ScopeSet::parse(requested)
                .map_err(|e| OidcError::InvalidScope(e.to_string().into()))?;
            if !requested.is_subset(&subject_scope) {
                return Err(OidcError::InvalidScope(
                    "scope exceeds the subject token's".into(),
                ));
            }
            requested
        }
    };
    let scope_text = scope.to_string();
    let resource = params.get("resource")?;
    let audience = params.get("audience")?;
    if resource.is_some() && audience.is_some() && resource != audience {
        return Err(OidcError::InvalidTarget(
            "resource and audience differ".into(),
        ));
    }
    let (access_token, expires_in, grant) = match resource.or(audience) {
        None => (
            mint::new_signer_session(state, app, &user, &scope_text).await?,
            mint::SIGNER_SESSION_TTL_SECS,
            "signer_session",
        ),
        Some(target) if target == state.issuer => (
            mint::signer_jwt(state, app, &user, &scope_text, &state.issuer)?,
            crate::config::SIGNER_TOKEN_TTL_SECS,
            "signer_jwt",
        ),
        Some(_) => return Err(OidcError::InvalidTarget("unsupported resource".into())),
    };
    state.metrics.token_issued(grant);
    Ok(exchange_response(access_token, expires_in, &scope_text))
}

/// The token-exchange response; balances are the user's prepaid allowance (none stored yet on
/// this server, so zero).
fn exchange_response(access_token: String, expires_in: i64, scope: &str) -> Response {
    let mut response = axum::Json(json!({
        "access_token": access_token,
        "token_type": "Bearer",
        "expires_in": expires_in,
        "scope": scope,
        "issued_token_type": ACCESS_TOKEN_TYPE,
        "balanceUsdMicros": "0",
        "lifetimeGrantedUsdMicros": "0",
    }))
    .into_response();
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}
