//! `POST A/device/deny` `{userCode}`: the integrator refuses a pending device login; the device's
//! next poll gets `access_denied`. (Approval is the token exchange the SDK's `approveDeviceLogin`
//! performs.)

use super::error::{BodyTooLarge, BuilderError, BuilderErrors};
use super::extract::{AppCaller, AppPath, BuilderJson};
use crate::state::AppState;
use axum::Json;
use axum::extract::State;
use tollhouse_api::oauth::DenyDevice;
use tollhouse_api::users::Done;

/// Denies the pending device grant with this user code.
#[utoipa::path(
    post,
    path = "/api/v1/apps/{client_id}/device/deny",
    operation_id = "denyDeviceLogin",
    tag = "builder",
    params(AppPath),
    request_body(content = DenyDevice, content_type = "application/json"),
    security(("m2m_basic" = [])),
    responses(
        (status = 200, description = "Denied; the device's next poll gets `access_denied`", body = Done),
        BuilderErrors,
        BodyTooLarge
    )
)]
pub async fn deny(
    State(state): State<AppState>,
    AppCaller(app): AppCaller,
    BuilderJson(body): BuilderJson<DenyDevice>,
) -> Result<Json<Done>, BuilderError> {
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
    Ok(Json(Done {
        status: "denied".to_owned(),
        success: true,
    }))
}
