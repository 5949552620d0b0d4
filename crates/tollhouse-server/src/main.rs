//! `tollhouse`: the server and its admin commands.

use clap::{Parser, Subcommand};
use serde_json::json;
use std::path::PathBuf;
use std::process::ExitCode;
use tollhouse_core::keys::SigningAlg;
use tollhouse_core::scope::{DEFAULT_APP_SCOPES, ScopeSet};
use tollhouse_server::config::{Config, ConfigOverrides, VerifierKind};
use tollhouse_server::signer::policy::{BillingMode, SignerPolicy};
use tollhouse_server::{Deps, apps, bootstrap, keyring, start};
use tollhouse_store::{AppRepository as _, KeyRepository as _, Store as _, UsageRepository as _};

/// Identity, token and metering service for apps that pay for Livepeer video and AI.
#[derive(Debug, Parser)]
#[command(
    name = "tollhouse",
    version,
    after_help = "Secrets: the master key comes from TOLLHOUSE_MASTER_KEY (64 hex digits or base64 of 32 bytes) or the key file; it is never a flag.\nEvery option can also be set in the TOML file given by --config, under its snake_case name (e.g. signing_alg = \"ES256\")."
)]
struct Cli {
    /// TOML configuration file
    #[arg(long, env = "TOLLHOUSE_CONFIG", global = true)]
    config: Option<PathBuf>,
    #[command(flatten)]
    overrides: ConfigOverrides,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the HTTP server
    Serve,
    /// Manage apps (tenants)
    #[command(subcommand)]
    App(AppCommand),
    /// Manage signing keys
    #[command(subcommand)]
    Keys(KeysCommand),
    /// Create or upgrade the database schema and exit
    Migrate,
    /// Usage ingest maintenance
    #[command(subcommand)]
    Usage(UsageCommand),
}

#[derive(Debug, Subcommand)]
enum UsageCommand {
    /// Re-consume the Kafka topic (deduplicated: totals do not change for events already stored)
    Replay {
        /// Offset to start from on every partition
        #[arg(long, default_value_t = 0)]
        from_offset: i64,
        /// Print JSON instead of a progress bar
        #[arg(long)]
        json: bool,
    },
    /// List the usage events that could not be read (raw bytes kept), or re-drive them
    DeadLetters {
        /// Re-ingest those that now parse (deduplicated as usual); the others stay listed
        #[arg(long)]
        redrive: bool,
        /// At most this many
        #[arg(long, default_value_t = 100, value_parser = clap::value_parser!(i64).range(1..=100_000))]
        limit: i64,
        /// Print JSON
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Subcommand)]
enum AppCommand {
    /// Create an app and print its credentials (the secret is shown only now)
    Create {
        /// Display name
        #[arg(long)]
        name: String,
        /// Space- or comma-separated scopes the M2M client may request
        #[arg(long, default_value = DEFAULT_APP_SCOPES)]
        scopes: String,
        /// Billing mode: `none` (meter only) or `prepaid` (gate users on their balance)
        #[arg(long, default_value = "none", value_parser = ["none", "prepaid"])]
        billing: String,
        /// Print JSON: {"clientId","m2mClientId","m2mClientSecret","issuer"}
        #[arg(long)]
        json: bool,
    },
    /// Change an app's signer policy (billing mode, gate settings, accepted verifiers)
    Set {
        /// The app's public client id (app_…)
        client_id: String,
        /// Billing mode: `none` (meter only) or `prepaid` (gate users on their balance)
        #[arg(long, value_parser = ["none", "prepaid"])]
        billing: Option<String>,
        /// How far below zero (micro-USD) a balance may go before the gate closes
        #[arg(long, value_parser = clap::value_parser!(i64).range(0..=1_000_000_000_000))]
        soft_limit_usd_micros: Option<i64>,
        /// Seconds between balance re-checks of a running stream (the webhook's `expiry`)
        #[arg(long, value_parser = clap::value_parser!(i64).range(1..=3600))]
        recheck_secs: Option<i64>,
        /// Let payments through when the balance cannot be read
        #[arg(long)]
        fail_open: Option<bool>,
        /// Verifiers accepted for this app, comma-separated (`default` for the deployment's)
        #[arg(long)]
        verifiers: Option<String>,
    },
    /// List apps
    List {
        /// Print JSON
        #[arg(long)]
        json: bool,
    },
    /// Replace an app's M2M secret; the old one stops working at once
    RotateSecret {
        /// The app's public client id (app_…)
        client_id: String,
        /// Print JSON
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Subcommand)]
enum KeysCommand {
    /// Add a signing key: published now, used for new tokens after the activation delay
    Rotate {
        /// Algorithm of the new key [default: the configured signing algorithm]
        #[arg(long)]
        alg: Option<SigningAlg>,
        /// Sign with it immediately (for a compromised key; relying parties that cached the
        /// JWKS may reject new tokens until they refetch)
        #[arg(long)]
        now: bool,
    },
    /// List published signing keys
    List {
        /// Print JSON
        #[arg(long)]
        json: bool,
    },
}

