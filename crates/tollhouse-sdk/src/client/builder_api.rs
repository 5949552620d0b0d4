//! Builder API calls (`/api/v1/apps/{clientId}/…`, M2M Basic) and the end-user routes.

use super::Client;
use crate::error::Error;
use reqwest::header::{ACCEPT, ETAG, IF_NONE_MATCH};
use reqwest::{Method, StatusCode};
use tollhouse_api::allowances::{BalanceView, GrantAllowance, GrantResult, UserAllowances};
use tollhouse_api::end_user::UserUsage;
use tollhouse_api::keys::{ApiKeyView, CreateKey, CreatedApiKey, KeyList, RevokedKey};
use tollhouse_api::manifest::{Manifest, PutManifest, SignerRouting};
use tollhouse_api::oauth::DenyDevice;
use tollhouse_api::plans::{CreatePlan, Plan, PlanList, PlanSyncResult};
use tollhouse_api::rooms::{
    CreateRoom, IssueRoomToken, RoomEnded, RoomSecretView, RoomTokenView, RoomVerification,
    VerifyRoomToken,
};
use tollhouse_api::settings::{Settings, SettingsPatch};
use tollhouse_api::stream_keys::{
    CreateStreamKey, CreatedStreamKey, RevokedStreamKey, StreamKeyList, StreamKeyView,
};
use tollhouse_api::tickets::{IngestOutcome, SignedTicket, SignedTicketBatch};
use tollhouse_api::usage::{UsageQuery, UsageReport};
use tollhouse_api::users::{
    AppInfo, BuilderUserTokens, Done, MintUserToken, UpsertUser, UserList, UserView,
};

/// The result of [`Client::upsert_user`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Upserted {
    /// The user as stored now.
    pub user: UserView,
    /// Whether the call created the user (201) rather than updating an existing one (200).
    pub created: bool,
}

/// A manifest with its entity tag.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaggedManifest {
    /// The resolved manifest.
    pub manifest: Manifest,
    /// Its strong entity tag (quoted), for a later `If-None-Match`.
    pub etag: Option<String>,
}

/// The result of [`Client::manifest`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ManifestFetch {
    /// The manifest (first fetch, or it changed since the given tag).
    Changed(TaggedManifest),
    /// 304: unchanged since the given tag.
    NotModified {
        /// The current entity tag.
        etag: Option<String>,
    },
}

fn etag_of(headers: &reqwest::header::HeaderMap) -> Option<String> {
    headers
        .get(ETAG)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
}

impl Client {
    /// `GET A`: the app itself.
    ///
    /// ```no_run
    /// # async fn run(client: tollhouse_sdk::Client) -> Result<(), tollhouse_sdk::Error> {
    /// let app = client.app().await?;
    /// assert!(app.allowed_scopes.iter().any(|s| s == "sign:job"));
    /// # Ok(()) }
    /// ```
    pub async fn app(&self) -> Result<AppInfo, Error> {
        self.send_body(self.builder_request(Method::GET, &[])?)
            .await
    }

    /// `GET A/users`: every user of the app, active or not.
    ///
    /// ```no_run
    /// # async fn run(client: tollhouse_sdk::Client) -> Result<(), tollhouse_sdk::Error> {
    /// for user in client.users().await? {
    ///     println!("{} {:?}", user.external_user_id, user.status);
    /// }
    /// # Ok(()) }
    /// ```
    pub async fn users(&self) -> Result<Vec<UserView>, Error> {
        let list: UserList = self
            .send_body(self.builder_request(Method::GET, &["users"])?)
            .await?;
        Ok(list.users)
    }

    /// `POST A/users`: creates the user, or updates the fields given of an existing one.
    ///
    /// ```no_run
    /// # async fn run(client: tollhouse_sdk::Client) -> Result<(), tollhouse_sdk::Error> {
    /// use tollhouse_api::users::UpsertUser;
    /// let body = UpsertUser { email: Some("ada@example.com".into()), ..UpsertUser::new("ada") };
    /// let upserted = client.upsert_user(&body).await?;
    /// println!("{} created: {}", upserted.user.id, upserted.created);
    /// # Ok(()) }
    /// ```
    pub async fn upsert_user(&self, user: &UpsertUser) -> Result<Upserted, Error> {
        let request = self.builder_request(Method::POST, &["users"])?.json(user);
        let (status, _, user) = self.send(request).await?;
        Ok(Upserted {
            user,
            created: status == StatusCode::CREATED,
        })
    }

