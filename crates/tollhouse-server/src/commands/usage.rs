//! `tollhouse usage …`: re-consume the Kafka topic, list or re-drive dead letters.

use super::AnyError;
use clap::Subcommand;
use serde_json::json;
use tollhouse_core::money::EthUsdPrice;
use tollhouse_server::config::Config;
use tollhouse_server::metering::{ingest, kafka};
use tollhouse_server::{Deps, bootstrap};
use tollhouse_store::{SqlStore, UsageRepository as _};

#[derive(Debug, Subcommand)]
pub(super) enum UsageCommand {
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

pub(super) async fn run(cmd: UsageCommand, config: Config) -> Result<(), AnyError> {
    let deps = Deps::default();
    let (store, _) = bootstrap::open(&config, deps.rng.as_ref()).await?;
    match cmd {
        UsageCommand::Replay { from_offset, json } => {
            replay(&config, &store, &deps, from_offset, json).await
        }
        UsageCommand::DeadLetters {
            redrive: true,
            limit,
            json,
        } => {
            let (redriven, waiting) = ingest::redrive(
                &store,
                price(&config)?,
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
            Ok(())
        }
        UsageCommand::DeadLetters {
            redrive: false,
            limit,
            json,
        } => list_dead_letters(&store, limit, json).await,
    }
}

/// The static price events are valued at (an oracle is read only by a running server).
fn price(config: &Config) -> Result<EthUsdPrice, AnyError> {
    let price = config
        .price
        .eth_usd
        .as_deref()
        .ok_or("--eth-usd-price is needed to value events")?;
    Ok(EthUsdPrice::parse(price)?)
}

async fn replay(
    config: &Config,
    store: &SqlStore,
    deps: &Deps,
    from_offset: i64,
    json: bool,
) -> Result<(), AnyError> {
    let bar = indicatif::ProgressBar::new(0);
    if json {
        bar.set_draw_target(indicatif::ProgressDrawTarget::hidden());
    }
    bar.set_style(indicatif::ProgressStyle::with_template(
        "{bar:40} {pos}/{len} messages ({per_sec}, {eta})",
    )?);
    let outcome = kafka::replay(
        config,
        store,
        price(config)?,
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
    Ok(())
}

async fn list_dead_letters(store: &SqlStore, limit: i64, json: bool) -> Result<(), AnyError> {
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
    Ok(())
}
