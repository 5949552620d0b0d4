//! The identity webhook's caller check: go-livepeer proves itself with a shared secret sent as
//! a static header (`-remoteSignerWebhookHeaders`), as `X-Api-Key`, `X-Webhook-Secret` or
//! `Authorization: Bearer`.

use subtle::ConstantTimeEq as _;

/// Headers that may carry the webhook secret as their whole value (lower case).
const SECRET_HEADERS: [&str; 2] = ["x-api-key", "x-webhook-secret"];

/// Whether any of `headers` (lower-case name, raw value) carries `expected`: every value of
/// every accepted header is compared, each in constant time, so neither which header matched
/// nor how many were sent changes what is compared. An empty `expected` matches nothing.
///
/// ```
/// use tollhouse_core::webhook::caller_presents_secret;
/// let sent = [("authorization", &b"Basic eA=="[..]), ("authorization", b"BEARER s3cret")];
/// assert!(caller_presents_secret(b"s3cret", sent));
/// assert!(!caller_presents_secret(b"", [("x-api-key", &b""[..])]));
/// ```
pub fn caller_presents_secret<'a>(
    expected: &[u8],
    headers: impl IntoIterator<Item = (&'a str, &'a [u8])>,
) -> bool {
    if expected.is_empty() {
        return false;
    }
    headers.into_iter().fold(false, |found, (name, value)| {
        let presented = if name == "authorization" {
            std::str::from_utf8(value)
                .ok()
                .and_then(crate::authorization::bearer)
                .map(str::as_bytes)
        } else if SECRET_HEADERS.contains(&name) {
            Some(value.trim_ascii())
        } else {
            None
        };
        found | presented.is_some_and(|p| bool::from(p.ct_eq(expected)))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_value_of_every_accepted_header_is_compared() {
        let secret = b"s3cret";
        for sent in [
            vec![("x-api-key", &b" s3cret "[..])],
            vec![
                ("x-webhook-secret", &b"wrong"[..]),
                ("x-webhook-secret", b"s3cret"),
            ],
            vec![
                ("authorization", &b"Bearer wrong"[..]),
                ("authorization", b"bearer s3cret"),
            ],
            vec![
                ("x-other", &b"wrong"[..]),
                ("authorization", b"BEARER s3cret"),
            ],
        ] {
            assert!(caller_presents_secret(secret, sent.clone()), "{sent:?}");
        }
        for sent in [
            vec![],
            vec![("authorization", &b"s3cret"[..])],
            vec![("authorization", &b"Basic s3cret"[..])],
            vec![("x-other", &b"s3cret"[..])],
            vec![("x-api-key", &b"s3cret2"[..])],
        ] {
            assert!(!caller_presents_secret(secret, sent.clone()), "{sent:?}");
        }
    }
}
