//! OAuth scopes: parsing, validation against the known set, and subset checks.

use std::collections::BTreeSet;
use std::fmt;

/// Every scope Tollhouse knows (spec: builder-api.md, "Scopes").
pub const KNOWN_SCOPES: &[&str] = &[
    "openid",
    "email",
    "profile",
    "sign:job",
    "users:read",
    "users:write",
    "users:token",
    "device:approve",
    "admin",
    "sign:mint_user_token",
];

/// Scopes a new app's M2M client may request unless `--scopes` says otherwise.
pub const DEFAULT_APP_SCOPES: &str = "openid email profile sign:job users:read users:write users:token device:approve sign:mint_user_token";

/// A set of scopes, kept sorted so its text form is stable.
#[derive(Clone, PartialEq, Eq, Default)]
pub struct ScopeSet(BTreeSet<String>);

/// Why a scope string was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ScopeError {
    /// A token that is not one of [`KNOWN_SCOPES`].
    #[error("unknown scope `{0}`")]
    Unknown(String),
    /// Characters outside RFC 6749's scope-token grammar.
    #[error("malformed scope value")]
    Malformed,
}

impl ScopeSet {
    /// Parses a space-separated scope string; every token must be known.
    pub fn parse(value: &str) -> Result<Self, ScopeError> {
        let mut set = BTreeSet::new();
        for token in value.split(' ').filter(|t| !t.is_empty()) {
            // RFC 6749 §3.3: scope-token = 1*( %x21 / %x23-5B / %x5D-7E )
            if !token
                .bytes()
                .all(|b| b == 0x21 || (0x23..=0x5b).contains(&b) || (0x5d..=0x7e).contains(&b))
            {
                return Err(ScopeError::Malformed);
            }
            if !KNOWN_SCOPES.contains(&token) {
                return Err(ScopeError::Unknown(token.to_owned()));
            }
            set.insert(token.to_owned());
        }
        Ok(Self(set))
    }

    /// Whether no scope is present.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Whether every scope of `self` is in `allowed`.
    pub fn is_subset(&self, allowed: &ScopeSet) -> bool {
        self.0.is_subset(&allowed.0)
    }

    /// Whether `scope` is present.
    pub fn contains(&self, scope: &str) -> bool {
        self.0.contains(scope)
    }

    /// The scopes, sorted.
    pub fn iter(&self) -> impl Iterator<Item = &str> {
        self.0.iter().map(String::as_str)
    }
}

impl fmt::Display for ScopeSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut first = true;
        for s in &self.0 {
            if !first {
                f.write_str(" ")?;
            }
            f.write_str(s)?;
            first = false;
        }
        Ok(())
    }
}

impl fmt::Debug for ScopeSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ScopeSet({self})")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_orders() {
        let s = ScopeSet::parse("users:read  sign:job").unwrap_or_default();
        assert_eq!(s.to_string(), "sign:job users:read");
        assert!(s.contains("sign:job"));
    }

    #[test]
    fn refuses_unknown_and_malformed() {
        assert_eq!(
            ScopeSet::parse("root"),
            Err(ScopeError::Unknown("root".into()))
        );
        assert_eq!(ScopeSet::parse("a\"b"), Err(ScopeError::Malformed));
    }

    #[test]
    fn subset() {
        let allowed = ScopeSet::parse(DEFAULT_APP_SCOPES).unwrap_or_default();
        assert!(
            ScopeSet::parse("users:read")
                .unwrap_or_default()
                .is_subset(&allowed)
        );
        assert!(
            !ScopeSet::parse("admin")
                .unwrap_or_default()
                .is_subset(&allowed)
        );
    }
}
