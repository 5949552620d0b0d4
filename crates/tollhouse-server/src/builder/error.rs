//! The Builder API's error shape: `{"error": "<snake_case>", "error_description": "…"}`, always
//! JSON. `@pymthouse/builder-sdk` maps `code`/`error` into `PmtHouseError.code`.

use axum::extract::rejection::{JsonRejection, PathRejection};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use std::borrow::Cow;
use std::collections::BTreeMap;
use utoipa::openapi::{RefOr, Response as ApiResponse};

pub use tollhouse_api::error::{BuilderErrorBody, BuilderErrorCode};

type Text = Cow<'static, str>;

/// Every failure of a Builder route.
#[derive(Debug, thiserror::Error)]
pub enum BuilderError {
    /// Missing or wrong M2M credentials.
    #[error("unauthorized")]
    Unauthorized,
    /// An end-user route without a live end-user credential (token, signer session or API key).
    #[error("unauthorized (end user)")]
    EndUserUnauthorized,
    /// Unknown app, user or route, or another tenant's app (never distinguished).
    #[error("not_found: {0}")]
    NotFound(Text),
    /// Malformed JSON, wrong types, invalid values.
    #[error("invalid_request: {0}")]
    InvalidRequest(Text),
    /// A scope the caller may not have.
    #[error("invalid_scope: {0}")]
    InvalidScope(Text),
    /// The user is deactivated.
    #[error("user_inactive")]
    UserInactive,
    /// The request is valid but the resource's state refuses it (e.g. an ended room).
    #[error("conflict: {0}")]
    Conflict(Text),
    /// The body exceeds the configured limit.
    #[error("payload_too_large")]
    PayloadTooLarge,
    /// Well-formed usage that would take the app past a lifetime ceiling
    /// (`tollhouse_core::bounds`); nothing of the request was stored.
    #[error("usage refused: {0}")]
    UsageCeiling(Text),
    /// Storage is unreachable.
    #[error("temporarily_unavailable")]
    Unavailable(#[source] tollhouse_store::StoreError),
    /// A bug; logged, never sent.
    #[error("internal: {0}")]
    Internal(String),
}

impl BuilderError {
    /// A malformed request.
    pub fn invalid(text: impl Into<Text>) -> Self {
        Self::InvalidRequest(text.into())
    }

