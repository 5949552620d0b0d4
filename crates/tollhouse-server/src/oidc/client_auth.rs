//! Client authentication at the token, introspection and revocation endpoints:
//! `client_secret_basic` and `client_secret_post` (RFC 6749 §2.3.1).

use super::error::OidcError;
use super::params::Params;
use crate::state::AppState;
use axum::http::{HeaderMap, header};
use base64::Engine as _;
use tollhouse_core::app::{App, AppStatus};

/// Credentials as presented, before checking.
#[derive(Debug)]
pub struct PresentedClient {
    id: String,
    secret: Option<String>,
}

/// Reads the client's credentials from the Authorization header or the form, refusing both at once.
pub fn presented_client(
    headers: &HeaderMap,
    params: &Params,
) -> Result<Option<PresentedClient>, OidcError> {
    let form_id = params.get("client_id")?;
    let form_secret = params.get("client_secret")?;
    if let Some(value) = headers.get(header::AUTHORIZATION) {
        let basic = value
            .to_str()
            .ok()
            .and_then(tollhouse_core::authorization::basic)
            .ok_or(OidcError::InvalidClient)?;
        if form_secret.is_some() {
            return Err(OidcError::invalid_request(
                "use one client authentication method, not two",
            ));
        }
        let (id, secret) = decode_basic(basic).ok_or(OidcError::InvalidClient)?;
        if form_id.is_some_and(|f| f != id) {
            return Err(OidcError::invalid_request(
                "client_id differs from the authenticated client",
            ));
        }
        return Ok(Some(PresentedClient {
            id,
            secret: Some(secret),
        }));
    }
    Ok(form_id.map(|id| PresentedClient {
        id: id.to_owned(),
        secret: form_secret.map(str::to_owned),
    }))
}

/// `base64(urlencode(id) ":" urlencode(secret))`.
pub fn decode_basic(value: &str) -> Option<(String, String)> {
    let raw = base64::engine::general_purpose::STANDARD
        .decode(value)
        .ok()?;
    let text = String::from_utf8(raw).ok()?;
    let (id, secret) = text.split_once(':')?;
    let decode = |s: &str| -> Option<String> {
        let form = format!("v={}", s.replace('+', "%2B"));
        serde_urlencoded::from_str::<Vec<(String, String)>>(&form)
            .ok()?
            .pop()
            .map(|(_, v)| v)
    };
    let (id, secret) = (decode(id)?, decode(secret)?);
    (!id.is_empty()).then_some((id, secret))
}

/// Authenticates an app's confidential (M2M) client. Unknown clients and wrong secrets fail the
/// same way and in about the same time: the hash is computed either way.
pub async fn authenticate_m2m(
    state: &AppState,
    client: Option<PresentedClient>,
) -> Result<App, OidcError> {
    let Some(client) = client else {
        return Err(OidcError::InvalidClient);
    };
    authenticate_m2m_credentials(state, &client.id, client.secret.as_deref()).await
}

/// [`authenticate_m2m`] for an id and secret already extracted.
pub async fn authenticate_m2m_credentials(
    state: &AppState,
    id: &str,
    secret: Option<&str>,
) -> Result<App, OidcError> {
    let presented = state.pepper.hash(secret.unwrap_or_default());
    let app = match state.m2m_clients.get(&id.to_owned(), state.clock.as_ref()) {
        Some(app) => Some(app),
        None => {
            let app = match state.store.app_by_m2m_client_id(id).await {
                // A NUL character (which PostgreSQL cannot even compare) is in no client id.
                Err(tollhouse_store::StoreError::InvalidText) => None,
                other => other?,
            };
            if let Some(app) = &app {
                state
                    .m2m_clients
                    .insert(id.to_owned(), app.clone(), state.clock.as_ref());
            }
            app
        }
    };
    match app {
        Some(app)
            if secret.is_some()
                && app.m2m_secret_hash.matches(&presented)
                && app.status == AppStatus::Active =>
        {
            Ok(app)
        }
        _ => Err(OidcError::InvalidClient),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn basic_credentials_are_form_decoded() {
        let encoded = base64::engine::general_purpose::STANDARD.encode("m2m_x:a%2Bb%3Ac");
        assert_eq!(
            decode_basic(&encoded),
            Some(("m2m_x".into(), "a+b:c".into()))
        );
        let plain = base64::engine::general_purpose::STANDARD.encode("id:se:cret");
        assert_eq!(decode_basic(&plain), Some(("id".into(), "se:cret".into())));
        assert_eq!(decode_basic("!!!"), None);
        let no_colon = base64::engine::general_purpose::STANDARD.encode("idsecret");
        assert_eq!(decode_basic(&no_colon), None);
    }
}
