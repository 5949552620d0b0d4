//! A user's API keys: `GET`/`POST`/`DELETE A/users/{ext}/keys`. A key is shown once, when it is
//! created; listings show its prefix and suffix only.

use serde::{Deserialize, Serialize};

/// Whether a key still works.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum KeyStatus {
    /// Usable.
    Active,
    /// Revoked: refused everywhere.
    Revoked,
}

impl KeyStatus {
    /// The wire name.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Active => "active",
            Self::Revoked => "revoked",
        }
    }
}

/// An API key as listed (the key itself is never shown again).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "openapi", serde(deny_unknown_fields))]
#[serde(rename_all = "camelCase")]
pub struct ApiKeyView {
    /// When the key was created (RFC 3339).
    #[cfg_attr(feature = "openapi", schema(format = DateTime))]
    pub created_at: String,
    /// The key's id (a UUID).
    pub id: String,
    /// The integrator's label, if any.
    #[cfg_attr(feature = "openapi", schema(required = true))]
    pub label: Option<String>,
    /// The first 41 characters of the composite key.
    pub prefix: String,
    /// When the key was revoked (RFC 3339), or null.
    #[cfg_attr(feature = "openapi", schema(required = true, format = DateTime))]
    pub revoked_at: Option<String>,
    /// `active` or `revoked`.
    pub status: KeyStatus,
    /// The last 4 characters of the key.
    pub suffix: String,
}

/// A new API key, shown this once.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "openapi", serde(deny_unknown_fields))]
#[serde(rename_all = "camelCase")]
pub struct CreatedApiKey {
    /// The composite key `app_<24hex>_pmth_ak_<64hex>`.
    pub api_key: String,
    /// When the key was created (RFC 3339).
    #[cfg_attr(feature = "openapi", schema(format = DateTime))]
    pub created_at: String,
    /// The key's id (a UUID).
    pub id: String,
    /// The integrator's label, if any.
    #[cfg_attr(feature = "openapi", schema(required = true))]
    pub label: Option<String>,
    /// The first 41 characters of the composite key.
    pub prefix: String,
    /// Always null.
    #[cfg_attr(feature = "openapi", schema(required = true, format = DateTime))]
    pub revoked_at: Option<String>,
    /// Always `active`.
    pub status: KeyStatus,
    /// The last 4 characters of the key.
    pub suffix: String,
}

/// Debug output that never shows the key.
impl std::fmt::Debug for CreatedApiKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CreatedApiKey")
            .field("api_key", &"<redacted>")
            .field("created_at", &self.created_at)
            .field("id", &self.id)
            .field("label", &self.label)
            .field("prefix", &self.prefix)
            .field("revoked_at", &self.revoked_at)
            .field("status", &self.status)
            .field("suffix", &self.suffix)
            .finish()
    }
}

/// `GET A/users/{ext}/keys`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "openapi", serde(deny_unknown_fields))]
pub struct KeyList {
    /// Every key of the user, live or revoked.
    pub keys: Vec<ApiKeyView>,
}

/// `DELETE A/users/{ext}/keys?keyId=`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "openapi", serde(deny_unknown_fields))]
pub struct RevokedKey {
    /// The key, now revoked.
    pub key: ApiKeyView,
    /// Always `true`.
    pub success: bool,
}

/// Body of `POST A/users/{ext}/keys` (optional).
///
/// ```
/// use tollhouse_api::keys::CreateKey;
/// let body = CreateKey { label: Some("laptop".into()) };
/// assert_eq!(serde_json::to_string(&body).unwrap(), r#"{"label":"laptop"}"#);
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CreateKey {
    /// A label for the integrator's own use, at most 200 bytes of UTF-8, no NUL; empty means
    /// none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label: Option<String>,
}
