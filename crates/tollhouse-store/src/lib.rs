//! Tollhouse's repositories: traits the server programs against, implemented once over sqlx's
//! `Any` driver for SQLite (the embedded default) and PostgreSQL.
//!
//! Both dialects accept the same `$N` placeholders and `ON CONFLICT` upserts, so each query is
//! written once; only the migrations differ (`migrations/sqlite`, `migrations/postgres`). On
//! PostgreSQL the Usage API's report reads run the same SQL through sqlx's native driver
//! (`SqlStore::report_pool`), which decodes rows in place instead of copying them.

mod allowances;
mod apps;
mod batch_table;
mod devices;
mod error;
mod keys;
mod plans;
mod revocations;
mod rooms;
mod sessions;
mod settings;
mod signer;
mod sql;
mod sql_batch;
mod usage;
mod users;

pub use allowances::{AllowanceRepository, ApiKeyRecord};
pub use apps::AppRepository;
pub use devices::{DeviceGrant, DeviceRepository};
pub use error::StoreError;
pub use keys::{KeyRepository, StoredKey};
pub use plans::{PlanRateRecord, PlanRecord, PlanRepository, StoredPrice};
pub use revocations::RevocationRepository;
pub use rooms::{RoomRecord, RoomRepository, RoomSecrets};
pub use sessions::{RefreshRecord, Rotation, SessionRecord, SessionRepository};
pub use settings::SettingsRepository;
pub use signer::{SignerPolicyRecord, SignerRepository, StreamKeyRecord};
pub use sql::{Backend, SqlStore};
pub use usage::cover::{BlockRun, SPANS, cover};
pub use usage::query::{
    GroupKeys, ManifestCursor, ManifestPage, UsageFilter, UsageGroup, UsageQueryRepository,
};
pub use usage::{
    Attribution, DeadLetterRow, IngestCounts, MAX_EVENT_BILLABLE_MICROS, OverLimit, RollupSums,
    StoredDeadLetter, UsageEventRow, UsageRepository,
};
pub use users::{Upserted, UserRepository};

/// Everything the server needs from storage.
#[async_trait::async_trait]
pub trait Store:
    AllowanceRepository
    + AppRepository
    + DeviceRepository
    + KeyRepository
    + PlanRepository
    + RevocationRepository
    + RoomRepository
    + SessionRepository
    + SettingsRepository
    + SignerRepository
    + UsageRepository
    + UsageQueryRepository
    + UserRepository
    + Send
    + Sync
    + std::fmt::Debug
{
    /// Which database this is.
    fn backend(&self) -> Backend;

    /// A cheap round trip, for readiness checks.
    async fn ping(&self) -> Result<(), StoreError>;

    /// Closes every connection; later calls fail with [`StoreError::Database`].
    async fn close(&self);
}
