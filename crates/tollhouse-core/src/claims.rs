//! RFC 9068 JWT access-token claims.

use serde::{Deserialize, Serialize};

/// Whose token this is (`user_type` claim).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum UserType {
    /// An end user of an app.
    AppUser,
    /// The app itself (its M2M client).
    AppOwner,
}

/// What a user token may be used for (`token_use` claim).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TokenUse {
    /// A user access token (the device flow's, the Builder API's, a refresh's): may be
    /// exchanged for signer credentials.
    User,
    /// A short signer JWT: presented to the signer, never exchanged for another credential.
    Signer,
}

/// The `aud` claim: one audience (sent as a string) or several (an array), per RFC 7519 §4.1.3.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Audience(Vec<String>);

impl Audience {
    /// One audience.
    pub fn one(audience: impl Into<String>) -> Self {
        Self(vec![audience.into()])
    }

    /// Whether `audience` is one of them (RFC 9068 §4: the resource server checks that it is).
    pub fn contains(&self, audience: &str) -> bool {
        self.0.iter().any(|a| a == audience)
    }

    /// The audiences, in order.
    pub fn as_slice(&self) -> &[String] {
        &self.0
    }
}

impl Serialize for Audience {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self.0.as_slice() {
            [one] => serializer.serialize_str(one),
            many => many.serialize(serializer),
        }
    }
}

impl<'de> Deserialize<'de> for Audience {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum OneOrMany {
            One(String),
            Many(Vec<String>),
        }
        Ok(match OneOrMany::deserialize(deserializer)? {
            OneOrMany::One(one) => Self(vec![one]),
            OneOrMany::Many(many) => Self(many),
        })
    }
}

/// Claims of every JWT access token Tollhouse issues.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccessTokenClaims {
    /// Issuer: `<public url>/api/v1/oidc`.
    pub iss: String,
    /// Subject: the M2M client id for client-credentials tokens, the user id for user tokens.
    pub sub: String,
    /// Audience: the issuer unless a `resource`/`audience` parameter said otherwise.
    pub aud: Audience,
    /// Expiry (unix seconds).
    pub exp: i64,
    /// Issued at (unix seconds).
    pub iat: i64,
    /// Not before (unix seconds).
    pub nbf: i64,
    /// Unique token id; revocation is by `jti`.
    pub jti: String,
    /// The app's public client id (`app_…`).
    pub client_id: String,
    /// Space-separated scopes.
    pub scope: String,
    /// The integrator's own user id, on user tokens.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub external_user_id: Option<String>,
    /// Whose token this is.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_type: Option<UserType>,
    /// What a user token is for; absent on M2M tokens and on user tokens issued before it
    /// existed (taken as [`TokenUse::User`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_use: Option<TokenUse>,
    /// The credential this one was exchanged from (that token's `jti`, or `api_key:<id>`):
    /// revoking the parent ends this token too.
    #[serde(
        default,
        rename = "pmth_parent",
        skip_serializing_if = "Option::is_none"
    )]
    pub parent: Option<String>,
}

impl AccessTokenClaims {
    /// Whether this is a signer JWT (which is never exchanged for another credential).
    pub fn is_signer_token(&self) -> bool {
        self.token_use == Some(TokenUse::Signer)
    }
}

/// The revocation key of API key `id`: what a credential exchanged from that key names as its
/// parent, and what revoking the key records as revoked.
pub fn api_key_parent(id: &str) -> String {
    format!("api_key:{id}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_audience_reads_as_a_string_or_an_array_and_writes_one_as_a_string()
    -> Result<(), serde_json::Error> {
        let one: Audience = serde_json::from_str(r#""https://i""#)?;
        assert!(one.contains("https://i"));
        assert_eq!(serde_json::to_string(&one)?, r#""https://i""#);
        let many: Audience = serde_json::from_str(r#"["a","https://i"]"#)?;
        assert!(many.contains("https://i") && !many.contains("b"));
        assert_eq!(serde_json::to_string(&many)?, r#"["a","https://i"]"#);
        assert!(serde_json::from_str::<Audience>("5").is_err());
        Ok(())
    }
}
