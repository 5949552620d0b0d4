//! Structured webhook bodies: the fuzzer's bytes choose a JSON object shaped like go-livepeer's
//! (spec/signer-wire.md §1) with odd twists: header names in any case or nearly right, header
//! values as arrays with nulls and numbers, bare strings or objects; `Bearer` in any case with odd
//! spacing around JWTs, signer sessions, API keys and tokens at the length limit; `state` and
//! `AuthID` of any type; the legacy `authorization` field. Every such body is valid JSON, so it
//! must be accepted and read exactly as the reference model says.
#![no_main]

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use libfuzzer_sys::arbitrary::{Result, Unstructured};
use libfuzzer_sys::fuzz_target;
use serde_json::{Map, Value, json};
use tollhouse_core::webhook::{MAX_CREDENTIAL_BYTES, parse_webhook_body, trusted_header};
use tollhouse_fuzz::{check_credential, expected};

const HEADER_NAMES: &[&str] = &[
    "Authorization",
    trusted_header::ISSUER,
    trusted_header::CLIENT_ID,
    trusted_header::SUBJECT,
    trusted_header::SUBJECT_TYPE,
    "X-Request-Id",
    "X-Api-Key",
    "User-Agent",
];

fn pick<'a, T>(u: &mut Unstructured<'_>, items: &'a [T]) -> Result<&'a T> {
    u.choose(items)
}

fn string(u: &mut Unstructured<'_>) -> Result<String> {
    Ok(u.arbitrary::<&str>()?.to_owned())
}

fn hex(u: &mut Unstructured<'_>, len: usize) -> Result<String> {
    let mut out = String::with_capacity(len);
    for _ in 0..len {
        let nibble = u.int_in_range(0..=15u8)?;
        out.push(char::from_digit(u32::from(nibble), 16).unwrap_or('0'));
    }
    Ok(out)
}

/// A header name: canonical, lowered, uppercased, randomly cased, or nearly right.
fn header_name(u: &mut Unstructured<'_>) -> Result<String> {
    let name = if u.ratio(1, 8)? {
        string(u)?
    } else {
        (*pick(u, HEADER_NAMES)?).to_owned()
    };
    Ok(match u.int_in_range(0..=5u8)? {
        0 | 1 => name,
        2 => name.to_ascii_lowercase(),
        3 => name.to_ascii_uppercase(),
        4 => {
            let mut out = String::with_capacity(name.len());
            for c in name.chars() {
                out.push(if u.arbitrary()? {
                    c.to_ascii_uppercase()
                } else {
                    c.to_ascii_lowercase()
                });
            }
            out
        }
        // Near misses: padding, a non-ASCII look-alike (the Kelvin sign lowercases to `k` in
        // Unicode but not in ASCII), a truncated name.
        _ => match u.int_in_range(0..=3u8)? {
            0 => format!("{name} "),
            1 => format!(" {name}"),
            2 => name
                .replacen('i', "\u{130}", 1)
                .replacen('k', "\u{212a}", 1),
            _ => name.chars().skip(1).collect(),
        },
    })
}

/// A base64url segment holding a JSON header with odd members, or arbitrary bytes.
fn jws(u: &mut Unstructured<'_>) -> Result<String> {
    let header = match u.int_in_range(0..=3u8)? {
        0 => json!({"alg": "RS256", "kid": string(u)?, "typ": "at+jwt"}),
        1 => json!({"alg": string(u)?, "kid": u.arbitrary::<i64>()?}),
        2 => json!({"alg": "ES256", "typ": null, "kid": [string(u)?]}),
        _ => Value::String(string(u)?),
    };
    let header = if u.ratio(1, 6)? {
        URL_SAFE_NO_PAD.encode(u.arbitrary::<&[u8]>()?)
    } else {
        URL_SAFE_NO_PAD.encode(header.to_string())
    };
    let claims = URL_SAFE_NO_PAD.encode(format!("{{\"sub\":{}}}", Value::String(string(u)?)));
    let signature = URL_SAFE_NO_PAD.encode(u.arbitrary::<&[u8]>()?);
    Ok(match u.int_in_range(0..=4u8)? {
        0 => format!("{header}.{claims}"),
        1 => format!("{header}.{claims}.{signature}.x"),
        2 => format!("{header}.{claims}.{}", string(u)?),
        _ => format!("{header}.{claims}.{signature}"),
    })
}

