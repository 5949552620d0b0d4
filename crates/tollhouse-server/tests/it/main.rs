#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]
//! The one integration test binary. Every test in a `backend_tests!` block runs against a real
//! server on a random port, once on SQLite and once on a fresh PostgreSQL schema.

mod harness;

mod authorization_schemes;
mod balance_reads;
mod builder_allowances;
mod builder_api_keys;
mod builder_manifest;
mod builder_matrix;
mod builder_stream_keys;
mod builder_users;
mod cli;
mod compat;
mod data_dir;
mod device;
mod device_page;
mod exchange;
mod exchange_lineage;
mod http_edge;
mod introspection_revocation;
mod kafka;
mod kafka_crash;
mod keys;
mod live_ai;
mod metering_ingest;
mod openapi;
mod ops;
mod proxy;
mod retail;
mod rooms;
mod sdk_client;
mod sdk_integrator;
mod store_outage;
mod support;
mod token;
mod usage;
mod usage_bounds;
mod usage_model;
mod usage_periods;
mod usage_ranges;
mod userinfo;
mod webhook;