    /// `DELETE A/users?externalUserId=`: deactivates the user (their record and usage stay;
    /// their credentials stop working at once).
    ///
    /// ```no_run
    /// # async fn run(client: tollhouse_sdk::Client) -> Result<(), tollhouse_sdk::Error> {
    /// let done = client.deactivate_user("ada").await?;
    /// assert_eq!(done.status, "inactive");
    /// # Ok(()) }
    /// ```
    pub async fn deactivate_user(&self, external_user_id: &str) -> Result<Done, Error> {
        let request = self
            .builder_request(Method::DELETE, &["users"])?
            .query(&[("externalUserId", external_user_id)]);
        self.send_body(request).await
    }

    /// `POST A/users/{ext}/token`: a 900 s user JWT and a rotating refresh token, with `scope`
    /// (user scopes, default `sign:job`). An unknown user is 404 `not_found`.
    ///
    /// ```no_run
    /// # async fn run(client: tollhouse_sdk::Client) -> Result<(), tollhouse_sdk::Error> {
    /// let tokens = client.mint_user_token("ada", Some("openid sign:job")).await?;
    /// assert_eq!(tokens.expires_in, 900);
    /// # Ok(()) }
    /// ```
    pub async fn mint_user_token(
        &self,
        external_user_id: &str,
        scope: Option<&str>,
    ) -> Result<BuilderUserTokens, Error> {
        let body = MintUserToken {
            scope: scope.map(str::to_owned),
        };
        let request = self
            .builder_request(Method::POST, &["users", external_user_id, "token"])?
            .json(&body);
        self.send_body(request).await
    }

    /// `GET A/users/{ext}/keys`: the user's API keys, live and revoked (never the keys
    /// themselves).
    ///
    /// ```no_run
    /// # async fn run(client: tollhouse_sdk::Client) -> Result<(), tollhouse_sdk::Error> {
    /// let active = client.api_keys("ada").await?.into_iter()
    ///     .filter(|k| k.status == tollhouse_api::keys::KeyStatus::Active)
    ///     .count();
    /// println!("{active} live keys");
    /// # Ok(()) }
    /// ```
    pub async fn api_keys(&self, external_user_id: &str) -> Result<Vec<ApiKeyView>, Error> {
        let list: KeyList = self
            .send_body(self.builder_request(Method::GET, &["users", external_user_id, "keys"])?)
            .await?;
        Ok(list.keys)
    }

    /// `POST A/users/{ext}/keys`: a new API key, shown this once.
    ///
    /// ```no_run
    /// # async fn run(client: tollhouse_sdk::Client) -> Result<(), tollhouse_sdk::Error> {
    /// let key = client.create_api_key("ada", Some("laptop")).await?;
    /// println!("give the user {} (shown once); revoke with id {}", key.api_key, key.id);
    /// # Ok(()) }
    /// ```
    pub async fn create_api_key(
        &self,
        external_user_id: &str,
        label: Option<&str>,
    ) -> Result<CreatedApiKey, Error> {
        let body = CreateKey {
            label: label.map(str::to_owned),
        };
        let request = self
            .builder_request(Method::POST, &["users", external_user_id, "keys"])?
            .json(&body);
        self.send_body(request).await
    }

    /// `DELETE A/users/{ext}/keys?keyId=`: revokes the key; it fails everywhere at once.
    ///
    /// ```no_run
    /// # async fn run(client: tollhouse_sdk::Client) -> Result<(), tollhouse_sdk::Error> {
    /// let revoked = client.revoke_api_key("ada", "5b0c…").await?;
    /// assert!(revoked.revoked_at.is_some());
    /// # Ok(()) }
    /// ```
    pub async fn revoke_api_key(
        &self,
        external_user_id: &str,
        key_id: &str,
    ) -> Result<ApiKeyView, Error> {
        let request = self
            .builder_request(Method::DELETE, &["users", external_user_id, "keys"])?
            .query(&[("keyId", key_id)]);
        let revoked: RevokedKey = self.send_body(request).await?;
        Ok(revoked.key)
    }

