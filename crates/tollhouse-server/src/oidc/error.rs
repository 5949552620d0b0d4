//! RFC 6749 §5.2 errors: `{"error", "error_description"}` with the status each code calls for.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use std::borrow::Cow;
use std::collections::BTreeMap;
use utoipa::openapi::{RefOr, Response as ApiResponse};

pub use tollhouse_api::error::{OAuthErrorBody, OAuthErrorCode};

type Text = Cow<'static, str>;

/// Every failure of the token, introspection and revocation endpoints.
#[derive(Debug, thiserror::Error)]
pub enum OidcError {
    /// Missing, repeated or malformed parameter.
    #[error("invalid_request: {0}")]
    InvalidRequest(Text),
    /// Client authentication failed. No `WWW-Authenticate` challenge is sent: oauth4webapi (and
    /// so `@pymthouse/builder-sdk`) treats a challenge as a different error class and never
    /// reads the JSON body, which would hide `invalid_client` from integrators.
    #[error("invalid_client")]
    InvalidClient,
    /// The grant (code, token, credentials) is invalid, expired or revoked.
    #[error("invalid_grant: {0}")]
    InvalidGrant(Text),
    /// This client may not use this grant.
    #[error("unauthorized_client: {0}")]
    UnauthorizedClient(Text),
    /// The grant type is not supported.
    #[error("unsupported_grant_type")]
    UnsupportedGrantType(Text),
    /// A requested scope is unknown or not allowed for this client.
    #[error("invalid_scope: {0}")]
    InvalidScope(Text),
    /// RFC 8707: the requested resource is not acceptable.
    #[error("invalid_target: {0}")]
    InvalidTarget(Text),
    /// RFC 8628: the user has not decided yet.
    #[error("authorization_pending")]
    AuthorizationPending,
    /// RFC 8628: polling too fast; the interval grew by 5 s.
    #[error("slow_down")]
    SlowDown,
    /// RFC 8628: the device code expired.
    #[error("expired_token")]
    ExpiredToken,
    /// RFC 8628: the user refused.
    #[error("access_denied")]
    AccessDenied,
    /// The user's prepaid balance is exhausted: no signer credential (HTTP 402).
    #[error("insufficient_allowance")]
    InsufficientAllowance,
    /// The app named in the path does not exist.
    #[error("not_found")]
    NotFound,
    /// The request body exceeds the configured limit.
    #[error("request body too large")]
    BodyTooLarge,
    /// Storage is unreachable; the client may retry.
    #[error("temporarily_unavailable")]
    Unavailable(#[source] tollhouse_store::StoreError),
    /// A bug or an unexpected state; details are logged, never sent.
    #[error("server_error: {0}")]
    Internal(String),
}

impl OidcError {
    /// A missing or malformed parameter.
    pub fn invalid_request(text: impl Into<Text>) -> Self {
        Self::InvalidRequest(text.into())
    }

