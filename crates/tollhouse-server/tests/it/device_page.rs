//! The device verification page (`verification_uri`, RFC 8628 §3.3) and the app setting it
//! leads to (`initiateLoginUri` in `PATCH A/settings`): over plain HTTP on both databases, and
//! in Debian's headless Chromium (`compat/browser/device-page.mjs`, a screenshot kept under the
//! target directory's `tmp/`).

use crate::backend_tests;
use crate::device::start as device_login;
use crate::harness::{Db, TestServer};
use reqwest::Method;
use serde_json::{Value, json};

/// A client that shows redirects instead of following them.
fn no_redirects() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

async fn set_login_uri(server: &TestServer, uri: Value) -> (u16, Value) {
    let response = server
        .builder(Method::PATCH, &server.app, "/settings")
        .json(&json!({"initiateLoginUri": uri}))
        .send()
        .await
        .unwrap();
    (response.status().as_u16(), response.json().await.unwrap())
}

backend_tests! {
    async fn the_page_checks_the_code_and_sends_the_user_to_the_app(db: Db) {
        let server = TestServer::start(db).await;
        let login = device_login(&server).await;
        let (uri, complete, code) = (login["verification_uri"].as_str().unwrap(), login["verification_uri_complete"].as_str().unwrap(), login["user_code"].as_str().unwrap());
        assert_eq!(uri, server.url("/oidc/device"));

        // The page exists, and the complete URI pre-fills the code.
        let page = server.http.get(uri).send().await.unwrap();
        assert_eq!(page.status(), 200);
        assert!(page.headers()["content-type"].to_str().unwrap().starts_with("text/html"));
        assert_eq!(page.headers()["cache-control"], "no-store");
        assert!(page.headers()["content-security-policy"].to_str().unwrap().contains("default-src 'none'"));
        let html = page.text().await.unwrap();
        assert!(html.contains(r#"<label for="user_code">"#) && html.contains(r#"value="""#), "{html}");
        let prefilled = server.http.get(complete).send().await.unwrap().text().await.unwrap();
        assert!(prefilled.contains(&format!(r#"value="{code}""#)), "{prefilled}");
        // What a page shows back is escaped.
        let hostile = server.http.get(format!("{uri}?user_code=%22%3E%3Cscript%3E")).send().await.unwrap().text().await.unwrap();
        assert!(!hostile.contains("<script>") && hostile.contains("&quot;&gt;&lt;script&gt;"), "{hostile}");

        let submit = |typed: String| no_redirects().post(uri).form(&[("user_code", typed)]).send();
        // Without the app setting, the page says so.
        let response = submit(code.to_owned()).await.unwrap();
        assert_eq!(response.status(), 409);
        assert!(response.text().await.unwrap().contains("has not set up device sign-in"));

        // The setting: https, or http only to this machine; no fragment; null clears it.
        for bad in [json!("ftp://example.com/login"), json!("http://example.com/login"), json!("https://example.com/login#x"), json!("login"), json!(format!("https://e.com/{}", "a".repeat(2050)))] {
            let (status, body) = set_login_uri(&server, bad.clone()).await;
            assert_eq!((status, body["error"].as_str()), (400, Some("invalid_request")), "{bad}");
        }
        let (status, settings) = set_login_uri(&server, json!("http://127.0.0.1:9/device-login?from=tollhouse")).await;
        assert_eq!(status, 200);
        assert_eq!(settings["initiateLoginUri"], "http://127.0.0.1:9/device-login?from=tollhouse");

        // The code as a person types it: lower case, no dash.
        let response = submit(code.replace('-', "").to_lowercase()).await.unwrap();
        assert_eq!(response.status(), 303);
        let expected = format!("http://127.0.0.1:9/device-login?from=tollhouse&user_code={code}&client_id={}", server.app.client_id);
        assert_eq!(response.headers()["location"], expected.as_str());
        // Unknown, malformed and expired codes get the page again with an alert.
        for typed in ["BCDF-BCDF", "", "x", &"B".repeat(200)] {
            let response = submit(typed.to_owned()).await.unwrap();
            assert_eq!(response.status(), 400, "{typed}");
            assert!(response.text().await.unwrap().contains(r#"role="alert""#));
        }
        server.clock.advance(601);
        assert_eq!(submit(code.to_owned()).await.unwrap().status(), 400, "expired");

        // Cleared, the setting is gone.
        let (status, settings) = set_login_uri(&server, Value::Null).await;
        assert_eq!(status, 200);
        assert!(settings.get("initiateLoginUri").is_none(), "{settings}");
        server.finish().await;
    }
}

/// The page as a user meets it, in Debian's Chromium: the code pre-filled and focused, a wrong
/// code refused in an alert, the right one typed loosely leads to the app's login page with
/// `user_code` and `client_id`. Nothing is fetched from anywhere else.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_page_works_in_headless_chromium() {
    let server = TestServer::start(Db::Sqlite).await;
    // The app's backend: a login page at a path of its own.
    let app_login = axum::Router::new().route(
        "/device-login",
        axum::routing::get(|| async {
            axum::response::Html("<!doctype html><title>Sign in</title><p>App sign-in page</p>")
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let login_url = format!("http://{}/device-login", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app_login).await });
    assert_eq!(set_login_uri(&server, json!(login_url)).await.0, 200);
    let login = device_login(&server).await;
    let code = login["user_code"].as_str().unwrap().to_owned();
    let screenshot = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("device-page.png");
    let _ = std::fs::remove_file(&screenshot);
    let compat = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../compat");
    let output = tokio::task::spawn_blocking({
        let (complete, code, login_url, screenshot) = (
            login["verification_uri_complete"]
                .as_str()
                .unwrap()
                .to_owned(),
            code.clone(),
            login_url.clone(),
            screenshot.clone(),
        );
        move || {
            std::process::Command::new("node")
                .arg("browser/device-page.mjs")
                .current_dir(compat)
                .env("TOLLHOUSE_DEVICE_URL", complete)
                .env("TOLLHOUSE_USER_CODE", code)
                .env("TOLLHOUSE_LOGIN_URL", login_url)
                .env("TOLLHOUSE_SCREENSHOT", screenshot)
                .output()
                .unwrap()
        }
    })
    .await
    .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "the browser run failed (is Debian's chromium installed? scripts/setup installs it):\n{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let report: Value =
        serde_json::from_str(stdout.trim()).unwrap_or_else(|e| panic!("{e}: {stdout}"));
    assert_eq!(report["title"], "Connect a device");
    assert_eq!(report["prefilled"], code.as_str());
    assert_eq!(report["focused"], true);
    assert_eq!(report["describedBy"], "hint");
    assert!(
        report["wrongCodeAlert"]
            .as_str()
            .unwrap()
            .contains("not valid"),
        "{report}"
    );
    assert_eq!(report["wrongCodeKept"], "BCDF-BCDF");
    assert_eq!(report["landed"], login_url.as_str());
    assert_eq!(
        report["query"],
        json!({"user_code": code, "client_id": server.app.client_id})
    );
    assert_eq!(report["body"], "App sign-in page");
    assert_eq!(report["foreignRequests"], json!([]));
    let png = std::fs::read(&screenshot).unwrap();
    assert!(
        png.starts_with(b"\x89PNG") && png.len() > 2000,
        "a screenshot of the page is kept at {}",
        screenshot.display()
    );
    server.finish().await;
}
