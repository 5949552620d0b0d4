//! Live-room tokens (seed 003): HS256 tokens signed with the app's room secret, for the app's
//! signaling server and chat engine. Identity (`display_name`, `avatar_url`) comes from the stored
//! user record, never from the request.

use super::auth::authenticate;
use super::end_user::bearer_user;
use super::error::optional_json_object;
use super::error::{BodyTooLarge, BuilderError, BuilderErrors, StateConflict, UserInactive};
use super::extract::{AppCaller, AppPath, BuilderJson, BuilderPath};
use super::path_params;
use crate::state::AppState;
use axum::Json;
use axum::extract::rejection::{JsonRejection, PathRejection};
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use serde_json::Value;
use tollhouse_api::rooms::{
    CreateRoom, IssueRoomToken, RoomClaimsView, RoomEnded, RoomSecretView, RoomTokenView,
    RoomVerification, VerifyRoomToken,
};
use tollhouse_core::UnixTime;
use tollhouse_core::app::{App, AppStatus};
use tollhouse_core::ids::generate_uuid;
use tollhouse_core::random::random_bytes;
use tollhouse_core::rooms::{
    MAX_HOST_TTL_SECS, ROOM_SECRET_BYTES, RoomClaims, RoomRole, RoomTokenError, RoomType,
    sign_room_token, verify_room_token,
};
use tollhouse_core::user::{AppUser, ExternalUserId, UserStatus};
use tollhouse_store::RoomRecord;

/// Associated data binding a sealed room secret to its app.
fn secret_aad(client_id: &str) -> Vec<u8> {
    format!("room-secret:{client_id}").into_bytes()
}

/// The app's room secrets, opened: the current one, and the previous one while it is still
/// accepted. The HMAC key is the secret's text (what `openssl rand -base64 48` would give), since
/// that is what signaling servers are configured with.
async fn open_secrets(
    state: &AppState,
    client_id: &str,
) -> Result<Option<(Vec<u8>, Option<Vec<u8>>)>, BuilderError> {
    let Some(secrets) = state.store.room_secrets(client_id).await? else {
        return Ok(None);
    };
    let aad = secret_aad(client_id);
    let open = |sealed: &[u8]| {
        state
            .sealing
            .open(sealed, &aad)
            .map_err(|e| BuilderError::Internal(format!("room secret of {client_id}: {e}")))
    };
    let current = open(&secrets.current_sealed)?;
    let previous = match (&secrets.previous_sealed, secrets.previous_valid_until) {
        (Some(sealed), Some(until)) if state.clock.now() < until => Some(open(sealed)?),
        _ => None,
    };
    Ok(Some((current, previous)))
}

async fn current_secret(state: &AppState, client_id: &str) -> Result<Vec<u8>, BuilderError> {
    open_secrets(state, client_id)
        .await?
        .map(|(current, _)| current)
        .ok_or_else(|| {
            BuilderError::Conflict(
                "the app has no room secret yet: POST /rooms/secret generates one".into(),
            )
        })
}

fn room_path_id(room_id: &str) -> Result<&str, BuilderError> {
    // A room id is a UUID; anything else cannot name a room.
    uuid::Uuid::parse_str(room_id)
        .map(|_| room_id)
        .map_err(|_| BuilderError::NotFound("no such room".into()))
}

async fn live_room(state: &AppState, app: &App, room_id: &str) -> Result<RoomRecord, BuilderError> {
    let room = state
        .store
        .room(app.client_id.as_str(), room_path_id(room_id)?)
        .await?
        .ok_or_else(|| BuilderError::NotFound("no such room".into()))?;
    if room.ended_at.is_some() {
        return Err(BuilderError::Conflict(
            "the room has ended and issues no new tokens".into(),
        ));
    }
    Ok(room)
}

async fn active_user(state: &AppState, app: &App, ext: &str) -> Result<AppUser, BuilderError> {
    let ext = ExternalUserId::parse(ext).map_err(|e| BuilderError::invalid(e.to_string()))?;
    let user = state
        .store
        .user_by_external_id(app.client_id.as_str(), ext.as_str())
        .await?
        .ok_or_else(|| BuilderError::NotFound("no such user".into()))?;
    if user.status != UserStatus::Active {
        return Err(BuilderError::UserInactive);
    }
    Ok(user)
}

/// The token's lifetime: the role's cap unless a shorter one is asked for.
fn ttl_for(role: RoomRole, requested: Option<i64>) -> Result<i64, BuilderError> {
    let cap = role.max_ttl();
    match requested {
        None => Ok(cap),
        Some(ttl) if (1..=cap).contains(&ttl) => Ok(ttl),
        Some(_) => Err(BuilderError::invalid(format!(
            "ttlSeconds must be between 1 and {cap} for a {} token",
            role_name(role)
        ))),
    }
}