/// A credential as an end user would present it, possibly slightly off.
fn token(u: &mut Unstructured<'_>) -> Result<String> {
    let token = match u.int_in_range(0..=7u8)? {
        0 => jws(u)?,
        1 => format!("pmth_{}", hex(u, 64)?),
        2 => format!("app_{}_pmth_ak_{}", hex(u, 24)?, hex(u, 64)?),
        3 => format!("pmth_ak_{}", hex(u, 64)?),
        4 => format!("pmth_rt_{}", hex(u, 64)?),
        5 => {
            // Around the credential length limit.
            let len = MAX_CREDENTIAL_BYTES - 2 + usize::from(u.int_in_range(0..=4u8)?);
            "a".repeat(len)
        }
        _ => string(u)?,
    };
    Ok(match u.int_in_range(0..=7u8)? {
        0 => token.to_ascii_uppercase(),
        1 => format!("{token}{}", string(u)?),
        2 => token.chars().skip(1).collect(),
        _ => token,
    })
}

/// An `Authorization` value: `[pad]scheme sep token[pad]`.
fn authorization(u: &mut Unstructured<'_>) -> Result<String> {
    let scheme = match u.int_in_range(0..=8u8)? {
        0..=2 => "Bearer".to_owned(),
        3 => "bearer".to_owned(),
        4 => "BEARER".to_owned(),
        5 => "Basic".to_owned(),
        6 => String::new(),
        7 => "Bearer:".to_owned(),
        _ => string(u)?,
    };
    let sep = *pick(u, &[" ", " ", "  ", "\t", "", " \u{a0}"])?;
    let pad = *pick(u, &["", "", " ", "\n", "\u{a0}", "\u{3000}", "\t "])?;
    let token = token(u)?;
    Ok(if scheme.is_empty() {
        format!("{pad}{token}{pad}")
    } else {
        format!("{pad}{scheme}{sep}{token}{pad}")
    })
}

/// A JSON value of any type, shallow.
fn scalar(u: &mut Unstructured<'_>) -> Result<Value> {
    Ok(match u.int_in_range(0..=6u8)? {
        0 => Value::Null,
        1 => Value::Bool(u.arbitrary()?),
        2 => json!(u.arbitrary::<i64>()?),
        3 => json!(u.arbitrary::<f64>()?),
        4 => json!([string(u)?, 1]),
        5 => {
            let mut object = Map::new();
            object.insert(string(u)?, Value::String(string(u)?));
            Value::Object(object)
        }
        _ => Value::String(string(u)?),
    })
}

/// A string a header might carry: a credential for `Authorization`, else an id or anything.
fn header_text(u: &mut Unstructured<'_>, name: &str) -> Result<String> {
    if name.eq_ignore_ascii_case("authorization") || u.ratio(1, 8)? {
        authorization(u)
    } else if u.arbitrary()? {
        Ok(format!("app_{}", hex(u, 24)?))
    } else {
        string(u)
    }
}

fn header_value(u: &mut Unstructured<'_>, name: &str) -> Result<Value> {
    Ok(match u.int_in_range(0..=7u8)? {
        0..=2 => json!([header_text(u, name)?]),
        3 => Value::String(header_text(u, name)?),
        4 => Value::Array(Vec::new()),
        5 => {
            let mut items = Vec::new();
            for _ in 0..u.int_in_range(1..=4u8)? {
                items.push(match u.int_in_range(0..=3u8)? {
                    0 => Value::Null,
                    1 => json!(u.arbitrary::<u8>()?),
                    _ => Value::String(header_text(u, name)?),
                });
            }
            Value::Array(items)
        }
        _ => scalar(u)?,
    })
}