    /// `GET A/users/{ext}/stream-keys`: the user's Live AI stream keys, newest first.
    ///
    /// ```no_run
    /// # async fn run(client: tollhouse_sdk::Client) -> Result<(), tollhouse_sdk::Error> {
    /// for key in client.stream_keys("ada").await? {
    ///     println!("{} {:?} {:?}", key.stream_id, key.pipeline, key.status);
    /// }
    /// # Ok(()) }
    /// ```
    pub async fn stream_keys(&self, external_user_id: &str) -> Result<Vec<StreamKeyView>, Error> {
        let request =
            self.builder_request(Method::GET, &["users", external_user_id, "stream-keys"])?;
        let list: StreamKeyList = self.send_body(request).await?;
        Ok(list.stream_keys)
    }

    /// `POST A/users/{ext}/stream-keys`: a new stream key (the stream name of the user's
    /// encoder), shown this once.
    ///
    /// ```no_run
    /// # async fn run(client: tollhouse_sdk::Client) -> Result<(), tollhouse_sdk::Error> {
    /// use tollhouse_api::stream_keys::CreateStreamKey;
    /// let body = CreateStreamKey { pipeline: Some("comfyui".into()), ..CreateStreamKey::default() };
    /// let key = client.create_stream_key("ada", &body).await?;
    /// println!("rtmp://gateway.example.com/live/{}", key.stream_key);
    /// # Ok(()) }
    /// ```
    pub async fn create_stream_key(
        &self,
        external_user_id: &str,
        body: &CreateStreamKey,
    ) -> Result<CreatedStreamKey, Error> {
        let request = self
            .builder_request(Method::POST, &["users", external_user_id, "stream-keys"])?
            .json(body);
        self.send_body(request).await
    }

    /// `DELETE A/users/{ext}/stream-keys?id=`: revokes the stream key; the gateway's next auth
    /// call for it is refused.
    ///
    /// ```no_run
    /// # async fn run(client: tollhouse_sdk::Client) -> Result<(), tollhouse_sdk::Error> {
    /// let revoked = client.revoke_stream_key("ada", "7d1e…").await?;
    /// assert!(revoked.revoked_at.is_some());
    /// # Ok(()) }
    /// ```
    pub async fn revoke_stream_key(
        &self,
        external_user_id: &str,
        id: &str,
    ) -> Result<StreamKeyView, Error> {
        let request = self
            .builder_request(Method::DELETE, &["users", external_user_id, "stream-keys"])?
            .query(&[("id", id)]);
        let revoked: RevokedStreamKey = self.send_body(request).await?;
        Ok(revoked.stream_key)
    }

    /// `POST A/rooms/secret`: generates the app's HS256 room secret, or rotates it (the previous
    /// one keeps verifying for 24 hours). Shown this once.
    ///
    /// ```no_run
    /// # async fn run(client: tollhouse_sdk::Client) -> Result<(), tollhouse_sdk::Error> {
    /// let secret = client.rotate_room_secret().await?;
    /// // Configure secret.secret as the signaling server's JWT_SECRET.
    /// # let _ = secret;
    /// # Ok(()) }
    /// ```
    pub async fn rotate_room_secret(&self) -> Result<RoomSecretView, Error> {
        self.send_body(self.builder_request(Method::POST, &["rooms", "secret"])?)
            .await
    }

    /// `POST A/rooms`: creates a live room and returns its original host's token.
    ///
    /// ```no_run
    /// # async fn run(client: tollhouse_sdk::Client) -> Result<(), tollhouse_sdk::Error> {
    /// use tollhouse_api::rooms::CreateRoom;
    /// let host = client.create_room(&CreateRoom::for_user("ada")).await?;
    /// println!("room {} host peer {}", host.room_id, host.peer_id);
    /// # Ok(()) }
    /// ```
    pub async fn create_room(&self, body: &CreateRoom) -> Result<RoomTokenView, Error> {
        let request = self.builder_request(Method::POST, &["rooms"])?.json(body);
        self.send_body(request).await
    }

