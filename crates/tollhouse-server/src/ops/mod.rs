//! Operational endpoints: liveness, readiness, metrics.

use crate::state::AppState;
use axum::Json;
use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

/// `/healthz`, `/readyz`, `/metrics`.
pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(healthz))
        .routes(routes!(readyz))
        .routes(routes!(metrics))
}

/// Liveness.
#[derive(Debug, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Health {
    /// Always `ok`.
    #[schema(value_type = String, pattern = "^ok$")]
    status: &'static str,
}

/// Readiness.
#[derive(Debug, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Readiness {
    /// `ok` or `unreachable`.
    #[schema(value_type = String, pattern = "^(ok|unreachable)$")]
    database: &'static str,
    /// `ready` or `unavailable`.
    #[schema(value_type = String, pattern = "^(ready|unavailable)$")]
    status: &'static str,
    /// The Kafka usage consumer, when one is configured.
    #[serde(skip_serializing_if = "Option::is_none")]
    kafka: Option<KafkaReadiness>,
}

/// The Kafka consumer's view of the broker.
#[derive(Debug, Serialize, ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct KafkaReadiness {
    /// Whether the last lag measurement reached a broker.
    broker_reachable: bool,
    /// Messages of the topic the group has not committed, over all its partitions (`-1`: not
    /// measured yet, or no broker answered).
    lag: i64,
}

fn kafka_readiness(state: &AppState) -> Option<KafkaReadiness> {
    use std::sync::atomic::Ordering;
    state.config.kafka.brokers.as_ref()?;
    Some(KafkaReadiness {
        broker_reachable: state
            .metering
            .kafka
            .broker_reachable
            .load(Ordering::Relaxed),
        lag: state.metering.kafka.lag.load(Ordering::Relaxed),
    })
}

/// Alive: the process answers HTTP.
#[utoipa::path(
    get,
    path = "/healthz",
    operation_id = "healthz",
    tag = "ops",
    responses((status = 200, description = "The process answers", body = Health))
)]
pub async fn healthz() -> Json<Health> {
    Json(Health { status: "ok" })
}

/// Ready: the database answers.
#[utoipa::path(
    get,
    path = "/readyz",
    operation_id = "readyz",
    tag = "ops",
    responses(
        (status = 200, description = "The database answers", body = Readiness),
        (status = 503, description = "The database does not answer", body = Readiness)
    )
)]
pub async fn readyz(State(state): State<AppState>) -> Response {
    match state.store.ping().await {
        Ok(()) => Json(Readiness {
            database: "ok",
            status: "ready",
            kafka: kafka_readiness(&state),
        })
        .into_response(),
        Err(err) => {
            tracing::warn!(error = %err, "readiness check failed");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                Json(Readiness {
                    database: "unreachable",
                    status: "unavailable",
                    kafka: kafka_readiness(&state),
                }),
            )
                .into_response()
        }
    }
}

/// Prometheus text exposition.
#[utoipa::path(
    get,
    path = "/metrics",
    operation_id = "metrics",
    tag = "ops",
    responses((status = 200, description = "OpenMetrics text exposition", body = String,
        content_type = "application/openmetrics-text"))
)]
pub async fn metrics(State(state): State<AppState>) -> Response {
    (
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/openmetrics-text; version=1.0.0; charset=utf-8"),
        )],
        state.metrics.render(),
    )
        .into_response()
}
