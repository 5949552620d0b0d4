//! `sqlx::migrate!` embeds the migration files at compile time, but Cargo only rebuilds a crate
//! when its Rust sources change: without this a new migration alone left a stale binary that
//! did not run it (what sqlx's `migrate build-script` generates).
fn main() {
    println!("cargo:rerun-if-changed=migrations");
}
