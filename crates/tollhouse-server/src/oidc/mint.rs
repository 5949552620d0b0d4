//! Minting credentials for app users: user JWTs, refresh tokens, signer JWTs and opaque signer
//! sessions. Shared by the Builder API and the token endpoint.

use super::error::OidcError;
use crate::config::{SIGNER_TOKEN_TTL_SECS, USER_TOKEN_TTL_SECS};
use crate::state::AppState;
use tollhouse_core::app::App;
use tollhouse_core::claims::{AccessTokenClaims, Audience, TokenUse, UserType};
use tollhouse_core::ids::{
    generate_jti, generate_refresh_token, generate_signer_session, generate_uuid,
};
use tollhouse_core::user::AppUser;
use tollhouse_store::{RefreshRecord, SessionRecord};

/// Lifetime of an opaque signer session: 90 days.
pub const SIGNER_SESSION_TTL_SECS: i64 = 90 * 24 * 3600;
/// Lifetime of a refresh token (each rotation starts a new one).
pub const REFRESH_TOKEN_TTL_SECS: i64 = 30 * 24 * 3600;

/// Scopes a user token may carry.
pub const USER_SCOPES: &[&str] = &["openid", "email", "profile", "sign:job"];

/// What a minted user JWT is and where it came from.
#[derive(Debug, Clone, Copy)]
pub struct Lineage<'a> {
    /// User or signer token.
    pub token_use: TokenUse,
    /// The credential it was exchanged from (see [`AccessTokenClaims::parent`]).
    pub parent: Option<&'a str>,
}

/// A signed user JWT (RFC 9068) for `user` of `app`, lifetime `ttl`.
pub fn user_jwt(
    state: &AppState,
    app: &App,
    user: &AppUser,
    scope: &str,
    ttl: i64,
    aud: &str,
    lineage: Lineage<'_>,
) -> Result<String, OidcError> {
    let now = state.clock.now();
    let claims = AccessTokenClaims {
        iss: state.issuer.clone(),
        sub: user.id.clone(),
        aud: Audience::one(aud),
        exp: now + ttl,
        iat: now,
        nbf: now,
        jti: generate_jti(state.rng.as_ref()),
        client_id: app.client_id.to_string(),
        scope: scope.to_owned(),
        external_user_id: Some(user.external_user_id.to_string()),
        user_type: Some(UserType::AppUser),
        token_use: Some(lineage.token_use),
        parent: lineage.parent.map(str::to_owned),
    };
    state
        .keyring
        .snapshot()
        .current
        .sign_access_token(&claims)
        .map_err(|e| OidcError::Internal(e.to_string()))
}

/// A 900 s user JWT.
pub fn user_access_token(
    state: &AppState,
    app: &App,
    user: &AppUser,
    scope: &str,
) -> Result<String, OidcError> {
    let lineage = Lineage {
        token_use: TokenUse::User,
        parent: None,
    };
    user_jwt(
        state,
        app,
        user,
        scope,
        USER_TOKEN_TTL_SECS,
        &state.issuer,
        lineage,
    )
}

/// A 300 s signer JWT, bound to the credential it was exchanged from (`parent`), if any.
pub fn signer_jwt(
    state: &AppState,
    app: &App,
    user: &AppUser,
    scope: &str,
    aud: &str,
    parent: Option<&str>,
) -> Result<String, OidcError> {
    let lineage = Lineage {
        token_use: TokenUse::Signer,
        parent,
    };
    user_jwt(state, app, user, scope, SIGNER_TOKEN_TTL_SECS, aud, lineage)
}

/// Starts a new refresh-token family for `user`; returns the token (shown once).
pub async fn new_refresh_token(
    state: &AppState,
    app: &App,
    user: &AppUser,
    scope: &str,
) -> Result<String, OidcError> {
    let token = generate_refresh_token(state.rng.as_ref());
    let now = state.clock.now();
    let record = RefreshRecord {
        family_id: generate_uuid(state.rng.as_ref()),
        client_id: app.client_id.to_string(),
        user_id: user.id.clone(),
        scope: scope.to_owned(),
        expires_at: now + REFRESH_TOKEN_TTL_SECS,
        rotated_at: None,
        revoked_at: None,
    };
    state
        .store
        .insert_refresh_token(state.pepper.hash(&token).as_bytes(), &record, now)
        .await?;
    Ok(token)
}

/// Issues an opaque `pmth_` signer session (90 days) bound to the credential it was exchanged
/// from (`parent`); returns the token (shown once).
pub async fn new_signer_session(
    state: &AppState,
    app: &App,
    user: &AppUser,
    scope: &str,
    parent: Option<&str>,
) -> Result<String, OidcError> {
    let token = generate_signer_session(state.rng.as_ref());
    let now = state.clock.now();
    let record = SessionRecord {
        client_id: app.client_id.to_string(),
        user_id: user.id.clone(),
        scope: scope.to_owned(),
        created_at: now,
        expires_at: now + SIGNER_SESSION_TTL_SECS,
        revoked_at: None,
        parent: parent.map(str::to_owned),
    };
    state
        .store
        .insert_signer_session(state.pepper.hash(&token).as_bytes(), &record)
        .await?;
    Ok(token)
}
