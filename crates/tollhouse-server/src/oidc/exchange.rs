//! RFC 8693 token exchange (spec: builder-api.md, dispatch table): a user JWT for an opaque
//! signer session or a signer JWT, and an API key for a signer session.

use super::client_auth::{authenticate_m2m, presented_client};
use super::error::OidcError;
use super::grants::{SubjectTokenType, form_enum};
use super::mint;
use super::params::Params;
use super::verify::{family_revoked, verify_user_token};
use crate::balances::balance_of;
use crate::state::AppState;
use axum::http::{HeaderMap, header};
use tollhouse_api::UsdMicros;
use tollhouse_core::allowance::Balance;
use tollhouse_core::app::{App, AppStatus};
use tollhouse_core::claims::UserType;
use tollhouse_core::ids::{looks_like_client_secret, split_api_key};
use tollhouse_core::scope::ScopeSet;
use tollhouse_core::user::{AppUser, UserStatus};

pub use tollhouse_api::oauth::SignerSession;

/// `subject_token_type` of a JWT access token.
pub const ACCESS_TOKEN_TYPE: &str = "urn:ietf:params:oauth:token-type:access_token";

/// The token-exchange grant at `{issuer}/token`; `path_app` is set when served at
/// `/api/v1/apps/{clientId}/oidc/token`.
pub async fn token_exchange(
    state: &AppState,
    headers: &HeaderMap,
    params: &Params,
    path_app: Option<&App>,
) -> Result<SignerSession, OidcError> {
    let subject_type = params.require("subject_token_type")?;
    let subject = params.require("subject_token")?;
    let Some(subject_type) = form_enum::<SubjectTokenType>(subject_type) else {
        return Err(OidcError::invalid_request("unsupported subject_token_type"));
    };
    match subject_type {
        SubjectTokenType::AccessToken => {
            let app = authenticate_m2m(state, presented_client(headers, params)?).await?;
            if path_app.is_some_and(|p| p.client_id != app.client_id) {
                return Err(OidcError::InvalidClient);
            }
            exchange_user_jwt(state, &app, subject, params).await
        }
        SubjectTokenType::ApiKey => {
            // M2M credentials are optional here; when present they must be the key's app's.
            let caller = match presented_client(headers, params)? {
                Some(client)
                    if headers.contains_key(header::AUTHORIZATION)
                        || params.get("client_secret")?.is_some() =>
                {
                    Some(authenticate_m2m(state, Some(client)).await?)
                }
                _ => None,
            };
            let scope = requested_user_scope(params.get("scope")?)?;
            let (app, user, parent) =
                api_key_owner(state, subject, path_app.or(caller.as_ref())).await?;
            if caller.is_some_and(|c| c.client_id != app.client_id) {
                return Err(OidcError::InvalidGrant(
                    "the API key belongs to another app".into(),
                ));
            }
            signer_session_for(state, &app, &user, &scope, &parent).await
        }
    }
}

/// The scope asked for on behalf of a user: `sign:job` by default, user scopes only.
pub fn requested_user_scope(requested: Option<&str>) -> Result<String, OidcError> {
    let scope = ScopeSet::parse(requested.unwrap_or("sign:job"))
        .map_err(|e| OidcError::InvalidScope(e.to_string().into()))?;
    if scope.is_empty() || scope.iter().any(|s| !mint::USER_SCOPES.contains(&s)) {
        return Err(OidcError::InvalidScope(
            "only user scopes may be requested with an API key".into(),
        ));
    }
    Ok(scope.to_string())
}

/// The app and active user an API key belongs to. `expected_app`, when known, must match.
/// The app and user an API key belongs to, and the key's revocation key (the parent of what is
/// exchanged from it).
pub async fn api_key_owner(
    state: &AppState,
    presented: &str,
    expected_app: Option<&App>,
) -> Result<(App, AppUser, String), OidcError> {
    let invalid = || OidcError::InvalidGrant("the API key is invalid or revoked".into());
    if looks_like_client_secret(presented) {
        return Err(OidcError::invalid_request(
            "that is an M2M client secret, not an API key",
        ));
    }
    let (named_app, secret) = split_api_key(presented);
    let key = state
        .store
        .api_key_by_hash(state.pepper.hash(secret).as_bytes())
        .await?
        .ok_or_else(invalid)?;
    if key.revoked_at.is_some() || named_app.is_some_and(|a| a != key.client_id) {
        return Err(invalid());
    }
    if expected_app.is_some_and(|a| a.client_id.as_str() != key.client_id) {
        return Err(invalid());
    }
    let app = match expected_app {
        Some(app) => app.clone(),
        None => state
            .store
            .app_by_client_id(&key.client_id)
            .await?
            .ok_or_else(invalid)?,
    };
    let user = state
        .store
        .user_by_id(&key.user_id)
        .await?
        .ok_or_else(invalid)?;
    if app.status != AppStatus::Active || user.status != UserStatus::Active {
        return Err(invalid());
    }
    Ok((app, user, tollhouse_core::claims::api_key_parent(&key.id)))
}

/// Refuses a signer credential with 402 `insufficient_allowance` when the user's app is prepaid
/// and the user's balance is at or below its soft limit (the same test as the webhook's gate),
/// so an integrator learns it when minting rather than at the first signing.
pub async fn require_allowance(state: &AppState, user: &AppUser) -> Result<Balance, OidcError> {
    // One read of the balance serves both the gate and the response's balance fields.
    let balance = balance_of(state, user).await?;
    let policy = crate::signer::policy::policy_of(&state.signer, &user.client_id).await?;
    let prepaid =
        policy.is_some_and(|p| p.billing_mode == crate::signer::policy::BillingMode::Prepaid);
    if prepaid && !balance.has_access {
        return Err(OidcError::InsufficientAllowance);
    }
    Ok(balance)
}

