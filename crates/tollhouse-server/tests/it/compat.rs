//! Drives the Node suites in `compat/` (oauth4webapi and the unchanged `@pymthouse/builder-sdk`:
//! `test/` for the issuer core, `builder/` for the Builder API and every token flow) against a
//! real server on each database.

use crate::backend_tests;
use crate::harness::TestServer;
use std::path::PathBuf;
use std::process::Command;

fn compat_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../compat")
}

backend_tests! {
    async fn node_relying_parties(db: Db) {
        let dir = compat_dir();
        assert!(
            dir.join("node_modules/@pymthouse/builder-sdk").is_dir(),
            "compat/node_modules is missing: run `npm ci --prefix compat` (scripts/setup does it)"
        );
        let fresh = crate::harness::FreshDb::new(db).await;
        let mut config = crate::harness::config_for(&fresh, tollhouse_core::keys::SigningAlg::RS256);
        config.signer.remote_signer_url = Some("http://127.0.0.1:8935".into());
        let server = TestServer::start_on(fresh, config).await;
        let other = server.create_app("other").await;
        let output = tokio::task::spawn_blocking({
            let (issuer, app) = (server.issuer.clone(), server.app.clone());
            move || {
                Command::new("npm")
                    .args(["test", "--silent"])
                    .current_dir(dir)
                    .env("TOLLHOUSE_ISSUER", issuer)
                    .env("TOLLHOUSE_PUBLIC_CLIENT_ID", app.client_id)
                    .env("TOLLHOUSE_M2M_CLIENT_ID", app.m2m_client_id)
                    .env("TOLLHOUSE_M2M_CLIENT_SECRET", app.m2m_secret)
                    .env("TOLLHOUSE_OTHER_M2M_CLIENT_ID", other.m2m_client_id)
                    .env("TOLLHOUSE_OTHER_M2M_CLIENT_SECRET", other.m2m_secret)
                    .output()
                    .unwrap()
            }
        })
        .await
        .unwrap();
        let stdout = String::from_utf8_lossy(&output.stdout);
        assert!(output.status.success(), "node checks failed:\n{stdout}\n{}", String::from_utf8_lossy(&output.stderr));
        assert!(stdout.contains("# fail 0"), "{stdout}");
        server.finish().await;
    }
}
