//! Money (spec: metering.md, "Money is exact"): integer wei, exact ETH/USD prices, exact USD
//! values, the micro-USD figures the API reports, and the integer columns money is stored in.
//!
//! Floats never appear. Every amount is an integer count of some fixed unit:
//!
//! | type | unit | range |
//! |---|---|---|
//! | [`Wei`] | 1 wei = 10^-18 ETH | `u128` (≤ 2^128 − 1 ≈ 3.4·10^38 wei) |
//! | [`EthUsdPrice`] | 10^-18 USD per ETH | 10^-18 ..= 10^12 USD per ETH |
//! | [`ExactUsd`] | 10^-36 USD (= 1 wei × 10^-18 USD/ETH) | whole micro-USD as `u128` plus a remainder |
//! | [`UsdMicros`] | 10^-6 USD | `i64` (signed: balances go negative) |
//!
//! `fee_wei × price` is therefore an exact integer count of 10^-36 USD: no division happens when
//! an event is valued, so nothing is rounded until an aggregate is reported with
//! [`ExactUsd::ceil_micros`] — once per reported figure, never per event.
//!
//! # Wide arithmetic
//!
//! A product of a 128-bit fee and a price needs up to 228 bits. The only wide operations needed
//! are one 128×128→256-bit multiplication and division of a 256-bit value by 10^15 (a 64-bit
//! divisor), so they are implemented here in a few lines of schoolbook arithmetic (module
//! `wide`) rather than adding a big-integer crate (`ruint`, `bnum`, `primitive-types`,
//! `num-bigint`) to the dependency tree of an auth server for three functions. The tests check
//! them against an independent decimal-string oracle.
//!
//! # Storage: integer columns SQL can add
//!
//! SQLite and PostgreSQL both have 64-bit `BIGINT`, neither has a portable wider integer, and a
//! value of [`ExactUsd`] needs up to 128 + 100 bits. So a value is stored split in base-10 limbs,
//! each an `i64` column ([`UsdParts`], [`WeiParts`]), chosen so that SQL can **add each column
//! independently** (`UPDATE rollup SET usd_e6 = usd_e6 + $1, usd_e9 = usd_e9 + $2, …` or
//! `SUM(usd_e9)`) without any carry handling, and Rust normalises the carries when it reads the
//! row back ([`ExactUsd::from_parts`], [`Wei::from_parts`]). See [`UsdParts`] for the bounds.

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;
use std::str::FromStr;

/// Why an amount could not be parsed, computed or stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum MoneyError {
    /// The text was empty.
    #[error("amount is empty")]
    Empty,
    /// The text was not made of the digits 0-9 only (no sign, point, exponent or whitespace).
    #[error("amount is not a decimal integer (only the digits 0-9 are allowed)")]
    NotAnInteger,
    /// A wei amount above `2^128 - 1`.
    #[error("amount exceeds 2^128 - 1 wei")]
    WeiTooLarge,
    /// A price that is not `digits[.digits]`.
    #[error("price is not a plain decimal number (digits with an optional '.' and fraction)")]
    InvalidPrice,
    /// A price with more than 18 fractional digits.
    #[error("price has more than 18 fractional digits")]
    PriceTooPrecise,
    /// A price of zero.
    #[error("price must be greater than zero")]
    PriceZero,
    /// A price above [`EthUsdPrice::MAX_USD`] USD per ETH.
    #[error("price exceeds 10^12 USD per ETH")]
    PriceTooLarge,
    /// Text that is not a whole number of micro-USD.
    #[error("amount is not a whole number of micro-USD")]
    InvalidUsdMicros,
    /// A sum (or a micro-USD figure) too large for its type; never wraps.
    #[error("amount overflows its range")]
    Overflow,
    /// A stored part read back negative (columns are only ever added non-negative parts).
    #[error("stored amount part is negative")]
    NegativePart,
    /// A single value too large for the `i64` storage columns.
    #[error("amount exceeds the storage range")]
    OutOfStorageRange,
}

/// Parses `[0-9]+` strictly into a `u128`.
fn parse_digits_u128(text: &str) -> Result<u128, MoneyError> {
    if text.is_empty() {
        return Err(MoneyError::Empty);
    }
    let mut value: u128 = 0;
    for byte in text.bytes() {
        if !byte.is_ascii_digit() {
            return Err(MoneyError::NotAnInteger);
        }
        value = value
            .checked_mul(10)
            .and_then(|v| v.checked_add(u128::from(byte - b'0')))
            .ok_or(MoneyError::WeiTooLarge)?;
    }
    Ok(value)
}

/// Reads an amount as it arrives in JSON: a decimal string or an integer. A visitor rather than
/// an untagged enum, so a wrong type is refused with what was expected ("a decimal string or an
/// integer") instead of serde's internal "did not match any variant of untagged enum".
struct AmountVisitor<T, E> {
    from_text: fn(&str) -> Result<T, E>,
    from_int: fn(i128) -> Result<T, E>,
}

/// Deserialises a number that JSON may carry as a decimal string or as an integer (amounts,
/// pixel counts, percentages), with `from_text` and `from_int` deciding what is valid.
pub fn text_or_int<'de, D, T, E>(
    deserializer: D,
    from_text: fn(&str) -> Result<T, E>,
    from_int: fn(i128) -> Result<T, E>,
) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    E: fmt::Display,
{
    deserializer.deserialize_any(AmountVisitor {
        from_text,
        from_int,
    })
}

impl<T, Err: fmt::Display> serde::de::Visitor<'_> for AmountVisitor<T, Err> {
    type Value = T;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a decimal string of digits or a JSON integer")
    }

    fn visit_str<E: serde::de::Error>(self, text: &str) -> Result<T, E> {
        (self.from_text)(text).map_err(E::custom)
    }

    fn visit_u64<E: serde::de::Error>(self, value: u64) -> Result<T, E> {
        (self.from_int)(i128::from(value)).map_err(E::custom)
    }

    fn visit_i64<E: serde::de::Error>(self, value: i64) -> Result<T, E> {
        (self.from_int)(i128::from(value)).map_err(E::custom)
    }
}

// ---------------------------------------------------------------------------------------------
// Wei
// ---------------------------------------------------------------------------------------------

/// An amount of wei (10^-18 ETH). A single `computed_fee` may exceed 2^64; `u128` holds
/// 3.4·10^20 ETH, far beyond any supply, and anything larger is rejected, never truncated.
///
/// Serialised as a decimal string (`"1234"`); deserialised from such a string or a JSON integer.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Wei(u128);

impl Wei {
    /// No wei.
    pub const ZERO: Self = Self(0);

    /// `wei` wei.
    pub const fn new(wei: u128) -> Self {
        Self(wei)
    }

    /// The amount in wei.
    pub const fn get(self) -> u128 {
        self.0
    }

    /// Parses a decimal integer strictly: digits only (leading zeros allowed); no sign, `+`,
    /// point, exponent or whitespace; empty and values above `2^128 - 1` are errors.
    pub fn parse(text: &str) -> Result<Self, MoneyError> {
        parse_digits_u128(text).map(Self)
    }

    /// `self + other`, or [`MoneyError::Overflow`].
    pub fn checked_add(self, other: Self) -> Result<Self, MoneyError> {
        self.0
            .checked_add(other.0)
            .map(Self)
            .ok_or(MoneyError::Overflow)
    }

