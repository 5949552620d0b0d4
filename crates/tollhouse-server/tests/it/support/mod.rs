//! Test support apart from the tests (as svix-server keeps it): servers, doubles and fixtures
//! several test files share. `golivepeer` is the go-livepeer double (written from go-livepeer's
//! Go code, with tests of its own that pin it to that code); `harness.rs` (the server under
//! test and the `backend_tests!` macro) predates this folder and stays beside it.

pub mod builder;
pub mod external_idp;
pub mod gateway;
pub mod golivepeer;
pub mod kafka;
pub mod signer;
pub mod store_fault;
