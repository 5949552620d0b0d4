//! Test support apart from the tests (as svix-server keeps it): servers, doubles and fixtures
//! several test files share. `harness.rs` (the server under test) and `golivepeer.rs` (the
//! go-livepeer double) predate this folder and stay beside it.

pub mod external_idp;
pub mod kafka;
pub mod signer;
pub mod store_fault;
