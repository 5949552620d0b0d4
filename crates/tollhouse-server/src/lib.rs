//! The Tollhouse server: configuration, bootstrap, the HTTP surfaces, and the admin commands'
//! shared logic. `main.rs` is only the command line.

pub mod apps;
pub mod balances;
pub mod bootstrap;
pub mod builder;
pub mod cache;
pub mod config;
pub mod error_doc;
pub mod http;
pub mod keyring;
pub mod listener;
pub mod metering;
pub mod metrics;
pub mod oidc;
pub mod openapi;
pub mod ops;
pub mod signer;
pub mod state;

use crate::apps::CreatedApp;
use crate::config::Config;
use crate::keyring::Keyring;
use crate::state::{AppState, Shared};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tollhouse_core::scope::{DEFAULT_APP_SCOPES, ScopeSet};
use tollhouse_core::{Clock, Random};
use tollhouse_store::Store;

/// How long an M2M client record is served from memory: a secret rotated by another process
/// (the CLI, another instance) stops working within this time; in-process rotation is immediate.
pub const M2M_CLIENT_CACHE_MILLIS: i64 = 1000;

/// Set once the first-start demo app exists, so restarts never print a secret again.
const DEMO_APP_SETTING: &str = "bootstrap.demo_app";

/// Why the server could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// Bootstrap (data dir, master key, database) failed.
    #[error(transparent)]
    Bootstrap(#[from] bootstrap::BootstrapError),
    /// Signing keys could not be loaded or created.
    #[error(transparent)]
    Keyring(#[from] keyring::KeyringError),
    /// The listen address could not be bound.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// The cause.
        source: std::io::Error,
    },
    /// Storage failed during start-up.
    #[error(transparent)]
    Store(#[from] tollhouse_store::StoreError),
    /// A setting is unusable (e.g. a malformed signer upstream URL).
    #[error("configuration: {0}")]
    Config(#[from] config::ConfigError),
    /// A client of outside services (the external issuers, the signer upstream) could not be
    /// built.
    #[error("HTTP client: {0}")]
    HttpClient(String),
}

/// Injected dependencies: time and randomness.
#[derive(Debug, Clone)]
pub struct Deps {
    /// Time source.
    pub clock: Arc<dyn Clock>,
    /// Randomness source.
    pub rng: Arc<dyn Random>,
}

impl Default for Deps {
    fn default() -> Self {
        Self {
            clock: Arc::new(tollhouse_core::SystemClock),
            rng: Arc::new(tollhouse_core::OsRandom),
        }
    }
}

/// A server that is accepting connections.
#[derive(Debug)]
pub struct RunningServer {
    /// The bound address (useful with port 0).
    pub addr: SocketAddr,
    /// The signer proxy's own listener's address, when it has one.
    pub signer_addr: Option<SocketAddr>,
    /// The shared state, for tests and admin hooks.
    pub state: AppState,
    /// The demo app, if this start created it (its secret is shown only now).
    pub demo_app: Option<CreatedApp>,
    shutdown: watch::Sender<bool>,
    tasks: Vec<JoinHandle<()>>,
}

impl RunningServer {
    /// Stops accepting, finishes in-flight requests and waits for the background tasks.
    pub async fn shutdown(self) {
        let _ = self.shutdown.send(true);
        self.wait().await;
    }

    /// Resolves when the server has stopped (after a shutdown signal), then closes the store.
    pub async fn wait(self) {
        for task in self.tasks {
            let _ = task.await;
        }
        self.state.store.close().await;
    }

    /// A handle that triggers shutdown.
    pub fn shutdown_handle(&self) -> watch::Sender<bool> {
        self.shutdown.clone()
    }
}

/// Opens storage and keys, binds the listener and starts serving.
pub async fn start(
    config: Config,
    deps: Deps,
    create_demo_app: bool,
) -> Result<RunningServer, StartError> {
    config.validate()?;
    let price = metering::price::PriceSource::from_config(&config.price, deps.clock.now_millis())?;
    let (store, master) = bootstrap::open(&config, deps.rng.as_ref()).await?;
    let store: Arc<dyn Store> = Arc::new(store);
    let (listener, addr) = bind(config.http.listen).await?;
    let signer_listener = match config.signer.proxy_listen {
        Some(at) => Some(bind(at).await?),
        None => None,
    };
    let signer_addr = signer_listener.as_ref().map(|(_, addr)| *addr);
    let base_url = match &config.http.public_url {
        Some(url) => url.trim_end_matches('/').to_owned(),
        None => format!("http://{addr}"),
    };
    let urls = PublicUrls {
        signer: signer_url(&config, &base_url, signer_addr),
        base: base_url,
    };
    let state = build_state(config, deps, store, &master, urls, price).await?;
    if let Some(observed) = state.metering.price.latest() {
        state.metrics.set_price_observed_at(observed.observed_at_ms);
    }
    let demo_app = if create_demo_app {
        create_demo_app_once(&state).await?
    } else {
        None
    };

    let (shutdown, stop) = watch::channel(false);
    let mut tasks = vec![
        spawn_http(
            &state,
            http::router(state.clone()),
            listener,
            shutdown.subscribe(),
        ),
        spawn_key_refresh(&state, stop),
    ];
    if let Some((listener, _)) = signer_listener {
        let router = http::signer_router(state.clone());
        tasks.push(spawn_http(&state, router, listener, shutdown.subscribe()));
    }
    if state.metering.price.is_oracle() {
        tasks.push(tokio::spawn(metering::price::run_oracle(
            state.metering.clone(),
            shutdown.subscribe(),
        )));
    }
    if let Some(brokers) = state.config.kafka.brokers.clone() {
        tasks.push(tokio::spawn(metering::kafka::run(
            state.metering.clone(),
            brokers,
            state.metering.kafka.clone(),
            shutdown.subscribe(),
        )));
    }
    Ok(RunningServer {
        addr,
        signer_addr,
        state,
        demo_app,
        tasks,
        shutdown,
    })
}

/// Binds `addr`; the address bound (the port chosen, for port 0).
async fn bind(addr: SocketAddr) -> Result<(TcpListener, SocketAddr), StartError> {
    let bind_error = |source| StartError::Bind { addr, source };
    let listener = TcpListener::bind(addr).await.map_err(bind_error)?;
    let bound = listener.local_addr().map_err(bind_error)?;
    Ok((listener, bound))
}

/// Where clients reach this deployment.
struct PublicUrls {
    /// The public base URL, no trailing slash.
    base: String,
    /// See [`state::Shared::signer_url`].
    signer: Option<String>,
}

/// The signer URL clients are given: the configured one, else the proxy's, on its own
/// listener or under its mount on the main one (go-livepeer resolves the signer's paths as
/// absolute, so only a root mount works for it there).
fn signer_url(config: &Config, base_url: &str, signer_addr: Option<SocketAddr>) -> Option<String> {
    let signer = &config.signer;
    if let Some(url) = &signer.remote_signer_url {
        return Some(url.clone());
    }
    signer.upstream.as_ref()?;
    Some(match signer_addr {
        Some(addr) => format!("http://{addr}"),
        None => format!("{base_url}{}", signer.proxy_mount()),
    })
}

/// The application state over an opened store: signing keys loaded, the signer's and
/// metering's shares built from the same parts.
async fn build_state(
    config: Config,
    deps: Deps,
    store: Arc<dyn Store>,
    master: &tollhouse_core::master_key::MasterKey,
    urls: PublicUrls,
    price: metering::price::PriceSource,
) -> Result<AppState, StartError> {
    let PublicUrls {
        base: base_url,
        signer: signer_url,
    } = urls;
    let sealing = master.sealing_key();
    let keyring = Keyring::load(
        store.as_ref(),
        &sealing,
        &config,
        deps.clock.as_ref(),
        deps.rng.as_ref(),
    )
    .await?;
    let outbound = signer::http_client()?;
    let issuer = format!("{base_url}{}", oidc::ISSUER_PATH);
    let config = Arc::new(config);
    let keyring = Arc::new(keyring);
    let metrics = Arc::new(metrics::Metrics::default());
    let pepper = master.pepper();
    let signer = signer::SignerState::for_deployment(
        &config,
        store.clone(),
        deps.clock.clone(),
        pepper.clone(),
        keyring.clone(),
        issuer.clone(),
        &outbound,
    );
    let metering = metering::MeteringState::new(metering::MeteringShared {
        config: config.clone(),
        store: store.clone(),
        clock: deps.clock.clone(),
        rng: deps.rng.clone(),
        metrics: metrics.clone(),
        http: outbound.clone(),
        kafka: Arc::default(),
        price: Arc::new(price),
        signer: signer.clone(),
    });
    let state = AppState::new(Shared {
        issuer,
        base_url,
        signer_url,
        pepper,
        sealing,
        keyring,
        store,
        clock: deps.clock,
        rng: deps.rng,
        metrics,
        m2m_clients: cache::TtlCache::new(M2M_CLIENT_CACHE_MILLIS, 10_000),
        http: outbound,
        signer,
        metering,
        config,
    });
    Ok(state)
}

/// Serves `router` on `listener` with the configured connection limits until `stop`.
fn spawn_http(
    state: &AppState,
    router: axum::Router,
    listener: TcpListener,
    stop: watch::Receiver<bool>,
) -> tokio::task::JoinHandle<()> {
    let limits = listener::ConnectionLimits {
        header_read_timeout: Duration::from_secs(state.config.http.header_read_timeout_secs.max(1)),
        max_connections: state.config.http.max_connections.max(1),
        max_per_ip: state.config.http.max_connections_per_ip.max(1),
    };
    let metrics = state.metrics.clone();
    tokio::spawn(async move {
        listener::serve(listener, router, limits, stop, move || {
            metrics.connection_refused();
        })
        .await;
    })
}

/// Reloads signing keys every `key_refresh_secs` until `stop`.
fn spawn_key_refresh(
    state: &AppState,
    mut stop: watch::Receiver<bool>,
) -> tokio::task::JoinHandle<()> {
    let state = state.clone();
    tokio::spawn(async move {
        let period = std::time::Duration::from_secs(state.config.keys.refresh_secs.max(1));
        let mut ticker = tokio::time::interval(period);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = ticker.tick() => {
                    if let Err(err) = state.refresh().await {
                        tracing::warn!(error = %err, "periodic key refresh failed");
                    }
                }
                changed = stop.changed() => if changed.is_err() || *stop.borrow() { break },
            }
        }
    })
}

/// Only a database that has never had an app gets the demo app, and only once.
async fn create_demo_app_once(state: &AppState) -> Result<Option<CreatedApp>, StartError> {
    let has_apps = !state.store.list_apps().await?.is_empty();
    if !state
        .store
        .insert_setting_if_absent(DEMO_APP_SETTING, "created")
        .await?
        || has_apps
    {
        return Ok(None);
    }
    let scopes = ScopeSet::parse(DEFAULT_APP_SCOPES).unwrap_or_default();
    let created = apps::create_app(
        state.store.as_ref(),
        &state.pepper,
        state.clock.as_ref(),
        state.rng.as_ref(),
        "Demo app",
        scopes,
    )
    .await?;
    Ok(Some(created))
}
