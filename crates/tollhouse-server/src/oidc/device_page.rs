//! The device verification page, RFC 8628 §3.3: `verification_uri` (`<base>/oidc/device`). A
//! user types the code their device shows (or arrives with it from
//! `verification_uri_complete`); a valid code sends them to the app's `initiateLoginUri` with
//! `user_code` and `client_id`, where the app's backend signs them in and approves the device
//! (the builder-sdk's `approveDeviceLogin`). One small HTML page, no scripts and no external
//! assets, readable without styles.

use super::device::{display_user_code, normalise_user_code};
use crate::state::AppState;
use axum::body::Bytes;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use tollhouse_store::StoreError;

/// The page's query (`verification_uri_complete` carries the code) and its form.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct CodeInput {
    /// The code the device shows, with or without its dash, in any case.
    #[serde(default)]
    pub user_code: Option<String>,
}

/// What the page says besides the form.
enum Notice {
    None,
    /// The code matched no pending login.
    UnknownCode,
    /// The app has not said where its users sign in.
    NotSetUp,
    /// The store could not be read.
    Unavailable,
}

/// `GET <base>/oidc/device`.
#[utoipa::path(
    get,
    path = "/oidc/device",
    operation_id = "deviceVerificationPage",
    tag = "oidc",
    params(CodeInput),
    responses((status = 200, description = "The page where a user enters a device code", content_type = "text/html", body = String))
)]
pub async fn get(query: Result<Query<CodeInput>, QueryRejection>) -> Response {
    // A malformed query just shows the empty form.
    let code = query
        .ok()
        .and_then(|Query(q)| q.user_code)
        .unwrap_or_default();
    page(StatusCode::OK, &code, &Notice::None)
}

/// `POST <base>/oidc/device` (the page's form, `user_code=…`).
#[utoipa::path(
    post,
    path = "/oidc/device",
    operation_id = "deviceVerificationSubmit",
    tag = "oidc",
    request_body(content = String, content_type = "application/x-www-form-urlencoded", description = "`user_code=<code>`"),
    responses(
        (status = 303, description = "To the app's `initiateLoginUri`, with `user_code` and `client_id`"),
        (status = 400, description = "No pending login has this code", content_type = "text/html", body = String),
        (status = 409, description = "The app has not set `initiateLoginUri`", content_type = "text/html", body = String),
        (status = 503, description = "Storage unavailable", content_type = "text/html", body = String)
    )
)]
pub async fn post(State(state): State<AppState>, body: Bytes) -> Response {
    let form: CodeInput = serde_urlencoded::from_bytes(&body).unwrap_or_default();
    let typed = form.user_code.unwrap_or_default();
    match destination(&state, &typed).await {
        Ok(Ok(url)) => see_other(&url),
        Ok(Err(notice)) => {
            let status = match notice {
                Notice::NotSetUp => StatusCode::CONFLICT,
                _ => StatusCode::BAD_REQUEST,
            };
            page(status, &typed, &notice)
        }
        Err(err) => {
            tracing::warn!(error = %err, "device page: store unavailable");
            page(
                StatusCode::SERVICE_UNAVAILABLE,
                &typed,
                &Notice::Unavailable,
            )
        }
    }
}

/// Where a user who typed `typed` goes next, or what to tell them.
async fn destination(state: &AppState, typed: &str) -> Result<Result<String, Notice>, StoreError> {
    let code = normalise_user_code(typed);
    if code.len() != 8 {
        return Ok(Err(Notice::UnknownCode));
    }
    let Some(grant) = state
        .store
        .pending_device_grant(&code, state.clock.now())
        .await?
    else {
        return Ok(Err(Notice::UnknownCode));
    };
    let Some(uri) = state.store.initiate_login_uri(&grant.client_id).await? else {
        return Ok(Err(Notice::NotSetUp));
    };
    let shown = display_user_code(&code);
    let query = serde_urlencoded::to_string([
        ("user_code", shown.as_str()),
        ("client_id", &grant.client_id),
    ])
    .unwrap_or_default();
    let separator = if uri.contains('?') { '&' } else { '?' };
    Ok(Ok(format!("{uri}{separator}{query}")))
}

