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
        // go-livepeer's signer behind Tollhouse's proxy: the SDK's signer handlers reach it
        // through the URL signer routing hands out (the proxy at the root).
        let signer = crate::support::golivepeer::FakeSigner::start().await;
        let mut config = crate::harness::config_for(&fresh, tollhouse_core::keys::SigningAlg::RS256);
        config.signer.upstream = Some(signer.url());
        let server = TestServer::start_on(fresh, config).await;
        let payment = String::from_utf8(crate::support::golivepeer::FakeSigner::payment_request_body(None, "compat-manifest")).unwrap();
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
                    .env("TOLLHOUSE_PAYMENT_BODY", payment)
                    .output()
                    .unwrap()
            }
        })
        .await
        .unwrap();
        let stdout = String::from_utf8_lossy(&output.stdout);
        assert!(output.status.success(), "node checks failed:\n{stdout}\n{}", String::from_utf8_lossy(&output.stderr));
        assert!(stdout.contains("# fail 0"), "{stdout}");
        // What the SDK's proxy handler sent reached go-livepeer through Tollhouse's proxy, with
        // the SDK's X-Livepeer-* identity headers stripped (the signer JWT is the identity).
        let payments: Vec<_> = signer.requests().into_iter().filter(|r| r.path_and_query == "/generate-live-payment").collect();
        assert!(!payments.is_empty(), "no payment reached the signer double");
        for payment in &payments {
            assert!(payment.header("authorization").is_some_and(|a| a.starts_with("Bearer ey")), "{payment:?}");
            assert_eq!(payment.header("x-livepeer-usage-subject"), None);
        }
        server.finish().await;
    }
}
