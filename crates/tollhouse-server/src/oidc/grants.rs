//! `POST {issuer}/token`: one explicit dispatch on `grant_type`.

use super::client_auth::{authenticate_m2m, presented_client};
use super::error::{OAuthErrors, OidcError};
use super::params::Params;
use crate::state::AppState;
use axum::body::Bytes;
use axum::extract::State;
use axum::extract::rejection::BytesRejection;
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::{IntoResponse, Response};
use tollhouse_api::oauth::{SignerSession, TokenEndpointResponse, TokenResponse, UserTokens};
use tollhouse_core::claims::{AccessTokenClaims, UserType};
use tollhouse_core::ids::generate_jti;
use tollhouse_core::scope::{ScopeError, ScopeSet};
use utoipa::ToSchema;

pub use tollhouse_api::oauth::{GrantType, SubjectTokenType};

/// Every success of `POST {issuer}/token`, by grant (documented as
/// [`TokenEndpointResponse`]).
#[derive(Debug)]
pub enum TokenAnswer {
    /// `client_credentials`.
    App(TokenResponse),
    /// `refresh_token`, `urn:ietf:params:oauth:grant-type:device_code`.
    User(UserTokens),
    /// Token exchange, and `client_credentials` with `external_user_id`.
    Signer(SignerSession),
}

impl IntoResponse for TokenAnswer {
    fn into_response(self) -> Response {
        match self {
            Self::App(r) => {
                let mut response = super::no_store(axum::Json(r));
                let headers = response.headers_mut();
                headers.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
                response
            }
            Self::User(r) => super::no_store(axum::Json(r)),
            Self::Signer(r) => super::no_store(axum::Json(r)),
        }
    }
}

/// The parameters of `POST {issuer}/token` (`application/x-www-form-urlencoded`; each at most
/// once). Which ones apply depends on `grant_type`; client credentials go in HTTP Basic or as
/// `client_id` + `client_secret`.
#[derive(Debug, ToSchema)]
#[allow(dead_code)]
pub struct TokenRequest {
    grant_type: GrantType,
    /// Requested scopes, space-separated.
    scope: Option<String>,
    /// The client: an M2M client id, or an app's public client id (device code, refresh).
    client_id: Option<String>,
    /// The M2M client secret (`client_secret_post`).
    client_secret: Option<String>,
    /// RFC 8707 resource: an absolute URI; `urn:pmth:device_code:CODE` approves a device login.
    resource: Option<String>,
    /// Audience, as `resource`.
    audience: Option<String>,
    /// With `client_credentials` and `scope=sign:mint_user_token`: the user to mint for.
    external_user_id: Option<String>,
    /// `refresh_token` grant.
    refresh_token: Option<String>,
    /// `device_code` grant.
    device_code: Option<String>,
    /// Token exchange: a user JWT or an API key.
    subject_token: Option<String>,
    /// Token exchange: the subject token's type.
    subject_token_type: Option<SubjectTokenType>,
}

/// A form value as one of the unit variants of `T` (by serde name), if it is one.
pub fn form_enum<T: serde::de::DeserializeOwned>(value: &str) -> Option<T> {
    T::deserialize(serde::de::value::StrDeserializer::<serde::de::value::Error>::new(value)).ok()
}

