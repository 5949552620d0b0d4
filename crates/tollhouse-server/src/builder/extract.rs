//! The Builder API's request edge as extractors, so a handler states what it needs and gets it
//! checked before it runs: the calling app ([`AppCaller`]) or end user ([`EndUser`]), path
//! parameters ([`BuilderPath`])
//! and JSON object bodies ([`BuilderJson`], [`OptionalBuilderJson`]). Each refuses in the
//! Builder error JSON, never in axum's plain-text rejections.
//!
//! axum runs extractors in argument order with the body last, so credentials are checked
//! before the body is read: an unauthenticated caller learns nothing from body validation.

use super::auth::authenticate;
use super::end_user::bearer_user;
use super::error::{BuilderError, json_object, optional_json_object};
use crate::state::AppState;
use axum::Json;
use axum::extract::{FromRequest, FromRequestParts, Path, Request};
use axum::http::request::Parts;
use serde::de::DeserializeOwned;
use serde_json::Value;
use tollhouse_core::app::App;
use tollhouse_core::user::AppUser;

/// The app making the call: its M2M credentials (HTTP Basic, scheme in any case) checked, and
/// the app the path's `{client_id}` names its own (another app's is 404, like one that does
/// not exist).
#[derive(Debug)]
pub struct AppCaller(pub App);

impl FromRequestParts<AppState> for AppCaller {
    type Rejection = BuilderError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, BuilderError> {
        let Path(AppPath { client_id }) = Path::from_request_parts(parts, state).await?;
        authenticate(state, &parts.headers, &client_id)
            .await
            .map(AppCaller)
    }
}

/// The end user making the call, proven by their own bearer (a user JWT, a signer session or
/// an API key, scheme in any case), active, and with no revoked ancestor.
#[derive(Debug)]
pub struct EndUser(pub AppUser);

impl FromRequestParts<AppState> for EndUser {
    type Rejection = BuilderError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, BuilderError> {
        bearer_user(state, &parts.headers).await.map(EndUser)
    }
}

/// Path parameters, or a Builder 400 (a segment that is not UTF-8, say).
#[derive(Debug)]
pub struct BuilderPath<T>(pub T);

impl<T: DeserializeOwned + Send> FromRequestParts<AppState> for BuilderPath<T> {
    type Rejection = BuilderError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, BuilderError> {
        let Path(value) = Path::<T>::from_request_parts(parts, state).await?;
        Ok(Self(value))
    }
}

/// A JSON body that must be an object (serde would read an array into a struct field by
/// position), of at most the configured size (413 beyond), with wrong types said plainly.
#[derive(Debug)]
pub struct BuilderJson<T>(pub T);

impl<T: DeserializeOwned> FromRequest<AppState> for BuilderJson<T> {
    type Rejection = BuilderError;

    async fn from_request(request: Request, state: &AppState) -> Result<Self, BuilderError> {
        json_object(Json::<Value>::from_request(request, state).await).map(Self)
    }
}

/// [`BuilderJson`] for a body that may be omitted: none at all means the defaults (the SDK
/// sends `{}` or nothing).
#[derive(Debug)]
pub struct OptionalBuilderJson<T>(pub T);

impl<T: DeserializeOwned + Default> FromRequest<AppState> for OptionalBuilderJson<T> {
    type Rejection = BuilderError;

    async fn from_request(request: Request, state: &AppState) -> Result<Self, BuilderError> {
        optional_json_object(Json::<Value>::from_request(request, state).await).map(Self)
    }
}

/// The path of an app's routes, `/api/v1/apps/{client_id}/…`, as the OpenAPI document states
/// it (one definition for every route).
#[derive(Debug, serde::Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Path)]
pub struct AppPath {
    /// The app's public client id (`app_…`)
    pub client_id: String,
}

/// The user part of a user's routes, `/api/v1/apps/{client_id}/users/{external_user_id}/…`
/// (documented beside [`AppPath`]; the app is [`AppCaller`]'s).
#[derive(Debug, serde::Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Path)]
pub struct UserPath {
    /// The integrator's id for the user
    #[param(pattern = "^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$")]
    pub external_user_id: String,
}
