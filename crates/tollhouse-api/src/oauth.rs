//! OAuth 2.0 / OIDC bodies: provider metadata, the token endpoint's responses (app token, user
//! tokens, SignerSession), the RFC 8628 device authorization response, and the JSON bodies of the
//! exchange facades.

use serde::{Deserialize, Serialize};
use tollhouse_core::money::UsdMicros;

/// `issued_token_type` (and `subject_token_type`) of a JWT access token (RFC 8693).
pub const ACCESS_TOKEN_TYPE: &str = "urn:ietf:params:oauth:token-type:access_token";
/// `subject_token_type` of a user's API key.
pub const API_KEY_TOKEN_TYPE: &str = "urn:pymthouse:oauth:token-type:api_key";
/// Prefix of the `resource` that approves a pending device login (`…:<USERCODE>`).
pub const DEVICE_RESOURCE_PREFIX: &str = "urn:pmth:device_code:";
/// The scope that lets an M2M client mint user signer tokens.
pub const MINT_USER_TOKEN_SCOPE: &str = "sign:mint_user_token";

/// Grant types of the token endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum GrantType {
    /// RFC 6749 §4.4.
    #[serde(rename = "client_credentials")]
    ClientCredentials,
    /// RFC 6749 §6.
    #[serde(rename = "refresh_token")]
    RefreshToken,
    /// RFC 8628.
    #[serde(rename = "urn:ietf:params:oauth:grant-type:device_code")]
    DeviceCode,
    /// RFC 8693.
    #[serde(rename = "urn:ietf:params:oauth:grant-type:token-exchange")]
    TokenExchange,
}

impl GrantType {
    /// The wire name.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::ClientCredentials => "client_credentials",
            Self::RefreshToken => "refresh_token",
            Self::DeviceCode => "urn:ietf:params:oauth:grant-type:device_code",
            Self::TokenExchange => "urn:ietf:params:oauth:grant-type:token-exchange",
        }
    }
}

/// `subject_token_type` values of the token exchange.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum SubjectTokenType {
    /// A user JWT issued to this app.
    #[serde(rename = "urn:ietf:params:oauth:token-type:access_token")]
    AccessToken,
    /// A user's API key (bare or composite).
    #[serde(rename = "urn:pymthouse:oauth:token-type:api_key")]
    ApiKey,
}

impl SubjectTokenType {
    /// The wire name.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::AccessToken => ACCESS_TOKEN_TYPE,
            Self::ApiKey => API_KEY_TOKEN_TYPE,
        }
    }
}

/// OpenID Provider / RFC 8414 authorization server metadata.
///
/// Only `issuer`, `token_endpoint` and `jwks_uri` are required when reading another issuer's
/// document; the rest default to empty.
///
/// ```
/// use tollhouse_api::oauth::ProviderMetadata;
/// let doc: ProviderMetadata = serde_json::from_str(r#"{
///     "issuer": "https://auth.example.com/api/v1/oidc",
///     "token_endpoint": "https://auth.example.com/api/v1/oidc/token",
///     "jwks_uri": "https://auth.example.com/api/v1/oidc/jwks"
/// }"#).unwrap();
/// assert!(doc.device_authorization_endpoint.is_none());
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "openapi", serde(deny_unknown_fields))]
pub struct ProviderMetadata {
    /// The JWT signing algorithm in use.
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(required = true))]
    pub access_token_signing_alg_values_supported: Vec<String>,
    /// RFC 8628 device authorization endpoint.
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(required = true, nullable = false))]
    pub device_authorization_endpoint: Option<String>,
    /// Grant types the token endpoint accepts.
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(required = true))]
    pub grant_types_supported: Vec<String>,
    /// RFC 7662 introspection endpoint.
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(required = true, nullable = false))]
    pub introspection_endpoint: Option<String>,
    /// How clients authenticate at the introspection endpoint.
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(required = true))]
    pub introspection_endpoint_auth_methods_supported: Vec<String>,
    /// The issuer identifier; equals the `iss` of every token.
    pub issuer: String,
    /// The JWK set.
    pub jwks_uri: String,
    /// Empty: there is no authorization endpoint.
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(required = true))]
    pub response_types_supported: Vec<String>,
    /// RFC 7009 revocation endpoint.
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(required = true, nullable = false))]
    pub revocation_endpoint: Option<String>,
    /// How clients authenticate at the revocation endpoint.
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(required = true))]
    pub revocation_endpoint_auth_methods_supported: Vec<String>,
    /// Every scope the server knows.
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(required = true))]
    pub scopes_supported: Vec<String>,
    /// Always `["public"]`.
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(required = true))]
    pub subject_types_supported: Vec<String>,
    /// The token endpoint.
    pub token_endpoint: String,
    /// How clients authenticate at the token endpoint.
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(required = true))]
    pub token_endpoint_auth_methods_supported: Vec<String>,
    /// OIDC userinfo endpoint (`{issuer}/me`).
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(required = true, nullable = false))]
    pub userinfo_endpoint: Option<String>,
}