    /// `POST A/rooms/{roomId}/tokens`: a cohost, viewer or guest token for one of the app's
    /// users.
    ///
    /// ```no_run
    /// # async fn run(client: tollhouse_sdk::Client) -> Result<(), tollhouse_sdk::Error> {
    /// use tollhouse_api::rooms::IssueRoomToken;
    /// let body = IssueRoomToken {
    ///     external_user_id: "bob".into(),
    ///     role: "viewer".into(),
    ///     host_peer_id: None,
    ///     ttl_seconds: None,
    /// };
    /// let viewer = client.issue_room_token("0b8f…", &body).await?;
    /// # let _ = viewer;
    /// # Ok(()) }
    /// ```
    pub async fn issue_room_token(
        &self,
        room_id: &str,
        body: &IssueRoomToken,
    ) -> Result<RoomTokenView, Error> {
        let request = self
            .builder_request(Method::POST, &["rooms", room_id, "tokens"])?
            .json(body);
        self.send_body(request).await
    }

    /// `POST A/rooms/{roomId}/end`: ends the room; it issues no new tokens.
    ///
    /// ```no_run
    /// # async fn run(client: tollhouse_sdk::Client) -> Result<(), tollhouse_sdk::Error> {
    /// assert_eq!(client.end_room("0b8f…").await?.status, "ended");
    /// # Ok(()) }
    /// ```
    pub async fn end_room(&self, room_id: &str) -> Result<RoomEnded, Error> {
        self.send_body(self.builder_request(Method::POST, &["rooms", room_id, "end"])?)
            .await
    }

    /// `POST A/rooms/verify`: whether a room token is valid now (signature with the current or
    /// still-overlapping previous secret, expiry, the room exists and has not ended).
    ///
    /// ```no_run
    /// # async fn run(client: tollhouse_sdk::Client, token: String) -> Result<(), tollhouse_sdk::Error> {
    /// let verdict = client.verify_room_token(&token).await?;
    /// if !verdict.valid {
    ///     println!("refused: {:?}", verdict.reason);
    /// }
    /// # Ok(()) }
    /// ```
    pub async fn verify_room_token(&self, token: &str) -> Result<RoomVerification, Error> {
        let body = VerifyRoomToken {
            token: token.to_owned(),
        };
        let request = self
            .builder_request(Method::POST, &["rooms", "verify"])?
            .json(&body);
        self.send_body(request).await
    }

    /// `GET A/users/{ext}/allowances`: the user's prepaid position.
    ///
    /// ```no_run
    /// # async fn run(client: tollhouse_sdk::Client) -> Result<(), tollhouse_sdk::Error> {
    /// let position = client.allowances("ada").await?.allowances;
    /// println!("{} µUSD left, access: {}", position.balance_usd_micros, position.has_access);
    /// # Ok(()) }
    /// ```
    pub async fn allowances(&self, external_user_id: &str) -> Result<UserAllowances, Error> {
        let request =
            self.builder_request(Method::GET, &["users", external_user_id, "allowances"])?;
        self.send_body(request).await
    }

    /// `POST A/users/{ext}/allowances`: grants the user an allowance.
    ///
    /// ```no_run
    /// # async fn run(client: tollhouse_sdk::Client) -> Result<(), tollhouse_sdk::Error> {
    /// use tollhouse_api::UsdMicros;
    /// use tollhouse_api::allowances::GrantAllowance;
    /// let granted = client
    ///     .grant_allowance("ada", &GrantAllowance::new(UsdMicros::new(5_000_000)))
    ///     .await?;
    /// assert!(granted.allowances.has_access);
    /// # Ok(()) }
    /// ```
    pub async fn grant_allowance(
        &self,
        external_user_id: &str,
        grant: &GrantAllowance,
    ) -> Result<GrantResult, Error> {
        let request = self
            .builder_request(Method::POST, &["users", external_user_id, "allowances"])?
            .json(grant);
        self.send_body(request).await
    }

    /// `GET A/usage/balance?externalUserId=`: the user's balance.
    ///
    /// ```no_run
    /// # async fn run(client: tollhouse_sdk::Client) -> Result<(), tollhouse_sdk::Error> {
    /// let balance = client.balance("ada").await?;
    /// println!("{} µUSD remaining", balance.remaining_usd_micros);
    /// # Ok(()) }
    /// ```
    pub async fn balance(&self, external_user_id: &str) -> Result<BalanceView, Error> {
        let request = self
            .builder_request(Method::GET, &["usage", "balance"])?
            .query(&[("externalUserId", external_user_id)]);
        self.send_body(request).await
    }