    /// The sum of `amounts`, or [`MoneyError::Overflow`].
    pub fn checked_sum(amounts: impl IntoIterator<Item = Self>) -> Result<Self, MoneyError> {
        amounts
            .into_iter()
            .try_fold(Self::ZERO, |sum, amount| sum.checked_add(amount))
    }

    /// The storage form (see [`WeiParts`]). Fails for a single amount of 2^63 gwei
    /// (≈ 9.2·10^9 ETH) or more.
    pub fn to_parts(self) -> Result<WeiParts, MoneyError> {
        let gwei =
            i64::try_from(self.0 / WEI_PER_GWEI).map_err(|_| MoneyError::OutOfStorageRange)?;
        // < 10^9, always fits.
        let wei = (self.0 % WEI_PER_GWEI) as i64;
        Ok(WeiParts { gwei, wei })
    }

    /// The amount stored as `parts`, which may be a column-wise sum of many [`Wei::to_parts`]
    /// (carries are normalised here). Negative parts are rejected.
    ///
    /// A part may be negative when `parts` is a signed sum of carried rows (a report adds some
    /// blocks of days and subtracts others, and each row was carried on its own): the value
    /// is what counts, and only a negative value is rejected.
    pub fn from_parts(parts: WeiParts) -> Result<Self, MoneyError> {
        // |gwei|·10^9 + |wei| < 2^93 + 2^63: no overflow possible in an i128.
        let value = i128::from(parts.gwei) * WEI_PER_GWEI as i128 + i128::from(parts.wei);
        u128::try_from(value)
            .map(Self)
            .map_err(|_| MoneyError::NegativePart)
    }
}

impl fmt::Display for Wei {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

impl FromStr for Wei {
    type Err = MoneyError;
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        Self::parse(text)
    }
}

impl From<u64> for Wei {
    fn from(wei: u64) -> Self {
        Self(u128::from(wei))
    }
}

impl Serialize for Wei {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        // The digits from itoa, written as one string: `collect_str` formats through `fmt`
        // and has serde_json escape each piece it writes, for every figure of a report.
        serializer.serialize_str(itoa::Buffer::new().format(self.0))
    }
}

impl<'de> Deserialize<'de> for Wei {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        text_or_int(deserializer, Self::parse, |wei| {
            u128::try_from(wei)
                .map(Self)
                .map_err(|_| MoneyError::NotAnInteger)
        })
    }
}

const WEI_PER_GWEI: u128 = 1_000_000_000;

/// The storage form of a [`Wei`] amount: two `BIGINT` columns, e.g. `fee_gwei`, `fee_wei`.
///
/// `amount = gwei · 10^9 + wei`; [`Wei::to_parts`] gives `0 <= wei < 10^9`.
///
/// Bounds when SQL adds parts column by column: the `wei` column grows by less than 10^9 per
/// addition, so at least [`SAFE_PART_ADDITIONS`] (≈ 9.2·10^9) additions fit before it could pass
/// `i64::MAX`; the `gwei` column holds the amount itself and fits while the sum stays below
/// 2^63 gwei ≈ 9.2·10^9 ETH.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct WeiParts {
    /// Whole gwei (10^9 wei).
    pub gwei: i64,
    /// Wei below one gwei (`< 10^9` when produced by [`Wei::to_parts`]).
    pub wei: i64,
}

impl WeiParts {
    /// Zero.
    pub const ZERO: Self = Self { gwei: 0, wei: 0 };

    /// Column-wise sum, as SQL computes it (no carries), or [`MoneyError::Overflow`].
    pub fn checked_add(self, other: Self) -> Result<Self, MoneyError> {
        Ok(Self {
            gwei: self
                .gwei
                .checked_add(other.gwei)
                .ok_or(MoneyError::Overflow)?,
            wei: self
                .wei
                .checked_add(other.wei)
                .ok_or(MoneyError::Overflow)?,
        })
    }
}

/// How many additions of normalised parts ([`Wei::to_parts`], [`ExactUsd::to_parts`]) any
/// sub-unit column is guaranteed to absorb: every such part is below 10^9, and
/// `9_223_372_046 · (10^9 - 1) <= i64::MAX`. An addition may be one event or the
/// (normalised) sum of a whole batch.
pub const SAFE_PART_ADDITIONS: i64 = i64::MAX / (LIMB as i64 - 1);

// ---------------------------------------------------------------------------------------------
// ETH/USD price
// ---------------------------------------------------------------------------------------------

const ATTO: u128 = 1_000_000_000_000_000_000;

/// An exact ETH/USD price, stored as an integer number of 10^-18 USD per ETH
/// (`"3456.789012"` is `3_456_789_012_000_000_000_000`).
///
/// 18 fractional digits cover every price source (Chainlink feeds use 8); the range
/// 10^-18 ..= 10^12 USD per ETH keeps [`usd_exact`] infallible (see there).
///
/// Serialised as its canonical decimal string (`"3456.789012"`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct EthUsdPrice(u128);

impl EthUsdPrice {
    /// Fractional digits kept.
    pub const DECIMALS: u32 = 18;
    /// The largest price accepted, in whole USD per ETH.
    pub const MAX_USD: u128 = 1_000_000_000_000;
    /// The largest price accepted, in 10^-18 USD per ETH (10^30).
    pub const MAX_ATTO_USD: u128 = Self::MAX_USD * ATTO;

    /// Parses `digits` or `digits.digits` (at most 18 fractional digits, leading and trailing
    /// zeros allowed). No sign, exponent, whitespace, `NaN`/`inf`, and no bare `.5` or `5.`.
    pub fn parse(text: &str) -> Result<Self, MoneyError> {
        if text.is_empty() {
            return Err(MoneyError::Empty);
        }
        let (whole, fraction) = match text.split_once('.') {
            Some((whole, fraction)) => (whole, Some(fraction)),
            None => (text, None),
        };
        let is_digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
        if !is_digits(whole) || fraction.is_some_and(|f| !is_digits(f)) {
            return Err(MoneyError::InvalidPrice);
        }
        let fraction = fraction.unwrap_or("");
        if fraction.len() > Self::DECIMALS as usize {
            return Err(MoneyError::PriceTooPrecise);
        }
        let whole = parse_digits_u128(whole).map_err(|_| MoneyError::PriceTooLarge)?;
        if whole > Self::MAX_USD {
            return Err(MoneyError::PriceTooLarge);
        }
        let mut fraction_atto = 0u128;
        let mut scale = ATTO;
        for byte in fraction.bytes() {
            scale /= 10;
            fraction_atto += u128::from(byte - b'0') * scale;
        }
        Self::from_atto_usd(whole * ATTO + fraction_atto)
    }

    /// A price given in 10^-18 USD per ETH.
    pub fn from_atto_usd(atto_usd_per_eth: u128) -> Result<Self, MoneyError> {
        match atto_usd_per_eth {
            0 => Err(MoneyError::PriceZero),
            p if p > Self::MAX_ATTO_USD => Err(MoneyError::PriceTooLarge),
            p => Ok(Self(p)),
        }
    }

