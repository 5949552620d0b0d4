//! The Builder API (`/api/v1/apps/{clientId}/…`), called by integrator backends with their app's
//! M2M credentials. Wire-compatible with `@pymthouse/builder-sdk`.

mod allowances;
mod auth;
mod device;
mod end_user;
pub mod error;
mod extract;
mod keys;
mod manifest;
mod plans;
mod rooms;
mod settings;
mod stream_keys;
pub mod usage;
mod usage_ingest;
mod users;

use crate::state::AppState;
use axum::extract::Path;
use axum::extract::rejection::PathRejection;
use error::BuilderError;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

/// The Builder routes and the end-user routes. Each path and method comes from the handler's
/// `#[utoipa::path]`.
pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(users::app_info))
        .routes(routes!(users::list, users::upsert, users::deactivate))
        .routes(routes!(users::mint_token))
        .routes(routes!(allowances::get_allowances, allowances::grant))
        .routes(routes!(allowances::usage_balance))
        .routes(routes!(manifest::get, manifest::put))
        .routes(routes!(manifest::routing))
        .routes(routes!(device::deny))
        .routes(routes!(end_user::balance))
        .routes(routes!(end_user::usage))
        .routes(routes!(keys::list, keys::create, keys::revoke))
        .routes(routes!(
            stream_keys::list,
            stream_keys::create,
            stream_keys::revoke
        ))
        .routes(routes!(rooms::rotate_secret))
        .routes(routes!(rooms::create))
        .routes(routes!(rooms::issue_token))
        .routes(routes!(rooms::end))
        .routes(routes!(rooms::verify))
        .routes(routes!(usage_ingest::signed_tickets))
        .routes(routes!(usage_ingest::envelopes))
        .routes(routes!(usage::get_usage))
        .routes(routes!(plans::list, plans::create))
        .routes(routes!(plans::sync))
        .routes(routes!(settings::get, settings::patch))
}

/// The path parameters, or a Builder-shaped 400 (e.g. a segment that is not UTF-8).
fn path_params<T>(path: Result<Path<T>, PathRejection>) -> Result<T, BuilderError> {
    path.map(|Path(value)| value).map_err(BuilderError::from)
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
