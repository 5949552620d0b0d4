//! The app manifest (`GET`/`PUT A/manifest`, strong ETag, 304 on `If-None-Match`) and signer
//! routing (`GET A/signer/routing`).

use super::auth::authenticate;
use super::error::{BuilderError, json_object};
use crate::config::Capability;
use crate::state::AppState;
use axum::Json;
use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{Value, json};
use std::collections::BTreeSet;

/// The resolved manifest and its entity tag.
fn resolve(state: &AppState, excluded: &BTreeSet<Capability>) -> (Value, String) {
    let capabilities: Vec<&Capability> = state
        .config
        .capabilities
        .iter()
        .filter(|c| !excluded.contains(c))
        .collect();
    let canonical = serde_json::to_string(&json!([capabilities, excluded])).unwrap_or_default();
    let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, canonical.as_bytes());
    let version = hex::encode(&digest.as_ref()[..16]);
    let body = json!({
        "capabilities": capabilities,
        "excludedCapabilities": excluded,
        "manifestVersion": version,
    });
    (body, format!("\"{version}\""))
}

async fn stored_exclusions(
    state: &AppState,
    client_id: &str,
) -> Result<BTreeSet<Capability>, BuilderError> {
    let text = state.store.excluded_capabilities(client_id).await?;
    serde_json::from_str(&text)
        .map_err(|e| BuilderError::Internal(format!("stored exclusions: {e}")))
}

fn manifest_response(body: Value, etag: &str) -> Response {
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
pub async fn get(
    State(state): State<AppState>,
    Path(client_id): Path<String>,
    headers: HeaderMap,
) -> Result<Response, BuilderError> {
    let app = authenticate(&state, &headers, &client_id).await?;
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

/// Body of `PUT A/manifest`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PutManifest {
    excluded_capabilities: Vec<Capability>,
}

/// `PUT A/manifest`: replaces the exclusions; every one must name a catalog entry.
pub async fn put(
    State(state): State<AppState>,
    Path(client_id): Path<String>,
    headers: HeaderMap,
    body: Result<Json<Value>, JsonRejection>,
) -> Result<Response, BuilderError> {
    let app = authenticate(&state, &headers, &client_id).await?;
    let body: PutManifest = json_object(body)?;
    let excluded: BTreeSet<Capability> = body.excluded_capabilities.into_iter().collect();
    if let Some(unknown) = excluded
        .iter()
        .find(|c| !state.config.capabilities.contains(c))
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
pub async fn routing(
    State(state): State<AppState>,
    Path(client_id): Path<String>,
    headers: HeaderMap,
) -> Result<Response, BuilderError> {
    let app = authenticate(&state, &headers, &client_id).await?;
    let webhook = state
        .config
        .signer_webhook_url
        .clone()
        .unwrap_or_else(|| format!("{}/webhooks/remote-signer", state.base_url));
    let signer = state.config.signer_url.clone();
    Ok(Json(json!({
        "clientId": app.client_id,
        "routing": {
            "signerApiUrl": signer,
            "remoteDmzUrl": signer,
            "jwksUri": format!("{}/jwks", state.issuer),
            "identityMode": "webhook",
            "meteringMode": "platform_ingest",
        },
        "patterns": {
            "directDmz": {
                "description": "Sign against the remote signer directly with a user signer token; the signer asks the webhook who the user is.",
                "signerApiUrl": signer,
                "webhookUrl": webhook,
            }
        }
    }))
    .into_response())
}
