//! Live-room tokens: every role, the host/peer alignment rule, TTL caps, secret rotation overlap,
//! ended rooms, tenant isolation and bad input; tokens checked with PyJWT as well as in Rust.

use crate::backend_tests;
use crate::harness::{TestApp, TestServer};
use base64::Engine as _;
use reqwest::Method;
use serde_json::{Map, Value, json};
use tollhouse_core::clock::Clock as _;

async fn call(request: reqwest::RequestBuilder) -> (u16, Value) {
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    let content_type = response.headers()["content-type"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(
        content_type.starts_with("application/json"),
        "{content_type}"
    );
    (status, response.json().await.unwrap())
}

async fn rotate(server: &TestServer, app: &TestApp) -> Value {
    let (status, body) = call(server.builder(Method::POST, app, "/rooms/secret")).await;
    assert_eq!(status, 200, "{body}");
    body
}

async fn upsert(server: &TestServer, app: &TestApp, user: Value) {
    let (status, body) = call(server.builder(Method::POST, app, "/users").json(&user)).await;
    assert!(status == 200 || status == 201, "{body}");
}

/// The claims of `token`, checked with `secret` by jsonwebtoken (HS256 only, no exp check: the
/// server's clock is a test clock).
fn decode(secret: &str, token: &str) -> Map<String, Value> {
    let mut validation = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::HS256);
    validation.validate_exp = false;
    validation.required_spec_claims.clear();
    let key = jsonwebtoken::DecodingKey::from_secret(secret.as_bytes());
    jsonwebtoken::decode::<Map<String, Value>>(token, &key, &validation)
        .unwrap()
        .claims
}

fn keys(claims: &Map<String, Value>) -> Vec<&str> {
    let mut keys: Vec<&str> = claims.keys().map(String::as_str).collect();
    keys.sort_unstable();
    keys
}

