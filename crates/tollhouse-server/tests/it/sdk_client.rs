//! The Rust SDK's `Client` against a real `tollhouse serve`: every Builder API and OAuth call,
//! the errors integrators branch on (tenant isolation as 404, 402 `insufficient_allowance`,
//! 400 for bad input, 401, transport failures, a discovery document naming another issuer), and
//! the RFC 8628 device flow driven by a sleeper that advances the server's clock.

use crate::backend_tests;
use crate::harness::{TestApp, TestServer};
use std::sync::Mutex;
use std::time::Duration;
use tollhouse_api::allowances::{AllowanceSource, GrantAllowance};
use tollhouse_api::keys::KeyStatus;
use tollhouse_api::manifest::PutManifest;
use tollhouse_api::oauth::{ACCESS_TOKEN_TYPE, DeviceAuthorization};
use tollhouse_api::rooms::{CreateRoom, IssueRoomToken};
use tollhouse_api::settings::{BillingMode, SettingsPatch};
use tollhouse_api::stream_keys::CreateStreamKey;
use tollhouse_api::tickets::SignedTicket;
use tollhouse_api::usage::{UsageGrouping, UsageQuery};
use tollhouse_api::users::{UpsertUser, UserStatus};
use tollhouse_api::{UsdMicros, Wei};
use tollhouse_core::ManualClock;
use tollhouse_sdk::device::{DeviceLogin, Sleeper};
use tollhouse_sdk::{Client, Error, ManifestFetch, SignerCredential};

/// A client of `app` on `server`, built the way an integrator would.
fn client(server: &TestServer, app: &TestApp) -> Client {
    Client::builder(&server.issuer)
        .public_client_id(&app.client_id)
        .m2m_credentials(&app.m2m_client_id, &app.m2m_secret)
        .build()
        .unwrap()
}

/// The status and code of a server-side error.
fn api_error(err: &Error) -> (u16, &str) {
    assert!(matches!(err, Error::Api(_)), "{err:?}");
    (err.status().unwrap(), err.code().unwrap())
}

/// What a fake sleeper does on one of its calls.
enum Step {
    /// Advance the server clock by this many seconds instead of the duration asked for.
    Skew(i64),
    /// Approve the pending login for this user, then advance the clock by the duration.
    Approve(&'static str),
    /// Deny the pending login, then advance the clock.
    Deny,
    /// Advance the clock by this many seconds (past the code's expiry).
    Jump(i64),
    /// Fire the cancellation and never return.
    CancelAndHang,
}

/// A [`Sleeper`] that sleeps by advancing the server's clock, and records what it was asked.
struct ClockSleeper {
    clock: ManualClock,
    client: Client,
    user_code: Mutex<String>,
    script: Mutex<Vec<Step>>,
    asked: Mutex<Vec<Duration>>,
    cancel: Mutex<Option<tokio::sync::oneshot::Sender<()>>>,
}

impl ClockSleeper {
    fn new(server: &TestServer, client: &Client, mut script: Vec<Step>) -> Self {
        script.reverse();
        Self {
            clock: server.clock.clone(),
            client: client.clone(),
            user_code: Mutex::new(String::new()),
            script: Mutex::new(script),
            asked: Mutex::new(Vec::new()),
            cancel: Mutex::new(None),
        }
    }

