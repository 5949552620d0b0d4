//! Identifier and credential formats (spec: builder-api.md, "Identifiers and credentials").

use crate::random::{Random, random_bytes};
use std::fmt;

/// Prefix of an M2M client secret; such values are never accepted as API keys.
pub const CLIENT_SECRET_PREFIX: &str = "pmth_cs_";

fn is_lower_hex(s: &str, len: usize) -> bool {
    s.len() == len
        && s.bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

macro_rules! prefixed_id {
    ($(#[$doc:meta])* $name:ident, $prefix:literal) => {
        $(#[$doc])*
        #[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
        #[serde(try_from = "String", into = "String")]
        pub struct $name(String);

        impl $name {
            /// The fixed prefix of this identifier.
            pub const PREFIX: &'static str = $prefix;

            /// A fresh identifier: the prefix and 24 lowercase hex digits (96 random bits).
            pub fn generate(rng: &dyn Random) -> Self {
                Self(format!("{}{}", $prefix, hex::encode(random_bytes::<12>(rng))))
            }

            /// Parses a value of exactly the documented form.
            pub fn parse(value: &str) -> Option<Self> {
                let rest = value.strip_prefix($prefix)?;
                is_lower_hex(rest, 24).then(|| Self(value.to_owned()))
            }

            /// The identifier as text.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}({})", stringify!($name), self.0)
            }
        }

        impl TryFrom<String> for $name {
            type Error = String;
            fn try_from(value: String) -> Result<Self, Self::Error> {
                Self::parse(&value).ok_or_else(|| format!("not a valid {} identifier", $prefix))
            }
        }

        impl From<$name> for String {
            fn from(id: $name) -> String {
                id.0
            }
        }
    };
}

prefixed_id!(
    /// An app's public client id (`app_<24 hex>`), the tenant key in every Builder path.
    AppClientId,
    "app_"
);
prefixed_id!(
    /// An app's confidential (M2M) client id (`m2m_<24 hex>`).
    M2mClientId,
    "m2m_"
);

/// A freshly generated M2M client secret, `pmth_cs_<64 hex>`. Only its keyed hash is stored.
pub fn generate_client_secret(rng: &dyn Random) -> String {
    format!(
        "{CLIENT_SECRET_PREFIX}{}",
        hex::encode(random_bytes::<32>(rng))
    )
}

/// Whether `value` has the shape of an M2M client secret.
pub fn looks_like_client_secret(value: &str) -> bool {
    value
        .strip_prefix(CLIENT_SECRET_PREFIX)
        .is_some_and(|rest| is_lower_hex(rest, 64))
}

/// Prefix of opaque signer sessions and of the secret part of API keys.
pub const OPAQUE_PREFIX: &str = "pmth_";
/// Prefix of refresh tokens.
pub const REFRESH_TOKEN_PREFIX: &str = "pmth_rt_";

/// A fresh opaque signer session, `pmth_<64 hex>` (256 random bits).
pub fn generate_signer_session(rng: &dyn Random) -> String {
    format!("{OPAQUE_PREFIX}{}", hex::encode(random_bytes::<32>(rng)))
}

/// Whether `value` has the shape of an opaque signer session.
pub fn looks_like_signer_session(value: &str) -> bool {
    value
        .strip_prefix(OPAQUE_PREFIX)
        .is_some_and(|rest| is_lower_hex(rest, 64))
}

/// A fresh refresh token, `pmth_rt_<64 hex>`.
pub fn generate_refresh_token(rng: &dyn Random) -> String {
    format!(
        "{REFRESH_TOKEN_PREFIX}{}",
        hex::encode(random_bytes::<32>(rng))
    )
}

/// Whether `value` has the shape of a refresh token.
pub fn looks_like_refresh_token(value: &str) -> bool {
    value
        .strip_prefix(REFRESH_TOKEN_PREFIX)
        .is_some_and(|rest| is_lower_hex(rest, 64))
}

/// Prefix of the secret part of an API key.
pub const API_KEY_PREFIX: &str = "pmth_ak_";

/// A fresh API-key secret, `pmth_ak_<64 hex>`; the key handed out is `<app client id>_<secret>`.
pub fn generate_api_key_secret(rng: &dyn Random) -> String {
    format!("{API_KEY_PREFIX}{}", hex::encode(random_bytes::<32>(rng)))
}

/// Splits an API key as presented: composite `app_<24hex>_<secret>` or the bare secret.
/// Returns the app id it names (if composite) and the secret part.
pub fn split_api_key(value: &str) -> (Option<&str>, &str) {
    if value.len() > 29
        && value.starts_with(AppClientId::PREFIX)
        && value.as_bytes().get(28) == Some(&b'_')
    {
        let (app, rest) = value.split_at(28);
        if AppClientId::parse(app).is_some() {
            return (Some(app), rest.strip_prefix('_').unwrap_or(rest));
        }
    }
    (None, value)
}

/// Whether `value` has the shape of an API key, composite or bare.
pub fn looks_like_api_key(value: &str) -> bool {
    split_api_key(value)
        .1
        .strip_prefix(API_KEY_PREFIX)
        .is_some_and(|rest| is_lower_hex(rest, 64))
}

/// Prefix of a Live AI stream key.
pub const STREAM_KEY_PREFIX: &str = "pmth_sk_";

/// A fresh Live AI stream key, `pmth_sk_<64 hex>` (256 random bits). Only its keyed hash is
/// stored; the gateway presents it as the stream name.
pub fn generate_stream_key(rng: &dyn Random) -> String {
    format!(
        "{STREAM_KEY_PREFIX}{}",
        hex::encode(random_bytes::<32>(rng))
    )
}

/// Whether `value` has the shape of a stream key.
pub fn looks_like_stream_key(value: &str) -> bool {
    value
        .strip_prefix(STREAM_KEY_PREFIX)
        .is_some_and(|rest| is_lower_hex(rest, 64))
}

/// A fresh UUID (v4) from the injected randomness.
pub fn generate_uuid(rng: &dyn Random) -> String {
    uuid::Builder::from_random_bytes(random_bytes::<16>(rng))
        .into_uuid()
        .to_string()
}

/// A fresh JWT id: 128 random bits, URL-safe.
pub fn generate_jti(rng: &dyn Random) -> String {
    uuid::Builder::from_random_bytes(random_bytes::<16>(rng))
        .into_uuid()
        .simple()
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::random::SeededRandom;

    #[test]
    fn generated_ids_have_documented_shape() {
        let rng = SeededRandom::new(1);
        let app = AppClientId::generate(&rng);
        assert!(app.as_str().starts_with("app_") && app.as_str().len() == 28);
        assert_eq!(AppClientId::parse(app.as_str()), Some(app.clone()));
        let m2m = M2mClientId::generate(&rng);
        assert!(M2mClientId::parse(m2m.as_str()).is_some());
        let secret = generate_client_secret(&rng);
        assert!(looks_like_client_secret(&secret));
        assert_eq!(secret.len(), 8 + 64);
        let session = generate_signer_session(&rng);
        assert!(looks_like_signer_session(&session) && !looks_like_refresh_token(&session));
        let refresh = generate_refresh_token(&rng);
        assert!(looks_like_refresh_token(&refresh) && !looks_like_signer_session(&refresh));
        assert_eq!(generate_uuid(&rng).len(), 36);
        let key = format!("{app}_{}", generate_api_key_secret(&rng));
        let (named, secret) = split_api_key(&key);
        assert_eq!(named, Some(app.as_str()));
        assert!(secret.starts_with(API_KEY_PREFIX) && secret.len() == 8 + 64);
        assert_eq!(split_api_key(secret), (None, secret));
        assert!(
            looks_like_api_key(&key) && looks_like_api_key(secret) && !looks_like_api_key(&session)
        );
    }

    #[test]
    fn stream_keys_are_distinct_from_other_credentials() {
        let rng = SeededRandom::new(7);
        let key = generate_stream_key(&rng);
        assert!(key.starts_with(STREAM_KEY_PREFIX) && key.len() == 8 + 64);
        assert!(looks_like_stream_key(&key));
        assert_ne!(key, generate_stream_key(&rng));
        // Never mistaken for a session, refresh token, API key or client secret, nor they for it.
        assert!(!looks_like_signer_session(&key));
        assert!(!looks_like_refresh_token(&key));
        assert!(!looks_like_api_key(&key));
        assert!(!looks_like_client_secret(&key));
        for other in [
            generate_signer_session(&rng),
            generate_refresh_token(&rng),
            generate_api_key_secret(&rng),
            generate_client_secret(&rng),
        ] {
            assert!(!looks_like_stream_key(&other), "{other}");
        }
        for bad in [
            "",
            "pmth_sk_",
            "pmth_sk_0123",
            "PMTH_SK_0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
            "pmth_sk_0123456789ABCDEF0123456789abcdef0123456789abcdef0123456789abcdef",
            "pmth_sk_0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef0",
        ] {
            assert!(!looks_like_stream_key(bad), "{bad}");
        }
    }

    #[test]
    fn malformed_ids_are_refused() {
        for bad in [
            "",
            "app_",
            "app_ABCDEF0123456789abcdef01",
            "m2m_0123456789abcdef01234567",
            "app_0123",
        ] {
            assert!(AppClientId::parse(bad).is_none(), "{bad}");
        }
        assert!(!looks_like_client_secret("pmth_cs_short"));
        assert!(!looks_like_client_secret("pmth_0123"));
    }
}
