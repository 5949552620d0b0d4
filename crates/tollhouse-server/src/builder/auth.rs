//! Builder calls authenticate with the app's M2M credentials (HTTP Basic). The app named in the
//! path must be the caller's own: anything else is 404, exactly like an app that does not exist.

use super::error::BuilderError;
use crate::oidc::client_auth::{authenticate_m2m_credentials, decode_basic};
use crate::state::AppState;
use axum::http::{HeaderMap, header};
use tollhouse_core::app::App;

/// The calling app, checked against the `{clientId}` of the path.
pub async fn authenticate(
    state: &AppState,
    headers: &HeaderMap,
    path_client_id: &str,
) -> Result<App, BuilderError> {
    let (id, secret) = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(tollhouse_core::authorization::basic)
        .and_then(decode_basic)
        .ok_or(BuilderError::Unauthorized)?;
    let app = authenticate_m2m_credentials(state, &id, Some(&secret))
        .await
        .map_err(|err| match err {
            crate::oidc::error::OidcError::Unavailable(e) => BuilderError::Unavailable(e),
            _ => BuilderError::Unauthorized,
        })?;
    if app.client_id.as_str() != path_client_id {
        return Err(BuilderError::NotFound("no such app".into()));
    }
    Ok(app)
}