    fn asked_secs(&self) -> Vec<u64> {
        self.asked
            .lock()
            .unwrap()
            .iter()
            .map(Duration::as_secs)
            .collect()
    }
}

impl Sleeper for ClockSleeper {
    async fn sleep(&self, duration: Duration) {
        self.asked.lock().unwrap().push(duration);
        let step = self.script.lock().unwrap().pop();
        let secs = duration.as_secs() as i64;
        let code = self.user_code.lock().unwrap().clone();
        match step {
            None => self.clock.advance(secs),
            Some(Step::Skew(s)) | Some(Step::Jump(s)) => self.clock.advance(s),
            Some(Step::Approve(ext)) => {
                self.client.approve_device_login(ext, &code).await.unwrap();
                self.clock.advance(secs);
            }
            Some(Step::Deny) => {
                self.client.deny_device_login(&code).await.unwrap();
                self.clock.advance(secs);
            }
            Some(Step::CancelAndHang) => {
                if let Some(cancel) = self.cancel.lock().unwrap().take() {
                    cancel.send(()).unwrap();
                }
                std::future::pending::<()>().await;
            }
        }
    }
}

async fn login_with(
    server: &TestServer,
    client: &Client,
    script: Vec<Step>,
) -> (DeviceLogin, ClockSleeper) {
    let login = client.start_device_login(None).await.unwrap();
    let sleeper = ClockSleeper::new(server, client, script);
    *sleeper.user_code.lock().unwrap() = login.user_code().to_owned();
    (login, sleeper)
}

backend_tests! {
    async fn sdk_builder_calls_round_trip(db: Db) {
        let server = TestServer::start(db).await;
        let app = server.app.clone();
        let client = client(&server, &app);

        let doc = client.discovery().await.unwrap();
        assert_eq!(doc.issuer, server.issuer);
        assert_eq!(doc.token_endpoint, format!("{}/token", server.issuer));
        assert!(std::sync::Arc::ptr_eq(&doc, &client.discovery().await.unwrap()), "cached");
        let info = client.app().await.unwrap();
        assert_eq!(info.client_id, app.client_id);

        // Users: created, then updated; listed; typed status.
        let created = client.upsert_user(&UpsertUser::new("ada")).await.unwrap();
        assert!(created.created);
        assert_eq!((created.user.status, created.user.email.as_deref()), (UserStatus::Active, None));
        let body = UpsertUser { email: Some("ada@example.com".into()), display_name: Some("Ada".into()), ..UpsertUser::new("ada") };
        let updated = client.upsert_user(&body).await.unwrap();
        assert!(!updated.created);
        assert_eq!((updated.user.id.as_str(), updated.user.email.as_deref()), (created.user.id.as_str(), Some("ada@example.com")));
        let users = client.users().await.unwrap();
        assert_eq!(users.iter().map(|u| u.external_user_id.as_str()).collect::<Vec<_>>(), ["ada"]);

        // User tokens.
        let tokens = client.mint_user_token("ada", None).await.unwrap();
        assert_eq!((tokens.scope.as_str(), tokens.token_type.as_str(), tokens.expires_in), ("sign:job", "Bearer", 900));
        let openid = client.mint_user_token("ada", Some("openid sign:job")).await.unwrap();
        assert_eq!(openid.scope, "openid sign:job");

        // API keys: shown once, listed by prefix, revoked.
        let key = client.create_api_key("ada", Some("laptop")).await.unwrap();
        assert!(key.api_key.starts_with(&format!("{}_pmth_", app.client_id)), "{key:?}");
        assert!(!format!("{key:?}").contains(&key.api_key), "Debug hides the key");
        let keys = client.api_keys("ada").await.unwrap();
        assert_eq!((keys.len(), keys[0].status, keys[0].label.as_deref()), (1, KeyStatus::Active, Some("laptop")));
        assert!(key.api_key.starts_with(&keys[0].prefix));
        let revoked = client.revoke_api_key("ada", &key.id).await.unwrap();
        assert_eq!(revoked.status, KeyStatus::Revoked);
        assert!(revoked.revoked_at.is_some());
        assert_eq!(client.api_keys("ada").await.unwrap()[0].status, KeyStatus::Revoked);

        // Allowances and balance, exact money.
        let grant = GrantAllowance { source: Some(AllowanceSource::Trial), feature_key: Some("live".into()), ..GrantAllowance::new(UsdMicros::new(5_000_000)) };
        let granted = client.grant_allowance("ada", &grant).await.unwrap();
        assert_eq!((granted.granted_usd_micros, granted.feature_key.as_deref()), (UsdMicros::new(5_000_000), Some("live")));
        assert_eq!(granted.allowances.balance_usd_micros, UsdMicros::new(5_000_000));
        let allowances = client.allowances("ada").await.unwrap();
        assert_eq!((allowances.external_user_id.as_str(), allowances.allowances.has_access), ("ada", true));

        // Signed tickets: one, its duplicate, a batch; consumption shows in the balance.
        let ticket = SignedTicket {
            fee_wei: Some(Wei::new(200_000_000_000_000)),
            pipeline: Some("live-video-to-video:streamdiffusion".into()),
            ..SignedTicket::new("r-1", "ada", UsdMicros::new(600_000))
        };
        let first = client.ingest_signed_ticket(&ticket).await.unwrap();
        assert_eq!((first.ingested, first.duplicate, first.source.as_str()), (1, 0, tollhouse_api::tickets::INGEST_SOURCE));
        assert_eq!(first.results.len(), 1);
        assert!(first.results[0].ingested && first.results[0].request_id == "r-1");
        assert_eq!(client.ingest_signed_ticket(&ticket).await.unwrap().duplicate, 1);
        let batch = client.ingest_signed_tickets(&[
            SignedTicket::new("r-2", "ada", UsdMicros::new(400_000)),
            SignedTicket::new("r-3", "ghost", UsdMicros::new(5)),
        ]).await.unwrap();
        assert_eq!((batch.ingested, batch.duplicate), (2, 0));
        let balance = client.balance("ada").await.unwrap();
        assert_eq!((balance.consumed_usd_micros, balance.balance_usd_micros, balance.remaining_usd_micros), (UsdMicros::new(1_000_000), UsdMicros::new(4_000_000), UsdMicros::new(4_000_000)));

        // Usage, every grouping typed.
        let totals = client.usage(&UsageQuery::default()).await.unwrap();
        assert_eq!((totals.totals.request_count, totals.totals.network_fee_usd_micros, totals.totals.total_fee_wei), (3, UsdMicros::new(1_000_005), Wei::new(200_000_000_000_000)));
        let by_user = client.usage(&UsageQuery { group_by: Some(UsageGrouping::User), ..UsageQuery::default() }).await.unwrap().by_user.unwrap();
        let ada = by_user.iter().find(|r| r.external_user_id == "ada").unwrap();
        assert_eq!((ada.request_count, ada.network_fee_usd_micros), (2, UsdMicros::new(1_000_000)));
        let by_model = client.usage(&UsageQuery { group_by: Some(UsageGrouping::PipelineModel), ..UsageQuery::default() }).await.unwrap().by_pipeline_model.unwrap();
        let sd = by_model.iter().find(|r| r.model_id == "streamdiffusion").unwrap();
        assert_eq!((sd.pipeline.as_str(), sd.network_fee_usd_micros), ("live-video-to-video", UsdMicros::new(600_000)));
        let daily = client.usage(&UsageQuery { group_by: Some(UsageGrouping::DailyPipeline), user_id: Some("ada".into()), ..UsageQuery::default() }).await.unwrap().by_daily_pipeline.unwrap();
        assert_eq!(daily.iter().map(|r| r.request_count).sum::<i64>(), 2);

        // The end user's own view with their JWT.
        let mine = client.user_balance(&tokens.access_token).await.unwrap();
        assert_eq!(mine, balance);
        let usage = client.user_usage(&tokens.access_token).await.unwrap();
        assert_eq!((usage.totals.request_count, usage.totals.network_fee_usd_micros), (2, UsdMicros::new(1_000_000)));

        // Manifest: ETag, 304, a change gives a new tag.
        let ManifestFetch::Changed(first) = client.manifest(None).await.unwrap() else { panic!("first fetch is a manifest") };
        let etag = first.etag.clone().unwrap();
        assert_eq!(etag, format!("\"{}\"", first.manifest.manifest_version));
        assert_eq!(client.manifest(Some(&etag)).await.unwrap(), ManifestFetch::NotModified { etag: Some(etag.clone()) });
        let excluded = first.manifest.capabilities[0].clone();
        let put = client.put_manifest(&PutManifest { excluded_capabilities: vec![excluded.clone()] }).await.unwrap();
        assert_eq!(put.manifest.excluded_capabilities, vec![excluded.clone()]);
        assert!(!put.manifest.capabilities.contains(&excluded));
        assert_ne!(put.etag.as_deref(), Some(etag.as_str()));
        assert!(matches!(client.manifest(Some(&etag)).await.unwrap(), ManifestFetch::Changed(m) if m.etag == put.etag));

        // Routing and settings.
        let routing = client.signer_routing().await.unwrap();
        assert_eq!((routing.client_id.as_str(), routing.routing.identity_mode.as_str()), (app.client_id.as_str(), "webhook"));
        assert_eq!(routing.routing.jwks_uri, format!("{}/jwks", server.issuer));
        let settings = client.settings().await.unwrap();
        assert_eq!((settings.billing_mode, settings.soft_limit_usd_micros), (BillingMode::None, UsdMicros::ZERO));
        let patched = client.update_settings(&SettingsPatch { soft_limit_usd_micros: Some(UsdMicros::new(2_500)), balance_recheck_secs: Some(30), ..SettingsPatch::default() }).await.unwrap();
        assert_eq!((patched.billing_mode, patched.soft_limit_usd_micros, patched.balance_recheck_secs), (BillingMode::None, UsdMicros::new(2_500), 30));

        // Plans.
        let plan: tollhouse_api::plans::CreatePlan = serde_json::from_value(serde_json::json!({
            "name": "Creator", "defaultMarkupPercent": "20",
            "capabilities": [{"pipeline": "live-video-to-video", "modelId": "streamdiffusion", "retailRateUsd": "0.0000015"}]
        })).unwrap();
        let created_plan = client.create_plan(&plan).await.unwrap();
        assert_eq!(created_plan.name, "Creator");
        let plans = client.plans().await.unwrap();
        assert_eq!(plans.products.iter().map(|p| p.id.as_str()).collect::<Vec<_>>(), [created_plan.id.as_str()]);
        let synced = client.sync_plan(&created_plan.id).await.unwrap();
        assert!(synced.ok);
        assert_eq!(synced.plan_id, created_plan.id);

        // Deactivation: the user keeps their record but gets no more tokens.
        let done = client.deactivate_user("ada").await.unwrap();
        assert_eq!((done.status.as_str(), done.success), ("inactive", true));
        assert_eq!(api_error(&client.mint_user_token("ada", None).await.unwrap_err()), (403, "user_inactive"));
        assert_eq!(client.users().await.unwrap()[0].status, UserStatus::Inactive);
        server.finish().await;
    }

    async fn sdk_token_calls(db: Db) {
        let server = TestServer::start(db).await;
        let app = server.app.clone();
        let client = client(&server, &app);

        let m2m = client.client_credentials(Some("users:read")).await.unwrap();
        assert_eq!((m2m.scope.as_str(), m2m.token_type.as_str()), ("users:read", "Bearer"));
        let all = client.client_credentials(None).await.unwrap();
        assert!(all.scope.contains("sign:mint_user_token"), "{}", all.scope);

        // The token manager's mint: a 300 s signer JWT for a user created on the way.
        let signer = client.mint_user_signer_token("bob").await.unwrap();
        assert!(signer.access_token.starts_with("eyJ"));
        assert_eq!((signer.expires_in, signer.scope.as_str(), signer.balance_usd_micros), (300, "sign:job", UsdMicros::ZERO));
        assert_eq!(client.users().await.unwrap()[0].external_user_id, "bob");

        // User JWT → opaque session or signer JWT.
        let user = client.mint_user_token("bob", None).await.unwrap();
        let session = client.exchange_user_token(&user.access_token, SignerCredential::Session, None).await.unwrap();
        assert!(session.access_token.starts_with("pmth_") && session.expires_in == 90 * 24 * 3600, "{session:?}");
        assert_eq!(session.issued_token_type, ACCESS_TOKEN_TYPE);
        let jwt = client.exchange_user_token(&user.access_token, SignerCredential::Jwt, Some("sign:job")).await.unwrap();
        assert!(jwt.access_token.starts_with("eyJ") && jwt.expires_in == 300);
        let balance = client.user_balance(&session.access_token).await.unwrap();
        assert_eq!(balance.external_user_id, "bob");

        // One call for an unknown user: created, minted, exchanged.
        let fresh = client.signer_session_for_user("carol", SignerCredential::Session, None).await.unwrap();
        assert!(fresh.access_token.starts_with("pmth_"));
        assert!(client.users().await.unwrap().iter().any(|u| u.external_user_id == "carol"));

        // API keys, composite and bare, with and without M2M credentials.
        let key = client.create_api_key("bob", None).await.unwrap();
        let from_key = client.exchange_api_key(&key.api_key, None).await.unwrap();
        assert!(from_key.access_token.starts_with("pmth_"));
        let bare = key.api_key.strip_prefix(&format!("{}_", app.client_id)).unwrap();
        let public_only = Client::builder(&server.issuer).public_client_id(&app.client_id).build().unwrap();
        let from_bare = public_only.exchange_api_key(bare, Some("sign:job")).await.unwrap();
        assert_eq!(from_bare.scope, "sign:job");

        // Refresh rotation: the new token works, the spent one is refused.
        let rotated = client.refresh_user_token(&user.refresh_token).await.unwrap();
        assert_ne!(rotated.refresh_token, user.refresh_token);
        assert_eq!(rotated.expires_in, 900);
        assert_eq!(api_error(&client.refresh_user_token(&user.refresh_token).await.unwrap_err()), (400, "invalid_grant"));
        server.finish().await;
    }

    async fn sdk_errors_keep_status_and_code(db: Db) {
        let server = TestServer::start(db).await;
        let app = server.app.clone();
        let client = client(&server, &app);
        let other = server.create_app("other").await;

        // Tenant isolation: another app's credentials on this app's routes are 404, as for an
        // app that does not exist.
        let intruder = Client::builder(&server.issuer)
            .public_client_id(&app.client_id)
            .m2m_credentials(&other.m2m_client_id, &other.m2m_secret)
            .build()
            .unwrap();
        let err = intruder.app().await.unwrap_err();
        assert_eq!(api_error(&err), (404, "not_found"));
        assert!(err.is_not_found());
        assert_eq!(api_error(&intruder.users().await.unwrap_err()), (404, "not_found"));
        let nowhere = Client::builder(&server.issuer)
            .public_client_id("app_000000000000000000000000")
            .m2m_credentials(&app.m2m_client_id, &app.m2m_secret)
            .build()
            .unwrap();
        assert_eq!(api_error(&nowhere.app().await.unwrap_err()), (404, "not_found"));

        // Unknown things are 404; bad input is 400 with the server's code and description.
        assert_eq!(api_error(&client.mint_user_token("ghost", None).await.unwrap_err()), (404, "not_found"));
        let bad = client.upsert_user(&UpsertUser::new("owner:x@y")).await.unwrap_err();
        assert_eq!(api_error(&bad), (400, "invalid_request"));
        assert!(bad.description().is_some_and(|d| !d.is_empty()), "{bad:?}");
        client.upsert_user(&UpsertUser::new("dan")).await.unwrap();
        let zero = client.grant_allowance("dan", &GrantAllowance::new(UsdMicros::ZERO)).await.unwrap_err();
        assert_eq!(api_error(&zero), (400, "invalid_request"));
        assert_eq!(api_error(&client.mint_user_token("dan", Some("admin")).await.unwrap_err()), (400, "invalid_scope"));
        assert_eq!(api_error(&client.revoke_api_key("dan", "no-such-key").await.unwrap_err()), (404, "not_found"));
        assert_eq!(api_error(&client.client_credentials(Some("no:such")).await.unwrap_err()), (400, "invalid_scope"));
        assert_eq!(api_error(&client.exchange_user_token("eyJnot.a.jwt", SignerCredential::Session, None).await.unwrap_err()), (400, "invalid_grant"));

        // Wrong secret: 401 on the Builder API and at the token endpoint.
        let wrong = Client::builder(&server.issuer)
            .public_client_id(&app.client_id)
            .m2m_credentials(&app.m2m_client_id, "pmth_cs_wrong")
            .build()
            .unwrap();
        assert_eq!(api_error(&wrong.app().await.unwrap_err()), (401, "unauthorized"));
        assert_eq!(api_error(&wrong.client_credentials(None).await.unwrap_err()), (401, "invalid_client"));

        // A prepaid app refuses signer credentials to a user without balance: 402.
        client.update_settings(&SettingsPatch { billing_mode: Some(BillingMode::Prepaid), soft_limit_usd_micros: Some(UsdMicros::ZERO), ..SettingsPatch::default() }).await.unwrap();
        let poor = client.signer_session_for_user("dan", SignerCredential::Session, None).await.unwrap_err();
        assert_eq!(api_error(&poor), (402, "insufficient_allowance"));
        assert!(poor.is_insufficient_allowance());
        assert_eq!(api_error(&client.mint_user_signer_token("dan").await.unwrap_err()), (402, "insufficient_allowance"));
        let key = client.create_api_key("dan", None).await.unwrap();
        assert_eq!(api_error(&client.exchange_api_key(&key.api_key, None).await.unwrap_err()), (402, "insufficient_allowance"));
        // User tokens are still minted (they are not signer credentials); a grant opens the gate.
        client.mint_user_token("dan", None).await.unwrap();
        client.grant_allowance("dan", &GrantAllowance::new(UsdMicros::new(1))).await.unwrap();
        let paid = client.signer_session_for_user("dan", SignerCredential::Jwt, None).await.unwrap();
        assert_eq!(paid.balance_usd_micros, UsdMicros::new(1));
        client.exchange_api_key(&key.api_key, None).await.unwrap();

        // Not reaching the server is a transport error, not an HTTP status.
        let closed = Client::builder("http://127.0.0.1:1/api/v1/oidc")
            .public_client_id(&app.client_id)
            .m2m_credentials(&app.m2m_client_id, &app.m2m_secret)
            .build()
            .unwrap();
        let err = closed.app().await.unwrap_err();
        assert!(matches!(err, Error::Transport(_)), "{err:?}");
        assert_eq!((err.status(), err.code()), (None, None));

        // A discovery document for another issuer is refused.
        let aliased = server.issuer.replace("127.0.0.1", "localhost");
        let err = Client::builder(&aliased).build().unwrap().discovery().await.unwrap_err();
        assert!(matches!(err, Error::Discovery(_)), "{err:?}");
        // Calls needing credentials say so before sending anything.
        let anonymous = Client::builder(&server.issuer).build().unwrap();
        assert!(matches!(anonymous.app().await.unwrap_err(), Error::Config(_)));
        server.finish().await;
    }

    async fn sdk_device_flow(db: Db) {
        let server = TestServer::start(db).await;
        let app = server.app.clone();
        let client = client(&server, &app);

        // Approved during the first wait: one poll, one interval after the start.
        let (login, sleeper) = login_with(&server, &client, vec![Step::Approve("dee")]).await;
        assert_eq!((login.interval(), login.expires_in()), (Duration::from_secs(5), Duration::from_secs(600)));
        assert!(login.verification_uri_complete().contains(login.user_code()));
        let tokens = login.wait_with(&sleeper, std::future::pending()).await.unwrap();
        assert_eq!(sleeper.asked_secs(), [5]);
        assert!(tokens.refresh_token.starts_with("pmth_rt_"));
        assert_eq!(client.user_balance(&tokens.access_token).await.unwrap().external_user_id, "dee");

        // A skewed clock makes the second poll too early: slow_down adds 5 s for good.
        let (login, sleeper) = login_with(&server, &client, vec![Step::Skew(5), Step::Skew(1), Step::Approve("eve")]).await;
        login.wait_with(&sleeper, std::future::pending()).await.unwrap();
        assert_eq!(sleeper.asked_secs(), [5, 5, 10]);

        // Denied: the next poll's access_denied is the caller's error.
        let (login, sleeper) = login_with(&server, &client, vec![Step::Deny]).await;
        let err = login.wait_with(&sleeper, std::future::pending()).await.unwrap_err();
        assert_eq!(api_error(&err), (400, "access_denied"));

        // The server's expiry (expired_token) and the SDK's own count of the code's lifetime.
        let (login, sleeper) = login_with(&server, &client, vec![Step::Jump(601)]).await;
        let err = login.wait_with(&sleeper, std::future::pending()).await.unwrap_err();
        assert!(matches!(err, Error::DeviceCodeExpired), "{err:?}");
        let started = client.device_authorization(Some("sign:job")).await.unwrap();
        let short = DeviceAuthorization { expires_in: 12, ..started };
        let sleeper = ClockSleeper::new(&server, &client, Vec::new());
        let err = DeviceLogin::new(client.clone(), short).wait_with(&sleeper, std::future::pending()).await.unwrap_err();
        assert!(matches!(err, Error::DeviceCodeExpired), "{err:?}");
        assert_eq!(sleeper.asked_secs(), [5, 5], "no wait past the code's lifetime");

        // Cancelled in the middle of a wait.
        let (login, sleeper) = login_with(&server, &client, vec![Step::CancelAndHang]).await;
        let (cancel, cancelled) = tokio::sync::oneshot::channel();
        *sleeper.cancel.lock().unwrap() = Some(cancel);
        let err = login.wait_with(&sleeper, async { cancelled.await.unwrap() }).await.unwrap_err();
        assert!(matches!(err, Error::Cancelled), "{err:?}");
        server.finish().await;
    }

    async fn sdk_stream_keys_and_rooms(db: Db) {
        let server = TestServer::start(db).await;
        let app = server.app.clone();
        let client = client(&server, &app);
        for ext in ["ada", "bob"] {
            client.upsert_user(&UpsertUser::new(ext)).await.unwrap();
        }

        // Stream keys: shown once with their pipeline, listed, revoked.
        let params = serde_json::json!({"seed": 42}).as_object().unwrap().clone();
        let body = CreateStreamKey { pipeline: Some("comfyui".into()), pipeline_parameters: Some(params.clone()) };
        let key = client.create_stream_key("ada", &body).await.unwrap();
        assert!(key.stream_key.starts_with("pmth_sk_") && key.stream_id == key.id, "{key:?}");
        assert!(!format!("{key:?}").contains(&key.stream_key));
        let listed = client.stream_keys("ada").await.unwrap();
        assert_eq!((listed.len(), listed[0].status, listed[0].pipeline.as_deref(), listed[0].pipeline_parameters.as_ref()), (1, KeyStatus::Active, Some("comfyui"), Some(&params)));
        let revoked = client.revoke_stream_key("ada", &key.id).await.unwrap();
        assert_eq!(revoked.status, KeyStatus::Revoked);
        assert_eq!(api_error(&client.create_stream_key("ghost", &CreateStreamKey::default()).await.unwrap_err()), (404, "not_found"));
        let bad = CreateStreamKey { pipeline: Some("no spaces".into()), ..CreateStreamKey::default() };
        assert_eq!(api_error(&client.create_stream_key("ada", &bad).await.unwrap_err()), (400, "invalid_request"));

        // Rooms: no secret yet is a state conflict; then host, viewer, verification, end.
        assert_eq!(api_error(&client.create_room(&CreateRoom::for_user("ada")).await.unwrap_err()), (409, "conflict"));
        let first = client.rotate_room_secret().await.unwrap();
        assert_eq!((first.secret.len(), first.previous_secret_valid_until), (64, None));
        let second = client.rotate_room_secret().await.unwrap();
        assert!(second.previous_secret_valid_until.is_some() && second.secret != first.secret);
        let host = client.create_room(&CreateRoom::for_user("ada")).await.unwrap();
        assert_eq!((host.role.as_str(), host.peer_id.as_str()), ("host", host.host_peer_id.as_str()));
        let viewer = client.issue_room_token(&host.room_id, &IssueRoomToken { external_user_id: "bob".into(), role: "viewer".into(), host_peer_id: None, ttl_seconds: Some(600) }).await.unwrap();
        assert_eq!((viewer.role.as_str(), viewer.host_peer_id.as_str()), ("viewer", host.peer_id.as_str()));
        assert_eq!(viewer.expires_at, tollhouse_core::Clock::now(&server.clock) + 600);
        let verdict = client.verify_room_token(&host.token).await.unwrap();
        let claims = verdict.claims.unwrap();
        assert!(verdict.valid);
        assert_eq!((claims.role.as_str(), claims.is_original_host, claims.room_type.as_str()), ("host", Some(true), "live"));
        let forged = client.verify_room_token("eyJhbGciOiJIUzI1NiJ9.e30.c2ln").await.unwrap();
        assert_eq!((forged.valid, forged.reason.as_deref()), (false, Some("malformed_or_bad_signature")));
        assert_eq!(client.end_room(&host.room_id).await.unwrap().status, "ended");
        let ended = client.verify_room_token(&viewer.token).await.unwrap();
        assert_eq!((ended.valid, ended.reason.as_deref()), (false, Some("room_ended")));
        let late = client.issue_room_token(&host.room_id, &IssueRoomToken { external_user_id: "bob".into(), role: "guest".into(), host_peer_id: None, ttl_seconds: None }).await.unwrap_err();
        assert_eq!(api_error(&late), (409, "conflict"));
        server.finish().await;
    }
}
