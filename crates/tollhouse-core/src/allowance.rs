//! Prepaid allowances: immutable grants and the balance they leave (spec: metering.md).

use crate::UnixTime;
use std::collections::BTreeMap;

/// Where a grant came from.
pub const GRANT_SOURCES: &[&str] = &["trial", "manual", "promo", "plan_adjustment"];

/// The largest single grant accepted: $1,000,000,000 in micro-USD. Keeps every sum far inside
/// `i64` whatever the number of grants a user collects.
pub const MAX_GRANT_USD_MICROS: i64 = 1_000_000_000_000_000;

/// The most grants one user may hold. A balance is computed from every grant the user ever had
/// (an expired grant still decides which usage it covered), so this bounds what each balance
/// read costs, and with [`MAX_GRANT_USD_MICROS`] it keeps the lifetime total below 10^18
/// micro-USD, inside `i64` with room to spare (even with a few concurrent inserts over the
/// count, see the store).
pub const MAX_GRANTS_PER_USER: i64 = 1000;

/// One immutable grant of prepaid allowance.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Grant {
    /// Grant id (UUID).
    pub id: String,
    /// The app.
    pub client_id: String,
    /// The user's Tollhouse id.
    pub user_id: String,
    /// Amount in micro-USD (> 0).
    pub amount_usd_micros: i64,
    /// One of [`GRANT_SOURCES`].
    pub source: String,
    /// Optional feature the grant is for.
    pub feature_key: Option<String>,
    /// From when it counts.
    pub effective_at: UnixTime,
    /// Until when it counts (`None`: forever).
    pub expires_at: Option<UnixTime>,
    /// Lower is consumed first.
    pub priority: i64,
    /// Creation time.
    pub created_at: UnixTime,
}

impl Grant {
    /// Whether the grant counts at `now`.
    pub fn is_active(&self, now: UnixTime) -> bool {
        self.effective_at <= now && self.expires_at.is_none_or(|end| now < end)
    }
}

/// A user's allowance position.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Balance {
    /// Σ of every grant ever made.
    pub lifetime_granted_usd_micros: i64,
    /// Usage valued in USD, rounded up once.
    pub consumed_usd_micros: i64,
    /// Active grants minus consumption; negative when usage outran the grants.
    pub balance_usd_micros: i64,
    /// Whether the balance is above the app's soft limit.
    pub has_access: bool,
}

/// A user's consumption, as the balance needs it: the total, and the cumulative consumption
/// before each of the [`Balance::checkpoints`] (all in micro-USD, each rounded up once from its
/// exact sum).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Consumption {
    /// Everything consumed so far.
    pub total_usd_micros: i64,
    /// Cumulative consumption of usage that happened before each checkpoint.
    pub before: BTreeMap<UnixTime, i64>,
}

impl Consumption {
    /// A total with no timeline (enough while no grant has expired).
    pub fn total(total_usd_micros: i64) -> Self {
        Self {
            total_usd_micros,
            before: BTreeMap::new(),
        }
    }
}

/// Burn-down order: priority, then earliest expiry (none last), then creation.
fn burn_order(a: &Grant, b: &Grant) -> std::cmp::Ordering {
    let expiry = |g: &Grant| (g.expires_at.is_none(), g.expires_at);
    (a.priority, expiry(a), a.created_at, &a.id).cmp(&(b.priority, expiry(b), b.created_at, &b.id))
}

impl Balance {
    /// The times at which [`Consumption::before`] must be known to compute the balance at `now`:
    /// none while no grant has expired (the order in which grants burn cannot matter then);
    /// otherwise every grant start and end up to the latest expiry.
    pub fn checkpoints(grants: &[Grant], now: UnixTime) -> Vec<UnixTime> {
        let Some(last_expiry) = grants
            .iter()
            .filter_map(|g| g.expires_at)
            .filter(|&end| end <= now)
            .max()
        else {
            return Vec::new();
        };
        let mut times: Vec<UnixTime> = grants
            .iter()
            .flat_map(|g| [Some(g.effective_at), g.expires_at])
            .flatten()
            .filter(|&t| t <= last_expiry)
            .collect();
        times.sort_unstable();
        times.dedup();
        times
    }

