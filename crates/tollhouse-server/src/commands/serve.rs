//! `tollhouse serve`: the HTTP server, until SIGINT or SIGTERM.

use super::AnyError;
use tollhouse_server::config::Config;
use tollhouse_server::{Deps, start};

pub(super) async fn run(config: Config) -> Result<(), AnyError> {
    let server = start(config, Deps::default(), true).await?;
    let state = &server.state;
    tracing::info!(addr = %server.addr, issuer = %state.issuer, backend = ?state.store.backend(), "tollhouse listening");
    if let Some(demo) = &server.demo_app {
        // Printed to stdout once, never logged: this is the only time the secret exists in clear.
        println!(
            "\nTollhouse created a demo app. Its secret is shown only this once:\n\n  issuer             {issuer}\n  public client id   {client}\n  M2M client id      {m2m}\n  M2M client secret  {secret}\n\nTry it:\n\n  curl -s -u '{m2m}:{secret}' -d grant_type=client_credentials -d scope=users:read {issuer}/token\n",
            issuer = state.issuer,
            client = demo.app.client_id,
            m2m = demo.app.m2m_client_id,
            secret = demo.m2m_client_secret,
        );
    }
    let stop = server.shutdown_handle();
    tokio::spawn(async move {
        shutdown_signal().await;
        tracing::info!("shutting down");
        let _ = stop.send(true);
    });
    server.wait().await;
    Ok(())
}

async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        if let Ok(mut term) =
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        {
            tokio::select! { _ = ctrl_c => {}, _ = term.recv() => {} }
            return;
        }
    }
    let _ = ctrl_c.await;
}
