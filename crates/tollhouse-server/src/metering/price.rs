//! The ETH/USD price usage is valued at: a static `--eth-usd-price`, or an HTTP JSON oracle
//! (`--eth-usd-oracle-url`) read every `--eth-usd-oracle-interval-secs`.
//!
//! Every event records the price it was valued at and when that price was observed (the static
//! price: the server's start; the oracle: when its answer arrived, by the injected clock), so a
//! later price never rewrites history.
//!
//! The oracle's number is read exactly from the JSON text (`3456.78`, `"3456.78"`, `3.45678e3`):
//! the value at `--eth-usd-oracle-pointer` (RFC 6901, default `/ethereum/usd`, the shape of
//! CoinGecko's `simple/price?ids=ethereum&vs_currencies=usd`) is taken as raw text and converted
//! digit by digit; it never passes through a float.
//!
//! A price older than `--eth-usd-oracle-max-age-secs` is refused: events then wait (the Kafka
//! consumer retries the batch without committing its offsets; the HTTP endpoints answer 409)
//! rather than being valued at a price that may be wrong by now. Valuing late is harmless (the
//! event keeps its own timestamp); valuing wrong is permanent.

use super::MeteringState;
use crate::config::{ConfigError, PriceConfig};
use serde_json::value::RawValue;
use std::collections::BTreeMap;
use std::sync::RwLock;
use std::time::Duration;
use tokio::sync::watch;
use tollhouse_core::money::EthUsdPrice;

/// A price and when it was observed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ObservedPrice {
    /// USD per ETH, exact.
    pub price: EthUsdPrice,
    /// When it was observed, unix ms.
    pub observed_at_ms: i64,
}

/// Why no price can be used now.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PriceError {
    /// Neither a static price nor an oracle is configured.
    #[error("no ETH/USD price configured (--eth-usd-price or --eth-usd-oracle-url)")]
    NotConfigured,
    /// The oracle has not answered usefully since the server started.
    #[error("the ETH/USD oracle has not given a price yet")]
    NotYetObserved,
    /// The oracle's last price is too old.
    #[error("the ETH/USD oracle's last price is {age_ms} ms old (at most {max_age_ms} ms is used)")]
    Stale {
        /// Its age.
        age_ms: i64,
        /// The limit.
        max_age_ms: i64,
    },
}

#[derive(Debug)]
enum Kind {
    None,
    Static(ObservedPrice),
    Oracle {
        latest: RwLock<Option<ObservedPrice>>,
        max_age_ms: i64,
    },
}

/// Where the current price comes from.
#[derive(Debug)]
pub struct PriceSource {
    kind: Kind,
}

impl PriceSource {
    /// No price: usage cannot be valued.
    pub fn none() -> Self {
        Self { kind: Kind::None }
    }

    /// A fixed price, observed at `observed_at_ms`.
    pub fn fixed(price: EthUsdPrice, observed_at_ms: i64) -> Self {
        Self {
            kind: Kind::Static(ObservedPrice {
                price,
                observed_at_ms,
            }),
        }
    }

    /// An oracle's prices, as [`PriceSource::record`] receives them; older than `max_age_ms`
    /// they are refused.
    pub fn oracle(max_age_ms: i64) -> Self {
        Self {
            kind: Kind::Oracle {
                latest: RwLock::new(None),
                max_age_ms,
            },
        }
    }

    /// The source `config` describes (a static price is observed at `now_ms`, the start).
    /// `config` has passed [`PriceConfig::validate`] (`start` validates the whole configuration
    /// first); a price that does not parse is still an error here.
    pub fn from_config(config: &PriceConfig, now_ms: i64) -> Result<Self, ConfigError> {
        if let Some(text) = &config.eth_usd {
            let price = EthUsdPrice::parse(text)
                .map_err(|e| ConfigError::invalid("price.eth_usd", e.to_string()))?;
            return Ok(Self::fixed(price, now_ms));
        }
        if config.oracle_url.is_some() {
            return Ok(Self::oracle(config.oracle_max_age_ms()));
        }
        Ok(Self::none())
    }

    /// Whether prices come from an oracle (which then needs [`run_oracle`]).
    pub fn is_oracle(&self) -> bool {
        matches!(self.kind, Kind::Oracle { .. })
    }

