//! Starting real servers for tests: fresh database, injected clock, random port.

use sqlx::Connection as _;
use std::sync::Arc;
use tollhouse_core::ManualClock;
use tollhouse_core::keys::SigningAlg;
use tollhouse_server::config::Config;
use tollhouse_server::{Deps, RunningServer};

/// PostgreSQL the suite uses; override with `TOLLHOUSE_TEST_POSTGRES_URL`.
pub fn postgres_base_url() -> String {
    std::env::var("TOLLHOUSE_TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into())
}

/// Which database a test runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Db {
    Sqlite,
    Postgres,
}

/// A fresh, empty database: a temp dir for SQLite, a new schema for PostgreSQL.
pub struct FreshDb {
    pub url: String,
    pub data_dir: tempfile::TempDir,
    pub schema: Option<String>,
}

impl FreshDb {
    pub async fn new(db: Db) -> FreshDb {
        let data_dir = tempfile::tempdir().unwrap();
        match db {
            Db::Sqlite => {
                let url = format!(
                    "sqlite://{}?mode=rwc",
                    data_dir.path().join("tollhouse.db").display()
                );
                FreshDb {
                    url,
                    data_dir,
                    schema: None,
                }
            }
            Db::Postgres => {
                let base = postgres_base_url();
                let schema = format!("t_{}", uuid::Uuid::new_v4().simple());
                let mut conn = sqlx::PgConnection::connect(&base)
                    .await
                    .unwrap_or_else(|e| {
                        panic!("PostgreSQL at {base} is required for the test suite: {e}")
                    });
                sqlx::query(&format!("CREATE SCHEMA {schema}"))
                    .execute(&mut conn)
                    .await
                    .unwrap();
                let sep = if base.contains('?') { '&' } else { '?' };
                let url = format!("{base}{sep}options=-c%20search_path%3D{schema}");
                FreshDb {
                    url,
                    data_dir,
                    schema: Some(schema),
                }
            }
        }
    }

    /// Drops the PostgreSQL schema.
    pub async fn drop_schema(&self) {
        if let Some(schema) = &self.schema {
            let mut conn = sqlx::PgConnection::connect(&postgres_base_url())
                .await
                .unwrap();
            sqlx::query(&format!("DROP SCHEMA {schema} CASCADE"))
                .execute(&mut conn)
                .await
                .unwrap();
        }
    }
}

/// A running server with its clock, database and HTTP client.
pub struct TestServer {
    pub server: Option<RunningServer>,
    pub clock: ManualClock,
    pub db: FreshDb,
    pub http: reqwest::Client,
    pub base: String,
    pub issuer: String,
    pub app: TestApp,
}

/// Credentials of an app.
#[derive(Debug, Clone)]
pub struct TestApp {
    pub client_id: String,
    pub m2m_client_id: String,
    pub m2m_secret: String,
}

impl From<&tollhouse_server::apps::CreatedApp> for TestApp {
    fn from(created: &tollhouse_server::apps::CreatedApp) -> Self {
        TestApp {
            client_id: created.app.client_id.to_string(),
            m2m_client_id: created.app.m2m_client_id.to_string(),
            m2m_secret: created.m2m_client_secret.clone(),
        }
    }
}

/// Creates an app with the default scopes directly in the server's store.
async fn create_app_in(state: &tollhouse_server::state::AppState, name: &str) -> TestApp {
    let scopes =
        tollhouse_core::scope::ScopeSet::parse(tollhouse_core::scope::DEFAULT_APP_SCOPES).unwrap();
    let created = tollhouse_server::apps::create_app(
        state.store.as_ref(),
        &state.pepper,
        state.clock.as_ref(),
        state.rng.as_ref(),
        name,
        scopes,
    )
    .await
    .unwrap();
    TestApp::from(&created)
}

pub fn config_for(db: &FreshDb, alg: SigningAlg) -> Config {
    let mut config = Config::default();
    config.http.listen = "127.0.0.1:0".parse().unwrap();
    config.database.data_dir = db.data_dir.path().to_path_buf();
    config.database.url = Some(db.url.clone());
    config.keys.signing_alg = alg;
    config
}

/// The real current time, so JWT libraries that read the system clock agree with the server.
#[allow(clippy::disallowed_methods)]
pub fn wall_clock_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

impl TestServer {
    pub async fn start(db: Db) -> TestServer {
        Self::start_with(db, SigningAlg::RS256).await
    }

