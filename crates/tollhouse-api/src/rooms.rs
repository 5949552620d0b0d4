//! Live-room tokens (`POST A/rooms/secret`, `POST A/rooms`, `POST A/rooms/{roomId}/tokens`,
//! `POST A/rooms/{roomId}/end`, `POST A/rooms/verify`): HS256 tokens for a signaling server and
//! chat engine, signed with the app's room secret.

use serde::{Deserialize, Serialize};

/// A new room secret, shown once.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "openapi", serde(deny_unknown_fields))]
#[serde(rename_all = "camelCase")]
pub struct RoomSecretView {
    /// 48 random bytes, standard base64 (64 characters). Configure this exact text as the HS256
    /// secret (`JWT_SECRET`) of the signaling server and chat engine.
    pub secret: String,
    /// Until when (unix seconds) tokens signed with the previous secret still verify; `null`
    /// when there was no previous secret.
    #[cfg_attr(feature = "openapi", schema(required = true))]
    pub previous_secret_valid_until: Option<i64>,
}

impl std::fmt::Debug for RoomSecretView {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RoomSecretView")
            .field("secret", &"<redacted>")
            .field(
                "previous_secret_valid_until",
                &self.previous_secret_valid_until,
            )
            .finish()
    }
}

/// Body of `POST A/rooms`.
///
/// ```
/// use tollhouse_api::rooms::CreateRoom;
/// let body = CreateRoom { room_type: Some("1v1".into()), ..CreateRoom::for_user("ada") };
/// assert_eq!(
///     serde_json::to_string(&body).unwrap(),
///     r#"{"externalUserId":"ada","roomType":"1v1"}"#
/// );
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CreateRoom {
    /// The creating user (the original host). Required with M2M credentials; with the user's
    /// own bearer it may be omitted and must otherwise name that user.
    #[serde(
        default,
        alias = "external_user_id",
        skip_serializing_if = "Option::is_none"
    )]
    #[cfg_attr(
        feature = "openapi",
        schema(pattern = "^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$")
    )]
    pub external_user_id: Option<String>,
    /// `live` (default) or `1v1`.
    #[serde(default, alias = "room_type", skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(pattern = "^(live|1v1)$"))]
    pub room_type: Option<String>,
    /// Peer limit carried in every token of the room (at most 2 for `1v1`).
    #[serde(default, alias = "max_peers", skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(minimum = 1, maximum = 100000))]
    pub max_peers: Option<i64>,
    /// Lifetime of the host token in seconds (at most 86400, the default).
    #[serde(
        default,
        alias = "ttl_seconds",
        skip_serializing_if = "Option::is_none"
    )]
    #[cfg_attr(feature = "openapi", schema(minimum = 1, maximum = 86400))]
    pub ttl_seconds: Option<i64>,
}

impl CreateRoom {
    /// A `live` room created by `external_user_id`, with the default limits.
    pub fn for_user(external_user_id: impl Into<String>) -> Self {
        Self {
            external_user_id: Some(external_user_id.into()),
            ..Self::default()
        }
    }
}

/// A room token as `POST A/rooms` and `POST A/rooms/{roomId}/tokens` return it.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "openapi", serde(deny_unknown_fields))]
#[serde(rename_all = "camelCase")]
pub struct RoomTokenView {
    /// The HS256 room token.
    pub token: String,
    /// The room (UUID).
    pub room_id: String,
    /// The peer id the client must use on the signaling socket; for hosts it equals the
    /// token's `host_peer_id`.
    pub peer_id: String,
    /// The token's role.
    #[cfg_attr(feature = "openapi", schema(pattern = "^(host|viewer|guest)$"))]
    pub role: String,
    /// The broadcaster whose audience the peer belongs to.
    pub host_peer_id: String,
    /// Expiry (unix seconds).
    pub expires_at: i64,
}

impl std::fmt::Debug for RoomTokenView {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RoomTokenView")
            .field("token", &"<redacted>")
            .field("room_id", &self.room_id)
            .field("peer_id", &self.peer_id)
            .field("role", &self.role)
            .field("host_peer_id", &self.host_peer_id)
            .field("expires_at", &self.expires_at)
            .finish()
    }
}

/// Body of `POST A/rooms/{roomId}/tokens`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct IssueRoomToken {
    /// The user the token is for.
    #[serde(alias = "external_user_id")]
    #[cfg_attr(
        feature = "openapi",
        schema(pattern = "^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$")
    )]
    pub external_user_id: String,
    /// `host` (a cohost: a new broadcaster), `viewer` or `guest`.
    #[cfg_attr(feature = "openapi", schema(pattern = "^(host|viewer|guest)$"))]
    pub role: String,
    /// For viewers and guests: the broadcaster whose audience they join (default: the room's
    /// original host). Not accepted for hosts, whose peer id is always new.
    #[serde(
        default,
        alias = "host_peer_id",
        skip_serializing_if = "Option::is_none"
    )]
    #[cfg_attr(
        feature = "openapi",
        schema(
            pattern = "^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$"
        )
    )]
    pub host_peer_id: Option<String>,
    /// Lifetime in seconds: at most 86400 for hosts, 3600 for viewers and guests (the default
    /// is the maximum).
    #[serde(
        default,
        alias = "ttl_seconds",
        skip_serializing_if = "Option::is_none"
    )]
    #[cfg_attr(feature = "openapi", schema(minimum = 1, maximum = 86400))]
    pub ttl_seconds: Option<i64>,
}

/// The ended room.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "openapi", serde(deny_unknown_fields))]
#[serde(rename_all = "camelCase")]
pub struct RoomEnded {
    /// The room (UUID).
    pub room_id: String,
    /// Always `ended`.
    #[cfg_attr(feature = "openapi", schema(pattern = "^ended$"))]
    pub status: String,
}

/// Body of `POST A/rooms/verify`.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct VerifyRoomToken {
    /// The room token to check.
    pub token: String,
}

impl std::fmt::Debug for VerifyRoomToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VerifyRoomToken")
            .field("token", &"<redacted>")
            .finish()
    }
}

/// The claims of a valid room token, exactly as signed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RoomClaimsView {
    /// The room (UUID).
    pub room_id: String,
    /// `host`, `viewer` or `guest`.
    #[cfg_attr(feature = "openapi", schema(pattern = "^(host|viewer|guest)$"))]
    pub role: String,
    /// `live` or `1v1`.
    #[cfg_attr(feature = "openapi", schema(pattern = "^(live|1v1)$"))]
    pub room_type: String,
    /// Peer limit.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_peers: Option<u32>,
    /// From the user record.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
    /// From the user record.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub avatar_url: Option<String>,
    /// `true` only on the room creator's token.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub is_original_host: Option<bool>,
    /// The broadcaster the peer is (hosts) or joined (viewers, guests).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host_peer_id: Option<String>,
    /// Expiry (unix seconds).
    pub exp: i64,
}

/// The verdict on a room token.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "openapi", serde(deny_unknown_fields))]
pub struct RoomVerification {
    /// Whether the token is valid now.
    pub valid: bool,
    /// The decoded claims, when valid.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub claims: Option<RoomClaimsView>,
    /// Why the token is not valid: `malformed_or_bad_signature`, `expired`, `unknown_room`,
    /// `room_ended`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(
        feature = "openapi",
        schema(pattern = "^(malformed_or_bad_signature|expired|unknown_room|room_ended)$")
    )]
    pub reason: Option<String>,
}
