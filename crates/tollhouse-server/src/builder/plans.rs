//! `GET/POST A/plans`, `POST A/plans/{id}/sync`: an app's retail prices, which the Usage API's
//! `include=retail` applies. Shapes follow the builder-sdk's `listBillingProducts` and
//! `syncBillingProduct`. Tollhouse has no external billing system to push a plan to, so
//! "sync" means: make this plan's rates the ones in effect (the app's active plan).

use super::error::{BodyTooLarge, BuilderError, BuilderErrors};
use super::extract::{AppCaller, AppPath, BuilderJson, BuilderPath};
use crate::state::AppState;
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use std::collections::HashSet;
use tollhouse_api::plans::{
    AllowancePolicy, CapabilityPrice, CreatePlan, Plan, PlanList, PlanStatus, PlanSyncResult,
    SyncState,
};
use tollhouse_core::ids::generate_uuid;
use tollhouse_core::money::UsdMicros;
use tollhouse_core::retail::{MarkupPercent, RetailRate};
use tollhouse_store::{PlanRateRecord, PlanRecord, StoreError, StoredPrice};

/// Most capability prices one plan may carry.
const MAX_CAPABILITIES: usize = 256;

/// The rate a plan bills (pipeline, model) at: the model's own price, else the pipeline's,
/// else the plan's default, else at cost.
pub fn retail_rate(plan: &PlanRecord, pipeline: &str, model_id: &str) -> RetailRate {
    let find = |model: &str| {
        plan.rates
            .iter()
            .find(|r| r.pipeline == pipeline && r.model_id == model)
            .map(|r| r.price)
    };
    find(model_id)
        .or_else(|| find(""))
        .or(plan.default_price)
        .map_or(RetailRate::AT_COST, price_rate)
}

fn price_rate(price: StoredPrice) -> RetailRate {
    // Stored prices were validated on the way in; a row edited by hand falls back to cost.
    match price {
        StoredPrice::Rate(nanos) => u64::try_from(nanos)
            .ok()
            .and_then(|n| RetailRate::from_nanos(n).ok())
            .unwrap_or(RetailRate::AT_COST),
        StoredPrice::Markup(tenths) => u64::try_from(tenths)
            .ok()
            .and_then(|t| MarkupPercent::from_tenths(t).ok())
            .map_or(RetailRate::AT_COST, RetailRate::from_markup),
    }
}

fn stored(
    rate: Option<RetailRate>,
    markup: Option<MarkupPercent>,
    what: &str,
) -> Result<Option<StoredPrice>, BuilderError> {
    let nanos = |n: u64| i64::try_from(n).map_err(|_| BuilderError::invalid("rate out of range"));
    match (rate, markup) {
        (Some(_), Some(_)) => Err(BuilderError::invalid(format!(
            "{what}: give a retail rate or a markup, not both"
        ))),
        (Some(r), None) => Ok(Some(StoredPrice::Rate(nanos(r.nanos())?))),
        (None, Some(m)) => Ok(Some(StoredPrice::Markup(nanos(m.tenths())?))),
        (None, None) => Ok(None),
    }
}

fn label(text: &str, what: &str, max: usize) -> Result<String, BuilderError> {
    let trimmed = text.trim();
    if trimmed.is_empty() || trimmed.len() > max || trimmed.chars().any(char::is_control) {
        return Err(BuilderError::invalid(format!(
            "{what} must be 1 to {max} bytes of printable text"
        )));
    }
    Ok(trimmed.to_owned())
}

