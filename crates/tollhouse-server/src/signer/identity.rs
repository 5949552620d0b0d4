//! Proving who an end user is, for the identity webhook and the signer proxy: a composite of
//! verifiers tried in the configured order (first match wins), behind a cache keyed by the keyed
//! hash of the credential.
//!
//! Cache rules: an entry lives at most one second (fresh, then briefly stale while exactly one
//! request re-checks it, so expiry causes no stampede of signature checks) and never past the
//! credential's own expiry, and every in-process revocation or deactivation clears the cache, so
//! a revoked credential stops working at once here and within a second on other instances.

use super::SignerState;
use super::external;
use crate::config::VerifierKind;
use std::sync::Arc;
use tollhouse_core::UnixTime;
use tollhouse_core::ids::split_api_key;
use tollhouse_core::scope::ScopeSet;
use tollhouse_core::user::UserStatus;
pub use tollhouse_core::webhook::Rejection;
use tollhouse_core::webhook::{CredentialKind, TrustedHeaders, UsageIdentity, classify_credential};

/// How long a verified credential is trusted without looking again…
pub const CREDENTIAL_FRESH_MILLIS: i64 = 800;
/// …plus how long others may still use it while one request re-checks it: together at most
/// one second, the bound on how late a revocation made elsewhere is seen.
pub const CREDENTIAL_GRACE_MILLIS: i64 = 200;
/// Most credentials cached at once.
pub const CREDENTIAL_CACHE_CAPACITY: usize = 100_000;
/// The scope an end-user credential needs to have payments signed.
pub const SIGN_SCOPE: &str = "sign:job";

/// Who the end user is, as the webhook reports it, and what the gate needs besides.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedIdentity {
    /// The identity reported to the signer (issuer, app, billed subject, expiry).
    pub usage: UsageIdentity,
    /// Tollhouse's id for the user, when the user is known here (needed by the balance gate).
    pub user_id: Option<String>,
    /// Which verifier proved it.
    pub verifier: VerifierKind,
}

/// What a single verifier concluded: not its kind of credential, or a definite answer.
type Verdict = Result<Option<VerifiedIdentity>, Rejection>;

/// Proves the identity behind `credential` (or the trusted headers).
pub async fn verify(
    signer: &SignerState,
    credential: Option<&str>,
    trusted: &TrustedHeaders,
) -> Result<Arc<VerifiedIdentity>, Rejection> {
    let cache_key = match credential {
        Some(c) => *signer.pepper.hash(c).as_bytes(),
        None => trusted_cache_key(signer, trusted),
    };
    let load = async {
        let identity = Arc::new(verify_uncached(signer, credential, trusted).await?);
        let until = identity.usage.expires_at.map_or(i64::MAX, |exp| exp * 1000);
        Ok((identity, until))
    };
    signer
        .credentials
        .get_or_load(cache_key, signer.clock.as_ref(), load)
        .await
}

fn trusted_cache_key(signer: &SignerState, trusted: &TrustedHeaders) -> [u8; 32] {
    let text = format!(
        "trusted\n{}\n{}\n{}\n{}",
        trusted.issuer.as_deref().unwrap_or(""),
        trusted.client_id.as_deref().unwrap_or(""),
        trusted.subject.as_deref().unwrap_or(""),
        trusted.subject_type.as_deref().unwrap_or("")
    );
    *signer.pepper.hash(&text).as_bytes()
}

async fn verify_uncached(
    signer: &SignerState,
    credential: Option<&str>,
    trusted: &TrustedHeaders,
) -> Result<VerifiedIdentity, Rejection> {
    let kind = credential.map(classify_credential);
    for verifier in &signer.verifiers {
        let verdict = match (verifier, credential, kind) {
            (VerifierKind::TollhouseJwt, Some(c), Some(CredentialKind::Jwt)) => {
                tollhouse_jwt(signer, c).await
            }
            (VerifierKind::SignerSession, Some(c), Some(CredentialKind::SignerSession)) => {
                signer_session(signer, c).await
            }
            (VerifierKind::ApiKey, Some(c), Some(CredentialKind::ApiKey)) => {
                api_key(signer, c).await
            }
            (VerifierKind::Oidc, Some(c), Some(CredentialKind::Jwt)) => {
                external::verify(signer, c).await
            }
            (VerifierKind::TrustedHeaders, _, _) => trusted_headers(signer, trusted).await,
            _ => Ok(None),
        };
        if let Some(identity) = verdict? {
            allowed_for_app(signer, &identity).await?;
            return Ok(identity);
        }
    }
    Err(if credential.is_some() {
        Rejection::Invalid
    } else {
        Rejection::Missing
    })
}

/// An app may narrow the deployment's verifiers (e.g. API keys only).
async fn allowed_for_app(
    signer: &SignerState,
    identity: &VerifiedIdentity,
) -> Result<(), Rejection> {
    let policy = super::policy::policy_of(signer, &identity.usage.client_id).await?;
    match policy.and_then(|p| p.verifiers) {
        Some(allowed) if !allowed.contains(&identity.verifier) => {
            Err(Rejection::VerifierNotAllowed)
        }
        _ => Ok(()),
    }
}

