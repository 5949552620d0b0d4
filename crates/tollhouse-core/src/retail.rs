//! Retail pricing: what an app bills its end users for the network fees they caused.
//!
//! A retail rate is the USD billed per micro-USD of network fee, the unit the builder-sdk's
//! `plan-pricing` helpers use (`"0.000001"` bills exactly the network fee; `"0.00000125"` is a
//! 25 % markup). It has at most 9 decimals, so it is held as an integer count of nano-USD per
//! network micro-USD and every product with an [`ExactUsd`] stays exact. A figure is rounded up
//! to micro-USD once, from the exact sum of the products behind it ([`RetailAmount`]).

use crate::money::{ExactUsd, MoneyError};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;
use std::str::FromStr;

/// Nano-USD per network micro-USD that bills exactly the network fee (`"0.000001"`).
const AT_COST_NANOS: u64 = 1_000;
/// The largest rate accepted: 1 USD per network micro-USD (a 10^6 × markup).
const MAX_RATE_NANOS: u64 = 1_000_000_000;
/// The largest markup accepted, in tenths of a percent (10^6 %).
const MAX_MARKUP_TENTHS: u64 = 10_000_000;

/// Why a rate or markup was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum RateError {
    /// Not `digits[.digits]`.
    #[error("a retail rate is a plain decimal number of USD, e.g. \"0.000001\"")]
    NotDecimal,
    /// More than 9 decimals.
    #[error("a retail rate has at most 9 decimals")]
    TooPrecise,
    /// Zero.
    #[error("a retail rate must be greater than zero")]
    Zero,
    /// Above 1 USD per network micro-USD.
    #[error("a retail rate must not exceed 1 USD per micro-USD of network fee")]
    TooLarge,
    /// A markup that is not a non-negative number with at most one decimal.
    #[error(
        "markupPercent is a non-negative number with at most one decimal, e.g. \"25\" or \"12.5\""
    )]
    BadMarkup,
}

/// `digits[.digits]` split at the point (no sign, exponent, whitespace or bare point).
fn decimal_parts(text: &str) -> Option<(&str, &str)> {
    let (whole, fraction) = match text.split_once('.') {
        Some((_, "")) => return None,
        Some(parts) => parts,
        None => (text, ""),
    };
    let digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    (!whole.is_empty() && digits(whole) && digits(fraction)).then_some((whole, fraction))
}

/// A retail rate: USD billed per micro-USD of network fee, exact to 10^-9 USD.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct RetailRate(u64);

impl RetailRate {
    /// The rate that bills exactly the network fee.
    pub const AT_COST: Self = Self(AT_COST_NANOS);

    /// A rate of `nanos` nano-USD per network micro-USD.
    pub fn from_nanos(nanos: u64) -> Result<Self, RateError> {
        match nanos {
            0 => Err(RateError::Zero),
            n if n > MAX_RATE_NANOS => Err(RateError::TooLarge),
            n => Ok(Self(n)),
        }
    }

    /// Nano-USD per network micro-USD.
    pub const fn nanos(self) -> u64 {
        self.0
    }

    /// Parses `"0.00000125"`: digits with an optional point and at most 9 decimals.
    pub fn parse(text: &str) -> Result<Self, RateError> {
        let (whole, fraction) = decimal_parts(text).ok_or(RateError::NotDecimal)?;
        if fraction.len() > 9 {
            return Err(RateError::TooPrecise);
        }
        let whole = whole.trim_start_matches('0');
        if whole.len() > 1 {
            return Err(RateError::TooLarge);
        }
        let whole: u64 = whole.parse().unwrap_or(0);
        let mut nanos = whole * 1_000_000_000;
        let mut scale = 100_000_000;
        for b in fraction.bytes() {
            nanos += u64::from(b - b'0') * scale;
            scale /= 10;
        }
        Self::from_nanos(nanos)
    }

