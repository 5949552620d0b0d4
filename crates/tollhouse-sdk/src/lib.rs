//! The Rust SDK for Tollhouse.
//!
//! [`Client`] is the Builder API and the OIDC flows of one app: users, user tokens, signer
//! sessions, API keys, allowances and balances, usage, the manifest (with its `ETag`), signer
//! routing, settings, plans, signed-ticket ingest, client credentials, token exchange and device
//! approval. [`device`] is the RFC 8628 device flow for CLIs. Every call returns the wire types of
//! [`tollhouse_api`] (re-exported as [`api`]), the same definitions the server serialises, with
//! money as exact integers ([`api::UsdMicros`], [`api::Wei`]), and fails with one [`Error`] that
//! keeps the server's HTTP status, `code` and description apart from transport failures.
//!
//! ```
//! use tollhouse_sdk::Client;
//! let client = Client::builder("https://auth.example.com/api/v1/oidc")
//!     .public_client_id("app_0123456789abcdef01234567")
//!     .m2m_credentials("m2m_0123456789abcdef01234567", "pmth_cs_…")
//!     .build()?;
//! # let _ = client;
//! # Ok::<(), tollhouse_sdk::Error>(())
//! ```
#![warn(missing_docs)]

mod client;
pub mod device;
mod error;

pub use client::{
    Client, ClientBuilder, DEFAULT_DISCOVERY_TTL, ENV_VARS, ManifestFetch, SignerCredential,
    TaggedManifest, Upserted,
};
pub use error::{ApiError, Error};
pub use tollhouse_api as api;

pub mod exchange;
pub mod jwt;
pub mod proxy;
pub mod token_manager;
pub mod webhook;