    /// The balance `grants` leave at `now` after `consumption`. Usage burns the grants active
    /// when it happened, in burn-down order (priority, earliest expiry, creation); what an
    /// expired grant did not cover is lost with it; usage no grant covered is owed and paid
    /// by later grants. `soft_limit_usd_micros` is how far below zero a user may go.
    pub fn compute(
        grants: &[Grant],
        consumption: &Consumption,
        now: UnixTime,
        soft_limit_usd_micros: i64,
    ) -> Self {
        let lifetime = grants
            .iter()
            .map(|g| g.amount_usd_micros)
            .fold(0i64, i64::saturating_add);
        // Saturation is unreachable while grants are bounded (MAX_GRANTS_PER_USER ×
        // MAX_GRANT_USD_MICROS ≤ 10^18); it stays as the last guard, never a wrap.
        let total = consumption.total_usd_micros;
        let checkpoints = Self::checkpoints(grants, now);
        let mut order: Vec<&Grant> = grants.iter().collect();
        order.sort_by(|a, b| burn_order(a, b));
        let mut remaining: Vec<i64> = order.iter().map(|g| g.amount_usd_micros).collect();
        let mut debt = 0i64;
        let mut counted = 0i64;
        // Segments between checkpoints: (-inf, c0), [c0, c1), …, [c_last, now]. The set of
        // active grants is constant within each; the last one has no expiry in it, so what it
        // consumes can simply be owed and netted against the grants active now.
        let starts = std::iter::once(None).chain(checkpoints.iter().copied().map(Some));
        let ends = checkpoints
            .iter()
            .copied()
            .map(Some)
            .chain(std::iter::once(None));
        for (start, end) in starts.zip(ends) {
            let cumulative = end
                .and_then(|t| consumption.before.get(&t).copied())
                .unwrap_or(total)
                .min(total);
            let mut need = debt.saturating_add((cumulative - counted).max(0));
            counted = counted.max(cumulative);
            if end.is_some()
                && let Some(at) = start
            {
                for (grant, left) in order.iter().zip(remaining.iter_mut()) {
                    if need == 0 {
                        break;
                    }
                    if grant.is_active(at) {
                        let take = need.min(*left);
                        *left -= take;
                        need -= take;
                    }
                }
            }
            debt = need;
        }
        let available = order
            .iter()
            .zip(&remaining)
            .filter(|(g, _)| g.is_active(now))
            .map(|(_, left)| *left)
            .fold(0i64, i64::saturating_add);
        let balance = available.saturating_sub(debt);
        Self {
            lifetime_granted_usd_micros: lifetime,
            consumed_usd_micros: total,
            balance_usd_micros: balance,
            has_access: balance > soft_limit_usd_micros.saturating_neg(),
        }
    }
}

