use super::legacy::{RENAMES, move_flat_keys};
use super::*;
use clap::{Args as _, CommandFactory as _, FromArgMatches as _, Parser};
use std::net::SocketAddr;
use tollhouse_core::keys::SigningAlg;

/// A command line that holds only the settings.
#[derive(Debug, Parser)]
struct Settings {
    #[command(flatten)]
    config: Config,
}

fn given(args: &[&str]) -> Overrides {
    let matches = Settings::command()
        .mut_args(|a| a.env(None::<&str>))
        .try_get_matches_from(std::iter::once("tollhouse").chain(args.iter().copied()))
        .unwrap();
    Overrides::given(&matches).unwrap()
}

/// A temporary TOML file, removed when dropped.
struct TomlFile(std::path::PathBuf);

impl TomlFile {
    fn new(name: &str, text: &str) -> Self {
        let path = std::env::temp_dir().join(format!(
            "tollhouse-config-{}-{name}.toml",
            std::process::id()
        ));
        std::fs::write(&path, text).unwrap();
        Self(path)
    }
}

impl Drop for TomlFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

fn load(text: &str, args: &[&str]) -> Result<Loaded, ConfigError> {
    // Tests run in parallel: every file gets a name of its own.
    static NEXT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let file = TomlFile::new(&n.to_string(), text);
    Config::load(Some(&file.0), &given(args))
}

/// `docs/configuration.md`'s table: (TOML key, flag, environment variable, default) per row.
fn documented() -> Vec<[String; 4]> {
    let doc = include_str!("../../../../docs/configuration.md");
    let cell = |c: &str| c.trim().trim_matches('`').to_owned();
    doc.lines()
        .filter(|line| line.starts_with("| `") || line.starts_with("| —"))
        .filter_map(|line| {
            let cells: Vec<&str> = line.split('|').collect();
            Some([
                cell(cells.get(1)?),
                cell(cells.get(2)?),
                cell(cells.get(3)?),
                cells.get(4)?.trim().to_owned(),
            ])
        })
        .collect()
}

#[test]
fn declared_defaults_parse() {
    // `Default` reads the `#[arg]` defaults back; this is the proof it cannot fail.
    let config = Config::default();
    assert_eq!(config.http.listen, SocketAddr::from(([127, 0, 0, 1], 8080)));
    assert_eq!(config.keys.signing_alg, SigningAlg::RS256);
    assert_eq!(config.signer.webhook_verifiers.len(), 4);
    assert_eq!(config.signer.capabilities.len(), 4);
    assert!(!config.log.json_lines);
    config.validate().unwrap();
}

#[test]
fn every_setting_flag_variable_and_default_is_documented_as_it_is_defined() {
    let rows = documented();
    let mut wrong = Vec::new();
    let keys = serde_json::to_value(Config::default()).unwrap_or_default();
    for (section, table) in keys.as_object().into_iter().flatten() {
        for key in table.as_object().into_iter().flat_map(|o| o.keys()) {
            let name = format!("{section}.{key}");
            if !rows.iter().any(|[k, ..]| *k == name) {
                wrong.push(format!("TOML key `{name}`"));
            }
        }
    }
    let command = Config::augment_args(clap::Command::new("tollhouse"));
    for arg in command.get_arguments() {
        let Some(long) = arg.get_long() else { continue };
        let flag = format!("--{long}");
        let Some([key, _, env, default]) = rows.iter().find(|[_, f, ..]| *f == flag) else {
            wrong.push(format!("flag `{flag}`"));
            continue;
        };
        let declared_env = arg.get_env().map(|e| e.to_string_lossy().into_owned());
        if declared_env.is_some_and(|declared| declared != *env) {
            wrong.push(format!("the variable of `{key}` / `{flag}`"));
        }
        let declared_default: Vec<String> = arg
            .get_default_values()
            .iter()
            .map(|v| v.to_string_lossy().into_owned())
            .collect();
        if !declared_default.is_empty() && *default != format!("`{}`", declared_default.join(",")) {
            wrong.push(format!(
                "the default of `{key}`: documented {default}, declared {declared_default:?}"
            ));
        }
    }
    assert!(
        wrong.is_empty(),
        "not in docs/configuration.md as defined: {wrong:#?}"
    );
}

#[test]
fn every_old_flat_key_names_a_setting() {
    let keys = serde_json::to_value(Config::default()).unwrap_or_default();
    for (old, new) in RENAMES {
        let (section, key) = new.split_once('.').unwrap();
        assert!(
            keys.get(section).and_then(|s| s.get(key)).is_some(),
            "`{old}` maps to `{new}`, which is not a setting"
        );
    }
}

#[test]
fn flags_beat_file_beat_defaults() {
    let file = "[http]\nlisten = \"127.0.0.1:9000\"\n[keys]\nsigning_alg = \"ES256\"\naccess_token_ttl_secs = 600\n";
    let config = load(file, &["--listen", "127.0.0.1:9100"]).unwrap().config;
    assert_eq!(config.http.listen.port(), 9100);
    assert_eq!(config.keys.signing_alg, SigningAlg::ES256);
    assert_eq!(config.keys.access_token_ttl_secs, 600);
    assert_eq!(config.issuer(), "http://127.0.0.1:9100/api/v1/oidc");
    // A flag given at its default value still beats the file.
    let config = load(file, &["--listen", "127.0.0.1:8080"]).unwrap().config;
    assert_eq!(config.http.listen.port(), 8080);
    // A default the file does not set stays.
    assert_eq!(config.http.max_body_bytes, 65536);
}

