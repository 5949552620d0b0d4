//! Tollhouse wire types: the request and response bodies of the Builder API, the Usage API and
//! the OIDC endpoints, shared by the server and the SDK so there is one definition of each.
//!
//! Field names follow the wire (camelCase in the Builder API, snake_case in OAuth responses);
//! money fields are exact types that serialise as decimal strings
//! ([`Wei`], [`UsdMicros`]).
//! With the `openapi` feature every type is also a `utoipa` schema.
//!
//! ```
//! use tollhouse_api::allowances::BalanceView;
//! let balance: BalanceView = serde_json::from_str(r#"{
//!     "balanceUsdMicros": "-250", "consumedUsdMicros": "1000250", "externalUserId": "ada",
//!     "hasAccess": false, "lifetimeGrantedUsdMicros": "1000000", "remainingUsdMicros": "0"
//! }"#).unwrap();
//! assert_eq!(balance.balance_usd_micros.get(), -250);
//! ```
//!
//! # Unknown fields
//!
//! Without the `openapi` feature, response types ignore fields they do not know, so a client
//! keeps working when a server adds one. With it (the server's build), response types refuse
//! undeclared fields: that is how their schemas get `additionalProperties: false`, and it makes
//! any drift between what the server sends and what these types declare fail loudly in the
//! server's tests.
#![warn(missing_docs)]

pub mod allowances;
pub mod end_user;
pub mod error;
pub mod keys;
pub mod manifest;
pub mod oauth;
pub mod plans;
pub mod rooms;
pub mod settings;
pub mod stream_keys;
pub mod tickets;
pub mod usage;
pub mod users;
pub mod webhook;

pub use tollhouse_core::money::{UsdMicros, Wei};
