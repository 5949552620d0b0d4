//! The identity webhook's answers to go-livepeer's remote signer (spec `signer-wire.md` §1):
//! the verdict, sent with HTTP 200 once the caller is authenticated, and the failure body of
//! the caller and body checks (HTTP 400, 401, 413). The server and the SDK's webhook both send
//! these.

use serde::{Deserialize, Serialize};
use tollhouse_core::webhook::{Rejection, UsageIdentity, verdict_expiry};

/// The identity the signer records for the payment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "openapi", serde(deny_unknown_fields))]
pub struct VerdictIdentity {
    /// Who vouches for the identity.
    pub issuer: String,
    /// The app.
    pub client_id: String,
    /// The billed subject.
    pub usage_subject: String,
    /// Kind of subject (`external_user_id`).
    pub usage_subject_type: String,
}

/// The webhook's answer. `status` 200 lets the signer sign; any other value is passed on to the
/// gateway as its HTTP status with `reason` as the message.
///
/// ```
/// use tollhouse_api::webhook::WebhookVerdict;
/// use tollhouse_core::webhook::{Rejection, UsageIdentity};
/// let alice = UsageIdentity::new("https://th.example/api/v1/oidc", "app_1", "alice").expiring_at(1_000);
/// let allow = WebhookVerdict::allow(&alice, 900, 60);
/// assert_eq!((allow.status, allow.expiry, allow.auth_id.as_deref()), (200, Some(960), Some("app_1:alice")));
/// let refuse = WebhookVerdict::rejected(&Rejection::Expired);
/// assert_eq!(serde_json::to_value(&refuse)?, serde_json::json!({
///     "status": 401, "reason": "credential expired", "code": "credential_expired"}));
/// # Ok::<(), serde_json::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "openapi", serde(deny_unknown_fields))]
pub struct WebhookVerdict {
    /// 200, or the status for the gateway (401, 403, 483, 503, …).
    pub status: u16,
    /// Why the payment is refused.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Machine-readable refusal code (`insufficient_balance`, `billing_unavailable`, …).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code: Option<String>,
    /// `<client_id>:<usage_subject>`, stable per user.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auth_id: Option<String>,
    /// Unix seconds until which the signer may skip asking again for this payment session.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expiry: Option<i64>,
    /// Who the user is.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub identity: Option<VerdictIdentity>,
}

impl WebhookVerdict {
    /// Sign for `identity`; ask again after `recheck_secs` from `now`, and never after the
    /// credential expires.
    pub fn allow(identity: &UsageIdentity, now: i64, recheck_secs: i64) -> Self {
        Self {
            status: 200,
            reason: None,
            code: None,
            auth_id: Some(identity.auth_id()),
            expiry: Some(verdict_expiry(now, recheck_secs, identity.expires_at)),
            identity: Some(VerdictIdentity {
                issuer: identity.issuer.clone(),
                client_id: identity.client_id.clone(),
                usage_subject: identity.usage_subject.clone(),
                usage_subject_type: identity.usage_subject_type.clone(),
            }),
        }
    }

    /// A refusal with the gateway's `status`, a `reason` and a stable `code`.
    pub fn refuse(status: u16, reason: impl Into<String>, code: impl Into<String>) -> Self {
        Self {
            status,
            reason: Some(reason.into()),
            code: Some(code.into()),
            auth_id: None,
            expiry: None,
            identity: None,
        }
    }

    /// The refusal for a failed identity check.
    pub fn rejected(rejection: &Rejection) -> Self {
        Self::refuse(rejection.status(), rejection.reason(), rejection.code())
    }

    /// 483: the user's balance is at or below the app's soft limit.
    pub fn insufficient_balance() -> Self {
        Self::refuse(483, "insufficient balance", "insufficient_balance")
    }

    /// 503: the balance (or the store) could not be read, and the app fails closed.
    pub fn billing_unavailable() -> Self {
        Self::refuse(503, "billing unavailable", "billing_unavailable")
    }

    /// 403: the credential belongs to another user than the payment session's `AuthID` (the
    /// signer would otherwise fail with a bare 500).
    pub fn auth_id_mismatch() -> Self {
        Self::refuse(
            403,
            "credential belongs to another user than this payment session",
            "auth_id_mismatch",
        )
    }
}

/// An HTTP-level failure of the caller or the body, in the webhook's own shape.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "openapi", serde(deny_unknown_fields))]
pub struct WebhookFailure {
    /// Same as the HTTP status.
    pub status: u16,
    /// What went wrong (`unauthorized webhook caller`, `invalid request json`, …).
    pub reason: String,
}
