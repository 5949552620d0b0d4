//! JWT signing keys: generation, PKCS#8 storage form, public JWKs, signing and verification.
//!
//! Signing holds the parsed aws-lc-rs key pair for the key's whole life. (`jsonwebtoken::encode`
//! re-parses the private key DER on every call, which costs a large share of an RSA signature on
//! the token endpoint's hot path.) Verification goes through `jsonwebtoken`.
//!
//! Key generation and signatures draw their randomness (key material, ECDSA and RSA-PSS
//! nonces) from aws-lc's own `SystemRandom`, as aws-lc requires: the one place besides
//! `random.rs` that reads OS randomness.
#![allow(clippy::disallowed_types)]

use aws_lc_rs::encoding::AsDer as _;
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{
    self as sig, ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, Ed25519KeyPair, KeyPair as _,
    RsaKeyPair,
};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use jsonwebtoken::{Algorithm, DecodingKey, Validation, jwk::Jwk};
use serde::{Serialize, de::DeserializeOwned};
use serde_json::{Value, json};
use std::fmt;
use std::str::FromStr;

/// The `typ` header of RFC 9068 access tokens.
pub const ACCESS_TOKEN_TYP: &str = "at+jwt";

/// A JWS algorithm Tollhouse signs with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub enum SigningAlg {
    /// RSASSA-PKCS1-v1_5 with SHA-256, 2048-bit keys: what go-livepeer ecosystems expect.
    RS256,
    /// ECDSA P-256 with SHA-256.
    ES256,
    /// Ed25519.
    EdDSA,
}

impl SigningAlg {
    /// The JOSE `alg` name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::RS256 => "RS256",
            Self::ES256 => "ES256",
            Self::EdDSA => "EdDSA",
        }
    }

    fn jwt_algorithm(self) -> Algorithm {
        match self {
            Self::RS256 => Algorithm::RS256,
            Self::ES256 => Algorithm::ES256,
            Self::EdDSA => Algorithm::EdDSA,
        }
    }
}

impl fmt::Display for SigningAlg {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for SigningAlg {
    type Err = KeyError;
    fn from_str(s: &str) -> Result<Self, KeyError> {
        match s {
            "RS256" | "rs256" => Ok(Self::RS256),
            "ES256" | "es256" => Ok(Self::ES256),
            "EdDSA" | "eddsa" | "EDDSA" | "Ed25519" => Ok(Self::EdDSA),
            other => Err(KeyError::UnknownAlg(other.to_owned())),
        }
    }
}

/// Key handling failures.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    /// Not RS256, ES256 or EdDSA.
    #[error("unsupported signing algorithm `{0}` (expected RS256, ES256 or EdDSA)")]
    UnknownAlg(String),
    /// The crypto library refused to generate a key.
    #[error("key generation failed")]
    Generate,
    /// Stored key material did not parse.
    #[error("stored key material is invalid: {0}")]
    Invalid(String),
    /// The signature operation failed.
    #[error("signing failed")]
    Sign,
    /// Claims could not be serialised.
    #[error("claims serialisation failed: {0}")]
    Serialize(String),
}

enum Pair {
    Rsa(RsaKeyPair),
    Ec(EcdsaKeyPair),
    Ed(Ed25519KeyPair),
}

/// A private signing key, parsed once, with its public JWK.
pub struct SigningKey {
    alg: SigningAlg,
    pair: Pair,
    public: PublicKey,
    /// `base64url({"alg","kid","typ":"at+jwt"})`, constant for the key's life.
    encoded_header: String,
    rng: SystemRandom,
}

impl fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SigningKey")
            .field("kid", &self.kid())
            .field("alg", &self.alg)
            .finish()
    }
}

impl SigningKey {
    /// A new key; returns it with its PKCS#8 DER (to be sealed before storage).
    pub fn generate(alg: SigningAlg) -> Result<(Self, Vec<u8>), KeyError> {
        let der = match alg {
            SigningAlg::RS256 => RsaKeyPair::generate(aws_lc_rs::rsa::KeySize::Rsa2048)
                .and_then(|k| k.as_der())
                .map(|d| d.as_ref().to_vec()),
            SigningAlg::ES256 => EcdsaKeyPair::generate(&ECDSA_P256_SHA256_FIXED_SIGNING)
                .and_then(|k| k.to_pkcs8v1())
                .map(|d| d.as_ref().to_vec()),
            SigningAlg::EdDSA => Ed25519KeyPair::generate()
                .and_then(|k| k.to_pkcs8())
                .map(|d| d.as_ref().to_vec()),
        }
        .map_err(|_| KeyError::Generate)?;
        let key = Self::from_pkcs8(alg, &der)?;
        Ok((key, der))
    }