    fn parts(&self) -> (StatusCode, BuilderErrorCode, Text) {
        use BuilderErrorCode as C;
        match self {
            Self::Unauthorized => (
                StatusCode::UNAUTHORIZED,
                C::Unauthorized,
                "valid M2M client credentials are required".into(),
            ),
            Self::EndUserUnauthorized => (
                StatusCode::UNAUTHORIZED,
                C::Unauthorized,
                "a valid end-user credential (access token, signer session or API key) is required"
                    .into(),
            ),
            Self::NotFound(d) => (StatusCode::NOT_FOUND, C::NotFound, d.clone()),
            Self::InvalidRequest(d) => (StatusCode::BAD_REQUEST, C::InvalidRequest, d.clone()),
            Self::InvalidScope(d) => (StatusCode::BAD_REQUEST, C::InvalidScope, d.clone()),
            Self::UserInactive => (
                StatusCode::FORBIDDEN,
                C::UserInactive,
                "the user is deactivated".into(),
            ),
            Self::Conflict(d) => (StatusCode::CONFLICT, C::Conflict, d.clone()),
            Self::UsageCeiling(d) => (
                StatusCode::UNPROCESSABLE_ENTITY,
                C::InvalidRequest,
                d.clone(),
            ),
            Self::PayloadTooLarge => (
                StatusCode::PAYLOAD_TOO_LARGE,
                C::PayloadTooLarge,
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

impl From<tollhouse_store::StoreError> for BuilderError {
    fn from(err: tollhouse_store::StoreError) -> Self {
        match err {
            tollhouse_store::StoreError::Database(_) => Self::Unavailable(err),
            tollhouse_store::StoreError::InvalidText => {
                Self::invalid("a parameter contains a NUL character")
            }
            tollhouse_store::StoreError::OverLimit(why) => Self::UsageCeiling(why.into()),
            other => Self::Internal(other.to_string()),
        }
    }
}

impl From<PathRejection> for BuilderError {
    fn from(rejection: PathRejection) -> Self {
        // E.g. a percent-encoded segment that is not UTF-8.
        Self::InvalidRequest(rejection.body_text().into())
    }
}

impl From<JsonRejection> for BuilderError {
    fn from(rejection: JsonRejection) -> Self {
        if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
            return Self::PayloadTooLarge;
        }
        // body_text() names the field and type problem without echoing the body.
        Self::InvalidRequest(rejection.body_text().into())
    }
}

impl IntoResponse for BuilderError {
    fn into_response(self) -> Response {
        match &self {
            Self::Unavailable(cause) => tracing::warn!(error = %cause, "store unavailable"),
            Self::Internal(cause) => tracing::error!(error = %cause, "internal error"),
            _ => {}
        }
        let (status, error, error_description) = self.parts();
        let body = BuilderErrorBody {
            error,
            error_description: error_description.into_owned(),
        };
        (status, axum::Json(body)).into_response()
    }
}

/// Parses a JSON request body that must be an object (serde would otherwise accept an array for
/// a struct, field by position).
pub fn json_object<T: serde::de::DeserializeOwned>(
    body: Result<axum::Json<serde_json::Value>, JsonRejection>,
) -> Result<T, BuilderError> {
    let axum::Json(value) = body?;
    if !value.is_object() {
        return Err(BuilderError::invalid(
            "the request body must be a JSON object",
        ));
    }
    serde_json::from_value(value).map_err(|e| BuilderError::InvalidRequest(e.to_string().into()))
}

/// [`json_object`] for bodies that may be omitted: no JSON body at all means the defaults (the
/// SDK sends `{}` or nothing).
pub fn optional_json_object<T: serde::de::DeserializeOwned + Default>(
    body: Result<axum::Json<serde_json::Value>, JsonRejection>,
) -> Result<T, BuilderError> {
    match body {
        Err(JsonRejection::MissingJsonContentType(_)) => Ok(T::default()),
        other => json_object(other),
    }
}

/// The errors every Builder route can answer, for `#[utoipa::path]`; routes that read a body add
/// 413, routes that refuse a deactivated user add 403.
#[derive(Debug)]
pub struct BuilderErrors;

impl utoipa::IntoResponses for BuilderErrors {
    fn responses() -> BTreeMap<String, RefOr<ApiResponse>> {
        crate::error_doc::error_responses::<BuilderErrorBody>(&[
            (
                400,
                "Malformed request or invalid value (`invalid_request`, `invalid_scope`)",
            ),
            (401, "Missing or wrong M2M credentials (`unauthorized`)"),
            (
                404,
                "No such app, user or key, or another app's (`not_found`)",
            ),
            (500, "Internal error"),
            (503, "Storage unavailable (`temporarily_unavailable`)"),
        ])
    }
}

/// 413 for routes with a JSON body.
#[derive(Debug)]
pub struct BodyTooLarge;

impl utoipa::IntoResponses for BodyTooLarge {
    fn responses() -> BTreeMap<String, RefOr<ApiResponse>> {
        crate::error_doc::error_responses::<BuilderErrorBody>(&[(
            413,
            "Request body too large (`payload_too_large`)",
        )])
    }
}

/// 422 for routes that store usage.
#[derive(Debug)]
pub struct UsageCeiling;

impl utoipa::IntoResponses for UsageCeiling {
    fn responses() -> BTreeMap<String, RefOr<ApiResponse>> {
        crate::error_doc::error_responses::<BuilderErrorBody>(&[(
            422,
            "The usage would take the app past a lifetime ceiling; nothing was stored (`invalid_request`)",
        )])
    }
}

/// 403 for routes that refuse a deactivated user.
#[derive(Debug)]
pub struct UserInactive;

impl utoipa::IntoResponses for UserInactive {
    fn responses() -> BTreeMap<String, RefOr<ApiResponse>> {
        crate::error_doc::error_responses::<BuilderErrorBody>(&[(
            403,
            "The user is deactivated (`user_inactive`)",
        )])
    }
}

/// 409 for routes refused by a resource's state.
#[derive(Debug)]
pub struct StateConflict;

impl utoipa::IntoResponses for StateConflict {
    fn responses() -> BTreeMap<String, RefOr<ApiResponse>> {
        crate::error_doc::error_responses::<BuilderErrorBody>(&[(
            409,
            "The room has ended, or the app has no room secret yet (`conflict`)",
        )])
    }
}

/// The errors of the end-user routes.
#[derive(Debug)]
pub struct EndUserErrors;

impl utoipa::IntoResponses for EndUserErrors {
    fn responses() -> BTreeMap<String, RefOr<ApiResponse>> {
        crate::error_doc::error_responses::<BuilderErrorBody>(&[
            (
                400,
                "`userId` given: the bearer names the user (`invalid_request`)",
            ),
            (
                401,
                "Missing, invalid, revoked or expired bearer, or a deactivated user (`unauthorized`)",
            ),
            (500, "Internal error"),
            (503, "Storage unavailable (`temporarily_unavailable`)"),
        ])
    }
}