    /// A price given as `value · 10^-decimals` USD per ETH, as oracles report it (e.g. a
    /// Chainlink answer with `decimals = 8`). Digits below 10^-18 must be zero.
    pub fn from_scaled(value: u128, decimals: u32) -> Result<Self, MoneyError> {
        if value == 0 {
            return Err(MoneyError::PriceZero);
        }
        let atto = if decimals <= Self::DECIMALS {
            10u128
                .checked_pow(Self::DECIMALS - decimals)
                .and_then(|factor| value.checked_mul(factor))
                .ok_or(MoneyError::PriceTooLarge)?
        } else {
            match 10u128.checked_pow(decimals - Self::DECIMALS) {
                Some(divisor) if value.is_multiple_of(divisor) => value / divisor,
                // value < 10^(decimals-18): below 10^-18 USD per ETH.
                Some(_) | None => return Err(MoneyError::PriceTooPrecise),
            }
        };
        Self::from_atto_usd(atto)
    }

    /// The price in 10^-18 USD per ETH.
    pub const fn atto_usd_per_eth(self) -> u128 {
        self.0
    }
}

impl fmt::Display for EthUsdPrice {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let whole = self.0 / ATTO;
        let fraction = self.0 % ATTO;
        if fraction == 0 {
            return write!(f, "{whole}");
        }
        let digits = format!("{fraction:018}");
        write!(f, "{whole}.{}", digits.trim_end_matches('0'))
    }
}

impl FromStr for EthUsdPrice {
    type Err = MoneyError;
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        Self::parse(text)
    }
}

impl Serialize for EthUsdPrice {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for EthUsdPrice {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        Self::parse(&text).map_err(serde::de::Error::custom)
    }
}

// ---------------------------------------------------------------------------------------------
// Micro-USD figures
// ---------------------------------------------------------------------------------------------

/// A whole number of micro-USD (10^-6 USD), as the API reports figures
/// (`networkFeeUsdMicros`, `balanceUsdMicros`, …). Signed, because a balance can be negative.
///
/// Serialised as a decimal string (`"-1500"`); deserialised from such a string or a JSON integer.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct UsdMicros(i64);

impl UsdMicros {
    /// Zero.
    pub const ZERO: Self = Self(0);

    /// `micros` micro-USD.
    pub const fn new(micros: i64) -> Self {
        Self(micros)
    }

    /// The amount in micro-USD.
    pub const fn get(self) -> i64 {
        self.0
    }

    /// Parses `-?[0-9]+` strictly (no `+`, point, exponent or whitespace).
    pub fn parse(text: &str) -> Result<Self, MoneyError> {
        let (negative, digits) = match text.strip_prefix('-') {
            Some(rest) => (true, rest),
            None => (false, text),
        };
        if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
            return Err(MoneyError::InvalidUsdMicros);
        }
        let magnitude = parse_digits_u128(digits).map_err(|_| MoneyError::Overflow)?;
        let magnitude = i128::try_from(magnitude).map_err(|_| MoneyError::Overflow)?;
        let value = if negative { -magnitude } else { magnitude };
        i64::try_from(value)
            .map(Self)
            .map_err(|_| MoneyError::Overflow)
    }

    /// `self + other`, or [`MoneyError::Overflow`].
    pub fn checked_add(self, other: Self) -> Result<Self, MoneyError> {
        self.0
            .checked_add(other.0)
            .map(Self)
            .ok_or(MoneyError::Overflow)
    }

    /// `self - other`, or [`MoneyError::Overflow`].
    pub fn checked_sub(self, other: Self) -> Result<Self, MoneyError> {
        self.0
            .checked_sub(other.0)
            .map(Self)
            .ok_or(MoneyError::Overflow)
    }
}

impl fmt::Display for UsdMicros {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

impl FromStr for UsdMicros {
    type Err = MoneyError;
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        Self::parse(text)
    }
}

impl From<i64> for UsdMicros {
    fn from(micros: i64) -> Self {
        Self(micros)
    }
}

impl Serialize for UsdMicros {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        // As for `Wei`: digits from itoa, not `collect_str`.
        serializer.serialize_str(itoa::Buffer::new().format(self.0))
    }
}

impl<'de> Deserialize<'de> for UsdMicros {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        text_or_int(deserializer, Self::parse, |micros| {
            i64::try_from(micros)
                .map(Self)
                .map_err(|_| MoneyError::Overflow)
        })
    }
}

// ---------------------------------------------------------------------------------------------
// Exact USD
// ---------------------------------------------------------------------------------------------

/// Units of 10^-36 USD in one micro-USD.
const UNITS_PER_MICRO: u128 = 1_000_000_000_000_000_000_000_000_000_000;
/// The base of the stored sub-micro limbs.
const LIMB: u128 = 1_000_000_000;

/// An exact, non-negative USD amount: an integer count of 10^-36 USD, kept as whole micro-USD
/// plus the remainder below one micro-USD. Every `fee_wei × price` is representable exactly, and
/// sums are exact, associative and commutative, so the same events give the same value however
/// they are grouped. Round with [`ExactUsd::ceil_micros`] once, when a figure is reported.
///
/// `Display` prints the exact value in USD (`"0.000000000000003"`), for logs and tests.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ExactUsd {
    /// Whole micro-USD. Field order matters: the derived `Ord` compares this first.
    micros: u128,
    /// 10^-36 USD below one micro-USD: always `< 10^30`.
    sub_micro: u128,
}

impl ExactUsd {
    /// Zero USD.
    pub const ZERO: Self = Self {
        micros: 0,
        sub_micro: 0,
    };

    /// Units of 10^-36 USD in one micro-USD (10^30).
    pub const UNITS_PER_MICRO: u128 = UNITS_PER_MICRO;

    /// `micros` micro-USD plus `units` × 10^-36 USD (`units` may exceed one micro-USD).
    pub fn from_micros_and_units(micros: u128, units: u128) -> Result<Self, MoneyError> {
        let micros = micros
            .checked_add(units / UNITS_PER_MICRO)
            .ok_or(MoneyError::Overflow)?;
        Ok(Self {
            micros,
            sub_micro: units % UNITS_PER_MICRO,
        })
    }

    /// Whole micro-USD (the value rounded down).
    pub const fn floor_micros(self) -> u128 {
        self.micros
    }

    /// The part below one micro-USD, in 10^-36 USD (`< 10^30`).
    pub const fn sub_micro_units(self) -> u128 {
        self.sub_micro
    }

    /// Whether the amount is zero.
    pub const fn is_zero(self) -> bool {
        self.micros == 0 && self.sub_micro == 0
    }

    /// `self + other`, exactly, or [`MoneyError::Overflow`] (beyond 2^128 micro-USD).
    pub fn checked_add(self, other: Self) -> Result<Self, MoneyError> {
        // Both remainders are < 10^30, so their sum (< 2·10^30 < 2^128) cannot overflow.
        let sub = self.sub_micro + other.sub_micro;
        let carry = u128::from(sub >= UNITS_PER_MICRO);
        let micros = self
            .micros
            .checked_add(other.micros)
            .and_then(|m| m.checked_add(carry))
            .ok_or(MoneyError::Overflow)?;
        Ok(Self {
            micros,
            sub_micro: sub % UNITS_PER_MICRO,
        })
    }

