//! RFC 8628 device authorization: `{issuer}/device/auth`, polling at the token endpoint, and
//! approval by the integrator's backend (token exchange with `resource=urn:pmth:device_code:…`).

use super::NoStore;
use super::error::{OAuthErrors, OidcError};
use super::exchange::requested_user_scope;
use super::mint;
use super::params::Params;
use crate::state::AppState;
use axum::body::Bytes;
use axum::extract::State;
use axum::extract::rejection::BytesRejection;
use axum::http::HeaderMap;
use tollhouse_api::oauth::{DeviceAuthorization, UserTokens};
use tollhouse_core::app::{App, AppStatus};
use tollhouse_core::random::random_bytes;
use tollhouse_core::user::UserStatus;
use tollhouse_store::{DeviceGrant, StoreError};
use utoipa::ToSchema;

/// How long a device code lives.
pub const DEVICE_CODE_TTL_SECS: i64 = 600;
/// The initial polling interval.
pub const DEVICE_POLL_INTERVAL_SECS: i64 = 5;
/// The `resource` prefix that approves a device grant.
pub const DEVICE_RESOURCE_PREFIX: &str = "urn:pmth:device_code:";
/// RFC 8628 §6.1's base-20 alphabet: no vowels (no words), no look-alike characters.
const USER_CODE_ALPHABET: &[u8; 20] = b"BCDFGHJKLMNPQRSTVWXZ";
/// Polls this much earlier than the interval still count as on time (timer and network jitter).
const POLL_SLACK_MS: i64 = 500;

/// An 8-character user code from the base-20 alphabet (rejection sampling keeps it uniform).
fn generate_user_code(state: &AppState) -> String {
    let mut code = String::with_capacity(8);
    while code.len() < 8 {
        for byte in random_bytes::<16>(state.rng.as_ref()) {
            // 240 = 12 × 20: bytes above it would bias the first letters.
            let letter = USER_CODE_ALPHABET.get(usize::from(byte % 20));
            if let Some(&letter) = letter.filter(|_| byte < 240 && code.len() < 8) {
                code.push(char::from(letter));
            }
        }
    }
    code
}

/// Upper case, dashes and spaces removed: how users (and the SDK) may type a code.
pub fn normalise_user_code(code: &str) -> String {
    code.chars()
        .filter(char::is_ascii_alphanumeric)
        .map(|c| c.to_ascii_uppercase())
        .collect()
}

/// `BCDFGHJK` as shown to users and sent on: `BCDF-GHJK` (8 characters, as generated).
pub(super) fn display_user_code(code: &str) -> String {
    format!("{}-{}", &code[..4], &code[4..])
}

async fn public_app(state: &AppState, params: &Params) -> Result<App, OidcError> {
    let id = params.get("client_id")?.ok_or(OidcError::InvalidClient)?;
    match state.store.app_by_client_id(id).await? {
        Some(app) if app.status == AppStatus::Active => Ok(app),
        _ => Err(OidcError::InvalidClient),
    }
}

/// The parameters of `POST {issuer}/device/auth` (form-encoded).
#[derive(Debug, ToSchema)]
#[allow(dead_code)]
pub struct DeviceAuthorizationRequest {
    /// The app's public client id (`app_…`).
    client_id: String,
    /// Requested user scopes, space-separated (default `sign:job`).
    scope: Option<String>,
}