    /// `GET A/usage`: the app's usage over a period, grouped as `query.group_by` asks (the rows
    /// come back in the matching `by_…` field of the report).
    ///
    /// ```no_run
    /// # async fn run(client: tollhouse_sdk::Client) -> Result<(), tollhouse_sdk::Error> {
    /// use tollhouse_api::usage::{UsageGrouping, UsageQuery};
    /// let query = UsageQuery { group_by: Some(UsageGrouping::User), ..UsageQuery::default() };
    /// for row in client.usage(&query).await?.by_user.unwrap_or_default() {
    ///     println!("{}: {} µUSD", row.external_user_id, row.network_fee_usd_micros);
    /// }
    /// # Ok(()) }
    /// ```
    ///
    /// `groupBy=manifest` rows come in pages (`limit`, default 1,000): pass each report's
    /// `next_cursor` back as `cursor` until it is `None`.
    ///
    /// ```no_run
    /// # async fn run(client: tollhouse_sdk::Client) -> Result<(), tollhouse_sdk::Error> {
    /// use tollhouse_api::usage::{UsageGrouping, UsageQuery};
    /// let mut query = UsageQuery { group_by: Some(UsageGrouping::Manifest), ..UsageQuery::default() };
    /// loop {
    ///     let page = client.usage(&query).await?;
    ///     for row in page.by_manifest.unwrap_or_default() {
    ///         println!("{}: {} s", row.manifest_id, row.billable_secs);
    ///     }
    ///     match page.next_cursor {
    ///         Some(cursor) => query.cursor = Some(cursor),
    ///         None => break,
    ///     }
    /// }
    /// # Ok(()) }
    /// ```
    pub async fn usage(&self, query: &UsageQuery) -> Result<UsageReport, Error> {
        let request = self.builder_request(Method::GET, &["usage"])?.query(query);
        self.send_body(request).await
    }

    /// `POST A/usage/signed-tickets` with one ticket (deduplicated on its `requestId`).
    ///
    /// ```no_run
    /// # async fn run(client: tollhouse_sdk::Client) -> Result<(), tollhouse_sdk::Error> {
    /// use tollhouse_api::UsdMicros;
    /// use tollhouse_api::tickets::SignedTicket;
    /// let ticket = SignedTicket::new("req-1", "ada", UsdMicros::new(600_000));
    /// let outcome = client.ingest_signed_ticket(&ticket).await?;
    /// assert_eq!(outcome.ingested + outcome.duplicate, 1);
    /// # Ok(()) }
    /// ```
    pub async fn ingest_signed_ticket(
        &self,
        ticket: &SignedTicket,
    ) -> Result<IngestOutcome, Error> {
        let request = self
            .builder_request(Method::POST, &["usage", "signed-tickets"])?
            .json(ticket);
        self.send_body(request).await
    }

    /// `POST A/usage/signed-tickets` with a batch of 1 to 1000 tickets.
    ///
    /// ```no_run
    /// # async fn run(client: tollhouse_sdk::Client) -> Result<(), tollhouse_sdk::Error> {
    /// use tollhouse_api::UsdMicros;
    /// use tollhouse_api::tickets::SignedTicket;
    /// let tickets = [
    ///     SignedTicket::new("req-2", "ada", UsdMicros::new(400_000)),
    ///     SignedTicket::new("req-3", "bob", UsdMicros::new(5)),
    /// ];
    /// client.ingest_signed_tickets(&tickets).await?;
    /// # Ok(()) }
    /// ```
    pub async fn ingest_signed_tickets(
        &self,
        tickets: &[SignedTicket],
    ) -> Result<IngestOutcome, Error> {
        let body = SignedTicketBatch {
            tickets: tickets.to_vec(),
        };
        let request = self
            .builder_request(Method::POST, &["usage", "signed-tickets"])?
            .json(&body);
        self.send_body(request).await
    }