fn has_sign_scope(scope: &str) -> bool {
    ScopeSet::parse(scope).is_ok_and(|s| s.contains(SIGN_SCOPE))
}

/// The user `user_id`, which must be active.
async fn active_user(
    signer: &SignerState,
    user_id: &str,
) -> Result<tollhouse_core::user::AppUser, Rejection> {
    let user = signer
        .store
        .user_by_id(user_id)
        .await?
        .ok_or(Rejection::Invalid)?;
    if user.status != UserStatus::Active {
        return Err(Rejection::Inactive);
    }
    Ok(user)
}

fn tollhouse_identity(
    signer: &SignerState,
    user: &tollhouse_core::user::AppUser,
    expires_at: Option<UnixTime>,
    verifier: VerifierKind,
) -> VerifiedIdentity {
    let mut usage = UsageIdentity::new(
        signer.issuer.clone(),
        user.client_id.clone(),
        user.external_user_id.to_string(),
    );
    usage.expires_at = expires_at;
    VerifiedIdentity {
        usage,
        user_id: Some(user.id.clone()),
        verifier,
    }
}

/// Tollhouse's own user and signer JWTs, checked against the key set held in memory.
async fn tollhouse_jwt(signer: &SignerState, token: &str) -> Verdict {
    use crate::oidc::verify::{TokenRejection, family_revoked, verify_user_token};
    use tollhouse_core::keys::VerifyError;
    let claims = match verify_user_token(signer.own_tokens(), token) {
        Ok(claims) => claims,
        // Not signed by one of our keys: perhaps an external issuer's token.
        Err(TokenRejection::Invalid(VerifyError::UnknownKey)) => return Ok(None),
        Err(TokenRejection::Expired) => return Err(Rejection::Expired),
        Err(_) => return Err(Rejection::Invalid),
    };
    // An M2M token names no end user.
    if claims.external_user_id.is_none() {
        return Err(Rejection::Invalid);
    }
    if !has_sign_scope(&claims.scope) {
        return Err(Rejection::InsufficientScope);
    }
    if family_revoked(signer.store.as_ref(), &claims).await? {
        return Err(Rejection::Revoked);
    }
    let user = active_user(signer, &claims.sub).await?;
    if user.client_id != claims.client_id {
        return Err(Rejection::Invalid);
    }
    Ok(Some(tollhouse_identity(
        signer,
        &user,
        Some(claims.exp),
        VerifierKind::TollhouseJwt,
    )))
}

/// Opaque `pmth_…` signer sessions.
async fn signer_session(signer: &SignerState, token: &str) -> Verdict {
    let session = signer
        .store
        .signer_session(signer.pepper.hash(token).as_bytes())
        .await?
        .ok_or(Rejection::Invalid)?;
    if session.revoked_at.is_some() {
        return Err(Rejection::Revoked);
    }
    // The user token or API key it was exchanged from, revoked since: the session ends too.
    if let Some(parent) = &session.parent
        && signer.store.is_token_revoked(parent).await?
    {
        return Err(Rejection::Revoked);
    }
    if signer.clock.now() >= session.expires_at {
        return Err(Rejection::Expired);
    }
    if !has_sign_scope(&session.scope) {
        return Err(Rejection::InsufficientScope);
    }
    let user = active_user(signer, &session.user_id).await?;
    Ok(Some(tollhouse_identity(
        signer,
        &user,
        Some(session.expires_at),
        VerifierKind::SignerSession,
    )))
}

/// API keys, bare or composite (`app_…_pmth_ak_…`, whose app part must be the key's app).
async fn api_key(signer: &SignerState, presented: &str) -> Verdict {
    let (named_app, secret) = split_api_key(presented);
    let key = signer
        .store
        .api_key_by_hash(signer.pepper.hash(secret).as_bytes())
        .await?
        .ok_or(Rejection::Invalid)?;
    if named_app.is_some_and(|app| app != key.client_id) {
        return Err(Rejection::Invalid);
    }
    if key.revoked_at.is_some() {
        return Err(Rejection::Revoked);
    }
    let user = active_user(signer, &key.user_id).await?;
    // API keys do not expire; revocation is what ends them.
    Ok(Some(tollhouse_identity(
        signer,
        &user,
        None,
        VerifierKind::ApiKey,
    )))
}

/// `X-Livepeer-Usage-*` headers asserted by a trusted upstream (enabled explicitly only).
async fn trusted_headers(signer: &SignerState, trusted: &TrustedHeaders) -> Verdict {
    let Some(usage) = trusted.identity() else {
        return Ok(None);
    };
    let user = signer
        .store
        .user_by_external_id(&usage.client_id, &usage.usage_subject)
        .await?;
    if user
        .as_ref()
        .is_some_and(|u| u.status != UserStatus::Active)
    {
        return Err(Rejection::Inactive);
    }
    Ok(Some(VerifiedIdentity {
        usage,
        user_id: user.map(|u| u.id),
        verifier: VerifierKind::TrustedHeaders,
    }))
}