    /// Records an oracle's answer (ignored for other sources).
    pub fn record(&self, observed: ObservedPrice) {
        if let Kind::Oracle { latest, .. } = &self.kind {
            let mut slot = latest
                .write()
                .unwrap_or_else(|poisoned| poisoned.into_inner());
            // Never go back in time (two refreshes finishing out of order).
            if slot.is_none_or(|old| old.observed_at_ms <= observed.observed_at_ms) {
                *slot = Some(observed);
            }
        }
    }

    /// The last observed price, however old (for `/metrics` and logs).
    pub fn latest(&self) -> Option<ObservedPrice> {
        match &self.kind {
            Kind::None => None,
            Kind::Static(observed) => Some(*observed),
            Kind::Oracle { latest, .. } => *latest
                .read()
                .unwrap_or_else(|poisoned| poisoned.into_inner()),
        }
    }

    /// The price to value events at, at `now_ms`.
    pub fn current(&self, now_ms: i64) -> Result<ObservedPrice, PriceError> {
        match &self.kind {
            Kind::None => Err(PriceError::NotConfigured),
            Kind::Static(observed) => Ok(*observed),
            Kind::Oracle { max_age_ms, .. } => {
                let observed = self.latest().ok_or(PriceError::NotYetObserved)?;
                let age_ms = now_ms.saturating_sub(observed.observed_at_ms);
                if age_ms > *max_age_ms {
                    Err(PriceError::Stale {
                        age_ms,
                        max_age_ms: *max_age_ms,
                    })
                } else {
                    Ok(observed)
                }
            }
        }
    }
}

/// Why an oracle answer was not used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OracleError {
    /// The request failed or the status was not 2xx.
    #[error("request failed: {0}")]
    Http(String),
    /// The body is not JSON.
    #[error("answer is not JSON: {0}")]
    NotJson(String),
    /// Nothing at the pointer.
    #[error("answer has no value at `{0}`")]
    Missing(String),
    /// The value is not a usable price.
    #[error("value at `{pointer}` is not a price: {reason}")]
    NotAPrice {
        /// Where.
        pointer: String,
        /// Why.
        reason: String,
    },
}

/// The price at `pointer` in an oracle's JSON `body`, read exactly from its text.
pub fn parse_oracle_answer(body: &[u8], pointer: &str) -> Result<EthUsdPrice, OracleError> {
    let text = std::str::from_utf8(body).map_err(|e| OracleError::NotJson(e.to_string()))?;
    let mut raw: &RawValue =
        serde_json::from_str(text).map_err(|e| OracleError::NotJson(e.to_string()))?;
    let missing = || OracleError::Missing(pointer.to_owned());
    if !pointer.is_empty() {
        let tokens = pointer.strip_prefix('/').ok_or_else(missing)?;
        for token in tokens.split('/') {
            let token = token.replace("~1", "/").replace("~0", "~");
            let inner = raw.get().trim_start();
            raw = if inner.starts_with('{') {
                let object: BTreeMap<String, &RawValue> =
                    serde_json::from_str(raw.get()).map_err(|_| missing())?;
                *object.get(&token).ok_or_else(missing)?
            } else if inner.starts_with('[') {
                let array: Vec<&RawValue> =
                    serde_json::from_str(raw.get()).map_err(|_| missing())?;
                let index: usize = token
                    .parse()
                    .ok()
                    .filter(|_| token == "0" || !token.starts_with('0'))
                    .ok_or_else(missing)?;
                *array.get(index).ok_or_else(missing)?
            } else {
                return Err(missing());
            };
        }
    }
    let not_a_price = |reason: String| OracleError::NotAPrice {
        pointer: pointer.to_owned(),
        reason,
    };
    let value = raw.get().trim();
    let number = if value.starts_with('"') {
        serde_json::from_str::<String>(value).map_err(|e| not_a_price(e.to_string()))?
    } else {
        value.to_owned()
    };
    let plain = plain_decimal(number.trim())
        .ok_or_else(|| not_a_price(format!("`{number}` is not a non-negative decimal number")))?;
    EthUsdPrice::parse(&plain).map_err(|e| not_a_price(e.to_string()))
}

