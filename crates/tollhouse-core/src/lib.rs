//! Tollhouse's pure domain: identifiers, credentials, scopes, claims, signing keys and the clock.
//!
//! Nothing here performs I/O or reads the wall clock: time arrives as a [`Clock`] parameter and
//! randomness through [`Random`], so expiry and rotation are tested without sleeping.

pub mod allowance;
pub mod app;
pub mod authorization;
pub mod bounds;
pub mod claims;
pub mod clock;
pub mod ids;
pub mod keys;
pub mod master_key;
pub mod money;
pub mod random;
pub mod retail;
pub mod rooms;
pub mod scope;
pub mod secret;
pub mod usage;
pub mod user;
pub mod webhook;

pub use clock::{Clock, ManualClock, SystemClock, UnixTime};
pub use random::{OsRandom, Random, SeededRandom};
