//! How `GET A/usage` reads `startDate` and `endDate`, as PymtHouse does: a date `endDate` is
//! included whole (`startDate=endDate` is one day), an RFC 3339 `endDate` includes the rest of
//! its day, and two instants less than a day apart are an exact window, both ends included.
//! The builder-sdk's own bounds (`getUtcCalendarMonthIsoBounds`: `…T00:00:00.000Z` to
//! `…T23:59:59.999Z`) are among the cases. Each report is checked on both databases against a
//! sum the test makes itself from the tickets it sent.

use crate::backend_tests;
use crate::support::signer::start;
use reqwest::Method;
use serde_json::{Value, json};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use tollhouse_core::Clock as _;

const DAY_MS: i64 = 86_400_000;
const HOUR_MS: i64 = 3_600_000;

/// RFC 3339 text of unix ms, with milliseconds.
fn instant(ms: i64) -> String {
    let t = OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000).unwrap();
    t.format(&Rfc3339).unwrap()
}

/// `YYYY-MM-DD` of the day holding unix ms.
fn date(ms: i64) -> String {
    let t = OffsetDateTime::from_unix_timestamp(ms.div_euclid(1000)).unwrap();
    t.date().to_string()
}

/// A bound as the test reads it, independently of the server: `(first ms included, last ms
/// included)` of a query.
fn expected_range(start: &str, end: &str) -> (i64, i64) {
    let parse = |text: &str| -> (i64, bool) {
        match OffsetDateTime::parse(text, &Rfc3339) {
            Ok(t) => ((t.unix_timestamp_nanos() / 1_000_000) as i64, true),
            Err(_) => {
                let d = time::Date::parse(
                    text,
                    time::macros::format_description!("[year]-[month]-[day]"),
                )
                .unwrap();
                (d.midnight().assume_utc().unix_timestamp() * 1000, false)
            }
        }
    };
    let ((s, s_instant), (e, e_instant)) = (parse(start), parse(end));
    if s_instant && e_instant && e - s < DAY_MS {
        return (s, e);
    }
    let first = s.div_euclid(DAY_MS) * DAY_MS;
    let last = if e_instant {
        // The rest of the instant's day; exactly midnight ends the day before.
        if e.rem_euclid(DAY_MS) == 0 {
            e - 1
        } else {
            (e.div_euclid(DAY_MS) + 1) * DAY_MS - 1
        }
    } else {
        e + DAY_MS - 1
    };
    (first, last)
}

backend_tests! {
    async fn dates_and_instants_select_the_usage_pymthouse_would(db: Db) {
        let server = start(db, |_| {}).await;
        let app = server.app.clone();
        for ext in ["ann", "bea"] {
            server.user_tokens(&app, ext).await;
        }
        // Tickets at the edges of hours and days, two days ago and after; each fee a distinct
        // power of two, so a total names exactly the tickets it holds.
        let day0 = (server.clock.now_millis().div_euclid(DAY_MS) - 2) * DAY_MS;
        let times = [
            day0, day0 + 9 * HOUR_MS + 30 * 60_000, day0 + 10 * HOUR_MS, day0 + 11 * HOUR_MS - 1,
            day0 + 11 * HOUR_MS, day0 + DAY_MS - 1, day0 + DAY_MS, day0 + DAY_MS + 12 * HOUR_MS,
            day0 + 2 * DAY_MS + 6 * HOUR_MS,
        ];
        let tickets: Vec<(i64, i64, &str)> = times.iter().enumerate()
            .map(|(i, &at)| (at, 1i64 << i, if i % 2 == 0 { "ann" } else { "bea" })).collect();
        let body: Vec<Value> = tickets.iter().enumerate()
            .map(|(i, (at, micros, ext))| json!({"requestId": format!("t-{i}"), "externalUserId": ext, "networkFeeUsdMicros": micros.to_string(), "occurredAtMs": at}))
            .collect();
        let stored = server.builder(Method::POST, &app, "/usage/signed-tickets").json(&json!({"tickets": body})).send().await.unwrap();
        assert_eq!(stored.status(), 200);

        let cases = [
            (date(day0), date(day0)),
            (date(day0), date(day0 + DAY_MS)),
            (instant(day0 + 10 * HOUR_MS), instant(day0 + 11 * HOUR_MS)),
            (instant(day0 + 9 * HOUR_MS), instant(day0 + 10 * HOUR_MS)),
            (instant(day0 + 23 * HOUR_MS), instant(day0 + DAY_MS)),
            (instant(day0 + 12 * HOUR_MS), instant(day0 + DAY_MS + 12 * HOUR_MS)),
            (instant(day0), instant(day0 + 2 * DAY_MS - 1)),
            (instant(day0 + 12 * HOUR_MS), instant(day0 + 2 * DAY_MS)),
            (date(day0 + DAY_MS), instant(day0 + 2 * DAY_MS + 7 * HOUR_MS)),
        ];
        for (start, end) in &cases {
            let (first, last) = expected_range(start, end);
            let held: Vec<&(i64, i64, &str)> = tickets.iter().filter(|(at, _, _)| (first..=last).contains(at)).collect();
            let query = |extra: &str| {
                let url = format!("/usage?startDate={}&endDate={}{extra}", urlencoding(start), urlencoding(end));
                server.builder(Method::GET, &app, &url).send()
            };
            let report: Value = query("").await.unwrap().json().await.unwrap();
            let total: i64 = held.iter().map(|(_, m, _)| m).sum();
            assert_eq!(report["totals"]["networkFeeUsdMicros"], total.to_string(), "{start} .. {end}: {report}");
            assert_eq!(report["totals"]["requestCount"], held.len(), "{start} .. {end}");
            // Per user, and for one user: the same selection.
            let by_user: Value = query("&groupBy=user").await.unwrap().json().await.unwrap();
            for ext in ["ann", "bea"] {
                let want: i64 = held.iter().filter(|(_, _, e)| *e == ext).map(|(_, m, _)| m).sum();
                let row = by_user["byUser"].as_array().unwrap().iter().find(|r| r["externalUserId"] == ext);
                let got = row.map_or("0".to_owned(), |r| r["networkFeeUsdMicros"].as_str().unwrap().to_owned());
                assert_eq!(got, want.to_string(), "{ext} {start} .. {end}");
                let one: Value = query(&format!("&userId={ext}")).await.unwrap().json().await.unwrap();
                assert_eq!(one["totals"]["networkFeeUsdMicros"], want.to_string(), "{ext} alone {start} .. {end}");
            }
        }
        // An end before the start is refused in the Builder error shape.
        for (start, end) in [(date(day0 + DAY_MS), date(day0)), (instant(day0 + HOUR_MS), instant(day0))] {
            let url = format!("/usage?startDate={}&endDate={}", urlencoding(&start), urlencoding(&end));
            let response = server.builder(Method::GET, &app, &url).send().await.unwrap();
            assert_eq!(response.status(), 400, "{start} .. {end}");
            let body: Value = response.json().await.unwrap();
            assert_eq!(body["error"], "invalid_request");
        }
        server.finish().await;
    }
}

/// Percent-encodes a query value (`+` and `:` of RFC 3339 times).
fn urlencoding(value: &str) -> String {
    serde_urlencoded::to_string([("v", value)]).unwrap()[2..].to_owned()
}
