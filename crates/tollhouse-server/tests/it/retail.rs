//! Plans and retail pricing, `groupBy=manifest`, the `gatewayRequestId` filter, and grants that
//! burn down in order and expire: the figures are checked against exact arithmetic done here.

use crate::backend_tests;
use crate::harness::TestServer;
use crate::support::signer::start;
use reqwest::Method;
use serde_json::{Value, json};
use tollhouse_core::Clock as _;

/// A go-livepeer `create_signed_ticket` envelope with the fields these tests vary.
fn ticket(
    auth_id: &str,
    fee_wei: &str,
    pipeline: &str,
    manifest: &str,
    gateway_request: &str,
    billable_secs: f64,
    at_ms: i64,
) -> Value {
    let id = uuid::Uuid::new_v4().to_string();
    let mut v: Value = serde_json::from_slice(&crate::support::kafka::envelope(
        &id, auth_id, fee_wei, pipeline, at_ms,
    ))
    .unwrap();
    v["data"]["manifest_id"] = json!(manifest);
    v["data"]["gateway_request_id"] = json!(gateway_request);
    v["data"]["billable_secs"] = json!(billable_secs);
    v
}

async fn ingest(server: &TestServer, app: &crate::harness::TestApp, events: Vec<Value>) {
    let r = server
        .builder(Method::POST, app, "/usage/events")
        .json(&json!({"events": events}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "{:?}", r.text().await);
}

async fn get(server: &TestServer, app: &crate::harness::TestApp, query: &str) -> Value {
    let r = server
        .builder(Method::GET, app, &format!("/usage{query}"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "{query}");
    r.json().await.unwrap()
}

fn row<'a>(rows: &'a Value, field: &str, value: &str) -> &'a Value {
    rows.as_array()
        .unwrap()
        .iter()
        .find(|r| r[field] == value)
        .unwrap_or_else(|| panic!("no {field}={value} in {rows}"))
}