    pub async fn start_with(db: Db, alg: SigningAlg) -> TestServer {
        let db = FreshDb::new(db).await;
        let config = config_for(&db, alg);
        Self::start_on(db, config).await
    }

    pub async fn start_on(db: FreshDb, config: Config) -> TestServer {
        let clock = ManualClock::at(wall_clock_now());
        let deps = Deps {
            clock: Arc::new(clock.clone()),
            rng: Arc::new(tollhouse_core::OsRandom),
        };
        let server = tollhouse_server::start(config, deps, true).await.unwrap();
        // A database that already had apps gets no demo app; make one for the test.
        let app = match &server.demo_app {
            Some(demo) => TestApp::from(demo),
            None => create_app_in(&server.state, "test").await,
        };
        let base = format!("http://{}", server.addr);
        let issuer = server.state.issuer.clone();
        TestServer {
            server: Some(server),
            clock,
            db,
            http: reqwest::Client::new(),
            base,
            issuer,
            app,
        }
    }

    pub fn state(&self) -> &tollhouse_server::state::AppState {
        &self.server.as_ref().unwrap().state
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    /// Creates another app in the same database.
    pub async fn create_app(&self, name: &str) -> TestApp {
        create_app_in(self.state(), name).await
    }

    /// POSTs a form to the token endpoint with HTTP Basic for `app`.
    pub async fn token_request(&self, app: &TestApp, form: &[(&str, &str)]) -> reqwest::Response {
        self.http
            .post(format!("{}/token", self.issuer))
            .basic_auth(&app.m2m_client_id, Some(&app.m2m_secret))
            .form(form)
            .send()
            .await
            .unwrap()
    }

    /// A client-credentials access token for `app`.
    pub async fn m2m_token(&self, app: &TestApp, scope: &str) -> String {
        let response = self
            .token_request(
                app,
                &[("grant_type", "client_credentials"), ("scope", scope)],
            )
            .await;
        assert_eq!(response.status(), 200);
        let body: serde_json::Value = response.json().await.unwrap();
        body["access_token"].as_str().unwrap().to_owned()
    }

    /// A Builder API request for `app`'s own routes (`path` below `/api/v1/apps/{clientId}`).
    pub fn builder(
        &self,
        method: reqwest::Method,
        app: &TestApp,
        path: &str,
    ) -> reqwest::RequestBuilder {
        self.builder_as(method, app, &app.client_id, path)
    }

    /// A Builder API request authenticated as `caller` against app `client_id`'s routes.
    pub fn builder_as(
        &self,
        method: reqwest::Method,
        caller: &TestApp,
        client_id: &str,
        path: &str,
    ) -> reqwest::RequestBuilder {
        self.http
            .request(
                method,
                format!("{}/api/v1/apps/{client_id}{path}", self.base),
            )
            .basic_auth(&caller.m2m_client_id, Some(&caller.m2m_secret))
    }

    /// Upserts user `ext` of `app` and mints their token; returns the token response.
    pub async fn user_tokens(&self, app: &TestApp, ext: &str) -> serde_json::Value {
        let created = self
            .builder(reqwest::Method::POST, app, "/users")
            .json(&serde_json::json!({"externalUserId": ext}))
            .send()
            .await
            .unwrap();
        assert!(created.status().is_success());
        let minted = self
            .builder(reqwest::Method::POST, app, &format!("/users/{ext}/token"))
            .json(&serde_json::json!({}))
            .send()
            .await
            .unwrap();
        assert_eq!(minted.status(), 200);
        minted.json().await.unwrap()
    }

    /// Stops the server and drops its database.
    pub async fn finish(mut self) {
        if let Some(server) = self.server.take() {
            server.shutdown().await;
        }
        self.db.drop_schema().await;
    }
}

/// Declares `async fn name(db: Db)` tests and runs each on both databases.
#[macro_export]
macro_rules! backend_tests {
    ($(async fn $name:ident($db:ident: Db) $body:block)*) => {
        $(
            mod $name {
                #[allow(unused_imports)]
                use super::*;
                async fn run($db: $crate::harness::Db) $body

                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn sqlite() {
                    run($crate::harness::Db::Sqlite).await;
                }

                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn postgres() {
                    run($crate::harness::Db::Postgres).await;
                }
            }
        )*
    };
}
