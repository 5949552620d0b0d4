//! `tollhouse keys …`: add and list signing keys.

use super::AnyError;
use clap::Subcommand;
use serde_json::json;
use tollhouse_core::keys::SigningAlg;
use tollhouse_server::config::Config;
use tollhouse_server::{Deps, bootstrap, keyring};
use tollhouse_store::KeyRepository as _;

#[derive(Debug, Subcommand)]
pub(super) enum KeysCommand {
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

pub(super) async fn run(cmd: KeysCommand, config: Config) -> Result<(), AnyError> {
    let deps = Deps::default();
    let (store, master) = bootstrap::open(&config, deps.rng.as_ref()).await?;
    match cmd {
        KeysCommand::Rotate { alg, now } => {
            let alg = alg.unwrap_or(config.keys.signing_alg);
            let delay = if now {
                0
            } else {
                config.keys.activation_delay_secs
            };
            let key = keyring::rotate(
                &store,
                &master.sealing_key(),
                &config,
                alg,
                delay,
                deps.clock.as_ref(),
                deps.rng.as_ref(),
            )
            .await?;
            println!(
                "added {} key {}; it signs new tokens from {} (unix), running servers pick it up within {} s",
                key.alg, key.kid, key.activates_at, config.keys.refresh_secs
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