fn role_name(role: RoomRole) -> &'static str {
    match role {
        RoomRole::Host => "host",
        RoomRole::Viewer => "viewer",
        RoomRole::Guest => "guest",
    }
}

fn no_store(body: impl serde::Serialize, status: StatusCode) -> Response {
    let mut response = (status, Json(body)).into_response();
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

/// `POST A/rooms/secret`: generates the app's room secret, or rotates it.
#[utoipa::path(
    post,
    path = "/api/v1/apps/{client_id}/rooms/secret",
    operation_id = "rotateRoomSecret",
    tag = "rooms",
    params(AppPath),
    security(("m2m_basic" = [])),
    responses((status = 200, description = "The new secret (shown once)", body = RoomSecretView), BuilderErrors)
)]
pub async fn rotate_secret(
    State(state): State<AppState>,
    AppCaller(app): AppCaller,
) -> Result<Response, BuilderError> {
    let client_id = app.client_id.as_str();
    let had_secret = state.store.room_secrets(client_id).await?.is_some();
    let secret = base64::engine::general_purpose::STANDARD
        .encode(random_bytes::<ROOM_SECRET_BYTES>(state.rng.as_ref()));
    let sealed = state.sealing.seal(
        state.rng.as_ref(),
        secret.as_bytes(),
        &secret_aad(client_id),
    );
    let now = state.clock.now();
    // Every token the old secret signed expires within the longest (host) lifetime.
    let valid_until = now + MAX_HOST_TTL_SECS;
    state
        .store
        .rotate_room_secret(client_id, &sealed, valid_until, now)
        .await?;
    let view = RoomSecretView {
        secret,
        previous_secret_valid_until: had_secret.then_some(valid_until),
    };
    Ok(no_store(view, StatusCode::OK))
}

/// Who is asking to create a room: the app (M2M Basic) or one of its users (bearer).
/// Credentials are checked before the body is read, so an unauthenticated caller learns nothing
/// from body validation.
async fn room_creator(
    state: &AppState,
    headers: &HeaderMap,
    client_id: &str,
    body: Result<Json<Value>, JsonRejection>,
) -> Result<(App, AppUser, CreateRoom), BuilderError> {
    let bearer = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(tollhouse_core::authorization::bearer)
        .is_some();
    if !bearer {
        let app = authenticate(state, headers, client_id).await?;
        let body: CreateRoom = optional_json_object(body)?;
        let ext = body.external_user_id.as_deref().ok_or_else(|| {
            BuilderError::invalid("externalUserId is required with M2M credentials")
        })?;
        let user = active_user(state, &app, ext).await?;
        return Ok((app, user, body));
    }
    let user = bearer_user(state, headers).await?;
    if user.client_id != client_id {
        // Another app's user: the same answer as an app that does not exist.
        return Err(BuilderError::NotFound("no such app".into()));
    }
    let body: CreateRoom = optional_json_object(body)?;
    if body
        .external_user_id
        .as_deref()
        .is_some_and(|ext| ext != user.external_user_id.as_str())
    {
        return Err(BuilderError::invalid(
            "externalUserId must be the bearer's own user",
        ));
    }
    let app = state
        .store
        .app_by_client_id(client_id)
        .await?
        .filter(|app| app.status == AppStatus::Active)
        .ok_or(BuilderError::Unauthorized)?;
    Ok((app, user, body))
}

