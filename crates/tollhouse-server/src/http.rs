//! The router and the layers every request passes through.

use crate::state::AppState;
use axum::Router;
use axum::extract::{DefaultBodyLimit, MatchedPath, Request, State};
use axum::http::StatusCode;
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use std::time::Instant;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::timeout::RequestBodyTimeoutLayer;
use tower_http::trace::TraceLayer;

/// Every route, with metrics, tracing (request id, never a credential) and the body limit. The
/// routes are exactly those the OpenAPI document describes (see [`crate::openapi`]).
pub fn router(state: AppState) -> Router {
    let (mut routes, _) = crate::openapi::api().split_for_parts();
    if state.config.signer.upstream.is_some() {
        // go-livepeer's own API passed through: not part of Tollhouse's document.
        routes = match state.config.signer.proxy_mount() {
            "" => routes.merge(crate::signer::proxy::router()),
            mount => routes.nest(mount, crate::signer::proxy::router()),
        };
    }
    with_layers(routes, state)
}

/// The signer proxy's own listener (`signer.proxy_listen`): go-livepeer's paths at the root,
/// nothing else, with the same layers as the main router.
pub fn signer_router(state: AppState) -> Router {
    with_layers(crate::signer::proxy::router(), state)
}

/// Metrics, tracing, request ids, deadlines and the body limit around `routes`.
fn with_layers(routes: Router<AppState>, state: AppState) -> Router {
    let limit = state.config.http.max_body_bytes;
    let body_timeout =
        std::time::Duration::from_secs(state.config.http.body_read_timeout_secs.max(1));
    routes
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(middleware::from_fn_with_state(state.clone(), deadline))
        .layer(middleware::from_fn_with_state(state.clone(), record_metrics))
        .layer(RequestBodyTimeoutLayer::new(body_timeout))
        .layer(DefaultBodyLimit::max(limit))
        .layer(TraceLayer::new_for_http().make_span_with(|request: &Request| {
            let id = request.headers().get("x-request-id").and_then(|v| v.to_str().ok()).unwrap_or("-");
            // Path only: no query string, no headers, so no credential can reach a log line.
            tracing::info_span!("request", method = %request.method(), path = %request.uri().path(), request_id = %id)
        }))
        .layer(PropagateRequestIdLayer::x_request_id())
        .layer(SetRequestIdLayer::x_request_id(MakeRequestUuid))
        .with_state(state)
}

/// Routes with their own, shorter deadline and answer shape (the webhooks), or none of ours
/// (the signer proxy, bounded by its upstream timeout).
fn has_own_deadline(state: &AppState, route: &str) -> bool {
    matches!(
        route,
        "/webhooks/remote-signer" | "/authorize" | "/webhooks/live-ai-auth"
    ) || is_proxied(state, route)
}

/// Bounds every token, OIDC and Builder request, body read included: past
/// `request_deadline_ms` the route answers 503 `temporarily_unavailable` in the
/// `{error, error_description}` shape the Builder API and RFC 6749 share, instead of holding
/// the client while a stalled store finishes.
async fn deadline(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_owned());
    if route
        .as_deref()
        .is_some_and(|r| has_own_deadline(&state, r))
    {
        return next.run(request).await;
    }
    match tokio::time::timeout(state.config.http.request_deadline(), next.run(request)).await {
        Ok(response) => response,
        Err(_) => {
            tracing::warn!(
                route = route.as_deref().unwrap_or("unmatched"),
                "request passed its deadline"
            );
            state.metrics.deadline_passed("api");
            let mut response = error_response(
                StatusCode::SERVICE_UNAVAILABLE,
                "temporarily_unavailable",
                "the request did not complete in time, retry later",
            );
            response.headers_mut().insert(
                axum::http::header::RETRY_AFTER,
                axum::http::HeaderValue::from_static("1"),
            );
            response
        }
    }
}

async fn record_metrics(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let started = Instant::now();
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_owned(), |p| p.as_str().to_owned());
    let method = request.method().as_str().to_owned();
    let response = next.run(request).await;
    // Every served route is described: a route added with a plain `.route()` instead of
    // utoipa-axum's `routes!` fails any debug build (every test) that calls it.
    debug_assert!(
        route == "unmatched"
            || response.status() == StatusCode::METHOD_NOT_ALLOWED
            || is_proxied(&state, &route)
            || crate::openapi::describes(&method, &route),
        "{method} {route} is served but not described in the OpenAPI document"
    );
    state.metrics.observe_request(
        &route,
        &method,
        response.status().as_u16(),
        started.elapsed().as_secs_f64(),
    );
    response
}

/// Whether `route` is one of the signer proxy's pass-through routes.
/// (On the proxy's own listener its routes are at the root, which the main listener's mount
/// also accepts: `proxy_mount` is a prefix of nothing else there.)
fn is_proxied(state: &AppState, route: &str) -> bool {
    let signer = &state.config.signer;
    let forwarded = |rest: &str| {
        crate::signer::proxy::FORWARDED
            .iter()
            .any(|(_, p)| *p == rest)
    };
    signer.upstream.is_some()
        && (forwarded(route)
            || route
                .strip_prefix(signer.proxy_mount())
                .is_some_and(forwarded))
}

/// The builder-sdk's billing calls Tollhouse does not serve (PymtHouse's Stripe features):
/// `A/billing/*` and `A/users/{ext}/{subscription,subscriptions,invoices,payment-methods}…`.
fn is_unserved_billing(path: &str) -> bool {
    let Some(rest) = path.strip_prefix("/api/v1/apps/") else {
        return false;
    };
    let mut parts = rest.split('/').skip(1);
    match parts.next() {
        Some("billing") => true,
        Some("users") => matches!(
            parts.nth(1),
            Some("subscription" | "subscriptions" | "invoices" | "payment-methods")
        ),
        _ => false,
    }
}

/// `{error, error_description}`: the shape the Builder API and RFC 6749 share, for answers given
/// before any surface's handler runs.
fn error_response(status: StatusCode, error: &str, description: &str) -> Response {
    (
        status,
        axum::Json(serde_json::json!({ "error": error, "error_description": description })),
    )
        .into_response()
}

async fn not_found(uri: axum::http::Uri) -> Response {
    if is_unserved_billing(uri.path()) {
        // The builder-sdk surfaces this as a PmtHouseError {status: 501, code: "not_supported"}.
        return error_response(
            StatusCode::NOT_IMPLEMENTED,
            "not_supported",
            "Tollhouse does not run checkout, subscriptions, invoices or payment methods: bill your users with your own provider and grant what they bought with POST A/users/{externalUserId}/allowances",
        );
    }
    error_response(StatusCode::NOT_FOUND, "not_found", "no such route")
}

async fn method_not_allowed() -> Response {
    error_response(
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        "method not allowed on this route",
    )
}
