//! The command line: settings (flattened from [`Config`]), then one subcommand.

mod app;
mod keys;
mod serve;
mod usage;

use clap::{CommandFactory as _, FromArgMatches as _, Parser, Subcommand};
use std::path::PathBuf;
use std::process::ExitCode;
use tollhouse_server::config::{Config, Loaded, Overrides};

/// Identity, token and metering service for apps that pay for Livepeer video and AI.
#[derive(Debug, Parser)]
#[command(
    name = "tollhouse",
    version,
    after_help = "Secrets: the master key comes from TOLLHOUSE_MASTER_KEY (64 hex digits or base64 of 32 bytes) or the key file; it is never a flag.\nEvery option can also be set in the TOML file given by --config, in its section (e.g. [keys] signing_alg = \"ES256\"); docs/configuration.md lists them all."
)]
struct Cli {
    /// TOML configuration file
    #[arg(long, env = "TOLLHOUSE_CONFIG", global = true)]
    config: Option<PathBuf>,
    /// The settings; only those given here or in the environment override the file, so they
    /// are read from the matches ([`Overrides::given`]), not from this field.
    #[command(flatten)]
    _settings: Config,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the HTTP server
    Serve,
    /// Manage apps (tenants)
    #[command(subcommand)]
    App(app::AppCommand),
    /// Manage signing keys
    #[command(subcommand)]
    Keys(keys::KeysCommand),
    /// Create or upgrade the database schema and exit
    Migrate,
    /// Usage ingest maintenance
    #[command(subcommand)]
    Usage(usage::UsageCommand),
}

type AnyError = Box<dyn std::error::Error>;

/// Parses the command line, loads the configuration, and runs the command. A configuration
/// error exits with 2, like a usage error; a failed command with 1.
pub async fn main() -> ExitCode {
    let matches = Cli::command().get_matches();
    let parsed =
        Cli::from_arg_matches(&matches).and_then(|cli| Ok((cli, Overrides::given(&matches)?)));
    let (cli, overrides) = match parsed {
        Ok(parsed) => parsed,
        Err(err) => err.exit(),
    };
    let Loaded { config, renamed } = match Config::load(cli.config.as_deref(), &overrides) {
        Ok(loaded) => loaded,
        Err(err) => {
            eprintln!("tollhouse: configuration error: {err}");
            return ExitCode::from(2);
        }
    };
    init_tracing(&config);
    for name in renamed {
        tracing::warn!(
            old = name.old,
            new = name.new,
            "the configuration file uses an old setting name; it still works, but please move it to its section"
        );
    }
    match run(cli.command, config).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("tollhouse: {err}");
            ExitCode::FAILURE
        }
    }
}

fn init_tracing(config: &Config) {
    // The filter was validated with the configuration.
    let filter = tracing_subscriber::EnvFilter::try_new(&config.log.filter)
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    if config.log.json_lines {
        builder.json().init()
    } else {
        builder.init()
    }
}

async fn run(command: Command, config: Config) -> Result<(), AnyError> {
    match command {
        Command::Serve => serve::run(config).await,
        Command::Migrate => {
            let (store, _) =
                tollhouse_server::bootstrap::open(&config, &tollhouse_core::OsRandom).await?;
            println!(
                "database schema is up to date ({:?})",
                tollhouse_store::Store::backend(&store)
            );
            Ok(())
        }
        Command::App(cmd) => app::run(cmd, config).await,
        Command::Keys(cmd) => keys::run(cmd, config).await,
        Command::Usage(cmd) => usage::run(cmd, config).await,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Settings are global arguments: an id shared with a subcommand's own argument would
    /// make clap refuse the whole command line (it checks this only in debug builds).
    #[test]
    fn the_command_line_is_well_formed() {
        Cli::command().debug_assert();
    }

    #[test]
    fn only_given_settings_override_the_file() {
        let matches = Cli::command()
            .try_get_matches_from([
                "tollhouse",
                "serve",
                "--listen",
                "127.0.0.1:8080",
                "--kafka-topic",
                "t",
            ])
            .unwrap();
        let given = Overrides::given(&matches).unwrap();
        assert_eq!(format!("{given:?}"), r#"{"http.listen", "kafka.topic"}"#);
    }
}
