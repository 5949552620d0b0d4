//! Where values come from besides the file: the defaults each `#[arg]` declares, and the flags
//! and variables actually given on this command line.

use super::{
    Config, ConfigError, DatabaseConfig, HttpConfig, KafkaConfig, KeysConfig, LogConfig,
    PriceConfig, SignerConfig,
};
use clap::parser::ValueSource;
use clap::{ArgMatches, Args, Command, FromArgMatches};
use std::fmt::Display;
use std::ops::RangeInclusive;

/// A section's values as its `#[arg]` attributes declare their defaults, the environment
/// ignored (so `Config::default()` is the same on every machine).
#[expect(
    clippy::expect_used,
    reason = "the declared defaults are constants; config::tests::declared_defaults_parse \
              proves they parse, so this cannot fail at run time"
)]
pub(super) fn declared_defaults<S: Args + FromArgMatches>() -> S {
    let command = S::augment_args(Command::new("defaults")).mut_args(|arg| arg.env(None));
    let matches = command
        .try_get_matches_from(["defaults"])
        .expect("declared defaults parse");
    S::from_arg_matches(&matches).expect("declared defaults fill the section")
}

/// `Default` for sections: [`declared_defaults`].
macro_rules! defaults_declared_by_args {
    ($($section:ty),* $(,)?) => {
        $(impl Default for $section {
            fn default() -> Self {
                declared_defaults()
            }
        })*
    };
}

defaults_declared_by_args!(
    HttpConfig,
    DatabaseConfig,
    KeysConfig,
    SignerConfig,
    KafkaConfig,
    PriceConfig,
    LogConfig,
);

/// Adds a section's arguments to a command (`clap::Args::augment_args`).
type AddArgs = fn(Command) -> Command;

/// The sections by TOML name, with their arguments.
const SECTIONS: [(&str, AddArgs); 7] = [
    ("http", <HttpConfig as Args>::augment_args),
    ("database", <DatabaseConfig as Args>::augment_args),
    ("keys", <KeysConfig as Args>::augment_args),
    ("signer", <SignerConfig as Args>::augment_args),
    ("kafka", <KafkaConfig as Args>::augment_args),
    ("price", <PriceConfig as Args>::augment_args),
    ("log", <LogConfig as Args>::augment_args),
];

/// The settings given by flag or environment variable, nested by section; only these
/// override the file.
#[derive(Clone, Default)]
pub struct Overrides(serde_json::Map<String, serde_json::Value>);

/// Names only: the values may be secrets.
impl std::fmt::Debug for Overrides {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let names = self.0.iter().flat_map(|(section, table)| {
            let keys = table.as_object().into_iter().flat_map(|t| t.keys());
            keys.map(move |key| format!("{section}.{key}"))
        });
        f.debug_set().entries(names).finish()
    }
}

impl Overrides {
    /// The settings `matches` (of a command that flattens [`Config`]) got from the command
    /// line or the environment; defaults are left out so the file can set them.
    pub fn given(matches: &ArgMatches) -> Result<Self, clap::Error> {
        let parsed = serde_json::to_value(Config::from_arg_matches(matches)?)
            .map_err(|e| clap::Error::raw(clap::error::ErrorKind::InvalidValue, e))?;
        let mut given = serde_json::Map::new();
        for (section, augment) in SECTIONS {
            let values = parsed.get(section);
            let mut chosen = serde_json::Map::new();
            for arg in augment(Command::new(section)).get_arguments() {
                let id = arg.get_id().as_str();
                let from_user = matches!(
                    matches.value_source(id),
                    Some(ValueSource::CommandLine | ValueSource::EnvVariable)
                );
                if let (true, Some(value)) = (from_user, values.and_then(|v| v.get(id))) {
                    chosen.insert(id.to_owned(), value.clone());
                }
            }
            if !chosen.is_empty() {
                given.insert(section.to_owned(), chosen.into());
            }
        }
        Ok(Self(given))
    }

    /// The overrides as one JSON object `{section: {key: value}}`.
    pub(super) fn as_value(&self) -> serde_json::Value {
        serde_json::Value::Object(self.0.clone())
    }
}

/// `value` must lie in `range`.
pub(super) fn within<T: PartialOrd + Display>(
    key: &'static str,
    value: T,
    range: RangeInclusive<T>,
) -> Result<(), ConfigError> {
    if range.contains(&value) {
        return Ok(());
    }
    Err(ConfigError::invalid(
        key,
        format!("{value} is outside {} to {}", range.start(), range.end()),
    ))
}

/// `url` must be an absolute `http(s)` URL.
pub(super) fn http_url(key: &'static str, url: &str) -> Result<reqwest::Url, ConfigError> {
    let parsed =
        reqwest::Url::parse(url).map_err(|e| ConfigError::invalid(key, format!("`{url}`: {e}")))?;
    if !matches!(parsed.scheme(), "http" | "https") {
        return Err(ConfigError::invalid(key, format!("`{url}` is not http(s)")));
    }
    Ok(parsed)
}