/// Parses a positive micro-USD amount given as a decimal string (or JSON integer).
pub fn parse_usd_micros(value: &serde_json::Value) -> Result<i64, &'static str> {
    let amount = match value {
        serde_json::Value::String(s)
            if !s.is_empty() && s.len() <= 19 && s.bytes().all(|b| b.is_ascii_digit()) =>
        {
            s.parse::<i64>()
                .map_err(|_| "amountUsdMicros is too large")?
        }
        serde_json::Value::Number(n) => n
            .as_i64()
            .ok_or("amountUsdMicros must be a whole number of micro-USD")?,
        _ => return Err("amountUsdMicros must be a decimal string of whole micro-USD"),
    };
    if amount <= 0 {
        return Err("amountUsdMicros must be positive");
    }
    if amount > MAX_GRANT_USD_MICROS {
        return Err("amountUsdMicros exceeds the largest single grant");
    }
    Ok(amount)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn grant(amount: i64, effective_at: i64, expires_at: Option<i64>) -> Grant {
        Grant {
            id: String::new(),
            client_id: String::new(),
            user_id: String::new(),
            amount_usd_micros: amount,
            source: "trial".into(),
            feature_key: None,
            effective_at,
            expires_at,
            priority: 0,
            created_at: 0,
        }
    }

    fn prio(mut g: Grant, priority: i64, id: &str) -> Grant {
        g.priority = priority;
        g.id = id.into();
        g
    }

    /// The consumption seen by the balance when `timeline` lists (time, cumulative usage).
    fn timeline(grants: &[Grant], now: i64, points: &[(i64, i64)], total: i64) -> Consumption {
        let before = Balance::checkpoints(grants, now)
            .into_iter()
            .map(|t| {
                let used = points
                    .iter()
                    .filter(|(at, _)| *at < t)
                    .map(|(_, c)| *c)
                    .next_back()
                    .unwrap_or(0);
                (t, used)
            })
            .collect();
        Consumption {
            total_usd_micros: total,
            before,
        }
    }

    #[test]
    fn balance_counts_only_active_grants() {
        let grants = [
            grant(1_000_000, 0, None),
            grant(500_000, 0, Some(100)),
            grant(250_000, 200, None),
        ];
        assert!(
            Balance::checkpoints(&grants, 50).is_empty(),
            "nothing expired yet"
        );
        let at_50 = Balance::compute(&grants, &Consumption::total(300_000), 50, 0);
        assert_eq!(at_50.lifetime_granted_usd_micros, 1_750_000);
        assert_eq!(at_50.balance_usd_micros, 1_200_000);
        assert!(at_50.has_access);
        // 300k used before the 500k grant expired (it burns first: earliest expiry), 800k after.
        let c = timeline(&grants, 150, &[(10, 300_000), (120, 1_100_000)], 1_100_000);
        assert_eq!(Balance::checkpoints(&grants, 150), [0, 100]);
        let at_150 = Balance::compute(&grants, &c, 150, 0);
        assert_eq!(at_150.balance_usd_micros, 1_000_000 - 800_000);
        assert!(at_150.has_access);
        let over = timeline(&grants, 150, &[(10, 300_000), (120, 1_400_000)], 1_400_000);
        let at_150 = Balance::compute(&grants, &over, 150, 0);
        assert_eq!(
            at_150.balance_usd_micros, -100_000,
            "usage past the grants is owed"
        );
        assert!(!at_150.has_access);
        assert!(
            Balance::compute(&grants, &over, 150, 200_000).has_access,
            "soft limit"
        );
        let at_250 = Balance::compute(&grants, &over, 250, 0);
        assert_eq!(
            at_250.balance_usd_micros, 150_000,
            "a later grant pays what is owed"
        );
        assert!(!Balance::compute(&[], &Consumption::default(), 0, 0).has_access);
    }

    #[test]
    fn a_consumed_grant_that_expires_takes_nothing_more_with_it() {
        let grants = [grant(1_000_000, 0, Some(100))];
        let c = timeline(&grants, 150, &[(50, 1_000_000)], 1_000_000);
        let b = Balance::compute(&grants, &c, 150, 0);
        assert_eq!(
            b.balance_usd_micros, 0,
            "fully used before it expired: nothing owed"
        );
        let c = timeline(&grants, 150, &[(50, 400_000)], 400_000);
        assert_eq!(Balance::compute(&grants, &c, 150, 0).balance_usd_micros, 0);
    }

    #[test]
    fn an_unused_expired_grant_does_not_absorb_later_usage() {
        let grants = [grant(1_000_000, 0, Some(100)), grant(1_000_000, 0, None)];
        let c = timeline(&grants, 150, &[(120, 500_000)], 500_000);
        assert_eq!(
            Balance::compute(&grants, &c, 150, 0).balance_usd_micros,
            500_000
        );
    }

    #[test]
    fn grants_burn_by_priority_then_earliest_expiry_then_creation() {
        // Same priority: the grant that expires first burns first, so nothing is wasted.
        let grants = [grant(1_000_000, 0, None), grant(500_000, 0, Some(200))];
        let c = timeline(&grants, 250, &[(50, 600_000)], 600_000);
        assert_eq!(
            Balance::compute(&grants, &c, 250, 0).balance_usd_micros,
            900_000
        );
        // A lower priority number burns first even if it never expires.
        let grants = [
            prio(grant(1_000_000, 0, None), 0, "a"),
            prio(grant(500_000, 0, Some(200)), 1, "b"),
        ];
        let c = timeline(&grants, 250, &[(50, 600_000)], 600_000);
        assert_eq!(
            Balance::compute(&grants, &c, 250, 0).balance_usd_micros,
            400_000
        );
        // Usage before any grant is owed and paid by the first grant.
        let grants = [grant(1_000_000, 100, Some(300))];
        let c = timeline(&grants, 400, &[(50, 200_000)], 200_000);
        assert_eq!(Balance::checkpoints(&grants, 400), [100, 300]);
        assert_eq!(Balance::compute(&grants, &c, 400, 0).balance_usd_micros, 0);
        let c = timeline(&grants, 400, &[(50, 200_000), (350, 300_000)], 300_000);
        assert_eq!(
            Balance::compute(&grants, &c, 400, 0).balance_usd_micros,
            -100_000,
            "usage after the only grant expired is owed"
        );
    }

    #[test]
    fn amounts_are_exact_positive_integers() {
        assert_eq!(parse_usd_micros(&json!("1000000")), Ok(1_000_000));
        assert_eq!(parse_usd_micros(&json!(42)), Ok(42));
        for bad in [
            json!("0"),
            json!("-1"),
            json!("1.5"),
            json!(1.5),
            json!(""),
            json!("99999999999999999999"),
            json!(null),
            json!("1e6"),
        ] {
            assert!(parse_usd_micros(&bad).is_err(), "{bad}");
        }
    }
}