    /// The rate of a markup over the network fee: `+25 %` is `0.00000125`.
    pub fn from_markup(markup: MarkupPercent) -> Self {
        // 1 % of the at-cost rate is 10 nano-USD, so a tenth of a percent is exactly 1.
        Self(AT_COST_NANOS + markup.tenths())
    }

    /// The markup this rate is over the network fee, when it is one we can state exactly
    /// (rates at or above cost).
    pub fn markup(self) -> Option<MarkupPercent> {
        self.0
            .checked_sub(AT_COST_NANOS)
            .and_then(|t| MarkupPercent::from_tenths(t).ok())
    }

    /// `network × rate`, exact (see [`RetailAmount`]).
    pub fn apply(self, network: ExactUsd) -> Result<RetailAmount, MoneyError> {
        const HALF: u128 = 1_000_000_000_000_000; // 10^15: splits the sub-micro part.
        let rate = u128::from(self.0);
        let micros = network
            .floor_micros()
            .checked_mul(rate)
            .ok_or(MoneyError::Overflow)?;
        let sub = network.sub_micro_units();
        // sub < 10^30 = hi·10^15 + lo; hi·rate and lo·rate are both < 10^25, so nothing here
        // can overflow, and (hi·rate)·10^15 is split into whole micros and a remainder.
        let (hi, lo) = (sub / HALF, sub % HALF);
        let hi = hi * rate;
        let micros = micros.checked_add(hi / HALF).ok_or(MoneyError::Overflow)?;
        let units = (hi % HALF) * HALF + lo * rate;
        ExactUsd::from_micros_and_units(micros, units).map(RetailAmount)
    }
}

impl fmt::Display for RetailRate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let whole = self.0 / 1_000_000_000;
        let fraction = format!("{:09}", self.0 % 1_000_000_000);
        let fraction = fraction.trim_end_matches('0');
        if fraction.is_empty() {
            write!(f, "{whole}")
        } else {
            write!(f, "{whole}.{fraction}")
        }
    }
}

impl FromStr for RetailRate {
    type Err = RateError;
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        Self::parse(text)
    }
}

impl Serialize for RetailRate {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for RetailRate {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        // Strings only: a JSON number would have passed through a float on some client.
        let text = String::deserialize(deserializer)?;
        Self::parse(&text).map_err(serde::de::Error::custom)
    }
}

/// A markup over the network fee in percent, with at most one decimal (`"12.5"`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct MarkupPercent(u64);

impl MarkupPercent {
    /// `tenths` tenths of a percent.
    pub fn from_tenths(tenths: u64) -> Result<Self, RateError> {
        if tenths > MAX_MARKUP_TENTHS {
            return Err(RateError::TooLarge);
        }
        Ok(Self(tenths))
    }

    /// Tenths of a percent.
    pub const fn tenths(self) -> u64 {
        self.0
    }

    /// Parses `"25"` or `"12.5"`.
    pub fn parse(text: &str) -> Result<Self, RateError> {
        let (whole, fraction) = decimal_parts(text).ok_or(RateError::BadMarkup)?;
        if whole.len() > 8 || fraction.len() > 1 {
            return Err(RateError::BadMarkup);
        }
        let whole: u64 = whole.parse().map_err(|_| RateError::BadMarkup)?;
        let tenth: u64 = fraction.parse().unwrap_or(0);
        Self::from_tenths(whole * 10 + tenth)
    }
}

impl fmt::Display for MarkupPercent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 % 10 {
            0 => write!(f, "{}", self.0 / 10),
            tenth => write!(f, "{}.{tenth}", self.0 / 10),
        }
    }
}

impl Serialize for MarkupPercent {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for MarkupPercent {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        crate::money::text_or_int(deserializer, Self::parse, |whole| {
            u64::try_from(whole)
                .ok()
                .and_then(|whole| whole.checked_mul(10))
                .ok_or(RateError::TooLarge)
                .and_then(Self::from_tenths)
        })
    }
}