/// `POST {issuer}/device/auth`.
#[utoipa::path(
    post,
    path = "/api/v1/oidc/device/auth",
    operation_id = "deviceAuthorization",
    tag = "oidc",
    request_body(content = DeviceAuthorizationRequest, content_type = "application/x-www-form-urlencoded"),
    responses(
        (status = 200, description = "A pending device login (RFC 8628 §3.2)", body = DeviceAuthorization),
        OAuthErrors
    )
)]
pub async fn authorize(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<NoStore<DeviceAuthorization>, OidcError> {
    let params = Params::from_request(&headers, body)?;
    let app = public_app(&state, &params).await?;
    let scope = requested_user_scope(params.get("scope")?)?;
    let now = state.clock.now();
    let device_code = hex::encode(random_bytes::<32>(state.rng.as_ref()));
    let hash = state.pepper.hash(&device_code);
    // A user-code collision among live grants is astronomically rare (20^8); retry a few times.
    let mut user_code = generate_user_code(&state);
    for attempt in 0.. {
        let grant = DeviceGrant {
            user_code: user_code.clone(),
            client_id: app.client_id.to_string(),
            scope: scope.clone(),
            expires_at: now + DEVICE_CODE_TTL_SECS,
            interval_secs: DEVICE_POLL_INTERVAL_SECS,
            last_polled_ms: None,
            status: "pending".into(),
            user_id: None,
        };
        match state
            .store
            .insert_device_grant(hash.as_bytes(), &grant, now)
            .await
        {
            Ok(()) => break,
            Err(StoreError::Conflict) if attempt < 5 => user_code = generate_user_code(&state),
            Err(err) => return Err(err.into()),
        }
    }
    let shown = display_user_code(&user_code);
    let verification_uri = format!("{}/oidc/device", state.base_url);
    let complete = format!(
        "{verification_uri}?user_code={shown}&client_id={}&iss={}",
        app.client_id,
        form_encode(&state.issuer)
    );
    Ok(NoStore(DeviceAuthorization {
        device_code,
        expires_in: DEVICE_CODE_TTL_SECS,
        interval: DEVICE_POLL_INTERVAL_SECS,
        user_code: shown,
        verification_uri,
        verification_uri_complete: complete,
    }))
}

fn form_encode(value: &str) -> String {
    serde_urlencoded::to_string([("v", value)])
        .map(|s| s[2..].to_owned())
        .unwrap_or_default()
}

/// The device-code grant at the token endpoint.
pub async fn poll(state: &AppState, params: &Params) -> Result<UserTokens, OidcError> {
    let device_code = params.require("device_code")?;
    let app = public_app(state, params).await?;
    let hash = state.pepper.hash(device_code);
    let invalid = || OidcError::InvalidGrant("unknown device code".into());
    let grant = state
        .store
        .device_grant(hash.as_bytes())
        .await?
        .ok_or_else(invalid)?;
    if grant.client_id != app.client_id.as_str() {
        return Err(invalid());
    }
    if state.clock.now() >= grant.expires_at {
        return Err(OidcError::ExpiredToken);
    }
    match grant.status.as_str() {
        "pending" => {
            let now_ms = state.clock.now_millis();
            let too_fast = grant
                .last_polled_ms
                .is_some_and(|last| now_ms - last < grant.interval_secs * 1000 - POLL_SLACK_MS);
            let interval = if too_fast {
                grant.interval_secs + 5
            } else {
                grant.interval_secs
            };
            state
                .store
                .record_device_poll(hash.as_bytes(), now_ms, interval)
                .await?;
            Err(if too_fast {
                OidcError::SlowDown
            } else {
                OidcError::AuthorizationPending
            })
        }
        "denied" => Err(OidcError::AccessDenied),
        "approved" => {
            if !state.store.consume_device_grant(hash.as_bytes()).await? {
                return Err(invalid());
            }
            let user_id = grant.user_id.ok_or_else(invalid)?;
            let user = state
                .store
                .user_by_id(&user_id)
                .await?
                .ok_or_else(invalid)?;
            if user.status != UserStatus::Active {
                return Err(OidcError::AccessDenied);
            }
            let access_token = mint::user_access_token(state, &app, &user, &grant.scope)?;
            let refresh_token = mint::new_refresh_token(state, &app, &user, &grant.scope).await?;
            state.metrics.token_issued("device_code");
            Ok(UserTokens {
                access_token,
                expires_in: crate::config::USER_TOKEN_TTL_SECS,
                refresh_token,
                scope: grant.scope,
                token_type: "Bearer".to_owned(),
            })
        }
        _ => Err(invalid()),
    }
}