/// Decodes `token` with PyJWT, an HS256 implementation independent of ours.
fn pyjwt_decode(secret: &str, token: &str) -> Value {
    let script = "import json, sys, jwt\n\
                  secret, token = sys.argv[1], sys.argv[2]\n\
                  header = jwt.get_unverified_header(token)\n\
                  claims = jwt.decode(token, secret, algorithms=['HS256'])\n\
                  print(json.dumps({'header': header, 'claims': claims, \
                  'types': {k: type(v).__name__ for k, v in claims.items()}}))";
    let out = std::process::Command::new("python3")
        .args(["-c", script, secret, token])
        .output()
        .expect("python3 with PyJWT (scripts/setup installs it)");
    assert!(
        out.status.success(),
        "PyJWT refused the token: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

backend_tests! {
    async fn every_role_aligns_host_and_peer_ids(db: Db) {
        let server = TestServer::start(db).await;
        let app = server.app.clone();
        let secret = rotate(&server, &app).await;
        assert_eq!(secret["previousSecretValidUntil"], Value::Null);
        let secret = secret["secret"].as_str().unwrap().to_owned();
        let raw = base64::engine::general_purpose::STANDARD.decode(&secret).unwrap();
        assert_eq!(raw.len(), 48);

        upsert(&server, &app, json!({"externalUserId": "alice", "displayName": "Alice A.", "avatarUrl": "https://cdn.example.com/a.png"})).await;
        upsert(&server, &app, json!({"externalUserId": "bob"})).await;
        upsert(&server, &app, json!({"externalUserId": "carol", "displayName": "Carol"})).await;
        let now = server.clock.now();

        // The original host.
        let (status, host) = call(server.builder(Method::POST, &app, "/rooms").json(&json!({"externalUserId": "alice", "roomType": "live", "maxPeers": 50}))).await;
        assert_eq!(status, 201, "{host}");
        let room_id = host["roomId"].as_str().unwrap().to_owned();
        let original = host["peerId"].as_str().unwrap().to_owned();
        let claims = decode(&secret, host["token"].as_str().unwrap());
        assert_eq!(keys(&claims), ["avatar_url", "display_name", "exp", "host_peer_id", "is_original_host", "max_peers", "role", "room_id", "room_type"]);
        assert_eq!(claims["room_id"], json!(room_id));
        assert_eq!(claims["role"], "host");
        assert_eq!(claims["room_type"], "live");
        assert_eq!(claims["max_peers"], json!(50));
        assert_eq!(claims["display_name"], "Alice A.");
        assert_eq!(claims["avatar_url"], "https://cdn.example.com/a.png");
        assert_eq!(claims["is_original_host"], json!(true));
        assert_eq!(claims["host_peer_id"], json!(original), "a host's peerId is its host_peer_id");
        assert_eq!(claims["exp"], json!(now + 86_400));
        assert!(uuid::Uuid::parse_str(&room_id).is_ok() && uuid::Uuid::parse_str(&original).is_ok());

        // PyJWT agrees on the signature, the header and the JSON types.
        let py = pyjwt_decode(&secret, host["token"].as_str().unwrap());
        assert_eq!(py["header"], json!({"alg": "HS256", "typ": "JWT"}));
        assert_eq!(py["claims"], Value::Object(claims.clone()));
        assert_eq!(py["types"], json!({"room_id": "str", "role": "str", "room_type": "str", "max_peers": "int", "display_name": "str", "avatar_url": "str", "is_original_host": "bool", "host_peer_id": "str", "exp": "int"}));

        let tokens = format!("/rooms/{room_id}/tokens");
        // A viewer without hostPeerId joins the original host.
        let (status, viewer) = call(server.builder(Method::POST, &app, &tokens).json(&json!({"externalUserId": "bob", "role": "viewer"}))).await;
        assert_eq!(status, 200, "{viewer}");
        let v = decode(&secret, viewer["token"].as_str().unwrap());
        assert_eq!(keys(&v), ["exp", "host_peer_id", "max_peers", "role", "room_id", "room_type"], "bob has no display fields");
        assert_eq!(v["role"], "viewer");
        assert_eq!(v["host_peer_id"], json!(original));
        assert_eq!(v["exp"], json!(now + 3_600));
        assert_ne!(viewer["peerId"], json!(original));

        // A cohost: role host, a fresh peer id that is its own host_peer_id, never the original.
        let (status, cohost) = call(server.builder(Method::POST, &app, &tokens).json(&json!({"externalUserId": "carol", "role": "host", "ttlSeconds": 7200}))).await;
        assert_eq!(status, 200, "{cohost}");
        let c = decode(&secret, cohost["token"].as_str().unwrap());
        let cohost_peer = cohost["peerId"].as_str().unwrap().to_owned();
        assert_eq!(c["role"], "host");
        assert_eq!(c["host_peer_id"], json!(cohost_peer));
        assert_ne!(cohost_peer, original);
        assert!(!c.contains_key("is_original_host"));
        assert_eq!(c["display_name"], "Carol");
        assert_eq!(c["exp"], json!(now + 7_200));
        // Even the creator's second host token is a cohost's.
        let (_, again) = call(server.builder(Method::POST, &app, &tokens).json(&json!({"externalUserId": "alice", "role": "host"}))).await;
        assert!(!decode(&secret, again["token"].as_str().unwrap()).contains_key("is_original_host"));

        // A viewer of the cohost; a guest.
        let (_, viewer2) = call(server.builder(Method::POST, &app, &tokens).json(&json!({"externalUserId": "bob", "role": "viewer", "hostPeerId": cohost_peer}))).await;
        assert_eq!(decode(&secret, viewer2["token"].as_str().unwrap())["host_peer_id"], json!(cohost_peer));
        let (status, guest) = call(server.builder(Method::POST, &app, &tokens).json(&json!({"externalUserId": "bob", "role": "guest"}))).await;
        assert_eq!(status, 200);
        let g = decode(&secret, guest["token"].as_str().unwrap());
        assert_eq!((g["role"].clone(), g["host_peer_id"].clone()), (json!("guest"), json!(original)));
        pyjwt_decode(&secret, guest["token"].as_str().unwrap());

        // A viewer cannot join a broadcaster the room does not have; a host never picks its id.
        let stranger = uuid::Uuid::new_v4().to_string();
        let (status, err) = call(server.builder(Method::POST, &app, &tokens).json(&json!({"externalUserId": "bob", "role": "viewer", "hostPeerId": stranger}))).await;
        assert_eq!((status, err["error"].as_str()), (404, Some("not_found")));
        let (status, _) = call(server.builder(Method::POST, &app, &tokens).json(&json!({"externalUserId": "bob", "role": "host", "hostPeerId": original}))).await;
        assert_eq!(status, 400);
        // Identity comes from the record, never from the request.
        let (status, _) = call(server.builder(Method::POST, &app, &tokens).json(&json!({"externalUserId": "bob", "role": "viewer", "displayName": "Mallory"}))).await;
        assert_eq!(status, 400);

        // The verify endpoint decodes what it signed.
        let (status, verdict) = call(server.builder(Method::POST, &app, "/rooms/verify").json(&json!({"token": cohost["token"]}))).await;
        assert_eq!(status, 200);
        assert_eq!(verdict["valid"], json!(true));
        assert_eq!(verdict["claims"], Value::Object(c));
        server.finish().await;
    }

    async fn ttl_caps_and_expiry(db: Db) {
        let server = TestServer::start(db).await;
        let app = server.app.clone();
        rotate(&server, &app).await;
        upsert(&server, &app, json!({"externalUserId": "alice"})).await;
        let (status, _) = call(server.builder(Method::POST, &app, "/rooms").json(&json!({"externalUserId": "alice", "ttlSeconds": 86_401}))).await;
        assert_eq!(status, 400);
        let (status, host) = call(server.builder(Method::POST, &app, "/rooms").json(&json!({"externalUserId": "alice", "ttlSeconds": 86_400}))).await;
        assert_eq!(status, 201);
        let tokens = format!("/rooms/{}/tokens", host["roomId"].as_str().unwrap());
        for (role, ttl, expected) in [("viewer", 3_601, 400), ("guest", 3_601, 400), ("host", 86_401, 400), ("viewer", 0, 400), ("viewer", -5, 400), ("viewer", 3_600, 200), ("guest", 60, 200), ("host", 86_400, 200)] {
            let (status, body) = call(server.builder(Method::POST, &app, &tokens).json(&json!({"externalUserId": "alice", "role": role, "ttlSeconds": ttl}))).await;
            assert_eq!(status, expected, "{role} {ttl}: {body}");
        }
        let (_, short) = call(server.builder(Method::POST, &app, &tokens).json(&json!({"externalUserId": "alice", "role": "viewer", "ttlSeconds": 60}))).await;
        assert_eq!(short["expiresAt"], json!(server.clock.now() + 60));
        let verify = |token: &Value| server.builder(Method::POST, &app, "/rooms/verify").json(&json!({"token": token}));
        assert_eq!(call(verify(&short["token"])).await.1["valid"], json!(true));
        server.clock.advance(60);
        assert_eq!(call(verify(&short["token"])).await.1, json!({"valid": false, "reason": "expired"}));
        assert_eq!(call(verify(&host["token"])).await.1["valid"], json!(true));
        server.finish().await;
    }

    async fn rotation_keeps_old_tokens_valid_until_they_expire(db: Db) {
        let server = TestServer::start(db).await;
        let app = server.app.clone();
        let first = rotate(&server, &app).await["secret"].as_str().unwrap().to_owned();
        upsert(&server, &app, json!({"externalUserId": "alice"})).await;
        let (_, old) = call(server.builder(Method::POST, &app, "/rooms").json(&json!({"externalUserId": "alice"}))).await;
        server.clock.advance(3_600);
        let rotated = rotate(&server, &app).await;
        let now = server.clock.now();
        assert_eq!(rotated["previousSecretValidUntil"], json!(now + 86_400));
        let second = rotated["secret"].as_str().unwrap().to_owned();
        assert_ne!(first, second);
        let tokens = format!("/rooms/{}/tokens", old["roomId"].as_str().unwrap());
        let (_, new) = call(server.builder(Method::POST, &app, &tokens).json(&json!({"externalUserId": "alice", "role": "viewer"}))).await;
        // New tokens are signed with the new secret only.
        decode(&second, new["token"].as_str().unwrap());
        pyjwt_decode(&second, new["token"].as_str().unwrap());
        let key = jsonwebtoken::DecodingKey::from_secret(first.as_bytes());
        let mut validation = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::HS256);
        validation.validate_exp = false;
        assert!(jsonwebtoken::decode::<Value>(new["token"].as_str().unwrap(), &key, &validation).is_err());
        // The old token still verifies, until its own expiry (24 h after it was minted).
        let verify = |token: &Value| server.builder(Method::POST, &app, "/rooms/verify").json(&json!({"token": token}));
        assert_eq!(call(verify(&old["token"])).await.1["valid"], json!(true));
        assert_eq!(call(verify(&new["token"])).await.1["valid"], json!(true));
        server.clock.advance(86_400 - 3_600 - 1);
        assert_eq!(call(verify(&old["token"])).await.1["valid"], json!(true));
        server.clock.advance(1);
        assert_eq!(call(verify(&old["token"])).await.1, json!({"valid": false, "reason": "expired"}));
        // A token signed with some other secret is refused.
        let forged = jsonwebtoken::encode(&jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256), &decode(&second, new["token"].as_str().unwrap()), &jsonwebtoken::EncodingKey::from_secret(b"not the room secret at all, not even close")).unwrap();
        assert_eq!(call(verify(&json!(forged))).await.1, json!({"valid": false, "reason": "malformed_or_bad_signature"}));
        assert_eq!(call(verify(&json!("garbage"))).await.1["reason"], "malformed_or_bad_signature");
        server.finish().await;
    }

    async fn ended_rooms_refuse_new_tokens(db: Db) {
        let server = TestServer::start(db).await;
        let app = server.app.clone();
        rotate(&server, &app).await;
        upsert(&server, &app, json!({"externalUserId": "alice"})).await;
        let (_, host) = call(server.builder(Method::POST, &app, "/rooms").json(&json!({"externalUserId": "alice", "roomType": "1v1", "maxPeers": 2}))).await;
        let room_id = host["roomId"].as_str().unwrap().to_owned();
        let (status, ended) = call(server.builder(Method::POST, &app, &format!("/rooms/{room_id}/end"))).await;
        assert_eq!((status, ended), (200, json!({"roomId": room_id, "status": "ended"})));
        let (status, again) = call(server.builder(Method::POST, &app, &format!("/rooms/{room_id}/end"))).await;
        assert_eq!((status, again["status"].as_str()), (200, Some("ended")), "ending twice is harmless");
        let (status, err) = call(server.builder(Method::POST, &app, &format!("/rooms/{room_id}/tokens")).json(&json!({"externalUserId": "alice", "role": "guest"}))).await;
        assert_eq!((status, err["error"].as_str()), (409, Some("conflict")));
        let (_, verdict) = call(server.builder(Method::POST, &app, "/rooms/verify").json(&json!({"token": host["token"]}))).await;
        assert_eq!(verdict, json!({"valid": false, "reason": "room_ended"}));
        for path in [format!("/rooms/{}/end", uuid::Uuid::new_v4()), "/rooms/not-a-uuid/end".to_owned(), format!("/rooms/{}/tokens", uuid::Uuid::new_v4())] {
            let (status, err) = call(server.builder(Method::POST, &app, &path).json(&json!({"externalUserId": "alice", "role": "guest"}))).await;
            assert_eq!((status, err["error"].as_str()), (404, Some("not_found")), "{path}");
        }
        server.finish().await;
    }

    async fn rooms_are_isolated_between_apps(db: Db) {
        let server = TestServer::start(db).await;
        let app = server.app.clone();
        let other = server.create_app("other").await;
        let secret = rotate(&server, &app).await["secret"].as_str().unwrap().to_owned();
        // Without a secret an app cannot create rooms or verify tokens.
        upsert(&server, &other, json!({"externalUserId": "alice"})).await;
        let (status, err) = call(server.builder(Method::POST, &other, "/rooms").json(&json!({"externalUserId": "alice"}))).await;
        assert_eq!((status, err["error"].as_str()), (409, Some("conflict")));
        rotate(&server, &other).await;
        upsert(&server, &app, json!({"externalUserId": "alice", "displayName": "Alice of app one"})).await;
        let (_, host) = call(server.builder(Method::POST, &app, "/rooms").json(&json!({"externalUserId": "alice"}))).await;
        let room_id = host["roomId"].as_str().unwrap().to_owned();

        // Another app's credentials against this app's routes: 404, as for a missing app.
        for path in ["/rooms/secret".to_owned(), "/rooms".to_owned(), format!("/rooms/{room_id}/tokens"), format!("/rooms/{room_id}/end"), "/rooms/verify".to_owned()] {
            let (status, err) = call(server.builder_as(Method::POST, &other, &app.client_id, &path).json(&json!({"externalUserId": "alice", "role": "viewer", "token": host["token"]}))).await;
            assert_eq!((status, err["error"].as_str()), (404, Some("not_found")), "{path}");
        }
        // The room is invisible through the other app's own routes, and its token does not verify there.
        let (status, _) = call(server.builder(Method::POST, &other, &format!("/rooms/{room_id}/tokens")).json(&json!({"externalUserId": "alice", "role": "viewer"}))).await;
        assert_eq!(status, 404);
        let (status, _) = call(server.builder(Method::POST, &other, &format!("/rooms/{room_id}/end"))).await;
        assert_eq!(status, 404);
        let (_, verdict) = call(server.builder(Method::POST, &other, "/rooms/verify").json(&json!({"token": host["token"]}))).await;
        assert_eq!(verdict["reason"], "malformed_or_bad_signature");
        // The other app's same-named user gets its own record's identity in its own rooms.
        let (_, theirs) = call(server.builder(Method::POST, &other, "/rooms").json(&json!({"externalUserId": "alice"}))).await;
        let (status, _) = call(server.builder(Method::POST, &app, "/rooms/verify").json(&json!({"token": theirs["token"]}))).await;
        assert_eq!(status, 200);
        assert_eq!(decode(&secret, host["token"].as_str().unwrap())["display_name"], "Alice of app one");
        // No credentials, wrong credentials.
        let anonymous = server.http.post(server.url(&format!("/api/v1/apps/{}/rooms", app.client_id))).json(&json!({"externalUserId": "alice"}));
        assert_eq!(call(anonymous).await.0, 401);
        let wrong = server.http.post(server.url(&format!("/api/v1/apps/{}/rooms/secret", app.client_id))).basic_auth(&app.m2m_client_id, Some("wrong"));
        assert_eq!(call(wrong).await.0, 401);
        server.finish().await;
    }

    async fn users_create_rooms_with_their_own_bearer(db: Db) {
        let server = TestServer::start(db).await;
        let app = server.app.clone();
        let other = server.create_app("other").await;
        let secret = rotate(&server, &app).await["secret"].as_str().unwrap().to_owned();
        rotate(&server, &other).await;
        upsert(&server, &app, json!({"externalUserId": "alice", "displayName": "Alice"})).await;
        let alice = server.user_tokens(&app, "alice").await["access_token"].as_str().unwrap().to_owned();
        let mallory = server.user_tokens(&other, "mallory").await["access_token"].as_str().unwrap().to_owned();
        let rooms = server.url(&format!("/api/v1/apps/{}/rooms", app.client_id));

        let (status, host) = call(server.http.post(&rooms).bearer_auth(&alice)).await;
        assert_eq!(status, 201, "{host}");
        let claims = decode(&secret, host["token"].as_str().unwrap());
        assert_eq!((claims["display_name"].clone(), claims["is_original_host"].clone()), (json!("Alice"), json!(true)));
        let (status, one) = call(server.http.post(&rooms).bearer_auth(&alice).json(&json!({"externalUserId": "alice", "roomType": "1v1"}))).await;
        assert_eq!(status, 201);
        // A 1v1 room is two peers even when maxPeers is not given.
        assert_eq!(decode(&secret, one["token"].as_str().unwrap())["max_peers"], 2);
        // A user cannot create a room as someone else, nor in another app.
        upsert(&server, &app, json!({"externalUserId": "bob"})).await;
        let (status, _) = call(server.http.post(&rooms).bearer_auth(&alice).json(&json!({"externalUserId": "bob"}))).await;
        assert_eq!(status, 400);
        let (status, _) = call(server.http.post(&rooms).bearer_auth(&mallory)).await;
        assert_eq!(status, 404);
        let (status, _) = call(server.http.post(&rooms).bearer_auth("eyJnot.a.token")).await;
        assert_eq!(status, 401);
        // A deactivated user's bearer stops working.
        let (status, _) = call(server.builder(Method::DELETE, &app, "/users?externalUserId=alice")).await;
        assert_eq!(status, 200);
        let (status, _) = call(server.http.post(&rooms).bearer_auth(&alice)).await;
        assert_eq!(status, 401);
        server.finish().await;
    }

    async fn bad_room_input_is_refused_and_changes_nothing(db: Db) {
        let server = TestServer::start(db).await;
        let app = server.app.clone();
        rotate(&server, &app).await;
        upsert(&server, &app, json!({"externalUserId": "alice"})).await;
        upsert(&server, &app, json!({"externalUserId": "gone"})).await;
        call(server.builder(Method::DELETE, &app, "/users?externalUserId=gone")).await;
        for (body, status) in [
            (json!({"externalUserId": "alice", "roomType": "group"}), 400),
            (json!({"externalUserId": "alice", "roomType": "1v1", "maxPeers": 3}), 400),
            (json!({"externalUserId": "alice", "maxPeers": 0}), 400),
            (json!({"externalUserId": "alice", "maxPeers": "ten"}), 400),
            (json!({"roomType": "live"}), 400),
            (json!({"externalUserId": "owner:alice"}), 400),
            (json!({"externalUserId": "nobody"}), 404),
            (json!({"externalUserId": "gone"}), 403),
            (json!(["alice"]), 400),
            (json!({"externalUserId": "alice", "displayName": "x"}), 400),
        ] {
            let (got, err) = call(server.builder(Method::POST, &app, "/rooms").json(&body)).await;
            assert_eq!(got, status, "{body}: {err}");
            assert!(err["error_description"].as_str().is_some_and(|d| !d.is_empty()));
        }
        let (_, host) = call(server.builder(Method::POST, &app, "/rooms").json(&json!({"externalUserId": "alice"}))).await;
        let tokens = format!("/rooms/{}/tokens", host["roomId"].as_str().unwrap());
        for (body, status) in [
            (json!({"externalUserId": "alice", "role": "admin"}), 400),
            (json!({"externalUserId": "alice"}), 400),
            (json!({"role": "viewer"}), 400),
            (json!({"externalUserId": "alice", "role": "viewer", "hostPeerId": "not-a-uuid"}), 404),
            (json!({"externalUserId": "gone", "role": "viewer"}), 403),
            (json!({"externalUserId": "nobody", "role": "viewer"}), 404),
            (json!("viewer"), 400),
        ] {
            let (got, err) = call(server.builder(Method::POST, &app, &tokens).json(&body)).await;
            assert_eq!(got, status, "{body}: {err}");
        }
        let (status, _) = call(server.builder(Method::POST, &app, "/rooms/verify").json(&json!({}))).await;
        assert_eq!(status, 400);
        let (status, _) = call(server.builder(Method::POST, &app, "/users").json(&json!({"externalUserId": "alice", "avatarUrl": "javascript:alert(1)"}))).await;
        assert_eq!(status, 400);
        let (status, _) = call(server.builder(Method::POST, &app, "/users").json(&json!({"externalUserId": "alice", "displayName": "x".repeat(65)}))).await;
        assert_eq!(status, 400);
        // The room is still there and usable; the user's record is unchanged.
        let (status, _) = call(server.builder(Method::POST, &app, &tokens).json(&json!({"externalUserId": "alice", "role": "viewer"}))).await;
        assert_eq!(status, 200);
        let (_, users) = call(server.builder(Method::GET, &app, "/users")).await;
        let alice = users["users"].as_array().unwrap().iter().find(|u| u["externalUserId"] == "alice").unwrap().clone();
        assert_eq!((alice["displayName"].clone(), alice["avatarUrl"].clone()), (Value::Null, Value::Null));
        server.finish().await;
    }
}
