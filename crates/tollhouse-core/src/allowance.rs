//! Prepaid allowances: immutable grants and the balance they leave (spec: metering.md).

use crate::UnixTime;

/// Where a grant came from.
pub const GRANT_SOURCES: &[&str] = &["trial", "manual", "promo", "plan_adjustment"];

/// The largest single grant accepted: $1,000,000,000 in micro-USD. Keeps every sum far inside
/// `i64` whatever the number of grants a user collects.
pub const MAX_GRANT_USD_MICROS: i64 = 1_000_000_000_000_000;

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

impl Balance {
    /// The balance left by `grants` after `consumed_usd_micros` of usage, at `now`.
    /// `soft_limit_usd_micros` is how far below zero a user may go (0 by default).
    pub fn compute(
        grants: &[Grant],
        consumed_usd_micros: i64,
        now: UnixTime,
        soft_limit_usd_micros: i64,
    ) -> Self {
        let lifetime = grants
            .iter()
            .map(|g| g.amount_usd_micros)
            .fold(0i64, i64::saturating_add);
        let active = grants
            .iter()
            .filter(|g| g.is_active(now))
            .map(|g| g.amount_usd_micros)
            .fold(0i64, i64::saturating_add);
        let balance = active.saturating_sub(consumed_usd_micros);
        Self {
            lifetime_granted_usd_micros: lifetime,
            consumed_usd_micros,
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

    #[test]
    fn balance_counts_only_active_grants() {
        let grants = [
            grant(1_000_000, 0, None),
            grant(500_000, 0, Some(100)),
            grant(250_000, 200, None),
        ];
        let at_50 = Balance::compute(&grants, 300_000, 50, 0);
        assert_eq!(at_50.lifetime_granted_usd_micros, 1_750_000);
        assert_eq!(at_50.balance_usd_micros, 1_200_000);
        assert!(at_50.has_access);
        let at_150 = Balance::compute(&grants, 1_100_000, 150, 0);
        assert_eq!(
            at_150.balance_usd_micros, -100_000,
            "usage past the grants is still owed"
        );
        assert!(!at_150.has_access);
        assert!(
            Balance::compute(&grants, 1_100_000, 150, 200_000).has_access,
            "soft limit"
        );
        assert!(!Balance::compute(&[], 0, 0, 0).has_access);
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