    fn parts(&self) -> (StatusCode, OAuthErrorCode, Text) {
        use OAuthErrorCode as C;
        match self {
            Self::InvalidRequest(d) => (StatusCode::BAD_REQUEST, C::InvalidRequest, d.clone()),
            Self::InvalidClient => (
                StatusCode::UNAUTHORIZED,
                C::InvalidClient,
                "client authentication failed".into(),
            ),
            Self::InvalidGrant(d) => (StatusCode::BAD_REQUEST, C::InvalidGrant, d.clone()),
            Self::UnauthorizedClient(d) => {
                (StatusCode::BAD_REQUEST, C::UnauthorizedClient, d.clone())
            }
            Self::UnsupportedGrantType(d) => {
                (StatusCode::BAD_REQUEST, C::UnsupportedGrantType, d.clone())
            }
            Self::InvalidScope(d) => (StatusCode::BAD_REQUEST, C::InvalidScope, d.clone()),
            Self::InvalidTarget(d) => (StatusCode::BAD_REQUEST, C::InvalidTarget, d.clone()),
            Self::AuthorizationPending => (
                StatusCode::BAD_REQUEST,
                C::AuthorizationPending,
                "the user has not approved the device yet".into(),
            ),
            Self::SlowDown => (
                StatusCode::BAD_REQUEST,
                C::SlowDown,
                "polling too fast; wait longer between polls".into(),
            ),
            Self::ExpiredToken => (
                StatusCode::BAD_REQUEST,
                C::ExpiredToken,
                "the device code has expired".into(),
            ),
            Self::AccessDenied => (
                StatusCode::BAD_REQUEST,
                C::AccessDenied,
                "the user denied the request".into(),
            ),
            Self::InsufficientAllowance => (
                StatusCode::PAYMENT_REQUIRED,
                C::InsufficientAllowance,
                "the user's prepaid balance is exhausted".into(),
            ),
            Self::NotFound => (StatusCode::NOT_FOUND, C::NotFound, "no such app".into()),
            Self::BodyTooLarge => (
                StatusCode::PAYLOAD_TOO_LARGE,
                C::InvalidRequest,
                "request body too large".into(),
            ),
            Self::Unavailable(_) => (
                StatusCode::SERVICE_UNAVAILABLE,
                C::TemporarilyUnavailable,
                "storage is unavailable, retry later".into(),
            ),
            Self::Internal(_) => (
                StatusCode::INTERNAL_SERVER_ERROR,
                C::ServerError,
                "internal error".into(),
            ),
        }
    }
}

impl From<tollhouse_store::StoreError> for OidcError {
    fn from(err: tollhouse_store::StoreError) -> Self {
        match err {
            tollhouse_store::StoreError::Database(_) => Self::Unavailable(err),
            tollhouse_store::StoreError::InvalidText => {
                Self::invalid_request("a parameter contains a NUL character")
            }
            other => Self::Internal(other.to_string()),
        }
    }
}

impl IntoResponse for OidcError {
    fn into_response(self) -> Response {
        match &self {
            Self::Unavailable(cause) => tracing::warn!(error = %cause, "store unavailable"),
            Self::Internal(cause) => tracing::error!(error = %cause, "internal error"),
            _ => {}
        }
        let (status, error, error_description) = self.parts();
        let body = OAuthErrorBody {
            error,
            error_description: error_description.into_owned(),
        };
        let mut response = (status, axum::Json(body)).into_response();
        let headers = response.headers_mut();
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        response
    }
}

/// The errors of the form-encoded endpoints that authenticate a client (token, introspection,
/// revocation, device authorization), for `#[utoipa::path]`.
#[derive(Debug)]
pub struct OAuthErrors;

impl utoipa::IntoResponses for OAuthErrors {
    fn responses() -> BTreeMap<String, RefOr<ApiResponse>> {
        crate::error_doc::error_responses::<OAuthErrorBody>(&[
            (
                400,
                "Invalid request, grant, scope or target (RFC 6749 §5.2)",
            ),
            (401, "Client authentication failed (`invalid_client`)"),
            (
                402,
                "Prepaid app: the user's balance is exhausted, no signer credential (`insufficient_allowance`)",
            ),
            (413, "Request body too large"),
            (500, "Internal error"),
            (503, "Storage unavailable (`temporarily_unavailable`)"),
        ])
    }
}

/// The errors of the JSON exchange facades (no client authentication; 404 for an unknown app).
#[derive(Debug)]
pub struct FacadeErrors;

impl utoipa::IntoResponses for FacadeErrors {
    fn responses() -> BTreeMap<String, RefOr<ApiResponse>> {
        crate::error_doc::error_responses::<OAuthErrorBody>(&[
            (400, "Invalid request, grant or scope"),
            (
                402,
                "Prepaid app: the user's balance is exhausted (`insufficient_allowance`)",
            ),
            (404, "No such app (`not_found`)"),
            (413, "Request body too large"),
            (500, "Internal error"),
            (503, "Storage unavailable (`temporarily_unavailable`)"),
        ])
    }
}
