//! Live-room tokens for signaling servers and chat engines (seed 003): HS256 JWTs signed with an
//! app's room secret, carrying who the peer is and which broadcaster's audience it joins.

use crate::UnixTime;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};

/// Longest lifetime of a host token (seed: "24h for hosts").
pub const MAX_HOST_TTL_SECS: i64 = 24 * 3600;
/// Longest lifetime of a viewer or guest token (seed: "1h for viewers").
pub const MAX_VIEWER_TTL_SECS: i64 = 3600;
/// Bytes of a freshly generated room secret (the seed recommends at least 48).
pub const ROOM_SECRET_BYTES: usize = 48;

/// A peer's role in a room.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RoomRole {
    /// A broadcaster (the original host or a cohost).
    Host,
    /// A member of a broadcaster's audience.
    Viewer,
    /// A participant without broadcasting rights.
    Guest,
}

impl RoomRole {
    /// Parses the wire form.
    pub fn parse(value: &str) -> Option<Self> {
        match value {
            "host" => Some(Self::Host),
            "viewer" => Some(Self::Viewer),
            "guest" => Some(Self::Guest),
            _ => None,
        }
    }

    /// The longest lifetime a token of this role may have.
    pub fn max_ttl(self) -> i64 {
        match self {
            Self::Host => MAX_HOST_TTL_SECS,
            Self::Viewer | Self::Guest => MAX_VIEWER_TTL_SECS,
        }
    }
}

/// The kind of room.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum RoomType {
    /// One or more broadcasters and an audience.
    #[serde(rename = "live")]
    Live,
    /// A private call between two peers.
    #[serde(rename = "1v1")]
    OneToOne,
}

impl RoomType {
    /// Parses the wire form.
    pub fn parse(value: &str) -> Option<Self> {
        match value {
            "live" => Some(Self::Live),
            "1v1" => Some(Self::OneToOne),
            _ => None,
        }
    }

    /// The wire and storage form.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Live => "live",
            Self::OneToOne => "1v1",
        }
    }
}

/// The claims of a room token, with exactly the seed's names and types.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RoomClaims {
    /// The room (UUID).
    pub room_id: String,
    /// The peer's role.
    pub role: RoomRole,
    /// The room's kind.
    pub room_type: RoomType,
    /// Peer limit, if the room has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_peers: Option<u32>,
    /// From the stored user record, never from a request.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
    /// From the stored user record, never from a request.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub avatar_url: Option<String>,
    /// Present (true) only on the room creator's token.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub is_original_host: Option<bool>,
    /// A broadcaster's own peer id, or the broadcaster a viewer joined.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host_peer_id: Option<String>,
    /// Expiry (unix seconds).
    pub exp: UnixTime,
}

/// Why a room token was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RoomTokenError {
    /// Not an HS256 JWT signed with the secret, or claims of the wrong shape.
    #[error("invalid room token: {0}")]
    Invalid(String),
    /// Past `exp`.
    #[error("room token expired")]
    Expired,
}

/// Signs `claims` with the room secret (HS256, header `{"alg":"HS256","typ":"JWT"}`).
pub fn sign_room_token(secret: &[u8], claims: &RoomClaims) -> Result<String, RoomTokenError> {
    jsonwebtoken::encode(
        &Header::new(Algorithm::HS256),
        claims,
        &EncodingKey::from_secret(secret),
    )
    .map_err(|e| RoomTokenError::Invalid(e.to_string()))
}

/// Checks a room token's signature against `secret` and its expiry against `now`.
pub fn verify_room_token(
    secret: &[u8],
    token: &str,
    now: UnixTime,
) -> Result<RoomClaims, RoomTokenError> {
    let mut validation = Validation::new(Algorithm::HS256);
    // Expiry is checked against the injected clock below, not the system clock.
    validation.validate_exp = false;
    validation.required_spec_claims.clear();
    let claims =
        jsonwebtoken::decode::<RoomClaims>(token, &DecodingKey::from_secret(secret), &validation)
            .map_err(|e| RoomTokenError::Invalid(e.to_string()))?
            .claims;
    if now >= claims.exp {
        return Err(RoomTokenError::Expired);
    }
    Ok(claims)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn claims() -> RoomClaims {
        RoomClaims {
            room_id: "7f1d3c1e-0000-4000-8000-000000000001".into(),
            role: RoomRole::Host,
            room_type: RoomType::Live,
            max_peers: None,
            display_name: Some("Ada".into()),
            avatar_url: None,
            is_original_host: Some(true),
            host_peer_id: Some("peer-1".into()),
            exp: 1_000,
        }
    }

    #[test]
    fn round_trip_and_wire_names() -> Result<(), RoomTokenError> {
        let secret = [7u8; 48];
        let token = sign_room_token(&secret, &claims())?;
        assert_eq!(verify_room_token(&secret, &token, 999)?, claims());
        assert_eq!(
            verify_room_token(&secret, &token, 1_000),
            Err(RoomTokenError::Expired)
        );
        assert!(
            verify_room_token(&[8u8; 48], &token, 0).is_err(),
            "another secret"
        );
        let json =
            serde_json::to_value(claims()).map_err(|e| RoomTokenError::Invalid(e.to_string()))?;
        assert_eq!(json["role"], "host");
        assert_eq!(json["room_type"], "live");
        assert!(json.get("max_peers").is_none() && json.get("avatar_url").is_none());
        assert_eq!(
            serde_json::to_value(RoomType::OneToOne).ok(),
            Some(serde_json::json!("1v1"))
        );
        Ok(())
    }

    #[test]
    fn ttl_caps_by_role() {
        assert_eq!(RoomRole::Host.max_ttl(), 86_400);
        assert_eq!(RoomRole::Viewer.max_ttl(), 3_600);
        assert_eq!(RoomRole::Guest.max_ttl(), 3_600);
        assert_eq!(RoomRole::parse("admin"), None);
        assert_eq!(RoomType::parse("2v2"), None);
    }
}
