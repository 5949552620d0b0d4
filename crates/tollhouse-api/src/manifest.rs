//! The app manifest (`GET`/`PUT A/manifest`, with a strong `ETag`) and signer routing
//! (`GET A/signer/routing`).

use serde::{Deserialize, Serialize};

/// One pipeline/model pair of the capability catalog.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct ManifestCapability {
    /// Model id.
    pub model_id: String,
    /// go-livepeer pipeline, e.g. `live-video-to-video`.
    pub pipeline: String,
}

impl ManifestCapability {
    /// `pipeline` with `model_id`.
    pub fn new(pipeline: impl Into<String>, model_id: impl Into<String>) -> Self {
        Self {
            model_id: model_id.into(),
            pipeline: pipeline.into(),
        }
    }
}

/// The app's resolved manifest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "openapi", serde(deny_unknown_fields))]
#[serde(rename_all = "camelCase")]
pub struct Manifest {
    /// The catalog less the app's exclusions.
    pub capabilities: Vec<ManifestCapability>,
    /// What the app excluded.
    pub excluded_capabilities: Vec<ManifestCapability>,
    /// Identifies this manifest; the `ETag` is this value quoted.
    #[cfg_attr(feature = "openapi", schema(pattern = "^[0-9a-f]{32}$"))]
    pub manifest_version: String,
}

/// Body of `PUT A/manifest`: the exclusions (replacing the current ones); every one must name
/// a catalog entry.
///
/// ```
/// use tollhouse_api::manifest::{ManifestCapability, PutManifest};
/// let body = PutManifest {
///     excluded_capabilities: vec![ManifestCapability::new("llm", "meta-llama/Meta-Llama-3.1-8B-Instruct")],
/// };
/// assert!(serde_json::to_string(&body).unwrap().starts_with(r#"{"excludedCapabilities":[{"modelId":"#));
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct PutManifest {
    /// Catalog entries to exclude.
    pub excluded_capabilities: Vec<ManifestCapability>,
}

/// Where an app's signing traffic and webhook go (`GET A/signer/routing`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "openapi", serde(deny_unknown_fields))]
#[serde(rename_all = "camelCase")]
pub struct SignerRouting {
    /// The app's public client id.
    pub client_id: String,
    /// The remote signer's URL, or null when none is configured (the flat shape of PymtHouse's
    /// documentation; the same as `routing.signerApiUrl`).
    #[cfg_attr(feature = "openapi", schema(required = true))]
    pub dmz_url: Option<String>,
    /// The issuer's JWK set (flat shape; the same as `routing.jwksUri`).
    pub jwks_url: String,
    /// The identity-webhook URL go-livepeer's `-remoteSignerWebhookUrl` points at (flat
    /// shape; the same as `patterns.directDmz.webhookUrl`).
    pub webhook_url: String,
    /// `kafka` when usage arrives from go-livepeer's Kafka topic, `direct` when it is posted
    /// to the Usage API (flat shape; `routing.meteringMode` keeps the SDK's `platform_ingest`).
    #[cfg_attr(feature = "openapi", schema(pattern = "^(kafka|direct)$"))]
    pub metering_mode: String,
    /// Integration patterns.
    pub patterns: RoutingPatterns,
    /// The routing itself.
    pub routing: Routing,
}

/// The routing of `GET A/signer/routing`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "openapi", serde(deny_unknown_fields))]
#[serde(rename_all = "camelCase")]
pub struct Routing {
    /// Always `webhook`: the signer asks the webhook who the user is.
    #[cfg_attr(feature = "openapi", schema(pattern = "^webhook$"))]
    pub identity_mode: String,
    /// The issuer's JWK set.
    pub jwks_uri: String,
    /// Always `platform_ingest`.
    #[cfg_attr(feature = "openapi", schema(pattern = "^platform_ingest$"))]
    pub metering_mode: String,
    /// The remote signer's URL, or null when none is configured.
    #[cfg_attr(feature = "openapi", schema(required = true))]
    pub remote_dmz_url: Option<String>,
    /// The remote signer's URL, or null when none is configured.
    #[cfg_attr(feature = "openapi", schema(required = true))]
    pub signer_api_url: Option<String>,
}

/// Integration patterns of `GET A/signer/routing`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "openapi", serde(deny_unknown_fields))]
#[serde(rename_all = "camelCase")]
pub struct RoutingPatterns {
    /// Signing directly against the remote signer.
    pub direct_dmz: DirectDmz,
}

/// The direct-DMZ pattern.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "openapi", serde(deny_unknown_fields))]
#[serde(rename_all = "camelCase")]
pub struct DirectDmz {
    /// What the pattern is.
    pub description: String,
    /// The remote signer's URL, or null when none is configured.
    #[cfg_attr(feature = "openapi", schema(required = true))]
    pub signer_api_url: Option<String>,
    /// The webhook the signer calls.
    pub webhook_url: String,
}
