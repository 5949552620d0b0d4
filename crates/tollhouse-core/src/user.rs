//! App users: the integrator's own end users, known to Tollhouse by their external id.

use crate::UnixTime;
use std::fmt;

/// An integrator's user id: `^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$`, no `owner:`/`user:` prefix
/// (those name other subject kinds in PymtHouse and would make `auth_id`s ambiguous).
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ExternalUserId(String);

/// Why an external user id was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ExternalUserIdError {
    /// Empty or longer than 128 characters.
    #[error("externalUserId must be 1 to 128 characters")]
    Length,
    /// A character outside `A-Z a-z 0-9 . _ : -`, or a first character that is not alphanumeric.
    #[error(
        "externalUserId may contain only letters, digits, '.', '_', ':' and '-', and must start with a letter or digit"
    )]
    Characters,
    /// A reserved prefix.
    #[error("externalUserId must not start with `owner:` or `user:`")]
    ReservedPrefix,
}

impl ExternalUserId {
    /// Validates `value`.
    pub fn parse(value: &str) -> Result<Self, ExternalUserIdError> {
        if value.is_empty() || value.len() > 128 {
            return Err(ExternalUserIdError::Length);
        }
        let bytes = value.as_bytes();
        let allowed = |b: u8| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b':' | b'-');
        let starts_well = bytes.first().is_some_and(u8::is_ascii_alphanumeric);
        if !starts_well || !bytes.iter().all(|b| allowed(*b)) {
            return Err(ExternalUserIdError::Characters);
        }
        let lower = value.to_ascii_lowercase();
        if lower.starts_with("owner:") || lower.starts_with("user:") {
            return Err(ExternalUserIdError::ReservedPrefix);
        }
        Ok(Self(value.to_owned()))
    }

    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for ExternalUserId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for ExternalUserId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ExternalUserId({})", self.0)
    }
}

/// Whether a user may obtain and use credentials.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UserStatus {
    /// Normal.
    Active,
    /// Deactivated: mints nothing, and existing credentials stop working.
    Inactive,
}

impl UserStatus {
    /// Wire and storage form.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Active => "active",
            Self::Inactive => "inactive",
        }
    }

    /// Parses the wire and storage form.
    pub fn parse(value: &str) -> Option<Self> {
        match value {
            "active" => Some(Self::Active),
            "inactive" => Some(Self::Inactive),
            _ => None,
        }
    }
}

/// A stored app user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppUser {
    /// Tollhouse's own id (UUID), the `sub` of the user's tokens.
    pub id: String,
    /// The app the user belongs to.
    pub client_id: String,
    /// The integrator's id for the user.
    pub external_user_id: ExternalUserId,
    /// Optional e-mail.
    pub email: Option<String>,
    /// Active or inactive.
    pub status: UserStatus,
    /// Creation time.
    pub created_at: UnixTime,
    /// Name shown to other peers in live rooms.
    pub display_name: Option<String>,
    /// Picture shown to other peers in live rooms.
    pub avatar_url: Option<String>,
}

impl AppUser {
    /// The usage subject go-livepeer records: `<client_id>:<external user id>`.
    pub fn auth_id(&self) -> String {
        format!("{}:{}", self.client_id, self.external_user_id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_documented_shapes() {
        for ok in ["u1", "User.42", "a:b:c", "x-y_z", &"a".repeat(128)] {
            assert!(ExternalUserId::parse(ok).is_ok(), "{ok}");
        }
    }

    #[test]
    fn refuses_everything_else() {
        assert_eq!(ExternalUserId::parse(""), Err(ExternalUserIdError::Length));
        assert_eq!(
            ExternalUserId::parse(&"a".repeat(129)),
            Err(ExternalUserIdError::Length)
        );
        for bad in ["-a", ".a", "a@b.c", "a b", "é", "a/b", "_x"] {
            assert_eq!(
                ExternalUserId::parse(bad),
                Err(ExternalUserIdError::Characters),
                "{bad}"
            );
        }
        assert_eq!(
            ExternalUserId::parse("owner:1"),
            Err(ExternalUserIdError::ReservedPrefix)
        );
        assert_eq!(
            ExternalUserId::parse("User:1"),
            Err(ExternalUserIdError::ReservedPrefix)
        );
    }
}