    /// The exact sum of `amounts`, or [`MoneyError::Overflow`].
    pub fn checked_sum(amounts: impl IntoIterator<Item = Self>) -> Result<Self, MoneyError> {
        amounts
            .into_iter()
            .try_fold(Self::ZERO, |sum, amount| sum.checked_add(amount))
    }

    /// The value rounded **up** to whole micro-USD. Call once per reported figure, on the exact
    /// sum behind it.
    pub const fn ceil_micros(self) -> u128 {
        // Saturates only at 2^128 - 1 micro-USD (3.4·10^32 USD), which is not a real figure.
        if self.sub_micro > 0 {
            self.micros.saturating_add(1)
        } else {
            self.micros
        }
    }

    /// [`ExactUsd::ceil_micros`] as an API figure, or [`MoneyError::Overflow`] above `i64::MAX`
    /// micro-USD (≈ 9.2 trillion USD).
    pub fn ceil_usd_micros(self) -> Result<UsdMicros, MoneyError> {
        i64::try_from(self.ceil_micros())
            .map(UsdMicros)
            .map_err(|_| MoneyError::Overflow)
    }

    /// The storage form (see [`UsdParts`]). Fails only for a single value of 2^63 micro-USD
    /// (≈ 9.2 trillion USD) or more.
    pub fn to_parts(self) -> Result<UsdParts, MoneyError> {
        let e6 = i64::try_from(self.micros).map_err(|_| MoneyError::OutOfStorageRange)?;
        let sub = self.sub_micro;
        // Each limb is < 10^9 (e9 < 10^3), so the casts are lossless.
        Ok(UsdParts {
            e6,
            e9: (sub / (LIMB * LIMB * LIMB)) as i64,
            e18: (sub / (LIMB * LIMB) % LIMB) as i64,
            e27: (sub / LIMB % LIMB) as i64,
            e36: (sub % LIMB) as i64,
        })
    }

    /// The value stored as `parts`, which may be a column-wise sum (SQL `+` or `SUM`) of many
    /// [`ExactUsd::to_parts`]: the carries between limbs are normalised here. Negative parts
    /// are rejected.
    ///
    /// A part may be negative when `parts` is a signed sum of carried rows (a report adds some
    /// blocks of days and subtracts others, each row carried on its own): carries and borrows
    /// are normalised here, and only a negative value is rejected.
    pub fn from_parts(parts: UsdParts) -> Result<Self, MoneyError> {
        let limb = LIMB as i128;
        // Every |part| < 2^63 and every carry or borrow < 2^63 / 10^3 + 1, so no step below
        // can overflow an i128; floor division leaves each limb in 0..base.
        let e36 = i128::from(parts.e36);
        let e27 = i128::from(parts.e27) + e36.div_euclid(limb);
        let e18 = i128::from(parts.e18) + e27.div_euclid(limb);
        let e9 = i128::from(parts.e9) + e18.div_euclid(limb);
        let micros = i128::from(parts.e6) + e9.div_euclid(1_000);
        let micros = u128::try_from(micros).map_err(|_| MoneyError::NegativePart)?;
        let limb_of = |v: i128, base: i128| v.rem_euclid(base).unsigned_abs();
        let sub_micro = limb_of(e9, 1_000) * LIMB * LIMB * LIMB
            + limb_of(e18, limb) * LIMB * LIMB
            + limb_of(e27, limb) * LIMB
            + limb_of(e36, limb);
        Ok(Self { micros, sub_micro })
    }
}

impl fmt::Display for ExactUsd {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let whole = self.micros / 1_000_000;
        let fraction = format!("{:06}{:030}", self.micros % 1_000_000, self.sub_micro);
        let fraction = fraction.trim_end_matches('0');
        if fraction.is_empty() {
            write!(f, "{whole}")
        } else {
            write!(f, "{whole}.{fraction}")
        }
    }
}

/// The exact USD value of `fee` at `price`: `fee_wei × price / 10^18` USD, with no rounding.
///
/// Infallible: `fee < 2^128` and `price <= 10^30` (in 10^-18 USD per ETH) give a product below
/// `2^128 · 10^30` units of 10^-36 USD, i.e. fewer than 2^128 whole micro-USD.
pub fn usd_exact(fee: Wei, price: EthUsdPrice) -> ExactUsd {
    let product = wide::mul(fee.get(), price.atto_usd_per_eth());
    // 10^30 = 10^15 · 10^15, each divisor fitting the 64-bit long division.
    let (high, low_rem) = wide::div_rem(product, 1_000_000_000_000_000);
    let (micros, high_rem) = wide::div_rem(high, 1_000_000_000_000_000);
    let sub_micro = u128::from(high_rem) * 1_000_000_000_000_000 + u128::from(low_rem);
    // Saturation is unreachable by the bound above (tested at the extremes).
    ExactUsd {
        micros: wide::to_u128(micros).unwrap_or(u128::MAX),
        sub_micro,
    }
}

/// A 256-bit unsigned integer as four little-endian 64-bit limbs: just what [`usd_exact`] needs.
mod wide {
    pub(super) type U256 = [u64; 4];

    /// `a × b`, exactly.
    pub(super) fn mul(a: u128, b: u128) -> U256 {
        let (a0, a1) = (a as u64 as u128, a >> 64);
        let (b0, b1) = (b as u64 as u128, b >> 64);
        // Each partial product of two 64-bit halves fits a u128.
        let low = a0 * b0;
        let (mid, mid_carry) = (a0 * b1).overflowing_add(a1 * b0);
        let high = a1 * b1;
        let (low, low_carry) = low.overflowing_add(mid << 64);
        // The full product is < 2^256, so the high half cannot overflow.
        let high = high + (mid >> 64) + (u128::from(mid_carry) << 64) + u128::from(low_carry);
        [
            low as u64,
            (low >> 64) as u64,
            high as u64,
            (high >> 64) as u64,
        ]
    }

    /// `(value / divisor, value % divisor)` for a non-zero 64-bit divisor (long division).
    pub(super) fn div_rem(value: U256, divisor: u64) -> (U256, u64) {
        let divisor = u128::from(divisor.max(1));
        let mut quotient = [0u64; 4];
        let mut rem: u128 = 0;
        for (digit, limb) in quotient.iter_mut().zip(value).rev() {
            // rem < divisor < 2^64, so (rem << 64 | limb) fits a u128 and the digit fits a u64.
            let current = (rem << 64) | u128::from(limb);
            *digit = (current / divisor) as u64;
            rem = current % divisor;
        }
        (quotient, rem as u64)
    }

    /// The value if it fits a u128.
    pub(super) fn to_u128(value: U256) -> Option<u128> {
        (value[2] == 0 && value[3] == 0)
            .then(|| u128::from(value[0]) | (u128::from(value[1]) << 64))
    }
}

