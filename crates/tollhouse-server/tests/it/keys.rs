//! Signing-key rotation with an injected clock, and keys encrypted at rest.

use crate::backend_tests;
use crate::harness::{Db, TestServer};
use crate::token::validate_with_jwks;
use serde_json::Value;
use tollhouse_core::keys::SigningAlg;
use tollhouse_server::keyring;

async fn published_kids(server: &TestServer) -> Vec<String> {
    let jwks: Value = server
        .http
        .get(format!("{}/jwks", server.issuer))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    jwks["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["kid"].as_str().unwrap().to_owned())
        .collect()
}

fn kid_of(token: &str) -> String {
    jsonwebtoken::decode_header(token).unwrap().kid.unwrap()
}

async fn introspect_active(server: &TestServer, token: &str) -> bool {
    let body: Value = server
        .http
        .post(format!("{}/token/introspection", server.issuer))
        .basic_auth(&server.app.m2m_client_id, Some(&server.app.m2m_secret))
        .form(&[("token", token)])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    body["active"].as_bool().unwrap()
}

backend_tests! {
    async fn rotation_keeps_old_tokens_valid_until_they_expire(db: Db) {
        let server = TestServer::start(db).await;
        let state = server.state().clone();
        let before = server.m2m_token(&server.app, "users:read").await;
        let old_kid = kid_of(&before);
        assert_eq!(published_kids(&server).await, vec![old_kid.clone()]);

        // `keys rotate`: the new key is published at once but signs only after the delay.
        let delay = state.config.keys.activation_delay_secs;
        let new = keyring::rotate(state.store.as_ref(), &state.sealing, &state.config, SigningAlg::ES256, delay, state.clock.as_ref(), state.rng.as_ref()).await.unwrap();
        state.refresh().await.unwrap();
        let kids = published_kids(&server).await;
        assert!(kids.contains(&old_kid) && kids.contains(&new.kid), "{kids:?}");
        assert_eq!(kid_of(&server.m2m_token(&server.app, "users:read").await), old_kid, "pending key does not sign yet");

        server.clock.advance(delay);
        state.refresh().await.unwrap();
        let after = server.m2m_token(&server.app, "users:read").await;
        assert_eq!(kid_of(&after), new.kid, "new tokens carry the new kid");
        assert_eq!(jsonwebtoken::decode_header(&after).unwrap().alg, jsonwebtoken::Algorithm::ES256);
        // The token signed before the rotation still validates, locally and by JWKS.
        assert!(introspect_active(&server, &before).await);
        validate_with_jwks(&server, &before).await;
        validate_with_jwks(&server, &after).await;

        // Just before the old key's window closes it is still published; after, it is gone.
        let window = state.config.max_token_ttl_secs() + state.config.keys.refresh_secs as i64 + 60;
        server.clock.advance(window - 1);
        state.refresh().await.unwrap();
        assert!(published_kids(&server).await.contains(&old_kid));
        server.clock.advance(1);
        state.refresh().await.unwrap();
        assert_eq!(published_kids(&server).await, vec![new.kid.clone()]);
        // And the row itself is purged from storage.
        let stored = state.store.published_keys(0).await.unwrap();
        assert_eq!(stored.len(), 1);
        server.finish().await;
    }

    async fn private_keys_are_sealed_at_rest(db: Db) {
        let server = TestServer::start(db).await;
        let state = server.state().clone();
        let stored = state.store.published_keys(state.clock.now()).await.unwrap();
        assert_eq!(stored.len(), 1);
        let sealed = &stored[0].private_sealed;
        // The stored bytes open to a PKCS#8 document that appears nowhere in them in clear.
        let der = state.sealing.open(sealed, stored[0].kid.as_bytes()).unwrap();
        assert_eq!(der[0], 0x30, "PKCS#8 is a DER SEQUENCE");
        assert!(!sealed.windows(der.len()).any(|w| w == der.as_slice()));
        assert!(state.sealing.open(sealed, b"another kid").is_err());
        // Secrets are stored as keyed hashes, never in clear.
        let app = state.store.app_by_client_id(&server.app.client_id).await.unwrap().unwrap();
        assert_ne!(app.m2m_secret_hash.as_bytes().as_slice(), server.app.m2m_secret.as_bytes());
        assert!(app.m2m_secret_hash.matches(&state.pepper.hash(&server.app.m2m_secret)));
        server.finish().await;
    }
}

/// A different master key on the same database is refused at start, naming the problem.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_master_key_is_refused() {
    let server = TestServer::start(Db::Sqlite).await;
    let mut config = crate::harness::config_for(&server.db, SigningAlg::RS256);
    let other_key = server.db.data_dir.path().join("other.key");
    std::fs::write(&other_key, "11".repeat(32)).unwrap();
    config.keys.master_key_file = Some(other_key);
    let err = tollhouse_server::start(config, tollhouse_server::Deps::default(), false)
        .await
        .unwrap_err();
    assert!(
        err.to_string().contains("master key does not match"),
        "{err}"
    );
    server.finish().await;
}
