//! A user's Live AI stream keys (`GET`/`POST`/`DELETE A/users/{ext}/stream-keys`): the stream
//! name an encoder puts in its RTMP/WHIP URL, checked by the gateway's auth webhook. A key is
//! shown once, when it is created.

use crate::keys::KeyStatus;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// A stream key as listed (the key itself is never shown again).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "openapi", serde(deny_unknown_fields))]
#[serde(rename_all = "camelCase")]
pub struct StreamKeyView {
    /// When the key was created (RFC 3339).
    #[cfg_attr(feature = "openapi", schema(format = DateTime))]
    pub created_at: String,
    /// The key's id (a UUID).
    pub id: String,
    /// The pipeline streams started with this key run, or null (the gateway's default).
    #[cfg_attr(feature = "openapi", schema(required = true))]
    pub pipeline: Option<String>,
    /// Parameters of that pipeline, or null.
    #[cfg_attr(feature = "openapi", schema(required = true, value_type = Option<Object>))]
    pub pipeline_parameters: Option<Map<String, Value>>,
    /// When the key was revoked (RFC 3339), or null.
    #[cfg_attr(feature = "openapi", schema(required = true, format = DateTime))]
    pub revoked_at: Option<String>,
    /// `active` or `revoked`.
    pub status: KeyStatus,
    /// The stream id the gateway is told for streams started with this key (the key's id).
    pub stream_id: String,
}

/// A new stream key, shown this once.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "openapi", serde(deny_unknown_fields))]
#[serde(rename_all = "camelCase")]
pub struct CreatedStreamKey {
    /// When the key was created (RFC 3339).
    #[cfg_attr(feature = "openapi", schema(format = DateTime))]
    pub created_at: String,
    /// The key's id (a UUID).
    pub id: String,
    /// The pipeline streams started with this key run, or null.
    #[cfg_attr(feature = "openapi", schema(required = true))]
    pub pipeline: Option<String>,
    /// Parameters of that pipeline, or null.
    #[cfg_attr(feature = "openapi", schema(required = true, value_type = Option<Object>))]
    pub pipeline_parameters: Option<Map<String, Value>>,
    /// The stream key `pmth_sk_<64hex>`: the stream name in the encoder's RTMP/WHIP URL.
    #[cfg_attr(feature = "openapi", schema(pattern = "^pmth_sk_[0-9a-f]{64}$"))]
    pub stream_key: String,
    /// The stream id the gateway is told for streams started with this key (the key's id).
    pub stream_id: String,
}

impl std::fmt::Debug for CreatedStreamKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CreatedStreamKey")
            .field("created_at", &self.created_at)
            .field("id", &self.id)
            .field("pipeline", &self.pipeline)
            .field("pipeline_parameters", &self.pipeline_parameters)
            .field("stream_key", &"<redacted>")
            .field("stream_id", &self.stream_id)
            .finish()
    }
}

/// `GET A/users/{ext}/stream-keys`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "openapi", serde(deny_unknown_fields))]
#[serde(rename_all = "camelCase")]
pub struct StreamKeyList {
    /// Every stream key of the user, live or revoked, newest first.
    pub stream_keys: Vec<StreamKeyView>,
}

/// `DELETE A/users/{ext}/stream-keys?id=`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "openapi", serde(deny_unknown_fields))]
#[serde(rename_all = "camelCase")]
pub struct RevokedStreamKey {
    /// The key, now revoked.
    pub stream_key: StreamKeyView,
    /// Always `true`.
    pub success: bool,
}

/// Body of `POST A/users/{ext}/stream-keys` (optional).
///
/// ```
/// use tollhouse_api::stream_keys::CreateStreamKey;
/// let body = CreateStreamKey { pipeline: Some("comfyui".into()), ..CreateStreamKey::default() };
/// assert_eq!(serde_json::to_string(&body).unwrap(), r#"{"pipeline":"comfyui"}"#);
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct CreateStreamKey {
    /// The pipeline streams started with this key run (e.g. `comfyui`, `streamdiffusion`): 1 to
    /// 128 characters of `A-Z a-z 0-9 . _ - : /`. Absent: the gateway's default.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(pattern = "^[A-Za-z0-9._:/-]{1,128}$"))]
    pub pipeline: Option<String>,
    /// Parameters of that pipeline, passed to the gateway as they are; at most 16 KiB as JSON.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<Object>))]
    pub pipeline_parameters: Option<Map<String, Value>>,
}
