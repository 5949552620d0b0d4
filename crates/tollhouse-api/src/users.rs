//! The app and its users: `GET A`, `GET`/`POST`/`DELETE A/users`, `POST A/users/{ext}/token`.

use serde::{Deserialize, Serialize};

/// `GET A`: the app itself.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "openapi", serde(deny_unknown_fields))]
#[serde(rename_all = "camelCase")]
pub struct AppInfo {
    /// Scopes the app's M2M client may request.
    pub allowed_scopes: Vec<String>,
    /// The public client id (`app_…`).
    pub client_id: String,
    /// Display name.
    pub name: String,
    /// `active` (a disabled app cannot authenticate).
    #[cfg_attr(feature = "openapi", schema(pattern = "^(active|disabled)$"))]
    pub status: String,
}

/// Whether a user may get tokens.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum UserStatus {
    /// Gets tokens; the default for a new user.
    #[default]
    Active,
    /// Deactivated: no new tokens, existing credentials refused.
    Inactive,
}

impl UserStatus {
    /// The wire name.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Active => "active",
            Self::Inactive => "inactive",
        }
    }
}

/// An app user.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "openapi", serde(deny_unknown_fields))]
#[serde(rename_all = "camelCase")]
pub struct UserView {
    /// The app's public client id.
    pub client_id: String,
    /// When the user was first created (RFC 3339).
    #[cfg_attr(feature = "openapi", schema(format = DateTime))]
    pub created_at: String,
    /// The user's email, if one was given.
    #[cfg_attr(feature = "openapi", schema(required = true))]
    pub email: Option<String>,
    /// The integrator's id for the user.
    pub external_user_id: String,
    /// Tollhouse's id for the user (a UUID; the `sub` of the user's tokens).
    pub id: String,
    /// Always `user`.
    #[cfg_attr(feature = "openapi", schema(pattern = "^user$"))]
    pub role: String,
    /// `active` or `inactive`.
    pub status: UserStatus,
    /// Name shown to other peers in live rooms (copied into room tokens).
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(required = true))]
    pub display_name: Option<String>,
    /// Picture shown to other peers in live rooms (copied into room tokens).
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(required = true))]
    pub avatar_url: Option<String>,
}

/// `GET A/users`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "openapi", serde(deny_unknown_fields))]
pub struct UserList {
    /// Every user of the app, active or not.
    pub users: Vec<UserView>,
}

/// Body of `POST A/users` (create, or update the given fields of an existing user).
///
/// ```
/// use tollhouse_api::users::UpsertUser;
/// let body = UpsertUser { email: Some("ada@example.com".into()), ..UpsertUser::new("ada") };
/// assert_eq!(
///     serde_json::to_string(&body).unwrap(),
///     r#"{"externalUserId":"ada","email":"ada@example.com"}"#
/// );
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct UpsertUser {
    /// The integrator's id for the user (no `owner:`/`user:` prefix).
    #[cfg_attr(
        feature = "openapi",
        schema(pattern = "^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$")
    )]
    pub external_user_id: String,
    /// An email address (at most 254 characters); empty or absent leaves it unchanged.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    /// `active` (default for a new user) or `inactive`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<UserStatus>,
    /// Name shown to other peers in live rooms (at most 64 characters); absent or empty leaves
    /// it unchanged.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(max_length = 64))]
    pub display_name: Option<String>,
    /// `https://` (or `http://`) URL of the user's picture (at most 2048 characters); absent or
    /// empty leaves it unchanged.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(max_length = 2048))]
    pub avatar_url: Option<String>,
}

impl UpsertUser {
    /// Only the external id: creates the user, or leaves an existing one as it is.
    pub fn new(external_user_id: impl Into<String>) -> Self {
        Self {
            external_user_id: external_user_id.into(),
            ..Self::default()
        }
    }
}

/// `{"success": true, "status": …}`: user deactivation and device denial.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "openapi", serde(deny_unknown_fields))]
pub struct Done {
    /// The resulting status (`inactive`, `denied`).
    #[cfg_attr(feature = "openapi", schema(pattern = "^(inactive|denied)$"))]
    pub status: String,
    /// Always `true`.
    pub success: bool,
}

/// Body of `POST A/users/{ext}/token` (optional: no body means the defaults).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct MintUserToken {
    /// User scopes, space-separated (`openid email profile sign:job`); default `sign:job`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scope: Option<String>,
}

/// A user's tokens as `POST A/users/{ext}/token` returns them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "openapi", serde(deny_unknown_fields))]
pub struct BuilderUserTokens {
    /// 900 s RFC 9068 user JWT.
    pub access_token: String,
    /// A fresh UUID identifying this issuance.
    pub correlation_id: String,
    /// Lifetime of the access token in seconds.
    pub expires_in: i64,
    /// A rotating refresh token (a new family).
    pub refresh_token: String,
    /// Space-separated scopes.
    pub scope: String,
    /// Always `app_user`.
    #[cfg_attr(feature = "openapi", schema(pattern = "^app_user$"))]
    pub subject_type: String,
    /// Always `Bearer`.
    #[cfg_attr(feature = "openapi", schema(pattern = "^Bearer$"))]
    pub token_type: String,
}
