//! The master key: the one secret from which the secret-hash pepper and the key that encrypts
//! signing keys at rest are derived (HKDF-SHA-256, one label per purpose).

use crate::random::{Random, random_bytes};
use crate::secret::Pepper;
use aws_lc_rs::{aead, hkdf};
use base64::Engine as _;
use std::fmt;

const NONCE_LEN: usize = 12;

/// Why a master key or a sealed value was refused.
#[derive(Debug, thiserror::Error)]
pub enum MasterKeyError {
    /// The text is neither 64 hex digits nor base64 of 32 bytes.
    #[error("master key must be 32 bytes, as 64 hex digits or base64")]
    Malformed,
    /// A sealed value failed authentication: wrong master key, or tampered data.
    #[error("sealed value could not be opened (wrong master key or corrupted data)")]
    Unseal,
}

/// 32 bytes of key material. Never printed.
#[derive(Clone)]
pub struct MasterKey([u8; 32]);

impl MasterKey {
    /// A fresh random key.
    pub fn generate(rng: &dyn Random) -> Self {
        Self(random_bytes::<32>(rng))
    }

    /// Parses 64 hex digits, or standard/URL-safe base64 of exactly 32 bytes.
    pub fn parse(text: &str) -> Result<Self, MasterKeyError> {
        let text = text.trim();
        let bytes = if text.len() == 64 {
            hex::decode(text).ok()
        } else {
            base64::engine::general_purpose::STANDARD
                .decode(text)
                .or_else(|_| base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(text))
                .ok()
        };
        bytes
            .and_then(|b| <[u8; 32]>::try_from(b.as_slice()).ok())
            .map(Self)
            .ok_or(MasterKeyError::Malformed)
    }

    /// The key as 64 hex digits, for writing the key file.
    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }

    fn derive(&self, label: &[u8]) -> [u8; 32] {
        let mut out = [0u8; 32];
        let prk = hkdf::Salt::new(hkdf::HKDF_SHA256, b"tollhouse").extract(&self.0);
        // Expanding 32 bytes from a SHA-256 PRK cannot fail (limit is 255 * 32).
        if let Ok(okm) = prk.expand(&[label], hkdf::HKDF_SHA256) {
            let _ = okm.fill(&mut out);
        }
        out
    }

    /// The pepper for keyed hashes of stored secrets.
    pub fn pepper(&self) -> Pepper {
        Pepper::from_bytes(&self.derive(b"tollhouse/v1/secret-pepper"))
    }

    /// The key that seals signing keys (and other secrets that must be recoverable) at rest.
    pub fn sealing_key(&self) -> SealingKey {
        SealingKey::new(&self.derive(b"tollhouse/v1/sealing"))
    }

    /// A public value that identifies this key, stored once so that starting with a different
    /// master key fails loudly instead of producing unverifiable secrets.
    pub fn check_value(&self) -> String {
        hex::encode(&self.derive(b"tollhouse/v1/check")[..16])
    }
}

impl fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("MasterKey([redacted])")
    }
}

/// AES-256-GCM with a random 96-bit nonce per value; the associated data binds a ciphertext to
/// the row it belongs to (e.g. a key id), so rows cannot be swapped.
pub struct SealingKey(aead::LessSafeKey);

impl SealingKey {
    fn new(key: &[u8; 32]) -> Self {
        // A 32-byte key is always valid for AES-256-GCM.
        let unbound = aead::UnboundKey::new(&aead::AES_256_GCM, key)
            .unwrap_or_else(|_| unreachable!("AES-256 key length"));
        Self(aead::LessSafeKey::new(unbound))
    }

    /// `nonce || ciphertext || tag`.
    pub fn seal(&self, rng: &dyn Random, plaintext: &[u8], aad: &[u8]) -> Vec<u8> {
        let nonce = random_bytes::<NONCE_LEN>(rng);
        let mut buf = plaintext.to_vec();
        // Sealing fails only for inputs beyond GCM's 64 GiB limit.
        let _ = self.0.seal_in_place_append_tag(
            aead::Nonce::assume_unique_for_key(nonce),
            aead::Aad::from(aad),
            &mut buf,
        );
        let mut out = Vec::with_capacity(NONCE_LEN + buf.len());
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&buf);
        out
    }

    /// Opens a value produced by [`SealingKey::seal`] with the same associated data.
    pub fn open(&self, sealed: &[u8], aad: &[u8]) -> Result<Vec<u8>, MasterKeyError> {
        if sealed.len() < NONCE_LEN {
            return Err(MasterKeyError::Unseal);
        }
        let (nonce, body) = sealed.split_at(NONCE_LEN);
        let nonce =
            aead::Nonce::try_assume_unique_for_key(nonce).map_err(|_| MasterKeyError::Unseal)?;
        let mut buf = body.to_vec();
        let plain = self
            .0
            .open_in_place(nonce, aead::Aad::from(aad), &mut buf)
            .map_err(|_| MasterKeyError::Unseal)?;
        Ok(plain.to_vec())
    }
}

impl fmt::Debug for SealingKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SealingKey([redacted])")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::random::SeededRandom;

    #[test]
    fn parses_hex_and_base64() {
        let rng = SeededRandom::new(3);
        let key = MasterKey::generate(&rng);
        let hex_form = key.to_hex();
        let b64 = base64::engine::general_purpose::STANDARD.encode(key.0);
        assert_eq!(MasterKey::parse(&hex_form).map(|k| k.0).ok(), Some(key.0));
        assert_eq!(MasterKey::parse(&b64).map(|k| k.0).ok(), Some(key.0));
        assert!(MasterKey::parse("too short").is_err());
    }

    #[test]
    fn seal_round_trip_and_binding() {
        let rng = SeededRandom::new(4);
        let key = MasterKey::generate(&rng);
        let sealing = key.sealing_key();
        let sealed = sealing.seal(&rng, b"private key", b"kid-1");
        assert_eq!(
            sealing.open(&sealed, b"kid-1").ok().as_deref(),
            Some(&b"private key"[..])
        );
        assert!(
            sealing.open(&sealed, b"kid-2").is_err(),
            "aad binds the row"
        );
        let other = MasterKey::generate(&rng).sealing_key();
        assert!(
            other.open(&sealed, b"kid-1").is_err(),
            "another master key cannot open it"
        );
        assert_ne!(key.check_value(), MasterKey::generate(&rng).check_value());
    }
}