backend_tests! {
    async fn retail_plans_price_each_pipeline_and_round_once(db: Db) {
        // $2000/ETH: 5·10^14 wei = $1, 2.5·10^14 wei = $0.50, 1 wei = $2·10^-15.
        let server = start(db, |c| c.price.eth_usd = Some("2000".into())).await;
        let app = server.app.clone();
        let other = server.create_app("other").await;
        for user in ["alice", "bob"] {
            server.user_tokens(&app, user).await;
        }
        let now_ms = server.clock.now() * 1000;
        let (alice, bob) = (format!("{}:alice", app.client_id), format!("{}:bob", app.client_id));
        ingest(&server, &app, vec![
            ticket(&alice, "500000000000000", "live-video-to-video:sd", "m-1", "g-1", 5.0, now_ms),
            ticket(&alice, "1", "live-video-to-video:sd", "m-1", "g-1", 0.5, now_ms),
            ticket(&bob, "250000000000000", "live", "m-2", "g-2", 2.25, now_ms),
        ]).await;

        // Network figures: $1.500000000000002 rounds up once to 1500001 micro-USD.
        let all = get(&server, &app, "").await;
        assert_eq!((all["totals"]["networkFeeUsdMicros"].clone(), all["totals"]["endUserBillableUsdMicros"].clone()), (json!("1500001"), json!("1500001")));

        // By manifest, with billable seconds summed exactly.
        let by = get(&server, &app, "?groupBy=manifest").await;
        let m1 = row(&by["byManifest"], "manifestId", "m-1");
        assert_eq!(m1, &json!({"manifestId": "m-1", "pipeline": "live-video-to-video", "modelId": "sd", "requestCount": 2,
            "feeWei": "500000000000001", "networkFeeUsdMicros": "1000001", "billableSecs": "5.5", "endUserBillableUsdMicros": "1000001"}));
        let m2 = row(&by["byManifest"], "manifestId", "m-2");
        assert_eq!((m2["billableSecs"].clone(), m2["networkFeeUsdMicros"].clone(), m2["modelId"].clone()), (json!("2.25"), json!("500000"), json!("")));

        // One gateway request's events only.
        let g1 = get(&server, &app, "?gatewayRequestId=g-1&groupBy=user").await;
        assert_eq!((g1["totals"]["requestCount"].clone(), g1["totals"]["networkFeeUsdMicros"].clone()), (json!(2), json!("1000001")));
        assert_eq!(g1["byUser"].as_array().unwrap().len(), 1);
        let g1m = get(&server, &app, "?gatewayRequestId=g-1&groupBy=manifest").await;
        assert_eq!(row(&g1m["byManifest"], "manifestId", "m-1")["billableSecs"], "5.5");
        assert_eq!(get(&server, &app, "?gatewayRequestId=nope").await["totals"]["requestCount"], 0);
        assert_eq!(get(&server, &app, "?userId=carol").await["totals"]["requestCount"], 0, "unknown user: empty, not unattributed usage");

        // No plan yet: retail asked for, but there is nothing to price with.
        let plans: Value = server.builder(Method::GET, &app, "/plans").send().await.unwrap().json().await.unwrap();
        assert_eq!(plans, json!({"apiVersion": 2, "products": []}));
        let unpriced = get(&server, &app, "?groupBy=pipeline_model&include=retail").await;
        assert!(unpriced["byPipelineModel"][0].get("retailRateUsd").is_none(), "{unpriced}");

        // A plan: 2× for (lv2v, sd), +10 % for everything else.
        let r = server.builder(Method::POST, &app, "/plans").json(&json!({"name": "Standard", "defaultMarkupPercent": "10",
            "capabilities": [{"pipeline": "live-video-to-video", "modelId": "sd", "retailRateUsd": "0.000002"}]})).send().await.unwrap();
        assert_eq!(r.status(), 201);
        let standard: Value = r.json().await.unwrap();
        assert_eq!((standard["status"].clone(), standard["type"].clone(), standard["defaultRetailRateUsd"].clone()), (json!("active"), json!("usage"), json!("0.0000011")));
        assert_eq!(standard["capabilities"][0], json!({"pipeline": "live-video-to-video", "modelId": "sd", "retailRateUsd": "0.000002",
            "markupPercent": null, "effectiveRetailRateUsd": "0.000002", "featureKey": "live-video-to-video:sd"}));
        let priced = get(&server, &app, "?groupBy=pipeline_model&include=retail").await;
        let sd = row(&priced["byPipelineModel"], "modelId", "sd");
        // 2 × $1.000000000000002 = 2000000.000000004 µ$ → 2000001; 1.1 × $0.5 = 550000 exactly.
        assert_eq!((sd["retailRateUsd"].clone(), sd["endUserBillableUsdMicros"].clone(), sd["networkFeeUsdMicros"].clone()), (json!("0.000002"), json!("2000001"), json!("1000001")));
        let live = row(&priced["byPipelineModel"], "pipeline", "live");
        assert_eq!((live["retailRateUsd"].clone(), live["endUserBillableUsdMicros"].clone()), (json!("0.0000011"), json!("550000")));
        assert_eq!(priced["totals"]["endUserBillableUsdMicros"], "2550001", "rounded once from the exact sum");
        assert_eq!(priced["totals"]["networkFeeUsdMicros"], "1500001");
        let users = get(&server, &app, "?groupBy=user&include=retail").await;
        assert_eq!(row(&users["byUser"], "externalUserId", "alice")["endUserBillableUsdMicros"], "2000001");
        assert_eq!(row(&users["byUser"], "externalUserId", "bob")["endUserBillableUsdMicros"], "550000");
        let without = get(&server, &app, "?groupBy=user").await;
        assert_eq!(row(&without["byUser"], "externalUserId", "alice")["endUserBillableUsdMicros"], "1000001", "retail only when asked");

        // An archived plan changes nothing until it is synced, which makes it the active one.
        let r = server.builder(Method::POST, &app, "/plans").json(&json!({"name": "Later", "status": "archived", "defaultRetailRateUsd": "0.000003"})).send().await.unwrap();
        assert_eq!(r.status(), 201);
        let later: Value = r.json().await.unwrap();
        assert_eq!(get(&server, &app, "?include=retail").await["totals"]["endUserBillableUsdMicros"], "2550001");
        let id = later["id"].as_str().unwrap();
        let synced: Value = server.builder(Method::POST, &app, &format!("/plans/{id}/sync")).send().await.unwrap().json().await.unwrap();
        assert_eq!((synced["planId"].clone(), synced["ok"].clone(), synced["sync"]["status"].clone()), (json!(id), json!(true), json!("synced")));
        assert_eq!(get(&server, &app, "?include=retail").await["totals"]["endUserBillableUsdMicros"], "4500001");
        let plans: Value = server.builder(Method::GET, &app, "/plans").send().await.unwrap().json().await.unwrap();
        let statuses: Vec<_> = plans["products"].as_array().unwrap().iter().map(|p| (p["name"].as_str().unwrap().to_owned(), p["status"].as_str().unwrap().to_owned())).collect();
        assert_eq!(statuses, [("Later".to_owned(), "active".to_owned()), ("Standard".to_owned(), "archived".to_owned())]);

        // Bad plans are refused and leave the plans as they were.
        for bad in [
            json!({"name": "x", "capabilities": [{"pipeline": "live", "retailRateUsd": "0.000002", "markupPercent": "5"}]}),
            json!({"name": "x", "capabilities": [{"pipeline": "live"}]}),
            json!({"name": "x", "capabilities": [{"pipeline": "live", "markupPercent": "5"}, {"pipeline": "live", "modelId": "", "markupPercent": "6"}]}),
            json!({"name": "x", "defaultRetailRateUsd": "1e-6"}),
            json!({"name": "x", "defaultRetailRateUsd": 0.000001}),
            json!({"name": "x", "defaultRetailRateUsd": "0.0000000001"}),
            json!({"name": "x", "defaultMarkupPercent": "1.25"}),
            json!({"name": "x", "defaultRetailRateUsd": "0.000001", "defaultMarkupPercent": "1"}),
            json!({"name": "", "defaultMarkupPercent": "1"}),
            json!({"name": "x", "billingCycle": "weekly"}),
            json!({"name": "x", "surprise": true}),
            json!(["x"]),
        ] {
            let r = server.builder(Method::POST, &app, "/plans").json(&bad).send().await.unwrap();
            assert_eq!(r.status(), 400, "{bad}");
            let body: Value = r.json().await.unwrap();
            assert_eq!(body["error"], "invalid_request", "{bad}");
        }
        let again: Value = server.builder(Method::GET, &app, "/plans").send().await.unwrap().json().await.unwrap();
        assert_eq!(again, plans);
        let r = server.builder(Method::POST, &app, "/plans/00000000-0000-4000-8000-000000000000/sync").send().await.unwrap();
        assert_eq!(r.status(), 404);
        // Another tenant sees neither the plans nor the usage.
        assert_eq!(server.builder_as(Method::GET, &other, &app.client_id, "/plans").send().await.unwrap().status(), 404);
        assert_eq!(server.builder_as(Method::POST, &other, &app.client_id, &format!("/plans/{id}/sync")).send().await.unwrap().status(), 404);
        let theirs: Value = server.builder(Method::GET, &other, "/plans").send().await.unwrap().json().await.unwrap();
        assert_eq!(theirs["products"], json!([]));
        for bad in ["?groupBy=weekly", "?include=wholesale", "?gatewayRequestId="] {
            let r = server.builder(Method::GET, &app, &format!("/usage{bad}")).send().await.unwrap();
            assert_eq!(r.status(), 400, "{bad}");
        }
        server.finish().await;
    }
}

