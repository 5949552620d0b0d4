//! How error answers are described in the OpenAPI document: a leaf module (it imports no
//! surface), so the surfaces' error enums can describe themselves without importing the
//! document that lists the surfaces.

use std::collections::BTreeMap;
use utoipa::ToSchema;
use utoipa::openapi::{ContentBuilder, Ref, RefOr, ResponseBuilder};

/// JSON error responses with body schema `T`, for `IntoResponses` impls: one per
/// `(status, description)`.
pub fn error_responses<T: ToSchema>(
    entries: &[(u16, &str)],
) -> BTreeMap<String, RefOr<utoipa::openapi::Response>> {
    entries
        .iter()
        .map(|(status, description)| {
            let response = ResponseBuilder::new()
                .description(*description)
                .content(
                    "application/json",
                    ContentBuilder::new()
                        .schema(Some(Ref::from_schema_name(T::name())))
                        .build(),
                )
                .build();
            (status.to_string(), RefOr::T(response))
        })
        .collect()
}
