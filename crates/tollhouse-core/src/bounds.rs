//! Every bound on a usage value, in one place: what one event may carry, and what an app's
//! usage may add up to over its whole life. docs/security.md lists them with their reasons.
//!
//! Why an app-wide lifetime bound and not only per-event bounds: sums are stored in 64-bit
//! columns, and an app that reports its own usage can send any number of events. With one
//! ceiling on what an app's usage ever adds up to, every stored sum (a day, a block of days, a
//! user's consumption) is at most that ceiling, and every report (a signed sum of at most a few
//! dozen such rows) stays far below `i64::MAX`. The event that would cross the ceiling is
//! refused on its own (a dead letter, or a 422 over HTTP); the app's other events, and every
//! other app's, go on being stored.

use crate::money::{ExactUsd, UsdMicros, Wei};

/// The most one event may be worth: 10^12 micro-USD (one million USD). One go-livepeer signing
/// pays for seconds of video; grants, by comparison, are capped at 10^15 micro-USD.
pub const MAX_EVENT_USD_MICROS: i64 = 1_000_000_000_000;

/// The largest fee one event may carry: 10^24 wei (one million ETH).
pub const MAX_EVENT_FEE_WEI: u128 = 1_000_000_000_000_000_000_000_000;

/// The most pixels one event may bill: 10^15 (an 8K frame at 60 fps for 56 years).
pub const MAX_EVENT_PIXELS: i64 = 1_000_000_000_000_000;

/// The ceiling on an app's usage over its life: 10^17 micro-USD (100 billion USD).
///
/// A report reads at most a few dozen rows that each hold part of one app's usage (at most 9
/// blocks of days added, a page of manifests), so its sums stay below `92 × 10^17 < i64::MAX`.
pub const MAX_APP_USD_MICROS: i64 = 100_000_000_000_000_000;

/// The ceiling on an app's fees over its life: 10^17 gwei (100 million ETH, about the supply).
pub const MAX_APP_FEE_GWEI: i64 = 100_000_000_000_000_000;

/// The ceiling on an app's billed time over its life: 10^18 microseconds (about 31,700 years
/// of streams). Billed time is summed only from daily manifest rows, each part of this.
pub const MAX_APP_BILLABLE_MICROS: i64 = 1_000_000_000_000_000_000;

/// The earliest time an event may say it happened: 2000-01-01T00:00:00Z (unix ms).
pub const MIN_EVENT_TIME_MS: i64 = 946_684_800_000;

/// The latest time an event may say it happened: 2200-01-01T00:00:00Z (unix ms).
pub const MAX_EVENT_TIME_MS: i64 = 7_258_118_400_000;

/// The longest text field of a usage event (pipeline, model, manifest, ids): 256 bytes.
pub const MAX_EVENT_TEXT_BYTES: usize = 256;

/// Why one event's values are out of bounds.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BoundError {
    /// The fee is above [`MAX_EVENT_FEE_WEI`].
    #[error("the fee of {0} wei is above the largest one event may carry (10^24 wei)")]
    FeeTooLarge(Wei),
    /// The value is above [`MAX_EVENT_USD_MICROS`].
    #[error("the value of {0} USD is above the most one event may be worth (1,000,000 USD)")]
    ValueTooLarge(ExactUsd),
    /// Pixels above [`MAX_EVENT_PIXELS`].
    #[error("pixels {0} is above the most one event may bill (10^15)")]
    PixelsTooLarge(i64),
    /// A time outside [`MIN_EVENT_TIME_MS`]..[`MAX_EVENT_TIME_MS`].
    #[error("the time {0} (unix ms) is outside 2000-01-01..2200-01-01")]
    TimeOutOfRange(i64),
    /// A text field longer than [`MAX_EVENT_TEXT_BYTES`].
    #[error("{0} is longer than 256 bytes")]
    TextTooLong(&'static str),
    /// A text field holding the NUL character (which PostgreSQL cannot store).
    #[error("{0} contains the NUL character")]
    TextNul(&'static str),
}

impl BoundError {
    /// A short stable label (a dead letter's reason prefix, a metrics label).
    pub fn code(&self) -> &'static str {
        match self {
            Self::FeeTooLarge(_) => "fee_out_of_range",
            Self::ValueTooLarge(_) => "value_out_of_range",
            Self::PixelsTooLarge(_) => "pixels_out_of_range",
            Self::TimeOutOfRange(_) => "time_out_of_range",
            Self::TextTooLong(_) => "text_too_long",
            Self::TextNul(_) => "text_nul",
        }
    }
}

