//! The one error type of the [`Client`](crate::Client) and the device flow.

use tollhouse_api::error::ErrorBody;

/// What went wrong with a call.
///
/// An answer from the server with an error status is [`Error::Api`] (status, code, description);
/// not reaching the server at all is [`Error::Transport`]; a success whose body is not what the
/// API promises is [`Error::InvalidResponse`]. They are never conflated: a failed token check is
/// a 401 from the issuer, not a gateway error.
///
/// ```
/// use tollhouse_sdk::{ApiError, Error};
/// let err = Error::Api(ApiError {
///     status: 402,
///     code: "insufficient_allowance".into(),
///     description: None,
/// });
/// assert_eq!(err.status(), Some(402));
/// assert_eq!(err.code(), Some("insufficient_allowance"));
/// assert!(err.is_insufficient_allowance());
/// assert_eq!(err.to_string(), "402 insufficient_allowance");
/// ```
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The server answered with an error status.
    #[error("{0}")]
    Api(ApiError),
    /// The request did not complete: connection refused, TLS failure, timeout, a body cut short.
    #[error("transport error: {0}")]
    Transport(#[source] reqwest::Error),
    /// The server answered with a success status but an unexpected body.
    #[error("invalid response (HTTP {status}): {message}")]
    InvalidResponse {
        /// The HTTP status of the answer.
        status: u16,
        /// What was wrong with it.
        message: String,
    },
    /// The discovery document is unusable (wrong issuer, missing endpoint).
    #[error("discovery: {0}")]
    Discovery(String),
    /// The client is missing something a call needs (M2M credentials, the public client id) or
    /// was given something unusable (an issuer URL that does not parse).
    #[error("configuration: {0}")]
    Config(String),
    /// A device login was not approved before its code expired.
    #[error("the device code expired before the login was approved")]
    DeviceCodeExpired,
    /// A device flow was cancelled by its caller.
    #[error("the device flow was cancelled")]
    Cancelled,
}

/// An error status from the server, with its machine-readable code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    /// The HTTP status.
    pub status: u16,
    /// The code: the body's `code` if it has one, else its `error`; `http_<status>` when the
    /// body is not an error document.
    pub code: String,
    /// The body's `error_description`, if any.
    pub description: Option<String>,
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}", self.status, self.code)?;
        if let Some(description) = &self.description {
            write!(f, ": {description}")?;
        }
        Ok(())
    }
}

impl ApiError {
    /// The error of an answer with `status` and `body` (any bytes).
    pub fn from_response(status: u16, body: &[u8]) -> Self {
        match serde_json::from_slice::<ErrorBody>(body) {
            Ok(parsed) if !parsed.code().is_empty() => Self {
                status,
                code: parsed.code().to_owned(),
                description: parsed.error_description,
            },
            _ => Self {
                status,
                code: format!("http_{status}"),
                description: None,
            },
        }
    }
}

impl Error {
    /// The HTTP status, when the server answered.
    pub fn status(&self) -> Option<u16> {
        match self {
            Self::Api(api) => Some(api.status),
            Self::InvalidResponse { status, .. } => Some(*status),
            Self::Transport(err) => err.status().map(|s| s.as_u16()),
            _ => None,
        }
    }

    /// The server's error code (`not_found`, `invalid_request`, `insufficient_allowance`, …).
    pub fn code(&self) -> Option<&str> {
        match self {
            Self::Api(api) => Some(&api.code),
            _ => None,
        }
    }

    /// The server's description of the error, if it gave one.
    pub fn description(&self) -> Option<&str> {
        match self {
            Self::Api(api) => api.description.as_deref(),
            _ => None,
        }
    }

    /// Whether the server answered 404 (an unknown user, key or app, or another app's).
    pub fn is_not_found(&self) -> bool {
        self.status() == Some(404)
    }

    /// Whether a signer credential was refused because the user's prepaid balance is exhausted
    /// (402 `insufficient_allowance`).
    pub fn is_insufficient_allowance(&self) -> bool {
        self.code() == Some("insufficient_allowance")
    }
}

impl From<reqwest::Error> for Error {
    fn from(err: reqwest::Error) -> Self {
        Self::Transport(err)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn error_bodies_of_every_shape_give_a_code() {
        let builder = ApiError::from_response(
            404,
            br#"{"error":"not_found","error_description":"no such user"}"#,
        );
        assert_eq!(
            (builder.code.as_str(), builder.description.as_deref()),
            ("not_found", Some("no such user"))
        );
        let coded = ApiError::from_response(400, br#"{"error":"invalid_request","code":"bad_id"}"#);
        assert_eq!(coded.code, "bad_id");
        let html = ApiError::from_response(502, b"<html>bad gateway</html>");
        assert_eq!((html.code.as_str(), html.description), ("http_502", None));
        let empty = ApiError::from_response(500, b"{}");
        assert_eq!(empty.code, "http_500");
        assert_eq!(
            Error::Api(builder).to_string(),
            "404 not_found: no such user"
        );
    }
}
