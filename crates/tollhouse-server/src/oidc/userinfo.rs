//! `GET|POST {issuer}/me`: OIDC Core §5.3 userinfo for a user's access token. The bearer is sent
//! as RFC 6750 allows (the `Authorization` header, or `access_token` in a form-encoded POST
//! body, never both); errors are RFC 6750 §3's: 401 with a `Bearer` challenge, 400 for a
//! malformed request. Only user access tokens are accepted: not an app's token, and not a
//! signer JWT (a credential handed to a gateway must not read the user's profile).

use super::params::Params;
use super::verify::{family_revoked, verify_user_token};
use crate::state::AppState;
use axum::body::Bytes;
use axum::extract::State;
use axum::extract::rejection::BytesRejection;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use std::collections::BTreeMap;
use tollhouse_api::error::{OAuthErrorBody, OAuthErrorCode};
use tollhouse_api::oauth::UserInfo;
use tollhouse_core::scope::ScopeSet;
use tollhouse_core::user::UserStatus;
use utoipa::openapi::{RefOr, Response as ApiResponse};

/// Every way a userinfo request fails (RFC 6750 §3.1).
#[derive(Debug, thiserror::Error)]
pub enum UserinfoError {
    /// No token, or a token that is not a live user access token of this issuer.
    #[error("invalid_token: {0}")]
    InvalidToken(&'static str),
    /// The token was sent twice, or the body could not be read.
    #[error("invalid_request: {0}")]
    InvalidRequest(&'static str),
    /// Storage is unreachable; the client may retry.
    #[error("temporarily_unavailable")]
    Unavailable(#[source] tollhouse_store::StoreError),
}

impl From<tollhouse_store::StoreError> for UserinfoError {
    fn from(err: tollhouse_store::StoreError) -> Self {
        Self::Unavailable(err)
    }
}

impl IntoResponse for UserinfoError {
    fn into_response(self) -> Response {
        let (status, error, description) = match &self {
            Self::InvalidToken(d) => (StatusCode::UNAUTHORIZED, OAuthErrorCode::InvalidToken, *d),
            Self::InvalidRequest(d) => {
                (StatusCode::BAD_REQUEST, OAuthErrorCode::InvalidRequest, *d)
            }
            Self::Unavailable(cause) => {
                tracing::warn!(error = %cause, "store unavailable");
                (
                    StatusCode::SERVICE_UNAVAILABLE,
                    OAuthErrorCode::TemporarilyUnavailable,
                    "storage is unavailable, retry later",
                )
            }
        };
        let body = OAuthErrorBody {
            error,
            error_description: description.to_owned(),
        };
        let mut response = (status, axum::Json(body)).into_response();
        let headers = response.headers_mut();
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        // RFC 6750 §3: a challenge on 401, with the error but without the description (the
        // description is free text, the challenge a quoted-string grammar).
        if status == StatusCode::UNAUTHORIZED {
            headers.insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer error=\"invalid_token\""),
            );
        }
        response
    }
}

/// The errors of `{issuer}/me`, for `#[utoipa::path]`.
#[derive(Debug)]
pub struct UserinfoErrors;

impl utoipa::IntoResponses for UserinfoErrors {
    fn responses() -> BTreeMap<String, RefOr<ApiResponse>> {
        crate::error_doc::error_responses::<OAuthErrorBody>(&[
            (400, "The token was sent more than once (`invalid_request`)"),
            (
                401,
                "No live user access token (`invalid_token`, with a `Bearer` challenge)",
            ),
            (503, "Storage unavailable (`temporarily_unavailable`)"),
        ])
    }
}

/// The form body of a `POST` that sends its token in the body (RFC 6750 §2.2).
#[derive(Debug, utoipa::ToSchema)]
#[allow(dead_code)]
pub struct AccessTokenForm {
    /// The user's access token.
    access_token: String,
}

/// The bearer of an `Authorization` header, if one is present.
fn header_token(headers: &HeaderMap) -> Result<Option<&str>, UserinfoError> {
    let mut values = headers.get_all(header::AUTHORIZATION).iter();
    let Some(value) = values.next() else {
        return Ok(None);
    };
    if values.next().is_some() {
        return Err(UserinfoError::InvalidRequest(
            "more than one Authorization header",
        ));
    }
    let token = value
        .to_str()
        .ok()
        .and_then(tollhouse_core::authorization::bearer)
        .ok_or(UserinfoError::InvalidToken("expected a Bearer token"))?;
    Ok(Some(token))
}

/// The claims `token` may read about its user.
async fn userinfo(state: &AppState, token: Option<&str>) -> Result<Response, UserinfoError> {
    let token = token.ok_or(UserinfoError::InvalidToken("a Bearer token is required"))?;
    let claims = verify_user_token(state.own_tokens(), token)
        .map_err(|_| UserinfoError::InvalidToken("the token is invalid or expired"))?;
    if claims.external_user_id.is_none() {
        return Err(UserinfoError::InvalidToken("not a user's token"));
    }
    if claims.is_signer_token() {
        return Err(UserinfoError::InvalidToken(
            "a signer token is not accepted here",
        ));
    }
    if family_revoked(state.store.as_ref(), &claims).await? {
        return Err(UserinfoError::InvalidToken("the token is revoked"));
    }
    let user = state
        .store
        .user_by_id(&claims.sub)
        .await?
        .filter(|u| u.status == UserStatus::Active && u.client_id == claims.client_id)
        .ok_or(UserinfoError::InvalidToken("the user is not active"))?;
    let scopes = ScopeSet::parse(&claims.scope).unwrap_or_default();
    let profile = scopes.contains("profile");
    let body = UserInfo {
        sub: user.id.clone(),
        email: user.email.clone().filter(|_| scopes.contains("email")),
        name: user.display_name.clone().filter(|_| profile),
        picture: user.avatar_url.clone().filter(|_| profile),
        preferred_username: profile.then(|| user.external_user_id.to_string()),
    };
    let mut response = axum::Json(body).into_response();
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(response)
}

/// `GET {issuer}/me`.
#[utoipa::path(
    get,
    path = "/api/v1/oidc/me",
    operation_id = "userinfo",
    tag = "oidc",
    security(("user_bearer" = [])),
    responses((status = 200, description = "The user's claims the token's scopes allow", body = UserInfo), UserinfoErrors)
)]
pub async fn get(State(state): State<AppState>, headers: HeaderMap) -> Response {
    match header_token(&headers) {
        Ok(token) => userinfo(&state, token).await.into_response(),
        Err(e) => e.into_response(),
    }
}

