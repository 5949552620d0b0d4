//! Local verification of Tollhouse's own JWT access tokens against the published key set.

use crate::config::CLOCK_SKEW_SECS;
use crate::keyring::Keyring;
use tollhouse_core::Clock;
use tollhouse_core::claims::AccessTokenClaims;
use tollhouse_core::keys::{ACCESS_TOKEN_TYP, VerifyError, peek_header};

/// What checking Tollhouse's own tokens reads: the published keys, the issuer, the time.
#[derive(Clone, Copy, Debug)]
pub struct OwnTokens<'a> {
    /// The signing keys (published ones verify).
    pub keyring: &'a Keyring,
    /// The `iss` every token carries.
    pub issuer: &'a str,
    /// Time.
    pub clock: &'a dyn Clock,
}

/// Why a token is not (or no longer) acceptable.
#[derive(Debug, thiserror::Error)]
pub enum TokenRejection {
    /// Signature, format, key or issuer problem.
    #[error(transparent)]
    Invalid(#[from] VerifyError),
    /// Past `exp`.
    #[error("token expired")]
    Expired,
    /// Before `nbf`.
    #[error("token not yet valid")]
    NotYetValid,
}

/// [`verify_access_token`] for a token presented to Tollhouse itself (the webhook, a token
/// exchange, the end-user routes): its `aud` must name this issuer (RFC 9068 §4), whether it
/// is sent as a string or as an array.
pub fn verify_user_token(
    tokens: OwnTokens<'_>,
    token: &str,
) -> Result<AccessTokenClaims, TokenRejection> {
    let claims = verify_access_token(tokens, token)?;
    if !claims.aud.contains(tokens.issuer) {
        return Err(VerifyError::Invalid("audience mismatch".into()).into());
    }
    Ok(claims)
}

/// Whether the token, or the credential it was exchanged from, is revoked.
pub async fn family_revoked(
    store: &dyn tollhouse_store::Store,
    claims: &AccessTokenClaims,
) -> Result<bool, tollhouse_store::StoreError> {
    if store.is_token_revoked(&claims.jti).await? {
        return Ok(true);
    }
    match &claims.parent {
        Some(parent) => store.is_token_revoked(parent).await,
        None => Ok(false),
    }
}

/// Verifies signature, `typ`, issuer and time window. Revocation is the caller's concern.
pub fn verify_access_token(
    tokens: OwnTokens<'_>,
    token: &str,
) -> Result<AccessTokenClaims, TokenRejection> {
    let header = peek_header(token)?;
    if !header
        .typ
        .as_deref()
        .is_some_and(|t| t.eq_ignore_ascii_case(ACCESS_TOKEN_TYP))
    {
        return Err(VerifyError::WrongType.into());
    }
    let kid = header.kid.ok_or(VerifyError::UnknownKey)?;
    let keys = tokens.keyring.snapshot();
    let key = keys.published.get(&kid).ok_or(VerifyError::UnknownKey)?;
    let claims: AccessTokenClaims = key.verify_access_token(token)?;
    if claims.iss != tokens.issuer {
        return Err(VerifyError::Invalid("issuer mismatch".into()).into());
    }
    let now = tokens.clock.now();
    if now >= claims.exp {
        return Err(TokenRejection::Expired);
    }
    if now + CLOCK_SKEW_SECS < claims.nbf {
        return Err(TokenRejection::NotYetValid);
    }
    Ok(claims)
}
