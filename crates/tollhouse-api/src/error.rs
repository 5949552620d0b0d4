//! Error bodies.
//!
//! The Builder API answers `{"error": "<snake_case>", "error_description": "…"}`
//! ([`BuilderErrorBody`]); the form-encoded OAuth endpoints and the JSON exchange facades answer
//! RFC 6749 `{"error", "error_description"}` ([`OAuthErrorBody`]). A client that talks to more
//! than one issuer reads either into the lenient [`ErrorBody`].

use serde::{Deserialize, Serialize};

/// The `error` codes of the Builder API and the end-user routes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum BuilderErrorCode {
    /// Missing or wrong credentials.
    Unauthorized,
    /// Unknown app, user or key, or another tenant's app.
    NotFound,
    /// Malformed body, query or path; invalid values.
    InvalidRequest,
    /// A scope the caller may not have.
    InvalidScope,
    /// The user is deactivated.
    UserInactive,
    /// The resource's state refuses the request (an ended room, no room secret yet).
    Conflict,
    /// The body exceeds the configured limit.
    PayloadTooLarge,
    /// RFC 6750: the bearer token is missing, invalid, expired or revoked (userinfo).
    InvalidToken,
    /// Storage is unreachable; retry later.
    TemporarilyUnavailable,
    /// An internal error.
    ServerError,
}

impl BuilderErrorCode {
    /// The wire name (`not_found`, …).
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Unauthorized => "unauthorized",
            Self::NotFound => "not_found",
            Self::InvalidRequest => "invalid_request",
            Self::InvalidScope => "invalid_scope",
            Self::UserInactive => "user_inactive",
            Self::Conflict => "conflict",
            Self::PayloadTooLarge => "payload_too_large",
            Self::InvalidToken => "invalid_token",
            Self::TemporarilyUnavailable => "temporarily_unavailable",
            Self::ServerError => "server_error",
        }
    }
}

/// The Builder API's error body.
///
/// ```
/// use tollhouse_api::error::{BuilderErrorBody, BuilderErrorCode};
/// let body: BuilderErrorBody =
///     serde_json::from_str(r#"{"error":"not_found","error_description":"no such user"}"#).unwrap();
/// assert_eq!(body.error, BuilderErrorCode::NotFound);
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "openapi", serde(deny_unknown_fields))]
pub struct BuilderErrorBody {
    /// The error code.
    pub error: BuilderErrorCode,
    /// Human-readable detail.
    pub error_description: String,
}

/// The `error` codes of the OAuth endpoints (RFC 6749 §5.2, RFC 8628 §3.5, RFC 8707), the
/// userinfo endpoint (RFC 6750 §3.1) and the exchange facades.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum OAuthErrorCode {
    /// Missing, repeated or malformed parameter, or a body too large.
    InvalidRequest,
    /// Client authentication failed.
    InvalidClient,
    /// The grant or token is invalid, expired or revoked.
    InvalidGrant,
    /// This client may not use this grant.
    UnauthorizedClient,
    /// The grant type is not supported.
    UnsupportedGrantType,
    /// A requested scope is unknown or not allowed.
    InvalidScope,
    /// The requested resource is not acceptable.
    InvalidTarget,
    /// The user has not decided yet.
    AuthorizationPending,
    /// Polling too fast.
    SlowDown,
    /// The device code expired.
    ExpiredToken,
    /// The user refused.
    AccessDenied,
    /// The user's prepaid balance is exhausted (HTTP 402): no signer credential is minted.
    InsufficientAllowance,
    /// The app does not exist.
    NotFound,
    /// RFC 6750: the bearer token is missing, invalid, expired or revoked (userinfo).
    InvalidToken,
    /// Storage is unreachable; retry later.
    TemporarilyUnavailable,
    /// An internal error.
    ServerError,
}