/// `POST {issuer}/me`: the bearer in the header, or `access_token` in a form body.
#[utoipa::path(
    post,
    path = "/api/v1/oidc/me",
    operation_id = "userinfoPost",
    tag = "oidc",
    security(("user_bearer" = [])),
    request_body(content = Option<AccessTokenForm>, content_type = "application/x-www-form-urlencoded"),
    responses((status = 200, description = "The user's claims the token's scopes allow", body = UserInfo), UserinfoErrors)
)]
pub async fn post(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let from_header = match header_token(&headers) {
        Ok(token) => token,
        Err(e) => return e.into_response(),
    };
    // A body is optional; when there is one it is a form (RFC 6750 §2.2).
    let has_body = body.as_ref().map_or(true, |b| !b.is_empty());
    let params = if has_body {
        match Params::from_request(&headers, body) {
            Ok(params) => params,
            Err(_) => {
                return UserinfoError::InvalidRequest(
                    "the body must be a form holding access_token",
                )
                .into_response();
            }
        }
    } else {
        Params::default()
    };
    let from_body = match params.get("access_token") {
        Ok(token) => token,
        Err(_) => return UserinfoError::InvalidRequest("access_token is repeated").into_response(),
    };
    let token = match (from_header, from_body) {
        (Some(_), Some(_)) => {
            return UserinfoError::InvalidRequest(
                "the token is sent both in the header and in the body",
            )
            .into_response();
        }
        (token, None) | (None, token) => token,
    };
    userinfo(&state, token).await.into_response()
}
