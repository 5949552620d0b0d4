//! HTTP usage ingest in the builder-sdk shape: dedupe on `(app, requestId)`, exact consumption,
//! the gate closing when it crosses the grants, bad input refused, tenants isolated.

use crate::backend_tests;
use crate::support::signer::{start, verdict};
use reqwest::Method;
use serde_json::{Value, json};

backend_tests! {
    async fn batch_ingest_answers_per_ticket_in_order(db: Db) {
        // builder-sdk `ingestSignedTicketsBatch` (dist/index.js) maps `body.results[]` to
        // `{requestId, ok, ingested, duplicate, source}`; without `results` it returns [].
        let server = start(db, |_| {}).await;
        let app = server.app.clone();
        let post = |body: Value| server.builder(Method::POST, &app, "/usage/signed-tickets").json(&body).send();
        let first: Value = post(json!({"requestId": "r-2", "externalUserId": "alice", "networkFeeUsdMicros": "1"})).await.unwrap().json().await.unwrap();
        assert_eq!(first["results"][0]["ingested"], true);
        // Per ticket, in order: one stored before, one new, one repeated within the batch.
        let mixed: Value = post(json!({"tickets": [
            {"requestId": "r-2", "externalUserId": "alice", "networkFeeUsdMicros": "1"},
            {"requestId": "r-4", "externalUserId": "nobody-yet", "networkFeeUsdMicros": "0"},
            {"requestId": "r-4", "externalUserId": "nobody-yet", "networkFeeUsdMicros": "0"}
        ]})).await.unwrap().json().await.unwrap();
        let flags: Vec<(bool, bool, bool)> = mixed["results"].as_array().unwrap().iter()
            .map(|r| (r["ok"].as_bool().unwrap(), r["ingested"].as_bool().unwrap(), r["duplicate"].as_bool().unwrap())).collect();
        assert_eq!(flags, [(true, false, true), (true, true, false), (true, false, true)], "{mixed}");
        assert_eq!((mixed["ingested"].clone(), mixed["duplicate"].clone()), (json!(1), json!(2)));
        server.finish().await;
    }

    async fn signed_tickets_are_deduplicated_and_charged(db: Db) {
        let server = start(db, |_| {}).await;
        let app = server.app.clone();
        let other = server.create_app("other").await;
        let alice = server.user_tokens(&app, "alice").await["access_token"].as_str().unwrap().to_owned();
        // Prepaid through the Builder API, as an integrator would.
        let settings: Value = server.builder(Method::GET, &app, "/settings").send().await.unwrap().json().await.unwrap();
        assert_eq!(settings, json!({"billingMode": "none", "softLimitUsdMicros": "0", "balanceRecheckSecs": 60, "billingFailOpen": false}));
        let patched: Value = server.builder(Method::PATCH, &app, "/settings").json(&json!({"billingMode": "prepaid", "softLimitUsdMicros": "0"})).send().await.unwrap().json().await.unwrap();
        assert_eq!(patched["billingMode"], "prepaid");
        for bad in [json!({"billingMode": "postpaid"}), json!({"softLimitUsdMicros": "-1"}), json!({"balanceRecheckSecs": 0}), json!({"other": 1}), json!([])] {
            let r = server.builder(Method::PATCH, &app, "/settings").json(&bad).send().await.unwrap();
            assert_eq!(r.status(), 400, "{bad}");
        }
        let r = server.builder_as(Method::PATCH, &other, &app.client_id, "/settings").json(&json!({"billingMode": "none"})).send().await.unwrap();
        assert_eq!(r.status(), 404);
        let r = server.builder(Method::POST, &app, "/users/alice/allowances").json(&json!({"amountUsdMicros": "1000000"})).send().await.unwrap();
        assert!(r.status().is_success());
        let post = |body: Value| server.builder(Method::POST, &app, "/usage/signed-tickets").json(&body).send();
        let answer: Value = post(json!({"requestId": "r-1", "externalUserId": "alice", "networkFeeUsdMicros": "600000", "feeWei": "200000000000000", "pipeline": "live-video-to-video:streamdiffusion"})).await.unwrap().json().await.unwrap();
        // `source` is the one value the builder-sdk does not report as "disabled" (see
        // compat/SDK-WIRE.md); `results` is what its ingestSignedTickets reads.
        assert_eq!(answer, json!({"ingested": 1, "duplicate": 0, "source": "openmeter",
            "results": [{"requestId": "r-1", "ok": true, "ingested": true, "duplicate": false, "source": "openmeter"}]}));
        let again: Value = post(json!({"requestId": "r-1", "externalUserId": "alice", "networkFeeUsdMicros": "600000"})).await.unwrap().json().await.unwrap();
        assert_eq!((again["ingested"].clone(), again["duplicate"].clone()), (json!(0), json!(1)));
        assert_eq!(verdict(&server, &[("Authorization", &format!("Bearer {alice}"))]).await["status"], 200);
        let batch: Value = post(json!({"tickets": [
            {"requestId": "r-2", "externalUserId": "alice", "networkFeeUsdMicros": 400000, "pixels": "1024",
             "ethUsdPrice": "3456.78", "ethUsdRoundId": "18446744073709562345", "ethUsdObservedAt": "2026-11-23T10:00:00Z"},
            {"requestId": "r-3", "externalUserId": "nobody-yet", "networkFeeUsdMicros": "5"}
        ]})).await.unwrap().json().await.unwrap();
        assert_eq!(batch["ingested"], 2);
        let results: Vec<(Value, Value)> = batch["results"].as_array().unwrap().iter().map(|r| (r["requestId"].clone(), r["ingested"].clone())).collect();
        assert_eq!(results, [(json!("r-2"), json!(true)), (json!("r-3"), json!(true))]);
        let alice_id = server.state().store.user_by_external_id(&app.client_id, "alice").await.unwrap().unwrap().id;
        assert_eq!(server.state().store.consumed_usd_micros(&alice_id).await.unwrap(), 1_000_000);
        // Balance 0 is not above the soft limit 0: the gate closes at once.
        assert_eq!(verdict(&server, &[("Authorization", &format!("Bearer {alice}"))]).await["status"], 483);
        let balance: Value = server.builder(Method::GET, &app, "/usage/balance?externalUserId=alice").send().await.unwrap().json().await.unwrap();
        assert_eq!((balance["balanceUsdMicros"].clone(), balance["consumedUsdMicros"].clone(), balance["hasAccess"].clone()), (json!("0"), json!("1000000"), json!(false)));
        // The Usage API: every grouping adds up, each figure rounded once from its own sum.
        let get = |q: &str| server.builder(Method::GET, &app, &format!("/usage{q}")).send();
        let all: Value = get("").await.unwrap().json().await.unwrap();
        assert_eq!(all["totals"]["requestCount"], 3);
        assert_eq!(all["totals"]["networkFeeUsdMicros"], "1000005");
        assert_eq!(all["totals"]["totalFeeWei"], "200000000000000");
        assert_eq!(all["source"], "tollhouse");
        let users: Value = get("?groupBy=user").await.unwrap().json().await.unwrap();
        let rows = users["byUser"].as_array().unwrap();
        assert_eq!(rows.len(), 2, "{users}");
        let alice_row = rows.iter().find(|r| r["externalUserId"] == "alice").unwrap();
        assert_eq!((alice_row["requestCount"].clone(), alice_row["networkFeeUsdMicros"].clone()), (json!(2), json!("1000000")));
        let pm: Value = get("?groupBy=pipeline_model").await.unwrap().json().await.unwrap();
        let sd = pm["byPipelineModel"].as_array().unwrap().iter().find(|r| r["modelId"] == "streamdiffusion").unwrap().clone();
        assert_eq!((sd["pipeline"].clone(), sd["networkFeeUsdMicros"].clone()), (json!("live-video-to-video"), json!("600000")));
        let daily: Value = get("?groupBy=daily_pipeline&userId=alice").await.unwrap().json().await.unwrap();
        let sum: i64 = daily["byDailyPipeline"].as_array().unwrap().iter().map(|r| r["requestCount"].as_i64().unwrap()).sum();
        assert_eq!(sum, 2);
        for bad in ["?groupBy=daily_pipeline", "?groupBy=weekly", "?startDate=yesterday", "?startDate=2026-02-01&endDate=2026-01-01", "?userId=owner:x", "?include=wholesale"] {
            assert_eq!(get(bad).await.unwrap().status(), 400, "{bad}");
        }
        let empty: Value = get("?startDate=2020-01-01&endDate=2020-02-01").await.unwrap().json().await.unwrap();
        assert_eq!((empty["totals"]["requestCount"].clone(), empty["period"]["start"].clone()), (json!(0), json!("2020-01-01")));
        let mine: Value = server.http.get(server.url("/api/v1/user/usage")).bearer_auth(&alice).send().await.unwrap().json().await.unwrap();
        assert_eq!((mine["totals"]["requestCount"].clone(), mine["totals"]["networkFeeUsdMicros"].clone()), (json!(2), json!("1000000")));
        // Bad input: nothing stored.
        for bad in [
            json!({"externalUserId": "alice", "networkFeeUsdMicros": "1"}),
            json!({"requestId": "x", "externalUserId": "alice", "networkFeeUsdMicros": "-1"}),
            json!({"requestId": "x", "externalUserId": "alice", "networkFeeUsdMicros": 1.5}),
            json!({"requestId": "x", "externalUserId": "alice", "networkFeeUsdMicros": "1", "feeWei": "1e9"}),
            json!({"requestId": "x", "externalUserId": "owner:alice", "networkFeeUsdMicros": "1"}),
            json!({"requestId": "", "externalUserId": "alice", "networkFeeUsdMicros": "1"}),
            json!({"requestId": "x", "externalUserId": "alice", "networkFeeUsdMicros": "1", "ethUsdObservedAt": "yesterday"}),
            json!({"requestId": "x", "externalUserId": "alice", "networkFeeUsdMicros": "1", "pixels": "1.5"}),
            json!({"tickets": []}),
            json!({"tickets": {"requestId": "x"}}),
            json!([1]),
        ] {
            let r = post(bad.clone()).await.unwrap();
            assert_eq!(r.status(), 400, "{bad}");
        }
        assert_eq!(server.state().store.consumed_usd_micros(&alice_id).await.unwrap(), 1_000_000);
        // Another app's credentials: 404, as for a missing app.
        let r = server.builder_as(Method::POST, &other, &app.client_id, "/usage/signed-tickets").json(&json!({"requestId": "z", "externalUserId": "alice", "networkFeeUsdMicros": "1"})).send().await.unwrap();
        assert_eq!(r.status(), 404);
        server.finish().await;
    }
}