fn rfc3339(at: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp(at)
        .ok()
        .and_then(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_default()
}

fn sync_state(plan: &PlanRecord) -> SyncState {
    SyncState {
        status: if plan.synced_at.is_some() {
            "synced"
        } else {
            "not_applicable"
        }
        .into(),
        synced_at: plan.synced_at.map(rfc3339),
        error_code: None,
        error_message: None,
    }
}

fn wire(plan: &PlanRecord) -> Plan {
    Plan {
        id: plan.id.clone(),
        client_id: plan.client_id.clone(),
        name: plan.name.clone(),
        plan_type: "usage".into(),
        status: if plan.active {
            PlanStatus::Active
        } else {
            PlanStatus::Archived
        },
        price_amount: "0".into(),
        price_currency: "USD".into(),
        is_network_default: false,
        is_starter_default: plan.active,
        allowance: AllowancePolicy {
            included_usd_micros: plan.included_usd_micros.map(UsdMicros::new),
            billing_cycle: plan.billing_cycle.clone(),
        },
        // The rate in effect, whether the default was given as a rate or as a markup.
        default_retail_rate_usd: plan.default_price.map(price_rate),
        capabilities: plan
            .rates
            .iter()
            .map(|r| {
                let (rate, markup) = split_price(Some(r.price));
                CapabilityPrice {
                    pipeline: r.pipeline.clone(),
                    model_id: r.model_id.clone(),
                    retail_rate_usd: rate,
                    markup_percent: markup,
                    effective_retail_rate_usd: price_rate(r.price),
                    feature_key: if r.model_id.is_empty() {
                        r.pipeline.clone()
                    } else {
                        format!("{}:{}", r.pipeline, r.model_id)
                    },
                }
            })
            .collect(),
        sync: sync_state(plan),
        created_at: rfc3339(plan.created_at),
    }
}

/// A stored price as the wire's (rate as given, markup as given).
fn split_price(price: Option<StoredPrice>) -> (Option<RetailRate>, Option<MarkupPercent>) {
    match price {
        Some(StoredPrice::Rate(_)) => (price.map(price_rate), None),
        Some(StoredPrice::Markup(t)) => (
            None,
            u64::try_from(t)
                .ok()
                .and_then(|t| MarkupPercent::from_tenths(t).ok()),
        ),
        None => (None, None),
    }
}

fn record(
    client_id: &str,
    body: CreatePlan,
    id: String,
    now: i64,
) -> Result<PlanRecord, BuilderError> {
    if body.capabilities.len() > MAX_CAPABILITIES {
        return Err(BuilderError::invalid(format!(
            "a plan has at most {MAX_CAPABILITIES} capabilities"
        )));
    }
    let billing_cycle = match body.billing_cycle.as_deref() {
        None | Some("monthly") => "monthly",
        Some("none") => "none",
        Some(_) => {
            return Err(BuilderError::invalid(
                "billingCycle must be `monthly` or `none`",
            ));
        }
    };
    if body.included_usd_micros.is_some_and(|m| m.get() < 0) {
        return Err(BuilderError::invalid(
            "includedUsdMicros must not be negative",
        ));
    }
    let mut seen = HashSet::new();
    let mut rates = Vec::with_capacity(body.capabilities.len());
    for c in body.capabilities {
        let pipeline = label(&c.pipeline, "capabilities[].pipeline", 128)?;
        let model_id = match c.model_id.as_deref() {
            None | Some("") => String::new(),
            Some(m) => label(m, "capabilities[].modelId", 256)?,
        };
        let price =
            stored(c.retail_rate_usd, c.markup_percent, "capabilities[]")?.ok_or_else(|| {
                BuilderError::invalid("capabilities[]: give retailRateUsd or markupPercent")
            })?;
        if !seen.insert((pipeline.clone(), model_id.clone())) {
            return Err(BuilderError::invalid(format!(
                "capabilities[]: `{pipeline}` / `{model_id}` is priced twice"
            )));
        }
        rates.push(PlanRateRecord {
            pipeline,
            model_id,
            price,
        });
    }
    let active = body.status.unwrap_or_default() == PlanStatus::Active;
    Ok(PlanRecord {
        id,
        client_id: client_id.to_owned(),
        name: label(&body.name, "name", 128)?,
        active,
        default_price: stored(
            body.default_retail_rate_usd,
            body.default_markup_percent,
            "default",
        )?,
        included_usd_micros: body.included_usd_micros.map(UsdMicros::get),
        billing_cycle: billing_cycle.into(),
        rates,
        created_at: now,
        synced_at: active.then_some(now),
    })
}

/// `GET A/plans`.
#[utoipa::path(
    get,
    path = "/api/v1/apps/{client_id}/plans",
    operation_id = "listPlans",
    tag = "builder",
    params(AppPath),
    security(("m2m_basic" = [])),
    responses((status = 200, description = "The app's plans, newest first", body = PlanList), BuilderErrors)
)]
pub async fn list(
    State(state): State<AppState>,
    AppCaller(app): AppCaller,
) -> Result<Json<PlanList>, BuilderError> {
    let plans = state.store.plans(app.client_id.as_str()).await?;
    Ok(Json(PlanList {
        api_version: 2,
        products: plans.iter().map(wire).collect(),
    }))
}