/// The storage form of an [`ExactUsd`]: five `BIGINT` columns, named by the unit each counts.
///
/// ```text
/// value = e6·10^-6 + e9·10^-9 + e18·10^-18 + e27·10^-27 + e36·10^-36 USD
/// ```
///
/// [`ExactUsd::to_parts`] produces normalised parts: `e6` = whole micro-USD, `0 <= e9 < 10^3`,
/// and `0 <= e18, e27, e36 < 10^9`. SQL adds them column by column (`usd_e6 = usd_e6 + $1`, …,
/// or `SUM(usd_e18)`), never carrying; [`ExactUsd::from_parts`] accepts any non-negative
/// column sums and normalises the carries, so the exact total survives any grouping.
///
/// Bounds (proved in the tests with the extreme values):
/// - each sub-micro column grows by less than 10^9 per addition, so it stays `<= i64::MAX`
///   for at least [`SAFE_PART_ADDITIONS`] = 9,223,372,046 additions (≥ 10^9 events even if
///   every event is added on its own; far more when a batch is summed in Rust first);
/// - `e6` holds the whole micro-USD of the total itself and fits while the total stays below
///   2^63 micro-USD (≈ 9.2 trillion USD).
///
/// Neither engine wraps silently past `i64::MAX` *if the columns are declared right*:
/// PostgreSQL's `bigint + bigint` raises `bigint out of range` (and `SUM(bigint)` returns
/// `numeric`: cast it `::BIGINT`); SQLite's `+` turns into a REAL on overflow, so declare the
/// table `STRICT` (or add `CHECK (typeof(col) = 'integer')`) to make that an error; SQLite's
/// `SUM` raises `integer overflow`. Add `CHECK (col >= 0)` to every part.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct UsdParts {
    /// Whole micro-USD (10^-6 USD).
    pub e6: i64,
    /// 10^-9 USD below one micro-USD (`< 10^3` when normalised).
    pub e9: i64,
    /// 10^-18 USD below 10^-9 USD (`< 10^9` when normalised).
    pub e18: i64,
    /// 10^-27 USD below 10^-18 USD (`< 10^9` when normalised).
    pub e27: i64,
    /// 10^-36 USD below 10^-27 USD (`< 10^9` when normalised).
    pub e36: i64,
}

impl UsdParts {
    /// Zero.
    pub const ZERO: Self = Self {
        e6: 0,
        e9: 0,
        e18: 0,
        e27: 0,
        e36: 0,
    };

    /// The parts in column order `[e6, e9, e18, e27, e36]`, for binding.
    pub const fn to_array(self) -> [i64; 5] {
        [self.e6, self.e9, self.e18, self.e27, self.e36]
    }

    /// Parts from column order `[e6, e9, e18, e27, e36]`.
    pub const fn from_array(parts: [i64; 5]) -> Self {
        let [e6, e9, e18, e27, e36] = parts;
        Self {
            e6,
            e9,
            e18,
            e27,
            e36,
        }
    }

