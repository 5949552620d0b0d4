//! The Builder API (`/api/v1/apps/{clientId}/…`), called by integrator backends with their app's
//! M2M credentials. Wire-compatible with `@pymthouse/builder-sdk`.

mod allowances;
mod auth;
mod device;
mod end_user;
pub mod error;
mod keys;
mod manifest;
mod users;

use crate::state::AppState;
use axum::Router;
use axum::routing::{get, post};

/// The Builder routes.
pub fn routes() -> Router<AppState> {
    const A: &str = "/api/v1/apps/{client_id}";
    Router::new()
        .route(A, get(users::app_info))
        .route(
            &format!("{A}/users"),
            get(users::list)
                .post(users::upsert)
                .delete(users::deactivate),
        )
        .route(
            &format!("{A}/users/{{external_user_id}}/token"),
            post(users::mint_token),
        )
        .route(
            &format!("{A}/users/{{external_user_id}}/allowances"),
            get(allowances::get_allowances).post(allowances::grant),
        )
        .route(
            &format!("{A}/usage/balance"),
            get(allowances::usage_balance),
        )
        .route(
            &format!("{A}/manifest"),
            get(manifest::get).put(manifest::put),
        )
        .route(&format!("{A}/signer/routing"), get(manifest::routing))
        .route(&format!("{A}/device/deny"), post(device::deny))
        .route("/api/v1/user/usage/balance", get(end_user::balance))
        .route("/api/v1/user/usage", get(end_user::usage))
        .route(
            &format!("{A}/users/{{external_user_id}}/keys"),
            get(keys::list).post(keys::create).delete(keys::revoke),
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