backend_tests! {
    async fn envelope_batches_are_ingested_like_kafka(db: Db) {
        let server = start(db, |c| c.price.eth_usd = Some("2000".into())).await;
        let app = server.app.clone();
        let other = server.create_app("other").await;
        server.user_tokens(&app, "alice").await;
        let mine = format!("{}:alice", app.client_id);
        let now_ms = crate::harness::wall_clock_now() * 1000;
        let id = uuid::Uuid::new_v4().to_string();
        let ticket: Value = serde_json::from_slice(&crate::support::kafka::envelope(&id, &mine, "500000000000000", "live-video-to-video", now_ms)).unwrap();
        let post = |body: Value| server.builder(Method::POST, &app, "/usage/events").json(&body).send();
        let junk = json!({"id": "not-a-uuid", "type": "create_signed_ticket", "timestamp": "1", "data": {}});
        let trace = json!({"id": uuid::Uuid::new_v4().to_string(), "type": "stream_trace", "timestamp": "1", "data": {}});
        let answer: Value = post(json!([ticket, junk, trace])).await.unwrap().json().await.unwrap();
        assert_eq!(answer, json!({"ingested": 1, "duplicate": 0, "deadLettered": 1, "source": "tollhouse"}));
        let again: Value = post(json!({"events": [ticket]})).await.unwrap().json().await.unwrap();
        assert_eq!((again["ingested"].clone(), again["duplicate"].clone()), (json!(0), json!(1)));
        let alice = server.state().store.user_by_external_id(&app.client_id, "alice").await.unwrap().unwrap();
        assert_eq!(server.state().store.consumed_usd_micros(&alice.id).await.unwrap(), 1_000_000, "5·10^14 wei at $2000");
        // Another app's users cannot be charged through this app's credentials.
        let theirs: Value = serde_json::from_slice(&crate::support::kafka::envelope(&uuid::Uuid::new_v4().to_string(), &format!("{}:bob", other.client_id), "1", "live", now_ms)).unwrap();
        assert_eq!(post(json!([theirs])).await.unwrap().status(), 400);
        for bad in [json!([]), json!("x"), json!({"events": 1})] {
            assert_eq!(post(bad.clone()).await.unwrap().status(), 400, "{bad}");
        }
        server.finish().await;

        // Without a price the server says so instead of guessing.
        let unpriced = start(crate::harness::Db::Sqlite, |_| {}).await;
        let app = unpriced.app.clone();
        let id = uuid::Uuid::new_v4().to_string();
        let ticket: Value = serde_json::from_slice(&crate::support::kafka::envelope(&id, &format!("{}:x", app.client_id), "1", "live", now_ms)).unwrap();
        let r = unpriced.builder(Method::POST, &app, "/usage/events").json(&json!([ticket])).send().await.unwrap();
        assert_eq!(r.status(), 409);
        unpriced.finish().await;
    }
}