/// mimalloc rather than glibc malloc: reports and ingest batches allocate many small rows (the
/// profiles that showed glibc's allocator are in bench/RESULTS.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    let config = match Config::load(cli.config.as_deref(), &cli.overrides) {
        Ok(config) => config,
        Err(err) => {
            eprintln!("tollhouse: configuration error: {err}");
            return ExitCode::from(2);
        }
    };
    init_tracing(&config);
    match run(cli.command, config).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("tollhouse: {err}");
            ExitCode::FAILURE
        }
    }
}

fn init_tracing(config: &Config) {
    let filter = tracing_subscriber::EnvFilter::try_new(&config.log)
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    if config.log_json {
        builder.json().init()
    } else {
        builder.init()
    }
}

type AnyError = Box<dyn std::error::Error>;

async fn run(command: Command, config: Config) -> Result<(), AnyError> {
    match command {
        Command::Serve => serve(config).await,
        Command::Migrate => {
            let (store, _) = bootstrap::open(&config, &tollhouse_core::OsRandom).await?;
            println!("database schema is up to date ({:?})", store.backend());
            Ok(())
        }
        Command::App(cmd) => app_command(cmd, config).await,
        Command::Keys(cmd) => keys_command(cmd, config).await,
        Command::Usage(cmd) => usage_command(cmd, config).await,
    }
}

async fn usage_command(cmd: UsageCommand, config: Config) -> Result<(), AnyError> {
    let deps = Deps::default();
    let (store, _) = bootstrap::open(&config, deps.rng.as_ref()).await?;
    let price = || -> Result<tollhouse_core::money::EthUsdPrice, AnyError> {
        let price = config
            .eth_usd_price
            .as_deref()
            .ok_or("--eth-usd-price is needed to value events")?;
        Ok(tollhouse_core::money::EthUsdPrice::parse(price)?)
    };
    match cmd {
        UsageCommand::Replay { from_offset, json } => {
            let bar = indicatif::ProgressBar::new(0);
            if json {
                bar.set_draw_target(indicatif::ProgressDrawTarget::hidden());
            }
            bar.set_style(indicatif::ProgressStyle::with_template(
                "{bar:40} {pos}/{len} messages ({per_sec}, {eta})",
            )?);
            let outcome = tollhouse_server::metering::kafka::replay(
                &config,
                &store,
                price()?,
                deps.clock.as_ref(),
                deps.rng.as_ref(),
                from_offset,
                &|done, total| {
                    bar.set_length(total);
                    bar.set_position(done);
                },
            )
            .await?;
            bar.finish_and_clear();
            let summary = json!({"consumed": outcome.consumed, "ingested": outcome.ingested,
                "duplicate": outcome.duplicate, "deadLettered": outcome.dead_lettered});
            println!("{summary}");
        }
        UsageCommand::DeadLetters {
            redrive: true,
            limit,
            json,
        } => {
            let price = price()?;
            let (redriven, waiting) = tollhouse_server::metering::ingest::redrive(
                &store,
                price,
                deps.clock.now(),
                deps.rng.as_ref(),
                limit,
            )
            .await?;
            if json {
                println!("{}", json!({"redriven": redriven, "stillWaiting": waiting}));
            } else {
                println!("re-driven {redriven}, still unreadable {waiting}");
            }
        }
        UsageCommand::DeadLetters {
            redrive: false,
            limit,
            json,
        } => {
            let letters = store.dead_letters(limit).await?;
            if json {
                let list: Vec<_> = letters
                    .iter()
                    .map(|d| json!({"id": d.id, "source": d.source, "reason": d.reason, "receivedAt": d.received_at,
                        "raw": String::from_utf8_lossy(&d.raw)}))
                    .collect();
                println!("{}", serde_json::to_string_pretty(&list)?);
            } else {
                for d in &letters {
                    println!("{}  {:<9} {}", d.id, d.source, d.reason);
                }
                println!("{} waiting", store.dead_letter_count().await?);
            }
        }
    }
    Ok(())
}

