//! The `tollhouse` binary itself: admin commands and the first-start demo app.

use crate::backend_tests;
use crate::harness::{Db, FreshDb, TestApp, TestServer, config_for};
use serde_json::Value;
use std::io::{BufRead as _, BufReader, Read as _};
use std::process::{Child, Command, Stdio};
use tollhouse_core::keys::SigningAlg;

fn command(db: &FreshDb, args: &[&str]) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_tollhouse"));
    cmd.args(args)
        .arg("--data-dir")
        .arg(db.data_dir.path())
        .arg("--database-url")
        .arg(&db.url)
        .env_remove("TOLLHOUSE_MASTER_KEY")
        .env("TOLLHOUSE_LOG", "warn");
    cmd
}

fn run_ok(db: &FreshDb, args: &[&str]) -> Vec<u8> {
    let output = command(db, args).output().unwrap();
    assert!(
        output.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    output.stdout
}

fn json_of(db: &FreshDb, args: &[&str]) -> Value {
    serde_json::from_slice(&run_ok(db, args)).unwrap()
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Starts `tollhouse serve` and waits until it accepts connections.
fn serve(db: &FreshDb, port: u16) -> Child {
    let child = command(db, &["serve", "--listen", &format!("127.0.0.1:{port}")])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(std::time::Instant::now() < deadline, "server did not start");
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    child
}

/// Reads the first-start banner, through its last line (the curl example).
fn read_banner(child: &mut Child) -> String {
    let mut reader = BufReader::new(child.stdout.as_mut().unwrap());
    let mut printed = String::new();
    let mut line = String::new();
    while reader.read_line(&mut line).unwrap() > 0 {
        printed.push_str(&line);
        if line.contains("curl -s -u") {
            break;
        }
        line.clear();
    }
    printed
}

fn stop(mut child: Child) {
    // SIGTERM via the kill command: a graceful stop.
    let _ = Command::new("kill").arg(child.id().to_string()).status();
    let _ = child.wait();
}

backend_tests! {
    async fn dead_letters_are_listed_and_redriven(db: Db) {
        let server = TestServer::start(db).await;
        let app = server.app.clone();
        server.user_tokens(&app, "alice").await;
        let store = server.state().store.clone();
        let ticket = serde_json::json!({"id": "7d3c1a52-6f0e-4b3e-9d7a-0c1b2a3d4e5f", "type": "create_signed_ticket", "timestamp": "1795426935123",
            "data": {"auth_id": format!("{}:alice", app.client_id), "computed_fee": "1000000000000000"}});
        let letters = [
            tollhouse_store::DeadLetterRow { id: "kafka:0:1".into(), source: "kafka", raw: b"{not json".to_vec(), reason: "not_json".into() },
            // Readable now (as after a parser fix): re-driving ingests it.
            tollhouse_store::DeadLetterRow { id: "kafka:0:2".into(), source: "kafka", raw: serde_json::to_vec(&ticket).unwrap(), reason: "was refused by an older build".into() },
        ];
        store.ingest_usage(&[], &letters, 0, tollhouse_store::OverLimit::Refuse).await.unwrap();
        let listed = json_of(&server.db, &["usage", "dead-letters", "--json"]);
        assert_eq!(listed.as_array().unwrap().len(), 2);
        assert_eq!(listed[0]["raw"], "{not json");
        let redriven = json_of(&server.db, &["usage", "dead-letters", "--redrive", "--json", "--eth-usd-price", "3000"]);
        assert_eq!(redriven, serde_json::json!({"redriven": 1, "stillWaiting": 1}));
        let alice = store.user_by_external_id(&app.client_id, "alice").await.unwrap().unwrap();
        assert_eq!(store.consumed_usd_micros(&alice.id).await.unwrap(), 3_000_000, "10^15 wei at $3000");
        assert_eq!(json_of(&server.db, &["usage", "dead-letters", "--json"]).as_array().unwrap().len(), 1);
        // Re-driving without a price is refused clearly.
        let output = command(&server.db, &["usage", "dead-letters", "--redrive"]).output().unwrap();
        assert!(!output.status.success() && String::from_utf8_lossy(&output.stderr).contains("eth-usd-price"));
        server.finish().await;
    }

    async fn app_billing_policy_is_set_from_the_cli(db: Db) {
        let db = FreshDb::new(db).await;
        let created = json_of(&db, &["app", "create", "--name", "billed", "--billing", "prepaid", "--json"]);
        let id = created["clientId"].as_str().unwrap().to_owned();
        let set = json_of(&db, &["app", "set", &id, "--soft-limit-usd-micros", "2500", "--recheck-secs", "30", "--verifiers", "api_key,oidc"]);
        assert_eq!(set, serde_json::json!({"clientId": id, "billingMode": "prepaid", "softLimitUsdMicros": "2500", "balanceRecheckSecs": 30, "billingFailOpen": false, "verifiers": ["api_key", "oidc"]}));
        let back = json_of(&db, &["app", "set", &id, "--billing", "none", "--verifiers", "default"]);
        assert_eq!((back["billingMode"].as_str(), back["verifiers"].is_null(), back["softLimitUsdMicros"].as_str()), (Some("none"), true, Some("2500")));
        for bad in [&["app", "set", id.as_str(), "--verifiers", "magic"][..], &["app", "set", id.as_str(), "--billing", "postpaid"], &["app", "set", "app_000000000000000000000000", "--billing", "none"], &["app", "set", id.as_str(), "--recheck-secs", "0"]] {
            let output = command(&db, bad).output().unwrap();
            assert!(!output.status.success(), "{bad:?}");
            assert!(!output.stderr.is_empty());
        }
        db.drop_schema().await;
    }

    async fn admin_commands_share_the_database_with_the_server(db: Db) {
        let fresh = FreshDb::new(db).await;
        let created = json_of(&fresh, &["app", "create", "--name", "Acme", "--scopes", "users:read,sign:job", "--json"]);
        let client_id = created["clientId"].as_str().unwrap().to_owned();
        assert!(client_id.starts_with("app_") && client_id.len() == 28);
        assert!(created["m2mClientId"].as_str().unwrap().starts_with("m2m_"));
        assert!(created["m2mClientSecret"].as_str().unwrap().starts_with("pmth_cs_"));
        assert_eq!(created["issuer"], "http://127.0.0.1:8080/api/v1/oidc");

        let list = json_of(&fresh, &["app", "list", "--json"]);
        assert_eq!(list.as_array().unwrap().len(), 1);
        assert_eq!(list[0]["allowedScopes"], "sign:job users:read");
        assert!(!list.to_string().contains("pmth_cs_"), "list never shows secrets");

        let bad = command(&fresh, &["app", "create", "--name", "x", "--scopes", "root", "--json"]).output().unwrap();
        assert!(!bad.status.success());
        assert!(String::from_utf8_lossy(&bad.stderr).contains("unknown scope"));

        let server = TestServer::start_on(FreshDb { url: fresh.url.clone(), data_dir: tempfile::tempdir().unwrap(), schema: None }, {
            let mut config = config_for(&fresh, SigningAlg::RS256);
            config.database.data_dir = fresh.data_dir.path().to_path_buf();
            config
        }).await;
        let acme = TestApp {
            client_id: client_id.clone(),
            m2m_client_id: created["m2mClientId"].as_str().unwrap().into(),
            m2m_secret: created["m2mClientSecret"].as_str().unwrap().into(),
        };
        server.m2m_token(&acme, "users:read").await;
        let denied = server.token_request(&acme, &[("grant_type", "client_credentials"), ("scope", "users:write")]).await;
        assert_eq!(denied.status(), 400, "scopes are limited to the app's");

        let rotated = json_of(&fresh, &["app", "rotate-secret", &client_id, "--json"]);
        assert_ne!(rotated["m2mClientSecret"], created["m2mClientSecret"]);
        // Another process rotated it: the server's client cache notices within one second.
        server.clock.advance(1);
        let old = server.token_request(&acme, &[("grant_type", "client_credentials")]).await;
        assert_eq!(old.status(), 401, "the old secret stops working within a second");
        let renewed = TestApp { m2m_secret: rotated["m2mClientSecret"].as_str().unwrap().into(), ..acme };
        server.m2m_token(&renewed, "users:read").await;
        let missing = command(&fresh, &["app", "rotate-secret", "app_000000000000000000000000"]).output().unwrap();
        assert!(!missing.status.success());

        // Keys: rotate from the CLI, the running server publishes it on its next reload.
        let keys = json_of(&fresh, &["keys", "list", "--json"]);
        assert_eq!(keys.as_array().unwrap().len(), 1);
        assert_eq!(keys[0]["state"], "current");
        run_ok(&fresh, &["keys", "rotate", "--alg", "EdDSA"]);
        let keys = json_of(&fresh, &["keys", "list", "--json"]);
        assert_eq!(keys.as_array().unwrap().len(), 2);
        assert!(keys.as_array().unwrap().iter().any(|k| k["state"] == "pending" && k["alg"] == "EdDSA"));
        server.state().refresh().await.unwrap();
        let jwks: Value = server.http.get(format!("{}/jwks", server.issuer)).send().await.unwrap().json().await.unwrap();
        assert_eq!(jwks["keys"].as_array().unwrap().len(), 2);
        run_ok(&fresh, &["migrate"]);
        server.finish().await;
        fresh.drop_schema().await;
    }
}

/// First start prints the demo app once, with a working curl; a restart prints no secret.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn first_start_prints_demo_app_once() {
    let fresh = FreshDb::new(Db::Sqlite).await;
    let port = free_port();
    let mut child = serve(&fresh, port);
    let printed = read_banner(&mut child);
    assert!(printed.contains("M2M client secret  pmth_cs_"), "{printed}");
    assert!(printed.contains(&format!("http://127.0.0.1:{port}/api/v1/oidc")));
    let curl = printed
        .lines()
        .find(|l| l.trim_start().starts_with("curl "))
        .unwrap()
        .trim()
        .to_owned();
    let output = Command::new("sh").arg("-c").arg(&curl).output().unwrap();
    let body: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert!(
        body["access_token"].is_string(),
        "the printed curl works: {body}"
    );
    stop(child);

    let mut child = serve(&fresh, port);
    let _ = Command::new("kill").arg(child.id().to_string()).status();
    let mut rest = String::new();
    child
        .stdout
        .take()
        .unwrap()
        .read_to_string(&mut rest)
        .unwrap();
    let _ = child.wait();
    assert!(
        !rest.contains("pmth_cs_"),
        "a restart prints no secret: {rest}"
    );
}

/// A configuration file of the old flat layout and one in sections configure `serve` alike;
/// an environment variable beats the file; the old layout is named in the log.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn old_and_sectioned_config_files_and_variables_configure_serve() {
    let fresh = FreshDb::new(Db::Sqlite).await;
    let http = reqwest::Client::new();
    for (layout, text) in [
        (
            "flat",
            "listen = \"127.0.0.1:{port}\"\npublic_url = \"http://file.example\"\nkey_refresh_secs = 5\n",
        ),
        (
            "sectioned",
            "[http]\nlisten = \"127.0.0.1:{port}\"\npublic_url = \"http://file.example\"\n[keys]\nrefresh_secs = 5\n",
        ),
    ] {
        let port = free_port();
        let file = fresh.data_dir.path().join(format!("{layout}.toml"));
        std::fs::write(&file, text.replace("{port}", &port.to_string())).unwrap();
        let mut child = Command::new(env!("CARGO_BIN_EXE_tollhouse"))
            .args(["serve", "--data-dir"])
            .arg(fresh.data_dir.path())
            .arg("--config")
            .arg(&file)
            .env_remove("TOLLHOUSE_MASTER_KEY")
            .env("TOLLHOUSE_LOG", "warn")
            .env("TOLLHOUSE_PUBLIC_URL", "http://env.example")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                std::time::Instant::now() < deadline,
                "{layout}: the file's listen address was not used"
            );
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        let discovery: Value = http
            .get(format!(
                "http://127.0.0.1:{port}/api/v1/oidc/.well-known/openid-configuration"
            ))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(
            discovery["issuer"], "http://env.example/api/v1/oidc",
            "{layout}: the variable beats the file"
        );
        let _ = Command::new("kill").arg(child.id().to_string()).status();
        let mut log = String::new();
        child
            .stderr
            .take()
            .unwrap()
            .read_to_string(&mut log)
            .unwrap();
        let _ = child.wait();
        let warned = log.contains("old setting name");
        assert_eq!(warned, layout == "flat", "{layout}: {log}");
    }
}

/// A setting out of its bounds, from any source, stops the binary before it starts: exit code 2
/// and the setting named.
#[test]
fn a_bad_setting_exits_2_and_names_it() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("bad.toml");
    std::fs::write(&file, "[http]\nheader_read_timeout_secs = 0\n").unwrap();
    let absent = dir.path().join("absent.toml");
    let runs: [(&[&str], &str); 4] = [
        (
            &["--config", file.to_str().unwrap(), "migrate"],
            "http.header_read_timeout_secs",
        ),
        (
            &["--webhook-deadline-ms", "9000", "migrate"],
            "signer.webhook_deadline_ms",
        ),
        (&["migrate", "--eth-usd-price", "lots"], "price.eth_usd"),
        (
            &["--config", absent.to_str().unwrap(), "migrate"],
            "absent.toml",
        ),
    ];
    for (args, named) in runs {
        let output = Command::new(env!("CARGO_BIN_EXE_tollhouse"))
            .args(args)
            .arg("--data-dir")
            .arg(dir.path())
            .env_remove("TOLLHOUSE_MASTER_KEY")
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(stderr.contains(named), "{args:?}: {stderr}");
    }
    assert!(
        !dir.path().join("tollhouse.db").exists(),
        "nothing was opened"
    );
}
