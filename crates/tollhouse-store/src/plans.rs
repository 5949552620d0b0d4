//! Retail plans (see migration 0011): immutable prices per pipeline and model, at most one
//! active plan per app.

use crate::{SqlStore, StoreError};
use sqlx::Row as _;
use sqlx::any::AnyRow;
use tollhouse_core::UnixTime;

/// A price: a rate (nano-USD per network micro-USD) or a markup (tenths of a percent).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StoredPrice {
    /// Nano-USD per network micro-USD.
    Rate(i64),
    /// Tenths of a percent over the network fee.
    Markup(i64),
}

/// One pipeline's (and model's) price in a plan.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlanRateRecord {
    /// Pipeline.
    pub pipeline: String,
    /// Model (`""`: every model of the pipeline without its own price).
    pub model_id: String,
    /// The price.
    pub price: StoredPrice,
}

/// A plan as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlanRecord {
    /// Plan id.
    pub id: String,
    /// The app.
    pub client_id: String,
    /// Name.
    pub name: String,
    /// Whether it is the app's active plan.
    pub active: bool,
    /// The price of pipelines no rate names.
    pub default_price: Option<StoredPrice>,
    /// Included micro-USD per cycle.
    pub included_usd_micros: Option<i64>,
    /// `monthly` or `none`.
    pub billing_cycle: String,
    /// Prices per pipeline and model, in the order given.
    pub rates: Vec<PlanRateRecord>,
    /// Creation time.
    pub created_at: UnixTime,
    /// When it last became the active plan.
    pub synced_at: Option<UnixTime>,
}

/// Storage of plans.
#[async_trait::async_trait]
pub trait PlanRepository {
    /// Stores a new plan; an active one archives the app's previous active plan, atomically.
    async fn insert_plan(&self, plan: &PlanRecord) -> Result<(), StoreError>;
    /// The app's plans, newest first.
    async fn plans(&self, client_id: &str) -> Result<Vec<PlanRecord>, StoreError>;
    /// The app's active plan.
    async fn active_plan(&self, client_id: &str) -> Result<Option<PlanRecord>, StoreError>;
    /// Makes plan `id` of the app the active one (archiving the other) and records the time;
    /// `None` if the app has no such plan.
    async fn activate_plan(
        &self,
        client_id: &str,
        id: &str,
        now: UnixTime,
    ) -> Result<Option<PlanRecord>, StoreError>;
}

fn split(price: Option<StoredPrice>) -> (Option<i64>, Option<i64>) {
    match price {
        Some(StoredPrice::Rate(r)) => (Some(r), None),
        Some(StoredPrice::Markup(m)) => (None, Some(m)),
        None => (None, None),
    }
}

fn join(rate: Option<i64>, markup: Option<i64>) -> Result<Option<StoredPrice>, StoreError> {
    match (rate, markup) {
        (Some(r), None) => Ok(Some(StoredPrice::Rate(r))),
        (None, Some(m)) => Ok(Some(StoredPrice::Markup(m))),
        (None, None) => Ok(None),
        (Some(_), Some(_)) => Err(StoreError::Corrupt(
            "plan price is both rate and markup".into(),
        )),
    }
}

const PLAN_COLUMNS: &str = "id, client_id, name, status, default_rate_nanos, default_markup_tenths, \
    included_usd_micros, billing_cycle, created_at, synced_at";

impl SqlStore {
    async fn plan_from_row(&self, row: &AnyRow) -> Result<PlanRecord, StoreError> {
        let id: String = row.try_get("id")?;
        let rates = sqlx::query(
            "SELECT pipeline, model_id, rate_nanos, markup_tenths FROM plan_rates \
             WHERE plan_id = $1 ORDER BY position",
        )
        .bind(&id)
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(|r| {
            Ok(PlanRateRecord {
                pipeline: r.try_get("pipeline")?,
                model_id: r.try_get("model_id")?,
                price: join(r.try_get("rate_nanos")?, r.try_get("markup_tenths")?)?
                    .ok_or_else(|| StoreError::Corrupt("plan rate without a price".into()))?,
            })
        })
        .collect::<Result<Vec<_>, StoreError>>()?;
        let status: String = row.try_get("status")?;
        Ok(PlanRecord {
            id,
            client_id: row.try_get("client_id")?,
            name: row.try_get("name")?,
            active: status == "active",
            default_price: join(
                row.try_get("default_rate_nanos")?,
                row.try_get("default_markup_tenths")?,
            )?,
            included_usd_micros: row.try_get("included_usd_micros")?,
            billing_cycle: row.try_get("billing_cycle")?,
            rates,
            created_at: row.try_get("created_at")?,
            synced_at: row.try_get("synced_at")?,
        })
    }
}

