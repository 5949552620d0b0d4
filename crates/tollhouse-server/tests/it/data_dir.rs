//! The data directory `tollhouse serve` creates or finds: private to its owner.

use crate::harness::{Db, FreshDb, TestServer, config_for};
use tollhouse_core::keys::SigningAlg;

#[tokio::test]
async fn the_sqlite_database_and_data_dir_are_private() {
    use std::os::unix::fs::PermissionsExt as _;
    let fresh = FreshDb::new(Db::Sqlite).await;
    let dir = fresh.data_dir.path().to_path_buf();
    // An existing directory that others may read, as an operator's `mkdir` leaves it.
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).unwrap();
    let config = config_for(&fresh, SigningAlg::RS256);
    let server = TestServer::start_on(fresh, config).await;
    let mode =
        |path: &std::path::Path| std::fs::metadata(path).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&dir), 0o700, "data dir");
    for name in [
        "tollhouse.db",
        "tollhouse.db-wal",
        "tollhouse.db-shm",
        "master.key",
    ] {
        let path = dir.join(name);
        if path.exists() {
            assert_eq!(mode(&path) & 0o077, 0, "{name} is {:o}", mode(&path));
        } else {
            assert_ne!(name, "tollhouse.db", "database file missing");
        }
    }
    server.finish().await;
}