    /// `GET A/manifest`, conditional on `if_none_match` (an earlier entity tag).
    ///
    /// ```no_run
    /// # async fn run(client: tollhouse_sdk::Client) -> Result<(), tollhouse_sdk::Error> {
    /// use tollhouse_sdk::ManifestFetch;
    /// let ManifestFetch::Changed(first) = client.manifest(None).await? else { unreachable!() };
    /// let again = client.manifest(first.etag.as_deref()).await?;
    /// assert!(matches!(again, ManifestFetch::NotModified { .. }));
    /// # Ok(()) }
    /// ```
    pub async fn manifest(&self, if_none_match: Option<&str>) -> Result<ManifestFetch, Error> {
        let mut request = self.builder_request(Method::GET, &["manifest"])?;
        if let Some(tag) = if_none_match {
            request = request.header(IF_NONE_MATCH, tag);
        }
        let response = request.send().await?;
        if response.status() == StatusCode::NOT_MODIFIED {
            return Ok(ManifestFetch::NotModified {
                etag: etag_of(response.headers()).or_else(|| if_none_match.map(str::to_owned)),
            });
        }
        let (_, headers, manifest) = self.read(response).await?;
        Ok(ManifestFetch::Changed(TaggedManifest {
            manifest,
            etag: etag_of(&headers),
        }))
    }

    /// `PUT A/manifest`: replaces the app's exclusions; answers with the resolved manifest.
    ///
    /// ```no_run
    /// # async fn run(client: tollhouse_sdk::Client) -> Result<(), tollhouse_sdk::Error> {
    /// use tollhouse_api::manifest::{ManifestCapability, PutManifest};
    /// let body = PutManifest {
    ///     excluded_capabilities: vec![ManifestCapability::new("llm", "meta-llama/Meta-Llama-3.1-8B-Instruct")],
    /// };
    /// let tagged = client.put_manifest(&body).await?;
    /// println!("now {:?}", tagged.etag);
    /// # Ok(()) }
    /// ```
    pub async fn put_manifest(&self, body: &PutManifest) -> Result<TaggedManifest, Error> {
        let request = self.builder_request(Method::PUT, &["manifest"])?.json(body);
        let (_, headers, manifest) = self.send(request).await?;
        Ok(TaggedManifest {
            manifest,
            etag: etag_of(&headers),
        })
    }

    /// `GET A/signer/routing`: where the app's signing traffic and webhook go.
    ///
    /// ```no_run
    /// # async fn run(client: tollhouse_sdk::Client) -> Result<(), tollhouse_sdk::Error> {
    /// let routing = client.signer_routing().await?;
    /// println!("JWKS at {}", routing.routing.jwks_uri);
    /// # Ok(()) }
    /// ```
    pub async fn signer_routing(&self) -> Result<SignerRouting, Error> {
        self.send_body(self.builder_request(Method::GET, &["signer", "routing"])?)
            .await
    }

    /// `GET A/settings`: the app's billing settings.
    ///
    /// ```no_run
    /// # async fn run(client: tollhouse_sdk::Client) -> Result<(), tollhouse_sdk::Error> {
    /// let settings = client.settings().await?;
    /// println!("{:?}, soft limit {} µUSD", settings.billing_mode, settings.soft_limit_usd_micros);
    /// # Ok(()) }
    /// ```
    pub async fn settings(&self) -> Result<Settings, Error> {
        self.send_body(self.builder_request(Method::GET, &["settings"])?)
            .await
    }

    /// `PATCH A/settings`: changes the fields given.
    ///
    /// ```no_run
    /// # async fn run(client: tollhouse_sdk::Client) -> Result<(), tollhouse_sdk::Error> {
    /// use tollhouse_api::UsdMicros;
    /// use tollhouse_api::settings::{BillingMode, SettingsPatch};
    /// let patch = SettingsPatch {
    ///     billing_mode: Some(BillingMode::Prepaid),
    ///     soft_limit_usd_micros: Some(UsdMicros::ZERO),
    ///     ..SettingsPatch::default()
    /// };
    /// client.update_settings(&patch).await?;
    /// # Ok(()) }
    /// ```
    pub async fn update_settings(&self, patch: &SettingsPatch) -> Result<Settings, Error> {
        let request = self
            .builder_request(Method::PATCH, &["settings"])?
            .json(patch);
        self.send_body(request).await
    }

