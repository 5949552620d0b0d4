//! The HTTP edge itself (the listener and its connection bounds): silent, half-sent, idle and
//! greedy connections are closed, on both databases.

use crate::backend_tests;
use crate::harness::{FreshDb, TestServer, config_for};
use std::time::Duration;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;
use tollhouse_core::keys::SigningAlg;

/// Reads until the server closes the connection; `true` if it did (EOF or reset) within
/// `limit`. The limit is a bound on a test that would otherwise hang, not a measurement.
async fn closed_within(stream: &mut TcpStream, limit: Duration) -> bool {
    let mut buf = [0u8; 4096];
    let read_all = async {
        loop {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
        }
    };
    tokio::time::timeout(limit, read_all).await.is_ok()
}

backend_tests! {
    async fn slow_idle_and_greedy_connections_are_closed(db: Db) {
        let fresh = FreshDb::new(db).await;
        let mut config = config_for(&fresh, SigningAlg::RS256);
        config.http.header_read_timeout_secs = 1;
        config.http.body_read_timeout_secs = 1;
        config.http.max_connections_per_ip = 4;
        let server = TestServer::start_on(fresh, config).await;
        let addr = server.server.as_ref().unwrap().addr;
        let limit = Duration::from_secs(15);

        // Connected, nothing sent.
        let mut idle = TcpStream::connect(addr).await.unwrap();
        assert!(closed_within(&mut idle, limit).await, "silent connection stays open");
        // Half a request head.
        let mut half = TcpStream::connect(addr).await.unwrap();
        half.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n").await.unwrap();
        assert!(closed_within(&mut half, limit).await, "half-sent head stays open");
        // A keep-alive connection after one answered request.
        let mut kept = TcpStream::connect(addr).await.unwrap();
        kept.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n").await.unwrap();
        let mut first = [0u8; 12];
        kept.read_exact(&mut first).await.unwrap();
        assert_eq!(&first, b"HTTP/1.1 200");
        assert!(closed_within(&mut kept, limit).await, "idle keep-alive connection stays open");
        // Half a body: the request fails and the connection ends.
        let mut body = TcpStream::connect(addr).await.unwrap();
        let head = format!(
            "POST /api/v1/apps/{}/users HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{{\"externalUserId\":",
            server.app.client_id
        );
        body.write_all(head.as_bytes()).await.unwrap();
        assert!(closed_within(&mut body, limit).await, "half-sent body stays open");

        // One address holds at most four; the fifth is closed at once, the four still work.
        let mut held = Vec::new();
        for _ in 0..4 {
            held.push(TcpStream::connect(addr).await.unwrap());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
        let mut fifth = TcpStream::connect(addr).await.unwrap();
        let _ = fifth.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n").await;
        assert!(closed_within(&mut fifth, limit).await, "fifth connection was served");
        for stream in &mut held {
            stream.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n").await.unwrap();
            let mut status = [0u8; 12];
            stream.read_exact(&mut status).await.unwrap();
            assert_eq!(&status, b"HTTP/1.1 200");
        }
        drop(held);
        tokio::time::sleep(Duration::from_millis(100)).await;
        let again = server.http.get(server.url("/healthz")).send().await.unwrap();
        assert_eq!(again.status(), 200, "a slot is free again once connections close");
        let metrics = server.http.get(server.url("/metrics")).send().await.unwrap().text().await.unwrap();
        assert!(metrics.lines().any(|l| l.starts_with("tollhouse_connections_refused_total ") && !l.ends_with(" 0")), "{metrics}");
        server.finish().await;
    }
}
