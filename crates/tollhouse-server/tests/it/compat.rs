//! Drives the Node checks in `compat/` (oauth4webapi and the unchanged `@pymthouse/builder-sdk`)
//! against a real server on each database.

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
        let server = TestServer::start(db).await;
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
