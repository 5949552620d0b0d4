//! The Usage API over arbitrary date ranges (app-wide and per-user reports sum blocks of 1, 4,
//! 16 and 64 days kept on ingest) and `groupBy=manifest` pages: every figure is checked against
//! exact arithmetic over the events this test sent.

use crate::backend_tests;
use crate::harness::{TestApp, TestServer};
use crate::support::signer::start;
use reqwest::Method;
use serde_json::{Value, json};
use std::collections::{BTreeMap, BTreeSet};
use tollhouse_core::Clock as _;

const DAY_MS: i64 = 86_400_000;
const DAYS: i64 = 150;

/// One event the test sent, as the API should count it.
struct Sent {
    day: i64,
    user: &'static str,
    pipeline: &'static str,
    model: &'static str,
    manifest: String,
    fee_wei: u128,
}

/// Micro-USD at $2000/ETH, rounded up once: wei × 2000 / 10^12.
fn micros(wei: u128) -> String {
    let scaled = wei * 2000;
    (scaled / 1_000_000_000_000 + u128::from(!scaled.is_multiple_of(1_000_000_000_000))).to_string()
}

fn date(day: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp(day * 86_400)
        .unwrap()
        .date()
        .to_string()
}

async fn get(server: &TestServer, app: &TestApp, query: &str) -> (u16, Value) {
    let r = server
        .builder(Method::GET, app, &format!("/usage{query}"))
        .send()
        .await
        .unwrap();
    (r.status().as_u16(), r.json().await.unwrap())
}

async fn ok(server: &TestServer, app: &TestApp, query: &str) -> Value {
    let (status, body) = get(server, app, query).await;
    assert_eq!(status, 200, "{query}: {body}");
    body
}

