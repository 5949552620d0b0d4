#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]
//! SQLite turns an overflowing integer `+` into a REAL; the 0012 triggers refuse it, so a money
//! sum can fail but never become inexact.

use sqlx::Row as _;
use tollhouse_store::SqlStore;

#[tokio::test]
async fn an_overflowing_money_sum_is_refused_not_rounded() {
    let path = std::env::temp_dir().join(format!("tollhouse-exact-{}.db", std::process::id()));
    let _ = std::fs::remove_file(&path);
    let url = format!("sqlite://{}?mode=rwc", path.display());
    let store = SqlStore::connect(&url).await.unwrap();
    drop(store);
    sqlx::any::install_default_drivers();
    let pool = sqlx::AnyPool::connect(&url).await.unwrap();
    sqlx::query(
        "INSERT INTO usage_rollups (client_id, user_id, pipeline, model_id, day, request_count, \
         fee_gwei, fee_wei, usd_e6, usd_e9, usd_e18, usd_e27, usd_e36) \
         VALUES ('app', 'u', 'p', 'm', 1, 1, 0, 0, 9223372036854775807, 0, 0, 0, 0)",
    )
    .execute(&pool)
    .await
    .unwrap();
    let overflow = sqlx::query("UPDATE usage_rollups SET usd_e6 = usd_e6 + 1")
        .execute(&pool)
        .await;
    let message = overflow.expect_err("an overflow must fail").to_string();
    assert!(message.contains("overflowed"), "{message}");
    let kept: i64 = sqlx::query("SELECT usd_e6 FROM usage_rollups")
        .fetch_one(&pool)
        .await
        .unwrap()
        .get(0);
    assert_eq!(kept, i64::MAX, "the stored sum is untouched");
    let fine = sqlx::query("UPDATE usage_rollups SET usd_e9 = usd_e9 + 5")
        .execute(&pool)
        .await;
    assert!(fine.is_ok(), "ordinary sums still work: {fine:?}");
    pool.close().await;
    let _ = std::fs::remove_file(&path);
}
