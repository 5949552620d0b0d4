//! Token endpoint calls: client credentials, user signer tokens, token exchange (user JWT or API
//! key), device approval and polling, refresh.

use super::Client;
use crate::error::Error;
use reqwest::header::ACCEPT;
use tollhouse_api::oauth::{
    DEVICE_RESOURCE_PREFIX, DeviceAuthorization, GrantType, MINT_USER_TOKEN_SCOPE, SignerSession,
    SubjectTokenType, TokenResponse, UserTokens,
};
use tollhouse_api::users::UpsertUser;

/// Which signer credential a user JWT is exchanged for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SignerCredential {
    /// An opaque `pmth_` session, valid 90 days, revocable (no `resource`).
    #[default]
    Session,
    /// A signer JWT valid 300 s, verifiable offline (`resource` = the issuer).
    Jwt,
}

/// The `resource` naming a pending device login: the user code upper-cased, without dashes or
/// spaces.
fn device_resource(user_code: &str) -> String {
    let code: String = user_code
        .chars()
        .filter(char::is_ascii_alphanumeric)
        .map(|c| c.to_ascii_uppercase())
        .collect();
    format!("{DEVICE_RESOURCE_PREFIX}{code}")
}

impl Client {
    /// POSTs `form` to the token endpoint, with the app's M2M credentials when `m2m`.
    async fn token_call<T: serde::de::DeserializeOwned>(
        &self,
        form: &[(&str, &str)],
        m2m: bool,
    ) -> Result<T, Error> {
        let endpoint = self.discovery().await?.token_endpoint.clone();
        let mut request = self
            .inner
            .http
            .post(endpoint)
            .header(ACCEPT, "application/json")
            .form(form);
        if m2m {
            let creds = self.m2m()?;
            request = request.basic_auth(&creds.id, Some(&creds.secret));
        }
        self.send_body(request).await
    }

    /// `client_credentials`: an RFC 9068 JWT for the app itself, with `scope` (space-separated,
    /// within the app's scopes) or all of the app's scopes.
    ///
    /// ```no_run
    /// # async fn run(client: tollhouse_sdk::Client) -> Result<(), tollhouse_sdk::Error> {
    /// let token = client.client_credentials(Some("users:read")).await?;
    /// assert_eq!(token.scope, "users:read");
    /// # Ok(()) }
    /// ```
    pub async fn client_credentials(&self, scope: Option<&str>) -> Result<TokenResponse, Error> {
        let mut form = vec![("grant_type", GrantType::ClientCredentials.as_str())];
        if let Some(scope) = scope {
            form.push(("scope", scope));
        }
        self.token_call(&form, true).await
    }

    /// A 300 s signer JWT for one of the app's users (created if unknown), with the user's
    /// balance: what a signer token manager mints per user (`client_credentials` with
    /// `scope=sign:mint_user_token` and `external_user_id`). A prepaid app's user without
    /// balance gets 402 `insufficient_allowance`.
    ///
    /// ```no_run
    /// # async fn run(client: tollhouse_sdk::Client) -> Result<(), tollhouse_sdk::Error> {
    /// let token = client.mint_user_signer_token("ada").await?;
    /// println!("valid {} s; balance {} µUSD", token.expires_in, token.balance_usd_micros);
    /// # Ok(()) }
    /// ```
    pub async fn mint_user_signer_token(
        &self,
        external_user_id: &str,
    ) -> Result<SignerSession, Error> {
        let form = [
            ("grant_type", GrantType::ClientCredentials.as_str()),
            ("scope", MINT_USER_TOKEN_SCOPE),
            ("external_user_id", external_user_id),
        ];
        self.token_call(&form, true).await
    }