    /// Parses a PKCS#8 private key of algorithm `alg`.
    pub fn from_pkcs8(alg: SigningAlg, der: &[u8]) -> Result<Self, KeyError> {
        let invalid = |e: &dyn fmt::Display| KeyError::Invalid(e.to_string());
        let (pair, jwk) = match alg {
            SigningAlg::RS256 => {
                let pair = RsaKeyPair::from_pkcs8(der).map_err(|e| invalid(&e))?;
                let c = sig::RsaPublicKeyComponents::<Vec<u8>>::from(pair.public_key());
                let jwk = json!({"kty": "RSA", "n": B64.encode(&c.n), "e": B64.encode(&c.e)});
                (Pair::Rsa(pair), jwk)
            }
            SigningAlg::ES256 => {
                let pair = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, der)
                    .map_err(|e| invalid(&e))?;
                // Uncompressed SEC1 point: 0x04 || x (32) || y (32).
                let point = pair.public_key().as_ref();
                let (Some(x), Some(y), 65) = (point.get(1..33), point.get(33..), point.len())
                else {
                    return Err(KeyError::Invalid("unexpected P-256 point length".into()));
                };
                let jwk =
                    json!({"kty": "EC", "crv": "P-256", "x": B64.encode(x), "y": B64.encode(y)});
                (Pair::Ec(pair), jwk)
            }
            SigningAlg::EdDSA => {
                let pair = Ed25519KeyPair::from_pkcs8(der).map_err(|e| invalid(&e))?;
                let jwk = json!({"kty": "OKP", "crv": "Ed25519",
                    "x": B64.encode(pair.public_key().as_ref())});
                (Pair::Ed(pair), jwk)
            }
        };
        let kid = thumbprint(&jwk);
        let public = PublicKey::from_parts(alg, &kid, jwk)?;
        let header = json!({"alg": alg.as_str(), "kid": kid, "typ": ACCESS_TOKEN_TYP});
        let encoded_header = B64.encode(header.to_string());
        Ok(Self {
            alg,
            pair,
            public,
            encoded_header,
            rng: SystemRandom::new(),
        })
    }

    /// The key id: the RFC 7638 SHA-256 thumbprint of the public key.
    pub fn kid(&self) -> &str {
        &self.public.kid
    }

    /// The algorithm.
    pub fn alg(&self) -> SigningAlg {
        self.alg
    }

    /// The public half.
    pub fn public(&self) -> &PublicKey {
        &self.public
    }

    /// Signs `claims` as a compact JWS with header `{alg, kid, typ: "at+jwt"}`.
    pub fn sign_access_token<T: Serialize>(&self, claims: &T) -> Result<String, KeyError> {
        let payload = serde_json::to_vec(claims).map_err(|e| KeyError::Serialize(e.to_string()))?;
        let mut token =
            String::with_capacity(self.encoded_header.len() + payload.len() * 4 / 3 + 360);
        token.push_str(&self.encoded_header);
        token.push('.');
        B64.encode_string(&payload, &mut token);
        let signature = self.sign_bytes(token.as_bytes())?;
        token.push('.');
        B64.encode_string(&signature, &mut token);
        Ok(token)
    }

    fn sign_bytes(&self, message: &[u8]) -> Result<Vec<u8>, KeyError> {
        match &self.pair {
            Pair::Rsa(pair) => {
                let mut out = vec![0u8; pair.public_modulus_len()];
                pair.sign(&sig::RSA_PKCS1_SHA256, &self.rng, message, &mut out)
                    .map_err(|_| KeyError::Sign)?;
                Ok(out)
            }
            Pair::Ec(pair) => pair
                .sign(&self.rng, message)
                .map(|s| s.as_ref().to_vec())
                .map_err(|_| KeyError::Sign),
            Pair::Ed(pair) => Ok(pair.sign(message).as_ref().to_vec()),
        }
    }
}

/// A public verification key, as published in the JWKS.
#[derive(Clone)]
pub struct PublicKey {
    kid: String,
    alg: SigningAlg,
    jwk: Value,
    decoding: DecodingKey,
}

impl fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PublicKey")
            .field("kid", &self.kid)
            .field("alg", &self.alg)
            .finish()
    }
}

impl PublicKey {
    fn from_parts(alg: SigningAlg, kid: &str, mut jwk: Value) -> Result<Self, KeyError> {
        if let Some(map) = jwk.as_object_mut() {
            map.insert("kid".into(), Value::String(kid.to_owned()));
            map.insert("alg".into(), Value::String(alg.as_str().to_owned()));
            map.insert("use".into(), Value::String("sig".into()));
        }
        let parsed: Jwk =
            serde_json::from_value(jwk.clone()).map_err(|e| KeyError::Invalid(e.to_string()))?;
        let decoding =
            DecodingKey::from_jwk(&parsed).map_err(|e| KeyError::Invalid(e.to_string()))?;
        Ok(Self {
            kid: kid.to_owned(),
            alg,
            jwk,
            decoding,
        })
    }

