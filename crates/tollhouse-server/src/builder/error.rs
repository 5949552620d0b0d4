//! The Builder API's error shape: `{"error": "<snake_case>", "error_description": "…"}`, always
//! JSON. `@pymthouse/builder-sdk` maps `code`/`error` into `PmtHouseError.code`.

use axum::extract::rejection::JsonRejection;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use std::borrow::Cow;

type Text = Cow<'static, str>;

/// Every failure of a Builder route.
#[derive(Debug, thiserror::Error)]
pub enum BuilderError {
    /// Missing or wrong M2M credentials.
    #[error("unauthorized")]
    Unauthorized,
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
    /// The body exceeds the configured limit.
    #[error("payload_too_large")]
    PayloadTooLarge,
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

    fn parts(&self) -> (StatusCode, &'static str, Text) {
        match self {
            Self::Unauthorized => (
                StatusCode::UNAUTHORIZED,
                "unauthorized",
                "valid M2M client credentials are required".into(),
            ),
            Self::NotFound(d) => (StatusCode::NOT_FOUND, "not_found", d.clone()),
            Self::InvalidRequest(d) => (StatusCode::BAD_REQUEST, "invalid_request", d.clone()),
            Self::InvalidScope(d) => (StatusCode::BAD_REQUEST, "invalid_scope", d.clone()),
            Self::UserInactive => (
                StatusCode::FORBIDDEN,
                "user_inactive",
                "the user is deactivated".into(),
            ),
            Self::PayloadTooLarge => (
                StatusCode::PAYLOAD_TOO_LARGE,
                "payload_too_large",
                "request body too large".into(),
            ),
            Self::Unavailable(_) => (
                StatusCode::SERVICE_UNAVAILABLE,
                "temporarily_unavailable",
                "storage is unavailable, retry later".into(),
            ),
            Self::Internal(_) => (
                StatusCode::INTERNAL_SERVER_ERROR,
                "server_error",
                "internal error".into(),
            ),
        }
    }
}

impl From<tollhouse_store::StoreError> for BuilderError {
    fn from(err: tollhouse_store::StoreError) -> Self {
        match err {
            tollhouse_store::StoreError::Database(_) => Self::Unavailable(err),
            other => Self::Internal(other.to_string()),
        }
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
        let (status, code, description) = self.parts();
        (
            status,
            axum::Json(serde_json::json!({ "error": code, "error_description": description })),
        )
            .into_response()
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