/// `POST A/rooms`: creates a room and returns its original host's token.
#[utoipa::path(
    post,
    path = "/api/v1/apps/{client_id}/rooms",
    operation_id = "createRoom",
    tag = "rooms",
    params(AppPath),
    request_body(content = Option<CreateRoom>, content_type = "application/json"),
    security(("m2m_basic" = []), ("user_bearer" = [])),
    responses(
        (status = 201, description = "The room and its host token", body = RoomTokenView),
        BuilderErrors,
        UserInactive,
        StateConflict,
        BodyTooLarge
    )
)]
pub async fn create(
    State(state): State<AppState>,
    client_id: Result<Path<String>, PathRejection>,
    headers: HeaderMap,
    body: Result<Json<Value>, JsonRejection>,
) -> Result<Response, BuilderError> {
    let client_id = path_params(client_id)?;
    let (app, user, body) = room_creator(&state, &headers, &client_id, body).await?;
    let room_type = match body.room_type.as_deref() {
        None => RoomType::Live,
        Some(t) => RoomType::parse(t)
            .ok_or_else(|| BuilderError::invalid("roomType must be `live` or `1v1`"))?,
    };
    let max_peers = match (body.max_peers, room_type) {
        // A 1v1 room is two peers, said or not: every token of it carries `max_peers: 2`.
        (None, RoomType::OneToOne) => Some(2),
        (None, RoomType::Live) => None,
        (Some(n), RoomType::OneToOne) if (1..=2).contains(&n) => Some(n),
        (Some(_), RoomType::OneToOne) => {
            return Err(BuilderError::invalid(
                "maxPeers must be 1 or 2 in a 1v1 room",
            ));
        }
        (Some(n), RoomType::Live) if (1..=100_000).contains(&n) => Some(n),
        (Some(_), RoomType::Live) => {
            return Err(BuilderError::invalid(
                "maxPeers must be between 1 and 100000",
            ));
        }
    };
    let ttl = ttl_for(RoomRole::Host, body.ttl_seconds)?;
    let secret = current_secret(&state, app.client_id.as_str()).await?;
    let now = state.clock.now();
    let room = RoomRecord {
        id: generate_uuid(state.rng.as_ref()),
        client_id: app.client_id.to_string(),
        room_type: room_type.as_str().to_owned(),
        max_peers,
        original_host_peer_id: generate_uuid(state.rng.as_ref()),
        created_by: user.id.clone(),
        created_at: now,
        ended_at: None,
    };
    state.store.insert_room(&room).await?;
    let host_peer_id = room.original_host_peer_id.clone();
    let claims = claims_for(&room, &user, RoomRole::Host, &host_peer_id, now + ttl)?;
    let view = signed(&secret, &claims, host_peer_id)?;
    Ok(no_store(view, StatusCode::CREATED))
}

fn claims_for(
    room: &RoomRecord,
    user: &AppUser,
    role: RoomRole,
    host_peer_id: &str,
    exp: UnixTime,
) -> Result<RoomClaims, BuilderError> {
    let room_type = RoomType::parse(&room.room_type)
        .ok_or_else(|| BuilderError::Internal(format!("room {} has a bad type", room.id)))?;
    let max_peers = room
        .max_peers
        .map(u32::try_from)
        .transpose()
        .map_err(|_| BuilderError::Internal(format!("room {} has a bad max_peers", room.id)))?;
    Ok(RoomClaims {
        room_id: room.id.clone(),
        role,
        room_type,
        max_peers,
        display_name: user.display_name.clone(),
        avatar_url: user.avatar_url.clone(),
        is_original_host: (role == RoomRole::Host
            && host_peer_id == room.original_host_peer_id
            && user.id == room.created_by)
            .then_some(true),
        host_peer_id: Some(host_peer_id.to_owned()),
        exp,
    })
}

fn signed(
    secret: &[u8],
    claims: &RoomClaims,
    peer_id: String,
) -> Result<RoomTokenView, BuilderError> {
    let token =
        sign_room_token(secret, claims).map_err(|e| BuilderError::Internal(e.to_string()))?;
    Ok(RoomTokenView {
        token,
        room_id: claims.room_id.clone(),
        peer_id,
        role: role_name(claims.role).to_owned(),
        host_peer_id: claims.host_peer_id.clone().unwrap_or_default(),
        expires_at: claims.exp,
    })
}

/// `POST A/rooms/{roomId}/tokens`: a cohost, viewer or guest token for one of the app's users.
#[utoipa::path(
    post,
    path = "/api/v1/apps/{client_id}/rooms/{room_id}/tokens",
    operation_id = "issueRoomToken",
    tag = "rooms",
    params(
        AppPath,
        ("room_id" = String, Path, description = "The room (UUID)")
    ),
    request_body(content = IssueRoomToken, content_type = "application/json"),
    security(("m2m_basic" = [])),
    responses(
        (status = 200, description = "The token", body = RoomTokenView),
        BuilderErrors,
        UserInactive,
        StateConflict,
        BodyTooLarge
    )
)]
pub async fn issue_token(
    State(state): State<AppState>,
    AppCaller(app): AppCaller,
    BuilderPath((_, room_id)): BuilderPath<(String, String)>,
    BuilderJson(body): BuilderJson<IssueRoomToken>,
) -> Result<Response, BuilderError> {
    let role = RoomRole::parse(&body.role)
        .ok_or_else(|| BuilderError::invalid("role must be `host`, `viewer` or `guest`"))?;
    let ttl = ttl_for(role, body.ttl_seconds)?;
    let room = live_room(&state, &app, &room_id).await?;
    let user = active_user(&state, &app, &body.external_user_id).await?;
    let secret = current_secret(&state, app.client_id.as_str()).await?;
    let now = state.clock.now();
    let peer_id = generate_uuid(state.rng.as_ref());
    let host_peer_id = match (role, body.host_peer_id) {
        (RoomRole::Host, Some(_)) => {
            return Err(BuilderError::invalid(
                "hostPeerId is not accepted for a host token: a broadcaster's peer id is always new",
            ));
        }
        (RoomRole::Host, None) => {
            state
                .store
                .add_broadcaster(&room.id, &peer_id, &user.id, now)
                .await?;
            peer_id.clone()
        }
        (_, None) => room.original_host_peer_id.clone(),
        (_, Some(host)) => {
            let known = uuid::Uuid::parse_str(&host).is_ok()
                && state.store.is_broadcaster(&room.id, &host).await?;
            if !known {
                return Err(BuilderError::NotFound(
                    "hostPeerId is not a broadcaster of this room".into(),
                ));
            }
            host
        }
    };
    let claims = claims_for(&room, &user, role, &host_peer_id, now + ttl)?;
    Ok(no_store(signed(&secret, &claims, peer_id)?, StatusCode::OK))
}

