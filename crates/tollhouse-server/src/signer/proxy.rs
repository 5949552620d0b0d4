//! The signer proxy (`tollhouse serve --signer-upstream URL`): sits in front of a go-livepeer
//! remote signer on loopback, checks the caller's end-user credential before anything reaches
//! go-livepeer (which validates none), strips headers a client could use to spoof an identity
//! (go-livepeer copies every header into the webhook body), and streams the answer back with its
//! status and headers intact (480 and `Livepeer-Orchestrator-URL` included).
//!
//! These routes are go-livepeer's API passed through (spec `signer-wire.md` §2), so they are not
//! part of Tollhouse's OpenAPI document.

use super::identity::{self, Rejection};
use crate::state::AppState;
use axum::Router;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderName, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use futures_util::TryStreamExt as _;
use http_body_util::{BodyExt as _, Limited};
use std::time::Duration;
use tollhouse_core::webhook::{TrustedHeaders, credential_from_authorization, is_identity_header};

/// The paths go-livepeer's remote signer serves that the proxy forwards.
pub const FORWARDED: [(&str, &str); 3] = [
    ("POST", "/sign-orchestrator-info"),
    ("POST", "/generate-live-payment"),
    ("GET", "/discover-orchestrators"),
];

/// The proxy's routes, to be nested under the configured prefix.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/sign-orchestrator-info", post(forward))
        .route("/generate-live-payment", post(forward))
        .route("/discover-orchestrators", get(forward))
}

/// go-livepeer's error shape, so gateways parse the proxy's refusals like the signer's own.
fn signer_error(status: StatusCode, message: &str) -> Response {
    let body = serde_json::json!({ "error": { "message": message } });
    (status, axum::Json(body)).into_response()
}

/// Headers of a client's request never forwarded: hop-by-hop ones, and identity a client must
/// not assert.
fn forwardable_request_header(name: &HeaderName) -> bool {
    !(hop_by_hop(name) || is_identity_header(name.as_str()) || name == header::CONTENT_LENGTH)
}

fn hop_by_hop(name: &HeaderName) -> bool {
    tollhouse_core::webhook::is_hop_by_hop(name.as_str())
}

fn copy_headers(from: &HeaderMap, to: &mut HeaderMap, keep: impl Fn(&HeaderName) -> bool) {
    for (name, value) in from {
        if keep(name) {
            to.append(name.clone(), value.clone());
        }
    }
}

async fn forward(State(state): State<AppState>, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    let mut authorizations = parts.headers.get_all(header::AUTHORIZATION).iter();
    let first = authorizations.next();
    if authorizations.next().is_some() {
        // Which one would the signer (or a proxy in between) read? Refuse rather than guess.
        return signer_error(
            StatusCode::BAD_REQUEST,
            "more than one Authorization header",
        );
    }
    let credential = first
        .and_then(|v| v.to_str().ok())
        .and_then(credential_from_authorization);
    // Headers a client sent are never trusted here: only the credential proves who it is.
    if let Err(rejection) =
        identity::verify(&state.signer, credential, &TrustedHeaders::default()).await
    {
        let status = match rejection {
            Rejection::StoreUnavailable(_) | Rejection::Unavailable(_) => {
                StatusCode::SERVICE_UNAVAILABLE
            }
            Rejection::Inactive | Rejection::InsufficientScope | Rejection::VerifierNotAllowed => {
                StatusCode::FORBIDDEN
            }
            _ => StatusCode::UNAUTHORIZED,
        };
        return signer_error(status, &rejection.to_string());
    }
    let Some(upstream) = &state.config.signer.upstream else {
        return signer_error(StatusCode::NOT_FOUND, "no signer upstream");
    };
    // Nested routers see the path without their prefix; strip it anyway should a layer have
    // restored the original URI.
    let path = parts.uri.path();
    let suffix = path
        .strip_prefix(state.config.signer.proxy_mount())
        .filter(|rest| rest.starts_with('/'))
        .unwrap_or(path);
    let mut url = format!("{}{suffix}", upstream.trim_end_matches('/'));
    if let Some(query) = parts.uri.query() {
        url.push('?');
        url.push_str(query);
    }
    // Read whole, within the configured limit, whatever Content-Length claims (or a chunked
    // body omits): go-livepeer's signing requests are small JSON documents.
    let body = match Limited::new(body, state.config.http.max_body_bytes)
        .collect()
        .await
    {
        Ok(collected) => collected.to_bytes(),
        Err(err) if err.is::<http_body_util::LengthLimitError>() => {
            return signer_error(StatusCode::PAYLOAD_TOO_LARGE, "request body too large");
        }
        Err(_) => return signer_error(StatusCode::BAD_REQUEST, "request body could not be read"),
    };
    let mut headers = HeaderMap::new();
    copy_headers(&parts.headers, &mut headers, forwardable_request_header);
    let upstream_request = state
        .http
        .request(parts.method.clone(), &url)
        .headers(headers)
        .body(body);
    let timeout = Duration::from_secs(state.config.signer.upstream_timeout_secs.max(1));
    let response = match tokio::time::timeout(timeout, upstream_request.send()).await {
        Err(_) => {
            tracing::warn!(path = suffix, "signer upstream timed out");
            return signer_error(StatusCode::GATEWAY_TIMEOUT, "signer did not answer in time");
        }
        Ok(Err(err)) => {
            tracing::warn!(path = suffix, error = %err.without_url(), "signer upstream unreachable");
            return signer_error(StatusCode::BAD_GATEWAY, "signer unreachable");
        }
        Ok(Ok(response)) => response,
    };
    let status = response.status();
    let mut out_headers = HeaderMap::new();
    copy_headers(response.headers(), &mut out_headers, |name| {
        !hop_by_hop(name)
    });
    // Streamed as it arrives: go-livepeer's answers are passed on without buffering.
    let stream = response.bytes_stream().map_err(std::io::Error::other);
    let mut out = Response::new(Body::from_stream(stream));
    *out.status_mut() = status;
    *out.headers_mut() = out_headers;
    out
}