fn see_other(url: &str) -> Response {
    match HeaderValue::from_str(url) {
        Ok(location) => {
            let mut response = StatusCode::SEE_OTHER.into_response();
            response.headers_mut().insert(header::LOCATION, location);
            guarded(response)
        }
        Err(_) => page(StatusCode::CONFLICT, "", &Notice::NotSetUp),
    }
}

/// Headers every answer of the page carries: nothing cached (codes are in URLs), no framing
/// (clickjacking of the Continue button), no referrer to the app, nothing loaded from elsewhere.
fn guarded(mut response: Response) -> Response {
    let headers = response.headers_mut();
    for (name, value) in [
        (header::CACHE_CONTROL, "no-store"),
        (header::REFERRER_POLICY, "no-referrer"),
        (header::X_FRAME_OPTIONS, "DENY"),
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        (
            header::CONTENT_SECURITY_POLICY,
            "default-src 'none'; style-src 'unsafe-inline'; base-uri 'none'; frame-ancestors 'none'",
        ),
    ] {
        headers.insert(name, HeaderValue::from_static(value));
    }
    response
}

fn page(status: StatusCode, code: &str, notice: &Notice) -> Response {
    let alert = match notice {
        Notice::None => "",
        Notice::UnknownCode => {
            "That code is not valid, or it has expired. Check the code your device shows, or start again on the device."
        }
        Notice::NotSetUp => {
            "This app has not set up device sign-in yet (its initiateLoginUri setting is empty), so you cannot continue here. Please tell the app's developer."
        }
        Notice::Unavailable => "Something went wrong on our side. Please try again in a moment.",
    };
    let alert = if alert.is_empty() {
        String::new()
    } else {
        format!(r#"<p class="alert" role="alert" id="problem">{alert}</p>"#)
    };
    let described = if alert.is_empty() {
        "hint"
    } else {
        "hint problem"
    };
    let html = format!(
        r#"<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Connect a device</title>
<style>
body {{ font: 1.1rem/1.5 system-ui, sans-serif; margin: 0; background: #f6f7f9; color: #1b1f24; }}
main {{ max-width: 26rem; margin: 12vh auto; padding: 2rem; background: #fff; border-radius: 12px; box-shadow: 0 1px 4px #0002; }}
h1 {{ font-size: 1.5rem; margin-top: 0; }}
label {{ display: block; font-weight: 600; margin-bottom: .25rem; }}
input {{ font: inherit; font-size: 1.6rem; letter-spacing: .15em; text-transform: uppercase; width: 100%; box-sizing: border-box; padding: .5rem .75rem; border: 2px solid #59636e; border-radius: 8px; }}
input:focus, button:focus {{ outline: 3px solid #0a58ca; outline-offset: 2px; }}
#hint {{ color: #454d56; font-size: .95rem; margin: .4rem 0 1.2rem; }}
button {{ font: inherit; font-weight: 600; padding: .6rem 1.4rem; border: 0; border-radius: 8px; background: #0a58ca; color: #fff; cursor: pointer; }}
.alert {{ border-left: 4px solid #b42318; background: #fef3f2; color: #7a271a; padding: .6rem .9rem; margin: 0 0 1.2rem; }}
</style>
</head>
<body>
<main>
<h1>Connect a device</h1>
<p>Enter the code your device shows to sign in on it.</p>
{alert}<form method="post" action="device">
<label for="user_code">Device code</label>
<input id="user_code" name="user_code" value="{code}" required maxlength="16" autocomplete="one-time-code" autocapitalize="characters" spellcheck="false" aria-describedby="{described}" autofocus>
<p id="hint">Eight letters, like BCDF-GHJK.</p>
<button type="submit">Continue</button>
</form>
</main>
</body>
</html>
"#,
        code = escape(code)
    );
    let response = (
        status,
        [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
        html,
    )
        .into_response();
    guarded(response)
}

/// `text` safe inside an HTML attribute value or element.
fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars().take(64) {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c if c.is_control() => {}
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::escape;

    #[test]
    fn typed_text_cannot_leave_the_attribute() {
        assert_eq!(
            escape(r#""><script>alert(1)</script>"#),
            "&quot;&gt;&lt;script&gt;alert(1)&lt;/script&gt;"
        );
        assert_eq!(escape("bcdf-ghjk"), "bcdf-ghjk");
        assert_eq!(escape("a\u{0}b'"), "ab&#39;");
    }
}
