//! Apps (tenants): a public client for end users and a confidential M2M client for the backend.

use crate::UnixTime;
use crate::ids::{AppClientId, M2mClientId};
use crate::scope::ScopeSet;
use crate::secret::SecretHash;

/// Whether an app may be used.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AppStatus {
    /// Normal operation.
    Active,
    /// Disabled by an operator: its clients cannot authenticate.
    Disabled,
}

impl AppStatus {
    /// Storage and wire form.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Active => "active",
            Self::Disabled => "disabled",
        }
    }

    /// Parses the storage form.
    pub fn parse(value: &str) -> Option<Self> {
        match value {
            "active" => Some(Self::Active),
            "disabled" => Some(Self::Disabled),
            _ => None,
        }
    }
}

/// A stored app.
#[derive(Debug, Clone)]
pub struct App {
    /// Public client id, the tenant key.
    pub client_id: AppClientId,
    /// Display name.
    pub name: String,
    /// Active or disabled.
    pub status: AppStatus,
    /// Scopes the M2M client may request.
    pub allowed_scopes: ScopeSet,
    /// Confidential client id.
    pub m2m_client_id: M2mClientId,
    /// Keyed hash of the M2M client secret.
    pub m2m_secret_hash: SecretHash,
    /// Creation time.
    pub created_at: UnixTime,
}
