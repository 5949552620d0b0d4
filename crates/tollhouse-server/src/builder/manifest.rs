//! The app manifest (`GET`/`PUT A/manifest`, strong ETag, 304 on `If-None-Match`) and signer
//! routing (`GET A/signer/routing`).

use super::error::{BodyTooLarge, BuilderError, BuilderErrors};
use super::extract::{AppCaller, AppPath, BuilderJson};
use crate::config::Capability;
use crate::state::AppState;
use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;
use std::collections::BTreeSet;
use tollhouse_api::manifest::{
    DirectDmz, Manifest, ManifestCapability, PutManifest, Routing, RoutingPatterns, SignerRouting,
};

fn wire_capability(c: &Capability) -> ManifestCapability {
    ManifestCapability {
        model_id: c.model_id.clone(),
        pipeline: c.pipeline.clone(),
    }
}

/// The resolved manifest and its entity tag.
fn resolve(state: &AppState, excluded: &BTreeSet<Capability>) -> (Manifest, String) {
    let capabilities: Vec<&Capability> = state
        .config
        .signer
        .capabilities
        .iter()
        .filter(|c| !excluded.contains(c))
        .collect();
    let canonical = serde_json::to_string(&json!([capabilities, excluded])).unwrap_or_default();
    let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, canonical.as_bytes());
    let version = hex::encode(digest.as_ref().get(..16).unwrap_or_default());
    let etag = format!("\"{version}\"");
    let body = Manifest {
        capabilities: capabilities.into_iter().map(wire_capability).collect(),
        excluded_capabilities: excluded.iter().map(wire_capability).collect(),
        manifest_version: version,
    };
    (body, etag)
}

async fn stored_exclusions(
    state: &AppState,
    client_id: &str,
) -> Result<BTreeSet<Capability>, BuilderError> {
    let text = state.store.excluded_capabilities(client_id).await?;
    serde_json::from_str(&text)
        .map_err(|e| BuilderError::Internal(format!("stored exclusions: {e}")))
}

fn manifest_response(body: Manifest, etag: &str) -> Response {
    let mut response = Json(body).into_response();
    if let Ok(value) = HeaderValue::from_str(etag) {
        response.headers_mut().insert(header::ETAG, value);
    }
    response
}

/// Whether `If-None-Match` names `etag` (or `*`). Weak comparison, as RFC 9110 asks for GET.
fn not_modified(headers: &HeaderMap, etag: &str) -> bool {
    headers
        .get_all(header::IF_NONE_MATCH)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .any(|v| {
            v.split(',')
                .map(|t| t.trim().trim_start_matches("W/"))
                .any(|t| t == "*" || t == etag)
        })
}

/// `GET A/manifest`.
#[utoipa::path(
    get,
    path = "/api/v1/apps/{client_id}/manifest",
    operation_id = "getManifest",
    tag = "builder",
    params(
        AppPath,
        ("If-None-Match" = Option<String>, Header, description = "An entity tag from an earlier answer")
    ),
    security(("m2m_basic" = [])),
    responses(
        (status = 200, description = "The manifest", body = Manifest,
            headers(("ETag" = String, description = "Strong entity tag of this manifest"))),
        (status = 304, description = "Unchanged since the given entity tag",
            headers(("ETag" = String, description = "Strong entity tag of this manifest"))),
        BuilderErrors
    )
)]
pub async fn get(
    State(state): State<AppState>,
    AppCaller(app): AppCaller,
    headers: HeaderMap,
) -> Result<Response, BuilderError> {
    let excluded = stored_exclusions(&state, app.client_id.as_str()).await?;
    let (body, etag) = resolve(&state, &excluded);
    if not_modified(&headers, &etag) {
        let mut response = StatusCode::NOT_MODIFIED.into_response();
        if let Ok(value) = HeaderValue::from_str(&etag) {
            response.headers_mut().insert(header::ETAG, value);
        }
        return Ok(response);
    }
    Ok(manifest_response(body, &etag))
}

/// `PUT A/manifest`: replaces the exclusions; every one must name a catalog entry.
#[utoipa::path(
    put,
    path = "/api/v1/apps/{client_id}/manifest",
    operation_id = "putManifest",
    tag = "builder",
    params(AppPath),
    request_body(content = PutManifest, content_type = "application/json"),
    security(("m2m_basic" = [])),
    responses(
        (status = 200, description = "The resolved manifest", body = Manifest,
            headers(("ETag" = String, description = "Strong entity tag of this manifest"))),
        BuilderErrors,
        BodyTooLarge
    )
)]
pub async fn put(
    State(state): State<AppState>,
    AppCaller(app): AppCaller,
    BuilderJson(body): BuilderJson<PutManifest>,
) -> Result<Response, BuilderError> {
    let excluded: BTreeSet<Capability> = body
        .excluded_capabilities
        .into_iter()
        .map(|c| Capability {
            pipeline: c.pipeline,
            model_id: c.model_id,
        })
        .collect();
    if let Some(unknown) = excluded
        .iter()
        .find(|c| !state.config.signer.capabilities.contains(c))
    {
        return Err(BuilderError::invalid(format!(
            "excludedCapabilities names {}/{}, which is not in the capability catalog",
            unknown.pipeline, unknown.model_id
        )));
    }
    let text =
        serde_json::to_string(&excluded).map_err(|e| BuilderError::Internal(e.to_string()))?;
    state
        .store
        .set_excluded_capabilities(app.client_id.as_str(), &text, state.clock.now())
        .await?;
    let (body, etag) = resolve(&state, &excluded);
    Ok(manifest_response(body, &etag))
}

/// `GET A/signer/routing`: where this app's signing traffic and webhook go.
#[utoipa::path(
    get,
    path = "/api/v1/apps/{client_id}/signer/routing",
    operation_id = "getSignerRouting",
    tag = "builder",
    params(AppPath),
    security(("m2m_basic" = [])),
    responses((status = 200, description = "The app's signer routing", body = SignerRouting), BuilderErrors)
)]
pub async fn routing(
    State(state): State<AppState>,
    AppCaller(app): AppCaller,
) -> Result<Json<SignerRouting>, BuilderError> {
    let webhook = state
        .config
        .signer
        .webhook_url
        .clone()
        .unwrap_or_else(|| format!("{}/webhooks/remote-signer", state.base_url));
    let signer = state.signer_url.clone();
    let jwks = format!("{}/jwks", state.issuer);
    let metering_mode = if state.config.kafka.brokers.is_some() {
        "kafka"
    } else {
        "direct"
    };
    Ok(Json(SignerRouting {
        client_id: app.client_id.to_string(),
        dmz_url: signer.clone(),
        jwks_url: jwks.clone(),
        webhook_url: webhook.clone(),
        metering_mode: metering_mode.to_owned(),
        patterns: RoutingPatterns {
            direct_dmz: DirectDmz {
                description: "Sign against the remote signer directly with a user signer token; the signer asks the webhook who the user is.".to_owned(),
                signer_api_url: signer.clone(),
                webhook_url: webhook,
            },
        },
        routing: Routing {
            identity_mode: "webhook".to_owned(),
            jwks_uri: jwks,
            metering_mode: "platform_ingest".to_owned(),
            remote_dmz_url: signer.clone(),
            signer_api_url: signer,
        },
    }))
}