backend_tests! {
    async fn grants_burn_in_order_and_expired_remainders_are_lost(db: Db) {
        let server = start(db, |c| c.price.eth_usd = Some("2000".into())).await;
        let app = server.app.clone();
        server.user_tokens(&app, "carol").await;
        let t0 = server.clock.now();
        let iso = |t: i64| time::OffsetDateTime::from_unix_timestamp(t).unwrap().format(&time::format_description::well_known::Rfc3339).unwrap();
        let grant = |body: Value| server.builder(Method::POST, &app, "/users/carol/allowances").json(&body).send();
        // Refused: already expired, bad times, priority out of range.
        for bad in [
            json!({"amountUsdMicros": "1", "expiresAt": iso(t0 - 10)}),
            json!({"amountUsdMicros": "1", "expiresAt": "tomorrow"}),
            json!({"amountUsdMicros": "1", "effectiveAt": iso(t0 + 100), "expiresAt": iso(t0 + 50)}),
            json!({"amountUsdMicros": "1", "priority": -1}),
            json!({"amountUsdMicros": "1", "priority": 1001}),
        ] {
            assert_eq!(grant(bad.clone()).await.unwrap().status(), 400, "{bad}");
        }
        // $1 that expires in an hour, and $1 that never does; same priority.
        assert_eq!(grant(json!({"amountUsdMicros": "1000000", "expiresAt": iso(t0 + 3600)})).await.unwrap().status(), 201);
        assert_eq!(grant(json!({"amountUsdMicros": "1000000"})).await.unwrap().status(), 201);
        server.clock.advance(60);
        // $0.50 of usage now: it burns the grant that expires first.
        let carol = format!("{}:carol", app.client_id);
        ingest(&server, &app, vec![ticket(&carol, "250000000000000", "live", "m", "g", 1.0, server.clock.now() * 1000)]).await;
        let balance = |server: &TestServer| {
            let r = server.builder(Method::GET, &app, "/usage/balance?externalUserId=carol").send();
            async move { r.await.unwrap().json::<Value>().await.unwrap() }
        };
        assert_eq!(balance(&server).await["balanceUsdMicros"], "1500000");
        // After the first grant expires its unused $0.50 is gone; the usage it covered is paid.
        server.clock.advance(7200);
        let after = balance(&server).await;
        assert_eq!((after["balanceUsdMicros"].clone(), after["consumedUsdMicros"].clone(), after["lifetimeGrantedUsdMicros"].clone()),
            (json!("1000000"), json!("500000"), json!("2000000")), "{after}");
        // A priority-0 grant burns before a priority-5 one even when the latter expires sooner.
        server.user_tokens(&app, "dave").await;
        let t1 = server.clock.now();
        let r = server.builder(Method::POST, &app, "/users/dave/allowances").json(&json!({"amountUsdMicros": "1000000", "priority": 5, "expiresAt": iso(t1 + 600)})).send().await.unwrap();
        assert_eq!(r.status(), 201);
        let r = server.builder(Method::POST, &app, "/users/dave/allowances").json(&json!({"amountUsdMicros": "1000000", "priority": 0})).send().await.unwrap();
        assert_eq!(r.status(), 201);
        server.clock.advance(60);
        let dave = format!("{}:dave", app.client_id);
        ingest(&server, &app, vec![ticket(&dave, "250000000000000", "live", "m", "g", 1.0, server.clock.now() * 1000)]).await;
        server.clock.advance(3600);
        let r: Value = server.builder(Method::GET, &app, "/usage/balance?externalUserId=dave").send().await.unwrap().json().await.unwrap();
        assert_eq!(r["balanceUsdMicros"], "500000", "the priority-5 grant expired unused: {r}");
        server.finish().await;
    }
}