#[test]
fn unknown_keys_are_refused_in_every_section_and_at_the_top() {
    for text in [
        "no_such_setting = 1\n",
        "[http]\nno_such_setting = 1\n",
        "[kafka]\nbrokers = \"b:9092\"\nbroker = \"b:9092\"\n",
        "[nosection]\nx = 1\n",
    ] {
        assert!(
            matches!(load(text, &[]), Err(ConfigError::Load(_))),
            "{text}"
        );
    }
}

#[test]
fn the_old_flat_layout_still_loads_and_is_reported() {
    let file = "listen = \"127.0.0.1:9000\"\nkafka_brokers = \"b:9092\"\neth_usd_price = \"3000.5\"\nlog = \"debug\"\nlog_json = true\nkey_refresh_secs = 5\n\n[[external_issuers]]\nissuer = \"https://login.example.com\"\n";
    let Loaded { config, renamed } = load(file, &[]).unwrap();
    assert_eq!(config.http.listen.port(), 9000);
    assert_eq!(config.kafka.brokers.as_deref(), Some("b:9092"));
    assert_eq!(config.price.eth_usd.as_deref(), Some("3000.5"));
    assert_eq!(config.log.filter, "debug");
    assert!(config.log.json_lines);
    assert_eq!(config.keys.refresh_secs, 5);
    assert_eq!(config.signer.external_issuers.len(), 1);
    let old: Vec<&str> = renamed.iter().map(|r| r.old).collect();
    assert_eq!(
        old,
        [
            "listen",
            "key_refresh_secs",
            "external_issuers",
            "kafka_brokers",
            "eth_usd_price",
            "log",
            "log_json"
        ]
    );
    assert!(
        renamed
            .iter()
            .any(|r| r.old == "log" && r.new == "log.filter")
    );
    // An old key and its new one both set: which one was meant is unclear, so neither wins.
    let both = "listen = \"127.0.0.1:9000\"\n[http]\nlisten = \"127.0.0.1:9001\"\n";
    assert!(matches!(
        load(both, &[]),
        Err(ConfigError::SetTwice { old: "listen", .. })
    ));
}

#[test]
fn move_flat_keys_leaves_a_log_section_alone() {
    let mut dict = figment::value::Dict::new();
    let mut section = figment::value::Dict::new();
    section.insert("filter".into(), "warn".into());
    dict.insert("log".into(), section.into());
    let (moved, renamed) = move_flat_keys(dict).unwrap();
    assert!(renamed.is_empty());
    assert!(matches!(
        moved.get("log"),
        Some(figment::value::Value::Dict(..))
    ));
}

#[test]
fn values_out_of_bounds_name_their_setting() {
    let cases: [(&str, &[&str], &str); 10] = [
        (
            "",
            &["--header-read-timeout-secs", "0"],
            "http.header_read_timeout_secs",
        ),
        ("[http]\nmax_body_bytes = 10\n", &[], "http.max_body_bytes"),
        (
            "",
            &["--access-token-ttl", "30"],
            "keys.access_token_ttl_secs",
        ),
        ("[keys]\nrefresh_secs = 61\n", &[], "keys.refresh_secs"),
        (
            "",
            &["--webhook-deadline-ms", "5000"],
            "signer.webhook_deadline_ms",
        ),
        ("", &["--signer-upstream", "ftp://x"], "signer.upstream"),
        (
            "",
            &["--signer-proxy-prefix", "signer/"],
            "signer.proxy_prefix",
        ),
        (
            "",
            &["--eth-usd-price", "1", "--eth-usd-oracle-url", "http://o"],
            "price.eth_usd",
        ),
        ("[kafka]\nusername = \"u\"\n", &[], "kafka.password"),
        ("", &["--log", "tollhouse=loud"], "log.filter"),
    ];
    for (file, args, key) in cases {
        match load(file, args) {
            Err(ConfigError::Invalid { key: named, .. }) => {
                assert_eq!(named, key, "{file} {args:?}")
            }
            other => panic!("{file} {args:?}: expected `{key}` to be refused, got {other:?}"),
        }
    }
}

#[test]
fn a_refused_secret_is_not_printed() {
    let err = load("", &["--database-url", "mysql://root:hunter2@db/x"]).unwrap_err();
    assert!(!err.to_string().contains("hunter2"), "{err}");
    let config = load(
        "",
        &[
            "--webhook-secret",
            "s3cret",
            "--kafka-username",
            "u",
            "--kafka-password",
            "p4ss",
        ],
    )
    .unwrap()
    .config;
    let printed = format!("{config:?}");
    assert!(
        !printed.contains("s3cret") && !printed.contains("p4ss"),
        "{printed}"
    );
    let overrides = format!("{:?}", given(&["--webhook-secret", "s3cret"]));
    assert_eq!(overrides, r#"{"signer.webhook_secret"}"#);
}

#[test]
fn overrides_come_from_flags_only_when_given() {
    let matches = Settings::command()
        .mut_args(|a| a.env(None::<&str>))
        .try_get_matches_from(["tollhouse", "--kafka-topic", "t", "--log-json", "true"])
        .unwrap();
    let parsed = Settings::from_arg_matches(&matches).unwrap();
    assert_eq!(parsed.config.kafka.topic, "t");
    let value = Overrides::given(&matches).unwrap().as_value();
    assert_eq!(
        value,
        serde_json::json!({"kafka": {"topic": "t"}, "log": {"json_lines": true}})
    );
}