    /// RFC 8693 exchange of a user JWT of this app for a signer credential, optionally narrowed
    /// to `scope`.
    ///
    /// ```no_run
    /// # async fn run(client: tollhouse_sdk::Client) -> Result<(), tollhouse_sdk::Error> {
    /// use tollhouse_sdk::SignerCredential;
    /// let user = client.mint_user_token("ada", None).await?;
    /// let jwt = client.exchange_user_token(&user.access_token, SignerCredential::Jwt, None).await?;
    /// assert_eq!(jwt.expires_in, 300);
    /// # Ok(()) }
    /// ```
    pub async fn exchange_user_token(
        &self,
        user_jwt: &str,
        credential: SignerCredential,
        scope: Option<&str>,
    ) -> Result<SignerSession, Error> {
        let mut form = vec![
            ("grant_type", GrantType::TokenExchange.as_str()),
            ("subject_token", user_jwt),
            ("subject_token_type", SubjectTokenType::AccessToken.as_str()),
        ];
        if credential == SignerCredential::Jwt {
            form.push(("resource", self.issuer()));
        }
        if let Some(scope) = scope {
            form.push(("scope", scope));
        }
        self.token_call(&form, true).await
    }

    /// A user's signer session in one call: mints the user's JWT (creating the user when the
    /// app does not know them yet) and exchanges it for `credential`. `scope` defaults to
    /// `sign:job`.
    ///
    /// ```no_run
    /// # async fn run(client: tollhouse_sdk::Client) -> Result<(), tollhouse_sdk::Error> {
    /// use tollhouse_sdk::SignerCredential;
    /// let session = client.signer_session_for_user("ada", SignerCredential::Session, None).await?;
    /// assert!(session.access_token.starts_with("pmth_"));
    /// # Ok(()) }
    /// ```
    pub async fn signer_session_for_user(
        &self,
        external_user_id: &str,
        credential: SignerCredential,
        scope: Option<&str>,
    ) -> Result<SignerSession, Error> {
        let tokens = match self.mint_user_token(external_user_id, scope).await {
            Err(err) if err.is_not_found() => {
                self.upsert_user(&UpsertUser::new(external_user_id)).await?;
                self.mint_user_token(external_user_id, scope).await?
            }
            other => other?,
        };
        self.exchange_user_token(&tokens.access_token, credential, None)
            .await
    }

    /// Exchanges a user's API key (bare `pmth_…` or composite `app_…_pmth_…`) for a 90-day
    /// signer session, at `A/oidc/token` when the public client id is known (else at the
    /// issuer's token endpoint). The M2M credentials are sent when configured.
    ///
    /// ```no_run
    /// # async fn run(client: tollhouse_sdk::Client) -> Result<(), tollhouse_sdk::Error> {
    /// let session = client.exchange_api_key("app_…_pmth_…", Some("sign:job")).await?;
    /// println!("session valid {} s", session.expires_in);
    /// # Ok(()) }
    /// ```
    pub async fn exchange_api_key(
        &self,
        api_key: &str,
        scope: Option<&str>,
    ) -> Result<SignerSession, Error> {
        let mut form = vec![
            ("grant_type", GrantType::TokenExchange.as_str()),
            ("subject_token", api_key),
            ("subject_token_type", SubjectTokenType::ApiKey.as_str()),
        ];
        if let Some(scope) = scope {
            form.push(("scope", scope));
        }
        let Some(client_id) = self.public_client_id() else {
            return self.token_call(&form, self.inner.m2m.is_some()).await;
        };
        let url = self.api_url(&["apps", client_id, "oidc", "token"])?;
        let mut request = self
            .inner
            .http
            .post(url)
            .header(ACCEPT, "application/json")
            .form(&form);
        if let Some(creds) = &self.inner.m2m {
            request = request.basic_auth(&creds.id, Some(&creds.secret));
        }
        self.send_body(request).await
    }