async fn serve(config: Config) -> Result<(), AnyError> {
    let server = start(config, Deps::default(), true).await?;
    let state = &server.state;
    tracing::info!(addr = %server.addr, issuer = %state.issuer, backend = ?state.store.backend(), "tollhouse listening");
    if let Some(demo) = &server.demo_app {
        // Printed to stdout once, never logged: this is the only time the secret exists in clear.
        println!(
            "\nTollhouse created a demo app. Its secret is shown only this once:\n\n  issuer             {issuer}\n  public client id   {client}\n  M2M client id      {m2m}\n  M2M client secret  {secret}\n\nTry it:\n\n  curl -s -u '{m2m}:{secret}' -d grant_type=client_credentials -d scope=users:read {issuer}/token\n",
            issuer = state.issuer,
            client = demo.app.client_id,
            m2m = demo.app.m2m_client_id,
            secret = demo.m2m_client_secret,
        );
    }
    let stop = server.shutdown_handle();
    tokio::spawn(async move {
        shutdown_signal().await;
        tracing::info!("shutting down");
        let _ = stop.send(true);
    });
    server.wait().await;
    Ok(())
}

async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        if let Ok(mut term) =
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        {
            tokio::select! { _ = ctrl_c => {}, _ = term.recv() => {} }
            return;
        }
    }
    let _ = ctrl_c.await;
}

async fn app_command(cmd: AppCommand, config: Config) -> Result<(), AnyError> {
    let deps = Deps::default();
    let (store, master) = bootstrap::open(&config, deps.rng.as_ref()).await?;
    let pepper = master.pepper();
    let issuer = config.issuer();
    match cmd {
        AppCommand::Set {
            client_id,
            billing,
            soft_limit_usd_micros,
            recheck_secs,
            fail_open,
            verifiers,
        } => {
            let edit = |policy: &mut SignerPolicy| -> Result<(), AnyError> {
                if let Some(mode) = billing {
                    policy.billing_mode = BillingMode::parse(&mode).ok_or("bad --billing")?;
                }
                if let Some(limit) = soft_limit_usd_micros {
                    policy.soft_limit_usd_micros = limit;
                }
                if let Some(secs) = recheck_secs {
                    policy.balance_recheck_secs = secs;
                }
                if let Some(open) = fail_open {
                    policy.billing_fail_open = open;
                }
                if let Some(list) = verifiers {
                    policy.verifiers = parse_verifiers(&list)?;
                }
                Ok(())
            };
            let policy = apps::edit_policy(&store, &client_id, edit)
                .await?
                .ok_or_else(|| format!("no app with client id {client_id}"))?;
            println!("{}", policy_json(&client_id, &policy));
        }
        AppCommand::Create {
            name,
            scopes,
            billing,
            json,
        } => {
            let name = name.trim();
            if name.is_empty() || name.len() > 200 {
                return Err("--name must be 1 to 200 characters".into());
            }
            let scopes = ScopeSet::parse(&scopes.replace(',', " "))?;
            let created = apps::create_app(
                &store,
                &pepper,
                deps.clock.as_ref(),
                deps.rng.as_ref(),
                name,
                scopes,
            )
            .await?;
            if billing != "none" {
                let mode = BillingMode::parse(&billing).ok_or("bad --billing")?;
                let client_id = created.app.client_id.as_str();
                apps::edit_policy(&store, client_id, |policy| -> Result<(), AnyError> {
                    policy.billing_mode = mode;
                    Ok(())
                })
                .await?
                .ok_or("app vanished")?;
            }
            print_credentials(&created, &issuer, json);
        }
        AppCommand::List { json } => print_apps(&store.list_apps().await?, json)?,
        AppCommand::RotateSecret { client_id, json } => {
            let created = apps::rotate_secret(
                &store,
                &pepper,
                deps.clock.as_ref(),
                deps.rng.as_ref(),
                &client_id,
            )
            .await?
            .ok_or_else(|| format!("no app with client id {client_id}"))?;
            print_credentials(&created, &issuer, json);
        }
    }
    Ok(())
}