impl OAuthErrorCode {
    /// The wire name (`invalid_grant`, …).
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::InvalidRequest => "invalid_request",
            Self::InvalidClient => "invalid_client",
            Self::InvalidGrant => "invalid_grant",
            Self::UnauthorizedClient => "unauthorized_client",
            Self::UnsupportedGrantType => "unsupported_grant_type",
            Self::InvalidScope => "invalid_scope",
            Self::InvalidTarget => "invalid_target",
            Self::AuthorizationPending => "authorization_pending",
            Self::SlowDown => "slow_down",
            Self::ExpiredToken => "expired_token",
            Self::AccessDenied => "access_denied",
            Self::InsufficientAllowance => "insufficient_allowance",
            Self::NotFound => "not_found",
            Self::InvalidToken => "invalid_token",
            Self::TemporarilyUnavailable => "temporarily_unavailable",
            Self::ServerError => "server_error",
        }
    }
}

/// An RFC 6749 error response body.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "openapi", serde(deny_unknown_fields))]
pub struct OAuthErrorBody {
    /// The error code.
    pub error: OAuthErrorCode,
    /// Human-readable detail; never echoes a credential.
    pub error_description: String,
}

/// Any error body a PymtHouse-compatible issuer may send, read leniently: `error` as text, an
/// optional `error_description` and an optional `code` (which, when present, takes precedence
/// over `error` as the machine-readable code, as `@pymthouse/builder-sdk` reads it on the
/// Builder API).
///
/// ```
/// use tollhouse_api::error::ErrorBody;
/// let body: ErrorBody = serde_json::from_str(r#"{"error":"insufficient_allowance"}"#).unwrap();
/// assert_eq!(body.code(), "insufficient_allowance");
/// assert_eq!(body.error_description, None);
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorBody {
    /// The error code.
    #[serde(default)]
    pub error: String,
    /// Human-readable detail.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_description: Option<String>,
    /// A more specific code, when the server sends one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code: Option<String>,
}

impl ErrorBody {
    /// The machine-readable code: `code` if present and non-empty, else `error`.
    pub fn code(&self) -> &str {
        match self.code.as_deref() {
            Some(code) if !code.is_empty() => code,
            _ => &self.error,
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn codes_match_their_serde_names() {
        for code in [
            BuilderErrorCode::Unauthorized,
            BuilderErrorCode::NotFound,
            BuilderErrorCode::InvalidRequest,
            BuilderErrorCode::InvalidScope,
            BuilderErrorCode::UserInactive,
            BuilderErrorCode::Conflict,
            BuilderErrorCode::PayloadTooLarge,
            BuilderErrorCode::TemporarilyUnavailable,
            BuilderErrorCode::ServerError,
        ] {
            assert_eq!(
                serde_json::to_value(code).unwrap(),
                serde_json::Value::from(code.as_str())
            );
        }
        for code in [
            OAuthErrorCode::InvalidRequest,
            OAuthErrorCode::InvalidClient,
            OAuthErrorCode::InvalidGrant,
            OAuthErrorCode::UnauthorizedClient,
            OAuthErrorCode::UnsupportedGrantType,
            OAuthErrorCode::InvalidScope,
            OAuthErrorCode::InvalidTarget,
            OAuthErrorCode::AuthorizationPending,
            OAuthErrorCode::SlowDown,
            OAuthErrorCode::ExpiredToken,
            OAuthErrorCode::AccessDenied,
            OAuthErrorCode::InsufficientAllowance,
            OAuthErrorCode::NotFound,
            OAuthErrorCode::TemporarilyUnavailable,
            OAuthErrorCode::ServerError,
        ] {
            assert_eq!(
                serde_json::to_value(code).unwrap(),
                serde_json::Value::from(code.as_str())
            );
        }
    }

    #[test]
    fn lenient_body_prefers_code_over_error() {
        let body: ErrorBody =
            serde_json::from_str(r#"{"error":"bad","code":"specific","details":{}}"#).unwrap();
        assert_eq!(body.code(), "specific");
        let body: ErrorBody = serde_json::from_str(r#"{"error":"bad","code":""}"#).unwrap();
        assert_eq!(body.code(), "bad");
    }
}