    /// Approves the pending device login showing `user_code` for `external_user_id` (created
    /// if unknown; a deactivated user cannot approve). The device's next poll gets the user's
    /// tokens. Answers with a short signer JWT for the user.
    ///
    /// ```no_run
    /// # async fn run(client: tollhouse_sdk::Client) -> Result<(), tollhouse_sdk::Error> {
    /// // The user typed the code their CLI showed into the integrator's web page.
    /// client.approve_device_login("ada", "BCDF-GHJK").await?;
    /// # Ok(()) }
    /// ```
    pub async fn approve_device_login(
        &self,
        external_user_id: &str,
        user_code: &str,
    ) -> Result<SignerSession, Error> {
        self.upsert_user(&UpsertUser::new(external_user_id)).await?;
        let tokens = self.mint_user_token(external_user_id, None).await?;
        let resource = device_resource(user_code);
        let form = [
            ("grant_type", GrantType::TokenExchange.as_str()),
            ("subject_token", tokens.access_token.as_str()),
            ("subject_token_type", SubjectTokenType::AccessToken.as_str()),
            ("resource", resource.as_str()),
        ];
        self.token_call(&form, true).await
    }

    /// Starts an RFC 8628 device authorization for the app (public client), asking for
    /// `scope` (default `sign:job`). Most callers want [`Client::start_device_login`], which
    /// also polls.
    ///
    /// ```no_run
    /// # async fn run(client: tollhouse_sdk::Client) -> Result<(), tollhouse_sdk::Error> {
    /// let authorization = client.device_authorization(None).await?;
    /// println!("enter {} at {}", authorization.user_code, authorization.verification_uri);
    /// # Ok(()) }
    /// ```
    pub async fn device_authorization(
        &self,
        scope: Option<&str>,
    ) -> Result<DeviceAuthorization, Error> {
        let endpoint = self
            .discovery()
            .await?
            .device_authorization_endpoint
            .clone()
            .ok_or_else(|| {
                Error::Discovery("the issuer has no device_authorization_endpoint".into())
            })?;
        let mut form = vec![("client_id", self.client_id()?)];
        if let Some(scope) = scope {
            form.push(("scope", scope));
        }
        let request = self
            .inner
            .http
            .post(endpoint)
            .header(ACCEPT, "application/json")
            .form(&form);
        self.send_body(request).await
    }

    /// One poll of the token endpoint for `device_code`: the user's tokens once approved, else
    /// the issuer's error (`authorization_pending`, `slow_down`, `expired_token`,
    /// `access_denied`).
    ///
    /// ```no_run
    /// # async fn run(client: tollhouse_sdk::Client) -> Result<(), tollhouse_sdk::Error> {
    /// let authorization = client.device_authorization(None).await?;
    /// match client.poll_device_token(&authorization.device_code).await {
    ///     Ok(tokens) => println!("approved: {} s", tokens.expires_in),
    ///     Err(err) if err.code() == Some("authorization_pending") => println!("not yet"),
    ///     Err(err) => return Err(err),
    /// }
    /// # Ok(()) }
    /// ```
    pub async fn poll_device_token(&self, device_code: &str) -> Result<UserTokens, Error> {
        let form = [
            ("grant_type", GrantType::DeviceCode.as_str()),
            ("device_code", device_code),
            ("client_id", self.client_id()?),
        ];
        self.token_call(&form, false).await
    }

    /// Rotates a user's refresh token: a new access token and the next refresh token (the
    /// presented one is spent; presenting it again revokes the whole family).
    ///
    /// ```no_run
    /// # async fn run(client: tollhouse_sdk::Client) -> Result<(), tollhouse_sdk::Error> {
    /// let first = client.mint_user_token("ada", None).await?;
    /// let next = client.refresh_user_token(&first.refresh_token).await?;
    /// assert_ne!(next.refresh_token, first.refresh_token);
    /// # Ok(()) }
    /// ```
    pub async fn refresh_user_token(&self, refresh_token: &str) -> Result<UserTokens, Error> {
        let mut form = vec![
            ("grant_type", GrantType::RefreshToken.as_str()),
            ("refresh_token", refresh_token),
        ];
        let m2m = self.inner.m2m.is_some();
        if !m2m {
            form.push(("client_id", self.client_id()?));
        }
        self.token_call(&form, m2m).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn device_resources_carry_the_bare_upper_case_code() {
        assert_eq!(
            device_resource("bcdf-ghjk"),
            "urn:pmth:device_code:BCDFGHJK"
        );
        assert_eq!(
            device_resource(" BCDF GHJK "),
            "urn:pmth:device_code:BCDFGHJK"
        );
    }
}