/// The successful `client_credentials` response (RFC 6749 §5.1): a JWT for the app itself.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "openapi", serde(deny_unknown_fields))]
pub struct TokenResponse {
    /// RFC 9068 JWT access token.
    pub access_token: String,
    /// Always `Bearer`.
    #[cfg_attr(feature = "openapi", schema(pattern = "^Bearer$"))]
    pub token_type: String,
    /// Lifetime in seconds.
    pub expires_in: i64,
    /// Space-separated granted scopes.
    pub scope: String,
}

/// A user's access token with its rotating refresh token: the `refresh_token` and `device_code`
/// grants.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "openapi", serde(deny_unknown_fields))]
pub struct UserTokens {
    /// 900 s RFC 9068 user JWT.
    pub access_token: String,
    /// Lifetime of the access token in seconds.
    pub expires_in: i64,
    /// The next refresh token (the presented one is now spent).
    pub refresh_token: String,
    /// Space-separated scopes.
    pub scope: String,
    /// Always `Bearer`.
    #[cfg_attr(feature = "openapi", schema(pattern = "^Bearer$"))]
    pub token_type: String,
}

/// The token-exchange / SignerSession response: a signer credential with the user's prepaid
/// balance. Also the answer of `client_credentials` + `external_user_id`, of the device
/// approval exchange and of both exchange facades.
///
/// ```
/// use tollhouse_api::oauth::SignerSession;
/// let session: SignerSession = serde_json::from_str(r#"{
///     "access_token": "pmth_0123", "balanceUsdMicros": "-5", "expires_in": 7776000,
///     "issued_token_type": "urn:ietf:params:oauth:token-type:access_token",
///     "lifetimeGrantedUsdMicros": "1000000", "scope": "sign:job", "token_type": "Bearer"
/// }"#).unwrap();
/// assert_eq!(session.balance_usd_micros.get(), -5);
/// assert!(session.signer_url.is_none());
/// ```
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "openapi", serde(deny_unknown_fields))]
pub struct SignerSession {
    /// An opaque `pmth_` signer session (90 days) or a signer JWT (300 s).
    pub access_token: String,
    /// The user's balance in micro-USD.
    #[serde(rename = "balanceUsdMicros")]
    #[cfg_attr(feature = "openapi", schema(value_type = String, pattern = "^-?[0-9]+$"))]
    pub balance_usd_micros: UsdMicros,
    /// Lifetime in seconds.
    pub expires_in: i64,
    /// Always `urn:ietf:params:oauth:token-type:access_token`.
    #[cfg_attr(
        feature = "openapi",
        schema(pattern = "^urn:ietf:params:oauth:token-type:access_token$")
    )]
    pub issued_token_type: String,
    /// Everything ever granted to the user, in micro-USD.
    #[serde(rename = "lifetimeGrantedUsdMicros")]
    #[cfg_attr(feature = "openapi", schema(value_type = String, pattern = "^-?[0-9]+$"))]
    pub lifetime_granted_usd_micros: UsdMicros,
    /// Space-separated scopes.
    pub scope: String,
    /// The remote signer's URL, when one is configured.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(nullable = false))]
    pub signer_url: Option<String>,
    /// Always `Bearer`.
    #[cfg_attr(feature = "openapi", schema(pattern = "^Bearer$"))]
    pub token_type: String,
}

/// Every success of `POST {issuer}/token`, by grant.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(untagged)]
// Most specific first, so that a lenient reader (without `deny_unknown_fields`) picks the
// right variant.
pub enum TokenEndpointResponse {
    /// Token exchange, and `client_credentials` with `external_user_id`.
    Signer(SignerSession),
    /// `refresh_token`, `urn:ietf:params:oauth:grant-type:device_code`.
    User(UserTokens),
    /// `client_credentials`.
    App(TokenResponse),
}

/// RFC 8628 §3.2 device authorization response.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "openapi", serde(deny_unknown_fields))]
pub struct DeviceAuthorization {
    /// The device's secret polling code.
    pub device_code: String,
    /// Seconds until the codes expire.
    pub expires_in: i64,
    /// Minimum seconds between polls.
    pub interval: i64,
    /// The code the user types, `XXXX-XXXX` from a base-20 alphabet.
    #[cfg_attr(
        feature = "openapi",
        schema(pattern = "^[BCDFGHJKLMNPQRSTVWXZ]{4}-[BCDFGHJKLMNPQRSTVWXZ]{4}$")
    )]
    pub user_code: String,
    /// Where the user goes.
    pub verification_uri: String,
    /// `verification_uri` with `user_code`, `client_id` and `iss`.
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(required = true))]
    pub verification_uri_complete: String,
}

