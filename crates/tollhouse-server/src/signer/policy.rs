//! Each app's signer policy (billing mode, gate settings, accepted verifiers) and the balance
//! gate the identity webhook applies once a user's identity is proven.

use super::SignerState;
use super::identity::{Rejection, VerifiedIdentity};
use crate::config::VerifierKind;
use tollhouse_core::allowance::Balance;
use tollhouse_store::{SignerPolicyRecord, StoreError};

/// How long a policy or balance read is reused fresh, and then stale while one request re-reads
/// it: a balance crossing zero is seen by the gate within a second (plus ingest latency).
pub const POLICY_FRESH_MILLIS: i64 = 800;
/// See [`POLICY_FRESH_MILLIS`].
pub const POLICY_GRACE_MILLIS: i64 = 200;

/// Whether an app's users are gated on their prepaid balance.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BillingMode {
    /// Usage is metered; nobody is stopped.
    None,
    /// Users need a balance above the soft limit.
    Prepaid,
}

impl BillingMode {
    /// Parses the stored and wire form.
    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "none" => Some(Self::None),
            "prepaid" => Some(Self::Prepaid),
            _ => None,
        }
    }

    /// The stored and wire form.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::None => "none",
            Self::Prepaid => "prepaid",
        }
    }
}

/// An app's signer policy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignerPolicy {
    /// Gate or not.
    pub billing_mode: BillingMode,
    /// How far below zero a balance may go.
    pub soft_limit_usd_micros: i64,
    /// Seconds between balance re-checks of a running stream.
    pub balance_recheck_secs: i64,
    /// Let payments through when the balance cannot be read.
    pub billing_fail_open: bool,
    /// Verifiers accepted for this app; `None`: the deployment's.
    pub verifiers: Option<Vec<VerifierKind>>,
}

impl SignerPolicy {
    /// Parses a stored policy.
    pub fn from_record(record: &SignerPolicyRecord) -> Result<Self, StoreError> {
        let corrupt = |what: &str| StoreError::Corrupt(format!("apps.{what}"));
        let verifiers = match &record.webhook_verifiers {
            None => None,
            Some(list) => Some(
                list.split(',')
                    .filter(|s| !s.is_empty())
                    .map(|name| {
                        VerifierKind::parse(name).ok_or_else(|| corrupt("webhook_verifiers"))
                    })
                    .collect::<Result<Vec<_>, _>>()?,
            ),
        };
        Ok(Self {
            billing_mode: BillingMode::parse(&record.billing_mode)
                .ok_or_else(|| corrupt("billing_mode"))?,
            soft_limit_usd_micros: record.soft_limit_usd_micros,
            balance_recheck_secs: record.balance_recheck_secs,
            billing_fail_open: record.billing_fail_open,
            verifiers,
        })
    }

    /// The stored form.
    pub fn to_record(&self) -> SignerPolicyRecord {
        SignerPolicyRecord {
            billing_mode: self.billing_mode.as_str().into(),
            soft_limit_usd_micros: self.soft_limit_usd_micros,
            balance_recheck_secs: self.balance_recheck_secs,
            billing_fail_open: self.billing_fail_open,
            webhook_verifiers: self
                .verifiers
                .as_ref()
                .map(|v| v.iter().map(|k| k.as_str()).collect::<Vec<_>>().join(",")),
        }
    }
}

/// The policy of app `client_id` (`None`: no such app here, e.g. an external issuer's client).
pub async fn policy_of(
    signer: &SignerState,
    client_id: &str,
) -> Result<Option<SignerPolicy>, StoreError> {
    let read = async {
        let policy = signer
            .store
            .signer_policy(client_id)
            .await?
            .as_ref()
            .map(SignerPolicy::from_record)
            .transpose()?;
        Ok((policy, i64::MAX))
    };
    signer
        .policies
        .get_or_load(client_id.to_owned(), signer.clock.as_ref(), read)
        .await
}

/// Forgets cached policies and balances (after a policy change or a new grant in-process).
pub fn invalidate(signer: &SignerState) {
    signer.forget_policies();
}

/// The gate's verdict.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GateVerdict {
    /// Sign; re-check after this many seconds.
    Allow {
        /// Seconds until the balance should be looked at again.
        recheck_secs: i64,
    },
    /// The balance is at or below the soft limit.
    InsufficientBalance,
    /// The balance could not be read and the app fails closed.
    Unavailable,
}

/// Default re-check interval for identities of apps unknown here.
pub const DEFAULT_RECHECK_SECS: i64 = 60;

/// Applies the app's balance gate to a proven identity.
pub async fn gate(signer: &SignerState, identity: &VerifiedIdentity) -> GateVerdict {
    let policy = match policy_of(signer, &identity.usage.client_id).await {
        Ok(policy) => policy,
        Err(err) => {
            tracing::warn!(error = %err, "signer policy unreadable: failing closed");
            return GateVerdict::Unavailable;
        }
    };
    let Some(policy) = policy else {
        return GateVerdict::Allow {
            recheck_secs: DEFAULT_RECHECK_SECS,
        };
    };
    let recheck_secs = policy.balance_recheck_secs.max(1);
    if policy.billing_mode == BillingMode::None {
        return GateVerdict::Allow { recheck_secs };
    }
    let Some(user_id) = &identity.user_id else {
        // A user with no record here has no grants, so no balance.
        return GateVerdict::InsufficientBalance;
    };
    match balance(
        signer,
        &identity.usage.client_id,
        user_id,
        policy.soft_limit_usd_micros,
    )
    .await
    {
        Ok(balance) if balance.has_access => GateVerdict::Allow { recheck_secs },
        Ok(_) => GateVerdict::InsufficientBalance,
        Err(err) if policy.billing_fail_open => {
            tracing::warn!(error = %err, "balance unreadable: app fails open");
            GateVerdict::Allow { recheck_secs }
        }
        Err(err) => {
            tracing::warn!(error = %err, "balance unreadable: failing closed");
            GateVerdict::Unavailable
        }
    }
}

async fn balance(
    signer: &SignerState,
    client_id: &str,
    user_id: &str,
    soft_limit: i64,
) -> Result<Balance, Rejection> {
    // An ingest that commits during the read forgets the user after it; get_or_load then
    // does not keep the value read (without that usage).
    let read = async {
        let grants = signer.store.grants_for_user(user_id).await?;
        let now = signer.clock.now();
        let consumed = crate::balances::consumption_of(
            signer.store.as_ref(),
            client_id,
            user_id,
            &grants,
            now,
        )
        .await?;
        let balance = Balance::compute(&grants, &consumed, now, soft_limit);
        Ok::<_, Rejection>((balance, i64::MAX))
    };
    signer
        .gate_balances
        .get_or_load(user_id.to_owned(), signer.clock.as_ref(), read)
        .await
}
