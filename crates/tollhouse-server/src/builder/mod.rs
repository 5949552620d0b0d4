//! The Builder API (`/api/v1/apps/{clientId}/…`), called by integrator backends with their app's
//! M2M credentials. Wire-compatible with `@pymthouse/builder-sdk`.

mod auth;
pub mod error;
mod users;

use crate::state::AppState;
use axum::Router;
use axum::routing::{get, post};

/// The Builder routes.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/v1/apps/{client_id}", get(users::app_info))
        .route(
            "/api/v1/apps/{client_id}/users",
            get(users::list)
                .post(users::upsert)
                .delete(users::deactivate),
        )
        .route(
            "/api/v1/apps/{client_id}/users/{external_user_id}/token",
            post(users::mint_token),
        )
}

/// RFC 3339 form of a unix time, as the Builder API reports times.
pub fn rfc3339(unix: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp(unix)
        .ok()
        .and_then(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_default()
}
