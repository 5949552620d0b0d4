//! Prometheus metrics, one registry per server (no global state, so tests can run many servers).

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    route: String,
    method: String,
    status: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RouteLabels {
    route: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct VerdictLabels {
    status: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct GrantLabels {
    grant: String,
}

fn latency_histogram() -> Histogram {
    // 100 µs … ~3.3 s, doubling: resolves the sub-millisecond hot paths.
    Histogram::new(prometheus_client::metrics::histogram::exponential_buckets(
        0.0001, 2.0, 16,
    ))
}

/// The server's metrics.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    requests: Family<RequestLabels, Counter>,
    latency: Family<RouteLabels, Histogram, fn() -> Histogram>,
    tokens_issued: Family<GrantLabels, Counter>,
    webhook_verdicts: Family<VerdictLabels, Counter>,
    usage_events: Family<OutcomeLabels, Counter>,
    kafka_lag: Gauge,
    oracle_refreshes: Family<OutcomeLabels, Counter>,
    price_observed_at: Gauge,
    connections_refused: Counter,
    deadlines_passed: Family<OutcomeLabels, Counter>,
    billable_secs_clamped: Counter,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OutcomeLabels {
    outcome: &'static str,
}

impl Default for Metrics {
    fn default() -> Self {
        let mut registry = Registry::with_prefix("tollhouse");
        let requests = Family::<RequestLabels, Counter>::default();
        let latency = Family::<RouteLabels, Histogram, fn() -> Histogram>::new_with_constructor(
            latency_histogram,
        );
        let tokens_issued = Family::<GrantLabels, Counter>::default();
        registry.register(
            "http_requests",
            "HTTP requests by route, method and status",
            requests.clone(),
        );
        registry.register(
            "http_request_duration_seconds",
            "HTTP request latency by route",
            latency.clone(),
        );
        registry.register(
            "tokens_issued",
            "Access tokens issued by grant type",
            tokens_issued.clone(),
        );
        let webhook_verdicts = Family::<VerdictLabels, Counter>::default();
        registry.register(
            "webhook_verdicts",
            "Identity webhook answers by verdict status (200, 401, 403, 483, 503, …)",
            webhook_verdicts.clone(),
        );
        let usage_events = Family::<OutcomeLabels, Counter>::default();
        // Present from the start (at 0), so a scrape can tell "none yet" from "not exported".
        for outcome in [
            "ingested",
            "duplicate",
            "unattributed",
            "dead_lettered",
            "skipped",
        ] {
            drop(usage_events.get_or_create(&OutcomeLabels { outcome }));
        }
        registry.register(
            "usage_events",
            "Usage events by outcome (ingested, duplicate, unattributed, dead_lettered, skipped)",
            usage_events.clone(),
        );
        let kafka_lag = Gauge::default();
        kafka_lag.set(-1);
        registry.register(
            "usage_kafka_lag",
            "Kafka usage messages not yet stored: high watermark minus committed offset, summed over the assigned partitions (-1: unknown)",
            kafka_lag.clone(),
        );
        let oracle_refreshes = Family::<OutcomeLabels, Counter>::default();
        registry.register(
            "eth_usd_oracle_refreshes",
            "ETH/USD oracle reads by outcome (ok, failed)",
            oracle_refreshes.clone(),
        );
        let price_observed_at = Gauge::default();
        registry.register(
            "eth_usd_price_observed_at_seconds",
            "When the ETH/USD price in use was observed (unix seconds; 0: none yet)",
            price_observed_at.clone(),
        );
        let connections_refused = Counter::default();
        registry.register(
            "connections_refused",
            "Connections closed on accept because the server or the client address held the most allowed",
            connections_refused.clone(),
        );
        let deadlines_passed = Family::<OutcomeLabels, Counter>::default();
        registry.register(
            "deadlines_passed",
            "Requests answered 503 because they passed their deadline, by surface (webhook, live_ai, api)",
            deadlines_passed.clone(),
        );
        let billable_secs_clamped = Counter::default();
        registry.register(
            "usage_billable_secs_clamped",
            "Signed-ticket events whose negative billable_secs (a signer clock behind its payment state) were counted as 0 s, fee kept",
            billable_secs_clamped.clone(),
        );
        Self {
            billable_secs_clamped,
            connections_refused,
            deadlines_passed,
            registry,
            requests,
            latency,
            tokens_issued,
            webhook_verdicts,
            usage_events,
            kafka_lag,
            oracle_refreshes,
            price_observed_at,
        }
    }
}

impl Metrics {
    /// Counts a connection closed on accept (over a connection limit).
    pub fn connection_refused(&self) {
        self.connections_refused.inc();
    }

    /// Counts a request that passed its deadline on `surface` (`webhook`, `live_ai`, `api`).
    pub fn deadline_passed(&self, surface: &'static str) {
        self.deadlines_passed
            .get_or_create(&OutcomeLabels { outcome: surface })
            .inc();
    }

    /// Records one finished request.
    pub fn observe_request(&self, route: &str, method: &str, status: u16, seconds: f64) {
        self.requests
            .get_or_create(&RequestLabels {
                route: route.to_owned(),
                method: method.to_owned(),
                status,
            })
            .inc();
        self.latency
            .get_or_create(&RouteLabels {
                route: route.to_owned(),
            })
            .observe(seconds);
    }

    /// Counts an issued token.
    pub fn token_issued(&self, grant: &str) {
        self.tokens_issued
            .get_or_create(&GrantLabels {
                grant: grant.to_owned(),
            })
            .inc();
    }

    /// Counts an identity-webhook verdict.
    pub fn webhook_verdict(&self, status: u16) {
        self.webhook_verdicts
            .get_or_create(&VerdictLabels { status })
            .inc();
    }

    /// Counts the outcome of an ingested batch.
    pub fn usage_ingested(&self, counts: &tollhouse_store::IngestCounts, skipped: u64) {
        for (outcome, n) in [
            ("ingested", counts.ingested),
            ("duplicate", counts.duplicate),
            ("unattributed", counts.unattributed),
            ("dead_lettered", counts.dead_lettered),
            ("skipped", skipped),
        ] {
            self.usage_events
                .get_or_create(&OutcomeLabels { outcome })
                .inc_by(n);
        }
    }

    /// Counts events whose negative `billable_secs` were clamped to 0.
    pub fn billable_secs_clamped(&self, n: u64) {
        self.billable_secs_clamped.inc_by(n);
    }

    /// Sets the Kafka consumer's lag (messages; -1 when unknown).
    pub fn set_kafka_lag(&self, lag: i64) {
        self.kafka_lag.set(lag);
    }

    /// Counts an oracle read; a successful one sets the price's observation time (unix ms).
    pub fn price_refreshed(&self, ok: bool, observed_at_ms: i64) {
        let outcome = if ok { "ok" } else { "failed" };
        self.oracle_refreshes
            .get_or_create(&OutcomeLabels { outcome })
            .inc();
        if ok {
            self.price_observed_at.set(observed_at_ms.div_euclid(1000));
        }
    }

    /// Sets the observation time (unix ms) of a static price.
    pub fn set_price_observed_at(&self, observed_at_ms: i64) {
        self.price_observed_at.set(observed_at_ms.div_euclid(1000));
    }

    /// The text exposition format.
    pub fn render(&self) -> String {
        let mut out = String::new();
        // Encoding into a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut out, &self.registry);
        out
    }
}
