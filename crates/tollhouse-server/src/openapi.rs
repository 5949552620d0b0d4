//! The OpenAPI 3.1 description of every route, served at `GET /api/v1/openapi.json`.
//!
//! It cannot drift from the server: every route is registered through utoipa-axum's `routes!`,
//! which takes the method and path from the handler's `#[utoipa::path]` annotation, so a route
//! exists exactly when it is described. Response bodies are typed structs (`Serialize` +
//! `ToSchema`) that the handlers build, so the schema and the bytes on the wire come from one
//! definition. Response schemas refuse undeclared properties, and `scripts/schemathesis` checks
//! every response of the running server against them (that is what covers the JWKS, which the
//! keyring renders). The form-encoded request parameters are described by structs the handlers
//! do not deserialize into (they read `Params` to refuse repeats), except `grant_type` and
//! `subject_token_type`, whose documented values are the enums the dispatch matches on.
//! `#[serde(deny_unknown_fields)]` on a response struct has no effect on serialization: utoipa
//! reads it to give the schema `additionalProperties: false`.
//!
//! Wire structs that replaced `serde_json::json!` bodies declare their fields in the order those
//! bodies had (serde_json's maps sort keys), so the bytes on the wire did not change.

use crate::state::AppState;
use axum::body::Bytes;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use std::collections::BTreeSet;
use std::sync::LazyLock;
use utoipa::openapi::RefOr;
use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

/// Security scheme of an app's M2M client (HTTP Basic, `m2m_…` : `pmth_cs_…`). The
/// `#[utoipa::path]` annotations name the schemes by these literal names.
pub const M2M_BASIC: &str = "m2m_basic";
/// Security scheme of an end user's bearer: a user JWT, an opaque `pmth_` session or an API key.
pub const USER_BEARER: &str = "user_bearer";

/// The document's fixed parts; the paths and their schemas come from the routers.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "Tollhouse",
        description = "OIDC issuer, Builder API and end-user routes of Tollhouse, generated from the server's code. In summaries, `A` stands for `/api/v1/apps/{client_id}`, `{issuer}` for `<base>/api/v1/oidc` and `{ext}` for `{external_user_id}`."
    ),
    modifiers(&SecuritySchemes),
    components(schemas(
        crate::oidc::error::OAuthErrorBody,
        crate::builder::error::BuilderErrorBody
    )),
    tags(
        (name = "oidc", description = "OIDC discovery, keys, the token endpoint, device flow, introspection and revocation"),
        (name = "facades", description = "Exchange endpoints PymtHouse integrators mount, served by Tollhouse itself"),
        (name = "builder", description = "Builder API: an app's backend, authenticated with its M2M client"),
        (name = "end-user", description = "Routes an end user calls with their own bearer credential"),
        (name = "signer", description = "go-livepeer integration: the identity webhook, the Live AI stream auth webhook"),
        (name = "rooms", description = "Live-room tokens for signaling servers and chat engines"),
        (name = "ops", description = "Liveness, readiness, metrics and this document")
    )
)]
struct ApiDoc;

struct SecuritySchemes;

impl Modify for SecuritySchemes {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            M2M_BASIC,
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Basic)
                    .description(Some(
                        "The app's M2M client id (`m2m_…`) and secret (`pmth_cs_…`)",
                    ))
                    .build(),
            ),
        );
        components.add_security_scheme(
            USER_BEARER,
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some(
                        "The user's JWT access token, opaque `pmth_` signer session or API key",
                    ))
                    .build(),
            ),
        );
        components.add_security_scheme(
            "webhook_secret",
            SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::with_description(
                "X-Api-Key",
                "The deployment's webhook secret (also accepted as `Authorization: Bearer` or `X-Webhook-Secret`)",
            ))),
        );
        components.add_security_scheme(
            "live_ai_key",
            SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::with_description(
                "X-Api-Key",
                "The gateway's `-liveAIAuthApiKey` (also accepted as a raw `Authorization` value)",
            ))),
        );
    }
}

/// Every route of the server with its description.
pub fn api() -> OpenApiRouter<AppState> {
    OpenApiRouter::with_openapi(ApiDoc::openapi())
        .merge(crate::oidc::routes())
        .merge(crate::builder::routes())
        .merge(crate::ops::routes())
        .merge(crate::signer::routes())
        .routes(routes!(document))
}