/// A non-negative JSON number's text (`3456.78`, `3.45678e3`, `345678E-2`) as a plain decimal
/// (`3456.78`), exactly; `None` for anything else. Exponents beyond ±60 are refused (no price
/// needs them).
fn plain_decimal(text: &str) -> Option<String> {
    let (mantissa, exponent) = match text.find(['e', 'E']) {
        Some(at) => {
            let e = &text[at + 1..];
            let digits = e.strip_prefix(['+', '-']).unwrap_or(e);
            if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) || digits.len() > 3
            {
                return None;
            }
            (&text[..at], e.parse::<i64>().ok()?)
        }
        None => (text, 0),
    };
    if exponent.abs() > 60 {
        return None;
    }
    let (whole, fraction) = mantissa.split_once('.').unwrap_or((mantissa, ""));
    let is_digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    if whole.is_empty()
        || !is_digits(whole)
        || !is_digits(fraction)
        || (mantissa.contains('.') && fraction.is_empty())
    {
        return None;
    }
    let digits = format!("{whole}{fraction}");
    // The decimal point sits after `point` digits.
    let point = i64::try_from(whole.len()).ok()? + exponent;
    let len = i64::try_from(digits.len()).ok()?;
    let (int_part, frac_part) = if point <= 0 {
        (
            String::from("0"),
            format!("{}{digits}", "0".repeat(usize::try_from(-point).ok()?)),
        )
    } else if point >= len {
        (
            format!("{digits}{}", "0".repeat(usize::try_from(point - len).ok()?)),
            String::new(),
        )
    } else {
        let at = usize::try_from(point).ok()?;
        (digits[..at].to_owned(), digits[at..].to_owned())
    };
    let int_part = int_part.trim_start_matches('0');
    let int_part = if int_part.is_empty() { "0" } else { int_part };
    let frac_part = frac_part.trim_end_matches('0');
    Some(if frac_part.is_empty() {
        int_part.to_owned()
    } else {
        format!("{int_part}.{frac_part}")
    })
}

/// Asks the oracle once.
pub async fn fetch_price(
    http: &reqwest::Client,
    url: &str,
    pointer: &str,
    timeout: Duration,
) -> Result<EthUsdPrice, OracleError> {
    let response = http
        .get(url)
        .header(reqwest::header::ACCEPT, "application/json")
        .timeout(timeout)
        .send()
        .await
        .map_err(|e| OracleError::Http(e.to_string()))?;
    if !response.status().is_success() {
        return Err(OracleError::Http(format!("HTTP {}", response.status())));
    }
    let body = response
        .bytes()
        .await
        .map_err(|e| OracleError::Http(e.to_string()))?;
    parse_oracle_answer(&body, pointer)
}