    /// Rebuilds a public key from its stored JWK (as produced by [`PublicKey::jwk`]).
    pub fn from_jwk(jwk: &Value) -> Result<Self, KeyError> {
        let field = |name: &str| jwk.get(name).and_then(Value::as_str);
        let alg: SigningAlg = field("alg")
            .ok_or_else(|| KeyError::Invalid("jwk without alg".into()))?
            .parse()?;
        let kid = field("kid").ok_or_else(|| KeyError::Invalid("jwk without kid".into()))?;
        Self::from_parts(alg, kid, jwk.clone())
    }

    /// The key id.
    pub fn kid(&self) -> &str {
        &self.kid
    }

    /// The algorithm.
    pub fn alg(&self) -> SigningAlg {
        self.alg
    }

    /// The JWK with `kid`, `alg` and `use`.
    pub fn jwk(&self) -> &Value {
        &self.jwk
    }

    /// Checks the signature and `typ: at+jwt` of `token` and returns its claims. Time-based and
    /// issuer/audience checks are the caller's, against its injected clock.
    pub fn verify_access_token<T: DeserializeOwned>(&self, token: &str) -> Result<T, VerifyError> {
        let mut validation = Validation::new(self.alg.jwt_algorithm());
        validation.validate_exp = false;
        validation.validate_nbf = false;
        validation.validate_aud = false;
        validation.required_spec_claims.clear();
        jsonwebtoken::decode::<T>(token, &self.decoding, &validation)
            .map(|data| data.claims)
            .map_err(|e| VerifyError::Invalid(e.to_string()))
    }
}

/// Why a token failed verification.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VerifyError {
    /// Not a compact JWS, or its header is unreadable.
    #[error("malformed token")]
    Malformed,
    /// The header's `typ` is not `at+jwt`.
    #[error("token type is not at+jwt")]
    WrongType,
    /// No published key has this `kid`.
    #[error("unknown signing key")]
    UnknownKey,
    /// Signature, algorithm or claims failed.
    #[error("invalid token: {0}")]
    Invalid(String),
}

/// The header fields a verifier needs before choosing a key.
#[derive(Debug, Clone)]
pub struct TokenHeader {
    /// `kid`, if any.
    pub kid: Option<String>,
    /// `typ`, if any.
    pub typ: Option<String>,
}

/// Reads the protected header of a compact JWS without verifying it.
pub fn peek_header(token: &str) -> Result<TokenHeader, VerifyError> {
    let header = jsonwebtoken::decode_header(token).map_err(|_| VerifyError::Malformed)?;
    Ok(TokenHeader {
        kid: header.kid,
        typ: header.typ,
    })
}

/// RFC 7638 thumbprint: SHA-256 over the required members in lexicographic order.
fn thumbprint(jwk: &Value) -> String {
    let members: &[&str] = match jwk.get("kty").and_then(Value::as_str) {
        Some("RSA") => &["e", "kty", "n"],
        Some("EC") => &["crv", "kty", "x", "y"],
        _ => &["crv", "kty", "x"],
    };
    // serde_json's map is ordered by key (no `preserve_order`), so this is canonical JSON.
    let canonical: serde_json::Map<String, Value> = members
        .iter()
        .filter_map(|m| jwk.get(*m).map(|v| ((*m).to_owned(), v.clone())))
        .collect();
    let digest = aws_lc_rs::digest::digest(
        &aws_lc_rs::digest::SHA256,
        Value::Object(canonical).to_string().as_bytes(),
    );
    B64.encode(digest.as_ref())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Serialize, serde::Deserialize, PartialEq, Debug)]
    struct Claims {
        sub: String,
    }

    #[test]
    fn every_alg_signs_and_verifies() -> Result<(), Box<dyn std::error::Error>> {
        for alg in [SigningAlg::RS256, SigningAlg::ES256, SigningAlg::EdDSA] {
            let (key, der) = SigningKey::generate(alg)?;
            let token = key.sign_access_token(&Claims { sub: "x".into() })?;
            let header = peek_header(&token)?;
            assert_eq!(header.kid.as_deref(), Some(key.kid()));
            assert_eq!(header.typ.as_deref(), Some(ACCESS_TOKEN_TYP));
            let back: Claims = key.public().verify_access_token(&token)?;
            assert_eq!(back.sub, "x");
            // Reloaded from storage forms, the key is the same key.
            let reloaded = SigningKey::from_pkcs8(alg, &der)?;
            assert_eq!(reloaded.kid(), key.kid());
            let public = PublicKey::from_jwk(key.public().jwk())?;
            let again: Claims = public.verify_access_token(&token)?;
            assert_eq!(again, back);
            // Another key of the same alg does not verify it.
            let (other, _) = SigningKey::generate(alg)?;
            assert!(
                other
                    .public()
                    .verify_access_token::<Claims>(&token)
                    .is_err()
            );
        }
        Ok(())
    }

    #[test]
    fn rfc7638_thumbprint_example() {
        // The example key of RFC 7638 §3.1 and its published thumbprint.
        let jwk = json!({"kty": "RSA", "e": "AQAB", "alg": "RS256", "kid": "2011-04-29",
            "n": "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw"});
        assert_eq!(
            thumbprint(&jwk),
            "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"
        );
    }
}