/// Checks one event's fee.
pub fn check_fee(fee: Wei) -> Result<(), BoundError> {
    if fee.get() > MAX_EVENT_FEE_WEI {
        return Err(BoundError::FeeTooLarge(fee));
    }
    Ok(())
}

/// Checks one event's exact value.
pub fn check_value(value: ExactUsd) -> Result<(), BoundError> {
    let max = ExactUsd::from_micros_and_units(MAX_EVENT_USD_MICROS.unsigned_abs().into(), 0)
        .unwrap_or(ExactUsd::ZERO);
    if value > max {
        return Err(BoundError::ValueTooLarge(value));
    }
    Ok(())
}

/// Checks one event's value given in whole micro-USD.
pub fn check_micros(micros: UsdMicros) -> Result<(), BoundError> {
    let value = u128::try_from(micros.get())
        .ok()
        .and_then(|m| ExactUsd::from_micros_and_units(m, 0).ok())
        .unwrap_or(ExactUsd::ZERO);
    check_value(value)
}

/// Checks one event's pixel count (not negative is the parser's job).
pub fn check_pixels(pixels: i64) -> Result<(), BoundError> {
    if pixels > MAX_EVENT_PIXELS {
        return Err(BoundError::PixelsTooLarge(pixels));
    }
    Ok(())
}

/// Checks when one event says it happened.
pub fn check_time(occurred_at_ms: i64) -> Result<(), BoundError> {
    if !(MIN_EVENT_TIME_MS..MAX_EVENT_TIME_MS).contains(&occurred_at_ms) {
        return Err(BoundError::TimeOutOfRange(occurred_at_ms));
    }
    Ok(())
}

/// Checks one text field of an event, named `field` on the wire.
pub fn check_text(field: &'static str, text: &str) -> Result<(), BoundError> {
    if text.len() > MAX_EVENT_TEXT_BYTES {
        return Err(BoundError::TextTooLong(field));
    }
    if text.contains('\0') {
        return Err(BoundError::TextNul(field));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_bound_admits_its_limit_and_refuses_one_more() {
        assert!(check_fee(Wei::new(MAX_EVENT_FEE_WEI)).is_ok());
        assert!(check_fee(Wei::new(MAX_EVENT_FEE_WEI + 1)).is_err());
        assert!(check_micros(UsdMicros::new(MAX_EVENT_USD_MICROS)).is_ok());
        assert!(check_micros(UsdMicros::new(MAX_EVENT_USD_MICROS + 1)).is_err());
        assert!(check_micros(UsdMicros::new(i64::MAX)).is_err());
        assert!(check_pixels(MAX_EVENT_PIXELS).is_ok());
        assert!(check_pixels(MAX_EVENT_PIXELS + 1).is_err());
        assert!(check_time(MIN_EVENT_TIME_MS).is_ok());
        assert!(check_time(MIN_EVENT_TIME_MS - 1).is_err());
        assert!(check_time(MAX_EVENT_TIME_MS - 1).is_ok());
        assert!(check_time(MAX_EVENT_TIME_MS).is_err());
        assert!(check_text("pipeline", &"p".repeat(256)).is_ok());
        assert!(check_text("pipeline", &"p".repeat(257)).is_err());
        assert_eq!(
            check_text("modelId", "a\0b"),
            Err(BoundError::TextNul("modelId"))
        );
    }

    #[test]
    fn a_value_just_above_the_bound_by_a_fraction_is_refused()
    -> Result<(), crate::money::MoneyError> {
        let max = u128::try_from(MAX_EVENT_USD_MICROS).unwrap_or(0);
        assert!(check_value(ExactUsd::from_micros_and_units(max, 0)?).is_ok());
        assert!(check_value(ExactUsd::from_micros_and_units(max, 1)?).is_err());
        Ok(())
    }

    #[test]
    fn the_lifetime_ceilings_leave_room_for_every_report() {
        // A report adds at most a few dozen rows, each at most one app's lifetime total.
        assert!(MAX_APP_USD_MICROS.checked_mul(90).is_some());
        assert!(MAX_APP_FEE_GWEI.checked_mul(90).is_some());
        assert!(MAX_APP_BILLABLE_MICROS.checked_mul(9).is_some());
        // A whole batch of events at the per-event bound sums without overflow in Rust.
        assert!(MAX_EVENT_USD_MICROS.checked_mul(1_000_000).is_some());
    }
}