/// Issues an opaque signer session bound to `parent` (the API key it is exchanged from) and
/// answers with the SignerSession document.
pub async fn signer_session_for(
    state: &AppState,
    app: &App,
    user: &AppUser,
    scope: &str,
    parent: &str,
) -> Result<SignerSession, OidcError> {
    let balance = require_allowance(state, user).await?;
    let token = mint::new_signer_session(state, app, user, scope, Some(parent)).await?;
    state.metrics.token_issued("api_key_exchange");
    Ok(exchange_response(
        state,
        &balance,
        token,
        mint::SIGNER_SESSION_TTL_SECS,
        scope,
    ))
}

/// The user a subject JWT speaks for: signed by us, live, not revoked, a user token of `app`,
/// and the user still active.
pub async fn subject_user(
    state: &AppState,
    app: Option<&App>,
    subject: &str,
) -> Result<Subject, OidcError> {
    let invalid =
        || OidcError::InvalidGrant("subject_token is not a valid user token of this app".into());
    let claims = verify_user_token(state.own_tokens(), subject).map_err(|_| invalid())?;
    if claims.user_type != Some(UserType::AppUser)
        || app.is_some_and(|a| claims.client_id != a.client_id.as_str())
    {
        return Err(invalid());
    }
    // A signer JWT is presented to the signer, never exchanged: otherwise a leaked one could
    // mint its own successor every 300 s for ever.
    if claims.is_signer_token() {
        return Err(OidcError::InvalidGrant(
            "a signer token cannot be exchanged; exchange the user token it came from".into(),
        ));
    }
    if family_revoked(state.store.as_ref(), &claims).await? {
        return Err(invalid());
    }
    let user = state
        .store
        .user_by_id(&claims.sub)
        .await?
        .ok_or_else(invalid)?;
    if user.status != UserStatus::Active || user.client_id != claims.client_id {
        return Err(OidcError::InvalidGrant("the user is deactivated".into()));
    }
    let scope = ScopeSet::parse(&claims.scope).map_err(|_| invalid())?;
    Ok(Subject {
        user,
        scope,
        client_id: claims.client_id,
        jti: claims.jti,
    })
}

/// A verified subject token: its user, scopes, app and `jti` (the parent of what it mints).
#[derive(Debug)]
pub struct Subject {
    /// The user, active.
    pub user: AppUser,
    /// The token's scopes.
    pub scope: ScopeSet,
    /// The app's public client id.
    pub client_id: String,
    /// The token's id.
    pub jti: String,
}

async fn exchange_user_jwt(
    state: &AppState,
    app: &App,
    subject: &str,
    params: &Params,
) -> Result<SignerSession, OidcError> {
    let Subject {
        user,
        scope: subject_scope,
        jti: parent,
        ..
    } = subject_user(state, Some(app), subject).await?;
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
    if let Some(code) = resource.and_then(|r| r.strip_prefix(super::device::DEVICE_RESOURCE_PREFIX))
    {
        let code = super::device::normalise_user_code(code);
        let approved = state
            .store
            .decide_device_grant(
                &code,
                app.client_id.as_str(),
                "approved",
                Some(&user.id),
                state.clock.now(),
            )
            .await?;
        if !approved {
            return Err(OidcError::InvalidGrant(
                "unknown, expired or already decided user code".into(),
            ));
        }
        // The SDK expects a token-endpoint response; a short signer JWT is the least it can use.
        let token = mint::signer_jwt(state, app, &user, &scope_text, &state.issuer, Some(&parent))?;
        state.metrics.token_issued("device_approval");
        let balance = balance_of(state, &user).await?;
        return Ok(exchange_response(
            state,
            &balance,
            token,
            crate::config::SIGNER_TOKEN_TTL_SECS,
            &scope_text,
        ));
    }
    let balance = require_allowance(state, &user).await?;
    let (access_token, expires_in, grant) = match resource.or(audience) {
        None => (
            mint::new_signer_session(state, app, &user, &scope_text, Some(&parent)).await?,
            mint::SIGNER_SESSION_TTL_SECS,
            "signer_session",
        ),
        Some(target) if target == state.issuer => (
            mint::signer_jwt(state, app, &user, &scope_text, &state.issuer, Some(&parent))?,
            crate::config::SIGNER_TOKEN_TTL_SECS,
            "signer_jwt",
        ),
        Some(_) => return Err(OidcError::InvalidTarget("unsupported resource".into())),
    };
    state.metrics.token_issued(grant);
    Ok(exchange_response(
        state,
        &balance,
        access_token,
        expires_in,
        &scope_text,
    ))
}

/// The token-exchange / SignerSession response, with the user's prepaid balance (as read by
/// [`require_allowance`] or [`balance_of`]).
pub fn exchange_response(
    state: &AppState,
    balance: &Balance,
    access_token: String,
    expires_in: i64,
    scope: &str,
) -> SignerSession {
    SignerSession {
        access_token,
        balance_usd_micros: UsdMicros::new(balance.balance_usd_micros),
        expires_in,
        issued_token_type: ACCESS_TOKEN_TYPE.to_owned(),
        lifetime_granted_usd_micros: UsdMicros::new(balance.lifetime_granted_usd_micros),
        scope: scope.to_owned(),
        signer_url: state.signer_url.clone(),
        token_type: "Bearer".to_owned(),
    }
}