    /// Column-wise sum, as SQL computes it (no carries), or [`MoneyError::Overflow`].
    pub fn checked_add(self, other: Self) -> Result<Self, MoneyError> {
        let add = |a: i64, b: i64| a.checked_add(b).ok_or(MoneyError::Overflow);
        Ok(Self {
            e6: add(self.e6, other.e6)?,
            e9: add(self.e9, other.e9)?,
            e18: add(self.e18, other.e18)?,
            e27: add(self.e27, other.e27)?,
            e36: add(self.e36, other.e36)?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    type TestResult = Result<(), Box<dyn std::error::Error>>;

    // ----- an independent oracle: decimal-string arithmetic ------------------------------

    /// Product of two decimal digit strings, schoolbook, no leading zeros.
    fn mul_decimal(a: &str, b: &str) -> String {
        let a: Vec<u32> = a.bytes().rev().map(|d| u32::from(d - b'0')).collect();
        let b: Vec<u32> = b.bytes().rev().map(|d| u32::from(d - b'0')).collect();
        let mut out = vec![0u32; a.len() + b.len()];
        for (i, x) in a.iter().enumerate() {
            let mut carry = 0;
            for (j, y) in b.iter().enumerate() {
                let t = out[i + j] + x * y + carry;
                out[i + j] = t % 10;
                carry = t / 10;
            }
            let mut k = i + b.len();
            while carry > 0 {
                let t = out[k] + carry;
                out[k] = t % 10;
                carry = t / 10;
                k += 1;
            }
        }
        let s: String = out
            .iter()
            .rev()
            .map(|d| char::from(b'0' + *d as u8))
            .collect();
        let s = s.trim_start_matches('0');
        if s.is_empty() { "0".into() } else { s.into() }
    }

    /// An integer count of 10^-36 USD written as a USD decimal, trailing zeros trimmed.
    fn units_to_usd(units: &str) -> String {
        let padded = format!("{units:0>37}");
        let (whole, fraction) = padded.split_at(padded.len() - 36);
        let whole = whole.trim_start_matches('0');
        let whole = if whole.is_empty() { "0" } else { whole };
        let fraction = fraction.trim_end_matches('0');
        if fraction.is_empty() {
            whole.into()
        } else {
            format!("{whole}.{fraction}")
        }
    }

    /// Deterministic xorshift, for many varied inputs without a dependency.
    struct XorShift(u64);
    impl XorShift {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0
        }
        fn u128_bits(&mut self, bits: u32) -> u128 {
            let v = (u128::from(self.next()) << 64) | u128::from(self.next());
            if bits >= 128 { v } else { v >> (128 - bits) }
        }
    }

    fn price(text: &str) -> Result<EthUsdPrice, MoneyError> {
        EthUsdPrice::parse(text)
    }

    // ----- Wei -------------------------------------------------------------------------------

    #[test]
    fn wei_parses_strictly() -> TestResult {
        assert_eq!(Wei::parse("0")?, Wei::ZERO);
        assert_eq!(Wei::parse("000123")?, Wei::new(123));
        let max = u128::MAX.to_string();
        assert_eq!(Wei::parse(&max)?, Wei::new(u128::MAX));
        assert_eq!(
            Wei::parse(&format!("{}{max}", "0".repeat(60)))?,
            Wei::new(u128::MAX),
            "leading zeros do not count towards the range"
        );
        assert_eq!(Wei::parse(""), Err(MoneyError::Empty));
        for bad in [
            "+1", "-1", "1.0", "1e18", " 1", "1 ", "0x10", "1_000", "١", "NaN", ".", "1,000",
        ] {
            assert_eq!(Wei::parse(bad), Err(MoneyError::NotAnInteger), "{bad:?}");
        }
        // 2^128 exactly, and far beyond.
        assert_eq!(
            Wei::parse("340282366920938463463374607431768211456"),
            Err(MoneyError::WeiTooLarge)
        );
        assert_eq!(Wei::parse(&"9".repeat(100)), Err(MoneyError::WeiTooLarge));
        assert!(
            MoneyError::WeiTooLarge.to_string().contains("2^128"),
            "the reason is readable"
        );
        Ok(())
    }

    #[test]
    fn wei_displays_and_round_trips_above_2_pow_64() -> TestResult {
        for text in [
            "0",
            "1",
            "18446744073709551615",
            "18446744073709551616",
            "1267650600228229401496703205376", // 2^100
            "340282366920938463463374607431768211455",
        ] {
            let wei: Wei = text.parse()?;
            assert_eq!(wei.to_string(), text);
            assert_eq!(serde_json::to_string(&wei)?, format!("\"{text}\""));
            assert_eq!(serde_json::from_str::<Wei>(&format!("\"{text}\""))?, wei);
        }
        assert_eq!(serde_json::from_str::<Wei>("42")?, Wei::new(42));
        assert!(serde_json::from_str::<Wei>("-42").is_err());
        assert!(serde_json::from_str::<Wei>("1.5").is_err());
        assert!(serde_json::from_str::<Wei>("\"1.5\"").is_err());
        Ok(())
    }

    #[test]
    fn wei_sums_are_checked() -> TestResult {
        let big = Wei::new(u128::MAX - 1);
        assert_eq!(big.checked_add(Wei::new(1))?, Wei::new(u128::MAX));
        assert_eq!(big.checked_add(Wei::new(2)), Err(MoneyError::Overflow));
        assert_eq!(
            Wei::checked_sum([Wei::new(1), Wei::new(2), Wei::new(3)])?,
            Wei::new(6)
        );
        assert_eq!(
            Wei::checked_sum([Wei::new(u128::MAX), Wei::new(1)]),
            Err(MoneyError::Overflow)
        );
        assert_eq!(Wei::checked_sum([])?, Wei::ZERO);
        Ok(())
    }

    #[test]
    fn wei_parts_round_trip_and_absorb_column_sums() -> TestResult {
        for wei in [
            0u128,
            1,
            999_999_999,
            1_000_000_000,
            123_456_789_012_345_678_901,
        ] {
            let parts = Wei::new(wei).to_parts()?;
            assert!((0..1_000_000_000).contains(&parts.wei));
            assert_eq!(Wei::from_parts(parts)?, Wei::new(wei));
        }
        // The largest storable single amount, and one past it.
        let max_storable = i64::MAX as u128 * 1_000_000_000 + 999_999_999;
        assert!(Wei::new(max_storable).to_parts().is_ok());
        assert_eq!(
            Wei::new(max_storable + 1).to_parts(),
            Err(MoneyError::OutOfStorageRange)
        );
        // Column sums as SQL makes them: SAFE_PART_ADDITIONS additions of the largest
        // sub-gwei part still fit, and normalise to the exact total.
        let n = SAFE_PART_ADDITIONS;
        let column_sum = WeiParts {
            gwei: 5,
            wei: n * 999_999_999,
        };
        assert_eq!(
            Wei::from_parts(column_sum)?,
            Wei::new(5_000_000_000 + n as u128 * 999_999_999)
        );
        assert_eq!(
            WeiParts { gwei: 1, wei: 2 }
                .checked_add(WeiParts {
                    gwei: 3,
                    wei: 999_999_999
                })
                .map(Wei::from_parts),
            Ok(Ok(Wei::new(5_000_000_001)))
        );
        assert_eq!(
            Wei::from_parts(WeiParts { gwei: -1, wei: 0 }),
            Err(MoneyError::NegativePart)
        );
        assert_eq!(
            Wei::from_parts(WeiParts { gwei: 0, wei: -1 }),
            Err(MoneyError::NegativePart)
        );
        Ok(())
    }

    // ----- prices ----------------------------------------------------------------------------

    #[test]
    fn prices_parse_exactly() -> TestResult {
        assert_eq!(
            price("3456.789012")?.atto_usd_per_eth(),
            3_456_789_012_000_000_000_000
        );
        assert_eq!(price("3000")?.atto_usd_per_eth(), 3_000 * ATTO);
        assert_eq!(price("0.000000000000000001")?.atto_usd_per_eth(), 1);
        assert_eq!(
            price("0003000.500")?.atto_usd_per_eth(),
            3_000_500_000_000_000_000_000
        );
        assert_eq!(
            price("1000000000000")?.atto_usd_per_eth(),
            EthUsdPrice::MAX_ATTO_USD
        );
        assert_eq!(price("3456.789012")?.to_string(), "3456.789012");
        assert_eq!(price("0003000.500")?.to_string(), "3000.5");
        assert_eq!(
            price("0.000000000000000001")?.to_string(),
            "0.000000000000000001"
        );
        assert_eq!(serde_json::to_string(&price("3000.10")?)?, "\"3000.1\"");
        assert_eq!(
            serde_json::from_str::<EthUsdPrice>("\"3000.10\"")?,
            price("3000.1")?
        );
        Ok(())
    }

    #[test]
    fn prices_reject_anything_inexact_or_odd() -> TestResult {
        assert_eq!(EthUsdPrice::parse(""), Err(MoneyError::Empty));
        for bad in [
            "-3000", "+3000", "3e3", "3000E0", "NaN", "inf", "Infinity", ".5", "5.", "1.2.3",
            " 3000", "3000 ", "3,000.00", "0x10",
        ] {
            assert_eq!(
                EthUsdPrice::parse(bad),
                Err(MoneyError::InvalidPrice),
                "{bad:?}"
            );
        }
        assert_eq!(
            EthUsdPrice::parse("0.0000000000000000001"),
            Err(MoneyError::PriceTooPrecise)
        );
        assert_eq!(EthUsdPrice::parse("0"), Err(MoneyError::PriceZero));
        assert_eq!(EthUsdPrice::parse("0.000"), Err(MoneyError::PriceZero));
        assert_eq!(
            EthUsdPrice::parse("1000000000000.000000000000000001"),
            Err(MoneyError::PriceTooLarge)
        );
        assert_eq!(
            EthUsdPrice::parse(&"9".repeat(50)),
            Err(MoneyError::PriceTooLarge)
        );
        assert!(
            serde_json::from_str::<EthUsdPrice>("3000").is_err(),
            "not a float"
        );
        Ok(())
    }

    #[test]
    fn prices_from_oracle_scales() -> TestResult {
        // A Chainlink-style answer: 8 decimals.
        assert_eq!(
            EthUsdPrice::from_scaled(345_678_901_234, 8)?,
            price("3456.78901234")?
        );
        assert_eq!(EthUsdPrice::from_scaled(3000, 0)?, price("3000")?);
        assert_eq!(
            EthUsdPrice::from_scaled(3_000_000_000_000_000_000_000_000, 24)?,
            price("3")?
        );
        assert_eq!(
            EthUsdPrice::from_scaled(3_000_000_000_000_000_000_000_001, 24),
            Err(MoneyError::PriceTooPrecise)
        );
        assert_eq!(
            EthUsdPrice::from_scaled(5, 60),
            Err(MoneyError::PriceTooPrecise)
        );
        assert_eq!(EthUsdPrice::from_scaled(0, 8), Err(MoneyError::PriceZero));
        assert_eq!(
            EthUsdPrice::from_scaled(u128::MAX, 0),
            Err(MoneyError::PriceTooLarge)
        );
        assert_eq!(EthUsdPrice::from_atto_usd(0), Err(MoneyError::PriceZero));
        assert_eq!(
            EthUsdPrice::from_atto_usd(EthUsdPrice::MAX_ATTO_USD + 1),
            Err(MoneyError::PriceTooLarge)
        );
        Ok(())
    }

    // ----- micro-USD figures ------------------------------------------------------------------

    #[test]
    fn usd_micros_format_as_decimal_strings() -> TestResult {
        assert_eq!(UsdMicros::new(0).to_string(), "0");
        assert_eq!(UsdMicros::new(-1500).to_string(), "-1500");
        assert_eq!(
            serde_json::to_string(&UsdMicros::new(i64::MAX))?,
            "\"9223372036854775807\""
        );
        assert_eq!(UsdMicros::parse("-1500")?, UsdMicros::new(-1500));
        assert_eq!(UsdMicros::parse("007")?, UsdMicros::new(7));
        assert_eq!(
            UsdMicros::parse("-9223372036854775808")?,
            UsdMicros::new(i64::MIN)
        );
        assert_eq!(
            UsdMicros::parse("9223372036854775808"),
            Err(MoneyError::Overflow)
        );
        for bad in ["", "-", "+1", "1.5", "1e6", " 1", "--1"] {
            assert_eq!(
                UsdMicros::parse(bad),
                Err(MoneyError::InvalidUsdMicros),
                "{bad:?}"
            );
        }
        assert_eq!(
            serde_json::from_str::<UsdMicros>("\"12\"")?,
            UsdMicros::new(12)
        );
        assert_eq!(
            serde_json::from_str::<UsdMicros>("-12")?,
            UsdMicros::new(-12)
        );
        assert!(serde_json::from_str::<UsdMicros>("1.5").is_err());
        assert_eq!(
            UsdMicros::new(i64::MAX).checked_add(UsdMicros::new(1)),
            Err(MoneyError::Overflow)
        );
        assert_eq!(
            UsdMicros::new(1).checked_sub(UsdMicros::new(3))?,
            UsdMicros::new(-2)
        );
        Ok(())
    }

    // ----- exact valuation -------------------------------------------------------------------

    #[test]
    fn valuation_matches_an_independent_oracle() -> TestResult {
        let mut rng = XorShift(0x9E37_79B9_7F4A_7C15);
        let mut cases: Vec<(u128, u128)> = vec![
            (0, 1),
            (1, 1),
            (1, EthUsdPrice::MAX_ATTO_USD),
            (u128::MAX, 1),
            (u128::MAX, EthUsdPrice::MAX_ATTO_USD),
            (u128::from(u64::MAX) + 1, 3_000 * ATTO),
            (1 << 100, 3_456_789_012_000_000_000_000),
        ];
        for _ in 0..2_000 {
            let fee_bits = 1 + (rng.next() % 128) as u32;
            let price_bits = 1 + (rng.next() % 99) as u32;
            let fee = rng.u128_bits(fee_bits);
            let atto = rng
                .u128_bits(price_bits)
                .clamp(1, EthUsdPrice::MAX_ATTO_USD);
            cases.push((fee, atto));
        }
        for (fee, atto) in cases {
            let p = EthUsdPrice::from_atto_usd(atto)?;
            let value = usd_exact(Wei::new(fee), p);
            let expected = units_to_usd(&mul_decimal(&fee.to_string(), &atto.to_string()));
            assert_eq!(value.to_string(), expected, "fee {fee} wei at {p}");
            assert!(value.sub_micro_units() < ExactUsd::UNITS_PER_MICRO);
        }
        Ok(())
    }

    #[test]
    fn extreme_valuation_does_not_saturate() -> TestResult {
        let value = usd_exact(
            Wei::new(u128::MAX),
            EthUsdPrice::from_atto_usd(EthUsdPrice::MAX_ATTO_USD)?,
        );
        // (2^128 - 1) · 10^30 units = exactly 2^128 - 1 micro-USD.
        assert_eq!(value.floor_micros(), u128::MAX);
        assert_eq!(value.sub_micro_units(), 0);
        Ok(())
    }

    #[test]
    fn zero_fee_is_zero_usd() -> TestResult {
        let value = usd_exact(Wei::ZERO, price("3456.789012")?);
        assert!(value.is_zero());
        assert_eq!(value, ExactUsd::ZERO);
        assert_eq!(value.ceil_micros(), 0);
        assert_eq!(value.to_string(), "0");
        assert_eq!(value.to_parts()?, UsdParts::ZERO);
        Ok(())
    }

    #[test]
    fn huge_fees_are_valued_exactly() -> TestResult {
        // 2^64 wei at $3000: 18446744073709551616 · 3000 · 10^-18 USD = 55340.232221128654848 USD.
        let above_64 = usd_exact(Wei::new(1u128 << 64), price("3000")?);
        assert_eq!(above_64.to_string(), "55340.232221128654848");
        assert_eq!(above_64.ceil_micros(), 55_340_232_222);
        // 2^100 wei at $3456.789012.
        let above_100 = usd_exact(Wei::new(1u128 << 100), price("3456.789012")?);
        assert_eq!(
            above_100.to_string(),
            units_to_usd(&mul_decimal(
                "1267650600228229401496703205376",
                "3456789012000000000000"
            ))
        );
        assert_eq!(
            above_100.to_string(),
            "4382000665924148.087309139994568936128512"
        );
        assert_eq!(above_100.ceil_micros(), 4_382_000_665_924_148_087_310);
        assert_eq!(
            above_100.ceil_usd_micros(),
            Err(MoneyError::Overflow),
            "4.4 quadrillion USD is beyond an i64 figure, and says so"
        );
        Ok(())
    }

    #[test]
    fn summing_per_event_values_is_exact() -> TestResult {
        // 1 wei at $3000 is 3·10^-15 USD: rounding each event up would bill $1 for 10^6 of them.
        let p = price("3000")?;
        let one = usd_exact(Wei::new(1), p);
        assert_eq!(one.ceil_micros(), 1, "alone, it rounds up to one micro-USD");
        let mut sum = ExactUsd::ZERO;
        for _ in 0..1_000_000 {
            sum = sum.checked_add(one)?;
        }
        assert_eq!(sum, usd_exact(Wei::new(1_000_000), p));
        assert_eq!(sum.to_string(), "0.000000003");
        assert_eq!(sum.ceil_micros(), 1, "rounded once, not a million times");
        assert_eq!(
            ExactUsd::checked_sum(std::iter::repeat_n(one, 1_000_000))?,
            sum
        );
        Ok(())
    }

    #[test]
    fn valuation_is_additive_in_the_fee() -> TestResult {
        let mut rng = XorShift(7);
        for _ in 0..500 {
            let p = EthUsdPrice::from_atto_usd(rng.u128_bits(72).max(1))?;
            let a = rng.u128_bits(100);
            let b = rng.u128_bits(100);
            assert_eq!(
                usd_exact(Wei::new(a), p).checked_add(usd_exact(Wei::new(b), p))?,
                usd_exact(Wei::new(a + b), p)
            );
        }
        Ok(())
    }

    #[test]
    fn grouping_never_changes_the_exact_total_and_each_figure_is_rounded_from_its_own_sum()
    -> TestResult {
        let mut rng = XorShift(0xDEAD_BEEF);
        let prices = [price("3456.789012")?, price("2999.99")?, price("0.5")?];
        let events: Vec<(usize, ExactUsd)> = (0..3_000)
            .map(|i| {
                let bits = 1 + (rng.next() % 70) as u32;
                let fee = Wei::new(rng.u128_bits(bits));
                (i % 7, usd_exact(fee, prices[i % prices.len()]))
            })
            .collect();
        let total = ExactUsd::checked_sum(events.iter().map(|(_, v)| *v))?;
        // Reversed order, and by groups of 7 then summed: same exact total.
        assert_eq!(
            ExactUsd::checked_sum(events.iter().rev().map(|(_, v)| *v))?,
            total
        );
        let groups: Vec<ExactUsd> = (0..7)
            .map(|g| ExactUsd::checked_sum(events.iter().filter(|(k, _)| *k == g).map(|(_, v)| *v)))
            .collect::<Result<_, _>>()?;
        assert_eq!(ExactUsd::checked_sum(groups.iter().copied())?, total);
        // Each reported figure is the ceiling of its own exact sum: the per-group figures add up
        // to at least the total's figure and exceed it by less than one micro-USD per group.
        let figures: u128 = groups.iter().map(|g| g.ceil_micros()).sum();
        assert!(figures >= total.ceil_micros());
        assert!(figures < total.ceil_micros() + groups.len() as u128);
        // The same through storage: per-event parts summed column-wise like SQL does.
        let column_sum = events
            .iter()
            .try_fold(UsdParts::ZERO, |sum, (_, v)| sum.checked_add(v.to_parts()?))?;
        assert_eq!(ExactUsd::from_parts(column_sum)?, total);
        // And rollup rows (one per group) summed again column-wise.
        let rollups = groups
            .iter()
            .try_fold(UsdParts::ZERO, |sum, g| sum.checked_add(g.to_parts()?))?;
        assert_eq!(ExactUsd::from_parts(rollups)?, total);
        Ok(())
    }

    #[test]
    fn ceil_rounds_up_only_a_remainder() -> TestResult {
        let exact = ExactUsd::from_micros_and_units;
        assert_eq!(exact(5, 0)?.ceil_micros(), 5);
        assert_eq!(exact(5, 1)?.ceil_micros(), 6);
        assert_eq!(exact(5, UNITS_PER_MICRO - 1)?.ceil_micros(), 6);
        assert_eq!(exact(5, UNITS_PER_MICRO)?, exact(6, 0)?);
        assert_eq!(exact(5, 1)?.floor_micros(), 5);
        assert_eq!(
            exact(i64::MAX as u128, 1)?.ceil_usd_micros(),
            Err(MoneyError::Overflow)
        );
        assert_eq!(
            exact(i64::MAX as u128, 0)?.ceil_usd_micros(),
            Ok(UsdMicros::new(i64::MAX))
        );
        assert_eq!(exact(1_500_000, 0)?.to_string(), "1.5");
        assert_eq!(
            exact(0, 1)?.to_string(),
            "0.000000000000000000000000000000000001"
        );
        assert!(exact(1, 0)? > exact(0, UNITS_PER_MICRO - 1)?);
        Ok(())
    }

    #[test]
    fn exact_sums_report_overflow_instead_of_wrapping() -> TestResult {
        let max = ExactUsd::from_micros_and_units(u128::MAX, UNITS_PER_MICRO - 1)?;
        let tiny = ExactUsd::from_micros_and_units(0, 1)?;
        assert_eq!(max.checked_add(tiny), Err(MoneyError::Overflow));
        assert_eq!(
            ExactUsd::from_micros_and_units(u128::MAX, UNITS_PER_MICRO),
            Err(MoneyError::Overflow)
        );
        assert_eq!(
            ExactUsd::checked_sum([max, tiny]),
            Err(MoneyError::Overflow)
        );
        Ok(())
    }

    // ----- storage parts -----------------------------------------------------------------------

    #[test]
    fn parts_are_normalised_limbs_and_round_trip() -> TestResult {
        let value = ExactUsd::from_micros_and_units(42, 123_456_789_987_654_321_112_233_445)?;
        assert_eq!(
            value.to_parts()?,
            UsdParts {
                e6: 42,
                e9: 0,
                e18: 123_456_789,
                e27: 987_654_321,
                e36: 112_233_445,
            }
        );
        let full = ExactUsd::from_micros_and_units(7, UNITS_PER_MICRO - 1)?;
        assert_eq!(
            full.to_parts()?.to_array(),
            [7, 999, 999_999_999, 999_999_999, 999_999_999]
        );
        let mut rng = XorShift(99);
        for _ in 0..1_000 {
            let v = ExactUsd::from_micros_and_units(
                rng.u128_bits(63),
                rng.u128_bits(128) % UNITS_PER_MICRO,
            )?;
            let parts = v.to_parts()?;
            assert!((0..1_000).contains(&parts.e9));
            for limb in [parts.e18, parts.e27, parts.e36] {
                assert!((0..1_000_000_000).contains(&limb));
            }
            assert_eq!(ExactUsd::from_parts(parts)?, v);
            assert_eq!(UsdParts::from_array(parts.to_array()), parts);
        }
        Ok(())
    }

    #[test]
    fn parts_absorb_the_promised_number_of_column_additions() -> TestResult {
        // The worst case: SAFE_PART_ADDITIONS additions of the largest normalised parts.
        const { assert!(SAFE_PART_ADDITIONS >= 1_000_000_000) };
        let n = SAFE_PART_ADDITIONS;
        let largest_sub = UNITS_PER_MICRO - 1;
        let column_sum = UsdParts {
            e6: 0,
            e9: n * 999,
            e18: n * 999_999_999,
            e27: n * 999_999_999,
            e36: n * 999_999_999,
        };
        // n · (10^30 - 1) units = n·10^30 - n = (n - 1) micro-USD + (10^30 - n) units.
        let expected = ExactUsd::from_micros_and_units(n as u128 - 1, UNITS_PER_MICRO - n as u128)?;
        assert_eq!(ExactUsd::from_parts(column_sum)?, expected);
        assert_eq!(
            expected.to_string(),
            units_to_usd(&mul_decimal(&n.to_string(), &largest_sub.to_string())),
            "the oracle agrees"
        );
        // One more addition would overflow the e36 column, and is reported, not wrapped.
        assert_eq!(
            column_sum.checked_add(UsdParts {
                e36: 999_999_999,
                ..UsdParts::ZERO
            }),
            Err(MoneyError::Overflow)
        );
        // All columns at i64::MAX still normalise without overflow.
        assert!(ExactUsd::from_parts(UsdParts::from_array([i64::MAX; 5])).is_ok());
        Ok(())
    }

    #[test]
    fn a_signed_sum_of_carried_rows_reads_as_its_value() -> TestResult {
        // 1 micro-USD minus 10^-36 USD: the e36 column borrows from every limb above it.
        let value = ExactUsd::from_parts(UsdParts::from_array([1, 0, 0, 0, -1]))?;
        assert_eq!(
            value,
            ExactUsd::from_micros_and_units(0, UNITS_PER_MICRO - 1)?
        );
        assert_eq!(
            Wei::from_parts(WeiParts {
                gwei: 2,
                wei: -999_999_999
            })?,
            Wei::new(1_000_000_001)
        );
        Ok(())
    }

    #[test]
    fn parts_reject_negatives_and_unstorable_values() -> TestResult {
        for i in 0..5 {
            let mut parts = [0i64; 5];
            parts[i] = -1;
            assert_eq!(
                ExactUsd::from_parts(UsdParts::from_array(parts)),
                Err(MoneyError::NegativePart)
            );
        }
        let too_big = ExactUsd::from_micros_and_units(i64::MAX as u128 + 1, 0)?;
        assert_eq!(too_big.to_parts(), Err(MoneyError::OutOfStorageRange));
        assert!(
            ExactUsd::from_micros_and_units(i64::MAX as u128, UNITS_PER_MICRO - 1)?
                .to_parts()
                .is_ok()
        );
        Ok(())
    }
}
