//! Why the identity webhook (or a signer proxy) established no identity: each reason has the
//! status go-livepeer's signer passes on to the gateway and a stable code.

/// Why no identity was established.
///
/// ```
/// use tollhouse_core::webhook::Rejection;
/// assert_eq!((Rejection::Revoked.status(), Rejection::Revoked.code()), (401, "credential_revoked"));
/// let custom = Rejection::Custom { status: 480, reason: "refresh your session".into(), code: "refresh".into() };
/// assert_eq!(custom.status(), 480);
/// let down = Rejection::Unavailable("connect timeout".into());
/// assert_eq!((down.status(), down.reason().as_str()), (503, "identity provider unavailable"));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Rejection {
    /// No credential in the request.
    #[error("missing credential")]
    Missing,
    /// Not a credential any enabled verifier accepts.
    #[error("invalid credential")]
    Invalid,
    /// Past its expiry.
    #[error("credential expired")]
    Expired,
    /// Revoked (itself, or the credential it was exchanged from).
    #[error("credential revoked")]
    Revoked,
    /// The user is deactivated (or the app disabled).
    #[error("user is deactivated")]
    Inactive,
    /// Valid, but without the scope needed to sign (`sign:job`).
    #[error("credential lacks the signing scope")]
    InsufficientScope,
    /// The app does not accept this kind of credential.
    #[error("credential type not accepted for this app")]
    VerifierNotAllowed,
    /// The identity could not be checked: an issuer's keys could not be fetched.
    #[error("identity provider unavailable")]
    Unavailable(String),
    /// Storage could not be reached: neither identity nor balance can be checked.
    #[error("billing unavailable")]
    StoreUnavailable(String),
    /// A refusal of your own. `status` must be 201..=999 (anything else is sent as 403).
    #[error("{reason}")]
    Custom {
        /// The status the gateway receives.
        status: u16,
        /// Message for the gateway.
        reason: String,
        /// Machine-readable code.
        code: String,
    },
}

impl Rejection {
    /// The status the signer passes on to the gateway.
    pub fn status(&self) -> u16 {
        match self {
            Self::Missing | Self::Invalid | Self::Expired | Self::Revoked => 401,
            Self::Inactive | Self::InsufficientScope | Self::VerifierNotAllowed => 403,
            Self::Unavailable(_) | Self::StoreUnavailable(_) => 503,
            // 200 would let the payment through, and go-livepeer panics on codes outside
            // 100..=999: a refusal must be a refusal.
            Self::Custom { status, .. } if (201..=999).contains(status) => *status,
            Self::Custom { .. } => 403,
        }
    }

    /// A stable machine-readable code.
    pub fn code(&self) -> &str {
        match self {
            Self::Missing => "missing_credential",
            Self::Invalid => "invalid_credential",
            Self::Expired => "credential_expired",
            Self::Revoked => "credential_revoked",
            Self::Inactive => "user_inactive",
            Self::InsufficientScope => "insufficient_scope",
            Self::VerifierNotAllowed => "verifier_not_allowed",
            Self::Unavailable(_) => "identity_unavailable",
            Self::StoreUnavailable(_) => "billing_unavailable",
            Self::Custom { code, .. } => code,
        }
    }

    /// The reason sent to the gateway: the display text, never an internal cause.
    pub fn reason(&self) -> String {
        self.to_string()
    }

    /// The internal cause of an outage, for the log (never sent).
    pub fn outage_cause(&self) -> Option<&str> {
        match self {
            Self::Unavailable(cause) | Self::StoreUnavailable(cause) => Some(cause),
            _ => None,
        }
    }
}