/// Refreshes the server's price source from `--eth-usd-oracle-url` every
/// `--eth-usd-oracle-interval-secs` until `stop` turns true. A failed refresh keeps the last
/// price, which is refused once older than `--eth-usd-oracle-max-age-secs`.
pub async fn run_oracle(state: MeteringState, mut stop: watch::Receiver<bool>) {
    let Some(url) = state.config.price.oracle_url.clone() else {
        return;
    };
    let pointer = state.config.price.oracle_pointer.clone();
    let interval = Duration::from_secs(state.config.price.oracle_interval_secs.max(1));
    let timeout = interval.clamp(Duration::from_secs(1), Duration::from_secs(10));
    let mut ticker = tokio::time::interval(interval);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = stop.wait_for(|s| *s) => return,
            _ = ticker.tick() => {}
        }
        match fetch_price(&state.http, &url, &pointer, timeout).await {
            Ok(price) => {
                let observed_at_ms = state.clock.now_millis();
                state.price.record(ObservedPrice {
                    price,
                    observed_at_ms,
                });
                state.metrics.price_refreshed(true, observed_at_ms);
                tracing::debug!(%price, "ETH/USD price refreshed");
            }
            Err(err) => {
                state.metrics.price_refreshed(false, 0);
                tracing::warn!(error = %err, "ETH/USD oracle refresh failed; keeping the last price");
            }
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn oracle_answers_are_read_exactly() {
        let price = |body: &str, pointer: &str| {
            parse_oracle_answer(body.as_bytes(), pointer).map(|p| p.to_string())
        };
        assert_eq!(
            price(r#"{"ethereum":{"usd":3456.78}}"#, "/ethereum/usd"),
            Ok("3456.78".into())
        );
        // More digits than a float holds: kept, every one.
        assert_eq!(
            price(
                r#"{"ethereum":{"usd":3456.123456789012345678}}"#,
                "/ethereum/usd"
            ),
            Ok("3456.123456789012345678".into())
        );
        assert_eq!(
            price(r#"{"data":{"amount":"3456.78"}}"#, "/data/amount"),
            Ok("3456.78".into())
        );
        assert_eq!(
            price(r#"{"p":[1, {"x":3.45678e3}]}"#, "/p/1/x"),
            Ok("3456.78".into())
        );
        assert_eq!(price(r#"{"a/b":{"m~n":7}}"#, "/a~1b/m~0n"), Ok("7".into()));
        assert_eq!(price("2500", ""), Ok("2500".into()));
        assert_eq!(price(r#"{"x": 345678E-2}"#, "/x"), Ok("3456.78".into()));
        assert_eq!(price(r#"{"x": 0.25e1}"#, "/x"), Ok("2.5".into()));
        assert_eq!(price(r#"{"x": 3456.7800}"#, "/x"), Ok("3456.78".into()));
        for (body, pointer) in [
            (r#"{"ethereum":{}}"#, "/ethereum/usd"),
            (r#"{"p":[1]}"#, "/p/1"),
            (r#"{"p":[1,2]}"#, "/p/01"),
            (r#"{"p":5}"#, "/p/q"),
            (r#"{"p":5}"#, "p"),
        ] {
            assert!(
                matches!(
                    parse_oracle_answer(body.as_bytes(), pointer),
                    Err(OracleError::Missing(_))
                ),
                "{body} {pointer}"
            );
        }
        for body in [
            r#"{"x": -3}"#,
            r#"{"x": 0}"#,
            r#"{"x": "abc"}"#,
            r#"{"x": null}"#,
            r#"{"x": true}"#,
            r#"{"x": {"y": 1}}"#,
            r#"{"x": 1e999}"#,
            r#"{"x": 1.0000000000000000001}"#,
        ] {
            assert!(
                matches!(
                    parse_oracle_answer(body.as_bytes(), "/x"),
                    Err(OracleError::NotAPrice { .. })
                ),
                "{body}"
            );
        }
        assert!(matches!(
            parse_oracle_answer(b"{not json", "/x"),
            Err(OracleError::NotJson(_))
        ));
    }

    #[test]
    fn plain_decimals() {
        for (text, plain) in [
            ("1", Some("1")),
            ("0001.500", Some("1.5")),
            ("1e3", Some("1000")),
            ("1.5E+2", Some("150")),
            ("15e-1", Some("1.5")),
            ("5e-3", Some("0.005")),
            ("0.0", Some("0")),
            ("1.", None),
            (".5", None),
            ("-1", None),
            ("1e", None),
            ("1e+", None),
            ("1e61", None),
            ("0x10", None),
            ("", None),
        ] {
            assert_eq!(plain_decimal(text).as_deref(), plain, "{text}");
        }
    }

    #[test]
    fn stale_oracle_prices_are_refused() {
        let source = PriceSource::oracle(60_000);
        assert_eq!(source.current(0), Err(PriceError::NotYetObserved));
        let first = ObservedPrice {
            price: EthUsdPrice::parse("3000").unwrap(),
            observed_at_ms: 1_000,
        };
        source.record(first);
        assert_eq!(source.current(61_000), Ok(first));
        assert_eq!(
            source.current(61_001),
            Err(PriceError::Stale {
                age_ms: 60_001,
                max_age_ms: 60_000
            })
        );
        // An older answer arriving late does not replace a newer one.
        source.record(ObservedPrice {
            price: EthUsdPrice::parse("1").unwrap(),
            observed_at_ms: 500,
        });
        assert_eq!(source.latest(), Some(first));
        let fixed = PriceSource::fixed(EthUsdPrice::parse("2000").unwrap(), 7);
        assert_eq!(fixed.current(i64::MAX).map(|p| p.observed_at_ms), Ok(7));
        assert_eq!(
            PriceSource::none().current(0),
            Err(PriceError::NotConfigured)
        );
    }
}
