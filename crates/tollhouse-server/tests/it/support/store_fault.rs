//! Making the real database stall under a running server, the way an operator sees it fail:
//! PostgreSQL behind a relay that stops passing bytes (a partitioned or hung host: connections
//! stay open, nothing answers, new ones are accepted and never greeted), and SQLite with another
//! process holding the write lock.

use sqlx::Connection as _;
use std::sync::{Arc, Mutex};
use tokio::io::AsyncWriteExt as _;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// A TCP relay between the server and PostgreSQL that can be told to stall.
pub struct PgRelay {
    /// `url` with the relay's address in place of PostgreSQL's.
    pub url: String,
    stalled: watch::Sender<bool>,
    tasks: Arc<Mutex<Vec<JoinHandle<()>>>>,
    accept: JoinHandle<()>,
}

/// `host:port` of a `postgres://user@host:port/db?…` URL.
fn authority(url: &str) -> &str {
    let rest = url.split_once("://").map_or(url, |(_, rest)| rest);
    let rest = rest.split_once('@').map_or(rest, |(_, rest)| rest);
    rest.split(['/', '?']).next().unwrap_or(rest)
}

impl PgRelay {
    /// Relays to the PostgreSQL of `url`.
    pub async fn start(url: &str) -> PgRelay {
        let upstream = authority(url).to_owned();
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let relay_url = url.replacen(&upstream, &listener.local_addr().unwrap().to_string(), 1);
        let (stalled, _) = watch::channel(false);
        let tasks: Arc<Mutex<Vec<JoinHandle<()>>>> = Arc::default();
        let accept = {
            let stalled = stalled.clone();
            let tasks = tasks.clone();
            tokio::spawn(async move {
                while let Ok((mut client, _)) = listener.accept().await {
                    let mut stop = stalled.subscribe();
                    let upstream = upstream.clone();
                    let task = tokio::spawn(async move {
                        let stalled_now = *stop.borrow();
                        if stalled_now {
                            // Accepted and never answered: the startup message waits for ever.
                            std::future::pending::<()>().await;
                        }
                        let Ok(mut server) = TcpStream::connect(&upstream).await else {
                            let _ = client.shutdown().await;
                            return;
                        };
                        let stalled = tokio::select! {
                            _ = tokio::io::copy_bidirectional(&mut client, &mut server) => false,
                            _ = stop.wait_for(|s| *s) => true,
                        };
                        if stalled {
                            // Both sockets stay open; nothing more crosses.
                            std::future::pending::<()>().await;
                        }
                    });
                    tasks.lock().unwrap().push(task);
                }
            })
        };
        PgRelay {
            url: relay_url,
            stalled,
            tasks,
            accept,
        }
    }

    /// From now on no byte crosses, on open connections or new ones.
    pub fn stall(&self) {
        self.stalled.send_replace(true);
    }

    /// Closes every relayed connection, so the server's pool sees them end and can shut down.
    pub fn close_all(&self) {
        for task in self.tasks.lock().unwrap().drain(..) {
            task.abort();
        }
    }
}

impl Drop for PgRelay {
    fn drop(&mut self) {
        self.accept.abort();
        self.close_all();
    }
}

/// Another process's write transaction on a SQLite database: every writer of the server waits
/// for it (for its busy timeout) while it is held.
pub struct SqliteWriteLock {
    conn: sqlx::SqliteConnection,
}

impl SqliteWriteLock {
    /// Takes the write lock of the database at `url`.
    pub async fn take(url: &str) -> SqliteWriteLock {
        let mut conn = sqlx::SqliteConnection::connect(url).await.unwrap();
        sqlx::query("BEGIN IMMEDIATE")
            .execute(&mut conn)
            .await
            .unwrap();
        SqliteWriteLock { conn }
    }

    /// Gives the lock back.
    pub async fn release(mut self) {
        sqlx::query("ROLLBACK")
            .execute(&mut self.conn)
            .await
            .unwrap();
    }
}
