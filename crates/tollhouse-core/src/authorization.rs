//! The one reader of `Authorization` header values (RFC 9110 §11.6.2): `scheme 1*SP credentials`,
//! the scheme compared case-insensitively (RFC 9110 §11.1, so `BEARER x`, `bearer x` and
//! `Bearer x` are one credential). Only a space separates the two (a tab does not, as the
//! grammar says); surrounding whitespace is dropped, as HTTP drops it around a field value.
//!
//! Every surface that reads the header (the token endpoint, the Builder API, the end-user
//! routes, userinfo, the identity webhook's caller check, the signer proxy, the SDK's
//! verifiers) goes through [`parse`], so none can route a header as one scheme and then refuse
//! it as another.

/// An `Authorization` value by scheme.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Authorization<'a> {
    /// `Bearer <token>` (RFC 6750 §2.1).
    Bearer(&'a str),
    /// `Basic <base64>` (RFC 7617), still encoded: what the user-id and password mean (e.g.
    /// form-urlencoded client credentials, RFC 6749 §2.3.1) is the caller's business.
    Basic(&'a str),
    /// Another scheme, with its parameters as sent.
    Other {
        /// The scheme as sent.
        scheme: &'a str,
        /// What follows it, trimmed.
        params: &'a str,
    },
}

/// Reads one `Authorization` value; `None` when there is no scheme and credentials (an empty
/// value, a bare scheme, or a scheme of characters a token cannot hold).
///
/// ```
/// use tollhouse_core::authorization::{Authorization, parse};
/// assert_eq!(parse("BEARER abc"), Some(Authorization::Bearer("abc")));
/// assert_eq!(parse(" basic  Zm9vOmJhcg== "), Some(Authorization::Basic("Zm9vOmJhcg==")));
/// assert_eq!(parse("Bearer"), None);
/// ```
pub fn parse(value: &str) -> Option<Authorization<'_>> {
    let (scheme, params) = value.trim().split_once(' ')?;
    let params = params.trim();
    if params.is_empty() || !scheme.bytes().all(is_token_char) {
        return None;
    }
    Some(if scheme.eq_ignore_ascii_case("bearer") {
        Authorization::Bearer(params)
    } else if scheme.eq_ignore_ascii_case("basic") {
        Authorization::Basic(params)
    } else {
        Authorization::Other { scheme, params }
    })
}

/// The token of a `Bearer` value, if that is what `value` is.
pub fn bearer(value: &str) -> Option<&str> {
    match parse(value)? {
        Authorization::Bearer(token) => Some(token),
        _ => None,
    }
}

/// The still-encoded credentials of a `Basic` value, if that is what `value` is.
pub fn basic(value: &str) -> Option<&str> {
    match parse(value)? {
        Authorization::Basic(encoded) => Some(encoded),
        _ => None,
    }
}

/// `tchar` of RFC 9110 §5.6.2.
fn is_token_char(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schemes_are_case_insensitive_and_credentials_kept_as_sent() {
        for value in [
            "Bearer t.k.n",
            "bearer t.k.n",
            "BEARER t.k.n",
            "bEaReR t.k.n",
            "  Bearer   t.k.n  ",
        ] {
            assert_eq!(
                parse(value),
                Some(Authorization::Bearer("t.k.n")),
                "{value:?}"
            );
        }
        for value in ["Basic YTpi", "basic YTpi", "BASIC YTpi"] {
            assert_eq!(basic(value), Some("YTpi"), "{value:?}");
            assert_eq!(bearer(value), None);
        }
        assert_eq!(
            parse("DPoP abc"),
            Some(Authorization::Other {
                scheme: "DPoP",
                params: "abc"
            })
        );
    }

    #[test]
    fn a_value_without_scheme_and_credentials_is_nothing() {
        for value in [
            "",
            " ",
            "Bearer",
            "Bearer   ",
            "pmth_abc",
            "Bea(rer x",
            "\tBasic\t",
        ] {
            assert_eq!(parse(value), None, "{value:?}");
        }
    }
}