/// An exact retail amount: Σ network × rate, in units of 10^-3 of an [`ExactUsd`] (the rate's
/// nano-USD per micro-USD is a factor of 1000 away from a plain ratio). Add the products of a
/// figure, then round once with [`RetailAmount::ceil_micros`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RetailAmount(ExactUsd);

impl RetailAmount {
    /// Zero.
    pub const ZERO: Self = Self(ExactUsd::ZERO);

    /// `self + other`, exactly.
    pub fn checked_add(self, other: Self) -> Result<Self, MoneyError> {
        self.0.checked_add(other.0).map(Self)
    }

    /// The amount rounded **up** to whole micro-USD.
    pub fn ceil_micros(self) -> u128 {
        let scaled = self.0;
        let micros = scaled.floor_micros();
        let exact = micros.is_multiple_of(1_000) && scaled.sub_micro_units() == 0;
        micros / 1_000 + u128::from(!exact)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::money::{EthUsdPrice, Wei, usd_exact};

    #[test]
    fn rates_parse_and_print_like_the_builder_sdk() {
        for (text, nanos, shown) in [
            ("0.000001", 1_000, "0.000001"),
            ("0.00000125", 1_250, "0.00000125"),
            ("0.0000010", 1_000, "0.000001"),
            ("1", 1_000_000_000, "1"),
            ("0.000000001", 1, "0.000000001"),
        ] {
            let rate = RetailRate::parse(text).unwrap();
            assert_eq!(rate.nanos(), nanos, "{text}");
            assert_eq!(rate.to_string(), shown);
        }
        for bad in [
            "",
            ".1",
            "1.",
            "-1",
            "1e-6",
            "0",
            "0.0000000001",
            "1.5",
            "abc",
            " 1",
        ] {
            assert!(RetailRate::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn markups_are_exact_rates() {
        let m = MarkupPercent::parse("25").unwrap();
        assert_eq!(RetailRate::from_markup(m).to_string(), "0.00000125");
        let m = MarkupPercent::parse("12.5").unwrap();
        assert_eq!(m.to_string(), "12.5");
        assert_eq!(RetailRate::from_markup(m).nanos(), 1_125);
        assert_eq!(RetailRate::AT_COST.markup().unwrap().to_string(), "0");
        assert_eq!(RetailRate::from_nanos(999).unwrap().markup(), None);
        for bad in ["-1", "1.25", "", "1.", "x"] {
            assert!(MarkupPercent::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn retail_rounds_once_from_the_exact_sum() {
        // 1 wei at $3000/ETH is 3·10^-15 USD: far below a micro-USD.
        let price = EthUsdPrice::parse("3000").unwrap();
        let one = usd_exact(Wei::new(1), price);
        let rate = RetailRate::parse("0.0000015").unwrap();
        let each = rate.apply(one).unwrap();
        assert_eq!(each.ceil_micros(), 1, "rounded up, never down to zero");
        let mut sum = RetailAmount::ZERO;
        for _ in 0..1000 {
            sum = sum.checked_add(each).unwrap();
        }
        assert_eq!(sum.ceil_micros(), 1, "a thousand crumbs round once");
        // At cost, the retail figure equals the network figure rounded up.
        let fee = usd_exact(Wei::new(123_456_789_012_345_678_901), price);
        assert_eq!(
            RetailRate::AT_COST.apply(fee).unwrap().ceil_micros(),
            fee.ceil_micros()
        );
        // 25 % markup on exactly $1.
        let dollar = ExactUsd::from_micros_and_units(1_000_000, 0).unwrap();
        let markup = RetailRate::parse("0.00000125").unwrap();
        assert_eq!(markup.apply(dollar).unwrap().ceil_micros(), 1_250_000);
        // A sub-micro remainder times the largest rate stays exact.
        let crumbs = ExactUsd::from_micros_and_units(7, ExactUsd::UNITS_PER_MICRO - 1).unwrap();
        let max = RetailRate::from_nanos(1_000_000_000).unwrap();
        assert_eq!(max.apply(crumbs).unwrap().ceil_micros(), 8_000_000);
    }
}
