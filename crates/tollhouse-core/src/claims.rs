//! RFC 9068 JWT access-token claims.

use serde::{Deserialize, Serialize};

/// Whose token this is (`user_type` claim).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum UserType {
    /// An end user of an app.
    AppUser,
    /// The app itself (its M2M client).
    AppOwner,
}

/// Claims of every JWT access token Tollhouse issues.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccessTokenClaims {
    /// Issuer: `<public url>/api/v1/oidc`.
    pub iss: String,
    /// Subject: the M2M client id for client-credentials tokens, the user id for user tokens.
    pub sub: String,
    /// Audience: the issuer unless a `resource`/`audience` parameter said otherwise.
    pub aud: String,
    /// Expiry (unix seconds).
    pub exp: i64,
    /// Issued at (unix seconds).
    pub iat: i64,
    /// Not before (unix seconds).
    pub nbf: i64,
    /// Unique token id; revocation is by `jti`.
    pub jti: String,
    /// The app's public client id (`app_…`).
    pub client_id: String,
    /// Space-separated scopes.
    pub scope: String,
    /// The integrator's own user id, on user tokens.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub external_user_id: Option<String>,
    /// Whose token this is.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_type: Option<UserType>,
}
