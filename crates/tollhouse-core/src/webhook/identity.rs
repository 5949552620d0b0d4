//! What the identity webhook concludes about an end user, in the terms of go-livepeer's remote
//! signer: who vouches, which app, which billed subject, and the `auth_id` the signer stores in
//! the payment session.

use super::TrustedHeaders;
use crate::UnixTime;

/// The subject type reported when nothing says otherwise.
pub const DEFAULT_SUBJECT_TYPE: &str = "external_user_id";

/// The issuer reported for identities asserted by trusted headers without an issuer header.
pub const TRUSTED_HEADERS_ISSUER: &str = "trusted-headers";

/// Who the end user is, as the webhook reports it to the signer.
///
/// ```
/// use tollhouse_core::webhook::UsageIdentity;
/// let alice = UsageIdentity::new("https://tollhouse.example/api/v1/oidc", "app_1", "alice")
///     .expiring_at(1_800_000_900);
/// assert_eq!(alice.auth_id(), "app_1:alice");
/// assert_eq!(alice.usage_subject_type, "external_user_id");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UsageIdentity {
    /// Who vouches for the identity (an issuer URL, or e.g. `trusted-headers`).
    pub issuer: String,
    /// The app the user belongs to (Tollhouse: the public `app_…` client id).
    pub client_id: String,
    /// The billed subject (the external user id).
    pub usage_subject: String,
    /// What kind of subject that is (`external_user_id`, `auth0_user_id`…).
    pub usage_subject_type: String,
    /// When the credential stops being valid (unix seconds), if it expires.
    pub expires_at: Option<UnixTime>,
}

impl UsageIdentity {
    /// An identity of `usage_subject` in app `client_id`, subject type `external_user_id`,
    /// without expiry.
    pub fn new(
        issuer: impl Into<String>,
        client_id: impl Into<String>,
        usage_subject: impl Into<String>,
    ) -> Self {
        Self {
            issuer: issuer.into(),
            client_id: client_id.into(),
            usage_subject: usage_subject.into(),
            usage_subject_type: DEFAULT_SUBJECT_TYPE.into(),
            expires_at: None,
        }
    }

    /// The same identity, expiring at `unix_seconds`.
    pub fn expiring_at(mut self, unix_seconds: UnixTime) -> Self {
        self.expires_at = Some(unix_seconds);
        self
    }

    /// `<client_id>:<usage_subject>`: what the signer stores as the payment session's auth id
    /// and reports in usage events. Stable per user (go-livepeer refuses a changed one).
    pub fn auth_id(&self) -> String {
        format!("{}:{}", self.client_id, self.usage_subject)
    }

    /// Whether `auth_id` is this identity's [`UsageIdentity::auth_id`], compared without
    /// building it (the webhook asks on every call of a running payment session).
    pub fn has_auth_id(&self, auth_id: &str) -> bool {
        auth_id
            .strip_prefix(self.client_id.as_str())
            .and_then(|rest| rest.strip_prefix(':'))
            == Some(self.usage_subject.as_str())
    }
}

impl TrustedHeaders {
    /// The identity the headers assert, if they name both an app and a subject. Whether to
    /// believe them is the deployment's decision (they are honoured only when enabled).
    pub fn identity(&self) -> Option<UsageIdentity> {
        let (Some(client_id), Some(subject)) = (&self.client_id, &self.subject) else {
            return None;
        };
        Some(UsageIdentity {
            issuer: self
                .issuer
                .clone()
                .unwrap_or_else(|| TRUSTED_HEADERS_ISSUER.into()),
            client_id: client_id.clone(),
            usage_subject: subject.clone(),
            usage_subject_type: self
                .subject_type
                .clone()
                .unwrap_or_else(|| DEFAULT_SUBJECT_TYPE.into()),
            expires_at: None,
        })
    }
}

/// The verdict's `expiry`: the signer asks again after `recheck_secs`, and never later than
/// the credential's own expiry.
pub fn verdict_expiry(now: UnixTime, recheck_secs: i64, expires_at: Option<UnixTime>) -> UnixTime {
    let recheck_at = now.saturating_add(recheck_secs);
    expires_at.map_or(recheck_at, |exp| exp.min(recheck_at))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn trusted_headers_need_an_app_and_a_subject_and_fill_the_rest() {
        let mut headers = TrustedHeaders {
            client_id: Some("app_1".into()),
            ..TrustedHeaders::default()
        };
        assert_eq!(headers.identity(), None);
        headers.subject = Some("bob".into());
        let bob = headers.identity().unwrap();
        assert_eq!(
            (bob.issuer.as_str(), bob.auth_id()),
            ("trusted-headers", "app_1:bob".into())
        );
        assert_eq!(bob.usage_subject_type, "external_user_id");
        assert!(bob.has_auth_id("app_1:bob"));
        for other in [
            "app_1:bobby",
            "app_1:",
            "app_1bob",
            "app_2:bob",
            "app_1:bo",
            "",
        ] {
            assert!(!bob.has_auth_id(other), "{other:?}");
        }
        headers.issuer = Some("https://idp".into());
        headers.subject_type = Some("auth0_user_id".into());
        let bob = headers.identity().unwrap();
        assert_eq!(
            (bob.issuer.as_str(), bob.usage_subject_type.as_str()),
            ("https://idp", "auth0_user_id")
        );
    }

    #[test]
    fn the_verdict_never_outlives_the_credential() {
        assert_eq!(verdict_expiry(100, 60, None), 160);
        assert_eq!(verdict_expiry(100, 60, Some(130)), 130);
        assert_eq!(verdict_expiry(100, 60, Some(500)), 160);
        assert_eq!(verdict_expiry(i64::MAX - 1, 60, None), i64::MAX);
    }
}
