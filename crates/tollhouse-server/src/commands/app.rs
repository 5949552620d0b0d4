//! `tollhouse app …`: create, list and change apps, and rotate their M2M secrets.

use super::AnyError;
use clap::Subcommand;
use serde_json::json;
use tollhouse_core::scope::{DEFAULT_APP_SCOPES, ScopeSet};
use tollhouse_server::apps::{self, CreatedApp, PolicyChange};
use tollhouse_server::config::{Config, VerifierKind};
use tollhouse_server::signer::policy::{BillingMode, SignerPolicy};
use tollhouse_server::{Deps, bootstrap};
use tollhouse_store::AppRepository as _;

#[derive(Debug, Subcommand)]
pub(super) enum AppCommand {
    /// Create an app and print its credentials (the secret is shown only now)
    Create {
        /// Display name
        #[arg(long)]
        name: String,
        /// Space- or comma-separated scopes the M2M client may request
        #[arg(long, default_value = DEFAULT_APP_SCOPES)]
        scopes: String,
        /// Billing mode: `none` (meter only) or `prepaid` (gate users on their balance)
        #[arg(long, default_value = "none", value_parser = billing_mode)]
        billing: BillingMode,
        /// Print JSON: {"clientId","m2mClientId","m2mClientSecret","issuer"}
        #[arg(long)]
        json: bool,
    },
    /// Change an app's signer policy (billing mode, gate settings, accepted verifiers)
    Set {
        /// The app's public client id (app_…)
        client_id: String,
        /// Billing mode: `none` (meter only) or `prepaid` (gate users on their balance)
        #[arg(long, value_parser = billing_mode)]
        billing: Option<BillingMode>,
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
        #[arg(long, value_parser = verifier_list)]
        verifiers: Option<Verifiers>,
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

/// A parsed `--verifiers`: `None` is `default`.
#[derive(Debug, Clone)]
pub(super) struct Verifiers(Option<Vec<VerifierKind>>);

fn billing_mode(text: &str) -> Result<BillingMode, String> {
    BillingMode::parse(text).ok_or_else(|| format!("`{text}` is neither `none` nor `prepaid`"))
}

fn verifier_list(text: &str) -> Result<Verifiers, String> {
    apps::parse_verifiers(text).map(Verifiers)
}

pub(super) async fn run(cmd: AppCommand, config: Config) -> Result<(), AnyError> {
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
            let change = PolicyChange {
                billing_mode: billing,
                soft_limit_usd_micros,
                balance_recheck_secs: recheck_secs,
                billing_fail_open: fail_open,
                verifiers: verifiers.map(|v| v.0),
            };
            let policy = apps::change_policy(&store, &client_id, change)
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
            if billing != BillingMode::None {
                let change = PolicyChange {
                    billing_mode: Some(billing),
                    ..PolicyChange::default()
                };
                apps::change_policy(&store, created.app.client_id.as_str(), change)
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

fn print_credentials(created: &CreatedApp, issuer: &str, json: bool) {
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
