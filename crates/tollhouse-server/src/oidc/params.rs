//! Form-encoded request parameters (RFC 6749 §3.2: each parameter at most once).

use super::error::OidcError;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::http::{HeaderMap, StatusCode, header};

/// Parsed `application/x-www-form-urlencoded` parameters.
#[derive(Debug, Default)]
pub struct Params(Vec<(String, String)>);

impl Params {
    /// Checks the content type and body size, then parses.
    pub fn from_request(
        headers: &HeaderMap,
        body: Result<Bytes, BytesRejection>,
    ) -> Result<Self, OidcError> {
        let body = body.map_err(|rejection| {
            if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
                OidcError::BodyTooLarge
            } else {
                OidcError::invalid_request("could not read the request body")
            }
        })?;
        let is_form = headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(';').next())
            .is_some_and(|v| {
                v.trim()
                    .eq_ignore_ascii_case("application/x-www-form-urlencoded")
            });
        if !is_form {
            return Err(OidcError::invalid_request(
                "content type must be application/x-www-form-urlencoded",
            ));
        }
        serde_urlencoded::from_bytes::<Vec<(String, String)>>(&body)
            .map(Self)
            .map_err(|_| OidcError::invalid_request("malformed form body"))
    }

    /// The value of `name`; an empty value counts as absent (RFC 6749 §3.1), a repeat is an error.
    pub fn get(&self, name: &str) -> Result<Option<&str>, OidcError> {
        let mut found = None;
        for (key, value) in &self.0 {
            if key == name {
                if found.is_some() {
                    return Err(OidcError::InvalidRequest(
                        format!("parameter `{name}` is repeated").into(),
                    ));
                }
                found = Some(value.as_str());
            }
        }
        Ok(found.filter(|v| !v.is_empty()))
    }

    /// The value of a parameter that must be present.
    pub fn require(&self, name: &str) -> Result<&str, OidcError> {
        self.get(name)?.ok_or_else(|| {
            OidcError::InvalidRequest(format!("parameter `{name}` is required").into())
        })
    }
}