/// The token endpoint.
#[utoipa::path(
    post,
    path = "/api/v1/oidc/token",
    operation_id = "token",
    tag = "oidc",
    request_body(content = TokenRequest, content_type = "application/x-www-form-urlencoded"),
    security((), ("m2m_basic" = [])),
    responses(
        (status = 200, description = "Tokens; the shape depends on the grant", body = TokenEndpointResponse),
        OAuthErrors
    )
)]
pub async fn token(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<TokenAnswer, OidcError> {
    let params = Params::from_request(&headers, body)?;
    let grant_type = params.require("grant_type")?;
    let Some(grant) = form_enum::<GrantType>(grant_type) else {
        return Err(OidcError::UnsupportedGrantType(
            format!("grant type `{grant_type}` is not supported").into(),
        ));
    };
    match grant {
        GrantType::ClientCredentials if params.get("external_user_id")?.is_some() => {
            super::mint_for_user::mint_user_signer_token(&state, &headers, &params)
                .await
                .map(TokenAnswer::Signer)
        }
        GrantType::ClientCredentials => client_credentials(&state, &headers, &params)
            .await
            .map(TokenAnswer::App),
        GrantType::RefreshToken => super::refresh::refresh(&state, &headers, &params)
            .await
            .map(TokenAnswer::User),
        GrantType::DeviceCode => super::device::poll(&state, &params)
            .await
            .map(TokenAnswer::User),
        GrantType::TokenExchange => {
            super::exchange::token_exchange(&state, &headers, &params, None)
                .await
                .map(TokenAnswer::Signer)
        }
    }
}

/// RFC 6749 §4.4: an RFC 9068 JWT for the app itself.
async fn client_credentials(
    state: &AppState,
    headers: &HeaderMap,
    params: &Params,
) -> Result<TokenResponse, OidcError> {
    let app = authenticate_m2m(state, presented_client(headers, params)?).await?;
    let scope = match params.get("scope")? {
        None => app.allowed_scopes.clone(),
        Some(requested) => {
            let requested = ScopeSet::parse(requested).map_err(|e| match e {
                ScopeError::Unknown(s) => {
                    OidcError::InvalidScope(format!("unknown scope `{s}`").into())
                }
                ScopeError::Malformed => OidcError::InvalidScope("malformed scope".into()),
            })?;
            if !requested.is_subset(&app.allowed_scopes) {
                return Err(OidcError::InvalidScope(
                    "scope exceeds what this client is allowed".into(),
                ));
            }
            requested
        }
    };
    let audience = audience(state, params)?;
    let now = state.clock.now();
    let ttl = state.config.keys.access_token_ttl_secs;
    let claims = AccessTokenClaims {
        iss: state.issuer.clone(),
        sub: app.m2m_client_id.to_string(),
        aud: tollhouse_core::claims::Audience::one(audience),
        exp: now + ttl,
        iat: now,
        nbf: now,
        jti: generate_jti(state.rng.as_ref()),
        client_id: app.client_id.to_string(),
        scope: scope.to_string(),
        external_user_id: None,
        user_type: Some(UserType::AppOwner),
        token_use: None,
        parent: None,
    };
    let keys = state.keyring.snapshot();
    let access_token = keys
        .current
        .sign_access_token(&claims)
        .map_err(|e| OidcError::Internal(e.to_string()))?;
    state.metrics.token_issued("client_credentials");
    Ok(TokenResponse {
        access_token,
        token_type: "Bearer".to_owned(),
        expires_in: ttl,
        scope: claims.scope,
    })
}

/// RFC 8707 `resource` (or the common `audience`): an absolute URI without fragment; the issuer
/// itself when absent.
fn audience(state: &AppState, params: &Params) -> Result<String, OidcError> {
    let resource = params.get("resource")?;
    let audience = params.get("audience")?;
    let Some(value) = resource.or(audience) else {
        return Ok(state.issuer.clone());
    };
    if resource.is_some() && audience.is_some() && resource != audience {
        return Err(OidcError::InvalidTarget(
            "resource and audience differ".into(),
        ));
    }
    let absolute = value.split_once("://").is_some_and(|(scheme, rest)| {
        !scheme.is_empty()
            && scheme
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c))
            && !rest.is_empty()
    }) || value.starts_with("urn:");
    if !absolute || value.contains('#') || value.len() > 512 {
        return Err(OidcError::InvalidTarget(
            "resource must be an absolute URI without a fragment".into(),
        ));
    }
    Ok(value.to_owned())
}