/// Sends `DAYS` days of events for three users and one unknown user of the app (a
/// deterministic spread of days, pipelines, manifests and fees); what was sent.
async fn send_events(server: &TestServer, app: &TestApp) -> Vec<Sent> {
    const USERS: [&str; 4] = ["ada", "bo", "cy", "nobody"];
    const MODELS: [(&str, &str); 3] = [
        ("live-video-to-video", "sd"),
        ("live-video-to-video", "xl"),
        ("text-to-image", ""),
    ];
    for user in &USERS[..3] {
        server.user_tokens(app, user).await;
    }
    let today = server.clock.now().div_euclid(86_400);
    let mut sent = Vec::new();
    let mut envelopes = Vec::new();
    let mut seed: u64 = 0x9e37_79b9_7f4a_7c15;
    for i in 0..900u64 {
        seed = seed
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        let r = seed >> 11;
        let day = today - (r % DAYS as u64) as i64;
        let user = USERS[(r / 7 % 4) as usize];
        let (pipeline, model) = MODELS[(r / 29 % 3) as usize];
        // Mixed case and punctuation, whose order differs between byte order and most locales.
        let prefix = ["m-", "M_", "m.", "n-"][(r / 3571 % 4) as usize];
        let manifest = format!("{prefix}{:02}", r / 89 % 40);
        // Fees up to ~10^17 wei, and now and then one above 2^64.
        let fee_wei = if i % 97 == 0 {
            u128::from(u64::MAX) + u128::from(r % 1000)
        } else {
            u128::from(r % 100_000_000_000_000_000) + 1
        };
        let wire_pipeline = if model.is_empty() {
            pipeline.to_owned()
        } else {
            format!("{pipeline}:{model}")
        };
        let mut v: Value = serde_json::from_slice(&crate::support::kafka::envelope(
            &uuid::Uuid::new_v4().to_string(),
            &format!("{}:{user}", app.client_id),
            &fee_wei.to_string(),
            &wire_pipeline,
            day * DAY_MS + (r % 86_400_000) as i64,
        ))
        .unwrap();
        v["data"]["manifest_id"] = json!(manifest);
        envelopes.push(v);
        sent.push(Sent {
            day,
            user: if user == "nobody" { "" } else { user },
            pipeline,
            model,
            manifest,
            fee_wei,
        });
    }
    for batch in envelopes.chunks(100) {
        let r = server
            .builder(Method::POST, app, "/usage/events")
            .json(&json!({"events": batch}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200, "{:?}", r.text().await);
    }
    sent
}

/// The expected totals and rows of `groupBy=<group>` over days `from..to`.
fn expected(sent: &[Sent], from: i64, to: i64, group: &str) -> Value {
    let in_range: Vec<&Sent> = sent
        .iter()
        .filter(|s| (from..to).contains(&s.day))
        .collect();
    let wei: u128 = in_range.iter().map(|s| s.fee_wei).sum();
    let mut out = json!({"totals": {"requestCount": in_range.len(), "totalFeeWei": wei.to_string(), "networkFeeUsdMicros": micros(wei)}});
    let mut rows = BTreeMap::<(String, String), (usize, u128)>::new();
    for s in &in_range {
        let key = match group {
            "user" => (s.user.to_owned(), String::new()),
            "pipeline_model" => (s.pipeline.to_owned(), s.model.to_owned()),
            _ => continue,
        };
        let row = rows.entry(key).or_default();
        row.0 += 1;
        row.1 += s.fee_wei;
    }
    let rows: Vec<Value> = rows
        .into_iter()
        .map(|((a, b), (count, wei))| match group {
            "user" => json!({"externalUserId": a, "requestCount": count, "feeWei": wei.to_string(), "networkFeeUsdMicros": micros(wei)}),
            _ => json!({"pipeline": a, "modelId": b, "requestCount": count, "networkFeeWei": wei.to_string(), "networkFeeUsdMicros": micros(wei)}),
        })
        .collect();
    match group {
        "user" => out["byUser"] = json!(rows),
        "pipeline_model" => out["byPipelineModel"] = json!(rows),
        _ => {}
    }
    out
}

/// The fields of `report` that `expected` has.
fn comparable(report: &Value, group: &str) -> Value {
    let t = &report["totals"];
    let mut out = json!({"totals": {"requestCount": t["requestCount"], "totalFeeWei": t["totalFeeWei"], "networkFeeUsdMicros": t["networkFeeUsdMicros"]}});
    let pick = |rows: &Value, fields: &[&str]| -> Value {
        let mut rows: Vec<Value> = rows
            .as_array()
            .unwrap()
            .iter()
            .map(|r| {
                fields
                    .iter()
                    .map(|f| ((*f).to_owned(), r[*f].clone()))
                    .collect::<serde_json::Map<_, _>>()
                    .into()
            })
            .collect();
        rows.sort_by_key(|r| r.to_string());
        json!(rows)
    };
    match group {
        "user" => {
            out["byUser"] = pick(
                &report["byUser"],
                &[
                    "externalUserId",
                    "requestCount",
                    "feeWei",
                    "networkFeeUsdMicros",
                ],
            )
        }
        "pipeline_model" => {
            out["byPipelineModel"] = pick(
                &report["byPipelineModel"],
                &[
                    "pipeline",
                    "modelId",
                    "requestCount",
                    "networkFeeWei",
                    "networkFeeUsdMicros",
                ],
            )
        }
        _ => {}
    }
    out
}

fn sorted(mut v: Value, key: &str) -> Value {
    if let Some(rows) = v.get_mut(key).and_then(Value::as_array_mut) {
        rows.sort_by_key(|r| r.to_string());
    }
    v
}

backend_tests! {
    async fn every_range_of_days_sums_exactly_whatever_blocks_cover_it(db: Db) {
        let server = start(db, |c| c.price.eth_usd = Some("2000".into())).await;
        let app = server.app.clone();
        let sent = send_events(&server, &app).await;
        let today = server.clock.now().div_euclid(86_400);
        let first = today - DAYS + 1;
        // Single days, ranges across 4-, 16- and 64-day block edges, all of it, none of it.
        let mut ranges = vec![(first, today + 1), (today, today + 1), (first - 30, first), (first - 5, today + 40)];
        let mut seed: u64 = 7;
        for _ in 0..12 {
            seed = seed.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
            let a = first + (seed >> 33) as i64 % DAYS;
            let len = 1 + (seed >> 13) as i64 % 90;
            ranges.push((a, a + len));
        }
        for (from, to) in ranges {
            for group in ["none", "user", "pipeline_model"] {
                // A date endDate is included (PymtHouse's reading): the days from..to end at to − 1.
                let query = format!("?startDate={}&endDate={}&groupBy={group}", date(from), date(to - 1));
                let report = ok(&server, &app, &query).await;
                let key = if group == "user" { "byUser" } else { "byPipelineModel" };
                assert_eq!(comparable(&report, group), sorted(expected(&sent, from, to, group), key), "{query}");
            }
        }
        // A user's reports (daily rollups) agree with the app-wide per-user rows (blocks).
        let all = format!("?startDate={}&endDate={}", date(first), date(today));
        let by_user = ok(&server, &app, &format!("{all}&groupBy=user")).await;
        for user in ["ada", "bo", "cy"] {
            let one = ok(&server, &app, &format!("{all}&userId={user}")).await;
            let row = by_user["byUser"].as_array().unwrap().iter().find(|r| r["externalUserId"] == user).unwrap();
            assert_eq!((one["totals"]["requestCount"].clone(), one["totals"]["networkFeeUsdMicros"].clone()),
                (row["requestCount"].clone(), row["networkFeeUsdMicros"].clone()), "{user}");
        }
        server.finish().await;
    }

    async fn manifest_rows_come_in_pages_that_add_up_to_the_whole(db: Db) {
        let server = start(db, |c| c.price.eth_usd = Some("2000".into())).await;
        let app = server.app.clone();
        let sent = send_events(&server, &app).await;
        let today = server.clock.now().div_euclid(86_400);
        let (from, to) = (today - 100, today + 1);
        let range = format!("?startDate={}&endDate={}&groupBy=manifest", date(from), date(to));
        let whole = ok(&server, &app, &format!("{range}&limit=10000")).await;
        assert!(whole.get("nextCursor").is_none(), "{whole}");
        let keys: BTreeSet<(String, &str, &str)> = sent.iter().filter(|s| (from..to).contains(&s.day))
            .map(|s| (s.manifest.clone(), s.pipeline, s.model)).collect();
        let listed: Vec<(String, &str, &str)> = whole["byManifest"].as_array().unwrap().iter()
            .map(|r| (r["manifestId"].as_str().unwrap().to_owned(), r["pipeline"].as_str().unwrap(), r["modelId"].as_str().unwrap()))
            .collect();
        assert_eq!(listed, keys.iter().cloned().collect::<Vec<_>>(), "one row per key, in byte order on every store");
        let expected_totals = expected(&sent, from, to, "none")["totals"].clone();

        let mut rows = Vec::new();
        let mut cursor: Option<String> = None;
        let mut pages = 0;
        loop {
            let query = match &cursor { Some(c) => format!("{range}&limit=7&cursor={c}"), None => format!("{range}&limit=7") };
            let page = ok(&server, &app, &query).await;
            assert_eq!(comparable(&page, "none")["totals"], expected_totals, "every page has the period's totals");
            let got = page["byManifest"].as_array().unwrap();
            assert!(got.len() <= 7);
            rows.extend(got.iter().cloned());
            pages += 1;
            match page.get("nextCursor").and_then(Value::as_str) {
                Some(next) => { assert_eq!(got.len(), 7, "only full pages have a next one"); cursor = Some(next.to_owned()); }
                None => break,
            }
        }
        assert_eq!(pages, keys.len().div_ceil(7));
        assert_eq!(json!(rows), whole["byManifest"], "pages in order, each row once");
        let count: u64 = rows.iter().map(|r| r["requestCount"].as_u64().unwrap()).sum();
        assert_eq!(json!(count), expected_totals["requestCount"]);

        // One user's manifests page the same way.
        let ada = ok(&server, &app, &format!("{range}&userId=ada&limit=3")).await;
        assert_eq!(ada["byManifest"].as_array().unwrap().len(), 3);
        assert!(ada["nextCursor"].is_string());

        for (bad, why) in [("&limit=0", "limit"), ("&limit=10001", "limit"), ("&cursor=%21%21", "cursor"), ("&cursor=bm9zZXA", "cursor")] {
            let (status, body) = get(&server, &app, &format!("{range}{bad}")).await;
            assert_eq!((status, body["error"].clone()), (400, json!("invalid_request")), "{bad}: {body}");
            assert!(body["error_description"].as_str().unwrap().contains(why), "{bad}: {body}");
        }
        let (status, body) = get(&server, &app, "?groupBy=user&limit=5").await;
        assert_eq!(status, 400, "{body}");
        server.finish().await;
    }
}
