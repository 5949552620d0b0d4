//! Keyed hashing of secrets: every stored credential is HMAC-SHA-256(pepper, secret).
//!
//! A keyed hash is indexable (look a credential up by its hash) and fast (no KDF on the request
//! path), and useless to someone holding a copy of the database without the master key.

use aws_lc_rs::hmac;
use std::fmt;
use subtle::ConstantTimeEq;

/// The HMAC key that all stored secret hashes are computed with.
#[derive(Clone)]
pub struct Pepper(hmac::Key);

impl Pepper {
    /// A pepper from 32 bytes of key material (derived from the master key).
    pub fn from_bytes(key: &[u8; 32]) -> Self {
        Self(hmac::Key::new(hmac::HMAC_SHA256, key))
    }

    /// The keyed hash of `secret`.
    pub fn hash(&self, secret: &str) -> SecretHash {
        let tag = hmac::sign(&self.0, secret.as_bytes());
        let mut out = [0u8; 32];
        out.copy_from_slice(tag.as_ref());
        SecretHash(out)
    }
}

impl fmt::Debug for Pepper {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Pepper([redacted])")
    }
}

/// A stored secret hash.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct SecretHash([u8; 32]);

impl SecretHash {
    /// Rebuilds a hash read from storage; `None` if the length is wrong.
    pub fn from_slice(bytes: &[u8]) -> Option<Self> {
        <[u8; 32]>::try_from(bytes).ok().map(Self)
    }

    /// The raw bytes, for storage.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// Constant-time comparison, so response timing says nothing about how much matched.
    pub fn matches(&self, other: &SecretHash) -> bool {
        self.0.ct_eq(&other.0).into()
    }
}

impl fmt::Debug for SecretHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SecretHash({}…)", hex::encode(&self.0[..4]))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hash_is_keyed_and_comparable() {
        let a = Pepper::from_bytes(&[1; 32]);
        let b = Pepper::from_bytes(&[2; 32]);
        assert!(a.hash("s3cret").matches(&a.hash("s3cret")));
        assert!(!a.hash("s3cret").matches(&a.hash("s3cres")));
        assert!(!a.hash("s3cret").matches(&b.hash("s3cret")));
        let stored = a.hash("x");
        assert_eq!(SecretHash::from_slice(stored.as_bytes()), Some(stored));
        assert!(SecretHash::from_slice(&[0; 31]).is_none());
    }
}