/// `POST A/rooms/{roomId}/end`: ends the room; it issues no new tokens (idempotent).
#[utoipa::path(
    post,
    path = "/api/v1/apps/{client_id}/rooms/{room_id}/end",
    operation_id = "endRoom",
    tag = "rooms",
    params(
        AppPath,
        ("room_id" = String, Path, description = "The room (UUID)")
    ),
    security(("m2m_basic" = [])),
    responses((status = 200, description = "The room has ended", body = RoomEnded), BuilderErrors)
)]
pub async fn end(
    State(state): State<AppState>,
    AppCaller(app): AppCaller,
    BuilderPath((_, room_id)): BuilderPath<(String, String)>,
) -> Result<Json<RoomEnded>, BuilderError> {
    let room_id = room_path_id(&room_id)?;
    let ended = state
        .store
        .end_room(app.client_id.as_str(), room_id, state.clock.now())
        .await?;
    if !ended {
        return Err(BuilderError::NotFound("no such room".into()));
    }
    Ok(Json(RoomEnded {
        room_id: room_id.to_owned(),
        status: "ended".to_owned(),
    }))
}

/// The claims of a valid room token, as the verification shows them.
fn claims_view(c: RoomClaims) -> RoomClaimsView {
    RoomClaimsView {
        room_id: c.room_id,
        role: role_name(c.role).to_owned(),
        room_type: c.room_type.as_str().to_owned(),
        max_peers: c.max_peers,
        display_name: c.display_name,
        avatar_url: c.avatar_url,
        is_original_host: c.is_original_host,
        host_peer_id: c.host_peer_id,
        exp: c.exp,
    }
}

/// An invalid token's verdict.
fn invalid(reason: &str) -> RoomVerification {
    RoomVerification {
        valid: false,
        claims: None,
        reason: Some(reason.to_owned()),
    }
}

/// `POST A/rooms/verify`: checks a room token against the app's current secret and, within its
/// overlap window, the previous one; then that its room is the app's and has not ended.
#[utoipa::path(
    post,
    path = "/api/v1/apps/{client_id}/rooms/verify",
    operation_id = "verifyRoomToken",
    tag = "rooms",
    params(AppPath),
    request_body(content = VerifyRoomToken, content_type = "application/json"),
    security(("m2m_basic" = [])),
    responses(
        (status = 200, description = "The verdict (valid with claims, or the reason)", body = RoomVerification),
        BuilderErrors,
        StateConflict,
        BodyTooLarge
    )
)]
pub async fn verify(
    State(state): State<AppState>,
    AppCaller(app): AppCaller,
    BuilderJson(body): BuilderJson<VerifyRoomToken>,
) -> Result<Json<RoomVerification>, BuilderError> {
    let (current, previous) = open_secrets(&state, app.client_id.as_str())
        .await?
        .ok_or_else(|| BuilderError::Conflict("the app has no room secret yet".into()))?;
    let now = state.clock.now();
    let mut outcome = verify_room_token(&current, &body.token, now);
    if let (Err(RoomTokenError::Invalid(_)), Some(previous)) = (&outcome, &previous) {
        outcome = verify_room_token(previous, &body.token, now);
    }
    let claims = match outcome {
        Ok(claims) => claims,
        Err(RoomTokenError::Expired) => return Ok(Json(invalid("expired"))),
        Err(RoomTokenError::Invalid(_)) => {
            return Ok(Json(invalid("malformed_or_bad_signature")));
        }
    };
    let room = match uuid::Uuid::parse_str(&claims.room_id) {
        Ok(_) => {
            state
                .store
                .room(app.client_id.as_str(), &claims.room_id)
                .await?
        }
        Err(_) => None,
    };
    let verdict = match room {
        None => invalid("unknown_room"),
        Some(room) if room.ended_at.is_some() => invalid("room_ended"),
        Some(_) => RoomVerification {
            valid: true,
            claims: Some(claims_view(claims)),
            reason: None,
        },
    };
    Ok(Json(verdict))
}