fn headers(u: &mut Unstructured<'_>) -> Result<Value> {
    if u.ratio(1, 10)? {
        return scalar(u);
    }
    let mut map = Map::new();
    for _ in 0..u.int_in_range(0..=6u8)? {
        let name = header_name(u)?;
        let value = header_value(u, &name)?;
        map.insert(name, value);
    }
    Ok(Value::Object(map))
}

fn auth_id(u: &mut Unstructured<'_>) -> Result<Value> {
    Ok(match u.int_in_range(0..=4u8)? {
        0 => Value::String(String::new()),
        1 => Value::String(format!(
            "app_{}:user-{}",
            hex(u, 24)?,
            u.arbitrary::<u16>()?
        )),
        2 => Value::String(string(u)?),
        _ => scalar(u)?,
    })
}

fn state(u: &mut Unstructured<'_>) -> Result<Value> {
    Ok(match u.int_in_range(0..=7u8)? {
        0..=3 => {
            let mut state = Map::new();
            for (key, value) in [
                ("StateID", json!("1a2b3c4d")),
                ("PMSessionID", json!(format!("0x{}", hex(u, 64)?))),
                ("LastUpdate", json!("2026-08-18T10:00:00.123456789Z")),
                ("App", json!("")),
                ("AuthExpiry", json!(u.arbitrary::<u32>()?)),
                ("Balance", json!("7/4")),
                ("Type", json!("lv2v")),
            ] {
                if u.arbitrary()? {
                    state.insert(
                        key.to_owned(),
                        if u.ratio(1, 4)? { scalar(u)? } else { value },
                    );
                }
            }
            if u.ratio(3, 4)? {
                let key = if u.ratio(1, 8)? { "authid" } else { "AuthID" };
                state.insert(key.to_owned(), auth_id(u)?);
            }
            Value::Object(state)
        }
        4 => json!([auth_id(u)?]),
        5 => Value::Array(Vec::new()),
        6 => json!([auth_id(u)?, auth_id(u)?]),
        _ => scalar(u)?,
    })
}

fn body(u: &mut Unstructured<'_>) -> Result<Map<String, Value>> {
    let mut body = Map::new();
    if u.ratio(7, 8)? {
        body.insert("headers".to_owned(), headers(u)?);
    }
    if u.ratio(3, 4)? {
        body.insert("state".to_owned(), state(u)?);
    }
    if u.ratio(1, 4)? {
        let legacy = if u.ratio(3, 4)? {
            Value::String(authorization(u)?)
        } else {
            scalar(u)?
        };
        body.insert("authorization".to_owned(), legacy);
    }
    for _ in 0..u.int_in_range(0..=2u8)? {
        let key = string(u)?;
        body.insert(key, scalar(u)?);
    }
    Ok(body)
}

fuzz_target!(|data: &[u8]| {
    let mut u = Unstructured::new(data);
    let Ok(body) = body(&mut u) else { return };
    let mut bytes = if data.first().is_some_and(|b| b & 1 == 1) {
        serde_json::to_vec_pretty(&body)
    } else {
        serde_json::to_vec(&body)
    }
    .unwrap_or_default();
    if data.last().is_some_and(|b| b & 1 == 1) {
        bytes.splice(0..0, b" \n\t".iter().copied());
        bytes.extend_from_slice(b"\r\n");
    }

    let model = expected(&body);
    let parsed = parse_webhook_body(&bytes);
    assert_eq!(
        parsed.as_ref(),
        Ok(&model),
        "body: {}",
        String::from_utf8_lossy(&bytes)
    );
    if let Some(credential) = &model.credential {
        check_credential(credential);
    }
});