/// `tollhouse app list`: a JSON array, or one line per app.
fn print_apps(apps: &[tollhouse_core::app::App], json: bool) -> Result<(), AnyError> {
    if json {
        let list: Vec<_> = apps
            .iter()
            .map(|a| json!({"clientId": a.client_id, "m2mClientId": a.m2m_client_id, "name": a.name,
                "status": a.status.as_str(), "allowedScopes": a.allowed_scopes.to_string(), "createdAt": a.created_at}))
            .collect();
        println!("{}", serde_json::to_string_pretty(&list)?);
    } else {
        for a in apps {
            println!(
                "{}  {}  {:<8}  {}",
                a.client_id,
                a.m2m_client_id,
                a.status.as_str(),
                a.name
            );
        }
    }
    Ok(())
}

/// `default` (the deployment's list) or comma-separated verifier names.
fn parse_verifiers(list: &str) -> Result<Option<Vec<VerifierKind>>, AnyError> {
    if list.trim() == "default" {
        return Ok(None);
    }
    let kinds = list
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|name| {
            VerifierKind::parse(name).ok_or_else(|| {
                format!("unknown verifier `{name}` (tollhouse_jwt, signer_session, api_key, oidc, trusted_headers)")
            })
        })
        .collect::<Result<Vec<_>, _>>()?;
    if kinds.is_empty() {
        return Err("--verifiers needs at least one verifier, or `default`".into());
    }
    Ok(Some(kinds))
}

fn policy_json(client_id: &str, policy: &SignerPolicy) -> serde_json::Value {
    json!({
        "clientId": client_id,
        "billingMode": policy.billing_mode.as_str(),
        "softLimitUsdMicros": policy.soft_limit_usd_micros.to_string(),
        "balanceRecheckSecs": policy.balance_recheck_secs,
        "billingFailOpen": policy.billing_fail_open,
        "verifiers": policy.verifiers.as_ref().map(|v| v.iter().map(|k| k.as_str()).collect::<Vec<_>>()),
    })
}

fn print_credentials(created: &apps::CreatedApp, issuer: &str, json: bool) {
    if json {
        println!(
            "{}",
            json!({"clientId": created.app.client_id, "m2mClientId": created.app.m2m_client_id,
                "m2mClientSecret": created.m2m_client_secret, "issuer": issuer})
        );
    } else {
        println!(
            "client id          {}\nM2M client id      {}\nM2M client secret  {}   (shown only now)\nissuer             {issuer}",
            created.app.client_id, created.app.m2m_client_id, created.m2m_client_secret
        );
    }
}

async fn keys_command(cmd: KeysCommand, config: Config) -> Result<(), AnyError> {
    let deps = Deps::default();
    let (store, master) = bootstrap::open(&config, deps.rng.as_ref()).await?;
    let sealing = master.sealing_key();
    match cmd {
        KeysCommand::Rotate { alg, now } => {
            let alg = alg.unwrap_or(config.signing_alg);
            let delay = if now {
                0
            } else {
                config.key_activation_delay_secs
            };
            let key = keyring::rotate(
                &store,
                &sealing,
                &config,
                alg,
                delay,
                deps.clock.as_ref(),
                deps.rng.as_ref(),
            )
            .await?;
            println!(
                "added {} key {}; it signs new tokens from {} (unix), running servers pick it up within {} s",
                key.alg, key.kid, key.activates_at, config.key_refresh_secs
            );
        }
        KeysCommand::List { json } => {
            let now = deps.clock.now();
            let keys = store.published_keys(now).await?;
            let mut current_seen = false;
            let rows: Vec<_> = keys
                .iter()
                .map(|k| {
                    let state = if k.activates_at > now {
                        "pending"
                    } else if !current_seen {
                        current_seen = true;
                        "current"
                    } else {
                        "retiring"
                    };
                    json!({"kid": k.kid, "alg": k.alg, "state": state, "createdAt": k.created_at,
                        "activatesAt": k.activates_at, "publishUntil": k.publish_until})
                })
                .collect();
            if json {
                println!("{}", serde_json::to_string_pretty(&rows)?);
            } else {
                for r in &rows {
                    println!(
                        "{}  {:<6}  {:<8}  activates {}  published until {}",
                        r["kid"].as_str().unwrap_or(""),
                        r["alg"].as_str().unwrap_or(""),
                        r["state"].as_str().unwrap_or(""),
                        r["activatesAt"],
                        r["publishUntil"]
                    );
                }
            }
        }
    }
    Ok(())
}