/// `POST A/plans`: a new plan; an active one (the default) replaces the active plan.
#[utoipa::path(
    post,
    path = "/api/v1/apps/{client_id}/plans",
    operation_id = "createPlan",
    tag = "builder",
    params(AppPath),
    request_body(content = CreatePlan, content_type = "application/json"),
    security(("m2m_basic" = [])),
    responses(
        (status = 201, description = "The plan", body = Plan),
        BuilderErrors,
        BodyTooLarge
    )
)]
pub async fn create(
    State(state): State<AppState>,
    AppCaller(app): AppCaller,
    BuilderJson(body): BuilderJson<CreatePlan>,
) -> Result<(StatusCode, Json<Plan>), BuilderError> {
    let plan = record(
        app.client_id.as_str(),
        body,
        generate_uuid(state.rng.as_ref()),
        state.clock.now(),
    )?;
    match state.store.insert_plan(&plan).await {
        Ok(()) => Ok((StatusCode::CREATED, Json(wire(&plan)))),
        // Two plans activated at once: the unique active index refused the second.
        Err(StoreError::Conflict) => Err(BuilderError::Conflict(
            "another plan was activated at the same time; retry".into(),
        )),
        Err(e) => Err(e.into()),
    }
}

/// `POST A/plans/{id}/sync`: puts the plan's rates in effect (it becomes the active plan).
#[utoipa::path(
    post,
    path = "/api/v1/apps/{client_id}/plans/{plan_id}/sync",
    operation_id = "syncPlan",
    tag = "builder",
    params(
        AppPath,
        ("plan_id" = String, Path, description = "The plan's id")
    ),
    security(("m2m_basic" = [])),
    responses((status = 200, description = "The plan is in effect", body = PlanSyncResult), BuilderErrors)
)]
pub async fn sync(
    State(state): State<AppState>,
    AppCaller(app): AppCaller,
    BuilderPath((_, plan_id)): BuilderPath<(String, String)>,
) -> Result<Json<PlanSyncResult>, BuilderError> {
    let plan = match state
        .store
        .activate_plan(app.client_id.as_str(), &plan_id, state.clock.now())
        .await
    {
        Ok(Some(plan)) => plan,
        Ok(None) => return Err(BuilderError::NotFound("no such plan".into())),
        Err(StoreError::Conflict) => {
            return Err(BuilderError::Conflict(
                "another plan was activated at the same time; retry".into(),
            ));
        }
        Err(e) => return Err(e.into()),
    };
    Ok(Json(PlanSyncResult {
        plan_id: plan.id.clone(),
        ok: true,
        sync: sync_state(&plan),
        openmeter_plan_id: None,
    }))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn plan(default: Option<StoredPrice>, rates: &[(&str, &str, StoredPrice)]) -> PlanRecord {
        PlanRecord {
            id: "p".into(),
            client_id: "app".into(),
            name: "n".into(),
            active: true,
            default_price: default,
            included_usd_micros: None,
            billing_cycle: "monthly".into(),
            rates: rates
                .iter()
                .map(|(p, m, price)| PlanRateRecord {
                    pipeline: (*p).into(),
                    model_id: (*m).into(),
                    price: *price,
                })
                .collect(),
            created_at: 0,
            synced_at: None,
        }
    }

    #[test]
    fn rates_fall_back_from_model_to_pipeline_to_default_to_cost() {
        let p = plan(
            Some(StoredPrice::Markup(500)),
            &[
                ("lv2v", "sd", StoredPrice::Rate(3_000)),
                ("lv2v", "", StoredPrice::Rate(2_000)),
            ],
        );
        assert_eq!(retail_rate(&p, "lv2v", "sd").nanos(), 3_000);
        assert_eq!(retail_rate(&p, "lv2v", "other").nanos(), 2_000);
        assert_eq!(retail_rate(&p, "live", "").nanos(), 1_500, "+50 % default");
        assert_eq!(retail_rate(&plan(None, &[]), "x", "y"), RetailRate::AT_COST);
    }
}
