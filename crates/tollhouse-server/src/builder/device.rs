//! `POST A/device/deny` `{userCode}`: the integrator refuses a pending device login; the device's
//! next poll gets `access_denied`. (Approval is the token exchange the SDK's `approveDeviceLogin`
//! performs.)

use super::auth::authenticate;
use super::error::{BuilderError, json_object};
use crate::state::AppState;
use axum::Json;
use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{Value, json};

/// Body of a denial.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Deny {
    user_code: String,
}

/// Denies the pending device grant with this user code.
pub async fn deny(
    State(state): State<AppState>,
    Path(client_id): Path<String>,
    headers: HeaderMap,
    body: Result<Json<Value>, JsonRejection>,
) -> Result<Response, BuilderError> {
    let app = authenticate(&state, &headers, &client_id).await?;
    let body: Deny = json_object(body)?;
    let code = crate::oidc::device::normalise_user_code(&body.user_code);
    let denied = state
        .store
        .decide_device_grant(
            &code,
            app.client_id.as_str(),
            "denied",
            None,
            state.clock.now(),
        )
        .await?;
    if !denied {
        return Err(BuilderError::NotFound(
            "no pending device login with that code".into(),
        ));
    }
    Ok(Json(json!({ "success": true, "status": "denied" })).into_response())
}