    /// `GET A/plans`: the app's plans, newest first.
    ///
    /// ```no_run
    /// # async fn run(client: tollhouse_sdk::Client) -> Result<(), tollhouse_sdk::Error> {
    /// for plan in client.plans().await?.products {
    ///     println!("{} {:?}", plan.name, plan.status);
    /// }
    /// # Ok(()) }
    /// ```
    pub async fn plans(&self) -> Result<PlanList, Error> {
        self.send_body(self.builder_request(Method::GET, &["plans"])?)
            .await
    }

    /// `POST A/plans`: a new plan (an active one replaces the app's active plan).
    ///
    /// ```no_run
    /// # async fn run(client: tollhouse_sdk::Client) -> Result<(), tollhouse_sdk::Error> {
    /// let plan: tollhouse_api::plans::CreatePlan =
    ///     serde_json::from_str(r#"{"name": "Creator", "defaultMarkupPercent": "20"}"#).unwrap();
    /// let created = client.create_plan(&plan).await?;
    /// client.sync_plan(&created.id).await?;
    /// # Ok(()) }
    /// ```
    pub async fn create_plan(&self, plan: &CreatePlan) -> Result<Plan, Error> {
        let request = self.builder_request(Method::POST, &["plans"])?.json(plan);
        self.send_body(request).await
    }

    /// `POST A/plans/{id}/sync`: puts the plan's rates in effect.
    ///
    /// ```no_run
    /// # async fn run(client: tollhouse_sdk::Client) -> Result<(), tollhouse_sdk::Error> {
    /// let result = client.sync_plan("8c4e…").await?;
    /// assert!(result.ok);
    /// # Ok(()) }
    /// ```
    pub async fn sync_plan(&self, plan_id: &str) -> Result<PlanSyncResult, Error> {
        self.send_body(self.builder_request(Method::POST, &["plans", plan_id, "sync"])?)
            .await
    }

    /// `POST A/device/deny`: refuses the pending device login showing `user_code`; the
    /// device's next poll gets `access_denied`.
    ///
    /// ```no_run
    /// # async fn run(client: tollhouse_sdk::Client) -> Result<(), tollhouse_sdk::Error> {
    /// client.deny_device_login("BCDF-GHJK").await?;
    /// # Ok(()) }
    /// ```
    pub async fn deny_device_login(&self, user_code: &str) -> Result<Done, Error> {
        let body = DenyDevice {
            user_code: user_code.to_owned(),
        };
        let request = self
            .builder_request(Method::POST, &["device", "deny"])?
            .json(&body);
        self.send_body(request).await
    }

    /// `GET /api/v1/user/usage/balance` as the end user: `bearer` is their JWT, signer
    /// session or API key (no M2M credentials needed).
    ///
    /// ```no_run
    /// # async fn run(client: tollhouse_sdk::Client) -> Result<(), tollhouse_sdk::Error> {
    /// // In the end user's own client, with their API key or session.
    /// let balance = client.user_balance("app_…_pmth_…").await?;
    /// println!("{} µUSD", balance.balance_usd_micros);
    /// # Ok(()) }
    /// ```
    pub async fn user_balance(&self, bearer: &str) -> Result<BalanceView, Error> {
        let request = self
            .inner
            .http
            .get(self.api_url(&["user", "usage", "balance"])?)
            .bearer_auth(bearer)
            .header(ACCEPT, "application/json");
        self.send_body(request).await
    }

    /// `GET /api/v1/user/usage` as the end user: their usage totals, all time.
    ///
    /// ```no_run
    /// # async fn run(client: tollhouse_sdk::Client) -> Result<(), tollhouse_sdk::Error> {
    /// let usage = client.user_usage("app_…_pmth_…").await?;
    /// println!("{} requests", usage.totals.request_count);
    /// # Ok(()) }
    /// ```
    pub async fn user_usage(&self, bearer: &str) -> Result<UserUsage, Error> {
        let request = self
            .inner
            .http
            .get(self.api_url(&["user", "usage"])?)
            .bearer_auth(bearer)
            .header(ACCEPT, "application/json");
        self.send_body(request).await
    }
}
