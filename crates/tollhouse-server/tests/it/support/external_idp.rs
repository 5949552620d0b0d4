//! A tiny external OIDC issuer for the `oidc` verifier's tests: OIDC discovery and a JWKS whose
//! keys the test controls (publish, rotate, withdraw), counting the key-set fetches. It serves
//! what any OIDC issuer serves (OpenID Connect Discovery 1.0 §3–4, RFC 7517), nothing of ours.

use serde_json::{Value, json};
use std::sync::{Arc, Mutex};
use tollhouse_core::keys::{SigningAlg, SigningKey};

/// A tiny OIDC provider: discovery and a JWKS whose keys the test controls, counting fetches.
pub struct ExternalIdp {
    pub url: String,
    pub keys: Arc<Mutex<Vec<Value>>>,
    jwks_fetches: Arc<Mutex<u32>>,
    _task: tokio::task::JoinHandle<()>,
}

impl ExternalIdp {
    pub async fn start() -> ExternalIdp {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let keys: Arc<Mutex<Vec<Value>>> = Arc::default();
        let fetches: Arc<Mutex<u32>> = Arc::default();
        let (issuer, k, f) = (url.clone(), keys.clone(), fetches.clone());
        let app = axum::Router::new()
            .route(
                "/.well-known/openid-configuration",
                axum::routing::get(move || {
                    let issuer = issuer.clone();
                    async move {
                        axum::Json(json!({"issuer": issuer, "jwks_uri": format!("{issuer}/jwks")}))
                    }
                }),
            )
            .route(
                "/jwks",
                axum::routing::get(move || {
                    let (k, f) = (k.clone(), f.clone());
                    async move {
                        *f.lock().unwrap() += 1;
                        axum::Json(json!({"keys": k.lock().unwrap().clone()}))
                    }
                }),
            );
        let task = tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        ExternalIdp {
            url,
            keys,
            jwks_fetches: fetches,
            _task: task,
        }
    }

    pub fn new_key(&self, publish: bool) -> SigningKey {
        let (key, _) = SigningKey::generate(SigningAlg::ES256).unwrap();
        if publish {
            self.keys.lock().unwrap().push(key.public().jwk().clone());
        }
        key
    }

    pub fn token(&self, key: &SigningKey, claims: Value) -> String {
        let mut full = json!({"iss": self.url, "sub": "idp-subject-1", "azp": "app_from_claim", "scope": "openid sign:job", "exp": crate::harness::wall_clock_now() + 600, "iat": crate::harness::wall_clock_now()});
        for (k, v) in claims.as_object().unwrap() {
            full[k] = v.clone();
        }
        key.sign_access_token(&full).unwrap()
    }

    pub fn fetches(&self) -> u32 {
        *self.jwks_fetches.lock().unwrap()
    }
}