/// The OpenAPI document the server describes itself with.
pub fn openapi() -> utoipa::openapi::OpenApi {
    let mut doc = api().into_openapi();
    optional_bodies_without_null(&mut doc);
    doc
}

/// utoipa writes an optional body (`request_body = Option<T>`) as `oneOf: [T, null]`; what the
/// handlers accept is an absent body (`requestBody.required` is false), not a JSON `null`.
fn optional_bodies_without_null(doc: &mut utoipa::openapi::OpenApi) {
    use utoipa::openapi::schema::{Schema, SchemaType, Type};
    let is_null = |s: &RefOr<Schema>| matches!(s, RefOr::T(Schema::Object(o)) if o.schema_type == SchemaType::Type(Type::Null));
    for item in doc.paths.paths.values_mut() {
        let operations = [
            &mut item.get,
            &mut item.put,
            &mut item.post,
            &mut item.delete,
        ];
        for operation in operations.into_iter().flatten() {
            let Some(RefOr::T(body)) = operation.request_body.as_mut() else {
                continue;
            };
            if body.required.is_some() {
                continue;
            }
            for content in body.content.values_mut() {
                let RefOr::T(content) = content else {
                    continue;
                };
                if let Some(RefOr::T(Schema::OneOf(one))) = &content.schema
                    && one.items.len() == 2
                    && one.items.iter().any(is_null)
                {
                    content.schema = one.items.iter().find(|s| !is_null(s)).cloned();
                }
            }
        }
    }
}

/// The serialized document, built once.
static DOCUMENT: LazyLock<Result<Bytes, String>> = LazyLock::new(|| {
    serde_json::to_vec(&openapi())
        .map(Bytes::from)
        .map_err(|e| e.to_string())
});

/// `(METHOD, path)` of every described operation.
static OPERATIONS: LazyLock<BTreeSet<(String, String)>> = LazyLock::new(|| {
    let doc = openapi();
    let mut operations = BTreeSet::new();
    for (path, item) in &doc.paths.paths {
        let methods = [
            ("GET", &item.get),
            ("PUT", &item.put),
            ("POST", &item.post),
            ("DELETE", &item.delete),
            ("PATCH", &item.patch),
            ("HEAD", &item.head),
            ("OPTIONS", &item.options),
            ("TRACE", &item.trace),
        ];
        for (method, operation) in methods {
            if operation.is_some() {
                operations.insert((method.to_owned(), path.clone()));
            }
        }
    }
    operations
});

/// Whether the document describes `method` on the route `path` (axum's matched path, which uses
/// the same `{param}` syntax). `HEAD` counts as the `GET` axum answers it with.
pub fn describes(method: &str, path: &str) -> bool {
    let method = if method == "HEAD" { "GET" } else { method };
    OPERATIONS.contains(&(method.to_owned(), path.to_owned()))
}

/// Any JSON object: the OpenAPI document is not described again inside itself.
#[derive(Debug)]
pub struct OpenApiDocument;

impl utoipa::PartialSchema for OpenApiDocument {
    fn schema() -> RefOr<utoipa::openapi::schema::Schema> {
        utoipa::openapi::ObjectBuilder::new()
            .schema_type(utoipa::openapi::schema::Type::Object)
            .description(Some("An OpenAPI 3.1 document"))
            .into()
    }
}

impl ToSchema for OpenApiDocument {}

/// `GET /api/v1/openapi.json`.
#[utoipa::path(
    get,
    path = "/api/v1/openapi.json",
    operation_id = "openapiDocument",
    tag = "ops",
    responses(
        (status = 200, description = "This OpenAPI 3.1 document", body = OpenApiDocument),
        (status = 500, description = "The document could not be serialized (a bug)")
    )
)]
pub async fn document() -> Response {
    match &*DOCUMENT {
        Ok(bytes) => (
            [(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            )],
            bytes.clone(),
        )
            .into_response(),
        Err(err) => {
            tracing::error!(error = %err, "openapi document");
            StatusCode::INTERNAL_SERVER_ERROR.into_response()
        }
    }
}