/// Body of `POST A/device/deny`: the integrator refuses a pending device login.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct DenyDevice {
    /// The user code the device shows (`XXXX-XXXX`; case, dashes and spaces do not matter).
    pub user_code: String,
}

/// Body of the API-key facade `POST /api/pymthouse/keys/exchange`.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct KeyExchange {
    /// The API key, bare (`pmth_…`) or composite (`app_…_pmth_…`).
    pub api_key: String,
    /// Requested user scopes, space-separated (default `sign:job`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scope: Option<String>,
    /// The app the key must belong to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_id: Option<String>,
}

/// Body of the device-token facade `POST /api/signer/device/exchange`.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct DeviceExchange {
    /// The user JWT the device obtained through the device flow.
    pub device_token: String,
    /// Requested scopes, a subset of the device token's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scope: Option<String>,
    /// The app the device token must belong to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_id: Option<String>,
}

/// Implements `Debug` without the listed secret fields.
macro_rules! redacted_debug {
    ($ty:ident { $($field:ident),* } hide { $($secret:ident),* }) => {
        impl std::fmt::Debug for $ty {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.debug_struct(stringify!($ty))
                    $(.field(stringify!($secret), &"<redacted>"))*
                    $(.field(stringify!($field), &self.$field))*
                    .finish()
            }
        }
    };
}

redacted_debug!(TokenResponse { token_type, expires_in, scope } hide { access_token });
redacted_debug!(UserTokens { expires_in, scope, token_type } hide { access_token, refresh_token });
redacted_debug!(SignerSession {
    balance_usd_micros, expires_in, issued_token_type, lifetime_granted_usd_micros, scope,
    signer_url, token_type
} hide { access_token });
redacted_debug!(DeviceAuthorization {
    expires_in, interval, user_code, verification_uri, verification_uri_complete
} hide { device_code });
redacted_debug!(KeyExchange { scope, client_id } hide { api_key });
redacted_debug!(DeviceExchange { scope, client_id } hide { device_token });

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn token_endpoint_answers_are_told_apart_by_their_fields() {
        let app: TokenEndpointResponse = serde_json::from_str(
            r#"{"access_token":"eyJ","token_type":"Bearer","expires_in":300,"scope":"users:read"}"#,
        )
        .unwrap();
        assert!(matches!(app, TokenEndpointResponse::App(_)));
        let user: TokenEndpointResponse = serde_json::from_str(
            r#"{"access_token":"eyJ","expires_in":900,"refresh_token":"r","scope":"sign:job","token_type":"Bearer"}"#,
        )
        .unwrap();
        assert!(matches!(user, TokenEndpointResponse::User(_)));
    }

    #[test]
    fn debug_output_hides_secrets() {
        let session = SignerSession {
            access_token: "pmth_secret".into(),
            balance_usd_micros: UsdMicros::new(1),
            expires_in: 1,
            issued_token_type: ACCESS_TOKEN_TYPE.into(),
            lifetime_granted_usd_micros: UsdMicros::new(1),
            scope: "sign:job".into(),
            signer_url: None,
            token_type: "Bearer".into(),
        };
        let text = format!("{session:?}");
        assert!(!text.contains("pmth_secret"), "{text}");
        assert!(text.contains("sign:job"), "{text}");
    }

    #[test]
    fn grant_and_subject_names_round_trip() {
        for grant in [
            GrantType::ClientCredentials,
            GrantType::RefreshToken,
            GrantType::DeviceCode,
            GrantType::TokenExchange,
        ] {
            let text = serde_json::to_value(grant).unwrap();
            assert_eq!(text, serde_json::Value::from(grant.as_str()));
        }
        for subject in [SubjectTokenType::AccessToken, SubjectTokenType::ApiKey] {
            let text = serde_json::to_value(subject).unwrap();
            assert_eq!(text, serde_json::Value::from(subject.as_str()));
        }
    }
}

/// OIDC Core §5.3 userinfo: the claims a user access token's scopes allow (`email` with the
/// `email` scope; `name`, `picture` and `preferred_username` with `profile`), each present only
/// where the user record has it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "openapi", serde(deny_unknown_fields))]
pub struct UserInfo {
    /// The user's id: the `sub` of their tokens.
    pub sub: String,
    /// The user's email.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(nullable = false))]
    pub email: Option<String>,
    /// The user's display name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(nullable = false))]
    pub name: Option<String>,
    /// The user's picture URL.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(nullable = false))]
    pub picture: Option<String>,
    /// The integrator's id for the user.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(nullable = false))]
    pub preferred_username: Option<String>,
}