#[async_trait::async_trait]
impl PlanRepository for SqlStore {
    async fn insert_plan(&self, plan: &PlanRecord) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await?;
        if plan.active {
            sqlx::query(
                "UPDATE plans SET status = 'archived' WHERE client_id = $1 AND status = 'active'",
            )
            .bind(&plan.client_id)
            .execute(&mut *tx)
            .await?;
        }
        let (rate, markup) = split(plan.default_price);
        sqlx::query(
            "INSERT INTO plans (id, client_id, name, status, default_rate_nanos, default_markup_tenths, \
             included_usd_micros, billing_cycle, created_at, synced_at, ordinal) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, \
             (SELECT COALESCE(MAX(ordinal), 0) + 1 FROM plans WHERE client_id = $2))",
        )
        .bind(&plan.id)
        .bind(&plan.client_id)
        .bind(&plan.name)
        .bind(if plan.active { "active" } else { "archived" })
        .bind(rate)
        .bind(markup)
        .bind(plan.included_usd_micros)
        .bind(&plan.billing_cycle)
        .bind(plan.created_at)
        .bind(plan.synced_at)
        .execute(&mut *tx)
        .await?;
        for (position, r) in plan.rates.iter().enumerate() {
            let (rate, markup) = split(Some(r.price));
            sqlx::query(
                "INSERT INTO plan_rates (plan_id, pipeline, model_id, position, rate_nanos, markup_tenths) \
                 VALUES ($1, $2, $3, $4, $5, $6)",
            )
            .bind(&plan.id)
            .bind(&r.pipeline)
            .bind(&r.model_id)
            .bind(i64::try_from(position).unwrap_or(i64::MAX))
            .bind(rate)
            .bind(markup)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    async fn plans(&self, client_id: &str) -> Result<Vec<PlanRecord>, StoreError> {
        let rows = sqlx::query(&format!(
            "SELECT {PLAN_COLUMNS} FROM plans WHERE client_id = $1 ORDER BY ordinal DESC"
        ))
        .bind(client_id)
        .fetch_all(&self.pool)
        .await?;
        let mut plans = Vec::with_capacity(rows.len());
        for row in &rows {
            plans.push(self.plan_from_row(row).await?);
        }
        Ok(plans)
    }

    async fn active_plan(&self, client_id: &str) -> Result<Option<PlanRecord>, StoreError> {
        let row = sqlx::query(&format!(
            "SELECT {PLAN_COLUMNS} FROM plans WHERE client_id = $1 AND status = 'active'"
        ))
        .bind(client_id)
        .fetch_optional(&self.pool)
        .await?;
        match row {
            Some(row) => Ok(Some(self.plan_from_row(&row).await?)),
            None => Ok(None),
        }
    }

    async fn activate_plan(
        &self,
        client_id: &str,
        id: &str,
        now: UnixTime,
    ) -> Result<Option<PlanRecord>, StoreError> {
        let mut tx = self.pool.begin().await?;
        let exists = sqlx::query("SELECT id FROM plans WHERE client_id = $1 AND id = $2")
            .bind(client_id)
            .bind(id)
            .fetch_optional(&mut *tx)
            .await?
            .is_some();
        if !exists {
            return Ok(None);
        }
        sqlx::query(
            "UPDATE plans SET status = 'archived' WHERE client_id = $1 AND status = 'active' AND id <> $2",
        )
        .bind(client_id)
        .bind(id)
        .execute(&mut *tx)
        .await?;
        sqlx::query("UPDATE plans SET status = 'active', synced_at = $1 WHERE id = $2")
            .bind(now)
            .bind(id)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        let row = sqlx::query(&format!("SELECT {PLAN_COLUMNS} FROM plans WHERE id = $1"))
            .bind(id)
            .fetch_one(&self.pool)
            .await?;
        self.plan_from_row(&row).await.map(Some)
    }
}
