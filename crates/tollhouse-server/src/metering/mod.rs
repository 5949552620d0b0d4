//! Metering: go-livepeer's usage events from Kafka (and HTTP), valued exactly and charged
//! against users' prepaid allowances as they arrive.

pub mod ingest;
pub mod kafka;
pub mod price;
mod state;

pub use state::{MeteringShared, MeteringState};
